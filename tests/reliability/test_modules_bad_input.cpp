// Bad input to the modules: layers, initialisation, losses, optimisers and schedules. Each wrong
// argument raises gradlab::Error naming the class or function, the argument and its value; an
// optimiser step with a non-finite gradient is refused before any parameter moves.

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <limits>

#include "autograd/ops.hpp"
#include "backends/backend.hpp"
#include "modules/nn/nn.hpp"
#include "modules/optim/optim.hpp"
#include "reliability/expect_error.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;
using gradlab::testing::error_of;
using gradlab::testing::inf_value;
using gradlab::testing::nan_value;

// --- layers -----------------------------------------------------------------------------------

TEST_CASE("Linear refuses non-positive sizes and int64 parameters", "[reliability][layers]") {
  CHECK_THAT(error_of([] { nn::Linear(0, 5); }),
             Contains("Linear: in_features must be positive, got 0"));
  CHECK_THAT(error_of([] { nn::Linear(784, -1); }),
             Contains("Linear: out_features must be positive, got -1"));
  CHECK_THAT(error_of([] { nn::Linear(3, 2, {.dtype = DType::int64}); }),
             Contains("Linear") && Contains("int64"));
  CHECK_THAT(error_of([] { nn::Linear(3, 2, "hee"); }), Contains("unknown initialisation 'hee'"));
}

TEST_CASE("Linear names the feature count it expects and the shapes it got",
          "[reliability][layers]") {
  nn::Linear layer(784, 50);
  CHECK_THAT(error_of([&] {
               layer(zeros({2, 783}));
             }),
             Contains("Linear: expects input [N, 784], got [2, 783]") &&
                 Contains("the input has 783 features but the layer expects 784") &&
                 Contains("[784, 50]"));
  CHECK_THAT(error_of([&] { layer(zeros({784})); }), Contains("Linear") && Contains("[784]"));
  CHECK_THAT(error_of([&] { layer(Tensor()); }), Contains("Linear: the input is undefined"));
  CHECK_THAT(error_of([&] {
               layer(zeros({2, 784}, {.dtype = DType::float64}));
             }),
             Contains("linear: dtype mismatch") && Contains("float64"));
  CHECK_THAT(error_of([&] {
               layer(zeros({2, 784}).to(DType::int64));
             }),
             Contains("linear") && Contains("int64"));
}

TEST_CASE("activation layers refuse non-finite slopes", "[reliability][layers]") {
  CHECK_THAT(error_of([] { nn::LeakyReLU layer(nan_value); }),
             Contains("LeakyReLU: negative_slope must be finite"));
  CHECK_THAT(error_of([] { nn::ELU layer(inf_value); }), Contains("ELU: alpha must be finite"));
  CHECK_THAT(error_of([] { nn::PReLU(0); }),
             Contains("PReLU: num_parameters must be positive, got 0"));
  nn::PReLU per_feature(3);
  CHECK_THAT(error_of([&] {
               per_feature(zeros({2, 4}));
             }),
             Contains("PReLU") && Contains("[2, 4]"));
}

TEST_CASE("Maxout refuses zero pieces and inputs of the wrong width", "[reliability][layers]") {
  CHECK_THAT(error_of([] { nn::Maxout(4, 2, 0); }),
             Contains("Maxout: pieces must be positive, got 0"));
  CHECK_THAT(error_of([] { nn::Maxout(4, 2, 2, {.bias = false}); }),
             Contains("Maxout") && Contains("bias"));
  nn::Maxout layer(4, 2, 3);
  CHECK_THAT(error_of([&] {
               layer(zeros({5, 3}));
             }),
             Contains("Maxout") && Contains("[5, 3]") && Contains("4"));
}

TEST_CASE("BatchNorm1d refuses bad momentum and eps and inputs of the wrong width",
          "[reliability][layers]") {
  CHECK_THAT(error_of([] { nn::BatchNorm1d(0); }),
             Contains("BatchNorm1d: num_features must be positive"));
  CHECK_THAT(error_of([] { nn::BatchNorm1d(3, {.momentum = 1.5}); }),
             Contains("BatchNorm1d: momentum") && Contains("1.5"));
  CHECK_THAT(error_of([] { nn::BatchNorm1d(3, {.momentum = nan_value}); }),
             Contains("BatchNorm1d: momentum"));
  CHECK_THAT(error_of([] { nn::BatchNorm1d(3, {.eps = 0.0}); }),
             Contains("BatchNorm1d: eps must be positive"));
  CHECK_THAT(error_of([] { nn::BatchNorm1d(3, {.eps = nan_value}); }),
             Contains("BatchNorm1d: eps must be positive"));
  nn::BatchNorm1d norm(3);
  CHECK_THAT(error_of([&] { norm(zeros({4, 5})); }), Contains("BatchNorm1d") && Contains("[4, 5]"));
}

TEST_CASE("Dropout refuses a probability outside 0 to 1", "[reliability][layers]") {
  CHECK_THAT(error_of([] { nn::Dropout(1.0); }), Contains("Dropout: p must lie in [0, 1), got 1"));
  CHECK_THAT(error_of([] { nn::Dropout(-0.5); }),
             Contains("Dropout: p must lie in [0, 1), got -0.5"));
  CHECK_THAT(error_of([] { nn::Dropout layer(nan_value); }),
             Contains("Dropout: p must lie in [0, 1)"));
}

TEST_CASE("Sequential and MLP name the bad index or size", "[reliability][layers]") {
  nn::Sequential net(nn::Linear(2, 3), nn::ReLU());
  CHECK_THAT(error_of([&] { net[2]; }), Contains("Sequential: index 2 out of range for 2 layers"));
  CHECK_THAT(error_of([&] { net.at<nn::Linear>(1); }), Contains("Sequential: layer 1 is a ReLU"));
  CHECK_THAT(error_of([&] { net(zeros({4, 5})); }), Contains("Linear") && Contains("[4, 5]"));
  CHECK_THAT(error_of([] { nn::MLP({784}); }),
             Contains("MLP: needs at least an input and an output size"));
  CHECK_THAT(error_of([] {
               nn::MLP({784, 0, 10});
             }),
             Contains("MLP: every size must be positive") && Contains("[784, 0, 10]"));
  CHECK_THAT(error_of([] {
               nn::MLP({4, 2}, {.activation = "relux"});
             }),
             Contains("MLP: unknown activation 'relux'"));
  CHECK_THAT(error_of([] {
               nn::MLP({4, 3, 2}, {.dropout = 1.0});
             }),
             Contains("MLP: dropout must lie in [0, 1)"));
}

// --- init -------------------------------------------------------------------------------------

TEST_CASE("init refuses bad scales and tensors without a fan", "[reliability][init]") {
  Tensor w = zeros({3, 4});
  Tensor no_inputs = zeros({0, 4});
  Tensor no_outputs = zeros({4, 0});
  Tensor cube = zeros({2, 2, 2});
  Tensor ints = labels({1, 2});
  Tensor undefined;
  CHECK_THAT(error_of([&] { nn::init::initialize_(w, "kaiming"); }),
             Contains("nn::init: unknown initialisation 'kaiming'"));
  CHECK_THAT(error_of([&] { nn::init::he_normal_(no_inputs); }),
             Contains("nn::init::he_normal_") && Contains("fan_in is 0") && Contains("[0, 4]"));
  CHECK_THAT(error_of([&] { nn::init::xavier_lecture_(no_inputs); }),
             Contains("xavier_lecture_") && Contains("fan_in is 0"));
  CHECK_THAT(error_of([&] { nn::init::he_uniform_(no_inputs); }),
             Contains("he_uniform_") && Contains("fan_in is 0"));
  CHECK_THAT(error_of([&] { nn::init::xavier_glorot_normal_(no_outputs); }),
             Contains("xavier_glorot_normal_") && Contains("[4, 0]"));
  CHECK_THAT(error_of([&] { nn::init::fans(cube); }),
             Contains("nn::init::fans") && Contains("[2, 2, 2]"));
  CHECK_THAT(error_of([&] { nn::init::normal_(w, -1.0); }),
             Contains("nn::init::normal_") && Contains("-1"));
  CHECK_THAT(error_of([&] { nn::init::normal_(w, nan_value); }), Contains("nn::init::normal_"));
  CHECK_THAT(error_of([&] { nn::init::uniform_(w, 1.0, 0.0); }),
             Contains("nn::init::uniform_") && Contains("[1, 0)"));
  CHECK_THAT(error_of([&] { nn::init::constant_(w, nan_value); }),
             Contains("nn::init::constant_") && Contains("finite"));
  CHECK_THAT(error_of([&] { nn::init::zeros_(ints); }), Contains("int64"));
  CHECK_THAT(error_of([&] { nn::init::he_normal_(undefined); }), Contains("undefined"));
}

// --- losses -----------------------------------------------------------------------------------

TEST_CASE("loss modules and accuracy name bad labels", "[reliability][losses]") {
  nn::CrossEntropyLoss criterion;
  Tensor scores = zeros({2, 3});
  CHECK_THAT(error_of([&] {
               criterion(scores, from({0, 1}));
             }),
             Contains("CrossEntropyLoss: labels must be int64, got float32"));
  CHECK_THAT(error_of([&] {
               criterion(scores, labels({0, 1, 2}));
             }),
             Contains("CrossEntropyLoss") && Contains("[2, 3]") && Contains("[3]"));
  CHECK_THAT(error_of([&] {
               criterion(scores, labels({0, 3}));
             }),
             Contains("label 3") && Contains("row 1") && Contains("3 classes"));
  CHECK_THAT(error_of([] { nn::MultiClassSVMLoss(-1.0); }),
             Contains("MultiClassSVMLoss: the margin must be finite and ≥ 0, got -1"));
  CHECK_THAT(error_of([] { nn::MultiClassSVMLoss loss(nan_value); }),
             Contains("MultiClassSVMLoss: the margin"));
  CHECK_THAT(error_of([&] { nn::l2_penalty({scores}, -1e-4); }),
             Contains("l2_penalty: lambda") && Contains("-0.0001"));
  CHECK_THAT(error_of([&] { nn::l2_penalty({scores}, nan_value); }),
             Contains("l2_penalty: lambda"));
  CHECK_THAT(
      error_of([&] {
        nn::accuracy(scores, labels({0, 5}));
      }),
      Contains("accuracy") && Contains("label 5") && Contains("row 1") && Contains("3 classes"));
  CHECK_THAT(error_of([&] {
               nn::accuracy(zeros({0, 3}), labels({}));
             }),
             Contains("accuracy: the batch is empty"));
}

// --- optimisers and schedules ------------------------------------------------------------------

TEST_CASE("optimisers name the hyperparameter that is zero negative or NaN",
          "[reliability][optim]") {
  auto params = [] { return std::vector<Tensor>{zeros({2, 2}, {.requires_grad = true})}; };
  CHECK_THAT(error_of([&] { optim::SGD(params(), {.lr = 0.0}); }),
             Contains("learning rate must be positive and finite, got 0"));
  CHECK_THAT(error_of([&] { optim::SGD(params(), {.lr = -1.0}); }),
             Contains("learning rate") && Contains("-1"));
  CHECK_THAT(error_of([&] { optim::SGD(params(), {.lr = nan_value}); }),
             Contains("learning rate") && Contains("nan"));
  CHECK_THAT(error_of([&] { optim::Adam(params(), {.lr = inf_value}); }),
             Contains("learning rate") && Contains("inf"));
  CHECK_THAT(error_of([&] { optim::SGD(params(), {.lr = 0.1, .momentum = 1.0}); }),
             Contains("SGD: momentum must lie in [0, 1), got 1"));
  CHECK_THAT(error_of([&] { optim::SGD(params(), {.lr = 0.1, .momentum = -0.5}); }),
             Contains("SGD: momentum"));
  CHECK_THAT(error_of([&] { optim::SGD(params(), {.lr = 0.1, .momentum = nan_value}); }),
             Contains("SGD: momentum"));
  CHECK_THAT(error_of([&] { optim::SGD(params(), {.lr = 0.1, .nesterov = true}); }),
             Contains("SGD: Nesterov momentum needs momentum > 0"));
  CHECK_THAT(error_of([&] { optim::AdaGrad(params(), {.lr = 0.1, .eps = 0.0}); }),
             Contains("AdaGrad: eps must be positive"));
  CHECK_THAT(error_of([&] { optim::RMSProp(params(), {.lr = 0.1, .alpha = 1.0}); }),
             Contains("RMSProp: alpha"));
  CHECK_THAT(error_of([&] { optim::AdamW(params(), {.lr = 0.1, .weight_decay = -1.0}); }),
             Contains("AdamW: weight_decay must be finite and ≥ 0, got -1"));
  CHECK_THAT(error_of([&] { optim::RMSProp(params(), {.lr = 0.1, .eps = -1.0}); }),
             Contains("RMSProp: eps"));
  CHECK_THAT(error_of([&] { optim::Adam(params(), {.lr = 0.1, .beta1 = 1.0}); }),
             Contains("Adam: beta1"));
  CHECK_THAT(error_of([&] { optim::Adam(params(), {.lr = 0.1, .beta2 = nan_value}); }),
             Contains("Adam: beta2"));
  CHECK_THAT(error_of([&] { optim::Adam(params(), {.lr = 0.1, .eps = nan_value}); }),
             Contains("Adam: eps"));
  CHECK_THAT(error_of([&] { optim::SGD({labels({1})}, {.lr = 0.1}); }),
             Contains("optimizer") && Contains("int64"));
  CHECK_THAT(error_of([&] { optim::SGD({Tensor()}, {.lr = 0.1}); }),
             Contains("optimizer: a parameter is undefined"));
  optim::SGD sgd(params(), {.lr = 0.1});
  CHECK_THAT(error_of([&] { sgd.set_lr(nan_value); }),
             Contains("optimizer: the learning rate must be finite"));
  CHECK_THAT(error_of([&] { sgd.set_lr(-0.1); }),
             Contains("optimizer: the learning rate") && Contains("-0.1"));
}

TEST_CASE("learning rate schedules refuse bad decay settings", "[reliability][optim]") {
  optim::SGD sgd({zeros({2}, {.requires_grad = true})}, {.lr = 0.1});
  CHECK_THAT(error_of([&] { optim::StepDecay(sgd, {.step_size = 0}); }),
             Contains("StepDecay: step_size must be positive, got 0"));
  CHECK_THAT(error_of([&] { optim::StepDecay(sgd, {.step_size = 2, .gamma = 0.0}); }),
             Contains("StepDecay: gamma"));
  CHECK_THAT(error_of([&] { optim::StepDecay(sgd, {.step_size = 2, .gamma = 1.5}); }),
             Contains("StepDecay: gamma") && Contains("1.5"));
  CHECK_THAT(error_of([&] { optim::ExponentialDecay(sgd, -1.0); }),
             Contains("ExponentialDecay: k") && Contains("-1"));
  CHECK_THAT(error_of([&] { optim::InverseTimeDecay(sgd, nan_value); }),
             Contains("InverseTimeDecay: k"));
}

namespace {

// Two parameters with finite gradients; then a NaN or inf is put into the second one's gradient.
struct TwoParameters {
  Tensor first = from({1.0, 2.0}, {}, {.requires_grad = true});
  Tensor second = from({3.0, 4.0, 5.0}, {}, {.requires_grad = true});
  TwoParameters() {
    first.set_grad(from({0.5, 0.5}));
    second.set_grad(from({0.5, 0.5, 0.5}));
  }
  void poison(double bad) const { second.grad().data<float>()[1] = static_cast<float>(bad); }
};

}  // namespace

TEST_CASE("an optimiser step with a non-finite gradient names the parameter and moves nothing",
          "[reliability][optim]") {
  for (double bad : {nan_value, inf_value, -inf_value}) {
    CAPTURE(bad);
    TwoParameters p;
    p.poison(bad);
    optim::Adam adam({p.first, p.second}, {.lr = 0.1});
    CHECK_THAT(error_of([&] { adam.step(); }), Contains("optimizer") && Contains("parameter 1") &&
                                                   Contains("[3]") && Contains("element 1") &&
                                                   Contains("no parameter was updated"));
    CHECK(p.first.to_vector() == std::vector<double>{1.0, 2.0});
    CHECK(p.second.to_vector() == std::vector<double>{3.0, 4.0, 5.0});
  }
}

TEST_CASE("a refused step leaves the optimiser state as it was", "[reliability][optim]") {
  // After a refused step, a clean step must do exactly what a fresh optimiser's first step does:
  // no moment, velocity or step count was touched.
  TwoParameters refused, fresh;
  optim::Adam adam_refused({refused.first, refused.second}, {.lr = 0.1});
  optim::Adam adam_fresh({fresh.first, fresh.second}, {.lr = 0.1});
  refused.poison(nan_value);
  CHECK_THROWS_AS(adam_refused.step(), Error);
  refused.second.set_grad(from({0.5, 0.5, 0.5}));
  adam_refused.step();
  adam_fresh.step();
  CHECK(refused.first.to_vector() == fresh.first.to_vector());
  CHECK(refused.second.to_vector() == fresh.second.to_vector());

  TwoParameters momentum_refused, momentum_fresh;
  optim::SGD sgd_refused({momentum_refused.first, momentum_refused.second},
                         {.lr = 0.1, .momentum = 0.9});
  optim::SGD sgd_fresh({momentum_fresh.first, momentum_fresh.second}, {.lr = 0.1, .momentum = 0.9});
  momentum_refused.poison(inf_value);
  CHECK_THROWS_AS(sgd_refused.step(), Error);
  momentum_refused.second.set_grad(from({0.5, 0.5, 0.5}));
  sgd_refused.step();
  sgd_fresh.step();
  CHECK(momentum_refused.second.to_vector() == momentum_fresh.second.to_vector());
}

TEST_CASE("the finite check of an optimiser step costs little on the 784-1024-1024-10 net",
          "[reliability][optim][.timing]") {
  // Hidden tag: a measurement for docs/reliability.md, run with  test_reliability "[.timing]".
  manual_seed(3);
  nn::Sequential net = nn::MLP({784, 1024, 1024, 10});
  std::vector<Tensor> parameters = net.parameters();
  std::int64_t count = 0;
  for (Tensor& p : parameters) {
    p.set_grad(zeros(p.shape()));
    count += p.numel();
  }
  optim::SGD sgd(parameters, {.lr = 1e-9});
  constexpr int repeats = 50;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) sgd.step();
  const double step_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
      repeats;
  const auto check_start = std::chrono::steady_clock::now();
  std::int64_t found = 0;
  for (int i = 0; i < repeats; ++i)
    for (const Tensor& p : parameters) found += optim::first_non_finite(p.grad()) >= 0 ? 1 : 0;
  const double check_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - check_start)
          .count() /
      repeats;
  // One whole training step at batch 256 for scale: forward, backward, update.
  Tensor x = randn({256, 784});
  Tensor y = zeros({256}).to(DType::int64);
  const auto train_start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    sgd.zero_grad();
    cross_entropy(net(x), y).backward();
    sgd.step();
  }
  const double train_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - train_start)
          .count() /
      5;
  CHECK(found == 0);
  WARN(count << " parameters on " << backend().name() << ": SGD step (check included) " << step_ms
             << " ms, the finite check alone " << check_ms
             << " ms, a whole training step at batch 256 " << train_ms
             << " ms (check = " << 100.0 * check_ms / train_ms << "%)");
  CHECK(count == 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10);
}
