// Specification of the reference backend, kernel by kernel: small examples whose results are
// computed by hand in the comments, each in float32 and float64. The tests call the kernels
// directly (plain std::vector buffers + View/ConstView), without the Tensor core.
#include <algorithm>
#include <bit>
#include <limits>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "backends/random.hpp"
#include "backends/reference/bfloat16.hpp"
#include "backends/reference/reference_backend.hpp"

using gradlab::BinaryOp;
using gradlab::ConstView;
using gradlab::DType;
using gradlab::ReduceOp;
using gradlab::Shape;
using gradlab::UnaryOp;
using gradlab::View;

// A named namespace around helpers and test cases alike: test_onednn_vs_reference.cpp has its own
// Buffer, and a unity build compiles both files as one.
namespace reference_kernel_tests {

template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return DType::float32;
  else if constexpr (std::is_same_v<T, double>)
    return DType::float64;
  else
    return DType::int64;
}

/// A buffer with a shape: owns its numbers and hands out views of them.
template <class T>
struct Buffer {
  Shape shape;
  std::vector<T> data;

  Buffer(Shape extents, std::vector<T> values)
      : shape(std::move(extents)), data(std::move(values)) {
    REQUIRE(static_cast<std::int64_t>(data.size()) == gradlab::shape_numel(shape));
  }
  /// Zeros of the given shape.
  explicit Buffer(Shape extents)
      : shape(std::move(extents)), data(static_cast<std::size_t>(gradlab::shape_numel(shape))) {}

  View view() { return View{data.data(), shape, dtype_of<T>()}; }
  ConstView cview() const { return ConstView{data.data(), shape, dtype_of<T>()}; }
  operator View() { return view(); }
  operator ConstView() const { return cview(); }
  T operator[](std::size_t i) const { return data[i]; }
};

using Labels = Buffer<std::int64_t>;

/// Relative tolerance of a comparison in the precision of T.
template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

/// Checks every element of `actual` against `expected`, in the precision of T.
template <class T>
void check_values(const Buffer<T>& actual, const std::vector<double>& expected) {
  REQUIRE(actual.data.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(static_cast<double>(actual.data[i]) ==
          Approx(expected[i]).epsilon(tolerance<T>()).margin(tolerance<T>()));
  }
}

template <class T>
Buffer<T> make(Shape shape, std::vector<double> values) {
  return Buffer<T>(std::move(shape), std::vector<T>(values.begin(), values.end()));
}

std::unique_ptr<gradlab::Backend> reference() { return gradlab::make_reference_backend(); }

// --- identity --------------------------------------------------------------------------------

TEST_CASE("the reference backend names itself and computes in float32 and float64") {
  auto backend = reference();
  CHECK(backend->name() == "reference");
  CHECK(backend->description().find("xtensor 0.24") != std::string::npos);
  CHECK(backend->description().find("OpenBLAS") != std::string::npos);
  CHECK(backend->supports(DType::float32));
  CHECK(backend->supports(DType::float64));
  CHECK_FALSE(backend->supports(DType::int64));
}

TEST_CASE("a float kernel given int64 data raises an error naming the kernel") {
  auto backend = reference();
  Labels x({2}, {1, 2});
  Labels y({2});
  CHECK_THROWS_WITH(backend->unary(UnaryOp::tanh, x, y, 0),
                    Catch::Contains("unary(tanh)") && Catch::Contains("int64"));
}

// --- filling and copying ---------------------------------------------------------------------

TEMPLATE_TEST_CASE("fill and arange write constants and ramps", "", float, double) {
  auto backend = reference();
  Buffer<TestType> out({2, 2});
  backend->fill(out, 2.5);
  check_values(out, {2.5, 2.5, 2.5, 2.5});
  backend->arange(out, 1.0, 0.5);  // 1, 1.5, 2, 2.5
  check_values(out, {1.0, 1.5, 2.0, 2.5});
}

TEMPLATE_TEST_CASE("convert rounds floats to int64 labels and back", "", float, double) {
  auto backend = reference();
  auto x = make<TestType>({3}, {0.0, 1.0, 2.0});
  Labels labels({3});
  backend->convert(x, labels);
  CHECK(labels.data == std::vector<std::int64_t>{0, 1, 2});
  Buffer<double> wide({3});
  backend->convert(x, wide);
  check_values(wide, {0.0, 1.0, 2.0});
}

TEMPLATE_TEST_CASE("broadcast_to repeats the dimensions of size 1", "", float, double) {
  auto backend = reference();
  auto x = make<TestType>({2, 1}, {1, 2});
  Buffer<TestType> out({2, 2, 3});  // [2, 1] right-aligned against [2, 2, 3]: rows repeat
  backend->broadcast_to(x, out);
  check_values(out, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2});

  Buffer<TestType> rows({2, 3});  // [3] → [2, 3]: copies of the row
  auto vector = make<TestType>({3}, {7, 8, 9});
  backend->broadcast_to(vector, rows);
  check_values(rows, {7, 8, 9, 7, 8, 9});

  Buffer<TestType> bad({3, 3});
  CHECK_THROWS_WITH(backend->broadcast_to(x, bad),
                    Catch::Contains("[2, 1]") && Catch::Contains("[3, 3]"));
}

TEMPLATE_TEST_CASE("transpose2d swaps rows and columns", "", float, double) {
  auto backend = reference();
  auto x = make<TestType>({2, 3}, {1, 2, 3, 4, 5, 6});
  Buffer<TestType> out({3, 2});
  backend->transpose2d(x, out);
  check_values(out, {1, 4, 2, 5, 3, 6});
}

TEMPLATE_TEST_CASE("axpby computes a·x + b·y in place", "", float, double) {
  auto backend = reference();
  auto x = make<TestType>({3}, {1, 2, 3});
  auto y = make<TestType>({3}, {10, 20, 30});
  backend->axpby(2.0, x, 0.5, y);  // 2·1 + 0.5·10 = 7, 4 + 10 = 14, 6 + 15 = 21
  check_values(y, {7, 14, 21});
  backend->axpby(1.0, x, 1.0, y);  // gradient accumulation
  check_values(y, {8, 16, 24});
  auto nan = make<TestType>({3}, {NAN, NAN, NAN});
  backend->axpby(1.0, x, 0.0, nan);  // b = 0 overwrites, as in BLAS
  check_values(nan, {1, 2, 3});
}

// --- the generator ---------------------------------------------------------------------------

TEST_CASE("the generator: element i depends only on (seed, i)") {
  CHECK(gradlab::random::random_bits(7, 3) == gradlab::random::random_bits(7, 3));
  CHECK(gradlab::random::random_bits(7, 3) != gradlab::random::random_bits(8, 3));
  CHECK(gradlab::random::random_bits(7, 3) != gradlab::random::random_bits(7, 4));

  auto backend = reference();
  Buffer<float> small({5});
  Buffer<float> large({1000});
  backend->random_normal(small, 0.0, 1.0, 42);
  backend->random_normal(large, 0.0, 1.0, 42);
  // A prefix of a longer draw is the shorter draw: no hidden sequential state.
  CHECK(std::equal(small.data.begin(), small.data.end(), large.data.begin()));
  // float64 draws the same numbers, rounded once to float32.
  Buffer<double> wide({5});
  backend->random_normal(wide, 0.0, 1.0, 42);
  for (std::size_t i = 0; i < 5; ++i) CHECK(static_cast<float>(wide[i]) == small[i]);
  // Another seed, other numbers.
  Buffer<float> other({5});
  backend->random_normal(other, 0.0, 1.0, 43);
  CHECK(other.data != small.data);
}

TEMPLATE_TEST_CASE("random_normal of 100k draws has the requested mean and std", "", float,
                   double) {
  auto backend = reference();
  Buffer<TestType> out({100000});
  backend->random_normal(out, 3.0, 2.0, 2024);
  double sum = 0, sum_of_squares = 0;
  for (TestType value : out.data) sum += value;
  const double mean = sum / 100000;
  for (TestType value : out.data) sum_of_squares += (value - mean) * (value - mean);
  const double std = std::sqrt(sum_of_squares / 100000);
  // The standard error of the mean is 2/√100000 ≈ 0.0063; allow about 3 of them.
  CHECK(mean == Approx(3.0).margin(0.02));
  CHECK(std == Approx(2.0).margin(0.02));
}

TEMPLATE_TEST_CASE("random_uniform stays in (low, high) with mean (low + high)/2", "", float,
                   double) {
  auto backend = reference();
  Buffer<TestType> out({100000});
  backend->random_uniform(out, -1.0, 3.0, 5);
  const auto [smallest, largest] = std::minmax_element(out.data.begin(), out.data.end());
  CHECK(*smallest >= -1.0);
  CHECK(*largest < 3.0);
  CHECK(*largest > 2.99);
  const double mean = std::accumulate(out.data.begin(), out.data.end(), 0.0) / 100000;
  CHECK(mean == Approx(1.0).margin(0.02));  // std of the mean: (4/√12)/√100000 ≈ 0.0037
  CHECK_THROWS_WITH(backend->random_uniform(out, 1.0, 1.0, 5), Catch::Contains("low < high"));
}

TEMPLATE_TEST_CASE("dropout_mask keeps 1 − p of the elements, scaled so that the mean is 1", "",
                   float, double) {
  auto backend = reference();
  Buffer<TestType> mask({100000});
  backend->dropout_mask(mask, 0.3, 11);
  const auto kept =
      std::count_if(mask.data.begin(), mask.data.end(), [](TestType value) { return value != 0; });
  CHECK(kept / 100000.0 == Approx(0.7).margin(0.005));
  for (TestType value : mask.data) {
    if (value != 0) REQUIRE(value == Approx(1 / 0.7));
  }
  const double mean = std::accumulate(mask.data.begin(), mask.data.end(), 0.0) / 100000;
  CHECK(mean == Approx(1.0).margin(0.01));
  // Same stream as random_uniform: kept exactly where u ≥ p.
  Buffer<TestType> uniform({100000});
  backend->random_uniform(uniform, 0.0, 1.0, 11);
  for (std::size_t i = 0; i < 1000; ++i) CHECK((mask[i] != 0) == (uniform[i] >= TestType(0.3)));
  CHECK_THROWS_WITH(backend->dropout_mask(mask, 1.0, 11), Catch::Contains("[0, 1)"));
}

// --- elementwise -----------------------------------------------------------------------------

TEMPLATE_TEST_CASE("unary computes each function of the list", "", float, double) {
  auto backend = reference();
  auto x = make<TestType>({4}, {-2.0, -0.5, 0.5, 2.0});
  auto positive = make<TestType>({3}, {0.25, 1.0, 4.0});
  Buffer<TestType> y({4});
  Buffer<TestType> z({3});
  const double e = std::exp(1.0);

  backend->unary(UnaryOp::neg, x, y, 0);
  check_values(y, {2.0, 0.5, -0.5, -2.0});
  backend->unary(UnaryOp::exp, x, y, 0);
  check_values(y, {std::exp(-2.0), std::exp(-0.5), std::exp(0.5), std::exp(2.0)});
  backend->unary(UnaryOp::log, positive, z, 0);
  check_values(z, {std::log(0.25), 0.0, std::log(4.0)});
  backend->unary(UnaryOp::sqrt, positive, z, 0);
  check_values(z, {0.5, 1.0, 2.0});
  backend->unary(UnaryOp::pow, positive, z, 3.0);
  check_values(z, {0.015625, 1.0, 64.0});
  backend->unary(UnaryOp::scale, x, y, 3.0);
  check_values(y, {-6.0, -1.5, 1.5, 6.0});
  backend->unary(UnaryOp::shift, x, y, 1.0);
  check_values(y, {-1.0, 0.5, 1.5, 3.0});
  backend->unary(UnaryOp::sigmoid, x, y, 0);  // σ(2) = 1/(1 + e⁻²) ≈ 0.880797
  check_values(y, {1 / (1 + e * e), 1 / (1 + std::sqrt(e)), 1 / (1 + 1 / std::sqrt(e)),
                   1 / (1 + 1 / (e * e))});
  backend->unary(UnaryOp::tanh, x, y, 0);
  check_values(y, {std::tanh(-2.0), std::tanh(-0.5), std::tanh(0.5), std::tanh(2.0)});
  backend->unary(UnaryOp::relu, x, y, 0);
  check_values(y, {0.0, 0.0, 0.5, 2.0});
  backend->unary(UnaryOp::leaky_relu, x, y, 0.1);
  check_values(y, {-0.2, -0.05, 0.5, 2.0});
  backend->unary(UnaryOp::elu, x, y, 1.0);  // e⁻² − 1 ≈ −0.864665
  check_values(y, {std::exp(-2.0) - 1, std::exp(-0.5) - 1, 0.5, 2.0});
}

TEMPLATE_TEST_CASE("sigmoid saturates to 0 and 1 without NaN at ±1000", "", float, double) {
  auto backend = reference();
  auto x = make<TestType>({2}, {-1000.0, 1000.0});
  Buffer<TestType> y({2});
  backend->unary(UnaryOp::sigmoid, x, y, 0);
  check_values(y, {0.0, 1.0});
}

TEMPLATE_TEST_CASE("unary_backward multiplies dy by each local derivative", "", float, double) {
  auto backend = reference();
  auto x = make<TestType>({3}, {-1.0, 0.5, 2.0});
  auto dy = make<TestType>({3}, {1.0, 2.0, 3.0});
  Buffer<TestType> y({3});
  Buffer<TestType> dx({3});
  auto forward_backward = [&](UnaryOp op, double alpha) {
    backend->unary(op, x, y, alpha);
    backend->unary_backward(op, x, y, dy, dx, alpha);
  };
  forward_backward(UnaryOp::neg, 0);
  check_values(dx, {-1.0, -2.0, -3.0});
  forward_backward(UnaryOp::exp, 0);  // dx = dy · eˣ
  check_values(dx, {std::exp(-1.0), 2 * std::exp(0.5), 3 * std::exp(2.0)});
  forward_backward(UnaryOp::scale, 4.0);
  check_values(dx, {4.0, 8.0, 12.0});
  forward_backward(UnaryOp::shift, 4.0);
  check_values(dx, {1.0, 2.0, 3.0});
  forward_backward(UnaryOp::sigmoid, 0);  // σ′(x) = σ(x)(1 − σ(x))
  {
    std::vector<double> expected;
    for (int i = 0; i < 3; ++i) {
      const double s = 1 / (1 + std::exp(-static_cast<double>(x[i])));
      expected.push_back(dy[i] * s * (1 - s));
    }
    check_values(dx, expected);
  }
  forward_backward(UnaryOp::tanh, 0);  // tanh′ = 1 − tanh²
  check_values(dx, {1 - std::pow(std::tanh(-1.0), 2), 2 * (1 - std::pow(std::tanh(0.5), 2)),
                    3 * (1 - std::pow(std::tanh(2.0), 2))});
  forward_backward(UnaryOp::relu, 0);
  check_values(dx, {0.0, 2.0, 3.0});
  forward_backward(UnaryOp::leaky_relu, 0.01);
  check_values(dx, {0.01, 2.0, 3.0});
  forward_backward(UnaryOp::elu, 0.5);  // x ≤ 0: α eˣ
  check_values(dx, {0.5 * std::exp(-1.0), 2.0, 3.0});

  auto positive = make<TestType>({3}, {0.25, 1.0, 4.0});
  auto positive_forward_backward = [&](UnaryOp op, double alpha) {
    backend->unary(op, positive, y, alpha);
    backend->unary_backward(op, positive, y, dy, dx, alpha);
  };
  positive_forward_backward(UnaryOp::log, 0);  // 1/x
  check_values(dx, {4.0, 2.0, 0.75});
  positive_forward_backward(UnaryOp::sqrt, 0);  // 1/(2√x)
  check_values(dx, {1.0, 1.0, 0.75});
  positive_forward_backward(UnaryOp::pow, 2.0);  // 2x
  check_values(dx, {0.5, 4.0, 24.0});
}

TEMPLATE_TEST_CASE("binary applies each op to same-shape operands", "", float, double) {
  auto backend = reference();
  auto a = make<TestType>({2, 2}, {1, -2, 3, 8});
  auto b = make<TestType>({2, 2}, {2, 4, -1, 2});
  Buffer<TestType> y({2, 2});
  backend->binary(BinaryOp::add, a, b, y);
  check_values(y, {3, 2, 2, 10});
  backend->binary(BinaryOp::sub, a, b, y);
  check_values(y, {-1, -6, 4, 6});
  backend->binary(BinaryOp::mul, a, b, y);
  check_values(y, {2, -8, -3, 16});
  backend->binary(BinaryOp::div, a, b, y);
  check_values(y, {0.5, -0.5, -3, 4});
  backend->binary(BinaryOp::maximum, a, b, y);
  check_values(y, {2, 4, 3, 8});
}

TEMPLATE_TEST_CASE("binary broadcasts (2, 1, 3) + (4, 1) to (2, 4, 3)", "", float, double) {
  auto backend = reference();
  auto a = make<TestType>({2, 1, 3}, {1, 2, 3, 4, 5, 6});
  auto b = make<TestType>({4, 1}, {10, 20, 30, 40});
  Buffer<TestType> y({2, 4, 3});
  backend->binary(BinaryOp::add, a, b, y);
  // y[i, j, k] = a[i, 0, k] + b[j, 0]
  check_values(y, {11, 12, 13, 21, 22, 23, 31, 32, 33, 41, 42, 43,
                   14, 15, 16, 24, 25, 26, 34, 35, 36, 44, 45, 46});
  Buffer<TestType> wrong({2, 4, 4});
  CHECK_THROWS_WITH(backend->binary(BinaryOp::add, a, b, wrong), Catch::Contains("[2, 4, 3]"));
  auto c = make<TestType>({2}, {1, 2});
  CHECK_THROWS_WITH(backend->binary(BinaryOp::add, a, c, y),
                    Catch::Contains("[2, 1, 3]") && Catch::Contains("[2]") &&
                        Catch::Contains("do not broadcast"));
}

TEMPLATE_TEST_CASE("binary broadcasts rows, columns and scalars", "", float, double) {
  auto backend = reference();
  auto matrix = make<TestType>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto vector = make<TestType>({3}, {10, 20, 30});
  auto column = make<TestType>({2, 1}, {100, 200});
  auto scalar = make<TestType>({}, {2});
  Buffer<TestType> y({2, 3});
  backend->binary(BinaryOp::sub, matrix, vector, y);  // [N, C] ∘ [C]
  check_values(y, {-9, -18, -27, -6, -15, -24});
  backend->binary(BinaryOp::sub, vector, matrix, y);  // [C] ∘ [N, C]
  check_values(y, {9, 18, 27, 6, 15, 24});
  backend->binary(BinaryOp::div, matrix, column, y);  // [N, C] ∘ [N, 1]
  check_values(y, {0.01, 0.02, 0.03, 0.02, 0.025, 0.03});
  backend->binary(BinaryOp::sub, column, matrix, y);  // [N, 1] ∘ [N, C]
  check_values(y, {99, 98, 97, 196, 195, 194});
  backend->binary(BinaryOp::div, scalar, matrix, y);  // [] ∘ [N, C]
  check_values(y, {2, 1, 2.0 / 3, 0.5, 0.4, 1.0 / 3});
  backend->binary(BinaryOp::maximum, matrix, scalar, y);
  check_values(y, {2, 2, 3, 4, 5, 6});
  Buffer<TestType> outer({2, 3});
  auto row = make<TestType>({1, 3}, {1, 2, 3});
  backend->binary(BinaryOp::mul, column, row, outer);  // [2, 1] ∘ [1, 3]: an outer product
  check_values(outer, {100, 200, 300, 200, 400, 600});
}

TEMPLATE_TEST_CASE("binary is correct for a rank-8 broadcast", "", float, double) {
  auto backend = reference();
  // a [2, 1, 1, 1, 1, 1, 1, 2] + b [2, 1]: y [2, 1, 1, 1, 1, 1, 2, 2]
  auto a = make<TestType>({2, 1, 1, 1, 1, 1, 1, 2}, {1, 2, 3, 4});
  auto b = make<TestType>({2, 1}, {10, 20});
  Buffer<TestType> y({2, 1, 1, 1, 1, 1, 2, 2});
  backend->binary(BinaryOp::add, a, b, y);
  check_values(y, {11, 12, 21, 22, 13, 14, 23, 24});
}

// --- reductions ------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("reduce sums, averages and maxes over the axes where y has extent 1", "", float,
                   double) {
  auto backend = reference();
  auto x = make<TestType>({2, 3}, {1, 5, 3, 4, 2, 6});
  Buffer<TestType> columns({1, 3});
  Buffer<TestType> rows({2, 1});
  Buffer<TestType> all({1, 1});
  backend->reduce(ReduceOp::sum, x, columns);
  check_values(columns, {5, 7, 9});
  backend->reduce(ReduceOp::mean, x, rows);
  check_values(rows, {3, 4});
  backend->reduce(ReduceOp::max, x, rows);
  check_values(rows, {5, 6});
  backend->reduce(ReduceOp::max, x, columns);
  check_values(columns, {4, 5, 6});
  backend->reduce(ReduceOp::mean, x, all);
  check_values(all, {3.5});
  Buffer<TestType> same({2, 3});  // no axis to reduce: a copy
  backend->reduce(ReduceOp::sum, x, same);
  check_values(same, {1, 5, 3, 4, 2, 6});
  Buffer<TestType> wrong({3});
  CHECK_THROWS_WITH(backend->reduce(ReduceOp::sum, x, wrong),
                    Catch::Contains("[2, 3]") && Catch::Contains("[3]"));
}

TEMPLATE_TEST_CASE("reduce over interleaved axes of a rank-3 tensor", "", float, double) {
  auto backend = reference();
  auto x = make<TestType>({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  Buffer<TestType> y({2, 1, 2});
  backend->reduce(ReduceOp::sum, x, y);
  check_values(y, {4, 6, 12, 14});
  backend->reduce(ReduceOp::mean, x, y);
  check_values(y, {2, 3, 6, 7});
  backend->reduce(ReduceOp::max, x, y);
  check_values(y, {3, 4, 7, 8});
  Buffer<TestType> outer({1, 2, 1});  // the first and last axes: [1+2+5+6, 3+4+7+8]
  backend->reduce(ReduceOp::sum, x, outer);
  check_values(outer, {14, 22});
}

TEMPLATE_TEST_CASE("reduce_max_backward routes dy to the first maximum of each group", "", float,
                   double) {
  auto backend = reference();
  auto x = make<TestType>({2, 3}, {1, 7, 7, 9, 2, 9});  // ties in both rows
  Buffer<TestType> y({2, 1});
  backend->reduce(ReduceOp::max, x, y);
  auto dy = make<TestType>({2, 1}, {10, 20});
  Buffer<TestType> dx({2, 3});
  backend->reduce_max_backward(x, y, dy, dx);
  check_values(dx, {0, 10, 0, 20, 0, 0});

  Buffer<TestType> column_max({1, 3});
  backend->reduce(ReduceOp::max, x, column_max);  // 9, 7, 9
  auto column_dy = make<TestType>({1, 3}, {1, 2, 3});
  backend->reduce_max_backward(x, column_max, column_dy, dx);
  check_values(dx, {0, 2, 0, 1, 0, 3});
}

TEMPLATE_TEST_CASE("argmax picks the first largest score of each row", "", float, double) {
  auto backend = reference();
  auto x = make<TestType>({3, 3}, {0.1, 0.7, 0.2, 5, 5, 1, -3, -2, -1});
  Labels winners({3});
  backend->argmax(x, winners);
  CHECK(winners.data == std::vector<std::int64_t>{1, 0, 2});
}

// --- matrix products -------------------------------------------------------------------------

TEMPLATE_TEST_CASE("matmul multiplies with every transpose flag", "", float, double) {
  auto backend = reference();
  auto a = make<TestType>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto b = make<TestType>({3, 2}, {7, 8, 9, 10, 11, 12});
  Buffer<TestType> c({2, 2});
  backend->matmul(a, false, b, false, c);  // [1·7+2·9+3·11, 1·8+2·10+3·12; ...]
  check_values(c, {58, 64, 139, 154});
  auto a_t = make<TestType>({3, 2}, {1, 4, 2, 5, 3, 6});
  auto b_t = make<TestType>({2, 3}, {7, 9, 11, 8, 10, 12});
  backend->matmul(a_t, true, b, false, c);
  check_values(c, {58, 64, 139, 154});
  backend->matmul(a, false, b_t, true, c);
  check_values(c, {58, 64, 139, 154});
  backend->matmul(a_t, true, b_t, true, c);
  check_values(c, {58, 64, 139, 154});
  CHECK_THROWS_WITH(backend->matmul(a, false, a, false, c), Catch::Contains("inner extents"));
}

TEMPLATE_TEST_CASE("linear_forward computes x·W + b and linear_backward its three gradients", "",
                   float, double) {
  auto backend = reference();
  auto x = make<TestType>({2, 2}, {1, 2, 3, 4});
  auto weight = make<TestType>({2, 3}, {1, 0, -1, 2, 1, 0});
  auto bias = make<TestType>({3}, {0.5, -0.5, 1});
  Buffer<TestType> y({2, 3});
  backend->linear_forward(x, weight, bias, y);
  // x·W = [1+4, 2, -1; 3+8, 4, -3] = [5, 2, -1; 11, 4, -3]
  check_values(y, {5.5, 1.5, 0, 11.5, 3.5, -2});
  backend->linear_forward(x, weight, ConstView{}, y);  // no bias
  check_values(y, {5, 2, -1, 11, 4, -3});

  auto dy = make<TestType>({2, 3}, {1, 0, 1, 0, 1, 1});
  Buffer<TestType> dx({2, 2});
  Buffer<TestType> dweight({2, 3});
  Buffer<TestType> dbias({3});
  backend->linear_backward(x, weight, dy, dx, dweight, dbias);
  check_values(dx, {0, 2, -1, 1});            // dy · Wᵀ
  check_values(dweight, {1, 3, 4, 2, 4, 6});  // xᵀ · dy
  check_values(dbias, {1, 1, 2});             // Σ_n dy[n, :]
  Buffer<TestType> only_dx({2, 2});
  backend->linear_backward(x, weight, dy, only_dx, View{}, View{});  // absent outputs skipped
  check_values(only_dx, {0, 2, -1, 1});
}

TEST_CASE("matmul of a larger product agrees with a plain triple loop") {
  auto backend = reference();
  const std::int64_t m = 37, k = 53, n = 29;
  Buffer<double> a({m, k}), b({k, n}), c({m, n});
  backend->random_normal(a, 0, 1, 1);
  backend->random_normal(b, 0, 1, 2);
  backend->matmul(a, false, b, false, c);
  double worst = 0;
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (std::int64_t p = 0; p < k; ++p) sum += a.data[i * k + p] * b.data[p * n + j];
      worst = std::max(worst, std::abs(sum - c.data[i * n + j]));
    }
  }
  CHECK(worst < 1e-12);
}

// --- bf16 emulation ---------------------------------------------------------------------------

TEST_CASE("round_to_bfloat16 keeps 8 significant bits, rounding to nearest, ties to even") {
  using gradlab::reference::round_to_bfloat16;
  const float unit = std::ldexp(1.0f, -7);  // the spacing of bfloat16 numbers in [1, 2)
  CHECK(round_to_bfloat16(1.0f) == 1.0f);
  CHECK(round_to_bfloat16(1.0f + unit) == 1.0f + unit);             // representable: unchanged
  CHECK(round_to_bfloat16(1.0f + 0.25f * unit) == 1.0f);            // below half: down
  CHECK(round_to_bfloat16(1.0f + 0.75f * unit) == 1.0f + unit);     // above half: up
  CHECK(round_to_bfloat16(1.0f + 0.5f * unit) == 1.0f);             // tie, 1.0 is even: down
  CHECK(round_to_bfloat16(1.0f + 1.5f * unit) == 1.0f + 2 * unit);  // tie, 1 + unit is odd: up
  CHECK(round_to_bfloat16(-1.0f - 0.75f * unit) == -1.0f - unit);   // the sign is kept
  CHECK(round_to_bfloat16(3.14159265f) == 3.140625f);
  CHECK(round_to_bfloat16(INFINITY) == INFINITY);
  CHECK(round_to_bfloat16(-INFINITY) == -INFINITY);
  CHECK(std::isnan(round_to_bfloat16(NAN)));
  CHECK(std::isnan(round_to_bfloat16(std::bit_cast<float>(0x7f800001u))));  // a NaN that rounds up
  CHECK(round_to_bfloat16(std::numeric_limits<float>::max()) == INFINITY);  // past bf16's largest
  CHECK(round_to_bfloat16(0.0f) == 0.0f);
}

/// Sets the precision for a scope and restores f32 after.
struct PrecisionScope {
  explicit PrecisionScope(gradlab::Precision p) { gradlab::set_precision(p); }
  ~PrecisionScope() { gradlab::set_precision(gradlab::Precision::f32); }
};

TEST_CASE(
    "in bf16 precision the reference backend's products round their float32 inputs to "
    "bfloat16 (the bias gradient, a sum, does not)") {
  auto backend = reference();
  const std::int64_t m = 9, k = 31, n = 7;
  Buffer<float> a({m, k}), b({k, n}), bias({n}), dy({m, n});
  backend->random_normal(a, 0, 1, 11);
  backend->random_normal(b, 0, 1, 12);
  backend->random_normal(bias, 0, 1, 13);
  backend->random_normal(dy, 0, 1, 14);
  // The same product in f32 on inputs rounded by hand.
  const auto rounded = [](const Buffer<float>& x) {
    Buffer<float> copy = x;
    for (float& value : copy.data) value = gradlab::reference::round_to_bfloat16(value);
    return copy;
  };
  const Buffer<float> a16 = rounded(a), b16 = rounded(b), dy16 = rounded(dy);
  Buffer<float> expected({m, n}), expected_dx({m, k}), expected_dw({k, n}), expected_db({n});
  Buffer<float> f32_product({m, n});
  backend->matmul(a, false, b, false, f32_product);
  backend->linear_forward(a16, b16, bias, expected);
  backend->linear_backward(a16, b16, dy16, expected_dx, expected_dw, {});
  backend->linear_backward(a16, b16, dy, {}, {}, expected_db);  // db from dy as given
  CHECK(backend->effective_precision() == gradlab::Precision::f32);

  PrecisionScope bf16(gradlab::Precision::bf16);
  CHECK(backend->effective_precision() == gradlab::Precision::bf16);
  CHECK_THAT(backend->description(), Catch::Contains("bf16 emulated"));
  Buffer<float> product({m, n}), y({m, n}), dx({m, k}), dw({k, n}), db({n});
  backend->matmul(a, false, b, false, product);
  backend->linear_forward(a, b, bias, y);
  backend->linear_backward(a, b, dy, dx, dw, db);
  Buffer<float> expected_product({m, n});
  {
    PrecisionScope f32(gradlab::Precision::f32);
    backend->matmul(a16, false, b16, false, expected_product);
  }
  CHECK(product.data == expected_product.data);
  CHECK(y.data == expected.data);
  CHECK(dx.data == expected_dx.data);
  CHECK(dw.data == expected_dw.data);
  CHECK(db.data == expected_db.data);
  // ... and that is a real change: bfloat16 inputs move the product by about 2⁻⁹ relative.
  double worst = 0;
  for (std::size_t i = 0; i < product.data.size(); ++i) {
    worst = std::max(worst, double(std::abs(product.data[i] - f32_product.data[i])));
  }
  CHECK(worst > 1e-4);
  CHECK(worst < 0.2);

  // float64 (gradcheck's precision) is never rounded.
  Buffer<double> a64({m, k}), b64({k, n}), c64({m, n}), c64_f32({m, n});
  backend->random_normal(a64, 0, 1, 15);
  backend->random_normal(b64, 0, 1, 16);
  backend->matmul(a64, false, b64, false, c64);
  {
    PrecisionScope f32(gradlab::Precision::f32);
    backend->matmul(a64, false, b64, false, c64_f32);
  }
  CHECK(c64.data == c64_f32.data);
}

// --- softmax and losses ----------------------------------------------------------------------

TEMPLATE_TEST_CASE("softmax of (1, 2, 3) and its logarithm", "", float, double) {
  auto backend = reference();
  auto x = make<TestType>({1, 3}, {1, 2, 3});
  Buffer<TestType> y({1, 3});
  backend->softmax(x, y, false);
  const double total = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);  // 30.1929
  check_values(y, {std::exp(1.0) / total, std::exp(2.0) / total, std::exp(3.0) / total});
  // ≈ 0.0900306, 0.2447285, 0.6652410
  CHECK(y[2] == Approx(0.6652410).epsilon(1e-6));
  backend->softmax(x, y, true);
  check_values(y, {1 - std::log(total), 2 - std::log(total), 3 - std::log(total)});
}

TEMPLATE_TEST_CASE("softmax stays finite at scores of ±1e4", "", float, double) {
  auto backend = reference();
  auto x = make<TestType>({2, 2}, {1e4, 1e4 - 1, -1e4, -1e4 + 1});
  Buffer<TestType> y({2, 2});
  backend->softmax(x, y, false);
  const double s = 1 / (1 + std::exp(-1.0));  // the same two-class split in both rows
  check_values(y, {s, 1 - s, 1 - s, s});
  backend->softmax(x, y, true);
  check_values(y, {std::log(s), std::log(1 - s), std::log(1 - s), std::log(s)});
}

TEMPLATE_TEST_CASE("softmax_backward from the output", "", float, double) {
  auto backend = reference();
  auto x = make<TestType>({1, 3}, {1, 2, 3});
  auto dy = make<TestType>({1, 3}, {1, 0, 0});
  Buffer<TestType> y({1, 3});
  Buffer<TestType> dx({1, 3});
  backend->softmax(x, y, false);
  backend->softmax_backward(y, dy, dx, false);
  // dx = y ⊙ (dy − y₀): the Jacobian's first row, [y₀(1 − y₀), −y₀y₁, −y₀y₂]
  const double y0 = y[0], y1 = y[1], y2 = y[2];
  check_values(dx, {y0 * (1 - y0), -y0 * y1, -y0 * y2});
  backend->softmax(x, y, true);
  backend->softmax_backward(y, dy, dx, true);
  // dx = dy − softmax · Σ dy
  check_values(dx, {1 - y0, -y1, -y2});
}

TEMPLATE_TEST_CASE("cross_entropy matches a hand-computed mean of −log p", "", float, double) {
  auto backend = reference();
  auto scores = make<TestType>({2, 3}, {1, 2, 3, 0, 0, 0});
  Labels labels({2}, {2, 0});
  Buffer<TestType> probabilities({2, 3});
  Buffer<TestType> loss({});
  backend->cross_entropy(scores, labels, probabilities, loss);
  const double total = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  // row 0: −log(e³/Σ) = log Σ − 3 ≈ 0.407606; row 1: −log(1/3) ≈ 1.098612; mean ≈ 0.753109
  check_values(loss, {((std::log(total) - 3) + std::log(3.0)) / 2});
  CHECK(loss[0] == Approx(0.7531091).epsilon(1e-6));
  check_values(probabilities, {std::exp(1.0) / total, std::exp(2.0) / total, std::exp(3.0) / total,
                               1.0 / 3, 1.0 / 3, 1.0 / 3});

  Buffer<TestType> dscores({2, 3});
  backend->cross_entropy_backward(probabilities, labels, 2.0, dscores);  // 2 · (p − onehot)/2
  check_values(dscores, {std::exp(1.0) / total, std::exp(2.0) / total, std::exp(3.0) / total - 1,
                         1.0 / 3 - 1, 1.0 / 3, 1.0 / 3});
}

TEMPLATE_TEST_CASE("cross_entropy is finite when the right class scores 2e4 below", "", float,
                   double) {
  auto backend = reference();
  auto scores = make<TestType>({1, 2}, {1e4, -1e4});
  Labels labels({1}, {1});
  Buffer<TestType> probabilities({1, 2});
  Buffer<TestType> loss({1});
  backend->cross_entropy(scores, labels, probabilities, loss);
  check_values(loss, {2e4});  // −log softmax = 1e4 − (−1e4), although p[1] underflows to 0
  check_values(probabilities, {1, 0});
}

TEST_CASE("cross_entropy names a bad label, its row and the number of classes") {
  auto backend = reference();
  auto scores = make<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Buffer<float> probabilities({2, 3});
  Buffer<float> loss({});
  Labels bad({2}, {0, 3});
  CHECK_THROWS_WITH(
      backend->cross_entropy(scores, bad, probabilities, loss),
      Catch::Contains("label 3") && Catch::Contains("row 1") && Catch::Contains("C = 3"));
  Labels negative({2}, {-1, 0});
  CHECK_THROWS_WITH(backend->cross_entropy(scores, negative, probabilities, loss),
                    Catch::Contains("label -1") && Catch::Contains("row 0"));
  auto float_labels = make<float>({2}, {0, 1});
  CHECK_THROWS_WITH(backend->cross_entropy(scores, float_labels, probabilities, loss),
                    Catch::Contains("labels") && Catch::Contains("int64"));
}

TEMPLATE_TEST_CASE("svm_loss sums the positive margins, mean over the batch", "", float, double) {
  auto backend = reference();
  // The lecture's example: scores of the cat image [3.2, 5.1, −1.7] with label 0, margin 1:
  // max(0, 5.1 − 3.2 + 1) + max(0, −1.7 − 3.2 + 1) = 2.9 + 0; the second row [1, 1, 1] has two
  // margins of 1.
  auto scores = make<TestType>({2, 3}, {3.2, 5.1, -1.7, 1, 1, 1});
  Labels labels({2}, {0, 2});
  Buffer<TestType> loss({});
  backend->svm_loss(scores, labels, 1.0, loss);
  check_values(loss, {(2.9 + 2.0) / 2});

  Buffer<TestType> dscores({2, 3});
  backend->svm_loss_backward(scores, labels, 1.0, 1.0, dscores);
  // row 0: term j = 1 is positive → ds[0,1] = +1/2, ds[0,0] = −1/2
  // row 1: terms j = 0, 1 are positive → +1/2 each, ds[1,2] = −1
  check_values(dscores, {-0.5, 0.5, 0, 0.5, 0.5, -1});
}

// --- layers ----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("batch_norm_train normalises each column with the biased variance", "", float,
                   double) {
  auto backend = reference();
  auto x = make<TestType>({4, 2}, {1, 10, 2, 10, 3, 20, 6, 20});
  auto gamma = make<TestType>({2}, {2, 1});
  auto beta = make<TestType>({2}, {0.5, -1});
  Buffer<TestType> y({4, 2}), mean({2}), variance({2});
  backend->batch_norm_train(x, gamma, beta, 0.0, y, mean, variance);
  // column 0: μ = 3, σ² = (4 + 1 + 0 + 9)/4 = 3.5; column 1: μ = 15, σ² = 25
  check_values(mean, {3, 15});
  check_values(variance, {3.5, 25});
  const double s = std::sqrt(3.5);
  check_values(y, {2 * -2 / s + 0.5, -2, 2 * -1 / s + 0.5, -2, 0.5, 0, 2 * 3 / s + 0.5, 0});

  // Without γ and β (absent views): y = x̂.
  backend->batch_norm_train(x, ConstView{}, ConstView{}, 0.0, y, mean, variance);
  check_values(y, {-2 / s, -1, -1 / s, -1, 0, 1, 3 / s, 1});

  auto running_mean = make<TestType>({2}, {1, 10});
  auto running_variance = make<TestType>({2}, {4, 1});
  backend->batch_norm_inference(x, gamma, beta, running_mean, running_variance, 0.0, y);
  // column 0: 2 (x − 1)/2 + 0.5 = x − 0.5; column 1: (x − 10) − 1
  check_values(y, {0.5, -1, 1.5, -1, 2.5, 9, 5.5, 9});
}

TEMPLATE_TEST_CASE("batch_norm_backward follows the formula of backend.hpp", "", float, double) {
  auto backend = reference();
  auto x = make<TestType>({3, 1}, {1, 2, 6});
  auto gamma = make<TestType>({1}, {2});
  auto beta = make<TestType>({1}, {0});
  auto dy = make<TestType>({3, 1}, {1, 0, -1});
  Buffer<TestType> y({3, 1}), mean({1}), variance({1});
  const double eps = 1e-5;
  backend->batch_norm_train(x, gamma, beta, eps, y, mean, variance);
  Buffer<TestType> dx({3, 1}), dgamma({1}), dbeta({1});
  backend->batch_norm_backward(x, dy, gamma, mean, variance, eps, dx, dgamma, dbeta);
  // μ = 3, σ² = (4 + 1 + 9)/3 = 14/3; x̂ = (x − 3)/√(14/3 + eps)
  const double inverse_std = 1 / std::sqrt(14.0 / 3 + eps);
  const double x_hat[3] = {-2 * inverse_std, -1 * inverse_std, 3 * inverse_std};
  const double d_beta = 0;                              // 1 + 0 − 1
  const double d_gamma = x_hat[0] * 1 + x_hat[2] * -1;  // Σ dy x̂
  check_values(dbeta, {d_beta});
  check_values(dgamma, {d_gamma});
  std::vector<double> expected;
  const double upstream[3] = {1, 0, -1};
  for (int n = 0; n < 3; ++n) {
    expected.push_back(2 * inverse_std * (upstream[n] - d_beta / 3 - x_hat[n] * d_gamma / 3));
  }
  check_values(dx, expected);
  // The input gradient of a normalisation sums to zero over the batch.
  CHECK(dx[0] + dx[1] + dx[2] == Approx(0).margin(1e-5));
}

TEMPLATE_TEST_CASE("maxout keeps the largest of each group and routes the gradient to it", "",
                   float, double) {
  auto backend = reference();
  // x [2, 6] with pieces = 3 → y [2, 2]
  auto x = make<TestType>({2, 6}, {1, 5, 2, -1, -3, -2, 4, 4, 0, 7, 8, 9});
  Buffer<TestType> y({2, 2});
  Labels argmax({2, 2});
  backend->maxout(x, 3, y, argmax);
  check_values(y, {5, -1, 4, 9});
  CHECK(argmax.data == std::vector<std::int64_t>{1, 0, 0, 2});  // the tie 4, 4 goes to the first

  auto dy = make<TestType>({2, 2}, {10, 20, 30, 40});
  Buffer<TestType> dx({2, 6});
  backend->maxout_backward(dy, argmax, 3, dx);
  check_values(dx, {0, 10, 0, 20, 0, 0, 30, 0, 0, 0, 0, 40});
  Buffer<TestType> bad({2, 2});
  CHECK_THROWS_WITH(backend->maxout(x, 4, bad, argmax), Catch::Contains("[2, 6]"));
}

// --- optimisers ------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("one SGD step, plain, with momentum and with Nesterov momentum", "", float,
                   double) {
  auto backend = reference();
  auto grad = make<TestType>({2}, {1, -2});

  auto x = make<TestType>({2}, {1, 1});
  backend->sgd_update(x, grad, View{}, 0.1, 0.0, false, 0.0);  // x − 0.1 dx
  check_values(x, {0.9, 1.2});

  x = make<TestType>({2}, {1, 1});
  backend->sgd_update(x, grad, View{}, 0.1, 0.0, false, 0.5);  // x − 0.1 (dx + 0.5 x)
  check_values(x, {0.85, 1.15});

  x = make<TestType>({2}, {1, 1});
  auto v = make<TestType>({2}, {0.5, 0.5});
  backend->sgd_update(x, grad, v, 0.1, 0.9, false, 0.0);
  // v = 0.9·0.5 + dx = [1.45, −1.55] (gradient units); x = 1 − 0.1·v
  check_values(v, {1.45, -1.55});
  check_values(x, {0.855, 1.155});

  x = make<TestType>({2}, {1, 1});
  v = make<TestType>({2}, {0.5, 0.5});
  backend->sgd_update(x, grad, v, 0.1, 0.9, true, 0.0);
  // v = [1.45, −1.55]; x = 1 − 0.1·(dx + 0.9·v) = [0.7695, 1.3395]
  check_values(v, {1.45, -1.55});
  check_values(x, {0.7695, 1.3395});
}

TEMPLATE_TEST_CASE("one AdaGrad step and one RMSProp step", "", float, double) {
  auto backend = reference();
  auto grad = make<TestType>({2}, {2, -1});

  auto x = make<TestType>({2}, {1, 1});
  auto cache = make<TestType>({2}, {5, 0});
  backend->adagrad_update(x, grad, cache, 0.5, 0.0, 0.0);
  // cache = [9, 1]; x = 1 − 0.5·[2/3, −1/1]
  check_values(cache, {9, 1});
  check_values(x, {1 - 1.0 / 3, 1.5});

  x = make<TestType>({2}, {1, 1});
  cache = make<TestType>({2}, {1, 1});
  backend->rmsprop_update(x, grad, cache, 0.1, 0.9, 1e-8, 0.0);
  // cache = 0.9 + 0.1·[4, 1] = [1.3, 1.0]; x = 1 − 0.1·dx/(√cache + 1e-8)
  check_values(cache, {1.3, 1.0});
  check_values(x, {1 - 0.2 / (std::sqrt(1.3) + 1e-8), 1 + 0.1 / (1 + 1e-8)});
}

TEMPLATE_TEST_CASE("Adam's first step moves each parameter by about lr", "", float, double) {
  auto backend = reference();
  auto grad = make<TestType>({2}, {0.5, -4});
  auto x = make<TestType>({2}, {1, 1});
  Buffer<TestType> m({2}), v({2});
  backend->adam_update(x, grad, m, v, 0.01, 0.9, 0.999, 1e-8, 1, 0.0, false);
  // m = 0.1·dx, v = 0.001·dx²; m̂ = dx, v̂ = dx²: x = 1 − 0.01·dx/(|dx| + 1e-8)
  check_values(m, {0.05, -0.4});
  check_values(v, {0.00025, 0.016});
  check_values(x, {1 - 0.01 * 0.5 / (0.5 + 1e-8), 1 + 0.01 * 4 / (4 + 1e-8)});

  // Second step with the same gradient: m = 0.09·dx + 0.1·dx = 0.19·dx, m̂ = 0.19 dx/0.19 = dx
  backend->adam_update(x, grad, m, v, 0.01, 0.9, 0.999, 1e-8, 2, 0.0, false);
  check_values(m, {0.095, -0.76});
  CHECK(static_cast<double>(x[0]) == Approx(1 - 0.02).epsilon(1e-5));
  CHECK_THROWS_WITH(backend->adam_update(x, grad, m, v, 0.01, 0.9, 0.999, 1e-8, 0, 0.0, false),
                    Catch::Contains("t counts from 1"));
}

}  // namespace reference_kernel_tests
