// Exercise 04, a reference solution: (softmax − one-hot) / N.
#include "04_softmax_cross_entropy.hpp"

#include "autograd/ops.hpp"

namespace gradlab::exercises {

Tensor softmax_cross_entropy_backward(const Tensor& scores,
                                      const std::vector<std::int64_t>& labels) {
  const std::int64_t rows = scores.size(0), classes = scores.size(1);
  std::vector<double> dscores = softmax(scores).to_vector();  // p
  for (std::int64_t i = 0; i < rows; ++i) {
    dscores[i * classes + labels[i]] -= 1.0;  // p − one-hot
    for (std::int64_t j = 0; j < classes; ++j) dscores[i * classes + j] /= double(rows);  // mean
  }
  return from(dscores, scores.shape(), {.dtype = scores.dtype()});
}

}  // namespace gradlab::exercises
