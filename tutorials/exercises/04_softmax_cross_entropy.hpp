#pragma once
/// \file tutorials/exercises/04_softmax_cross_entropy.hpp
/// \brief Exercise 04: the gradient of the softmax cross-entropy loss.

#include <cstdint>
#include <vector>

#include "autograd/tensor.hpp"

namespace gradlab::exercises {

/// Your gradient d loss / d scores (the task is in 04_softmax_cross_entropy.cpp) of the mean loss
/// over the N rows of `scores` [N, C], row i's correct class being `labels[i]`.
Tensor softmax_cross_entropy_backward(const Tensor& scores,
                                      const std::vector<std::int64_t>& labels);

}  // namespace gradlab::exercises
