// Trainer::resume through a checkpoint's training state: epochs k+1..E of a resumed run give the
// losses of the uninterrupted run, bit for bit, with dropout, a schedule and keep-best.
#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.hpp"
#include "modules/nn/checkpoint.hpp"
#include "modules/nn/layers.hpp"
#include "modules/optim/optim.hpp"
#include "modules/train/trainer.hpp"
#include "synthetic.hpp"
#include "temp_folder.hpp"

using namespace gradlab;

namespace trainer_resume_test {

// One run of `epochs` epochs: a net with dropout, Adam or SGD+momentum, a StepDecay schedule.
struct Run {
  nn::Sequential net;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<optim::StepDecay> schedule;
  std::unique_ptr<train::Trainer> trainer;

  Run(const std::string& kind, std::int64_t epochs)
      : net((manual_seed(3), nn::MLP({20, 16, 4}, {.activation = "relu", .dropout = 0.3}))) {
    if (kind == "adam")
      optimizer = std::make_unique<optim::Adam>(net.parameters(), optim::AdamOptions{.lr = 1e-2});
    else
      optimizer = std::make_unique<optim::SGD>(net.parameters(),
                                               optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
    schedule = std::make_unique<optim::StepDecay>(
        *optimizer, optim::StepDecayOptions{.step_size = 1, .gamma = 0.7});
    trainer = std::make_unique<train::Trainer>(
        net, *optimizer,
        train::TrainerConfig{.epochs = epochs,
                             .batch_size = 25,
                             .reg = 1e-3,
                             .seed = 9,
                             .ratio_every = 0,
                             .progress = train::ProgressStyle::none});
    trainer->set_scheduler(schedule.get());
  }
};

}  // namespace trainer_resume_test

using namespace trainer_resume_test;

TEST_CASE("Trainer::resume from a checkpoint continues a run with the same losses", "[trainer]") {
  BackendGuard backend("reference");
  data::Dataset train_set = testing::blobs(200, 20, 4, 1.5, 5);
  data::Dataset validation = testing::blobs(80, 20, 4, 1.5, 5);
  for (const std::string kind : {"adam", "momentum"}) {
    INFO(kind);
    Run whole(kind, 4);
    const train::History all = whole.trainer->fit(train_set, validation);
    REQUIRE(all.epochs.size() == 4);

    testing::TempFolder folder;
    const auto ck = folder.path / "ck";
    {
      Run first(kind, 2);
      const train::History part = first.trainer->fit(train_set, validation);
      nn::TrainingState training;
      train::add_training_state(training, first.trainer->state(), first.optimizer->state(),
                                first.net, part.restored_best);
      nn::save_checkpoint(first.net, ck, training);
    }
    Run second(kind, 4);
    second.net.load(ck);
    const auto training = nn::load_training_state(ck);
    REQUIRE(training.has_value());
    second.trainer->resume(train::restore_training_state(*training, second.net, *second.optimizer));
    const train::History resumed = second.trainer->fit(train_set, validation);

    CHECK(resumed.loss == all.loss);  // the first 2 epochs from the checkpoint, then the same
    REQUIRE(resumed.epochs.size() == 4);
    for (std::size_t e = 0; e < 4; ++e) {
      CHECK(resumed.epochs[e].lr == all.epochs[e].lr);
      CHECK(resumed.epochs[e].val_accuracy == all.epochs[e].val_accuracy);
    }
    CHECK(resumed.best_epoch == all.best_epoch);
    CHECK(resumed.restored_best == all.restored_best);
    // The model at the end (the best epoch's parameters, kept across the resume) is the same.
    const auto a = whole.net.named_parameters();
    const auto b = second.net.named_parameters();
    for (std::size_t i = 0; i < a.size(); ++i)
      CHECK(a[i].second.to_vector() == b[i].second.to_vector());
  }
}

TEST_CASE("restore_training_state refuses a state that does not fit, changing nothing",
          "[trainer]") {
  BackendGuard backend("reference");
  Run run("momentum", 2);
  nn::TrainingState training;
  train::add_training_state(training, run.trainer->state(), run.optimizer->state(), run.net, false);
  SECTION("a missing setting") {
    nn::TrainingState bad = training;
    bad.settings.erase(bad.settings.begin());  // "epoch"
    CHECK_THROWS_WITH(train::restore_training_state(bad, run.net, *run.optimizer),
                      Catch::Contains("the setting 'epoch' is missing"));
  }
  SECTION("the state of another optimiser") {
    Run adam("adam", 2);
    CHECK_THROWS_WITH(train::restore_training_state(training, adam.net, *adam.optimizer),
                      Catch::Contains("the state is of SGD, this optimiser is Adam"));
  }
  SECTION("a loss history of the wrong length") {
    nn::TrainingState bad = training;
    for (auto& setting : bad.settings)
      if (setting.key == "iteration") setting.value = std::int64_t{5};
    CHECK_THROWS_WITH(train::restore_training_state(bad, run.net, *run.optimizer),
                      Catch::Contains("'history.loss' must be float64 of shape [5]"));
  }
}
