// Whole training steps (forward + backward + SGD-momentum update) of the three workloads, on
// every backend and precision.
#include <benchmark/benchmark.h>

#include "backends/backend.hpp"
#include "registration.hpp"
#include "workloads.hpp"

namespace gradlab::bench {

void register_training_benchmarks(const std::vector<Configuration>& configurations) {
  for (const Workload& workload : workloads()) {
    for (const Configuration& configuration : configurations) {
      std::string name =
          "step/" + workload.name + "/" + configuration.backend + "/" + configuration.precision;
      benchmark::RegisterBenchmark(
          name.c_str(),
          [workload, configuration](benchmark::State& state) {
            BackendGuard guard(configuration.backend);
            Precision previous = precision();
            set_precision(parse_precision(configuration.precision));
            TrainingStep step(workload);
            step.run();  // warm-up: primitive caches, first-touch of buffers
            for (auto _ : state) benchmark::DoNotOptimize(step.run());
            set_precision(previous);
          })
          ->Unit(benchmark::kMillisecond)
          ->MinTime(1.0);
    }
  }
}

}  // namespace gradlab::bench
