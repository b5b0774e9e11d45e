// Exercise 01, a reference solution: the sigmoid neuron back-propagated gate by gate.
#include "01_sigmoid_gate.hpp"

#include <cmath>

namespace gradlab::exercises {

NeuronGradients sigmoid_neuron_backward(double w0, double x0, double w1, double x1, double w2) {
  // Forward, one gate at a time.
  const double a = w0 * x0, b = w1 * x1, c = a + b, d = c + w2;
  const double e = -d, g = std::exp(e), h = 1.0 + g;
  // Backward: local gradient × upstream gradient, from f = 1/h down.
  const double dh = -1.0 / (h * h) * 1.0;  // d(1/h)/dh · df/df
  const double dg = 1.0 * dh;              // h = 1 + g
  const double de = g * dg;                // g = exp(e)
  const double dd = -1.0 * de;             // e = −d
  const double dc = dd, dw2 = dd;          // d = c + w2: the add gate copies
  const double da = dc, db = dc;           // c = a + b
  NeuronGradients grads;
  grads.dw0 = x0 * da, grads.dx0 = w0 * da;  // a = w0·x0: the multiply gate swaps
  grads.dw1 = x1 * db, grads.dx1 = w1 * db;
  grads.dw2 = dw2;
  return grads;
}

}  // namespace gradlab::exercises
