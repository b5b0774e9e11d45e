// Exercise 06: one step of SGD with momentum, as the lecture writes it.
//
// Plain SGD moves the parameters straight down the gradient: x ← x − lr·dx. With momentum the
// gradient changes a velocity instead, and the velocity moves the parameters:
//   v ← μ·v − lr·dx
//   x ← x + v
// μ (typically 0.5, 0.9 or 0.99) is a friction that keeps part of the last step's velocity, so
// steps in a consistent direction build up speed and back-and-forth steps cancel. v starts at 0
// and must persist from one call to the next: it is passed in and updated in place.
// Check your work: ./gradlab exercise 6
#include "06_momentum_update.hpp"

namespace gradlab::exercises {

void momentum_step(std::vector<double>& x, std::vector<double>& v, const std::vector<double>& dx,
                   double lr, double mu) {
  // TODO: update v, then x, element by element.
  (void)x, (void)v, (void)dx, (void)lr, (void)mu;
}

}  // namespace gradlab::exercises
