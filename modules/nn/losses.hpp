#pragma once
/// \file modules/nn/losses.hpp
/// \brief Losses as modules (softmax cross-entropy, multiclass SVM), the L2 penalty, accuracy.
///
/// The loss modules wrap the fused, stable loss ops of autograd/ops.hpp; they take two inputs,
/// the scores [N, C] and the int64 labels [N], so they are called with their own `forward`:
///
/// \code
///   nn::CrossEntropyLoss criterion;
///   Tensor loss = criterion(net(x), y) + nn::l2_penalty(nn::weight_matrices(net.parameters()), 1e-3);
///   loss.backward();
///   double acc = nn::accuracy(net(x), y);
/// \endcode
///
/// Sanity checks from the lecture: with small random weights and no regularisation, the softmax
/// loss of C classes starts near ln C (ln 10 ≈ 2.303) and the SVM loss near C − 1 (9 for 10
/// classes, margin 1).

#include <vector>

#include "modules/nn/module.hpp"

namespace gradlab::nn {

/// Softmax cross-entropy, mean over the batch:
/// L = (1/N) Σ_n −log( e^{s[n, y_n]} / Σ_c e^{s[n, c]} ), computed stably (shifted by each row's
/// max). Same name as PyTorch's `CrossEntropyLoss`, which also takes raw scores.
class CrossEntropyLoss : public Module {
 public:
  CrossEntropyLoss() : Module("CrossEntropyLoss") {}
  /// The loss of `scores` [N, C] for int64 `labels` [N] in [0, C).
  Tensor forward(const Tensor& scores, const Tensor& labels);
  /// Same as `forward(scores, labels)`.
  Tensor operator()(const Tensor& scores, const Tensor& labels) { return forward(scores, labels); }
};

/// Multiclass SVM (hinge) loss, mean over the batch (Weston & Watkins 1999; the lecture's form):
/// L = (1/N) Σ_n Σ_{j ≠ y_n} max(0, s[n, j] − s[n, y_n] + margin).
class MultiClassSVMLoss : public Module {
 public:
  /// `margin` Δ is the gap the correct score must keep over every other (default 1).
  explicit MultiClassSVMLoss(double margin = 1.0);
  /// The loss of `scores` [N, C] for int64 `labels` [N] in [0, C).
  Tensor forward(const Tensor& scores, const Tensor& labels);
  /// Same as `forward(scores, labels)`.
  Tensor operator()(const Tensor& scores, const Tensor& labels) { return forward(scores, labels); }
  std::string extra_repr() const override;

 private:
  double margin_;
};

/// L2 regularisation R = ½ λ Σ_W ‖W‖² = ½ λ Σ_W Σ_ij W_ij², whose gradient is λ W.
/// For weight matrices only, as in the lecture: penalising biases, BatchNorm's γ and β or PReLU's
/// slopes does not reduce overfitting and can hurt. A tensor with fewer than 2 dimensions is
/// therefore refused with an error that names it (it is never skipped silently): pass
/// `weight_matrices(net.parameters())`. Returns a scalar (shape []) that is differentiable with
/// respect to the weights; with no tensor (or λ = 0) it is 0.
Tensor l2_penalty(const std::vector<Tensor>& parameters, double lambda);

/// The tensors of `parameters` with 2 or more dimensions (the weight matrices), in order: what
/// `l2_penalty` takes.
std::vector<Tensor> weight_matrices(const std::vector<Tensor>& parameters);

/// Fraction of rows whose highest score is the label: (1/N) Σ_n [argmax_c s[n, c] = y_n].
double accuracy(const Tensor& scores, const Tensor& labels);

}  // namespace gradlab::nn
