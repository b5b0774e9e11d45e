// Exercise 02: the backward pass of a linear layer y = x·W + b (x [N, D], W [D, M], b [M]).
//
// Given the upstream gradient dy = d loss / d y of shape [N, M], compute dx, dW and db. Each has
// the shape of what it is the gradient of, which tells you where the transposes go:
// dx [N, D] must come from dy [N, M] and W [D, M]; dW [D, M] from x [N, D] and dy [N, M]. The bias
// was added to every one of the N rows, so its gradient collects from all of them.
//
// Useful: matmul(a, b), transpose(a), sum(a, axis) (autograd/ops.hpp). The tensors are float64.
// Check your work: ./gradlab exercise 2
#include "02_linear_backward.hpp"

#include "autograd/ops.hpp"

namespace gradlab::exercises {

LinearGradients linear_backward(const Tensor& x, const Tensor& W, const Tensor& b,
                                const Tensor& dy) {
  LinearGradients grads;
  // TODO: dx, dW and db from x, W and dy.
  grads.dx = zeros(x.shape(), {.dtype = x.dtype()});
  grads.dW = zeros(W.shape(), {.dtype = W.dtype()});
  grads.db = zeros(b.shape(), {.dtype = b.dtype()});
  (void)dy;
  return grads;
}

}  // namespace gradlab::exercises
