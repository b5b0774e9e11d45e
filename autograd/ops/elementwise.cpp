// Differentiable ops: binary ops and operators, unary ops and activations, softmax. The family's
// table below gives each op's forward, its backward rule and its kernels; autograd/ops.hpp explains
// the three beats every op follows.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "autograd/node.hpp"
#include "autograd/ops.hpp"
#include "autograd/ops/support.hpp"
#include "backends/backend.hpp"

namespace gradlab {

using namespace ops_support;

namespace {

// One elementwise op of the UnaryOp family, differentiable through the unary_backward kernel.
Tensor unary_op(UnaryOp op, const Tensor& x, double alpha = 0.0) {
  require_float(unary_op_name(op), x);
  Tensor y = unary_kernel(op, x, alpha);
  if (!any_requires_grad({&x})) return y;
  return record(
      unary_op_name(op), {x}, y,
      [op, alpha, x = x.detach(), y = y.detach()](const Tensor& upstream, GradientSink& grads) {
        grads.add(0, unary_backward_kernel(op, x, y, upstream, alpha));
      });
}

}  // namespace

// --- elementwise binary ops -----------------------------------------------------------------
//
//   op        y = f(a, b)      backward: da =            db =
//   add       a + b            g                         g
//   sub       a − b            g                         −g
//   mul       a · b            g · b                     g · a
//   div       a / b            g / b                     −g · a / b²
//   maximum   max(a, b)        g where a > b, g/2 where a = b, g where either is NaN; db alike
//   minimum   min(a, b)        g where a < b, g/2 where a = b, g where either is NaN; db alike
//   Broadcast inputs get sum_to(…, their shape): an input repeated n times sums n gradients.
//
//   kernel: binary   reference: elementwise.cpp   oneDNN: elementwise_kernels.cpp

Tensor add(const Tensor& a, const Tensor& b) {
  require_float("add", a), require_float("add", b), require_same_dtype("add", a, b);
  Tensor y = binary_kernel(BinaryOp::add, a, b);
  if (!any_requires_grad({&a, &b})) return y;
  return record("add", {a, b}, y,
                [sa = a.shape(), sb = b.shape()](const Tensor& upstream, GradientSink& grads) {
                  // add distributes: both inputs get the upstream gradient unchanged.
                  if (grads.needs(0)) grads.add(0, sum_to(upstream, sa));
                  if (grads.needs(1)) grads.add(1, sum_to(upstream, sb));
                });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  require_float("sub", a), require_float("sub", b), require_same_dtype("sub", a, b);
  Tensor y = binary_kernel(BinaryOp::sub, a, b);
  if (!any_requires_grad({&a, &b})) return y;
  return record("sub", {a, b}, y,
                [sa = a.shape(), sb = b.shape()](const Tensor& upstream, GradientSink& grads) {
                  if (grads.needs(0)) grads.add(0, sum_to(upstream, sa));
                  if (grads.needs(1)) grads.add(1, sum_to(neg(upstream), sb));
                });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  require_float("mul", a), require_float("mul", b), require_same_dtype("mul", a, b);
  Tensor y = binary_kernel(BinaryOp::mul, a, b);
  if (!any_requires_grad({&a, &b})) return y;
  return record("mul", {a, b}, y,
                [a = a.detach(), b = b.detach()](const Tensor& upstream, GradientSink& grads) {
                  // mul swaps: each input's local gradient is the other input.
                  if (grads.needs(0)) grads.add(0, sum_to(upstream * b, a.shape()));
                  if (grads.needs(1)) grads.add(1, sum_to(upstream * a, b.shape()));
                });
}

Tensor div(const Tensor& a, const Tensor& b) {
  require_float("div", a), require_float("div", b), require_same_dtype("div", a, b);
  Tensor y = binary_kernel(BinaryOp::div, a, b);
  if (!any_requires_grad({&a, &b})) return y;
  return record("div", {a, b}, y,
                [a = a.detach(), b = b.detach()](const Tensor& upstream, GradientSink& grads) {
                  // d(a/b)/da = 1/b,  d(a/b)/db = −a/b².
                  if (grads.needs(0)) grads.add(0, sum_to(upstream / b, a.shape()));
                  if (grads.needs(1)) grads.add(1, sum_to(neg(upstream * a / (b * b)), b.shape()));
                });
}

namespace {

// The share of the upstream gradient each input of maximum or minimum gets, as PyTorch 1.13
// routes it: all of it to the winner, half to each on a tie (an infinite tie too), all of it to
// both where either is NaN (no comparison holds there). With [·] a comparison's 0/1 mask and
// `a_loses` the comparison under which a loses (a < b for maximum, a > b for minimum):
// share_a = 1 − [a loses] − ½[a = b] and share_b = 1 − [b loses] − ½[a = b], of y's shape.
std::pair<Tensor, Tensor> extremum_shares(BinaryOp a_loses, BinaryOp b_loses, const Tensor& a,
                                          const Tensor& b) {
  const Tensor half_tie = unary_kernel(UnaryOp::scale, binary_kernel(BinaryOp::eq, a, b), 0.5);
  const auto share = [&](BinaryOp loses) {
    const Tensor lost = binary_kernel(BinaryOp::add, binary_kernel(loses, a, b), half_tie);
    return unary_kernel(UnaryOp::shift, unary_kernel(UnaryOp::neg, lost), 1.0);
  };
  return {share(a_loses), share(b_loses)};
}

// maximum and minimum: the forward kernel, and the shares above in the backward.
Tensor extremum_op(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_op_name(op);
  require_float(name, a), require_float(name, b), require_same_dtype(name, a, b);
  Tensor y = binary_kernel(op, a, b);
  if (!any_requires_grad({&a, &b})) return y;
  return record(name, {a, b}, y,
                [op, a = a.detach(), b = b.detach()](const Tensor& upstream, GradientSink& grads) {
                  const bool max = op == BinaryOp::maximum;
                  const auto [to_a, to_b] = extremum_shares(
                      max ? BinaryOp::lt : BinaryOp::gt, max ? BinaryOp::gt : BinaryOp::lt, a, b);
                  if (grads.needs(0)) grads.add(0, sum_to(upstream * to_a, a.shape()));
                  if (grads.needs(1)) grads.add(1, sum_to(upstream * to_b, b.shape()));
                });
}

}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum_op(BinaryOp::maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum_op(BinaryOp::minimum, a, b); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double s) { return shift(a, s); }
Tensor operator+(double s, const Tensor& a) { return shift(a, s); }
Tensor operator-(const Tensor& a, double s) { return shift(a, -s); }
Tensor operator-(double s, const Tensor& a) { return shift(neg(a), s); }
Tensor operator*(const Tensor& a, double s) { return scale(a, s); }
Tensor operator*(double s, const Tensor& a) { return scale(a, s); }
Tensor operator/(const Tensor& a, double s) { return scale(a, 1.0 / s); }
Tensor operator/(double s, const Tensor& a) { return scale(pow(a, -1.0), s); }

// --- elementwise unary ops and activations --------------------------------------------------
//
//   op              y = f(x)                       backward: dx = g · f′(x), with f′(x) =
//   neg             −x                             −1
//   exp             eˣ                             eˣ = y
//   log             ln x                           1 / x
//   pow(p)          xᵖ                             p · xᵖ⁻¹
//   sqrt            √x                             1 / (2√x) = 1 / (2y)
//   scale(α)        α · x                          α
//   shift(α)        x + α                          1
//   sigmoid         σ(x) = 1 / (1 + e⁻ˣ)           σ(x)(1 − σ(x)) = y(1 − y)
//   tanh            tanh x                         1 − tanh²x = 1 − y²
//   relu            max(0, x), NaN for NaN         0 if x ≤ 0, else 1 (1 at NaN)
//   leaky_relu(s)   x if x > 0, else s · x         1 if x > 0, else s  (s = negative_slope)
//   elu(α)          x if x > 0, else α(eˣ − 1)     1 if x > 0, else y + α
//   abs             |x|                            sign(x): 1, −1, and 0 at 0 and NaN (PyTorch)
//   prelu(α)        relu(x) + α · min(0, x)        built from the ops above (α learns too)
//   maxout(k)       max over each group of k       g to the winner of each group, 0 elsewhere
//   softmax         eˣⁱ / Σⱼ eˣʲ per row           y ⊙ (g − Σⱼ gⱼ yⱼ)
//   log_softmax     xᵢ − log Σⱼ eˣʲ per row        g − eʸ · Σⱼ gⱼ
//
//   kernels: unary / unary_backward   reference: elementwise.cpp   oneDNN: elementwise_kernels.cpp
//            maxout / maxout_backward reference: layers.cpp        oneDNN: ref
//            softmax / softmax_backward reference: losses.cpp      oneDNN: softmax_kernels.cpp

Tensor neg(const Tensor& x) { return unary_op(UnaryOp::neg, x); }
Tensor exp(const Tensor& x) { return unary_op(UnaryOp::exp, x); }
Tensor log(const Tensor& x) { return unary_op(UnaryOp::log, x); }
Tensor pow(const Tensor& x, double p) { return unary_op(UnaryOp::pow, x, p); }
Tensor sqrt(const Tensor& x) { return unary_op(UnaryOp::sqrt, x); }
// α · x and x + α have the constant local gradients α and 1, so their nodes keep neither x nor
// y, only α: the ops a learner writes most often record the cheapest nodes.
Tensor scale(const Tensor& x, double alpha) {
  const char* name = unary_op_name(UnaryOp::scale);
  require_float(name, x);
  Tensor y = unary_kernel(UnaryOp::scale, x, alpha);
  if (!any_requires_grad({&x})) return y;
  return record(name, {x}, y, [alpha](const Tensor& upstream, GradientSink& grads) {
    grads.add(0, unary_kernel(UnaryOp::scale, upstream, alpha));  // d(αx)/dx = α
  });
}

Tensor shift(const Tensor& x, double alpha) {
  const char* name = unary_op_name(UnaryOp::shift);
  require_float(name, x);
  Tensor y = unary_kernel(UnaryOp::shift, x, alpha);
  if (!any_requires_grad({&x})) return y;
  return record(name, {x}, y, [](const Tensor& upstream, GradientSink& grads) {
    grads.add(0, upstream);  // d(x + α)/dx = 1: the upstream gradient passes through
  });
}
Tensor sigmoid(const Tensor& x) { return unary_op(UnaryOp::sigmoid, x); }
Tensor tanh(const Tensor& x) { return unary_op(UnaryOp::tanh, x); }
Tensor relu(const Tensor& x) { return unary_op(UnaryOp::relu, x); }
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return unary_op(UnaryOp::leaky_relu, x, negative_slope);
}
Tensor elu(const Tensor& x, double alpha) { return unary_op(UnaryOp::elu, x, alpha); }
Tensor abs(const Tensor& x) { return unary_op(UnaryOp::abs, x); }

Tensor prelu(const Tensor& x, const Tensor& alpha) {
  require_float("prelu", x), require_float("prelu", alpha, "alpha"),
      require_same_dtype("prelu", x, alpha);
  bool shared = alpha.dim() == 1 && alpha.size(0) == 1;
  bool per_feature = alpha.dim() == 1 && x.dim() == 2 && alpha.size(0) == x.size(1);
  if (!shared && !per_feature) {
    throw Error("prelu: alpha must have shape [1] or [C] for input [N, C]; got alpha " +
                shape_string(alpha.shape()) + " for input " + shape_string(x.shape()));
  }
  // PReLU(x) = max(0, x) + alpha · min(0, x), with min(0, x) = x − max(0, x). Built from
  // differentiable ops, so alpha's gradient Σ upstream · min(0, x) comes out of the graph.
  Tensor positive = relu(x);
  return positive + alpha * (x - positive);
}

Tensor maxout(const Tensor& x, std::int64_t pieces) {
  require_float("maxout", x);
  require_rank("maxout", x, 2, "input");
  if (pieces < 1 || x.size(1) % pieces != 0) {
    throw Error("maxout: " + std::to_string(x.size(1)) + " features of input " +
                shape_string(x.shape()) + " do not split into groups of " + std::to_string(pieces));
  }
  Tensor y = Tensor::empty({x.size(0), x.size(1) / pieces}, x.dtype());
  Tensor winner = Tensor::empty(y.shape(), DType::int64);
  backend().maxout(x.view(), pieces, y.mutable_view(), winner.mutable_view());
  if (!any_requires_grad({&x})) return y;
  return record("maxout", {x}, y,
                [pieces, winner, from = x.shape()](const Tensor& upstream, GradientSink& grads) {
                  // Like max: the gradient is routed to the winning piece of each group.
                  Tensor dx = Tensor::empty(from, upstream.dtype());
                  backend().maxout_backward(upstream.view(), winner.view(), pieces,
                                            dx.mutable_view());
                  grads.add(0, dx);
                });
}

namespace {
// softmax and log_softmax share one kernel pair, told apart by `log`.
Tensor softmax_op(const Tensor& x, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  require_float(name, x);
  require_nonempty(name, x);
  if (x.dim() < 1)
    throw Error(std::string(name) + ": input must have at least one dimension, got a scalar");
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  backend().softmax(x.view(), y.mutable_view(), log);
  if (!any_requires_grad({&x})) return y;
  return record(name, {x}, y, [log, y = y.detach()](const Tensor& upstream, GradientSink& grads) {
    Tensor dx = Tensor::empty(y.shape(), y.dtype());
    backend().softmax_backward(y.view(), upstream.view(), dx.mutable_view(), log);
    grads.add(0, dx);
  });
}
}  // namespace

Tensor softmax(const Tensor& x) { return softmax_op(x, false); }
Tensor log_softmax(const Tensor& x) { return softmax_op(x, true); }

}  // namespace gradlab
