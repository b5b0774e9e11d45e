// Matrix products on oneDNN: matmul (transposes expressed as strides) and the fully connected
// layer on inner_product (forward, backward data, backward weights), each in f32 or in the bf16
// compute mode (inputs reordered to bf16, f32 accumulation and f32 outputs).
#include <string>

#include "backends/onednn/onednn_context.hpp"

namespace gradlab::onednn {
namespace {

using dnnl::memory;
using data_type = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

/// A matrix view of a row-major [rows, cols] buffer, transposed or not, as oneDNN dims and
/// strides: op(M) = M has dims {rows, cols}, strides {cols, 1}; op(M) = Mᵀ has dims
/// {cols, rows}, strides {1, cols}. No data moves.
memory::desc maybe_transposed_md(std::span<const std::int64_t> shape, bool transpose) {
  const memory::dim rows = shape[0], cols = shape[1];
  if (transpose) return memory::desc({cols, rows}, data_type::f32, memory::dims{1, cols});
  return memory::desc({rows, cols}, data_type::f32, memory::dims{cols, 1});
}

void require_matrix(const char* kernel, const char* what, ConstView view) {
  require_float32(kernel, what, view.dtype);
  if (view.shape.size() != 2) {
    throw Error(std::string("onednn backend: ") + kernel + ": " + what + " must be 2-D, got " +
                shape_string(view.shape));
  }
}

/// Adds to `plan` a reorder of `source` (f32) into a new plan-owned buffer of layout `target`
/// (bf16) and returns that buffer.
memory reorder_into_owned(Plan& plan, const dnnl::engine& engine, const memory& source,
                          const memory::desc& target) {
  memory converted = plan.own(target);
  dnnl::reorder::primitive_desc pd(engine, source.get_desc(), engine, target);
  plan.add_step(dnnl::reorder(pd), {{DNNL_ARG_FROM, source}, {DNNL_ARG_TO, converted}});
  return converted;
}

/// The descriptor with the same dims as `md` in bf16, layout left to the primitive ("any").
memory::desc bf16_any(const memory::desc& md) {
  return memory::desc(md.dims(), data_type::bf16, tag::any);
}

/// When the bf16 mode is on, a failure to build a primitive most likely means this CPU has no
/// bf16 implementation: say so.
template <class Body>
void with_bf16_diagnosis(const Context& context, const char* kernel, Body body) {
  try {
    body();
  } catch (const Error& error) {
    if (!context.use_bf16()) throw;
    throw Error(std::string(error.what()) + "; " + kernel +
                " was asked to compute in bf16, which oneDNN 2.6 implements only on CPUs with "
                "AVX512-BF16 or AMX");
  }
}

}  // namespace

void matmul(Context& context, ConstView a, bool transpose_a, ConstView b, bool transpose_b,
            View c) {
  constexpr const char* kernel = "matmul";
  require_matrix(kernel, "a", a);
  require_matrix(kernel, "b", b);
  require_matrix(kernel, "c", c);
  // op(A) is [M, K], op(B) is [K, N], C is [M, N].
  const std::int64_t m = transpose_a ? a.shape[1] : a.shape[0];
  const std::int64_t k = transpose_a ? a.shape[0] : a.shape[1];
  const std::int64_t k_b = transpose_b ? b.shape[1] : b.shape[0];
  const std::int64_t n = transpose_b ? b.shape[0] : b.shape[1];
  if (k != k_b || c.shape[0] != m || c.shape[1] != n) {
    throw Error(std::string("onednn backend: matmul: op(a) of ") + shape_string(a.shape) +
                (transpose_a ? "ᵀ" : "") + " times op(b) of " + shape_string(b.shape) +
                (transpose_b ? "ᵀ" : "") + " cannot give c of " + shape_string(c.shape));
  }
  const bool bf16 = context.use_bf16();
  CacheKey key(PlanKind::matmul);
  key.add_shape(a.shape).add(transpose_a).add_shape(b.shape).add(transpose_b).add(bf16);

  with_bf16_diagnosis(context, kernel, [&] {
    auto plan = context.cache.find_or_build(key, kernel, [&] {
      Plan built(context.engine);
      memory a_mem = built.bind(maybe_transposed_md(a.shape, transpose_a));
      memory b_mem = built.bind(maybe_transposed_md(b.shape, transpose_b));
      memory c_mem = built.bind(row_major_md({m, n}));
      if (bf16) {
        // Reorders also undo the transposes: the bf16 copies are plain row-major op(A), op(B).
        memory a16 =
            reorder_into_owned(built, context.engine, a_mem, row_major_md({m, k}, data_type::bf16));
        memory b16 =
            reorder_into_owned(built, context.engine, b_mem, row_major_md({k, n}, data_type::bf16));
        dnnl::matmul::primitive_desc pd(
            dnnl::matmul::desc(a16.get_desc(), b16.get_desc(), c_mem.get_desc()), context.engine);
        built.add_step(dnnl::matmul(pd),
                       {{DNNL_ARG_SRC, a16}, {DNNL_ARG_WEIGHTS, b16}, {DNNL_ARG_DST, c_mem}});
      } else {
        dnnl::matmul::primitive_desc pd(
            dnnl::matmul::desc(a_mem.get_desc(), b_mem.get_desc(), c_mem.get_desc()),
            context.engine);
        built.add_step(dnnl::matmul(pd),
                       {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
      }
      return built;
    });
    plan->run(context.stream, {a.data, b.data, c.data});
  });
}

namespace {

/// The shapes of a fully connected layer, checked: x [N, D], W [D, M], y or dy [N, M].
struct LinearShape {
  std::int64_t batch, inputs, outputs;  // N, D, M
};

LinearShape check_linear(const char* kernel, ConstView x, ConstView weight, ConstView y,
                         const char* y_name) {
  require_matrix(kernel, "x", x);
  require_matrix(kernel, "weight", weight);
  require_matrix(kernel, y_name, y);
  const LinearShape s{x.shape[0], x.shape[1], weight.shape[1]};
  if (weight.shape[0] != s.inputs || y.shape[0] != s.batch || y.shape[1] != s.outputs) {
    throw Error(std::string("onednn backend: ") + kernel + ": x " + shape_string(x.shape) +
                " · weight " + shape_string(weight.shape) + " does not match " + y_name + " " +
                shape_string(y.shape));
  }
  return s;
}

void check_vector(const char* kernel, const char* what, ConstView v, std::int64_t length) {
  require_float32(kernel, what, v.dtype);
  if (v.shape.size() != 1 || v.shape[0] != length) {
    throw Error(std::string("onednn backend: ") + kernel + ": " + what + " must be [" +
                std::to_string(length) + "], got " + shape_string(v.shape));
  }
}

/// Memory descriptors of the layer in oneDNN's terms. oneDNN's weights are OC×IC = M×D; our
/// row-major W [D, M] is exactly that matrix stored column-major, i.e. dims {M, D}, tag `io`.
struct LinearDescs {
  memory::desc src, weights, bias, dst;
  explicit LinearDescs(const LinearShape& s)
      : src(row_major_md({s.batch, s.inputs})),
        weights({s.outputs, s.inputs}, data_type::f32, tag::io),
        bias(row_major_md({s.outputs})),
        dst(row_major_md({s.batch, s.outputs})) {}
};

/// The forward primitive descriptor, used by the forward kernel and as the hint of the backward
/// ones. In bf16 mode src and weights are bf16 (weights in the layout the primitive prefers),
/// bias and dst stay f32.
dnnl::inner_product_forward::primitive_desc forward_pd(const Context& context, const LinearDescs& d,
                                                       bool with_bias, bool bf16) {
  const memory::desc src = bf16 ? memory::desc(d.src.dims(), data_type::bf16, tag::ab) : d.src;
  const memory::desc weights = bf16 ? bf16_any(d.weights) : d.weights;
  auto desc = with_bias ? dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, src,
                                                            weights, d.bias, d.dst)
                        : dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, src,
                                                            weights, d.dst);
  return dnnl::inner_product_forward::primitive_desc(desc, context.engine);
}

}  // namespace

void linear_forward(Context& context, ConstView x, ConstView weight, ConstView bias, View y) {
  constexpr const char* kernel = "linear_forward";
  const LinearShape s = check_linear(kernel, x, weight, y, "y");
  const bool with_bias = static_cast<bool>(bias);
  if (with_bias) check_vector(kernel, "bias", bias, s.outputs);
  const bool bf16 = context.use_bf16();
  CacheKey key(PlanKind::linear_forward);
  key.add(s.batch).add(s.inputs).add(s.outputs).add(with_bias).add(bf16);

  with_bf16_diagnosis(context, kernel, [&] {
    auto plan = context.cache.find_or_build(key, kernel, [&] {
      const LinearDescs d(s);
      Plan built(context.engine);
      memory x_mem = built.bind(d.src);
      memory w_mem = built.bind(d.weights);
      memory y_mem = built.bind(d.dst);
      auto pd = forward_pd(context, d, with_bias, bf16);
      std::unordered_map<int, memory> args{{DNNL_ARG_DST, y_mem}};
      if (bf16) {
        args[DNNL_ARG_SRC] = reorder_into_owned(built, context.engine, x_mem, pd.src_desc());
        args[DNNL_ARG_WEIGHTS] =
            reorder_into_owned(built, context.engine, w_mem, pd.weights_desc());
      } else {
        args[DNNL_ARG_SRC] = x_mem;
        args[DNNL_ARG_WEIGHTS] = w_mem;
      }
      if (with_bias) {
        args[DNNL_ARG_BIAS] = built.bind(d.bias);
      } else {
        built.skip();
      }
      built.add_step(dnnl::inner_product_forward(pd), std::move(args));
      return built;
    });
    plan->run(context.stream, {x.data, weight.data, y.data, bias.data});
  });
}

void linear_backward(Context& context, ConstView x, ConstView weight, ConstView dy, View dx,
                     View dweight, View dbias) {
  constexpr const char* kernel = "linear_backward";
  const LinearShape s = check_linear(kernel, x, weight, dy, "dy");
  const bool want_dx = static_cast<bool>(dx);
  const bool want_dweight = static_cast<bool>(dweight);
  const bool want_dbias = static_cast<bool>(dbias);
  if (want_dx) {
    require_float32(kernel, "dx", dx.dtype);
    require_same_shape(kernel, dx.shape, x.shape);
  }
  if (want_dweight) {
    require_float32(kernel, "dweight", dweight.dtype);
    require_same_shape(kernel, dweight.shape, weight.shape);
  }
  if (want_dbias) check_vector(kernel, "dbias", dbias, s.outputs);
  if (!want_dx && !want_dweight && !want_dbias) return;

  const bool bf16 = context.use_bf16();
  CacheKey key(PlanKind::linear_backward);
  key.add(s.batch).add(s.inputs).add(s.outputs).add(want_dx).add(want_dweight).add(want_dbias);
  key.add(bf16);

  with_bf16_diagnosis(context, kernel, [&] {
    auto plan = context.cache.find_or_build(key, kernel, [&] {
      const LinearDescs d(s);
      Plan built(context.engine);
      memory x_mem = built.bind(d.src);
      memory w_mem = built.bind(d.weights);
      memory dy_mem = built.bind(d.dst);
      const auto hint = forward_pd(context, d, want_dbias, bf16);
      // In bf16 mode dy is converted once and shared by both backward primitives.
      memory dy_used = dy_mem;
      if (bf16) {
        dy_used = reorder_into_owned(built, context.engine, dy_mem,
                                     memory::desc(d.dst.dims(), data_type::bf16, tag::ab));
      }

      // dx = dy · Wᵀ (backward data); dx stays f32.
      if (want_dx) {
        memory dx_mem = built.bind(d.src);
        const memory::desc weights = bf16 ? bf16_any(d.weights) : d.weights;
        dnnl::inner_product_backward_data::primitive_desc pd(
            dnnl::inner_product_backward_data::desc(d.src, weights, dy_used.get_desc()),
            context.engine, hint);
        memory w_used =
            bf16 ? reorder_into_owned(built, context.engine, w_mem, pd.weights_desc()) : w_mem;
        built.add_step(dnnl::inner_product_backward_data(pd), {{DNNL_ARG_DIFF_DST, dy_used},
                                                               {DNNL_ARG_WEIGHTS, w_used},
                                                               {DNNL_ARG_DIFF_SRC, dx_mem}});
      } else {
        built.skip();
      }

      // dW = xᵀ · dy and db = Σ_n dy[n, :] (backward weights); dW lands directly in our
      // row-major [D, M] buffer through the `io` descriptor. When only db is wanted, dW goes to
      // a plan-owned buffer.
      if (want_dweight || want_dbias) {
        memory dw_mem = built.bind_or_own(d.weights, want_dweight);
        memory x_used = x_mem;
        if (bf16) {
          x_used = reorder_into_owned(built, context.engine, x_mem,
                                      memory::desc(d.src.dims(), data_type::bf16, tag::ab));
        }
        auto desc = want_dbias ? dnnl::inner_product_backward_weights::desc(
                                     x_used.get_desc(), d.weights, d.bias, dy_used.get_desc())
                               : dnnl::inner_product_backward_weights::desc(
                                     x_used.get_desc(), d.weights, dy_used.get_desc());
        dnnl::inner_product_backward_weights::primitive_desc pd(desc, context.engine, hint);
        std::unordered_map<int, memory> args{
            {DNNL_ARG_SRC, x_used}, {DNNL_ARG_DIFF_DST, dy_used}, {DNNL_ARG_DIFF_WEIGHTS, dw_mem}};
        if (want_dbias) {
          args[DNNL_ARG_DIFF_BIAS] = built.bind(d.bias);
        } else {
          built.skip();
        }
        built.add_step(dnnl::inner_product_backward_weights(pd), std::move(args));
      } else {
        built.skip();  // dweight
        built.skip();  // dbias
      }
      return built;
    });
    plan->run(context.stream, {x.data, weight.data, dy.data, dx.data, dweight.data, dbias.data});
  });
}

}  // namespace gradlab::onednn
