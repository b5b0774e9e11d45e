#pragma once
/// \file modules/train/trainer.hpp
/// \brief `train::Trainer`: the lecture's babysitting loop — mini-batch SGD with the checks and
/// the records that tell a learner whether training is going well.
///
/// One iteration samples a mini-batch, runs the forward pass, computes the loss (softmax
/// cross-entropy or multiclass SVM) plus the L2 penalty ½λ Σ_W ‖W‖² over the weight matrices,
/// back-propagates and lets the optimiser update the parameters. Around that loop the trainer
///
/// - records the loss of every iteration, and per epoch the accuracy on a fixed subset of the
///   training set (10,000 examples by default, so that measuring it stays cheap) and on the
///   validation set, evaluated in eval mode without recording a graph, in batches;
/// - records the update/weight ratio ‖Δθ‖ / ‖θ‖ of every parameter every few iterations (the
///   lecture wants it near 1e-3: much smaller, the learning rate is too low; much larger, too
///   high);
/// - stops at once with a diagnosis when the loss becomes NaN/inf or exceeds 3× its first value
///   ("loss exploded from 2.30 to 7.1 at iteration 12: learning rate too high?");
/// - keeps a copy of the parameters (and buffers) of the epoch with the best validation accuracy
///   and puts them back at the end;
/// - decays the learning rate once per epoch (lr₀ · decayᵉᵖᵒᶜʰ, or any `optim::LRScheduler`);
/// - shows a progress bar with ETA, loss and accuracy, and writes `history.csv`, `epochs.csv`,
///   `update_ratios.csv` and `summary.json` into an output folder;
/// - times the training iterations apart from the evaluations, so "training time" means time
///   spent learning.
///
/// \code
///   auto net = nn::MLP({784, 50, 10}, {.activation = "relu", .init = "he"});
///   optim::SGD optimizer(net.parameters(), {.lr = 0.1, .momentum = 0.9});
///   train::Trainer trainer(net, optimizer, {.epochs = 5, .batch_size = 256, .reg = 1e-4,
///                                           .out_dir = "runs/first"});
///   train::History history = trainer.fit(parts.train, parts.validation);
///   if (history.stopped_early()) std::cerr << history.diagnosis << "\n";
///   double test = trainer.evaluate(test_set);
/// \endcode
///
/// Determinism: the batch order of epoch e is `data::shuffled_indices(N, seed + e)` and the
/// training-accuracy subset is fixed by the seed, so on the reference backend two runs with the
/// same seed (and the same `manual_seed` before building the model) give identical loss histories.
///
/// Resuming: `state()` after `fit` (or from `on_epoch`) says where the run stands;
/// `add_training_state` puts it into a checkpoint, `restore_training_state` takes it back out and
/// `resume` makes the next `fit` continue the run, so epochs k+1 … E give the losses of a run
/// that never stopped.
///
/// Mini-batches: every epoch is a fresh permutation of the training set cut into ⌊N / B⌋ batches
/// of exactly B examples; the N mod B examples left over in one epoch are seen in others. Equal
/// batches keep BatchNorm's statistics comparable and let the trainer reuse one input buffer.

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "modules/data/data.hpp"
#include "modules/nn/checkpoint.hpp"
#include "modules/nn/module.hpp"
#include "modules/optim/optim.hpp"
#include "modules/train/progress.hpp"

namespace gradlab::train {

/// Why training ended.
enum class StopReason {
  completed,              ///< All epochs ran.
  loss_not_finite,        ///< The loss became NaN or infinite.
  loss_exploded,          ///< The loss exceeded `explosion_factor` × the first loss.
  stopped_by_callback,    ///< A callback returned false.
  gradient_not_finite,    ///< The loss was finite but a gradient was not; the step was not applied.
  parameters_not_finite,  ///< An update made a parameter NaN or infinite (the step was applied).
};

/// "completed", "loss_not_finite", "loss_exploded", "stopped_by_callback",
/// "gradient_not_finite" or "parameters_not_finite".
const char* stop_reason_name(StopReason reason);

/// What a per-iteration callback sees.
struct IterationInfo {
  std::int64_t iteration = 0;  ///< 1, 2, … over the whole run.
  std::int64_t epoch = 0;      ///< 1, 2, …
  double loss = 0.0;           ///< Data loss + L2 penalty of this mini-batch.
  double lr = 0.0;             ///< Learning rate used for this step.
};

/// One epoch's summary.
struct EpochRecord {
  std::int64_t epoch = 0;        ///< 1, 2, …
  std::int64_t iterations = 0;   ///< Iterations done by the end of this epoch (cumulative).
  double lr = 0.0;               ///< Learning rate used during this epoch.
  double mean_loss = 0.0;        ///< Mean of the epoch's mini-batch losses.
  double train_accuracy = 0.0;   ///< Accuracy on the fixed training subset, in [0, 1].
  double val_accuracy = -1.0;    ///< Validation accuracy, or −1 without a validation set.
  double train_seconds = 0.0;    ///< Time spent in training iterations during this epoch.
  double elapsed_seconds = 0.0;  ///< Wall time since `fit` started, at the end of the epoch.
};

/// One measurement of ‖Δθ‖ / ‖θ‖ for one parameter.
struct UpdateRatio {
  std::int64_t iteration = 0;  ///< Iteration whose update was measured.
  std::string parameter;       ///< Dotted parameter name, e.g. "0.weight".
  double update_norm = 0.0;    ///< ‖θ_after − θ_before‖₂.
  double weight_norm = 0.0;    ///< ‖θ_before‖₂.
  double ratio = 0.0;          ///< update_norm / weight_norm (0 when the weight norm is 0).
};

/// Everything `Trainer::fit` recorded.
struct History {
  std::vector<double> loss;                ///< Loss of every iteration (data loss + L2 penalty).
  std::vector<EpochRecord> epochs;         ///< One record per completed epoch.
  std::vector<UpdateRatio> update_ratios;  ///< Every k iterations, one row per parameter.
  StopReason stop_reason = StopReason::completed;  ///< Why training ended.
  std::string diagnosis;                           ///< Human-readable reason when stopped early.
  std::int64_t best_epoch = 0;      ///< Epoch with the best validation accuracy (0: none).
  double best_val_accuracy = -1.0;  ///< That accuracy (−1 without validation data).
  bool restored_best = false;       ///< The best epoch's parameters were put back.
  double training_seconds = 0.0;    ///< Time in training iterations only.
  double total_seconds = 0.0;       ///< Wall time of `fit`, evaluations included.

  /// True unless every epoch ran.
  bool stopped_early() const { return stop_reason != StopReason::completed; }
  /// True when training diverged: the loss, a gradient or a parameter became NaN or infinite, or
  /// the loss exploded. The model then holds the best epoch's parameters when `restored_best`,
  /// else the last finite ones before the failed step (or, for `parameters_not_finite`, broken
  /// ones): programs must not save it as if training had worked.
  bool diverged() const {
    return stop_reason == StopReason::loss_not_finite || stop_reason == StopReason::loss_exploded ||
           stop_reason == StopReason::gradient_not_finite ||
           stop_reason == StopReason::parameters_not_finite;
  }
  /// Number of iterations run.
  std::int64_t iterations() const { return static_cast<std::int64_t>(loss.size()); }
};

/// Where a run stands after some epochs: what `Trainer::resume` needs to continue it so that the
/// following epochs give the losses an uninterrupted run gives (bit-identical on the reference
/// backend; the batch order of epoch e depends on the seed and e only). `Trainer::state()` gives
/// it after `fit` or, from `on_epoch`, after each epoch.
struct TrainerState {
  std::int64_t epoch = 0;           ///< Epochs completed.
  std::int64_t iteration = 0;       ///< Iterations completed.
  double base_lr = 0.0;             ///< lr₀, from which `lr_decay` computes each epoch's lr.
  double first_loss = 0.0;          ///< The run's first loss (the explosion guard's reference).
  double last_val_accuracy = -1.0;  ///< The last epoch's validation accuracy (progress display).
  std::uint64_t random_state = 0;   ///< `random_state()` at the end of the last epoch (dropout).
  std::vector<double> loss;         ///< `History::loss` so far.
  std::vector<EpochRecord> epochs;  ///< `History::epochs` so far.
  std::int64_t best_epoch = 0;      ///< `History::best_epoch` so far.
  double best_val_accuracy = -1.0;  ///< `History::best_val_accuracy` so far.
  /// Keep-best: the values of the model's parameters, then buffers, at the best epoch (empty when
  /// none was kept). A resumed run keeps the best over all epochs, before and after the resume.
  std::vector<Tensor> best;
  /// The values of the parameters, then buffers, at the end of the last epoch when `fit` put the
  /// best epoch's back into the model; empty when the model holds them.
  std::vector<Tensor> last;
};

/// The trainer's and the optimiser's state as a checkpoint's training state (added to
/// `training`): settings "epoch", "iteration", "base_lr", "first_loss", "last_val_accuracy",
/// "random_state" (a decimal string), "best_epoch", "best_val_accuracy", "optimizer_type" and
/// `optimizer_HYPERPARAMETER` ("optimizer_lr", ...); tensors `optimizer.NAME`,
/// "history.loss" (float64 [iterations]), "history.epochs" (float64 [epochs, 8]: the columns of
/// epochs.csv), `resume.TENSOR` (`TrainerState::last`, the tensors training continues from,
/// when the model holds the best epoch's instead) and `best.TENSOR` (the best epoch's, when
/// they differ from what the model holds). `model` is the module the checkpoint saves, as it is
/// now: `model_holds_best` says whether it holds the best epoch's tensors (after `fit` with
/// `History::restored_best`) or the last epoch's.
void add_training_state(nn::TrainingState& training, const TrainerState& state,
                        const optim::OptimizerState& optimizer, const nn::Module& model,
                        bool model_holds_best);

/// The reverse of `add_training_state`: `model` holds the checkpoint's module tensors (loaded
/// with `nn::load_checkpoint`) and `optimizer` is a fresh optimiser of the saved type and
/// settings over its parameters. Loads the optimiser's state, puts the "resume.*" tensors into
/// the model, and returns the trainer state to pass to `Trainer::resume`. Raises
/// `gradlab::Error` naming the key or tensor that is missing or does not fit the model.
TrainerState restore_training_state(const nn::TrainingState& training, nn::Module& model,
                                    optim::Optimizer& optimizer);

/// Settings of a `Trainer`, written with designated initialisers.
struct TrainerConfig {
  std::int64_t epochs = 5;             ///< Passes over the training set (≥ 0).
  std::int64_t batch_size = 256;       ///< Examples per mini-batch (≥ 1; capped at N).
  std::string loss = "cross_entropy";  ///< "cross_entropy" (softmax) or "svm" (hinge, margin 1).
  /// λ of the L2 penalty ½λ Σ_W ‖W‖² (weight matrices only): part of the reported loss; its
  /// gradient λW is added inside the optimiser's update (`Optimizer::set_l2_penalty`, for the
  /// run's duration), not through the graph.
  double reg = 0.0;
  double lr_decay = 1.0;   ///< lr of epoch e (0-based) = lr₀ · lr_decayᵉ, in (0, 1].
  std::uint64_t seed = 0;  ///< Seeds the batch order and the training-accuracy subset.
  std::int64_t train_eval_size =
      10000;  ///< Size of the fixed training subset for accuracy (0: all).
  std::int64_t eval_batch_size = 1000;  ///< Batch size of the evaluations.
  std::int64_t ratio_every = 50;    ///< Measure update/weight ratios every k iterations (0: never).
  double explosion_factor = 3.0;    ///< Stop when loss > factor × first loss (0: never).
  bool keep_best = true;            ///< Restore the best-validation parameters at the end.
  std::int64_t max_iterations = 0;  ///< Stop after this many iterations in total (0: no cap).
  std::string out_dir{};            ///< Folder for CSV/JSON logs ("" = write none).
  ProgressStyle progress = ProgressStyle::automatic;  ///< How to show progress.
  std::ostream* progress_stream = nullptr;            ///< Where progress goes (nullptr: std::cerr).
  /// Called after every iteration; returning false stops training (`stopped_by_callback`).
  std::function<bool(const IterationInfo&)> on_iteration{};
  /// Called after every epoch's evaluation.
  std::function<void(const EpochRecord&)> on_epoch{};
};

/// The training loop over an `nn::Module` and an `optim::Optimizer`.
class Trainer {
 public:
  /// Trains `model` with `optimizer` (which must hold the model's trainable parameters). Both
  /// must outlive the trainer. Raises `gradlab::Error` for invalid settings.
  Trainer(nn::Module& model, optim::Optimizer& optimizer, TrainerConfig config = {});

  /// Uses `scheduler` (built on the same optimiser) instead of `lr_decay`: `scheduler->step()`
  /// is called after every epoch. Pass nullptr to go back to `lr_decay`.
  void set_scheduler(optim::LRScheduler* scheduler) { scheduler_ = scheduler; }

  /// Trains on `train` for the configured number of epochs, evaluating on `validation` after
  /// every epoch (pass a dataset with undefined tensors, e.g. `{}`, to skip validation; then no
  /// best parameters are kept). Leaves the model in eval mode. Writes the logs when `out_dir`
  /// is set. Returns the history (also kept in `history()`).
  History fit(const data::Dataset& train, const data::Dataset& validation = {});

  /// Accuracy of the model on `dataset` in eval mode, without recording a graph, in batches of
  /// `eval_batch_size`; restores the previous train/eval mode. Examples [0, limit) only when
  /// `limit` > 0.
  double evaluate(const data::Dataset& dataset, std::int64_t limit = 0);

  /// Mean loss (data loss only, no penalty) of the model on `dataset`, evaluated like `evaluate`.
  double evaluate_loss(const data::Dataset& dataset, std::int64_t limit = 0);

  /// Makes the next `fit` continue the run that `state` describes instead of starting one: it
  /// runs epochs state.epoch + 1 … `epochs` (the total), continuing the iteration count, the
  /// history (so the logs hold the whole run), the keep-best record, the lr decay from
  /// state.base_lr, a scheduler's position (`LRScheduler::set_epoch`) and the global random
  /// generator. The model must hold the parameters of the end of epoch state.epoch and the
  /// optimiser the state it had then (`restore_training_state` does both from a checkpoint).
  /// `History::update_ratios` and the timings cover the resumed epochs only.
  void resume(TrainerState state);

  /// Where the run stands: after `fit`, or from `on_epoch` at the end of each epoch.
  TrainerState state() const;

  /// The history of the last `fit`.
  const History& history() const { return history_; }
  /// The configuration.
  const TrainerConfig& config() const { return config_; }

  /// Writes history.csv, epochs.csv, update_ratios.csv and summary.json for `history` into
  /// `directory` (created if needed). `extra` is merged into summary.json when it is a JSON
  /// object text (e.g. the test accuracy); pass "" for nothing. A bad `extra_json` is refused
  /// before anything is written; each file appears complete (written beside, then renamed) or
  /// not at all. A file that cannot be written does not stop the others: every file is tried,
  /// then one `gradlab::Error` names each that failed.
  void write_logs(const std::string& directory, const History& history,
                  const std::string& extra_json = "") const;

 private:
  nn::Module& model_;
  optim::Optimizer& optimizer_;
  TrainerConfig config_;
  optim::LRScheduler* scheduler_ = nullptr;
  double base_lr_ = 0.0;  // the optimiser's learning rate when fit started
  History history_;
  std::optional<TrainerState> resume_;  // set by resume(), used by the next fit
  TrainerState progress_;               // the run's state at the end of the last epoch
};

}  // namespace gradlab::train
