// Chapter 13: what comes next.
//
// The lecture ends with a list of topics for the next one: better parameter updates than plain
// SGD, learning-rate schedules, dropout and model ensembles. gradlab already has them, so this
// chapter gives a first, measured look at each on the same small Fashion-MNIST problem.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
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

train::TrainerConfig quiet(std::int64_t epochs, std::uint64_t seed) {
  return {.epochs = epochs,
          .batch_size = 100,
          .seed = seed,
          .ratio_every = 0,
          .keep_best = false,
          .progress = train::ProgressStyle::none};
}

/// Softmax probabilities of `net` on `images`, without a graph.
Tensor probabilities(nn::Sequential& net, const Tensor& images) {
  NoGradGuard no_grad;
  net.eval();
  return softmax(net(images));
}

/// Several series in one PNG through gnuplot (the CSV is always written).
/// `title`, `xlabel` and `ylabel` follow the picture rules (modules/train/plots.hpp): the labels
/// name their units in parentheses.
void multi_plot(Chapter& chapter, const std::string& stem, const std::vector<std::string>& names,
                const std::vector<std::vector<double>>& series, const std::string& title,
                const std::string& xlabel, const std::string& ylabel, bool log_y) {
  std::ofstream csv(chapter.path(stem + ".csv"));
  csv << "step";
  for (const auto& n : names) csv << ',' << n;
  csv << '\n';
  std::size_t length = 0;
  for (const auto& s : series) length = std::max(length, s.size());
  for (std::size_t i = 0; i < length; ++i) {
    csv << i + 1;
    for (const auto& s : series)
      csv << ',' << (i < s.size() ? fmt::format("{}", s[i]) : std::string("NaN"));
    csv << '\n';
  }
  csv.close();
  std::ostringstream gp;  // the script runs in the output folder: files by name only
  // Every name goes in as a gnuplot string constant: nothing in it is interpreted.
  gp << "set terminal pngcairo size 900,560\nset output " << plots::gnuplot_string(stem + ".png")
     << "\nset datafile separator ','\nset key outside right\nset title "
     << plots::gnuplot_string(title) << " noenhanced\nset xlabel " << plots::gnuplot_string(xlabel)
     << " noenhanced\nset ylabel " << plots::gnuplot_string(ylabel) << " noenhanced\n"
     << (log_y ? "set logscale y\n" : "") << "plot ";
  for (std::size_t k = 0; k < names.size(); ++k)
    gp << (k ? ", " : "") << plots::gnuplot_string(stem + ".csv") << " using 1:" << k + 2
       << " with lines lw 2 title " << plots::gnuplot_string(names[k]) << " noenhanced";
  gp << '\n';
  const plots::PlotResult drawn = plots::draw_script(chapter.path(stem + ".png"), gp.str());
  chapter.picture(drawn.drawn ? stem + ".png" : stem + ".csv",
                  ylabel + " of " + fmt::format("{}", fmt::join(names, ", ")));
}

/// SGD with momentum written out, element by element, with the velocity in gradient units as
/// PyTorch and optim::SGD keep it:
///   v ← μ·v + dx;   x ← x − lr·v
/// The lecture writes v ← μ·v − lr·dx; x ← x + v, which is the same walk (its v is −lr times
/// ours) while lr stays fixed; once a schedule changes lr, only this form follows PyTorch. The
/// library's optim::SGD does the same with one backend kernel per parameter.
class MomentumByHand : public optim::Optimizer {
 public:
  MomentumByHand(std::vector<Tensor> parameters, double lr, double mu)
      : Optimizer(std::move(parameters), lr), mu_(mu) {
    for (const Tensor& p : this->parameters()) velocity_.emplace_back(p.numel(), 0.0);
  }

 protected:
  void update(std::size_t index, const Tensor& parameter, const Tensor& gradient) override {
    float* x = parameter.data<float>();
    const float* dx = gradient.const_data<float>();
    std::vector<double>& v = velocity_[index];
    for (std::size_t i = 0; i < v.size(); ++i) {
      v[i] = mu_ * v[i] + dx[i];
      x[i] = static_cast<float>(x[i] - lr() * v[i]);
    }
  }

 private:
  double mu_;
  std::vector<std::vector<double>> velocity_;
};

/// Adam written out, element by element (β₁ = 0.9, β₂ = 0.999, ε = 1e-8), at step t:
///   m ← β₁ m + (1 − β₁) dx;   v ← β₂ v + (1 − β₂) dx²
///   m̂ = m / (1 − β₁ᵗ);   v̂ = v / (1 − β₂ᵗ);   x ← x − lr · m̂ / (√v̂ + ε)
class AdamByHand : public optim::Optimizer {
 public:
  AdamByHand(std::vector<Tensor> parameters, double lr) : Optimizer(std::move(parameters), lr) {
    for (const Tensor& p : this->parameters()) {
      m_.emplace_back(p.numel(), 0.0);
      v_.emplace_back(p.numel(), 0.0);
      t_.push_back(0);
    }
  }

 protected:
  void update(std::size_t index, const Tensor& parameter, const Tensor& gradient) override {
    const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    float* x = parameter.data<float>();
    const float* dx = gradient.const_data<float>();
    std::vector<double>&m = m_[index], &v = v_[index];
    const int t = ++t_[index];
    for (std::size_t i = 0; i < m.size(); ++i) {
      m[i] = beta1 * m[i] + (1 - beta1) * dx[i];
      v[i] = beta2 * v[i] + (1 - beta2) * double(dx[i]) * dx[i];
      const double m_hat = m[i] / (1 - std::pow(beta1, t));
      const double v_hat = v[i] / (1 - std::pow(beta2, t));
      x[i] = static_cast<float>(x[i] - lr() * m_hat / (std::sqrt(v_hat) + eps));
    }
  }

 private:
  std::vector<std::vector<double>> m_, v_;
  std::vector<int> t_;
};

/// Moving average over `window` iterations, to make noisy loss curves comparable.
std::vector<double> smooth(const std::vector<double>& v, std::size_t window) {
  std::vector<double> out;
  double sum = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    sum += v[i];
    if (i >= window) sum -= v[i - window];
    out.push_back(sum / double(std::min(i + 1, window)));
  }
  return out;
}

}  // namespace

/// The chapter's own flags.
struct Settings {
  double dropout = 0;  // --dropout: added to the dropout step (0: none)
  int members = 3;     // --members
};

int main(int argc, char** argv) {
  Settings settings;
  return tutorial::run_chapter(
      argc, argv,
      {13,
       "what_comes_next",
       "What comes next: updates, schedules, dropout, ensembles",
       {{"--dropout 0.3",
         "adds a milder dropout rate to the dropout table: the notice computes how much each rate "
         "moves the train/validation gap, and whether through the training or the validation "
         "accuracy."},
        {"--members 5",
         "an ensemble of five nets instead of three: the notice reports how it scores against "
         "the average and against the best single net; more members cost proportionally more."}}},
      [&settings](Chapter& chapter) {
        const bool quick = chapter.quick();
        const std::uint64_t seed = chapter.options().seed;
        const std::int64_t train_size = quick ? 2000 : 10000, val_size = quick ? 1000 : 2000;
        data::TrainValidation parts = chapter.centred_fashion_mnist(train_size, val_size);
        const std::int64_t epochs = quick ? 2 : 4;

        // --- 1. parameter updates ----------------------------------------------------------------
        chapter.step("Six update rules on the same net, and two of them written out");
        chapter.say(
            fmt::format("The same 784 → 100 → 10 ReLU net, the same initial weights (seed {}), the "
                        "same batches, "
                        "{} epochs on {} images; only the update rule changes. Each gets a "
                        "learning rate that is "
                        "usual for it (SGD-type rules 1e-2, the adaptive ones 1e-3, AdaGrad 1e-2).",
                        seed, epochs, parts.train.size()));
        struct Rule {
          std::string name;
          std::string formula;
          std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)> make;
        };
        const std::vector<Rule> rules = {
            {"SGD", "x ← x − lr·dx",
             [](auto p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 1e-2}); }},
            {"momentum", "v ← μv + dx; x ← x − lr·v",
             [](auto p) {
               return std::make_unique<optim::SGD>(p,
                                                   optim::SGDOptions{.lr = 1e-2, .momentum = 0.9});
             }},
            {"Nesterov", "v ← μv + dx; x ← x − lr·(dx + μv)",
             [](auto p) {
               return std::make_unique<optim::SGD>(
                   p, optim::SGDOptions{.lr = 1e-2, .momentum = 0.9, .nesterov = true});
             }},
            {"AdaGrad", "c ← c + dx²; x ← x − lr·dx / (√c + ε)",
             [](auto p) {
               return std::make_unique<optim::AdaGrad>(p, optim::AdaGradOptions{.lr = 1e-2});
             }},
            {"RMSProp", "c ← αc + (1 − α)dx²; x ← x − lr·dx / (√c + ε)",
             [](auto p) {
               return std::make_unique<optim::RMSProp>(p, optim::RMSPropOptions{.lr = 1e-3});
             }},
            {"Adam", "m, v: averages of dx, dx²; x ← x − lr·m̂ / (√v̂ + ε)",
             [](auto p) {
               return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 1e-3});
             }},
            {"momentum by hand", "the loop in MomentumByHand, this file",
             [](auto p) { return std::make_unique<MomentumByHand>(p, 1e-2, 0.9); }},
            {"Adam by hand", "the loop in AdamByHand, this file",
             [](auto p) { return std::make_unique<AdamByHand>(p, 1e-3); }},
        };
        std::vector<std::string> names;
        std::vector<std::vector<double>> curves;
        std::vector<std::vector<std::string>> rows;
        double sgd_loss = 0, adam_loss = 0, momentum_loss = 0, adam_hand = 0, momentum_hand = 0;
        std::vector<std::pair<double, std::string>> final_losses;  // library rules only
        for (const Rule& rule : rules) {
          manual_seed(seed);
          nn::Sequential net = nn::MLP({784, 100, 10}, {.activation = "relu", .init = "he"});
          auto optimizer = rule.make(net.parameters());
          train::Trainer trainer(net, *optimizer, quiet(epochs, seed));
          train::History h = trainer.fit(parts.train);
          const double val = trainer.evaluate(parts.validation);
          const double final_loss = h.epochs.back().mean_loss;
          const std::vector<double> curve = smooth(h.loss, 20);
          const bool by_hand = rule.name.find("by hand") != std::string::npos;
          if (!by_hand) {  // the picture shows the six library rules
            names.push_back(rule.name);
            curves.push_back(curve);
            final_losses.emplace_back(final_loss, rule.name);
          }
          rows.push_back({rule.name, rule.formula, number(h.epochs.front().mean_loss),
                          number(final_loss), number(val, 3), plots::sparkline(curve, 30)});
          if (rule.name == "SGD") sgd_loss = final_loss;
          if (rule.name == "Adam") adam_loss = final_loss;
          if (rule.name == "momentum") momentum_loss = final_loss;
          if (rule.name == "momentum by hand") momentum_hand = final_loss;
          if (rule.name == "Adam by hand") adam_hand = final_loss;
        }
        chapter.table({"update rule", "formula", "mean loss, epoch 1", "mean loss, last epoch",
                       "val acc", "loss curve"},
                      rows);
        multi_plot(chapter, "optimizers", names, curves,
                   "Six update rules on the same net: training loss",
                   "iteration (mini-batch steps)",
                   "training loss (cross-entropy, nats; moving average of 20)", false);
        chapter.claim("Adam ends with a lower training loss than plain SGD", adam_loss < sgd_loss,
                      fmt::format("{} vs {}", number(adam_loss), number(sgd_loss)));
        const auto relative = [](double a, double b) { return std::abs(a - b) / std::abs(b); };
        chapter.claim(
            "the loops written out in this chapter train like the library's rules "
            "(final loss within 1e-3 relative)",
            relative(momentum_hand, momentum_loss) < 1e-3 && relative(adam_hand, adam_loss) < 1e-3,
            fmt::format("momentum {} vs {}, Adam {} vs {}", number(momentum_hand, 6),
                        number(momentum_loss, 6), number(adam_hand, 6), number(adam_loss, 6)));
        std::sort(final_losses.begin(), final_losses.end());
        chapter.notice(fmt::format(
            "after the same number of steps, {} got furthest (final loss {}) and {} the least "
            "({}). "
            "{}",
            final_losses.front().second, number(final_losses.front().first),
            final_losses.back().second, number(final_losses.back().first),
            final_losses.back().second == "SGD"
                ? "Every other rule beats plain SGD here: momentum builds up speed along "
                  "consistent directions, and the adaptive rules give every parameter its own step "
                  "size."
                : "Here plain SGD is not the slowest: with other learning rates the ranking "
                  "changes, which is why each rule's learning rate is searched (chapter 09)."));

        // --- 2. schedules ------------------------------------------------------------------------
        chapter.step("Learning-rate schedules");
        chapter.say(
            "A schedule lowers the learning rate as training goes on: large steps early, small "
            "ones to "
            "settle. Three common forms, each starting at lr₀ = 0.1, evaluated by the library's "
            "schedulers for 30 epochs: step decay (halve every 10), exponential e^(−0.1 t), and "
            "1/t "
            "decay lr₀ / (1 + 0.2 t).");
        manual_seed(seed);
        nn::Sequential dummy = nn::MLP({4, 3}, {});
        optim::SGD s1(dummy.parameters(), {.lr = 0.1}), s2(dummy.parameters(), {.lr = 0.1}),
            s3(dummy.parameters(), {.lr = 0.1});
        optim::StepDecay step_decay(s1, {.step_size = 10, .gamma = 0.5});
        optim::ExponentialDecay exp_decay(s2, 0.1);
        optim::InverseTimeDecay inv_decay(s3, 0.2);
        std::vector<std::vector<double>> lr_curves(3);
        for (int t = 0; t < 30; ++t) {
          lr_curves[0].push_back(s1.lr());
          lr_curves[1].push_back(s2.lr());
          lr_curves[2].push_back(s3.lr());
          step_decay.step();
          exp_decay.step();
          inv_decay.step();
        }
        std::vector<std::vector<std::string>> lr_rows;
        for (int t : {0, 5, 10, 20, 29})
          lr_rows.push_back({std::to_string(t), number(lr_curves[0][t]), number(lr_curves[1][t]),
                             number(lr_curves[2][t])});
        chapter.table({"epoch t", "step", "exponential", "1/t"}, lr_rows);
        multi_plot(chapter, "schedules", {"step (½ every 10)", "exponential k=0.1", "1/t k=0.2"},
                   lr_curves, "Learning-rate schedules from lr0 = 0.1",
                   "epoch t + 1 (passes over the training set)",
                   "learning rate (dimensionless, log scale)", true);
        chapter.claim("step decay halves the rate at epoch 10",
                      std::abs(lr_curves[0][10] - 0.05) < 1e-12, number(lr_curves[0][10]));

        // --- 3. dropout --------------------------------------------------------------------------
        chapter.step("Dropout against overfitting");
        chapter.say(
            "Dropout sets each hidden unit to 0 with probability p during training (and scales the "
            "others by 1/(1 − p)), so the net cannot rely on any single unit; at test time nothing "
            "is "
            "dropped. Overfitting setup: 784 → 300 → 300 → 10 on only 500 images, many epochs, "
            "Adam, "
            "dropout p = 0, 0.5 and 0.8 after each hidden layer" +
            (settings.dropout > 0 ? fmt::format(", and your p = {:g}", settings.dropout)
                                  : std::string()) +
            ".");
        const data::Dataset few = data::slice(parts.train, 0, 500);
        std::vector<std::vector<std::string>> drop_rows;
        std::vector<double> gaps, train_accs, val_accs;
        std::vector<double> rates = {0.0, 0.5, 0.8};
        if (settings.dropout > 0) rates.push_back(settings.dropout);  // the learner's --dropout
        for (double p : rates) {
          manual_seed(seed);
          nn::Sequential net =
              nn::MLP({784, 300, 300, 10}, {.activation = "relu", .dropout = p, .init = "he"});
          optim::Adam adam(net.parameters(), {.lr = 1e-3});
          train::Trainer trainer(net, adam, quiet(quick ? 25 : 40, seed));
          trainer.fit(few);
          const double tr = trainer.evaluate(few), va = trainer.evaluate(parts.validation);
          gaps.push_back(tr - va);
          train_accs.push_back(tr);
          val_accs.push_back(va);
          drop_rows.push_back(
              {fmt::format("p = {}", p), number(tr, 3), number(va, 3), number(tr - va, 3)});
        }
        chapter.table({"dropout", "train acc", "val acc", "gap"}, drop_rows);
        chapter.claim("strong dropout (p = 0.8) narrows the train/val gap", gaps[2] < gaps[0],
                      fmt::format("gap {:.3f} (p = 0) → {:.3f} (p = 0.5) → {:.3f} (p = 0.8)",
                                  gaps[0], gaps[1], gaps[2]));
        // How each dropout rate moved the gap, and whether it did so through the training or
        // the validation accuracy.
        const auto effect = [&](std::size_t k) {
          const double train_change = train_accs[k] - train_accs[0];
          const double val_change = val_accs[k] - val_accs[0];
          return fmt::format(
              "p = {:g} changes the gap by {:+.3f} (train accuracy {:+.3f}, validation {:+.3f}{})",
              rates[k], gaps[k] - gaps[0], train_change, val_change,
              gaps[k] < gaps[0] - 0.01
                  ? (-train_change > std::abs(val_change) ? ": mostly by lowering the training "
                                                            "accuracy"
                                                          : ": mostly through the validation "
                                                            "accuracy")
                  : "");
        };
        std::string effects;
        for (std::size_t k = 1; k < rates.size(); ++k) effects += (k > 1 ? "; " : "") + effect(k);
        chapter.notice("against p = 0 on this tiny set: " + effects +
                       ". A narrower gap is the honest measure of less overfitting; a higher "
                       "validation accuracy is what one wants from it.");

        // --- 4. ensembles ------------------------------------------------------------------------
        chapter.step("A tiny ensemble");
        chapter.say(
            fmt::format("Train {} nets that differ only in their random initialisation and "
                        "batch order, then average their predicted class probabilities.",
                        settings.members));
        const int members = settings.members;
        std::vector<double> single;
        Tensor summed;
        for (int k = 0; k < members; ++k) {
          manual_seed(seed + 10 + k);
          nn::Sequential net = nn::MLP({784, 100, 10}, {.activation = "relu", .init = "he"});
          optim::SGD sgd(net.parameters(), {.lr = 1e-2, .momentum = 0.9});
          train::Trainer trainer(net, sgd, quiet(epochs, seed + 10 + k));
          trainer.fit(parts.train);
          Tensor prob = probabilities(net, parts.validation.images);
          single.push_back(nn::accuracy(prob, parts.validation.labels));
          summed = k == 0 ? prob : summed + prob;
        }
        const double ensemble = nn::accuracy(summed / double(members), parts.validation.labels);
        double mean_single = 0;
        std::vector<std::vector<std::string>> member_rows;
        for (int k = 0; k < members; ++k) {
          mean_single += single[k] / double(members);
          member_rows.push_back({fmt::format("net {}", k + 1), number(single[k], 3)});
        }
        const double best_single = *std::max_element(single.begin(), single.end());
        member_rows.push_back({fmt::format("mean of the {}", members), number(mean_single, 4)});
        member_rows.push_back({"ensemble (mean probabilities)", number(ensemble, 3)});
        chapter.table({"model", "val acc"}, member_rows);
        chapter.claim("the ensemble is at least as accurate as the average single net",
                      ensemble >= mean_single,
                      fmt::format("{:.4f} vs {:.4f}", ensemble, mean_single));
        chapter.notice(fmt::format(
            "here the ensemble of {} scores {:+.1f} points against the average net and {:+.1f} "
            "against the best one, bought with {}× the training and the prediction cost.",
            members, 100 * (ensemble - mean_single), 100 * (ensemble - best_single), members));

        chapter.summary(fmt::format(
            "final loss SGD {} vs Adam {}; dropout gap {:.3f} → {:.3f} (p 0.8); ensemble {:.3f} vs "
            "single mean {:.3f}",
            number(sgd_loss), number(adam_loss), gaps[0], gaps[2], ensemble, mean_single));
      },
      [&settings](CLI::App& app) {
        app.add_option("--dropout", settings.dropout,
                       "Adds this dropout rate to the dropout step (in (0, 0.95])")
            ->check(gradlab::cli::number_check("in (0, 0.95]",
                                               [](double v) { return v > 0 && v <= 0.95; }));
        gradlab::cli::whole_number_in(
            app.add_option("--members", settings.members, "Nets in the ensemble (2 to 10)"), 2, 10)
            ->capture_default_str();
      });
}
