// Optimisers and schedules against trajectories derived by hand from the course notes' formulas,
// on every available backend; frozen parameters stay untouched.
//
// The set-up of every trajectory: a parameter x₀ = [1, −2] and the loss L = Σ g ⊙ x with the
// constant g = [0.5, −1], so dL/dx = g at every step and each update can be worked out on paper.
#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/ops.hpp"
#include "backends/backend.hpp"
#include "modules/nn/nn.hpp"
#include "modules/optim/optim.hpp"

using namespace gradlab;

namespace {

const std::vector<double> gradient_values{0.5, -1.0};

// Runs `steps` updates of `make_optimizer(x)` on the set-up above; returns x after each step.
template <class MakeOptimizer>
std::vector<std::vector<double>> trajectory(MakeOptimizer make_optimizer, int steps) {
  Tensor x = from({1.0, -2.0}).requires_grad_(true);
  Tensor g = from(gradient_values);
  auto optimizer = make_optimizer(x);
  std::vector<std::vector<double>> path;
  for (int t = 0; t < steps; ++t) {
    optimizer.zero_grad();
    (x * g).sum().backward();
    optimizer.step();
    path.push_back(x.to_vector());
  }
  return path;
}

void check_path(const std::vector<std::vector<double>>& actual,
                const std::vector<std::vector<double>>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (std::size_t t = 0; t < expected.size(); ++t) {
    INFO("step " << t + 1);
    CHECK(actual[t][0] == Approx(expected[t][0]).epsilon(1e-6));
    CHECK(actual[t][1] == Approx(expected[t][1]).epsilon(1e-6));
  }
}

}  // namespace

TEST_CASE("SGD: x ← x − lr·dx, on every backend") {
  for (const std::string& name : available_backends()) {
    BackendGuard guard(name);
    INFO("backend " << name);
    // lr 0.1: each step moves by −0.1·[0.5, −1] = [−0.05, 0.1]
    check_path(trajectory([](Tensor x) { return optim::SGD({x}, {.lr = 0.1}); }, 3),
               {{0.95, -1.9}, {0.90, -1.8}, {0.85, -1.7}});
  }
}

TEST_CASE("SGD with momentum: v ← μv + dx, x ← x − lr·v, on every backend") {
  for (const std::string& name : available_backends()) {
    BackendGuard guard(name);
    INFO("backend " << name);
    // μ = 0.9, lr = 0.1; first coordinate: v = 0.5, 0.95, 1.355 → x = 0.95, 0.855, 0.7195
    // (the second is −2 times the first's displacement)
    check_path(
        trajectory([](Tensor x) { return optim::SGD({x}, {.lr = 0.1, .momentum = 0.9}); }, 3),
        {{0.95, -1.9}, {0.855, -1.71}, {0.7195, -1.439}});
  }
}

TEST_CASE("SGD with Nesterov momentum: v ← μv + dx, x ← x − lr·(dx + μv), on every backend") {
  for (const std::string& name : available_backends()) {
    BackendGuard guard(name);
    INFO("backend " << name);
    // first coordinate: step 1: v = 0.5, x = 1 − 0.1·(0.5 + 0.45) = 0.905
    // step 2: v = 0.95, x = 0.905 − 0.1·(0.5 + 0.855) = 0.7695
    // step 3: v = 1.355, x = 0.7695 − 0.1·(0.5 + 1.2195) = 0.59755
    check_path(trajectory(
                   [](Tensor x) {
                     return optim::SGD({x}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
                   },
                   3),
               {{0.905, -1.81}, {0.7695, -1.539}, {0.59755, -1.1951}});
  }
}

TEST_CASE("AdaGrad: cache ← cache + dx², x ← x − lr·dx/(√cache + eps), on every backend") {
  for (const std::string& name : available_backends()) {
    BackendGuard guard(name);
    INFO("backend " << name);
    // cache after t steps = t·g², so the t-th step is lr·sign(g)/√t: 0.1, 0.0707, 0.0577
    const double s1 = 0.1, s2 = 0.1 / std::sqrt(2.0), s3 = 0.1 / std::sqrt(3.0);
    check_path(
        trajectory([](Tensor x) { return optim::AdaGrad({x}, {.lr = 0.1}); }, 3),
        {{1 - s1, -2 + s1}, {1 - s1 - s2, -2 + s1 + s2}, {1 - s1 - s2 - s3, -2 + s1 + s2 + s3}});
  }
}

TEST_CASE(
    "RMSProp: cache ← α·cache + (1 − α)·dx², x ← x − lr·dx/(√cache + eps), on every backend") {
  for (const std::string& name : available_backends()) {
    BackendGuard guard(name);
    INFO("backend " << name);
    // α = 0.9: cache = 0.1 g², 0.19 g², 0.271 g², so the steps are lr·sign(g)/√0.1, /√0.19,
    // /√0.271
    const double s1 = 0.1 / std::sqrt(0.1), s2 = 0.1 / std::sqrt(0.19), s3 = 0.1 / std::sqrt(0.271);
    check_path(
        trajectory([](Tensor x) { return optim::RMSProp({x}, {.lr = 0.1, .alpha = 0.9}); }, 3),
        {{1 - s1, -2 + s1}, {1 - s1 - s2, -2 + s1 + s2}, {1 - s1 - s2 - s3, -2 + s1 + s2 + s3}});
  }
}

TEST_CASE("Adam's bias correction makes each step lr·sign(g) for a constant gradient") {
  // m = (1 − β₁ᵗ) g and v = (1 − β₂ᵗ) g², so m̂ = g, v̂ = g² and the step is lr·g/|g| =
  // 0.1·sign(g).
  // Without the correction the first step would be 0.1·0.1/√0.001 ≈ 0.316.
  const std::vector<std::vector<double>> expected{{0.9, -1.9}, {0.8, -1.8}, {0.7, -1.7}};
  {
    // float64 on the reference backend: the formula to 1e-6 (the eps term is 1e-8 of a step)
    BackendGuard guard("reference");
    Tensor x = from({1.0, -2.0}, {}, {.dtype = DType::float64}).requires_grad_(true);
    Tensor g = from(gradient_values, {}, {.dtype = DType::float64});
    optim::Adam optimizer({x}, {.lr = 0.1});
    for (std::size_t t = 0; t < expected.size(); ++t) {
      optimizer.zero_grad();
      (x * g).sum().backward();
      optimizer.step();
      CHECK(x.to_vector()[0] == Approx(expected[t][0]).epsilon(1e-6));
      CHECK(x.to_vector()[1] == Approx(expected[t][1]).epsilon(1e-6));
    }
  }
  for (const std::string& name : available_backends()) {
    // float32 on every backend: 1 − β₂ = 1 − 0.999f is only good to about 1e-5 in float32
    BackendGuard guard(name);
    INFO("backend " << name);
    const auto path = trajectory([](Tensor x) { return optim::Adam({x}, {.lr = 0.1}); }, 3);
    for (std::size_t t = 0; t < expected.size(); ++t) {
      CHECK(path[t][0] == Approx(expected[t][0]).epsilon(1e-4));
      CHECK(path[t][1] == Approx(expected[t][1]).epsilon(1e-4));
    }
  }
}

TEST_CASE("Adam on a quadratic: two steps worked by hand") {
  // L = ½ x², dx = x, x₀ = 1, lr = 0.1, β₁ = 0.9, β₂ = 0.999, eps = 1e-8.
  // Step 1: dx = 1, m = 0.1, v = 0.001, m̂ = 1, v̂ = 1 → x = 1 − 0.1 = 0.9.
  // Step 2: dx = 0.9, m = 0.09 + 0.09 = 0.18, v = 0.000999 + 0.00081 = 0.001809,
  //         m̂ = 0.18/0.19 = 0.947368…, v̂ = 0.001809/0.001999 = 0.904952…,
  //         x = 0.9 − 0.1 · 0.947368/0.951290 = 0.800412…
  BackendGuard guard("reference");
  Tensor x = from({1.0}, {}, {.dtype = DType::float64}).requires_grad_(true);
  optim::Adam optimizer({x}, {.lr = 0.1});
  std::vector<double> path;
  for (int t = 0; t < 2; ++t) {
    optimizer.zero_grad();
    (x * x * 0.5).sum().backward();
    optimizer.step();
    path.push_back(x.item());
  }
  CHECK(path[0] == Approx(0.9).epsilon(1e-6));
  const double m_hat = 0.18 / 0.19, v_hat = 0.001809 / 0.001999;
  CHECK(path[1] == Approx(0.9 - 0.1 * m_hat / (std::sqrt(v_hat) + 1e-8)).epsilon(1e-6));
  CHECK(path[1] == Approx(0.800412).epsilon(1e-5));
}

TEST_CASE("step() leaves frozen parameters bit-for-bit untouched and moves the others") {
  manual_seed(11);
  nn::Sequential net(nn::Linear(4, 3), nn::Tanh(), nn::Linear(3, 2));
  auto& first = net.at<nn::Linear>(0);
  auto& last = net.at<nn::Linear>(2);
  const auto frozen_before = first.weight.to_vector();
  const auto trained_before = last.weight.to_vector();
  first.freeze();
  optim::Adam optimizer(net.parameters(), {.lr = 0.01});
  for (int t = 0; t < 3; ++t) {
    optimizer.zero_grad();
    net(randn({5, 4})).sum().backward();
    optimizer.step();
  }
  CHECK(first.weight.to_vector() == frozen_before);
  CHECK(last.weight.to_vector() != trained_before);
}

TEST_CASE("a parameter frozen after it has a gradient is still skipped") {
  Tensor x = from({1.0, 2.0}).requires_grad_(true);
  optim::SGD optimizer({x}, {.lr = 0.5, .momentum = 0.9});
  (x * x).sum().backward();
  x.requires_grad_(false);  // per-parameter freezing
  optimizer.step();
  CHECK(x.to_vector() == std::vector<double>{1.0, 2.0});
}

TEST_CASE("optimizer.zero_grad clears the gradients it owns") {
  Tensor x = from({1.0}).requires_grad_(true);
  optim::SGD optimizer({x}, {.lr = 0.1});
  (x * 3.0).sum().backward();
  optimizer.zero_grad();
  optimizer.step();  // no gradient → no move
  CHECK(x.item() == 1.0);
}

TEST_CASE("the same parameter listed twice is updated once") {
  Tensor x = from({1.0}).requires_grad_(true);
  optim::SGD optimizer({x, x}, {.lr = 0.1});
  CHECK(optimizer.parameters().size() == 1);
  (x * 1.0).sum().backward();
  optimizer.step();
  CHECK(x.item() == Approx(0.9));
}

TEST_CASE("optimisers refuse bad settings with a clear message") {
  Tensor x = from({1.0}).requires_grad_(true);
  CHECK_THROWS_WITH(optim::SGD({x}, {.lr = -1}),
                    Catch::Contains("the learning rate must be positive"));
  CHECK_THROWS_WITH(optim::SGD({x}, {.lr = 0.1, .momentum = 1.0}),
                    Catch::Contains("SGD: momentum must lie in [0, 1)"));
  CHECK_THROWS_WITH(optim::SGD({x}, {.lr = 0.1, .nesterov = true}),
                    Catch::Contains("Nesterov momentum needs momentum > 0"));
  CHECK_THROWS_WITH(optim::RMSProp({x}, {.alpha = 1.0}),
                    Catch::Contains("RMSProp: alpha must lie in [0, 1)"));
  CHECK_THROWS_WITH(optim::Adam({x}, {.weight_decay = -1e-4}),
                    Catch::Contains("Adam: weight_decay must be finite and ≥ 0"));
  CHECK_THROWS_WITH(optim::AdamW({x}, {.weight_decay = std::nan("")}),
                    Catch::Contains("AdamW: weight_decay must be finite and ≥ 0"));
  CHECK_THROWS_WITH(optim::SGD({x}, {.lr = 0.1, .weight_decay = -1}),
                    Catch::Contains("SGD: weight_decay"));
  CHECK_THROWS_WITH(optim::Adam({x}, {.beta2 = 1.0}),
                    Catch::Contains("Adam: beta2 must lie in [0, 1)"));
  CHECK_THROWS_WITH(optim::AdaGrad({x}, {.eps = 0}),
                    Catch::Contains("AdaGrad: eps must be positive"));
  CHECK_THROWS_WITH(optim::SGD({labels({1})}, {.lr = 0.1}), Catch::Contains("int64"));
}

// --- schedules ----------------------------------------------------------------------------

TEST_CASE("step decay: lr = lr0 · gamma^floor(t / step_size)") {
  Tensor x = from({1.0}).requires_grad_(true);
  optim::SGD optimizer({x}, {.lr = 0.8});
  optim::StepDecay schedule(optimizer, {.step_size = 2, .gamma = 0.5});
  std::vector<double> rates;
  for (int epoch = 1; epoch <= 5; ++epoch) {
    schedule.step();
    rates.push_back(optimizer.lr());
  }
  // t = 1..5 → floor(t/2) = 0, 1, 1, 2, 2
  CHECK(rates == std::vector<double>{0.8, 0.4, 0.4, 0.2, 0.2});
}

TEST_CASE("exponential decay: lr = lr0 · e^(−k t)") {
  Tensor x = from({1.0}).requires_grad_(true);
  optim::Adam optimizer({x}, {.lr = 1e-3});
  optim::ExponentialDecay schedule(optimizer, 0.5);
  schedule.step();
  CHECK(optimizer.lr() == Approx(1e-3 * std::exp(-0.5)));
  schedule.step();
  CHECK(optimizer.lr() == Approx(1e-3 * std::exp(-1.0)));
  CHECK(schedule.epoch() == 2);
}

TEST_CASE("1/t decay: lr = lr0 / (1 + k t)") {
  Tensor x = from({1.0}).requires_grad_(true);
  optim::SGD optimizer({x}, {.lr = 0.3});
  optim::InverseTimeDecay schedule(optimizer, 0.5);
  schedule.step();
  CHECK(optimizer.lr() == Approx(0.3 / 1.5));
  schedule.step();
  CHECK(optimizer.lr() == Approx(0.3 / 2.0));
  CHECK(schedule.lr_at(4) == Approx(0.1));
}

TEST_CASE("a scheduled learning rate is the one the next step uses") {
  Tensor x = from({1.0}).requires_grad_(true);
  optim::SGD optimizer({x}, {.lr = 0.2});
  optim::StepDecay schedule(optimizer, {.step_size = 1, .gamma = 0.5});
  schedule.step();  // lr = 0.1
  (x * 1.0).sum().backward();
  optimizer.step();
  CHECK(x.item() == Approx(0.9));
}

TEST_CASE("schedules refuse bad settings") {
  Tensor x = from({1.0}).requires_grad_(true);
  optim::SGD optimizer({x}, {.lr = 0.2});
  CHECK_THROWS_WITH(optim::StepDecay(optimizer, {.step_size = 0}),
                    Catch::Contains("StepDecay: step_size must be positive"));
  CHECK_THROWS_WITH(optim::StepDecay(optimizer, {.gamma = 1.5}),
                    Catch::Contains("StepDecay: gamma must lie in (0, 1]"));
  CHECK_THROWS_WITH(optim::ExponentialDecay(optimizer, -1),
                    Catch::Contains("ExponentialDecay: k must be finite"));
  CHECK_THROWS_WITH(optim::InverseTimeDecay(optimizer, NAN),
                    Catch::Contains("InverseTimeDecay: k must be finite"));
}

// --- PyTorch's names and defaults ---------------------------------------------------------

TEST_CASE("the defaults are PyTorch's: eps, RMSProp's lr and alpha, AdamW's weight decay") {
  CHECK(optim::AdaGradOptions{}.eps == 1e-10);
  CHECK(optim::RMSPropOptions{}.eps == 1e-8);
  CHECK(optim::RMSPropOptions{}.alpha == 0.99);
  CHECK(optim::RMSPropOptions{}.lr == 1e-2);
  CHECK(optim::AdamOptions{}.eps == 1e-8);
  CHECK(optim::AdamOptions{}.weight_decay == 0.0);
  CHECK(optim::AdamWOptions{}.weight_decay == 1e-2);
  CHECK(optim::SGDOptions{}.weight_decay == 0.0);
}

TEST_CASE("RMSProp still takes the deprecated name decay for alpha, for one release") {
  const auto path_with = [](optim::RMSPropOptions options) {
    return trajectory([&](Tensor x) { return optim::RMSProp({x}, options); }, 3);
  };
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  optim::RMSPropOptions old_name{.lr = 0.1};
  old_name.decay = 0.9;
  optim::RMSPropOptions both{.lr = 0.1, .alpha = 0.5};
  both.decay = 0.9;
#pragma GCC diagnostic pop
  const auto expected = path_with({.lr = 0.1, .alpha = 0.9});
  CHECK(path_with(old_name) == expected);
  Tensor x = from({1.0}).requires_grad_(true);
  CHECK_THROWS_WITH(optim::RMSProp({x}, both), Catch::Contains("alpha = 0.5 and its deprecated "
                                                               "old name decay = 0.9 disagree"));
}

TEST_CASE("weight decay adds wd·x to the gradient; AdamW shrinks x by lr·wd·x first") {
  for (const std::string& name : available_backends()) {
    BackendGuard guard(name);
    INFO("backend " << name);
    // SGD, wd 0.5, lr 0.1: g = [0.5, −1] + 0.5·[1, −2] = [1, −2] → x = [0.9, −1.8]
    check_path(
        trajectory([](Tensor x) { return optim::SGD({x}, {.lr = 0.1, .weight_decay = 0.5}); }, 1),
        {{0.9, -1.8}});
    // AdamW, wd 0.5, lr 0.1: x ← x·(1 − 0.05) = [0.95, −1.9], then Adam's first step lr·sign(g)
    check_path(
        trajectory([](Tensor x) { return optim::AdamW({x}, {.lr = 0.1, .weight_decay = 0.5}); }, 1),
        {{0.85, -1.8}});
  }
}

TEST_CASE("an optimiser step raises the version: backward of an older graph raises") {
  Tensor w = from({1, 2}, {2}, {.requires_grad = true});
  optim::SGD sgd({w}, {.lr = 0.1});
  Tensor loss = (w * w).sum();  // mul reads w in backward
  loss.backward();
  sgd.step();
  CHECK(w.version() == 1);
  CHECK_THROWS_WITH(loss.backward(), Catch::Contains("modified in place by `optimizer.step()`"));
}

namespace l2_in_the_update {

// Runs 6 steps of the optimiser `make` builds over a weight W [3, 2] and a bias b [2] on the
// loss Σ tanh(x·W + b) ⊙ c, with an L2 penalty ½λ‖W‖² either in the loss (through the graph) or
// given to the optimiser (`set_l2_penalty`); returns W and b after the last step.
template <class Make>
std::vector<double> run(Make make, bool penalty_in_the_loss, double lambda) {
  const TensorOptions f64{.dtype = DType::float64, .requires_grad = true};
  Tensor w = from({0.3, -0.8, 1.1, 0.4, -0.5, 0.9}, {3, 2}, f64);
  Tensor b = from({0.1, -0.2}, {2}, f64);
  const Tensor x = from({1.0, -2.0, 0.5, 0.7, 0.2, -1.3}, {2, 3}, {.dtype = DType::float64});
  const Tensor c = from({1.0, -0.5, 2.0, 0.25}, {2, 2}, {.dtype = DType::float64});
  auto optimizer = make(std::vector<Tensor>{w, b});
  if (!penalty_in_the_loss) optimizer.set_l2_penalty({w}, lambda);
  for (int t = 0; t < 6; ++t) {
    optimizer.zero_grad();
    Tensor loss = (tanh(linear(x, w, b)) * c).sum();
    if (penalty_in_the_loss) loss = loss + nn::l2_penalty({w}, lambda);
    loss.backward();
    optimizer.step();
  }
  std::vector<double> out = w.to_vector();
  for (double v : b.to_vector()) out.push_back(v);
  return out;
}

template <class Make>
void same_steps(const char* name, Make make) {
  INFO(name);
  const auto through_graph = run(make, true, 0.3);
  const auto in_the_update = run(make, false, 0.3);
  const auto without = run(make, true, 0.0);
  for (std::size_t i = 0; i < through_graph.size(); ++i) {
    INFO("element " << i);
    CHECK(in_the_update[i] == Approx(through_graph[i]).epsilon(1e-12).margin(1e-14));
  }
  // ... and the penalty is not a no-op: it moves every weight (not the bias, indices 6 and 7).
  for (std::size_t i = 0; i < 6; ++i) CHECK(std::abs(in_the_update[i] - without[i]) > 1e-6);
}

}  // namespace l2_in_the_update

TEST_CASE("set_l2_penalty takes the same steps as ½λ‖W‖² in the loss, for every optimiser") {
  using l2_in_the_update::same_steps;
  BackendGuard guard("reference");  // float64
  same_steps("SGD", [](std::vector<Tensor> p) { return optim::SGD(p, {.lr = 0.1}); });
  same_steps("SGD momentum + weight_decay", [](std::vector<Tensor> p) {
    return optim::SGD(p, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.05});
  });
  same_steps("SGD Nesterov", [](std::vector<Tensor> p) {
    return optim::SGD(p, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  });
  same_steps("AdaGrad", [](std::vector<Tensor> p) { return optim::AdaGrad(p, {.lr = 0.1}); });
  same_steps("RMSProp", [](std::vector<Tensor> p) { return optim::RMSProp(p, {.lr = 0.01}); });
  same_steps("Adam", [](std::vector<Tensor> p) { return optim::Adam(p, {.lr = 0.01}); });
  same_steps("AdamW (decoupled weight_decay, coupled L2)", [](std::vector<Tensor> p) {
    return optim::AdamW(p, {.lr = 0.01, .weight_decay = 0.1});
  });
}

TEST_CASE("set_l2_penalty refuses a tensor it does not optimise and a bad λ; 0 removes it") {
  Tensor w = from({1.0, 2.0}, {1, 2}, {.requires_grad = true});
  Tensor other = from({1.0, 2.0}, {1, 2}, {.requires_grad = true});
  optim::SGD sgd({w}, {.lr = 0.1});
  CHECK_THROWS_WITH(sgd.set_l2_penalty({w, other}, 0.1),
                    Catch::Contains("tensor 1 ([1, 2]) is not one of this optimiser's 1"));
  CHECK(sgd.l2_penalty(0) == 0.0);  // all or nothing
  CHECK_THROWS_WITH(sgd.set_l2_penalty({w}, -1.0), Catch::Contains("finite and ≥ 0, got -1"));
  sgd.set_l2_penalty({w}, 0.5);
  CHECK(sgd.l2_penalty(0) == 0.5);
  sgd.set_l2_penalty({w}, 0.0);
  (w * 0.0).sum().backward();  // a zero gradient: only a penalty would move w
  sgd.step();
  CHECK(w.to_vector() == std::vector<double>{1.0, 2.0});
}

TEST_CASE("first_non_finite finds the first NaN or infinity at any position and size") {
  for (const DType dtype : {DType::float32, DType::float64}) {
    // 300,000 elements take the threaded path (from 2¹⁸), the others the serial one.
    for (const std::int64_t n : {0, 1, 1023, 1024, 1025, 5000, 300000}) {
      INFO(dtype_name(dtype) << ", " << n << " elements");
      Tensor t = zeros({n}, {.dtype = dtype});
      CHECK(optim::first_non_finite(t) == -1);
      for (const std::int64_t at : {std::int64_t{0}, n / 2, n - 1}) {
        if (at < 0 || at >= n) continue;
        INFO("at " << at);
        for (const double bad : {NAN, INFINITY, -INFINITY}) {
          Tensor u = zeros({n}, {.dtype = dtype});
          u.fill_(0.5);
          const auto put = [&](std::int64_t i) {
            if (dtype == DType::float32)
              u.data<float>()[i] = static_cast<float>(bad);
            else
              u.data<double>()[i] = bad;
          };
          put(at);
          // A second one two blocks further on (the same thread's share): the first wins.
          if (const std::int64_t later = std::min(n - 1, at + 2048); later > at) put(later);
          CHECK(optim::first_non_finite(u) == at);
        }
      }
    }
  }
}
