// Bad input to the core handles: Tensor creation and access, backward, the scalar Value, custom
// Functions and gradcheck. Each raises gradlab::Error naming the call and the shapes or values.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "autograd/function.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "autograd/tensor.hpp"
#include "autograd/value.hpp"
#include "reliability/expect_error.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;
using gradlab::testing::error_of;

namespace {

// A custom op whose backward returns one gradient for two inputs.
struct ForgetfulAdd : Function<ForgetfulAdd> {
  static constexpr const char* name = "forgetful_add";
  static Tensor forward(FunctionContext&, const Tensor& a, const Tensor& b) { return add(a, b); }
  static std::vector<Tensor> backward(FunctionContext&, const Tensor& upstream) {
    return {upstream};
  }
};

// A custom op whose backward returns a gradient of the wrong shape.
struct MisshapenSquare : Function<MisshapenSquare> {
  static constexpr const char* name = "misshapen_square";
  static Tensor forward(FunctionContext&, const Tensor& x) { return mul(x, x); }
  static std::vector<Tensor> backward(FunctionContext&, const Tensor&) { return {zeros({5})}; }
};

}  // namespace

TEST_CASE("tensor creation names the bad shape or count", "[reliability][tensor]") {
  CHECK_THAT(error_of([] { zeros({2, -1}); }), Contains("negative extent") && Contains("[2, -1]"));
  CHECK_THAT(error_of([] { Tensor::empty({-3}); }),
             Contains("negative extent") && Contains("[-3]"));
  CHECK_THAT(error_of([] {
               from({1, 2, 3}, {2, 2});
             }),
             Contains("from: 3 values do not fill shape [2, 2]"));
  CHECK_THAT(error_of([] { arange(-1); }), Contains("arange: n must be non-negative, got -1"));
}

// [2^32, 2^32] would wrap round to 0 elements and [2^31, 2^31] to a 0-byte buffer.
TEST_CASE("a shape whose size overflows 64 bits is an error naming the shape",
          "[reliability][tensor]") {
  CHECK_THAT(error_of([] {
               Tensor::empty({std::int64_t(1) << 32, std::int64_t(1) << 32});
             }),
             Contains("[4294967296, 4294967296]"));
  CHECK_THAT(error_of([] {
               Tensor::empty({std::int64_t(1) << 31, std::int64_t(1) << 31});
             }),
             Contains("[2147483648, 2147483648]"));
  CHECK(Tensor::empty({0, std::int64_t(1) << 62}).numel() == 0);  // a zero extent is fine
}

TEST_CASE("tensor access names the index axis or element count", "[reliability][tensor]") {
  Tensor x = zeros({2, 3});
  CHECK_THAT(error_of([&] { x.item(); }),
             Contains("item: expected a tensor with one element, got shape [2, 3]"));
  CHECK_THAT(error_of([&] { x.at(6); }), Contains("at: index 6 out of range for shape [2, 3]"));
  CHECK_THAT(error_of([&] { x.at(-1); }), Contains("at: index -1"));
  CHECK_THAT(error_of([&] { x.size(2); }), Contains("size: axis 2 out of range for shape [2, 3]"));
  CHECK_THAT(error_of([] { Tensor().shape(); }), Contains("undefined tensor"));
  CHECK_THAT(error_of([] { labels({1}).requires_grad_(); }), Contains("int64"));
}

TEST_CASE("backward names a missing or misshapen seed gradient", "[reliability][tensor]") {
  Tensor w = ones({2, 2}, {.requires_grad = true});
  Tensor y = w * 2.0;
  CHECK_THAT(error_of([&] { y.backward(); }),
             Contains("backward: without a gradient argument") && Contains("[2, 2]"));
  CHECK_THAT(error_of([&] { y.backward(ones({3})); }), Contains("backward: gradient of shape [3]"));
  CHECK_THAT(error_of([] { zeros({}).backward(); }),
             Contains("backward: this tensor does not require a gradient"));
  CHECK_THAT(error_of([&] { w.set_grad(zeros({4})); }), Contains("set_grad: gradient shape [4]"));
}

TEST_CASE("custom Functions name the op whose backward returned the wrong gradients",
          "[reliability][function]") {
  Tensor a = ones({2}, {.requires_grad = true});
  Tensor b = ones({2}, {.requires_grad = true});
  CHECK_THAT(error_of([&] { ForgetfulAdd::apply(a, b).sum().backward(); }),
             Contains("forgetful_add: backward returned 1 gradients for 2 tensor inputs"));
  // The engine catches the shape (the message does not name the custom op yet: see
  // docs/reliability.md, "Known gaps").
  CHECK_THAT(error_of([&] { MisshapenSquare::apply(a).sum().backward(); }),
             Contains("backward: gradient for input 0 has shape [5] but the input has shape [2]"));
}

namespace {

GradcheckOptions named(const std::string& name, double step = 1e-5) {
  GradcheckOptions options;
  options.name = name;
  options.step = step;
  return options;
}

}  // namespace

TEST_CASE("gradcheck names a function with nothing to check or no output",
          "[reliability][gradcheck]") {
  auto total = [](const std::vector<Tensor>& in) { return in[0].sum(); };
  CHECK_THAT(error_of([&] {
               gradcheck(total, {labels({1, 2})}, named("on_labels"));
             }),
             Contains("gradcheck on_labels: no float input to check"));
  CHECK_THAT(error_of([&] {
               gradcheck([](const std::vector<Tensor>&) { return Tensor(); }, {ones({2})},
                         named("no_output"));
             }),
             Contains("gradcheck no_output: the function returned an undefined tensor"));
}

// A NaN relative error compares false against every band; it must never read as a pass.
TEST_CASE("gradcheck refuses a step of 0 or NaN and never passes an infinite gradient",
          "[reliability][gradcheck]") {
  auto total = [](const std::vector<Tensor>& in) { return in[0].sum(); };
  CHECK_THAT(error_of([&] { gradcheck(total, {ones({2})}, named("zero_step", 0.0)); }),
             Contains("gradcheck zero_step: step must be finite and > 0"));
  CHECK_THAT(error_of([&] { gradcheck(total, {ones({2})}, named("nan_step", std::nan(""))); }),
             Contains("gradcheck nan_step: step must be finite and > 0"));
  // The same hole lets a NaN gradient pass: √ at 0 has an infinite analytic gradient.
  auto root = [](const std::vector<Tensor>& in) { return sqrt(in[0]).sum(); };
  CHECK_FALSE(gradcheck(root, {zeros({2})}, named("sqrt_at_0")).passed);
}

TEST_CASE("the scalar Value refuses what has no value and names the operands",
          "[reliability][value]") {
  Value zero(0.0), two(2.0), minus(-8.0);
  CHECK_THAT(error_of([&] { two / zero; }), Contains("Value /: division by zero (2 / 0)"));
  CHECK_THAT(error_of([&] { two / 0.0; }), Contains("Value /: division by zero"));
  CHECK_THAT(error_of([&] { log(zero); }), Contains("Value log: input 0 is not positive"));
  CHECK_THAT(error_of([&] { pow(minus, 1.0 / 3.0); }), Contains("Value pow") && Contains("-8"));
  CHECK_THAT(error_of([&] { pow(zero, 0.5); }),
             Contains("Value pow") && Contains("infinite at x = 0"));
}
