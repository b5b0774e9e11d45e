// The Trainer: the lecture's sanity checks (overfit a tiny set, explode at lr 1e6), best-parameter
// restore, determinism, update ratios, timing and the logs.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "backends/backend.hpp"
#include "modules/nn/layers.hpp"
#include "modules/nn/losses.hpp"
#include "modules/optim/optim.hpp"
#include "modules/train/trainer.hpp"
#include "synthetic.hpp"

using namespace gradlab;

namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("Trainer overfits 20 examples to 100% training accuracy with reg 0 and plain SGD",
          "[trainer]") {
  BackendGuard backend("reference");
  // Random images with arbitrary labels: nothing to generalise, only to memorise.
  data::Dataset tiny = testing::blobs(20, 30, 10, 1.0, 7);
  manual_seed(11);
  nn::Sequential net = nn::MLP({30, 50, 10}, {.activation = "relu", .init = "he"});
  optim::SGD optimizer(net.parameters(), {.lr = 0.1});
  train::Trainer trainer(net, optimizer,
                         {.epochs = 200,
                          .batch_size = 20,
                          .reg = 0.0,
                          .ratio_every = 0,
                          .progress = train::ProgressStyle::none});
  train::History history = trainer.fit(tiny);

  CHECK_FALSE(history.stopped_early());
  REQUIRE(history.iterations() == 200);  // one batch of all 20 per epoch
  CHECK(history.loss.front() > 1.0);     // He-initialised scores on unit-scale inputs: a few nats
  CHECK(history.loss.back() < 0.05);
  CHECK(history.epochs.back().train_accuracy == 1.0);
  CHECK(trainer.evaluate(tiny) == 1.0);
}

TEST_CASE("Trainer stops at lr 1e6 with the diagnosis 'learning rate too high?'", "[trainer]") {
  BackendGuard backend("reference");
  data::Dataset train_set = testing::blobs(200, 30, 10, 1.0, 3);
  manual_seed(5);
  nn::Sequential net = nn::MLP({30, 50, 10}, {.init = "he"});
  optim::SGD optimizer(net.parameters(), {.lr = 1e6});
  std::ostringstream progress;
  train::Trainer trainer(net, optimizer,
                         {.epochs = 10,
                          .batch_size = 20,
                          .progress = train::ProgressStyle::lines,
                          .progress_stream = &progress});
  train::History history = trainer.fit(train_set);

  REQUIRE(history.stopped_early());
  CHECK((history.stop_reason == train::StopReason::loss_exploded ||
         history.stop_reason == train::StopReason::loss_not_finite));
  CHECK(history.iterations() <= 5);  // caught within a few steps, not after 100
  CHECK(history.epochs.empty());     // the exploded epoch is not evaluated
  CHECK_THAT(history.diagnosis,
             Catch::Contains("at iteration") && Catch::EndsWith("learning rate too high?"));
  if (history.stop_reason == train::StopReason::loss_exploded)
    CHECK_THAT(history.diagnosis,
               Catch::Matches("loss exploded from [0-9.]+ to [0-9.e+]+ at iteration [0-9]+ .*"));
  CHECK_THAT(progress.str(), Catch::Contains("training stopped: " + history.diagnosis));
}

TEST_CASE("Trainer restores the parameters of the best validation epoch", "[trainer]") {
  BackendGuard backend("reference");
  data::Dataset train_set = testing::blobs(200, 20, 4, 0.5, 21);
  data::Dataset validation = testing::blobs(100, 20, 4, 0.5, 21);  // same centres: the same task
  manual_seed(2);
  nn::Sequential net = nn::MLP({20, 16, 4}, {.init = "he"});
  optim::SGD optimizer(net.parameters(), {.lr = 0.05, .momentum = 0.9});
  // Sabotage the third epoch: after each of its steps, wipe every parameter. Its validation
  // accuracy falls to chance, so the trainer must bring back epoch 1 or 2.
  auto wipe = [&net](const train::IterationInfo& info) {
    if (info.epoch == 3)
      for (Tensor& parameter : net.parameters())
        std::fill_n(parameter.data<float>(), parameter.numel(), 0.0f);
    return true;
  };
  train::Trainer trainer(net, optimizer,
                         {.epochs = 3,
                          .batch_size = 20,
                          .progress = train::ProgressStyle::none,
                          .on_iteration = wipe});
  train::History history = trainer.fit(train_set, validation);

  REQUIRE(history.epochs.size() == 3);
  CHECK(history.epochs[2].val_accuracy == Approx(0.25));  // all-zero scores: always class 0
  CHECK(history.best_epoch < 3);
  CHECK(history.best_val_accuracy > 0.9);
  CHECK(history.restored_best);
  CHECK(trainer.evaluate(validation) == history.best_val_accuracy);
}

TEST_CASE("Trainer is deterministic on the reference backend: same seed, same loss history",
          "[trainer]") {
  BackendGuard backend("reference");
  data::Dataset train_set = testing::blobs(300, 20, 5, 1.0, 8);
  auto run = [&](std::uint64_t seed) {
    manual_seed(seed);
    nn::Sequential net =
        nn::MLP({20, 32, 32, 5}, {.batchnorm = true, .dropout = 0.2, .init = "he"});
    optim::SGD optimizer(net.parameters(), {.lr = 0.05, .momentum = 0.9});
    train::Trainer trainer(net, optimizer,
                           {.epochs = 2,
                            .batch_size = 32,
                            .reg = 1e-3,
                            .seed = seed,
                            .progress = train::ProgressStyle::none});
    return trainer.fit(train_set).loss;
  };
  const std::vector<double> first = run(9);
  const std::vector<double> second = run(9);
  const std::vector<double> other = run(10);
  REQUIRE(first.size() == 18);  // 2 epochs × ⌊300 / 32⌋ batches
  CHECK(first == second);
  CHECK(first != other);
}

TEST_CASE("Trainer records update/weight ratios every k iterations for every trainable parameter",
          "[trainer]") {
  BackendGuard backend("reference");
  data::Dataset train_set = testing::blobs(100, 10, 3, 1.0, 4);
  manual_seed(3);
  nn::Sequential net = nn::MLP({10, 8, 3}, {.init = "he"});
  net[0].freeze();  // the first Linear learns nothing and is not measured
  optim::SGD optimizer(net.parameters(), {.lr = 0.01});
  train::Trainer trainer(
      net, optimizer,
      {.epochs = 2, .batch_size = 10, .ratio_every = 5, .progress = train::ProgressStyle::none});
  train::History history = trainer.fit(train_set);

  // Iterations 1, 5, 10, 15, 20 × the last Linear's weight and bias.
  REQUIRE(history.update_ratios.size() == 10);
  CHECK(history.update_ratios.front().iteration == 1);
  CHECK(history.update_ratios.back().iteration == 20);
  CHECK(history.update_ratios.front().parameter == "2.weight");
  for (const train::UpdateRatio& r : history.update_ratios) {
    CHECK(std::isfinite(r.ratio));
    CHECK(r.update_norm > 0.0);
  }
  // A step of lr·‖dW‖ on weights of norm ‖W‖: with lr 0.01 the ratio is far below 1.
  CHECK(history.update_ratios.front().ratio < 0.1);
}

TEST_CASE("Trainer times training apart from evaluation and writes CSV and JSON logs",
          "[trainer]") {
  BackendGuard backend("reference");
  data::Dataset train_set = testing::blobs(120, 10, 3, 1.0, 6);
  data::Dataset validation = testing::blobs(60, 10, 3, 1.0, 6);
  const auto folder = testing::fresh_folder("logs");
  manual_seed(1);
  nn::Sequential net = nn::MLP({10, 8, 3}, {.init = "he"});
  optim::Adam optimizer(net.parameters(), {.lr = 1e-2});
  train::Trainer trainer(net, optimizer,
                         {.epochs = 3,
                          .batch_size = 12,
                          .lr_decay = 0.5,
                          .ratio_every = 10,
                          .out_dir = folder.string(),
                          .progress = train::ProgressStyle::none});
  train::History history = trainer.fit(train_set, validation);

  CHECK(history.training_seconds > 0.0);
  CHECK(history.training_seconds <= history.total_seconds);
  REQUIRE(history.epochs.size() == 3);
  CHECK(history.epochs[0].lr == Approx(1e-2));
  CHECK(history.epochs[2].lr == Approx(2.5e-3));  // lr₀ · 0.5²
  CHECK(count_lines(read_text(folder / "history.csv")) == 1 + 30);
  CHECK(count_lines(read_text(folder / "epochs.csv")) == 1 + 3);
  CHECK_THAT(read_text(folder / "update_ratios.csv"),
             Catch::StartsWith("iteration,parameter,update_norm"));
  const std::string summary = read_text(folder / "summary.json");
  CHECK_THAT(summary, Catch::Contains("\"stop_reason\": \"completed\"") &&
                          Catch::Contains("\"training_seconds\""));
}

TEST_CASE("Trainer rejects invalid settings with a message naming the setting", "[trainer]") {
  nn::Sequential net = nn::MLP({4, 3});
  optim::SGD optimizer(net.parameters(), {.lr = 0.1});
  CHECK_THROWS_WITH(train::Trainer(net, optimizer, {.batch_size = 0}),
                    Catch::Contains("batch_size"));
  CHECK_THROWS_WITH(train::Trainer(net, optimizer, {.loss = "hinge"}), Catch::Contains("'hinge'"));
  CHECK_THROWS_WITH(train::Trainer(net, optimizer, {.reg = -1.0}), Catch::Contains("reg"));
  CHECK_THROWS_WITH(train::Trainer(net, optimizer, {.lr_decay = 1.5}), Catch::Contains("lr_decay"));
}

TEST_CASE("Trainer's reg reports ½λΣ‖W‖² in the loss and steps as if it were in the graph",
          "[trainer]") {
  BackendGuard backend("reference");
  // One batch of all 20 examples per epoch, so the batch order cannot change a step.
  data::Dataset tiny = testing::blobs(20, 6, 3, 1.0, 21);
  const double reg = 0.05;
  const auto make = [] {
    manual_seed(4);
    return nn::MLP({6, 8, 3}, {.activation = "tanh", .init = "xavier"});
  };
  nn::Sequential net = make();
  optim::SGD optimizer(net.parameters(), {.lr = 0.2, .momentum = 0.9});
  train::Trainer trainer(net, optimizer,
                         {.epochs = 4,
                          .batch_size = 20,
                          .reg = reg,
                          .train_eval_size = 0,
                          .ratio_every = 0,
                          .progress = train::ProgressStyle::none});
  optimizer.set_l2_penalty({net.parameters()[0]}, 0.125);  // the caller's own, before the run
  const train::History history = trainer.fit(tiny);
  // During the run each weight had the Trainer's λ (the steps below agree); after it, the
  // caller's λ is back.
  CHECK(optimizer.l2_penalty(0) == 0.125);
  CHECK(optimizer.l2_penalty(2) == 0.0);

  // The same four steps by hand, the penalty in the loss and differentiated through the graph.
  nn::Sequential by_hand = make();
  optim::SGD by_hand_optimizer(by_hand.parameters(), {.lr = 0.2, .momentum = 0.9});
  const auto weights = nn::weight_matrices(by_hand.parameters());
  REQUIRE(weights.size() == 2);
  REQUIRE(history.loss.size() == 4);
  for (std::size_t t = 0; t < 4; ++t) {
    INFO("step " << t + 1);
    by_hand_optimizer.zero_grad();
    Tensor loss =
        cross_entropy(by_hand.forward(tiny.images), tiny.labels) + nn::l2_penalty(weights, reg);
    CHECK(history.loss[t] == Approx(loss.item()).epsilon(1e-5));
    loss.backward();
    by_hand_optimizer.step();
  }
  const auto trained = net.parameters(), expected = by_hand.parameters();
  for (std::size_t p = 0; p < expected.size(); ++p) {
    const auto a = trained[p].to_vector(), e = expected[p].to_vector();
    for (std::size_t i = 0; i < e.size(); ++i) CHECK(a[i] == Approx(e[i]).margin(1e-5));
  }
  // ... and λ matters here: without it the first loss is smaller by ½λΣ‖W‖² of the start.
  nn::Sequential fresh = make();
  const double start_penalty = nn::l2_penalty(nn::weight_matrices(fresh.parameters()), reg).item();
  CHECK(start_penalty > 0.01);
  CHECK(history.loss[0] - start_penalty ==
        Approx(cross_entropy(fresh.forward(tiny.images), tiny.labels).item()).epsilon(1e-5));
}
