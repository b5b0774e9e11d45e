// Input checks shared by the reference kernels (declared in support.hpp).
#include "backends/reference/support.hpp"

#include <algorithm>

namespace gradlab::reference {

void fail(const char* kernel, const std::string& message) {
  throw Error(std::string("reference ") + kernel + ": " + message);
}

void require_present(const char* kernel, const char* name, ConstView view) {
  if (!view) fail(kernel, std::string(name) + " is missing");
}

void require_dtype(const char* kernel, const char* name, ConstView view, DType dtype) {
  require_present(kernel, name, view);
  if (view.dtype != dtype) {
    fail(kernel, std::string(name) + " has dtype " + dtype_name(view.dtype) + ", expected " +
                     dtype_name(dtype) + " (shape " + shape_string(view.shape) + ")");
  }
}

void require_shape(const char* kernel, const char* name, ConstView view,
                   std::span<const std::int64_t> shape) {
  require_present(kernel, name, view);
  if (!std::equal(view.shape.begin(), view.shape.end(), shape.begin(), shape.end())) {
    fail(kernel, std::string(name) + " has shape " + shape_string(view.shape) + ", expected " +
                     shape_string(shape));
  }
}

void require_rank(const char* kernel, const char* name, ConstView view, std::size_t rank) {
  require_present(kernel, name, view);
  if (view.shape.size() != rank) {
    fail(kernel, std::string(name) + " must have " + std::to_string(rank) +
                     " dimensions, got shape " + shape_string(view.shape));
  }
}

void require_numel(const char* kernel, const char* name, ConstView view, std::int64_t count) {
  require_present(kernel, name, view);
  if (view.numel() != count) {
    fail(kernel, std::string(name) + " must have " + std::to_string(count) +
                     " element(s), got shape " + shape_string(view.shape));
  }
}

RowsColumns rows_columns(const char* kernel, const char* name, ConstView view) {
  require_present(kernel, name, view);
  if (view.shape.empty()) {
    fail(kernel, std::string(name) + " needs at least one dimension, got shape []");
  }
  const std::int64_t columns = view.shape.back();
  return {columns == 0 ? 0 : view.numel() / columns, columns};
}

void require_labels(const char* kernel, ConstView labels, std::int64_t rows, std::int64_t classes) {
  require_dtype(kernel, "labels", labels, DType::int64);
  if (labels.numel() != rows) {
    fail(kernel, "expected one label per row (" + std::to_string(rows) + "), got labels of shape " +
                     shape_string(labels.shape));
  }
  const std::int64_t* label = labels.as<std::int64_t>();
  for (std::int64_t n = 0; n < rows; ++n) {
    if (label[n] < 0 || label[n] >= classes) {
      fail(kernel, "label " + std::to_string(label[n]) + " in row " + std::to_string(n) +
                       " is outside [0, C) for C = " + std::to_string(classes) + " classes");
    }
  }
}

std::vector<std::int64_t> broadcast_shape(const char* kernel, std::span<const std::int64_t> a,
                                          std::span<const std::int64_t> b) {
  const std::size_t rank = std::max(a.size(), b.size());
  std::vector<std::int64_t> shape(rank);
  for (std::size_t d = 0; d < rank; ++d) {
    // Right-aligned: axis d of the result is axis d − (rank − size) of each operand, or 1.
    const std::int64_t extent_a = d + a.size() >= rank ? a[d + a.size() - rank] : 1;
    const std::int64_t extent_b = d + b.size() >= rank ? b[d + b.size() - rank] : 1;
    if (extent_a != extent_b && extent_a != 1 && extent_b != 1) {
      fail(kernel, "shapes " + shape_string(a) + " and " + shape_string(b) +
                       " do not broadcast (axis " + std::to_string(d) + ": " +
                       std::to_string(extent_a) + " vs " + std::to_string(extent_b) + ")");
    }
    shape[d] = extent_a == 1 ? extent_b : extent_a;
  }
  return shape;
}

}  // namespace gradlab::reference
