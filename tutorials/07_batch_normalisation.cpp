// Chapter 07: batch normalisation.
//
// Chapter 06 showed that a deep net only works when every layer's activations keep a sensible
// spread, and that the initialisation has to be chosen with care for that. Batch normalisation
// takes the direct route: measure the spread on the current mini-batch and divide it out. We
// write it by hand (forward and backward), gradcheck it, check the library's version gives the
// same numbers, then look at what it does inside a net, at its two modes, and at how it rescues
// the initialisation that failed in chapter 06 — on a small experiment and on Fashion-MNIST.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "autograd/function.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "backends/backend.hpp"
#include "modules/data/data.hpp"
#include "modules/nn/nn.hpp"
#include "modules/optim/optim.hpp"
#include "modules/train/plots.hpp"
#include "modules/app/cli_flags.hpp"
#include "tutorial.hpp"

using namespace gradlab;
using gradlab::tutorial::Chapter;
using gradlab::tutorial::number;

namespace {

constexpr double kEps = 1e-5;  // added to the variance before the square root

/// Batch normalisation written by hand as a custom op, for x [N, C], γ [C], β [C]:
///   forward:  μ = mean_n x,  σ² = mean_n (x − μ)²  (biased),  x̂ = (x − μ)/√(σ² + eps),
///             y = γ ⊙ x̂ + β
///   backward: dβ = Σ_n dy,  dγ = Σ_n dy ⊙ x̂,
///             dx = γ/√(σ² + eps) ⊙ (dy − dβ/N − x̂ ⊙ dγ/N)
/// The dx line is the chain rule through μ and σ² collected into one expression: the two
/// subtracted terms are the gradient that reaches x through the batch mean and through the
/// batch variance, because every example's output depends on every other example in the batch.
struct BatchNormByHand : Function<BatchNormByHand> {
  static constexpr const char* name = "batch_norm_by_hand";

  static Tensor forward(FunctionContext& ctx, const Tensor& x, const Tensor& gamma,
                        const Tensor& beta) {
    Tensor mu = mean(x, 0);                        // [C]
    Tensor centred = x - mu;                       // [N, C], μ broadcast over the rows
    Tensor variance = mean(centred * centred, 0);  // [C], divides by N (biased)
    Tensor inv_std = 1.0 / sqrt(variance + kEps);  // [C]
    Tensor normalised = centred * inv_std;         // x̂: each column has mean 0, variance ≈ 1
    ctx.save_for_backward({normalised, gamma, inv_std});
    return normalised * gamma + beta;
  }

  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& dy) {
    const Tensor& normalised = ctx.saved(0);
    const Tensor& gamma = ctx.saved(1);
    const Tensor& inv_std = ctx.saved(2);
    const double rows = double(dy.size(0));
    Tensor dbeta = sum(dy, 0);
    Tensor dgamma = sum(dy * normalised, 0);
    Tensor dx = gamma * inv_std * (dy - dbeta / rows - normalised * dgamma / rows);
    return {dx, dgamma, dbeta};
  }
};

struct ColumnStats {
  std::vector<double> mean, std;
};

/// Per-column mean and (biased) standard deviation of a [N, C] tensor.
ColumnStats column_stats(const Tensor& x) {
  const std::vector<double> v = x.to_vector();
  const std::int64_t rows = x.size(0), cols = x.size(1);
  ColumnStats s{std::vector<double>(cols, 0.0), std::vector<double>(cols, 0.0)};
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) s.mean[c] += v[r * cols + c] / double(rows);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      s.std[c] += std::pow(v[r * cols + c] - s.mean[c], 2) / double(rows);
  for (double& value : s.std) value = std::sqrt(value);
  return s;
}

/// Mean, std and the fraction with |v| > 0.9 of all elements.
struct Spread {
  double mean = 0, std = 0, saturated = 0;
};

Spread spread_of(const std::vector<double>& values) {
  Spread s;
  for (double v : values) s.mean += v / double(values.size());
  for (double v : values) {
    s.std += (v - s.mean) * (v - s.mean) / double(values.size());
    if (std::abs(v) > 0.9) s.saturated += 1.0 / double(values.size());
  }
  s.std = std::sqrt(s.std);
  return s;
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

/// Copies the values of `source` into the parameter `target` (same shape, float32).
void assign(Tensor& target, const Tensor& source) {
  NoGradGuard no_grad;
  const std::vector<double> values = source.to_vector();
  std::transform(values.begin(), values.end(), target.data<float>(),
                 [](double v) { return float(v); });
}

// --- step 1–2: by hand, gradchecked, equal to the library ---------------------------------------

void by_hand_step(Chapter& chapter) {
  chapter.step("Batch normalisation by hand");
  chapter.say(
      "Take a mini-batch of activations x with N rows (examples) and C columns (features). For "
      "each "
      "column separately we compute the batch mean μ and the biased variance σ² (divide by N), "
      "normalise x̂ = (x − μ) / √(σ² + eps) so that the column has mean 0 and variance 1, and then "
      "let the net choose its own scale and offset again: y = γ ⊙ x̂ + β, with learnable γ and β. "
      "We write it as a custom op with a hand-derived backward "
      "(tutorials/07_batch_normalisation.cpp, "
      "struct BatchNormByHand).");
  const std::int64_t rows = 8, cols = 4;
  Tensor x = randn({rows, cols}) * 2.0 + 3.0;  // features far from mean 0, variance 1
  Tensor gamma = from({1.0, 2.0, 0.5, 1.5});
  Tensor beta = from({0.0, -1.0, 0.5, 2.0});
  Tensor y = BatchNormByHand::apply(x, gamma, beta);
  const ColumnStats before = column_stats(x);
  Tensor plain = BatchNormByHand::apply(x, ones({cols}), zeros({cols}));
  const ColumnStats normalised = column_stats(plain);
  const ColumnStats after = column_stats(y);
  std::vector<std::vector<std::string>> rows_out;
  for (std::int64_t c = 0; c < cols; ++c) {
    rows_out.push_back({fmt::format("feature {}", c), number(before.mean[c]), number(before.std[c]),
                        number(normalised.mean[c]), number(normalised.std[c]),
                        number(gamma.at(c), 2), number(beta.at(c), 2), number(after.mean[c]),
                        number(after.std[c])});
  }
  chapter.table({"column", "mean x", "std x", "mean x̂", "std x̂", "γ", "β", "mean y", "std y"},
                rows_out);
  chapter.notice(
      "after normalising, every column has mean 0 and std 1 whatever it had before; then y has "
      "exactly mean β and std γ (up to eps): γ and β are the only things that decide the output's "
      "scale.");

  chapter.step("Gradcheck the hand-written backward");
  chapter.say(
      "A backward derived by hand is a likely place for a mistake, so we compare it with central "
      "differences in float64 (autograd/gradcheck.hpp), on a fresh batch of 6 × 5.");
  BackendGuard reference("reference");  // float64 lives on the reference backend only
  TensorOptions f64{.dtype = DType::float64, .requires_grad = true};
  Tensor x64 = (randn({6, 5}, {.dtype = DType::float64}) * 1.5 + 0.7).detach().requires_grad_(true);
  Tensor gamma64 = (rand({5}, {.dtype = DType::float64}) + 0.5).detach().requires_grad_(true);
  Tensor beta64 = randn({5}, f64);
  GradcheckOptions check_options;
  check_options.name = "batch_norm_by_hand";
  check_options.input_names = {"x", "gamma", "beta"};
  GradcheckResult check = gradcheck(
      [](const std::vector<Tensor>& in) { return BatchNormByHand::apply(in[0], in[1], in[2]); },
      {x64, gamma64, beta64}, check_options);
  std::cout << check.report();
  double worst = 0;
  for (const auto& input : check.inputs) worst = std::max(worst, input.max_relative_error);
  chapter.claim("the hand-written batch-norm backward passes gradcheck (relative error ≤ 1e-7)",
                check.passed && worst <= 1e-7, fmt::format("max relative error {}", number(worst)));
}

void library_step(Chapter& chapter) {
  const std::int64_t rows = 8, cols = 4;
  Tensor x = randn({rows, cols}) * 2.0 + 3.0;
  Tensor gamma = from({1.0, 2.0, 0.5, 1.5});
  Tensor beta = from({0.0, -1.0, 0.5, 2.0});

  chapter.step("The library's batch_norm gives the same numbers");
  chapter.say(fmt::format(
      "gradlab::batch_norm (autograd/ops.hpp) runs the active backend's fused kernels ({}), and "
      "nn::BatchNorm1d wraps it as a layer. Same batch, same γ and β, same upstream gradient:",
      backend().name()));
  x.requires_grad_(true);
  gamma.requires_grad_(true);
  beta.requires_grad_(true);
  Tensor upstream = randn({rows, cols});
  Tensor hand = BatchNormByHand::apply(x, gamma, beta);
  hand.backward(upstream);
  Tensor hand_dx = x.grad().clone(), hand_dgamma = gamma.grad().clone(),
         hand_dbeta = beta.grad().clone();
  x.zero_grad();
  gamma.zero_grad();
  beta.zero_grad();
  Tensor library = batch_norm(x, gamma, beta, Tensor(), Tensor(), /*training=*/true);
  library.backward(upstream);
  nn::BatchNorm1d layer(cols);
  assign(layer.weight, gamma);
  assign(layer.bias, beta);
  Tensor from_layer = layer(x.detach());
  const double dy = max_abs_difference(hand, library), dl = max_abs_difference(hand, from_layer);
  const double ddx = max_abs_difference(hand_dx, x.grad()),
               ddg = max_abs_difference(hand_dgamma, gamma.grad()),
               ddb = max_abs_difference(hand_dbeta, beta.grad());
  chapter.table({"quantity", "max |by hand − library|"}, {{"y = batch_norm(x)", number(dy)},
                                                          {"y = nn::BatchNorm1d(x)", number(dl)},
                                                          {"dL/dx", number(ddx)},
                                                          {"dL/dγ", number(ddg)},
                                                          {"dL/dβ", number(ddb)}});
  const double largest = std::max({dy, dl, ddx, ddg, ddb});
  chapter.claim("by hand and library agree to float32 rounding (< 1e-4)", largest < 1e-4,
                fmt::format("largest difference {}", number(largest)));
  chapter.notice("nothing in the library's batch norm is magic: it is these few lines, fused.");

  chapter.step("γ and β can undo the normalisation");
  chapter.say(
      "Normalising is not always what a layer wants; tanh, for example, might prefer a narrower "
      "input. Because γ and β are learned, the net can undo batch norm entirely: with "
      "γ = √(σ² + eps) and β = μ, the output is the input again.");
  Tensor xd = x.detach();
  Tensor mu = mean(xd, 0);
  Tensor variance = mean((xd - mu) * (xd - mu), 0);
  Tensor identity = batch_norm(xd, sqrt(variance + kEps), mu, Tensor(), Tensor(), true);
  const double identity_error = max_abs_difference(identity, xd);
  chapter.table(
      {"", "feature 0", "feature 1", "feature 2", "feature 3"},
      {{"γ = √(σ² + eps)", number(sqrt(variance + kEps).at(0)), number(sqrt(variance + kEps).at(1)),
        number(sqrt(variance + kEps).at(2)), number(sqrt(variance + kEps).at(3))},
       {"β = μ", number(mu.at(0)), number(mu.at(1)), number(mu.at(2)), number(mu.at(3))},
       {"x (row 0)", number(xd.at(0)), number(xd.at(1)), number(xd.at(2)), number(xd.at(3))},
       {"y (row 0)", number(identity.at(0)), number(identity.at(1)), number(identity.at(2)),
        number(identity.at(3))}});
  chapter.claim("with γ = √(σ² + eps), β = μ batch norm is the identity", identity_error < 1e-5,
                fmt::format("max |y − x| = {}", number(identity_error)));
}

// --- step 5: FC → BN → tanh ----------------------------------------------------------------------

void layer_step(Chapter& chapter) {
  chapter.step("FC → BN → tanh");
  chapter.say(
      "Batch norm goes between a fully connected layer and its nonlinearity. We give the FC layer "
      "badly scaled weights (std 1.0 on 200 inputs, so its outputs have a std of about 14) and "
      "look at what reaches tanh with and without batch norm in between.");
  const std::int64_t rows = 256, inputs = 200, units = 100;
  nn::Sequential block(nn::Linear(inputs, units), nn::BatchNorm1d(units), nn::Tanh());
  nn::init::normal_(block.at<nn::Linear>(0).weight, 1.0);
  Tensor x = randn({rows, inputs});
  NoGradGuard no_grad;
  Tensor pre = block[0](x);
  Tensor normalised = block[1](pre);
  Tensor with_bn = block[2](normalised);
  Tensor without_bn = tanh(pre);
  std::vector<std::vector<std::string>> table_rows;
  auto add = [&](const std::string& what, const Tensor& t) {
    Spread s = spread_of(t.to_vector());
    table_rows.push_back(
        {what, number(s.mean), number(s.std), fmt::format("{:.1f}%", 100 * s.saturated)});
    return s;
  };
  add("FC output", pre);
  add("tanh(FC)            (no BN)", without_bn);
  add("BN(FC output)", normalised);
  Spread good = add("tanh(BN(FC))", with_bn);
  Spread bad = spread_of(without_bn.to_vector());
  chapter.table({"stage", "mean", "std", "|v| > 0.9"}, table_rows);
  chapter.notice(
      "without batch norm most tanh outputs sit at ±1 where its slope is nearly 0; with it the "
      "pre-activations are unit Gaussian and only the tails (|z| > 1.5, about 14%) saturate.");
  chapter.claim("BN before tanh cuts the saturated fraction at least in half",
                good.saturated < 0.5 * bad.saturated,
                fmt::format("{:.1f}% without BN, {:.1f}% with BN", 100 * bad.saturated,
                            100 * good.saturated));
  std::cout << "\n" << block.to_string();
}

// --- step 6: train mode vs eval mode -------------------------------------------------------------

void modes_step(Chapter& chapter) {
  chapter.step("Training mode and test mode");
  chapter.say(
      "In training mode, batch norm uses the statistics of the current batch, so one example's "
      "output depends on which other examples share its batch. At test time we want one answer per "
      "example, so the layer keeps running averages of the batch statistics while it trains, "
      "running ← 0.9 · running + 0.1 · batch value (gradlab's momentum 0.1 is the weight of the "
      "new "
      "batch, as in PyTorch), and uses those in eval mode. We train-mode 200 batches of 32 "
      "examples drawn from a distribution with mean 5 and std 3 per feature.");
  const std::int64_t features = 3, batch = 32;
  nn::BatchNorm1d layer(features);
  for (int i = 0; i < 200; ++i) {
    NoGradGuard no_grad;
    layer(randn({batch, features}) * 3.0 + 5.0);
  }
  chapter.table({"", "feature 0", "feature 1", "feature 2", "true value"},
                {{"running_mean", number(layer.running_mean.at(0)),
                  number(layer.running_mean.at(1)), number(layer.running_mean.at(2)), "5"},
                 {"running_var", number(layer.running_var.at(0)), number(layer.running_var.at(1)),
                  number(layer.running_var.at(2)), "9"}});
  double mean_error = 0;
  for (int c = 0; c < features; ++c)
    mean_error = std::max(mean_error, std::abs(layer.running_mean.at(c) - 5.0));
  chapter.claim("the running mean has learned the data's mean (within 0.5)", mean_error < 0.5,
                fmt::format("max |running_mean − 5| = {}", number(mean_error)));

  chapter.say("Now one example x₀ = [5, 8, 2], placed first in two different batches:");
  Tensor example = from({5.0, 8.0, 2.0}, {1, features});
  auto batch_with_example = [&]() {
    Tensor others = randn({batch - 1, features}) * 3.0 + 5.0;
    std::vector<double> values = example.to_vector();
    for (double v : others.to_vector()) values.push_back(v);
    return from(values, {batch, features});
  };
  Tensor batch_a = batch_with_example(), batch_b = batch_with_example();
  NoGradGuard no_grad;
  Tensor train_a = layer(batch_a), train_b = layer(batch_b);
  layer.eval();
  Tensor eval_a = layer(batch_a), eval_b = layer(batch_b), eval_alone = layer(example);
  std::vector<double> by_formula;
  for (int c = 0; c < features; ++c)
    by_formula.push_back(layer.weight.at(c) * (example.at(c) - layer.running_mean.at(c)) /
                             std::sqrt(layer.running_var.at(c) + kEps) +
                         layer.bias.at(c));
  auto row = [&](const std::string& what, const Tensor& t) {
    return std::vector<std::string>{what, number(t.at(0)), number(t.at(1)), number(t.at(2))};
  };
  chapter.table({"output for x₀", "feature 0", "feature 1", "feature 2"},
                {row("train mode, batch A", train_a),
                 row("train mode, batch B", train_b),
                 row("eval mode, batch A", eval_a),
                 row("eval mode, batch B", eval_b),
                 row("eval mode, x₀ alone", eval_alone),
                 {"γ(x₀ − running_mean)/√(running_var + eps) + β", number(by_formula[0]),
                  number(by_formula[1]), number(by_formula[2])}});
  double train_gap = 0, eval_gap = 0, formula_gap = 0;
  for (int c = 0; c < features; ++c) {
    train_gap = std::max(train_gap, std::abs(train_a.at(c) - train_b.at(c)));
    eval_gap = std::max({eval_gap, std::abs(eval_a.at(c) - eval_b.at(c)),
                         std::abs(eval_a.at(c) - eval_alone.at(c))});
    formula_gap = std::max(formula_gap, std::abs(eval_alone.at(c) - by_formula[c]));
  }
  chapter.notice(
      "in training mode x₀'s output moves with its batch-mates; in eval mode it is the same number "
      "in any batch, and even alone (training mode refuses a batch of one: a single example has no "
      "variance). Forgetting net.eval() before testing is a classic bug.");
  chapter.claim("train mode: x₀'s output depends on the batch", train_gap > 1e-3,
                fmt::format("max difference between batches {}", number(train_gap)));
  chapter.claim("eval mode: x₀'s output is the same in every batch and uses the running averages",
                eval_gap < 1e-6 && formula_gap < 1e-5,
                fmt::format("difference between batches {}, from the formula {}", number(eval_gap),
                            number(formula_gap)));
}

// --- step 7: rescuing chapter 06's bad initialisation -----------------------------------------

struct DeepStats {
  std::vector<Spread> layers;
  std::vector<plots::LayerActivations> activations;
};

DeepStats deep_activations(bool with_bn, const Tensor& input, std::int64_t width,
                           std::uint64_t seed) {
  manual_seed(seed);  // the same weights with and without BN
  std::vector<std::int64_t> dims(11, width);
  dims.push_back(10);
  nn::Sequential net =
      nn::MLP(dims, {.activation = "tanh", .batchnorm = with_bn, .init = "normal"});
  DeepStats stats;
  stats.activations = plots::collect_activations(net, input);
  for (const auto& layer : stats.activations) {
    stats.layers.push_back(
        spread_of(std::vector<double>(layer.values.begin(), layer.values.end())));
  }
  return stats;
}

void rescue_step(Chapter& chapter) {
  const std::int64_t examples = chapter.quick() ? 200 : 1000;
  const std::int64_t width = chapter.quick() ? 100 : 500;
  chapter.step("Batch norm rescues chapter 06's bad initialisation");
  chapter.say(fmt::format(
      "Chapter 06's failing case again: 10 tanh layers of {} units, weights N(0, 0.01²) "
      "(nn::init::normal_), {} unit-Gaussian examples. Once as before, once as FC → BN → tanh in "
      "every layer, with the very same weights.",
      width, examples));
  Tensor input = randn({examples, width});
  const std::uint64_t seed = chapter.options().seed + 7;
  DeepStats plain = deep_activations(false, input, width, seed);
  DeepStats normalised = deep_activations(true, input, width, seed);
  std::vector<std::vector<std::string>> rows;
  for (std::size_t layer = 0; layer < plain.layers.size(); ++layer) {
    rows.push_back({fmt::format("{}", layer + 1), number(plain.layers[layer].std),
                    number(normalised.layers[layer].mean), number(normalised.layers[layer].std),
                    fmt::format("{:.1f}%", 100 * normalised.layers[layer].saturated)});
  }
  chapter.table({"layer", "std without BN", "mean with BN", "std with BN", "|h| > 0.9 with BN"},
                rows);
  const std::string png = chapter.path("activations_normal_0.01_with_bn.png");
  plots::PlotResult plot = plots::activation_histograms(normalised.activations, png, 40);
  chapter.picture(png, "histograms of the 10 tanh layers with std-0.01 weights and batch norm");
  if (!plot.drawn) chapter.say(plot.note);
  const std::string png_plain = chapter.path("activations_normal_0.01_without_bn.png");
  plot = plots::activation_histograms(plain.activations, png_plain, 40);
  chapter.picture(png_plain, "the same net without batch norm (chapter 06's collapse)");
  chapter.notice(
      "without batch norm the std dies away layer by layer as in chapter 06; with it every layer "
      "gets unit-Gaussian pre-activations, whatever the scale of the weights, and the tanh outputs "
      "keep a std of about 0.6 down to the last layer.");
  const double first = normalised.layers.front().std, last = normalised.layers.back().std;
  chapter.claim("with BN the last layer's std stays within 10× of the first's (std-0.01 weights)",
                last > first / 10 && last < first * 10,
                fmt::format("with BN {} → {}; without BN {} → {}", number(first), number(last),
                            number(plain.layers.front().std), number(plain.layers.back().std)));
}

// --- step 8: training on Fashion-MNIST -----------------------------------------------------------

struct TrainingRun {
  std::vector<double> loss;
  double test_accuracy = 0;
  double seconds = 0;
};

TrainingRun train_deep_net(bool with_bn, const data::Dataset& train, const Tensor& test_images,
                           const Tensor& test_labels, std::int64_t width, std::int64_t depth,
                           std::int64_t iterations, std::uint64_t seed) {
  manual_seed(seed);
  std::vector<std::int64_t> dims{train.features()};
  for (std::int64_t i = 0; i < depth; ++i) dims.push_back(width);
  dims.push_back(10);
  nn::Sequential net =
      nn::MLP(dims, {.activation = "tanh", .batchnorm = with_bn, .init = "normal"});
  optim::SGD optimizer(net.parameters(), {.lr = 0.02, .momentum = 0.9});
  nn::CrossEntropyLoss criterion;
  TrainingRun run;
  const std::int64_t batch_size = 128;
  std::int64_t epoch = 0;
  while (std::int64_t(run.loss.size()) < iterations) {
    for (const data::Batch& batch :
         data::BatchIterator(train, batch_size, seed + 1000 + epoch, true)) {
      if (std::int64_t(run.loss.size()) >= iterations) break;
      optimizer.zero_grad();
      Tensor loss = criterion(net(batch.images), batch.labels);
      loss.backward();
      optimizer.step();
      run.loss.push_back(loss.item());
    }
    ++epoch;
  }
  net.eval();
  NoGradGuard no_grad;
  run.test_accuracy = nn::accuracy(net(test_images), test_labels);
  return run;
}

double average(const std::vector<double>& values, std::size_t begin, std::size_t end) {
  double total = 0;
  for (std::size_t i = begin; i < end; ++i) total += values[i];
  return total / double(end - begin);
}

void training_step(Chapter& chapter) {
  const bool quick = chapter.quick();
  const std::int64_t width = quick ? 48 : 128, depth = 10, iterations = quick ? 80 : 250;
  chapter.step("Training the bad-init net on Fashion-MNIST, without and with batch norm");
  const std::string dir =
      chapter.options().data.empty() ? data::default_fashion_mnist_dir : chapter.options().data;
  data::Dataset train = data::load_fashion_mnist(dir, data::Split::train);
  data::Dataset test = data::load_fashion_mnist(dir, data::Split::test);
  if (quick) {
    train = data::slice(data::shuffle(train, 11), 0, 3000);
    test = data::slice(test, 0, 1000);
  }
  // Centre with the training split's mean image (chapter 05), for both splits.
  Tensor mean_image = mean(train.images, 0);
  train.images = (train.images - mean_image).detach();
  Tensor test_images = (test.images - mean_image).detach();
  chapter.say(fmt::format(
      "A {}-layer tanh net of {} units per layer, weights N(0, 0.01²), on {} centred Fashion-MNIST "
      "training images: {} iterations of SGD with momentum 0.9, learning rate 0.02, batches of "
      "128. "
      "Then the accuracy on {} test images (in eval mode).",
      depth, width, train.size(), iterations, test.size()));
  TrainingRun plain = train_deep_net(false, train, test_images, test.labels, width, depth,
                                     iterations, chapter.options().seed);
  TrainingRun normalised = train_deep_net(true, train, test_images, test.labels, width, depth,
                                          iterations, chapter.options().seed);

  const std::size_t window = 20, n = plain.loss.size();
  auto drop = [&](const TrainingRun& run) {
    return average(run.loss, 0, window) - average(run.loss, n - window, n);
  };
  chapter.table({"net", "loss, first 20 it.", "loss, last 20 it.", "drop", "test accuracy"},
                {{"no batch norm", number(average(plain.loss, 0, window), 3),
                  number(average(plain.loss, n - window, n), 3), number(drop(plain), 3),
                  number(plain.test_accuracy, 3)},
                 {"with batch norm", number(average(normalised.loss, 0, window), 3),
                  number(average(normalised.loss, n - window, n), 3), number(drop(normalised), 3),
                  number(normalised.test_accuracy, 3)}});
  chapter.say("loss, no batch norm:   " + plots::sparkline(plain.loss, 40) +
              "  (each curve scaled to its own range)");
  chapter.say("loss, with batch norm: " + plots::sparkline(normalised.loss, 40));
  // Both pictures share one y axis: on its own, a flat loss would be stretched to fill the
  // picture and look like wild noise.
  plots::PlotSettings shared_axis;
  shared_axis.y_range = plots::common_range({plain.loss, normalised.loss});
  for (const auto& [key, run] :
       {std::pair{std::string("no_bn"), &plain}, std::pair{std::string("with_bn"), &normalised}}) {
    const std::string png = chapter.path("loss_" + key + ".png");
    plots::PlotResult plot = plots::loss_curve(run->loss, png, shared_axis);
    chapter.picture(png, key == "no_bn" ? "training loss of the std-0.01 net without batch norm"
                                        : "training loss of the same net with batch norm");
    if (!plot.drawn) chapter.say(plot.note);
  }
  chapter.notice(
      "without batch norm the loss sits at ln 10 = 2.303, the loss of guessing uniformly among 10 "
      "classes: the signal is gone before it reaches the scores, and no gradient comes back. With "
      "batch norm the same weights train, and the test accuracy is far above the 10% of chance.");
  chapter.claim("with BN the loss falls by more than 0.5", drop(normalised) > 0.5,
                fmt::format("drop {}", number(drop(normalised), 3)));
  chapter.claim("without BN the net barely learns (loss drop < 0.1)", drop(plain) < 0.1,
                fmt::format("drop {}", number(drop(plain), 3)));
  chapter.claim(
      "BN's test accuracy beats the plain net's by more than 30 points",
      normalised.test_accuracy > plain.test_accuracy + 0.3,
      fmt::format("{:.1f}% vs {:.1f}%", 100 * normalised.test_accuracy, 100 * plain.test_accuracy));
  chapter.summary(
      fmt::format("BN by hand = library (gradcheck passed); train mode depends on the batch, eval "
                  "mode uses running "
                  "averages; with std-0.01 weights a 10-layer tanh net reaches {:.1f}% test "
                  "accuracy with BN vs {:.1f}% without",
                  100 * normalised.test_accuracy, 100 * plain.test_accuracy));
}

}  // namespace

/// How a short run at one learning rate ended.
struct LearningRateRun {
  double first_loss = 0, last_loss = 0;  ///< Means over the first and last 10 iterations.
  bool diverged = false;                 ///< The loss became NaN/inf or passed 3× its start.
};

/// Plain SGD at learning rate `lr` on a 784 → 100 → 100 → 100 → 10 ReLU net (He initialisation),
/// with or without batch norm, for `iterations` batches of 64.
LearningRateRun run_at_learning_rate(bool with_bn, double lr, const data::Dataset& train,
                                     std::int64_t iterations, std::uint64_t seed) {
  manual_seed(seed);
  nn::Sequential net = nn::MLP({train.features(), 100, 100, 100, 10},
                               {.activation = "relu", .batchnorm = with_bn, .init = "he"});
  optim::SGD optimizer(net.parameters(), {.lr = lr});
  nn::CrossEntropyLoss criterion;
  std::vector<double> losses;
  LearningRateRun run;
  for (std::int64_t epoch = 0; std::int64_t(losses.size()) < iterations && !run.diverged; ++epoch) {
    for (const data::Batch& batch : data::BatchIterator(train, 64, seed + epoch, true)) {
      if (std::int64_t(losses.size()) >= iterations) break;
      optimizer.zero_grad();
      Tensor loss = criterion(net(batch.images), batch.labels);
      const double value = loss.item();
      if (!std::isfinite(value) || (!losses.empty() && value > 3 * losses.front())) {
        run.diverged = true;
        break;
      }
      losses.push_back(value);
      loss.backward();
      try {
        optimizer.step();
      } catch (const Error&) {  // a non-finite gradient: the run has blown up
        run.diverged = true;
        break;
      }
    }
  }
  const std::size_t n = losses.size(), window = std::min<std::size_t>(10, n);
  if (n > 0) {
    run.first_loss = average(losses, 0, window);
    run.last_loss = average(losses, n - window, n);
  }
  return run;
}

/// The lecture's other practical effect of batch norm: it tolerates higher learning rates.
/// `extra_lr` (0: none) is the learner's --lr, added to the three rates.
void learning_rate_step(Chapter& chapter, double extra_lr) {
  chapter.step("Batch norm tolerates a higher learning rate");
  const std::int64_t iterations = chapter.quick() ? 60 : 200;
  const data::TrainValidation parts =
      chapter.centred_fashion_mnist(chapter.quick() ? 2000 : 8000, 100);
  std::vector<double> rates = {0.05, 0.5, 2.0};
  if (extra_lr > 0 && std::find(rates.begin(), rates.end(), extra_lr) == rates.end()) {
    rates.push_back(extra_lr);
    std::sort(rates.begin(), rates.end());
  }
  chapter.say(fmt::format(
      "A 784 → 100 → 100 → 100 → 10 ReLU net (He initialisation), plain SGD, {} batches of 64, "
      "at {} learning rates{}, without and with batch norm. A run counts as diverged when its "
      "loss turns NaN or passes 3× its start.",
      iterations, rates.size(),
      extra_lr > 0 ? fmt::format(" (lr {:g} is yours)", extra_lr) : std::string()));
  std::vector<std::vector<std::string>> rows;
  std::vector<std::pair<LearningRateRun, LearningRateRun>> runs;
  const auto describe = [](const LearningRateRun& run) {
    return run.diverged
               ? std::string("diverged")
               : fmt::format("{} → {}", number(run.first_loss, 3), number(run.last_loss, 3));
  };
  for (double lr : rates) {
    const LearningRateRun plain =
        run_at_learning_rate(false, lr, parts.train, iterations, chapter.options().seed);
    const LearningRateRun normalised =
        run_at_learning_rate(true, lr, parts.train, iterations, chapter.options().seed);
    rows.push_back({number(lr, 2), describe(plain), describe(normalised)});
    runs.emplace_back(plain, normalised);
  }
  chapter.table({"learning rate", "without batch norm: loss", "with batch norm: loss"}, rows);
  // The highest rate at which the plain net diverges and the normalised one learns.
  double shown = 0;
  for (std::size_t k = 0; k < rates.size(); ++k) {
    const auto& [plain, normalised] = runs[k];
    if (plain.diverged && !normalised.diverged && normalised.last_loss < normalised.first_loss) {
      shown = rates[k];
    }
  }
  chapter.claim(
      "some learning rate makes the plain net diverge while the net with batch norm learns",
      shown > 0, shown > 0 ? fmt::format("at lr {}", number(shown, 2)) : "no such rate here");
  // Rates where batch norm did not help: both diverged, or both learned.
  std::string both_diverged, both_learned;
  for (std::size_t k = 0; k < rates.size(); ++k) {
    const auto& [plain, normalised] = runs[k];
    if (plain.diverged && normalised.diverged)
      both_diverged += (both_diverged.empty() ? "" : ", ") + number(rates[k], 2);
    if (!plain.diverged && !normalised.diverged)
      both_learned += (both_learned.empty() ? "" : ", ") + number(rates[k], 2);
  }
  if (!both_learned.empty()) chapter.say("Both nets stay finite at lr " + both_learned + ".");
  if (!both_diverged.empty())
    chapter.say("Both nets diverge at lr " + both_diverged +
                ": batch norm widens the range of usable learning rates, it does not remove the "
                "upper limit.");
  if (shown > 0) {
    chapter.notice(fmt::format(
        "at lr {} the plain net blows up and the normalised one trains: batch norm keeps every "
        "layer's input at zero mean and unit variance, so a large step cannot push the "
        "activations into ever larger values layer after layer.",
        number(shown, 2)));
  }
}

int main(int argc, char** argv) {
  double extra_lr = 0;
  return tutorial::run_chapter(
      argc, argv,
      {7,
       "batch_normalisation",
       "Batch normalisation",
       {{"--lr 1",
         "adds lr 1 to the last step's table, between 0.5 and 2: see on which side of the "
         "divide each net lands, and whether the notice moves to it."},
        {"--lr 20",
         "a learning rate far beyond the others: look for the sentence saying whether both nets "
         "diverge. Batch norm widens the range of usable rates; it does not make every rate "
         "usable."}}},
      [&extra_lr](Chapter& chapter) {
        by_hand_step(chapter);
        library_step(chapter);
        layer_step(chapter);
        modes_step(chapter);
        rescue_step(chapter);
        training_step(chapter);
        learning_rate_step(chapter, extra_lr);
      },
      [&extra_lr](CLI::App& app) {
        app.add_option("--lr", extra_lr,
                       "Adds this learning rate to the last step's comparison (in (0, 100])")
            ->check(gradlab::cli::number_check("in (0, 100]",
                                               [](double v) { return v > 0 && v <= 100; }));
      });
}
