// Layers: forward values, gradchecks (float64) of every layer's input and parameters, BatchNorm's
// two modes and running averages, Dropout's statistics, and bad-input messages.
#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "backends/backend.hpp"
#include "modules/nn/nn.hpp"

using namespace gradlab;

namespace {

constexpr TensorOptions f64{.dtype = DType::float64};

Tensor random64(const Shape& shape) { return (rand(shape, f64) * 4.0 - 2.0).requires_grad_(true); }

// Gradchecks `layer` with respect to its input and the parameters `members` point at. gradcheck
// perturbs float64 copies of its inputs, so the function plugs those copies into the layer's
// members for each evaluation; the original parameters are put back afterwards.
void require_layer_gradcheck(const std::string& name, nn::Module& layer, const Tensor& input,
                             const std::vector<Tensor*>& members) {
  std::vector<Tensor> originals;
  std::vector<Tensor> inputs{input};
  std::vector<std::string> input_names{"input"};
  for (Tensor* member : members) {
    originals.push_back(*member);
    inputs.push_back(*member);
  }
  for (const auto& [parameter_name, tensor] : layer.named_parameters())
    input_names.push_back(parameter_name);
  GradcheckOptions options;
  options.name = name;
  options.input_names = input_names;
  const GradcheckResult result = gradcheck(
      [&](const std::vector<Tensor>& in) {
        for (std::size_t i = 0; i < members.size(); ++i) *members[i] = in[i + 1];
        return layer(in[0]);
      },
      inputs, options);
  for (std::size_t i = 0; i < members.size(); ++i) *members[i] = originals[i];
  INFO(result.report());
  REQUIRE(result.passed);
  REQUIRE(result.inputs.size() == inputs.size());
  for (const GradcheckInput& checked : result.inputs)
    CHECK((checked.max_relative_error <= 1e-7 || checked.kink_elements > 0));
}

}  // namespace

// --- gradchecks ---------------------------------------------------------------------------

TEST_CASE("gradcheck: Linear's input, weight and bias") {
  BackendGuard reference("reference");
  manual_seed(1);
  nn::Linear layer(5, 3, {.dtype = DType::float64});
  require_layer_gradcheck("Linear", layer, random64({4, 5}), {&layer.weight, &layer.bias});
}

TEST_CASE("gradcheck: the activation layers' inputs") {
  BackendGuard reference("reference");
  manual_seed(2);
  nn::Sigmoid sigmoid_layer;
  nn::Tanh tanh_layer;
  nn::ReLU relu_layer;
  nn::LeakyReLU leaky_layer(0.1);
  nn::ELU elu_layer(0.7);
  require_layer_gradcheck("Sigmoid", sigmoid_layer, random64({3, 4}), {});
  require_layer_gradcheck("Tanh", tanh_layer, random64({3, 4}), {});
  require_layer_gradcheck("ReLU", relu_layer, random64({3, 4}), {});
  require_layer_gradcheck("LeakyReLU", leaky_layer, random64({3, 4}), {});
  require_layer_gradcheck("ELU", elu_layer, random64({3, 4}), {});
}

TEST_CASE("gradcheck: PReLU's input and its learned slope, per feature and shared") {
  BackendGuard reference("reference");
  manual_seed(3);
  nn::PReLU per_feature(4, {.init = 0.3, .dtype = DType::float64});
  require_layer_gradcheck("PReLU per feature", per_feature, random64({6, 4}),
                          {&per_feature.weight});
  nn::PReLU shared(1, {.dtype = DType::float64});
  require_layer_gradcheck("PReLU shared", shared, random64({6, 4}), {&shared.weight});
}

TEST_CASE("gradcheck: Maxout's input, weight and bias") {
  BackendGuard reference("reference");
  manual_seed(4);
  nn::Maxout layer(5, 3, 2, {.dtype = DType::float64});
  require_layer_gradcheck("Maxout", layer, random64({4, 5}), {&layer.weight, &layer.bias});
}

TEST_CASE("gradcheck: BatchNorm1d in training mode, input, gamma and beta") {
  BackendGuard reference("reference");
  manual_seed(5);
  nn::BatchNorm1d layer(3, {.dtype = DType::float64});
  {
    NoGradGuard
        no_grad;  // γ, β away from their defaults so that every term of the backward matters
    nn::init::uniform_(layer.weight, 0.5, 1.5);
    nn::init::uniform_(layer.bias, -0.5, 0.5);
  }
  require_layer_gradcheck("BatchNorm1d", layer, random64({6, 3}), {&layer.weight, &layer.bias});
}

TEST_CASE("gradcheck: an MLP with BatchNorm, through all its parameters at once") {
  BackendGuard reference("reference");
  manual_seed(6);
  nn::Sequential net =
      nn::MLP({4, 5, 3}, {.activation = "tanh", .batchnorm = true, .dtype = DType::float64});
  std::vector<Tensor*> members{&net.at<nn::Linear>(0).weight,      &net.at<nn::Linear>(0).bias,
                               &net.at<nn::BatchNorm1d>(1).weight, &net.at<nn::BatchNorm1d>(1).bias,
                               &net.at<nn::Linear>(3).weight,      &net.at<nn::Linear>(3).bias};
  require_layer_gradcheck("MLP", net, random64({6, 4}), members);
}

// --- forward values -----------------------------------------------------------------------

TEST_CASE("Linear computes x · W + b with W laid out (in, out)") {
  nn::Linear layer(2, 3, {.bias_init = 0.5});
  CHECK(layer.weight.shape() == Shape{2, 3});
  CHECK(layer.bias.to_vector() == std::vector<double>{0.5, 0.5, 0.5});
  Tensor x = from({1, 2}, {1, 2});
  const std::vector<double> w = layer.weight.to_vector();  // row-major [2, 3]
  const std::vector<double> y = layer(x).to_vector();
  for (int j = 0; j < 3; ++j) CHECK(y[j] == Approx(1 * w[j] + 2 * w[3 + j] + 0.5));
}

TEST_CASE("Linear without bias has only a weight") {
  nn::Linear layer(2, 3, {.bias = false});
  CHECK_FALSE(layer.bias.defined());
  CHECK(layer.parameters().size() == 1);
  CHECK(layer.extra_repr() == "in_features=2, out_features=3, bias=false");
}

TEST_CASE("activation layers give the lecture's values at -2 and 3") {
  Tensor x = from({-2, 3}, {1, 2});
  CHECK(nn::ReLU()(x).to_vector() == std::vector<double>{0, 3});
  CHECK(nn::LeakyReLU()(x).to_vector()[0] == Approx(-0.02));
  CHECK(nn::LeakyReLU(0.1)(x).to_vector()[0] == Approx(-0.2));
  CHECK(nn::ELU()(x).to_vector()[0] == Approx(std::exp(-2.0) - 1.0));
  CHECK(nn::ELU(2.0)(x).to_vector()[1] == Approx(3.0));
  CHECK(nn::Sigmoid()(x).to_vector()[1] == Approx(1.0 / (1.0 + std::exp(-3.0))));
  CHECK(nn::Tanh()(x).to_vector()[0] == Approx(std::tanh(-2.0)));
}

TEST_CASE("PReLU starts at slope 0.25 and learns its slope by backprop") {
  nn::PReLU layer(2);
  CHECK(layer.weight.to_vector() == std::vector<double>{0.25, 0.25});
  Tensor x = from({-2, 3, -4, -1}, {2, 2});
  // y = [[−0.5, 3], [−1, −0.25]]; dL/dα_c = Σ_n x[n, c] over negative x: α₀: −2 − 4 = −6, α₁: −1
  CHECK(layer(x).to_vector() == std::vector<double>{-0.5, 3, -1, -0.25});
  layer(x).sum().backward();
  CHECK(layer.weight.grad().to_vector() == std::vector<double>{-6, -1});
}

TEST_CASE("Maxout takes the max over each group of pieces") {
  nn::Maxout layer(1, 2, 3, {.bias_init = 0.0});
  {
    NoGradGuard no_grad;
    // W [1, 6] = [1, −1, 2, | 0.5, −3, 0.25]: out 0 = max(x, −x, 2x), out 1 = max(x/2, −3x, x/4)
    const float values[6] = {1, -1, 2, 0.5f, -3, 0.25f};
    for (int i = 0; i < 6; ++i) layer.weight.data<float>()[i] = values[i];
  }
  // x = 2 → [4, 1];  x = −1 → [1, 3]
  CHECK(layer(from({2, -1}, {2, 1})).to_vector() == std::vector<double>{4, 1, 1, 3});
}

// --- BatchNorm1d --------------------------------------------------------------------------

TEST_CASE("BatchNorm1d in training mode gives zero-mean, unit-variance columns") {
  nn::BatchNorm1d layer(2);
  Tensor x = from({1, 10, 2, 20, 3, 30, 4, 40}, {4, 2});
  const std::vector<double> y = layer(x).to_vector();
  // column 0: μ = 2.5, σ² = 1.25 (biased) → (x − 2.5)/√1.25 = [−1.342, −0.447, 0.447, 1.342]
  CHECK(y[0] == Approx(-1.5 / std::sqrt(1.25 + 1e-5)));
  CHECK(y[2] == Approx(-0.5 / std::sqrt(1.25 + 1e-5)));
  CHECK(y[6] == Approx(1.5 / std::sqrt(1.25 + 1e-5)));
  // column 1: μ = 25, σ² = 125 → −15/√125 = −1.342 (the same up to eps)
  CHECK(y[1] == Approx(-15.0 / std::sqrt(125.0 + 1e-5)));
}

TEST_CASE(
    "BatchNorm1d updates running averages with momentum on the new batch and unbiased variance") {
  nn::BatchNorm1d layer(1, {.momentum = 0.1});
  layer(from({1, 2, 3, 4}, {4, 1}));
  // μ = 2.5, unbiased variance = 5/3:
  // running_mean = 0.9 · 0 + 0.1 · 2.5 = 0.25; running_var = 0.9 · 1 + 0.1 · 5/3 = 1.0666…
  CHECK(layer.running_mean.item() == Approx(0.25));
  CHECK(layer.running_var.item() == Approx(0.9 + 0.1 * 5.0 / 3.0));
  layer(from({1, 2, 3, 4}, {4, 1}));
  // again: 0.9 · 0.25 + 0.1 · 2.5 = 0.475
  CHECK(layer.running_mean.item() == Approx(0.475));
}

TEST_CASE("BatchNorm1d in eval mode uses the running averages and leaves them alone") {
  nn::BatchNorm1d layer(1);
  {
    NoGradGuard no_grad;
    nn::init::constant_(layer.running_mean, 2.0);
    nn::init::constant_(layer.running_var, 4.0);
    nn::init::constant_(layer.weight, 3.0);
    nn::init::constant_(layer.bias, 1.0);
  }
  layer.eval();
  // y = γ (x − 2)/√(4 + eps) + β = 3 (x − 2)/2 + 1 → x = 0: −2, x = 6: 7, and one row works
  const std::vector<double> y = layer(from({0, 6}, {2, 1})).to_vector();
  CHECK(y[0] == Approx(-2.0).epsilon(1e-5));
  CHECK(y[1] == Approx(7.0).epsilon(1e-5));
  CHECK(layer(from({6}, {1, 1})).item() == Approx(7.0).epsilon(1e-5));
  CHECK(layer.running_mean.item() == 2.0);
  CHECK(layer.running_var.item() == 4.0);
}

TEST_CASE("BatchNorm1d refuses one-row batches in training mode and wrong widths") {
  nn::BatchNorm1d layer(3);
  CHECK_THROWS_WITH(layer(randn({1, 3})),
                    Catch::Contains("BatchNorm1d: training mode needs at least 2 rows"));
  CHECK_THROWS_WITH(layer(randn({4, 2})),
                    Catch::Contains("BatchNorm1d: expects input [N, 3], got [4, 2]"));
  CHECK_THROWS_WITH(nn::BatchNorm1d(3, {.momentum = 1.5}),
                    Catch::Contains("momentum must lie in [0, 1]"));
}

// --- Dropout ------------------------------------------------------------------------------

TEST_CASE("Dropout keeps a fraction 1 − p, scales by 1/(1 − p), and preserves the mean") {
  manual_seed(7);
  nn::Dropout layer(0.3);
  const std::vector<double> y = layer(ones({1000, 100})).to_vector();
  std::int64_t dropped = 0;
  double total = 0;
  for (double v : y) {
    if (v == 0.0) {
      ++dropped;
    } else {
      CHECK(v == Approx(1.0 / 0.7));
    }
    total += v;
  }
  // 100,000 Bernoulli draws: the dropped fraction has std √(0.3·0.7/1e5) ≈ 0.0015, the mean
  // √(0.3/0.7/1e5) ≈ 0.002; the tolerances are > 3 standard deviations.
  CHECK(static_cast<double>(dropped) / 1e5 == Approx(0.3).margin(0.006));
  CHECK(total / 1e5 == Approx(1.0).margin(0.008));
}

TEST_CASE("Dropout is the identity in eval mode and with p = 0") {
  Tensor x = randn({4, 5});
  nn::Dropout layer(0.5);
  layer.eval();
  CHECK(layer(x).to_vector() == x.to_vector());
  nn::Dropout none(0.0);
  CHECK(none(x).to_vector() == x.to_vector());
}

TEST_CASE("seeded Dropout repeats its masks across runs while successive masks differ") {
  nn::Dropout first(0.5, 42);
  nn::Dropout second(0.5, 42);
  Tensor x = ones({20, 20});
  const auto a1 = first(x).to_vector();
  const auto a2 = first(x).to_vector();
  CHECK(second(x).to_vector() == a1);
  CHECK(second(x).to_vector() == a2);
  CHECK(a1 != a2);
}

TEST_CASE("Dropout's gradient is the mask") {
  nn::Dropout layer(0.5, 3);
  Tensor x = ones({10, 10}).requires_grad_(true);
  Tensor y = layer(x);
  y.sum().backward();
  CHECK(x.grad().to_vector() == y.to_vector());  // y = mask ⊙ 1
}

TEST_CASE("Dropout refuses p outside (0, 1)") {
  CHECK_THROWS_WITH(nn::Dropout(1.0), Catch::Contains("Dropout: p must lie in [0, 1), got 1"));
  CHECK_THROWS_WITH(nn::Dropout(-0.1), Catch::Contains("Dropout: p must lie in [0, 1)"));
}

// --- bad input ----------------------------------------------------------------------------

TEST_CASE("layers name themselves and the shapes when the input does not fit") {
  CHECK_THROWS_WITH(nn::Linear(3, 2)(randn({4, 5})),
                    Catch::Contains("Linear: expects input [N, 3], got [4, 5]"));
  CHECK_THROWS_WITH(nn::Maxout(3, 2, 2)(randn({4})),
                    Catch::Contains("Maxout: expects input [N, 3], got [4]"));
  CHECK_THROWS_WITH(nn::PReLU(3)(randn({4, 2})),
                    Catch::Contains("PReLU: expects input [N, 3], got [4, 2]"));
  CHECK_THROWS_WITH(nn::Linear(0, 2),
                    Catch::Contains("Linear: in_features must be positive, got 0"));
  CHECK_THROWS_WITH(nn::Maxout(3, 2, 0), Catch::Contains("Maxout: pieces must be positive, got 0"));
  CHECK_THROWS_WITH(nn::Linear(3, 2, {.dtype = DType::int64}),
                    Catch::Contains("Linear: parameters must be float32 or float64"));
}
