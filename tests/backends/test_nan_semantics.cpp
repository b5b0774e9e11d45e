// NaN and ±inf through max, maximum, relu and softmax follow PyTorch 1.13, identically on every
// backend and in any element order (issue 15, defect 6). The expected numbers were printed by
// PyTorch 1.13.1 (Debian's python3-torch), float64, and are written here as constants:
//   max(x) as torch.max(x, dim): the value NaN when any element is; the gradient to the first NaN
//   (else to the first largest element, gradlab's rule for ties);
//   maximum(a, b): NaN when either is; the gradient to both inputs when either is NaN;
//   relu(NaN) = NaN, relu′(NaN) = 1 (PyTorch passes the gradient unless x ≤ 0);
//   softmax: a row with a NaN or a +inf is NaN everywhere, values and gradients; −inf gives 0.
// Each case runs on every backend, at a small size (host loops) and padded past 4096 elements
// (the oneDNN backend's primitives).

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "autograd/tensor.hpp"
#include "backends/backend.hpp"

// A named namespace around everything: a unity build compiles this file together with the
// folder's other tests, whose helpers may have the same names.
namespace nan_semantics_tests {

using namespace gradlab;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Equal, with NaN equal to NaN and a tolerance for finite values (float32; oneDNN's log-softmax
// differs from float64 by about 2e-6).
bool same(double actual, double expected) {
  if (std::isnan(expected)) return std::isnan(actual);
  if (std::isinf(expected)) return actual == expected;
  return std::abs(actual - expected) <= 1e-5 * std::max(1.0, std::abs(expected));
}

void check_same(const std::vector<double>& actual, const std::vector<double>& expected,
                const std::string& what) {
  REQUIRE(actual.size() == expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    INFO(what << ": element " << i << " is " << actual[i] << ", PyTorch gives " << expected[i]);
    CHECK(same(actual[i], expected[i]));
  }
}

// The float32 tensor of `values` followed by `padding` copies of `fill` (shape [n]).
Tensor padded(const std::vector<double>& values, std::int64_t padding, double fill,
              bool requires_grad = true) {
  std::vector<double> all = values;
  all.insert(all.end(), static_cast<std::size_t>(padding), fill);
  return from(all, {static_cast<std::int64_t>(all.size())}, {.requires_grad = requires_grad});
}

std::vector<double> first(const Tensor& t, std::size_t n) {
  const std::vector<double> all = t.to_vector();
  return {all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n)};
}

// Sizes: below the oneDNN backend's 4096-element threshold, and above it.
const std::vector<std::int64_t> kPaddings = {0, 5000};

struct MaxCase {
  std::vector<double> x;
  double value;
  std::vector<double> gradient;
};

}  // namespace

TEST_CASE("max, maximum, relu and softmax treat NaN and inf as PyTorch 1.13 on every backend",
          "[nan]") {
  for (const std::string& name : available_backends()) {
    BackendGuard guard(name);
    for (const std::int64_t padding : kPaddings) {
      INFO("backend " << name << ", padded with " << padding << " elements");

      // max over all elements: torch.max(x, 0) (the padding, −1e30, never wins).
      const std::vector<MaxCase> max_cases = {
          {{kNaN, 1.0}, kNaN, {1.0, 0.0}},           {{1.0, kNaN}, kNaN, {0.0, 1.0}},
          {{1.0, 2.0, kNaN}, kNaN, {0.0, 0.0, 1.0}}, {{kNaN, kNaN}, kNaN, {1.0, 0.0}},
          {{kInf, kNaN}, kNaN, {0.0, 1.0}},          {{kNaN, kInf}, kNaN, {1.0, 0.0}},
          {{kInf, 1.0}, kInf, {1.0, 0.0}},           {{1.0, kInf}, kInf, {0.0, 1.0}},
          {{-kInf, 1.0}, 1.0, {0.0, 1.0}},
      };
      for (const MaxCase& c : max_cases) {
        Tensor x = padded(c.x, padding, -1e30);
        Tensor y = max(x);
        CHECK(same(y.item(), c.value));
        y.backward();
        check_same(first(x.grad(), c.x.size()), c.gradient, "max gradient");
      }

      // maximum(a, b) elementwise, with torch.maximum's gradients for both inputs.
      const std::vector<double> a_values = {kNaN, 0.0, kNaN, kInf, 0.0, -kInf, kInf, kNaN};
      const std::vector<double> b_values = {0.0, kNaN, kNaN, 0.0, kInf, 0.0, kNaN, -kInf};
      const std::vector<double> maximum_values = {kNaN, kNaN, kNaN, kInf, kInf, 0.0, kNaN, kNaN};
      const std::vector<double> a_gradient = {1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0};
      const std::vector<double> b_gradient = {1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0};
      Tensor a = padded(a_values, padding, 1.0), b = padded(b_values, padding, 2.0);
      Tensor m = maximum(a, b);
      check_same(first(m, a_values.size()), maximum_values, "maximum");
      sum(m).backward();
      check_same(first(a.grad(), a_values.size()), a_gradient, "maximum gradient of a");
      check_same(first(b.grad(), b_values.size()), b_gradient, "maximum gradient of b");

      // relu: NaN stays NaN and passes the gradient.
      const std::vector<double> relu_in = {kNaN, -1.0, 0.0, 1.0, kInf, -kInf};
      Tensor r = padded(relu_in, padding, 0.5);
      Tensor relu_out = relu(r);
      check_same(first(relu_out, relu_in.size()), {kNaN, 0.0, 0.0, 1.0, kInf, 0.0}, "relu");
      sum(relu_out).backward();
      check_same(first(r.grad(), relu_in.size()), {1.0, 0.0, 0.0, 1.0, 1.0, 0.0}, "relu gradient");
    }
  }
}

TEST_CASE("softmax rows with NaN or inf follow PyTorch 1.13 on every backend, in any order",
          "[nan]") {
  struct SoftmaxCase {
    std::vector<double> x, softmax, softmax_gradient, log_softmax, log_softmax_gradient;
  };
  // Gradients of Σ w ⊙ softmax(x) with w = (1, 2, 3), as PyTorch gives them.
  const std::vector<double> all_nan = {kNaN, kNaN, kNaN};
  const std::vector<SoftmaxCase> cases = {
      {{kNaN, 1.0, 2.0}, all_nan, all_nan, all_nan, all_nan},
      {{1.0, 2.0, kNaN}, all_nan, all_nan, all_nan, all_nan},
      {{kInf, 1.0, 2.0}, all_nan, all_nan, all_nan, all_nan},
      {{1.0, kInf, 2.0}, all_nan, all_nan, all_nan, all_nan},
      {{kInf, kInf, 1.0}, all_nan, all_nan, all_nan, all_nan},
      {{-kInf, -kInf, -kInf}, all_nan, all_nan, all_nan, all_nan},
      {{1.0, kNaN, kInf}, all_nan, all_nan, all_nan, all_nan},
      {{-kInf, 1.0, 2.0},
       {0.0, 0.26894142136999516, 0.7310585786300049},
       {0.0, -0.19661193324148196, 0.1966119332414816},
       {-kInf, -1.3132616875182228, -0.31326168751822286},
       {1.0, 0.3863514717800294, -1.3863514717800294}},
  };
  for (const std::string& name : available_backends()) {
    BackendGuard guard(name);
    // One row of 3, then the same row among 2000 finite rows (6003 elements: oneDNN's primitive).
    for (const std::int64_t extra_rows : {std::int64_t{0}, std::int64_t{2000}}) {
      for (const SoftmaxCase& c : cases) {
        INFO("backend " << name << ", " << extra_rows << " extra rows, x = " << c.x[0] << " "
                        << c.x[1] << " " << c.x[2]);
        for (const bool log : {false, true}) {
          std::vector<double> values = c.x;
          std::vector<double> weights = {1.0, 2.0, 3.0};
          for (std::int64_t r = 0; r < extra_rows; ++r) {
            values.insert(values.end(), {0.5, -0.25, 1.0});
            weights.insert(weights.end(), {1.0, 2.0, 3.0});
          }
          const std::int64_t rows = 1 + extra_rows;
          Tensor x = from(values, {rows, 3}, {.requires_grad = true});
          Tensor y = log ? log_softmax(x) : softmax(x);
          check_same(first(y, 3), log ? c.log_softmax : c.softmax, log ? "log_softmax" : "softmax");
          sum(y * from(weights, {rows, 3})).backward();
          check_same(first(x.grad(), 3), log ? c.log_softmax_gradient : c.softmax_gradient,
                     log ? "log_softmax gradient" : "softmax gradient");
        }
      }
    }
  }
}

}  // namespace nan_semantics_tests
