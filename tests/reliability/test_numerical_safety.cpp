// Numerical safety: softmax, log-softmax and the losses stay finite at scores of ±1e4 on every
// backend and dtype, with gradients equal to the analytic ones; the places where the math itself
// has no finite value (log 0, √ at 0, 1/0, a negative base to a fractional power) give the IEEE
// answer without a crash; batch normalisation of a single example in training mode is an error,
// not a NaN.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "autograd/tensor.hpp"
#include "backends/backend.hpp"
#include "modules/nn/layers.hpp"
#include "reliability/expect_error.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;
using gradlab::testing::error_of;

namespace {

// Every (backend, dtype) pair this build can run: the reference backend in f32 and f64, oneDNN in
// f32 when it is registered (it has no f64).
struct Setting {
  std::string backend;
  DType dtype;
};

std::vector<Setting> settings() {
  std::vector<Setting> all{{"reference", DType::float32}, {"reference", DType::float64}};
  const auto names = available_backends();
  if (std::find(names.begin(), names.end(), "onednn") != names.end())
    all.push_back({"onednn", DType::float32});
  return all;
}

// Three rows that break a naive softmax: e^{1e4} overflows, e^{−1e4} underflows to 0/0, and the
// first row holds both extremes.
//   row 0: [1e4, −1e4, 0]      row 1: [1e4, 1e4 + 1, 1e4]      row 2: [−1e4, −1e4 + 1, −1e4]
Tensor extreme_scores(DType dtype, bool requires_grad = false) {
  return from({1e4, -1e4, 0.0, 1e4, 1e4 + 1, 1e4, -1e4, -1e4 + 1, -1e4}, {3, 3},
              {.dtype = dtype, .requires_grad = requires_grad});
}

// softmax of [0, 1, 0]: the shift by the row max leaves exactly this behind in rows 1 and 2.
const double e = std::exp(1.0);
const double p_big = e / (e + 2.0);
const double p_small = 1.0 / (e + 2.0);

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

void check_close(const Tensor& actual, const std::vector<double>& expected, double tolerance) {
  std::vector<double> values = actual.to_vector();
  REQUIRE(values.size() == expected.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    CAPTURE(i, values[i], expected[i]);
    CHECK(values[i] == Approx(expected[i]).margin(tolerance).epsilon(tolerance));
  }
}

}  // namespace

TEST_CASE("softmax at scores of plus and minus 1e4 is finite and exact on every backend",
          "[reliability][numerical]") {
  for (const Setting& s : settings()) {
    CAPTURE(s.backend, dtype_name(s.dtype));
    BackendGuard guard(s.backend);
    Tensor x = extreme_scores(s.dtype, true);
    Tensor y = softmax(x);
    REQUIRE(all_finite(y));
    check_close(y, {1, 0, 0, p_small, p_big, p_small, p_small, p_big, p_small}, 1e-6);
    // d(y₁ of each row)/dx = y₁ (e₁ − y): with upstream e₁ per row.
    (y * from({0, 1, 0, 0, 1, 0, 0, 1, 0}, {3, 3}, {.dtype = s.dtype})).sum().backward();
    REQUIRE(all_finite(x.grad()));
    const double a = -p_big * p_small, b = p_big * (1 - p_big);
    check_close(x.grad(), {0, 0, 0, a, b, a, a, b, a}, 1e-6);
  }
}

TEST_CASE("log_softmax at scores of plus and minus 1e4 is finite and exact on every backend",
          "[reliability][numerical]") {
  for (const Setting& s : settings()) {
    CAPTURE(s.backend, dtype_name(s.dtype));
    BackendGuard guard(s.backend);
    Tensor x = extreme_scores(s.dtype, true);
    Tensor y = log_softmax(x);
    REQUIRE(all_finite(y));
    const double lb = std::log(p_big), ls = std::log(p_small);
    // Row 0: log softmax = x − 1e4 (the other terms vanish next to e⁰ = 1).
    // f32 holds 1e4 to about 1e-3; oneDNN's f32 result at the row max is off by ~1e-6.
    check_close(y, {0, -2e4, -1e4, ls, lb, ls, ls, lb, ls}, 1e-5);
    // d(Σ_c y_c)/dx = 1 − C · softmax(x).
    y.sum().backward();
    REQUIRE(all_finite(x.grad()));
    check_close(x.grad(),
                {1 - 3.0, 1, 1, 1 - 3 * p_small, 1 - 3 * p_big, 1 - 3 * p_small, 1 - 3 * p_small,
                 1 - 3 * p_big, 1 - 3 * p_small},
                1e-5);
  }
}

TEST_CASE("cross_entropy at scores of plus and minus 1e4 is finite with the analytic gradient",
          "[reliability][numerical]") {
  for (const Setting& s : settings()) {
    CAPTURE(s.backend, dtype_name(s.dtype));
    BackendGuard guard(s.backend);
    Tensor x = extreme_scores(s.dtype, true);
    // Row 0 picks its −1e4 class (loss 2e4), rows 1 and 2 their largest class (loss −log p_big).
    Tensor loss = cross_entropy(x, labels({1, 1, 1}));
    REQUIRE(std::isfinite(loss.item()));
    CHECK(loss.item() == Approx((2e4 - 2 * std::log(p_big)) / 3).epsilon(1e-6));
    loss.backward();
    REQUIRE(all_finite(x.grad()));
    // (softmax − onehot) / N.
    check_close(x.grad(),
                {1.0 / 3, -1.0 / 3, 0, p_small / 3, (p_big - 1) / 3, p_small / 3, p_small / 3,
                 (p_big - 1) / 3, p_small / 3},
                1e-6);
  }
}

TEST_CASE("svm_loss at scores of plus and minus 1e4 is finite with the analytic gradient",
          "[reliability][numerical]") {
  for (const Setting& s : settings()) {
    CAPTURE(s.backend, dtype_name(s.dtype));
    BackendGuard guard(s.backend);
    Tensor x = extreme_scores(s.dtype, true);
    // Margin 0.5. Row 0, label 1 (−1e4): hinges 1e4 + 1e4 + 0.5 and 0 + 1e4 + 0.5; rows 1 and 2,
    // label 1 (the largest by 1): both hinges max(0, −1 + 0.5) = 0, away from the kink.
    Tensor loss = svm_loss(x, labels({1, 1, 1}), 0.5);
    REQUIRE(std::isfinite(loss.item()));
    CHECK(loss.item() == Approx((20000.5 + 10000.5) / 3).epsilon(1e-6));
    loss.backward();
    REQUIRE(all_finite(x.grad()));
    check_close(x.grad(), {1.0 / 3, -2.0 / 3, 1.0 / 3, 0, 0, 0, 0, 0, 0}, 1e-6);
  }
}

TEST_CASE("log at 0 is minus infinity and its gradient infinite as the math says",
          "[reliability][numerical]") {
  Tensor x = from({0.0, -1.0, 1.0}, {}, {.requires_grad = true});
  Tensor y = log(x);
  CHECK(y.at(0) == -std::numeric_limits<double>::infinity());
  CHECK(std::isnan(y.at(1)));  // no real logarithm below 0
  CHECK(y.at(2) == 0.0);
  y.sum().backward();
  CHECK(x.grad().at(0) == std::numeric_limits<double>::infinity());  // d ln x / dx = 1/x
  CHECK(x.grad().at(2) == 1.0);
}

TEST_CASE("the fused losses never take log of 0 even when a probability underflows",
          "[reliability][numerical]") {
  // softmax(−1e4 against 0) is e^{−1e4} = 0 in floating point; log(softmax) would be −inf and the
  // loss inf. cross_entropy and log_softmax work from the shifted scores and give 1e4 exactly.
  for (DType dtype : {DType::float32, DType::float64}) {
    Tensor x = from({0.0, -1e4}, {1, 2}, {.dtype = dtype});
    CHECK(softmax(x).at(1) == 0.0);
    CHECK(log(softmax(x)).at(1) == -std::numeric_limits<double>::infinity());
    CHECK(log_softmax(x).at(1) == Approx(-1e4));
    CHECK(cross_entropy(x, labels({1})).item() == Approx(1e4));
  }
}

TEST_CASE("sqrt at 0 is 0 with an infinite gradient and no crash", "[reliability][numerical]") {
  Tensor x = from({0.0, 4.0}, {}, {.requires_grad = true});
  Tensor y = sqrt(x);
  CHECK(y.at(0) == 0.0);
  CHECK(y.at(1) == 2.0);
  y.sum().backward();
  CHECK(x.grad().at(0) == std::numeric_limits<double>::infinity());  // 1 / (2 √0)
  CHECK(x.grad().at(1) == Approx(0.25));
}

TEST_CASE(
    "pow of a negative base to a fractional exponent is NaN and to an integer exponent is exact",
    "[reliability][numerical]") {
  Tensor x = from({-8.0, -2.0}, {}, {.requires_grad = true});
  Tensor cube_root = pow(x, 1.0 / 3.0);
  CHECK(std::isnan(cube_root.at(0)));  // as std::pow and NumPy: no real branch is chosen
  Tensor square = pow(x, 2.0);
  CHECK(square.at(0) == 64.0);
  CHECK(square.at(1) == 4.0);
  square.sum().backward();
  CHECK(x.grad().at(0) == Approx(-16.0));
  CHECK(x.grad().at(1) == Approx(-4.0));
  CHECK(pow(from({0.0}), -1.0).at(0) == std::numeric_limits<double>::infinity());
}

TEST_CASE("division by zero gives signed infinity and 0 over 0 gives NaN",
          "[reliability][numerical]") {
  Tensor a = from({1.0, -1.0, 0.0}, {}, {.requires_grad = true});
  Tensor b = zeros({3}, {.requires_grad = true});
  Tensor y = a / b;
  CHECK(y.at(0) == std::numeric_limits<double>::infinity());
  CHECK(y.at(1) == -std::numeric_limits<double>::infinity());
  CHECK(std::isnan(y.at(2)));
  y.sum().backward();
  CHECK(a.grad().at(0) == std::numeric_limits<double>::infinity());  // 1/b
}

TEST_CASE("batch_norm in training mode refuses a batch of one example and works in eval mode",
          "[reliability][numerical]") {
  Tensor x = from({1.0, 2.0, 3.0}, {1, 3});
  Tensor g = ones({3}), b = zeros({3}), rm = from({1.0, 1.0, 1.0}), rv = from({4.0, 4.0, 4.0});
  CHECK_THAT(error_of([&] { batch_norm(x, g, b, rm, rv, true); }),
             Contains("batch_norm: training mode needs at least 2 rows") && Contains("[1, 3]"));
  Tensor y = batch_norm(x, g, b, rm, rv, false, 0.1, 1e-12);
  check_close(y, {0.0, 0.5, 1.0}, 1e-6);  // (x − 1) / √4
  // Two identical rows: the batch variance is 0 and eps keeps the result finite (all zeros).
  Tensor same = from({5.0, 5.0, 5.0, 5.0, 5.0, 5.0}, {2, 3}, {.requires_grad = true});
  Tensor z = batch_norm(same, g, b, Tensor(), Tensor(), true);
  check_close(z, {0, 0, 0, 0, 0, 0}, 1e-6);
  z.sum().backward();
  CHECK(all_finite(same.grad()));
}

TEST_CASE("BatchNorm1d in training mode refuses a batch of one example and works in eval mode",
          "[reliability][numerical]") {
  nn::BatchNorm1d norm(3);
  Tensor x = from({1.0, 2.0, 3.0}, {1, 3});
  CHECK_THAT(error_of([&] { norm(x); }),
             Contains("BatchNorm1d: training mode needs at least 2 rows") && Contains("[1, 3]") &&
                 Contains("eval()"));
  norm.eval();
  Tensor y = norm(x);  // running mean 0, running variance 1
  check_close(y, {1.0, 2.0, 3.0}, 1e-4);
  for (const Setting& s : settings()) {
    if (s.dtype != DType::float32) continue;
    CAPTURE(s.backend);
    BackendGuard guard(s.backend);
    nn::BatchNorm1d on_backend(3);
    CHECK_THAT(error_of([&] { on_backend(x); }), Contains("at least 2 rows"));
  }
}
