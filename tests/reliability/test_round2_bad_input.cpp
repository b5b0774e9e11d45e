// Issue 15, item 13: the small defects of the second adversarial pass, each refused with a message
// naming the value, the dtypes or the op: reshape sizes that overflow, int64 conversion of values
// that have no int64, gradients of the wrong dtype (set_grad, custom backward), errors inside a
// custom backward, and non-leaf tensors given to an optimiser.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "autograd/function.hpp"
#include "autograd/ops.hpp"
#include "autograd/tensor.hpp"
#include "modules/optim/optim.hpp"
#include "reliability/expect_error.hpp"

// A named namespace around everything: a unity build compiles this file together with the
// folder's other tests, whose helpers may have the same names.
namespace round2_bad_input_tests {

using namespace gradlab;
using Catch::Matchers::Contains;
using gradlab::testing::error_of;
using gradlab::testing::inf_value;
using gradlab::testing::nan_value;

namespace {

constexpr std::int64_t two_to_62 = std::int64_t{1} << 62;

// A custom op whose backward returns a float64 gradient for a float32 input.
struct WrongDtype : Function<WrongDtype> {
  static constexpr const char* name = "wrong_dtype";
  static Tensor forward(FunctionContext&, const Tensor& x) { return x * 2.0; }
  static std::vector<Tensor> backward(FunctionContext&, const Tensor& upstream) {
    return {upstream.to(DType::float64)};
  }
};

// A custom op whose backward computes with an undefined tensor (a forgotten save).
struct ForgotToSave : Function<ForgotToSave> {
  static constexpr const char* name = "forgot_to_save";
  static Tensor forward(FunctionContext&, const Tensor& x) { return mul(x, x); }
  static std::vector<Tensor> backward(FunctionContext&, const Tensor& upstream) {
    const Tensor never_saved;
    return {mul(upstream, never_saved)};
  }
};

}  // namespace

TEST_CASE("reshape refuses a target whose size overflows, and counts a zero extent as zero",
          "[reliability][tensor]") {
  // [2^62, 4] has 2^64 elements, which wrapped round to 0 and matched an empty tensor.
  CHECK_THAT(error_of([] {
               reshape(zeros({0}), {two_to_62, 4});
             }),
             Contains("reshape") && Contains("[4611686018427387904, 4]") &&
                 Contains("more than 2^63 - 1 elements"));
  CHECK_THAT(error_of([] { reshape(zeros({0}), {two_to_62, -1, 4}); }), Contains("reshape"));
  // With a zero extent the product is 0 whatever the others are (no signed overflow on the way).
  const Tensor empty = reshape(zeros({0}), {two_to_62, two_to_62, 0});
  CHECK(empty.numel() == 0);
  CHECK(empty.shape() == Shape{two_to_62, two_to_62, 0});
  CHECK_THAT(error_of([] {
               shape_numel(Shape{two_to_62, 4});
             }),
             Contains("[4611686018427387904, 4]"));
  CHECK(shape_numel(Shape{two_to_62, two_to_62, 0}) == 0);
}

TEST_CASE("to(int64) refuses NaN, infinity and values beyond 2^63, naming value and index",
          "[reliability][tensor]") {
  CHECK_THAT(error_of([] {
               from({1.0, nan_value}).to(DType::int64);
             }),
             Contains("to(int64): element 1") && Contains("nan"));
  CHECK_THAT(error_of([] {
               from({2.0, 3.0, 1e30}, {3}, {.dtype = DType::float64}).to(DType::int64);
             }),
             Contains("element 2") && Contains("1e+30"));
  CHECK_THAT(error_of([] { from({-inf_value}).to(DType::int64); }), Contains("-inf"));
  const Tensor fine = from({-3.0, 9.0e18}, {2}, {.dtype = DType::float64}).to(DType::int64);
  CHECK(fine.data<std::int64_t>()[0] == -3);
  CHECK(fine.data<std::int64_t>()[1] == 9'000'000'000'000'000'000);
}

TEST_CASE("set_grad refuses a gradient of another dtype", "[reliability][tensor]") {
  Tensor x = zeros({2}).requires_grad_();
  CHECK_THAT(error_of([&] { x.set_grad(zeros({2}, {.dtype = DType::float64})); }),
             Contains("set_grad") && Contains("float64") && Contains("float32"));
  x.set_grad(ones({2}));
  CHECK(x.grad().dtype() == DType::float32);
}

TEST_CASE("a custom backward of the wrong dtype, or failing inside, is named by its op",
          "[reliability][function]") {
  Tensor x = ones({3}).requires_grad_();
  CHECK_THAT(error_of([&] { sum(WrongDtype::apply(x)).backward(); }),
             Contains("wrong_dtype backward") && Contains("float64") && Contains("float32"));
  Tensor y = ones({3}).requires_grad_();
  CHECK_THAT(error_of([&] { sum(ForgotToSave::apply(y)).backward(); }),
             Contains("forgot_to_save backward") && Contains("undefined"));
}

TEST_CASE("an optimiser refuses a parameter that is not a leaf", "[reliability][optim]") {
  Tensor w = ones({2, 2}).requires_grad_();
  const Tensor doubled = w * 2.0;  // the result of an op: backward never gives it a .grad
  CHECK_THAT(error_of([&] {
               optim::SGD({w, doubled}, {.lr = 0.1});
             }),
             Contains("parameter 1") && Contains("[2, 2]") && Contains("not a leaf"));
  CHECK_NOTHROW(optim::SGD({w}, {.lr = 0.1}));
}

}  // namespace round2_bad_input_tests
