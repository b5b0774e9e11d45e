// Reference kernels: indexing and selection (where, index_select, index_add). They copy numbers
// and never compute with them, so they take every dtype, int64 included.
#include <string>

#include "backends/reference/reference_backend.hpp"
#include "backends/reference/support.hpp"

namespace gradlab {

using namespace reference;

namespace {

/// A tensor seen around one axis: [outer, extent, inner], outer the product of the extents
/// before `axis`, inner of those after it. Row-major, so element (i, j, k) sits at
/// (i · extent + j) · inner + k.
struct AroundAxis {
  std::int64_t outer = 1, extent = 1, inner = 1;
};

AroundAxis around_axis(const char* kernel, const char* name, ConstView view, std::int64_t axis) {
  require_present(kernel, name, view);
  const auto rank = static_cast<std::int64_t>(view.shape.size());
  if (axis < 0 || axis >= rank) {
    fail(kernel, "axis " + std::to_string(axis) + " out of range for " + name + " of shape " +
                     shape_string(view.shape));
  }
  AroundAxis split;
  for (std::int64_t d = 0; d < rank; ++d) {
    const std::int64_t extent = view.shape[static_cast<std::size_t>(d)];
    if (d < axis) split.outer *= extent;
    if (d == axis) split.extent = extent;
    if (d > axis) split.inner *= extent;
  }
  return split;
}

/// Checks that `indices` is an int64 list whose every entry lies in [0, extent); names the first
/// bad one, its position, the axis and the extent.
void require_indices(const char* kernel, ConstView indices, std::int64_t axis,
                     std::int64_t extent) {
  require_dtype(kernel, "indices", indices, DType::int64);
  const std::int64_t* index = indices.as<std::int64_t>();
  for (std::int64_t j = 0; j < indices.numel(); ++j) {
    if (index[j] < 0 || index[j] >= extent) {
      fail(kernel, "index " + std::to_string(index[j]) + " (entry " + std::to_string(j) +
                       ") is out of range for axis " + std::to_string(axis) + " of extent " +
                       std::to_string(extent));
    }
  }
}

/// Checks that `y` is `x` with the extent along `axis` replaced by the number of indices.
void require_selected_shape(const char* kernel, ConstView x, std::int64_t axis, ConstView indices,
                            ConstView y) {
  Shape expected(x.shape);
  expected[static_cast<std::size_t>(axis)] = indices.numel();
  require_shape(kernel, "y", y, expected);
}

}  // namespace

void ReferenceBackend::where(ConstView condition, ConstView a, ConstView b, View y) {
  const char* kernel = "where";
  require_present(kernel, "y", y);
  const auto require_like_y = [&](const char* name, ConstView view) {
    require_dtype(kernel, name, view, y.dtype);
    require_shape(kernel, name, view, y.shape);
  };
  require_like_y("condition", condition);
  require_like_y("a", a);
  require_like_y("b", b);
  dispatch_any(y.dtype, [&]<class T>(T) {
    auto output = flat<T>(y);
    xt::noalias(output) =
        xt::where(xt::not_equal(flat<T>(condition), T(0)), flat<T>(a), flat<T>(b));
  });
}

void ReferenceBackend::index_select(ConstView x, std::int64_t axis, ConstView indices, View y) {
  const char* kernel = "index_select";
  const AroundAxis from = around_axis(kernel, "x", x, axis);
  require_indices(kernel, indices, axis, from.extent);
  require_dtype(kernel, "y", y, x.dtype);
  require_selected_shape(kernel, x, axis, indices, y);
  const std::int64_t* index = indices.as<std::int64_t>();
  const std::int64_t count = indices.numel(), inner = from.inner;
  dispatch_any(x.dtype, [&]<class T>(T) {
    for (std::int64_t i = 0; i < from.outer; ++i) {
      for (std::int64_t j = 0; j < count; ++j) {  // y[i, j, :] = x[i, index[j], :]
        auto target = row(y.as<T>() + (i * count + j) * inner, inner);
        xt::noalias(target) = row(x.as<T>() + (i * from.extent + index[j]) * inner, inner);
      }
    }
  });
}

void ReferenceBackend::index_add(ConstView source, std::int64_t axis, ConstView indices, View y) {
  const char* kernel = "index_add";
  const AroundAxis to = around_axis(kernel, "y", y, axis);
  require_indices(kernel, indices, axis, to.extent);
  require_dtype(kernel, "source", source, y.dtype);
  require_selected_shape(kernel, y, axis, indices, source);
  const std::int64_t* index = indices.as<std::int64_t>();
  const std::int64_t count = indices.numel(), inner = to.inner;
  dispatch_any(y.dtype, [&]<class T>(T) {
    for (std::int64_t i = 0; i < to.outer; ++i) {
      for (std::int64_t j = 0; j < count; ++j) {  // y[i, index[j], :] += source[i, j, :]
        auto target = row(y.as<T>() + (i * to.extent + index[j]) * inner, inner);
        target += row(source.as<T>() + (i * count + j) * inner, inner);
      }
    }
  });
}

}  // namespace gradlab
