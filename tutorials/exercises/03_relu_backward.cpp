// Exercise 03: the backward pass of ReLU, y = max(0, x), element by element.
//
// ReLU is a gate that lets the upstream gradient through where it let the input through, and
// blocks it elsewhere: dx = dy where x > 0, and 0 where x ≤ 0 (gradlab, like PyTorch, takes the
// derivative at the kink x = 0 to be 0).
//
// Work on plain numbers: x.to_vector() and dy.to_vector() give the elements in row-major order,
// and from(values, shape, {.dtype = DType::float64}) makes a tensor of them.
// Check your work: ./gradlab exercise 3
#include "03_relu_backward.hpp"

#include <vector>

namespace gradlab::exercises {

Tensor relu_backward(const Tensor& x, const Tensor& dy) {
  const std::vector<double> xs = x.to_vector(), upstream = dy.to_vector();
  std::vector<double> dx(xs.size(), 0.0);
  // TODO: fill dx.
  (void)upstream;
  return from(dx, x.shape(), {.dtype = x.dtype()});
}

}  // namespace gradlab::exercises
