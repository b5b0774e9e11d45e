// Differentiable ops: cross-entropy, SVM loss. The family's table below gives each op's forward,
// its backward rule and its kernels; autograd/ops.hpp explains the three beats every op follows.
#include <algorithm>
#include <cmath>
#include <string>

#include "autograd/node.hpp"
#include "autograd/ops.hpp"
#include "autograd/ops/support.hpp"
#include "backends/backend.hpp"

namespace gradlab {

using namespace ops_support;

// --- losses ---------------------------------------------------------------------------------
//
//   op             loss = f(scores, labels), mean over the N rows   backward: dscores =
//   cross_entropy  −log softmax(scores)[label]                      g · (softmax − onehot) / N
//   svm_loss(Δ)    Σ_{j ≠ label} max(0, s_j − s_label + Δ)          g / N · (1 where the margin is
//                                                                   positive, −their count at
//                                                                   the label)
//
//   kernels: cross_entropy(_backward), svm_loss(_backward)
//            reference: losses.cpp   oneDNN: softmax_kernels.cpp (svm_loss: ref)

namespace {

void check_scores_and_labels(const char* op, const Tensor& scores, const Tensor& labels) {
  require_float(op, scores, "scores");
  require_rank(op, scores, 2, "scores");
  require_nonempty(op, scores);
  if (!labels.defined() || labels.dtype() != DType::int64) {
    throw Error(std::string(op) + ": labels must be an int64 tensor (use gradlab::labels)" +
                (labels.defined() ? std::string(", got ") + dtype_name(labels.dtype()) : ""));
  }
  if (labels.dim() != 1 || labels.size(0) != scores.size(0)) {
    throw Error(std::string(op) + ": labels " + shape_string(labels.shape()) +
                " do not match scores " + shape_string(scores.shape()) + " (need labels [N])");
  }
}

}  // namespace

Tensor cross_entropy(const Tensor& scores, const Tensor& labels) {
  check_scores_and_labels("cross_entropy", scores, labels);
  Tensor probabilities = Tensor::empty(scores.shape(), scores.dtype());
  Tensor loss = Tensor::empty({}, scores.dtype());
  backend().cross_entropy(scores.view(), labels.view(), probabilities.mutable_view(),
                          loss.mutable_view());
  if (!any_requires_grad({&scores})) return loss;
  return record("cross_entropy", {scores}, loss,
                [probabilities, labels](const Tensor& upstream, GradientSink& grads) {
                  // d loss / d scores = (softmax(scores) − onehot(labels)) / N.
                  Tensor dscores = Tensor::empty(probabilities.shape(), probabilities.dtype());
                  backend().cross_entropy_backward(probabilities.view(), labels.view(),
                                                   upstream.item(), dscores.mutable_view());
                  grads.add(0, dscores);
                });
}

Tensor svm_loss(const Tensor& scores, const Tensor& labels, double margin) {
  check_scores_and_labels("svm_loss", scores, labels);
  if (!(margin >= 0) || !std::isfinite(margin)) {
    throw Error("svm_loss: margin must be finite and >= 0, got " + std::to_string(margin));
  }
  Tensor loss = Tensor::empty({}, scores.dtype());
  backend().svm_loss(scores.view(), labels.view(), margin, loss.mutable_view());
  if (!any_requires_grad({&scores})) return loss;
  return record(
      "svm_loss", {scores}, loss,
      [scores = scores.detach(), labels, margin](const Tensor& upstream, GradientSink& grads) {
        Tensor dscores = Tensor::empty(scores.shape(), scores.dtype());
        backend().svm_loss_backward(scores.view(), labels.view(), margin, upstream.item(),
                                    dscores.mutable_view());
        grads.add(0, dscores);
      });
}

}  // namespace gradlab
