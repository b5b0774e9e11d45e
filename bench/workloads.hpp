#pragma once
// The benchmark workloads: whole training steps of three MLPs, written with the functional ops
// so that the same code runs on every backend. Shared by the training benchmarks and the table.

#include <string>
#include <vector>

#include "autograd/tensor.hpp"

namespace gradlab::bench {

/// One training-step workload.
struct Workload {
  std::string name;                 ///< "lecture-2layer", "wide-bn", "deep-tanh".
  std::vector<std::int64_t> sizes;  ///< Layer widths, input first.
  std::string activation;           ///< "relu" or "tanh".
  bool batchnorm = false;           ///< BatchNorm after each hidden Linear.
  std::int64_t batch = 0;           ///< Mini-batch size.
};

/// The three workloads of issue 3: 3072-50-10 ReLU batch 100; 784-1024-1024-10 BN + ReLU batch
/// 256; ten 500-500 tanh layers, batch 1000.
const std::vector<Workload>& workloads();

/// An MLP with its parameters and SGD-momentum velocities, on the active backend.
class TrainingStep {
 public:
  /// Builds the model (He-scaled weights, zero biases) and a random batch.
  explicit TrainingStep(const Workload& workload);
  /// forward + cross-entropy + backward + SGD momentum 0.9 update; returns the loss.
  double run();

 private:
  Workload workload_;
  Tensor inputs_, targets_;
  std::vector<Tensor> parameters_, velocities_;
  std::vector<Tensor> running_means_, running_vars_;
};

}  // namespace gradlab::bench
