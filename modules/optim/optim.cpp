// Optimisers: validation and bookkeeping here, the arithmetic in the backend's update kernels.
// State tensors live in vectors parallel to the parameter list and are made on first use.

#include "modules/optim/optim.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <cstring>
#include <unordered_set>
#include <utility>

#include "backends/backend.hpp"

namespace gradlab::optim {

namespace {

void check_rate(double value, const char* owner, const char* what) {
  if (!(value > 0.0) || !std::isfinite(value))
    throw Error(fmt::format("{}: {} must be positive and finite, got {}", owner, what, value));
}

void check_unit_interval(double value, const char* owner, const char* what) {
  if (!(value >= 0.0 && value < 1.0))
    throw Error(fmt::format("{}: {} must lie in [0, 1), got {}", owner, what, value));
}

void check_weight_decay(double value, const char* owner) {
  if (!(value >= 0.0) || !std::isfinite(value))
    throw Error(fmt::format("{}: weight_decay must be finite and ≥ 0, got {}", owner, value));
}

// Index of the first element whose exponent bits are all ones (±inf or NaN), or −1. The common
// all-finite case is one pass of integer tests over fixed-size blocks, which g++ vectorises at
// -O2 (a constant trip count needs no remainder loop); the position is searched only inside a
// bad block. Measured on 1.86M float32 gradients: ~0.4 ms on one thread, against ~1.7 ms for
// a plain std::isfinite loop.
template <class Float, class Bits>
std::int64_t first_non_finite_in(const Float* values, std::int64_t count) {
  static_assert(sizeof(Float) == sizeof(Bits));
  constexpr Bits exponent = sizeof(Float) == 4 ? Bits(0x7f800000u) : Bits(0x7ff0000000000000ull);
  constexpr std::int64_t block = 1024;
  auto search = [&](std::int64_t begin, std::int64_t end) -> std::int64_t {
    for (std::int64_t i = begin; i < end; ++i)
      if (!std::isfinite(values[i])) return i;
    return -1;
  };
  // Large tensors split the full blocks across the threads (the smallest index found wins):
  // this pass reads every gradient before each step.
  const std::int64_t full_blocks = count / block;
  std::int64_t first = count;  // none found
#pragma omp parallel for reduction(min : first) if (count >= (1 << 18))
  for (std::int64_t b = 0; b < full_blocks; ++b) {
    const Float* start = values + b * block;
    Bits any_all_ones = 0;
    for (std::int64_t j = 0; j < block; ++j) {
      Bits bits;
      std::memcpy(&bits, start + j, sizeof bits);
      any_all_ones |= Bits((bits & exponent) == exponent);
    }
    if (any_all_ones != 0) first = std::min(first, search(b * block, b * block + block));
  }
  return first < count ? first : search(full_blocks * block, count);
}

// Copies of per-parameter state `tensors` named "<kind>.<index>", zeros where not made yet.
void append_state(std::vector<std::pair<std::string, Tensor>>& out, const char* kind,
                  const std::vector<Tensor>& tensors, const std::vector<Tensor>& parameters) {
  for (std::size_t i = 0; i < tensors.size(); ++i)
    out.emplace_back(fmt::format("{}.{}", kind, i),
                     tensors[i].defined()
                         ? tensors[i].detach().clone()
                         : zeros(parameters[i].shape(), {.dtype = parameters[i].dtype()}));
}

// Takes the tensors named "<kind>.<index>" of checked `state` into `tensors`.
void take_state(std::vector<Tensor>& tensors, const char* kind,
                const std::vector<std::pair<std::string, Tensor>>& state) {
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::string name = fmt::format("{}.{}", kind, i);
    for (const auto& [key, tensor] : state)
      if (key == name) tensors[i] = tensor;
  }
}

}  // namespace

std::int64_t first_non_finite(const Tensor& tensor) {
  if (!tensor.defined()) throw Error("first_non_finite: the tensor is undefined");
  switch (tensor.dtype()) {
    case DType::float32:
      return first_non_finite_in<float, std::uint32_t>(tensor.const_data<float>(), tensor.numel());
    case DType::float64:
      return first_non_finite_in<double, std::uint64_t>(tensor.const_data<double>(),
                                                        tensor.numel());
    default: return -1;
  }
}

// --- Optimizer ----------------------------------------------------------------------------

Optimizer::Optimizer(std::vector<Tensor> parameters, double lr) : lr_(lr) {
  check_rate(lr, "optimizer", "the learning rate");
  std::unordered_set<const TensorImpl*> seen;
  std::size_t index = 0;
  for (Tensor& p : parameters) {
    ++index;
    if (!p.defined()) throw Error("optimizer: a parameter is undefined");
    if (p.dtype() == DType::int64)
      throw Error(fmt::format(
          "optimizer: parameter of shape {} is int64; only float tensors can be learned",
          shape_string(p.shape())));
    // A non-leaf tensor (the result of an op) never receives a .grad of its own, so it would be
    // skipped silently at every step.
    if (!p.is_leaf())
      throw Error(fmt::format(
          "optimizer: parameter {} of shape {} is not a leaf (it is the result of an op, so it "
          "never gets a gradient); pass the tensor it was computed from, or a detached copy",
          index - 1, shape_string(p.shape())));
    if (seen.insert(p.impl().get()).second) parameters_.push_back(p);
  }
  l2_penalty_.assign(parameters_.size(), 0.0);
}

void Optimizer::set_l2_penalty(const std::vector<Tensor>& tensors, double lambda) {
  if (!(lambda >= 0.0) || !std::isfinite(lambda))
    throw Error(fmt::format("optimizer: the L2 penalty λ must be finite and ≥ 0, got {}", lambda));
  std::vector<std::size_t> indices;  // all found before any is changed
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    const auto found =
        std::find_if(parameters_.begin(), parameters_.end(), [&](const Tensor& parameter) {
          return tensors[t].defined() && parameter.impl() == tensors[t].impl();
        });
    if (found == parameters_.end())
      throw Error(
          fmt::format("optimizer: set_l2_penalty: tensor {} ({}) is not one of this optimiser's {} "
                      "parameters",
                      t, tensors[t].defined() ? shape_string(tensors[t].shape()) : "undefined",
                      parameters_.size()));
    indices.push_back(static_cast<std::size_t>(found - parameters_.begin()));
  }
  for (const std::size_t i : indices) l2_penalty_[i] = lambda;
}

Optimizer::~Optimizer() = default;

void Optimizer::zero_grad() {
  for (const Tensor& p : parameters_) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  // 0 is allowed here: a decaying schedule may underflow to it after many epochs.
  if (!(lr >= 0.0) || !std::isfinite(lr))
    throw Error(fmt::format("optimizer: the learning rate must be finite and ≥ 0, got {}", lr));
  lr_ = lr;
}

void Optimizer::step() {
  NoGradGuard no_grad;  // an update is not part of any model's computation
  // Check every gradient before touching anything: one bad gradient leaves all parameters and
  // all optimiser state as they were, so the caller can lower the learning rate and go on.
  std::vector<std::pair<std::size_t, Tensor>> updates;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    if (!p.requires_grad()) continue;  // frozen
    Tensor g = p.grad();
    if (!g.defined()) continue;  // did not take part in the last backward pass
    auto which = [&] {           // only formatted when something is wrong
      return fmt::format("parameter {} ({}{} {})", i, p.label().empty() ? "" : p.label() + " ",
                         shape_string(p.shape()), dtype_name(p.dtype()));
    };
    if (g.shape() != p.shape() || g.dtype() != p.dtype())
      throw Error(fmt::format("optimizer: {} has a gradient {} ({})", which(),
                              shape_string(g.shape()), dtype_name(g.dtype())));
    if (const std::int64_t bad = first_non_finite(g); bad >= 0)
      throw NonFiniteGradient(
          fmt::format("optimizer: the gradient of {} is {} at element {}; no parameter was "
                      "updated (a learning rate too high, log of 0 or a division by 0 "
                      "upstream?)",
                      which(), g.at(bad), bad),
          p);
    updates.emplace_back(i, std::move(g));
  }
  for (const auto& [i, g] : updates) {
    update(i, parameters_[i], g);
    // An in-place write: a graph that saved the old value refuses a later backward pass.
    parameters_[i].bump_version("optimizer.step()");
  }
}

std::vector<std::pair<std::string, double>> Optimizer::hyperparameters() const {
  return {{"lr", lr_}};
}

std::vector<std::pair<std::string, Tensor>> Optimizer::state_tensors() const { return {}; }

void Optimizer::restore_state(const std::vector<std::pair<std::string, Tensor>>&) {}

OptimizerState Optimizer::state() const {
  return OptimizerState{type_name(), hyperparameters(), state_tensors()};
}

void Optimizer::load_state(const OptimizerState& state) {
  const std::string type = type_name();
  if (state.type != type)
    throw Error(fmt::format("optimizer state: the state is of {}, this optimiser is {}",
                            state.type.empty() ? "no optimiser" : state.type, type));
  // Hyper-parameters: the same names; every value but the learning rate must agree.
  const auto mine = hyperparameters();
  std::optional<double> lr;
  for (const auto& [name, value] : state.hyperparameters) {
    const auto found = std::find_if(mine.begin(), mine.end(),
                                    [&](const auto& entry) { return entry.first == name; });
    if (found == mine.end())
      throw Error(fmt::format("optimizer state: {} has no hyper-parameter '{}'", type, name));
    if (name == "lr") {
      if (!(value >= 0.0) || !std::isfinite(value))
        throw Error(fmt::format("optimizer state: lr must be finite and ≥ 0, got {}", value));
      lr = value;
    } else if (found->second != value) {
      throw Error(fmt::format("optimizer state: {} {} is {} in the state, {} in this optimiser",
                              type, name, value, found->second));
    }
  }
  for (const auto& [name, value] : mine)
    if (std::none_of(state.hyperparameters.begin(), state.hyperparameters.end(),
                     [&](const auto& entry) { return entry.first == name; }))
      throw Error(
          fmt::format("optimizer state: the hyper-parameter '{}' of {} is missing", name, type));
  // Tensors: the same names, shapes and dtypes, in any order.
  auto expected = state_tensors();
  std::vector<std::pair<std::string, Tensor>> ordered;
  for (const auto& [name, tensor] : expected) {
    const auto found = std::find_if(state.tensors.begin(), state.tensors.end(),
                                    [&](const auto& entry) { return entry.first == name; });
    if (found == state.tensors.end())
      throw Error(fmt::format("optimizer state: {} tensor '{}' (shape {}) is missing", type, name,
                              shape_string(tensor.shape())));
    if (!found->second.defined())
      throw Error(fmt::format("optimizer state: {} tensor '{}' is undefined", type, name));
    if (found->second.shape() != tensor.shape() || found->second.dtype() != tensor.dtype())
      throw Error(fmt::format(
          "optimizer state: {} tensor '{}' is {} {} in the state, {} {} in this optimiser", type,
          name, shape_string(found->second.shape()), dtype_name(found->second.dtype()),
          shape_string(tensor.shape()), dtype_name(tensor.dtype())));
    ordered.emplace_back(name, found->second.detach().clone());
  }
  if (state.tensors.size() != expected.size())
    for (const auto& [name, tensor] : state.tensors)
      if (std::none_of(expected.begin(), expected.end(),
                       [&](const auto& entry) { return entry.first == name; }))
        throw Error(
            fmt::format("optimizer state: the state has a tensor '{}' (shape {}) that {} over "
                        "these {} parameters does not have",
                        name, shape_string(tensor.shape()), type, parameters_.size()));
  if (ordered.size() != state.tensors.size())
    throw Error(fmt::format("optimizer state: the state lists a {} tensor twice", type));
  restore_state(ordered);
  if (lr) set_lr(*lr);
}

Tensor Optimizer::zeros_like(const Tensor& parameter) {
  return zeros(parameter.shape(), {.dtype = parameter.dtype()});
}

// --- SGD ----------------------------------------------------------------------------------

SGD::SGD(std::vector<Tensor> parameters, const SGDOptions& options)
    : Optimizer(std::move(parameters), options.lr), options_(options) {
  check_unit_interval(options.momentum, "SGD", "momentum");
  check_weight_decay(options.weight_decay, "SGD");
  if (options.nesterov && options.momentum == 0.0)
    throw Error("SGD: Nesterov momentum needs momentum > 0");
  velocity_.resize(this->parameters().size());
}

void SGD::update(std::size_t index, const Tensor& parameter, const Tensor& gradient) {
  View velocity;  // absent for plain SGD
  if (options_.momentum > 0.0) {
    if (!velocity_[index].defined()) velocity_[index] = zeros_like(parameter);
    velocity = velocity_[index].mutable_view();
  }
  backend().sgd_update(parameter.mutable_view(), gradient.view(), velocity, lr(), options_.momentum,
                       options_.nesterov, coupled_decay(index, options_.weight_decay));
}

std::vector<std::pair<std::string, double>> SGD::hyperparameters() const {
  return {{"lr", lr()},
          {"momentum", options_.momentum},
          {"nesterov", options_.nesterov ? 1.0 : 0.0},
          {"weight_decay", options_.weight_decay}};
}

std::vector<std::pair<std::string, Tensor>> SGD::state_tensors() const {
  std::vector<std::pair<std::string, Tensor>> out;
  if (options_.momentum > 0.0) append_state(out, "velocity", velocity_, parameters());
  return out;
}

void SGD::restore_state(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  if (options_.momentum > 0.0) take_state(velocity_, "velocity", tensors);
}

// --- AdaGrad ------------------------------------------------------------------------------

AdaGrad::AdaGrad(std::vector<Tensor> parameters, const AdaGradOptions& options)
    : Optimizer(std::move(parameters), options.lr), options_(options) {
  check_rate(options.eps, "AdaGrad", "eps");
  check_weight_decay(options.weight_decay, "AdaGrad");
  cache_.resize(this->parameters().size());
}

void AdaGrad::update(std::size_t index, const Tensor& parameter, const Tensor& gradient) {
  if (!cache_[index].defined()) cache_[index] = zeros_like(parameter);
  backend().adagrad_update(parameter.mutable_view(), gradient.view(), cache_[index].mutable_view(),
                           lr(), options_.eps, coupled_decay(index, options_.weight_decay));
}

std::vector<std::pair<std::string, double>> AdaGrad::hyperparameters() const {
  return {{"lr", lr()}, {"eps", options_.eps}, {"weight_decay", options_.weight_decay}};
}

std::vector<std::pair<std::string, Tensor>> AdaGrad::state_tensors() const {
  std::vector<std::pair<std::string, Tensor>> out;
  append_state(out, "cache", cache_, parameters());
  return out;
}

void AdaGrad::restore_state(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  take_state(cache_, "cache", tensors);
}

// --- RMSProp ------------------------------------------------------------------------------

namespace {

// Resolves the deprecated `decay` (the old name of `alpha`) into `alpha`.
RMSPropOptions with_alpha(RMSPropOptions options) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const double decay = options.decay;
  options.decay = -1.0;
#pragma GCC diagnostic pop
  if (decay < 0.0) return options;
  if (options.alpha != RMSPropOptions{}.alpha && options.alpha != decay)
    throw Error(
        fmt::format("RMSProp: alpha = {} and its deprecated old name decay = {} disagree; "
                    "set alpha only",
                    options.alpha, decay));
  options.alpha = decay;
  return options;
}

}  // namespace

RMSProp::RMSProp(std::vector<Tensor> parameters, const RMSPropOptions& options)
    : Optimizer(std::move(parameters), options.lr), options_(with_alpha(options)) {
  check_unit_interval(options_.alpha, "RMSProp", "alpha");
  check_rate(options.eps, "RMSProp", "eps");
  check_weight_decay(options.weight_decay, "RMSProp");
  cache_.resize(this->parameters().size());
}

void RMSProp::update(std::size_t index, const Tensor& parameter, const Tensor& gradient) {
  if (!cache_[index].defined()) cache_[index] = zeros_like(parameter);
  backend().rmsprop_update(parameter.mutable_view(), gradient.view(), cache_[index].mutable_view(),
                           lr(), options_.alpha, options_.eps,
                           coupled_decay(index, options_.weight_decay));
}

std::vector<std::pair<std::string, double>> RMSProp::hyperparameters() const {
  return {{"lr", lr()},
          {"alpha", options_.alpha},
          {"eps", options_.eps},
          {"weight_decay", options_.weight_decay}};
}

std::vector<std::pair<std::string, Tensor>> RMSProp::state_tensors() const {
  std::vector<std::pair<std::string, Tensor>> out;
  append_state(out, "cache", cache_, parameters());
  return out;
}

void RMSProp::restore_state(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  take_state(cache_, "cache", tensors);
}

// --- Adam ---------------------------------------------------------------------------------

Adam::Adam(std::vector<Tensor> parameters, const AdamOptions& options)
    : Adam(std::move(parameters), options, false, "Adam") {}

Adam::Adam(std::vector<Tensor> parameters, const AdamOptions& options, bool decoupled,
           const char* owner)
    : Optimizer(std::move(parameters), options.lr), options_(options), decoupled_(decoupled) {
  check_unit_interval(options.beta1, owner, "beta1");
  check_unit_interval(options.beta2, owner, "beta2");
  check_rate(options.eps, owner, "eps");
  check_weight_decay(options.weight_decay, owner);
  m_.resize(this->parameters().size());
  v_.resize(this->parameters().size());
  t_.assign(this->parameters().size(), 0);
}

void Adam::update(std::size_t index, const Tensor& parameter, const Tensor& gradient) {
  if (!m_[index].defined()) {
    m_[index] = zeros_like(parameter);
    v_[index] = zeros_like(parameter);
  }
  const std::int64_t t = ++t_[index];
  // The kernel has one decay coefficient, coupled (Adam) or decoupled (AdamW). AdamW's
  // l2_penalty is coupled, so it goes into the gradient first.
  Tensor g = gradient;
  if (decoupled_ && l2_penalty(index) > 0.0) g = gradient + parameter.detach() * l2_penalty(index);
  backend().adam_update(
      parameter.mutable_view(), g.view(), m_[index].mutable_view(), v_[index].mutable_view(), lr(),
      options_.beta1, options_.beta2, options_.eps, t,
      decoupled_ ? options_.weight_decay : coupled_decay(index, options_.weight_decay), decoupled_);
}

std::vector<std::pair<std::string, double>> Adam::hyperparameters() const {
  return {{"lr", lr()},
          {"beta1", options_.beta1},
          {"beta2", options_.beta2},
          {"eps", options_.eps},
          {"weight_decay", options_.weight_decay}};
}

std::vector<std::pair<std::string, Tensor>> Adam::state_tensors() const {
  std::vector<std::pair<std::string, Tensor>> out;
  append_state(out, "m", m_, parameters());
  append_state(out, "v", v_, parameters());
  Tensor steps = Tensor::empty({static_cast<std::int64_t>(t_.size())}, DType::int64);
  auto* counts = steps.data<std::int64_t>();
  for (std::size_t i = 0; i < t_.size(); ++i) counts[i] = t_[i];
  out.emplace_back("step", steps);
  return out;
}

void Adam::restore_state(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  for (const auto& [name, tensor] : tensors)
    if (name == "step") {
      const auto* counts = tensor.const_data<std::int64_t>();
      for (std::size_t i = 0; i < t_.size(); ++i)
        if (counts[i] < 0)
          throw Error(fmt::format("optimizer state: {} step count of parameter {} is {} (< 0)",
                                  type_name(), i, counts[i]));
    }
  take_state(m_, "m", tensors);
  take_state(v_, "v", tensors);
  for (const auto& [name, tensor] : tensors)
    if (name == "step") {
      const auto* counts = tensor.const_data<std::int64_t>();
      for (std::size_t i = 0; i < t_.size(); ++i) t_[i] = counts[i];
    }
}

AdamW::AdamW(std::vector<Tensor> parameters, const AdamWOptions& options)
    : Adam(std::move(parameters),
           AdamOptions{.lr = options.lr,
                       .beta1 = options.beta1,
                       .beta2 = options.beta2,
                       .eps = options.eps,
                       .weight_decay = options.weight_decay},
           true, "AdamW") {}

// --- schedules ----------------------------------------------------------------------------

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer), base_lr_(optimizer.lr()) {}
LRScheduler::~LRScheduler() = default;

void LRScheduler::set_epoch(std::int64_t t) {
  if (t < 0) throw Error(fmt::format("LRScheduler: set_epoch needs t ≥ 0, got {}", t));
  epoch_ = t;
  optimizer_.set_lr(lr_at(epoch_));
}

void LRScheduler::step() {
  ++epoch_;
  optimizer_.set_lr(lr_at(epoch_));
}

StepDecay::StepDecay(Optimizer& optimizer, const StepDecayOptions& options)
    : LRScheduler(optimizer), options_(options) {
  if (options.step_size <= 0)
    throw Error(fmt::format("StepDecay: step_size must be positive, got {}", options.step_size));
  if (!(options.gamma > 0.0 && options.gamma <= 1.0))
    throw Error(fmt::format("StepDecay: gamma must lie in (0, 1], got {}", options.gamma));
}

double StepDecay::lr_at(std::int64_t t) const {
  return base_lr() * std::pow(options_.gamma, static_cast<double>(t / options_.step_size));
}

ExponentialDecay::ExponentialDecay(Optimizer& optimizer, double k) : LRScheduler(optimizer), k_(k) {
  if (!(k >= 0.0) || !std::isfinite(k))
    throw Error(fmt::format("ExponentialDecay: k must be finite and ≥ 0, got {}", k));
}

double ExponentialDecay::lr_at(std::int64_t t) const {
  return base_lr() * std::exp(-k_ * static_cast<double>(t));
}

InverseTimeDecay::InverseTimeDecay(Optimizer& optimizer, double k) : LRScheduler(optimizer), k_(k) {
  if (!(k >= 0.0) || !std::isfinite(k))
    throw Error(fmt::format("InverseTimeDecay: k must be finite and ≥ 0, got {}", k));
}

double InverseTimeDecay::lr_at(std::int64_t t) const {
  return base_lr() / (1.0 + k_ * static_cast<double>(t));
}

}  // namespace gradlab::optim
