#pragma once
/// \file tutorials/exercises/02_linear_backward.hpp
/// \brief Exercise 02: the backward pass of a linear (affine) layer y = x·W + b.

#include "autograd/tensor.hpp"

namespace gradlab::exercises {

/// The gradients of the loss with respect to a linear layer's input and parameters.
struct LinearGradients {
  Tensor dx;  ///< [N, D], like x.
  Tensor dW;  ///< [D, M], like W.
  Tensor db;  ///< [M], like b.
};

/// Your backward pass (the task is in 02_linear_backward.cpp): x [N, D], W [D, M], b [M] and the
/// upstream gradient dy = d loss / d y [N, M].
LinearGradients linear_backward(const Tensor& x, const Tensor& W, const Tensor& b,
                                const Tensor& dy);

}  // namespace gradlab::exercises
