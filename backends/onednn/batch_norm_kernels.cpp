// Batch normalisation on oneDNN's batch_normalization primitive, x [N, C] in the `nc` layout.
//
// - training: prop_kind::forward_training writes y and the batch statistics μ, σ² (biased, like
//   the reference); the running averages are kept by the caller (nn::BatchNorm1d) with axpby;
// - inference: flag use_global_stats makes μ, σ² inputs (the running averages);
// - backward: prop_kind::backward with the forward descriptor as hint.
// γ and β are the flags use_scale and use_shift (separate C-sized tensors). The backward always
// asks for both (a missing γ is a plan-owned vector of ones, β a vector of zeros) because dγ and
// dβ need the flags.
#include <algorithm>
#include <string>

#include "backends/onednn/onednn_context.hpp"

namespace gradlab::onednn {
namespace {

using dnnl::memory;
using flags = dnnl::normalization_flags;

// x [N, C] described as N×C×1×1 in channels-last (nhwc) order: the same bytes, but a layout for
// which oneDNN 2.6 has a JIT batch normalisation on AVX2. Described as plain `nc`, it picks the
// generic `ncsp_bnorm:any` kernel, measured here about 30× slower than the inner products around
// it.
memory::desc channels_last_md(std::span<const std::int64_t> shape) {
  return memory::desc({shape[0], shape[1], 1, 1}, memory::data_type::f32, memory::format_tag::nhwc);
}

/// Checks x [N, C] and returns C.
std::int64_t check_batch(const char* kernel, ConstView x) {
  require_float32(kernel, "x", x.dtype);
  if (x.shape.size() != 2 || x.shape[0] < 1) {
    throw Error(std::string("onednn backend: ") + kernel + ": x must be [N, C] with N ≥ 1, got " +
                shape_string(x.shape));
  }
  return x.shape[1];
}

/// Checks an optional per-feature vector [C].
void check_feature_vector(const char* kernel, const char* what, ConstView v,
                          std::int64_t features) {
  if (!v) return;
  require_float32(kernel, what, v.dtype);
  if (v.shape.size() != 1 || v.shape[0] != features) {
    throw Error(std::string("onednn backend: ") + kernel + ": " + what + " must be [" +
                std::to_string(features) + "], got " + shape_string(v.shape));
  }
}

flags scale_shift_flags(bool scale, bool shift) {
  flags f = flags::none;
  if (scale) f = f | flags::use_scale;
  if (shift) f = f | flags::use_shift;
  return f;
}

dnnl::batch_normalization_forward::primitive_desc forward_pd(const dnnl::engine& engine,
                                                             dnnl::prop_kind prop,
                                                             const memory::desc& data, double eps,
                                                             flags f) {
  return dnnl::batch_normalization_forward::primitive_desc(
      dnnl::batch_normalization_forward::desc(prop, data, static_cast<float>(eps), f), engine);
}

}  // namespace

void batch_norm_train(Context& context, ConstView x, ConstView gamma, ConstView beta, double eps,
                      View y, View mean, View variance) {
  constexpr const char* kernel = "batch_norm_train";
  const std::int64_t features = check_batch(kernel, x);
  check_feature_vector(kernel, "gamma", gamma, features);
  check_feature_vector(kernel, "beta", beta, features);
  check_feature_vector(kernel, "mean", mean, features);
  check_feature_vector(kernel, "variance", variance, features);
  require_float32(kernel, "y", y.dtype);
  require_same_shape(kernel, x.shape, y.shape);
  const bool scale = static_cast<bool>(gamma), shift = static_cast<bool>(beta);
  const bool want_mean = static_cast<bool>(mean), want_variance = static_cast<bool>(variance);

  CacheKey key(PlanKind::batch_norm_train);
  key.add_shape(x.shape).add_real(eps).add(scale).add(shift).add(want_mean).add(want_variance);
  auto plan = context.cache.find_or_build(key, kernel, [&] {
    Plan built(context.engine);
    const memory::desc data = channels_last_md(x.shape);
    const memory::desc vector = row_major_md({features});
    const auto pd = forward_pd(context.engine, dnnl::prop_kind::forward_training, data, eps,
                               scale_shift_flags(scale, shift));
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, built.bind(data)},
                                         {DNNL_ARG_DST, built.bind(data)}};
    args[DNNL_ARG_MEAN] = built.bind_or_own(vector, want_mean);
    args[DNNL_ARG_VARIANCE] = built.bind_or_own(vector, want_variance);
    if (scale)
      args[DNNL_ARG_SCALE] = built.bind(vector);
    else
      built.skip();
    if (shift)
      args[DNNL_ARG_SHIFT] = built.bind(vector);
    else
      built.skip();
    built.add_step(dnnl::batch_normalization_forward(pd), std::move(args));
    return built;
  });
  plan->run(context.stream, {x.data, y.data, mean.data, variance.data, gamma.data, beta.data});
}

void batch_norm_inference(Context& context, ConstView x, ConstView gamma, ConstView beta,
                          ConstView running_mean, ConstView running_variance, double eps, View y) {
  constexpr const char* kernel = "batch_norm_inference";
  const std::int64_t features = check_batch(kernel, x);
  check_feature_vector(kernel, "gamma", gamma, features);
  check_feature_vector(kernel, "beta", beta, features);
  if (!running_mean || !running_variance) {
    throw Error("onednn backend: batch_norm_inference: the running mean and variance are needed");
  }
  check_feature_vector(kernel, "running_mean", running_mean, features);
  check_feature_vector(kernel, "running_variance", running_variance, features);
  require_float32(kernel, "y", y.dtype);
  require_same_shape(kernel, x.shape, y.shape);
  const bool scale = static_cast<bool>(gamma), shift = static_cast<bool>(beta);

  CacheKey key(PlanKind::batch_norm_inference);
  key.add_shape(x.shape).add_real(eps).add(scale).add(shift);
  auto plan = context.cache.find_or_build(key, kernel, [&] {
    Plan built(context.engine);
    const memory::desc data = channels_last_md(x.shape);
    const memory::desc vector = row_major_md({features});
    const auto pd = forward_pd(context.engine, dnnl::prop_kind::forward_inference, data, eps,
                               scale_shift_flags(scale, shift) | flags::use_global_stats);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, built.bind(data)},
                                         {DNNL_ARG_DST, built.bind(data)},
                                         {DNNL_ARG_MEAN, built.bind(vector)},
                                         {DNNL_ARG_VARIANCE, built.bind(vector)}};
    if (scale)
      args[DNNL_ARG_SCALE] = built.bind(vector);
    else
      built.skip();
    if (shift)
      args[DNNL_ARG_SHIFT] = built.bind(vector);
    else
      built.skip();
    built.add_step(dnnl::batch_normalization_forward(pd), std::move(args));
    return built;
  });
  plan->run(context.stream,
            {x.data, y.data, running_mean.data, running_variance.data, gamma.data, beta.data});
}

void batch_norm_backward(Context& context, ConstView x, ConstView dy, ConstView gamma,
                         ConstView mean, ConstView variance, double eps, View dx, View dgamma,
                         View dbeta) {
  constexpr const char* kernel = "batch_norm_backward";
  const std::int64_t features = check_batch(kernel, x);
  require_float32(kernel, "dy", dy.dtype);
  require_same_shape(kernel, x.shape, dy.shape);
  check_feature_vector(kernel, "gamma", gamma, features);
  if (!mean || !variance) {
    throw Error("onednn backend: batch_norm_backward: the batch mean and variance are needed");
  }
  check_feature_vector(kernel, "mean", mean, features);
  check_feature_vector(kernel, "variance", variance, features);
  check_feature_vector(kernel, "dgamma", dgamma, features);
  check_feature_vector(kernel, "dbeta", dbeta, features);
  if (dx) {
    require_float32(kernel, "dx", dx.dtype);
    require_same_shape(kernel, x.shape, dx.shape);
  }
  const bool have_gamma = static_cast<bool>(gamma);
  const bool want_dx = static_cast<bool>(dx), want_dgamma = static_cast<bool>(dgamma),
             want_dbeta = static_cast<bool>(dbeta);
  if (!want_dx && !want_dgamma && !want_dbeta) return;

  CacheKey key(PlanKind::batch_norm_backward);
  key.add_shape(x.shape).add_real(eps).add(have_gamma).add(want_dx).add(want_dgamma);
  key.add(want_dbeta);
  auto plan = context.cache.find_or_build(key, kernel, [&] {
    Plan built(context.engine);
    const memory::desc data = channels_last_md(x.shape);
    const memory::desc vector = row_major_md({features});
    const flags f = flags::use_scale | flags::use_shift;
    const auto hint = forward_pd(context.engine, dnnl::prop_kind::forward_training, data, eps, f);
    dnnl::batch_normalization_backward::primitive_desc pd(
        dnnl::batch_normalization_backward::desc(dnnl::prop_kind::backward, data, data,
                                                 static_cast<float>(eps), f),
        context.engine, hint);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, built.bind(data)},
                                         {DNNL_ARG_DIFF_DST, built.bind(data)},
                                         {DNNL_ARG_MEAN, built.bind(vector)},
                                         {DNNL_ARG_VARIANCE, built.bind(vector)}};
    memory scale = built.bind_or_own(vector, have_gamma);
    if (!have_gamma) {  // γ = 1: the normalisation without an affine part
      auto* ones = static_cast<float*>(scale.get_data_handle());
      std::fill_n(ones, features, 1.0f);
    }
    args[DNNL_ARG_SCALE] = scale;
    // oneDNN 2.6 lists SHIFT among the backward's inputs although β does not enter any
    // gradient formula: hand it a plan-owned vector of zeros.
    memory shift = built.own(vector);
    std::fill_n(static_cast<float*>(shift.get_data_handle()), features, 0.0f);
    args[DNNL_ARG_SHIFT] = shift;
    args[DNNL_ARG_DIFF_SRC] = built.bind_or_own(data, want_dx);
    args[DNNL_ARG_DIFF_SCALE] = built.bind_or_own(vector, want_dgamma);
    args[DNNL_ARG_DIFF_SHIFT] = built.bind_or_own(vector, want_dbeta);
    built.add_step(dnnl::batch_normalization_backward(pd), std::move(args));
    return built;
  });
  plan->run(context.stream, {x.data, dy.data, mean.data, variance.data, gamma.data, dx.data,
                             dgamma.data, dbeta.data});
}

}  // namespace gradlab::onednn
