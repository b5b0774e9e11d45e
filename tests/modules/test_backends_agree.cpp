// The same module gives the same outputs and gradients on the reference and oneDNN backends.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "backends/backend.hpp"
#include "modules/nn/nn.hpp"
#include "modules/optim/optim.hpp"

using namespace gradlab;

namespace {

bool has_backend(const std::string& name) {
  const auto names = available_backends();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Largest |a − b| / max(1, |a|, |b|): absolute for small values, relative for big ones.
double max_difference(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst =
        std::max(worst, std::abs(a[i] - b[i]) / std::max({1.0, std::abs(a[i]), std::abs(b[i])}));
  return worst;
}

struct Run {
  std::vector<double> train_output;
  std::vector<double> eval_output;
  std::vector<std::vector<double>> gradients;
  std::vector<std::vector<double>> after_step;
};

// Builds the net from a fixed seed on `backend`, runs a training forward/backward and one SGD
// step, then an evaluation forward.
Run run_on(const std::string& backend_name) {
  BackendGuard guard(backend_name);
  manual_seed(2024);
  nn::Sequential net(nn::Linear(12, 16, "he"), nn::BatchNorm1d(16), nn::PReLU(16),
                     nn::Dropout(0.25, 7), nn::Maxout(16, 8, 2), nn::ELU(), nn::Linear(8, 6),
                     nn::LeakyReLU(0.1), nn::Linear(6, 4, "xavier_glorot"), nn::Tanh(),
                     nn::Linear(4, 3), nn::Sigmoid());
  Tensor x = randn({10, 12});
  Tensor y = labels({0, 1, 2, 0, 1, 2, 0, 1, 2, 0});
  nn::CrossEntropyLoss criterion;
  optim::SGD optimizer(net.parameters(), {.lr = 0.1, .momentum = 0.9});

  Run run;
  Tensor scores = net(x);
  run.train_output = scores.to_vector();
  (criterion(scores, y) + nn::l2_penalty(nn::weight_matrices(net.parameters()), 1e-3)).backward();
  for (const Tensor& p : net.parameters()) run.gradients.push_back(p.grad().to_vector());
  optimizer.step();
  for (const Tensor& p : net.parameters()) run.after_step.push_back(p.to_vector());
  net.eval();
  run.eval_output = net(x).to_vector();
  return run;
}

}  // namespace

TEST_CASE(
    "a module gives the same outputs, gradients and updates on reference and onednn within 1e-4",
    "[onednn]") {
  if (!has_backend("onednn")) {
    WARN("the onednn backend is not registered in this build: nothing to compare");
    return;
  }
  const Run reference = run_on("reference");
  const Run onednn = run_on("onednn");
  CHECK(max_difference(reference.train_output, onednn.train_output) < 1e-4);
  CHECK(max_difference(reference.eval_output, onednn.eval_output) < 1e-4);
  REQUIRE(reference.gradients.size() == onednn.gradients.size());
  for (std::size_t i = 0; i < reference.gradients.size(); ++i) {
    INFO("parameter " << i);
    CHECK(max_difference(reference.gradients[i], onednn.gradients[i]) < 1e-4);
    CHECK(max_difference(reference.after_step[i], onednn.after_step[i]) < 1e-4);
  }
}
