#pragma once
/// \file tutorials/exercises/05_batch_norm_backward.hpp
/// \brief Exercise 05: the backward pass of batch normalisation (training mode).

#include "autograd/tensor.hpp"

namespace gradlab::exercises {

/// The gradients of the loss with respect to batch norm's input and parameters.
struct BatchNormGradients {
  Tensor dx;      ///< [N, D], like x.
  Tensor dgamma;  ///< [D].
  Tensor dbeta;   ///< [D].
};

/// Your backward pass (the task is in 05_batch_norm_backward.cpp) of y = γ·x̂ + β in training
/// mode, x [N, D], γ [D], the upstream gradient dy [N, D], and ε added to the variance.
BatchNormGradients batch_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& dy,
                                       double eps);

}  // namespace gradlab::exercises
