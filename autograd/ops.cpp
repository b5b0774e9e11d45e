// Every differentiable tensor op. Each one has the same three beats:
//   1. check the input and compute the output through the active backend's kernel;
//   2. if some input needs a gradient, record a node whose closure turns the upstream gradient
//      into each input's gradient (local gradient × upstream gradient);
//   3. return the output.
// Closures capture `detach()`ed tensors: the data without the graph, so no reference cycles.
//
// Above each family a table gives every op's forward f, its backward rule (what the closure
// hands each input, given the upstream gradient g = d loss / d y), and the Backend kernels that
// compute them. Kernel files: reference → backends/reference/<file>.cpp, oneDNN →
// backends/onednn/<file>.cpp; "ref" in the oneDNN column means it forwards to the reference.
#include "autograd/ops.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "autograd/node.hpp"
#include "backends/backend.hpp"

namespace gradlab {
namespace {

// --- checks shared by the ops ---------------------------------------------------------------

void require_float(const char* op, const Tensor& x, const char* what = "input") {
  if (!x.defined()) throw Error(std::string(op) + ": " + what + " is an undefined tensor");
  if (x.dtype() == DType::int64) {
    throw Error(std::string(op) + ": " + what +
                " must be float32 or float64, got int64 tensor of shape " +
                shape_string(x.shape()));
  }
}

void require_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) {
    throw Error(std::string(op) + ": dtype mismatch, " + dtype_name(a.dtype()) + " " +
                shape_string(a.shape()) + " vs " + dtype_name(b.dtype()) + " " +
                shape_string(b.shape()));
  }
}

void require_rank(const char* op, const Tensor& x, std::int64_t rank, const char* what) {
  if (!x.defined()) throw Error(std::string(op) + ": " + what + " is an undefined tensor");
  if (x.dim() != rank) {
    throw Error(std::string(op) + ": " + what + " must be " + std::to_string(rank) +
                "-D, got shape " + shape_string(x.shape()));
  }
}

void require_nonempty(const char* op, const Tensor& x) {
  if (x.numel() == 0) {
    throw Error(std::string(op) + ": empty tensor of shape " + shape_string(x.shape()));
  }
}

std::int64_t resolve_axis(const char* op, const Tensor& x, std::int64_t axis) {
  std::int64_t rank = x.dim();
  std::int64_t resolved = axis < 0 ? axis + rank : axis;
  if (resolved < 0 || resolved >= rank) {
    throw Error(std::string(op) + ": axis " + std::to_string(axis) + " out of range for shape " +
                shape_string(x.shape()));
  }
  return resolved;
}

// NumPy broadcasting: align the shapes on the right; each pair of extents must be equal or one
// of them 1.
Shape broadcast_shape(const char* op, const Shape& a, const Shape& b) {
  std::size_t rank = std::max(a.size(), b.size());
  Shape result(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    std::int64_t ea = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    std::int64_t eb = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (ea != eb && ea != 1 && eb != 1) {
      throw Error(std::string(op) + ": shapes " + shape_string(a) + " and " + shape_string(b) +
                  " cannot be broadcast together (dimension " + std::to_string(i) + ": " +
                  std::to_string(ea) + " vs " + std::to_string(eb) + ")");
    }
    result[i] = ea == 1 ? eb : ea;
  }
  return result;
}

// --- kernel calls on tensors (no recording) -------------------------------------------------
// Empty tensors never reach a kernel: an empty result needs no work, and a sum over nothing or a
// product with an inner size of 0 is zeros. (oneDNN primitives divide by a zero extent.)

Tensor unary_kernel(UnaryOp op, const Tensor& x, double alpha) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  if (y.numel() > 0) backend().unary(op, x.view(), y.mutable_view(), alpha);
  return y;
}

Tensor unary_backward_kernel(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy,
                             double alpha) {
  Tensor dx = Tensor::empty(x.shape(), x.dtype());
  if (dx.numel() > 0)
    backend().unary_backward(op, x.view(), y.view(), dy.view(), dx.mutable_view(), alpha);
  return dx;
}

Tensor binary_kernel(BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor y = Tensor::empty(broadcast_shape(binary_op_name(op), a.shape(), b.shape()), a.dtype());
  if (y.numel() > 0) backend().binary(op, a.view(), b.view(), y.mutable_view());
  return y;
}

Tensor matmul_kernel(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b) {
  std::int64_t rows = transpose_a ? a.size(1) : a.size(0);
  std::int64_t columns = transpose_b ? b.size(0) : b.size(1);
  if (a.numel() == 0 || b.numel() == 0) return zeros({rows, columns}, {.dtype = a.dtype()});
  Tensor c = Tensor::empty({rows, columns}, a.dtype());
  backend().matmul(a.view(), transpose_a, b.view(), transpose_b, c.mutable_view());
  return c;
}

// The shape `x` has after reducing `axes` with keepdim (those extents become 1).
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

// A reduction over one axis (axis ≥ 0) or over everything (axis = −1).
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
  int inferred = -1;
  for (std::size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1 && inferred < 0) {
      inferred = static_cast<int>(i);
    } else if (resolved[i] < 0) {
      throw Error("reshape: invalid target shape " + shape_string(shape));
    } else {
      known *= resolved[i];
    }
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

// --- elementwise binary ops -----------------------------------------------------------------
//
//   op        y = f(a, b)      backward: da =            db =
//   add       a + b            g                         g
//   sub       a − b            g                         −g
//   mul       a · b            g · b                     g · a
//   div       a / b            g / b                     −g · a / b²
//   maximum   max(a, b)        g where a ≥ b             g where b > a
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

Tensor maximum(const Tensor& a, const Tensor& b) {
  require_float("maximum", a), require_float("maximum", b), require_same_dtype("maximum", a, b);
  Tensor y = binary_kernel(BinaryOp::maximum, a, b);
  if (!any_requires_grad({&a, &b})) return y;
  return record("maximum", {a, b}, y,
                [a = a.detach(), b = b.detach()](const Tensor& upstream, GradientSink& grads) {
                  // max routes: the upstream gradient goes to the larger input (to a on ties).
                  // relu′(b − a) is 1 exactly where b wins.
                  Tensor b_minus_a = b - a;
                  Tensor b_wins =
                      unary_backward_kernel(UnaryOp::relu, b_minus_a, b_minus_a,
                                            ones(b_minus_a.shape(), {.dtype = a.dtype()}), 0.0);
                  Tensor routed_to_b = upstream * b_wins;
                  if (grads.needs(0)) grads.add(0, sum_to(upstream - routed_to_b, a.shape()));
                  if (grads.needs(1)) grads.add(1, sum_to(routed_to_b, b.shape()));
                });
}

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
//   relu            max(0, x)                      1 if x > 0, else 0
//   leaky_relu(s)   x if x > 0, else s · x         1 if x > 0, else s  (s = negative_slope)
//   elu(α)          x if x > 0, else α(eˣ − 1)     1 if x > 0, else y + α
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

// --- reductions -----------------------------------------------------------------------------
//
//   op       y = f(x) over an axis (or all)    backward: dx =
//   sum      Σ x                               g, repeated over the reduced axis
//   mean     Σ x / n                           g / n, repeated
//   max      max x                             g to the first largest element, 0 elsewhere
//   argmax   index of the largest per row      (not differentiable)
//
//   kernels: reduce, reduce_max_backward, argmax
//            reference: reductions.cpp   oneDNN: elementwise_kernels.cpp (max backward, argmax: ref)

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

// --- batch normalisation and dropout --------------------------------------------------------
//
//   op           y = f(x)                                   backward
//   batch_norm   x̂ = (x − μ) / √(σ² + ε), y = γ x̂ + β       dγ = Σ g x̂, dβ = Σ g,
//                (μ, σ² of the batch when training,          dx = γ / (N √(σ² + ε)) ·
//                 the running averages otherwise)                 (N g − Σ g − x̂ Σ g x̂)
//   dropout(p)   x · mask, mask = 0 with probability p,      dx = g · mask (the same units)
//                else 1 / (1 − p)
//
//   kernels: batch_norm_train / _inference / _backward, dropout_mask
//            reference: layers.cpp   oneDNN: batch_norm_kernels.cpp (dropout_mask: shared generator)

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum, double eps) {
  require_float("batch_norm", x);
  require_rank("batch_norm", x, 2, "input");
  std::int64_t rows = x.size(0), features = x.size(1);
  for (const auto& [tensor, what] :
       {std::pair{&gamma, "gamma"}, std::pair{&beta, "beta"},
        std::pair{&running_mean, "running_mean"}, std::pair{&running_var, "running_var"}}) {
    if (!tensor->defined()) {
      if (tensor == &gamma || tensor == &beta || !training) {
        throw Error(std::string("batch_norm: ") + what + " is undefined");
      }
      continue;
    }
    require_same_dtype("batch_norm", x, *tensor);
    if (tensor->shape() != Shape{features}) {
      throw Error(std::string("batch_norm: ") + what + " has shape " +
                  shape_string(tensor->shape()) + " but input " + shape_string(x.shape()) +
                  " needs [" + std::to_string(features) + "]");
    }
  }
  if (!(eps > 0) || !std::isfinite(eps)) {
    throw Error("batch_norm: eps must be positive and finite, got " + std::to_string(eps));
  }
  if (training && !(momentum >= 0 && momentum <= 1)) {
    throw Error("batch_norm: momentum must lie in [0, 1], got " + std::to_string(momentum));
  }

  if (!training) {
    // Inference: a fixed affine map per feature, y = γ (x − μ_run)/√(σ²_run + eps) + β.
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    backend().batch_norm_inference(x.view(), gamma.view(), beta.view(), running_mean.view(),
                                   running_var.view(), eps, y.mutable_view());
    if (!any_requires_grad({&x, &gamma, &beta})) return y;
    return record("batch_norm_eval", {x, gamma, beta}, y,
                  [x = x.detach(), gamma = gamma.detach(), mu = running_mean.detach(),
                   var = running_var.detach(), eps](const Tensor& upstream, GradientSink& grads) {
                    Tensor inverse_std = pow(var + eps, -0.5);
                    if (grads.needs(0)) grads.add(0, upstream * (gamma * inverse_std));
                    if (grads.needs(1)) grads.add(1, sum(upstream * ((x - mu) * inverse_std), 0));
                    if (grads.needs(2)) grads.add(2, sum(upstream, 0));
                  });
  }

  if (rows < 2) {
    throw Error(
        "batch_norm: training mode needs at least 2 rows to estimate a variance, got "
        "input " +
        shape_string(x.shape()) + " (use eval mode for single examples)");
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor batch_mean = Tensor::empty({features}, x.dtype());
  Tensor batch_var = Tensor::empty({features}, x.dtype());
  backend().batch_norm_train(x.view(), gamma.view(), beta.view(), eps, y.mutable_view(),
                             batch_mean.mutable_view(), batch_var.mutable_view());
  if (running_mean.defined() && running_var.defined()) {
    // running ← (1 − m)·running + m·batch; the running variance uses the unbiased estimate.
    double unbiased = double(rows) / double(rows - 1);
    backend().axpby(momentum, batch_mean.view(), 1.0 - momentum, running_mean.mutable_view());
    backend().axpby(momentum * unbiased, batch_var.view(), 1.0 - momentum,
                    running_var.mutable_view());
  }
  if (!any_requires_grad({&x, &gamma, &beta})) return y;
  return record("batch_norm", {x, gamma, beta}, y,
                [x = x.detach(), gamma = gamma.detach(), batch_mean, batch_var, eps](
                    const Tensor& upstream, GradientSink& grads) {
                  Tensor dx, dgamma, dbeta;
                  if (grads.needs(0)) dx = Tensor::empty(x.shape(), x.dtype());
                  if (grads.needs(1)) dgamma = Tensor::empty(gamma.shape(), gamma.dtype());
                  if (grads.needs(2)) dbeta = Tensor::empty(gamma.shape(), gamma.dtype());
                  backend().batch_norm_backward(x.view(), upstream.view(), gamma.view(),
                                                batch_mean.view(), batch_var.view(), eps,
                                                dx.defined() ? dx.mutable_view() : View{},
                                                dgamma.defined() ? dgamma.mutable_view() : View{},
                                                dbeta.defined() ? dbeta.mutable_view() : View{});
                  if (dx.defined()) grads.add(0, dx);
                  if (dgamma.defined()) grads.add(1, dgamma);
                  if (dbeta.defined()) grads.add(2, dbeta);
                });
}

Tensor dropout(const Tensor& x, double p, bool training, std::optional<std::uint64_t> seed) {
  require_float("dropout", x);
  if (!(p >= 0.0 && p < 1.0)) {
    throw Error("dropout: p must be in [0, 1), got " + std::to_string(p));
  }
  if (!training || p == 0.0) return x;
  Tensor mask = Tensor::empty(x.shape(), x.dtype());
  backend().dropout_mask(mask.mutable_view(), p, seed ? *seed : next_seed());
  Tensor y = binary_kernel(BinaryOp::mul, x, mask);
  if (!any_requires_grad({&x})) return y;
  return record("dropout", {x}, y, [mask](const Tensor& upstream, GradientSink& grads) {
    grads.add(0, upstream * mask);  // the same units are dropped going back
  });
}

// --- losses ---------------------------------------------------------------------------------
//
//   op                     loss = f(scores, labels), mean over the N rows      backward: dscores =
//   cross_entropy          −log softmax(scores)[label]                         g · (softmax − onehot) / N
//   svm_loss(Δ)            Σ_{j ≠ label} max(0, s_j − s_label + Δ)             g / N · (1 per positive margin,
//                                                                               −count at the label)
//
//   kernels: cross_entropy(_backward), svm_loss(_backward)
//            reference: losses.cpp   oneDNN: softmax_kernels.cpp (svm_loss: ref)

namespace {

void check_scores_and_labels(const char* op, const Tensor& scores, const Tensor& labels) {
  require_float(op, scores, "scores");
  require_rank(op, scores, 2, "scores");
  require_nonempty(op, scores);
  if (!labels.defined() || labels.dtype() != DType::int64) {
    throw Error(std::string(op) + ": labels must be an int64 tensor (use gradlab::labels)" +
                (labels.defined() ? std::string(", got ") + dtype_name(labels.dtype()) : ""));
  }
  if (labels.dim() != 1 || labels.size(0) != scores.size(0)) {
    throw Error(std::string(op) + ": labels " + shape_string(labels.shape()) +
                " do not match scores " + shape_string(scores.shape()) + " (need labels [N])");
  }
}

}  // namespace

Tensor cross_entropy(const Tensor& scores, const Tensor& labels) {
  check_scores_and_labels("cross_entropy", scores, labels);
  Tensor probabilities = Tensor::empty(scores.shape(), scores.dtype());
  Tensor loss = Tensor::empty({}, scores.dtype());
  backend().cross_entropy(scores.view(), labels.view(), probabilities.mutable_view(),
                          loss.mutable_view());
  if (!any_requires_grad({&scores})) return loss;
  return record("cross_entropy", {scores}, loss,
                [probabilities, labels](const Tensor& upstream, GradientSink& grads) {
                  // d loss / d scores = (softmax(scores) − onehot(labels)) / N.
                  Tensor dscores = Tensor::empty(probabilities.shape(), probabilities.dtype());
                  backend().cross_entropy_backward(probabilities.view(), labels.view(),
                                                   upstream.item(), dscores.mutable_view());
                  grads.add(0, dscores);
                });
}

Tensor svm_loss(const Tensor& scores, const Tensor& labels, double margin) {
  check_scores_and_labels("svm_loss", scores, labels);
  if (!(margin >= 0) || !std::isfinite(margin)) {
    throw Error("svm_loss: margin must be finite and >= 0, got " + std::to_string(margin));
  }
  Tensor loss = Tensor::empty({}, scores.dtype());
  backend().svm_loss(scores.view(), labels.view(), margin, loss.mutable_view());
  if (!any_requires_grad({&scores})) return loss;
  return record(
      "svm_loss", {scores}, loss,
      [scores = scores.detach(), labels, margin](const Tensor& upstream, GradientSink& grads) {
        Tensor dscores = Tensor::empty(scores.shape(), scores.dtype());
        backend().svm_loss_backward(scores.view(), labels.view(), margin, upstream.item(),
                                    dscores.mutable_view());
        grads.add(0, dscores);
      });
}

}  // namespace gradlab
