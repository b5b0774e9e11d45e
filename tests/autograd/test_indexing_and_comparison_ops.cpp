// The ops of issue 18 — slice, narrow, index_select, cat, stack, abs, clamp, minimum, min, argmin,
// comparisons, where, var, std — gradchecked in float64 on the reference backend at odd shapes,
// on every axis (negative ones too), with step > 1, repeated indices and ties; plus the shapes
// and conventions each one promises (tests/autograd/test_ops_vs_pytorch.cpp compares the numbers
// with PyTorch's).

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "backends/backend.hpp"

// A named namespace around everything: a unity build compiles this file together with the
// folder's other tests, whose helpers may have the same names.
namespace indexing_and_comparison_tests {

using namespace gradlab;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Tensor random64(const Shape& shape) {
  return (randn(shape, {.dtype = DType::float64})).requires_grad_(true);
}

Tensor values64(const std::vector<double>& values, const Shape& shape, bool grad = true) {
  return from(values, shape, {.dtype = DType::float64, .requires_grad = grad});
}

void require_gradcheck(const std::string& name, const GradcheckFunction& f,
                       const std::vector<Tensor>& inputs) {
  GradcheckOptions options;
  options.name = name;
  const GradcheckResult result = gradcheck(f, inputs, options);
  INFO(result.report());
  REQUIRE(result.passed);
}

}  // namespace

TEST_CASE("slice and narrow pass gradcheck on every axis, negative ones and steps > 1",
          "[slice][gradcheck]") {
  BackendGuard guard("reference");
  manual_seed(181);
  const Tensor x = random64({5, 7, 3});
  for (std::int64_t axis : {0, 1, 2, -1, -3}) {
    INFO("axis " << axis);
    require_gradcheck("slice 1:4", [axis](auto& in) { return slice(in[0], axis, 1, 4); }, {x});
    require_gradcheck(
        "slice ::2", [axis](auto& in) { return slice(in[0], axis, std::nullopt, std::nullopt, 2); },
        {x});
    require_gradcheck("slice -2:", [axis](auto& in) { return slice(in[0], axis, -2); }, {x});
    require_gradcheck("narrow", [axis](auto& in) { return narrow(in[0], axis, -2, 2); }, {x});
  }
  require_gradcheck("slice step 3 past the end",
                    [](auto& in) { return slice(in[0], 1, 1, 100, 3); }, {x});
  require_gradcheck(
      "slice of a slice",
      [](auto& in) { return slice(slice(in[0], 0, 1), 1, std::nullopt, -1, 2) * 2.0; }, {x});
}

TEST_CASE("slice follows Python: negative positions, clamped ends, empty results", "[slice]") {
  const Tensor x = arange(10);
  CHECK(slice(x, 0, 2, 5).to_vector() == std::vector<double>{2, 3, 4});
  CHECK(slice(x, 0, -3).to_vector() == std::vector<double>{7, 8, 9});
  CHECK(slice(x, 0, 7, 100).to_vector() == std::vector<double>{7, 8, 9});
  CHECK(slice(x, 0, -100, 2).to_vector() == std::vector<double>{0, 1});
  CHECK(slice(x, 0, std::nullopt, std::nullopt, 4).to_vector() == std::vector<double>{0, 4, 8});
  CHECK(slice(x, 0, 5, 2).shape() == Shape{0});
  CHECK(slice(x, 0, 20).shape() == Shape{0});
  CHECK(narrow(x, 0, -3, 2).to_vector() == std::vector<double>{7, 8});
  // A copy: writing into the slice leaves x alone.
  Tensor part = slice(x, 0, 0, 2);
  part.data<float>()[0] = 42.0f;
  CHECK(x.at(0) == 0.0);
}

TEST_CASE("index_select scatter-adds its gradient, repeated indices accumulating",
          "[index_select][gradcheck]") {
  BackendGuard guard("reference");
  manual_seed(182);
  const Tensor x = random64({4, 5, 3});
  require_gradcheck("rows 3 0 3 3",
                    [](auto& in) {
                      return index_select(in[0], 0, labels({3, 0, 3, 3}));
                    },
                    {x});
  require_gradcheck("axis -2 repeated",
                    [](auto& in) {
                      return index_select(in[0], -2, labels({4, 4, 1, 0, 4}));
                    },
                    {x});
  require_gradcheck("axis 2", [](auto& in) { return index_select(in[0], 2, labels({2, 0})); }, {x});

  Tensor v = values64({1, 2, 3}, {3});
  Tensor picked = index_select(v, 0, labels({2, 2, 0, 2}));
  CHECK(picked.to_vector() == std::vector<double>{3, 3, 1, 3});
  sum(picked).backward();
  CHECK(v.grad().to_vector() == std::vector<double>{1, 0, 3});
  // int64 tensors too: the labels of a batch.
  CHECK(index_select(labels({7, 8, 9}), 0, labels({2, 0})).to_vector() ==
        std::vector<double>{9, 7});
}

TEST_CASE("cat and stack pass gradcheck; each input gets its block of the gradient",
          "[cat][stack][gradcheck]") {
  BackendGuard guard("reference");
  manual_seed(183);
  const Tensor a = random64({2, 3}), b = random64({5, 3}), c = random64({2, 1});
  require_gradcheck("cat axis 0", [](auto& in) { return cat({in[0], in[1]}, 0); }, {a, b});
  require_gradcheck("cat axis -1", [](auto& in) { return cat({in[0], in[1], in[0]}, -1); }, {a, c});
  for (std::int64_t axis : {0, 1, 2, -1, -3}) {
    INFO("axis " << axis);
    require_gradcheck("stack",
                      [axis](auto& in) {
                        return stack({in[0], in[1], in[0]}, axis);
                      },
                      {a, random64({2, 3})});
  }
  CHECK(cat({a, b}, 0).shape() == Shape{7, 3});
  CHECK(stack({a, a, a, a}, 1).shape() == Shape{2, 4, 3});
  CHECK(stack({a, a}, -1).shape() == Shape{2, 3, 2});
  // A tensor given to cat twice gets both blocks.
  Tensor v = values64({1, 2}, {2});
  sum(cat({v, v * 3.0}, 0)).backward();
  CHECK(v.grad().to_vector() == std::vector<double>{4, 4});
  CHECK(cat({labels({1}), labels({2, 3})}, 0).to_vector() == std::vector<double>{1, 2, 3});
}

TEST_CASE("abs, clamp and minimum pass gradcheck, with PyTorch's values at 0 and at ties",
          "[abs][clamp][minimum][gradcheck]") {
  BackendGuard guard("reference");
  manual_seed(184);
  const Tensor x = random64({5, 7});
  require_gradcheck("abs", [](auto& in) { return abs(in[0]); }, {x});
  require_gradcheck("clamp both", [](auto& in) { return clamp(in[0], -0.5, 0.7); }, {x});
  require_gradcheck("clamp min", [](auto& in) { return clamp(in[0], 0.1); }, {x});
  require_gradcheck("clamp max", [](auto& in) { return clamp(in[0], std::nullopt, -0.2); }, {x});
  require_gradcheck("minimum broadcast", [](auto& in) { return minimum(in[0], in[1]); },
                    {random64({4, 1}), random64({3})});
  // Ties: the central difference of min(a, b) at a = b is exactly ½, the share each side gets.
  const Tensor a = values64({1, 2, -1, 0.5, 3, -2}, {6});
  const Tensor b = values64({1, 0, -1, 0.5, 4, -3}, {6});
  require_gradcheck("minimum with ties", [](auto& in) { return minimum(in[0], in[1]); }, {a, b});
  require_gradcheck("maximum with ties", [](auto& in) { return maximum(in[0], in[1]); }, {a, b});

  Tensor t = values64({0.0, -3.0, 2.0, kNaN}, {4});
  sum(abs(t)).backward();
  CHECK(t.grad().to_vector() == std::vector<double>{0, -1, 1, 0});
  Tensor c = values64({-1.0, 0.0, 0.5, 1.0, 2.0}, {5});
  sum(clamp(c, 0.0, 1.0)).backward();  // bounds included
  CHECK(c.grad().to_vector() == std::vector<double>{0, 1, 1, 1, 0});
  Tensor p = values64({1.0, 2.0}, {2}), q = values64({1.0, 1.0}, {2});
  sum(minimum(p, q)).backward();
  CHECK(p.grad().to_vector() == std::vector<double>{0.5, 0});
  CHECK(q.grad().to_vector() == std::vector<double>{0.5, 1});
}

TEST_CASE("min reduction and argmin mirror max and argmax", "[min][argmin][gradcheck]") {
  BackendGuard guard("reference");
  manual_seed(185);
  const Tensor x = random64({4, 6, 3});
  require_gradcheck("min", [](auto& in) { return min(in[0]); }, {x});
  for (std::int64_t axis : {0, 1, 2, -1}) {
    INFO("axis " << axis);
    require_gradcheck("min axis", [axis](auto& in) { return min(in[0], axis); }, {x});
    require_gradcheck("min axis keepdim", [axis](auto& in) { return min(in[0], axis, true); }, {x});
  }
  CHECK(min(x, 1, true).shape() == Shape{4, 1, 3});
  const Tensor m = from({3, 1, 1, 2, 5, kNaN, 0, kNaN}, {2, 4});
  CHECK(argmin(m).to_vector() == std::vector<double>{1, 1});
  CHECK(std::isnan(min(m).item()));
  CHECK(min(m, 1).at(0) == 1.0);
}

TEST_CASE("comparisons give 0/1 masks that carry no gradient; where routes the gradient",
          "[where][comparisons][gradcheck]") {
  BackendGuard guard("reference");
  manual_seed(186);
  const Tensor a = from({1, 2, 3, kNaN}, {4}), b = from({2, 2, 2, kNaN}, {4});
  CHECK(lt(a, b).to_vector() == std::vector<double>{1, 0, 0, 0});
  CHECK(le(a, b).to_vector() == std::vector<double>{1, 1, 0, 0});
  CHECK(gt(a, b).to_vector() == std::vector<double>{0, 0, 1, 0});
  CHECK(ge(a, 2.0).to_vector() == std::vector<double>{0, 1, 1, 0});
  CHECK(eq(a, b).to_vector() == std::vector<double>{0, 1, 0, 0});
  CHECK(ne(a, b).to_vector() == std::vector<double>{1, 0, 1, 1});
  CHECK(gt(zeros({3, 1}), zeros({4})).shape() == Shape{3, 4});
  Tensor needs = values64({1, 2}, {2});
  const Tensor mask = gt(needs, 1.5);
  CHECK_FALSE(mask.requires_grad());
  CHECK(mask.dtype() == DType::float64);

  const Tensor choice = gt(random64({3, 4}), 0.0);
  require_gradcheck("where broadcast", [choice](auto& in) { return where(choice, in[0], in[1]); },
                    {random64({3, 4}), random64({4})});
  require_gradcheck("where column mask",
                    [](auto& in) {
                      return where(labels({1, 0, 1}).reshape({3, 1}), in[0], in[1]);
                    },
                    {random64({3, 2}), random64({1, 2})});
}

TEST_CASE("var and std pass gradcheck, whole and per axis, biased and unbiased",
          "[var][std][gradcheck]") {
  BackendGuard guard("reference");
  manual_seed(187);
  const Tensor x = random64({5, 3, 4});
  for (bool unbiased : {true, false}) {
    INFO("unbiased " << unbiased);
    require_gradcheck("var", [unbiased](auto& in) { return var(in[0], unbiased); }, {x});
    require_gradcheck("std", [unbiased](auto& in) { return gradlab::std(in[0], unbiased); }, {x});
    for (std::int64_t axis : {0, 1, 2, -1}) {
      INFO("axis " << axis);
      require_gradcheck("var axis", [=](auto& in) { return var(in[0], axis, unbiased); }, {x});
      require_gradcheck("std axis keepdim",
                        [=](auto& in) { return gradlab::std(in[0], axis, unbiased, true); }, {x});
    }
  }
  const Tensor v = from({1, 2, 3, 4}, {4});
  CHECK(var(v).item() == Approx(5.0 / 3.0));
  CHECK(var(v, false).item() == Approx(1.25));
  CHECK(var(reshape(v, {2, 2}), 0).to_vector() == std::vector<double>{2, 2});
  CHECK(std::isnan(var(from({3}, {1})).item()));  // n − 1 = 0, as PyTorch
  Tensor constant = values64({2, 2, 2}, {3});
  gradlab::std(constant).backward();
  CHECK(constant.grad().to_vector() == std::vector<double>{0, 0, 0});  // not NaN
}

}  // namespace indexing_and_comparison_tests
