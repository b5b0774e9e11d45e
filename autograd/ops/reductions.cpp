// Differentiable ops: sum, mean, max, argmax. The family's table below gives each op's forward, its
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
  if (op == ReduceOp::max || op == ReduceOp::mean) require_nonempty(name, x);
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
                  if (op == ReduceOp::max) {
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
//   argmax   index of the largest per row      (not differentiable)
//
//   kernels: reduce, reduce_max_backward, argmax
//            reference: reductions.cpp
//            oneDNN: elementwise_kernels.cpp (reduce_max_backward and argmax: ref)

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

Tensor argmax(const Tensor& x) {
  require_float("argmax", x);
  require_rank("argmax", x, 2, "input");
  require_nonempty("argmax", x);
  Tensor indices = Tensor::empty({x.size(0)}, DType::int64);
  backend().argmax(x.view(), indices.mutable_view());
  return indices;
}

}  // namespace gradlab
