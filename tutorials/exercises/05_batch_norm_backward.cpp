// Exercise 05: the backward pass of batch normalisation, as the lecture writes the forward pass.
//
// In training mode, for each feature (column) j of x [N, D]:
//   μ = (1/N) Σ_i x_i            (the batch mean)
//   σ² = (1/N) Σ_i (x_i − μ)²    (the batch variance, biased: 1/N)
//   x̂_i = (x_i − μ) / √(σ² + ε)
//   y_i = γ x̂_i + β
// Given dy = d loss / d y [N, D], compute dγ, dβ (both [D]) and dx [N, D]. dγ and dβ are sums over
// the batch. For dx, remember that μ and σ² depend on every x_i of the column: either
// back-propagate through the steps above one at a time (a computational graph on paper helps),
// or derive the compact formula dx = γ / (N √(σ² + ε)) · (N dy − Σ_i dy_i − x̂ Σ_i dy_i x̂_i).
//
// Useful (autograd/ops.hpp; every op broadcasts like NumPy): mean(x, 0, /*keepdim=*/true),
// sum(x, 0, true), sqrt, reshape, and + − * / between tensors and numbers. Tensors are float64.
// Check your work: ./gradlab exercise 5
#include "05_batch_norm_backward.hpp"

#include "autograd/ops.hpp"

namespace gradlab::exercises {

BatchNormGradients batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& dy,
                                       double eps) {
  BatchNormGradients grads;
  // TODO: recompute x̂ from x, then dgamma, dbeta and dx.
  grads.dx = zeros(x.shape(), {.dtype = x.dtype()});
  grads.dgamma = zeros(gamma.shape(), {.dtype = x.dtype()});
  grads.dbeta = zeros(gamma.shape(), {.dtype = x.dtype()});
  (void)dy, (void)eps;
  return grads;
}

}  // namespace gradlab::exercises
