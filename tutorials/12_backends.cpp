// Chapter 12: backends.
//
// Everything so far ran through one list of kernels (backends/backend.hpp) without caring who
// implements them. Here we swap the implementation under the very same code: the reference
// backend (xtensor, written to be read) and the oneDNN backend (Intel's primitives, written to
// be fast), in f32 and with bf16 requested. We time single ops and whole training steps, and we
// check that the two backends compute the same loss.
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

#include "autograd/ops.hpp"
#include "backends/backend.hpp"
#include "modules/data.hpp"
#include "modules/nn.hpp"
#include "modules/optim.hpp"
#include "modules/plots.hpp"
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
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
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
  ops.push_back({"linear", fmt::format("x [{0}, {1}] · W [{1}, {1}] + b", n, d), [n, d]() {
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
                   return std::function<void()>([=]() { cross_entropy(scores, targets).backward(); });
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
  model.optimizer = std::make_unique<optim::SGD>(model.net.parameters(), optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  return model;
}

/// One training step: forward, loss, backward, update. Returns the loss.
double train_step(Model& model, const data::Batch& batch) {
  nn::CrossEntropyLoss criterion;
  model.optimizer->zero_grad();
  Tensor loss = criterion(model.net(batch.images), batch.labels);
  loss.backward();
  model.optimizer->step();
  return loss.item();
}

std::string speedup(double reference_ms, double other_ms) {
  if (!(other_ms > 0)) return "-";
  const double ratio = reference_ms / other_ms;
  return ratio < 1 ? fmt::format("{:.2f}×", ratio) : fmt::format("{:.1f}×", ratio);
}

/// Writes the timings as CSV, then a clustered bar chart of them (one cluster per op or step, one
/// bar per configuration, log-scale y since the ops differ by orders of magnitude) as a gnuplot
/// script beside it, and runs gnuplot. modules/plots.hpp has no bar chart, so the chapter writes
/// this one script itself, following the plots module's habit: CSV + .gp + .png side by side.
void write_csv_and_bars(Chapter& chapter, const std::vector<Configuration>& configurations,
                        const std::vector<std::string>& rows, const std::vector<std::vector<double>>& ms) {
  const std::string csv = chapter.path("timings.csv");
  std::ofstream table(csv);
  if (!table) throw Error("chapter 12: cannot write " + csv);
  table << "what";
  for (const auto& c : configurations) table << "," << c.label();
  table << "\n";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    table << '"' << rows[r] << '"';
    for (double value : ms[r]) table << fmt::format(",{:.6f}", value);
    table << "\n";
  }
  table.close();
  chapter.picture(csv, "median milliseconds per op and per training step, every backend and precision");

  std::ofstream script(chapter.path("timings.gp"));
  script << "# gnuplot script written by gradlab chapter 12; change it and rerun: gnuplot timings.gp\n"
            "set terminal pngcairo size 1100,600 enhanced font 'DejaVu Sans,10'\n"
            "set output 'timings.png'\n"
            "set datafile separator ','\n"
            "set title 'Median time per op (forward + backward) and per training step'\n"
            "set style data histograms\n"
            "set style histogram clustered gap 1\n"
            "set style fill solid 0.85 border -1\n"
            "set logscale y\n"
            "set ylabel 'milliseconds (log scale)'\n"
            "set grid ytics\n"
            "set xtics rotate by -15 scale 0\n"
            "set key top left\n"
         << fmt::format("plot for [column=2:{}] 'timings.csv' using column:xtic(1) title columnheader(column)\n",
                        configurations.size() + 1);
  script.close();
  if (!plots::gnuplot_available()) {
    chapter.say("no bar chart: gnuplot is not installed (Debian gnuplot-nox); timings.csv and timings.gp are written");
    return;
  }
  const std::string command = "cd '" + chapter.out_dir() + "' && " + plots::default_gnuplot_command() +
                              " timings.gp > timings.gnuplot.log 2>&1";
  if (std::system(command.c_str()) == 0 && std::filesystem::exists(chapter.path("timings.png"))) {
    chapter.picture(chapter.path("timings.png"), "bar chart of the timings (log scale)");
  } else {
    chapter.say("no bar chart: gnuplot failed, see " + chapter.path("timings.gnuplot.log"));
  }
}

}  // namespace

int main(int argc, char** argv) {
  return tutorial::run_chapter(argc, argv, {12, "backends", "Backends: the same step, different kernels"}, [](Chapter& chapter) {
    Sizes sizes;
    if (chapter.quick()) {
      sizes = {.batch = 32, .hidden = 128, .small_batch = 16, .small_hidden = 50,
               .ops = {1, 3}, .big_step = {1, 3}, .small_step = {1, 3}};
    }
    const std::uint64_t seed = chapter.options().seed;

    chapter.step("The backends on this machine");
    chapter.say(
        "A backend is one implementation of the kernel list in backends/backend.hpp: matrix "
        "products, elementwise functions, batch norm, softmax cross-entropy, optimiser updates. "
        "Tensors and autograd sit above it and do not change. Precision bf16 asks the matrix "
        "products to round their inputs to bfloat16 (8 bits of mantissa) and accumulate in f32, "
        "which pays off only on CPUs with bf16 instructions (AVX512-BF16 or AMX).");
    std::vector<Configuration> configurations;
    std::vector<std::vector<std::string>> rows;
    std::string bf16_note = "no backend offers it";
    for (const std::string& name : available_backends()) {
      for (Precision p : {Precision::f32, Precision::bf16}) {
        if (name == "reference" && p == Precision::bf16) continue;  // it computes f32/f64 only
        configurations.push_back({name, p});
      }
    }
    // Reference first: it is the baseline of every speed-up.
    std::sort(configurations.begin(), configurations.end(), [](const Configuration& a, const Configuration& b) {
      return std::pair(a.backend != "reference", int(a.precision)) < std::pair(b.backend != "reference", int(b.precision));
    });
    for (const Configuration& configuration : configurations) {
      ConfigurationGuard guard(configuration);
      rows.push_back({configuration.label(), backend().description()});
      if (configuration.precision == Precision::bf16) bf16_note = backend().description();
    }
    chapter.table({"configuration", "what the backend says about itself"}, rows);
    chapter.notice(
        "read the description: on a CPU without bf16 instructions the oneDNN backend says that it "
        "computes in f32 anyway, so its bf16 timings below are f32 timings under another name. The "
        "reference backend has no bf16 mode at all.");

    chapter.step("Do the backends compute the same thing?");
    const std::string dir = chapter.options().data.empty() ? data::default_fashion_mnist_dir : chapter.options().data;
    data::Dataset test = data::load_fashion_mnist(dir, data::Split::test);
    data::Batch batch = data::BatchIterator(test, sizes.batch, seed).batch(0);
    data::Batch small_batch = data::BatchIterator(test, sizes.small_batch, seed + 1).batch(0);
    const std::vector<std::int64_t> big_dims{784, sizes.hidden, sizes.hidden, 10};
    const std::vector<std::int64_t> small_dims{784, sizes.small_hidden, 10};
    chapter.say(fmt::format(
        "The net 784-{0}-{0}-10 with batch norm and ReLU (He initialisation), built from the same seed "
        "on every backend, takes five SGD steps (momentum 0.9, lr 0.01) on the same batch of {1} "
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
      for (std::size_t c = 0; c < configurations.size(); ++c) row.push_back(fmt::format("{:.7f}", losses[c][i]));
      double spread = 0;
      for (std::size_t c = 1; c < configurations.size(); ++c) spread = std::max(spread, std::abs(losses[c][i] - losses[0][i]));
      row.push_back(number(spread));
      rows.push_back(row);
    }
    std::vector<std::string> header{"loss"};
    for (const auto& c : configurations) header.push_back(c.label());
    header.push_back("max difference");
    chapter.table(header, rows);
    double weight_difference = 0, first_loss_difference = 0, last_loss_difference = 0;
    for (std::size_t c = 1; c < configurations.size(); ++c) {
      for (std::size_t p = 0; p < initial_parameters[c].size(); ++p) {
        std::vector<double> a = initial_parameters[c][p].to_vector(), b = initial_parameters[0][p].to_vector();
        for (std::size_t i = 0; i < a.size(); ++i) weight_difference = std::max(weight_difference, std::abs(a[i] - b[i]));
      }
      first_loss_difference = std::max(first_loss_difference, std::abs(losses[c][0] - losses[0][0]));
      last_loss_difference = std::max(last_loss_difference, std::abs(losses[c][steps - 1] - losses[0][steps - 1]));
    }
    chapter.notice(
        "the random initial weights are identical on every backend (one counter-based generator, "
        "backends/random.hpp), and the losses agree to about six digits: the kernels add the same "
        "numbers in different orders, so float32 rounding differs in the last bits, and that "
        "difference grows slowly as the steps compound it.");
    if (configurations.size() > 1) {
      chapter.claim("every backend starts from the same weights", weight_difference == 0.0,
                    fmt::format("max difference {}", number(weight_difference)));
      chapter.claim("every backend computes the same first loss (within 1e-5)", first_loss_difference < 1e-5,
                    fmt::format("max difference {}", number(first_loss_difference)));
      chapter.claim("after five steps the losses still agree within 1e-4", last_loss_difference < 1e-4,
                    fmt::format("max difference {}", number(last_loss_difference)));
    } else {
      chapter.say("Only one backend is built in (configure with -DGRADLAB_ONEDNN=ON to compare).");
    }

    chapter.step("Time per op (forward + backward)");
    chapter.say(fmt::format(
        "Each op runs {} times to warm up (oneDNN creates and caches its primitives on the first call), "
        "then {} timed times; we report the median, which ignores the odd run slowed by another "
        "program on the machine. Threads: {}.",
        sizes.ops.warm_up, sizes.ops.measured, num_threads()));
    if (std::ifstream load_file("/proc/loadavg"); load_file) {
      double load = 0;
      load_file >> load;
      const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
      chapter.say(fmt::format("Load average right now: {:.1f} on {} cores.{}", load, cores,
                              load > cores ? " Other programs are competing for the cores, and threaded kernels "
                                             "suffer most when their threads must wait for each other: treat the "
                                             "timings below as measurements of a busy machine, and rerun on a quiet "
                                             "one to compare the backends themselves."
                                           : ""));
    }
    std::vector<std::string> timing_rows;
    std::vector<std::vector<double>> timing_ms;
    rows.clear();
    for (const OpBenchmark& op : op_benchmarks(sizes)) {
      manual_seed(seed + 11);
      std::vector<double> ms;
      for (const Configuration& configuration : configurations) {
        ConfigurationGuard guard(configuration);
        std::function<void()> work = op.make();
        ms.push_back(median_ms(work, sizes.ops));
      }
      std::vector<std::string> row{op.name, op.shapes};
      for (double value : ms) row.push_back(number(value, 3));
      row.push_back(configurations.size() > 1 ? speedup(ms[0], ms[1]) : "-");
      rows.push_back(row);
      timing_rows.push_back(op.name);
      timing_ms.push_back(ms);
    }
    header = {"op", "shapes"};
    for (const auto& c : configurations) header.push_back(c.label() + " ms");
    header.push_back("speed-up");
    chapter.table(header, rows);
    chapter.notice(
        "the speed-up column is reference time / oneDNN f32 time. The matrix product dominates "
        "and is where a tuned kernel matters; the cheap elementwise ops are limited by memory "
        "bandwidth, so no backend can make them much faster.");

    chapter.step("Time per training step");
    chapter.say(fmt::format(
        "A whole step (forward, loss, backward, SGD update) of two nets: the big one, "
        "784-{0}-{0}-10 with batch norm and ReLU on batches of {1}, and a small one, 784-{2}-10 with "
        "ReLU on batches of {3}.",
        sizes.hidden, sizes.batch, sizes.small_hidden, sizes.small_batch));
    rows.clear();
    double big_speedup = 0;
    for (int which = 0; which < 2; ++which) {
      const bool big = which == 0;
      std::vector<double> ms;
      for (const Configuration& configuration : configurations) {
        ConfigurationGuard guard(configuration);
        Model model = make_model(big ? big_dims : small_dims, big, seed + 5);
        const data::Batch& input = big ? batch : small_batch;
        ms.push_back(median_ms([&]() { train_step(model, input); }, big ? sizes.big_step : sizes.small_step));
      }
      const std::string name = big ? fmt::format("step 784-{0}-{0}-10 BN, batch {1}", sizes.hidden, sizes.batch)
                                   : fmt::format("step 784-{}-10, batch {}", sizes.small_hidden, sizes.small_batch);
      std::vector<std::string> row{name};
      for (double value : ms) row.push_back(number(value, 3));
      row.push_back(configurations.size() > 1 ? speedup(ms[0], ms[1]) : "-");
      if (big && configurations.size() > 1) big_speedup = ms[0] / ms[1];
      rows.push_back(row);
      timing_rows.push_back(name);
      timing_ms.push_back(ms);
    }
    header = {"training step"};
    for (const auto& c : configurations) header.push_back(c.label() + " ms");
    header.push_back("speed-up");
    chapter.table(header, rows);
    chapter.notice(
        "the big step is mostly matrix products, so the backends differ most there; the small net "
        "does so little arithmetic per call that fixed costs (graph recording, kernel dispatch) "
        "decide its time. Without bf16 hardware the 'bf16' column matches f32 within noise.");
    write_csv_and_bars(chapter, configurations, timing_rows, timing_ms);
    chapter.summary(configurations.size() > 1
                        ? fmt::format("same loss on every backend (first-step difference {}); big training step "
                                      "speed-up of oneDNN over reference {:.2f}× (medians); bf16: {}",
                                      number(first_loss_difference), big_speedup, bf16_note)
                        : "only the reference backend is built in");
  });
}
