// Chapter 04: activation functions. What each nonlinearity does to the numbers flowing forward,
// and — more important for training — to the gradients flowing back: saturation, outputs that
// are never negative, units that die, and the price of exp().
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "backends/backend.hpp"
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

/// One activation: its name and how to apply it to a column of inputs x [N, 1].
struct Activation {
  std::string name;
  std::function<Tensor(const Tensor&)> apply;
};

/// Maxout with two linear pieces of a scalar input: max(a₁x + c₁, a₂x + c₂), through the maxout op.
Tensor maxout_of_pieces(const Tensor& x, double a1, double c1, double a2, double c2) {
  Tensor slopes = from({a1, a2}, {1, 2}, {.dtype = x.dtype()});
  Tensor offsets = from({c1, c2}, {2}, {.dtype = x.dtype()});
  return maxout(matmul(x, slopes) + offsets, 2);
}

std::vector<Activation> activations() {
  return {
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }},
      {"ReLU", [](const Tensor& x) { return relu(x); }},
      {"Leaky ReLU max(0.1x, x)", [](const Tensor& x) { return leaky_relu(x, 0.1); }},
      {"PReLU (alpha 0.25)",
       [](const Tensor& x) { return prelu(x, full({1}, 0.25, {.dtype = x.dtype()})); }},
      {"ELU (alpha 1)", [](const Tensor& x) { return elu(x, 1.0); }},
      {"Maxout max(x, -0.3x - 0.5)",
       [](const Tensor& x) { return maxout_of_pieces(x, 1.0, 0.0, -0.3, -0.5); }},
  };
}

/// f(x) and f′(x) for every x: f′ comes from backprop (the sum's gradient is the elementwise
/// slope).
std::pair<std::vector<double>, std::vector<double>> value_and_slope(
    const Activation& activation, const std::vector<double>& points) {
  Tensor x = from(points, {static_cast<std::int64_t>(points.size()), 1}, {.requires_grad = true});
  Tensor y = activation.apply(x);
  y.sum().backward();
  return {y.to_vector(), x.grad().to_vector()};
}

void shapes_and_slopes(Chapter& chapter) {
  chapter.step("Seven activation functions and their slopes");
  chapter.say(
      "For each function we evaluate f on a grid from −6 to 6 and get its slope f′ by backprop "
      "(the gradient of Σ f(xᵢ) with respect to xᵢ is f′(xᵢ)). Leaky ReLU uses the lecture's "
      "slope 0.1; PReLU has a slope alpha that the network learns (here at its usual start, "
      "0.25); Maxout takes the larger of two linear functions of its input.");
  const int count = chapter.quick() ? 61 : 241;
  std::vector<double> grid(count);
  for (int i = 0; i < count; ++i) grid[i] = -6.0 + 12.0 * i / (count - 1);
  std::vector<Activation> all = activations();
  std::vector<std::vector<double>> columns;
  std::string header = "x";
  for (const Activation& activation : all) {
    auto [f, slope] = value_and_slope(activation, grid);
    columns.push_back(f);
    columns.push_back(slope);
    header += ",\"" + activation.name + "\",\"d/dx " + activation.name + "\"";
  }
  {
    std::ofstream csv(chapter.path("activations.csv"));
    csv << header << "\n";
    for (int i = 0; i < count; ++i) {
      csv << grid[i];
      for (const auto& column : columns) csv << "," << column[i];
      csv << "\n";
    }
  }
  chapter.picture(chapter.path("activations.csv"), "f and f′ of every activation on the grid");
  std::string script =
      "set terminal pngcairo size 1400,700 font ',10'\nset output 'activations.png'\nset datafile "
      "separator ','\n"
      "set multiplot layout 2,4 title 'Activation functions f (solid) and their slopes f′ "
      "(dashed)'\n"
      "set grid\nset xrange [-6:6]\nset key top left\n"
      "set xlabel 'input x (dimensionless)'\nset ylabel 'f(x) and f′(x) (dimensionless)'\n";
  for (std::size_t k = 0; k < all.size(); ++k) {
    script += fmt::format(
        "set title {}\nplot 'activations.csv' using 1:{} with lines lw 2 title 'f', '' using "
        "1:{} with lines lw 2 "
        "dt 2 title 'f′'\n",
        plots::gnuplot_string(all[k].name), 2 + 2 * k, 3 + 2 * k);
  }
  script += "unset multiplot\n";
  chapter.draw_with_gnuplot("activations", script,
                            "f and f′ of sigmoid, tanh, ReLU, Leaky ReLU, PReLU, ELU, Maxout");

  // Maxout with pieces x and 0.1x is exactly the Leaky ReLU: it generalises the rectifiers.
  Tensor x = from(grid, {count, 1});
  double gap = 0;
  std::vector<double> maxout_leaky = maxout_of_pieces(x, 1.0, 0.0, 0.1, 0.0).to_vector();
  std::vector<double> leaky = leaky_relu(x, 0.1).to_vector();
  for (int i = 0; i < count; ++i) gap = std::max(gap, std::abs(maxout_leaky[i] - leaky[i]));
  chapter.notice(
      "sigmoid and tanh flatten out at both ends, so their slopes vanish there; the "
      "rectifiers keep slope 1 for x > 0 however large x gets; ELU bends smoothly towards −1.");
  chapter.claim("Maxout with pieces x and 0.1x equals Leaky ReLU max(0.1x, x)", gap == 0.0,
                number(gap));
}

void saturation(Chapter& chapter) {
  chapter.step("What reaches x through each gate at x = −10, 0, 10");
  chapter.say(
      "Put a single activation gate in a graph, send an upstream gradient of 1 into its output, "
      "and look at what arrives at its input: that is f′(x). Where f′ is tiny, every gradient "
      "below this gate in the network is multiplied by that tiny number.");
  std::vector<double> points = {-10.0, 0.0, 10.0};
  std::vector<std::vector<std::string>> rows;
  std::map<std::string, std::vector<double>> slopes;
  for (const Activation& activation : activations()) {
    auto [f, slope] = value_and_slope(activation, points);
    slopes[activation.name] = slope;
    rows.push_back({activation.name, number(f[0], 4), number(slope[0], 4), number(f[1], 4),
                    number(slope[1], 4), number(f[2], 4), number(slope[2], 4)});
  }
  chapter.table({"gate", "f(−10)", "f′(−10)", "f(0)", "f′(0)", "f(10)", "f′(10)"}, rows);
  chapter.notice(
      "the sigmoid passes back less than 1e-4 of the gradient at ±10 and at most 0.25 anywhere; "
      "tanh "
      "is as bad at ±10. ReLU passes all of it for x > 0 and nothing for x < 0; Leaky ReLU keeps "
      "0.1 "
      "there. ELU saturates on the negative side too, but only there. (At exactly 0, ReLU's "
      "kink, gradlab uses the slope 0.)");
  const auto& s = slopes["sigmoid"];
  const auto& t = slopes["tanh"];
  const auto& r = slopes["ReLU"];
  const auto& l = slopes["Leaky ReLU max(0.1x, x)"];
  chapter.claim("sigmoid′(±10) < 1e-4", s[0] < 1e-4 && s[2] < 1e-4,
                fmt::format("{:.2e}, {:.2e}", s[0], s[2]));
  chapter.claim("sigmoid′(0) = 0.25 (its largest value)", std::abs(s[1] - 0.25) < 1e-7,
                number(s[1]));
  chapter.claim("tanh′(±10) < 1e-4", t[0] < 1e-4 && t[2] < 1e-4,
                fmt::format("{:.2e}, {:.2e}", t[0], t[2]));
  chapter.claim("relu′(−10) = 0 and relu′(10) = 1", r[0] == 0.0 && r[2] == 1.0,
                fmt::format("{:g}, {:g}", r[0], r[2]));
  chapter.claim("leaky′(−10) = 0.1", std::abs(l[0] - 0.1) < 1e-7, number(l[0]));
  // Why the table shows tanh′(10) as 0: the float32 nearest to tanh(10) is 1 itself.
  const double exact = 1.0 - std::tanh(10.0) * std::tanh(10.0);
  const float rounded = std::tanh(10.0f);
  chapter.say(fmt::format(
      "tanh′(10) is 1 − tanh²(10) = {:.2e} in double precision, but the table computes in float32, "
      "where tanh(10) = 0.9999999959 rounds to {} (float32 keeps about 7 significant digits), so "
      "1 − tanh² comes out as {}. A derivative that small is 0 for every practical purpose: no "
      "gradient gets through either way.",
      exact, rounded == 1.0f ? "exactly 1" : fmt::format("{:.9f}", rounded),
      1.0f - rounded * rounded));
}

void learned_slope(Chapter& chapter) {
  chapter.step("PReLU: the negative slope alpha is learned by backprop");
  chapter.say(
      "PReLU computes x for x > 0 and alpha · x otherwise, with alpha a parameter. Its local "
      "gradient with respect to alpha is x where x < 0 (and 0 elsewhere), so backprop hands alpha "
      "a gradient like any weight. We let a PReLU fit targets made with a negative slope of 0.6 "
      "(plus a little noise) and watch alpha move from its start at 0.25.");
  const std::int64_t n = chapter.quick() ? 128 : 1024;
  Tensor x = randn({n, 1});
  Tensor noise = randn({n, 1}) * 0.05;
  Tensor target = leaky_relu(x, 0.6) + noise;
  nn::PReLU layer(1);
  optim::SGD sgd(layer.parameters(), {.lr = 0.5});
  std::vector<std::vector<std::string>> rows;
  std::vector<double> path;
  double hand_vs_backprop = 0;
  const int steps = 25;
  for (int step = 0; step <= steps; ++step) {
    sgd.zero_grad();
    Tensor y = layer(x);
    Tensor loss = pow(y - target, 2).mean();
    loss.backward();
    double alpha = layer.weight.item(), gradient = layer.weight.grad().item();
    // The same gradient by hand: dL/dα = (2/N) Σ_{xᵢ<0} (yᵢ − tᵢ) · xᵢ.
    std::vector<double> xs = x.to_vector(), ys = y.to_vector(), ts = target.to_vector();
    double by_hand = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (xs[i] < 0) by_hand += 2.0 * (ys[i] - ts[i]) * xs[i] / double(n);
    }
    hand_vs_backprop = std::max(hand_vs_backprop, std::abs(by_hand - gradient));
    path.push_back(alpha);
    if (step <= 3 || step % 5 == 0) {
      rows.push_back({std::to_string(step), number(alpha), number(loss.item(), 5),
                      number(gradient, 5), number(by_hand, 5)});
    }
    if (step < steps) sgd.step();
  }
  chapter.table({"step", "alpha", "loss", "dL/dalpha (backprop)", "by hand"}, rows);
  bool monotone = true;
  for (std::size_t i = 1; i < path.size(); ++i)
    monotone = monotone && path[i] >= path[i - 1] - 1e-7;
  chapter.notice(
      "alpha climbs step by step towards the slope hidden in the data: a nonlinearity whose "
      "shape is learned, at the cost of one more parameter.");
  chapter.claim("backprop's dL/dalpha equals the hand formula", hand_vs_backprop < 1e-5,
                number(hand_vs_backprop));
  chapter.claim("alpha moves from 0.25 towards 0.6 and ends within 0.03 of it",
                monotone && std::abs(path.back() - 0.6) < 0.03,
                fmt::format("{:.4f} → {:.4f}", path.front(), path.back()));
}

/// One run of per-example SGD on f = w·x with loss ½(f − t)², from w = (0, 0) towards w*.
struct ZigZagRun {
  std::vector<std::pair<double, double>> path;  // w after each step
  int one_sign_updates = 0;                     // updates whose two components share a sign
  int updates = 0;
  int steps_to_target = -1;  // first step with ‖w − w*‖ < 0.05
};

ZigZagRun sgd_path(const Tensor& inputs, const Tensor& targets, const std::vector<double>& w_star,
                   int max_steps) {
  ZigZagRun run;
  Tensor w = zeros({2}, {.requires_grad = true});
  optim::SGD sgd({w}, {.lr = 0.5});
  const std::int64_t n = inputs.size(0);
  const std::vector<double> x = inputs.to_vector(), t = targets.to_vector();
  run.path.push_back({0.0, 0.0});
  for (int step = 0; step < max_steps; ++step) {
    std::size_t i = static_cast<std::size_t>(step % n);
    Tensor row = from({x[2 * i], x[2 * i + 1]}, {2});
    sgd.zero_grad();
    Tensor f = (w * row).sum();
    Tensor loss = pow(f - t[i], 2) * 0.5;
    loss.backward();
    double g0 = w.grad().at(0), g1 = w.grad().at(1);
    if (g0 != 0 || g1 != 0) {
      ++run.updates;
      if ((g0 >= 0) == (g1 >= 0)) ++run.one_sign_updates;
    }
    sgd.step();
    double w0 = w.at(0), w1 = w.at(1);
    run.path.push_back({w0, w1});
    if (run.steps_to_target < 0 && std::hypot(w0 - w_star[0], w1 - w_star[1]) < 0.05)
      run.steps_to_target = step + 1;
  }
  return run;
}

void zig_zag(Chapter& chapter) {
  chapter.step("Inputs that are all positive make all of w's gradients one sign");
  chapter.say(
      "A neuron f = Σᵢ wᵢxᵢ gets dL/dwᵢ = (dL/df) · xᵢ. If every xᵢ > 0 (e.g. the outputs of a "
      "sigmoid layer), every component of the gradient on w has the sign of dL/df: the update can "
      "only move all weights up together or all down together. To reach w* = (1, −1) from (0, 0) "
      "— one weight up, one down — the path must zig-zag. We train the same neuron with "
      "per-example "
      "SGD on inputs in (0, 1)², then on the same inputs centred to mean 0.");
  const std::int64_t n = 200;
  const std::vector<double> w_star = {1.0, -1.0};
  Tensor positive = rand({n, 2});
  Tensor centred = positive - positive.mean(0, true);
  Tensor w_star_tensor = from(w_star, {2, 1});
  Tensor positive_targets = matmul(positive, w_star_tensor).reshape({n});
  Tensor centred_targets = matmul(centred, w_star_tensor).reshape({n});
  const int steps = chapter.quick() ? 200 : 400;
  ZigZagRun uncentred = sgd_path(positive, positive_targets, w_star, steps);
  ZigZagRun zero_mean = sgd_path(centred, centred_targets, w_star, steps);

  auto path_length = [](const ZigZagRun& run) {
    double length = 0;
    for (std::size_t i = 1; i < run.path.size(); ++i) {
      length += std::hypot(run.path[i].first - run.path[i - 1].first,
                           run.path[i].second - run.path[i - 1].second);
    }
    return length;
  };
  auto steps_text = [&](const ZigZagRun& run) {
    return run.steps_to_target < 0 ? fmt::format("> {}", steps)
                                   : std::to_string(run.steps_to_target);
  };
  chapter.table(
      {"inputs", "updates with one-sign gradient", "steps to ‖w − w*‖ < 0.05",
       "path length (straight: 1.41)"},
      {{"all positive, in (0, 1)",
        fmt::format("{} of {}", uncentred.one_sign_updates, uncentred.updates),
        steps_text(uncentred), number(path_length(uncentred), 2)},
       {"centred (mean 0)", fmt::format("{} of {}", zero_mean.one_sign_updates, zero_mean.updates),
        steps_text(zero_mean), number(path_length(zero_mean), 2)}});
  {
    std::ofstream csv(chapter.path("zigzag.csv"));
    csv << "step,w0 positive inputs,w1 positive inputs,w0 centred inputs,w1 centred inputs\n";
    for (std::size_t i = 0; i < uncentred.path.size(); ++i) {
      csv << i << "," << uncentred.path[i].first << "," << uncentred.path[i].second << ","
          << zero_mean.path[i].first << "," << zero_mean.path[i].second << "\n";
    }
  }
  chapter.draw_with_gnuplot(
      "zigzag",
      "set terminal pngcairo size 800,700\nset output 'zigzag.png'\nset datafile separator ','\n"
      "set title 'SGD path of w from (0,0) to w* = (1,-1)'\nset xlabel 'w0 (weight value)'\n"
      "set ylabel 'w1 (weight value)'\nset "
      "grid\n"
      "set size ratio -1\nplot 'zigzag.csv' using 2:3 every ::0::80 with linespoints pt 7 ps 0.5 "
      "title "
      "'all-positive inputs', '' using 4:5 every ::0::80 with linespoints pt 7 ps 0.5 title "
      "'centred "
      "inputs', '-' with points pt 3 ps 3 lw 2 title 'w*'\n1,-1\ne\n",
      "the first 80 steps of w in both runs: zig-zag vs a direct path");
  chapter.notice(
      "with positive inputs every single update moves both weights the same way, so to go "
      "right and down at once the path zig-zags, travelling much further than needed. Centred "
      "inputs allow any direction — one reason to zero-centre data (chapter 05) and to prefer "
      "zero-centred activations like tanh.");
  chapter.claim("all-positive inputs: every gradient on w has one sign",
                uncentred.one_sign_updates == uncentred.updates && uncentred.updates > 0,
                fmt::format("{} of {}", uncentred.one_sign_updates, uncentred.updates));
  chapter.claim("centred inputs: many gradients have mixed signs",
                zero_mean.one_sign_updates < 0.8 * zero_mean.updates,
                fmt::format("{} of {} one-sign", zero_mean.one_sign_updates, zero_mean.updates));
  chapter.claim("the all-positive path zig-zags: clearly longer than the centred one",
                path_length(uncentred) > 1.3 * path_length(zero_mean),
                fmt::format("{:.2f} vs {:.2f}", path_length(uncentred), path_length(zero_mean)));
}

/// Units of a ReLU layer that are never positive over the whole batch.
struct DeadCount {
  std::int64_t dead = 0;
  double active_share = 0;                 // share of (example, unit) outputs > 0
  std::int64_t zero_gradient_columns = 0;  // units whose incoming weights got an all-zero gradient
  bool dead_iff_zero_gradient = true;
};

DeadCount count_dead(nn::Linear& layer, nn::Linear& head, const Tensor& images,
                     const Tensor& targets) {
  layer.weight.zero_grad();
  layer.bias.zero_grad();
  head.weight.zero_grad();
  head.bias.zero_grad();
  Tensor pre = layer(images);
  Tensor hidden = relu(pre);
  Tensor loss = cross_entropy(head(hidden), targets);
  loss.backward();
  const std::int64_t n = pre.size(0), units = pre.size(1);
  std::vector<double> values = pre.to_vector();
  std::vector<double> gradient = layer.weight.grad().to_vector();  // [784, units]
  const std::int64_t inputs = layer.weight.size(0);
  DeadCount count;
  std::int64_t active = 0;
  for (std::int64_t j = 0; j < units; ++j) {
    bool fires = false;
    for (std::int64_t i = 0; i < n; ++i) {
      if (values[i * units + j] > 0) {
        fires = true;
        ++active;
      }
    }
    bool zero_column = true;
    for (std::int64_t k = 0; k < inputs && zero_column; ++k)
      zero_column = gradient[k * units + j] == 0.0;
    count.dead += !fires;
    count.zero_gradient_columns += zero_column;
    count.dead_iff_zero_gradient = count.dead_iff_zero_gradient && (fires != zero_column);
  }
  count.active_share = double(active) / double(n * units);
  return count;
}

void dead_relus(Chapter& chapter) {
  chapter.step("Dead ReLUs, counted on real Fashion-MNIST images");
  chapter.say(
      "A ReLU unit whose weighted sum is negative for every input never outputs anything and, "
      "since ReLU's slope there is 0, never receives a gradient: it is dead and stays dead. We "
      "feed a batch of centred Fashion-MNIST images through a 784 → 200 ReLU layer (He "
      "initialisation, a 200 → 10 classifier on top) and count the units that fire for no image "
      "at all, for several starting biases.");
  const std::string dir =
      chapter.options().data.empty() ? data::default_fashion_mnist_dir : chapter.options().data;
  const std::int64_t n = chapter.quick() ? 256 : 2000;
  data::Dataset batch = data::slice(data::load_fashion_mnist(dir, data::Split::train), 0, n);
  data::MeanImage centre;
  Tensor images = centre.fit_apply(batch.images);
  chapter.say(
      fmt::format("Batch: {} images of {} pixels, mean image subtracted.", n, batch.features()));

  std::vector<std::vector<std::string>> rows;
  std::map<std::string, DeadCount> results;
  auto run = [&](const std::string& setting, double bias) {
    manual_seed(chapter.options().seed);
    nn::Linear layer(784, 200, nn::LinearOptions{.init = "he", .bias_init = bias});
    nn::Linear head(200, 10, "xavier_lecture");
    DeadCount count = count_dead(layer, head, images, batch.labels);
    results[setting] = count;
    rows.push_back({setting, fmt::format("{} of 200", count.dead),
                    number(100 * count.active_share, 1) + " %",
                    std::to_string(count.zero_gradient_columns)});
  };
  run("bias 0", 0.0);
  run("bias 0.01 (the lecture's trick)", 0.01);
  run("bias -1", -1.0);
  run("bias -2 (a bad start)", -2.0);
  chapter.table({"layer", "dead units", "outputs > 0", "units with zero weight gradient"}, rows);
  bool equivalence = true;
  for (const auto& [setting, count] : results)
    equivalence = equivalence && count.dead_iff_zero_gradient;
  chapter.notice(fmt::format(
      "a unit is dead exactly when its incoming weights get a zero gradient: nothing can revive "
      "it. "
      "With He initialisation no unit starts dead ({} with bias 0, {} with 0.01, which makes each "
      "unit "
      "fire slightly more often); a negative bias kills them ({} at −1, {} at −2). In training, an "
      "oversized update that pushes a unit's bias far down does the same, and the unit never comes "
      "back.",
      results["bias 0"].dead, results["bias 0.01 (the lecture's trick)"].dead,
      results["bias -1"].dead, results["bias -2 (a bad start)"].dead));
  chapter.claim("dead units are exactly the units whose weights get no gradient", equivalence,
                equivalence ? "all settings" : "mismatch");
  chapter.claim("He init with bias 0.01: at most 1% of the units dead",
                results["bias 0.01 (the lecture's trick)"].dead <= 2,
                fmt::format("{} of 200", results["bias 0.01 (the lecture's trick)"].dead));
  chapter.claim("bias −2: most units dead", results["bias -2 (a bad start)"].dead > 100,
                fmt::format("{} of 200", results["bias -2 (a bad start)"].dead));
}

/// A race: the same net with sigmoid, tanh and ReLU, trained until it reaches a target
/// validation accuracy. Returns a one-line summary of the measured speed-ups.
std::string race(Chapter& chapter, double lr, double target_flag) {
  chapter.step("A race: how fast does each activation learn?");
  const std::int64_t train_size = chapter.quick() ? 2000 : 12000, val_size = 1000;
  const double target = target_flag > 0 ? target_flag : (chapter.quick() ? 0.75 : 0.80);
  const std::int64_t max_iterations = chapter.quick() ? 600 : 6000, check_every = 10;
  chapter.say(fmt::format(
      "Krizhevsky et al. (2012) measured that a four-layer convolutional net with ReLUs reached "
      "25 % training error on CIFAR-10 six times faster than the same net with tanh; the lecture "
      "quotes that factor. Here the same 784 → 100 → 100 → 10 net (He initialisation for ReLU, "
      "Xavier for the others), the same batches of 64 and the same SGD (lr {:g}, momentum 0.9) "
      "run with each activation until the validation accuracy on {} images reaches {:.0f} % "
      "(checked every {} iterations, at most {}).",
      lr, val_size, 100 * target, check_every, max_iterations));
  data::TrainValidation parts = chapter.centred_fashion_mnist(train_size, val_size);
  struct Result {
    std::string name;
    std::int64_t iterations = -1;  // -1: the target was not reached
    double seconds = 0, accuracy = 0;
  };
  std::vector<Result> results;
  for (const std::string activation : {"relu", "tanh", "sigmoid"}) {
    manual_seed(chapter.options().seed);
    nn::Sequential net =
        nn::MLP({784, 100, 100, 10},
                {.activation = activation, .init = activation == "relu" ? "he" : "xavier"});
    optim::SGD sgd(net.parameters(), {.lr = lr, .momentum = 0.9});
    nn::CrossEntropyLoss criterion;
    Result result{activation};
    const auto start = std::chrono::steady_clock::now();
    std::int64_t iteration = 0;
    for (std::uint64_t epoch = 0; iteration < max_iterations && result.iterations < 0; ++epoch) {
      for (const data::Batch& batch :
           data::BatchIterator(parts.train, 64, chapter.options().seed + epoch)) {
        sgd.zero_grad();
        criterion(net(batch.images), batch.labels).backward();
        sgd.step();
        if (++iteration % check_every == 0) {
          NoGradGuard no_graph;
          result.accuracy = nn::accuracy(net(parts.validation.images), parts.validation.labels);
          if (result.accuracy >= target) {
            result.iterations = iteration;
            break;
          }
        }
        if (iteration >= max_iterations) break;
      }
    }
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    results.push_back(result);
  }
  std::vector<std::vector<std::string>> rows;
  for (const Result& r : results) {
    rows.push_back({r.name,
                    r.iterations > 0 ? std::to_string(r.iterations)
                                     : fmt::format("not within {}", max_iterations),
                    number(r.seconds, 2), number(r.accuracy, 3)});
  }
  chapter.table({"activation", fmt::format("iterations to {:.0f} %", 100 * target), "seconds",
                 "val acc at the end"},
                rows);
  // Iterations relative to ReLU's: "tanh 1.0 ×", or "> 10.0 ×" when the target was not reached.
  const Result& relu_run = results[0];
  std::string summary;
  if (relu_run.iterations < 0) {
    summary = fmt::format("ReLU did not reach {:.0f} % within {} iterations in this run",
                          100 * target, max_iterations);
  } else {
    std::string measured;
    for (std::size_t k = 1; k < results.size(); ++k) {
      const Result& other = results[k];
      measured += fmt::format(
          "{}{} {} × ReLU's", measured.empty() ? "" : ", ", other.name,
          other.iterations > 0
              ? fmt::format("{:.1f}", double(other.iterations) / double(relu_run.iterations))
              : fmt::format("> {:.1f}", double(max_iterations) / double(relu_run.iterations)));
    }
    summary = fmt::format(
        "iterations to {:.0f} % validation accuracy: {} (ReLU {}); the lecture's 6× is tanh "
        "against ReLU on a deeper convolutional net{}",
        100 * target, measured, relu_run.iterations,
        results[1].iterations > 0 && results[1].iterations < 6 * relu_run.iterations
            ? ", and this small net shows less of the difference"
            : "");
  }
  chapter.notice(summary + ".");
  chapter.say(
      "What the lecture advises, in short: use ReLU, and be careful with the learning rate "
      "(chapter 08 shows what too high does to it). Try Leaky ReLU, Maxout or ELU when ReLUs die "
      "(step 5 above). Try tanh, but expect less from it. Do not use sigmoid in hidden layers: it "
      "saturates, and its outputs are never centred on zero (step 4).");
  return summary;
}

/// Times relu, exp, sigmoid, tanh and ELU on every backend; returns what it measured, one
/// sentence per backend: "reference: exp takes 1.1× relu's time".
std::string exp_cost(Chapter& chapter) {
  chapter.step("The cost of exp(), timed on every backend");
  chapter.say(
      "Sigmoid, tanh and ELU need an exponential per element; ReLU needs one comparison. We time "
      "each op on one big float32 tensor (forward only, no graph), taking the median of several "
      "runs, on every backend this build has.");
  const std::int64_t elements = chapter.quick() ? (1 << 18) : (1 << 22);
  const int repeats = chapter.quick() ? 5 : 9;
  std::vector<std::string> backends = available_backends();
  std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> ops = {
      {"relu  max(0, x)", [](const Tensor& x) { return relu(x); }},
      {"exp", [](const Tensor& x) { return exp(x); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }},
      {"elu", [](const Tensor& x) { return elu(x, 1.0); }},
  };
  std::vector<std::vector<std::string>> rows(ops.size());
  std::string ratios;  // per backend: exp's time over relu's
  std::vector<std::string> header = {fmt::format("op on {} elements", elements)};
  for (std::size_t k = 0; k < ops.size(); ++k) rows[k].push_back(ops[k].first);
  for (const std::string& name : backends) {
    BackendGuard guard(name);
    header.push_back(name + " (ms)");
    NoGradGuard no_graph;
    Tensor x = randn({elements});
    std::vector<double> medians(ops.size());
    for (std::size_t k = 0; k < ops.size(); ++k) {
      ops[k].second(x);  // warm-up (oneDNN builds and caches its primitive here)
      std::vector<double> times;
      for (int r = 0; r < repeats; ++r) {
        auto start = std::chrono::steady_clock::now();
        Tensor y = ops[k].second(x);
        times.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
      }
      std::nth_element(times.begin(), times.begin() + repeats / 2, times.end());
      medians[k] = times[repeats / 2];
      rows[k].push_back(number(medians[k], 3));
    }
    ratios += fmt::format("{}{}: exp takes {:.1f}× relu's time", ratios.empty() ? "" : "; ", name,
                          medians[1] / medians[0]);
  }
  chapter.table(header, rows);
  chapter.notice("measured here: " + ratios +
                 ". An exponential costs more arithmetic than a comparison, but on a big tensor "
                 "both ops mostly wait for memory, which can hide the difference entirely (a busy "
                 "machine blurs it further). In a whole network the matrix products dominate "
                 "anyway: ReLU's bigger advantage is that it does not saturate.");
  return ratios;
}

}  // namespace

int main(int argc, char** argv) {
  double race_lr = 0.01;
  double race_target = 0;  // 0: the chapter's default
  return gradlab::tutorial::run_chapter(
      argc, argv,
      {4,
       "activation_functions",
       "Activation functions",
       {{"--lr 0.1",
         "the race with ten times the learning rate: see whether every activation still reaches "
         "the target and how the iteration counts relative to ReLU's change; the sentence under "
         "the race table is computed from them."},
        {"--lr 0.001",
         "a tenth of the learning rate: the slow learners may not reach the target within the "
         "iteration limit at all (the table then says 'not within'), so the race shows a lower "
         "bound on the gap."},
        {"--target 0.6",
         "an easier target: ReLU and tanh reach it within a few dozen iterations. Does sigmoid "
         "catch up? Compare its multiple of ReLU's iterations with the default run's: its "
         "outputs are never centred on zero, which slows even the first steps."}}},
      [&race_lr, &race_target](Chapter& chapter) {
        shapes_and_slopes(chapter);
        saturation(chapter);
        learned_slope(chapter);
        zig_zag(chapter);
        dead_relus(chapter);
        const std::string race_summary = race(chapter, race_lr, race_target);
        const std::string exp_ratios = exp_cost(chapter);
        chapter.summary(
            "sigmoid/tanh slopes vanish at ±10 (σ′ < 1e-4), ReLU's is 0 below 0; PReLU learns its "
            "slope; all-positive inputs force one-sign gradients (zig-zag); dead ReLUs get no "
            "gradient; " +
            race_summary + "; measured cost of exp() against max(0, x): " + exp_ratios);
      },
      [&race_lr, &race_target](CLI::App& app) {
        app.add_option("--lr", race_lr, "Learning rate of the race's SGD (in (0, 1])")
            ->check(
                gradlab::cli::number_check("in (0, 1]", [](double v) { return v > 0 && v <= 1; }))
            ->capture_default_str();
        app.add_option("--target", race_target,
                       "Validation accuracy the race runs to (in [0.2, 0.9]; default 0.80, 0.75 "
                       "with --quick)")
            ->check(gradlab::cli::number_check("in [0.2, 0.9]",
                                               [](double v) { return v >= 0.2 && v <= 0.9; }));
      });
}
