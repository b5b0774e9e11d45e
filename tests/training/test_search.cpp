// Hyperparameter search on synthetic objectives (no training: each trial is a formula), plus
// one search through the Trainer on a tiny dataset.
#include <catch2/catch.hpp>

#include <cmath>

#include "backends/backend.hpp"
#include "modules/nn/layers.hpp"
#include "modules/train/search.hpp"
#include "synthetic.hpp"

using namespace gradlab;

namespace {

// A bowl in log space with its peak (score 1) at lr = 1e-3, reg = 1e-2.
train::TrialOutcome bowl(const train::HyperParameters& values) {
  const double a = std::log10(values.at("lr")) + 3.0;
  const double b = std::log10(values.at("reg")) + 2.0;
  return {1.0 - 0.05 * (a * a + b * b), false, ""};
}

const std::vector<train::ParameterRange> lr_and_reg{{"lr", 1e-6, 1e-1}, {"reg", 1e-5, 1e1}};

}  // namespace

TEST_CASE("random_search ranks the trials best first and finds the peak of a log-space bowl",
          "[search]") {
  train::SearchResult result =
      train::random_search(lr_and_reg, bowl, {.stages = 2, .trials_per_stage = 30, .seed = 3});
  REQUIRE(result.trials.size() == 60);
  const std::vector<train::TrialResult> ranked = result.ranked();
  for (std::size_t i = 1; i < ranked.size(); ++i)
    CHECK(ranked[i - 1].outcome.score >= ranked[i].outcome.score);
  CHECK(ranked.front().id == result.best().id);
  // Within a factor of ~3 of the optimum in both parameters after the fine stage.
  CHECK(std::abs(std::log10(result.best().values.at("lr")) + 3.0) < 0.5);
  CHECK(std::abs(std::log10(result.best().values.at("reg")) + 2.0) < 0.5);
  CHECK(result.warnings.empty());  // the peak is well inside both ranges
  // Log-uniform sampling: the coarse stage's lr values spread over the decades, not bunched at the
  // top.
  int below_1e_4 = 0;
  for (const train::TrialResult& trial : result.trials)
    if (trial.stage == 1 && trial.values.at("lr") < 1e-4) ++below_1e_4;
  CHECK(below_1e_4 >= 6);  // 2 of 5 decades: ~12 of 30 expected, a uniform draw would give ~0
}

TEST_CASE(
    "coarse to fine: stage 2 is centred on the stage-1 best and a quarter as wide (in decades)",
    "[search]") {
  train::SearchResult result =
      train::random_search(lr_and_reg, bowl, {.stages = 2, .trials_per_stage = 20, .seed = 1});
  REQUIRE(result.stage_ranges.size() == 2);
  train::TrialResult stage_one_best = result.trials.front();
  for (const train::TrialResult& trial : result.trials)
    if (trial.stage == 1 && trial.outcome.score > stage_one_best.outcome.score)
      stage_one_best = trial;
  const train::ParameterRange& lr = result.stage_ranges[1][0];
  REQUIRE(lr.name == "lr");
  CHECK(std::log10(lr.high) - std::log10(lr.low) == Approx(0.25 * 5.0));
  CHECK(std::sqrt(lr.low * lr.high) == Approx(stage_one_best.values.at("lr")).epsilon(1e-9));
  for (const train::TrialResult& trial : result.trials)
    if (trial.stage == 2)
      CHECK((trial.values.at("lr") >= lr.low && trial.values.at("lr") <= lr.high));
}

TEST_CASE("search warns when the best value sits at the edge of its range", "[search]") {
  // The score grows with lr all the way to the top of the range: the optimum lies beyond it.
  auto increasing = [](const train::HyperParameters& values) {
    return train::TrialOutcome{std::log10(values.at("lr")), false, ""};
  };
  train::SearchResult result = train::random_search(
      {{"lr", 1e-6, 1e-3}}, increasing, {.stages = 1, .trials_per_stage = 40, .seed = 5});
  REQUIRE(result.warnings.size() == 1);
  CHECK_THAT(result.warnings[0], Catch::Contains("best lr") && Catch::Contains("upper edge") &&
                                     Catch::Contains("[1e-06, 0.001] log"));
  // Grid search includes the ends, so there the best is exactly at the edge.
  train::SearchResult grid =
      train::grid_search({{"lr", 1e-6, 1e-3}}, increasing, {.stages = 1, .grid_points = 4});
  REQUIRE(grid.trials.size() == 4);
  CHECK(grid.best().values.at("lr") == Approx(1e-3));
  CHECK(grid.warnings.size() == 1);
}

TEST_CASE("grid_search tries every combination, evenly spaced in decades, ends included",
          "[search]") {
  train::SearchResult result =
      train::grid_search(lr_and_reg, bowl, {.stages = 1, .grid_points = 3});
  REQUIRE(result.trials.size() == 9);
  std::vector<double> lrs;
  for (const train::TrialResult& trial : result.trials)
    if (trial.values.at("reg") == Approx(1e-5)) lrs.push_back(trial.values.at("lr"));
  REQUIRE(lrs.size() == 3);
  CHECK(lrs[0] == Approx(1e-6));
  CHECK(lrs[1] == Approx(std::pow(10.0, -3.5)));
  CHECK(lrs[2] == Approx(1e-1));
}

TEST_CASE("diverged trials rank last and the table says so", "[search]") {
  auto explodes_above_1e_2 = [](const train::HyperParameters& values) {
    if (values.at("lr") > 1e-2) return train::TrialOutcome{0.0, true, "loss exploded"};
    return train::TrialOutcome{0.5 + 0.01 * std::log10(values.at("lr")), false, ""};
  };
  train::SearchResult result =
      train::grid_search({{"lr", 1e-4, 1.0}}, explodes_above_1e_2, {.stages = 1, .grid_points = 5});
  const std::vector<train::TrialResult> ranked = result.ranked();
  REQUIRE(ranked.size() == 5);
  CHECK(ranked[0].values.at("lr") == Approx(1e-2));  // the best converged one
  CHECK(ranked[3].outcome.diverged);
  CHECK(ranked[4].outcome.diverged);
  const std::string table = result.table();
  CHECK_THAT(table, Catch::StartsWith("rank") && Catch::Contains("diverged: loss exploded"));
  CHECK(result.table(2).find("(3 more trials not shown)") != std::string::npos);
}

TEST_CASE("search rejects a log range that is not positive", "[search]") {
  CHECK_THROWS_WITH(train::random_search({{"lr", 0.0, 1.0}}, bowl),
                    Catch::Contains("'lr'") && Catch::Contains("positive"));
  CHECK_THROWS_WITH(train::grid_search({{"lr", 1.0, 0.1}}, bowl), Catch::Contains("low < high"));
}

TEST_CASE("trainer_trial trains short runs: a sane lr scores well, lr 1e6 diverges", "[search]") {
  BackendGuard backend("reference");
  data::Dataset train_set = testing::blobs(200, 10, 4, 0.5, 12);
  data::Dataset validation = testing::blobs(80, 10, 4, 0.5, 12);
  train::TrialFunction trial =
      train::trainer_trial({.make_model =
                                [](const train::HyperParameters&) {
                                  return std::make_shared<nn::Sequential>(nn::MLP({10, 16, 4}));
                                },
                            .train = &train_set,
                            .validation = &validation,
                            .config = {.epochs = 3,
                                       .batch_size = 20,
                                       .ratio_every = 0,
                                       .progress = train::ProgressStyle::none}});
  const train::TrialOutcome good = trial({{"lr", 0.05}, {"reg", 1e-4}});
  CHECK_FALSE(good.diverged);
  CHECK(good.score > 0.9);
  const train::TrialOutcome bad = trial({{"lr", 1e6}});
  CHECK(bad.diverged);
  CHECK_THAT(bad.note, Catch::Contains("learning rate too high?"));
}
