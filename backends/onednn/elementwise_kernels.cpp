// Elementwise, broadcasting, reduction and copying kernels of the oneDNN backend.
//
// Each primitive-backed kernel has two paths: below `kSmallTensorElements` elements a plain host
// loop (a primitive's execute alone costs more than the whole loop on a 4×4 tensor), above it a
// cached oneDNN primitive (eltwise, binary, reduction, reorder).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "backends/onednn/onednn_context.hpp"

namespace gradlab::onednn {
namespace {

using dnnl::algorithm;
using dnnl::memory;

// --- broadcasting walks -------------------------------------------------------------------

/// Strides of `input` laid against an output of `extents` (NumPy rules, right-aligned): a
/// dimension of extent 1 that the output repeats gets stride 0, so offset = Σ index_d · stride_d
/// reads the same element again along it.
std::vector<std::int64_t> broadcast_strides(std::span<const std::int64_t> input,
                                            std::span<const std::int64_t> extents) {
  std::vector<std::int64_t> strides(extents.size(), 0);
  const std::size_t lead = extents.size() - input.size();
  std::int64_t stride = 1;
  for (std::size_t d = input.size(); d-- > 0;) {
    strides[lead + d] = input[d] == 1 ? 0 : stride;
    stride *= input[d];
  }
  return strides;
}

/// Calls body(out_index, offset_a, offset_b) for every output index in [begin, end), where the
/// offsets address the two broadcast inputs. Keeps a multi-index and carries like an odometer.
template <class Body>
void walk_broadcast(std::span<const std::int64_t> extents, std::span<const std::int64_t> stride_a,
                    std::span<const std::int64_t> stride_b, std::int64_t begin, std::int64_t end,
                    Body body) {
  const std::size_t rank = extents.size();
  std::vector<std::int64_t> index(rank, 0);
  std::int64_t offset_a = 0, offset_b = 0, rest = begin;
  for (std::size_t d = rank; d-- > 0;) {
    index[d] = rest % extents[d];
    rest /= extents[d];
    offset_a += index[d] * stride_a[d];
    offset_b += index[d] * stride_b[d];
  }
  for (std::int64_t i = begin; i < end; ++i) {
    body(i, offset_a, offset_b);
    for (std::size_t d = rank; d-- > 0;) {
      offset_a += stride_a[d];
      offset_b += stride_b[d];
      if (++index[d] < extents[d]) break;
      offset_a -= stride_a[d] * extents[d];
      offset_b -= stride_b[d] * extents[d];
      index[d] = 0;
    }
  }
}

/// Raises unless `input` broadcasts to `extents` (each right-aligned extent is 1 or equal).
void require_broadcastable(const char* kernel, std::span<const std::int64_t> input,
                           std::span<const std::int64_t> extents) {
  bool ok = input.size() <= extents.size();
  for (std::size_t d = 0; ok && d < input.size(); ++d) {
    const std::int64_t in = input[input.size() - 1 - d];
    ok = in == 1 || in == extents[extents.size() - 1 - d];
  }
  if (!ok) {
    throw Error(std::string("onednn backend: ") + kernel + ": cannot broadcast " +
                shape_string(input) + " to " + shape_string(extents));
  }
}

/// `shape` with leading 1s up to `rank` dimensions (oneDNN wants equal ranks); a scalar and a
/// rank-0 output become {1}.
memory::dims padded_dims(std::span<const std::int64_t> shape, std::size_t rank) {
  rank = std::max<std::size_t>(rank, 1);
  memory::dims dims(rank - shape.size(), 1);
  dims.insert(dims.end(), shape.begin(), shape.end());
  return dims;
}

// --- unary ops: the scalar formulas and their oneDNN eltwise algorithms -------------------

/// y = f(x; alpha), the formulas of backend.hpp.
float unary_value(UnaryOp op, float x, float alpha) {
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::log: return std::log(x);
    case UnaryOp::sqrt: return std::sqrt(x);
    case UnaryOp::pow: return std::pow(x, alpha);
    case UnaryOp::scale: return alpha * x;
    case UnaryOp::shift: return x + alpha;
    case UnaryOp::sigmoid: return 1.0f / (1.0f + std::exp(-x));
    case UnaryOp::tanh: return std::tanh(x);
    case UnaryOp::relu: return x <= 0.0f ? 0.0f : x;  // NaN stays NaN (PyTorch)
    case UnaryOp::leaky_relu: return x > 0.0f ? x : alpha * x;
    case UnaryOp::elu: return x > 0.0f ? x : alpha * std::expm1(x);
    case UnaryOp::abs: return std::abs(x);
  }
  return x;
}

/// f′(x; alpha), from the output y where that is cheaper (σ′ = y(1−y), tanh′ = 1 − y²,
/// exp′ = y, √′ = 1/(2y), elu′ = y + alpha for x ≤ 0).
float unary_derivative(UnaryOp op, float x, float y, float alpha) {
  switch (op) {
    case UnaryOp::neg: return -1.0f;
    case UnaryOp::exp: return y;
    case UnaryOp::log: return 1.0f / x;
    case UnaryOp::sqrt: return 0.5f / y;
    case UnaryOp::pow: return alpha * std::pow(x, alpha - 1.0f);
    case UnaryOp::scale: return alpha;
    case UnaryOp::shift: return 1.0f;
    case UnaryOp::sigmoid: return y * (1.0f - y);
    case UnaryOp::tanh: return 1.0f - y * y;
    case UnaryOp::relu: return x <= 0.0f ? 0.0f : 1.0f;  // 1 at NaN: PyTorch passes it on
    case UnaryOp::leaky_relu: return x > 0.0f ? 1.0f : alpha;
    case UnaryOp::elu: return x > 0.0f ? 1.0f : y + alpha;
    case UnaryOp::abs: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);  // 0 at 0 and NaN
  }
  return 1.0f;
}

/// A oneDNN eltwise algorithm with its two parameters (oneDNN names them alpha and beta).
struct EltwiseSpec {
  algorithm kind;
  float alpha = 0.0f;
  float beta = 0.0f;
  bool reads_dst = false;  ///< The backward of a `*_use_dst_for_bwd` algorithm reads y, not x.
};

/// The eltwise algorithm computing `op`. With `prefer_dst`, algorithms whose derivative is
/// cheaper from y (exp, sqrt, logistic, tanh) use their `_use_dst_for_bwd` variant.
EltwiseSpec eltwise_spec(UnaryOp op, float alpha, bool prefer_dst) {
  switch (op) {
    case UnaryOp::neg: return {algorithm::eltwise_linear, -1.0f, 0.0f};  // y = −1·x + 0
    case UnaryOp::exp:
      return prefer_dst ? EltwiseSpec{algorithm::eltwise_exp_use_dst_for_bwd, 0, 0, true}
                        : EltwiseSpec{algorithm::eltwise_exp};
    case UnaryOp::log: return {algorithm::eltwise_log};
    case UnaryOp::sqrt:
      return prefer_dst ? EltwiseSpec{algorithm::eltwise_sqrt_use_dst_for_bwd, 0, 0, true}
                        : EltwiseSpec{algorithm::eltwise_sqrt};
    case UnaryOp::pow: return {algorithm::eltwise_pow, 1.0f, alpha};  // y = 1·x^alpha
    case UnaryOp::scale: return {algorithm::eltwise_linear, alpha, 0.0f};
    case UnaryOp::shift: return {algorithm::eltwise_linear, 1.0f, alpha};
    case UnaryOp::sigmoid:
      return prefer_dst ? EltwiseSpec{algorithm::eltwise_logistic_use_dst_for_bwd, 0, 0, true}
                        : EltwiseSpec{algorithm::eltwise_logistic};
    case UnaryOp::tanh:
      return prefer_dst ? EltwiseSpec{algorithm::eltwise_tanh_use_dst_for_bwd, 0, 0, true}
                        : EltwiseSpec{algorithm::eltwise_tanh};
    case UnaryOp::relu: return {algorithm::eltwise_relu, 0.0f, 0.0f};
    case UnaryOp::leaky_relu: return {algorithm::eltwise_relu, alpha, 0.0f};  // alpha: slope
    case UnaryOp::elu: return {algorithm::eltwise_elu, alpha, 0.0f};
    case UnaryOp::abs: return {algorithm::eltwise_abs};
  }
  throw Error("onednn backend: unknown unary op");
}

dnnl::eltwise_forward::primitive_desc eltwise_forward_pd(const dnnl::engine& engine,
                                                         const EltwiseSpec& spec,
                                                         const memory::desc& md) {
  return dnnl::eltwise_forward::primitive_desc(
      dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, spec.kind, md, spec.alpha,
                                  spec.beta),
      engine);
}

void require_elementwise(const char* kernel, const char* what, ConstView view,
                         std::span<const std::int64_t> shape) {
  require_float32(kernel, what, view.dtype);
  require_same_shape(kernel, view.shape, shape);
}

// --- binary ops ---------------------------------------------------------------------------

/// max(a, b), NaN when either is, whatever the order (PyTorch's rule; std::max, vmaxps and
/// oneDNN's binary_max and reduction_max return one operand or the other when one is NaN).
float nan_max(float a, float b) { return a >= b || std::isnan(a) ? a : b; }
/// min(a, b), NaN when either is (the mirror image of `nan_max`).
float nan_min(float a, float b) { return a <= b || std::isnan(a) ? a : b; }

/// True when some element of `x` is NaN (a branch-free loop: it vectorizes).
bool contains_nan(ConstView x) {
  const float* p = x.as<float>();
  bool found = false;
  for (std::int64_t i = 0; i < x.numel(); ++i) found |= std::isnan(p[i]);
  return found;
}

float binary_value(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
    case BinaryOp::maximum: return nan_max(a, b);
    case BinaryOp::minimum: return nan_min(a, b);
    case BinaryOp::lt: return a < b ? 1.0f : 0.0f;
    case BinaryOp::le: return a <= b ? 1.0f : 0.0f;
    case BinaryOp::gt: return a > b ? 1.0f : 0.0f;
    case BinaryOp::ge: return a >= b ? 1.0f : 0.0f;
    case BinaryOp::eq: return a == b ? 1.0f : 0.0f;
    case BinaryOp::ne: return a != b ? 1.0f : 0.0f;
  }
  return 0.0f;
}

algorithm binary_algorithm(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return algorithm::binary_add;
    case BinaryOp::sub: return algorithm::binary_sub;
    case BinaryOp::mul: return algorithm::binary_mul;
    case BinaryOp::div: return algorithm::binary_div;
    case BinaryOp::maximum: return algorithm::binary_max;
    case BinaryOp::minimum: return algorithm::binary_min;
    case BinaryOp::lt: return algorithm::binary_lt;
    case BinaryOp::le: return algorithm::binary_le;
    case BinaryOp::gt: return algorithm::binary_gt;
    case BinaryOp::ge: return algorithm::binary_ge;
    case BinaryOp::eq: return algorithm::binary_eq;
    case BinaryOp::ne: return algorithm::binary_ne;
  }
  throw Error("onednn backend: unknown binary op");
}

bool commutative(BinaryOp op) {
  return op == BinaryOp::add || op == BinaryOp::mul || op == BinaryOp::maximum ||
         op == BinaryOp::minimum || op == BinaryOp::eq || op == BinaryOp::ne;
}

/// maximum, minimum and the comparisons run on the host at every size: oneDNN's binary_max and
/// binary_min return src1 when either input is NaN (the result would depend on the order of the
/// operands), and a host loop states the IEEE rule of each comparison in one line.
bool binary_on_host(BinaryOp op) {
  return op != BinaryOp::add && op != BinaryOp::sub && op != BinaryOp::mul && op != BinaryOp::div;
}

/// Host loop over the broadcast of a and b into y.
void binary_host(BinaryOp op, ConstView a, ConstView b, View y) {
  const float* pa = a.as<float>();
  const float* pb = b.as<float>();
  float* py = y.as<float>();
  const std::int64_t n = y.numel();
  if (a.numel() == n && b.numel() == n) {  // the common case: same shapes
    for_each_chunk(n, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) py[i] = binary_value(op, pa[i], pb[i]);
    });
    return;
  }
  const auto stride_a = broadcast_strides(a.shape, y.shape);
  const auto stride_b = broadcast_strides(b.shape, y.shape);
  for_each_chunk(n, [&](std::int64_t begin, std::int64_t end) {
    walk_broadcast(y.shape, stride_a, stride_b, begin, end,
                   [&](std::int64_t i, std::int64_t ia, std::int64_t ib) {
                     py[i] = binary_value(op, pa[ia], pb[ib]);
                   });
  });
}

/// The broadcast shape rule for y = a ∘ b: every right-aligned extent of y is the larger of a's
/// and b's, each of which is 1 or equal to it.
void require_binary_shapes(BinaryOp op, ConstView a, ConstView b, View y) {
  const std::size_t rank = std::max(a.shape.size(), b.shape.size());
  bool ok = y.shape.size() == rank;
  for (std::size_t d = 0; ok && d < rank; ++d) {
    const auto extent = [&](std::span<const std::int64_t> s) -> std::int64_t {
      return d < s.size() ? s[s.size() - 1 - d] : 1;
    };
    const std::int64_t ea = extent(a.shape), eb = extent(b.shape), ey = extent(y.shape);
    ok = (ea == ey || ea == 1) && (eb == ey || eb == 1) && ey == std::max(ea, eb);
  }
  if (!ok) {
    throw Error(std::string("onednn backend: binary ") + binary_op_name(op) + ": " +
                shape_string(a.shape) + " and " + shape_string(b.shape) + " do not broadcast to " +
                shape_string(y.shape));
  }
}

// --- reductions ---------------------------------------------------------------------------

void require_reduction_shapes(ReduceOp op, ConstView x, View y) {
  bool ok = x.shape.size() == y.shape.size();
  for (std::size_t d = 0; ok && d < x.shape.size(); ++d) {
    ok = y.shape[d] == x.shape[d] || y.shape[d] == 1;
  }
  if (!ok) {
    throw Error(std::string("onednn backend: reduce ") + reduce_op_name(op) + ": cannot reduce " +
                shape_string(x.shape) + " to " + shape_string(y.shape) +
                " (same rank, reduced axes of extent 1)");
  }
}

/// Host reduction: accumulate every x element into its y element (in double), then finish.
void reduce_host(ReduceOp op, ConstView x, View y) {
  const float* px = x.as<float>();
  float* py = y.as<float>();
  const std::int64_t outputs = y.numel();
  const double infinity = std::numeric_limits<double>::infinity();
  std::vector<double> accumulator(
      static_cast<std::size_t>(outputs),
      op == ReduceOp::max ? -infinity : (op == ReduceOp::min ? infinity : 0.0));
  const auto stride_y = broadcast_strides(y.shape, x.shape);
  const std::vector<std::int64_t> unused(x.shape.size(), 0);
  walk_broadcast(x.shape, stride_y, unused, 0, x.numel(),
                 [&](std::int64_t i, std::int64_t iy, std::int64_t) {
                   double& slot = accumulator[static_cast<std::size_t>(iy)];
                   const double v = px[i];
                   switch (op) {
                     case ReduceOp::max: slot = slot >= v || std::isnan(slot) ? slot : v; break;
                     case ReduceOp::min: slot = slot <= v || std::isnan(slot) ? slot : v; break;
                     default: slot += v;
                   }
                 });
  const double count = static_cast<double>(x.numel()) / static_cast<double>(outputs);
  for (std::int64_t i = 0; i < outputs; ++i) {
    const double value = accumulator[static_cast<std::size_t>(i)];
    py[i] = static_cast<float>(op == ReduceOp::mean ? value / count : value);
  }
}

/// When y keeps x's trailing axes and reduces all leading ones (y = Σ over rows, as in the
/// bias gradient), returns the number of kept elements per row; else 0. oneDNN 2.6's jit
/// reduction handles only trailing axes and runs this pattern on its slow reference code.
std::int64_t leading_reduction_columns(ConstView x, View y) {
  std::size_t split = 0;
  while (split < x.shape.size() && y.shape[split] == 1) ++split;
  for (std::size_t d = split; d < x.shape.size(); ++d) {
    if (y.shape[d] != x.shape[d]) return 0;
  }
  // A reduction to one number is better served by the trailing-axes code (one row).
  return y.numel() > 1 ? y.numel() : 0;
}

/// y[j] = reduce over rows r of x[r, j], x seen as [rows, columns]. Threads split the columns,
/// so each one streams through its own stripe of every row.
void reduce_leading_host(ReduceOp op, ConstView x, View y, std::int64_t columns) {
  const float* px = x.as<float>();
  float* py = y.as<float>();
  const std::int64_t rows = x.numel() / columns;
  const auto body = [&](std::int64_t begin, std::int64_t end) {
    std::copy(px + begin, px + end, py + begin);  // row 0
    for (std::int64_t r = 1; r < rows; ++r) {
      const float* row = px + r * columns;
      if (op == ReduceOp::max) {
        for (std::int64_t j = begin; j < end; ++j) py[j] = nan_max(py[j], row[j]);
      } else if (op == ReduceOp::min) {
        for (std::int64_t j = begin; j < end; ++j) py[j] = nan_min(py[j], row[j]);
      } else {
        for (std::int64_t j = begin; j < end; ++j) py[j] += row[j];
      }
    }
    if (op == ReduceOp::mean) {
      const float inverse = 1.0f / static_cast<float>(rows);
      for (std::int64_t j = begin; j < end; ++j) py[j] *= inverse;
    }
  };
  if (x.numel() < kParallelHostElements || columns < 64) {
    body(0, columns);
    return;
  }
#pragma omp parallel
  {
    const std::int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
    body(columns * thread / threads, columns * (thread + 1) / threads);
  }
}

/// When y keeps x's leading axes and reduces all trailing ones (row sums, row maxima),
/// returns the number of rows kept; else 0.
std::int64_t trailing_reduction_rows(ConstView x, View y) {
  std::size_t split = x.shape.size();
  while (split > 0 && y.shape[split - 1] == 1) --split;
  for (std::size_t d = 0; d < split; ++d) {
    if (y.shape[d] != x.shape[d]) return 0;
  }
  return y.numel();
}

/// y[r] = reduce over j of x[r, j], x seen as [rows, columns] (small tensors: one thread).
void reduce_trailing_host(ReduceOp op, ConstView x, View y, std::int64_t rows) {
  const float* px = x.as<float>();
  float* py = y.as<float>();
  const std::int64_t columns = x.numel() / rows;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = px + r * columns;
    if (op == ReduceOp::max || op == ReduceOp::min) {
      float winner = row[0];
      for (std::int64_t j = 1; j < columns; ++j)
        winner = op == ReduceOp::max ? nan_max(winner, row[j]) : nan_min(winner, row[j]);
      py[r] = winner;
    } else {
      double total = 0.0;
      for (std::int64_t j = 0; j < columns; ++j) total += row[j];
      py[r] =
          static_cast<float>(op == ReduceOp::mean ? total / static_cast<double>(columns) : total);
    }
  }
}

algorithm reduction_algorithm(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return algorithm::reduction_sum;
    case ReduceOp::mean: return algorithm::reduction_mean;
    case ReduceOp::max: return algorithm::reduction_max;
    case ReduceOp::min: return algorithm::reduction_min;
  }
  throw Error("onednn backend: unknown reduce op");
}

}  // namespace

// --- filling and copying ------------------------------------------------------------------

void fill(View out, double value) {
  if (out.dtype == DType::int64) {
    std::fill_n(out.as<std::int64_t>(), out.numel(), static_cast<std::int64_t>(value));
    return;
  }
  require_float32("fill", "out", out.dtype);
  float* p = out.as<float>();
  const float v = static_cast<float>(value);
  for_each_chunk(out.numel(),
                 [&](std::int64_t begin, std::int64_t end) { std::fill(p + begin, p + end, v); });
}

void arange(View out, double start, double step) {
  const std::int64_t n = out.numel();
  if (out.dtype == DType::int64) {
    auto* p = out.as<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<std::int64_t>(start + i * step);
    return;
  }
  require_float32("arange", "out", out.dtype);
  float* p = out.as<float>();
  for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(start + i * step);
}

void broadcast_to(ConstView in, View out) {
  require_float32("broadcast_to", "in", in.dtype);
  require_float32("broadcast_to", "out", out.dtype);
  require_broadcastable("broadcast_to", in.shape, out.shape);
  const float* src = in.as<float>();
  float* dst = out.as<float>();
  // Two common cases as plain copies: a scalar (the backward of a sum) and a row repeated down
  // the leading axes (a bias); the general walk computes an offset per element.
  const std::int64_t inner = in.numel();
  const std::size_t lead = out.shape.size() - in.shape.size();
  std::size_t first = 0;  // leading 1s of the input repeat nothing
  while (first < in.shape.size() && in.shape[first] == 1) ++first;
  bool trailing = inner > 0;
  for (std::size_t d = first; d < in.shape.size() && trailing; ++d)
    trailing = in.shape[d] == out.shape[lead + d];
  if (inner == 1) {
    fill(out, static_cast<double>(src[0]));
    return;
  }
  if (trailing) {
    for_each_chunk(out.numel() / inner, [src, dst, inner](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r)
        std::memcpy(dst + r * inner, src, static_cast<std::size_t>(inner) * sizeof(float));
    });
    return;
  }
  const auto stride_in = broadcast_strides(in.shape, out.shape);
  const std::vector<std::int64_t> unused(out.shape.size(), 0);
  for_each_chunk(out.numel(), [&](std::int64_t begin, std::int64_t end) {
    walk_broadcast(out.shape, stride_in, unused, begin, end,
                   [&](std::int64_t i, std::int64_t j, std::int64_t) { dst[i] = src[j]; });
  });
}

void transpose2d(Context& context, ConstView in, View out) {
  constexpr const char* kernel = "transpose2d";
  require_float32(kernel, "in", in.dtype);
  require_float32(kernel, "out", out.dtype);
  if (in.shape.size() != 2 || out.shape.size() != 2 || out.shape[0] != in.shape[1] ||
      out.shape[1] != in.shape[0]) {
    throw Error(std::string("onednn backend: transpose2d: cannot transpose ") +
                shape_string(in.shape) + " into " + shape_string(out.shape));
  }
  const std::int64_t rows = in.shape[0], cols = in.shape[1];
  if (in.numel() < kSmallTensorElements) {
    const float* src = in.as<float>();
    float* dst = out.as<float>();
    for (std::int64_t i = 0; i < rows; ++i) {
      for (std::int64_t j = 0; j < cols; ++j) dst[j * rows + i] = src[i * cols + j];
    }
    return;
  }
  CacheKey key(PlanKind::transpose);
  key.add(rows).add(cols);
  auto plan = context.cache.find_or_build(key, kernel, [&] {
    Plan built(context.engine);
    // The output [cols, rows] seen as a [rows, cols] matrix has strides {1, rows}: a reorder
    // from the row-major input to that layout is the transpose.
    memory from = built.bind(row_major_md({rows, cols}));
    memory to = built.bind(memory::desc({rows, cols}, memory::data_type::f32, {1, rows}));
    dnnl::reorder::primitive_desc pd(context.engine, from.get_desc(), context.engine,
                                     to.get_desc());
    built.add_step(dnnl::reorder(pd), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
    return built;
  });
  plan->run(context.stream, {in.data, out.data});
}

void axpby(double a, ConstView x, double b, View y) {
  require_elementwise("axpby", "x", x, y.shape);
  require_float32("axpby", "y", y.dtype);
  const float* px = x.as<float>();
  float* py = y.as<float>();
  const float fa = static_cast<float>(a), fb = static_cast<float>(b);
  for_each_chunk(y.numel(), [px, py, fa, fb](std::int64_t begin, std::int64_t end) {
    if (fb == 1.0f && fa == 1.0f) {  // gradient accumulation: y += x
#pragma omp simd
      for (std::int64_t i = begin; i < end; ++i) py[i] += px[i];
    } else {
#pragma omp simd
      for (std::int64_t i = begin; i < end; ++i) py[i] = fa * px[i] + fb * py[i];
    }
  });
}

// --- elementwise --------------------------------------------------------------------------

void unary(Context& context, UnaryOp op, ConstView x, View y, double alpha) {
  constexpr const char* kernel = "unary";
  require_float32(kernel, "x", x.dtype);
  require_elementwise(kernel, "y", y, x.shape);
  const std::int64_t n = x.numel();
  const float a = static_cast<float>(alpha);
  if (n < kSmallTensorElements) {
    const float* px = x.as<float>();
    float* py = y.as<float>();
    for (std::int64_t i = 0; i < n; ++i) py[i] = unary_value(op, px[i], a);
    return;
  }
  if (op == UnaryOp::relu) {  // oneDNN's relu maps NaN to 0; PyTorch keeps it (one host pass)
    const float* px = x.as<float>();
    float* py = y.as<float>();
    for_each_chunk(n, [px, py](std::int64_t begin, std::int64_t end) {
    // Branch-free and vectorised: with a branch per element, random signs cost a
    // mispredicted jump every other element (50× slower than this on 256×1024).
#pragma omp simd
      for (std::int64_t i = begin; i < end; ++i) py[i] = px[i] <= 0.0f ? 0.0f : px[i];
    });
    return;
  }
  // The forward always uses the `_use_dst_for_bwd` variants where they exist: same values, and
  // the forward and backward keys then describe the same algorithm.
  const EltwiseSpec spec = eltwise_spec(op, a, /*prefer_dst=*/true);
  CacheKey key(PlanKind::eltwise_forward);
  key.add(n).add(static_cast<std::int64_t>(spec.kind)).add_real(spec.alpha).add_real(spec.beta);
  auto plan = context.cache.find_or_build(key, kernel, [&] {
    Plan built(context.engine);
    const memory::desc md = row_major_md({n});  // elementwise: the shape does not matter
    memory src = built.bind(md);
    memory dst = built.bind(md);
    built.add_step(dnnl::eltwise_forward(eltwise_forward_pd(context.engine, spec, md)),
                   {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    return built;
  });
  plan->run(context.stream, {x.data, y.data});
}

void unary_backward(Context& context, UnaryOp op, ConstView x, ConstView y, ConstView dy, View dx,
                    double alpha) {
  constexpr const char* kernel = "unary_backward";
  require_float32(kernel, "x", x.dtype);
  require_elementwise(kernel, "dy", dy, x.shape);
  require_elementwise(kernel, "dx", dx, x.shape);
  const bool have_y = static_cast<bool>(y);
  if (have_y) require_elementwise(kernel, "y", y, x.shape);
  const std::int64_t n = x.numel();
  const float a = static_cast<float>(alpha);
  if (n < kSmallTensorElements) {
    const float* px = x.as<float>();
    const float* pdy = dy.as<float>();
    float* pdx = dx.as<float>();
    for (std::int64_t i = 0; i < n; ++i) {
      const float yi = have_y ? y.as<float>()[i] : unary_value(op, px[i], a);
      pdx[i] = pdy[i] * unary_derivative(op, px[i], yi, a);
    }
    return;
  }
  if (op == UnaryOp::relu) {  // as in the forward: relu′(NaN) = 1, as PyTorch has it
    const float* px = x.as<float>();
    const float* pdy = dy.as<float>();
    float* pdx = dx.as<float>();
    for_each_chunk(n, [px, pdy, pdx](std::int64_t begin, std::int64_t end) {
    // Branch-free, as in the forward: both values are loaded, one is kept.
#pragma omp simd
      for (std::int64_t i = begin; i < end; ++i) {
        const float upstream = pdy[i];
        pdx[i] = px[i] <= 0.0f ? 0.0f : upstream;
      }
    });
    return;
  }
  if (op == UnaryOp::abs) {  // oneDNN's abs backward passes dy at NaN; PyTorch's sign(NaN) is 0
    const float* px = x.as<float>();
    const float* pdy = dy.as<float>();
    float* pdx = dx.as<float>();
    for_each_chunk(n, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i)
        pdx[i] = pdy[i] * unary_derivative(op, px[i], 0, 0);
    });
    return;
  }
  const EltwiseSpec spec = eltwise_spec(op, a, /*prefer_dst=*/have_y);
  CacheKey key(PlanKind::eltwise_backward);
  key.add(n).add(static_cast<std::int64_t>(spec.kind)).add_real(spec.alpha).add_real(spec.beta);
  auto plan = context.cache.find_or_build(key, kernel, [&] {
    Plan built(context.engine);
    const memory::desc md = row_major_md({n});
    memory data = built.bind(md);  // x, or y for the `_use_dst_for_bwd` algorithms
    memory diff_dst = built.bind(md);
    memory diff_src = built.bind(md);
    const auto hint = eltwise_forward_pd(context.engine, spec, md);
    dnnl::eltwise_backward::primitive_desc pd(
        dnnl::eltwise_backward::desc(spec.kind, md, md, spec.alpha, spec.beta), context.engine,
        hint);
    built.add_step(dnnl::eltwise_backward(pd),
                   {{spec.reads_dst ? DNNL_ARG_DST : DNNL_ARG_SRC, data},
                    {DNNL_ARG_DIFF_DST, diff_dst},
                    {DNNL_ARG_DIFF_SRC, diff_src}});
    return built;
  });
  plan->run(context.stream, {spec.reads_dst ? y.data : x.data, dy.data, dx.data});
}

void binary(Context& context, BinaryOp op, ConstView a, ConstView b, View y) {
  constexpr const char* kernel = "binary";
  require_float32(kernel, "a", a.dtype);
  require_float32(kernel, "b", b.dtype);
  require_float32(kernel, "y", y.dtype);
  require_binary_shapes(op, a, b, y);
  const std::int64_t n = y.numel();
  const bool a_full = a.numel() == n, b_full = b.numel() == n;
  // oneDNN broadcasts src1 only (a broadcast src0 drops to its slow reference implementation).
  // So: a full → y = a ∘ b; b full and ∘ commutative → y = b ∘ a; otherwise first broadcast a
  // into y and compute y = y ∘ b in place (needs b not to live in y).
  const bool swap = !a_full && b_full && commutative(op);
  const bool broadcast_a_first = !a_full && !swap;
  if (n < kSmallTensorElements || binary_on_host(op) || (broadcast_a_first && b.data == y.data)) {
    binary_host(op, a, b, y);
    return;
  }
  ConstView src0 = swap ? b : a;
  ConstView src1 = swap ? a : b;
  if (broadcast_a_first) {
    broadcast_to(a, y);
    src0 = y;
  }
  const std::size_t rank = y.shape.size();
  const memory::dims dims1 = padded_dims(src1.shape, rank);
  const memory::dims dims_y = padded_dims(y.shape, rank);
  CacheKey key(PlanKind::binary);
  key.add(static_cast<std::int64_t>(op)).add_shape(dims1).add_shape(dims_y);
  auto plan = context.cache.find_or_build(key, kernel, [&] {
    Plan built(context.engine);
    memory m0 = built.bind(row_major_md(dims_y));
    memory m1 = built.bind(row_major_md(dims1));
    memory md = built.bind(row_major_md(dims_y));
    dnnl::binary::primitive_desc pd(
        dnnl::binary::desc(binary_algorithm(op), m0.get_desc(), m1.get_desc(), md.get_desc()),
        context.engine);
    built.add_step(dnnl::binary(pd),
                   {{DNNL_ARG_SRC_0, m0}, {DNNL_ARG_SRC_1, m1}, {DNNL_ARG_DST, md}});
    return built;
  });
  plan->run(context.stream, {src0.data, src1.data, y.data});
}

// --- reductions ---------------------------------------------------------------------------

void reduce(Context& context, ReduceOp op, ConstView x, View y) {
  constexpr const char* kernel = "reduce";
  require_float32(kernel, "x", x.dtype);
  require_float32(kernel, "y", y.dtype);
  require_reduction_shapes(op, x, y);
  if (x.numel() == y.numel()) {  // nothing to reduce (oneDNN refuses such a reduction)
    if (x.data != y.data) std::memcpy(y.data, x.data, sizeof(float) * x.numel());
    return;
  }
  if (const std::int64_t columns = leading_reduction_columns(x, y); columns > 0) {
    reduce_leading_host(op, x, y, columns);
    return;
  }
  // oneDNN's reduction_max and reduction_min drop NaN: those over NaN are taken on the host.
  const bool extremum = op == ReduceOp::max || op == ReduceOp::min;
  if (x.numel() < kSmallTensorElements || (extremum && contains_nan(x))) {
    if (const std::int64_t rows = trailing_reduction_rows(x, y); rows > 0) {
      reduce_trailing_host(op, x, y, rows);
    } else {
      reduce_host(op, x, y);
    }
    return;
  }
  CacheKey key(PlanKind::reduction);
  key.add(static_cast<std::int64_t>(op)).add_shape(x.shape).add_shape(y.shape);
  auto plan = context.cache.find_or_build(key, kernel, [&] {
    Plan built(context.engine);
    memory src = built.bind(row_major_md(dims_of(x.shape)));
    memory dst = built.bind(row_major_md(dims_of(y.shape)));
    dnnl::reduction::primitive_desc pd(
        dnnl::reduction::desc(reduction_algorithm(op), src.get_desc(), dst.get_desc(), 0.0f, 0.0f),
        context.engine);
    built.add_step(dnnl::reduction(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    return built;
  });
  plan->run(context.stream, {x.data, y.data});
}

}  // namespace gradlab::onednn
