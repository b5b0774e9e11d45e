// The layers: each constructor registers its parameters and buffers, each forward is one or two
// calls to the differentiable ops of autograd/ops.hpp (which record the backward).

#include "modules/nn/layers.hpp"

#include <fmt/format.h>

#include <cmath>

#include "autograd/ops.hpp"
#include "modules/nn/init.hpp"

namespace gradlab::nn {

namespace {

void check_positive(std::int64_t value, const char* layer, const char* what) {
  if (value <= 0) throw Error(fmt::format("{}: {} must be positive, got {}", layer, what, value));
}

void check_float_dtype(DType dtype, const char* layer) {
  if (dtype == DType::int64)
    throw Error(fmt::format("{}: parameters must be float32 or float64, not int64", layer));
}

// Raises unless x is [N, features] with N ≥ 1.
void check_input(const Tensor& x, std::int64_t features, const char* layer) {
  if (!x.defined()) throw Error(fmt::format("{}: the input is undefined", layer));
  if (x.dim() != 2 || x.size(1) != features)
    throw Error(
        fmt::format("{}: expects input [N, {}], got {}", layer, features, shape_string(x.shape())));
}

std::string number(double value) { return fmt::format("{:g}", value); }

}  // namespace

// --- Linear -------------------------------------------------------------------------------

Linear::Linear(std::int64_t in_features, std::int64_t out_features, const LinearOptions& options)
    : Module("Linear"), in_features_(in_features), out_features_(out_features) {
  check_positive(in_features, "Linear", "in_features");
  check_positive(out_features, "Linear", "out_features");
  check_float_dtype(options.dtype, "Linear");
  weight = Tensor::empty({in_features, out_features}, options.dtype);
  init::initialize_(weight, options.init);
  register_parameter("weight", weight);
  if (options.bias) {
    bias = full({out_features}, options.bias_init, {.dtype = options.dtype});
    register_parameter("bias", bias);
  }
}

Linear::Linear(std::int64_t in_features, std::int64_t out_features, const std::string& init)
    : Linear(in_features, out_features, LinearOptions{.init = init}) {}

Tensor Linear::forward(const Tensor& input) {
  if (input.defined() && input.dim() == 2 && input.size(1) != in_features_)
    throw Error(
        fmt::format("Linear: expects input [N, {}], got {}: the input has {} features but the "
                    "layer expects {} (weight {})",
                    in_features_, shape_string(input.shape()), input.size(1), in_features_,
                    shape_string(weight.shape())));
  check_input(input, in_features_, "Linear");
  return linear(input, weight, bias);
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features_, out_features_,
                     bias.defined());
}

std::vector<LayerSetting> Linear::settings() const {
  return {{"in_features", in_features_}, {"out_features", out_features_}, {"bias", bias.defined()}};
}

// --- activations without parameters --------------------------------------------------------

Tensor Sigmoid::forward(const Tensor& input) { return sigmoid(input); }
Tensor Tanh::forward(const Tensor& input) { return tanh(input); }
Tensor ReLU::forward(const Tensor& input) { return relu(input); }

LeakyReLU::LeakyReLU(double negative_slope) : Module("LeakyReLU"), negative_slope_(negative_slope) {
  if (!std::isfinite(negative_slope)) throw Error("LeakyReLU: negative_slope must be finite");
}
Tensor LeakyReLU::forward(const Tensor& input) { return leaky_relu(input, negative_slope_); }
std::string LeakyReLU::extra_repr() const { return "negative_slope=" + number(negative_slope_); }
std::vector<LayerSetting> LeakyReLU::settings() const {
  return {{"negative_slope", negative_slope_}};
}

ELU::ELU(double alpha) : Module("ELU"), alpha_(alpha) {
  if (!std::isfinite(alpha)) throw Error("ELU: alpha must be finite");
}
Tensor ELU::forward(const Tensor& input) { return elu(input, alpha_); }
std::string ELU::extra_repr() const { return "alpha=" + number(alpha_); }
std::vector<LayerSetting> ELU::settings() const { return {{"alpha", alpha_}}; }

// --- PReLU ---------------------------------------------------------------------------------

PReLU::PReLU(std::int64_t num_parameters, const PReLUOptions& options) : Module("PReLU") {
  check_positive(num_parameters, "PReLU", "num_parameters");
  check_float_dtype(options.dtype, "PReLU");
  weight =
      register_parameter("weight", full({num_parameters}, options.init, {.dtype = options.dtype}));
}

Tensor PReLU::forward(const Tensor& input) {
  const std::int64_t slopes = weight.size(0);
  if (slopes != 1) check_input(input, slopes, "PReLU");
  return prelu(input, weight);
}

std::string PReLU::extra_repr() const { return fmt::format("num_parameters={}", weight.size(0)); }
std::vector<LayerSetting> PReLU::settings() const { return {{"num_parameters", weight.size(0)}}; }

// --- Maxout --------------------------------------------------------------------------------

Maxout::Maxout(std::int64_t in_features, std::int64_t out_features, std::int64_t pieces,
               const LinearOptions& options)
    : Module("Maxout"), in_features_(in_features), out_features_(out_features), pieces_(pieces) {
  check_positive(in_features, "Maxout", "in_features");
  check_positive(out_features, "Maxout", "out_features");
  check_positive(pieces, "Maxout", "pieces");
  check_float_dtype(options.dtype, "Maxout");
  if (!options.bias) throw Error("Maxout: the layer always has a bias (its pieces are affine)");
  weight = Tensor::empty({in_features, out_features * pieces}, options.dtype);
  init::initialize_(weight, options.init);
  register_parameter("weight", weight);
  bias = register_parameter(
      "bias", full({out_features * pieces}, options.bias_init, {.dtype = options.dtype}));
}

Tensor Maxout::forward(const Tensor& input) {
  check_input(input, in_features_, "Maxout");
  return maxout(linear(input, weight, bias), pieces_);
}

std::string Maxout::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, pieces={}", in_features_, out_features_,
                     pieces_);
}

std::vector<LayerSetting> Maxout::settings() const {
  return {{"in_features", in_features_}, {"out_features", out_features_}, {"pieces", pieces_}};
}

// --- BatchNorm1d ---------------------------------------------------------------------------

BatchNorm1d::BatchNorm1d(std::int64_t num_features, const BatchNormOptions& options)
    : Module("BatchNorm1d"), num_features_(num_features), options_(options) {
  check_positive(num_features, "BatchNorm1d", "num_features");
  check_float_dtype(options.dtype, "BatchNorm1d");
  if (!(options.momentum >= 0.0 && options.momentum <= 1.0))
    throw Error(fmt::format("BatchNorm1d: momentum must lie in [0, 1], got {}", options.momentum));
  if (!(options.eps > 0.0) || !std::isfinite(options.eps))
    throw Error(fmt::format("BatchNorm1d: eps must be positive, got {}", options.eps));
  const TensorOptions like{.dtype = options.dtype};
  weight = register_parameter("weight", ones({num_features}, like));
  bias = register_parameter("bias", zeros({num_features}, like));
  running_mean = register_buffer("running_mean", zeros({num_features}, like));
  running_var = register_buffer("running_var", ones({num_features}, like));
}

Tensor BatchNorm1d::forward(const Tensor& input) {
  check_input(input, num_features_, "BatchNorm1d");
  if (is_training() && input.size(0) < 2)
    throw Error(
        fmt::format("BatchNorm1d: training mode needs at least 2 rows to estimate a "
                    "variance, got input {}; call eval() to use the running averages",
                    shape_string(input.shape())));
  return batch_norm(input, weight, bias, running_mean, running_var, is_training(),
                    options_.momentum, options_.eps);
}

std::string BatchNorm1d::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}", num_features_, number(options_.eps),
                     number(options_.momentum));
}

std::vector<LayerSetting> BatchNorm1d::settings() const {
  return {{"num_features", num_features_}, {"eps", options_.eps}, {"momentum", options_.momentum}};
}

// --- Dropout -------------------------------------------------------------------------------

Dropout::Dropout(double p, std::optional<std::uint64_t> seed)
    : Module("Dropout"), p_(p), seed_(seed) {
  if (!(p >= 0.0 && p < 1.0)) throw Error(fmt::format("Dropout: p must lie in [0, 1), got {}", p));
}

Tensor Dropout::forward(const Tensor& input) {
  if (!is_training() || p_ == 0.0) return input;
  std::optional<std::uint64_t> seed;
  if (seed_) seed = *seed_ + calls_++;
  return dropout(input, p_, true, seed);
}

std::string Dropout::extra_repr() const { return "p=" + number(p_); }
std::vector<LayerSetting> Dropout::settings() const { return {{"p", p_}}; }

// --- Sequential ----------------------------------------------------------------------------

void Sequential::push_back(std::shared_ptr<Module> layer) {
  register_module(std::to_string(size()), std::move(layer));
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& entry : named_children()) x = entry.second->forward(x);
  return x;
}

Module& Sequential::operator[](std::size_t index) const {
  if (index >= size())
    throw Error(fmt::format("Sequential: index {} out of range for {} layers", index, size()));
  return *named_children()[index].second;
}

void Sequential::throw_wrong_type(std::size_t index) const {
  throw Error(fmt::format("Sequential: layer {} is a {}, not the type asked for", index,
                          (*this)[index].type_name()));
}

// --- MLP builder ---------------------------------------------------------------------------

namespace {

std::shared_ptr<Module> make_activation(const std::string& name, std::int64_t features,
                                        DType dtype) {
  if (name == "relu") return std::make_shared<ReLU>();
  if (name == "tanh") return std::make_shared<Tanh>();
  if (name == "sigmoid") return std::make_shared<Sigmoid>();
  if (name == "leaky_relu") return std::make_shared<LeakyReLU>();
  if (name == "elu") return std::make_shared<ELU>();
  if (name == "prelu") return std::make_shared<PReLU>(features, PReLUOptions{.dtype = dtype});
  throw Error(fmt::format(
      "MLP: unknown activation '{}'; known: relu, tanh, sigmoid, leaky_relu, elu, prelu", name));
}

}  // namespace

Sequential MLP(const std::vector<std::int64_t>& dims, const MLPOptions& options) {
  if (dims.size() < 2)
    throw Error(
        fmt::format("MLP: needs at least an input and an output size, got {} sizes", dims.size()));
  for (std::int64_t d : dims)
    if (d <= 0)
      throw Error(fmt::format("MLP: every size must be positive, got {}", shape_string(dims)));
  if (!(options.dropout >= 0.0 && options.dropout < 1.0))
    throw Error(fmt::format("MLP: dropout must lie in [0, 1), got {}", options.dropout));
  make_activation(options.activation, 1, options.dtype);  // validates the name before building

  const LinearOptions linear_options{
      .init = options.init, .bias_init = options.bias_init, .dtype = options.dtype};
  Sequential net;
  for (std::size_t i = 0; i + 1 < dims.size(); ++i) {
    net.push_back(Linear(dims[i], dims[i + 1], linear_options));
    const bool last = i + 2 == dims.size();
    if (last) break;
    if (options.batchnorm) net.push_back(BatchNorm1d(dims[i + 1], {.dtype = options.dtype}));
    net.push_back(make_activation(options.activation, dims[i + 1], options.dtype));
    if (options.dropout > 0.0) net.push_back(Dropout(options.dropout));
  }
  return net;
}

}  // namespace gradlab::nn
