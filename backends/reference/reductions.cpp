// Reference kernels: reductions along axes (reduce, reduce_max_backward, argmax, argmin).
#include <algorithm>
#include <cmath>
#include <string>

#include "backends/reference/reference_backend.hpp"
#include "backends/reference/support.hpp"

namespace gradlab {

using namespace reference;

namespace {

/// The axes that `reduce` sums over: where y's extent is 1 and x's is not. Raises unless y has
/// x's rank and every other extent of y equals x's.
std::vector<std::size_t> reduced_axes(const char* kernel, ConstView x, ConstView y) {
  require_present(kernel, "x", x);
  require_present(kernel, "y", y);
  bool fits = x.shape.size() == y.shape.size();
  std::vector<std::size_t> axes;
  for (std::size_t d = 0; fits && d < x.shape.size(); ++d) {
    if (y.shape[d] == x.shape[d]) continue;
    if (y.shape[d] == 1) {
      axes.push_back(d);
    } else {
      fits = false;
    }
  }
  if (!fits) {
    fail(kernel, "cannot reduce x of shape " + shape_string(x.shape) + " to y of shape " +
                     shape_string(y.shape) + " (y keeps x's rank, with 1 on the reduced axes)");
  }
  return axes;
}

/// Where the reduced axes sit, ignoring axes of extent 1 (they do not change the memory layout).
enum class Layout {
  leading,   ///< reduced axes first, kept axes last: x is [groups, size of y] and y sums its rows
  trailing,  ///< kept axes first, reduced axes last: x is [size of y, group] and y sums each row
  general,   ///< interleaved: left to xtensor's reducers
};

Layout reduction_layout(ConstView x, ConstView y) {
  // One letter per axis of x with extent > 1: R when reduced, K when kept.
  std::string pattern;
  for (std::size_t d = 0; d < x.shape.size(); ++d) {
    if (x.shape[d] > 1) pattern += y.shape[d] == 1 ? 'R' : 'K';
  }
  if (pattern.find("KR") == std::string::npos) return Layout::leading;   // R…R K…K
  if (pattern.find("RK") == std::string::npos) return Layout::trailing;  // K…K R…R
  return Layout::general;
}

}  // namespace

void ReferenceBackend::reduce(ReduceOp op, ConstView x, View y) {
  static const KernelNames<ReduceOp> names("reduce", reduce_op_name);
  const char* kernel = names(op);
  const std::vector<std::size_t> axes = reduced_axes(kernel, x, y);
  require_dtype(kernel, "x", x, y.dtype);
  if (y.numel() == 0) return;
  if ((op == ReduceOp::max || op == ReduceOp::min) && x.numel() == 0) {
    fail(kernel, std::string("the ") + reduce_op_name(op) +
                     " of an empty group is undefined (x of shape " + shape_string(x.shape) + ")");
  }
  const std::int64_t group_size = x.numel() / y.numel();  // n, the elements reduced into one
  dispatch_float(y.dtype, kernel, [&]<class T>(T) {
    const T* input = x.as<T>();
    switch (reduction_layout(x, y)) {
      case Layout::leading: {  // y = ⊕_g x[g, :], accumulated row by row
        auto output = flat<T>(y);
        if (group_size == 0) {  // empty groups: the sum is 0, the mean undefined
          output.fill(op == ReduceOp::sum ? T(0) : T(NAN));
          break;
        }
        const std::int64_t width = y.numel();
        xt::noalias(output) = row(input, width);
        for (std::int64_t g = 1; g < group_size; ++g) {
          const auto next = row(input + g * width, width);
          if (op == ReduceOp::max) {  // NaN when either is, in any order
            xt::noalias(output) = xt::where(output >= next || xt::isnan(output), output, next);
          } else if (op == ReduceOp::min) {
            xt::noalias(output) = xt::where(output <= next || xt::isnan(output), output, next);
          } else {
            xt::noalias(output) += next;
          }
        }
        if (op == ReduceOp::mean) output /= static_cast<T>(group_size);
        break;
      }
      case Layout::trailing: {  // y[i] = ⊕ x[i, :], one row per output element
        T* output = y.as<T>();
        for (std::int64_t i = 0; i < y.numel(); ++i) {
          const auto group = row(input + i * group_size, group_size);
          switch (op) {
            case ReduceOp::sum: output[i] = sum_of(group); break;
            case ReduceOp::mean: output[i] = sum_of(group) / static_cast<T>(group_size); break;
            case ReduceOp::max: output[i] = max_of(group); break;
            case ReduceOp::min: output[i] = min_of(group); break;
          }
        }
        break;
      }
      case Layout::general: {
        // y without its reduced axes has the same elements in the same order: adapt it that
        // way, and the xtensor reducer (which drops the reduced axes) assigns straight into it.
        Shape kept_shape;
        for (std::size_t d = 0; d < y.shape.size(); ++d) {
          if (std::find(axes.begin(), axes.end(), d) == axes.end())
            kept_shape.push_back(y.shape[d]);
        }
        auto output = tensor<T>(View{y.data, kept_shape, y.dtype});
        const auto all = tensor<T>(x);
        switch (op) {
          case ReduceOp::sum: xt::noalias(output) = xt::sum(all, axes); break;
          case ReduceOp::mean: xt::noalias(output) = xt::mean(all, axes); break;
          case ReduceOp::max: {
            // xt::amax keeps or drops a NaN depending on where it sits: add 0, or NaN where a
            // group holds one (PyTorch's max is NaN then).
            xt::noalias(output) = xt::amax(all, axes);
            const xt::xarray<T> nan_or_zero = xt::sum(xt::where(xt::isnan(all), all, T(0)), axes);
            output += nan_or_zero;
            break;
          }
          case ReduceOp::min: {  // as max
            xt::noalias(output) = xt::amin(all, axes);
            const xt::xarray<T> nan_or_zero = xt::sum(xt::where(xt::isnan(all), all, T(0)), axes);
            output += nan_or_zero;
            break;
          }
        }
        break;
      }
    }
  });
}

void ReferenceBackend::reduce_max_backward(ConstView x, ConstView y, ConstView dy, View dx) {
  const char* kernel = "reduce_max_backward";
  reduced_axes(kernel, x, y);
  require_dtype(kernel, "y", y, x.dtype);
  require_dtype(kernel, "dy", dy, x.dtype);
  require_shape(kernel, "dy", dy, y.shape);
  require_dtype(kernel, "dx", dx, x.dtype);
  require_shape(kernel, "dx", dx, x.shape);
  dispatch_float(x.dtype, kernel, [&]<class T>(T) {
    const T* input = x.as<T>();
    const T* maximum = y.as<T>();
    const T* upstream = dy.as<T>();
    T* gradient = dx.as<T>();
    if (reduction_layout(x, y) == Layout::trailing && y.numel() > 0) {  // one group per row
      const std::int64_t group_size = x.numel() / y.numel();
      std::fill(gradient, gradient + x.numel(), T(0));
      for (std::int64_t g = 0; g < y.numel(); ++g) {
        const T* group = input + g * group_size;
        const T* winner =
            std::isnan(maximum[g])  // the first NaN, as torch.max(x, dim)
                ? std::find_if(group, group + group_size, [](T v) { return std::isnan(v); })
                : std::find(group, group + group_size, maximum[g]);
        if (winner != group + group_size) gradient[winner - input] = upstream[g];
      }
      return;
    }
    // Walk x in row-major order; group g = the y element x[i] reduces into. The first x[i] equal
    // to its group's maximum takes dy[g]; `routed` remembers the groups already served.
    std::vector<bool> routed(static_cast<std::size_t>(y.numel()), false);
    for_each_broadcast(y.shape, x.shape, [&](std::int64_t i, std::int64_t group) {
      const bool winner = !routed[group] && (input[i] == maximum[group] ||
                                             (std::isnan(input[i]) && std::isnan(maximum[group])));
      if (winner) routed[group] = true;
      gradient[i] = winner ? upstream[group] : T(0);
    });
  });
}

void ReferenceBackend::argmax(ConstView x, View out) {
  const char* kernel = "argmax";
  const RowsColumns extents = rows_columns(kernel, "x", x);
  const std::int64_t rows = extents.rows, columns = extents.columns;
  require_dtype(kernel, "out", out, DType::int64);
  require_numel(kernel, "out", out, rows);
  if (columns == 0 && rows > 0) fail(kernel, "x of shape " + shape_string(x.shape) + " is empty");
  dispatch_float(x.dtype, kernel, [&]<class T>(T) {
    std::int64_t* winner = out.as<std::int64_t>();
    for (std::int64_t n = 0; n < rows; ++n) {
      const T* scores = x.as<T>() + n * columns;
      winner[n] = std::max_element(scores, scores + columns) - scores;  // the first maximum
    }
  });
}

void ReferenceBackend::argmin(ConstView x, View out) {
  const char* kernel = "argmin";
  const RowsColumns extents = rows_columns(kernel, "x", x);
  const std::int64_t rows = extents.rows, columns = extents.columns;
  require_dtype(kernel, "out", out, DType::int64);
  require_numel(kernel, "out", out, rows);
  if (columns == 0 && rows > 0) fail(kernel, "x of shape " + shape_string(x.shape) + " is empty");
  dispatch_float(x.dtype, kernel, [&]<class T>(T) {
    std::int64_t* winner = out.as<std::int64_t>();
    for (std::int64_t n = 0; n < rows; ++n) {
      const T* scores = x.as<T>() + n * columns;
      const T* nan = std::find_if(scores, scores + columns, [](T v) { return std::isnan(v); });
      // The first NaN wins (torch.argmin), else the first smallest.
      winner[n] =
          (nan != scores + columns ? nan : std::min_element(scores, scores + columns)) - scores;
    }
  });
}

}  // namespace gradlab
