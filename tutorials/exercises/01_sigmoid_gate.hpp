#pragma once
/// \file tutorials/exercises/01_sigmoid_gate.hpp
/// \brief Exercise 01: the sigmoid neuron's backward pass, gate by gate.

namespace gradlab::exercises {

/// The gradients of f = σ(w0·x0 + w1·x1 + w2) with respect to each input.
struct NeuronGradients {
  double dw0 = 0, dx0 = 0, dw1 = 0, dx1 = 0, dw2 = 0;  ///< ∂f/∂w0, ∂f/∂x0, ∂f/∂w1, ∂f/∂x1, ∂f/∂w2
};

/// Your backward pass of the neuron (the task is in 01_sigmoid_gate.cpp).
NeuronGradients sigmoid_neuron_backward(double w0, double x0, double w1, double x1, double w2);

}  // namespace gradlab::exercises
