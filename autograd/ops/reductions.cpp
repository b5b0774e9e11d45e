// Differentiable ops: sum, mean, max, min, argmax, argmin, var, std. The family's table below gives each op's forward, its
// backward rule and its kernels; autograd/ops.hpp explains the three beats every op follows.
#include <algorithm>
#include <cmath>
#include <string>

#include "autograd/node.hpp"
#include "autograd/ops.hpp"
#include "autograd/ops/support.hpp"
#include "backends/backend.hpp"

namespace gradlab {

using namespace ops_support;

namespace {

Shape keepdim_shape(const Shape& shape, std::int64_t axis) {
  Shape reduced = shape;
  if (axis < 0) {
    std::fill(reduced.begin(), reduced.end(), 1);
  } else {
    reduced[static_cast<std::size_t>(axis)] = 1;
  }
  return reduced;
}

Shape drop_axis(const Shape& shape, std::int64_t axis) {
  Shape dropped;
  if (axis < 0) return dropped;  // all axes reduced: a scalar
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (static_cast<std::int64_t>(i) != axis) dropped.push_back(shape[i]);
  }
  return dropped;
}

Tensor reduce_op(ReduceOp op, const Tensor& x, std::int64_t axis, bool keepdim) {
  const char* name = reduce_op_name(op);
  require_float(name, x);
  if (op != ReduceOp::sum) require_nonempty(name, x);
  Shape kept = keepdim_shape(x.shape(), axis);
  Tensor y = x.numel() == 0 ? zeros(kept, {.dtype = x.dtype()}) : Tensor::empty(kept, x.dtype());
  if (x.numel() > 0) backend().reduce(op, x.view(), y.mutable_view());
  Tensor result = keepdim ? y : y.detach().reshape(drop_axis(x.shape(), axis));
  if (!any_requires_grad({&x})) return result;
  std::int64_t count = x.numel() / std::max<std::int64_t>(y.numel(), 1);
  return record(name, {x}, result,
                [op, count, kept, x = x.detach(), y = y.detach()](const Tensor& upstream,
                                                                  GradientSink& grads) {
                  Tensor g = upstream.reshape(kept);
                  if (op == ReduceOp::max || op == ReduceOp::min) {  // to the first winner
                    Tensor dx = Tensor::empty(x.shape(), x.dtype());
                    backend().reduce_max_backward(x.view(), y.view(), g.view(), dx.mutable_view());
                    grads.add(0, dx);
                    return;
                  }
                  // sum: every element contributed with local gradient 1; mean: with 1/count.
                  Tensor spread = broadcast_to(g, x.shape());
                  grads.add(0, op == ReduceOp::mean ? scale(spread, 1.0 / double(count)) : spread);
                });
}

}  // namespace

// --- reductions -----------------------------------------------------------------------------
//
//   op       y = f(x) over an axis (or all)    backward: dx =
//   sum      Σ x                               g, repeated over the reduced axis
//   mean     Σ x / n                           g / n, repeated
//   max      max x                             g to the first largest element, 0 elsewhere
//   min      min x                             g to the first smallest element, 0 elsewhere
//   argmax   index of the largest per row      (not differentiable)
//   argmin   index of the smallest per row     (not differentiable)
//   var      Σ (x − x̄)² / (n − 1)              from the graph of its ops: 2 (x − x̄) g / (n − 1)
//   std      √var                              g / (2 std), and 0 where std = 0 (PyTorch)
//   (max and min route to the first NaN when there is one; var with unbiased = false divides by n)
//
//   kernels: reduce, reduce_max_backward (max and min), argmax, argmin; var: the ops above
//            reference: reductions.cpp
//            oneDNN: elementwise_kernels.cpp (reduce_max_backward, argmax, argmin: ref)

Tensor sum(const Tensor& x) { return reduce_op(ReduceOp::sum, x, -1, false); }
Tensor sum(const Tensor& x, std::int64_t axis, bool keepdim) {
  return reduce_op(ReduceOp::sum, x, resolve_axis("sum", x, axis), keepdim);
}
Tensor mean(const Tensor& x) { return reduce_op(ReduceOp::mean, x, -1, false); }
Tensor mean(const Tensor& x, std::int64_t axis, bool keepdim) {
  return reduce_op(ReduceOp::mean, x, resolve_axis("mean", x, axis), keepdim);
}
Tensor max(const Tensor& x) { return reduce_op(ReduceOp::max, x, -1, false); }
Tensor max(const Tensor& x, std::int64_t axis, bool keepdim) {
  return reduce_op(ReduceOp::max, x, resolve_axis("max", x, axis), keepdim);
}

Tensor min(const Tensor& x) { return reduce_op(ReduceOp::min, x, -1, false); }
Tensor min(const Tensor& x, std::int64_t axis, bool keepdim) {
  return reduce_op(ReduceOp::min, x, resolve_axis("min", x, axis), keepdim);
}

namespace {
// Σ (x − x̄)² / (n − 1) over `axis`, from differentiable ops: mean, sub, mul, sum, scale. For
// n = 1 the unbiased variance is 0 · (1/0) = NaN, as in PyTorch.
Tensor variance(const char* op, const Tensor& x, std::int64_t axis, bool unbiased, bool keepdim) {
  require_float(op, x);
  require_nonempty(op, x);
  const std::int64_t a = resolve_axis(op, x, axis);
  const std::int64_t n = x.size(a);
  const Tensor centred = x - mean(x, a, /*keepdim=*/true);
  return scale(sum(centred * centred, a, keepdim), 1.0 / static_cast<double>(unbiased ? n - 1 : n));
}
}  // namespace

Tensor var(const Tensor& x) { return var(x, true); }
Tensor var(const Tensor& x, std::int64_t axis, bool unbiased, bool keepdim) {
  return variance("var", x, axis, unbiased, keepdim);
}

Tensor std(const Tensor& x) { return std(x, true); }
Tensor std(const Tensor& x, std::int64_t axis, bool unbiased, bool keepdim) {
  const Tensor v = variance("std", x, axis, unbiased, keepdim);
  Tensor y = unary_kernel(UnaryOp::sqrt, v);
  if (!any_requires_grad({&v})) return y;
  return record("std", {v}, y, [y = y.detach()](const Tensor& upstream, GradientSink& grads) {
    // d√v/dv = 1 / (2√v) = 1 / (2y). Where y = 0 (a constant group) that is ∞, and ∞ · 0 in var's
    // backward would be NaN: PyTorch passes 0 there instead, and so do we.
    const Tensor dv = binary_kernel(BinaryOp::div, upstream, unary_kernel(UnaryOp::scale, y, 2.0));
    const Tensor zero_std = binary_kernel(BinaryOp::eq, y, scalar_like(y, 0.0));
    grads.add(0, where_kernel(zero_std, zeros(y.shape(), {.dtype = y.dtype()}), dv));
  });
}

Tensor argmin(const Tensor& x) {
  require_float("argmin", x);
  require_rank("argmin", x, 2, "input");
  require_nonempty("argmin", x);
  Tensor indices = Tensor::empty({x.size(0)}, DType::int64);
  backend().argmin(x.view(), indices.mutable_view());
  return indices;
}

Tensor argmax(const Tensor& x) {
  require_float("argmax", x);
  require_rank("argmax", x, 2, "input");
  require_nonempty("argmax", x);
  Tensor indices = Tensor::empty({x.size(0)}, DType::int64);
  backend().argmax(x.view(), indices.mutable_view());
  return indices;
}

}  // namespace gradlab
