// The training loop: mini-batches, the explosion guard, update/weight ratios, best-parameter
// snapshots, evaluation in batches, and the CSV/JSON logs.
#include "modules/train/trainer.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <utility>

#include "autograd/ops.hpp"
#include "autograd/profiler.hpp"
#include "modules/optim/optim.hpp"
#include "modules/nn/losses.hpp"

namespace gradlab::train {

namespace {

/// ½λ Σ_W ‖W‖² as a number, for the reported loss. The gradient is the optimiser's
/// (`set_l2_penalty`), so only the value is needed: one pass over each matrix with the threads
/// splitting it, accumulating in double, instead of nn::l2_penalty's W ⊙ W temporary and
/// reduction (0.57 against about 0.15 ms per wide-bn step).
double penalty_value(const std::vector<Tensor>& weights, double lambda) {
  double total = 0.0;
  for (const Tensor& weight : weights) {
    const std::int64_t n = weight.numel();
    double sum = 0.0;
    if (weight.dtype() == DType::float64) {
      const double* w = weight.const_data<double>();
#pragma omp parallel for simd reduction(+ : sum) if (n > 65536)
      for (std::int64_t i = 0; i < n; ++i) sum += w[i] * w[i];
    } else {
      const float* w = weight.const_data<float>();
#pragma omp parallel for simd reduction(+ : sum) if (n > 65536)
      for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(w[i]) * w[i];
    }
    total += sum;
  }
  return 0.5 * lambda * total;
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Copies rows `order[first .. first + count)` of `source` ([N, ...] contiguous) into the first
// `count` rows of `target`. Works for every dtype: a row is a run of bytes.
void gather_rows(const Tensor& source, const std::vector<std::int64_t>& order, std::int64_t first,
                 std::int64_t count, const Tensor& target) {
  const std::int64_t rows = source.size(0);
  const std::size_t row_bytes =
      static_cast<std::size_t>(source.numel() / std::max<std::int64_t>(rows, 1)) *
      dtype_size(source.dtype());
  const auto* from = static_cast<const unsigned char*>(source.const_raw_data());
  auto* to = static_cast<unsigned char*>(target.raw_data());
  // Rows are scattered over a large dataset (memory latency, not bandwidth): two threads fetch
  // twice as many at once.
#pragma omp parallel for if (static_cast <std::size_t>(count) * row_bytes >= (1 << 18))
  for (std::int64_t i = 0; i < count; ++i)
    std::memcpy(
        to + static_cast<std::size_t>(i) * row_bytes,
        from + static_cast<std::size_t>(order[static_cast<std::size_t>(first + i)]) * row_bytes,
        row_bytes);
}

// Contiguous rows [begin, begin + count) of `source` as a fresh tensor.
Tensor copy_rows(const Tensor& source, std::int64_t begin, std::int64_t count) {
  Shape shape = source.shape();
  shape[0] = count;
  Tensor rows = Tensor::empty(shape, source.dtype());
  const std::size_t row_bytes =
      static_cast<std::size_t>(source.numel() / std::max<std::int64_t>(source.size(0), 1)) *
      dtype_size(source.dtype());
  std::memcpy(rows.raw_data(),
              static_cast<const unsigned char*>(source.const_raw_data()) +
                  static_cast<std::size_t>(begin) * row_bytes,
              static_cast<std::size_t>(count) * row_bytes);
  return rows;
}

// Σ x² of a float tensor, accumulated in double.
double squared_norm(const Tensor& tensor) {
  double total = 0.0;
  const std::int64_t n = tensor.numel();
  if (tensor.dtype() == DType::float32) {
    const float* x = tensor.const_data<float>();
    for (std::int64_t i = 0; i < n; ++i) total += static_cast<double>(x[i]) * x[i];
  } else if (tensor.dtype() == DType::float64) {
    const double* x = tensor.const_data<double>();
    for (std::int64_t i = 0; i < n; ++i) total += x[i] * x[i];
  }
  return total;
}

// Σ (a − b)² of two float tensors of the same shape and dtype, in double.
double squared_distance(const Tensor& a, const Tensor& b) {
  double total = 0.0;
  const std::int64_t n = a.numel();
  if (a.dtype() == DType::float32) {
    const float* x = a.const_data<float>();
    const float* y = b.const_data<float>();
    for (std::int64_t i = 0; i < n; ++i) {
      const double d = static_cast<double>(x[i]) - y[i];
      total += d * d;
    }
  } else if (a.dtype() == DType::float64) {
    const double* x = a.const_data<double>();
    const double* y = b.const_data<double>();
    for (std::int64_t i = 0; i < n; ++i) total += (x[i] - y[i]) * (x[i] - y[i]);
  }
  return total;
}

// A copy of the values of some tensors, which can be written back into the same tensors.
class Snapshot {
 public:
  void take(const std::vector<Tensor>& tensors) {
    originals_ = tensors;
    copies_.clear();
    copies_.reserve(tensors.size());
    for (const Tensor& tensor : tensors) copies_.push_back(tensor.detach().clone());
  }
  // Takes `copies` (values of `tensors`, e.g. from a checkpoint) as the snapshot.
  void set(const std::vector<Tensor>& tensors, const std::vector<Tensor>& copies) {
    originals_ = tensors;
    copies_ = copies;
  }
  bool empty() const { return originals_.empty(); }
  const std::vector<Tensor>& copies() const { return copies_; }
  // Writes the saved bytes back in place, so handles held by the optimiser stay valid.
  void restore() const {
    for (std::size_t i = 0; i < originals_.size(); ++i)
      std::memcpy(
          originals_[i].raw_data(), copies_[i].raw_data(),
          static_cast<std::size_t>(originals_[i].numel()) * dtype_size(originals_[i].dtype()));
  }

 private:
  std::vector<Tensor> originals_;
  std::vector<Tensor> copies_;
};

// Restores a module's train/eval mode at the end of a scope.
class ModeGuard {
 public:
  ModeGuard(nn::Module& model, bool training) : model_(model), previous_(model.is_training()) {
    model_.train(training);
  }
  ~ModeGuard() { model_.train(previous_); }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  nn::Module& model_;
  bool previous_;
};

void check_dataset(const data::Dataset& dataset, const char* role) {
  if (!dataset.images.defined() || !dataset.labels.defined())
    throw Error(fmt::format("Trainer: the {} set has no images or labels", role));
  if (dataset.images.dim() < 2 || dataset.labels.dim() != 1 ||
      dataset.images.size(0) != dataset.labels.size(0) || dataset.images.size(0) == 0)
    throw Error(fmt::format(
        "Trainer: the {} set needs images [N, D] and labels [N] with N ≥ 1, got "
        "images {} and labels {}",
        role, shape_string(dataset.images.shape()), shape_string(dataset.labels.shape())));
  if (dataset.labels.dtype() != DType::int64)
    throw Error(fmt::format("Trainer: the {} labels must be int64, got {}", role,
                            dtype_name(dataset.labels.dtype())));
}

std::string percent(double fraction) { return fmt::format("{:.2f}%", 100.0 * fraction); }

}  // namespace

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::completed: return "completed";
    case StopReason::loss_not_finite: return "loss_not_finite";
    case StopReason::loss_exploded: return "loss_exploded";
    case StopReason::stopped_by_callback: return "stopped_by_callback";
    case StopReason::gradient_not_finite: return "gradient_not_finite";
    case StopReason::parameters_not_finite: return "parameters_not_finite";
  }
  return "unknown";
}

Trainer::Trainer(nn::Module& model, optim::Optimizer& optimizer, TrainerConfig config)
    : model_(model), optimizer_(optimizer), config_(std::move(config)) {
  const TrainerConfig& c = config_;
  if (c.epochs < 0) throw Error(fmt::format("Trainer: epochs must be ≥ 0, got {}", c.epochs));
  if (c.batch_size < 1)
    throw Error(fmt::format("Trainer: batch_size must be ≥ 1, got {}", c.batch_size));
  if (c.eval_batch_size < 1)
    throw Error(fmt::format("Trainer: eval_batch_size must be ≥ 1, got {}", c.eval_batch_size));
  if (c.loss != "cross_entropy" && c.loss != "svm")
    throw Error(fmt::format("Trainer: loss must be 'cross_entropy' or 'svm', got '{}'", c.loss));
  if (!std::isfinite(c.reg) || c.reg < 0.0)
    throw Error(fmt::format("Trainer: reg (λ) must be finite and ≥ 0, got {}", c.reg));
  if (!(c.lr_decay > 0.0 && c.lr_decay <= 1.0))
    throw Error(fmt::format("Trainer: lr_decay must be in (0, 1], got {}", c.lr_decay));
  if (c.train_eval_size < 0 || c.ratio_every < 0 || c.max_iterations < 0)
    throw Error("Trainer: train_eval_size, ratio_every and max_iterations must be ≥ 0");
  if (!(c.explosion_factor == 0.0 || c.explosion_factor > 1.0))
    throw Error(fmt::format("Trainer: explosion_factor must be 0 (off) or > 1, got {}",
                            c.explosion_factor));
}

double Trainer::evaluate(const data::Dataset& dataset, std::int64_t limit) {
  check_dataset(dataset, "evaluation");
  const std::int64_t n = limit > 0 ? std::min(limit, dataset.size()) : dataset.size();
  ModeGuard mode(model_, false);
  NoGradGuard no_grad;
  std::int64_t correct = 0;
  for (std::int64_t begin = 0; begin < n; begin += config_.eval_batch_size) {
    const std::int64_t count = std::min(config_.eval_batch_size, n - begin);
    Tensor scores = model_.forward(copy_rows(dataset.images, begin, count));
    Tensor predicted = argmax(scores);
    const std::int64_t* guess = predicted.const_data<std::int64_t>();
    const std::int64_t* truth = dataset.labels.const_data<std::int64_t>() + begin;
    for (std::int64_t i = 0; i < count; ++i) correct += guess[i] == truth[i] ? 1 : 0;
  }
  return static_cast<double>(correct) / static_cast<double>(n);
}

double Trainer::evaluate_loss(const data::Dataset& dataset, std::int64_t limit) {
  check_dataset(dataset, "evaluation");
  const std::int64_t n = limit > 0 ? std::min(limit, dataset.size()) : dataset.size();
  ModeGuard mode(model_, false);
  NoGradGuard no_grad;
  double total = 0.0;
  for (std::int64_t begin = 0; begin < n; begin += config_.eval_batch_size) {
    const std::int64_t count = std::min(config_.eval_batch_size, n - begin);
    Tensor scores = model_.forward(copy_rows(dataset.images, begin, count));
    Tensor labels = copy_rows(dataset.labels, begin, count);
    Tensor loss = config_.loss == "svm" ? svm_loss(scores, labels) : cross_entropy(scores, labels);
    total += loss.item() * static_cast<double>(count);
  }
  return total / static_cast<double>(n);
}

History Trainer::fit(const data::Dataset& train, const data::Dataset& validation) {
  check_dataset(train, "training");
  const bool has_validation = validation.images.defined();
  if (has_validation) {
    check_dataset(validation, "validation");
    if (validation.images.numel() / validation.size() != train.images.numel() / train.size())
      throw Error(
          fmt::format("Trainer: validation images {} and training images {} have different "
                      "numbers of features",
                      shape_string(validation.images.shape()), shape_string(train.images.shape())));
  }
  const auto fit_start = Clock::now();
  history_ = History{};
  History& history = history_;
  const bool resuming = resume_.has_value();
  TrainerState start = resume_.value_or(TrainerState{});
  resume_.reset();
  if (start.epoch > config_.epochs)
    throw Error(
        fmt::format("Trainer: the resumed run has done {} epochs, more than the {} asked for",
                    start.epoch, config_.epochs));
  std::ostream& out = config_.progress_stream != nullptr ? *config_.progress_stream : std::cerr;

  const std::int64_t n = train.size();
  const std::int64_t batch = std::min(config_.batch_size, n);
  const std::int64_t batches_per_epoch = n / batch;
  std::int64_t planned = batches_per_epoch * config_.epochs;
  if (config_.max_iterations > 0) planned = std::min(planned, config_.max_iterations);

  // The fixed training subset on which train accuracy is measured each epoch.
  data::Dataset train_subset = train;
  if (config_.train_eval_size > 0 && config_.train_eval_size < n) {
    const auto order = data::shuffled_indices(n, config_.seed ^ 0x7261696e5f657661ULL);
    train_subset = data::select(train, std::span<const std::int64_t>(order).first(
                                           static_cast<std::size_t>(config_.train_eval_size)));
  }

  // Parameters that learn, with their names (for the ratios and the L2 penalty).
  std::vector<nn::NamedTensor> trainable;
  std::vector<Tensor> weights;
  for (auto& [name, tensor] : model_.named_parameters()) {
    if (!tensor.requires_grad()) continue;
    trainable.emplace_back(name, tensor);
    if (tensor.dim() >= 2) weights.push_back(tensor);
  }
  // With reg > 0, the L2 penalty's gradient λW goes into the optimiser's update of each weight
  // it updates (see below); when this run ends, each weight gets back the λ it had before.
  struct PenaltyInTheUpdate {
    optim::Optimizer& optimizer;
    std::vector<std::pair<Tensor, double>> before;  // weight, its λ before this run
    ~PenaltyInTheUpdate() {
      for (const auto& [weight, lambda] : before) optimizer.set_l2_penalty({weight}, lambda);
    }
  } penalty_in_the_update{optimizer_, {}};
  if (config_.reg > 0.0) {
    std::vector<Tensor> penalised;
    for (const Tensor& weight : weights)
      for (std::size_t i = 0; i < optimizer_.parameters().size(); ++i)
        if (optimizer_.parameters()[i].impl() == weight.impl()) {
          penalised.push_back(weight);
          penalty_in_the_update.before.emplace_back(weight, optimizer_.l2_penalty(i));
        }
    optimizer_.set_l2_penalty(penalised, config_.reg);
  }
  std::vector<Tensor> state;  // everything "best parameters" must restore: parameters + buffers
  for (auto& [name, tensor] : model_.named_parameters()) state.push_back(tensor);
  for (auto& [name, tensor] : model_.named_buffers()) state.push_back(tensor);
  Snapshot best;
  if (!start.best.empty() && config_.keep_best) {
    if (start.best.size() != state.size())
      throw Error(
          fmt::format("Trainer: the resumed best-epoch snapshot has {} tensors, the model {}",
                      start.best.size(), state.size()));
    for (std::size_t i = 0; i < state.size(); ++i)
      if (start.best[i].shape() != state[i].shape() || start.best[i].dtype() != state[i].dtype())
        throw Error(fmt::format(
            "Trainer: tensor {} of the resumed best-epoch snapshot has shape {}, the model {}", i,
            shape_string(start.best[i].shape()), shape_string(state[i].shape())));
    best.set(state, start.best);
  }

  // One input buffer per run, refilled in place every iteration.
  Shape image_shape = train.images.shape();
  image_shape[0] = batch;
  Tensor batch_images = Tensor::empty(image_shape, train.images.dtype());
  Tensor batch_labels = Tensor::empty({batch}, DType::int64);

  ProgressBar bar(out, planned, config_.progress);
  const double base_lr = resuming ? start.base_lr : optimizer_.lr();
  base_lr_ = base_lr;
  double first_loss = start.first_loss;
  double last_val = start.last_val_accuracy;
  std::int64_t iteration = start.iteration;
  bool stop = false;
  if (resuming) {
    // The run goes on where it stopped: its history, its best epoch, its random numbers, its
    // schedule.
    history.loss = start.loss;
    history.epochs = start.epochs;
    history.best_epoch = start.best_epoch;
    history.best_val_accuracy = start.best_val_accuracy;
    manual_seed(start.random_state);
    if (scheduler_ != nullptr) scheduler_->set_epoch(start.epoch);
  }
  progress_ = start;
  progress_.base_lr = base_lr;
  progress_.last.clear();

  for (std::int64_t epoch = start.epoch + 1; epoch <= config_.epochs && !stop; ++epoch) {
    if (scheduler_ == nullptr && config_.lr_decay != 1.0)
      optimizer_.set_lr(base_lr * std::pow(config_.lr_decay, static_cast<double>(epoch - 1)));
    const double epoch_lr = optimizer_.lr();
    double train_seconds = 0.0;
    double loss_sum = 0.0;
    std::int64_t loss_count = 0;
    const auto order = data::shuffled_indices(n, config_.seed + static_cast<std::uint64_t>(epoch));
    model_.train();

    for (std::int64_t b = 0; b < batches_per_epoch && !stop; ++b) {
      if (config_.max_iterations > 0 && iteration >= config_.max_iterations) {
        stop = true;
        break;
      }
      const auto step_start = Clock::now();
      Profiler::Range step_range("step");  // what a running Profiler calls a step
      ++iteration;
      {
        Profiler::Range batch_range("batch");  // copying the batch is not the first op's time
        gather_rows(train.images, order, b * batch, batch, batch_images);
        gather_rows(train.labels, order, b * batch, batch, batch_labels);
      }

      optimizer_.zero_grad();
      Tensor scores = model_.forward(batch_images);
      Tensor loss = config_.loss == "svm" ? svm_loss(scores, batch_labels)
                                          : cross_entropy(scores, batch_labels);
      // The L2 penalty ½λ Σ‖W‖² is part of the loss the run reports, but its gradient λW is
      // known in closed form, so it is not differentiated through the graph (a mul and a sum
      // per weight matrix and their backward, about 12 % of a wide-bn step): the value is a
      // number computed here, and the optimiser adds λW to the gradient inside its update
      // (set_l2_penalty above; PyTorch's weight_decay on the weights' parameter group).
      if (config_.reg > 0.0 && !weights.empty())
        loss = loss + scalar(penalty_value(weights, config_.reg), loss.dtype());
      const double value = loss.item();
      history.loss.push_back(value);
      if (iteration == 1) first_loss = value;

      // The lecture's guard: a loss that is not a number, or grows past 3× where it started, will
      // not come back; stop instead of wasting the run.
      if (!std::isfinite(value)) {
        history.stop_reason = StopReason::loss_not_finite;
        history.diagnosis = fmt::format(
            "loss became {} at iteration {} (first loss {:.2f}): learning rate too high?",
            std::isnan(value) ? "NaN" : "infinite", iteration, first_loss);
        train_seconds += seconds_since(step_start);
        stop = true;
        break;
      }
      if (config_.explosion_factor > 0.0 && first_loss > 0.0 &&
          value > config_.explosion_factor * first_loss) {
        history.stop_reason = StopReason::loss_exploded;
        history.diagnosis = fmt::format(
            "loss exploded from {:.2f} to {:.3g} at iteration {} (more than {:g}× the first loss): "
            "learning rate too high?",
            first_loss, value, iteration, config_.explosion_factor);
        train_seconds += seconds_since(step_start);
        stop = true;
        break;
      }

      loss.backward();
      const bool measure =
          config_.ratio_every > 0 && (iteration == 1 || iteration % config_.ratio_every == 0);
      std::vector<Tensor> before;
      if (measure) {
        before.reserve(trainable.size());
        for (auto& [name, tensor] : trainable) before.push_back(tensor.detach().clone());
      }
      try {
        Profiler::Range update_range("optimizer");
        optimizer_.step();
      } catch (const optim::NonFiniteGradient& error) {
        // A finite loss with a NaN/inf gradient (log 0, √0, 1/0 inside the model): the optimiser
        // refused the step before changing anything, so stop here with the parameter's name.
        std::string name = "?";
        for (const auto& [candidate, tensor] : trainable)
          if (tensor.impl() == error.parameter().impl()) name = candidate;
        history.stop_reason = StopReason::gradient_not_finite;
        history.diagnosis = fmt::format(
            "the gradient of '{}' was not finite at iteration {} although the loss ({:.4g}) was; "
            "the step was "
            "not applied ({})",
            name, iteration, value, error.what());
        train_seconds += seconds_since(step_start);
        stop = true;
        break;
      }
      // An update can overflow although every gradient was finite (lr 1e308): stop like a
      // non-finite gradient rather than train on, and later save, infinite weights.
      for (const auto& [name, tensor] : trainable) {
        const std::int64_t element = optim::first_non_finite(tensor);
        if (element < 0) continue;
        history.stop_reason = StopReason::parameters_not_finite;
        history.diagnosis = fmt::format(
            "the update at iteration {} made parameter '{}' non-finite (element {}) although the "
            "loss ({:.4g}) and the gradients were finite: learning rate too high?",
            iteration, name, element, value);
        stop = true;
        break;
      }
      if (stop) {
        train_seconds += seconds_since(step_start);
        break;
      }
      if (measure) {
        for (std::size_t i = 0; i < trainable.size(); ++i) {
          UpdateRatio ratio;
          ratio.iteration = iteration;
          ratio.parameter = trainable[i].first;
          ratio.update_norm = std::sqrt(squared_distance(trainable[i].second, before[i]));
          ratio.weight_norm = std::sqrt(squared_norm(before[i]));
          ratio.ratio = ratio.weight_norm > 0.0 ? ratio.update_norm / ratio.weight_norm : 0.0;
          history.update_ratios.push_back(std::move(ratio));
        }
      }
      train_seconds += seconds_since(step_start);
      loss_sum += value;
      ++loss_count;

      bar.update(iteration, value, last_val);
      if (config_.on_iteration &&
          !config_.on_iteration(IterationInfo{iteration, epoch, value, epoch_lr})) {
        history.stop_reason = StopReason::stopped_by_callback;
        history.diagnosis =
            fmt::format("stopped by the iteration callback at iteration {}", iteration);
        stop = true;
      }
    }
    history.training_seconds += train_seconds;
    // An epoch cut short by an explosion is not evaluated: its parameters are not worth keeping.
    if (history.diverged()) break;
    if (loss_count == 0) break;

    EpochRecord record;
    record.epoch = epoch;
    record.iterations = iteration;
    record.lr = epoch_lr;
    record.mean_loss = loss_sum / static_cast<double>(loss_count);
    record.train_seconds = train_seconds;
    record.train_accuracy = evaluate(train_subset);
    if (has_validation) {
      record.val_accuracy = evaluate(validation);
      last_val = record.val_accuracy;
      if (record.val_accuracy > history.best_val_accuracy) {
        history.best_val_accuracy = record.val_accuracy;
        history.best_epoch = epoch;
        if (config_.keep_best) best.take(state);
      }
    }
    record.elapsed_seconds = seconds_since(fit_start);
    history.epochs.push_back(record);
    progress_.epoch = epoch;
    progress_.iteration = iteration;
    progress_.first_loss = first_loss;
    progress_.last_val_accuracy = last_val;
    progress_.random_state = random_state();
    progress_.loss = history.loss;
    progress_.epochs = history.epochs;
    progress_.best_epoch = history.best_epoch;
    progress_.best_val_accuracy = history.best_val_accuracy;
    progress_.best = best.copies();

    std::string summary = fmt::format("epoch {}/{}  loss {:.4f}  train {}", epoch, config_.epochs,
                                      record.mean_loss, percent(record.train_accuracy));
    if (has_validation) summary += "  val " + percent(record.val_accuracy);
    summary += fmt::format("  lr {:.3g}  ({:.1f}s training, {} elapsed)", epoch_lr, train_seconds,
                           ProgressBar::format_duration(record.elapsed_seconds));
    bar.end_epoch(summary);
    if (config_.on_epoch) config_.on_epoch(record);
    if (scheduler_ != nullptr) scheduler_->step();
  }
  bar.clear();
  if (history.stopped_early() && config_.progress != ProgressStyle::none)
    out << "training stopped: " << history.diagnosis << '\n' << std::flush;

  // Put back the parameters of the best validation epoch, unless the last one was the best.
  if (config_.keep_best && !best.empty() &&
      (history.epochs.empty() || history.epochs.back().epoch != history.best_epoch ||
       history.stopped_early())) {
    progress_.last.clear();
    for (const Tensor& tensor : state) progress_.last.push_back(tensor.detach().clone());
    best.restore();
    history.restored_best = true;
  }
  model_.eval();
  history.total_seconds = seconds_since(fit_start);
  if (!config_.out_dir.empty()) write_logs(config_.out_dir, history);
  return history;
}

void Trainer::resume(TrainerState state) { resume_ = std::move(state); }

TrainerState Trainer::state() const {
  TrainerState copy = progress_;
  for (Tensor& tensor : copy.best) tensor = tensor.detach().clone();
  return copy;
}

namespace {

constexpr std::int64_t epoch_columns = 8;  // the columns of epochs.csv

// The model's parameters, then buffers, with their names (what keep-best snapshots).
std::vector<nn::NamedTensor> snapshot_tensors(const nn::Module& model) {
  std::vector<nn::NamedTensor> tensors = model.named_parameters();
  for (auto& named : model.named_buffers()) tensors.push_back(named);
  return tensors;
}

Tensor doubles(const std::vector<double>& values, Shape shape) {
  // Filled here rather than by zeros(): a backend without float64 (oneDNN) could not.
  Tensor tensor = Tensor::empty(shape, DType::float64);
  std::copy(values.begin(), values.end(), tensor.data<double>());
  return tensor;
}

}  // namespace

void add_training_state(nn::TrainingState& training, const TrainerState& state,
                        const optim::OptimizerState& optimizer, const nn::Module& model,
                        bool model_holds_best) {
  auto set = [&](const std::string& key, nn::SettingValue value) {
    training.settings.push_back({key, std::move(value)});
  };
  set("epoch", state.epoch);
  set("iteration", state.iteration);
  set("base_lr", state.base_lr);
  set("first_loss", state.first_loss);
  set("last_val_accuracy", state.last_val_accuracy);
  set("random_state", std::to_string(state.random_state));
  set("best_epoch", state.best_epoch);
  set("best_val_accuracy", state.best_val_accuracy);
  set("optimizer_type", optimizer.type);
  for (const auto& [name, value] : optimizer.hyperparameters) set("optimizer_" + name, value);
  for (const auto& [name, tensor] : optimizer.tensors)
    training.tensors.emplace_back("optimizer." + name, tensor);
  training.tensors.emplace_back(
      "history.loss", doubles(state.loss, {static_cast<std::int64_t>(state.loss.size())}));
  std::vector<double> rows;
  for (const EpochRecord& e : state.epochs)
    rows.insert(rows.end(),
                {static_cast<double>(e.epoch), static_cast<double>(e.iterations), e.lr, e.mean_loss,
                 e.train_accuracy, e.val_accuracy, e.train_seconds, e.elapsed_seconds});
  training.tensors.emplace_back(
      "history.epochs",
      doubles(rows, {static_cast<std::int64_t>(state.epochs.size()), epoch_columns}));
  const std::vector<nn::NamedTensor> tensors = snapshot_tensors(model);
  auto add_all = [&](const char* prefix, const std::vector<Tensor>& values) {
    if (values.size() != tensors.size())
      throw Error(fmt::format("training state: {} {} tensors for a model of {}", values.size(),
                              prefix, tensors.size()));
    for (std::size_t i = 0; i < values.size(); ++i)
      training.tensors.emplace_back(fmt::format("{}.{}", prefix, tensors[i].first), values[i]);
  };
  if (model_holds_best) {
    if (!state.last.empty()) add_all("resume", state.last);
  } else if (!state.best.empty() && state.best_epoch != state.epoch) {
    add_all("best", state.best);
  }
}

TrainerState restore_training_state(const nn::TrainingState& training, nn::Module& model,
                                    optim::Optimizer& optimizer) {
  auto find = [&](const std::string& key) -> const nn::SettingValue& {
    for (const nn::LayerSetting& setting : training.settings)
      if (setting.key == key) return setting.value;
    throw Error(fmt::format("training state: the setting '{}' is missing", key));
  };
  auto integer = [&](const std::string& key) {
    const auto* value = std::get_if<std::int64_t>(&find(key));
    if (value == nullptr || *value < 0)
      throw Error(fmt::format("training state: '{}' must be a whole number ≥ 0", key));
    return *value;
  };
  auto number = [&](const std::string& key) {
    const nn::SettingValue& value = find(key);
    if (const auto* real = std::get_if<double>(&value)) return *real;
    if (const auto* whole = std::get_if<std::int64_t>(&value)) return static_cast<double>(*whole);
    throw Error(fmt::format("training state: '{}' must be a number", key));
  };
  auto word = [&](const std::string& key) {
    const auto* value = std::get_if<std::string>(&find(key));
    if (value == nullptr) throw Error(fmt::format("training state: '{}' must be a string", key));
    return *value;
  };
  auto tensor = [&](const std::string& name) -> const Tensor* {
    for (const auto& [key, value] : training.tensors)
      if (key == name) return &value;
    return nullptr;
  };

  TrainerState state;
  state.epoch = integer("epoch");
  state.iteration = integer("iteration");
  state.base_lr = number("base_lr");
  state.first_loss = number("first_loss");
  state.last_val_accuracy = number("last_val_accuracy");
  state.best_epoch = integer("best_epoch");
  state.best_val_accuracy = number("best_val_accuracy");
  {
    const std::string text = word("random_state");
    std::size_t used = 0;
    try {
      state.random_state = std::stoull(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size())
      throw Error(fmt::format("training state: random_state '{}' is not a whole number", text));
  }
  const Tensor* loss = tensor("history.loss");
  const Tensor* epochs = tensor("history.epochs");
  if (loss == nullptr || loss->dtype() != DType::float64 || loss->dim() != 1 ||
      loss->numel() != state.iteration)
    throw Error(fmt::format(
        "training state: 'history.loss' must be float64 of shape [{}] (one loss per iteration)",
        state.iteration));
  if (epochs == nullptr || epochs->dtype() != DType::float64 ||
      epochs->shape() != Shape{state.epoch, epoch_columns})
    throw Error(fmt::format("training state: 'history.epochs' must be float64 of shape [{}, {}]",
                            state.epoch, epoch_columns));
  state.loss.assign(loss->const_data<double>(), loss->const_data<double>() + loss->numel());
  const double* row = epochs->const_data<double>();
  for (std::int64_t e = 0; e < state.epoch; ++e, row += epoch_columns)
    state.epochs.push_back(EpochRecord{static_cast<std::int64_t>(row[0]),
                                       static_cast<std::int64_t>(row[1]), row[2], row[3], row[4],
                                       row[5], row[6], row[7]});

  // Everything is checked before the optimiser or the model changes.
  const std::vector<nn::NamedTensor> tensors = snapshot_tensors(model);
  auto all = [&](const char* prefix) {
    std::vector<Tensor> values;
    for (const auto& [name, current] : tensors) {
      const Tensor* value = tensor(fmt::format("{}.{}", prefix, name));
      if (value == nullptr) break;
      if (value->shape() != current.shape() || value->dtype() != current.dtype())
        throw Error(fmt::format("training state: '{}.{}' is {} {}, the model's '{}' {} {}", prefix,
                                name, shape_string(value->shape()), dtype_name(value->dtype()),
                                name, shape_string(current.shape()), dtype_name(current.dtype())));
      values.push_back(*value);
    }
    if (!values.empty() && values.size() != tensors.size())
      throw Error(
          fmt::format("training state: '{}.{}' is missing", prefix, tensors[values.size()].first));
    return values;
  };
  const std::vector<Tensor> resume = all("resume");
  state.best = all("best");
  if (state.best.empty() && state.best_epoch > 0)
    for (const auto& [name, current] : tensors) state.best.push_back(current.detach().clone());

  optim::OptimizerState saved;
  saved.type = word("optimizer_type");
  for (const nn::LayerSetting& setting : training.settings)
    if (setting.key.rfind("optimizer_", 0) == 0 && setting.key != "optimizer_type")
      saved.hyperparameters.emplace_back(setting.key.substr(10), number(setting.key));
  for (const auto& [name, value] : training.tensors)
    if (name.rfind("optimizer.", 0) == 0) saved.tensors.emplace_back(name.substr(10), value);
  optimizer.load_state(saved);

  for (std::size_t i = 0; i < resume.size(); ++i) {
    const Tensor& target = tensors[i].second;
    const auto bytes = static_cast<std::size_t>(target.numel()) * dtype_size(target.dtype());
    if (bytes > 0) std::memcpy(target.raw_data(), resume[i].const_raw_data(), bytes);
  }
  return state;
}

void Trainer::write_logs(const std::string& directory, const History& history,
                         const std::string& extra_json) const {
  namespace fs = std::filesystem;
  // Everything that can be refused is checked before the first file is written.
  nlohmann::json extra = nlohmann::json::object();
  if (!extra_json.empty()) {
    extra = nlohmann::json::parse(extra_json, nullptr, false);
    if (extra.is_discarded() || !extra.is_object())
      throw Error("Trainer::write_logs: extra_json is not a JSON object: " + extra_json);
  }
  const fs::path folder(directory);
  std::error_code error;
  fs::create_directories(folder, error);
  if (error)
    throw Error(
        fmt::format("Trainer: cannot create the log folder '{}': {}", directory, error.message()));
  // Each file is written under a temporary name beside it and renamed once complete: a reader
  // never sees half a log, and a failed write (disk full) leaves no partial file.
  // A failed file does not stop the others: its message is kept and reported at the end.
  std::vector<std::string> failures;
  auto write_file = [&](const char* name, const std::string& text) {
    const fs::path target = folder / name;
    const fs::path temporary = folder / fmt::format(".{}.tmp", name);
    {
      std::ofstream file(temporary);
      if (!file) {
        failures.push_back(fmt::format("cannot write '{}'", target.string()));
        return;
      }
      file << text;
      file.close();
      if (!file) {
        fs::remove(temporary, error);
        failures.push_back(fmt::format("writing '{}' failed (is the disk full?)", target.string()));
        return;
      }
    }
    fs::rename(temporary, target, error);
    if (error) {
      const std::string reason = error.message();
      fs::remove(temporary, error);
      failures.push_back(fmt::format("cannot write '{}': {}", target.string(), reason));
    }
  };

  std::string text = "iteration,loss\n";
  for (std::size_t i = 0; i < history.loss.size(); ++i)
    text += fmt::format("{},{:.9g}\n", i + 1, history.loss[i]);
  write_file("history.csv", text);

  text =
      "epoch,iterations,lr,mean_loss,train_accuracy,val_accuracy,train_seconds,elapsed_seconds\n";
  for (const EpochRecord& e : history.epochs)
    text += fmt::format("{},{},{:.9g},{:.9g},{:.6f},{:.6f},{:.3f},{:.3f}\n", e.epoch, e.iterations,
                        e.lr, e.mean_loss, e.train_accuracy, e.val_accuracy, e.train_seconds,
                        e.elapsed_seconds);
  write_file("epochs.csv", text);

  text = "iteration,parameter,update_norm,weight_norm,ratio\n";
  for (const UpdateRatio& r : history.update_ratios)
    text += fmt::format("{},{},{:.9g},{:.9g},{:.9g}\n", r.iteration, r.parameter, r.update_norm,
                        r.weight_norm, r.ratio);
  write_file("update_ratios.csv", text);

  nlohmann::json summary;
  summary["config"] = {{"epochs", config_.epochs},
                       {"batch_size", config_.batch_size},
                       {"loss", config_.loss},
                       {"reg", config_.reg},
                       {"lr_decay", config_.lr_decay},
                       {"lr", base_lr_},
                       {"seed", config_.seed},
                       {"train_eval_size", config_.train_eval_size},
                       {"ratio_every", config_.ratio_every},
                       {"explosion_factor", config_.explosion_factor},
                       {"keep_best", config_.keep_best}};
  summary["stop_reason"] = stop_reason_name(history.stop_reason);
  summary["diagnosis"] = history.diagnosis;
  summary["iterations"] = history.iterations();
  summary["epochs_completed"] = history.epochs.size();
  // No iteration, no loss: null rather than a plausible 0.
  summary["first_loss"] =
      history.loss.empty() ? nlohmann::json() : nlohmann::json(history.loss.front());
  summary["last_loss"] =
      history.loss.empty() ? nlohmann::json() : nlohmann::json(history.loss.back());
  summary["best_epoch"] = history.best_epoch;
  summary["best_val_accuracy"] = history.best_val_accuracy;
  summary["restored_best"] = history.restored_best;
  if (!history.epochs.empty()) {
    summary["final_train_accuracy"] = history.epochs.back().train_accuracy;
    summary["final_val_accuracy"] = history.epochs.back().val_accuracy;
  }
  summary["training_seconds"] = history.training_seconds;
  summary["total_seconds"] = history.total_seconds;
  summary["parameters"] = model_.parameter_count();
  summary.update(extra);
  // Infinite or NaN numbers are not JSON; nlohmann writes them as null.
  write_file("summary.json", summary.dump(2) + "\n");
  if (!failures.empty()) {
    std::string message = "Trainer: " + failures.front();
    for (std::size_t i = 1; i < failures.size(); ++i) message += "; " + failures[i];
    throw Error(message);
  }
}

}  // namespace gradlab::train
