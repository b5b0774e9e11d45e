// Differential tests of the kernels issue 18 added: the oneDNN backend gives the reference
// backend's numbers for abs, minimum and the comparisons, the min reduction, argmin, where,
// index_select and index_add, on random inputs of odd sizes on both sides of the 4096-element
// threshold, with NaN and ±inf sprinkled in (same tolerance and NaN rule as
// test_onednn_vs_reference.cpp); and the tensor ops built on them (min, minimum, clamp, abs,
// slice, cat, where) give the same values and gradients on every backend.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "backends/backend.hpp"
#include "backends/onednn/onednn_backend.hpp"
#include "backends/random.hpp"
#include "backends/reference/reference_backend.hpp"

// A named namespace around everything: a unity build compiles this file together with the
// folder's other tests, whose helpers may have the same names.
namespace new_kernels_tests {

using namespace gradlab;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Buffer {
  Shape shape;
  std::vector<float> values;
  explicit Buffer(Shape s)
      : shape(std::move(s)), values(static_cast<std::size_t>(shape_numel(shape))) {}
  View view() { return {values.data(), shape, DType::float32}; }
  ConstView cview() const { return {values.data(), shape, DType::float32}; }
};

// U[-2, 2) with NaN, +inf, −inf at every 37th, 41st, 43rd element (shifted by `offset`), and
// every 7th element rounded to a multiple of 0.5 so that comparisons and minima meet ties.
Buffer sample(const Shape& shape, std::uint64_t seed, std::size_t offset = 0) {
  Buffer b(shape);
  random::fill_uniform(b.view(), -2.0, 2.0, seed);
  for (std::size_t i = 0; i < b.values.size(); ++i) {
    if ((i + offset) % 7 == 3) b.values[i] = std::round(b.values[i] * 2.0f) / 2.0f;
    if ((i + offset) % 37 == 0) b.values[i] = kNaN;
    if ((i + offset) % 41 == 5) b.values[i] = kInf;
    if ((i + offset) % 43 == 7) b.values[i] = -kInf;
  }
  return b;
}

// The same numbers in the same places: NaN for NaN, equal infinities, finite values within
// 1e-6 of the largest finite reference magnitude (these kernels compute at most one operation).
void require_same(const std::vector<float>& actual, const std::vector<float>& expected) {
  REQUIRE(actual.size() == expected.size());
  double scale = 1.0;
  for (float e : expected)
    if (std::isfinite(e)) scale = std::max(scale, static_cast<double>(std::abs(e)));
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const float a = actual[i], e = expected[i];
    INFO("element " << i << ": onednn " << a << ", reference " << e);
    if (std::isnan(e) || std::isnan(a)) {
      REQUIRE((std::isnan(a) && std::isnan(e)));
    } else if (std::isinf(e) || std::isinf(a)) {
      REQUIRE(a == e);
    } else {
      REQUIRE(std::abs(a - e) <= 1e-6 * scale);
    }
  }
}

struct Backends {
  std::unique_ptr<Backend> onednn = make_onednn_backend();
  std::unique_ptr<Backend> reference = make_reference_backend();
};

// Below the 4096-element threshold (host loops) and above it (primitives), odd extents.
const std::vector<Shape> kShapes = {{7, 13}, {3, 4, 5}, {67, 71}, {2, 2053}};

}  // namespace

TEST_CASE("onednn abs and its backward match the reference, NaN and inf included",
          "[onednn][abs]") {
  Backends b;
  for (const Shape& shape : kShapes) {
    INFO("shape " << shape_string(shape));
    Buffer x = sample(shape, 401);
    x.values[1] = 0.0f, x.values[2] = -0.0f;
    const Buffer dy = sample(shape, 402, 5);
    Buffer expected(shape), actual(shape);
    b.reference->unary(UnaryOp::abs, x.cview(), expected.view(), 0.0);
    b.onednn->unary(UnaryOp::abs, x.cview(), actual.view(), 0.0);
    require_same(actual.values, expected.values);
    b.reference->unary_backward(UnaryOp::abs, x.cview(), ConstView{}, dy.cview(), expected.view(),
                                0.0);
    b.onednn->unary_backward(UnaryOp::abs, x.cview(), ConstView{}, dy.cview(), actual.view(), 0.0);
    require_same(actual.values, expected.values);
  }
}

TEST_CASE("onednn minimum and the comparisons match the reference, in both orders and broadcast",
          "[onednn][minimum][comparisons]") {
  Backends b;
  const std::vector<BinaryOp> ops = {BinaryOp::minimum, BinaryOp::maximum, BinaryOp::lt,
                                     BinaryOp::le,      BinaryOp::gt,      BinaryOp::ge,
                                     BinaryOp::eq,      BinaryOp::ne};
  for (const Shape& shape : kShapes) {
    const Buffer x = sample(shape, 403), other = sample(shape, 404, 3);
    const Buffer row = sample({shape.back()}, 405, 1);
    for (BinaryOp op : ops) {
      INFO(binary_op_name(op) << " on " << shape_string(shape));
      Buffer expected(shape), actual(shape);
      for (const auto& [a, c] : {std::pair{&x, &other}, std::pair{&other, &x}, std::pair{&row, &x},
                                 std::pair{&x, &row}}) {
        b.reference->binary(op, a->cview(), c->cview(), expected.view());
        b.onednn->binary(op, a->cview(), c->cview(), actual.view());
        require_same(actual.values, expected.values);
      }
    }
  }
}

TEST_CASE("onednn min reduction, argmin, where, index_select and index_add match the reference",
          "[onednn][min][argmin][where][index_select]") {
  Backends b;
  for (const Shape& shape : kShapes) {
    INFO("shape " << shape_string(shape));
    const Buffer x = sample(shape, 406, 2);
    std::vector<Shape> reduced = {shape, shape, Shape(shape.size(), 1)};
    reduced[0].back() = 1;
    reduced[1].front() = 1;
    for (const Shape& y_shape : reduced) {
      INFO("min to " << shape_string(y_shape));
      Buffer expected(y_shape), actual(y_shape);
      b.reference->reduce(ReduceOp::min, x.cview(), expected.view());
      b.onednn->reduce(ReduceOp::min, x.cview(), actual.view());
      require_same(actual.values, expected.values);
    }
    // Without NaN too: above the threshold that takes oneDNN's reduction_min primitive.
    Buffer finite = x;
    for (float& v : finite.values)
      if (std::isnan(v)) v = 0.25f;
    for (const Shape& y_shape : reduced) {
      Buffer expected(y_shape), actual(y_shape);
      b.reference->reduce(ReduceOp::min, finite.cview(), expected.view());
      b.onednn->reduce(ReduceOp::min, finite.cview(), actual.view());
      require_same(actual.values, expected.values);
    }
    const std::int64_t rows = shape_numel(shape) / shape.back();
    std::vector<std::int64_t> expected_index(rows), actual_index(rows);
    b.reference->argmin(x.cview(), View{expected_index.data(), Shape{rows}, DType::int64});
    b.onednn->argmin(x.cview(), View{actual_index.data(), Shape{rows}, DType::int64});
    CHECK(actual_index == expected_index);

    const Buffer a = sample(shape, 407), c = sample(shape, 408, 4), mask = sample(shape, 409, 6);
    Buffer expected(shape), actual(shape);
    b.reference->where(mask.cview(), a.cview(), c.cview(), expected.view());
    b.onednn->where(mask.cview(), a.cview(), c.cview(), actual.view());
    require_same(actual.values, expected.values);

    std::vector<std::int64_t> indices = {shape[0] - 1, 0, shape[0] - 1, shape[0] / 2};
    const Shape index_shape{4};  // a view's shape is a span: the Shape must outlive the view
    const ConstView index_view{indices.data(), index_shape, DType::int64};
    Shape picked_shape = shape;
    picked_shape[0] = 4;
    Buffer picked_expected(picked_shape), picked_actual(picked_shape);
    b.reference->index_select(x.cview(), 0, index_view, picked_expected.view());
    b.onednn->index_select(x.cview(), 0, index_view, picked_actual.view());
    require_same(picked_actual.values, picked_expected.values);
    Buffer added_expected = a, added_actual = a;
    b.reference->index_add(picked_expected.cview(), 0, index_view, added_expected.view());
    b.onednn->index_add(picked_expected.cview(), 0, index_view, added_actual.view());
    require_same(added_actual.values, added_expected.values);
  }
}

TEST_CASE("onednn index kernels refuse float64 and name a bad index", "[onednn][index_select]") {
  Backends b;
  std::vector<double> x64(6);
  std::vector<std::int64_t> index = {3};
  std::vector<float> x32(6), y32(2);
  const Shape index_shape{1};
  const ConstView index_view{index.data(), index_shape, DType::int64};
  CHECK_THROWS_WITH(
      b.onednn->index_select(ConstView{x64.data(), Shape{3, 2}, DType::float64}, 0, index_view,
                             View{y32.data(), Shape{1, 2}, DType::float64}),
      Catch::Contains("float64"));
  CHECK_THROWS_WITH(
      b.onednn->index_select(ConstView{x32.data(), Shape{3, 2}, DType::float32}, 0, index_view,
                             View{y32.data(), Shape{1, 2}, DType::float32}),
      Catch::Contains("index 3") && Catch::Contains("axis 0") && Catch::Contains("extent 3"));
}

TEST_CASE("min, minimum, clamp, abs, slice, cat and where agree on every backend, NaN included",
          "[onednn][nan]") {
  const std::vector<double> values = {kNaN, 1.0, -1.0, 0.0, 2.0, kInf, -kInf, 0.5, 0.5, -3.0};
  std::vector<std::vector<double>> results;
  for (const std::string& name : available_backends()) {
    BackendGuard guard(name);
    INFO("backend " << name);
    for (std::int64_t padding : {0, 5000}) {
      std::vector<double> all = values;
      all.insert(all.end(), static_cast<std::size_t>(padding), 0.25);
      const auto n = static_cast<std::int64_t>(all.size());
      Tensor x = from(all, {n}, {.requires_grad = true});
      Tensor other =
          from(std::vector<double>(all.rbegin(), all.rend()), {n}, {.requires_grad = true});
      Tensor out = min(x) + sum(minimum(x, other) * 2.0) + sum(clamp(x, -0.5, 0.5) * 3.0) +
                   sum(abs(x) * 5.0) + sum(slice(x, 0, 1, 9, 2)) + sum(cat({x, other}, 0) * 7.0) +
                   sum(where(gt(x, 0.0), x, other) * 11.0);
      out.backward();
      std::vector<double> result = {out.item()};
      for (const Tensor& t : {x.grad(), other.grad()}) {
        const std::vector<double> g = t.to_vector();
        result.insert(result.end(), g.begin(), g.begin() + 10);
      }
      results.push_back(result);  // per backend: unpadded, then padded
    }
  }
  for (std::size_t r = 2; r < results.size(); ++r) {
    const std::vector<double>& first = results[r % 2];  // the first backend, same padding
    for (std::size_t i = 0; i < first.size(); ++i) {
      INFO("run " << r << ", element " << i << ": " << results[r][i] << " vs " << first[i]);
      if (std::isnan(first[i])) {
        CHECK(std::isnan(results[r][i]));
      } else {
        CHECK(results[r][i] == Approx(first[i]).epsilon(1e-5));
      }
    }
  }
}

TEST_CASE("min, minimum and clamp treat NaN and inf as PyTorch 1.13 on every backend",
          "[nan][min][minimum][clamp]") {
  // The expected numbers are PyTorch 1.13's (float64): torch.min(x, 0) routes the gradient to
  // the first NaN, else to the first smallest element; torch.minimum gives both inputs the
  // gradient where either is NaN and half each on a tie; torch.clamp keeps NaN with gradient 0.
  struct MinCase {
    std::vector<double> x;
    double value;
    std::vector<double> gradient;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<MinCase> min_cases = {
      {{nan, 1.0}, nan, {1, 0}},  {{1.0, nan}, nan, {0, 1}},   {{nan, nan}, nan, {1, 0}},
      {{-inf, nan}, nan, {0, 1}}, {{-inf, 1.0}, -inf, {1, 0}}, {{1.0, -inf}, -inf, {0, 1}},
      {{inf, 1.0}, 1.0, {0, 1}},  {{2.0, 2.0}, 2.0, {1, 0}},
  };
  const auto same = [](double actual, double expected) {
    return std::isnan(expected) ? std::isnan(actual) : actual == expected;
  };
  for (const std::string& name : available_backends()) {
    BackendGuard guard(name);
    for (std::int64_t padding : {0, 5000}) {
      INFO("backend " << name << ", padded with " << padding << " elements");
      const auto padded = [padding](std::vector<double> values, double fill) {
        values.insert(values.end(), static_cast<std::size_t>(padding), fill);
        return from(values, {static_cast<std::int64_t>(values.size())}, {.requires_grad = true});
      };
      for (const MinCase& c : min_cases) {
        Tensor x = padded(c.x, 1e30);
        Tensor y = min(x);
        CHECK(same(y.item(), c.value));
        y.backward();
        const std::vector<double> g = x.grad().to_vector();
        CHECK(same(g[0], c.gradient[0]));
        CHECK(same(g[1], c.gradient[1]));
      }
      const std::vector<double> a_values = {nan, 0.0, nan, -inf, 0.0, inf, 1.0, -inf};
      const std::vector<double> b_values = {0.0, nan, nan, 0.0, -inf, inf, 1.0, -inf};
      const std::vector<double> minimum_values = {nan, nan, nan, -inf, -inf, inf, 1.0, -inf};
      const std::vector<double> a_gradient = {1, 1, 1, 1, 0, 0.5, 0.5, 0.5};
      const std::vector<double> b_gradient = {1, 1, 1, 0, 1, 0.5, 0.5, 0.5};
      Tensor a = padded(a_values, 1.0), b = padded(b_values, 2.0);
      Tensor m = minimum(a, b);
      sum(m).backward();
      const std::vector<double> mv = m.to_vector(), ga = a.grad().to_vector(),
                                gb = b.grad().to_vector();
      for (std::size_t i = 0; i < a_values.size(); ++i) {
        INFO("minimum element " << i);
        CHECK(same(mv[i], minimum_values[i]));
        CHECK(same(ga[i], a_gradient[i]));
        CHECK(same(gb[i], b_gradient[i]));
      }
      Tensor c = padded({nan, -inf, inf, 0.0, 1.0, 0.5}, 0.25);
      Tensor clamped = clamp(c, 0.0, 1.0);
      sum(clamped).backward();
      const std::vector<double> cv = clamped.to_vector(), gc = c.grad().to_vector();
      const std::vector<double> clamp_values = {nan, 0.0, 1.0, 0.0, 1.0, 0.5};
      const std::vector<double> clamp_gradient = {0, 0, 0, 1, 1, 1};
      for (std::size_t i = 0; i < clamp_values.size(); ++i) {
        INFO("clamp element " << i);
        CHECK(same(cv[i], clamp_values[i]));
        CHECK(same(gc[i], clamp_gradient[i]));
      }
    }
  }
}

}  // namespace new_kernels_tests
