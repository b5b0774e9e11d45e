#pragma once
// Registration of the benchmark families (bench_ops.cpp, bench_training.cpp) for a list of
// backend configurations chosen at run time by bench_main.cpp.

#include <string>
#include <vector>

namespace gradlab::bench {

/// Registers per-op forward and forward+backward benchmarks and the tiny-tensor overhead bench
/// for each backend name.
void register_op_benchmarks(const std::vector<std::string>& backends);

/// A backend and a precision, e.g. {"onednn", "bf16"}.
struct Configuration {
  std::string backend;    ///< Backend name.
  std::string precision;  ///< "f32" or "bf16".
};

/// Registers a whole-training-step benchmark per workload and configuration, named
/// "step/<workload>/<backend>/<precision>".
void register_training_benchmarks(const std::vector<Configuration>& configurations);

}  // namespace gradlab::bench
