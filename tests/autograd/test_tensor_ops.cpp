// Every differentiable tensor op, gradchecked in float64 on the reference backend, plus the
// lecture's hand-computed examples, broadcasting gradients and the engine's bookkeeping.
#include <catch2/catch.hpp>

#include <cmath>

#include "autograd/gradcheck.hpp"
#include "autograd/node.hpp"
#include "autograd/ops.hpp"
#include "backends/backend.hpp"

using namespace gradlab;

namespace {

Tensor random64(const Shape& shape, double low = -2.0, double high = 2.0) {
  return (rand(shape, {.dtype = DType::float64}) * (high - low) + low).requires_grad_(true);
}

// Values bounded away from zero, for log, sqrt, division and kinks.
Tensor positive64(const Shape& shape) {
  return (rand(shape, {.dtype = DType::float64}) + 0.5).requires_grad_(true);
}

void require_gradcheck(const std::string& name, const GradcheckFunction& f,
                       const std::vector<Tensor>& inputs) {
  GradcheckOptions options;
  options.name = name;
  GradcheckResult result = gradcheck(f, inputs, options);
  INFO(result.report());
  REQUIRE(result.passed);
  for (const GradcheckInput& input : result.inputs) {
    CHECK((input.max_relative_error <= 1e-7 || input.kink_elements > 0));
  }
}

}  // namespace

TEST_CASE("the lecture's f = (x + y) * z at -2, 5, -4 gives -12 and gradients -4, -4, 3") {
  Tensor x = from({-2.0}, {}, {.dtype = DType::float64, .requires_grad = true});
  Tensor y = from({5.0}, {}, {.dtype = DType::float64, .requires_grad = true});
  Tensor z = from({-4.0}, {}, {.dtype = DType::float64, .requires_grad = true});
  Tensor f = (x + y) * z;
  REQUIRE(f.item() == -12.0);
  f.backward();
  CHECK(x.grad().item() == -4.0);
  CHECK(y.grad().item() == -4.0);
  CHECK(z.grad().item() == 3.0);
}

TEST_CASE("the lecture's sigmoid neuron gives 0.73 and dw = (-0.20, -0.39, 0.20)") {
  Tensor w = from({2, -3, -3}, {}, {.dtype = DType::float64, .requires_grad = true});
  Tensor x = from({-1, -2, 1}, {}, {.dtype = DType::float64});  // the 1 multiplies the bias
  Tensor out = sigmoid(sum(w * x));
  CHECK(out.item() == Approx(0.7310585786));
  out.backward();
  std::vector<double> dw = w.grad().to_vector();
  CHECK(dw[0] == Approx(-0.1966119332));
  CHECK(dw[1] == Approx(-0.3932238664));
  CHECK(dw[2] == Approx(0.1966119332));
}

TEST_CASE("a tensor used twice receives both gradient contributions") {
  Tensor a = from({3.0}, {}, {.dtype = DType::float64, .requires_grad = true});
  Tensor b = a + a;
  Tensor c = b + b;
  c.backward();
  CHECK(a.grad().item() == 4.0);
}

TEST_CASE("calling backward twice accumulates leaf gradients") {
  Tensor a = from({3.0}, {}, {.dtype = DType::float64, .requires_grad = true});
  Tensor y = a * a;
  y.backward();
  CHECK(a.grad().item() == 6.0);
  y.backward();
  CHECK(a.grad().item() == 12.0);
  a.zero_grad();
  CHECK_FALSE(a.grad().defined());
}

TEST_CASE("a chain of 1,000,000 tensor ops back-propagates and is freed without recursion") {
  Tensor x = ones({1}, {.requires_grad = true});
  Tensor h = x;
  for (int i = 0; i < 1000000; ++i) h = h * 1.0;
  h.sum().backward();
  CHECK(x.grad().item() == 1.0);
  h = Tensor();  // frees the whole chain
  SUCCEED("destroyed");
}

TEST_CASE("broadcasting gradients are summed back to each input's shape") {
  Tensor a = ones({2, 3}, {.dtype = DType::float64, .requires_grad = true});
  Tensor b = from({1, 2, 3}, {3}, {.dtype = DType::float64, .requires_grad = true});
  Tensor c = from({10, 20}, {2, 1}, {.dtype = DType::float64, .requires_grad = true});
  ((a * b) + c).sum().backward();
  CHECK(a.grad().to_vector() == std::vector<double>{1, 2, 3, 1, 2, 3});
  CHECK(b.grad().to_vector() == std::vector<double>{2, 2, 2});
  CHECK(c.grad().to_vector() == std::vector<double>{3, 3});
  CHECK(c.grad().shape() == Shape{2, 1});
}

TEST_CASE("elementwise binary ops pass gradcheck with broadcasting") {
  manual_seed(1);
  Tensor a = random64({3, 4}), b = random64({4}), c = positive64({3, 1});
  require_gradcheck("add", [](auto& in) { return in[0] + in[1]; }, {a, b});
  require_gradcheck("sub", [](auto& in) { return in[0] - in[1]; }, {a, c});
  require_gradcheck("mul", [](auto& in) { return in[0] * in[1]; }, {a, b});
  require_gradcheck("div", [](auto& in) { return in[0] / in[1]; }, {a, c});
  require_gradcheck("maximum", [](auto& in) { return maximum(in[0], in[1]); }, {a, b});
  require_gradcheck("scalar forms",
                    [](auto& in) { return (2.0 - in[0]) * 3.0 / 4.0 + 1.0 + 5.0 / in[1]; }, {a, c});
}

TEST_CASE("elementwise unary ops and activations pass gradcheck") {
  manual_seed(2);
  Tensor x = random64({4, 5});
  Tensor p = positive64({4, 5});
  require_gradcheck("neg", [](auto& in) { return -in[0]; }, {x});
  require_gradcheck("exp", [](auto& in) { return exp(in[0]); }, {x});
  require_gradcheck("log", [](auto& in) { return log(in[0]); }, {p});
  require_gradcheck("pow", [](auto& in) { return pow(in[0], 3.0); }, {x});
  require_gradcheck("pow fractional", [](auto& in) { return pow(in[0], 1.5); }, {p});
  require_gradcheck("sqrt", [](auto& in) { return sqrt(in[0]); }, {p});
  require_gradcheck("sigmoid", [](auto& in) { return sigmoid(in[0]); }, {x});
  require_gradcheck("tanh", [](auto& in) { return tanh(in[0]); }, {x});
  require_gradcheck("relu", [](auto& in) { return relu(in[0]); }, {x});
  require_gradcheck("leaky_relu", [](auto& in) { return leaky_relu(in[0], 0.1); }, {x});
  require_gradcheck("elu", [](auto& in) { return elu(in[0], 1.0); }, {x});
  Tensor shared = from({0.25}, {1}, {.dtype = DType::float64, .requires_grad = true});
  Tensor per_feature = random64({5}, 0.1, 0.5);
  require_gradcheck("prelu shared", [](auto& in) { return prelu(in[0], in[1]); }, {x, shared});
  require_gradcheck("prelu per feature", [](auto& in) { return prelu(in[0], in[1]); },
                    {x, per_feature});
  require_gradcheck("maxout", [](auto& in) { return maxout(in[0], 3); }, {random64({4, 6})});
  require_gradcheck("softmax", [](auto& in) { return softmax(in[0]); }, {x});
  require_gradcheck("log_softmax", [](auto& in) { return log_softmax(in[0]); }, {x});
}

TEST_CASE("reductions and shape ops pass gradcheck") {
  manual_seed(3);
  Tensor x = random64({3, 4, 2});
  require_gradcheck("sum all", [](auto& in) { return sum(in[0]); }, {x});
  require_gradcheck("sum axis", [](auto& in) { return sum(in[0], 1); }, {x});
  require_gradcheck("sum keepdim", [](auto& in) { return sum(in[0], -1, true); }, {x});
  require_gradcheck("mean all", [](auto& in) { return mean(in[0]); }, {x});
  require_gradcheck("mean axis", [](auto& in) { return mean(in[0], 0); }, {x});
  require_gradcheck("max all", [](auto& in) { return max(in[0]); }, {x});
  require_gradcheck("max axis", [](auto& in) { return max(in[0], 2, true); }, {x});
  require_gradcheck("reshape", [](auto& in) { return reshape(in[0], {4, -1}) * 2.0; }, {x});
  Tensor m = random64({3, 5});
  require_gradcheck("transpose", [](auto& in) { return transpose(in[0]); }, {m});
  require_gradcheck("broadcast_to", [](auto& in) { return broadcast_to(in[0], {2, 3, 5}); }, {m});
  require_gradcheck("sum_to", [](auto& in) { return sum_to(in[0], {5}); }, {m});
}

TEST_CASE("matrix products and layers pass gradcheck") {
  manual_seed(4);
  Tensor a = random64({5, 3}), b = random64({3, 4}), bias = random64({4});
  require_gradcheck("matmul", [](auto& in) { return matmul(in[0], in[1]); }, {a, b});
  require_gradcheck("linear", [](auto& in) { return linear(in[0], in[1], in[2]); }, {a, b, bias});
  require_gradcheck("linear without bias", [](auto& in) { return linear(in[0], in[1]); }, {a, b});
  Tensor x = random64({6, 4});
  Tensor gamma = random64({4}, 0.5, 1.5), beta = random64({4});
  require_gradcheck(
      "batch_norm train",
      [](auto& in) { return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true); },
      {x, gamma, beta});
  Tensor running_mean = zeros({4}, {.dtype = DType::float64});
  Tensor running_var = ones({4}, {.dtype = DType::float64});
  require_gradcheck(
      "batch_norm eval",
      [&](auto& in) { return batch_norm(in[0], in[1], in[2], running_mean, running_var, false); },
      {x, gamma, beta});
  require_gradcheck("dropout with a fixed seed",
                    [](auto& in) { return dropout(in[0], 0.5, true, 42); }, {x});
}

TEST_CASE("losses pass gradcheck") {
  manual_seed(5);
  Tensor scores = random64({5, 4});
  Tensor y = labels({0, 3, 1, 1, 2});
  require_gradcheck("cross_entropy", [y](auto& in) { return cross_entropy(in[0], y); }, {scores});
  require_gradcheck("svm_loss", [y](auto& in) { return svm_loss(in[0], y); }, {scores});
}

TEST_CASE("cross-entropy of uniform scores is ln C and is stable at scores of 1e4") {
  Tensor uniform = zeros({4, 10});
  CHECK(cross_entropy(uniform, labels({1, 2, 3, 4})).item() ==
        Approx(std::log(10.0)).epsilon(1e-6));
  Tensor huge = from({1e4, -1e4, 0, 1e4, 1e4, -1e4}, {2, 3});
  Tensor loss = cross_entropy(huge, labels({0, 2}));
  CHECK(std::isfinite(loss.item()));
  CHECK(loss.item() == Approx((0.0 + (std::log(2.0) + 2e4)) / 2.0));
}

TEST_CASE("batch norm in training mode normalises each column and updates running averages") {
  Tensor x = from({1, 10, 3, 30}, {2, 2});
  Tensor running_mean = zeros({2}), running_var = ones({2});
  Tensor y = batch_norm(x, ones({2}), zeros({2}), running_mean, running_var, true, 0.1);
  std::vector<double> out = y.to_vector();
  CHECK(out[0] == Approx(-1.0).epsilon(1e-4));
  CHECK(out[2] == Approx(1.0).epsilon(1e-4));
  CHECK(running_mean.to_vector()[0] == Approx(0.2));  // 0.9·0 + 0.1·2
  CHECK(running_var.to_vector()[0] == Approx(1.1));   // 0.9·1 + 0.1·(2/1·1): unbiased variance 2
}

TEST_CASE("bad input raises errors that name the op and both shapes") {
  Tensor a = zeros({2, 3}), b = zeros({4, 5});
  CHECK_THROWS_WITH(
      a + b, Catch::Contains("add") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 5]"));
  CHECK_THROWS_WITH(matmul(a, a), Catch::Contains("matmul") && Catch::Contains("[2, 3]"));
  CHECK_THROWS_WITH(linear(a, b), Catch::Contains("linear") && Catch::Contains("[4, 5]"));
  CHECK_THROWS_WITH(a + zeros({2, 3}, {.dtype = DType::float64}), Catch::Contains("dtype"));
  CHECK_THROWS_WITH(cross_entropy(a, labels({0, 7})), Catch::Contains("7"));
  CHECK_THROWS_WITH(cross_entropy(a, labels({0})),
                    Catch::Contains("[1]") && Catch::Contains("[2, 3]"));
  CHECK_THROWS_WITH(cross_entropy(a, zeros({2})), Catch::Contains("int64"));
  CHECK_THROWS_WITH(softmax(zeros({0, 3})), Catch::Contains("empty"));
  CHECK_THROWS_WITH(reshape(a, {4, 2}), Catch::Contains("[2, 3]") && Catch::Contains("[4, 2]"));
  CHECK_THROWS_WITH(maxout(a, 2), Catch::Contains("maxout"));
  CHECK_THROWS_WITH(batch_norm(zeros({1, 3}), ones({3}), zeros({3}), Tensor(), Tensor(), true),
                    Catch::Contains("at least 2"));
  CHECK_THROWS_WITH(sum(a, 5), Catch::Contains("axis 5"));
  CHECK_THROWS_WITH(zeros({2}).backward(), Catch::Contains("require"));
  CHECK_THROWS_WITH(set_backend("cuda"), Catch::Contains("cuda") && Catch::Contains("reference"));
  CHECK_THROWS_WITH(dropout(a, 1.5, true), Catch::Contains("dropout"));
}

TEST_CASE("NoGradGuard stops recording and detach cuts the graph") {
  Tensor w = ones({2}, {.requires_grad = true});
  {
    NoGradGuard guard;
    Tensor y = w * 2.0;
    CHECK_FALSE(y.requires_grad());
  }
  Tensor z = (w * 2.0).detach();
  CHECK_FALSE(z.requires_grad());
  CHECK(z.is_leaf());
  CHECK((w * 2.0).op_name() == "scale");
}

TEST_CASE("printing shows values, shape, dtype and the op") {
  Tensor x = from({1, 2, 3, 4}, {2, 2}, {.requires_grad = true});
  std::string text = to_string(x * 2.0);
  CHECK_THAT(text, Catch::Contains("[[2, 4]") && Catch::Contains("shape=[2, 2]") &&
                       Catch::Contains("float32") && Catch::Contains("grad_fn=scale"));
}

TEST_CASE("retain_grad keeps an intermediate gradient") {
  Tensor x = from({2.0}, {}, {.requires_grad = true});
  Tensor h = x * 3.0;
  h.retain_grad();
  (h * h).backward();
  CHECK(h.grad().item() == Approx(12.0));
  CHECK(x.grad().item() == Approx(36.0));
}
