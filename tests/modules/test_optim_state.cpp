// The optimiser state API (Optimizer::state / load_state) and the checkpoint's training state:
// a state saved after some steps and loaded into a fresh optimiser continues the trajectory bit
// for bit, on every backend and for every optimiser; bad states are refused naming the thing.
#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "backends/backend.hpp"
#include "modules/nn/checkpoint.hpp"
#include "modules/nn/nn.hpp"
#include "modules/optim/optim.hpp"
#include "modules/io/npy.hpp"
#include "temp_folder.hpp"

using namespace gradlab;

namespace optim_state_test {

using Make = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

struct Kind {
  const char* name;
  Make make;
};

std::vector<Kind> kinds() {
  return {
      {"SGD",
       [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::SGD>(std::move(p), optim::SGDOptions{.lr = 0.1});
       }},
      {"SGD momentum",
       [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::SGD>(
             std::move(p), optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-2});
       }},
      {"SGD Nesterov",
       [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::SGD>(
             std::move(p), optim::SGDOptions{.lr = 0.1, .momentum = 0.5, .nesterov = true});
       }},
      {"AdaGrad",
       [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::AdaGrad>(std::move(p), optim::AdaGradOptions{.lr = 0.1});
       }},
      {"RMSProp",
       [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::RMSProp>(std::move(p), optim::RMSPropOptions{.lr = 0.01});
       }},
      {"Adam",
       [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 0.01});
       }},
      {"AdamW",
       [](std::vector<Tensor> p) -> std::unique_ptr<optim::Optimizer> {
         return std::make_unique<optim::AdamW>(std::move(p), optim::AdamWOptions{.lr = 0.01});
       }},
  };
}

// Two parameters (a matrix and a vector), the second one frozen for the first steps so that
// its state (and Adam's step count) lags behind the first's.
std::vector<Tensor> fresh_parameters() {
  return {from({0.5, -1.0, 2.0, 0.25, -0.75, 1.5}, {3, 2}).requires_grad_(true),
          from({1.0, -2.0}).requires_grad_(true)};
}

// One step of L = Σ x³/3 + Σ sin-free terms: dL/dx = x², which changes as x moves, so the
// trajectory depends on the state.
void step(optim::Optimizer& optimizer, const std::vector<Tensor>& parameters, bool both) {
  optimizer.zero_grad();
  Tensor loss = (parameters[0] * parameters[0] * parameters[0]).sum();
  if (both) loss = loss + (parameters[1] * parameters[1] * parameters[1]).sum();
  loss.backward();
  optimizer.step();
}

std::vector<double> values(const std::vector<Tensor>& parameters) {
  std::vector<double> all;
  for (const Tensor& p : parameters)
    for (double v : p.to_vector()) all.push_back(v);
  return all;
}

// Copies the values of `from` into fresh parameters.
std::vector<Tensor> copy_of(const std::vector<Tensor>& from) {
  std::vector<Tensor> copies;
  for (const Tensor& p : from) copies.push_back(p.detach().clone().requires_grad_(true));
  return copies;
}

}  // namespace optim_state_test

using namespace optim_state_test;

TEST_CASE("Optimizer state: a saved state continues the trajectory bit for bit, every optimiser") {
  for (const std::string& backend_name : available_backends()) {
    BackendGuard guard(backend_name);
    for (const Kind& kind : kinds()) {
      INFO(backend_name << ", " << kind.name);
      std::vector<Tensor> a = fresh_parameters();
      auto first = kind.make(a);
      step(*first, a, false);  // the vector has no gradient yet: its state stays zero
      step(*first, a, true);
      step(*first, a, true);
      const optim::OptimizerState saved = first->state();
      CHECK(saved.type == first->type_name());
      REQUIRE(!saved.hyperparameters.empty());
      CHECK(saved.hyperparameters.front().first == "lr");

      // The continuation: a fresh optimiser over copies of the parameters, with the state.
      std::vector<Tensor> b = copy_of(a);
      auto second = kind.make(b);
      second->load_state(saved);
      // Without the state (a fresh optimiser): only plain SGD has none to lose.
      std::vector<Tensor> c = copy_of(a);
      auto stateless = kind.make(c);
      for (int t = 0; t < 3; ++t) {
        step(*first, a, true);
        step(*second, b, true);
        step(*stateless, c, true);
      }
      CHECK(values(a) == values(b));
      if (std::string(kind.name) != "SGD") CHECK(values(a) != values(c));
    }
  }
}

TEST_CASE("Optimizer state: Adam's state has m, v and per-parameter step counts") {
  std::vector<Tensor> p = fresh_parameters();
  optim::Adam adam(p, {.lr = 0.01});
  step(adam, p, false);
  step(adam, p, true);
  const optim::OptimizerState state = adam.state();
  std::vector<std::string> names;
  for (const auto& [name, tensor] : state.tensors) names.push_back(name);
  CHECK(names == std::vector<std::string>{"m.0", "m.1", "v.0", "v.1", "step"});
  const Tensor& steps = state.tensors.back().second;
  CHECK(steps.dtype() == DType::int64);
  CHECK(steps.const_data<std::int64_t>()[0] == 2);
  CHECK(steps.const_data<std::int64_t>()[1] == 1);
  // The state is a copy: stepping on does not change it.
  step(adam, p, true);
  CHECK(state.tensors.back().second.const_data<std::int64_t>()[0] == 2);
}

TEST_CASE("Optimizer state: the learning rate comes from the state") {
  std::vector<Tensor> p = fresh_parameters();
  optim::SGD first(p, {.lr = 0.1, .momentum = 0.9});
  first.set_lr(0.025);
  optim::SGD second(copy_of(p), {.lr = 0.1, .momentum = 0.9});
  second.load_state(first.state());
  CHECK(second.lr() == 0.025);
}

TEST_CASE("Optimizer state: a bad state is refused, naming what is wrong, and changes nothing") {
  std::vector<Tensor> p = fresh_parameters();
  optim::SGD sgd(p, {.lr = 0.1, .momentum = 0.9});
  step(sgd, p, true);
  const optim::OptimizerState good = sgd.state();
  optim::SGD target(copy_of(p), {.lr = 0.2, .momentum = 0.9});
  const std::vector<double> before = values({target.state().tensors[0].second});

  SECTION("another optimiser type") {
    optim::Adam adam(copy_of(p), {});
    CHECK_THROWS_WITH(adam.load_state(good),
                      Catch::Contains("the state is of SGD, this optimiser is Adam"));
  }
  SECTION("another hyper-parameter") {
    optim::SGD other(copy_of(p), {.lr = 0.1, .momentum = 0.5});
    CHECK_THROWS_WITH(other.load_state(good),
                      Catch::Contains("SGD momentum is 0.9 in the state, 0.5 in this optimiser"));
  }
  SECTION("a tensor of another shape") {
    optim::OptimizerState bad = good;
    bad.tensors[0].second = zeros({2, 3});
    CHECK_THROWS_WITH(target.load_state(bad),
                      Catch::Contains("tensor 'velocity.0' is [2, 3] float32 in the state, [3, 2] "
                                      "float32 in this optimiser"));
  }
  SECTION("a tensor of another dtype") {
    optim::OptimizerState bad = good;
    bad.tensors[1].second = zeros({2}, {.dtype = DType::float64});
    CHECK_THROWS_WITH(target.load_state(bad), Catch::Contains("'velocity.1' is [2] float64"));
  }
  SECTION("a missing tensor") {
    optim::OptimizerState bad = good;
    bad.tensors.pop_back();
    CHECK_THROWS_WITH(target.load_state(bad),
                      Catch::Contains("'velocity.1' (shape [2]) is missing"));
  }
  SECTION("a tensor the optimiser does not have (more parameters)") {
    optim::OptimizerState bad = good;
    bad.tensors.emplace_back("velocity.2", zeros({4}));
    CHECK_THROWS_WITH(target.load_state(bad), Catch::Contains("a tensor 'velocity.2'"));
  }
  SECTION("an unknown hyper-parameter") {
    optim::OptimizerState bad = good;
    bad.hyperparameters.emplace_back("beta1", 0.9);
    CHECK_THROWS_WITH(target.load_state(bad),
                      Catch::Contains("SGD has no hyper-parameter 'beta1'"));
  }
  CHECK(values({target.state().tensors[0].second}) == before);
  CHECK(target.lr() == 0.2);
}

TEST_CASE("LRScheduler::set_epoch puts the schedule where a resumed run continues") {
  std::vector<Tensor> p = fresh_parameters();
  optim::SGD sgd(p, {.lr = 0.8});
  optim::StepDecay schedule(sgd, {.step_size = 2, .gamma = 0.5});
  schedule.set_epoch(4);
  CHECK(schedule.epoch() == 4);
  CHECK(sgd.lr() == 0.2);
  schedule.step();
  CHECK(sgd.lr() == 0.2);
  CHECK_THROWS_WITH(schedule.set_epoch(-1), Catch::Contains("t ≥ 0"));
}

TEST_CASE("Checkpoint training state: saved, listed, loaded; version 3 only with a state") {
  testing::TempFolder folder;
  const auto dir = folder.path / "ck";
  nn::Linear net(3, 2);
  nn::save_checkpoint(net, dir);
  CHECK(!nn::load_training_state(dir).has_value());
  CHECK(nn::parse_checkpoint_manifest(R"({"format_version": 2, "parameters": [], "buffers": [],
                                          "layers": []})",
                                      "m")
            .format_version == 2);

  nn::TrainingState state;
  state.settings = {{"epoch", std::int64_t{2}},
                    {"optimizer_type", std::string("SGD")},
                    {"base_lr", 0.05},
                    {"done", true}};
  Tensor velocity = from({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
  state.tensors = {{"optimizer.velocity.0", velocity},
                   {"history.loss", from({2.5, 2.25}, {2}, {.dtype = DType::float64})}};
  nn::save_checkpoint(net, dir, state);
  CHECK(std::filesystem::exists(dir / "training.optimizer.velocity.0.npy"));
  CHECK_NOTHROW(nn::check_checkpoint_target(dir));  // the files are listed
  const auto loaded = nn::load_training_state(dir);
  REQUIRE(loaded.has_value());
  CHECK(loaded->settings == state.settings);
  REQUIRE(loaded->tensors.size() == 2);
  CHECK(loaded->tensors[0].first == "optimizer.velocity.0");
  CHECK(loaded->tensors[0].second.to_vector() == velocity.to_vector());
  CHECK(loaded->tensors[1].second.dtype() == DType::float64);
  // The module still loads as before.
  nn::Linear other(3, 2);
  CHECK_NOTHROW(other.load(dir));

  SECTION("a bad state is refused before anything is written") {
    nn::TrainingState bad = state;
    bad.tensors.push_back({"history.loss", from({1.0})});
    CHECK_THROWS_WITH(nn::save_checkpoint(net, dir, bad),
                      Catch::Contains("training tensor 'history.loss' is given twice"));
    bad = state;
    bad.settings.push_back({"not a word", 1.0});
    CHECK_THROWS_WITH(nn::save_checkpoint(net, dir, bad), Catch::Contains("'not a word'"));
    CHECK(nn::load_training_state(dir)->tensors.size() == 2);
  }
  SECTION("a state file that does not match its entry") {
    npy::write(dir / "training.optimizer.velocity.0.npy", zeros({3}));
    CHECK_THROWS_WITH(nn::load_training_state(dir),
                      Catch::Contains("training tensor 'optimizer.velocity.0'"));
  }
}

TEST_CASE("Checkpoint manifest: 'training' is known in version 3 only, and parsed strictly") {
  const std::string entries = R"("parameters": [], "buffers": [], "layers": [])";
  auto parse = [&](const std::string& version, const std::string& training) {
    return nn::parse_checkpoint_manifest(
        "{\"format_version\": " + version + ", " + entries + ", \"training\": " + training + "}",
        "m");
  };
  const std::string good =
      R"({"settings": {"epoch": 2, "random_state": "7"}, "tensors": [{"name": "history.loss",
          "file": "training.history.loss.npy", "shape": [2], "dtype": "float64"}]})";
  const nn::CheckpointManifest manifest = parse("3", good);
  REQUIRE(manifest.training.has_value());
  CHECK(manifest.training->tensors.at(0).shape == Shape{2});
  CHECK(nn::parse_checkpoint_manifest(nn::format_checkpoint_manifest(manifest), "again") ==
        manifest);
  CHECK_THROWS_WITH(parse("2", good), Catch::Contains("unknown key 'training'"));
  CHECK_THROWS_WITH(parse("3", R"({"settings": {}, "tensors": [], "extra": 1})"),
                    Catch::Contains("unknown key 'extra'"));
  CHECK_THROWS_WITH(parse("3", R"({"tensors": []})"), Catch::Contains("'settings' is missing"));
  CHECK_THROWS_WITH(parse("3", R"({"settings": {}})"), Catch::Contains("'tensors' is missing"));
  CHECK_THROWS_WITH(parse("3", R"({"settings": {"a b": 1}, "tensors": []})"),
                    Catch::Contains("not a word"));
  CHECK_THROWS_WITH(parse("3", R"({"settings": {"a": [1]}, "tensors": []})"),
                    Catch::Contains("must be a boolean"));
  CHECK_THROWS_WITH(parse("3", "[]"), Catch::Contains("must be an object"));
  CHECK_THROWS_WITH(
      parse("3", R"({"settings": {}, "tensors": [{"name": "x", "file": "../x.npy", "shape": [],
                     "dtype": "float32"}]})"),
      Catch::Contains("plain file name"));
}
