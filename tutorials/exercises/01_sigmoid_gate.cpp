// Exercise 01: back-propagate through the sigmoid neuron, one primitive gate at a time.
//
// The lecture's 2-D neuron f(w, x) = 1 / (1 + exp(−(w0·x0 + w1·x1 + w2))) is a chain of gates:
//
//   a = w0·x0,  b = w1·x1,  c = a + b,  d = c + w2,  e = −d,  g = exp(e),  h = 1 + g,  f = 1/h
//
// Task: compute the forward pass gate by gate, then walk back from f to the inputs, multiplying
// each gate's local gradient by the gradient arriving from above (df/df = 1). The local
// gradients you need: d(1/h)/dh = −1/h², d(1 + g)/dg = 1, d(exp e)/de = exp e, d(−d)/dd = −1,
// an add gate hands its upstream gradient to both inputs, a multiply gate swaps its inputs.
// (The whole chain collapses to σ(d)·(1 − σ(d)): check your numbers against that at the end.)
//
// At w = (2, −3, −3), x = (−1, −2) the lecture gets dx = (0.39, −0.59), dw = (−0.20, −0.39, 0.20).
// Check your work: ./gradlab exercise 1
#include "01_sigmoid_gate.hpp"

#include <cmath>

namespace gradlab::exercises {

NeuronGradients sigmoid_neuron_backward(double w0, double x0, double w1, double x1, double w2) {
  NeuronGradients grads;
  // TODO: the forward pass (a, b, c, d, e, g, h, f), then the backward pass from df = 1.
  (void)w0, (void)x0, (void)w1, (void)x1, (void)w2;
  return grads;
}

}  // namespace gradlab::exercises
