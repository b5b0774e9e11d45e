// micrograd's demo as a benchmark: a 2-16-16-1 MLP made of scalar `Value` neurons learns the
// "two moons" with an SVM max-margin loss. Every weight, product and sum is one graph node, so
// this measures what a scalar autograd engine costs per node (65,616 nodes per step).
//
// Reported per run of 100 full-batch SGD steps: `ms_per_step` and `cpu_ms_per_step` (forward +
// backward + update + freeing the graph; wall-clock and this thread's CPU time),
// `nodes_per_step`, and the final training `accuracy` (micrograd reaches 1.0; anything below
// 0.95 means the engine is wrong, not slow). Both scalar engines run: the fast one
// (autograd/fast/value.hpp), the one to read (autograd/value.hpp), and the two side by side in
// `BM_ScalarEnginesCompared`, whose `reading_over_fast` is the ratio of their times in one run.
//
// This file defines benchmarks only; the main comes from benchmark::benchmark_main.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <memory>
#include <numbers>
#include <random>
#include <vector>

#include "autograd/fast/value.hpp"
#include "autograd/value.hpp"

namespace {

// --- the data: two interleaving half circles -----------------------------------------------

struct Moons {
  std::vector<std::array<double, 2>> points;
  std::vector<double> labels;  // −1 for the upper moon, +1 for the lower one
};

// `count` points, half on the upper arc (cos t, sin t) and half on the lower arc
// (1 − cos t, 0.5 − sin t), t ∈ [0, π], plus Gaussian noise of standard deviation `noise`.
// Deterministic: mt19937_64's output is fixed by the C++ standard, and the uniform → normal step
// (Box–Muller) is our own.
Moons make_moons(int count, double noise, std::uint64_t seed) {
  std::mt19937_64 engine(seed);
  auto uniform = [&] { return static_cast<double>(engine() >> 11) * 0x1.0p-53; };  // [0, 1)
  auto normal = [&] {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  };
  Moons moons;
  const int upper_count = count / 2;
  for (int i = 0; i < count; ++i) {
    const bool upper = i < upper_count;
    const int index = upper ? i : i - upper_count;
    const int on_this_arc = upper ? upper_count : count - upper_count;
    const double t = std::numbers::pi * index / std::max(on_this_arc - 1, 1);
    const double x = upper ? std::cos(t) : 1.0 - std::cos(t);
    const double y = upper ? std::sin(t) : 0.5 - std::sin(t);
    moons.points.push_back({x + noise * normal(), y + noise * normal()});
    moons.labels.push_back(upper ? -1.0 : 1.0);
  }
  return moons;
}

// --- the model: micrograd's MLP ---------------------------------------------------------------

// A fully connected net of scalar neurons, score = W3·relu(W2·relu(W1·x + b1) + b2) + b3, with
// weights drawn uniformly from (−1, 1) and biases 0, as micrograd's `nn.py` does.
// `Value` is the engine: gradlab::Value (autograd/value.hpp) or gradlab::fast::Value.
template <class Value>
class ScalarMlp {
 public:
  ScalarMlp(const std::vector<int>& sizes, std::uint64_t seed) {
    std::mt19937_64 engine(seed);
    auto uniform = [&] { return static_cast<double>(engine() >> 11) * 0x1.0p-52 - 1.0; };
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
      Layer layer;
      layer.relu = l + 2 < sizes.size();  // every layer but the last
      for (int out = 0; out < sizes[l + 1]; ++out) {
        std::vector<Value> row;
        for (int in = 0; in < sizes[l]; ++in) row.emplace_back(uniform());
        layer.weights.push_back(std::move(row));
        layer.biases.emplace_back(0.0);
      }
      layers_.push_back(std::move(layer));
    }
  }

  // The score of one point (a new graph each call).
  Value operator()(const std::array<double, 2>& point) const {
    std::vector<Value> activations = {Value(point[0]), Value(point[1])};
    for (const Layer& layer : layers_) {
      std::vector<Value> next;
      next.reserve(layer.weights.size());
      for (std::size_t out = 0; out < layer.weights.size(); ++out) {
        Value sum = layer.biases[out];
        for (std::size_t in = 0; in < activations.size(); ++in) {
          sum = sum + layer.weights[out][in] * activations[in];
        }
        next.push_back(layer.relu ? relu(sum) : sum);
      }
      activations = std::move(next);
    }
    return activations.front();
  }

  std::vector<Value> parameters() const {
    std::vector<Value> result;
    for (const Layer& layer : layers_) {
      for (const auto& row : layer.weights) result.insert(result.end(), row.begin(), row.end());
      result.insert(result.end(), layer.biases.begin(), layer.biases.end());
    }
    return result;
  }

 private:
  struct Layer {
    std::vector<std::vector<Value>> weights;  // [out][in]
    std::vector<Value> biases;
    bool relu = true;
  };
  std::vector<Layer> layers_;
};

// --- training ----------------------------------------------------------------------------------

// loss = mean_i max(0, 1 − yᵢ·scoreᵢ) + 1e-4 · Σ w²   (micrograd's SVM max-margin loss).
template <class Value>
Value svm_loss(const ScalarMlp<Value>& model, const std::vector<Value>& parameters,
               const Moons& moons) {
  Value data_loss(0.0);
  for (std::size_t i = 0; i < moons.points.size(); ++i) {
    data_loss = data_loss + relu(1.0 - moons.labels[i] * model(moons.points[i]));
  }
  Value squares(0.0);
  for (const Value& p : parameters) squares = squares + p * p;
  return data_loss / static_cast<double>(moons.points.size()) + 1e-4 * squares;
}

// One full-batch SGD step with learning rate 1 − 0.9·step/100; returns the graph's size.
template <class Value>
std::size_t train_step(const ScalarMlp<Value>& model, const std::vector<Value>& parameters,
                       const Moons& moons, int step) {
  Value loss = svm_loss(model, parameters, moons);
  for (const Value& p : parameters) p.set_grad(0.0);
  loss.backward();
  const double learning_rate = 1.0 - 0.9 * step / 100.0;
  for (const Value& p : parameters) p.set_data(p.data() - learning_rate * p.grad());
  return step == 0 ? topological_order(loss).size() : 0;
}

template <class Value>
double accuracy(const ScalarMlp<Value>& model, const Moons& moons) {
  int correct = 0;
  for (std::size_t i = 0; i < moons.points.size(); ++i) {
    correct += (model(moons.points[i]).data() > 0.0) == (moons.labels[i] > 0.0) ? 1 : 0;
  }
  return static_cast<double>(correct) / static_cast<double>(moons.points.size());
}

// CPU time of this thread in milliseconds: on a shared machine, wall time also counts the time
// other programs held the core, so both are reported.
double thread_cpu_ms() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return 1e3 * static_cast<double>(now.tv_sec) + 1e-6 * static_cast<double>(now.tv_nsec);
}

double wall_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One benchmark iteration = a fresh model trained for 100 steps.
template <class Value>
void BM_ScalarMlpMoonsTraining(benchmark::State& state) {
  constexpr int steps = 100;
  const Moons moons = make_moons(100, 0.1, 7);
  double wall = 0.0, cpu = 0.0, final_accuracy = 0.0;
  std::size_t nodes_per_step = 0;
  for (auto _ : state) {
    state.PauseTiming();
    ScalarMlp<Value> model({2, 16, 16, 1}, 1337);
    const std::vector<Value> parameters = model.parameters();
    state.ResumeTiming();
    const double wall_start = wall_ms(), cpu_start = thread_cpu_ms();
    for (int step = 0; step < steps; ++step) {
      const std::size_t nodes = train_step(model, parameters, moons, step);
      if (step == 0) nodes_per_step = nodes;
    }
    wall += wall_ms() - wall_start;
    cpu += thread_cpu_ms() - cpu_start;
    state.PauseTiming();
    final_accuracy = accuracy(model, moons);
    state.ResumeTiming();
  }
  const double total_steps = static_cast<double>(state.iterations()) * steps;
  state.counters["ms_per_step"] = wall / total_steps;
  state.counters["cpu_ms_per_step"] = cpu / total_steps;
  state.counters["nodes_per_step"] = static_cast<double>(nodes_per_step);
  state.counters["accuracy"] = final_accuracy;
}

// The three costs of one step taken apart, in CPU milliseconds: building the graph (forward),
// back-propagating (ordering the graph and applying the chain rule), and freeing the graph.
template <class Value>
void BM_ScalarMlpMoonsStepPhases(benchmark::State& state) {
  const Moons moons = make_moons(100, 0.1, 7);
  ScalarMlp<Value> model({2, 16, 16, 1}, 1337);
  const std::vector<Value> parameters = model.parameters();
  double forward = 0.0, backward = 0.0, teardown = 0.0;
  for (auto _ : state) {
    const double t0 = thread_cpu_ms();
    auto loss = std::make_unique<Value>(svm_loss(model, parameters, moons));
    const double t1 = thread_cpu_ms();
    loss->backward();
    const double t2 = thread_cpu_ms();
    loss.reset();
    const double t3 = thread_cpu_ms();
    forward += t1 - t0;
    backward += t2 - t1;
    teardown += t3 - t2;
  }
  const double runs = static_cast<double>(state.iterations());
  state.counters["forward_cpu_ms"] = forward / runs;
  state.counters["backward_cpu_ms"] = backward / runs;
  state.counters["free_cpu_ms"] = teardown / runs;
}

// CPU milliseconds per step of `steps` training steps of a fresh model on `Value`'s engine.
template <class Value>
double cpu_ms_per_step(const Moons& moons, int steps) {
  ScalarMlp<Value> model({2, 16, 16, 1}, 1337);
  const std::vector<Value> parameters = model.parameters();
  const double start = thread_cpu_ms();
  for (int step = 0; step < steps; ++step) train_step(model, parameters, moons, step);
  return (thread_cpu_ms() - start) / steps;
}

// The two engines side by side in one run: each iteration trains both for 20 steps, in turn,
// and `reading_over_fast` is the engine to read's CPU time over the fast engine's.
void BM_ScalarEnginesCompared(benchmark::State& state) {
  const Moons moons = make_moons(100, 0.1, 7);
  double reading = 0.0, fast = 0.0;
  for (auto _ : state) {
    reading += cpu_ms_per_step<gradlab::Value>(moons, 20);
    fast += cpu_ms_per_step<gradlab::fast::Value>(moons, 20);
  }
  const double runs = static_cast<double>(state.iterations());
  state.counters["reading_cpu_ms_per_step"] = reading / runs;
  state.counters["fast_cpu_ms_per_step"] = fast / runs;
  state.counters["reading_over_fast"] = reading / fast;
}

}  // namespace

BENCHMARK_TEMPLATE(BM_ScalarMlpMoonsTraining, gradlab::fast::Value)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_ScalarMlpMoonsStepPhases, gradlab::fast::Value)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_ScalarMlpMoonsTraining, gradlab::Value)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScalarEnginesCompared)->Unit(benchmark::kMillisecond);
