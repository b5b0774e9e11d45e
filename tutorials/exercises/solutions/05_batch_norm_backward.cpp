// Exercise 05, a reference solution: batch norm's backward pass in its compact form.
#include "05_batch_norm_backward.hpp"

#include "autograd/ops.hpp"

namespace gradlab::exercises {

BatchNormGradients batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& dy,
                                       double eps) {
  const double n = double(x.size(0));
  const Tensor mu = mean(x, 0, true);                                         // [1, D]
  const Tensor centred = x - mu;                                              // [N, D]
  const Tensor inv_std = 1.0 / sqrt(mean(centred * centred, 0, true) + eps);  // 1/√(σ² + ε)
  const Tensor x_hat = centred * inv_std;
  BatchNormGradients grads;
  grads.dbeta = sum(dy, 0);
  grads.dgamma = sum(dy * x_hat, 0);
  const Tensor g = reshape(gamma, {1, gamma.size(0)});
  // dx = γ / (N √(σ² + ε)) · (N dy − Σ dy − x̂ Σ dy x̂)
  grads.dx = g * inv_std / n * (dy * n - sum(dy, 0, true) - x_hat * sum(dy * x_hat, 0, true));
  return grads;
}

}  // namespace gradlab::exercises
