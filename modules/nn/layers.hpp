#pragma once
/// \file modules/nn/layers.hpp
/// \brief The layers of the lecture as `nn::Module`s, `Sequential`, and the `MLP` builder.
///
/// Each layer is a thin composition of the differentiable ops of autograd/ops.hpp: its forward
/// calls them, and backpropagation through it is whatever those ops record. Layers with
/// parameters take an options struct written with designated initialisers:
///
/// \code
///   using namespace gradlab;
///   // The lecture's 2-layer net for CIFAR-10:
///   nn::Sequential net(nn::Linear(3072, 50, {.init = "he"}), nn::ReLU(), nn::Linear(50, 10));
///   Tensor scores = net(x);                                   // x [N, 3072] → [N, 10]
///
///   // Its 10-layer tanh net, and an MLP with BatchNorm and Dropout, in one line each:
///   auto deep = nn::MLP({500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 10},
///                       {.activation = "tanh", .init = "xavier_lecture"});
///   auto mlp = nn::MLP({784, 1024, 1024, 10},
///                      {.activation = "relu", .batchnorm = true, .dropout = 0.5, .init = "he"});
/// \endcode
///
/// All layers work on any backend; parameters are float32 unless `.dtype = DType::float64` is
/// asked for (gradcheck needs float64, which only the reference backend computes).

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "modules/nn/module.hpp"

namespace gradlab::nn {

// --- Linear -------------------------------------------------------------------------------

/// Settings of a `Linear` layer.
struct LinearOptions {
  std::string init = "xavier_lecture";  ///< Weight initialisation, a name of `init::initialize_`.
  bool bias = true;                     ///< Whether the layer adds a bias b.
  double bias_init = 0.0;        ///< Initial value of every bias (the lecture also uses 0.01).
  DType dtype = DType::float32;  ///< Dtype of the parameters.
};

/// Fully connected layer y = x · W + b with x [N, in], W [in, out], b [out] (the lecture's
/// layout; PyTorch stores Wᵀ). Parameters: "weight", "bias".
class Linear : public Module {
 public:
  /// A layer from `in_features` inputs to `out_features` outputs.
  Linear(std::int64_t in_features, std::int64_t out_features, const LinearOptions& options = {});
  /// The same with only the weight initialisation named, e.g. `Linear(784, 50, "he")`.
  Linear(std::int64_t in_features, std::int64_t out_features, const std::string& init);
  /// y = x · W + b; x must be [N, in_features].
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  std::vector<LayerSetting> settings() const override;

  Tensor weight;  ///< W [in, out].
  Tensor bias;    ///< b [out], undefined when `bias = false`.

 private:
  std::int64_t in_features_;
  std::int64_t out_features_;
};

// --- activations without parameters --------------------------------------------------------

/// σ(x) = 1 / (1 + e^−x), elementwise.
class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& input) override;
};

/// tanh x, elementwise.
class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& input) override;
};

/// max(0, x), elementwise.
class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& input) override;
};

/// x for x > 0, negative_slope · x otherwise (the lecture writes max(0.01x, x)).
class LeakyReLU : public Module {
 public:
  /// `negative_slope` is the gradient for negative inputs (PyTorch's name).
  explicit LeakyReLU(double negative_slope = 0.01);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  std::vector<LayerSetting> settings() const override;

 private:
  double negative_slope_;
};

/// x for x > 0, alpha · (eˣ − 1) otherwise (Clevert et al. 2015).
class ELU : public Module {
 public:
  /// `alpha` is the value approached for very negative inputs (−alpha).
  explicit ELU(double alpha = 1.0);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  std::vector<LayerSetting> settings() const override;

 private:
  double alpha_;
};

// --- PReLU ---------------------------------------------------------------------------------

/// Settings of a `PReLU` layer.
struct PReLUOptions {
  double init = 0.25;            ///< Initial slope for negative inputs (He et al. 2015 use 0.25).
  DType dtype = DType::float32;  ///< Dtype of the slope parameter.
};

/// Parametric ReLU: x for x > 0, α · x otherwise, with α learned by backprop (He et al. 2015).
/// One α shared by all features (`num_parameters = 1`) or one per feature of x [N, C]
/// (`num_parameters = C`). Parameter: "weight" (α), as in PyTorch.
class PReLU : public Module {
 public:
  /// `num_parameters` slopes, each starting at `options.init`.
  explicit PReLU(std::int64_t num_parameters = 1, const PReLUOptions& options = {});
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  std::vector<LayerSetting> settings() const override;

  Tensor weight;  ///< α [num_parameters].
};

// --- Maxout --------------------------------------------------------------------------------

/// Maxout (Goodfellow et al. 2013): `pieces` linear maps, elementwise max of their outputs,
/// y[n, j] = max_k (x · W + b)[n, j·pieces + k], with W [in, out·pieces], b [out·pieces].
/// It generalises ReLU (max(0, wᵀx) is maxout with one piece fixed at 0) and never saturates,
/// at `pieces` times the parameters. Parameters: "weight", "bias".
class Maxout : public Module {
 public:
  /// From `in_features` to `out_features`, each output the max of `pieces` linear units.
  Maxout(std::int64_t in_features, std::int64_t out_features, std::int64_t pieces,
         const LinearOptions& options = {});
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  std::vector<LayerSetting> settings() const override;

  Tensor weight;  ///< W [in, out · pieces].
  Tensor bias;    ///< b [out · pieces].

 private:
  std::int64_t in_features_;
  std::int64_t out_features_;
  std::int64_t pieces_;
};

// --- BatchNorm1d ---------------------------------------------------------------------------

/// Settings of a `BatchNorm1d` layer.
struct BatchNormOptions {
  double momentum = 0.1;         ///< Weight of the new batch statistic in the running average.
  double eps = 1e-5;             ///< Added to the variance before the square root.
  DType dtype = DType::float32;  ///< Dtype of parameters and buffers.
};

/// Batch normalisation over x [N, C] (Ioffe & Szegedy 2015), per feature c:
///
///   training:   μ = (1/N) Σ_n x[n, c],  σ² = (1/N) Σ_n (x[n, c] − μ)²  (the biased variance),
///               y = γ · (x − μ) / √(σ² + eps) + β
///   evaluation: y = γ · (x − running_mean) / √(running_var + eps) + β
///
/// Momentum convention (PyTorch's, the one of `gradlab::batch_norm`): after each training batch
///   running_mean ← (1 − momentum) · running_mean + momentum · μ
///   running_var  ← (1 − momentum) · running_var  + momentum · N/(N−1) · σ²
/// i.e. `momentum` weighs the *new* batch, and the running variance uses the unbiased estimate.
/// The lecture's course notes (and Keras) write the opposite: "momentum 0.9" there weighs the
/// *old* value, so their 0.9 is our 0.1.
///
/// Parameters: "weight" (γ, starts at 1) and "bias" (β, starts at 0), as in PyTorch.
/// Buffers: "running_mean" (starts at 0) and "running_var" (starts at 1).
/// Training mode needs at least 2 rows (the variance of one sample is undefined).
class BatchNorm1d : public Module {
 public:
  /// Normalises `num_features` columns.
  explicit BatchNorm1d(std::int64_t num_features, const BatchNormOptions& options = {});
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  std::vector<LayerSetting> settings() const override;

  Tensor weight;        ///< γ [C].
  Tensor bias;          ///< β [C].
  Tensor running_mean;  ///< Running average of the batch means [C].
  Tensor running_var;   ///< Running average of the unbiased batch variances [C].

 private:
  std::int64_t num_features_;
  BatchNormOptions options_;
};

// --- Dropout -------------------------------------------------------------------------------

/// Inverted dropout (Srivastava et al. 2014): in training mode each element is kept with
/// probability 1 − p and scaled by 1/(1 − p), so E[y] = x and evaluation needs no rescaling; in
/// evaluation mode it is the identity.
///
/// Without a seed the masks come from the global generator (`manual_seed`); with a seed, call i
/// of `forward` uses seed + i, so a run is reproducible while successive masks still differ.
class Dropout : public Module {
 public:
  /// Drops each element with probability `p` ∈ [0, 1).
  explicit Dropout(double p = 0.5, std::optional<std::uint64_t> seed = std::nullopt);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;
  std::vector<LayerSetting> settings() const override;

 private:
  double p_;
  std::optional<std::uint64_t> seed_;
  std::uint64_t calls_ = 0;
};

// --- Sequential ----------------------------------------------------------------------------

/// A module passed by value (an rvalue), which `Sequential` moves into a shared pointer.
template <class Layer>
concept ModuleRvalue =
    std::derived_from<std::remove_cvref_t<Layer>, Module> && !std::is_lvalue_reference_v<Layer>;

/// What `Sequential` accepts as a layer: a module moved in, or a shared pointer to one.
template <class Layer>
concept SequentialLayer =
    ModuleRvalue<Layer> || std::convertible_to<Layer, std::shared_ptr<Module>>;

/// A chain of modules applied in order: y = f_k(… f_2(f_1(x))). The children are named "0", "1",
/// …, so parameters are "0.weight", "2.bias", ….
///
/// \code
///   nn::Sequential net(nn::Linear(784, 50), nn::ReLU(), nn::Linear(50, 10));
///   net.push_back(nn::Tanh());              // more layers can be appended
///   auto& first = net.at<nn::Linear>(0);    // typed access
/// \endcode
class Sequential : public Module {
 public:
  /// An empty chain.
  Sequential() : Module("Sequential") {}
  /// A chain of the given layers (modules moved in, or `std::shared_ptr`s to share).
  template <SequentialLayer... Layers>
  explicit Sequential(Layers&&... layers) : Module("Sequential") {
    (push_back(std::forward<Layers>(layers)), ...);
  }

  /// Appends a shared module.
  void push_back(std::shared_ptr<Module> layer);
  /// Appends a module, moved in.
  template <ModuleRvalue Layer>
  void push_back(Layer&& layer) {
    using Concrete = std::remove_cvref_t<Layer>;
    push_back(std::shared_ptr<Module>(std::make_shared<Concrete>(std::move(layer))));
  }

  /// Applies every layer in order.
  Tensor forward(const Tensor& input) override;
  /// Number of layers.
  std::size_t size() const { return named_children().size(); }
  /// Layer `index` (raises an `Error` when out of range).
  Module& operator[](std::size_t index) const;
  /// Layer `index` as its concrete type (raises an `Error` when it is another type).
  template <class Layer>
  Layer& at(std::size_t index) const {
    auto* layer = dynamic_cast<Layer*>(&(*this)[index]);
    if (layer == nullptr) throw_wrong_type(index);
    return *layer;
  }

 private:
  [[noreturn]] void throw_wrong_type(std::size_t index) const;
};

// --- MLP builder ---------------------------------------------------------------------------

/// Settings of `MLP`.
struct MLPOptions {
  /// "relu", "tanh", "sigmoid", "leaky_relu" (slope 0.01), "elu" (alpha 1) or "prelu" (one slope
  /// per feature).
  std::string activation = "relu";
  bool batchnorm = false;        ///< Insert BatchNorm1d between each hidden Linear and activation.
  double dropout = 0.0;          ///< Dropout probability after each hidden activation (0: none).
  std::string init = "he";       ///< Weight initialisation of every Linear.
  double bias_init = 0.0;        ///< Initial bias of every Linear.
  DType dtype = DType::float32;  ///< Dtype of every parameter.
};

/// Builds a fully connected net through the sizes `dims` = {in, h_1, …, h_k, out}: per hidden
/// layer Linear [→ BatchNorm1d] → activation [→ Dropout], then a final Linear that outputs the
/// raw scores. Needs at least two sizes, all positive.
Sequential MLP(const std::vector<std::int64_t>& dims, const MLPOptions& options = {});

}  // namespace gradlab::nn
