#pragma once
// The GEMM floor of a training step: its matrix products (forward, the weight gradients, and the
// input gradients of every layer but the first) timed alone with the fastest kernel this machine
// has, summed. A training step cannot beat it; ours / floor says how much time goes elsewhere.

#include <string>
#include <vector>

#include "workloads.hpp"

namespace gradlab::bench {

/// One matrix product of a step: C [m, n] = op(A) [m, k] · op(B) [k, n].
struct Gemm {
  std::int64_t m, k, n;  ///< The product's sizes.
  bool transpose_a;      ///< A is stored [k, m] (X transposed, for the weight gradient).
  bool transpose_b;      ///< B is stored [n, k] (W transposed, for the input gradient).
};

/// The products of one training step of `workload`, in the layouts the engine uses.
std::vector<Gemm> step_gemms(const Workload& workload);

/// The floor of one workload at one precision.
struct Floor {
  double ms = 0;        ///< Sum over the step's products of the fastest kernel's time.
  std::string kernels;  ///< Which kernels won, e.g. "onednn 5, openblas 1".
  std::string skipped;  ///< Why there is no floor ("" when there is one).
};

/// The f32 floor: per product, the fastest of oneDNN's matmul (when built in) and OpenBLAS's
/// sgemm (the reference backend's matmul); `quick` times fewer repetitions.
Floor f32_floor(const Workload& workload, bool quick);

/// The bf16 floor: oneDNN's bf16 matmul (bf16 inputs converted beforehand, f32 output), on CPUs
/// with AVX512-BF16 or AMX; elsewhere `skipped` says why.
Floor bf16_floor(const Workload& workload, bool quick);

}  // namespace gradlab::bench
