// Reference kernels: softmax, log-softmax and the two classification losses (fused softmax
// cross-entropy, multiclass SVM), each with its backward. Every kernel works row by row on a
// [N, C] matrix of scores.
#include <cmath>

#include "backends/reference/reference_backend.hpp"
#include "backends/reference/support.hpp"

namespace gradlab {

using namespace reference;

namespace {

/// The checks shared by the two losses: scores [N, C] with N > 0 and labels [N] in [0, C).
RowsColumns check_scores_and_labels(const char* kernel, ConstView scores, ConstView labels) {
  require_rank(kernel, "scores", scores, 2);
  const auto shape = rows_columns(kernel, "scores", scores);
  if (shape.rows == 0 || shape.columns == 0) {
    fail(kernel,
         "needs at least one row and one class, got scores of shape " + shape_string(scores.shape));
  }
  require_labels(kernel, labels, shape.rows, shape.columns);
  return shape;
}

}  // namespace

void ReferenceBackend::softmax(ConstView x, View y, bool log) {
  const char* kernel = log ? "log_softmax" : "softmax";
  const RowsColumns extents = rows_columns(kernel, "x", x);
  const std::int64_t rows = extents.rows, columns = extents.columns;
  require_dtype(kernel, "y", y, x.dtype);
  require_shape(kernel, "y", y, x.shape);
  dispatch_float(x.dtype, kernel, [&]<class T>(T) {
    for (std::int64_t n = 0; n < rows && columns > 0; ++n) {
      const auto scores = row(x.as<T>() + n * columns, columns);
      auto output = row(y.as<T>() + n * columns, columns);
      // Shift by the row max m so that e^{x − m} ≤ 1 never overflows (scores of ±1e4 stay
      // finite); the shift cancels in the ratio.
      const T m = max_of(scores);
      if (log) {  // log softmax = x − m − log Σ e^{x − m}
        xt::noalias(output) = scores - m;
        output -= std::log(sum_of(xt::exp(output)));
      } else {  // softmax = e^{x − m} / Σ e^{x − m}
        xt::noalias(output) = xt::exp(scores - m);
        output /= sum_of(output);
      }
    }
  });
}

void ReferenceBackend::softmax_backward(ConstView y, ConstView dy, View dx, bool log) {
  const char* kernel = log ? "log_softmax_backward" : "softmax_backward";
  const RowsColumns extents = rows_columns(kernel, "y", y);
  const std::int64_t rows = extents.rows, columns = extents.columns;
  require_dtype(kernel, "dy", dy, y.dtype);
  require_shape(kernel, "dy", dy, y.shape);
  require_dtype(kernel, "dx", dx, y.dtype);
  require_shape(kernel, "dx", dx, y.shape);
  dispatch_float(y.dtype, kernel, [&]<class T>(T) {
    for (std::int64_t n = 0; n < rows; ++n) {
      const auto output = row(y.as<T>() + n * columns, columns);
      const auto upstream = row(dy.as<T>() + n * columns, columns);
      auto gradient = row(dx.as<T>() + n * columns, columns);
      if (log) {  // dx = dy − e^y · Σ_c dy
        xt::noalias(gradient) = upstream - xt::exp(output) * sum_of(upstream);
      } else {  // dx = y ⊙ (dy − Σ_c dy ⊙ y)
        const T dot = sum_of(upstream * output);
        xt::noalias(gradient) = output * (upstream - dot);
      }
    }
  });
}

void ReferenceBackend::cross_entropy(ConstView scores, ConstView labels, View probabilities,
                                     View loss) {
  const char* kernel = "cross_entropy";
  const RowsColumns extents = check_scores_and_labels(kernel, scores, labels);
  const std::int64_t rows = extents.rows, columns = extents.columns;
  require_dtype(kernel, "probabilities", probabilities, scores.dtype);
  require_shape(kernel, "probabilities", probabilities, scores.shape);
  require_dtype(kernel, "loss", loss, scores.dtype);
  require_numel(kernel, "loss", loss, 1);
  dispatch_float(scores.dtype, kernel, [&]<class T>(T) {
    const std::int64_t* label = labels.as<std::int64_t>();
    double total = 0;  // Σ_n −log p[n, y_n], accumulated in double
    for (std::int64_t n = 0; n < rows; ++n) {
      const auto row_scores = row(scores.as<T>() + n * columns, columns);
      auto row_probabilities = row(probabilities.as<T>() + n * columns, columns);
      // p = e^{s − m} / Σ e^{s − m}, shifted by the row max m as in `softmax`.
      const T m = max_of(row_scores);
      xt::noalias(row_probabilities) = xt::exp(row_scores - m);
      const T sum_exp = sum_of(row_probabilities);
      row_probabilities /= sum_exp;
      // −log p[y] = m + log Σ e^{s − m} − s[y], from the scores rather than from p, which may
      // have underflowed to 0.
      total += static_cast<double>(m + std::log(sum_exp) - row_scores(label[n]));
    }
    loss.as<T>()[0] = static_cast<T>(total / static_cast<double>(rows));
  });
}

void ReferenceBackend::cross_entropy_backward(ConstView probabilities, ConstView labels,
                                              double dloss, View dscores) {
  const char* kernel = "cross_entropy_backward";
  const RowsColumns extents = check_scores_and_labels(kernel, probabilities, labels);
  const std::int64_t rows = extents.rows, columns = extents.columns;
  require_dtype(kernel, "dscores", dscores, probabilities.dtype);
  require_shape(kernel, "dscores", dscores, probabilities.shape);
  dispatch_float(probabilities.dtype, kernel, [&]<class T>(T) {
    const T scale = static_cast<T>(dloss / static_cast<double>(rows));
    auto gradient = flat<T>(dscores);
    xt::noalias(gradient) = scale * flat<T>(probabilities);  // ds = dloss · (p − onehot(y)) / N
    const std::int64_t* label = labels.as<std::int64_t>();
    for (std::int64_t n = 0; n < rows; ++n) gradient(n * columns + label[n]) -= scale;
  });
}

void ReferenceBackend::svm_loss(ConstView scores, ConstView labels, double margin, View loss) {
  const char* kernel = "svm_loss";
  const RowsColumns extents = check_scores_and_labels(kernel, scores, labels);
  const std::int64_t rows = extents.rows, columns = extents.columns;
  require_dtype(kernel, "loss", loss, scores.dtype);
  require_numel(kernel, "loss", loss, 1);
  dispatch_float(scores.dtype, kernel, [&]<class T>(T) {
    const std::int64_t* label = labels.as<std::int64_t>();
    const T delta = static_cast<T>(margin);
    double total = 0;
    for (std::int64_t n = 0; n < rows; ++n) {
      const auto row_scores = row(scores.as<T>() + n * columns, columns);
      const T correct = row_scores(label[n]);
      // Σ_j max(0, s_j − s_y + Δ) includes the j = y term, max(0, Δ): take it out again.
      // max(0, m) is written "m unless m < 0" so that a NaN score keeps the loss NaN (NaN < 0 is
      // false); xt::maximum would return 0 and hide it behind a plausible loss.
      const auto margins = row_scores - correct + delta;
      const T all_terms = sum_of(xt::where(margins < T(0), T(0), margins));
      total += static_cast<double>(all_terms - std::max(delta, T(0)));
    }
    loss.as<T>()[0] = static_cast<T>(total / static_cast<double>(rows));
  });
}

void ReferenceBackend::svm_loss_backward(ConstView scores, ConstView labels, double margin,
                                         double dloss, View dscores) {
  const char* kernel = "svm_loss_backward";
  const RowsColumns extents = check_scores_and_labels(kernel, scores, labels);
  const std::int64_t rows = extents.rows, columns = extents.columns;
  require_dtype(kernel, "dscores", dscores, scores.dtype);
  require_shape(kernel, "dscores", dscores, scores.shape);
  dispatch_float(scores.dtype, kernel, [&]<class T>(T) {
    const std::int64_t* label = labels.as<std::int64_t>();
    const T delta = static_cast<T>(margin);
    const T share = static_cast<T>(dloss / static_cast<double>(rows));  // dloss / N per term
    for (std::int64_t n = 0; n < rows; ++n) {
      const auto row_scores = row(scores.as<T>() + n * columns, columns);
      auto gradient = row(dscores.as<T>() + n * columns, columns);
      const T correct = row_scores(label[n]);
      // Each positive term j ≠ y adds dloss/N to ds[j] and subtracts it from ds[y].
      xt::noalias(gradient) = xt::where(row_scores - correct + delta > T(0), share, T(0));
      gradient(label[n]) = 0;
      gradient(label[n]) = -sum_of(gradient);
    }
  });
}

}  // namespace gradlab
