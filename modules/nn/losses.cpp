// Loss modules over the fused loss ops, the L2 penalty (a sum of squares per weight matrix) and
// accuracy (argmax against the labels).

#include "modules/nn/losses.hpp"

#include <fmt/format.h>

#include <cmath>

#include "autograd/ops.hpp"

namespace gradlab::nn {

namespace {

// scores [N, C] float and labels [N] int64.
void check_scores_and_labels(const Tensor& scores, const Tensor& labels, const char* what) {
  if (!scores.defined() || !labels.defined())
    throw Error(fmt::format("{}: scores or labels are undefined", what));
  if (scores.dim() != 2 || labels.dim() != 1 || labels.size(0) != scores.size(0))
    throw Error(fmt::format("{}: expects scores [N, C] and labels [N], got scores {} and labels {}",
                            what, shape_string(scores.shape()), shape_string(labels.shape())));
  if (labels.dtype() != DType::int64)
    throw Error(fmt::format("{}: labels must be int64, got {}", what, dtype_name(labels.dtype())));
}

}  // namespace

Tensor CrossEntropyLoss::forward(const Tensor& scores, const Tensor& labels) {
  check_scores_and_labels(scores, labels, "CrossEntropyLoss");
  return cross_entropy(scores, labels);
}

MultiClassSVMLoss::MultiClassSVMLoss(double margin) : Module("MultiClassSVMLoss"), margin_(margin) {
  if (!std::isfinite(margin) || margin < 0.0)
    throw Error(
        fmt::format("MultiClassSVMLoss: the margin must be finite and ≥ 0, got {}", margin));
}

Tensor MultiClassSVMLoss::forward(const Tensor& scores, const Tensor& labels) {
  check_scores_and_labels(scores, labels, "MultiClassSVMLoss");
  return svm_loss(scores, labels, margin_);
}

std::string MultiClassSVMLoss::extra_repr() const { return fmt::format("margin={:g}", margin_); }

Tensor l2_penalty(const std::vector<Tensor>& parameters, double lambda) {
  if (!std::isfinite(lambda) || lambda < 0.0)
    throw Error(fmt::format("l2_penalty: lambda must be finite and ≥ 0, got {}", lambda));
  Tensor total;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& parameter = parameters[i];
    if (!parameter.defined()) continue;
    // Skipping it would add a silent 0 where the caller asked for a penalty: say so instead.
    if (parameter.dim() < 2)
      throw Error(fmt::format(
          "l2_penalty: tensor {} has shape {} ({}-D); the L2 penalty is for weight matrices "
          "only, as in the lecture (penalising biases, BatchNorm's γ and β or PReLU slopes does "
          "not reduce overfitting); pass nn::weight_matrices(net.parameters())",
          i, shape_string(parameter.shape()), parameter.dim()));
    Tensor squares = (parameter * parameter).sum();
    total = total.defined() ? total + squares.to(total.dtype()) : squares;
  }
  if (!total.defined()) return zeros({});
  return total * (0.5 * lambda);
}

std::vector<Tensor> weight_matrices(const std::vector<Tensor>& parameters) {
  std::vector<Tensor> weights;
  for (const Tensor& parameter : parameters)
    if (parameter.defined() && parameter.dim() >= 2) weights.push_back(parameter);
  return weights;
}

double accuracy(const Tensor& scores, const Tensor& labels) {
  check_scores_and_labels(scores, labels, "accuracy");
  const std::int64_t rows = scores.size(0);
  if (rows == 0) throw Error("accuracy: the batch is empty (scores [0, C])");
  Tensor predicted = argmax(scores.detach());
  const std::int64_t* guess = predicted.const_data<std::int64_t>();
  const std::int64_t* truth = labels.const_data<std::int64_t>();
  std::int64_t correct = 0;
  const std::int64_t classes = scores.size(1);
  for (std::int64_t n = 0; n < rows; ++n) {
    // A label no score column can match would silently count as wrong: name it instead.
    if (truth[n] < 0 || truth[n] >= classes)
      throw Error(fmt::format("accuracy: label {} in row {} is outside [0, C) for C = {} classes",
                              truth[n], n, classes));
    correct += guess[n] == truth[n] ? 1 : 0;
  }
  return static_cast<double>(correct) / static_cast<double>(rows);
}

}  // namespace gradlab::nn
