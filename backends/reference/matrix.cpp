// Reference kernels: matrix products (matmul, linear_forward, linear_backward), all on the BLAS
// gemm of OpenBLAS: C ← α · op(A) · op(B) + β · C. In bf16 precision (float32 data only) the
// inputs of every product are rounded to bfloat16 first and the product accumulates in float32,
// which is what bf16 hardware computes (bfloat16.hpp).
#include <cblas.h>

#include <algorithm>
#include <vector>

#include "backends/reference/bfloat16.hpp"
#include "backends/reference/reference_backend.hpp"
#include "backends/reference/support.hpp"

namespace gradlab {

using namespace reference;

namespace {

/// A row-major matrix operand of gemm: its buffer and extents as stored, and whether the product
/// uses it transposed.
template <class T>
struct Operand {
  const T* data;
  std::int64_t rows, columns;  // as stored
  bool transposed;
  std::int64_t product_rows() const { return transposed ? columns : rows; }
  std::int64_t product_columns() const { return transposed ? rows : columns; }
};

/// C [M, N] ← α · op(A) · op(B) + β · C through cblas_sgemm / cblas_dgemm.
template <class T>
void gemm(Operand<T> a, Operand<T> b, T* c, T alpha, T beta) {
  const std::int64_t m = a.product_rows(), k = a.product_columns(), n = b.product_columns();
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: C ← β · C (BLAS implementations differ on this corner)
    std::for_each(c, c + m * n, [beta](T& value) { value = beta == T(0) ? T(0) : beta * value; });
    return;
  }
  const auto flag = [](bool transposed) { return transposed ? CblasTrans : CblasNoTrans; };
  const auto leading = [](std::int64_t columns) {
    return static_cast<int>(std::max<std::int64_t>(columns, 1));
  };
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, flag(a.transposed), flag(b.transposed), static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(k), alpha, a.data, leading(a.columns), b.data,
                leading(b.columns), beta, c, leading(n));
  } else {
    cblas_dgemm(CblasRowMajor, flag(a.transposed), flag(b.transposed), static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(k), alpha, a.data, leading(a.columns), b.data,
                leading(b.columns), beta, c, leading(n));
  }
}

/// True when matrix products emulate bf16 hardware: bf16 precision requested, float32 data.
bool emulates_bf16(DType dtype) {
  return precision() == Precision::bf16 && dtype == DType::float32;
}

/// An input of a product as the product sees it: the caller's buffer, or in bf16 mode a copy
/// rounded to bfloat16 (kept alive by this object).
template <class T>
class ProductInput {
 public:
  explicit ProductInput(ConstView view) : view_(view) {
    if constexpr (std::is_same_v<T, float>) {
      if (emulates_bf16(view.dtype)) {
        rounded_ = rounded_to_bfloat16(view.as<float>(), view.numel());
      }
    }
  }
  /// The values the product reads.
  const T* data() const { return rounded_.empty() ? view_.as<T>() : rounded_.data(); }
  /// The operand for gemm, transposed or not.
  Operand<T> operand(bool transposed) const {
    return {data(), view_.shape[0], view_.shape[1], transposed};
  }

 private:
  ConstView view_;
  std::vector<T> rounded_;
};

}  // namespace

void ReferenceBackend::matmul(ConstView a, bool transpose_a, ConstView b, bool transpose_b,
                              View c) {
  const char* kernel = "matmul";
  require_rank(kernel, "a", a, 2);
  require_rank(kernel, "b", b, 2);
  require_dtype(kernel, "b", b, a.dtype);
  require_dtype(kernel, "c", c, a.dtype);
  // op(A) is [M, K], op(B) is [K, N], C is [M, N].
  const std::int64_t m = transpose_a ? a.shape[1] : a.shape[0];
  const std::int64_t k = transpose_a ? a.shape[0] : a.shape[1];
  const std::int64_t k_of_b = transpose_b ? b.shape[1] : b.shape[0];
  const std::int64_t n = transpose_b ? b.shape[0] : b.shape[1];
  if (k != k_of_b) {
    fail(kernel, std::string("inner extents differ: op(a) of ") + shape_string(a.shape) +
                     (transpose_a ? "ᵀ" : "") + " has " + std::to_string(k) +
                     " columns, op(b) of " + shape_string(b.shape) + (transpose_b ? "ᵀ" : "") +
                     " has " + std::to_string(k_of_b) + " rows");
  }
  const Shape product{m, n};
  require_shape(kernel, "c", c, product);
  dispatch_float(a.dtype, kernel, [&]<class T>(T) {
    const ProductInput<T> a_used(a), b_used(b);
    gemm<T>(a_used.operand(transpose_a), b_used.operand(transpose_b), c.as<T>(), 1, 0);
  });
}

void ReferenceBackend::linear_forward(ConstView x, ConstView weight, ConstView bias, View y) {
  const char* kernel = "linear_forward";
  require_rank(kernel, "x", x, 2);
  require_rank(kernel, "weight", weight, 2);
  require_dtype(kernel, "weight", weight, x.dtype);
  require_dtype(kernel, "y", y, x.dtype);
  if (weight.shape[0] != x.shape[1]) {
    fail(kernel, "x of shape " + shape_string(x.shape) + " needs a weight with " +
                     std::to_string(x.shape[1]) + " rows, got " + shape_string(weight.shape));
  }
  const Shape output_shape{x.shape[0], weight.shape[1]};
  require_shape(kernel, "y", y, output_shape);
  if (bias) {
    require_dtype(kernel, "bias", bias, x.dtype);
    const Shape bias_shape{weight.shape[1]};
    require_shape(kernel, "bias", bias, bias_shape);
  }
  dispatch_float(x.dtype, kernel, [&]<class T>(T) {
    // y ← b on every row, then y ← x · W + y.
    auto output = tensor<T>(y);
    if (bias) {
      xt::noalias(output) = xt::broadcast(flat<T>(bias), output.shape());
    }
    const ProductInput<T> x_used(x), weight_used(weight);
    gemm<T>(x_used.operand(false), weight_used.operand(false), y.as<T>(), 1, bias ? 1 : 0);
  });
}

void ReferenceBackend::linear_backward(ConstView x, ConstView weight, ConstView dy, View dx,
                                       View dweight, View dbias) {
  const char* kernel = "linear_backward";
  require_rank(kernel, "x", x, 2);
  require_rank(kernel, "weight", weight, 2);
  require_dtype(kernel, "weight", weight, x.dtype);
  require_dtype(kernel, "dy", dy, x.dtype);
  const Shape output_shape{x.shape[0], weight.shape[1]};
  require_shape(kernel, "dy", dy, output_shape);
  if (dx) {
    require_dtype(kernel, "dx", dx, x.dtype);
    require_shape(kernel, "dx", dx, x.shape);
  }
  if (dweight) {
    require_dtype(kernel, "dweight", dweight, x.dtype);
    require_shape(kernel, "dweight", dweight, weight.shape);
  }
  if (dbias) {
    require_dtype(kernel, "dbias", dbias, x.dtype);
    const Shape bias_shape{weight.shape[1]};
    require_shape(kernel, "dbias", dbias, bias_shape);
  }
  dispatch_float(x.dtype, kernel, [&]<class T>(T) {
    // In bf16 mode dy is rounded once and feeds both products.
    const ProductInput<T> dy_used(dy);
    if (dx) {  // dx = dy · Wᵀ
      const ProductInput<T> weight_used(weight);
      gemm<T>(dy_used.operand(false), weight_used.operand(true), dx.as<T>(), 1, 0);
    }
    if (dweight) {  // dW = xᵀ · dy
      const ProductInput<T> x_used(x);
      gemm<T>(x_used.operand(true), dy_used.operand(false), dweight.as<T>(), 1, 0);
    }
    if (dbias) {  // db = Σ_n dy[n, :], a sum and not a product: from dy as given, never rounded
      auto bias_gradient = flat<T>(dbias);
      bias_gradient.fill(T(0));
      for (std::int64_t n = 0; n < dy.shape[0]; ++n) {
        bias_gradient += row(dy.as<T>() + n * dy.shape[1], dy.shape[1]);
      }
    }
  });
}

}  // namespace gradlab
