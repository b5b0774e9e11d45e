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
/// Every op returns a new tensor that owns its numbers: slice, narrow, index_select, cat and
/// stack copy (PyTorch's slice and narrow return views that share memory; here writing to the
/// result never changes the input). Only `reshape` shares its input's data.
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
/// | slice, narrow, index_select, cat, stack        | ops/indexing.cpp              |
/// | add … minimum, neg … abs, prelu, maxout, softmax | ops/elementwise.cpp         |
/// | lt … ne, where, clamp                          | ops/comparisons.cpp           |
/// | sum, mean, max, min, argmax, argmin, var, std  | ops/reductions.cpp            |
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
#include <type_traits>
#include <vector>

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
/// max(a, b) elementwise (broadcasting), NaN where either is. The gradient goes to the larger
/// input; on a tie each input gets half of it, and where either is NaN both get all of it
/// (PyTorch 1.13's rules).
Tensor maximum(const Tensor& a, const Tensor& b);
/// min(a, b) elementwise (broadcasting), NaN where either is; gradient rules as `maximum`'s:
/// all to the smaller input, half each on a tie, all to both where either is NaN.
/// \code
///   Tensor y = minimum(from({1, 5, 3}), from({2, 2, 3}));   // [1, 2, 3]; ties share the gradient
/// \endcode
Tensor minimum(const Tensor& a, const Tensor& b);
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
/// |x|. Its gradient is sign(x): 0 at 0 (and at NaN), as PyTorch's.
Tensor abs(const Tensor& x);
/// x limited to [min, max]: max(min, x) then min(·, max); either bound may be left out
/// (`clamp(x, {}, 1.0)`), not both. The gradient passes where min ≤ x ≤ max (bounds included)
/// and is 0 outside and at NaN; NaN stays NaN; with min > max every element becomes max (all
/// PyTorch 1.13's rules).
/// \code
///   Tensor y = clamp(x, 0.0, 1.0);        // like torch.clamp(x, 0, 1)
///   Tensor z = clamp(x, std::nullopt, 6.0);
/// \endcode
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max = std::nullopt);
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
/// Min of all elements, NaN when any element is. The gradient goes to the first smallest
/// element (the first NaN when there is one), as torch.min(x, dim) routes it; torch.min(x)
/// without a dim splits it evenly among tied elements instead.
Tensor min(const Tensor& x);
/// Min over `axis` (the gradient goes to the first minimum, or the first NaN).
Tensor min(const Tensor& x, std::int64_t axis, bool keepdim = false);
/// Unbiased variance of all elements, Σ(x − x̄)² / (n − 1) (PyTorch's default); NaN for n = 1.
Tensor var(const Tensor& x);
/// Variance over `axis`: Σ(x − x̄)² / (n − 1), or / n with `unbiased = false`. Built from
/// differentiable ops, so its gradient 2(x − x̄)/(n − 1) comes out of the graph.
/// \code
///   Tensor v = var(x, 0);                   // per column, unbiased: torch.var(x, 0)
///   Tensor b = var(x, -1, false, true);     // per row, biased, shape [N, 1]
/// \endcode
Tensor var(const Tensor& x, std::int64_t axis, bool unbiased = true, bool keepdim = false);
/// Variance of all elements, unbiased or not. Takes a `bool` only: `var(x, 0)` is the variance
/// over axis 0, as in PyTorch.
template <class Bool, class = std::enable_if_t<std::is_same_v<Bool, bool>>>
Tensor var(const Tensor& x, Bool unbiased) {
  return var(x.reshape({-1}), 0, unbiased);
}
/// Standard deviation of all elements, √var(x) (unbiased). Its gradient is 0 where the standard
/// deviation is 0 (PyTorch's convention; 1/(2√v) would be infinite there). Outside namespace
/// gradlab write `gradlab::std(x)`, as libtorch's `torch::std`: after `using namespace gradlab`
/// a bare `std(x)` names namespace std as well.
Tensor std(const Tensor& x);
/// Standard deviation over `axis`, √var(x, axis, unbiased, keepdim); gradient as `std(x)`.
Tensor std(const Tensor& x, std::int64_t axis, bool unbiased = true, bool keepdim = false);
/// Standard deviation of all elements, unbiased or not (a `bool` only, as `var`).
template <class Bool, class = std::enable_if_t<std::is_same_v<Bool, bool>>>
Tensor std(const Tensor& x, Bool unbiased) {
  return std(x.reshape({-1}), 0, unbiased);
}
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
/// Index of the smallest element of each row of x [N, C] (int64 [N]): the first one on ties, the
/// first NaN when a row holds one (as torch.argmin); not differentiable.
Tensor argmin(const Tensor& x);

// --- slicing and joining (copies) ---------------------------------------------------------

/// The entries start, start + step, … before end along `axis`, as Python's x[start:end:step]:
/// negative positions count from the end, both ends are clamped to [0, extent] (so a slice past
/// the end is shorter or empty, never an error), and a missing start or end means the whole
/// extent. `step` must be ≥ 1. A copy; the gradient is scattered back into place.
/// \code
///   Tensor batch = slice(x, 0, 64, 128);          // rows 64 … 127 (x[64:128])
///   Tensor odd = slice(x, 1, 1, std::nullopt, 2); // columns 1, 3, 5, … (x[:, 1::2])
///   Tensor last = slice(x, 0, -1);                // the last row, shape [1, C] (x[-1:])
/// \endcode
Tensor slice(const Tensor& x, std::int64_t axis, std::optional<std::int64_t> start = std::nullopt,
             std::optional<std::int64_t> end = std::nullopt, std::int64_t step = 1);
/// `length` entries from `start` along `axis` (torch.narrow): start may be negative (from the
/// end); unlike `slice`, a range that does not fit is an error naming the axis and its extent.
Tensor narrow(const Tensor& x, std::int64_t axis, std::int64_t start, std::int64_t length);
/// The entries `indices` (an int64 tensor of one dimension, or a scalar) along `axis`, in their
/// order, repeats allowed: y's extent along axis is the number of indices. Works on int64 tensors
/// too (e.g. the labels of a batch). The gradient scatter-adds back: an index picked twice gets
/// both gradients. An index outside [0, extent) is an error naming it, the axis and the extent.
/// \code
///   Tensor rows = index_select(x, 0, labels({4, 0, 4}));   // rows 4, 0 and 4 of x
/// \endcode
Tensor index_select(const Tensor& x, std::int64_t axis, const Tensor& indices);
/// Joins tensors along an existing `axis`: every other extent must match (the error names both
/// shapes). The gradient of each input is its block of the upstream gradient.
/// \code
///   Tensor xy = cat({x, y}, 0);        // [2, 3] and [4, 3] → [6, 3]
/// \endcode
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t axis = 0);
/// Joins tensors of one shape along a new `axis` (−1 is after the last): n tensors of shape
/// [A, B] stacked at axis 1 give [A, n, B].
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t axis = 0);

// --- comparisons and selection ------------------------------------------------------------
//
// A comparison returns a mask: a float tensor of 1 (true) and 0 (false) in the dtype of its
// inputs, of their broadcast shape. Masks are not differentiable (no gradient flows through a
// comparison); multiply by one, or pass it to `where`.

/// 1 where a < b, else 0 (broadcasting; false where either is NaN).
Tensor lt(const Tensor& a, const Tensor& b);
/// 1 where a < b, else 0, against a number.
Tensor lt(const Tensor& a, double b);
/// 1 where a ≤ b, else 0 (broadcasting).
Tensor le(const Tensor& a, const Tensor& b);
/// 1 where a ≤ b, else 0, against a number.
Tensor le(const Tensor& a, double b);
/// 1 where a > b, else 0 (broadcasting).
/// \code
///   Tensor positive = gt(x, 0.0);                 // 1 where x > 0
///   Tensor kept = where(positive, x, zeros({}));  // relu, written by hand
/// \endcode
Tensor gt(const Tensor& a, const Tensor& b);
/// 1 where a > b, else 0, against a number.
Tensor gt(const Tensor& a, double b);
/// 1 where a ≥ b, else 0 (broadcasting).
Tensor ge(const Tensor& a, const Tensor& b);
/// 1 where a ≥ b, else 0, against a number.
Tensor ge(const Tensor& a, double b);
/// 1 where a = b, else 0 (broadcasting; NaN equals nothing, not even NaN).
Tensor eq(const Tensor& a, const Tensor& b);
/// 1 where a = b, else 0, against a number.
Tensor eq(const Tensor& a, double b);
/// 1 where a ≠ b, else 0 (broadcasting; 1 where either is NaN).
Tensor ne(const Tensor& a, const Tensor& b);
/// 1 where a ≠ b, else 0, against a number.
Tensor ne(const Tensor& a, double b);
/// a where `mask` is nonzero (NaN counts as nonzero), b elsewhere; all three broadcast together.
/// Differentiable in a and b (each gets the upstream gradient where it was chosen, 0 elsewhere),
/// not in the mask. The mask may be any dtype (a comparison's float mask, or int64).
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b);

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
