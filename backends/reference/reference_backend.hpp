#pragma once
/// \file backends/reference/reference_backend.hpp
/// \brief The reference backend: every kernel of `Backend`, written to be read.
///
/// Each kernel is a few xtensor expressions that look like the formula in backends/backend.hpp
/// (`y = 1 / (1 + exp(−x))` is written `1 / (1 + xt::exp(-x))`), and matrix products call the
/// BLAS `gemm` of OpenBLAS. It computes in float32 and float64 (gradcheck runs here), so it is the
/// backend every other one is tested against. The kernels live in one source file per family,
/// in the order of backend.hpp:
///
/// | file            | kernels                                                            |
/// |-----------------|--------------------------------------------------------------------|
/// | filling.cpp     | fill, arange, random_*, convert, broadcast_to, transpose2d, axpby  |
/// | elementwise.cpp | unary, unary_backward, binary                                      |
/// | reductions.cpp  | reduce, reduce_max_backward, argmax, argmin                        |
/// | indexing.cpp    | where, index_select, index_add                                     |
/// | matrix.cpp      | matmul, linear_forward, linear_backward (bf16 mode: bfloat16.hpp)  |
/// | losses.cpp      | softmax, cross_entropy, svm_loss and their backwards               |
/// | layers.cpp      | batch norm, maxout, dropout_mask                                   |
/// | optimizers.cpp  | sgd, adagrad, rmsprop, adam updates                                |
///
/// Programs reach it through the registry (`set_backend("reference")`); tests may make one
/// directly:
/// \code
///   auto backend = gradlab::make_reference_backend();
///   backend->unary(gradlab::UnaryOp::tanh, x, y, 0.0);
/// \endcode

#include <memory>

#include "backends/backend.hpp"

namespace gradlab {

/// The xtensor + OpenBLAS backend; see the file comment. Stateless: one instance can serve
/// every call.
class ReferenceBackend final : public Backend {
 public:
  /// "reference".
  std::string name() const override;
  /// e.g. "reference (xtensor 0.24.3 + OpenBLAS 0.3.21 Haswell, OpenMP)".
  std::string description() const override;
  /// True for float32 and float64.
  bool supports(DType dtype) const override;
  /// The requested precision: bf16 is emulated on any CPU (bfloat16.hpp).
  Precision effective_precision() const override;

  // filling.cpp
  void fill(View out, double value) override;
  void arange(View out, double start, double step) override;
  void random_normal(View out, double mean, double std, std::uint64_t seed) override;
  void random_uniform(View out, double low, double high, std::uint64_t seed) override;
  void convert(ConstView in, View out) override;
  void broadcast_to(ConstView in, View out) override;
  void transpose2d(ConstView in, View out) override;
  void axpby(double a, ConstView x, double b, View y) override;

  // elementwise.cpp
  void unary(UnaryOp op, ConstView x, View y, double alpha) override;
  void unary_backward(UnaryOp op, ConstView x, ConstView y, ConstView dy, View dx,
                      double alpha) override;
  void binary(BinaryOp op, ConstView a, ConstView b, View y) override;

  // reductions.cpp
  void reduce(ReduceOp op, ConstView x, View y) override;
  void reduce_max_backward(ConstView x, ConstView y, ConstView dy, View dx) override;
  void argmax(ConstView x, View out) override;
  void argmin(ConstView x, View out) override;

  // indexing.cpp
  void where(ConstView condition, ConstView a, ConstView b, View y) override;
  void index_select(ConstView x, std::int64_t axis, ConstView indices, View y) override;
  void index_add(ConstView source, std::int64_t axis, ConstView indices, View y) override;

  // matrix.cpp
  void matmul(ConstView a, bool transpose_a, ConstView b, bool transpose_b, View c) override;
  void linear_forward(ConstView x, ConstView weight, ConstView bias, View y) override;
  void linear_backward(ConstView x, ConstView weight, ConstView dy, View dx, View dweight,
                       View dbias) override;

  // losses.cpp
  void softmax(ConstView x, View y, bool log) override;
  void softmax_backward(ConstView y, ConstView dy, View dx, bool log) override;
  void cross_entropy(ConstView scores, ConstView labels, View probabilities, View loss) override;
  void cross_entropy_backward(ConstView probabilities, ConstView labels, double dloss,
                              View dscores) override;
  void svm_loss(ConstView scores, ConstView labels, double margin, View loss) override;
  void svm_loss_backward(ConstView scores, ConstView labels, double margin, double dloss,
                         View dscores) override;

  // layers.cpp. The three batch-norm kernels accept an absent γ (counts as 1) and β (counts
  // as 0): a batch norm without affine parameters.
  void batch_norm_train(ConstView x, ConstView gamma, ConstView beta, double eps, View y, View mean,
                        View variance) override;
  void batch_norm_inference(ConstView x, ConstView gamma, ConstView beta, ConstView running_mean,
                            ConstView running_variance, double eps, View y) override;
  void batch_norm_backward(ConstView x, ConstView dy, ConstView gamma, ConstView mean,
                           ConstView variance, double eps, View dx, View dgamma,
                           View dbeta) override;
  void maxout(ConstView x, std::int64_t pieces, View y, View argmax) override;
  void maxout_backward(ConstView dy, ConstView argmax, std::int64_t pieces, View dx) override;
  void dropout_mask(View mask, double p, std::uint64_t seed) override;

  // optimizers.cpp
  void sgd_update(View param, ConstView grad, View velocity, double lr, double momentum,
                  bool nesterov, double weight_decay) override;
  void adagrad_update(View param, ConstView grad, View cache, double lr, double eps,
                      double weight_decay) override;
  void rmsprop_update(View param, ConstView grad, View cache, double lr, double alpha, double eps,
                      double weight_decay) override;
  void adam_update(View param, ConstView grad, View m, View v, double lr, double beta1,
                   double beta2, double eps, std::int64_t t, double weight_decay,
                   bool decoupled) override;
};

/// Makes a reference backend; the registry registers this factory as "reference".
std::unique_ptr<Backend> make_reference_backend();

}  // namespace gradlab
