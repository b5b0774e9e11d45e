// Reference kernels: elementwise functions and their local gradients (unary, unary_backward,
// binary with NumPy broadcasting, comparisons among them).
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "backends/reference/reference_backend.hpp"
#include "backends/reference/support.hpp"

namespace gradlab {

using namespace reference;

namespace {

/// y = f(x; alpha) for every element, as one xtensor expression per op.
template <class T, class X, class Y>
void unary_forward(UnaryOp op, const X& x, Y& y, T alpha) {
  const T zero = 0, one = 1;
  // clang-format off
  switch (op) {
    case UnaryOp::neg:        xt::noalias(y) = -x; break;
    case UnaryOp::exp:        xt::noalias(y) = xt::exp(x); break;
    case UnaryOp::log:        xt::noalias(y) = xt::log(x); break;
    case UnaryOp::sqrt:       xt::noalias(y) = xt::sqrt(x); break;
    case UnaryOp::pow:        xt::noalias(y) = xt::pow(x, alpha); break;
    case UnaryOp::scale:      xt::noalias(y) = alpha * x; break;
    case UnaryOp::shift:      xt::noalias(y) = x + alpha; break;
    case UnaryOp::sigmoid:    xt::noalias(y) = one / (one + xt::exp(-x)); break;
    case UnaryOp::tanh:       xt::noalias(y) = xt::tanh(x); break;
    case UnaryOp::relu:       xt::noalias(y) = xt::where(x <= zero, zero, x); break;  // NaN stays
    case UnaryOp::leaky_relu: xt::noalias(y) = xt::where(x > zero, x, alpha * x); break;
    case UnaryOp::elu:
      xt::noalias(y) = xt::where(x > zero, x, alpha * (xt::exp(x) - one));
      break;
    case UnaryOp::abs:        xt::noalias(y) = xt::abs(x); break;
  }
  // clang-format on
}

/// dx = dy · f′(x; alpha), with f′ written from x or from y = f(x), whichever is simpler.
template <class T, class X, class Y, class DY, class DX>
void unary_gradient(UnaryOp op, const X& x, const Y& y, const DY& dy, DX& dx, T alpha) {
  const T zero = 0, one = 1, two = 2;
  // clang-format off
  switch (op) {
    case UnaryOp::neg:        xt::noalias(dx) = -dy; break;                     // f′ = −1
    case UnaryOp::exp:        xt::noalias(dx) = dy * y; break;                  // f′ = eˣ = y
    case UnaryOp::log:        xt::noalias(dx) = dy / x; break;                  // f′ = 1/x
    case UnaryOp::sqrt:       xt::noalias(dx) = dy / (two * y); break;          // f′ = 1/(2√x)
    case UnaryOp::pow:        xt::noalias(dx) = dy * alpha * xt::pow(x, alpha - one); break;
    case UnaryOp::scale:      xt::noalias(dx) = alpha * dy; break;
    case UnaryOp::shift:      xt::noalias(dx) = dy; break;
    case UnaryOp::sigmoid:    xt::noalias(dx) = dy * y * (one - y); break;      // f′ = σ(1 − σ)
    case UnaryOp::tanh:       xt::noalias(dx) = dy * (one - y * y); break;      // f′ = 1 − tanh²
    case UnaryOp::relu:       xt::noalias(dx) = xt::where(x <= zero, zero, dy); break;  // NaN: 1
    case UnaryOp::leaky_relu: xt::noalias(dx) = xt::where(x > zero, dy, alpha * dy); break;
    case UnaryOp::elu:  // f′ = α eˣ = y + α for x ≤ 0
      xt::noalias(dx) = xt::where(x > zero, dy, dy * (y + alpha));
      break;
    case UnaryOp::abs:  // f′ = sign(x): 0 at 0 and at NaN (both comparisons fail), as PyTorch
      xt::noalias(dx) = dy * xt::where(x > zero, one, xt::where(x < zero, -one, zero));
      break;
  }
  // clang-format on
}

/// Which of x and y = f(x) the derivative of `op` reads.
bool gradient_reads_input(UnaryOp op) {
  switch (op) {
    case UnaryOp::log:
    case UnaryOp::pow:
    case UnaryOp::relu:
    case UnaryOp::leaky_relu:
    case UnaryOp::elu:
    case UnaryOp::abs: return true;
    default: return false;
  }
}
bool gradient_reads_output(UnaryOp op) {
  switch (op) {
    case UnaryOp::exp:
    case UnaryOp::sqrt:
    case UnaryOp::sigmoid:
    case UnaryOp::tanh:
    case UnaryOp::elu: return true;
    default: return false;
  }
}

/// y = max(a, b), NaN where either is (PyTorch's rule; xt::maximum keeps or drops a NaN
/// depending on the operand it is), `a` on ties. `a` and `b` as in `binary_forward`.
template <class A, class B, class Y>
void nan_maximum(const A& a, const B& b, Y& y) {
  if constexpr (std::is_arithmetic_v<A>) {
    if (std::isnan(a)) {
      y.fill(a);
    } else {
      xt::noalias(y) = xt::where(a >= b, a, b);  // b NaN: the comparison fails, y = b
    }
  } else {
    xt::noalias(y) = xt::where(a >= b || xt::isnan(a), a, b);
  }
}

/// y = min(a, b), NaN where either is; the mirror image of `nan_maximum`.
template <class A, class B, class Y>
void nan_minimum(const A& a, const B& b, Y& y) {
  if constexpr (std::is_arithmetic_v<A>) {
    if (std::isnan(a)) {
      y.fill(a);
    } else {
      xt::noalias(y) = xt::where(a <= b, a, b);
    }
  } else {
    xt::noalias(y) = xt::where(a <= b || xt::isnan(a), a, b);
  }
}

/// y = a ∘ b; `a` and `b` are xtensor expressions or scalars that broadcast to y's shape. A
/// comparison writes a mask: 1 where it holds, 0 where not (IEEE: false when a NaN takes part,
/// except for ≠). `==` on whole xtensor expressions compares them as a whole, so eq and ne use
/// the elementwise `xt::equal` and `xt::not_equal`.
template <class A, class B, class Y>
void binary_forward(BinaryOp op, const A& a, const B& b, Y& y) {
  using T = typename Y::value_type;
  const T one = 1, zero = 0;
  // clang-format off
  switch (op) {
    case BinaryOp::add:     xt::noalias(y) = a + b; break;
    case BinaryOp::sub:     xt::noalias(y) = a - b; break;
    case BinaryOp::mul:     xt::noalias(y) = a * b; break;
    case BinaryOp::div:     xt::noalias(y) = a / b; break;
    case BinaryOp::maximum: nan_maximum(a, b, y); break;
    case BinaryOp::minimum: nan_minimum(a, b, y); break;
    case BinaryOp::lt:      xt::noalias(y) = xt::where(a < b, one, zero); break;
    case BinaryOp::le:      xt::noalias(y) = xt::where(a <= b, one, zero); break;
    case BinaryOp::gt:      xt::noalias(y) = xt::where(a > b, one, zero); break;
    case BinaryOp::ge:      xt::noalias(y) = xt::where(a >= b, one, zero); break;
    case BinaryOp::eq:      xt::noalias(y) = xt::where(xt::equal(a, b), one, zero); break;
    case BinaryOp::ne:      xt::noalias(y) = xt::where(xt::not_equal(a, b), one, zero); break;
  }
  // clang-format on
}

bool same_shape(ConstView a, ConstView b) {
  return std::equal(a.shape.begin(), a.shape.end(), b.shape.begin(), b.shape.end());
}

/// True when `vector` is [C] (or [1, …, 1, C]) and `matrix` is [..., C] with more elements: the
/// bias-add pattern, where `vector` repeats over every row of `matrix`.
bool is_row_broadcast(ConstView matrix, ConstView vector) {
  if (matrix.shape.empty() || vector.shape.empty() || vector.shape.size() > matrix.shape.size())
    return false;
  if (vector.shape.back() != matrix.shape.back() || vector.numel() != vector.shape.back())
    return false;
  return matrix.numel() > vector.numel();
}

/// True when `column` has `matrix`'s shape except for a last extent of 1, and `matrix`'s last
/// extent is larger: [N, C] ∘ [N, 1], where each row of `matrix` meets one number of `column`.
bool is_column_broadcast(ConstView matrix, ConstView column) {
  if (matrix.shape.empty() || matrix.shape.size() != column.shape.size()) return false;
  if (column.shape.back() != 1 || matrix.shape.back() == 1) return false;
  return std::equal(matrix.shape.begin(), matrix.shape.end() - 1, column.shape.begin());
}

}  // namespace

void ReferenceBackend::unary(UnaryOp op, ConstView x, View y, double alpha) {
  static const KernelNames<UnaryOp> names("unary", unary_op_name);
  const char* kernel = names(op);
  require_present(kernel, "y", y);
  require_dtype(kernel, "x", x, y.dtype);
  require_shape(kernel, "x", x, y.shape);
  dispatch_float(y.dtype, kernel, [&]<class T>(T) {
    auto output = flat<T>(y);
    unary_forward(op, flat<T>(x), output, static_cast<T>(alpha));
  });
}

void ReferenceBackend::unary_backward(UnaryOp op, ConstView x, ConstView y, ConstView dy, View dx,
                                      double alpha) {
  static const KernelNames<UnaryOp> names("unary_backward", unary_op_name);
  const char* kernel = names(op);
  require_present(kernel, "dx", dx);
  require_dtype(kernel, "dy", dy, dx.dtype);
  require_shape(kernel, "dy", dy, dx.shape);
  // Only the operand the derivative reads has to be given; an absent one stands in as dy (same
  // shape and dtype) so that the expression below still has something to adapt.
  const bool reads_x = gradient_reads_input(op), reads_y = gradient_reads_output(op);
  if (reads_x || x) {
    require_dtype(kernel, "x", x, dx.dtype);
    require_shape(kernel, "x", x, dx.shape);
  }
  if (reads_y || y) {
    require_dtype(kernel, "y", y, dx.dtype);
    require_shape(kernel, "y", y, dx.shape);
  }
  const ConstView input = x ? x : dy;
  const ConstView output = y ? y : dy;
  dispatch_float(dx.dtype, kernel, [&]<class T>(T) {
    auto gradient = flat<T>(dx);
    unary_gradient(op, flat<T>(input), flat<T>(output), flat<T>(dy), gradient,
                   static_cast<T>(alpha));
  });
}

void ReferenceBackend::binary(BinaryOp op, ConstView a, ConstView b, View y) {
  static const KernelNames<BinaryOp> names("binary", binary_op_name);
  const char* kernel = names(op);
  require_present(kernel, "y", y);
  require_dtype(kernel, "a", a, y.dtype);
  require_dtype(kernel, "b", b, y.dtype);
  const auto shape = broadcast_shape(kernel, a.shape, b.shape);
  require_shape(kernel, "y", y, shape);

  dispatch_float(y.dtype, kernel, [&]<class T>(T) {
    if (same_shape(a, b)) {  // no broadcasting: one flat loop
      auto output = flat<T>(y);
      binary_forward(op, flat<T>(a), flat<T>(b), output);
    } else if (a.numel() == 1) {  // scalar ∘ tensor
      auto output = flat<T>(y);
      binary_forward(op, a.as<T>()[0], flat<T>(b), output);
    } else if (b.numel() == 1) {  // tensor ∘ scalar
      auto output = flat<T>(y);
      binary_forward(op, flat<T>(a), b.as<T>()[0], output);
    } else if (is_row_broadcast(a, b)) {  // [N, C] ∘ [C], row by row
      const auto [rows, columns] = rows_columns(kernel, "a", a);
      const auto vector = row(b.as<T>(), columns);
      for (std::int64_t n = 0; n < rows; ++n) {
        auto output = row(y.as<T>() + n * columns, columns);
        binary_forward(op, row(a.as<T>() + n * columns, columns), vector, output);
      }
    } else if (is_row_broadcast(b, a)) {  // [C] ∘ [N, C]
      const auto [rows, columns] = rows_columns(kernel, "b", b);
      const auto vector = row(a.as<T>(), columns);
      for (std::int64_t n = 0; n < rows; ++n) {
        auto output = row(y.as<T>() + n * columns, columns);
        binary_forward(op, vector, row(b.as<T>() + n * columns, columns), output);
      }
    } else if (is_column_broadcast(a, b)) {  // [N, C] ∘ [N, 1], row by row
      const auto [rows, columns] = rows_columns(kernel, "a", a);
      for (std::int64_t n = 0; n < rows; ++n) {
        auto output = row(y.as<T>() + n * columns, columns);
        binary_forward(op, row(a.as<T>() + n * columns, columns), b.as<T>()[n], output);
      }
    } else if (is_column_broadcast(b, a)) {  // [N, 1] ∘ [N, C]
      const auto [rows, columns] = rows_columns(kernel, "b", b);
      for (std::int64_t n = 0; n < rows; ++n) {
        auto output = row(y.as<T>() + n * columns, columns);
        binary_forward(op, a.as<T>()[n], row(b.as<T>() + n * columns, columns), output);
      }
    } else {  // the general case: xtensor applies the NumPy rules
      auto output = tensor<T>(y);
      binary_forward(op, tensor<T>(a), tensor<T>(b), output);
    }
  });
}

}  // namespace gradlab
