// nn::Module: registration of parameters, buffers and children, and everything derived from
// those three lists (names, counts, modes, printing).

#include "modules/nn/module.hpp"

#include <fmt/format.h>

#include "modules/nn/checkpoint.hpp"

namespace gradlab::nn {

namespace {

// 1234567 -> "1,234,567": parameter counts are easier to read with separators.
std::string with_thousands(std::int64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  const auto length = static_cast<std::int64_t>(digits.size());
  for (std::int64_t i = 0; i < length; ++i) {
    if (i > 0 && (length - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[static_cast<std::size_t>(i)];
  }
  return out;
}

}  // namespace

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}
Module::~Module() = default;
Module::Module(Module&&) noexcept = default;
Module& Module::operator=(Module&&) noexcept = default;

Tensor Module::forward(const Tensor& /*input*/) {
  throw Error(
      fmt::format("{}: this module has no one-input forward(); call its own forward "
                  "with the arguments it documents",
                  type_name_));
}

void Module::check_new_name(const std::string& name) const {
  if (name.empty())
    throw Error(fmt::format("{}: a parameter, buffer or child needs a name", type_name_));
  for (char c : name) {
    const bool allowed =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!allowed) {
      // Names become file names in checkpoints and dotted paths: keep them plain.
      throw Error(
          fmt::format("{}: name '{}' may only contain letters, digits and '_'", type_name_, name));
    }
  }
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  if (taken(parameters_) || taken(buffers_) || taken(children_))
    throw Error(fmt::format("{}: the name '{}' is already registered", type_name_, name));
}

Tensor Module::register_parameter(const std::string& name, Tensor tensor) {
  check_new_name(name);
  if (!tensor.defined())
    throw Error(fmt::format("{}: parameter '{}' is undefined", type_name_, name));
  if (tensor.dtype() == DType::int64)
    throw Error(
        fmt::format("{}: parameter '{}' must be a float tensor, not int64", type_name_, name));
  tensor.requires_grad_(true);
  parameters_.emplace_back(name, tensor);
  return tensor;
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor) {
  check_new_name(name);
  if (!tensor.defined()) throw Error(fmt::format("{}: buffer '{}' is undefined", type_name_, name));
  buffers_.emplace_back(name, tensor);
  return tensor;
}

std::shared_ptr<Module> Module::register_module(const std::string& name,
                                                std::shared_ptr<Module> child) {
  check_new_name(name);
  if (!child) throw Error(fmt::format("{}: child module '{}' is null", type_name_, name));
  child->train(training_);
  children_.emplace_back(name, child);
  return child;
}

void Module::collect(const std::string& prefix, bool buffers, std::vector<NamedTensor>& out) const {
  for (const auto& [name, tensor] : buffers ? buffers_ : parameters_)
    out.emplace_back(prefix + name, tensor);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", buffers, out);
}

std::vector<NamedTensor> Module::named_parameters() const {
  std::vector<NamedTensor> out;
  collect("", false, out);
  return out;
}

std::vector<NamedTensor> Module::named_buffers() const {
  std::vector<NamedTensor> out;
  collect("", true, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& entry : named_parameters()) out.push_back(entry.second);
  return out;
}

std::int64_t Module::parameter_count() const {
  std::int64_t count = 0;
  for (const Tensor& p : parameters()) count += p.numel();
  return count;
}

std::int64_t Module::trainable_parameter_count() const {
  std::int64_t count = 0;
  for (const Tensor& p : parameters())
    if (p.requires_grad()) count += p.numel();
  return count;
}

void Module::train(bool training) {
  training_ = training;
  for (auto& entry : children_) entry.second->train(training);
}

void Module::requires_grad_(bool enabled) {
  for (Tensor& p : parameters()) p.requires_grad_(enabled);
}

void Module::zero_grad() {
  for (const Tensor& p : parameters()) p.zero_grad();
}

std::string Module::extra_repr() const { return ""; }

std::vector<LayerSetting> Module::settings() const { return {}; }

void Module::describe(std::string& out, int indent) const {
  out += type_name_ + "(" + extra_repr();
  if (!children_.empty()) {
    out += "\n";
    const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
    for (const auto& [name, child] : children_) {
      out += pad + "(" + name + "): ";
      child->describe(out, indent + 2);
      out += "\n";
    }
    out += std::string(static_cast<std::size_t>(indent), ' ');
  }
  out += ")";
  // The module's own parameters (not its children's, which have their own lines).
  if (!parameters_.empty()) {
    std::int64_t count = 0;
    std::string shapes;
    for (const auto& [name, tensor] : parameters_) {
      if (!shapes.empty()) shapes += ", ";
      shapes += name + " " + shape_string(tensor.shape());
      if (!tensor.requires_grad()) shapes += " (frozen)";
      count += tensor.numel();
    }
    out +=
        "  " + shapes + ": " + with_thousands(count) + (count == 1 ? " parameter" : " parameters");
  }
}

std::string Module::to_string() const {
  std::string out;
  describe(out, 0);
  out += fmt::format("\nTotal: {} parameters ({} trainable)\n", with_thousands(parameter_count()),
                     with_thousands(trainable_parameter_count()));
  return out;
}

void Module::save(const std::filesystem::path& directory) const {
  (void)save_checkpoint(*this, directory);
}

void Module::load(const std::filesystem::path& directory) { load_checkpoint(*this, directory); }

void Module::load(const std::filesystem::path& directory, const LoadOptions& options) {
  load_checkpoint(*this, directory, options);
}

}  // namespace gradlab::nn
