#pragma once
/// \file backends/reference/support.hpp
/// \brief Private helpers of the reference backend: dtype dispatch, xtensor views of the raw
/// buffers, and the input checks every kernel starts with.
///
/// A kernel is written once as a template on the element type T and instantiated for float32
/// and float64 by `dispatch_float`:
/// \code
///   dispatch_float(x.dtype, "unary", [&]<class T>(T) {
///     auto input = flat<T>(x);
///     auto output = flat<T>(y);
///     xt::noalias(output) = xt::tanh(input);
///   });
/// \endcode
/// `flat`, `row` and `tensor` adapt a `View`/`ConstView` (or a part of it) as an xtensor
/// expression without copying. This header includes xtensor, so only the backend's own .cpp files
/// include it.
///
/// A pitfall worth knowing: xtensor reducers are lazy and keep references to their arguments, so
/// a reducer is always assigned in the statement that creates it, with its axes in a named
/// variable (never a braced temporary that dies before the reducer is evaluated).

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

// xtensor turns xsimd on when XTENSOR_USE_XSIMD is defined at all (it tests #ifdef, so even
// "=0" turns it on). The reference backend is plain scalar code on purpose, and xsimd is not
// among the packages the project installs.
#ifdef XTENSOR_USE_XSIMD
#error "the reference backend is built without xsimd: do not define XTENSOR_USE_XSIMD"
#endif
#include <xtensor/xadapt.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xoperation.hpp>

#include "backends/backend.hpp"

namespace gradlab::reference {

/// Names such as "unary(tanh)" for every op of an op enum, made once: each kernel names itself
/// in its error messages, and building that string on every call cost a heap allocation (a
/// good part of an op on 4×4 tensors). Use as a function-local static:
/// `static const KernelNames<UnaryOp> names("unary", unary_op_name);`.
template <class Op>
class KernelNames {
 public:
  /// Names "family(op)" for every op `name_of` knows (it answers "unknown" past the last one).
  KernelNames(const char* family, const char* (*name_of)(Op)) {
    for (int i = 0; i < 256; ++i) {
      const std::string_view op = name_of(static_cast<Op>(i));
      if (op == "unknown") break;
      names_.push_back(std::string(family) + "(" + std::string(op) + ")");
    }
    unknown_ = std::string(family) + "(unknown)";
  }
  /// The name of `op`'s kernel.
  const char* operator()(Op op) const {
    const auto i = static_cast<std::size_t>(op);
    return i < names_.size() ? names_[i].c_str() : unknown_.c_str();
  }

 private:
  std::vector<std::string> names_;
  std::string unknown_;
};

/// Runs `kernel_body(T{})` with T = float or double according to `dtype`; any other dtype raises
/// an `Error` naming the kernel. The body is a generic lambda `[&]<class T>(T) { ... }`.
template <class Body>
decltype(auto) dispatch_float(DType dtype, const char* kernel, Body&& kernel_body) {
  switch (dtype) {
    case DType::float32: return kernel_body(float{});
    case DType::float64: return kernel_body(double{});
    default:
      throw Error(std::string("reference ") + kernel + ": unsupported dtype " + dtype_name(dtype) +
                  " (the reference backend computes in float32 and float64)");
  }
}

/// Like `dispatch_float`, with int64 as a third choice (for copying kernels).
template <class Body>
decltype(auto) dispatch_any(DType dtype, Body&& kernel_body) {
  switch (dtype) {
    case DType::float32: return kernel_body(float{});
    case DType::float64: return kernel_body(double{});
    case DType::int64: return kernel_body(std::int64_t{});
  }
  throw Error("reference: unknown dtype");
}

/// The extents of a view as the unsigned shape type xtensor wants.
inline std::vector<std::size_t> xt_shape(std::span<const std::int64_t> shape) {
  return std::vector<std::size_t>(shape.begin(), shape.end());
}

/// Read-only xtensor view of `view` with its own shape.
template <class T>
auto tensor(ConstView view) {
  return xt::adapt(view.as<T>(), static_cast<std::size_t>(view.numel()), xt::no_ownership(),
                   xt_shape(view.shape));
}
/// Writable xtensor view of `view` with its own shape.
template <class T>
auto tensor(View view) {
  return xt::adapt(view.as<T>(), static_cast<std::size_t>(view.numel()), xt::no_ownership(),
                   xt_shape(view.shape));
}

// The 1-D views below have a static rank (a std::array shape), which xtensor assigns with a
// plain loop: the elementwise kernels run at memory speed, and making one per row is cheap.

/// Read-only 1-D view of `count` elements starting at `data` (e.g. one row of a matrix).
template <class T>
auto row(const T* data, std::int64_t count) {
  const std::array<std::size_t, 1> shape{static_cast<std::size_t>(count)};
  return xt::adapt(data, shape[0], xt::no_ownership(), shape);
}
/// Writable 1-D view of `count` elements starting at `data`.
template <class T>
auto row(T* data, std::int64_t count) {
  const std::array<std::size_t, 1> shape{static_cast<std::size_t>(count)};
  return xt::adapt(data, shape[0], xt::no_ownership(), shape);
}

/// Read-only 1-D xtensor view of all elements of `view` (elementwise kernels ignore the shape).
template <class T>
auto flat(ConstView view) {
  return row(view.as<T>(), view.numel());
}
/// Writable 1-D xtensor view of all elements of `view`.
template <class T>
auto flat(View view) {
  return row(view.as<T>(), view.numel());
}

/// max(a, b), NaN when either is, whatever the order (PyTorch's rule: `std::max` and
/// `xt::maximum` return one operand or the other when one is NaN).
template <class T>
T nan_max(T a, T b) {
  return a >= b || std::isnan(a) ? a : b;
}
/// The largest element of a 1-D expression (the first one on ties), e.g. a row's max; NaN when
/// an element is NaN, wherever it sits (`std::max_element` would skip it or stop at it).
template <class E>
auto max_of(const E& expression) {
  auto element = expression.begin();
  typename E::value_type largest = *element;
  for (++element; element != expression.end(); ++element) largest = nan_max(largest, *element);
  return largest;
}
/// min(a, b), NaN when either is, whatever the order (the mirror image of `nan_max`).
template <class T>
T nan_min(T a, T b) {
  return a <= b || std::isnan(a) ? a : b;
}
/// The smallest element of a 1-D expression, NaN when an element is (as `max_of`).
template <class E>
auto min_of(const E& expression) {
  auto element = expression.begin();
  typename E::value_type smallest = *element;
  for (++element; element != expression.end(); ++element) smallest = nan_min(smallest, *element);
  return smallest;
}
/// The sum of the elements of a 1-D expression, e.g. Σ_c e^{x_c − m} over a row.
template <class E>
auto sum_of(const E& expression) {
  using Value = typename E::value_type;
  return std::accumulate(expression.begin(), expression.end(), Value(0));
}

/// A view seen as a matrix of rows × columns, where columns is the last extent.
///
/// Callers copy the two fields into plain variables (`const RowsColumns extents = ...;`) rather
/// than a structured binding: clang before 16 does not let a lambda use a structured binding, and
/// the fuzz build (`./gradlab fuzz`) compiles these files with clang 14.
struct RowsColumns {
  std::int64_t rows;     ///< Product of all extents but the last (1 for a vector).
  std::int64_t columns;  ///< The last extent.
};

// --- input checks -------------------------------------------------------------------------------

/// "reference <kernel>: " + message, as an Error.
[[noreturn]] void fail(const char* kernel, const std::string& message);

/// Raises unless `view` has `dtype`.
void require_dtype(const char* kernel, const char* name, ConstView view, DType dtype);
/// Raises unless `view` is present (not null).
void require_present(const char* kernel, const char* name, ConstView view);
/// Raises unless `view` has exactly the extents `shape`.
void require_shape(const char* kernel, const char* name, ConstView view,
                   std::span<const std::int64_t> shape);
/// Raises unless `view` has `rank` dimensions.
void require_rank(const char* kernel, const char* name, ConstView view, std::size_t rank);
/// Raises unless `view` has `count` elements (e.g. a loss of shape [] or [1]).
void require_numel(const char* kernel, const char* name, ConstView view, std::int64_t count);
/// The rows × columns split of `view`; raises for a rank-0 view (no last axis).
RowsColumns rows_columns(const char* kernel, const char* name, ConstView view);
/// Checks int64 labels, one per row, each in [0, classes); names the first bad label and its row.
void require_labels(const char* kernel, ConstView labels, std::int64_t rows, std::int64_t classes);

/// NumPy broadcasting: the shape of a ∘ b (right-aligned, extents equal or 1); raises naming
/// both shapes when they do not broadcast.
std::vector<std::int64_t> broadcast_shape(const char* kernel, std::span<const std::int64_t> a,
                                          std::span<const std::int64_t> b);

/// For every element of `out_shape` in row-major order, calls visit(out_index, in_index) with
/// the flat index of the element of an input of shape `in_shape` (rank ≤ out's, right-aligned,
/// extents equal or 1) that broadcasting maps to it. The caller has checked the shapes.
template <class Visit>
void for_each_broadcast(std::span<const std::int64_t> in_shape,
                        std::span<const std::int64_t> out_shape, Visit&& visit) {
  const std::size_t rank = out_shape.size();
  const std::size_t offset = rank - in_shape.size();
  // in_stride[d]: how far the input index moves when output axis d advances by one; 0 along an
  // axis that the input repeats (extent 1, or absent on the left).
  std::vector<std::int64_t> in_stride(rank, 0);
  std::int64_t stride = 1;
  for (std::size_t d = rank; d-- > offset;) {
    const std::int64_t extent = in_shape[d - offset];
    in_stride[d] = extent == 1 ? 0 : stride;
    stride *= extent;
  }
  const std::int64_t count = shape_numel(out_shape);
  std::vector<std::int64_t> index(rank, 0);  // the output multi-index, as an odometer
  std::int64_t in_index = 0;
  for (std::int64_t out_index = 0; out_index < count; ++out_index) {
    visit(out_index, in_index);
    for (std::size_t d = rank; d-- > 0;) {  // advance the odometer by one
      in_index += in_stride[d];
      if (++index[d] < out_shape[d]) break;
      in_index -= in_stride[d] * index[d];
      index[d] = 0;
    }
  }
}

}  // namespace gradlab::reference
