// Differentiable ops: matmul, linear. The family's table below gives each op's forward, its
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

// --- matrix products ------------------------------------------------------------------------
//
//   op        y = f(…)             backward: dx (da) =     dW (db) =          dbias =
//   matmul    a · b                g · bᵀ                  aᵀ · g
//   linear    x · W + bias         g · Wᵀ                  xᵀ · g             Σ over rows of g
//
//   kernels: matmul, linear_forward, linear_backward
//            reference: matrix.cpp (bf16 mode: bfloat16.hpp)   oneDNN: matrix_kernels.cpp

Tensor matmul(const Tensor& a, const Tensor& b) {
  require_float("matmul", a), require_float("matmul", b), require_same_dtype("matmul", a, b);
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(0)) {
    throw Error("matmul: shapes " + shape_string(a.shape()) + " and " + shape_string(b.shape()) +
                " do not multiply (need [N, K] · [K, M])");
  }
  Tensor y = matmul_kernel(a, false, b, false);
  if (!any_requires_grad({&a, &b})) return y;
  return record("matmul", {a, b}, y,
                [a = a.detach(), b = b.detach()](const Tensor& upstream, GradientSink& grads) {
                  // y = a·b:  da = dy · bᵀ,  db = aᵀ · dy.
                  if (grads.needs(0)) grads.add(0, matmul_kernel(upstream, false, b, true));
                  if (grads.needs(1)) grads.add(1, matmul_kernel(a, true, upstream, false));
                });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  require_float("linear", x), require_float("linear", weight, "weight");
  require_same_dtype("linear", x, weight);
  if (x.dim() != 2 || weight.dim() != 2 || x.size(1) != weight.size(0)) {
    throw Error("linear: input " + shape_string(x.shape()) + " and weight " +
                shape_string(weight.shape()) + " do not match (need x [N, D] and W [D, M])");
  }
  if (bias.defined()) {
    require_same_dtype("linear", x, bias);
    if (bias.dim() != 1 || bias.size(0) != weight.size(1)) {
      throw Error("linear: bias " + shape_string(bias.shape()) + " does not match weight " +
                  shape_string(weight.shape()) + " (need b [M])");
    }
  }
  // An empty batch or layer: the same math from matmul and add, which handle empty tensors.
  if (x.numel() == 0 || weight.numel() == 0)
    return bias.defined() ? matmul(x, weight) + bias : matmul(x, weight);
  Tensor y = Tensor::empty({x.size(0), weight.size(1)}, x.dtype());
  backend().linear_forward(x.view(), weight.view(), bias.defined() ? bias.view() : ConstView{},
                           y.mutable_view());
  if (!any_requires_grad({&x, &weight, &bias})) return y;
  return record("linear", {x, weight, bias}, y,
                [x = x.detach(), weight = weight.detach(), has_bias = bias.defined()](
                    const Tensor& upstream, GradientSink& grads) {
                  // y = x·W + b:  dx = dy·Wᵀ,  dW = xᵀ·dy,  db = Σ_rows dy — one fused kernel.
                  Tensor dx, dweight, dbias;
                  if (grads.needs(0)) dx = Tensor::empty(x.shape(), x.dtype());
                  if (grads.needs(1)) dweight = Tensor::empty(weight.shape(), weight.dtype());
                  if (has_bias && grads.needs(2))
                    dbias = Tensor::empty({weight.size(1)}, weight.dtype());
                  backend().linear_backward(x.view(), weight.view(), upstream.view(),
                                            dx.defined() ? dx.mutable_view() : View{},
                                            dweight.defined() ? dweight.mutable_view() : View{},
                                            dbias.defined() ? dbias.mutable_view() : View{});
                  if (dx.defined()) grads.add(0, dx);
                  if (dweight.defined()) grads.add(1, dweight);
                  if (dbias.defined()) grads.add(2, dbias);
                });
}

}  // namespace gradlab
