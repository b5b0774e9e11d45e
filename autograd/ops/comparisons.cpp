// Comparisons (lt, le, gt, ge, eq, ne), where and clamp. The family's table below gives each op's
// forward, its backward rule and its kernels; autograd/ops.hpp explains the three beats every op
// follows. A comparison answers with a mask of 1s and 0s in its inputs' float dtype; masks are
// not differentiable, but they steer the gradients of where and clamp.
#include <string>

#include "autograd/node.hpp"
#include "autograd/ops.hpp"
#include "autograd/ops/support.hpp"
#include "backends/backend.hpp"

namespace gradlab {

using namespace ops_support;

namespace {

// A comparison: a mask of a ∘ b's broadcast shape, and no node (nothing to differentiate).
Tensor compare(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_op_name(op);
  require_float(name, a), require_float(name, b), require_same_dtype(name, a, b);
  return binary_kernel(op, a, b);
}

Tensor compare(BinaryOp op, const Tensor& a, double b) {
  require_float(binary_op_name(op), a);
  return binary_kernel(op, a, scalar_like(a, b));
}

}  // namespace

// --- comparisons, where, clamp --------------------------------------------------------------
//
//   op            y = f(…)                             backward
//   lt … ne       1 where a ∘ b holds, else 0          none: a mask is not differentiable
//   where(m,a,b)  a where m ≠ 0, else b                da = g where m ≠ 0, else 0;
//                                                      db = g where m = 0, else 0 (then sum_to)
//   clamp(lo,hi)  min(max(x, lo), hi)                  dx = g where lo ≤ x ≤ hi, else 0
//                                                      (0 at NaN: no comparison holds there)
//
//   kernels: binary (lt … ne, maximum, minimum, mul)   reference: elementwise.cpp
//                                                      oneDNN: elementwise_kernels.cpp
//            where                                     reference: indexing.cpp   oneDNN: ref

Tensor lt(const Tensor& a, const Tensor& b) { return compare(BinaryOp::lt, a, b); }
Tensor lt(const Tensor& a, double b) { return compare(BinaryOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(BinaryOp::le, a, b); }
Tensor le(const Tensor& a, double b) { return compare(BinaryOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(BinaryOp::gt, a, b); }
Tensor gt(const Tensor& a, double b) { return compare(BinaryOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(BinaryOp::ge, a, b); }
Tensor ge(const Tensor& a, double b) { return compare(BinaryOp::ge, a, b); }
Tensor eq(const Tensor& a, const Tensor& b) { return compare(BinaryOp::eq, a, b); }
Tensor eq(const Tensor& a, double b) { return compare(BinaryOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(BinaryOp::ne, a, b); }
Tensor ne(const Tensor& a, double b) { return compare(BinaryOp::ne, a, b); }

Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  if (!mask.defined()) throw Error("where: mask is an undefined tensor");
  require_float("where", a, "a"), require_float("where", b, "b"), require_same_dtype("where", a, b);
  const Shape shape =
      broadcast_shape("where", broadcast_shape("where", mask.shape(), a.shape()), b.shape());
  // All three broadcast to one shape, the mask in a's dtype; `detach` keeps these copies out of
  // the graph (the node below records a and b themselves).
  const Tensor condition = broadcast_to(mask.detach().to(a.dtype()), shape);
  Tensor y =
      where_kernel(condition, broadcast_to(a.detach(), shape), broadcast_to(b.detach(), shape));
  if (!any_requires_grad({&a, &b})) return y;
  return record(
      "where", {a, b}, y,
      [condition, sa = a.shape(), sb = b.shape()](const Tensor& upstream, GradientSink& grads) {
        // Each side gets the upstream gradient where it was chosen, 0 where not.
        const Tensor none = zeros(upstream.shape(), {.dtype = upstream.dtype()});
        if (grads.needs(0)) grads.add(0, sum_to(where_kernel(condition, upstream, none), sa));
        if (grads.needs(1)) grads.add(1, sum_to(where_kernel(condition, none, upstream), sb));
      });
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  require_float("clamp", x);
  if (!min && !max) throw Error("clamp: give at least one of min and max, got neither");
  Tensor y = x.detach();
  if (min) y = binary_kernel(BinaryOp::maximum, y, scalar_like(x, *min));  // NaN stays NaN
  if (max) y = binary_kernel(BinaryOp::minimum, y, scalar_like(x, *max));  // min > max: all max
  if (!any_requires_grad({&x})) return y;
  return record("clamp", {x}, y,
                [x = x.detach(), min, max](const Tensor& upstream, GradientSink& grads) {
                  // PyTorch's rule: the gradient passes where min ≤ x ≤ max, bounds included.
                  Tensor inside = min ? binary_kernel(BinaryOp::ge, x, scalar_like(x, *min))
                                      : ones(x.shape(), {.dtype = x.dtype()});
                  if (max) {
                    inside = binary_kernel(BinaryOp::mul, inside,
                                           binary_kernel(BinaryOp::le, x, scalar_like(x, *max)));
                  }
                  grads.add(0, binary_kernel(BinaryOp::mul, upstream, inside));
                });
}

}  // namespace gradlab
