#pragma once
/// \file tutorials/exercises/03_relu_backward.hpp
/// \brief Exercise 03: the backward pass of ReLU.

#include "autograd/tensor.hpp"

namespace gradlab::exercises {

/// Your backward pass of y = max(0, x) (the task is in 03_relu_backward.cpp): dx from x and the
/// upstream gradient dy, both of x's shape.
Tensor relu_backward(const Tensor& x, const Tensor& dy);

}  // namespace gradlab::exercises
