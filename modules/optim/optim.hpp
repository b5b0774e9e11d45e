#pragma once
/// \file modules/optim/optim.hpp
/// \brief `gradlab::optim`: the lecture's parameter updates and learning-rate schedules.
///
/// An optimiser holds a list of parameters and, per parameter, the state its update rule needs
/// (velocity, squared-gradient cache, Adam's moments). `step()` applies one update to every
/// parameter that requires a gradient and has one, in place and without recording a graph; it
/// calls the active backend's update kernel, so the same optimiser runs on every backend.
/// Frozen parameters (`requires_grad` false) and parameters that received no gradient are
/// skipped, and their state does not advance.
///
/// \code
///   optim::Adam optimizer(net.parameters(), {.lr = 1e-3});
///   optim::StepDecay schedule(optimizer, {.step_size = 10, .gamma = 0.5});
///   for (int epoch = 0; epoch < 30; ++epoch) {
///     for (auto& [x, y] : batches) {
///       optimizer.zero_grad();
///       criterion(net(x), y).backward();
///       optimizer.step();
///     }
///     schedule.step();                     // lr for the next epoch
///   }
/// \endcode
///
/// The update rules, names and defaults are PyTorch 1.13's (x a parameter, dx its gradient), and
/// a test replays PyTorch's float64 trajectories to 1e-10 (tests/modules/test_optim_pytorch.cpp).
/// Every optimiser takes a `weight_decay` wd that PyTorch adds to the gradient first, g = dx +
/// wd·x (coupled L2); `AdamW` decays the parameter itself instead. SGD's momentum keeps v as a
/// gradient average (v ← μv + g; x ← x − lr·v), as PyTorch does; the course notes keep it as a
/// step (v ← μv − lr·dx; x ← x + v). The two agree at a constant learning rate, but only
/// PyTorch's form gives PyTorch's trajectory when a schedule changes lr. What else differs from
/// PyTorch is listed in docs/pytorch_differences.md.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tensor.hpp"

namespace gradlab::optim {

/// What `Optimizer::step()` raises when a gradient holds NaN or infinity: a `gradlab::Error` that
/// also carries the parameter, so a training loop can name it and stop cleanly.
class NonFiniteGradient : public Error {
 public:
  /// `message` names the parameter and the element; `parameter` is the tensor itself.
  NonFiniteGradient(const std::string& message, Tensor parameter)
      : Error(message), parameter_(std::move(parameter)) {}
  /// The parameter whose gradient is not finite.
  const Tensor& parameter() const { return parameter_; }

 private:
  Tensor parameter_;
};

/// Flat index of the first NaN or infinite element of a float tensor, or −1 when every element is
/// finite (and for int64 tensors, which have no such values). One pass over the data.
std::int64_t first_non_finite(const Tensor& tensor);

/// An optimiser's state as data, for checkpoints (`Optimizer::state`, `Optimizer::load_state`):
/// what the update rule has accumulated, so that a run continued from it takes the same steps as
/// the run that never stopped.
struct OptimizerState {
  /// `Optimizer::type_name()`: "SGD", "AdaGrad", "RMSProp", "Adam" or "AdamW".
  std::string type;
  /// The learning rate first ("lr"), then the other settings by their option names
  /// ("momentum", "nesterov" as 0 or 1, "weight_decay", ...).
  std::vector<std::pair<std::string, double>> hyperparameters;
  /// The state tensors, named `KIND.INDEX` (KIND the state, INDEX the parameter's position:
  /// "velocity.0", "m.3", "v.3", "cache.1"), plus Adam's per-parameter step counts "step"
  /// (int64, one per parameter). A parameter that was never updated has zero state, which is
  /// what a fresh optimiser starts from.
  std::vector<std::pair<std::string, Tensor>> tensors;
};

/// Base class of the optimisers: parameters, learning rate, `zero_grad()`, `step()`.
class Optimizer {
 public:
  /// Optimises `parameters` (duplicates, i.e. the same tensor twice, are kept once) with
  /// learning rate `lr` > 0.
  Optimizer(std::vector<Tensor> parameters, double lr);
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Clears the gradient of every parameter (call before each backward pass, since gradients
  /// accumulate).
  void zero_grad();
  /// One update of every parameter that requires a gradient and has one. Every gradient is
  /// checked first: a NaN or infinite element raises `NonFiniteGradient` naming the parameter (its
  /// position in `parameters()`, shape and label) and the element, and then no parameter and no
  /// optimiser state has changed. Each updated parameter's version goes up by one (an in-place
  /// write: a graph that saved its old value refuses a later backward pass).
  void step();

  /// The current learning rate.
  double lr() const { return lr_; }
  /// Changes the learning rate (schedulers call this); must be finite and ≥ 0.
  void set_lr(double lr);
  /// The parameters, in the order given.
  const std::vector<Tensor>& parameters() const { return parameters_; }

  /// From the next step on, adds the gradient λ·x of an L2 penalty ½λ‖x‖² to the gradient of
  /// each of `tensors` inside the update, as if the penalty were part of the loss but without
  /// its graph (a mul, a sum and their backward per tensor). It comes on top of the rule's own
  /// `weight_decay` and replaces a λ set before for the same tensors; λ = 0 removes it. It is
  /// PyTorch's `weight_decay` on a parameter group of its own: `train::Trainer` puts its `reg`
  /// on the weight matrices this way. Each tensor must be one of `parameters()` (else an error
  /// names its position and shape); λ must be finite and ≥ 0. Not part of `state()`: whoever
  /// sets it sets it again after a resume.
  void set_l2_penalty(const std::vector<Tensor>& tensors, double lambda);
  /// The λ that `set_l2_penalty` gave parameter `index` (0 when none).
  double l2_penalty(std::size_t index) const { return l2_penalty_.at(index); }

  /// The rule's name, as `OptimizerState::type` records it, e.g. "SGD"; "Optimizer" for a
  /// subclass that does not name itself (override it, and `state_tensors` / `restore_state`
  /// when the rule keeps state, to make its runs resumable).
  virtual std::string type_name() const { return "Optimizer"; }
  /// The learning rate ("lr") and the rule's settings, in a fixed order.
  virtual std::vector<std::pair<std::string, double>> hyperparameters() const;
  /// Copies of the state tensors (see `OptimizerState::tensors`); zeros for parameters that have
  /// not been updated yet.
  virtual std::vector<std::pair<std::string, Tensor>> state_tensors() const;
  /// Type, hyper-parameters and state tensors, copied: saving them and loading them into an
  /// optimiser of the same type over the same parameters continues the same trajectory.
  OptimizerState state() const;
  /// Loads `state`, all or nothing. Checked first, with errors naming the thing and both sides:
  /// the type ("the state is of Adam, this optimiser is SGD"), every hyper-parameter other than
  /// the learning rate (which is taken from the state), and the state tensors — the same names,
  /// shapes and dtypes as this optimiser's. Copies the tensors, so `state` may be dropped after.
  void load_state(const OptimizerState& state);

 protected:
  /// Replaces the state with `tensors` (already checked against `state_tensors()`: same names,
  /// shapes and dtypes, in the same order); the default has no state.
  virtual void restore_state(const std::vector<std::pair<std::string, Tensor>>& tensors);
  /// Applies the rule to parameter `index` (its gradient is defined and of the same shape). A
  /// rule adds `l2_penalty(index)` · x to the gradient, which the built-in rules do by passing
  /// `coupled_decay(index, their weight_decay)` to their fused kernel.
  virtual void update(std::size_t index, const Tensor& parameter, const Tensor& gradient) = 0;
  /// The coupled L2 coefficient of parameter `index`: the rule's `weight_decay` plus its
  /// `l2_penalty` (both add their coefficient times x to the gradient).
  double coupled_decay(std::size_t index, double weight_decay) const {
    return weight_decay + l2_penalty_[index];
  }
  /// A zero tensor shaped like `parameter`, for optimiser state.
  static Tensor zeros_like(const Tensor& parameter);

 private:
  std::vector<Tensor> parameters_;
  std::vector<double> l2_penalty_;  // per parameter, see set_l2_penalty
  double lr_;
};

/// Settings of `SGD`.
struct SGDOptions {
  double lr = 1e-2;           ///< Learning rate.
  double momentum = 0.0;      ///< μ ∈ [0, 1); 0 is plain SGD (typical: 0.5, 0.9, 0.99).
  bool nesterov = false;      ///< Nesterov's look-ahead form (needs μ > 0).
  double weight_decay = 0.0;  ///< wd ≥ 0: L2 added to the gradient, g = dx + wd · x.
};

/// Stochastic gradient descent, with optional momentum and Nesterov momentum (per parameter),
/// as PyTorch's `torch.optim.SGD` (without `dampening`):
///
///   g = dx + wd · x
///   plain:     x ← x − lr · g
///   momentum:  v ← μ v + g;   x ← x − lr · v
///   Nesterov:  v ← μ v + g;   x ← x − lr · (g + μ v)
///
/// v starts at 0 and is kept in gradient units, so a change of lr acts at once on the whole step
/// (the lecture's v ← μ v − lr · dx would carry the old lr in v).
class SGD : public Optimizer {
 public:
  /// `SGD(params, {.lr = 0.1})`, `SGD(params, {.lr = 0.01, .momentum = 0.9, .nesterov = true})`.
  SGD(std::vector<Tensor> parameters, const SGDOptions& options);
  std::string type_name() const override { return "SGD"; }
  std::vector<std::pair<std::string, double>> hyperparameters() const override;
  std::vector<std::pair<std::string, Tensor>> state_tensors() const override;

 protected:
  void update(std::size_t index, const Tensor& parameter, const Tensor& gradient) override;
  void restore_state(const std::vector<std::pair<std::string, Tensor>>& tensors) override;

 private:
  SGDOptions options_;
  std::vector<Tensor> velocity_;
};

/// Settings of `AdaGrad`.
struct AdaGradOptions {
  double lr = 1e-2;           ///< Learning rate.
  double eps = 1e-10;         ///< Keeps the division finite where the cache is 0 (PyTorch's 1e-10).
  double weight_decay = 0.0;  ///< wd ≥ 0: L2 added to the gradient, g = dx + wd · x.
};

/// AdaGrad (Duchi et al. 2011): per-element steps shrink with the gradients seen so far.
///   g = dx + wd · x;   cache ← cache + g²;   x ← x − lr · g / (√cache + eps)
/// (PyTorch's `Adagrad` with `lr_decay` = 0 and `initial_accumulator_value` = 0.)
class AdaGrad : public Optimizer {
 public:
  /// `AdaGrad(params, {.lr = 1e-2})`.
  AdaGrad(std::vector<Tensor> parameters, const AdaGradOptions& options);
  std::string type_name() const override { return "AdaGrad"; }
  std::vector<std::pair<std::string, double>> hyperparameters() const override;
  std::vector<std::pair<std::string, Tensor>> state_tensors() const override;

 protected:
  void update(std::size_t index, const Tensor& parameter, const Tensor& gradient) override;
  void restore_state(const std::vector<std::pair<std::string, Tensor>>& tensors) override;

 private:
  AdaGradOptions options_;
  std::vector<Tensor> cache_;
};

/// Settings of `RMSProp`.
struct RMSPropOptions {
  double lr = 1e-2;           ///< Learning rate (PyTorch's default 1e-2).
  double alpha = 0.99;        ///< α: decay rate of the squared-gradient average, in [0, 1).
  double eps = 1e-8;          ///< Keeps the division finite where the cache is 0.
  double weight_decay = 0.0;  ///< wd ≥ 0: L2 added to the gradient, g = dx + wd · x.
  /// Deprecated: the old name of `alpha`, accepted until the next release (a value set here
  /// wins over `alpha`'s default; setting both to different values is an error). Negative means
  /// unset.
  [[deprecated("RMSPropOptions::decay is now alpha, as in PyTorch")]] double decay = -1.0;
};

/// RMSProp (Tieleman & Hinton 2012): AdaGrad with a leaky cache, so steps do not die out.
///   g = dx + wd · x;   cache ← α · cache + (1 − α) · g²;   x ← x − lr · g / (√cache + eps)
/// (PyTorch's `RMSprop` with `momentum` = 0 and `centered` false.)
class RMSProp : public Optimizer {
 public:
  /// `RMSProp(params, {.lr = 1e-3, .alpha = 0.99})`.
  RMSProp(std::vector<Tensor> parameters, const RMSPropOptions& options);
  std::string type_name() const override { return "RMSProp"; }
  std::vector<std::pair<std::string, double>> hyperparameters() const override;
  std::vector<std::pair<std::string, Tensor>> state_tensors() const override;

 protected:
  void update(std::size_t index, const Tensor& parameter, const Tensor& gradient) override;
  void restore_state(const std::vector<std::pair<std::string, Tensor>>& tensors) override;

 private:
  RMSPropOptions options_;
  std::vector<Tensor> cache_;
};

/// Settings of `Adam`.
struct AdamOptions {
  double lr = 1e-3;           ///< Learning rate.
  double beta1 = 0.9;         ///< Decay of the gradient average m, in [0, 1).
  double beta2 = 0.999;       ///< Decay of the squared-gradient average v, in [0, 1).
  double eps = 1e-8;          ///< Keeps the division finite.
  double weight_decay = 0.0;  ///< wd ≥ 0: L2 added to the gradient, g = dx + wd · x.
};

/// Adam (Kingma & Ba 2015): momentum on the gradient plus RMSProp's scaling, bias-corrected.
/// At the parameter's t-th update (t = 1, 2, …):
///   g = dx + wd · x
///   m ← β₁ m + (1 − β₁) g;   v ← β₂ v + (1 − β₂) g²
///   m̂ = m / (1 − β₁ᵗ);  v̂ = v / (1 − β₂ᵗ);   x ← x − lr · m̂ / (√v̂ + eps)
/// t counts per parameter, so a parameter frozen for a while resumes its own schedule.
/// (PyTorch's `Adam` with `amsgrad` false.) With weight decay, large gradients also shrink the
/// decay term, which is why `AdamW` exists.
class Adam : public Optimizer {
 public:
  /// `Adam(params, {.lr = 1e-3})`, `Adam(params, {.lr = 1e-3, .weight_decay = 1e-4})`.
  Adam(std::vector<Tensor> parameters, const AdamOptions& options);
  std::string type_name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  std::vector<std::pair<std::string, double>> hyperparameters() const override;
  std::vector<std::pair<std::string, Tensor>> state_tensors() const override;

 protected:
  void restore_state(const std::vector<std::pair<std::string, Tensor>>& tensors) override;
  /// Adam or AdamW (`decoupled`); `owner` names the optimiser in error messages.
  Adam(std::vector<Tensor> parameters, const AdamOptions& options, bool decoupled,
       const char* owner);
  void update(std::size_t index, const Tensor& parameter, const Tensor& gradient) override;

 private:
  AdamOptions options_;
  bool decoupled_ = false;
  std::vector<Tensor> m_;
  std::vector<Tensor> v_;
  std::vector<std::int64_t> t_;
};

/// Settings of `AdamW`: Adam's, with PyTorch's default weight decay 1e-2.
struct AdamWOptions {
  double lr = 1e-3;            ///< Learning rate.
  double beta1 = 0.9;          ///< Decay of the gradient average m, in [0, 1).
  double beta2 = 0.999;        ///< Decay of the squared-gradient average v, in [0, 1).
  double eps = 1e-8;           ///< Keeps the division finite.
  double weight_decay = 1e-2;  ///< wd ≥ 0: each step first shrinks x ← x · (1 − lr · wd).
};

/// AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, as PyTorch 1.13 orders it:
///   x ← x · (1 − lr · wd);   then Adam's update with g = dx (no decay in the moments).
/// The decay no longer passes through the √v̂ scaling, so every weight shrinks at the same rate.
class AdamW : public Adam {
 public:
  /// `AdamW(params, {.lr = 1e-3, .weight_decay = 1e-2})`.
  AdamW(std::vector<Tensor> parameters, const AdamWOptions& options);
};

// --- learning-rate schedules ---------------------------------------------------------------

/// Base class of the schedules: lr(t) from the optimiser's learning rate lr₀ at construction and
/// the epoch counter t. `step()` advances t and writes lr(t) into the optimiser.
class LRScheduler {
 public:
  /// Schedules `optimizer`'s learning rate; lr₀ is its current learning rate, t starts at 0.
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler();
  /// t ← t + 1, then sets the optimiser's learning rate to lr(t). Call once per epoch.
  void step();
  /// The learning rate the schedule gives at epoch t.
  virtual double lr_at(std::int64_t t) const = 0;
  /// The epoch counter t.
  std::int64_t epoch() const { return epoch_; }
  /// Puts the schedule at epoch `t` ≥ 0 and sets the optimiser's learning rate to lr(t): where
  /// a resumed run continues after t epochs. lr₀ stays the one taken at construction, so build
  /// the scheduler before `Optimizer::load_state` changes the learning rate.
  void set_epoch(std::int64_t t);
  /// lr₀.
  double base_lr() const { return base_lr_; }

 private:
  Optimizer& optimizer_;
  double base_lr_;
  std::int64_t epoch_ = 0;
};

/// Settings of `StepDecay`.
struct StepDecayOptions {
  std::int64_t step_size = 10;  ///< Epochs between two reductions (> 0).
  double gamma = 0.5;           ///< Factor of each reduction, in (0, 1].
};

/// Step decay: lr(t) = lr₀ · γ^⌊t / step_size⌋ (e.g. halve every 10 epochs).
class StepDecay : public LRScheduler {
 public:
  /// `StepDecay(optimizer, {.step_size = 10, .gamma = 0.5})`.
  StepDecay(Optimizer& optimizer, const StepDecayOptions& options);
  double lr_at(std::int64_t t) const override;

 private:
  StepDecayOptions options_;
};

/// Exponential decay: lr(t) = lr₀ · e^(−k t). (PyTorch's ExponentialLR writes lr₀ · γᵗ; γ = e^−k.)
class ExponentialDecay : public LRScheduler {
 public:
  /// Decay rate `k` ≥ 0.
  ExponentialDecay(Optimizer& optimizer, double k);
  double lr_at(std::int64_t t) const override;

 private:
  double k_;
};

/// 1/t decay: lr(t) = lr₀ / (1 + k t).
class InverseTimeDecay : public LRScheduler {
 public:
  /// Decay rate `k` ≥ 0.
  InverseTimeDecay(Optimizer& optimizer, double k);
  double lr_at(std::int64_t t) const override;

 private:
  double k_;
};

}  // namespace gradlab::optim
