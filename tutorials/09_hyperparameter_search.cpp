// Chapter 09: hyperparameter search.
//
// The learning rate and the regularisation strength cannot be computed; they are searched. The
// recipe: many short trials (one epoch on a subset), stopped at once when the loss explodes,
// values drawn on a log scale, a first coarse stage over wide ranges and then finer stages around
// the best so far — and suspicion when the best value sits at the edge of its range. Random
// sampling beats a grid when only some parameters matter (Bergstra & Bengio 2012).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "modules/data/data.hpp"
#include "modules/nn/nn.hpp"
#include "modules/train/plots.hpp"
#include "modules/data/preprocess.hpp"
#include "modules/train/search.hpp"
#include "modules/train/trainer.hpp"
#include "modules/app/cli_flags.hpp"
#include "tutorial.hpp"

using namespace gradlab;
using gradlab::tutorial::Chapter;
using gradlab::tutorial::number;

namespace {

/// Number of distinct values of `name` among the trials.
std::size_t distinct(const train::SearchResult& result, const std::string& name) {
  std::set<double> values;
  for (const auto& t : result.trials) values.insert(t.values.at(name));
  return values.size();
}

}  // namespace

/// The chapter's own flags.
struct Settings {
  std::int64_t trials = 0;       // --trials (0: the default)
  std::int64_t fine_epochs = 3;  // --fine-epochs
};

int main(int argc, char** argv) {
  Settings settings;
  return tutorial::run_chapter(
      argc, argv,
      {9,
       "hyperparameter_search",
       "Hyperparameter search",
       {{"--trials 24",
         "twice the coarse trials: more of the (lr, reg) plane is covered, so the fine stage "
         "starts from a better or equal centre. Compare the best accuracy and the scatter plot "
         "with the default run's."},
        {"--fine-epochs 1",
         "the fine stage trains no longer than the coarse one: the line after the search says "
         "from which stage the best trial came and how long it trained; with one epoch the fine "
         "stage has less chance to beat the coarse best."}}},
      [&settings](Chapter& chapter) {
        const bool quick = chapter.quick();
        const std::uint64_t seed = chapter.options().seed;
        const std::int64_t train_size = quick ? 1500 : 8000, val_size = quick ? 500 : 2000;
        data::TrainValidation parts = chapter.centred_fashion_mnist(train_size, val_size);

        // A trial trains for `epochs` epochs: one in the coarse stage, more in the fine one.
        const auto trial_of = [&](std::int64_t epochs) {
          return train::trainer_trial({
              .make_model =
                  [](const train::HyperParameters&) {
                    return std::make_shared<nn::Sequential>(
                        nn::MLP({784, 50, 10}, {.activation = "relu", .init = "he"}));
                  },
              .train = &parts.train,
              .validation = &parts.validation,
              .config = {.epochs = epochs,
                         .batch_size = 100,
                         .seed = seed,
                         .train_eval_size = 500,
                         .ratio_every = 0,
                         .progress = train::ProgressStyle::none},
              .model_seed = seed,
          });
        };
        const std::int64_t fine_epochs = settings.fine_epochs;
        const std::int64_t coarse_trials = settings.trials > 0 ? settings.trials : (quick ? 6 : 12);
        train::TrialFunction long_trial = trial_of(fine_epochs);
        train::TrialFunction trial = trial_of(1);

        chapter.step("One trial, and the 3× early stop");
        chapter.say(fmt::format(
            "A trial trains a fresh 784 → 50 → 10 net (SGD, momentum 0.9) for one epoch on {} "
            "images and "
            "scores it by its validation accuracy on {} others. If the loss exceeds 3 × its first "
            "value "
            "the trial stops at once and counts as diverged: no time is wasted on hopeless values.",
            parts.train.size(), parts.validation.size()));
        train::TrialOutcome fine = trial({{"lr", 1e-2}, {"reg", 1e-4}});
        train::TrialOutcome boom = trial({{"lr", 10.0}, {"reg", 1e-4}});
        chapter.table({"lr", "reg", "val acc", "status"},
                      {{"0.01", "1e-4", number(fine.score, 3), fine.diverged ? "diverged" : "ok"},
                       {"10", "1e-4", boom.diverged ? "—" : number(boom.score, 3),
                        boom.diverged ? boom.note : "ok"}});
        chapter.claim("a trial with lr = 10 is stopped early by the explosion guard", boom.diverged,
                      boom.note);

        chapter.step("Why sample on a log scale");
        chapter.say(
            "The lecture samples the learning rate as lr = 10 ** uniform(−6, 1): draw the "
            "exponent uniformly, not the value. Here is that line in C++, next to drawing the "
            "value itself uniformly from the same range, 1,000 times each:");
        std::mt19937_64 generator(seed);
        std::uniform_real_distribution<double> exponent(-6.0, 1.0);  // the lecture's uniform(-6, 1)
        std::uniform_real_distribution<double> value(1e-6, 10.0);
        std::vector<int> log_counts(7, 0), linear_counts(7, 0);  // decades 1e-6 … 1e0
        const int draws = 1000;
        for (int i = 0; i < draws; ++i) {
          const double lr = std::pow(10.0, exponent(generator));  // lr = 10 ** uniform(-6, 1)
          const double plain = value(generator);
          ++log_counts[std::clamp(int(std::floor(std::log10(lr))) + 6, 0, 6)];
          ++linear_counts[std::clamp(int(std::floor(std::log10(plain))) + 6, 0, 6)];
        }
        std::vector<std::vector<std::string>> decade_rows;
        for (int d = 0; d < 7; ++d) {
          decade_rows.push_back({fmt::format("[1e{}, 1e{})", d - 6, d - 5),
                                 std::to_string(log_counts[d]), std::to_string(linear_counts[d])});
        }
        chapter.table({"decade", "10 ** uniform(−6, 1)", "uniform(1e-6, 10)"}, decade_rows);
        const int log_fewest = *std::min_element(log_counts.begin(), log_counts.end());
        const int log_most = *std::max_element(log_counts.begin(), log_counts.end());
        chapter.claim("the log-scale draws spread over every decade (each holds 10–19 %)",
                      log_fewest >= draws / 10 && log_most <= draws * 19 / 100,
                      fmt::format("{} to {} per decade", log_fewest, log_most));
        chapter.claim("drawing the value itself puts over 85 % of the draws in the top decade",
                      linear_counts[6] > draws * 85 / 100,
                      fmt::format("{} of {} in [1, 10)", linear_counts[6], draws));

        chapter.step("Coarse → fine random search in log space");
        chapter.say(fmt::format(
            "Stage 1 (coarse) draws lr = 10^U(−5, 0) and reg = 10^U(−5, 1) with one-epoch "
            "trials: each order of magnitude is equally likely, which is what matters for these "
            "two. Stage 2 (fine) searches a range a quarter as wide (in log units) around the best "
            "coarse trial, and its trials train {} epoch(s){}. Stage 1 runs {} trials.",
            fine_epochs,
            fine_epochs > 1 ? ": fewer candidates are left, so each can afford a longer, more "
                              "telling run"
                            : ", no longer than the coarse ones",
            coarse_trials));
        const std::vector<train::ParameterRange> ranges{{"lr", 1e-5, 1.0}, {"reg", 1e-5, 10.0}};
        train::SearchResult search = train::random_search(
            ranges, trial, {.stages = 1, .trials_per_stage = coarse_trials, .seed = seed});
        const train::TrialResult coarse_best = search.best();
        std::vector<train::ParameterRange> fine_ranges;
        for (const train::ParameterRange& range : ranges) {
          const double centre = range.position(coarse_best.values.at(range.name));
          train::ParameterRange fine = range;
          fine.low = range.at(std::max(0.0, centre - 0.125));
          fine.high = range.at(std::min(1.0, centre + 0.125));
          fine_ranges.push_back(fine);
        }
        train::SearchResult fine_search = train::random_search(
            fine_ranges, long_trial,
            {.stages = 1, .trials_per_stage = quick ? 4 : 8, .seed = seed + 3});
        for (auto t : fine_search.trials) {
          t.stage = 2;
          t.id += static_cast<std::int64_t>(search.trials.size());
          search.trials.push_back(t);
        }
        search.stage_ranges.push_back(fine_ranges);
        for (std::size_t s = 0; s < search.stage_ranges.size(); ++s)
          chapter.say(fmt::format("stage {}: lr {}, reg {}", s + 1,
                                  search.stage_ranges[s][0].to_string(),
                                  search.stage_ranges[s][1].to_string()));
        std::cout << search.table(quick ? 8 : 12);
        std::size_t diverged = 0;
        for (const auto& t : search.trials) diverged += t.outcome.diverged ? 1 : 0;
        const auto& best = search.best();
        chapter.say(fmt::format(
            "{} trials, {} diverged; best: lr = {}, reg = {}, val acc {:.3f} (stage {}, trained "
            "{} epoch(s)).",
            search.trials.size(), diverged, number(best.values.at("lr")),
            number(best.values.at("reg")), best.outcome.score, best.stage,
            best.stage == 1 ? 1 : fine_epochs));
        const auto scatter =
            plots::hyperparameter_scatter(search, "lr", "reg", chapter.path("search_scatter.png"));
        chapter.picture(scatter.drawn ? "search_scatter.png" : "search_scatter.csv",
                        "validation accuracy over lr and reg (diverged trials as crosses)");
        chapter.claim("the search finds a setting well above chance (val acc > 0.6)",
                      best.outcome.score > 0.6, number(best.outcome.score, 3));

        chapter.step("A best value at the edge of the range");
        chapter.say(
            "Now a coarse range that is too low: lr = 10^U(−6, −3). The best lr lands near the "
            "top, and "
            "the search says so — the optimum probably lies beyond the range.");
        train::SearchResult edge = train::random_search(
            {{"lr", 1e-6, 1e-3}, {"reg", 1e-5, 1e-3}}, trial,
            {.stages = 1, .trials_per_stage = quick ? 5 : 8, .seed = seed + 1});
        for (const std::string& w : edge.warnings) chapter.say(w);
        bool lr_warning = false;
        for (const std::string& w : edge.warnings)
          lr_warning = lr_warning || w.find("lr") != std::string::npos;
        chapter.claim("the search warns that the best lr sits at the edge of its range", lr_warning,
                      fmt::format("best lr {}", number(edge.best().values.at("lr"))));

        chapter.step("Random vs grid search with the same budget");
        chapter.say(
            "Nine trials each over lr ∈ [1e-4, 1] and reg ∈ [1e-6, 1e-3] (here reg hardly "
            "matters): a 3 × 3 "
            "grid tries only 3 different learning rates, random search tries 9.");
        const std::vector<train::ParameterRange> two{{"lr", 1e-4, 1.0}, {"reg", 1e-6, 1e-3}};
        train::SearchResult grid = train::grid_search(two, trial, {.stages = 1, .grid_points = 3});
        train::SearchResult random = train::random_search(
            two, trial, {.stages = 1, .trials_per_stage = 9, .seed = seed + 2});
        chapter.table(
            {"search", "trials", "distinct lr values", "distinct reg values", "best val acc"},
            {{"grid 3 × 3", std::to_string(grid.trials.size()),
              std::to_string(distinct(grid, "lr")), std::to_string(distinct(grid, "reg")),
              number(grid.best().outcome.score, 3)},
             {"random", std::to_string(random.trials.size()),
              std::to_string(distinct(random, "lr")), std::to_string(distinct(random, "reg")),
              number(random.best().outcome.score, 3)}});
        chapter.claim("with the same budget random search tries more distinct learning rates",
                      distinct(random, "lr") > distinct(grid, "lr"),
                      fmt::format("{} vs {}", distinct(random, "lr"), distinct(grid, "lr")));
        chapter.notice(
            "which search finds the better accuracy in one run is partly luck; the point is the "
            "coverage "
            "of the parameter that matters.");

        chapter.summary(fmt::format(
            "lr 10 stopped by the 3× guard; best lr {} reg {} → val acc {:.3f}; edge warning "
            "shown; random tried {} lrs vs grid {} (best {:.3f} vs {:.3f})",
            number(best.values.at("lr")), number(best.values.at("reg")), best.outcome.score,
            distinct(random, "lr"), distinct(grid, "lr"), random.best().outcome.score,
            grid.best().outcome.score));
      },
      [&settings](CLI::App& app) {
        gradlab::cli::whole_number_in(
            app.add_option("--trials", settings.trials,
                           "Trials of the coarse stage (2 to 200; default 12, 6 with --quick)"),
            2, 200);
        gradlab::cli::whole_number_in(app.add_option("--fine-epochs", settings.fine_epochs,
                                                     "Epochs of each fine-stage trial (1 to 20)"),
                                      1, 20)
            ->capture_default_str();
      });
}
