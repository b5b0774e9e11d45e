#pragma once
/// \file backends/onednn/onednn_backend.hpp
/// \brief The oneDNN backend: every kernel of `Backend` on oneDNN 2.6 primitives.
///
/// Matrix products run on matmul (f32) and inner_product (bf16), elementwise ops on eltwise and binary,
/// reductions on reduction, softmax on softmax_v2, batch norm on batch_normalization; ready
/// primitives are kept in a cache keyed on (kernel, shapes, flags, precision), so a repeated
/// call does no oneDNN set-up. Tensors below 4096 elements take a plain host loop for the
/// elementwise, binary and reduction kernels (a primitive's launch costs more than the loop).
/// It computes in float32 only, and refuses float64 with an `Error` that points to the
/// reference backend. With `set_precision(Precision::bf16)` on a CPU with AVX512-BF16 or AMX,
/// matrix products convert their inputs to bf16 and accumulate in f32; elsewhere they stay f32
/// and `description()` says so. The kernels oneDNN lacks (random numbers, SVM loss, maxout,
/// argmax, int64 conversions, ...) are computed on the host or by the reference backend: the
/// table is in docs/backends.md.
///
/// Linking gradlab_onednn registers the backend as "onednn"; programs select it by name:
/// \code
///   gradlab::BackendGuard guard("onednn");
///   std::cout << gradlab::backend().description() << "\n";  // "onednn 2.6.3, ISA avx2, ..."
/// \endcode
/// Tests may also make one directly with `make_onednn_backend()`.

#include <memory>

#include "backends/backend.hpp"

namespace gradlab {

/// Options of a oneDNN backend instance; the defaults are what the registry uses.
struct OnednnOptions {
  /// Test-only: take the bf16 path of the matrix products whenever bf16 precision is requested,
  /// even when the CPU lacks AVX512-BF16/AMX. oneDNN 2.6 has no bf16 matrix product for such
  /// CPUs, so there the kernels raise an `Error` saying so instead of computing.
  bool force_bf16 = false;
};

/// Makes a oneDNN backend with default options (the factory registered as "onednn").
std::unique_ptr<Backend> make_onednn_backend();

/// Makes a oneDNN backend with `options`.
std::unique_ptr<Backend> make_onednn_backend(const OnednnOptions& options);

}  // namespace gradlab
