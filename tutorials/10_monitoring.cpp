// Chapter 10: watching a training run.
//
// Three pictures tell most of what goes on in a run: the loss per iteration (its shape shows the
// learning rate and a bad initialisation), the training and validation accuracy per epoch (their
// gap shows over- or underfitting), and the ratio of each update to the weights it changes (it
// should sit near 1e-3). The Trainer records all three; this chapter provokes each symptom on
// purpose and draws it.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "modules/data/data.hpp"
#include "modules/nn/nn.hpp"
#include "modules/optim/optim.hpp"
#include "modules/train/plots.hpp"
#include "modules/data/preprocess.hpp"
#include "modules/train/trainer.hpp"
#include "modules/app/cli_flags.hpp"
#include "tutorial.hpp"

using namespace gradlab;
using gradlab::tutorial::Chapter;
using gradlab::tutorial::number;

namespace {

struct Run {
  train::History history;
  double val = 0;
};

/// Trains `net` with SGD (+ momentum) and returns its history.
Run train_net(nn::Sequential& net, const data::Dataset& train_set, const data::Dataset& val,
              double lr, double momentum, std::int64_t epochs, double reg, std::uint64_t seed,
              std::int64_t ratio_every = 0) {
  optim::SGD sgd(net.parameters(), {.lr = lr, .momentum = momentum});
  train::Trainer trainer(net, sgd,
                         {.epochs = epochs,
                          .batch_size = 100,
                          .reg = reg,
                          .seed = seed,
                          .ratio_every = ratio_every,
                          .keep_best = false,
                          .progress = train::ProgressStyle::none});
  Run run{trainer.fit(train_set, val), 0};
  run.val = trainer.evaluate(val);
  return run;
}

/// Mean of loss[begin, end).
double mean_between(const std::vector<double>& loss, std::size_t begin, std::size_t end) {
  end = std::min(end, loss.size());
  double s = 0;
  for (std::size_t i = begin; i < end; ++i) s += loss[i];
  return s / double(std::max<std::size_t>(1, end - begin));
}

/// Median ratio per parameter name.
std::map<std::string, double> median_ratios(const std::vector<train::UpdateRatio>& ratios) {
  std::map<std::string, std::vector<double>> by_name;
  for (const auto& r : ratios) by_name[r.parameter].push_back(r.ratio);
  std::map<std::string, double> out;
  for (auto& [name, values] : by_name) {
    std::sort(values.begin(), values.end());
    out[name] = values[values.size() / 2];
  }
  return out;
}

void draw(Chapter& chapter, const plots::PlotResult& result, const std::string& what) {
  if (result.drawn) {
    chapter.picture(result.png.filename().string(), what);
  } else {
    chapter.picture(result.csv.filename().string(), what + " (data only: " + result.note + ")");
  }
}

}  // namespace

int main(int argc, char** argv) {
  double extra_lr = 0;  // --lr (0: none)
  return tutorial::run_chapter(
      argc, argv,
      {10,
       "monitoring",
       "Monitoring the learning process",
       {{"--lr 0.1",
         "adds a fourth learning rate to the update/weight-ratio step, between 1e-2 and 1: its "
         "column shows where it puts the first layer's ratio, and the sentence after the table "
         "says how far that is from the 1e-3 rule of thumb."},
        {"--lr 1e-3",
         "a learning rate ten times smaller than 1e-2: the ratio should shrink by about the same "
         "factor, since one plain SGD step is lr times the gradient. Compare the two columns."}}},
      [&extra_lr](Chapter& chapter) {
        const bool quick = chapter.quick();
        const std::uint64_t seed = chapter.options().seed;
        const std::int64_t train_size = quick ? 2000 : 10000, val_size = quick ? 1000 : 2000;
        data::TrainValidation parts = chapter.centred_fashion_mnist(train_size, val_size);

        // --- 1. loss curves ----------------------------------------------------------------------
        chapter.step("The loss curve, and the plateau of a bad initialisation");
        chapter.say(
            fmt::format("Two nets of the same shape, 784 → 100 → 100 → 100 → 100 → 10 with ReLU, "
                        "trained the same way "
                        "on {} centred images (SGD, lr 0.02, momentum 0.9). One starts with He "
                        "initialisation; the "
                        "other with weights of std 0.01, which (chapter 06) shrinks the signal at "
                        "every layer so "
                        "that almost no gradient reaches the first layers at the start.",
                        parts.train.size()));
        const std::int64_t epochs = quick ? 2 : 4;
        manual_seed(seed);
        nn::Sequential good =
            nn::MLP({784, 100, 100, 100, 100, 10}, {.activation = "relu", .init = "he"});
        manual_seed(seed);
        nn::Sequential bad =
            nn::MLP({784, 100, 100, 100, 100, 10}, {.activation = "relu", .init = "normal"});
        Run good_run = train_net(good, parts.train, parts.validation, 0.02, 0.9, epochs, 0.0, seed);
        Run bad_run = train_net(bad, parts.train, parts.validation, 0.02, 0.9, epochs, 0.0, seed);
        const std::size_t n = good_run.history.loss.size();
        std::vector<std::vector<std::string>> rows;
        for (std::size_t at : {std::size_t(0), n / 8, n / 4, n / 2, n - 10})
          rows.push_back({fmt::format("iterations {}–{}", at + 1, at + 10),
                          number(mean_between(good_run.history.loss, at, at + 10)),
                          number(mean_between(bad_run.history.loss, at, at + 10))});
        rows.push_back({"validation accuracy", number(good_run.val, 3), number(bad_run.val, 3)});
        chapter.table({"", "He init", "std 0.01 init"}, rows);
        chapter.say("He init:       " + plots::sparkline(good_run.history.loss));
        chapter.say("std 0.01 init: " + plots::sparkline(bad_run.history.loss));
        // One y axis for both pictures, so the plateau looks flat next to the learning run.
        plots::PlotSettings shared_axis;
        shared_axis.y_range = plots::common_range({good_run.history.loss, bad_run.history.loss});
        draw(chapter,
             plots::loss_curve(good_run.history.loss, chapter.path("loss_good_init.png"),
                               shared_axis),
             "loss per iteration, He init");
        draw(
            chapter,
            plots::loss_curve(bad_run.history.loss, chapter.path("loss_bad_init.png"), shared_axis),
            "loss per iteration, std 0.01 init: the plateau");
        const double bad_early = mean_between(bad_run.history.loss, n - n / 4, n);
        const double good_early = mean_between(good_run.history.loss, n - n / 4, n);
        chapter.claim(
            "the badly initialised net still sits on its plateau near ln 10 while the good one has "
            "learned",
            std::abs(bad_early - std::log(10.0)) < 0.1 && good_early < bad_early - 0.5,
            fmt::format("last quarter of the run: {} (std 0.01) vs {} (He)", number(bad_early),
                        number(good_early)));
        chapter.notice(
            "a healthy curve drops fast, then flattens; a flat start at ln 10 followed (maybe) by "
            "a "
            "sudden drop is the signature of a bad initialisation, not of a bad learning rate.");

        // --- 2. the train/val gap ----------------------------------------------------------------
        chapter.step("Training vs validation accuracy: the gap");
        chapter.say(
            "Overfitting: a wide net (784 → 300 → 10) on only 500 images, no regularisation, many "
            "epochs. "
            "Underfitting: a net with just 2 hidden units on the full training subset.");
        const data::Dataset few = data::slice(parts.train, 0, 500);
        manual_seed(seed);
        nn::Sequential wide = nn::MLP({784, 300, 10}, {.activation = "relu", .init = "he"});
        Run over = train_net(wide, few, parts.validation, 0.02, 0.9, quick ? 20 : 40, 0.0, seed);
        manual_seed(seed);
        nn::Sequential wide_reg =
            nn::MLP({784, 300, 10}, {.activation = "relu", .dropout = 0.5, .init = "he"});
        Run over_reg =
            train_net(wide_reg, few, parts.validation, 0.02, 0.9, quick ? 20 : 40, 0.05, seed);
        manual_seed(seed);
        nn::Sequential tiny = nn::MLP({784, 2, 10}, {.activation = "relu", .init = "he"});
        Run under = train_net(tiny, parts.train, parts.validation, 0.02, 0.9, epochs, 0.0, seed);
        auto last = [](const Run& r) { return r.history.epochs.back(); };
        auto gap_row = [&](const std::string& name, const Run& r) {
          return std::vector<std::string>{name, number(last(r).train_accuracy, 3),
                                          number(last(r).val_accuracy, 3),
                                          number(last(r).train_accuracy - last(r).val_accuracy, 3)};
        };
        chapter.table({"setup", "train acc", "val acc", "gap"},
                      {gap_row("784-300-10, 500 images, λ = 0", over),
                       gap_row("same + dropout 0.5, λ = 0.05", over_reg),
                       gap_row(fmt::format("784-2-10, {} images", parts.train.size()), under)});
        draw(chapter,
             plots::accuracy_curves(over.history.epochs, chapter.path("accuracy_overfit.png")),
             "train vs val accuracy, overfitting (big gap)");
        draw(chapter,
             plots::accuracy_curves(under.history.epochs, chapter.path("accuracy_underfit.png")),
             "train vs val accuracy, a 2-unit net (no gap, low accuracy)");
        const double over_gap = last(over).train_accuracy - last(over).val_accuracy;
        const double under_gap = last(under).train_accuracy - last(under).val_accuracy;
        chapter.claim(
            "the wide net on 500 images shows a far bigger train/val gap than the 2-unit net",
            over_gap > 0.1 && over_gap > under_gap + 0.1,
            fmt::format("gap {:.3f} vs {:.3f}", over_gap, under_gap));
        chapter.notice(
            "a big gap says: more regularisation (or more data) — here dropout and λ shrink it. No "
            "gap at "
            "a low accuracy says: the model is too small; give it more capacity.");

        // --- 3. update/weight ratios -------------------------------------------------------------
        chapter.step("Update / weight ratio per layer");
        chapter.say(
            "First by hand, for one SGD step (lr 1e-2) on one batch of 100 images: copy the first "
            "layer's weights, step, and compare the change with the weights.");
        double by_hand = 0;
        {
          manual_seed(seed);
          nn::Sequential net = nn::MLP({784, 100, 10}, {.activation = "relu", .init = "he"});
          const data::Batch batch = data::BatchIterator(parts.train, 100, seed).batch(0);
          optim::SGD sgd(net.parameters(), {.lr = 1e-2});
          const Tensor W = net.parameters()[0];  // the first layer's weight matrix
          const std::vector<double> before = W.to_vector();
          sgd.zero_grad();
          nn::CrossEntropyLoss()(net(batch.images), batch.labels).backward();
          sgd.step();
          const std::vector<double> after = W.to_vector();
          double update = 0, weight = 0;  // ‖ΔW‖² and ‖W‖²
          for (std::size_t i = 0; i < before.size(); ++i) {
            update += (after[i] - before[i]) * (after[i] - before[i]);
            weight += before[i] * before[i];
          }
          by_hand = std::sqrt(update) / std::sqrt(weight);
        }
        chapter.say(
            fmt::format("‖ΔW‖ / ‖W‖ of the first layer after one step: {}.", number(by_hand)));
        chapter.say(
            "Every 10 iterations the Trainer measures ‖Δθ‖ / ‖θ‖ for each parameter: how much of a "
            "weight matrix one step changes. Around 1e-3 is the usual healthy value. We train the "
            "784 → 100 → 10 net with plain SGD at three learning rates and take each parameter's "
            "median.");
        std::vector<double> lrs = {1e-4, 1e-2, 1.0};
        if (extra_lr > 0 && std::find(lrs.begin(), lrs.end(), extra_lr) == lrs.end())
          lrs.push_back(extra_lr);  // the learner's --lr, in the last column
        std::vector<std::map<std::string, double>> medians;
        for (double lr : lrs) {
          manual_seed(seed);
          nn::Sequential net = nn::MLP({784, 100, 10}, {.activation = "relu", .init = "he"});
          Run r = train_net(net, parts.train, parts.validation, lr, 0.0, 1, 0.0, seed, 10);
          medians.push_back(median_ratios(r.history.update_ratios));
          const std::string file = fmt::format("update_ratios_lr_{}.png", number(lr, 0));
          draw(chapter, plots::update_ratio_curves(r.history.update_ratios, chapter.path(file)),
               fmt::format("update/weight ratio per parameter, lr {}", number(lr)));
        }
        std::vector<std::vector<std::string>> ratio_rows;
        for (const auto& [name, unused] : medians[0]) {
          std::vector<std::string> row{name};
          for (const auto& m : medians) row.push_back(number(m.at(name)));
          ratio_rows.push_back(row);
        }
        std::vector<std::string> header{"parameter"};
        // "lr 1e-4", "lr 0.01", "lr 1": as a learner would write them.
        const auto short_number = [](double x) {
          if (x >= 0.01) return fmt::format("{:g}", x);
          const double exponent = std::floor(std::log10(x));
          return fmt::format("{:g}e{}", x / std::pow(10.0, exponent), exponent);
        };
        for (double lr : lrs) header.push_back("lr " + short_number(lr));
        chapter.table(header, ratio_rows);
        const double w_low = medians[0].at("0.weight"), w_mid = medians[1].at("0.weight"),
                     w_high = medians[2].at("0.weight");
        chapter.claim("the first layer's ratio grows with the learning rate, roughly in proportion",
                      w_low < w_mid && w_mid < w_high && w_mid / w_low > 10,
                      fmt::format("{} → {} → {}", number(w_low), number(w_mid), number(w_high)));
        const double orders_apart = std::abs(std::log10(w_mid / by_hand));
        chapter.say(fmt::format(
            "The Trainer's median over the whole run at lr 1e-2 ({}) is {} the one computed by "
            "hand for the first step ({}){}.",
            number(w_mid), orders_apart < 1 ? "within a factor of 10 of" : "more than 10× from",
            number(by_hand),
            orders_apart < 1 ? ": the same measurement, taken every 10 iterations"
                             : ": the ratio changes as training goes on"));
        chapter.notice(fmt::format(
            "at lr 1e-2 the first layer's ratio is {} — near the 1e-3 rule of thumb; 1e-4 gives {} "
            "(too slow: weights barely change), lr 1 gives {} (each step rewrites a large part of "
            "the "
            "weights). Biases start at 0, so their ratio is large early on and says little.",
            number(w_mid), number(w_low), number(w_high)));
        if (lrs.size() > 3) {
          const double yours = medians.back().at("0.weight");
          const double decades = std::log10(yours / 1e-3);
          chapter.notice(fmt::format(
              "your lr {} gives the first layer a ratio of {}: {}.", short_number(lrs.back()),
              number(yours),
              std::abs(decades) < 0.5
                  ? "within a factor of about 3 of 1e-3, a healthy step size"
                  : fmt::format("{:.1f} orders of magnitude {} 1e-3: {}", std::abs(decades),
                                decades > 0 ? "above" : "below",
                                decades > 0 ? "the weights change fast, and the loss may turn "
                                              "noisy or blow up"
                                            : "the weights change slowly, and so does the loss")));
        }

        chapter.summary(
            fmt::format("bad init plateaus at {} vs {}; gap {:.2f} (overfit) vs {:.2f} (tiny net); "
                        "update ratio of "
                        "layer 0: {} / {} / {} at lr 1e-4 / 1e-2 / 1",
                        number(bad_early), number(good_early), over_gap, under_gap, number(w_low),
                        number(w_mid), number(w_high)));
      },
      [&extra_lr](CLI::App& app) {
        app.add_option("--lr", extra_lr,
                       "Adds this learning rate to the update/weight-ratio step (in (0, 10])")
            ->check(gradlab::cli::number_check("in (0, 10]",
                                               [](double v) { return v > 0 && v <= 10; }));
      });
}
