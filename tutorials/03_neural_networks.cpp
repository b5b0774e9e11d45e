// Chapter 03: neural networks without the brain stuff. A linear score function, then the same
// function with a nonlinearity and a second (and third) matrix in between — shapes and parameter
// counts at every layer, on real Fashion-MNIST images. Then two pieces of history on a 2-D toy
// set: Rosenblatt's perceptron rule and Widrow and Hoff's Adaline (least mean squares).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "modules/data/data.hpp"
#include "modules/nn/nn.hpp"
#include "modules/optim/optim.hpp"
#include "modules/train/plots.hpp"
#include "modules/data/preprocess.hpp"
#include "modules/app/cli_flags.hpp"
#include "tutorial.hpp"

using namespace gradlab;
using gradlab::tutorial::Chapter;
using gradlab::tutorial::number;

namespace {

/// Runs `x` through `net` one layer at a time and prints what comes out of each.
void print_layers(Chapter& chapter, nn::Sequential& net, const Tensor& x) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"input x", shape_string(x.shape()), "", ""});
  Tensor h = x;
  for (std::size_t i = 0; i < net.size(); ++i) {
    nn::Module& layer = net[i];
    h = layer(h);
    rows.push_back({fmt::format("{}: {}", i, layer.type_name()), shape_string(h.shape()),
                    std::to_string(layer.parameter_count()),
                    layer.type_name() == "ReLU" ? "max(0, ·)" : "x·W + b"});
  }
  chapter.table({"layer", "output shape", "parameters", "computes"}, rows);
}

void architectures(Chapter& chapter, const data::Dataset& train) {
  chapter.step("From a linear score function to 2- and 3-layer networks");
  chapter.say(
      "The linear classifier computes scores s = x·W + b: one matrix from 784 pixels to 10 class "
      "scores. A 2-layer net puts a nonlinearity and a second matrix in between: "
      "s = max(0, x·W1 + b1)·W2 + b2; a 3-layer net adds one more such stage. Without the max, "
      "the matrices would multiply into a single matrix and nothing would be gained. We push a "
      "batch of 8 real images through each and print the shape after every layer.");
  Tensor x = data::slice(train, 0, 8).images;
  nn::Sequential linear(nn::Linear(784, 10));
  nn::Sequential two_layer(nn::Linear(784, 100, "he"), nn::ReLU(), nn::Linear(100, 10));
  nn::Sequential three_layer(nn::Linear(784, 100, "he"), nn::ReLU(), nn::Linear(100, 100, "he"),
                             nn::ReLU(), nn::Linear(100, 10));
  chapter.say("Linear score function (\"0 hidden layers\"):");
  print_layers(chapter, linear, x);
  chapter.say("2-layer net (1 hidden layer of 100 units):");
  print_layers(chapter, two_layer, x);
  chapter.say("3-layer net (2 hidden layers of 100 units):");
  print_layers(chapter, three_layer, x);
  chapter.table({"model", "parameters", "= by hand"},
                {{"linear 784→10", std::to_string(linear.parameter_count()), "784·10 + 10 = 7850"},
                 {"2-layer 784→100→10", std::to_string(two_layer.parameter_count()),
                  "784·100 + 100 + 100·10 + 10 = 79510"},
                 {"3-layer 784→100→100→10", std::to_string(three_layer.parameter_count()),
                  "79510 + 100·100 + 100 = 89610"}});

  chapter.say(
      "The 2-layer net written by hand with plain ops, using the same weights as the module:");
  auto& first = two_layer.at<nn::Linear>(0);
  auto& second = two_layer.at<nn::Linear>(2);
  Tensor by_hand = matmul(relu(matmul(x, first.weight) + first.bias), second.weight) + second.bias;
  Tensor by_module = two_layer(x);
  double gap = 0;
  std::vector<double> a = by_hand.to_vector(), b = by_module.to_vector();
  for (std::size_t i = 0; i < a.size(); ++i) gap = std::max(gap, std::abs(a[i] - b[i]));
  std::cout << "   scores = matmul(relu(matmul(x, W1) + b1), W2) + b2   → "
            << shape_string(by_hand.shape()) << ", max |hand − module| = " << number(gap, 2)
            << "\n";
  chapter.notice(
      "the layers are just the formula, one matrix product and one max at a time; the "
      "parameter count grows with every matrix, almost all of it in the first one.");
  chapter.claim("parameter counts 7850, 79510, 89610",
                linear.parameter_count() == 7850 && two_layer.parameter_count() == 79510 &&
                    three_layer.parameter_count() == 89610,
                fmt::format("{}, {}, {}", linear.parameter_count(), two_layer.parameter_count(),
                            three_layer.parameter_count()));
  chapter.claim("hand-written 2-layer net = nn::Sequential", gap < 1e-5, number(gap, 2));
}

double validation_accuracy(nn::Sequential& net, const data::Dataset& validation) {
  NoGradGuard no_graph;
  return nn::accuracy(net(validation.images), validation.labels);
}

/// The chapter's own flags: the short training's hidden units and epochs (0: the default).
struct Settings {
  std::int64_t hidden = 100;
  std::int64_t epochs = 0;
};

void short_training(Chapter& chapter, const data::Dataset& train, const data::Dataset& validation,
                    const Settings& settings) {
  chapter.step("A few epochs each: what the extra layers buy");
  const std::int64_t epochs = settings.epochs > 0 ? settings.epochs : (chapter.quick() ? 1 : 2);
  const std::int64_t h = settings.hidden;
  chapter.say(fmt::format(
      "Each model trains for {} epoch(s) of mini-batch SGD with momentum on {} centred training "
      "images and is tested on {} held-out images; the hidden layers have {} units. This is a "
      "taste only; chapters 08–10 do it properly.",
      epochs, train.size(), validation.size(), h));
  std::vector<std::vector<std::string>> rows;
  std::vector<double> accuracies;
  auto train_model = [&](const std::string& name, nn::Sequential net) {
    optim::SGD sgd(net.parameters(), {.lr = 0.02, .momentum = 0.9});
    for (std::int64_t epoch = 0; epoch < epochs; ++epoch) {
      for (const data::Batch& batch :
           data::BatchIterator(train, 64, chapter.options().seed + epoch)) {
        sgd.zero_grad();
        cross_entropy(net(batch.images), batch.labels).backward();
        sgd.step();
      }
    }
    double accuracy = validation_accuracy(net, validation);
    accuracies.push_back(accuracy);
    rows.push_back({name, std::to_string(net.parameter_count()), number(100 * accuracy, 1) + " %"});
  };
  manual_seed(chapter.options().seed);
  train_model("linear", nn::Sequential(nn::Linear(784, 10)));
  train_model(fmt::format("2-layer (784→{}→10)", h),
              nn::Sequential(nn::Linear(784, h, "he"), nn::ReLU(), nn::Linear(h, 10)));
  train_model(fmt::format("3-layer (784→{0}→{0}→10)", h),
              nn::Sequential(nn::Linear(784, h, "he"), nn::ReLU(), nn::Linear(h, h, "he"),
                             nn::ReLU(), nn::Linear(h, 10)));
  chapter.table({"model", "parameters", "validation accuracy"}, rows);
  // What the extra layers bought in this run, in percentage points over the linear model.
  const double gain2 = 100 * (accuracies[1] - accuracies[0]);
  const double gain3 = 100 * (accuracies[2] - accuracies[0]);
  auto verdict = [](double gain) {
    return std::abs(gain) < 1.0 ? "about the same as the linear model (within 1 point)"
           : gain > 0           ? "better than the linear model"
                                : "worse than the linear model";
  };
  chapter.notice(fmt::format(
      "all three learn far beyond the 10% of guessing ({:.1f}%, {:.1f}%, {:.1f}%). The 2-layer "
      "net is {:+.1f} points, {}; the 3-layer net {:+.1f} points, {}. {}",
      100 * accuracies[0], 100 * accuracies[1], 100 * accuracies[2], gain2, verdict(gain2), gain3,
      verdict(gain3),
      std::max(gain2, gain3) >= 3.0
          ? "The extra matrices and the nonlinearity between them pay off even in this short "
            "run: the linear model can only draw straight boundaries between classes."
      : std::max(gain2, gain3) >= -1.0
          ? "With this little data and training the extra layers buy little: capacity pays once "
            "the net is trained well, with enough data, a good initialisation and a tuned "
            "learning rate (the next chapters)."
          : "Here the extra layers even cost accuracy: narrow hidden layers squeeze each image "
            "through a few numbers, and a deeper net needs more training than this short run to "
            "catch up with the linear model."));
  chapter.claim("every model learns (validation accuracy > 30%, three times chance)",
                *std::min_element(accuracies.begin(), accuracies.end()) > 0.3,
                fmt::format("{:.3f}, {:.3f}, {:.3f}", accuracies[0], accuracies[1], accuracies[2]));
}

/// A linearly separable 2-D set: points in [−3, 3]² labelled by the side of the line
/// x₁ − 2x₂ + 0.5 = 0, keeping only points at least `margin` away from it.
struct ToySet {
  std::vector<double> x1, x2, label;  // label ±1
};

ToySet separable_set(std::int64_t n, double margin) {
  ToySet set;
  const double a = 1.0, b = -2.0, c = 0.5, norm = std::sqrt(a * a + b * b);
  while (static_cast<std::int64_t>(set.label.size()) < n) {
    Tensor candidates = rand({64, 2}) * 6.0 - 3.0;
    std::vector<double> v = candidates.to_vector();
    for (std::size_t i = 0; i < 64 && static_cast<std::int64_t>(set.label.size()) < n; ++i) {
      double side = (a * v[2 * i] + b * v[2 * i + 1] + c) / norm;
      if (std::abs(side) < margin) continue;
      set.x1.push_back(v[2 * i]);
      set.x2.push_back(v[2 * i + 1]);
      set.label.push_back(side > 0 ? 1.0 : -1.0);
    }
  }
  return set;
}

struct LinearUnit {
  double w1 = 0, w2 = 0, b = 0;
};

void history(Chapter& chapter) {
  chapter.step("A bit of history: Rosenblatt's perceptron (1957)");
  chapter.say(
      "The perceptron outputs +1 when w·x + b > 0 and −1 otherwise. Its update rule involves no "
      "gradient: go through the examples, and whenever one is misclassified, add it to the "
      "weights (times its label): w ← w + y·x, b ← b + y. On data that a line can separate, the "
      "rule is guaranteed to stop after a finite number of updates (Novikoff 1962: at most "
      "(R/γ)², R the largest input norm, γ the margin).");
  const std::int64_t n = chapter.quick() ? 60 : 200;
  ToySet set = separable_set(n, 0.3);
  LinearUnit perceptron;
  int updates = 0, epoch = 0;
  std::vector<std::vector<std::string>> rows;
  while (epoch < 1000) {
    ++epoch;
    int mistakes = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      double y = set.label[i];
      double score = perceptron.w1 * set.x1[i] + perceptron.w2 * set.x2[i] + perceptron.b;
      if (y * score <= 0) {
        perceptron.w1 += y * set.x1[i];
        perceptron.w2 += y * set.x2[i];
        perceptron.b += y;
        ++mistakes;
        ++updates;
      }
    }
    rows.push_back({std::to_string(epoch), std::to_string(mistakes),
                    fmt::format("({}, {}, {})", number(perceptron.w1, 2), number(perceptron.w2, 2),
                                number(perceptron.b, 2))});
    if (mistakes == 0) break;
  }
  chapter.table({"epoch", "mistakes (= updates)", "w1, w2, b after the epoch"}, rows);
  // Novikoff's bound, in the augmented space x̃ = (x1, x2, 1) with the generating line as the unit
  // separator.
  double radius = 0, margin = INFINITY;
  const double a = 1.0, b = -2.0, c = 0.5, norm = std::sqrt(a * a + b * b + c * c);
  for (std::int64_t i = 0; i < n; ++i) {
    radius = std::max(radius, std::sqrt(set.x1[i] * set.x1[i] + set.x2[i] * set.x2[i] + 1.0));
    margin = std::min(margin, set.label[i] * (a * set.x1[i] + b * set.x2[i] + c) / norm);
  }
  double bound = (radius / margin) * (radius / margin);
  int errors = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    errors +=
        set.label[i] * (perceptron.w1 * set.x1[i] + perceptron.w2 * set.x2[i] + perceptron.b) <= 0;
  }
  chapter.claim("the perceptron converges: no training mistakes left", errors == 0,
                fmt::format("{} updates in {} epochs, {} mistakes", updates, epoch, errors));
  chapter.claim("the number of updates respects Novikoff's bound (R/γ)²", updates <= bound,
                fmt::format("{} ≤ {:.0f}", updates, bound));

  chapter.step("Widrow and Hoff's Adaline (1960): least mean squares");
  chapter.say(
      "Adaline trains the same linear unit differently: it compares the raw output w·x + b (before "
      "taking the sign) with the target ±1 and reduces the squared error. Its update, the LMS or "
      "delta rule, w ← w + η·(y − w·x − b)·x, is exactly a gradient step on ½(y − w·x − b)². "
      "We compute that gradient with gradlab's autograd and check it against the rule written by "
      "hand.");
  Tensor inputs = from(
      [&] {
        std::vector<double> v;
        for (std::int64_t i = 0; i < n; ++i) {
          v.push_back(set.x1[i]);
          v.push_back(set.x2[i]);
        }
        return v;
      }(),
      {n, 2});
  Tensor targets = from(set.label, {n, 1});
  Tensor w = zeros({2, 1}, {.requires_grad = true});
  Tensor bias = zeros({1}, {.requires_grad = true});
  const double lr = 0.05;
  optim::SGD sgd({w, bias}, {.lr = lr});
  const int epochs = chapter.quick() ? 30 : 60;
  std::vector<double> losses;
  double rule_gap = 0;
  rows.clear();
  for (int e = 0; e <= epochs; ++e) {
    sgd.zero_grad();
    Tensor error = targets - (matmul(inputs, w) + bias);
    Tensor loss = (pow(error, 2) * 0.5).mean();
    loss.backward();
    losses.push_back(loss.item());
    // The LMS rule by hand: Δw = η · (1/N) Σ (y − ŷ) x — minus η times the gradient autograd found.
    std::vector<double> err = error.to_vector();
    double dw1 = 0, dw2 = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      dw1 += lr * err[i] * set.x1[i] / double(n);
      dw2 += lr * err[i] * set.x2[i] / double(n);
    }
    rule_gap = std::max(
        {rule_gap, std::abs(dw1 + lr * w.grad().at(0)), std::abs(dw2 + lr * w.grad().at(1))});
    if (e % (epochs / 6) == 0) {
      rows.push_back({std::to_string(e), number(loss.item(), 5),
                      fmt::format("({}, {}, {})", number(w.at(0), 3), number(w.at(1), 3),
                                  number(bias.at(0), 3))});
    }
    if (e < epochs) sgd.step();
  }
  chapter.table({"epoch", "mean ½(y − ŷ)²", "w1, w2, b"}, rows);
  bool decreasing = true;
  for (std::size_t i = 1; i < losses.size(); ++i)
    decreasing = decreasing && losses[i] <= losses[i - 1] + 1e-7;
  int adaline_errors = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    adaline_errors += set.label[i] * (w.at(0) * set.x1[i] + w.at(1) * set.x2[i] + bias.at(0)) <= 0;
  }
  chapter.notice(
      "the loss falls smoothly, epoch after epoch — the first learning rule that is a gradient "
      "descent. Unlike the perceptron it also moves on correctly classified points, pulling every "
      "output towards ±1, so its line may still leave a few points on the wrong side.");
  chapter.claim("the LMS rule is a gradient step: hand rule = −η · autograd gradient",
                rule_gap < 1e-6, number(rule_gap, 2));
  chapter.claim("the Adaline loss goes down every epoch", decreasing,
                fmt::format("{:.4f} → {:.4f}", losses.front(), losses.back()));
  chapter.claim("Adaline classifies most points correctly (≥ 90%)", adaline_errors <= n / 10,
                fmt::format("{} of {} wrong", adaline_errors, n));

  {
    std::ofstream csv(chapter.path("toy_set.csv"));
    csv << "x1,x2,label\n";
    for (std::int64_t i = 0; i < n; ++i)
      csv << set.x1[i] << "," << set.x2[i] << "," << set.label[i] << "\n";
  }
  chapter.draw_with_gnuplot(
      "decision_boundaries",
      fmt::format(
          "set terminal pngcairo size 800,700\nset output 'decision_boundaries.png'\nset datafile "
          "separator ','\n"
          "set title 'Perceptron and Adaline decision boundaries'\nset xrange [-3:3]\nset yrange "
          "[-3:3]\n"
          "set size ratio -1\nset grid\nset key outside bottom center horizontal\n"
          "set xlabel 'x1 (first feature, no unit)'\nset ylabel 'x2 (second feature, no unit)'\n"
          "perceptron(x) = -({} * x + {}) / {}\nadaline(x) = -({} * x + {}) / {}\n"
          "plot 'toy_set.csv' using 1:($3 > 0 ? $2 : 1/0) with points pt 7 title 'class +1', "
          "'' using 1:($3 < 0 ? $2 : 1/0) with points pt 5 title 'class -1', "
          "perceptron(x) lw 2 title 'perceptron', adaline(x) lw 2 dt 2 title 'Adaline (LMS)'\n",
          perceptron.w1, perceptron.b, perceptron.w2, w.at(0), bias.at(0), w.at(1)),
      "the toy set with the perceptron's and Adaline's lines");
}

/// The rest of the lecture's history, from Adaline to the results that started deep learning.
void timeline(Chapter& chapter) {
  chapter.step("From Adaline to deep learning: the lecture's timeline");
  chapter.say(
      "Adaline's rule trained one layer. Training several took the chain rule applied through "
      "the whole network, which this course has done since chapter 01; the lecture marks the "
      "milestones that made it work in practice:");
  chapter.table(
      {"year", "who", "what changed"},
      {{"1957", "Rosenblatt",
        "the perceptron, built as the Mark I machine (a 20×20 photocell "
        "camera) to recognise letters"},
       {"1960", "Widrow and Hoff", "Adaline / Madaline: the least-mean-squares rule above"},
       {"1986", "Rumelhart et al.",
        "back-propagation becomes popular: multi-layer nets trained by "
        "gradient descent, written as we write it today"},
       {"2006", "Hinton and Salakhutdinov",
        "unsupervised pre-training, one layer at a time, "
        "reinvigorates research in deep networks"},
       {"2010", "Dahl, Yu, Deng, Acero",
        "context-dependent pre-trained deep nets for large "
        "vocabulary speech recognition: the first strong results"},
       {"2012", "Krizhevsky, Sutskever, Hinton",
        "deep convolutional nets on ImageNet (with ReLU, "
        "dropout and GPUs)"}});
  chapter.say(
      "The algorithm of 1986 is the one this course runs. The later milestones changed how to "
      "start and keep training deep nets (initialisation, activations, normalisation: chapters 04 "
      "to 07) and how much data and computing there was.");
}

/// The chapter: a small centred Fashion-MNIST split for the networks, then the toy set for history.
void chapter_body(Chapter& chapter, const Settings& settings) {
  const std::string dir =
      chapter.options().data.empty() ? data::default_fashion_mnist_dir : chapter.options().data;
  data::Dataset all = data::load_fashion_mnist(dir, data::Split::train);
  const std::int64_t used = chapter.quick() ? 2400 : 6000;
  data::TrainValidation parts =
      data::split_train_validation(data::slice(all, 0, used), used / 6, chapter.options().seed);
  data::MeanImage centre;  // fitted on the training part only (chapter 05 says why)
  parts.train.images = centre.fit_apply(parts.train.images);
  parts.validation.images = centre.apply(parts.validation.images);
  architectures(chapter, parts.train);
  short_training(chapter, parts.train, parts.validation, settings);
  history(chapter);
  timeline(chapter);
  chapter.summary(
      "linear → 2-layer → 3-layer nets: shapes per layer and 7850 / 79510 / 89610 parameters; the "
      "perceptron rule "
      "converges on separable data within Novikoff's bound; Adaline's LMS rule is gradient descent "
      "on the squared "
      "error.");
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  return gradlab::tutorial::run_chapter(
      argc, argv,
      {3,
       "neural_networks",
       "Neural networks and a bit of history",
       {{"--hidden 10",
         "hidden layers of 10 units: the 2-layer net has 7,960 parameters, about as many as the "
         "linear model's 7,850, and squeezes every image through 10 numbers. Compare its accuracy "
         "with the linear model's in the table and in the sentence below it."},
        {"--hidden 400",
         "four times the units and about four times the parameters (318,010 for the 2-layer "
         "net). Does the accuracy move as much as the parameter count? The notice computes the "
         "gain over the linear model."},
        {"--epochs 4",
         "more training for all three models: watch whether the gap between the linear model and "
         "the deeper ones grows, as the notice reports it in percentage points."}}},
      [&settings](Chapter& chapter) { chapter_body(chapter, settings); },
      [&settings](CLI::App& app) {
        gradlab::cli::whole_number_in(
            app.add_option("--hidden", settings.hidden,
                           "Units per hidden layer of the short training's 2- and 3-layer nets "
                           "(4 to 1024)"),
            4, 1024)
            ->capture_default_str();
        gradlab::cli::whole_number_in(
            app.add_option("--epochs", settings.epochs,
                           "Epochs of the short training (1 to 20; default 2, 1 with --quick)"),
            1, 20);
      });
}
