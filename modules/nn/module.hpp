#pragma once
/// \file modules/nn/module.hpp
/// \brief `nn::Module`: the base class of every layer and network, in the style of libtorch.
///
/// A module owns named *parameters* (learnable tensors with `requires_grad`), named *buffers*
/// (state that is saved but not learned, such as BatchNorm's running averages) and named
/// *children* (sub-modules). From these three lists it derives everything a training loop needs:
///
/// \code
///   nn::Sequential net(nn::Linear(3072, 50), nn::ReLU(), nn::Linear(50, 10));
///   for (auto& [name, tensor] : net.named_parameters())   // "0.weight", "0.bias", "2.weight", ...
///     std::cout << name << " " << shape_string(tensor.shape()) << "\n";
///   net.eval();                  // BatchNorm uses running averages, Dropout is the identity
///   net.freeze();                // no parameter receives a gradient any more (finetuning)
///   std::cout << net.to_string();
///   net.save("checkpoints/run1");
/// \endcode
///
/// Names of nested parameters are dotted paths, child name first: a `Linear` registered as child
/// "2" of a child "layers" owns "layers.2.weight". This is what `save` writes into the manifest and
/// what `load` matches against.
///
/// Modules are movable but not copyable: a copy would silently share its parameters with the
/// original. Share a module through `std::shared_ptr` instead.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "autograd/tensor.hpp"

namespace gradlab::nn {

/// A tensor with its dotted name inside a module tree, e.g. {"layers.2.weight", W}.
using NamedTensor = std::pair<std::string, Tensor>;

/// The value of one setting of a layer: a flag, a whole number, a real number or a word.
using SettingValue = std::variant<bool, std::int64_t, double, std::string>;

/// One named setting of a layer, e.g. {"out_features", std::int64_t{50}}: what
/// `Module::settings` returns and what a checkpoint manifest records per layer.
struct LayerSetting {
  std::string key;     ///< The setting's name (letters, digits and '_'), e.g. "negative_slope".
  SettingValue value;  ///< Its value.

  /// Settings are equal when key and value are (a whole number never equals a real number).
  bool operator==(const LayerSetting&) const = default;
};

struct LoadOptions;  // modules/nn/checkpoint.hpp

/// Base class of every layer and network.
class Module {
 public:
  /// Creates an empty module; `type_name` is what `to_string` prints, e.g. "Linear".
  explicit Module(std::string type_name);
  virtual ~Module();
  /// Moves a module; its parameters, buffers and children move with it.
  Module(Module&&) noexcept;
  /// Moves a module into this one.
  Module& operator=(Module&&) noexcept;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The one-input forward pass that `Sequential` chains. Layers override it; the base version
  /// raises an `Error` (loss modules, for example, take two inputs and have their own `forward`).
  virtual Tensor forward(const Tensor& input);
  /// Same as `forward(input)`, so that a module reads like a function: `y = layer(x)`.
  Tensor operator()(const Tensor& input) { return forward(input); }

  // --- what it owns ---------------------------------------------------------------------

  /// The class name, e.g. "BatchNorm1d".
  const std::string& type_name() const { return type_name_; }
  /// Every parameter of this module and its descendants, in registration order (own first,
  /// then each child's). Frozen parameters are included, as in PyTorch.
  std::vector<Tensor> parameters() const;
  /// The same list with dotted names.
  std::vector<NamedTensor> named_parameters() const;
  /// Every buffer (saved, not learned) of this module and its descendants, with dotted names.
  std::vector<NamedTensor> named_buffers() const;
  /// The direct children, with their names.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }
  /// Number of parameter elements in this module and its descendants.
  std::int64_t parameter_count() const;
  /// Number of elements of parameters that currently require a gradient.
  std::int64_t trainable_parameter_count() const;

  // --- modes ----------------------------------------------------------------------------

  /// Switches this module and its descendants to training mode (`true`) or evaluation mode.
  void train(bool training = true);
  /// Evaluation mode: BatchNorm uses its running averages, Dropout is the identity.
  void eval() { train(false); }
  /// True in training mode (the default for a new module).
  bool is_training() const { return training_; }

  /// Sets `requires_grad` on every parameter of this module and its descendants.
  void requires_grad_(bool enabled = true);
  /// Stops gradients into every parameter (`requires_grad_(false)`): the module is then a fixed
  /// feature extractor, and optimisers skip its parameters.
  void freeze() { requires_grad_(false); }
  /// Undoes `freeze`.
  void unfreeze() { requires_grad_(true); }
  /// Clears the accumulated gradient of every parameter.
  void zero_grad();

  // --- printing and checkpoints ---------------------------------------------------------

  /// The architecture in the style of PyTorch's repr: one line per layer with its settings, the
  /// shapes of its parameters and their count, then the total. For example:
  /// \code
  ///   Sequential(
  ///     (0): Linear(in_features=3072, out_features=50, bias=true)  weight [3072, 50], bias [50]:
  ///     153,650 parameters (1): ReLU() (2): Linear(in_features=50, out_features=10, bias=true)
  ///     weight [50, 10], bias [10]: 510 parameters
  ///   )
  ///   Total: 154,160 parameters (154,160 trainable)
  /// \endcode
  std::string to_string() const;
  /// The settings printed between the parentheses, e.g. "in_features=3, out_features=2"; empty
  /// by default.
  virtual std::string extra_repr() const;
  /// The settings that define what this module computes, as data: a `Linear` gives
  /// in_features, out_features and bias, a `LeakyReLU` its negative_slope. Checkpoints record
  /// them with `type_name()` for every module of the tree (the manifest's "layers") and
  /// `load` compares them with the module it loads into. Empty by default (a module without
  /// settings, such as `ReLU` or `Sequential`, whose children are described on their own);
  /// a module of your own with settings that change its computation should override it.
  virtual std::vector<LayerSetting> settings() const;

  /// Writes every parameter and buffer to `directory` (see modules/nn/checkpoint.hpp).
  void save(const std::filesystem::path& directory) const;
  /// Reads a checkpoint written by `save` into this module, all or nothing; the checkpoint's
  /// layers must match this module's (see modules/nn/checkpoint.hpp).
  void load(const std::filesystem::path& directory);
  /// The same with options: names excluded from the load, or a change of activation allowed
  /// (`nn::LoadOptions` in modules/nn/checkpoint.hpp).
  void load(const std::filesystem::path& directory, const LoadOptions& options);

 protected:
  /// Registers a learnable tensor under `name` (letters, digits and '_'); sets `requires_grad`
  /// and returns the same handle.
  Tensor register_parameter(const std::string& name, Tensor tensor);
  /// Registers a state tensor under `name` that is saved and loaded but not learned.
  Tensor register_buffer(const std::string& name, Tensor tensor);
  /// Registers a child module under `name`; its parameters become "name.<their name>".
  std::shared_ptr<Module> register_module(const std::string& name, std::shared_ptr<Module> child);

 private:
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool buffers, std::vector<NamedTensor>& out) const;
  void describe(std::string& out, int indent) const;

  std::string type_name_;
  bool training_ = true;
  std::vector<NamedTensor> parameters_;
  std::vector<NamedTensor> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace gradlab::nn
