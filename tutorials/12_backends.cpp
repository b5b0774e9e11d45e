// Chapter 12: backends.
//
// Everything so far ran through one list of kernels (backends/backend.hpp) without caring who
// implements them. Here we swap the implementation under the very same code: the reference
// backend (xtensor, written to be read) and the oneDNN backend (Intel's primitives, written to
// be fast), each in f32 and in bf16. Every configuration is classified by what it really computes
// (a bf16 request on a CPU without bf16 instructions computes f32), compared with the reference
// f32 run by that class, and timed.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "autograd/fast/value.hpp"
#include "autograd/ops.hpp"
#include "autograd/profiler.hpp"
#include "autograd/value.hpp"
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

/// A backend and the precision asked of it.
struct Configuration {
  std::string backend;
  Precision precision;
  std::string label() const { return fmt::format("{} {}", backend, precision_name(precision)); }
};

/// Makes a configuration active for its lifetime (backend and precision), then restores both.
class ConfigurationGuard {
 public:
  explicit ConfigurationGuard(const Configuration& configuration)
      : backend_(configuration.backend), previous_precision_(precision()) {
    set_precision(configuration.precision);
  }
  ~ConfigurationGuard() { set_precision(previous_precision_); }
  ConfigurationGuard(const ConfigurationGuard&) = delete;
  ConfigurationGuard& operator=(const ConfigurationGuard&) = delete;

 private:
  BackendGuard backend_;
  Precision previous_precision_;
};

/// How many times to run before measuring, and how many measured runs.
struct Repetitions {
  int warm_up = 3;
  int measured = 10;
};

/// Runs `work` `warm_up` times unmeasured (caches, primitive creation, page faults), then
/// `measured` times, each timed on its own; returns the median in milliseconds (robust to the
/// odd slow run when other programs share the machine).
double median_ms(const std::function<void()>& work, const Repetitions& repetitions) {
  for (int i = 0; i < repetitions.warm_up; ++i) work();
  std::vector<double> times;
  for (int i = 0; i < repetitions.measured; ++i) {
    auto start = std::chrono::steady_clock::now();
    work();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  const std::size_t n = times.size();
  return n % 2 == 1 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
}

/// Sizes of the experiment (small with --quick).
struct Sizes {
  std::int64_t batch = 256;
  std::int64_t hidden = 1024;
  std::int64_t small_batch = 64;
  std::int64_t small_hidden = 50;
  Repetitions ops{5, 30};
  Repetitions big_step{3, 15};
  Repetitions small_step{5, 40};
};

/// One op to time: `make` builds its inputs (outside the timing), `run` does forward + backward.
struct OpBenchmark {
  std::string name;
  std::string shapes;
  std::function<std::function<void()>()> make;
};

std::vector<OpBenchmark> op_benchmarks(const Sizes& s) {
  const std::int64_t n = s.batch, d = s.hidden;
  std::vector<OpBenchmark> ops;
  ops.push_back(
      {"linear", fmt::format("x [{0}, {1}] · W [{1}, {1}] + b", n, d), [n, d]() {
         Tensor x = randn({n, d}, {.requires_grad = true});
         Tensor w = (randn({d, d}) * (1.0 / std::sqrt(double(d)))).detach().requires_grad_(true);
         Tensor b = zeros({d}, {.requires_grad = true});
         Tensor upstream = randn({n, d});
         return std::function<void()>([=]() { linear(x, w, b).backward(upstream); });
       }});
  ops.push_back({"relu", fmt::format("[{}, {}]", n, d), [n, d]() {
                   Tensor x = randn({n, d}, {.requires_grad = true});
                   Tensor upstream = randn({n, d});
                   return std::function<void()>([=]() { relu(x).backward(upstream); });
                 }});
  ops.push_back({"batch norm (train)", fmt::format("[{}, {}]", n, d), [n, d]() {
                   Tensor x = randn({n, d}, {.requires_grad = true});
                   Tensor gamma = ones({d}, {.requires_grad = true});
                   Tensor beta = zeros({d}, {.requires_grad = true});
                   Tensor running_mean = zeros({d}), running_var = ones({d});
                   Tensor upstream = randn({n, d});
                   return std::function<void()>([=]() {
                     batch_norm(x, gamma, beta, running_mean, running_var, true).backward(upstream);
                   });
                 }});
  ops.push_back({"cross-entropy", fmt::format("scores [{}, 10]", n), [n]() {
                   Tensor scores = randn({n, 10}, {.requires_grad = true});
                   std::vector<std::int64_t> y(n);
                   for (std::int64_t i = 0; i < n; ++i) y[i] = i % 10;
                   Tensor targets = labels(y);
                   return std::function<void()>(
                       [=]() { cross_entropy(scores, targets).backward(); });
                 }});
  return ops;
}

/// A net and its optimiser, built from a seed so that every backend starts from the same weights.
struct Model {
  nn::Sequential net;
  std::unique_ptr<optim::SGD> optimizer;
};

Model make_model(const std::vector<std::int64_t>& dims, bool batchnorm, std::uint64_t seed) {
  manual_seed(seed);
  Model model{nn::MLP(dims, {.activation = "relu", .batchnorm = batchnorm, .init = "he"}), nullptr};
  model.optimizer = std::make_unique<optim::SGD>(model.net.parameters(),
                                                 optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  return model;
}

/// One training step: forward, loss, backward, update. Returns the loss.
double train_step(Model& model, const data::Batch& batch) {
  nn::CrossEntropyLoss criterion;
  model.optimizer->zero_grad();
  Tensor loss = criterion(model.net(batch.images), batch.labels);
  loss.backward();
  Profiler::Range update("optimizer");  // named in the profile of "Where a step's time goes"
  model.optimizer->step();
  return loss.item();
}

std::string speedup(double reference_ms, double other_ms) {
  if (!(other_ms > 0)) return "-";
  const double ratio = reference_ms / other_ms;
  return ratio < 1 ? fmt::format("{:.2f}×", ratio) : fmt::format("{:.1f}×", ratio);
}

/// Writes the timings as CSV, then a clustered bar chart of them (one cluster per op or step, one
/// bar per configuration, log-scale y since the ops differ by orders of magnitude).
void write_csv_and_bars(Chapter& chapter, const std::vector<std::string>& labels,
                        const std::vector<std::string>& rows,
                        const std::vector<std::vector<double>>& ms) {
  const std::string csv = chapter.path("timings.csv");
  std::ofstream table(csv);
  if (!table) throw Error("chapter 12: cannot write " + csv);
  table << "what";
  for (const auto& label : labels) table << "," << label;
  table << "\n";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    table << '"' << rows[r] << '"';
    for (double value : ms[r]) table << fmt::format(",{:.6f}", value);
    table << "\n";
  }
  table.close();
  if (!table) throw Error("chapter 12: could not finish writing " + csv);
  chapter.picture(csv, "median milliseconds per op and per training step, every configuration");
  chapter.draw_with_gnuplot(
      "timings",
      "set terminal pngcairo size 1100,600 enhanced font 'DejaVu Sans,10'\n"
      "set output 'timings.png'\n"
      "set datafile separator ','\n"
      "set title 'Median time per op (forward + backward) and per training step'\n"
      "set style data histograms\n"
      "set style histogram clustered gap 1\n"
      "set style fill solid 0.85 border -1\n"
      "set logscale y\n"
      "set ylabel 'median time (ms, log scale)'\n"
      "set xlabel 'op or training step (category)'\n"
      "set grid ytics\n"
      "set xtics rotate by -15 scale 0\n"
      "set key top left\n" +
          fmt::format("plot for [column=2:{}] 'timings.csv' using column:xtic(1) "
                      "title columnheader(column)\n",
                      labels.size() + 1),
      "bar chart of the timings (log scale)");
}

/// Milliseconds of each phase of one scalar-graph step on the engine `Value`: building the graph
/// (forward), back-propagating, and freeing it. The graph is a one-hidden-unit regression summed
/// over `points` inputs, loss = Σᵢ (tanh(w·xᵢ + b) − yᵢ)², six nodes per point.
struct ScalarPhases {
  double forward = 0, backward = 0, free = 0;
  double total() const { return forward + backward + free; }
};

template <class Value>
ScalarPhases time_scalar_engine(int points, int repetitions) {
  using clock = std::chrono::steady_clock;
  const auto ms = [](clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  std::vector<ScalarPhases> runs;
  Value w(0.5), b(-0.1);
  for (int r = 0; r < repetitions + 1; ++r) {  // the first run warms up and is not kept
    const auto t0 = clock::now();
    auto loss = std::make_unique<Value>(0.0);
    for (int i = 0; i < points; ++i) {
      const double x = std::sin(0.01 * i), y = std::cos(0.02 * i);
      const Value error = tanh(w * x + b) - y;
      *loss = *loss + error * error;
    }
    const auto t1 = clock::now();
    loss->backward();
    const auto t2 = clock::now();
    loss.reset();
    const auto t3 = clock::now();
    if (r > 0) runs.push_back({ms(t1 - t0), ms(t2 - t1), ms(t3 - t2)});
  }
  std::sort(runs.begin(), runs.end(),
            [](const ScalarPhases& p, const ScalarPhases& q) { return p.total() < q.total(); });
  return runs[runs.size() / 2];
}

/// What a configuration really computes, from what its backend reports under it.
struct Computes {
  Precision precision = Precision::f32;  ///< The precision of the matrix products.
  bool emulated = false;                 ///< bf16 emulated in float32 (the reference backend).
  std::string label() const {
    if (precision == Precision::f32) return "f32";
    return emulated ? "bf16 (emulated)" : "bf16 (hardware)";
  }
};

/// The largest relative difference |a − b| / |b| over a pair of loss trajectories' entries
/// `first`..`last`.
double relative_difference(const std::vector<double>& a, const std::vector<double>& b,
                           std::size_t first, std::size_t last) {
  double largest = 0;
  for (std::size_t i = first; i <= last; ++i) {
    largest = std::max(largest, std::abs(a[i] - b[i]) / std::max(std::abs(b[i]), 1e-30));
  }
  return largest;
}

/// How many significant digits two numbers share, from their relative difference.
std::string digits_in_common(double relative) {
  if (relative == 0) return "every digit";
  return fmt::format("about {:.0f} significant digits", std::max(0.0, -std::log10(relative)));
}

}  // namespace

int main(int argc, char** argv) {
  struct {
    std::int64_t batch = 0, hidden = 0;  // --batch, --hidden (0: the default size)
  } flags;
  return tutorial::run_chapter(
      argc, argv,
      {12,
       "backends",
       "Backends: the same step, different kernels",
       {{"--hidden 512 --batch 128",
         "a bigger net and batch than --quick's (128 units, batches of 32): more arithmetic per "
         "kernel call, so the fixed cost per call weighs less. Compare oneDNN's speed-up on the "
         "big step with the small one's, as the notice computes it."},
        {"--batch 8",
         "eight examples per step: each matrix product is thin, so the fixed costs of the graph "
         "and of every kernel call weigh more. Compare the big step's speed-up with the default "
         "run's: with little arithmetic per call, oneDNN's faster inner loops have less to win."}}},
      [&flags](Chapter& chapter) {
        Sizes sizes;
        if (chapter.quick()) {
          sizes = {.batch = 32,
                   .hidden = 128,
                   .small_batch = 16,
                   .small_hidden = 50,
                   .ops = {1, 3},
                   .big_step = {1, 3},
                   .small_step = {1, 3}};
        }
        if (flags.batch > 0) sizes.batch = flags.batch;
        if (flags.hidden > 0) sizes.hidden = flags.hidden;
        const std::uint64_t seed = chapter.options().seed;

        chapter.step("The backends on this machine");
        chapter.say(
            "A backend is one implementation of the kernel list in backends/backend.hpp: matrix "
            "products, elementwise functions, batch norm, softmax cross-entropy, optimiser "
            "updates. "
            "Tensors and autograd sit above it and do not change. Precision bf16 asks the matrix "
            "products to round their inputs to bfloat16 (8 significant bits instead of float32's "
            "24) "
            "and to accumulate in f32. CPUs with bf16 instructions (AVX512-BF16 or AMX) do that "
            "faster than f32; the reference backend emulates it on any CPU with float32 arithmetic "
            "(backends/reference/bfloat16.hpp), to show what bf16 does to the numbers.");
        std::vector<Configuration> configurations;
        for (const std::string& name : available_backends()) {
          for (Precision p : {Precision::f32, Precision::bf16}) configurations.push_back({name, p});
        }
        // Reference f32 first: it is the baseline of every comparison and speed-up.
        std::sort(configurations.begin(), configurations.end(),
                  [](const Configuration& a, const Configuration& b) {
                    return std::pair(a.backend != "reference", int(a.precision)) <
                           std::pair(b.backend != "reference", int(b.precision));
                  });
        std::vector<Computes> computes;
        std::vector<std::vector<std::string>> rows;
        for (const Configuration& configuration : configurations) {
          ConfigurationGuard guard(configuration);
          const Computes what{backend().effective_precision(),
                              configuration.backend == "reference"};
          computes.push_back(what);
          rows.push_back({configuration.label(), what.label(), backend().description()});
        }
        chapter.table({"configuration", "computes", "what the backend says about itself"}, rows);
        // Where each configuration sits in the list (-1 when it is not built in).
        const auto index_of = [&](const std::string& backend_name, Precision p) {
          for (std::size_t c = 0; c < configurations.size(); ++c) {
            if (configurations[c].backend == backend_name && configurations[c].precision == p)
              return int(c);
          }
          return -1;
        };
        const int onednn_f32 = index_of("onednn", Precision::f32);
        const int onednn_bf16 = index_of("onednn", Precision::bf16);
        const int reference_bf16 = index_of("reference", Precision::bf16);
        const bool bf16_hardware =
            onednn_bf16 >= 0 && computes[onednn_bf16].precision == Precision::bf16;
        if (onednn_bf16 < 0) {
          chapter.notice(
              "this build has no oneDNN backend, so only the reference backend's bf16 emulation "
              "runs.");
        } else if (bf16_hardware) {
          chapter.notice(
              "this CPU has bf16 instructions: the oneDNN backend's bf16 configuration really "
              "rounds "
              "the matrix products' inputs to bfloat16, and its speed below is bf16 speed.");
        } else {
          chapter.notice(
              "oneDNN has no bf16 instructions to use here (the CPU lacks them, or "
              "ONEDNN_MAX_CPU_ISA "
              "caps them): it computes its 'bf16' configuration in f32 and says so above, so it is "
              "compared and timed as the f32 computation it is. "
              "The reference backend's emulation still shows what bf16 does to the numbers.");
        }

        chapter.step("Do the backends compute the same thing?");
        const std::string dir = chapter.options().data.empty() ? data::default_fashion_mnist_dir
                                                               : chapter.options().data;
        data::Dataset test = data::load_fashion_mnist(dir, data::Split::test);
        data::Batch batch = data::BatchIterator(test, sizes.batch, seed).batch(0);
        data::Batch small_batch = data::BatchIterator(test, sizes.small_batch, seed + 1).batch(0);
        const std::vector<std::int64_t> big_dims{784, sizes.hidden, sizes.hidden, 10};
        const std::vector<std::int64_t> small_dims{784, sizes.small_hidden, 10};
        chapter.say(
            fmt::format("The net 784-{0}-{0}-10 with batch norm and ReLU (He initialisation), "
                        "built from the same seed "
                        "in every configuration, takes five SGD steps (momentum 0.9, lr 0.01) on "
                        "the same batch of {1} "
                        "Fashion-MNIST test images. We print the loss at every step.",
                        sizes.hidden, sizes.batch));
        const int steps = 5;
        std::vector<std::vector<double>> losses;
        std::vector<std::vector<Tensor>> initial_parameters;
        for (const Configuration& configuration : configurations) {
          ConfigurationGuard guard(configuration);
          Model model = make_model(big_dims, true, seed + 3);
          std::vector<Tensor> copy;
          for (const Tensor& p : model.net.parameters()) copy.push_back(p.detach().clone());
          initial_parameters.push_back(copy);
          std::vector<double> trajectory;
          for (int i = 0; i < steps; ++i) trajectory.push_back(train_step(model, batch));
          losses.push_back(trajectory);
        }
        rows.clear();
        for (int i = 0; i < steps; ++i) {
          std::vector<std::string> row{fmt::format("step {}", i + 1)};
          for (std::size_t c = 0; c < configurations.size(); ++c)
            row.push_back(fmt::format("{:.7f}", losses[c][i]));
          rows.push_back(row);
        }
        std::vector<std::string> header{"loss"};
        for (std::size_t c = 0; c < configurations.size(); ++c) {
          header.push_back(
              configurations[c].label() +
              (computes[c].precision == configurations[c].precision ? "" : " (= f32)"));
        }
        chapter.table(header, rows);

        double weight_difference = 0;
        for (std::size_t c = 1; c < configurations.size(); ++c) {
          for (std::size_t p = 0; p < initial_parameters[c].size(); ++p) {
            std::vector<double> a = initial_parameters[c][p].to_vector(),
                                b = initial_parameters[0][p].to_vector();
            for (std::size_t i = 0; i < a.size(); ++i)
              weight_difference = std::max(weight_difference, std::abs(a[i] - b[i]));
          }
        }
        chapter.claim("every configuration starts from the same weights", weight_difference == 0.0,
                      fmt::format("max difference {}", number(weight_difference)));

        // Each configuration is compared by what it computes: f32 with reference f32 (only the
        // order of the additions differs), bf16 with reference f32 (what bf16 costs), and oneDNN's
        // hardware bf16 with the reference backend's emulation (the same rounding).
        const std::size_t last = steps - 1;
        double f32_first = 0, f32_last = 0, bf16_first = 0, bf16_last = 0;
        std::vector<std::vector<std::string>> comparisons;
        for (std::size_t c = 1; c < configurations.size(); ++c) {
          const double first = relative_difference(losses[c], losses[0], 0, 0);
          const double all = relative_difference(losses[c], losses[0], 0, last);
          if (computes[c].precision == Precision::f32) {
            f32_first = std::max(f32_first, first);
            f32_last = std::max(f32_last, all);
          } else {
            bf16_first = std::max(bf16_first, first);
            bf16_last = std::max(bf16_last, all);
          }
          comparisons.push_back({configurations[c].label() + " vs reference f32",
                                 computes[c].label(), number(first), number(all)});
        }
        double hardware_vs_emulation = -1;
        if (bf16_hardware && reference_bf16 >= 0) {
          hardware_vs_emulation =
              relative_difference(losses[onednn_bf16], losses[reference_bf16], 0, last);
          comparisons.push_back(
              {"onednn bf16 vs reference bf16", "bf16 (both)",
               number(relative_difference(losses[onednn_bf16], losses[reference_bf16], 0, 0)),
               number(hardware_vs_emulation)});
        }
        chapter.table(
            {"comparison", "computes", "first loss, relative", "worst of 5 steps, relative"},
            comparisons);
        const bool any_f32_pair = onednn_f32 >= 0 || (onednn_bf16 >= 0 && !bf16_hardware);
        if (any_f32_pair) {
          chapter.notice(
              fmt::format("the f32 computations agree to {} on the first loss (largest relative "
                          "difference {}), "
                          "{} after five steps: the kernels add the same numbers in different "
                          "orders, so float32 "
                          "rounding differs in the last bits, and the steps compound it.",
                          digits_in_common(f32_first), number(f32_first), number(f32_last)));
          chapter.claim("f32 computations give the same first loss (within 1e-5 relative)",
                        f32_first < 1e-5,
                        fmt::format("largest relative difference {}", number(f32_first)));
          chapter.claim("after five steps the f32 losses still agree within 1e-4 relative",
                        f32_last < 1e-4,
                        fmt::format("largest relative difference {}", number(f32_last)));
        }
        chapter.notice(fmt::format(
            "rounding the matrix products' inputs to bfloat16 moves the first loss by {} relative "
            "(worst over five steps {}): {} in common with the f32 run.",
            number(bf16_first), number(bf16_last), digits_in_common(bf16_first)));
        chapter.claim("bf16 losses stay within 2e-2 relative of f32 over five steps",
                      bf16_last < 2e-2,
                      fmt::format("largest relative difference {}", number(bf16_last)));
        if (hardware_vs_emulation >= 0) {
          chapter.claim(
              "oneDNN's bf16 hardware agrees with the reference backend's emulation within 1e-3 "
              "relative",
              hardware_vs_emulation < 1e-3,
              fmt::format("largest relative difference {}", number(hardware_vs_emulation)));
        } else if (onednn_bf16 >= 0) {
          chapter.say(
              "Without bf16 instructions there is no hardware bf16 to compare with the emulation "
              "here.");
        }

        // Timed: every configuration except the emulation (it computes bf16 numbers slowly, on
        // purpose).
        std::vector<std::size_t> timed;
        std::vector<std::string> timed_labels;
        for (std::size_t c = 0; c < configurations.size(); ++c) {
          if (int(c) == reference_bf16) continue;
          timed.push_back(c);
          timed_labels.push_back(
              configurations[c].label() +
              (computes[c].precision == configurations[c].precision ? "" : " (= f32)"));
        }
        // Positions in `timed` of oneDNN f32 and oneDNN bf16 (-1 when absent).
        const auto timed_position = [&](int configuration) {
          for (std::size_t t = 0; t < timed.size(); ++t) {
            if (int(timed[t]) == configuration) return int(t);
          }
          return -1;
        };
        const int t_f32 = timed_position(onednn_f32);
        const int t_bf16 = timed_position(onednn_bf16);
        const auto speedup_columns = [&](const std::vector<double>& ms,
                                         std::vector<std::string>& row) {
          row.push_back(t_f32 >= 0 ? speedup(ms[0], ms[t_f32]) : "-");
          row.push_back(t_f32 >= 0 && t_bf16 >= 0 ? speedup(ms[t_f32], ms[t_bf16]) : "-");
        };

        chapter.step("Time per op (forward + backward)");
        chapter.say(
            fmt::format("Each op runs {} times to warm up (oneDNN creates and caches its "
                        "primitives on the first call), "
                        "then {} timed times; we report the median, which ignores the odd run "
                        "slowed by another "
                        "program on the machine. Threads: {}.",
                        sizes.ops.warm_up, sizes.ops.measured, num_threads()));
        if (std::ifstream load_file("/proc/loadavg"); load_file) {
          double load = 0;
          load_file >> load;
          const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
          chapter.say(fmt::format(
              "Load average right now: {:.1f} on {} cores.{}", load, cores,
              load > cores
                  ? " Other programs are competing for the cores, and threaded kernels "
                    "suffer most when their threads must wait for each other: treat the "
                    "timings below as measurements of a busy machine, and rerun on a quiet "
                    "one to compare the backends themselves."
                  : ""));
        }
        std::vector<std::string> timing_rows;
        std::vector<std::vector<double>> timing_ms;
        rows.clear();
        std::string fastest_op, slowest_op;
        double best_ratio = 0, worst_ratio = 1e300;
        for (const OpBenchmark& op : op_benchmarks(sizes)) {
          manual_seed(seed + 11);
          std::vector<double> ms;
          for (std::size_t c : timed) {
            ConfigurationGuard guard(configurations[c]);
            std::function<void()> work = op.make();
            ms.push_back(median_ms(work, sizes.ops));
          }
          std::vector<std::string> row{op.name, op.shapes};
          for (double value : ms) row.push_back(number(value, 3));
          speedup_columns(ms, row);
          if (t_f32 >= 0 && ms[t_f32] > 0) {
            const double ratio = ms[0] / ms[t_f32];
            if (ratio > best_ratio) best_ratio = ratio, fastest_op = op.name;
            if (ratio < worst_ratio) worst_ratio = ratio, slowest_op = op.name;
          }
          rows.push_back(row);
          timing_rows.push_back(op.name);
          timing_ms.push_back(ms);
        }
        header = {"op", "shapes"};
        for (const auto& label : timed_labels) header.push_back(label + " ms");
        header.push_back("oneDNN f32 speed-up");
        header.push_back("bf16 speed-up");
        chapter.table(header, rows);
        if (t_f32 >= 0) {
          chapter.notice(fmt::format(
              "the oneDNN f32 speed-up is reference time / oneDNN f32 time. Here it is largest for "
              "{} ({:.2f}×) and smallest for {} ({:.2f}×).{}",
              fastest_op, best_ratio, slowest_op, worst_ratio,
              worst_ratio < 1 ? " Below 1× the reference kernel is the faster one at this size: a "
                                "primitive's fixed cost per call outweighs its faster inner loop."
                              : ""));
        }

        chapter.step("Time per training step");
        chapter.say(fmt::format(
            "A whole step (forward, loss, backward, SGD update) of two nets: the big one, "
            "784-{0}-{0}-10 with batch norm and ReLU on batches of {1}, and a small one, "
            "784-{2}-10 with "
            "ReLU on batches of {3}.",
            sizes.hidden, sizes.batch, sizes.small_hidden, sizes.small_batch));
        rows.clear();
        double big_speedup = 0, small_speedup = 0, bf16_speedup = 0;
        for (int which = 0; which < 2; ++which) {
          const bool big = which == 0;
          std::vector<double> ms;
          for (std::size_t c : timed) {
            ConfigurationGuard guard(configurations[c]);
            Model model = make_model(big ? big_dims : small_dims, big, seed + 5);
            const data::Batch& input = big ? batch : small_batch;
            ms.push_back(median_ms([&]() { train_step(model, input); },
                                   big ? sizes.big_step : sizes.small_step));
          }
          const std::string name =
              big ? fmt::format("step 784-{0}-{0}-10 BN, batch {1}", sizes.hidden, sizes.batch)
                  : fmt::format("step 784-{}-10, batch {}", sizes.small_hidden, sizes.small_batch);
          std::vector<std::string> row{name};
          for (double value : ms) row.push_back(number(value, 3));
          speedup_columns(ms, row);
          if (t_f32 >= 0) (big ? big_speedup : small_speedup) = ms[0] / ms[t_f32];
          if (big && t_f32 >= 0 && t_bf16 >= 0) bf16_speedup = ms[t_f32] / ms[t_bf16];
          rows.push_back(row);
          timing_rows.push_back(name);
          timing_ms.push_back(ms);
        }
        header = {"training step"};
        for (const auto& label : timed_labels) header.push_back(label + " ms");
        header.push_back("oneDNN f32 speed-up");
        header.push_back("bf16 speed-up");
        chapter.table(header, rows);
        std::string bf16_result;
        if (t_f32 >= 0) {
          chapter.notice(fmt::format(
              "oneDNN is {:.2f}× the reference backend's speed on the big step and {:.2f}× on the "
              "small "
              "one. {}",
              big_speedup, small_speedup,
              small_speedup < big_speedup
                  ? "The small net does little arithmetic per call, so fixed costs (recording the "
                    "graph, "
                    "dispatching kernels) weigh more there and a faster kernel buys less."
                  : "On this machine the small net gains as much as the big one."));
          if (bf16_hardware) {
            bf16_result = fmt::format("bf16 hardware: the big step runs {:.2f}× oneDNN f32's speed",
                                      bf16_speedup);
            chapter.notice(
                fmt::format("with bf16 instructions, the big step in bf16 runs at {:.2f}× the f32 "
                            "speed, for a loss "
                            "that differs by {} relative.",
                            bf16_speedup, number(bf16_last)));
          } else {
            bf16_result =
                "no bf16 instructions for oneDNN here, so no bf16 speed-up (the bf16 request "
                "computes f32)";
            chapter.notice(fmt::format(
                "without bf16 instructions the oneDNN 'bf16' configuration computes f32, so its "
                "time is "
                "f32 time: both columns time the same computation (ratio {:.2f} on the big step).",
                bf16_speedup));
          }
        }
        write_csv_and_bars(chapter, timed_labels, timing_rows, timing_ms);

        chapter.step("Where a step's time goes");
        const int profiled_steps = chapter.quick() ? 2 : 5;
        chapter.say(fmt::format(
            "gradlab::Profiler (autograd/profiler.hpp) times every op's forward and backward while "
            "it lives; `--profile` on any program prints its table. Here it watches {} steps of "
            "the big net on each configuration (after one warm-up step). Per configuration, the "
            "four costliest op kinds, in ms per step, and their share of the step; the optimiser "
            "update and the glue between ops are what the ops leave.",
            profiled_steps));
        rows.clear();
        std::vector<std::string> heaviest;
        for (std::size_t t = 0; t < timed.size(); ++t) {
          ConfigurationGuard guard(configurations[timed[t]]);
          Model model = make_model(big_dims, true, seed + 5);
          train_step(model, batch);
          Profiler profile;
          for (int i = 0; i < profiled_steps; ++i) {
            Profiler::Range range("step");
            train_step(model, batch);
          }
          profile.stop();
          const ProfileReport report = profile.report();
          const double step_ms = report.profiled_ms / std::max<double>(1, report.steps);
          const auto share = [&](double ms) {
            return fmt::format("{:.0f} %", 100.0 * ms / std::max(report.profiled_ms, 1e-12));
          };
          const auto per_step = [&](double ms) { return number(ms / profiled_steps, 3); };
          for (std::size_t k = 0; k < std::min<std::size_t>(4, report.ops.size()); ++k) {
            const ProfileRow& op = report.ops[k];
            rows.push_back({timed_labels[t], op.op, per_step(op.forward_ms),
                            per_step(op.backward_ms), share(op.total_ms())});
          }
          rows.push_back(
              {timed_labels[t], "(rest: optimiser, glue)", "", "", share(report.outside_ops_ms())});
          if (!report.ops.empty()) {
            const ProfileRow& top = report.ops.front();
            heaviest.push_back(fmt::format(
                "on {} ({} ms per step) {} takes {} of the step, {} of it in the backward pass",
                timed_labels[t], number(step_ms, 3), top.op, share(top.total_ms()),
                fmt::format("{:.0f} %",
                            100.0 * top.backward_ms / std::max(top.total_ms(), 1e-12))));
          }
        }
        chapter.table({"configuration", "op kind", "forward ms", "backward ms", "share"}, rows);
        if (!heaviest.empty()) {
          std::string sentence = "the costliest op kind, measured: ";
          for (std::size_t k = 0; k < heaviest.size(); ++k)
            sentence += (k > 0 ? "; " : "") + heaviest[k];
          chapter.notice(sentence +
                         ". Run any program with --profile-trace trace.json to see "
                         "every op of every step on a timeline (ui.perfetto.dev).");
        }

        chapter.step("The same idea one floor down: two scalar engines");
        const int points = chapter.quick() ? 2000 : 20000;
        chapter.say(fmt::format(
            "Backends are not the only place where one design is written to be read and another to "
            "be fast. The scalar engine of chapter 01 (autograd/value.cpp, 300 lines) keeps each "
            "node in its own std::shared_ptr with std::vectors of children and local gradients, "
            "and "
            "sorts the graph before every backward pass. autograd/fast/value.cpp computes the same "
            "numbers with three changes: nodes of one cache line cut in creation order from a "
            "per-thread arena (allocation), the number, gradient and two inputs packed together "
            "(layout), and a backward pass that walks the arena from the newest node back instead "
            "of sorting (creation order is already a topological order). Both build, "
            "back-propagate and free the graph of loss = Σ (tanh(w·x + b) − y)² over {} points "
            "(about {} nodes); medians of 5 runs, in ms.",
            points, 6 * points));
        const ScalarPhases reading = time_scalar_engine<gradlab::Value>(points, 5);
        const ScalarPhases fast = time_scalar_engine<gradlab::fast::Value>(points, 5);
        const auto ratio = [](double slow, double quick) {
          return quick > 0 ? fmt::format("{:.1f}×", slow / quick) : std::string("-");
        };
        chapter.table({"phase", "autograd/value (to read)", "autograd/fast/value", "ratio"},
                      {{"build the graph", number(reading.forward, 3), number(fast.forward, 3),
                        ratio(reading.forward, fast.forward)},
                       {"backward", number(reading.backward, 3), number(fast.backward, 3),
                        ratio(reading.backward, fast.backward)},
                       {"free the graph", number(reading.free, 3), number(fast.free, 3),
                        ratio(reading.free, fast.free)},
                       {"all", number(reading.total(), 3), number(fast.total(), 3),
                        ratio(reading.total(), fast.total())}});
        {
          Value w(0.5), b(-0.1);
          fast::Value fw(0.5), fb(-0.1);
          Value loss(0.0);
          fast::Value fast_loss(0.0);
          for (int i = 0; i < 100; ++i) {
            const double x = std::sin(0.01 * i), y = std::cos(0.02 * i);
            const Value e = tanh(w * x + b) - y;
            const fast::Value fe = tanh(fw * x + fb) - y;
            loss = loss + e * e;
            fast_loss = fast_loss + fe * fe;
          }
          loss.backward();
          fast_loss.backward();
          const auto same = [](double p, double q) {
            return std::abs(p - q) <= 1e-12 * std::abs(p);
          };
          chapter.claim("both engines compute the same loss and gradients (within 1e-12)",
                        same(loss.data(), fast_loss.data()) && same(w.grad(), fw.grad()) &&
                            same(b.grad(), fb.grad()),
                        fmt::format("loss {} and {}, dw {} and {}", loss.data(), fast_loss.data(),
                                    w.grad(), fw.grad()));
        }
        const std::pair<const char*, double> phases[] = {
            {"building the graph", reading.forward / std::max(fast.forward, 1e-9)},
            {"the backward pass", reading.backward / std::max(fast.backward, 1e-9)},
            {"freeing the graph", reading.free / std::max(fast.free, 1e-9)}};
        const auto biggest =
            *std::max_element(std::begin(phases), std::end(phases),
                              [](const auto& p, const auto& q) { return p.second < q.second; });
        chapter.notice(fmt::format(
            "here the fast engine takes {:.1f}× less time in all, and gains most in {} ({:.1f}×). "
            "Nothing in the arithmetic changed: the difference is memory (how nodes are made, laid "
            "out and found again).",
            reading.total() / std::max(fast.total(), 1e-9), biggest.first, biggest.second));
        chapter.summary(
            t_f32 >= 0
                ? fmt::format(
                      "f32 losses agree across backends (first-loss relative difference {}); bf16 "
                      "rounding moves the loss by {} relative; big training step speed-up of "
                      "oneDNN over reference {:.2f}× (medians); {}",
                      number(f32_first), number(bf16_first), big_speedup, bf16_result)
                : fmt::format("only the reference backend is built in; its bf16 emulation moves "
                              "the loss by {} "
                              "relative",
                              number(bf16_first)));
      },
      [&flags](CLI::App& app) {
        gradlab::cli::whole_number_in(
            app.add_option(
                "--batch", flags.batch,
                "Batch of the big net's ops and training step (8 to 2048; default 256, 32 with "
                "--quick). Batch norm over fewer examples makes five steps chaotic: the "
                "backends' last-bit differences grow too fast to compare them."),
            8, 2048);
        gradlab::cli::whole_number_in(
            app.add_option(
                "--hidden", flags.hidden,
                "Hidden units of the big net (8 to 4096; default 1024, 128 with --quick)"),
            8, 4096);
      });
}
