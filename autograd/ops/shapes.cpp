// Differentiable ops: broadcast_to, sum_to, reshape, transpose. The family's table below gives each
// op's forward, its backward rule and its kernels; autograd/ops.hpp explains the three beats every
// op follows.
#include <algorithm>
#include <cmath>
#include <string>

#include "autograd/node.hpp"
#include "autograd/ops.hpp"
#include "autograd/ops/support.hpp"
#include "backends/backend.hpp"

namespace gradlab {

using namespace ops_support;

// --- broadcasting and shapes ----------------------------------------------------------------
//
//   op              y = f(x)                          backward: dx =
//   broadcast_to    x repeated along the new axes     sum_to(g, x.shape): repeated → summed
//   sum_to          x summed down to `shape`          broadcast_to(g, x.shape)
//   reshape         the same data, another shape      reshape(g, x.shape)
//   transpose       xᵀ                                gᵀ
//   Tensor::to      x converted to another dtype      g converted back (none for int64)
//
//   kernels: broadcast_to, reduce(sum), transpose2d, convert
//            reference: filling.cpp, reductions.cpp   oneDNN: elementwise_kernels.cpp

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  Shape target = broadcast_shape("broadcast_to", x.shape(), shape);
  if (target != shape) {
    throw Error("broadcast_to: shape " + shape_string(x.shape()) + " cannot be broadcast to " +
                shape_string(shape));
  }
  Tensor y = Tensor::empty(shape, x.dtype());
  if (y.numel() > 0) backend().broadcast_to(x.view(), y.mutable_view());
  if (!any_requires_grad({&x})) return y;
  return record("broadcast_to", {x}, y,
                [from = x.shape()](const Tensor& upstream, GradientSink& grads) {
                  grads.add(0, sum_to(upstream, from));
                });
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  if (broadcast_shape("sum_to", shape, x.shape()) != x.shape()) {
    throw Error("sum_to: shape " + shape_string(shape) + " does not broadcast to " +
                shape_string(x.shape()));
  }
  // Sum over the leading dimensions broadcasting added and over those stretched from 1.
  Shape kept = x.shape();
  std::size_t leading = x.shape().size() - shape.size();
  for (std::size_t i = 0; i < kept.size(); ++i) {
    if (i < leading || shape[i - leading] == 1) kept[i] = 1;
  }
  Tensor y = x.numel() == 0 ? zeros(kept, {.dtype = x.dtype()}) : Tensor::empty(kept, x.dtype());
  if (x.numel() > 0) backend().reduce(ReduceOp::sum, x.view(), y.mutable_view());
  Tensor result = y.reshape(shape);
  if (!any_requires_grad({&x})) return result;
  return record("sum_to", {x}, result,
                [from = x.shape()](const Tensor& upstream, GradientSink& grads) {
                  grads.add(0, broadcast_to(upstream, from));
                });
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  if (!x.defined()) throw Error("reshape: input is an undefined tensor");
  Shape resolved = shape;
  std::int64_t known = 1;
  bool overflow = false;
  int inferred = -1;
  for (std::size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1 && inferred < 0) {
      inferred = static_cast<int>(i);
    } else if (resolved[i] < 0) {
      throw Error("reshape: invalid target shape " + shape_string(shape));
    } else {
      overflow = __builtin_mul_overflow(known, resolved[i], &known) || overflow;
    }
  }
  // A zero extent makes the product 0 whatever the others are; without one, an overflowing
  // product is a shape no tensor can have.
  if (overflow && std::find(resolved.begin(), resolved.end(), 0) != resolved.end()) {
    known = 0;
  } else if (overflow) {
    throw Error("reshape: cannot view shape " + shape_string(x.shape()) + " (" +
                std::to_string(x.numel()) + " elements) as " + shape_string(shape) +
                ": it has more than 2^63 - 1 elements");
  }
  if (inferred >= 0 && known > 0 && x.numel() % known == 0) resolved[inferred] = x.numel() / known;
  if (shape_numel(resolved) != x.numel() || (inferred >= 0 && known == 0)) {
    throw Error("reshape: cannot view shape " + shape_string(x.shape()) + " (" +
                std::to_string(x.numel()) + " elements) as " + shape_string(shape));
  }
  Tensor y = x.detach();  // a new tensor sharing x's data, given the new shape
  y.impl()->shape = resolved;
  if (!any_requires_grad({&x})) return y;
  return record("reshape", {x}, y, [from = x.shape()](const Tensor& upstream, GradientSink& grads) {
    grads.add(0, reshape(upstream, from));
  });
}

Tensor transpose(const Tensor& x) {
  require_rank("transpose", x, 2, "input");
  Tensor y = Tensor::empty({x.size(1), x.size(0)}, x.dtype());
  if (y.numel() > 0) backend().transpose2d(x.view(), y.mutable_view());
  if (!any_requires_grad({&x})) return y;
  return record("transpose", {x}, y, [](const Tensor& upstream, GradientSink& grads) {
    grads.add(0, transpose(upstream));
  });
}

}  // namespace gradlab
