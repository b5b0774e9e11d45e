#pragma once
/// \file autograd/ops/support.hpp
/// \brief What the op files share (private to autograd/ops/): the input checks every op starts
/// with, and kernel calls on tensors that record nothing.

#include <cstdint>

#include "autograd/tensor.hpp"
#include "backends/backend.hpp"

namespace gradlab::ops_support {

/// Raises `Error` unless `x` is a defined float32/float64 tensor; `what` names it ("input").
void require_float(const char* op, const Tensor& x, const char* what = "input");
/// Raises `Error` unless `a` and `b` have the same dtype.
void require_same_dtype(const char* op, const Tensor& a, const Tensor& b);
/// Raises `Error` unless `x` has `rank` dimensions; `what` names it.
void require_rank(const char* op, const Tensor& x, std::int64_t rank, const char* what);
/// Raises `Error` when `x` has no elements.
void require_nonempty(const char* op, const Tensor& x);
/// `axis` made non-negative (−1 is the last axis); raises `Error` when it is out of range.
std::int64_t resolve_axis(const char* op, const Tensor& x, std::int64_t axis);
/// The NumPy broadcast of two shapes; raises `Error` naming both when they do not broadcast.
Shape broadcast_shape(const char* op, const Shape& a, const Shape& b);

/// y = f(x; alpha) through the backend, nothing recorded.
Tensor unary_kernel(UnaryOp op, const Tensor& x, double alpha = 0.0);
/// dx = dy · f′(x) through the backend, nothing recorded.
Tensor unary_backward_kernel(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy,
                             double alpha);
/// y = a ∘ b (broadcasting) through the backend, nothing recorded.
Tensor binary_kernel(BinaryOp op, const Tensor& a, const Tensor& b);
/// condition ≠ 0 ? a : b elementwise (one shape for all three, condition in a's dtype) through
/// the backend, nothing recorded.
Tensor where_kernel(const Tensor& condition, const Tensor& a, const Tensor& b);
/// A 0-d tensor holding `value` in `like`'s dtype: the number side of `x > 0.5` or `clamp`.
Tensor scalar_like(const Tensor& like, double value);
/// op(a) · op(b) through the backend, nothing recorded.
Tensor matmul_kernel(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b);

}  // namespace gradlab::ops_support
