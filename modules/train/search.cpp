// Random and grid search, coarse → fine, the ranked table and the edge warnings.
#include "modules/train/search.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ostream>
#include <utility>

#include "backends/random.hpp"

namespace gradlab::train {

namespace {

// The range's coordinates: log₁₀ v for log ranges, v for linear ones.
double to_axis(const ParameterRange& range, double value) {
  return range.scale == RangeScale::log ? std::log10(value) : value;
}
double from_axis(const ParameterRange& range, double axis) {
  return range.scale == RangeScale::log ? std::pow(10.0, axis) : axis;
}

void check_ranges(const std::vector<ParameterRange>& ranges, const char* op) {
  if (ranges.empty()) throw Error(fmt::format("{}: no parameter ranges given", op));
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const ParameterRange& r = ranges[i];
    if (r.name.empty()) throw Error(fmt::format("{}: range {} has no name", op, i));
    for (std::size_t j = 0; j < i; ++j)
      if (ranges[j].name == r.name)
        throw Error(fmt::format("{}: parameter '{}' appears twice", op, r.name));
    if (!std::isfinite(r.low) || !std::isfinite(r.high) || !(r.low < r.high))
      throw Error(fmt::format("{}: range of '{}' must be finite with low < high, got [{:g}, {:g}]",
                              op, r.name, r.low, r.high));
    if (r.scale == RangeScale::log && r.low <= 0.0)
      throw Error(fmt::format("{}: the log range of '{}' must be positive, got [{:g}, {:g}]", op,
                              r.name, r.low, r.high));
    if (r.low < r.min || r.high > r.max)
      throw Error(fmt::format("{}: range of '{}' [{:g}, {:g}] crosses its limits [{:g}, {:g}]", op,
                              r.name, r.low, r.high, r.min, r.max));
  }
}

void check_options(const SearchOptions& options, const char* op) {
  if (options.stages < 1)
    throw Error(fmt::format("{}: stages must be ≥ 1, got {}", op, options.stages));
  if (options.trials_per_stage < 1)
    throw Error(
        fmt::format("{}: trials_per_stage must be ≥ 1, got {}", op, options.trials_per_stage));
  if (options.grid_points < 1)
    throw Error(fmt::format("{}: grid_points must be ≥ 1, got {}", op, options.grid_points));
  if (!(options.narrowing > 0.0 && options.narrowing <= 1.0))
    throw Error(fmt::format("{}: narrowing must be in (0, 1], got {}", op, options.narrowing));
  if (!(options.edge_fraction >= 0.0 && options.edge_fraction < 0.5))
    throw Error(
        fmt::format("{}: edge_fraction must be in [0, 0.5), got {}", op, options.edge_fraction));
}

std::string format_values(const HyperParameters& values) {
  std::string text;
  for (const auto& [name, value] : values)
    text += fmt::format("{}{}={:.3g}", text.empty() ? "" : " ", name, value);
  return text;
}

// Runs one trial, turning an exception into a diverged outcome (a trial that throws — a NaN
// reaching a kernel that refuses it, say — is a failed trial, not a failed search).
TrialResult run_trial(const TrialFunction& trial, const HyperParameters& values, std::int64_t id,
                      std::int64_t stage) {
  TrialResult result;
  result.id = id;
  result.stage = stage;
  result.values = values;
  const auto start = std::chrono::steady_clock::now();
  try {
    result.outcome = trial(values);
  } catch (const std::exception& error) {
    result.outcome = TrialOutcome{0.0, true, std::string("error: ") + error.what()};
  }
  if (!std::isfinite(result.outcome.score)) {
    result.outcome.diverged = true;
    result.outcome.score = 0.0;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

bool better(const TrialResult& a, const TrialResult& b) {
  if (a.outcome.diverged != b.outcome.diverged) return !a.outcome.diverged;
  return a.outcome.score > b.outcome.score;
}

// The shared driver: `propose(stage, ranges)` gives the value sets of one stage.
template <class Propose>
SearchResult staged_search(const std::vector<ParameterRange>& ranges, const TrialFunction& trial,
                           const SearchOptions& options, Propose propose) {
  SearchResult result;
  std::vector<ParameterRange> current = ranges;
  std::int64_t id = 0;
  for (std::int64_t stage = 1; stage <= options.stages; ++stage) {
    if (stage > 1) {
      const HyperParameters& best = result.best().values;
      std::vector<ParameterRange> next;
      for (const ParameterRange& range : current)
        next.push_back(narrowed(range, best.at(range.name), options.narrowing));
      current = std::move(next);
    }
    result.stage_ranges.push_back(current);
    const std::vector<HyperParameters> points = propose(stage, current);
    for (const HyperParameters& values : points) {
      TrialResult done = run_trial(trial, values, ++id, stage);
      if (options.log != nullptr) {
        *options.log << fmt::format(
            "trial {:>3} (stage {}): {}  →  {}", done.id, stage, format_values(done.values),
            done.outcome.diverged ? "diverged" : fmt::format("score {:.4f}", done.outcome.score));
        if (!done.outcome.note.empty()) *options.log << "  (" << done.outcome.note << ")";
        *options.log << fmt::format("  [{:.1f}s]\n", done.seconds) << std::flush;
      }
      result.trials.push_back(std::move(done));
    }
  }
  const TrialResult& best = result.best();
  if (best.outcome.diverged) {
    result.warnings.push_back(
        "warning: every trial diverged: the learning-rate range is probably too high; lower it");
  } else {
    result.warnings = edge_warnings(result.stage_ranges[static_cast<std::size_t>(best.stage - 1)],
                                    best.values, options.edge_fraction);
  }
  return result;
}

}  // namespace

double ParameterRange::position(double value) const {
  return (to_axis(*this, value) - to_axis(*this, low)) /
         (to_axis(*this, high) - to_axis(*this, low));
}

double ParameterRange::at(double t) const {
  return from_axis(*this, to_axis(*this, low) + t * (to_axis(*this, high) - to_axis(*this, low)));
}

std::string ParameterRange::to_string() const {
  return fmt::format("[{:g}, {:g}] {}", low, high, scale == RangeScale::log ? "log" : "linear");
}

ParameterRange narrowed(const ParameterRange& range, double best_value, double narrowing) {
  const double width = (to_axis(range, range.high) - to_axis(range, range.low)) * narrowing;
  const double centre = to_axis(range, best_value);
  ParameterRange next = range;
  next.low = std::max(from_axis(range, centre - width / 2.0), range.min);
  next.high = std::min(from_axis(range, centre + width / 2.0), range.max);
  if (range.scale == RangeScale::log && next.low <= 0.0)
    next.low = std::min(best_value, next.high) / 10.0;
  if (!(next.low < next.high)) {  // the limits squeezed the interval shut: keep a sliver
    next.low = std::max(range.min, best_value - std::abs(best_value) * 1e-6 - 1e-12);
    next.high = std::min(range.max, best_value + std::abs(best_value) * 1e-6 + 1e-12);
  }
  return next;
}

std::vector<std::string> edge_warnings(const std::vector<ParameterRange>& ranges,
                                       const HyperParameters& best, double edge_fraction) {
  std::vector<std::string> warnings;
  for (const ParameterRange& range : ranges) {
    auto found = best.find(range.name);
    if (found == best.end()) continue;
    const double t = range.position(found->second);
    const char* side = t <= edge_fraction ? "lower" : t >= 1.0 - edge_fraction ? "upper" : nullptr;
    if (side == nullptr) continue;
    warnings.push_back(
        fmt::format("warning: the best {} = {:.3g} is at the {} edge of its range {} (within {:g}% "
                    "of the end): "
                    "the optimum may lie beyond it; widen the range",
                    range.name, found->second, side, range.to_string(), 100.0 * edge_fraction));
  }
  return warnings;
}

std::vector<TrialResult> SearchResult::ranked() const {
  std::vector<TrialResult> sorted = trials;
  std::stable_sort(sorted.begin(), sorted.end(), better);
  return sorted;
}

const TrialResult& SearchResult::best() const {
  if (trials.empty()) throw Error("SearchResult::best: the search ran no trials");
  const TrialResult* best = &trials.front();
  for (const TrialResult& trial : trials)
    if (better(trial, *best)) best = &trial;
  return *best;
}

std::string SearchResult::table(std::size_t max_rows) const {
  if (trials.empty()) return "(no trials)\n";
  std::vector<std::string> names;
  for (const auto& [name, value] : trials.front().values) names.push_back(name);
  std::string text = fmt::format("{:>4}  {:>5}", "rank", "stage");
  for (const std::string& name : names) text += fmt::format("  {:>10}", name);
  text += fmt::format("  {:>9}  {:>7}  {}\n", "score", "seconds", "status");
  const std::vector<TrialResult> sorted = ranked();
  const std::size_t rows = max_rows == 0 ? sorted.size() : std::min(max_rows, sorted.size());
  for (std::size_t i = 0; i < rows; ++i) {
    const TrialResult& trial = sorted[i];
    text += fmt::format("{:>4}  {:>5}", i + 1, trial.stage);
    for (const std::string& name : names) {
      auto found = trial.values.find(name);
      text += found == trial.values.end() ? fmt::format("  {:>10}", "-")
                                          : fmt::format("  {:>10.3g}", found->second);
    }
    text += trial.outcome.diverged ? fmt::format("  {:>9}", "-")
                                   : fmt::format("  {:>9.4f}", trial.outcome.score);
    text +=
        fmt::format("  {:>7.1f}  {}", trial.seconds, trial.outcome.diverged ? "diverged" : "ok");
    if (!trial.outcome.note.empty()) text += ": " + trial.outcome.note;
    text += '\n';
  }
  if (rows < sorted.size())
    text += fmt::format("({} more trials not shown)\n", sorted.size() - rows);
  return text;
}

SearchResult random_search(const std::vector<ParameterRange>& ranges, const TrialFunction& trial,
                           const SearchOptions& options) {
  check_ranges(ranges, "random_search");
  check_options(options, "random_search");
  std::uint64_t counter = 0;
  return staged_search(
      ranges, trial, options, [&](std::int64_t, const std::vector<ParameterRange>& current) {
        std::vector<HyperParameters> points;
        for (std::int64_t i = 0; i < options.trials_per_stage; ++i) {
          HyperParameters values;
          for (const ParameterRange& range : current)
            values[range.name] = range.at(random::uniform01(options.seed, counter++));
          points.push_back(std::move(values));
        }
        return points;
      });
}

SearchResult grid_search(const std::vector<ParameterRange>& ranges, const TrialFunction& trial,
                         const SearchOptions& options) {
  check_ranges(ranges, "grid_search");
  check_options(options, "grid_search");
  return staged_search(
      ranges, trial, options, [&](std::int64_t, const std::vector<ParameterRange>& current) {
        const std::int64_t k = options.grid_points;
        auto level = [k](std::int64_t i) {
          return k == 1 ? 0.5 : static_cast<double>(i) / static_cast<double>(k - 1);
        };
        std::vector<HyperParameters> points{HyperParameters{}};
        for (const ParameterRange& range : current) {  // Cartesian product, one axis at a time
          std::vector<HyperParameters> extended;
          for (const HyperParameters& partial : points)
            for (std::int64_t i = 0; i < k; ++i) {
              HyperParameters values = partial;
              values[range.name] = range.at(level(i));
              extended.push_back(std::move(values));
            }
          points = std::move(extended);
        }
        return points;
      });
}

TrialFunction trainer_trial(TrainerTrialSetup setup) {
  if (!setup.make_model) throw Error("trainer_trial: make_model is not set");
  if (setup.train == nullptr) throw Error("trainer_trial: no training data");
  return [setup = std::move(setup)](const HyperParameters& values) {
    auto lr = values.find("lr");
    if (lr == values.end()) throw Error("trainer_trial: the hyperparameters have no 'lr'");
    manual_seed(setup.model_seed);
    std::shared_ptr<nn::Module> model = setup.make_model(values);
    std::unique_ptr<optim::Optimizer> optimizer =
        setup.make_optimizer
            ? setup.make_optimizer(model->parameters(), values)
            : std::make_unique<optim::SGD>(model->parameters(),
                                           optim::SGDOptions{.lr = lr->second, .momentum = 0.9});
    TrainerConfig config = setup.config;
    if (auto reg = values.find("reg"); reg != values.end()) config.reg = reg->second;
    if (auto decay = values.find("lr_decay"); decay != values.end())
      config.lr_decay = decay->second;
    config.out_dir.clear();
    Trainer trainer(*model, *optimizer, config);
    const data::Dataset empty;
    History history =
        trainer.fit(*setup.train, setup.validation != nullptr ? *setup.validation : empty);
    TrialOutcome outcome;
    if (history.diverged()) {
      outcome.diverged = true;
      outcome.note = history.diagnosis;
      return outcome;
    }
    if (setup.validation != nullptr) {
      outcome.score = history.best_val_accuracy;
    } else if (!history.epochs.empty()) {
      outcome.score = history.epochs.back().train_accuracy;
    }
    if (!history.epochs.empty())
      outcome.note =
          fmt::format("train {:.1f}%, loss {:.3f}", 100.0 * history.epochs.back().train_accuracy,
                      history.epochs.back().mean_loss);
    return outcome;
  };
}

}  // namespace gradlab::train
