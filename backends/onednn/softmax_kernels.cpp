// Softmax and log-softmax (oneDNN softmax_v2, forward and backward) and the fused softmax
// cross-entropy. oneDNN has no loss primitive: the cross-entropy runs the log-softmax primitive,
// reads the loss −(1/N) Σ_n log p[n, y_n] off its output on the host, then turns the
// log-probabilities into probabilities with exp; its backward (p − onehot(y)) · dloss/N is a
// vectorised host loop.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "backends/onednn/onednn_context.hpp"

namespace gradlab::onednn {
namespace {

using dnnl::algorithm;
using dnnl::memory;

/// Rows × classes of a tensor whose last axis is the class axis.
struct RowShape {
  std::int64_t rows, classes;
};

RowShape row_shape(const char* kernel, ConstView x) {
  if (x.shape.empty() || x.numel() == 0) {
    throw Error(std::string("onednn backend: ") + kernel +
                ": needs at least one axis and one element, got " + shape_string(x.shape));
  }
  const std::int64_t classes = x.shape.back();
  return {x.numel() / classes, classes};
}

algorithm softmax_algorithm(bool log) {
  return log ? algorithm::softmax_log : algorithm::softmax_accurate;
}

dnnl::softmax_v2_forward::primitive_desc softmax_forward_pd(const dnnl::engine& engine,
                                                            const memory::desc& md, bool log) {
  return dnnl::softmax_v2_forward::primitive_desc(
      dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_training, softmax_algorithm(log), md,
                                     md, /*axis=*/1),
      engine);
}

/// Runs the cached softmax (or log-softmax) primitive over rows × classes.
void run_softmax(Context& context, RowShape s, const void* x, void* y, bool log) {
  CacheKey key(PlanKind::softmax_forward);
  key.add(s.rows).add(s.classes).add(log);
  auto plan = context.cache.find_or_build(key, "softmax", [&] {
    Plan built(context.engine);
    const memory::desc md = row_major_md({s.rows, s.classes});
    memory src = built.bind(md);
    memory dst = built.bind(md);
    built.add_step(dnnl::softmax_v2_forward(softmax_forward_pd(context.engine, md, log)),
                   {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    return built;
  });
  plan->run(context.stream, {x, y});
}

/// Checks the labels of a loss: int64, one per row, each in [0, C).
void require_labels(const char* kernel, ConstView labels, RowShape s) {
  if (labels.dtype != DType::int64 || labels.numel() != s.rows) {
    throw Error(std::string("onednn backend: ") + kernel + ": labels must be int64 with " +
                std::to_string(s.rows) + " elements, got " + dtype_name(labels.dtype) + " " +
                shape_string(labels.shape));
  }
  const auto* y = labels.as<std::int64_t>();
  for (std::int64_t n = 0; n < s.rows; ++n) {
    if (y[n] < 0 || y[n] >= s.classes) {
      throw Error(std::string("onednn backend: ") + kernel + ": label " + std::to_string(y[n]) +
                  " of row " + std::to_string(n) + " is outside [0, " + std::to_string(s.classes) +
                  ")");
    }
  }
}

/// PyTorch's softmax of a row holding a NaN or a +inf (or only −inf) is NaN everywhere; oneDNN's
/// max drops NaN (giving "nan 0 0") and its exp of inf − inf is not NaN everywhere. This pass
/// makes those rows NaN, as the reference's arithmetic does. Other rows are left as they are.
void make_non_finite_rows_nan(ConstView x, View y, RowShape s) {
  const float* px = x.as<float>();
  float* py = y.as<float>();
  for_each_chunk(s.rows, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* row = px + r * s.classes;
      bool nan = false;
      float largest = -std::numeric_limits<float>::infinity();
      for (std::int64_t c = 0; c < s.classes; ++c) {
        nan |= std::isnan(row[c]);
        largest = std::max(largest, row[c]);
      }
      if (nan || std::isinf(largest)) {
        std::fill(py + r * s.classes, py + (r + 1) * s.classes,
                  std::numeric_limits<float>::quiet_NaN());
      }
    }
  });
}

}  // namespace

void softmax(Context& context, ConstView x, View y, bool log) {
  constexpr const char* kernel = "softmax";
  require_float32(kernel, "x", x.dtype);
  require_float32(kernel, "y", y.dtype);
  require_same_shape(kernel, x.shape, y.shape);
  const RowShape s = row_shape(kernel, x);
  run_softmax(context, s, x.data, y.data, log);
  make_non_finite_rows_nan(x, y, s);
}

void softmax_backward(Context& context, ConstView y, ConstView dy, View dx, bool log) {
  constexpr const char* kernel = "softmax_backward";
  require_float32(kernel, "y", y.dtype);
  require_float32(kernel, "dy", dy.dtype);
  require_float32(kernel, "dx", dx.dtype);
  require_same_shape(kernel, y.shape, dy.shape);
  require_same_shape(kernel, y.shape, dx.shape);
  const RowShape s = row_shape(kernel, y);
  CacheKey key(PlanKind::softmax_backward);
  key.add(s.rows).add(s.classes).add(log);
  auto plan = context.cache.find_or_build(key, kernel, [&] {
    Plan built(context.engine);
    const memory::desc md = row_major_md({s.rows, s.classes});
    memory dst = built.bind(md);
    memory diff_dst = built.bind(md);
    memory diff_src = built.bind(md);
    const auto hint = softmax_forward_pd(context.engine, md, log);
    dnnl::softmax_v2_backward::primitive_desc pd(
        dnnl::softmax_v2_backward::desc(softmax_algorithm(log), md, md, md, /*axis=*/1),
        context.engine, hint);
    built.add_step(
        dnnl::softmax_v2_backward(pd),
        {{DNNL_ARG_DST, dst}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, diff_src}});
    return built;
  });
  plan->run(context.stream, {y.data, dy.data, dx.data});
  // NaN in y gives NaN in dx as the reference's arithmetic gives it (oneDNN's exp of NaN is not
  // always NaN): the element for log-softmax (dy − e^y Σ dy), the whole row for softmax (the
  // row's Σ dy ⊙ y is NaN).
  const float* py = y.as<float>();
  float* pdx = dx.as<float>();
  for_each_chunk(s.rows, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* row = py + r * s.classes;
      float* out = pdx + r * s.classes;
      bool nan = false;
      for (std::int64_t c = 0; c < s.classes; ++c) {
        nan |= std::isnan(row[c]);
        if (log && std::isnan(row[c])) out[c] = row[c];
      }
      if (nan && !log) std::fill(out, out + s.classes, std::numeric_limits<float>::quiet_NaN());
    }
  });
}

void cross_entropy(Context& context, ConstView scores, ConstView labels, View probabilities,
                   View loss) {
  constexpr const char* kernel = "cross_entropy";
  require_float32(kernel, "scores", scores.dtype);
  require_float32(kernel, "probabilities", probabilities.dtype);
  require_float32(kernel, "loss", loss.dtype);
  require_same_shape(kernel, scores.shape, probabilities.shape);
  if (scores.shape.size() != 2 || loss.numel() != 1) {
    throw Error(std::string("onednn backend: cross_entropy: scores must be [N, C] and loss one "
                            "element, got scores ") +
                shape_string(scores.shape) + " and loss " + shape_string(loss.shape));
  }
  const RowShape s = row_shape(kernel, scores);
  require_labels(kernel, labels, s);

  // log p from the primitive: the loss is read from log p directly, which stays finite where
  // p itself would underflow to 0.
  run_softmax(context, s, scores.data, probabilities.data, /*log=*/true);
  float* p = probabilities.as<float>();
  const auto* y = labels.as<std::int64_t>();
  double total = 0.0;
  for (std::int64_t n = 0; n < s.rows; ++n) total -= p[n * s.classes + y[n]];
  loss.as<float>()[0] = static_cast<float>(total / static_cast<double>(s.rows));
  // p = exp(log p), in place (eltwise exp primitive, or a host loop for small batches).
  unary(context, UnaryOp::exp, probabilities, probabilities, 0.0);
}

void cross_entropy_backward(ConstView probabilities, ConstView labels, double dloss, View dscores) {
  constexpr const char* kernel = "cross_entropy_backward";
  require_float32(kernel, "probabilities", probabilities.dtype);
  require_float32(kernel, "dscores", dscores.dtype);
  require_same_shape(kernel, probabilities.shape, dscores.shape);
  if (probabilities.shape.size() != 2) {
    throw Error(std::string("onednn backend: cross_entropy_backward: probabilities must be "
                            "[N, C], got ") +
                shape_string(probabilities.shape));
  }
  const RowShape s = row_shape(kernel, probabilities);
  require_labels(kernel, labels, s);
  // ds[n, c] = dloss/N · (p[n, c] − [c = y_n])
  const float factor = static_cast<float>(dloss / static_cast<double>(s.rows));
  const float* p = probabilities.as<float>();
  const auto* y = labels.as<std::int64_t>();
  float* ds = dscores.as<float>();
  const std::int64_t classes = s.classes;
  // Vectorised: one scaled copy of the rows (the pointers and sizes are copied into the closure,
  // so the compiler knows the stores cannot change them), then one subtraction per row.
  for_each_chunk(s.rows, [p, y, ds, factor, classes](std::int64_t begin, std::int64_t end) {
    const std::int64_t first = begin * classes, last = end * classes;
#pragma omp simd
    for (std::int64_t i = first; i < last; ++i) ds[i] = factor * p[i];
    for (std::int64_t n = begin; n < end; ++n) ds[n * classes + y[n]] -= factor;
  });
}

}  // namespace gradlab::onednn
