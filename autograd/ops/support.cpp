// The input checks and kernel calls every op file shares (support.hpp).
#include "autograd/ops/support.hpp"

#include <algorithm>
#include <string>

namespace gradlab::ops_support {

void require_float(const char* op, const Tensor& x, const char* what) {
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

Tensor where_kernel(const Tensor& condition, const Tensor& a, const Tensor& b) {
  Tensor y = Tensor::empty(a.shape(), a.dtype());
  if (y.numel() > 0) backend().where(condition.view(), a.view(), b.view(), y.mutable_view());
  return y;
}

Tensor scalar_like(const Tensor& like, double value) {
  return full({}, value, {.dtype = like.dtype()});
}

Tensor matmul_kernel(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b) {
  std::int64_t rows = transpose_a ? a.size(1) : a.size(0);
  std::int64_t columns = transpose_b ? b.size(0) : b.size(1);
  if (a.numel() == 0 || b.numel() == 0) return zeros({rows, columns}, {.dtype = a.dtype()});
  Tensor c = Tensor::empty({rows, columns}, a.dtype());
  backend().matmul(a.view(), transpose_a, b.view(), transpose_b, c.mutable_view());
  return c;
}

}  // namespace gradlab::ops_support
