#pragma once
/// \file modules/train/search.hpp
/// \brief Hyperparameter search: random and grid search over named ranges, coarse → fine.
///
/// The lecture's recipe: run many *short* trials (a few epochs, stopped at once when the loss
/// explodes), sample the learning rate and the regularisation strength on a log scale, look at
/// a table sorted by validation accuracy, then search again in narrower ranges around the best
/// values. And be suspicious of a best value at the edge of its range — the optimum may lie just
/// beyond it.
///
/// \code
///   std::vector<train::ParameterRange> ranges{{"lr", 1e-6, 1e-1}, {"reg", 1e-5, 1e1}};
///   train::TrialFunction trial = train::trainer_trial({
///       .make_model = [](const train::HyperParameters&) {
///         return std::make_shared<nn::Sequential>(nn::MLP({784, 50, 10}));
///       },
///       .train = &parts.train, .validation = &parts.validation,
///       .config = {.epochs = 2, .batch_size = 256}});
///   train::SearchResult result = train::random_search(ranges, trial,
///                                                     {.stages = 2, .trials_per_stage = 20});
///   std::cout << result.table(10);
///   for (const std::string& warning : result.warnings) std::cout << warning << "\n";
/// \endcode
///
/// Why random rather than grid (Bergstra & Bengio 2012): when only one of two parameters
/// matters, a 3×3 grid tries 3 values of it, nine random trials try 9.
///
/// Coarse → fine: stage s + 1 searches, for every parameter, an interval centred on the best
/// trial's value so far whose width is `narrowing` × the width of stage s (widths measured in
/// log₁₀ units for log ranges). It is *not* clipped to the previous range, so a fine stage can
/// follow an optimum past the edge of the coarse range; only the hard limits `min`/`max` of a
/// range (e.g. a dropout probability below 1) are respected.

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "modules/train/trainer.hpp"

namespace gradlab::train {

/// How values are spread over a range.
enum class RangeScale {
  log,  ///< Log-uniform: log₁₀ v is uniform (for lr, reg: what matters is the order of magnitude).
  linear,  ///< Uniform in v (for dropout probabilities, momentum).
};

/// A named hyperparameter range [low, high].
struct ParameterRange {
  std::string name{};                  ///< E.g. "lr"; the key in `HyperParameters`.
  double low = 0.0;                    ///< Lower end (> 0 for a log range).
  double high = 0.0;                   ///< Upper end (> low).
  RangeScale scale = RangeScale::log;  ///< Log-uniform by default.
  double min = -std::numeric_limits<double>::infinity();  ///< Hard limit fine stages never cross.
  double max = std::numeric_limits<double>::infinity();   ///< Hard limit fine stages never cross.

  /// Where `value` sits in the range, 0 at `low` and 1 at `high` (in log₁₀ units for log ranges).
  double position(double value) const;
  /// The value at position t ∈ [0, 1] (the inverse of `position`).
  double at(double t) const;
  /// "[1e-06, 0.001] log" or "[0, 0.5] linear".
  std::string to_string() const;
};

/// One set of hyperparameter values, by name.
using HyperParameters = std::map<std::string, double>;

/// What a trial reports.
struct TrialOutcome {
  double score = 0.0;     ///< Higher is better; usually the validation accuracy in [0, 1].
  bool diverged = false;  ///< The loss exploded or became NaN (the trial ranks last).
  std::string note{};     ///< E.g. the trainer's diagnosis.
};

/// A trial: trains with the given values and reports the outcome.
using TrialFunction = std::function<TrialOutcome(const HyperParameters&)>;

/// One finished trial.
struct TrialResult {
  std::int64_t id = 0;     ///< 1, 2, … in the order trials ran.
  std::int64_t stage = 0;  ///< 1 for the coarse stage, 2, 3, … for the finer ones.
  HyperParameters values;  ///< The values tried.
  TrialOutcome outcome;    ///< What the trial reported.
  double seconds = 0.0;    ///< Wall time of the trial.
};

/// Settings of a search.
struct SearchOptions {
  std::int64_t stages = 2;             ///< 1 = coarse only; each further stage narrows the ranges.
  std::int64_t trials_per_stage = 10;  ///< Random search: trials in each stage.
  std::int64_t grid_points = 4;        ///< Grid search: values per parameter (both ends included).
  double narrowing = 0.25;             ///< Width of stage s + 1 = narrowing × width of stage s.
  double edge_fraction = 0.1;          ///< "At the edge" = within this fraction of either end.
  std::uint64_t seed = 0;              ///< Seeds the random samples.
  std::ostream* log = nullptr;         ///< One line per finished trial (nullptr: silent).
};

/// Every trial of a search, with the ranges each stage used and the warnings.
struct SearchResult {
  std::vector<TrialResult> trials;                        ///< In the order they ran.
  std::vector<std::vector<ParameterRange>> stage_ranges;  ///< Ranges of stage 1, 2, …
  std::vector<std::string> warnings;                      ///< Edge bests, all trials diverged.

  /// The trials sorted best first: by score, diverged trials last (ties keep run order).
  std::vector<TrialResult> ranked() const;
  /// The best trial (a converged one when there is any). Raises when there are no trials.
  const TrialResult& best() const;
  /// A text table of the ranked trials (the first `max_rows`, 0 = all): rank, stage, each
  /// parameter, score, status.
  std::string table(std::size_t max_rows = 0) const;
};

/// Random search: per stage `trials_per_stage` trials with values drawn independently from each
/// range (log-uniform or uniform), then coarse → fine (see the header comment).
SearchResult random_search(const std::vector<ParameterRange>& ranges, const TrialFunction& trial,
                           const SearchOptions& options = {});

/// Grid search: per stage every combination of `grid_points` evenly spaced values per parameter
/// (evenly in log₁₀ for log ranges, both ends included), then coarse → fine.
SearchResult grid_search(const std::vector<ParameterRange>& ranges, const TrialFunction& trial,
                         const SearchOptions& options = {});

/// The range of the next stage for one parameter: centred on `best_value`, `narrowing` × as
/// wide as `range` (in log₁₀ units for log ranges), clipped to the hard limits.
ParameterRange narrowed(const ParameterRange& range, double best_value, double narrowing);

/// One warning per parameter whose value in `best` lies within `edge_fraction` of either end of
/// its range, e.g. "warning: the best lr = 0.00095 is at the upper edge of its range [1e-06,
/// 0.001] log: the optimum may lie beyond it; widen the range".
std::vector<std::string> edge_warnings(const std::vector<ParameterRange>& ranges,
                                       const HyperParameters& best, double edge_fraction);

// --- trials that run the Trainer ---------------------------------------------------------

/// What `trainer_trial` needs to build and train one model.
struct TrainerTrialSetup {
  /// A fresh model for the given values (called after `manual_seed(model_seed)`).
  std::function<std::shared_ptr<nn::Module>(const HyperParameters&)> make_model{};
  /// An optimiser over `parameters` for the given values (which hold "lr"); default: SGD with
  /// momentum 0.9.
  std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor> parameters,
                                                  const HyperParameters&)>
      make_optimizer{};
  const data::Dataset* train = nullptr;       ///< Training data (must outlive the trial).
  const data::Dataset* validation = nullptr;  ///< Validation data (must outlive the trial).
  /// Settings of each short run; "reg" and "lr_decay" from the values override `reg` and
  /// `lr_decay`. Progress is off unless set otherwise here.
  TrainerConfig config{.epochs = 2, .progress = ProgressStyle::none};
  std::uint64_t model_seed = 0;  ///< Seeds the initialisation of every trial's model.
};

/// A trial function that trains a fresh model with `Trainer` and scores it by its best
/// validation accuracy; the values must contain "lr" and may contain "reg" and "lr_decay"
/// (other names are passed to `make_model`/`make_optimizer` only). A loss explosion makes the
/// outcome `diverged` with the trainer's diagnosis as the note.
TrialFunction trainer_trial(TrainerTrialSetup setup);

}  // namespace gradlab::train
