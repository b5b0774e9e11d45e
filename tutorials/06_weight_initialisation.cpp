// Chapter 06: weight initialisation.
//
// Why the first numbers in a network matter. We start with the tempting W = 0 and watch every
// hidden unit stay a copy of its neighbours, then rerun the lecture's experiment — a 10-layer
// net of 500 units fed 1000 unit-Gaussian examples — under five initialisations and measure,
// layer by layer, what the activations and the weight gradients look like.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "modules/nn/init.hpp"
#include "modules/optim/optim.hpp"
#include "modules/train/plots.hpp"
#include "modules/app/cli_flags.hpp"
#include "tutorial.hpp"

using namespace gradlab;
using gradlab::tutorial::Chapter;
using gradlab::tutorial::number;

namespace {

/// Mean, standard deviation and tail fractions of a set of values.
struct Summary {
  double mean = 0;
  double std = 0;
  double saturated = 0;  // fraction with |v| > 0.9 (a tanh unit whose slope 1 − v² is below 0.19)
  double zero = 0;       // fraction exactly 0 (a ReLU unit that passes no gradient)
};

Summary summarise(const std::vector<double>& values) {
  Summary s;
  if (values.empty()) return s;
  for (double v : values) s.mean += v;
  s.mean /= double(values.size());
  for (double v : values) {
    s.std += (v - s.mean) * (v - s.mean);
    if (std::abs(v) > 0.9) s.saturated += 1;
    if (v == 0.0) s.zero += 1;
  }
  s.std = std::sqrt(s.std / double(values.size()));
  s.saturated /= double(values.size());
  s.zero /= double(values.size());
  return s;
}

// --- step 1: W = 0 and the symmetry problem -----------------------------------------------------

/// A tiny 2-layer net, scores = tanh(x · W1 + b1) · W2 + b2, whose weights all start at `value`
/// (0 is the lecture's W = 0), trained for `steps` steps of plain SGD on a toy problem.
struct SymmetryRun {
  Tensor hidden;               // tanh(x · W1 + b1) at the last step, [N, H]
  Tensor last_grad_w1;         // dL/dW1 at the last step, [D, H]
  Tensor final_w1;             // W1 after training, [D, H]
  double largest_grad_w1 = 0;  // max |dL/dW1| over all steps
  double first_loss = 0;
  double final_loss = 0;
};

SymmetryRun train_tiny_net(const Tensor& x, const Tensor& y, std::int64_t hidden_units,
                           const std::function<void(Tensor&)>& init_weights, int steps) {
  const std::int64_t inputs = x.size(1);
  Tensor w1 = Tensor::empty({inputs, hidden_units});
  Tensor w2 = Tensor::empty({hidden_units, 3});
  init_weights(w1);
  init_weights(w2);
  Tensor b1 = zeros({hidden_units});
  Tensor b2 = zeros({3});
  std::vector<Tensor> parameters{w1, b1, w2, b2};
  for (Tensor& p : parameters) p.requires_grad_(true);

  optim::SGD optimizer(parameters, {.lr = 0.5});
  SymmetryRun run;
  for (int step = 0; step < steps; ++step) {
    optimizer.zero_grad();
    Tensor hidden = tanh(linear(x, w1, b1));
    Tensor loss = cross_entropy(linear(hidden, w2, b2), y);
    loss.backward();
    if (step == 0) run.first_loss = loss.item();
    run.final_loss = loss.item();
    run.hidden = hidden.detach().clone();
    run.last_grad_w1 = w1.grad().clone();
    for (double g : run.last_grad_w1.to_vector())
      run.largest_grad_w1 = std::max(run.largest_grad_w1, std::abs(g));
    optimizer.step();  // plain SGD: x ← x − lr · dx
  }
  run.final_w1 = w1.detach().clone();
  return run;
}

/// Largest difference between any hidden unit's column of `matrix` [rows, H] and column 0.
double spread_across_units(const Tensor& matrix) {
  const std::vector<double> values = matrix.to_vector();
  const std::int64_t rows = matrix.size(0), units = matrix.size(1);
  double spread = 0;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t u = 1; u < units; ++u)
      spread = std::max(spread, std::abs(values[r * units + u] - values[r * units]));
  return spread;
}

void symmetry_step(Chapter& chapter) {
  chapter.step("W = 0: every hidden unit becomes the same unit");
  chapter.say(
      "Start with the most innocent choice: all weights zero. We build a tiny net (4 inputs, 5 "
      "tanh "
      "hidden units, 3 classes) on 12 random examples and train it for 50 steps of SGD. Then we "
      "repeat with every weight set to the same non-zero number, 0.3, to see whether the units can "
      "ever tell themselves apart.");
  Tensor x = randn({12, 4});
  Tensor y = labels({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2});
  const std::int64_t units = 5;

  SymmetryRun zero = train_tiny_net(
      x, y, units, [](Tensor& w) { nn::init::zeros_(w); }, 50);
  chapter.say(
      "With W = 0, at step 50: the hidden outputs for example 0, the gradient of W1 (row 0) and "
      "W1:");
  std::vector<std::vector<std::string>> rows;
  for (std::int64_t u = 0; u < units; ++u) {
    rows.push_back({fmt::format("unit {}", u), number(zero.hidden.at(u)),
                    number(zero.last_grad_w1.at(u)), number(zero.final_w1.at(u))});
  }
  chapter.table({"hidden unit", "h (example 0)", "dL/dW1[0, unit]", "W1[0, unit]"}, rows);
  chapter.notice(
      "every hidden output is tanh(0) = 0, so W2 gets no gradient (dL/dW2 = hᵀ · dscores = 0), and "
      "since W2 = 0 no gradient reaches W1 either: both weight matrices stay 0 for ever. Only the "
      "output bias could learn, and with 4 examples of each class even its gradient is 0: the loss "
      "stays at ln 3 = 1.0986.");
  chapter.claim("with W = 0 every gradient of W1 is exactly 0, at every step",
                zero.largest_grad_w1 == 0.0,
                fmt::format("max |dL/dW1| over 50 steps = {}", zero.largest_grad_w1));

  SymmetryRun same = train_tiny_net(
      x, y, units, [](Tensor& w) { nn::init::constant_(w, 0.3); }, 50);
  SymmetryRun random = train_tiny_net(
      x, y, units, [](Tensor& w) { nn::init::normal_(w, 0.3); }, 50);
  rows.clear();
  for (std::int64_t u = 0; u < units; ++u) {
    rows.push_back({fmt::format("unit {}", u), number(same.hidden.at(u)),
                    number(same.last_grad_w1.at(u)), number(same.final_w1.at(u)),
                    number(random.final_w1.at(u))});
  }
  chapter.say(
      "Now every weight starts at 0.3; again at step 50 (last column: W1 when the weights start "
      "as N(0, 0.3²) random numbers instead):");
  chapter.table({"hidden unit", "h (example 0)", "dL/dW1[0, unit]", "W1[0, unit]",
                 "W1[0, unit], random start"},
                rows);
  const double same_spread = spread_across_units(same.final_w1);
  const double random_spread = spread_across_units(random.final_w1);
  chapter.table(
      {"start", "loss at step 0", "loss after 50 steps",
       "max difference between units' W1 columns"},
      {{"all weights 0", number(zero.first_loss), number(zero.final_loss),
        number(spread_across_units(zero.final_w1))},
       {"all weights 0.3", number(same.first_loss), number(same.final_loss), number(same_spread)},
       {"random N(0, 0.3²)", number(random.first_loss), number(random.final_loss),
        number(random_spread)}});
  chapter.notice(
      "with equal weights all five units compute the same number, receive the same gradient and "
      "take the same step, so after 50 steps they are still identical: the net has the power of "
      "one hidden unit. Random numbers break this symmetry; that is the whole reason we draw "
      "them.");
  chapter.claim("equal starting weights stay equal across units after training", same_spread < 1e-6,
                fmt::format("max column difference {}", number(same_spread)));
  chapter.claim("random starting weights make the units differ", random_spread > 1e-2,
                fmt::format("max column difference {}", number(random_spread)));
}

// --- steps 2–6: the deep-net experiment ---------------------------------------------------------

/// One initialisation of the experiment.
struct Scheme {
  std::string key;         // file name part
  std::string title;       // shown in headers
  std::string formula;     // what the weights are
  std::string activation;  // "tanh" or "relu"
  std::function<void(Tensor&)> init;
};

/// Per-layer measurements of one run.
struct LayerRecord {
  Summary activations;
  double local_gradient = 0;  // mean of the activation's derivative: tanh: 1 − h², ReLU: [h > 0]
  double weight_grad_std = 0;  // std of dL/dW of this layer
};

struct ExperimentResult {
  std::vector<LayerRecord> layers;
  std::vector<plots::LayerActivations> histograms;
  double all_layers_saturated = 0;  // fraction of all hidden outputs with |h| > 0.9
};

/// Forward through `depth` layers h ← f(h · W), then backward from a unit-Gaussian upstream
/// gradient on the last layer (a stand-in for dL/dh from a loss).
ExperimentResult run_experiment(const Scheme& scheme, const Tensor& input, std::int64_t depth,
                                std::int64_t width) {
  std::vector<Tensor> weights;
  std::vector<Tensor> hidden;
  Tensor h = input;
  for (std::int64_t layer = 0; layer < depth; ++layer) {
    Tensor w = Tensor::empty({h.size(1), width});
    scheme.init(w);
    w.requires_grad_(true);
    weights.push_back(w);
    Tensor pre = matmul(h, w);
    h = scheme.activation == "tanh" ? tanh(pre) : relu(pre);
    hidden.push_back(h);
  }
  h.backward(randn(h.shape()));

  ExperimentResult result;
  double saturated_total = 0;
  for (std::int64_t layer = 0; layer < depth; ++layer) {
    std::vector<double> values = hidden[layer].to_vector();
    LayerRecord record;
    record.activations = summarise(values);
    double slope = 0;
    for (double v : values)
      slope += scheme.activation == "tanh" ? 1.0 - v * v : (v > 0 ? 1.0 : 0.0);
    record.local_gradient = slope / double(values.size());
    record.weight_grad_std = summarise(weights[layer].grad().to_vector()).std;
    saturated_total += record.activations.saturated;
    result.layers.push_back(record);
    plots::LayerActivations panel;
    panel.name = fmt::format("layer {} ({})", layer + 1, scheme.activation);
    panel.values.assign(values.begin(), values.end());
    result.histograms.push_back(std::move(panel));
  }
  result.all_layers_saturated = saturated_total / double(depth);
  return result;
}

void print_experiment(Chapter& chapter, const Scheme& scheme, const ExperimentResult& result) {
  const bool is_tanh = scheme.activation == "tanh";
  std::vector<std::vector<std::string>> rows;
  for (std::size_t layer = 0; layer < result.layers.size(); ++layer) {
    const LayerRecord& r = result.layers[layer];
    rows.push_back(
        {fmt::format("{}", layer + 1), number(r.activations.mean), number(r.activations.std),
         fmt::format("{:.1f}%", 100 * (is_tanh ? r.activations.saturated : r.activations.zero)),
         number(r.local_gradient, 3), number(r.weight_grad_std)});
  }
  chapter.table({"layer", "mean", "std", is_tanh ? "|h| > 0.9" : "h = 0",
                 is_tanh ? "mean 1 − h²" : "mean [h > 0]", "std dL/dW"},
                rows);
  const std::string png = chapter.path("activations_" + scheme.key + ".png");
  plots::PlotResult plot = plots::activation_histograms(result.histograms, png, 40);
  chapter.picture(png, fmt::format("histograms of the 10 layers' outputs, {}", scheme.title));
  if (!plot.drawn) chapter.say(plot.note);
}

void write_summary_csv(Chapter& chapter, const std::vector<Scheme>& schemes,
                       const std::vector<ExperimentResult>& results) {
  const std::string csv = chapter.path("layer_statistics.csv");
  std::FILE* file = std::fopen(csv.c_str(), "w");
  if (file == nullptr) throw Error("chapter 06: cannot write " + csv);
  std::fputs(
      "init,activation,layer,mean,std,saturated_fraction,zero_fraction,mean_local_gradient,weight_"
      "grad_std\n",
      file);
  for (std::size_t s = 0; s < schemes.size(); ++s) {
    for (std::size_t layer = 0; layer < results[s].layers.size(); ++layer) {
      const LayerRecord& r = results[s].layers[layer];
      std::fputs(
          fmt::format("{},{},{},{},{},{},{},{},{}\n", schemes[s].key, schemes[s].activation,
                      layer + 1, r.activations.mean, r.activations.std, r.activations.saturated,
                      r.activations.zero, r.local_gradient, r.weight_grad_std)
              .c_str(),
          file);
    }
  }
  std::fclose(file);
  chapter.picture(csv, "per-layer mean, std, saturation and weight-gradient std of every run");
}

/// The run the learner asks for with --init, --std and --activation.
struct Custom {
  std::string init;  // "" (none), "normal", "xavier" or "he"
  double std = 0;    // for "normal"
  std::string activation = "tanh";
};

Scheme custom_scheme(const Custom& custom) {
  Scheme scheme;
  scheme.activation = custom.activation;
  if (custom.init == "normal") {
    const double std = custom.std;
    scheme.key = fmt::format("normal_{:g}_{}", std, custom.activation);
    scheme.title = fmt::format("W ~ N(0, {:g}²), {}", std, custom.activation);
    scheme.formula = fmt::format("W = {:g} · randn(fan_in, fan_out)   (your --std)", std);
    scheme.init = [std](Tensor& w) { nn::init::normal_(w, std); };
  } else if (custom.init == "xavier") {
    scheme.key = "xavier_" + custom.activation;
    scheme.title = "Xavier, " + custom.activation;
    scheme.formula = "W = randn(fan_in, fan_out) / √fan_in   (your --init xavier)";
    scheme.init = [](Tensor& w) { nn::init::xavier_lecture_(w); };
  } else {
    scheme.key = "he_" + custom.activation;
    scheme.title = "He, " + custom.activation;
    scheme.formula = "W = randn(fan_in, fan_out) · √(2 / fan_in)   (your --init he)";
    scheme.init = [](Tensor& w) { nn::init::he_normal_(w); };
  }
  scheme.key = "yours_" + scheme.key;
  scheme.title += " (yours)";
  return scheme;
}

/// What a run did to its activations, from its numbers: saturated, collapsed, grew or stable.
std::string verdict(const Scheme& scheme, const ExperimentResult& result) {
  const auto& layers = result.layers;
  const double ratio = layers.back().activations.std / layers.front().activations.std;
  if (scheme.activation == "tanh" && result.all_layers_saturated > 0.5)
    return fmt::format("saturates: {:.0f}% of the tanh outputs sit at |h| > 0.9",
                       100 * result.all_layers_saturated);
  if (ratio < 0.1)
    return fmt::format("collapses: the last layer's std is {} of the first's", number(ratio, 3));
  if (ratio > 10)
    return fmt::format("grows: the last layer's std is {} times the first's", number(ratio, 1));
  return fmt::format(
      "stays in a useful range: last/first std {}, {:.0f}% of the outputs at "
      "|h| > 0.9",
      number(ratio, 2), 100 * result.all_layers_saturated);
}

}  // namespace

int main(int argc, char** argv) {
  Custom custom;
  return tutorial::run_chapter(
      argc, argv,
      {6,
       "weight_initialisation",
       "Weight initialisation",
       {{"--std 0.05",
         "adds a sixth run with W ~ N(0, 0.05²) and tanh, between the collapsing 0.01 and the "
         "saturating 1.0. Xavier's scale 1/√fan_in is 0.045 for 500 units (0.1 for the 100 units "
         "of "
         "a quick run), so the verdict line tells whether 0.05 is close enough to it."},
        {"--init he --activation tanh",
         "He's scale, made for ReLU, on tanh: √2 times Xavier's. Compare the |h| > 0.9 column "
         "and the std column with Xavier's: more units sit in tanh's flat tails, while the "
         "spread holds up better through the ten layers."},
        {"--std 0.5 --activation relu",
         "ReLU never saturates, so weights that are too large do not flatten it: they make the "
         "activations grow layer after layer instead. The verdict reports the growth factor."}}},
      [&custom](Chapter& chapter) {
        symmetry_step(chapter);

        const std::int64_t examples = chapter.quick() ? 200 : 1000;
        const std::int64_t width = chapter.quick() ? 100 : 500;
        const std::int64_t depth = 10;

        chapter.step("The experiment: a deep net and the statistics of its activations");
        chapter.say(fmt::format(
            "Small random numbers fix the symmetry, but how small? We feed {} examples of {} "
            "unit-Gaussian "
            "inputs through {} layers of {} units, h ← f(h · W) with no biases, and record each "
            "layer's "
            "outputs: their mean and standard deviation, how many sit in the flat tails of the "
            "nonlinearity, the average local gradient f′ that backpropagation will multiply by, "
            "and the "
            "size (std) of the weight gradients dL/dW when a unit-Gaussian gradient arrives at the "
            "top.",
            examples, width, depth, width));
        Tensor input = randn({examples, width});

        auto normal_with = [](double std) {
          return [std](Tensor& w) { nn::init::normal_(w, std); };
        };
        std::vector<Scheme> schemes = {
            {"normal_0.01_tanh", "W ~ N(0, 0.01²), tanh", "W = 0.01 · randn(fan_in, fan_out)",
             "tanh", normal_with(0.01)},
            {"normal_1.0_tanh", "W ~ N(0, 1), tanh", "W = 1.0 · randn(fan_in, fan_out)", "tanh",
             normal_with(1.0)},
            {"xavier_tanh", "Xavier, tanh",
             "W = randn(fan_in, fan_out) / √fan_in   (nn::init::xavier_lecture_)", "tanh",
             [](Tensor& w) { nn::init::xavier_lecture_(w); }},
            {"xavier_relu", "Xavier, ReLU",
             "W = randn(fan_in, fan_out) / √fan_in   (nn::init::xavier_lecture_)", "relu",
             [](Tensor& w) { nn::init::xavier_lecture_(w); }},
            {"he_relu", "He, ReLU",
             "W = randn(fan_in, fan_out) · √(2 / fan_in)   (nn::init::he_normal_)", "relu",
             [](Tensor& w) { nn::init::he_normal_(w); }},
        };
        const std::vector<std::string> explanations = {
            "Each layer multiplies the spread of its input by about 0.01 · √fan_in = " +
                number(0.01 * std::sqrt(double(width)), 2) +
                ", less than 1, so the outputs shrink towards 0 layer after layer.",
            "Now each weighted sum has a spread of about √fan_in = " +
                number(std::sqrt(double(width)), 1) +
                " times its input's: far beyond where tanh bends, so the units pile up at ±1.",
            "Var(Σ x·w) = fan_in · Var(x) · Var(w); choosing Var(w) = 1/fan_in keeps the variance "
            "of the "
            "weighted sums equal to the variance of the inputs (Glorot & Bengio 2010; the "
            "derivation assumes "
            "a linear unit, and tanh is nearly linear around 0).",
            "The same Xavier scale, but with ReLU. ReLU sets half of its inputs to 0, which halves "
            "the "
            "second moment at every layer.",
            "He et al. (2015) put the lost factor back: Var(w) = 2/fan_in, the lecture's "
            "'additional /2' "
            "inside the square root of the scale.",
        };

        std::vector<ExperimentResult> results;
        for (std::size_t s = 0; s < explanations.size(); ++s) {
          const Scheme& scheme = schemes[s];
          chapter.step("Initialisation: " + scheme.title);
          chapter.say(scheme.formula);
          chapter.say(explanations[s]);
          manual_seed(chapter.options().seed + 100 + s);
          results.push_back(run_experiment(scheme, input, depth, width));
          print_experiment(chapter, scheme, results.back());
          const auto& layers = results.back().layers;
          const double first = layers.front().activations.std, last = layers.back().activations.std;
          switch (s) {
            case 0:
              chapter.notice(
                  "the std falls by the same factor at every layer until the last layers output "
                  "practically 0. The weight gradient dL/dW = hᵀ · δ is built from those tiny h "
                  "(and δ "
                  "shrinks on the way down through the small W), so the weights barely get a "
                  "signal.");
              chapter.claim("std 0.01: the last layer's std is below 1% of the first's",
                            last < 0.01 * first,
                            fmt::format("first {} → last {} (ratio {})", number(first),
                                        number(last), number(last / first)));
              break;
            case 1: {
              double steepest = 0;
              for (const auto& layer : layers) steepest = std::max(steepest, layer.local_gradient);
              chapter.notice(fmt::format(
                  "most outputs sit near −1 or +1 (the U-shaped histograms), where tanh is flat: "
                  "the local "
                  "gradient 1 − h² averages below {} in every layer, so through most units almost "
                  "nothing "
                  "flows back. What does flow back through the few unsaturated units is multiplied "
                  "by the "
                  "large weights, so the weight gradients differ by a factor {} between layer 1 "
                  "and layer "
                  "{}: no single learning rate suits both ends. The net is stuck in the flat tails "
                  "either way.",
                  number(steepest, 2),
                  number(layers.front().weight_grad_std / layers.back().weight_grad_std, 0),
                  depth));
              chapter.claim("std 1.0: most tanh outputs have |h| > 0.9",
                            results.back().all_layers_saturated > 0.5,
                            fmt::format("{:.1f}% of all hidden outputs",
                                        100 * results.back().all_layers_saturated));
              chapter.claim(
                  "std 1.0: the average local gradient 1 − h² is below 0.2 in every layer",
                  steepest < 0.2, fmt::format("largest layer average {}", number(steepest, 3)));
              break;
            }
            case 2:
              chapter.notice(
                  "no collapse and no saturation: the std shrinks only slowly (tanh is a little "
                  "flatter "
                  "than the linear unit the derivation assumes, so each layer loses a bit), every "
                  "layer "
                  "works in tanh's useful range, and the weight gradients are of the same size in "
                  "every layer.");
              chapter.claim("Xavier with tanh: the last layer's std is within 10× of the first's",
                            last > first / 10 && last < first * 10,
                            fmt::format("first {} → last {}", number(first), number(last)));
              break;
            case 3:
              chapter.notice(
                  "the std roughly drops by a factor √2 per layer and the distribution squeezes "
                  "towards 0 "
                  "(the histogram's spike at 0 is the half of the units that ReLU switched off).");
              break;
            case 4: {
              const double xavier_last = results[3].layers.back().activations.std;
              chapter.notice(
                  "with the factor 2 the std stays of the same size through all ten layers, while "
                  "about "
                  "half the outputs are 0 at every layer, as expected of ReLU.");
              chapter.claim("ReLU: Xavier's last-layer std is much smaller (< 1/10) than He's",
                            xavier_last < 0.1 * last,
                            fmt::format("Xavier {} vs He {} (ratio {})", number(xavier_last),
                                        number(last), number(xavier_last / last)));
              break;
            }
            default: break;
          }
        }

        std::string yours;
        if (!custom.init.empty()) {
          schemes.push_back(custom_scheme(custom));
          const Scheme& scheme = schemes.back();
          chapter.step("Your initialisation: " + scheme.title);
          chapter.say(scheme.formula);
          manual_seed(chapter.options().seed + 100 + schemes.size() - 1);
          results.push_back(run_experiment(scheme, input, depth, width));
          print_experiment(chapter, scheme, results.back());
          yours = verdict(scheme, results.back());
          chapter.notice("measured: your initialisation " + yours + ".");
        }

        chapter.step(custom.init.empty() ? "All five side by side" : "All six side by side");
        std::vector<std::vector<std::string>> rows;
        for (std::size_t s = 0; s < schemes.size(); ++s) {
          const auto& layers = results[s].layers;
          rows.push_back({schemes[s].title, number(layers.front().activations.std),
                          number(layers.back().activations.std),
                          number(layers.back().activations.std / layers.front().activations.std),
                          number(layers.front().weight_grad_std),
                          number(layers.back().weight_grad_std)});
        }
        chapter.table({"initialisation", "std layer 1", "std layer 10", "ratio 10/1",
                       "std dL/dW layer 1", "std dL/dW layer 10"},
                      rows);
        chapter.notice(
            "a good initialisation keeps the ratio near 1: the signal reaches the top forward and "
            "the "
            "gradient reaches the bottom backward. For tanh use Xavier (1/√fan_in), for ReLU use "
            "He "
            "(√(2/fan_in)). Chapter 07 shows batch normalisation, which makes the net far less "
            "sensitive to this choice.");
        write_summary_csv(chapter, schemes, results);

        const double ratio_small =
            results[0].layers.back().activations.std / results[0].layers.front().activations.std;
        const double ratio_xavier =
            results[2].layers.back().activations.std / results[2].layers.front().activations.std;
        chapter.summary(fmt::format(
            "W = 0 leaves all units identical; across 10 tanh layers std 0.01 shrinks activations "
            "(last/first std "
            "{}), std 1.0 saturates {:.0f}% of outputs, Xavier keeps them ({}); ReLU needs He's "
            "factor 2{}",
            number(ratio_small), 100 * results[1].all_layers_saturated, number(ratio_xavier, 2),
            yours.empty() ? ""
                          : "; the added run (" +
                                schemes.back().title.substr(0, schemes.back().title.size() -
                                                                   std::string(" (yours)").size()) +
                                ") " + yours));
      },
      [&custom](CLI::App& app) {
        app.add_option("--init", custom.init,
                       "Adds a run with this initialisation: normal (with --std), xavier or he")
            ->check(CLI::IsMember({"normal", "xavier", "he"}));
        app.add_option("--std", custom.std,
                       "Standard deviation of --init normal (in (0, 10]); alone it means "
                       "--init normal")
            ->check(gradlab::cli::number_check("in (0, 10]",
                                               [](double v) { return v > 0 && v <= 10; }));
        app.add_option("--activation", custom.activation,
                       "Activation of the added run: tanh or relu")
            ->check(CLI::IsMember({"tanh", "relu"}))
            ->capture_default_str();
        app.final_callback([&custom, &app] {
          const bool has_std = app.count("--std") > 0;
          if (has_std && custom.init.empty()) custom.init = "normal";
          if (has_std && custom.init != "normal")
            throw CLI::ValidationError("--std",
                                       "applies to --init normal only, not --init " + custom.init);
          if (!has_std && custom.init == "normal")
            throw CLI::ValidationError("--init normal", "needs --std (e.g. --std 0.05)");
          if (app.count("--activation") > 0 && custom.init.empty())
            throw CLI::ValidationError("--activation",
                                       "applies to the added run: give --init or --std too");
        });
      });
}
