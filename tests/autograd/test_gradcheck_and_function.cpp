// Custom ops through the Function API, and gradcheck's report: it must catch a wrong backward,
// tell kinks apart from bugs, and check zero upstream and determinism.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "autograd/function.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"

using namespace gradlab;

namespace {

// A hand-written "multiply-add" gate: f(x, y) = x·y + x.
struct MulAdd : Function<MulAdd> {
  static constexpr const char* name = "mul_add";
  static Tensor forward(FunctionContext& ctx, const Tensor& x, const Tensor& y) {
    ctx.save_for_backward({x, y});
    return x * y + x;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& upstream) {
    const Tensor& x = ctx.saved(0);
    const Tensor& y = ctx.saved(1);
    return {upstream * (y + 1.0), upstream * x};
  }
};

// The same gate with a deliberately wrong backward: forgets the "+ 1" of ∂f/∂x.
struct WrongMulAdd : Function<WrongMulAdd> {
  static constexpr const char* name = "wrong_mul_add";
  static Tensor forward(FunctionContext& ctx, const Tensor& x, const Tensor& y) {
    ctx.save_for_backward({x, y});
    return x * y + x;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& upstream) {
    return {upstream * ctx.saved(1), upstream * ctx.saved(0)};
  }
};

// A scaled sigmoid with a constant kept in the context's values: f(x) = σ(k·x).
struct ScaledSigmoid : Function<ScaledSigmoid> {
  static Tensor forward(FunctionContext& ctx, const Tensor& x, double k) {
    ctx.values["k"] = k;
    Tensor y = sigmoid(x * k);
    ctx.save_for_backward({y});
    return y;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& upstream) {
    const Tensor& y = ctx.saved(0);
    return {upstream * y * (1.0 - y) * ctx.values["k"]};
  }
};

// A backward that depends on a hidden counter: not deterministic.
struct Flaky : Function<Flaky> {
  static inline int calls = 0;
  static Tensor forward(FunctionContext&, const Tensor& x) { return x * 2.0; }
  static std::vector<Tensor> backward(FunctionContext&, const Tensor& upstream) {
    return {upstream * (2.0 + 1e-3 * (++calls % 2))};
  }
};

Tensor leaf64(std::vector<double> values) {
  return from(values, {}, {.dtype = DType::float64, .requires_grad = true});
}

}  // namespace

TEST_CASE("a custom op records a node and its backward gives the hand-derived gradients") {
  Tensor x = leaf64({2.0, -1.0}), y = leaf64({3.0, 4.0});
  Tensor z = MulAdd::apply(x, y);
  CHECK(z.op_name() == "mul_add");
  CHECK(z.to_vector() == std::vector<double>{8.0, -5.0});
  z.sum().backward();
  CHECK(x.grad().to_vector() == std::vector<double>{4.0, 5.0});
  CHECK(y.grad().to_vector() == std::vector<double>{2.0, -1.0});
}

TEST_CASE("gradcheck passes a correct custom op") {
  manual_seed(7);
  Tensor x = randn({3, 4}, {.dtype = DType::float64, .requires_grad = true});
  Tensor y = randn({3, 4}, {.dtype = DType::float64, .requires_grad = true});
  GradcheckOptions options;
  options.name = "mul_add";
  options.input_names = {"x", "y"};
  GradcheckResult result =
      gradcheck([](auto& in) { return MulAdd::apply(in[0], in[1]); }, {x, y}, options);
  INFO(result.report());
  CHECK(result.passed);
  CHECK(result.inputs.size() == 2);
  CHECK(result.inputs[0].max_relative_error < 1e-7);
  CHECK(result.inputs[0].verdict == GradcheckVerdict::good);
  CHECK_THAT(result.report(),
             Catch::Contains("PASSED") && Catch::Contains("x") && Catch::Contains("good"));
}

TEST_CASE("gradcheck catches a wrong backward and reports the worst element with both values") {
  manual_seed(8);
  Tensor x = randn({2, 3}, {.dtype = DType::float64, .requires_grad = true});
  Tensor y = randn({2, 3}, {.dtype = DType::float64, .requires_grad = true});
  GradcheckOptions options;
  options.input_names = {"x", "y"};
  GradcheckResult result =
      gradcheck([](auto& in) { return WrongMulAdd::apply(in[0], in[1]); }, {x, y}, options);
  CHECK_FALSE(result.passed);
  CHECK(result.inputs[0].verdict == GradcheckVerdict::wrong);
  CHECK(result.inputs[0].worst_index >= 0);
  CHECK(result.inputs[0].analytic != Approx(result.inputs[0].numeric));
  CHECK(result.inputs[1].verdict == GradcheckVerdict::good);  // ∂f/∂y was right
  CHECK_THAT(result.report(), Catch::Contains("FAILED") && Catch::Contains("wrong"));
  nlohmann::json json = nlohmann::json::parse(result.to_json());
  CHECK(json["passed"] == false);
  CHECK(json["inputs"][0]["verdict"] == "wrong");
}

TEST_CASE("gradcheck checks custom ops with non-tensor arguments") {
  Tensor x = randn({5}, {.dtype = DType::float64, .requires_grad = true});
  GradcheckResult result =
      gradcheck([](auto& in) { return ScaledSigmoid::apply(in[0], 2.5); }, {x});
  INFO(result.report());
  CHECK(result.passed);
}

TEST_CASE("gradcheck flags a kink instead of calling it a bug") {
  // relu at exactly 0: the one-sided slopes are 1 and 0.
  Tensor x = from({0.0, 1.0, -1.0}, {}, {.dtype = DType::float64, .requires_grad = true});
  GradcheckResult result = gradcheck([](auto& in) { return relu(in[0]); }, {x});
  INFO(result.report());
  CHECK(result.inputs[0].kink_elements == 1);
  CHECK(result.passed);
}

TEST_CASE("gradcheck notices a non-deterministic backward") {
  Tensor x = randn({3}, {.dtype = DType::float64, .requires_grad = true});
  GradcheckResult result = gradcheck([](auto& in) { return Flaky::apply(in[0]); }, {x});
  CHECK_FALSE(result.deterministic);
  CHECK_FALSE(result.passed);
}

TEST_CASE("gradcheck's sparse mode checks k elements of a big input") {
  Tensor x = randn({300, 200}, {.dtype = DType::float64, .requires_grad = true});
  GradcheckOptions options;
  options.sparse_elements = 25;
  GradcheckResult result = gradcheck([](auto& in) { return tanh(in[0]); }, {x}, options);
  CHECK(result.inputs[0].elements_checked == 25);
  CHECK(result.passed);
}

TEST_CASE("gradcheck runs in float64 on the reference backend even from float32 inputs") {
  Tensor x = randn({4}, {.requires_grad = true});  // float32
  GradcheckResult result = gradcheck([](auto& in) { return exp(in[0]); }, {x});
  INFO(result.report());
  CHECK(result.passed);
  CHECK(x.dtype() == DType::float32);  // the caller's tensor is untouched
}
