// Differential tests: every kernel of the oneDNN backend gives the reference backend's numbers.
//
// Inputs come from the shared counter-based generator (backends/random.hpp). Shapes cover
// extents of 1, odd extents, extents that are not multiples of 16, tensors on both sides of the
// 4096-element threshold where the oneDNN backend switches from host loops to primitives, and
// the broadcasting cases of NumPy.
//
// Tolerance: float32 results agree when the max-abs-normalised error
//   max_i |onednn_i − reference_i| / max_i |reference_i|
// is at most 1e-5. Normalising by the largest reference magnitude (not elementwise) is what
// makes sense for sums and matrix products: their rounding error scales with the size of the
// terms, not with the (possibly cancelled) result. When the reference is all zeros the error is
// absolute. NaN and ±inf must appear in the same places on both backends (NaN for NaN, the
// same infinity), and only the finite elements are compared by the error above.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.hpp"
#include "backends/onednn/onednn_backend.hpp"
#include "backends/random.hpp"
#include "backends/reference/reference_backend.hpp"

using namespace gradlab;

namespace {

constexpr double kTolerance = 1e-5;

/// A float32 tensor for the tests: a shape and its values, viewed on demand.
struct Buffer {
  Shape shape;
  std::vector<float> values;

  explicit Buffer(Shape s)
      : shape(std::move(s)), values(static_cast<std::size_t>(shape_numel(shape))) {}
  View view() { return {values.data(), shape, DType::float32}; }
  ConstView cview() const { return {values.data(), shape, DType::float32}; }
};

/// A buffer of `shape` filled with U[low, high) from the shared generator.
Buffer uniform(const Shape& shape, std::uint64_t seed, double low = -2.0, double high = 2.0) {
  Buffer b(shape);
  random::fill_uniform(b.view(), low, high, seed);
  return b;
}

/// A uniform buffer with NaN, +inf and −inf sprinkled over it (every 37th, 41st and 43rd
/// element, shifted by `offset`, so that they land first, last and in between).
Buffer with_non_finite(const Shape& shape, std::uint64_t seed, std::size_t offset = 0) {
  Buffer b = uniform(shape, seed);
  for (std::size_t i = 0; i < b.values.size(); ++i) {
    if ((i + offset) % 37 == 0) b.values[i] = std::numeric_limits<float>::quiet_NaN();
    if ((i + offset) % 41 == 5) b.values[i] = std::numeric_limits<float>::infinity();
    if ((i + offset) % 43 == 7) b.values[i] = -std::numeric_limits<float>::infinity();
  }
  return b;
}

/// Labels in [0, classes), one per row, from std::mt19937.
struct Labels {
  Shape shape;
  std::vector<std::int64_t> values;
  Labels(std::int64_t rows, std::int64_t classes, unsigned seed) : shape{rows} {
    std::mt19937 generator(seed);
    std::uniform_int_distribution<std::int64_t> pick(0, classes - 1);
    for (std::int64_t n = 0; n < rows; ++n) values.push_back(pick(generator));
  }
  ConstView cview() const { return {values.data(), shape, DType::int64}; }
};

/// max_i |actual_i − expected_i| / max_i |expected_i| over the finite elements (see the file
/// comment); infinite when a NaN or an infinity of one backend is not matched by the other's.
double normalised_error(const Buffer& actual, const Buffer& expected) {
  REQUIRE(actual.values.size() == expected.values.size());
  double worst = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < actual.values.size(); ++i) {
    const double a = actual.values[i], e = expected.values[i];
    if (std::isnan(a) || std::isnan(e)) {
      if (std::isnan(a) && std::isnan(e)) continue;
      UNSCOPED_INFO("element " << i << ": " << a << " where the reference has " << e);
      return INFINITY;
    }
    if (std::isinf(a) || std::isinf(e)) {
      if (a == e) continue;
      UNSCOPED_INFO("element " << i << ": " << a << " where the reference has " << e);
      return INFINITY;
    }
    worst = std::max(worst, std::abs(a - e));
    scale = std::max(scale, std::abs(e));
  }
  // An all-zero reference (log-softmax of one class, say) has no scale: compare absolutely.
  return worst / (scale > 0.0 ? scale : 1.0);
}

void require_close(const Buffer& actual, const Buffer& expected, double tolerance = kTolerance) {
  const double error = normalised_error(actual, expected);
  INFO("shape " << shape_string(expected.shape) << ", normalised error " << error);
  REQUIRE(error <= tolerance);
}

/// The two backends every test compares.
struct Backends {
  std::unique_ptr<Backend> onednn = make_onednn_backend();
  std::unique_ptr<Backend> reference = make_reference_backend();
};

const std::vector<Shape> kMatrixShapes = {{1, 1}, {7, 13}, {33, 17}, {256, 100}, {3, 4, 5}};

/// Sets the precision for a scope and restores f32 after.
struct PrecisionGuard {
  explicit PrecisionGuard(Precision p) { set_precision(p); }
  ~PrecisionGuard() { set_precision(Precision::f32); }
};

}  // namespace

// --- elementwise --------------------------------------------------------------------------

namespace {

struct UnaryCase {
  UnaryOp op;
  double alpha;
  double low, high;  // input range (log, sqrt, pow need positive inputs)
};

const std::vector<UnaryCase> kUnaryCases = {
    {UnaryOp::neg, 0.0, -2, 2},   {UnaryOp::exp, 0.0, -2, 2},    {UnaryOp::log, 0.0, 0.1, 3},
    {UnaryOp::sqrt, 0.0, 0.1, 3}, {UnaryOp::pow, 2.5, 0.1, 3},   {UnaryOp::pow, -1.0, 0.5, 3},
    {UnaryOp::scale, 1.5, -2, 2}, {UnaryOp::shift, -0.5, -2, 2}, {UnaryOp::sigmoid, 0.0, -4, 4},
    {UnaryOp::tanh, 0.0, -3, 3},  {UnaryOp::relu, 0.0, -2, 2},   {UnaryOp::leaky_relu, 0.1, -2, 2},
    {UnaryOp::elu, 0.7, -2, 2},
};

}  // namespace

TEST_CASE("onednn unary ops match the reference below and above the host-loop threshold",
          "[onednn]") {
  Backends b;
  for (const UnaryCase& c : kUnaryCases) {
    for (const Shape& shape : kMatrixShapes) {
      INFO(unary_op_name(c.op) << " alpha " << c.alpha << " on " << shape_string(shape));
      const Buffer x = uniform(shape, 11, c.low, c.high);
      Buffer expected(shape), actual(shape);
      b.reference->unary(c.op, x.cview(), expected.view(), c.alpha);
      b.onednn->unary(c.op, x.cview(), actual.view(), c.alpha);
      require_close(actual, expected);
    }
  }
}

TEST_CASE("onednn unary backward ops match the reference, with and without y", "[onednn]") {
  Backends b;
  for (const UnaryCase& c : kUnaryCases) {
    for (const Shape& shape : kMatrixShapes) {
      INFO(unary_op_name(c.op) << " alpha " << c.alpha << " on " << shape_string(shape));
      const Buffer x = uniform(shape, 12, c.low, c.high);
      const Buffer dy = uniform(shape, 13);
      Buffer y(shape), expected(shape), actual(shape), actual_without_y(shape);
      b.reference->unary(c.op, x.cview(), y.view(), c.alpha);
      b.reference->unary_backward(c.op, x.cview(), y.cview(), dy.cview(), expected.view(), c.alpha);
      b.onednn->unary_backward(c.op, x.cview(), y.cview(), dy.cview(), actual.view(), c.alpha);
      require_close(actual, expected);
      b.onednn->unary_backward(c.op, x.cview(), ConstView{}, dy.cview(), actual_without_y.view(),
                               c.alpha);
      require_close(actual_without_y, expected);
    }
  }
}

TEST_CASE("onednn binary ops match the reference with NumPy broadcasting of either side",
          "[onednn]") {
  Backends b;
  struct Case {
    Shape a, b, y;
  };
  const std::vector<Case> cases = {
      {{1, 1}, {1, 1}, {1, 1}},
      {{33, 17}, {33, 17}, {33, 17}},
      {{5, 7}, {7}, {5, 7}},
      {{7}, {5, 7}, {5, 7}},
      {{5, 1}, {1, 7}, {5, 7}},
      {{3, 1, 4}, {2, 1}, {3, 2, 4}},
      {{256, 100}, {256, 100}, {256, 100}},
      {{256, 100}, {100}, {256, 100}},
      {{100}, {256, 100}, {256, 100}},
      {{256, 1}, {1, 100}, {256, 100}},
      {{64, 1, 70}, {1, 65, 1}, {64, 65, 70}},
      {{1}, {256, 100}, {256, 100}},
  };
  for (BinaryOp op :
       {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::maximum}) {
    for (const Case& c : cases) {
      INFO(binary_op_name(op) << ": " << shape_string(c.a) << " ∘ " << shape_string(c.b));
      const Buffer a = uniform(c.a, 21);
      const Buffer bb = uniform(c.b, 22, 0.5, 2.0);  // away from 0 for div
      Buffer expected(c.y), actual(c.y);
      b.reference->binary(op, a.cview(), bb.cview(), expected.view());
      b.onednn->binary(op, a.cview(), bb.cview(), actual.view());
      require_close(actual, expected);
    }
  }
}

TEST_CASE("onednn binary names both shapes when they do not broadcast", "[onednn]") {
  Backends b;
  const Buffer a = uniform({5, 7}, 1), bb = uniform({6}, 2);
  Buffer y({5, 7});
  REQUIRE_THROWS_WITH(b.onednn->binary(BinaryOp::add, a.cview(), bb.cview(), y.view()),
                      Catch::Contains("[5, 7]") && Catch::Contains("[6]"));
}

// --- reductions ---------------------------------------------------------------------------

TEST_CASE("onednn reductions match the reference over any set of axes", "[onednn]") {
  Backends b;
  struct Case {
    Shape x, y;
  };
  const std::vector<Case> cases = {
      {{1, 1}, {1, 1}},           {{7, 13}, {7, 1}},          {{7, 13}, {1, 13}},
      {{7, 13}, {1, 1}},          {{3, 4, 5}, {3, 1, 5}},     {{256, 100}, {1, 100}},
      {{256, 100}, {256, 1}},     {{256, 100}, {1, 1}},       {{64, 128, 3}, {1, 128, 1}},
      {{33, 17}, {33, 17}},       {{40, 30, 20}, {1, 1, 20}}, {{40, 30, 20}, {1, 30, 20}},
      {{40, 30, 20}, {40, 1, 1}},
  };
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean, ReduceOp::max}) {
    for (const Case& c : cases) {
      INFO(reduce_op_name(op) << ": " << shape_string(c.x) << " → " << shape_string(c.y));
      const Buffer x = uniform(c.x, 31);
      Buffer expected(c.y), actual(c.y);
      b.reference->reduce(op, x.cview(), expected.view());
      b.onednn->reduce(op, x.cview(), actual.view());
      require_close(actual, expected);
    }
  }
}

TEST_CASE("onednn reduce_max_backward and argmax (reference fallbacks) match the reference",
          "[onednn]") {
  Backends b;
  const Buffer x = uniform({33, 17}, 32), dy = uniform({33, 1}, 33);
  Buffer y({33, 1}), expected({33, 17}), actual({33, 17});
  b.onednn->reduce(ReduceOp::max, x.cview(), y.view());
  b.reference->reduce_max_backward(x.cview(), y.cview(), dy.cview(), expected.view());
  b.onednn->reduce_max_backward(x.cview(), y.cview(), dy.cview(), actual.view());
  require_close(actual, expected);

  Shape rows{33};
  std::vector<std::int64_t> expected_index(33), actual_index(33);
  b.reference->argmax(x.cview(), View{expected_index.data(), rows, DType::int64});
  b.onednn->argmax(x.cview(), View{actual_index.data(), rows, DType::int64});
  REQUIRE(actual_index == expected_index);
}

// --- matrix products ----------------------------------------------------------------------

TEST_CASE("onednn matmul matches the reference for every transpose combination", "[onednn]") {
  Backends b;
  struct Size {
    std::int64_t m, k, n;
  };
  for (Size s : {Size{1, 1, 1}, Size{7, 13, 5}, Size{33, 17, 31}, Size{256, 100, 64}}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        INFO("M " << s.m << " K " << s.k << " N " << s.n << " ta " << ta << " tb " << tb);
        const Buffer a = uniform(ta ? Shape{s.k, s.m} : Shape{s.m, s.k}, 41);
        const Buffer bb = uniform(tb ? Shape{s.n, s.k} : Shape{s.k, s.n}, 42);
        Buffer expected({s.m, s.n}), actual({s.m, s.n});
        b.reference->matmul(a.cview(), ta, bb.cview(), tb, expected.view());
        b.onednn->matmul(a.cview(), ta, bb.cview(), tb, actual.view());
        require_close(actual, expected);
      }
    }
  }
}

TEST_CASE("onednn matmul names the shapes when the inner dimensions differ", "[onednn]") {
  Backends b;
  const Buffer a = uniform({3, 4}, 1), bb = uniform({5, 6}, 2);
  Buffer c({3, 6});
  REQUIRE_THROWS_WITH(b.onednn->matmul(a.cview(), false, bb.cview(), false, c.view()),
                      Catch::Contains("[3, 4]") && Catch::Contains("[5, 6]"));
}

TEST_CASE("onednn linear forward and backward (inner_product) match the reference", "[onednn]") {
  Backends b;
  struct Size {
    std::int64_t n, d, m;
  };
  for (Size s : {Size{1, 1, 1}, Size{7, 13, 5}, Size{33, 17, 31}, Size{256, 100, 10}}) {
    INFO("N " << s.n << " D " << s.d << " M " << s.m);
    const Buffer x = uniform({s.n, s.d}, 51), w = uniform({s.d, s.m}, 52);
    const Buffer bias = uniform({s.m}, 53), dy = uniform({s.n, s.m}, 54);

    for (bool with_bias : {true, false}) {
      Buffer expected({s.n, s.m}), actual({s.n, s.m});
      const ConstView bias_view = with_bias ? bias.cview() : ConstView{};
      b.reference->linear_forward(x.cview(), w.cview(), bias_view, expected.view());
      b.onednn->linear_forward(x.cview(), w.cview(), bias_view, actual.view());
      require_close(actual, expected);
    }

    Buffer dx_ref({s.n, s.d}), dw_ref({s.d, s.m}), db_ref({s.m});
    b.reference->linear_backward(x.cview(), w.cview(), dy.cview(), dx_ref.view(), dw_ref.view(),
                                 db_ref.view());
    // Every subset of the three outputs: the absent ones are skipped, the others still right.
    for (int wanted = 1; wanted < 8; ++wanted) {
      INFO("outputs wanted (dx, dW, db bits): " << wanted);
      Buffer dx({s.n, s.d}), dw({s.d, s.m}), db({s.m});
      b.onednn->linear_backward(x.cview(), w.cview(), dy.cview(), (wanted & 1) ? dx.view() : View{},
                                (wanted & 2) ? dw.view() : View{},
                                (wanted & 4) ? db.view() : View{});
      if (wanted & 1) require_close(dx, dx_ref);
      if (wanted & 2) require_close(dw, dw_ref);
      if (wanted & 4) require_close(db, db_ref);
    }
  }
}

TEST_CASE("onednn bf16 precision: honoured with bf16 hardware, else f32 and said so",
          "[onednn][bf16]") {
  Backends b;
  const Buffer x = uniform({33, 64}, 61), w = uniform({64, 17}, 62), bias = uniform({17}, 63);
  Buffer f32_result({33, 17}), actual({33, 17});
  b.reference->linear_forward(x.cview(), w.cview(), bias.cview(), f32_result.view());

  PrecisionGuard bf16(Precision::bf16);
  const std::string description = b.onednn->description();
  INFO(description);
  b.onednn->linear_forward(x.cview(), w.cview(), bias.cview(), actual.view());
  if (b.onednn->effective_precision() == Precision::bf16) {
    REQUIRE(description.find("bf16 matrix products") != std::string::npos);
    // bf16 keeps 8 significant bits: relative rounding 2⁻⁸ per input, averaged over K = 64.
    require_close(actual, f32_result, 1e-2);
  } else {
    REQUIRE(description.find("not supported by this CPU: computing in f32") != std::string::npos);
    require_close(actual, f32_result);
  }
}

TEST_CASE(
    "onednn bf16 products equal the reference backend's bf16 emulation (or, without bf16 "
    "hardware, its f32 products)",
    "[onednn][bf16]") {
  Backends b;
  PrecisionGuard bf16(Precision::bf16);
  const bool hardware = b.onednn->effective_precision() == Precision::bf16;
  INFO(b.onednn->description());
  // Without the hardware oneDNN computes f32: compare with the reference backend in f32.
  const auto reference_run = [&](auto&& kernel) {
    if (hardware) return kernel(*b.reference);
    PrecisionGuard f32(Precision::f32);
    return kernel(*b.reference);
  };
  // Same rounding of the inputs, another order of the f32 additions.
  const double tolerance = hardware ? 1e-3 : kTolerance;
  for (const auto& [m, k, n] : std::vector<std::array<std::int64_t, 3>>{
           {1, 1, 1}, {7, 13, 5}, {33, 64, 17}, {100, 257, 31}}) {
    INFO("m, k, n = " << m << ", " << k << ", " << n);
    for (int transposes = 0; transposes < 4; ++transposes) {
      const bool ta = transposes & 1, tb = transposes & 2;
      const Buffer a = uniform(ta ? Shape{k, m} : Shape{m, k}, 81 + transposes);
      const Buffer bb = uniform(tb ? Shape{n, k} : Shape{k, n}, 91 + transposes);
      Buffer actual({m, n});
      b.onednn->matmul(a.cview(), ta, bb.cview(), tb, actual.view());
      const Buffer expected = reference_run([&](Backend& backend) {
        Buffer c({m, n});
        backend.matmul(a.cview(), ta, bb.cview(), tb, c.view());
        return c;
      });
      require_close(actual, expected, tolerance);
    }
    const Buffer x = uniform({m, k}, 101), w = uniform({k, n}, 102), bias = uniform({n}, 103);
    const Buffer dy = uniform({m, n}, 104);
    Buffer y({m, n}), dx({m, k}), dw({k, n}), db({n});
    b.onednn->linear_forward(x.cview(), w.cview(), bias.cview(), y.view());
    b.onednn->linear_backward(x.cview(), w.cview(), dy.cview(), dx.view(), dw.view(), db.view());
    const auto expected = reference_run([&](Backend& backend) {
      std::array<Buffer, 4> results{Buffer({m, n}), Buffer({m, k}), Buffer({k, n}), Buffer({n})};
      backend.linear_forward(x.cview(), w.cview(), bias.cview(), results[0].view());
      backend.linear_backward(x.cview(), w.cview(), dy.cview(), results[1].view(),
                              results[2].view(), results[3].view());
      return results;
    });
    require_close(y, expected[0], tolerance);
    require_close(dx, expected[1], tolerance);
    require_close(dw, expected[2], tolerance);
    require_close(db, expected[3], tolerance);
  }
}

TEST_CASE("onednn forced bf16 path computes within bf16 accuracy or says the CPU lacks it",
          "[onednn][bf16]") {
  auto forced = make_onednn_backend(OnednnOptions{.force_bf16 = true});
  auto reference = make_reference_backend();
  const Buffer a = uniform({33, 64}, 71), bb = uniform({17, 64}, 72);
  Buffer expected({33, 17}), actual({33, 17});
  reference->matmul(a.cview(), false, bb.cview(), true, expected.view());

  PrecisionGuard bf16(Precision::bf16);
  bool computed = false;
  try {
    forced->matmul(a.cview(), false, bb.cview(), true, actual.view());
    computed = true;
  } catch (const Error& error) {
    // oneDNN 2.6 implements bf16 matrix products only from AVX512-BF16 on: the message says so.
    REQUIRE_THAT(error.what(), Catch::Contains("bf16") && Catch::Contains("AVX512-BF16"));
  }
  if (computed) require_close(actual, expected, 1e-2);
}

// --- softmax and losses -------------------------------------------------------------------

TEST_CASE("onednn softmax and log-softmax, forward and backward, match the reference", "[onednn]") {
  Backends b;
  for (bool log : {false, true}) {
    for (const Shape& shape : kMatrixShapes) {
      INFO((log ? "log-softmax" : "softmax") << " on " << shape_string(shape));
      const Buffer x = uniform(shape, 81, -5, 5), dy = uniform(shape, 82);
      Buffer y_ref(shape), y(shape), dx_ref(shape), dx(shape);
      b.reference->softmax(x.cview(), y_ref.view(), log);
      b.onednn->softmax(x.cview(), y.view(), log);
      require_close(y, y_ref);
      b.reference->softmax_backward(y_ref.cview(), dy.cview(), dx_ref.view(), log);
      b.onednn->softmax_backward(y_ref.cview(), dy.cview(), dx.view(), log);
      require_close(dx, dx_ref);
    }
  }
}

TEST_CASE("onednn cross-entropy and its backward match the reference", "[onednn]") {
  Backends b;
  for (auto [rows, classes] :
       {std::pair<std::int64_t, std::int64_t>{1, 1}, {7, 13}, {256, 10}, {64, 100}}) {
    INFO("N " << rows << " C " << classes);
    const Buffer scores = uniform({rows, classes}, 91, -8, 8);
    const Labels labels(rows, classes, 92);
    Buffer p_ref({rows, classes}), p({rows, classes}), loss_ref({1}), loss({1});
    b.reference->cross_entropy(scores.cview(), labels.cview(), p_ref.view(), loss_ref.view());
    b.onednn->cross_entropy(scores.cview(), labels.cview(), p.view(), loss.view());
    require_close(p, p_ref);
    require_close(loss, loss_ref);

    Buffer ds_ref({rows, classes}), ds({rows, classes});
    b.reference->cross_entropy_backward(p_ref.cview(), labels.cview(), 0.75, ds_ref.view());
    b.onednn->cross_entropy_backward(p_ref.cview(), labels.cview(), 0.75, ds.view());
    require_close(ds, ds_ref);
  }
}

TEST_CASE("onednn cross-entropy rejects a label outside (0, C)", "[onednn]") {
  Backends b;
  const Buffer scores = uniform({2, 3}, 1);
  Shape rows{2};
  std::vector<std::int64_t> bad{0, 3};
  Buffer p({2, 3}), loss({1});
  REQUIRE_THROWS_WITH(
      b.onednn->cross_entropy(scores.cview(), ConstView{bad.data(), rows, DType::int64}, p.view(),
                              loss.view()),
      Catch::Contains("label 3"));
}

TEST_CASE("onednn SVM loss and its backward (reference fallback) match the reference", "[onednn]") {
  Backends b;
  const Buffer scores = uniform({33, 10}, 101);
  const Labels labels(33, 10, 102);
  Buffer loss_ref({1}), loss({1}), ds_ref({33, 10}), ds({33, 10});
  b.reference->svm_loss(scores.cview(), labels.cview(), 1.0, loss_ref.view());
  b.onednn->svm_loss(scores.cview(), labels.cview(), 1.0, loss.view());
  require_close(loss, loss_ref);
  b.reference->svm_loss_backward(scores.cview(), labels.cview(), 1.0, 2.0, ds_ref.view());
  b.onednn->svm_loss_backward(scores.cview(), labels.cview(), 1.0, 2.0, ds.view());
  require_close(ds, ds_ref);
}

// --- layers -------------------------------------------------------------------------------

TEST_CASE("onednn batch norm train, inference and backward match the reference", "[onednn]") {
  Backends b;
  for (const Shape& shape : {Shape{1, 5}, Shape{7, 13}, Shape{33, 17}, Shape{256, 100}}) {
    for (bool affine : {true, false}) {
      INFO(shape_string(shape) << (affine ? " with" : " without") << " gamma and beta");
      const std::int64_t c = shape[1];
      const Buffer x = uniform(shape, 111, -3, 5), dy = uniform(shape, 112);
      const Buffer gamma = uniform({c}, 113, 0.5, 2), beta = uniform({c}, 114);
      const ConstView g = affine ? gamma.cview() : ConstView{};
      const ConstView be = affine ? beta.cview() : ConstView{};
      const double eps = 1e-5;

      Buffer y_ref(shape), y(shape), mean_ref({c}), mean({c}), var_ref({c}), var({c});
      b.reference->batch_norm_train(x.cview(), g, be, eps, y_ref.view(), mean_ref.view(),
                                    var_ref.view());
      b.onednn->batch_norm_train(x.cview(), g, be, eps, y.view(), mean.view(), var.view());
      require_close(y, y_ref);
      require_close(mean, mean_ref);
      require_close(var, var_ref);

      const Buffer running_mean = uniform({c}, 115), running_var = uniform({c}, 116, 0.5, 2);
      Buffer yi_ref(shape), yi(shape);
      b.reference->batch_norm_inference(x.cview(), g, be, running_mean.cview(), running_var.cview(),
                                        eps, yi_ref.view());
      b.onednn->batch_norm_inference(x.cview(), g, be, running_mean.cview(), running_var.cview(),
                                     eps, yi.view());
      require_close(yi, yi_ref);

      // N = 1 has σ² = 0, so x̂ = 0 and the gradients are pure rounding noise; skip it there.
      if (shape[0] == 1) continue;
      Buffer dx_ref(shape), dx(shape), dg_ref({c}), dg({c}), db_ref({c}), db({c});
      b.reference->batch_norm_backward(x.cview(), dy.cview(), g, mean_ref.cview(), var_ref.cview(),
                                       eps, dx_ref.view(), dg_ref.view(), db_ref.view());
      b.onednn->batch_norm_backward(x.cview(), dy.cview(), g, mean_ref.cview(), var_ref.cview(),
                                    eps, dx.view(), dg.view(), db.view());
      require_close(dx, dx_ref, 1e-4);
      require_close(dg, dg_ref);
      require_close(db, db_ref);
    }
  }
}

TEST_CASE("onednn maxout and dropout mask (fallbacks) match the reference", "[onednn]") {
  Backends b;
  const Buffer x = uniform({7, 12}, 121), dy = uniform({7, 4}, 122);
  Shape out_shape{7, 4};
  Buffer y_ref(out_shape), y(out_shape);
  std::vector<std::int64_t> arg_ref(28), arg(28);
  b.reference->maxout(x.cview(), 3, y_ref.view(), View{arg_ref.data(), out_shape, DType::int64});
  b.onednn->maxout(x.cview(), 3, y.view(), View{arg.data(), out_shape, DType::int64});
  require_close(y, y_ref);
  REQUIRE(arg == arg_ref);
  Buffer dx_ref({7, 12}), dx({7, 12});
  const ConstView argv{arg_ref.data(), out_shape, DType::int64};
  b.reference->maxout_backward(dy.cview(), argv, 3, dx_ref.view());
  b.onednn->maxout_backward(dy.cview(), argv, 3, dx.view());
  require_close(dx, dx_ref);

  Buffer mask_ref({33, 17}), mask({33, 17});
  b.reference->dropout_mask(mask_ref.view(), 0.3, 7);
  b.onednn->dropout_mask(mask.view(), 0.3, 7);
  REQUIRE(mask.values == mask_ref.values);
}

// --- filling and copying ------------------------------------------------------------------

TEST_CASE("onednn filling, random, copying and conversion kernels match the reference",
          "[onednn]") {
  Backends b;
  for (const Shape& shape : {Shape{1, 1}, Shape{7, 13}, Shape{256, 100}}) {
    INFO(shape_string(shape));
    Buffer expected(shape), actual(shape);
    b.reference->fill(expected.view(), 0.25);
    b.onednn->fill(actual.view(), 0.25);
    REQUIRE(actual.values == expected.values);
    b.reference->arange(expected.view(), -3.0, 0.5);
    b.onednn->arange(actual.view(), -3.0, 0.5);
    require_close(actual, expected);
    b.reference->random_normal(expected.view(), 1.0, 0.1, 5);
    b.onednn->random_normal(actual.view(), 1.0, 0.1, 5);
    REQUIRE(actual.values == expected.values);  // same generator, same numbers
    b.reference->random_uniform(expected.view(), -1.0, 1.0, 6);
    b.onednn->random_uniform(actual.view(), -1.0, 1.0, 6);
    REQUIRE(actual.values == expected.values);

    const Buffer x = uniform(shape, 131);
    Buffer t_ref({shape[1], shape[0]}), t({shape[1], shape[0]});
    b.reference->transpose2d(x.cview(), t_ref.view());
    b.onednn->transpose2d(x.cview(), t.view());
    REQUIRE(t.values == t_ref.values);

    Buffer y_ref = uniform(shape, 132), y = y_ref;
    b.reference->axpby(0.5, x.cview(), -2.0, y_ref.view());
    b.onednn->axpby(0.5, x.cview(), -2.0, y.view());
    require_close(y, y_ref);

    // float32 → int64 → float32
    const Buffer scaled = uniform(shape, 133, -50, 50);
    std::vector<std::int64_t> ints_ref(scaled.values.size()), ints(scaled.values.size());
    b.reference->convert(scaled.cview(), View{ints_ref.data(), shape, DType::int64});
    b.onednn->convert(scaled.cview(), View{ints.data(), shape, DType::int64});
    REQUIRE(ints == ints_ref);
    Buffer back_ref(shape), back(shape);
    b.reference->convert(ConstView{ints.data(), shape, DType::int64}, back_ref.view());
    b.onednn->convert(ConstView{ints.data(), shape, DType::int64}, back.view());
    REQUIRE(back.values == back_ref.values);
  }
  for (auto [from, to] : {std::pair<Shape, Shape>{{7}, {5, 7}},
                          {{5, 1}, {5, 7}},
                          {{3, 1, 4}, {2, 3, 2, 4}},
                          {{1}, {256, 100}}}) {
    INFO(shape_string(from) << " → " << shape_string(to));
    const Buffer x = uniform(from, 134);
    Buffer expected(to), actual(to);
    b.reference->broadcast_to(x.cview(), expected.view());
    b.onednn->broadcast_to(x.cview(), actual.view());
    REQUIRE(actual.values == expected.values);
  }
}

// --- optimiser updates --------------------------------------------------------------------

TEST_CASE("onednn optimiser updates match the reference over three steps", "[onednn]") {
  Backends b;
  for (const Shape& shape : {Shape{7, 13}, Shape{256, 300}}) {
    INFO(shape_string(shape));
    const Buffer grad = uniform(shape, 141);
    // Each optimiser runs three steps on both backends from the same start.
    auto check = [&](const char* name, auto step) {
      INFO(name);
      Buffer p_ref = uniform(shape, 142), s1_ref(shape), s2_ref(shape);
      Buffer p = p_ref, s1(shape), s2(shape);
      for (std::int64_t t = 1; t <= 3; ++t) {
        step(*b.reference, p_ref, s1_ref, s2_ref, t);
        step(*b.onednn, p, s1, s2, t);
      }
      require_close(p, p_ref);
      require_close(s1, s1_ref);
      require_close(s2, s2_ref);
    };
    check("sgd", [&](Backend& k, Buffer& p, Buffer&, Buffer&, std::int64_t) {
      k.sgd_update(p.view(), grad.cview(), View{}, 0.1, 0.0, false, 0.01);
    });
    check("momentum", [&](Backend& k, Buffer& p, Buffer& v, Buffer&, std::int64_t) {
      k.sgd_update(p.view(), grad.cview(), v.view(), 0.1, 0.9, false, 0.01);
    });
    check("nesterov", [&](Backend& k, Buffer& p, Buffer& v, Buffer&, std::int64_t) {
      k.sgd_update(p.view(), grad.cview(), v.view(), 0.1, 0.9, true, 0.01);
    });
    check("adagrad", [&](Backend& k, Buffer& p, Buffer& c, Buffer&, std::int64_t) {
      k.adagrad_update(p.view(), grad.cview(), c.view(), 0.01, 1e-8, 0.01);
    });
    check("rmsprop", [&](Backend& k, Buffer& p, Buffer& c, Buffer&, std::int64_t) {
      k.rmsprop_update(p.view(), grad.cview(), c.view(), 0.01, 0.99, 1e-8, 0.01);
    });
    check("adam", [&](Backend& k, Buffer& p, Buffer& m, Buffer& v, std::int64_t t) {
      k.adam_update(p.view(), grad.cview(), m.view(), v.view(), 1e-3, 0.9, 0.999, 1e-8, t, 0.01,
                    false);
    });
    check("adamw", [&](Backend& k, Buffer& p, Buffer& m, Buffer& v, std::int64_t t) {
      k.adam_update(p.view(), grad.cview(), m.view(), v.view(), 1e-3, 0.9, 0.999, 1e-8, t, 0.01,
                    true);
    });
  }
}

// --- dtypes and identity ------------------------------------------------------------------

TEST_CASE("onednn refuses float64 and points to the reference backend", "[onednn]") {
  Backends b;
  REQUIRE_FALSE(b.onednn->supports(DType::float64));
  REQUIRE(b.onednn->supports(DType::float32));
  Shape shape{2, 2};
  std::vector<double> x(4, 1.0), y(4);
  const ConstView in{x.data(), shape, DType::float64};
  const View out{y.data(), shape, DType::float64};
  // The message of the Error a call raises, or "" when it raises none.
  auto message_of = [](auto call) -> std::string {
    try {
      call();
    } catch (const Error& error) {
      return error.what();
    }
    return "";
  };
  const std::vector<std::string> messages = {
      message_of([&] { b.onednn->unary(UnaryOp::tanh, in, out, 0.0); }),
      message_of([&] { b.onednn->matmul(in, false, in, false, out); }),
      message_of([&] { b.onednn->fill(out, 1.0); }),
      message_of([&] { b.onednn->random_normal(out, 0.0, 1.0, 1); }),
      message_of([&] { b.onednn->argmax(in, out); }),
      message_of([&] { b.onednn->convert(in, out); }),
  };
  for (const std::string& message : messages) {
    INFO(message);
    REQUIRE(message.find("no float64") != std::string::npos);
    REQUIRE(message.find("BackendGuard(\"reference\")") != std::string::npos);
  }
}

TEST_CASE("onednn describes its version and ISA and is registered as \"onednn\"", "[onednn]") {
  Backends b;
  REQUIRE(b.onednn->name() == "onednn");
  const std::string description = b.onednn->description();
  INFO(description);
  REQUIRE(description.rfind("onednn 2.", 0) == 0);
  REQUIRE(description.find(", ISA ") != std::string::npos);
  REQUIRE(description.find("unknown") == std::string::npos);
  const auto names = available_backends();
  REQUIRE(std::find(names.begin(), names.end(), "onednn") != names.end());
  REQUIRE(backend_named("onednn").name() == "onednn");
}

// --- NaN and ±inf (issue 15, defect 6) ------------------------------------------------------

TEST_CASE("onednn matches the reference on NaN and ±inf: relu, maximum, max, softmax", "[onednn]") {
  Backends b;
  // Below and above the 4096-element threshold; softmax rows of 3 and of 100 classes.
  for (const Shape& shape : std::vector<Shape>{{7, 13}, {3, 4, 5}, {64, 100}, {2000, 3}}) {
    for (std::size_t offset : {0, 11}) {
      INFO("shape " << shape_string(shape) << ", offset " << offset);
      const Buffer x = with_non_finite(shape, 301 + offset, offset);
      const Buffer dy = uniform(shape, 302);
      for (UnaryOp op : {UnaryOp::relu}) {
        Buffer expected(shape), actual(shape);
        b.reference->unary(op, x.cview(), expected.view(), 0.0);
        b.onednn->unary(op, x.cview(), actual.view(), 0.0);
        require_close(actual, expected);
        b.reference->unary_backward(op, x.cview(), ConstView{}, dy.cview(), expected.view(), 0.0);
        b.onednn->unary_backward(op, x.cview(), ConstView{}, dy.cview(), actual.view(), 0.0);
        require_close(actual, expected);
      }
      // maximum in both orders, and against a broadcast row.
      const Buffer other = with_non_finite(shape, 303, offset + 3);
      Buffer expected(shape), actual(shape);
      b.reference->binary(BinaryOp::maximum, x.cview(), other.cview(), expected.view());
      b.onednn->binary(BinaryOp::maximum, x.cview(), other.cview(), actual.view());
      require_close(actual, expected);
      b.reference->binary(BinaryOp::maximum, other.cview(), x.cview(), expected.view());
      b.onednn->binary(BinaryOp::maximum, other.cview(), x.cview(), actual.view());
      require_close(actual, expected);
      const Buffer last_row = with_non_finite({shape.back()}, 304, offset + 1);
      b.reference->binary(BinaryOp::maximum, last_row.cview(), x.cview(), expected.view());
      b.onednn->binary(BinaryOp::maximum, last_row.cview(), x.cview(), actual.view());
      require_close(actual, expected);
      // max over the last axis, the first axis and everything; then its backward.
      std::vector<Shape> reduced = {shape, shape, Shape(shape.size(), 1)};
      reduced[0].back() = 1;
      reduced[1].front() = 1;
      for (const Shape& y_shape : reduced) {
        INFO("max to " << shape_string(y_shape));
        Buffer y_expected(y_shape), y_actual(y_shape);
        b.reference->reduce(ReduceOp::max, x.cview(), y_expected.view());
        b.onednn->reduce(ReduceOp::max, x.cview(), y_actual.view());
        require_close(y_actual, y_expected);
        const Buffer g = uniform(y_shape, 305);
        b.reference->reduce_max_backward(x.cview(), y_expected.cview(), g.cview(), expected.view());
        b.onednn->reduce_max_backward(x.cview(), y_actual.cview(), g.cview(), actual.view());
        require_close(actual, expected);
      }
      // softmax and log-softmax over the last axis, forward and backward.
      for (bool log : {false, true}) {
        INFO((log ? "log_softmax" : "softmax"));
        b.reference->softmax(x.cview(), expected.view(), log);
        b.onednn->softmax(x.cview(), actual.view(), log);
        require_close(actual, expected);
        Buffer dx_expected(shape), dx_actual(shape);
        b.reference->softmax_backward(expected.cview(), dy.cview(), dx_expected.view(), log);
        b.onednn->softmax_backward(actual.cview(), dy.cview(), dx_actual.view(), log);
        require_close(dx_actual, dx_expected);
      }
    }
  }
}
