// Differentiable ops: batch norm, dropout. The family's table below gives each op's forward, its
// backward rule and its kernels; autograd/ops.hpp explains the three beats every op follows.
#include <algorithm>
#include <cmath>
#include <string>

#include "autograd/node.hpp"
#include "autograd/ops.hpp"
#include "autograd/ops/support.hpp"
#include "backends/backend.hpp"

namespace gradlab {

using namespace ops_support;

// --- batch normalisation and dropout --------------------------------------------------------
//
//   op           y = f(x)                                   backward
//   batch_norm   x̂ = (x − μ) / √(σ² + ε), y = γ x̂ + β       dγ = Σ g x̂, dβ = Σ g,
//                (μ, σ² of the batch when training,          dx = γ / (N √(σ² + ε)) ·
//                 the running averages otherwise)                 (N g − Σ g − x̂ Σ g x̂)
//   dropout(p)   x · mask, mask = 0 with probability p,      dx = g · mask (the same units)
//                else 1 / (1 − p)
//
//   kernels: batch_norm_train / _inference / _backward, dropout_mask
//            reference: layers.cpp
//            oneDNN: batch_norm_kernels.cpp (dropout_mask: the shared random generator)

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum, double eps) {
  require_float("batch_norm", x);
  require_rank("batch_norm", x, 2, "input");
  std::int64_t rows = x.size(0), features = x.size(1);
  for (const auto& [tensor, what] :
       {std::pair{&gamma, "gamma"}, std::pair{&beta, "beta"},
        std::pair{&running_mean, "running_mean"}, std::pair{&running_var, "running_var"}}) {
    if (!tensor->defined()) {
      if (tensor == &gamma || tensor == &beta || !training) {
        throw Error(std::string("batch_norm: ") + what + " is undefined");
      }
      continue;
    }
    require_same_dtype("batch_norm", x, *tensor);
    if (tensor->shape() != Shape{features}) {
      throw Error(std::string("batch_norm: ") + what + " has shape " +
                  shape_string(tensor->shape()) + " but input " + shape_string(x.shape()) +
                  " needs [" + std::to_string(features) + "]");
    }
  }
  if (!(eps > 0) || !std::isfinite(eps)) {
    throw Error("batch_norm: eps must be positive and finite, got " + std::to_string(eps));
  }
  if (training && !(momentum >= 0 && momentum <= 1)) {
    throw Error("batch_norm: momentum must lie in [0, 1], got " + std::to_string(momentum));
  }

  if (!training) {
    // Inference: a fixed affine map per feature, y = γ (x − μ_run)/√(σ²_run + eps) + β.
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    backend().batch_norm_inference(x.view(), gamma.view(), beta.view(), running_mean.view(),
                                   running_var.view(), eps, y.mutable_view());
    if (!any_requires_grad({&x, &gamma, &beta})) return y;
    return record("batch_norm_eval", {x, gamma, beta}, y,
                  [x = x.detach(), gamma = gamma.detach(), mu = running_mean.detach(),
                   var = running_var.detach(), eps](const Tensor& upstream, GradientSink& grads) {
                    Tensor inverse_std = pow(var + eps, -0.5);
                    if (grads.needs(0)) grads.add(0, upstream * (gamma * inverse_std));
                    if (grads.needs(1)) grads.add(1, sum(upstream * ((x - mu) * inverse_std), 0));
                    if (grads.needs(2)) grads.add(2, sum(upstream, 0));
                  });
  }

  if (rows < 2) {
    throw Error(
        "batch_norm: training mode needs at least 2 rows to estimate a variance, got "
        "input " +
        shape_string(x.shape()) + " (use eval mode for single examples)");
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor batch_mean = Tensor::empty({features}, x.dtype());
  Tensor batch_var = Tensor::empty({features}, x.dtype());
  backend().batch_norm_train(x.view(), gamma.view(), beta.view(), eps, y.mutable_view(),
                             batch_mean.mutable_view(), batch_var.mutable_view());
  if (running_mean.defined() && running_var.defined()) {
    // running ← (1 − m)·running + m·batch; the running variance uses the unbiased estimate.
    double unbiased = double(rows) / double(rows - 1);
    backend().axpby(momentum, batch_mean.view(), 1.0 - momentum, running_mean.mutable_view());
    backend().axpby(momentum * unbiased, batch_var.view(), 1.0 - momentum,
                    running_var.mutable_view());
  }
  if (!any_requires_grad({&x, &gamma, &beta})) return y;
  return record("batch_norm", {x, gamma, beta}, y,
                [x = x.detach(), gamma = gamma.detach(), batch_mean, batch_var, eps](
                    const Tensor& upstream, GradientSink& grads) {
                  Tensor dx, dgamma, dbeta;
                  if (grads.needs(0)) dx = Tensor::empty(x.shape(), x.dtype());
                  if (grads.needs(1)) dgamma = Tensor::empty(gamma.shape(), gamma.dtype());
                  if (grads.needs(2)) dbeta = Tensor::empty(gamma.shape(), gamma.dtype());
                  backend().batch_norm_backward(x.view(), upstream.view(), gamma.view(),
                                                batch_mean.view(), batch_var.view(), eps,
                                                dx.defined() ? dx.mutable_view() : View{},
                                                dgamma.defined() ? dgamma.mutable_view() : View{},
                                                dbeta.defined() ? dbeta.mutable_view() : View{});
                  if (dx.defined()) grads.add(0, dx);
                  if (dgamma.defined()) grads.add(1, dgamma);
                  if (dbeta.defined()) grads.add(2, dbeta);
                });
}

Tensor dropout(const Tensor& x, double p, bool training, std::optional<std::uint64_t> seed) {
  require_float("dropout", x);
  if (!(p >= 0.0 && p < 1.0)) {
    throw Error("dropout: p must be in [0, 1), got " + std::to_string(p));
  }
  if (!training || p == 0.0) return x;
  Tensor mask = Tensor::empty(x.shape(), x.dtype());
  backend().dropout_mask(mask.mutable_view(), p, seed ? *seed : next_seed());
  Tensor y = binary_kernel(BinaryOp::mul, x, mask);
  if (!any_requires_grad({&x})) return y;
  return record("dropout", {x}, y, [mask](const Tensor& upstream, GradientSink& grads) {
    grads.add(0, upstream * mask);  // the same units are dropped going back
  });
}

}  // namespace gradlab
