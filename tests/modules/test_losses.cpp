// Loss modules, the L2 penalty and accuracy, with the lecture's sanity-check numbers.
#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/ops.hpp"
#include "modules/nn/nn.hpp"

using namespace gradlab;

TEST_CASE("softmax cross-entropy of equal scores is ln C: 2.302 for 10 classes") {
  nn::CrossEntropyLoss criterion;
  CHECK(criterion(zeros({4, 10}), labels({0, 3, 9, 5})).item() == Approx(std::log(10.0)));
}

TEST_CASE("softmax cross-entropy of a worked example") {
  // scores [3, 1, −2], label 0: −log(e³/(e³ + e + e⁻²)) = 0.1312…
  nn::CrossEntropyLoss criterion;
  const double expected =
      -std::log(std::exp(3.0) / (std::exp(3.0) + std::exp(1.0) + std::exp(-2.0)));
  CHECK(criterion(from({3, 1, -2}, {1, 3}), labels({0})).item() == Approx(expected).epsilon(1e-4));
}

TEST_CASE("multiclass SVM loss of equal scores is C − 1: 9 for 10 classes") {
  nn::MultiClassSVMLoss criterion;
  CHECK(criterion(zeros({4, 10}), labels({0, 3, 9, 5})).item() == Approx(9.0));
}

TEST_CASE("multiclass SVM loss of the course notes' example is 2.9") {
  // scores [3.2, 5.1, −1.7], label 0: max(0, 5.1 − 3.2 + 1) + max(0, −1.7 − 3.2 + 1) = 2.9
  nn::MultiClassSVMLoss criterion;
  CHECK(criterion(from({3.2, 5.1, -1.7}, {1, 3}), labels({0})).item() == Approx(2.9));
  CHECK(nn::MultiClassSVMLoss(0.5).extra_repr() == "margin=0.5");
}

TEST_CASE("losses name the shapes when scores and labels do not fit") {
  nn::CrossEntropyLoss criterion;
  CHECK_THROWS_WITH(criterion(zeros({4, 10}), labels({0, 1})),
                    Catch::Contains("CrossEntropyLoss: expects scores [N, C] and labels [N], got "
                                    "scores [4, 10] and labels [2]"));
  CHECK_THROWS_WITH(nn::MultiClassSVMLoss()(zeros({2, 3}), from({0, 1})),
                    Catch::Contains("MultiClassSVMLoss: labels must be int64, got float32"));
  CHECK_THROWS_WITH(nn::MultiClassSVMLoss(-1),
                    Catch::Contains("the margin must be finite and ≥ 0"));
}

TEST_CASE("l2_penalty is ½λΣW² over weight matrices, with gradient λW") {
  nn::Sequential net(nn::Linear(2, 2, {.bias_init = 5.0}), nn::BatchNorm1d(2), nn::PReLU(2));
  auto& linear = net.at<nn::Linear>(0);
  {
    NoGradGuard no_grad;
    nn::init::constant_(linear.weight, 3.0);  // Σ W² = 4 · 9 = 36
  }
  Tensor penalty = nn::l2_penalty(nn::weight_matrices(net.parameters()), 0.1);
  CHECK(penalty.dim() == 0);
  // ½ · 0.1 · 36 = 1.8: the bias (5), BatchNorm's γ and β and PReLU's slopes do not count
  CHECK(penalty.item() == Approx(1.8));
  penalty.backward();
  for (double g : linear.weight.grad().to_vector()) CHECK(g == Approx(0.3));  // λW
  CHECK_FALSE(linear.bias.grad().defined());
}

TEST_CASE("l2_penalty refuses a 1-D tensor, rather than adding a silent 0") {
  nn::Sequential net(nn::Linear(2, 2), nn::BatchNorm1d(2));
  CHECK_THROWS_WITH(nn::l2_penalty(net.parameters(), 0.1),
                    Catch::Contains("l2_penalty: tensor 1 has shape [2] (1-D)") &&
                        Catch::Contains("weight matrices only"));
  CHECK_THROWS_WITH(nn::l2_penalty({full({}, 2.0)}, 0.1), Catch::Contains("(0-D)"));
  CHECK(nn::weight_matrices(net.parameters()).size() == 1);
}

TEST_CASE("l2_penalty of no weight matrix is 0, and lambda must be ≥ 0") {
  nn::BatchNorm1d layer(3);
  CHECK(nn::l2_penalty(nn::weight_matrices(layer.parameters()), 1.0).item() == 0.0);
  CHECK_THROWS_WITH(nn::l2_penalty({}, -1.0),
                    Catch::Contains("l2_penalty: lambda must be finite and ≥ 0"));
}

TEST_CASE("accuracy is the fraction of rows whose top score is the label") {
  Tensor scores = from({0.1, 0.9, 0.8, 0.2, 0.3, 0.7, 0.6, 0.4}, {4, 2});
  CHECK(nn::accuracy(scores, labels({1, 0, 0, 0})) == Approx(0.75));
  CHECK_THROWS_WITH(nn::accuracy(scores, labels({1})),
                    Catch::Contains("accuracy: expects scores [N, C] and labels [N]"));
}
