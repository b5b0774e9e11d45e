// Bad input to the tensor ops of autograd/ops.hpp: wrong shapes, wrong dtypes, undefined and
// empty tensors, out-of-range axes and labels, and NaN/inf values. The policy
// (docs/reliability.md):
// a malformed call raises gradlab::Error naming the op and the shapes; NaN and inf are values, and
// elementwise ops carry them through as IEEE arithmetic does — no crash, no silent repair.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "autograd/tensor.hpp"
#include "backends/backend.hpp"
#include "reliability/expect_error.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;
using gradlab::testing::error_of;
using gradlab::testing::inf_value;
using gradlab::testing::nan_value;

namespace {

Tensor int_tensor() { return labels({1, 2, 3}); }

}  // namespace

TEST_CASE("binary ops name the op and both shapes when shapes do not broadcast",
          "[reliability][ops]") {
  Tensor a = zeros({2, 3});
  Tensor b = zeros({4});
  CHECK_THAT(error_of([&] { add(a, b); }),
             Contains("add") && Contains("[2, 3]") && Contains("[4]"));
  CHECK_THAT(error_of([&] { sub(a, b); }), Contains("sub") && Contains("[2, 3]"));
  CHECK_THAT(error_of([&] { mul(a, b); }), Contains("mul") && Contains("[2, 3]"));
  CHECK_THAT(error_of([&] { div(a, b); }), Contains("div") && Contains("[2, 3]"));
  CHECK_THAT(error_of([&] { maximum(a, b); }), Contains("maximum") && Contains("[2, 3]"));
}

TEST_CASE("binary ops refuse mixed float dtypes and int64 tensors", "[reliability][ops]") {
  Tensor f32 = zeros({3});
  Tensor f64 = zeros({3}, {.dtype = DType::float64});
  CHECK_THAT(error_of([&] { add(f32, f64); }),
             Contains("add: dtype mismatch") && Contains("float64"));
  CHECK_THAT(error_of([&] { mul(f32, int_tensor()); }), Contains("mul") && Contains("int64"));
  CHECK_THAT(error_of([&] { exp(int_tensor()); }), Contains("exp") && Contains("int64"));
}

TEST_CASE("ops given an undefined tensor say so instead of crashing", "[reliability][ops]") {
  Tensor undefined;
  Tensor x = zeros({2, 2});
  CHECK_THAT(error_of([&] { add(undefined, x); }), Contains("add") && Contains("undefined"));
  CHECK_THAT(error_of([&] { relu(undefined); }), Contains("relu") && Contains("undefined"));
  CHECK_THAT(error_of([&] { matmul(x, undefined); }), Contains("matmul") && Contains("undefined"));
  CHECK_THAT(error_of([&] { sum(undefined); }), Contains("sum") && Contains("undefined"));
  CHECK_THAT(error_of([&] { softmax(undefined); }), Contains("softmax") && Contains("undefined"));
  CHECK_THAT(error_of([&] { reshape(undefined, {4}); }),
             Contains("reshape") && Contains("undefined"));
  CHECK_THAT(error_of([&] { transpose(undefined); }),
             Contains("transpose") && Contains("undefined"));
  CHECK_THAT(error_of([&] { cross_entropy(x, Tensor()); }),
             Contains("cross_entropy") && Contains("int64"));
}

TEST_CASE("elementwise ops on empty tensors give empty results and empty gradients",
          "[reliability][ops]") {
  Tensor x = zeros({0, 3}, {.requires_grad = true});
  Tensor y = relu(x * 2.0 + x);
  CHECK(y.shape() == Shape{0, 3});
  sum(y).backward();
  CHECK(sum(zeros({0, 3})).item() == 0.0);
  REQUIRE(x.grad().defined());
  CHECK(x.grad().shape() == Shape{0, 3});
}

TEST_CASE("empty batches flow through every backend forward and backward without a crash",
          "[reliability][ops]") {
  // oneDNN primitives divide by a zero extent (SIGFPE) and leave a reduction over nothing
  // unwritten; the ops keep empty tensors away from the kernels.
  for (const std::string& name : available_backends()) {
    CAPTURE(name);
    BackendGuard guard(name);
    Tensor x = zeros({0, 784}, {.requires_grad = true});
    Tensor w = ones({784, 50}, {.requires_grad = true});
    Tensor b = ones({50}, {.requires_grad = true});
    Tensor h = tanh(relu(linear(x, w, b)) * 2.0 + exp(sigmoid(linear(x, w, b))));
    CHECK(h.shape() == Shape{0, 50});
    sum(h).backward();
    CHECK(x.grad().shape() == Shape{0, 784});
    CHECK(w.grad().to_vector() == std::vector<double>(784 * 50, 0.0));  // xᵀ·dy over no rows
    CHECK(b.grad().to_vector() == std::vector<double>(50, 0.0));
    CHECK(sum(zeros({0, 5}), 0).to_vector() ==
          std::vector<double>(5, 0.0));  // a sum over nothing is 0
    CHECK((zeros({0, 5}) + ones({5})).shape() == Shape{0, 5});
    CHECK(matmul(ones({2, 0}), ones({0, 3})).to_vector() ==
          std::vector<double>(6, 0.0));  // inner size 0
    CHECK(transpose(zeros({0, 3})).shape() == Shape{3, 0});
  }
}

TEST_CASE("reductions without a defined value refuse empty input", "[reliability][ops]") {
  Tensor empty = zeros({0, 3});
  CHECK_THAT(error_of([&] { mean(empty); }), Contains("mean") && Contains("[0, 3]"));
  CHECK_THAT(error_of([&] { max(empty); }), Contains("max") && Contains("[0, 3]"));
  CHECK_THAT(error_of([&] { max(empty, 0); }), Contains("max") && Contains("[0, 3]"));
  CHECK_THAT(error_of([&] { softmax(empty); }), Contains("softmax") && Contains("[0, 3]"));
  CHECK_THAT(error_of([&] { argmax(empty); }), Contains("argmax") && Contains("[0, 3]"));
  CHECK_THAT(error_of([&] { cross_entropy(empty, labels({})); }),
             Contains("cross_entropy") && Contains("[0, 3]"));
}

TEST_CASE("an axis outside the tensor names the axis and the shape", "[reliability][ops]") {
  Tensor x = zeros({2, 3});
  CHECK_THAT(error_of([&] { sum(x, 2); }), Contains("sum: axis 2") && Contains("[2, 3]"));
  CHECK_THAT(error_of([&] { mean(x, -3); }), Contains("mean: axis -3") && Contains("[2, 3]"));
  CHECK_THAT(error_of([&] { max(x, 7); }), Contains("max: axis 7"));
  CHECK(sum(x, -1).shape() == Shape{2});  // a negative axis counts from the end
}

TEST_CASE("shape ops refuse impossible shapes", "[reliability][ops]") {
  Tensor x = zeros({2, 3});
  CHECK_THAT(error_of([&] {
               reshape(x, {4, 2});
             }),
             Contains("reshape") && Contains("[2, 3]") && Contains("[4, 2]"));
  CHECK_THAT(error_of([&] { reshape(x, {-1, -1}); }), Contains("reshape"));
  CHECK_THAT(error_of([&] { reshape(x, {-2, -3}); }), Contains("reshape"));
  CHECK_THAT(error_of([&] { reshape(x, {-1, 4}); }), Contains("reshape") && Contains("[2, 3]"));
  CHECK_THAT(error_of([&] {
               transpose(zeros({2, 3, 4}));
             }),
             Contains("transpose") && Contains("[2, 3, 4]"));
  CHECK_THAT(error_of([&] {
               broadcast_to(x, {3, 3});
             }),
             Contains("broadcast_to") && Contains("[2, 3]"));
  CHECK_THAT(error_of([&] { sum_to(x, {4}); }), Contains("sum_to") && Contains("[2, 3]"));
  CHECK_THAT(error_of([&] { argmax(zeros({3})); }), Contains("argmax") && Contains("2-D"));
}

TEST_CASE("matmul and linear name both shapes when they do not fit", "[reliability][ops]") {
  CHECK_THAT(error_of([&] {
               matmul(zeros({2, 3}), zeros({4, 5}));
             }),
             Contains("matmul") && Contains("[2, 3]") && Contains("[4, 5]"));
  CHECK_THAT(error_of([&] {
               matmul(zeros({3}), zeros({3, 5}));
             }),
             Contains("matmul") && Contains("[3]"));
  CHECK_THAT(error_of([&] {
               matmul(zeros({2, 3}), zeros({3, 2}, {.dtype = DType::float64}));
             }),
             Contains("matmul: dtype mismatch"));
  CHECK_THAT(error_of([&] {
               linear(zeros({2, 783}), zeros({784, 50}));
             }),
             Contains("linear") && Contains("[2, 783]") && Contains("[784, 50]"));
  CHECK_THAT(error_of([&] {
               linear(zeros({2, 784}), zeros({784, 50}), zeros({49}));
             }),
             Contains("linear: bias [49]") && Contains("[784, 50]"));
  CHECK_THAT(error_of([&] {
               linear(zeros({784}), zeros({784, 50}));
             }),
             Contains("linear") && Contains("[784]"));
  CHECK_THAT(error_of([&] {
               linear(zeros({2, 784}), zeros({784, 50}, {.dtype = DType::float64}));
             }),
             Contains("linear: dtype mismatch"));
}

TEST_CASE("activations with parameters refuse parameters of the wrong shape",
          "[reliability][ops]") {
  Tensor x = zeros({4, 6});
  CHECK_THAT(error_of([&] { prelu(x, zeros({5})); }),
             Contains("prelu") && Contains("[5]") && Contains("[4, 6]"));
  CHECK_THAT(error_of([&] { maxout(x, 4); }),
             Contains("maxout") && Contains("[4, 6]") && Contains("groups of 4"));
  CHECK_THAT(error_of([&] { maxout(x, 0); }), Contains("maxout") && Contains("groups of 0"));
  CHECK_THAT(error_of([&] { maxout(x, -2); }), Contains("maxout") && Contains("groups of -2"));
  CHECK_THAT(error_of([&] { softmax(zeros({})); }), Contains("softmax") && Contains("scalar"));
}

TEST_CASE("batch_norm checks its statistics and eps and momentum", "[reliability][ops]") {
  Tensor x = randn({4, 3});
  Tensor g = ones({3}), b = zeros({3}), rm = zeros({3}), rv = ones({3});
  CHECK_THAT(error_of([&] { batch_norm(x, ones({2}), b, rm, rv, true); }),
             Contains("batch_norm: gamma has shape [2]") && Contains("[4, 3]"));
  CHECK_THAT(error_of([&] { batch_norm(x, g, b, Tensor(), Tensor(), false); }),
             Contains("batch_norm: running_mean is undefined"));
  CHECK_THAT(error_of([&] {
               batch_norm(zeros({4, 3, 2}), g, b, rm, rv, true);
             }),
             Contains("batch_norm") && Contains("[4, 3, 2]"));
  CHECK_THAT(error_of([&] { batch_norm(x, g, b, rm, rv, true, 0.1, 0.0); }),
             Contains("batch_norm: eps"));
  CHECK_THAT(error_of([&] { batch_norm(x, g, b, rm, rv, true, 0.1, nan_value); }),
             Contains("batch_norm: eps"));
  CHECK_THAT(error_of([&] { batch_norm(x, g, b, rm, rv, true, 1.5); }),
             Contains("batch_norm: momentum"));
  CHECK_THAT(error_of([&] { batch_norm(x, g, b, rm, rv, true, -0.1); }),
             Contains("batch_norm: momentum"));
  CHECK_THAT(error_of([&] { batch_norm(x, g, b, rm, rv, true, nan_value); }),
             Contains("batch_norm: momentum"));
}

TEST_CASE("dropout refuses a probability outside 0 to 1", "[reliability][ops]") {
  Tensor x = ones({2, 2});
  CHECK_THAT(error_of([&] { dropout(x, 1.0, true); }),
             Contains("dropout: p must be in [0, 1)") && Contains("1"));
  CHECK_THAT(error_of([&] { dropout(x, 1.5, true); }), Contains("dropout: p must be in [0, 1)"));
  CHECK_THAT(error_of([&] { dropout(x, -0.1, true); }), Contains("dropout: p must be in [0, 1)"));
  CHECK_THAT(error_of([&] { dropout(x, nan_value, false); }),
             Contains("dropout: p must be in [0, 1)"));
}

TEST_CASE("losses name the bad label with its row and the number of classes",
          "[reliability][ops][losses]") {
  Tensor scores = zeros({3, 4});
  CHECK_THAT(error_of([&] {
               cross_entropy(scores, labels({0, 4, 1}));
             }),
             Contains("cross_entropy") && Contains("label 4") && Contains("row 1") &&
                 Contains("4 classes"));
  CHECK_THAT(error_of([&] {
               cross_entropy(scores, labels({0, 1, -1}));
             }),
             Contains("label -1") && Contains("row 2"));
  CHECK_THAT(error_of([&] {
               svm_loss(scores, labels({7, 0, 0}));
             }),
             Contains("svm_loss") && Contains("label 7") && Contains("row 0"));
  CHECK_THAT(error_of([&] {
               cross_entropy(scores, from({0, 1, 2}));
             }),
             Contains("cross_entropy: labels must be an int64 tensor") && Contains("float32"));
  CHECK_THAT(error_of([&] {
               cross_entropy(scores, labels({0, 1}));
             }),
             Contains("cross_entropy: labels [2]") && Contains("[3, 4]"));
  CHECK_THAT(error_of([&] { cross_entropy(zeros({4}), labels({0})); }),
             Contains("cross_entropy: scores must be 2-D"));
  CHECK_THAT(error_of([&] {
               svm_loss(scores, labels({0, 1, 2}), -1.0);
             }),
             Contains("svm_loss: margin"));
  CHECK_THAT(error_of([&] {
               svm_loss(scores, labels({0, 1, 2}), nan_value);
             }),
             Contains("svm_loss: margin"));
}

namespace {

// Scores [2, 3] of zeros with `value` at (row 1, column `column`); labels {0, 0}.
Tensor scores_with(double value, std::int64_t column) {
  Tensor scores = zeros({2, 3});
  scores.data<float>()[3 + column] = static_cast<float>(value);
  return scores;
}

}  // namespace

TEST_CASE("losses given a non-finite score return NaN or inf rather than a plausible number",
          "[reliability][ops][losses]") {
  // Policy: a loss reports a non-finite score honestly (the Trainer stops on it with a diagnosis,
  // and the optimiser refuses a non-finite gradient); it never turns NaN into a finite loss.
  Tensor y = labels({0, 0});
  // NaN anywhere: NaN.
  CHECK(std::isnan(cross_entropy(scores_with(nan_value, 1), y).item()));
  CHECK(std::isnan(svm_loss(scores_with(nan_value, 1), y).item()));
  CHECK(std::isnan(cross_entropy(scores_with(nan_value, 0), y).item()));
  CHECK(std::isnan(svm_loss(scores_with(nan_value, 0), y).item()));
  // +inf on a wrong class: the true class has probability 0 and an infinite hinge.
  CHECK_FALSE(std::isfinite(cross_entropy(scores_with(inf_value, 1), y).item()));
  CHECK_FALSE(std::isfinite(svm_loss(scores_with(inf_value, 1), y).item()));
  // −inf on the true class: the same, from the other side.
  CHECK_FALSE(std::isfinite(cross_entropy(scores_with(-inf_value, 0), y).item()));
  CHECK_FALSE(std::isfinite(svm_loss(scores_with(-inf_value, 0), y).item()));
  // −inf on a wrong class is a legitimate score: that class has probability 0, no hinge.
  CHECK(cross_entropy(scores_with(-inf_value, 1), y).item() ==
        Approx(0.5 * std::log(3.0) + 0.5 * std::log(2.0)));
  CHECK(svm_loss(scores_with(-inf_value, 1), y).item() == Approx(1.5));
}

TEST_CASE("NaN and inf flow through elementwise ops as IEEE arithmetic says without a crash",
          "[reliability][ops]") {
  for (const std::string& name : available_backends()) {
    CAPTURE(name);
    BackendGuard guard(name);
    Tensor x = from({nan_value, inf_value, -inf_value, 1.0}, {}, {.requires_grad = true});
    Tensor y = relu(x) + exp(x) + tanh(x) + sigmoid(x);
    std::vector<double> v = y.to_vector();
    CHECK(std::isnan(v[0]));      // NaN in, NaN out
    CHECK(std::isinf(v[1]));      // relu(inf) + exp(inf) = inf
    CHECK(v[2] == Approx(-1.0));  // 0 + 0 + tanh(−inf) + σ(−inf) = −1
    CHECK(std::isfinite(v[3]));
    sum(y).backward();
    CHECK(std::isnan(x.grad().at(0)));  // the gradient of a NaN stays NaN
    CHECK(std::isfinite(x.grad().at(3)));
    Tensor m = from({1.0, 2.0, nan_value}, {1, 3});
    CHECK(std::isnan(sum(m).item()));
    CHECK(std::isnan(matmul(m, ones({3, 1})).item()));
    CHECK(std::isnan(linear(m, ones({3, 2})).at(1)));
  }
}
