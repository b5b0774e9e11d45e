// Per-op benchmarks on every backend: each op's forward, and forward + backward, through the
// Tensor API (what a user's code pays), plus the per-op overhead on tiny tensors.
#include <benchmark/benchmark.h>

#include <functional>
#include <string>

#include "autograd/ops.hpp"
#include "backends/backend.hpp"
#include "registration.hpp"

namespace gradlab::bench {
namespace {

using OpFunction = std::function<Tensor(const Tensor&)>;

struct OpCase {
  std::string name;
  Shape shape;
  OpFunction op;
};

std::vector<OpCase> op_cases() {
  Tensor weight = randn({1024, 1024}) * 0.03;
  Tensor bias = zeros({1024});
  Tensor gamma = ones({1024}), beta = zeros({1024});
  Tensor classes = labels(std::vector<std::int64_t>(256, 3));
  return {
      {"matmul 256x1024x1024",
       {256, 1024},
       [weight](const Tensor& x) { return matmul(x, weight); }},
      {"linear 256x1024x1024",
       {256, 1024},
       [weight, bias](const Tensor& x) { return linear(x, weight, bias); }},
      {"sigmoid 256x1024", {256, 1024}, [](const Tensor& x) { return sigmoid(x); }},
      {"tanh 256x1024", {256, 1024}, [](const Tensor& x) { return tanh(x); }},
      {"relu 256x1024", {256, 1024}, [](const Tensor& x) { return relu(x); }},
      {"leaky_relu 256x1024", {256, 1024}, [](const Tensor& x) { return leaky_relu(x, 0.01); }},
      {"elu 256x1024", {256, 1024}, [](const Tensor& x) { return elu(x, 1.0); }},
      {"batch_norm 256x1024",
       {256, 1024},
       [gamma, beta](const Tensor& x) {
         return batch_norm(x, gamma, beta, Tensor(), Tensor(), true);
       }},
      {"softmax_cross_entropy 256x1024",
       {256, 1024},
       [classes](const Tensor& x) { return cross_entropy(x, classes); }},
  };
}

void run_forward(benchmark::State& state, const std::string& backend_name, const OpCase& op) {
  BackendGuard guard(backend_name);
  Tensor x = randn(op.shape);
  for (auto _ : state) {
    Tensor y = op.op(x);
    benchmark::DoNotOptimize(y.raw_data());
  }
}

void run_forward_backward(benchmark::State& state, const std::string& backend_name,
                          const OpCase& op) {
  BackendGuard guard(backend_name);
  Tensor x = randn(op.shape, {.requires_grad = true});
  for (auto _ : state) {
    Tensor y = op.op(x);
    Tensor seed = y.numel() == 1 ? Tensor() : ones(y.shape());
    y.backward(seed);
    benchmark::DoNotOptimize(x.grad().raw_data());
    x.zero_grad();
  }
}

// h = tanh(h · 1.01 + 0.1) a hundred times on 4×4 (300 ops), then h.sum().backward(): the cost
// of the framework itself, not of arithmetic. The table divides the time per iteration by 300.
void run_overhead(benchmark::State& state, const std::string& backend_name) {
  BackendGuard guard(backend_name);
  Tensor x = randn({4, 4}, {.requires_grad = true});
  for (auto _ : state) {
    Tensor h = x;
    for (int i = 0; i < 100; ++i) h = tanh(h * 1.01 + 0.1);
    h.sum().backward();
    x.zero_grad();
  }
}

}  // namespace

void register_op_benchmarks(const std::vector<std::string>& backends) {
  for (const std::string& backend_name : backends) {
    for (const OpCase& op : op_cases()) {
      benchmark::RegisterBenchmark(
          ("op/" + backend_name + "/forward/" + op.name).c_str(),
          [backend_name, op](benchmark::State& state) { run_forward(state, backend_name, op); })
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(("op/" + backend_name + "/forward+backward/" + op.name).c_str(),
                                   [backend_name, op](benchmark::State& state) {
                                     run_forward_backward(state, backend_name, op);
                                   })
          ->Unit(benchmark::kMicrosecond);
    }
    benchmark::RegisterBenchmark(
        ("overhead/" + backend_name + "/tanh-chain 4x4 (300 ops)").c_str(),
        [backend_name](benchmark::State& state) { run_overhead(state, backend_name); })
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace gradlab::bench
