// Exercise 06, a reference solution: the velocity integrates the gradient, the parameters
// integrate the velocity.
#include "06_momentum_update.hpp"

namespace gradlab::exercises {

void momentum_step(std::vector<double>& x, std::vector<double>& v, const std::vector<double>& dx,
                   double lr, double mu) {
  for (std::size_t i = 0; i < x.size(); ++i) {
    v[i] = mu * v[i] - lr * dx[i];
    x[i] += v[i];
  }
}

}  // namespace gradlab::exercises
