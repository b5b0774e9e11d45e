// Matrix products on oneDNN: matmul and the fully connected layer (forward, backward data,
// backward weights) on the matmul primitive with transposes expressed as strides, in f32 or in
// the bf16 compute mode (inputs reordered to bf16, f32 accumulation and f32 outputs); in bf16 the
// layer runs on the inner_product primitives instead (measured faster there, see below).
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

/// Appends c = a · b (+ bias broadcast over the rows) to `plan` as one oneDNN matmul; a, b and
/// the bias are f32, a and b possibly transposed views (strides). In bf16 mode the primitive
/// chooses the layouts of its bf16 operands (tag `any`: a blocked, pre-packed layout for b) and
/// reorder steps convert a and b into plan-owned buffers of those layouts; c and the bias stay f32.
void add_product(Plan& plan, const Context& context, const memory& a, const memory& b,
                 const memory& c, const memory* bias = nullptr) {
  const bool bf16 = context.use_bf16();
  const auto used = [&](const memory& m) {
    return bf16 ? memory::desc(m.get_desc().dims(), data_type::bf16, tag::any) : m.get_desc();
  };
  const auto desc = bias ? dnnl::matmul::desc(used(a), used(b), bias->get_desc(), c.get_desc())
                         : dnnl::matmul::desc(used(a), used(b), c.get_desc());
  const dnnl::matmul::primitive_desc pd(desc, context.engine);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
  if (bf16) {
    args[DNNL_ARG_SRC] = reorder_into_owned(plan, context.engine, a, pd.src_desc());
    args[DNNL_ARG_WEIGHTS] = reorder_into_owned(plan, context.engine, b, pd.weights_desc());
  }
  if (bias) args[DNNL_ARG_BIAS] = *bias;
  plan.add_step(dnnl::matmul(pd), std::move(args));
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
      add_product(built, context, a_mem, b_mem, built.bind(row_major_md({m, n})));
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

/// oneDNN's inner-product view of the layer: its weights are OC×IC = M×D, which is our
/// row-major W [D, M] stored column-major, i.e. dims {M, D} with tag `io`.
memory::desc inner_product_weights_md(const LinearShape& s) {
  return memory::desc({s.outputs, s.inputs}, data_type::f32, tag::io);
}

/// The bf16 forward primitive descriptor of the inner product: x in bf16, weights in bf16 in the
/// layout the primitive prefers (`any`), bias and y in f32. Also the hint of the backward ones.
dnnl::inner_product_forward::primitive_desc inner_product_bf16_pd(const Context& context,
                                                                  const LinearShape& s,
                                                                  bool with_bias) {
  const memory::desc src = row_major_md({s.batch, s.inputs}, data_type::bf16);
  const memory::desc weights({s.outputs, s.inputs}, data_type::bf16, tag::any);
  const memory::desc dst = row_major_md({s.batch, s.outputs});
  const auto prop = dnnl::prop_kind::forward_training;
  auto desc = with_bias ? dnnl::inner_product_forward::desc(prop, src, weights,
                                                            row_major_md({s.outputs}), dst)
                        : dnnl::inner_product_forward::desc(prop, src, weights, dst);
  return dnnl::inner_product_forward::primitive_desc(desc, context.engine);
}

// In the bf16 mode the layer runs on oneDNN's inner_product primitives instead of matmul: they
// take the weights in a pre-packed bf16 layout converted straight from our f32 buffer, and in
// paired runs on an AMD EPYC with AVX512-BF16 they were as fast as matmul on wide-bn and up to
// 1.4x faster on the small lecture-2layer step (docs/backends.md).

/// y = x · W + b in bf16 on the inner-product primitive: a plan of reorders and one primitive.
Plan inner_product_bf16_forward_plan(const Context& context, const LinearShape& s, bool with_bias) {
  Plan built(context.engine);
  memory x_mem = built.bind(row_major_md({s.batch, s.inputs}));
  memory w_mem = built.bind(inner_product_weights_md(s));
  memory y_mem = built.bind(row_major_md({s.batch, s.outputs}));
  auto pd = inner_product_bf16_pd(context, s, with_bias);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, reorder_into_owned(built, context.engine, x_mem, pd.src_desc())},
      {DNNL_ARG_WEIGHTS, reorder_into_owned(built, context.engine, w_mem, pd.weights_desc())},
      {DNNL_ARG_DST, y_mem}};
  if (with_bias) {
    args[DNNL_ARG_BIAS] = built.bind(row_major_md({s.outputs}));
  } else {
    built.skip();
  }
  built.add_step(dnnl::inner_product_forward(pd), std::move(args));
  return built;
}

/// dx = dy · Wᵀ and dW = xᵀ · dy in bf16 on the inner-product primitives; dy is converted once
/// and shared. Slots: x, W, dy, dx, dW (an unwanted output's slot is skipped).
Plan inner_product_bf16_backward_plan(const Context& context, const LinearShape& s, bool want_dx,
                                      bool want_dweight) {
  Plan built(context.engine);
  const memory::desc x_md = row_major_md({s.batch, s.inputs});
  memory x_mem = built.bind(x_md);
  memory w_mem = built.bind(inner_product_weights_md(s));
  memory dy_mem = built.bind(row_major_md({s.batch, s.outputs}));
  const auto hint = inner_product_bf16_pd(context, s, false);
  memory dy16 = reorder_into_owned(built, context.engine, dy_mem,
                                   row_major_md({s.batch, s.outputs}, data_type::bf16));
  if (want_dx) {
    const memory::desc weights({s.outputs, s.inputs}, data_type::bf16, tag::any);
    dnnl::inner_product_backward_data::primitive_desc pd(
        dnnl::inner_product_backward_data::desc(x_md, weights, dy16.get_desc()), context.engine,
        hint);
    built.add_step(
        dnnl::inner_product_backward_data(pd),
        {{DNNL_ARG_DIFF_DST, dy16},
         {DNNL_ARG_WEIGHTS, reorder_into_owned(built, context.engine, w_mem, pd.weights_desc())},
         {DNNL_ARG_DIFF_SRC, built.bind(x_md)}});
  } else {
    built.skip();
  }
  if (want_dweight) {
    memory x16 = reorder_into_owned(built, context.engine, x_mem,
                                    row_major_md({s.batch, s.inputs}, data_type::bf16));
    dnnl::inner_product_backward_weights::primitive_desc pd(
        dnnl::inner_product_backward_weights::desc(x16.get_desc(), inner_product_weights_md(s),
                                                   dy16.get_desc()),
        context.engine, hint);
    built.add_step(dnnl::inner_product_backward_weights(pd),
                   {{DNNL_ARG_SRC, x16},
                    {DNNL_ARG_DIFF_DST, dy16},
                    {DNNL_ARG_DIFF_WEIGHTS, built.bind(inner_product_weights_md(s))}});
  } else {
    built.skip();
  }
  return built;
}

}  // namespace

// The fully connected layer is three matrix products on oneDNN's matmul primitive, with the
// transposes expressed as strides: y = x · W + b, dx = dy · Wᵀ, dW = xᵀ · dy. (The
// inner_product primitive computes the same; on an AMD EPYC with AVX-512 its gemm-based
// implementation took up to 1.5x as long as matmul's brgemm one inside a training step, see
// docs/backends.md.)

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
      if (bf16) return inner_product_bf16_forward_plan(context, s, with_bias);
      Plan built(context.engine);
      memory x_mem = built.bind(row_major_md({s.batch, s.inputs}));
      memory w_mem = built.bind(row_major_md({s.inputs, s.outputs}));
      memory y_mem = built.bind(row_major_md({s.batch, s.outputs}));
      if (with_bias) {
        // The bias [M] as a [1, M] row, broadcast over the batch by the primitive.
        memory b_mem = built.bind(row_major_md({1, s.outputs}));
        add_product(built, context, x_mem, w_mem, y_mem, &b_mem);
      } else {
        built.skip();
        add_product(built, context, x_mem, w_mem, y_mem);
      }
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

  if (want_dx || want_dweight) {
    const bool bf16 = context.use_bf16();
    CacheKey key(PlanKind::linear_backward);
    key.add(s.batch).add(s.inputs).add(s.outputs).add(want_dx).add(want_dweight).add(bf16);
    with_bf16_diagnosis(context, kernel, [&] {
      auto plan = context.cache.find_or_build(key, kernel, [&] {
        if (bf16) return inner_product_bf16_backward_plan(context, s, want_dx, want_dweight);
        Plan built(context.engine);
        // x and W are bound transposed (dims and strides of xᵀ [D, N] and Wᵀ [M, D]).
        memory xt_mem = built.bind(maybe_transposed_md(x.shape, true));
        memory wt_mem = built.bind(maybe_transposed_md(weight.shape, true));
        memory dy_mem = built.bind(row_major_md({s.batch, s.outputs}));
        if (want_dx) {
          add_product(built, context, dy_mem, wt_mem, built.bind(row_major_md(dims_of(x.shape))));
        } else {
          built.skip();
        }
        if (want_dweight) {
          add_product(built, context, xt_mem, dy_mem,
                      built.bind(row_major_md(dims_of(weight.shape))));
        } else {
          built.skip();
        }
        return built;
      });
      plan->run(context.stream, {x.data, weight.data, dy.data, dx.data, dweight.data});
    });
  }
  // db = Σ_n dy[n, :]: the leading-axis sum of the reduction kernel, with db seen as [1, M].
  if (want_dbias) {
    const std::int64_t row_shape[2] = {1, s.outputs};
    reduce(context, ReduceOp::sum, dy, View{dbias.data, row_shape, dbias.dtype});
  }
}

}  // namespace gradlab::onednn
