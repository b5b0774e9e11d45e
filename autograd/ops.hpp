#pragma once
/// \file autograd/ops.hpp
/// \brief Every differentiable tensor op, as free functions in namespace `gradlab`.
///
/// Every op has the same three beats: (1) check the input and compute the output through the
/// active backend's kernel (backends/backend.hpp); (2) if some input needs a gradient, record a
/// node whose closure turns the upstream gradient into each input's gradient (local gradient ×
/// upstream gradient); (3) return the output. Closures capture `detach()`ed tensors: the data
/// without the graph, so no reference cycles. Elementwise binary ops broadcast like NumPy; their
/// backward reduces the upstream gradient back to each input's shape with the one shared
/// `sum_to`. Bad input raises `gradlab::Error` naming the op and the shapes.
///
/// The ops live in one file per family under autograd/ops/. At the top of each, a table gives
/// every op's forward f, its backward rule (what the closure hands each input, given the
/// upstream gradient g = d loss / d y) and the Backend kernels that compute both, with their
/// files (reference → `backends/reference/<file>.cpp`, oneDNN →
/// `backends/onednn/<file>.cpp`; "ref" means oneDNN forwards to the reference kernel):
///
/// | family                                         | file                          |
/// |------------------------------------------------|-------------------------------|
/// | broadcast_to, sum_to, reshape, transpose, to   | ops/shapes.cpp (to: tensor.cpp) |
/// | add … maximum, neg … elu, prelu, maxout, softmax | ops/elementwise.cpp         |
/// | sum, mean, max, argmax                         | ops/reductions.cpp            |
/// | matmul, linear                                 | ops/matrix.cpp                |
/// | batch_norm, dropout                            | ops/normalisation.cpp         |
/// | cross_entropy, svm_loss                        | ops/losses.cpp                |
///
/// \code
///   Tensor h = relu(linear(x, W1, b1));             // x [N, D], W1 [D, H], b1 [H]
///   Tensor loss = cross_entropy(linear(h, W2, b2), y);
///   loss.backward();
/// \endcode

#include <cstdint>
#include <optional>

#include "autograd/tensor.hpp"

namespace gradlab {

// --- elementwise --------------------------------------------------------------------------

/// a + b (broadcasting).
Tensor add(const Tensor& a, const Tensor& b);
/// a − b (broadcasting).
Tensor sub(const Tensor& a, const Tensor& b);
/// a · b (broadcasting).
Tensor mul(const Tensor& a, const Tensor& b);
/// a / b (broadcasting).
Tensor div(const Tensor& a, const Tensor& b);
/// max(a, b) elementwise (broadcasting); the gradient goes to the larger input (to `a` on ties).
Tensor maximum(const Tensor& a, const Tensor& b);
/// −x.
Tensor neg(const Tensor& x);
/// eˣ.
Tensor exp(const Tensor& x);
/// ln x (−inf at 0, NaN below: the math has no value there).
Tensor log(const Tensor& x);
/// x^p for a constant exponent p.
Tensor pow(const Tensor& x, double p);
/// √x.
Tensor sqrt(const Tensor& x);
/// alpha · x (a scalar multiple).
Tensor scale(const Tensor& x, double alpha);
/// x + alpha (a scalar shift).
Tensor shift(const Tensor& x, double alpha);

// --- activations --------------------------------------------------------------------------

/// σ(x) = 1 / (1 + e^−x).
Tensor sigmoid(const Tensor& x);
/// tanh x.
Tensor tanh(const Tensor& x);
/// max(0, x).
Tensor relu(const Tensor& x);
/// x for x > 0, negative_slope · x otherwise (PyTorch's name for the parameter).
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
/// x for x > 0, alpha · (eˣ − 1) otherwise.
Tensor elu(const Tensor& x, double alpha = 1.0);
/// Parametric ReLU: x for x > 0, alpha · x otherwise, with a learnable alpha of shape [1] (shared)
/// or [C] (one per feature of x [N, C]).
Tensor prelu(const Tensor& x, const Tensor& alpha);
/// Maxout: x [N, M·pieces] → [N, M], the max of each group of `pieces` consecutive features.
Tensor maxout(const Tensor& x, std::int64_t pieces);
/// Row-wise softmax over the last axis.
Tensor softmax(const Tensor& x);
/// Row-wise log-softmax over the last axis (stable).
Tensor log_softmax(const Tensor& x);

// --- reductions and shapes ----------------------------------------------------------------

/// Sum of all elements.
Tensor sum(const Tensor& x);
/// Sum over `axis`.
Tensor sum(const Tensor& x, std::int64_t axis, bool keepdim = false);
/// Mean of all elements.
Tensor mean(const Tensor& x);
/// Mean over `axis`.
Tensor mean(const Tensor& x, std::int64_t axis, bool keepdim = false);
/// Max of all elements.
Tensor max(const Tensor& x);
/// Max over `axis` (the gradient goes to the first maximum).
Tensor max(const Tensor& x, std::int64_t axis, bool keepdim = false);
/// Sums `x` down to `shape` over the broadcast dimensions: the backward of broadcasting, shared by
/// every elementwise op. `shape` must broadcast to `x.shape()`.
Tensor sum_to(const Tensor& x, const Shape& shape);
/// Broadcasts `x` to `shape` (NumPy rules). Differentiable (its backward is `sum_to`).
Tensor broadcast_to(const Tensor& x, const Shape& shape);
/// Same data, new shape (one extent may be −1).
Tensor reshape(const Tensor& x, const Shape& shape);
/// 2-D transpose.
Tensor transpose(const Tensor& x);
/// Index of the largest element of each row (int64 [N]); not differentiable.
Tensor argmax(const Tensor& x);

// --- matrix products and layers -----------------------------------------------------------

/// a · b for 2-D a [N, K] and b [K, M].
Tensor matmul(const Tensor& a, const Tensor& b);
/// Fully connected layer x · W + b: x [N, D], W [D, M], b [M] (may be undefined). One fused
/// kernel forward and one backward.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

/// Batch normalisation of x [N, C]. In training mode it normalises with the batch mean and biased
/// variance and, when `running_mean`/`running_var` are defined, updates them in place:
/// running ← (1 − momentum) · running + momentum · batch statistic, with the unbiased variance
/// N/(N−1) · σ² for the running estimate (PyTorch's convention). In inference mode it uses the
/// running statistics. `gamma`, `beta` are [C] and learnable.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum = 0.1, double eps = 1e-5);

/// Inverted dropout: in training mode keeps each element with probability 1 − p and scales it by
/// 1/(1 − p); identity in inference mode. `seed` fixes the mask (default: from the global
/// generator).
Tensor dropout(const Tensor& x, double p, bool training, std::optional<std::uint64_t> seed = {});

// --- losses -------------------------------------------------------------------------------

/// Softmax cross-entropy, mean over the batch: scores [N, C], labels int64 [N] in [0, C).
/// Fused and stable (shifts by the row max).
Tensor cross_entropy(const Tensor& scores, const Tensor& labels);
/// Multiclass SVM hinge loss with `margin` (default 1), mean over the batch.
Tensor svm_loss(const Tensor& scores, const Tensor& labels, double margin = 1.0);

}  // namespace gradlab
