// Exercise 04: the gradient of the softmax cross-entropy loss with respect to the scores.
//
// For scores s [N, C] and correct classes y, the loss is the mean over the rows of
//   L_i = −log p_i[y_i],   with p_i = softmax(s_i): p_ij = exp(s_ij) / Σ_k exp(s_ik).
// Work it out on paper first: dL_i/ds_ij = p_ij − [j = y_i]. Then remember that L is the *mean*
// of the N row losses.
//
// Useful: softmax(scores) (autograd/ops.hpp) gives p; .to_vector() gives its elements row by row
// (element (i, j) is at i·C + j); from(values, shape, {.dtype = DType::float64}) makes a tensor.
// Check your work: ./gradlab exercise 4
#include "04_softmax_cross_entropy.hpp"

#include "autograd/ops.hpp"

namespace gradlab::exercises {

Tensor softmax_cross_entropy_backward(const Tensor& scores,
                                      const std::vector<std::int64_t>& labels) {
  const std::int64_t rows = scores.size(0), classes = scores.size(1);
  std::vector<double> dscores(static_cast<std::size_t>(rows * classes), 0.0);
  // TODO: fill dscores.
  (void)labels;
  return from(dscores, scores.shape(), {.dtype = scores.dtype()});
}

}  // namespace gradlab::exercises
