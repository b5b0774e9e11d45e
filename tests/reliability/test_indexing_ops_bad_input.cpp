// Bad input to the ops of issue 18 (slice, narrow, index_select, cat, stack, clamp, minimum, min,
// argmin, the comparisons, where, var, std): each raises gradlab::Error naming the op and what
// is wrong — the shapes, the axis, the index and the extent — as docs/reliability.md promises.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "autograd/tensor.hpp"
#include "reliability/expect_error.hpp"

// A named namespace around everything: a unity build compiles this file together with the
// folder's other tests, whose helpers may have the same names.
namespace indexing_ops_bad_input_tests {

using namespace gradlab;
using Catch::Matchers::Contains;
using gradlab::testing::error_of;

TEST_CASE("slice and narrow name the op, the axis and its extent", "[reliability][ops]") {
  const Tensor x = zeros({3, 5});
  CHECK_THAT(error_of([&] { slice(x, 2, 0, 1); }),
             Contains("slice") && Contains("axis 2") && Contains("[3, 5]"));
  CHECK_THAT(error_of([&] { slice(x, 1, 0, 4, 0); }), Contains("slice: step must be at least 1"));
  CHECK_THAT(error_of([&] { slice(x, 1, 0, 4, -1); }), Contains("got -1"));
  CHECK_THAT(error_of([&] { slice(Tensor(), 0, 0, 1); }),
             Contains("slice") && Contains("undefined"));
  CHECK_THAT(error_of([&] { narrow(x, 1, 3, 4); }), Contains("narrow: start 3 with length 4") &&
                                                        Contains("axis 1 of extent 5") &&
                                                        Contains("[3, 5]"));
  CHECK_THAT(error_of([&] { narrow(x, 0, -4, 1); }),
             Contains("narrow: start -4") && Contains("axis 0 of extent 3"));
  CHECK_THAT(error_of([&] { narrow(x, 0, 0, -1); }), Contains("length -1"));
}

TEST_CASE("index_select names the bad index, the axis and its extent", "[reliability][ops]") {
  const Tensor x = zeros({3, 5});
  CHECK_THAT(
      error_of([&] {
        index_select(x, 1, labels({0, 7}));
      }),
      Contains("index_select: index 7") && Contains("axis 1 of extent 5") && Contains("[3, 5]"));
  CHECK_THAT(error_of([&] { index_select(x, 0, labels({-1})); }),
             Contains("index -1") && Contains("axis 0 of extent 3"));
  CHECK_THAT(error_of([&] { index_select(x, 0, from({1.0}, {1})); }),
             Contains("index_select: indices must be an int64 tensor") && Contains("float32"));
  CHECK_THAT(error_of([&] {
               index_select(x, 0, labels({0, 1, 0, 1}).reshape({2, 2}));
             }),
             Contains("one dimension") && Contains("[2, 2]"));
  CHECK_THAT(error_of([&] { index_select(x, -3, labels({0})); }),
             Contains("index_select: axis -3 out of range"));
}

TEST_CASE("cat and stack name both shapes", "[reliability][ops]") {
  const Tensor a = zeros({2, 3}), b = zeros({2, 4}), c = zeros({2, 3, 1});
  CHECK_THAT(
      error_of([&] {
        cat({a, b}, 0);
      }),
      Contains("cat: tensor 1") && Contains("[2, 4]") && Contains("[2, 3]") && Contains("axis 0"));
  CHECK_THAT(error_of([&] { cat({a, c}, 1); }), Contains("[2, 3, 1]") && Contains("[2, 3]"));
  CHECK_THAT(error_of([&] {
               cat({a, zeros({2, 3}, {.dtype = DType::float64})}, 0);
             }),
             Contains("float64") && Contains("float32"));
  CHECK_THAT(error_of([&] { cat({}, 0); }), Contains("cat: expected at least one tensor"));
  CHECK_THAT(error_of([&] { cat({a, a}, 2); }), Contains("cat: axis 2 out of range"));
  CHECK_THAT(error_of([&] {
               stack({a, b});
             }),
             Contains("stack: tensor 1 has shape [2, 4], tensor 0 has shape [2, 3]"));
  CHECK_THAT(error_of([&] { stack({a, a}, 3); }), Contains("stack: axis 3 out of range"));
  CHECK_THAT(error_of([&] { stack({a, Tensor()}); }), Contains("stack") && Contains("undefined"));
}

TEST_CASE("clamp, minimum, comparisons and where refuse what they cannot compute",
          "[reliability][ops]") {
  const Tensor a = zeros({2, 3}), b = zeros({4});
  CHECK_THAT(error_of([&] { clamp(a, std::nullopt, std::nullopt); }),
             Contains("clamp: give at least one of min and max"));
  CHECK_THAT(error_of([&] { clamp(labels({1}), 0.0); }), Contains("clamp") && Contains("int64"));
  CHECK_THAT(error_of([&] { minimum(a, b); }),
             Contains("minimum") && Contains("[2, 3]") && Contains("[4]"));
  CHECK_THAT(error_of([&] { gt(a, b); }), Contains("gt") && Contains("[2, 3]") && Contains("[4]"));
  CHECK_THAT(error_of([&] { eq(a, zeros({3}, {.dtype = DType::float64})); }),
             Contains("eq: dtype mismatch"));
  CHECK_THAT(error_of([&] { lt(labels({1}), 0.0); }), Contains("lt") && Contains("int64"));
  CHECK_THAT(error_of([&] { where(zeros({3}), a, b); }),
             Contains("where") && Contains("[2, 3]") && Contains("[4]"));
  CHECK_THAT(error_of([&] { where(Tensor(), a, a); }), Contains("where: mask is an undefined"));
}

TEST_CASE("min, argmin, var and std refuse empty tensors and bad axes", "[reliability][ops]") {
  const Tensor x = zeros({2, 3});
  CHECK_THAT(error_of([&] { min(zeros({0})); }), Contains("min") && Contains("empty"));
  CHECK_THAT(error_of([&] { min(x, 2); }), Contains("min: axis 2 out of range for shape [2, 3]"));
  CHECK_THAT(error_of([&] { argmin(zeros({3})); }), Contains("argmin") && Contains("2-D"));
  CHECK_THAT(error_of([&] { var(zeros({0})); }), Contains("var") && Contains("empty"));
  CHECK_THAT(error_of([&] { var(x, -3); }), Contains("var: axis -3 out of range"));
  CHECK_THAT(error_of([&] { gradlab::std(labels({1, 2})); }), Contains("std") && Contains("int64"));
}

}  // namespace indexing_ops_bad_input_tests
