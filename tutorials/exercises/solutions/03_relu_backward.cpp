// Exercise 03, a reference solution: ReLU routes the upstream gradient where x > 0.
#include "03_relu_backward.hpp"

#include <vector>

namespace gradlab::exercises {

Tensor relu_backward(const Tensor& x, const Tensor& dy) {
  const std::vector<double> xs = x.to_vector(), upstream = dy.to_vector();
  std::vector<double> dx(xs.size(), 0.0);
  for (std::size_t i = 0; i < xs.size(); ++i) dx[i] = xs[i] > 0.0 ? upstream[i] : 0.0;
  return from(dx, x.shape(), {.dtype = x.dtype()});
}

}  // namespace gradlab::exercises
