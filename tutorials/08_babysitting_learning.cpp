// Chapter 08: babysitting the learning process.
//
// Before a long training run we do a few cheap checks that catch most mistakes: the loss at
// initialisation must be what the maths predicts, adding regularisation must raise it, the net
// must be able to memorise a handful of examples, and the learning rate must be in a range where
// the loss goes down without blowing up. This chapter runs each check live on Fashion-MNIST with a
// 784-50-10 net, writes the update rule and the loop by hand first, and then lets the library's
// `optim::SGD` and `train::Trainer` do the same.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
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

/// The lecture's two-layer net: 784 → 50 (ReLU) → 10 (or `hidden` units with --hidden), weights
/// ~ N(0, 0.01²), biases 0. Seeding the global generator first makes two calls build the very
/// same net.
nn::Sequential small_net(std::uint64_t seed, std::int64_t inputs, std::int64_t hidden) {
  manual_seed(seed);
  return nn::Sequential(nn::Linear(inputs, hidden, "normal"), nn::ReLU(),
                        nn::Linear(hidden, 10, "normal"));
}

/// The chapter's own flags.
struct Settings {
  std::int64_t hidden = 50;  // --hidden
  double extra_lr = 0;       // --lr: added to the sweep (0: none)
};

/// Data loss (+ ½λ Σ‖W‖²) of `net` on a whole dataset, without recording a graph.
double loss_on(nn::Sequential& net, const data::Dataset& set, double reg, bool svm = false) {
  NoGradGuard no_grad;
  Tensor scores = net(set.images);
  Tensor loss = svm ? nn::MultiClassSVMLoss()(scores, set.labels)
                    : nn::CrossEntropyLoss()(scores, set.labels);
  return loss.item() + nn::l2_penalty(nn::weight_matrices(net.parameters()), reg).item();
}

/// θ ← θ − lr · ∂L/∂θ for every parameter, written into the parameter's own storage.
void sgd_by_hand(nn::Sequential& net, double lr) {
  NoGradGuard no_grad;
  for (Tensor& p : net.parameters()) {
    const std::vector<double> updated = (p.detach() - lr * p.grad()).to_vector();
    std::transform(updated.begin(), updated.end(), p.data<float>(),
                   [](double v) { return float(v); });
  }
}

/// Quiet trainer settings shared by the steps below.
train::TrainerConfig quiet(std::int64_t epochs, std::int64_t batch, std::uint64_t seed) {
  return {.epochs = epochs,
          .batch_size = batch,
          .seed = seed,
          .ratio_every = 0,
          .keep_best = false,
          .progress = train::ProgressStyle::none};
}

struct Probe {
  double lr = 0;
  train::History history;
  double val = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  return tutorial::run_chapter(
      argc, argv,
      {8,
       "babysitting_learning",
       "Babysitting the learning process",
       {{"--lr 3e-3",
         "adds lr 3e-3 to the sweep. Look at its row: its loss and accuracy, and whether the "
         "measured window of working learning rates (the sentence under the table) includes it."},
        {"--lr 2",
         "a learning rate between 1, which learns, and 3, which explodes: its row shows on which "
         "side of the edge it falls, and when it explodes the summary's smallest exploding lr "
         "moves down to it. The edge is sharp: a factor of 2 separates learning from blowing "
         "up."},
        {"--hidden 200",
         "four times the hidden units: the initial loss still comes out at ln 10 (tiny weights, "
         "uniform scores), and the 20 examples are memorised as before; compare the sweep's "
         "accuracies with the 50-unit run's."}}},
      [&settings](Chapter& chapter) {
        const bool quick = chapter.quick();
        const std::uint64_t seed = chapter.options().seed;

        // --- data --------------------------------------------------------------------------------
        chapter.step("Prepare the data: a Fashion-MNIST subset, centred");
        const std::string dir = chapter.options().data.empty() ? data::default_fashion_mnist_dir
                                                               : chapter.options().data;
        const data::Dataset all = data::load_fashion_mnist(dir);
        const std::int64_t train_size = quick ? 2000 : 10000, val_size = quick ? 1000 : 2000;
        std::vector<std::int64_t> order = data::shuffled_indices(all.size(), seed);
        order.resize(train_size + val_size);
        data::Dataset subset = data::select(all, order);
        data::TrainValidation parts = data::split_train_validation(subset, val_size);
        data::MeanImage centre;
        parts.train.images = centre.fit_apply(parts.train.images);
        parts.validation.images = centre.apply(parts.validation.images);
        chapter.say(fmt::format(
            "We take {} training and {} validation images (28×28 = 784 pixels in [0, 1]) and "
            "subtract "
            "the mean image of the training part from both — the mean is measured on training data "
            "only. "
            "The net is 784 → {} → 10 with ReLU, weights drawn from N(0, 0.01²) and zero biases.",
            parts.train.size(), parts.validation.size(), settings.hidden));
        const Tensor pixel_mean = mean(parts.train.images);
        chapter.table({"split", "examples", "mean pixel after centring"},
                      {{"train", std::to_string(parts.train.size()), number(pixel_mean.item(), 6)},
                       {"validation", std::to_string(parts.validation.size()),
                        number(mean(parts.validation.images).item(), 6)}});

        // --- initial loss ------------------------------------------------------------------------
        chapter.step("Sanity check 1: the loss before any training");
        chapter.say(
            "With tiny weights every score is close to 0, so softmax gives each of the 10 classes "
            "a "
            "probability of about 1/10 and the cross-entropy of every example is −ln(1/10) = ln 10 "
            "≈ "
            "2.3026. The SVM (hinge) loss adds max(0, s_j − s_y + 1) ≈ 1 for each of the 9 wrong "
            "classes, "
            "so about 9. If the measured numbers differ, something is wrong before training even "
            "starts.");
        nn::Sequential net = small_net(seed, 784, settings.hidden);
        const double ce0 = loss_on(net, parts.train, 0.0);
        const double svm0 = loss_on(net, parts.train, 0.0, /*svm=*/true);
        chapter.table({"loss (reg 0)", "expected", "measured on the training subset"},
                      {{"softmax cross-entropy", number(std::log(10.0)), number(ce0)},
                       {"multiclass SVM, margin 1", "9", number(svm0)}});
        chapter.claim("initial softmax loss is within 0.05 of ln 10 = 2.3026",
                      std::abs(ce0 - std::log(10.0)) < 0.05, number(ce0));
        chapter.claim("initial SVM loss is within 0.5 of 9 (= number of classes − 1)",
                      std::abs(svm0 - 9.0) < 0.5, number(svm0));

        chapter.step("Sanity check 2: more regularisation, higher initial loss");
        chapter.say(
            "The L2 penalty ½λ Σ‖W‖² is added to the data loss. The weights are not zero, so "
            "turning λ "
            "up must push the initial loss up; if it does not, the penalty is not wired in.");
        std::vector<std::vector<std::string>> reg_rows;
        std::vector<double> reg_losses;
        for (double reg : {0.0, 1e-3, 1e-1, 1.0, 10.0, 1e3}) {
          reg_losses.push_back(loss_on(net, parts.train, reg));
          reg_rows.push_back(
              {number(reg), number(reg_losses.back() - ce0), number(reg_losses.back())});
        }
        chapter.table({"λ", "penalty ½λΣ‖W‖²", "initial loss"}, reg_rows);
        bool increasing = true;
        for (std::size_t i = 1; i < reg_losses.size(); ++i)
          increasing = increasing && reg_losses[i] > reg_losses[i - 1];
        chapter.claim("the initial loss grows with λ", increasing,
                      fmt::format("{} at λ = 0 → {} at λ = 1e3", number(reg_losses.front()),
                                  number(reg_losses.back())));
        chapter.notice(
            "the data part stays at ln 10; everything above it is the penalty, growing linearly in "
            "λ.");

        // --- overfit a tiny set ------------------------------------------------------------------
        chapter.step("Sanity check 3: memorise 20 examples, by hand first");
        chapter.say(
            "A net that cannot drive the loss to almost 0 on 20 examples has a bug. We train on "
            "the first "
            "20 training images with λ = 0 and plain SGD, the whole tiny set as one batch. First "
            "the loop "
            "written out: forward, loss, backward, then θ ← θ − lr·∂L/∂θ for every parameter "
            "(sgd_by_hand in this file). Then the same with optim::SGD; same initial weights (same "
            "seed).");
        const data::Dataset tiny = data::slice(parts.train, 0, 20);
        const double tiny_lr = 0.5;
        const int tiny_steps = quick ? 100 : 200;
        nn::Sequential by_hand = small_net(seed + 1, 784, settings.hidden);
        nn::Sequential library = small_net(seed + 1, 784, settings.hidden);
        optim::SGD sgd(library.parameters(), {.lr = tiny_lr});
        nn::CrossEntropyLoss criterion;
        std::vector<double> hand_loss, lib_loss;
        for (int it = 0; it < tiny_steps; ++it) {
          for (Tensor& p : by_hand.parameters()) p.zero_grad();
          Tensor l1 = criterion(by_hand(tiny.images), tiny.labels);
          l1.backward();
          sgd_by_hand(by_hand, tiny_lr);
          hand_loss.push_back(l1.item());

          sgd.zero_grad();
          Tensor l2 = criterion(library(tiny.images), tiny.labels);
          l2.backward();
          sgd.step();
          lib_loss.push_back(l2.item());
        }
        double worst = 0;
        for (std::size_t i = 0; i < hand_loss.size(); ++i)
          worst = std::max(worst, std::abs(hand_loss[i] - lib_loss[i]));
        std::vector<std::vector<std::string>> tiny_rows;
        for (int it : {0, 1, 5, 20, 50, tiny_steps - 1})
          tiny_rows.push_back(
              {std::to_string(it + 1), number(hand_loss[it], 6), number(lib_loss[it], 6)});
        chapter.table({"iteration", "loss, loop by hand", "loss, optim::SGD"}, tiny_rows);
        chapter.claim("the hand-written update and optim::SGD give the same losses (< 1e-4)",
                      worst < 1e-4, fmt::format("largest difference {}", number(worst)));
        double tiny_acc = 0;
        {
          NoGradGuard no_grad;
          tiny_acc = nn::accuracy(library(tiny.images), tiny.labels);
        }
        chapter.say(
            fmt::format("Loss over the {} iterations: {}", tiny_steps, plots::sparkline(lib_loss)));
        const plots::PlotResult tiny_plot =
            plots::loss_curve(lib_loss, chapter.path("overfit_20_loss.png"));
        chapter.picture(tiny_plot.drawn ? "overfit_20_loss.png" : "overfit_20_loss.csv",
                        "loss while memorising 20 examples");
        chapter.claim(
            "20 examples are memorised: training accuracy 1.00 with λ = 0", tiny_acc == 1.0,
            fmt::format("accuracy {:.2f}, final loss {}", tiny_acc, number(lib_loss.back())));
        chapter.notice(
            "the loss falls towards 0 and every one of the 20 images is classified right. This "
            "says "
            "nothing about new images (it is pure memorising) — it only shows that gradients "
            "flow.");

        // --- the learning rate -------------------------------------------------------------------
        const std::int64_t epochs = quick ? 2 : 3, batch = 100;
        auto probe = [&](double lr, const std::string& folder) {
          nn::Sequential model = small_net(seed + 2, 784, settings.hidden);
          optim::SGD optimizer(model.parameters(), {.lr = lr});
          train::TrainerConfig config = quiet(epochs, batch, seed);
          config.reg = 1e-4;
          if (!folder.empty()) config.out_dir = chapter.path(folder);
          train::Trainer trainer(model, optimizer, config);
          Probe p{lr, trainer.fit(parts.train), 0};
          p.val = trainer.evaluate(parts.validation);
          return p;
        };
        auto first_last = [](const train::History& h) {
          const std::size_t k = std::min<std::size_t>(10, h.loss.size());
          double first = 0, last = 0;
          for (std::size_t i = 0; i < k; ++i)
            first += h.loss[i] / double(k), last += h.loss[h.loss.size() - 1 - i] / double(k);
          return std::pair{first, last};
        };

        chapter.step("Learning rate far too low: 1e-6");
        chapter.say(fmt::format(
            "Now the real training set, mini-batches of {}, λ = 1e-4, {} epochs of plain SGD via "
            "train::Trainer. With lr = 1e-6 every step moves the weights by a millionth of the "
            "gradient.",
            batch, epochs));
        Probe low = probe(1e-6, "lr_1e-6");
        auto [low_first, low_last] = first_last(low.history);
        chapter.table({"", "value"}, {{"mean loss, first 10 iterations", number(low_first, 5)},
                                      {"mean loss, last 10 iterations", number(low_last, 5)},
                                      {"iterations", std::to_string(low.history.iterations())},
                                      {"validation accuracy", number(low.val, 3)}});
        chapter.claim("with lr = 1e-6 the loss barely moves (changes by < 0.01)",
                      std::abs(low_first - low_last) < 0.01,
                      fmt::format("{} → {}", number(low_first, 5), number(low_last, 5)));
        chapter.notice(fmt::format(
            "the loss hardly changes, and the validation accuracy ({:.3f}, chance is 0.10) {}.",
            low.val,
            low.val > 0.15 ? "has already climbed above chance: a tiny shift of the scores is "
                             "enough to change which class scores highest, long before the "
                             "probabilities, and so the loss, move noticeably"
                           : "has not moved away from chance either: the steps are too small "
                             "for anything to happen. The sweep below looks for the learning "
                             "rate where the lecture's effect shows (loss barely moving, accuracy "
                             "already climbing)"));
        chapter.step("Learning rate far too high: 1e6");
        chapter.say(
            "With lr = 1e6 the first update throws the weights far away. The Trainer watches every "
            "loss "
            "and stops as soon as it is NaN/inf or more than 3 × the first one, with a diagnosis.");
        Probe high = probe(1e6, "");
        chapter.table({"", "value"},
                      {{"iterations run", std::to_string(high.history.iterations())},
                       {"stop reason", train::stop_reason_name(high.history.stop_reason)},
                       {"diagnosis", high.history.diagnosis}});
        chapter.claim(
            "lr = 1e6 makes the loss explode and the Trainer's guard stops the run",
            high.history.stopped_early() &&
                high.history.stop_reason != train::StopReason::stopped_by_callback,
            fmt::format("{} after {} iterations", train::stop_reason_name(high.history.stop_reason),
                        high.history.iterations()));

        chapter.step("Sweep the learning rate between the two");
        chapter.say(
            "Between 'nothing happens' and 'explodes' there is a window. We try one value per half "
            "decade, everything else fixed, and look at where the loss falls and where it blows "
            "up.");
        std::vector<double> lrs =
            quick ? std::vector<double>{1e-4, 1e-2, 1e-1, 1.0, 3.0}
                  : std::vector<double>{1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2,
                                        3e-2, 1e-1, 3e-1, 1.0,  3.0,  10.0};
        if (settings.extra_lr > 0 &&
            std::find(lrs.begin(), lrs.end(), settings.extra_lr) == lrs.end()) {
          lrs.push_back(settings.extra_lr);  // the learner's --lr joins the sweep
          std::sort(lrs.begin(), lrs.end());
          chapter.say(fmt::format("(lr {:g} is yours, from --lr.)", settings.extra_lr));
        }
        std::vector<Probe> probes;
        std::vector<std::vector<std::string>> sweep_rows;
        std::ofstream csv(chapter.path("lr_sweep.csv"));
        csv << "lr,first_loss,last_loss,val_accuracy,stop_reason\n";
        for (double lr : lrs) {
          probes.push_back(probe(lr, ""));
          if (lr == 1.0) {
            const plots::PlotResult plot =
                plots::loss_curve(probes.back().history.loss, chapter.path("loss_lr_1.png"));
            chapter.picture(plot.drawn ? "loss_lr_1.png" : "loss_lr_1.csv",
                            "loss per iteration at lr 1 (learns)");
          }
          const Probe& p = probes.back();
          auto [first, last] = first_last(p.history);
          const bool exploded = p.history.stopped_early();
          sweep_rows.push_back({number(lr), number(first), exploded ? "—" : number(last),
                                exploded ? "—" : number(p.val, 3),
                                exploded ? train::stop_reason_name(p.history.stop_reason) : "ok",
                                plots::sparkline(p.history.loss, 24)});
          csv << lr << ',' << first << ',' << last << ',' << (exploded ? -1.0 : p.val) << ','
              << train::stop_reason_name(p.history.stop_reason) << '\n';
        }
        chapter.picture("lr_sweep.csv",
                        "first/last loss and validation accuracy per learning rate");
        chapter.table({"lr", "first loss", "last loss", "val acc", "outcome", "loss curve"},
                      sweep_rows);

        double best_val = 0, smallest_explode = 0;
        for (const Probe& p : probes) {
          if (p.history.stopped_early()) {
            if (smallest_explode == 0) smallest_explode = p.lr;
          } else {
            best_val = std::max(best_val, p.val);
          }
        }
        // "Works" = did not explode and the loss fell clearly (by more than 0.1) within the run.
        double good_low = 0, good_high = 0;
        for (const Probe& p : probes) {
          auto [first, last] = first_last(p.history);
          if (!p.history.stopped_early() && last < first - 0.1) {
            if (good_low == 0) good_low = p.lr;
            good_high = p.lr;
          }
        }
        if (smallest_explode > 0) {
          chapter.say(
              fmt::format("The smallest learning rate that exploded here is {} — far below 1e6: "
                          "explosion is not "
                          "reserved for absurd values.",
                          number(smallest_explode)));
        } else {
          chapter.say("No learning rate of the sweep exploded; only the extreme 1e6 did.");
        }
        chapter.claim("some learning rate of the sweep, far below 1e6, still explodes",
                      smallest_explode > 0 && smallest_explode <= 100,
                      smallest_explode > 0 ? number(smallest_explode) : "none");
        chapter.say(
            fmt::format("Measured conclusion for this net and data: learning rates from {} to {} "
                        "make the loss fall "
                        "clearly (by more than 0.1) in {} epochs without exploding; the best "
                        "validation accuracy "
                        "of the sweep is {:.3f}. That is the "
                        "range a hyperparameter search should sample (chapter 09). The lecture "
                        "found [1e-5, 1e-3] "
                        "for its CIFAR-10 setup; the window moves with the data's scale, the net "
                        "and λ, which is why "
                        "it is measured, not assumed.",
                        number(good_low), number(good_high), epochs, best_val));
        // The lecture's "loss barely changes while the accuracy climbs": the sweep's row where the
        // loss moved least (and by under 0.05) while the accuracy rose clearly above chance.
        const Probe* barely = nullptr;
        double barely_moved = 0;
        for (const Probe& p : probes) {
          if (p.history.stopped_early() || p.val < 0.15) continue;
          auto [first, last] = first_last(p.history);
          const double moved = std::abs(first - last);
          if (moved < 0.05 && (barely == nullptr || moved < barely_moved)) {
            barely = &p;
            barely_moved = moved;
          }
        }
        if (barely != nullptr) {
          auto [first, last] = first_last(barely->history);
          chapter.notice(fmt::format(
              "the row lr {} shows what the lecture describes: the loss barely moved ({} → {}) "
              "while the validation accuracy already reached {:.3f}, above the 0.10 of chance. A "
              "small shift of the scores changes which class wins long before the probabilities, "
              "and so the loss, move much.",
              number(barely->lr), number(first, 4), number(last, 4), barely->val));
        } else {
          chapter.notice(
              "no row of this sweep shows the loss barely moving while the accuracy climbs: "
              "where the loss hardly moved, the accuracy stayed near chance too.");
        }

        chapter.summary(
            fmt::format("initial loss {} ≈ ln 10 (SVM {} ≈ 9); λ up → loss up; 20 examples "
                        "memorised (acc {:.2f}); "
                        "lr 1e-6 flat, 1e6 explodes, smallest exploding lr {}; working lr ≈ {}…{}",
                        number(ce0), number(svm0), tiny_acc,
                        smallest_explode > 0 ? number(smallest_explode) : "none", number(good_low),
                        number(good_high)));
      },
      [&settings](CLI::App& app) {
        app.add_option("--lr", settings.extra_lr,
                       "Adds this learning rate to the sweep (in (0, 1e5])")
            ->check(gradlab::cli::number_check("in (0, 1e5]",
                                               [](double v) { return v > 0 && v <= 1e5; }));
        gradlab::cli::whole_number_in(
            app.add_option("--hidden", settings.hidden,
                           "Hidden units of the 784 → H → 10 net (4 to 1024)"),
            4, 1024)
            ->capture_default_str();
      });
}
