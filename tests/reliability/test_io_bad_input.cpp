// Bad input at the edges of the library: backend names, program flags, dataset folders, output
// folders that cannot be written, preprocessing fitted on broken data, and the training loop,
// search and plots given impossible settings. Each raises gradlab::Error naming the thing (the
// flag, the path, the setting) and leaves no partial file behind.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "autograd/ops.hpp"
#include "backends/backend.hpp"
#include "modules/app/cli.hpp"
#include "modules/data/data.hpp"
#include "modules/nn/nn.hpp"
#include "modules/optim/optim.hpp"
#include "modules/train/plots.hpp"
#include "modules/data/preprocess.hpp"
#include "modules/train/search.hpp"
#include "modules/train/trainer.hpp"
#include "reliability/expect_error.hpp"
#include "temp_folder.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;
using gradlab::testing::error_of;
using gradlab::testing::inf_value;
using gradlab::testing::nan_value;
using gradlab::testing::TempFolder;
namespace fs = std::filesystem;

namespace {

// Output places no one can write to, even root: below a regular file, and inside /proc.
struct UnwritablePlaces {
  TempFolder folder{"gradlab-unwritable"};
  fs::path below_a_file;
  fs::path in_proc = "/proc/gradlab-cannot-write-here/out";
  UnwritablePlaces() {
    std::ofstream(folder.file("a-file")) << "not a folder\n";
    below_a_file = folder.path / "a-file" / "out";
  }
  std::vector<fs::path> all() const { return {below_a_file, in_proc}; }
};

// A tiny classification set: 8 examples of 4 features, 2 classes.
data::Dataset tiny_dataset() {
  data::Dataset d;
  d.name = "tiny";
  manual_seed(5);
  d.images = randn({8, 4});
  d.labels = labels({0, 1, 0, 1, 0, 1, 0, 1});
  d.image_shape = {1, 2, 2};
  d.class_names = {"a", "b"};
  return d;
}

std::size_t files_in(const fs::path& folder) {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : fs::recursive_directory_iterator(folder)) ++count;
  return count;
}

}  // namespace

// --- backends and the shared program flags ------------------------------------------------------

TEST_CASE("an unknown backend name lists the available backends", "[reliability][backends]") {
  CHECK_THAT(error_of([] { set_backend("cuda"); }), Contains("unknown backend 'cuda'") &&
                                                        Contains("available backends") &&
                                                        Contains("reference"));
  CHECK_THAT(error_of([] { BackendGuard guard("Reference"); }),
             Contains("unknown backend 'Reference'"));
  CHECK_THAT(error_of([] { backend_named(""); }), Contains("unknown backend ''"));
  CHECK(backend().name() == "reference");  // nothing changed
  CHECK_THAT(error_of([] { parse_precision("fp8"); }),
             Contains("unknown precision 'fp8'; expected f32 or bf16"));
  CHECK_THAT(error_of([] { set_num_threads(0); }), Contains("threads must be at least 1, got 0"));
  CHECK_THAT(error_of([] { set_num_threads(-3); }), Contains("threads must be at least 1, got -3"));
}

TEST_CASE("cli apply names the flag whose value is wrong", "[reliability][cli]") {
  auto apply_with = [](auto change) {
    cli::CommonOptions options;
    options.backend = "reference";
    change(options);
    return error_of([&] { cli::apply(options); });
  };
  CHECK_THAT(apply_with([](cli::CommonOptions& o) { o.backend = "cuda"; }),
             Contains("--backend: unknown backend 'cuda'"));
  CHECK_THAT(apply_with([](cli::CommonOptions& o) { o.precision = "fp8"; }),
             Contains("--precision: unknown precision 'fp8'"));
  CHECK_THAT(apply_with([](cli::CommonOptions& o) { o.threads = -3; }),
             Contains("--threads") && Contains("-3"));
  CHECK(apply_with([](cli::CommonOptions& o) { o.threads = 0; }) == "no error");  // 0 = all cores
  set_backend("reference");
}

// --- loaders at the API level --------------------------------------------------------------------

TEST_CASE("loaders name the folder and the file they could not find", "[reliability][data]") {
  TempFolder empty("gradlab-empty-data");
  CHECK_THAT(error_of([] { data::load_fashion_mnist("/nonexistent/fashion"); }),
             Contains("not found") && Contains("train-images-idx3-ubyte") &&
                 Contains("/nonexistent/fashion"));
  CHECK_THAT(
      error_of([&] { data::load_mnist(empty.path.string(), data::Split::test); }),
      Contains("not found") && Contains("t10k-images-idx3-ubyte") && Contains(empty.path.string()));
  CHECK_THAT(error_of([&] { data::load_cifar10(empty.path.string()); }),
             Contains("CIFAR-10 not found") && Contains(empty.path.string()));
  CHECK_THAT(error_of([] { data::load_cifar10("/nonexistent/cifar"); }),
             Contains("CIFAR-10 not found"));
  std::ofstream(empty.file("plain-file")) << "x";
  CHECK_THAT(error_of([&] { data::load_fashion_mnist(empty.file("plain-file")); }),
             Contains("not found") && Contains("plain-file"));
  CHECK_THAT(error_of([&] {
               data::load_idx_pair(empty.file("none-images"), empty.file("none-labels"), {"a"},
                                   "pair");
             }),
             Contains("none-images") && Contains("not found"));
  CHECK_THAT(error_of([] { data::read_idx("/nonexistent/file.idx"); }),
             Contains("/nonexistent/file.idx"));
}

TEST_CASE("dataset helpers name the bad size index or range", "[reliability][data]") {
  data::Dataset d = tiny_dataset();
  CHECK_THAT(error_of([] { data::shuffled_indices(-1, 0); }),
             Contains("shuffled_indices: n = -1 is negative"));
  std::vector<std::int64_t> bad_index{0, 8};
  CHECK_THAT(error_of([&] { data::select(d, bad_index); }),
             Contains("data::select: index 8") && Contains("tiny"));
  CHECK_THAT(error_of([&] { data::slice(d, 6, 3); }),
             Contains("data::slice") && Contains("8 examples"));
  CHECK_THAT(error_of([&] { data::slice(d, -1, 2); }), Contains("data::slice"));
  CHECK_THAT(error_of([&] { data::split_train_validation(d, 8); }),
             Contains("data::split_train_validation") && Contains("8"));
  CHECK_THAT(error_of([&] { data::split_train_validation(d, -1); }),
             Contains("data::split_train_validation"));
  CHECK_THAT(error_of([&] { data::BatchIterator(d, 0); }),
             Contains("data::BatchIterator: batch size 0 must be at least 1"));
  CHECK_THAT(error_of([&] { data::BatchIterator(d, -5); }), Contains("batch size -5"));
  CHECK_THAT(error_of([&] { data::BatchIterator(d, 4).batch(2); }),
             Contains("data::BatchIterator: batch 2 is outside 0..1"));
}

// --- preprocessing -------------------------------------------------------------------------------

TEST_CASE("preprocessing refuses to fit on NaN or inf and names the example and feature",
          "[reliability][preprocess]") {
  for (double bad : {nan_value, inf_value}) {
    CAPTURE(bad);
    Tensor images = randn({5, 4});
    images.data<float>()[2 * 4 + 3] = static_cast<float>(bad);  // example 2, feature 3
    data::MeanImage mean;
    CHECK_THAT(error_of([&] { mean.fit(images); }),
               Contains("MeanImage::fit") && Contains("example 2") && Contains("feature 3"));
    CHECK_FALSE(mean.fitted());
    data::Standardize standardize;
    CHECK_THAT(error_of([&] { standardize.fit(images); }),
               Contains("Standardize::fit") && Contains("example 2"));
    data::PCA pca(2);
    CHECK_THAT(error_of([&] { pca.fit(images); }), Contains("PCA::fit") && Contains("example 2"));
    data::Whitening whitening(2);
    CHECK_THAT(error_of([&] { whitening.fit(images); }),
               Contains("Whitening::fit") && Contains("example 2"));
    data::ChannelMean channel({1, 2, 2});
    CHECK_THAT(error_of([&] { channel.fit(images); }),
               Contains("ChannelMean::fit") && Contains("example 2"));
  }
}

TEST_CASE("preprocessing names wrong shapes dtypes and calls before fit",
          "[reliability][preprocess]") {
  data::MeanImage mean;
  CHECK_THAT(error_of([&] {
               mean.apply(zeros({2, 4}));
             }),
             Contains("MeanImage::apply: called before fit()"));
  CHECK_THAT(error_of([&] {
               mean.fit(zeros({0, 4}));
             }),
             Contains("MeanImage::fit") && Contains("[0, 4]"));
  CHECK_THAT(error_of([&] {
               mean.fit(zeros({3, 4}, {.dtype = DType::float64}));
             }),
             Contains("MeanImage::fit") && Contains("float64"));
  mean.fit(randn({3, 4}));
  CHECK_THAT(error_of([&] {
               mean.apply(zeros({2, 5}));
             }),
             Contains("MeanImage::apply") && Contains("[2, 5]") && Contains("4"));
  CHECK_THAT(error_of([] { data::PCA(0); }),
             Contains("PCA: the number of components must be ≥ 1, got 0"));
  data::PCA too_many(10);
  CHECK_THAT(error_of([&] {
               too_many.fit(randn({20, 4}));
             }),
             Contains("PCA::fit: cannot keep 10 components"));
  CHECK_FALSE(too_many.fitted());  // a fit refused half-way leaves nothing to apply
  CHECK_THAT(error_of([&] {
               too_many.apply(zeros({2, 4}));
             }),
             Contains("PCA::apply: called before fit()"));
  CHECK_THAT(error_of([] { data::Whitening(-1); }),
             Contains("Whitening: the number of components must be ≥ 0"));
  CHECK_THAT(error_of([] { data::Standardize(-1.0); }), Contains("Standardize: min_std -1"));
  data::ChannelMean channel({3, 2, 2});
  CHECK_THAT(error_of([&] {
               channel.fit(randn({4, 4}));
             }),
             Contains("ChannelMean::fit") && Contains("12 features") && Contains("[4, 4]"));
}

// --- training loop -------------------------------------------------------------------------------

TEST_CASE("the Trainer names each impossible setting", "[reliability][trainer]") {
  nn::Linear model(4, 2);
  optim::SGD sgd(model.parameters(), {.lr = 0.1});
  auto config_error = [&](train::TrainerConfig c) {
    c.progress = train::ProgressStyle::none;
    return error_of([&] { train::Trainer(model, sgd, c); });
  };
  CHECK_THAT(config_error({.epochs = -1}), Contains("Trainer: epochs must be ≥ 0, got -1"));
  CHECK_THAT(config_error({.batch_size = 0}), Contains("Trainer: batch_size must be ≥ 1, got 0"));
  CHECK_THAT(config_error({.loss = "hinge"}),
             Contains("Trainer: loss must be 'cross_entropy' or 'svm', got 'hinge'"));
  CHECK_THAT(config_error({.reg = nan_value}), Contains("Trainer: reg"));
  CHECK_THAT(config_error({.lr_decay = 0.0}),
             Contains("Trainer: lr_decay must be in (0, 1], got 0"));
  CHECK_THAT(config_error({.lr_decay = 1.5}), Contains("Trainer: lr_decay") && Contains("1.5"));
  CHECK_THAT(config_error({.explosion_factor = 0.5}), Contains("Trainer: explosion_factor"));
  CHECK_THAT(config_error({.eval_batch_size = 0}),
             Contains("Trainer: eval_batch_size must be ≥ 1"));
}

TEST_CASE("the Trainer names bad datasets", "[reliability][trainer]") {
  nn::Linear model(4, 2);
  optim::SGD sgd(model.parameters(), {.lr = 0.1});
  train::Trainer trainer(model, sgd, {.epochs = 1, .progress = train::ProgressStyle::none});
  data::Dataset empty;
  CHECK_THAT(error_of([&] { trainer.fit(empty); }),
             Contains("Trainer: the training set has no images or labels"));
  data::Dataset float_labels = tiny_dataset();
  float_labels.labels = zeros({8});
  CHECK_THAT(error_of([&] { trainer.fit(float_labels); }),
             Contains("Trainer: the training labels must be int64, got float32"));
  data::Dataset out_of_range = tiny_dataset();
  out_of_range.labels.data<std::int64_t>()[3] = 2;
  CHECK_THAT(error_of([&] { trainer.fit(out_of_range); }),
             Contains("label 2") && Contains("2 classes"));
  data::Dataset wide = tiny_dataset();
  wide.images = randn({8, 5});
  CHECK_THAT(error_of([&] { trainer.fit(wide); }), Contains("Linear") && Contains("5"));
  data::Dataset short_validation = tiny_dataset();
  short_validation.images = randn({8, 3});
  CHECK_THAT(error_of([&] { trainer.fit(tiny_dataset(), short_validation); }),
             Contains("Trainer: validation images"));
}

TEST_CASE("the Trainer stops with a diagnosis when the loss becomes NaN",
          "[reliability][trainer]") {
  nn::Linear model(4, 2);
  optim::SGD sgd(model.parameters(), {.lr = 0.1});
  train::Trainer trainer(model, sgd,
                         {.epochs = 2, .batch_size = 4, .progress = train::ProgressStyle::none});
  data::Dataset poisoned = tiny_dataset();
  poisoned.images.data<float>()[0] = static_cast<float>(nan_value);
  Tensor before = model.weight.clone();
  train::History history = trainer.fit(poisoned);
  CHECK(history.stop_reason == train::StopReason::loss_not_finite);
  CHECK_THAT(history.diagnosis, Contains("NaN") || Contains("nan") || Contains("not finite"));
  CHECK(model.weight.to_vector() == before.to_vector());  // the NaN step was never applied
}

namespace {

// A model whose loss is finite but whose gradient is not: √offset at offset = 0 adds 0 to the
// scores, and its derivative 1/(2√0) is infinite.
class RootOffset : public nn::Module {
 public:
  RootOffset() : Module("RootOffset") {
    weight = register_parameter("weight", zeros({4, 2}));
    offset = register_parameter("offset", zeros({2}));
  }
  Tensor forward(const Tensor& x) override { return linear(x, weight) + sqrt(offset); }
  Tensor weight, offset;
};

}  // namespace

TEST_CASE("the Trainer stops with the parameter name when a gradient is not finite",
          "[reliability][trainer]") {
  RootOffset model;
  optim::SGD sgd(model.parameters(), {.lr = 0.1, .momentum = 0.9});
  train::Trainer trainer(model, sgd,
                         {.epochs = 2, .batch_size = 4, .progress = train::ProgressStyle::none});
  train::History history = trainer.fit(tiny_dataset());
  CHECK(history.stop_reason == train::StopReason::gradient_not_finite);
  CHECK(std::string(train::stop_reason_name(history.stop_reason)) == "gradient_not_finite");
  CHECK_THAT(history.diagnosis,
             Contains("'offset'") && Contains("iteration 1") && Contains("not applied"));
  CHECK(history.iterations() == 1);
  CHECK(model.weight.to_vector() == std::vector<double>(8, 0.0));  // the refused step moved nothing
  CHECK(model.offset.to_vector() == std::vector<double>(2, 0.0));
}

TEST_CASE("log writing into an unwritable folder is an error naming the folder",
          "[reliability][trainer][io]") {
  nn::Linear model(4, 2);
  optim::SGD sgd(model.parameters(), {.lr = 0.1});
  train::Trainer trainer(model, sgd, {.epochs = 0, .progress = train::ProgressStyle::none});
  train::History history;
  UnwritablePlaces places;
  for (const fs::path& place : places.all()) {
    CAPTURE(place);
    CHECK_THAT(error_of([&] { trainer.write_logs(place.string(), history); }),
               Contains("Trainer") && Contains(place.string()));
  }
  if (::geteuid() != 0) {  // root writes through permission bits: this case only binds other users
    TempFolder locked("gradlab-readonly");
    fs::permissions(locked.path, fs::perms::owner_read | fs::perms::owner_exec);
    CHECK_THAT(error_of([&] { trainer.write_logs((locked.path / "logs").string(), history); }),
               Contains("Trainer") && Contains("logs"));
    fs::permissions(locked.path, fs::perms::owner_all);
  }
}

TEST_CASE("write_logs leaves no file behind when its input is refused",
          "[reliability][trainer][io]") {
  nn::Linear model(4, 2);
  optim::SGD sgd(model.parameters(), {.lr = 0.1});
  train::Trainer trainer(model, sgd, {.epochs = 0, .progress = train::ProgressStyle::none});
  TempFolder folder("gradlab-logs");
  CHECK_THAT(error_of([&] { trainer.write_logs(folder.file("run"), {}, "{not json"); }),
             Contains("Trainer::write_logs: extra_json is not a JSON object"));
  CHECK_FALSE(fs::exists(folder.path / "run" / "history.csv"));
  trainer.write_logs(folder.file("run"), {}, R"({"note": 1})");
  CHECK(files_in(folder.path / "run") ==
        4);  // history, epochs, update_ratios, summary; no temporaries
}

// --- checkpoints at the API level ----------------------------------------------------------------

TEST_CASE("saving and loading a module name the folder that is missing or unwritable",
          "[reliability][checkpoint][io]") {
  nn::Sequential net = nn::MLP({4, 3, 2});
  CHECK_THAT(error_of([&] { net.load("/nonexistent/checkpoint"); }),
             Contains("/nonexistent/checkpoint"));
  UnwritablePlaces places;
  for (const fs::path& place : places.all()) {
    CAPTURE(place);
    CHECK_THAT(error_of([&] { net.save(place); }), Contains(place.string()));
  }
  CHECK(files_in(places.folder.path) == 1);  // only the regular file itself: no partial checkpoint
}

// --- search and plots ----------------------------------------------------------------------------

TEST_CASE("hyperparameter search names each bad range or option", "[reliability][search]") {
  auto trial = [](const train::HyperParameters&) { return train::TrialOutcome{.score = 0.5}; };
  using train::ParameterRange;
  CHECK_THAT(error_of([&] { train::random_search({}, trial); }),
             Contains("no parameter ranges given"));
  CHECK_THAT(
      error_of([&] { train::random_search({{.name = "lr", .low = 1e-2, .high = 1e-4}}, trial); }),
      Contains("range of 'lr' must be finite with low < high"));
  CHECK_THAT(
      error_of([&] { train::random_search({{.name = "lr", .low = 0.0, .high = 1.0}}, trial); }),
      Contains("the log range of 'lr' must be positive"));
  CHECK_THAT(error_of([&] {
               train::random_search({{.name = "lr", .low = 1e-4, .high = nan_value}}, trial);
             }),
             Contains("range of 'lr'"));
  CHECK_THAT(error_of([&] {
               train::grid_search({{.name = "lr", .low = 1e-4, .high = 1.0}}, trial,
                                  {.grid_points = 0});
             }),
             Contains("grid_points must be ≥ 1, got 0"));
  CHECK_THAT(error_of([&] {
               train::random_search({{.name = "lr", .low = 1e-4, .high = 1.0}}, trial,
                                    {.stages = 0});
             }),
             Contains("stages must be ≥ 1, got 0"));
  CHECK_THAT(error_of([&] {
               train::random_search({{.name = "lr", .low = 1e-4, .high = 1.0}}, trial,
                                    {.narrowing = 0.0});
             }),
             Contains("narrowing must be in (0, 1]"));
  CHECK_THAT(error_of([] { train::SearchResult().best(); }),
             Contains("SearchResult::best: the search ran no trials"));
  CHECK_THAT(error_of([] { train::trainer_trial({}); }),
             Contains("trainer_trial: make_model is not set"));
}

TEST_CASE("plots name the folder they cannot write and survive NaN values",
          "[reliability][plots][io]") {
  UnwritablePlaces places;
  for (const fs::path& place : places.all()) {
    CAPTURE(place);
    CHECK_THAT(error_of([&] {
                 plots::loss_curve({1.0, 0.5}, place / "loss.png");
               }),
               Contains("plots: cannot") && Contains(place.string()));
  }
  CHECK_THAT(error_of([&] { plots::loss_curve({1.0}, places.folder.path / ""); }),
             Contains("has no file name"));
  CHECK_THAT(error_of([] {
               plots::activation_histograms({{"layer", {1.0f}}}, "/tmp/x.png", 0);
             }),
             Contains("activation_histograms: bins must be ≥ 1, got 0"));
  CHECK_THAT(error_of([] { plots::activation_histograms({}, "/tmp/x.png"); }),
             Contains("activation_histograms: no layers given"));
  // NaN and inf in a loss history are drawn around, not crashed on.
  CHECK(plots::sparkline({1.0, nan_value, inf_value, 0.5}, 10).size() > 0);
  CHECK(plots::sparkline({}, 10).empty());
  TempFolder folder("gradlab-plots");
  plots::PlotResult result = plots::loss_curve({1.0, nan_value, 0.5}, folder.path / "loss.png",
                                               {.gnuplot = "gradlab-no-such-gnuplot"});
  CHECK(fs::exists(result.csv));
  CHECK_FALSE(result.drawn);
}

// --- issue 15: diverged runs, logs on a full disk, what a checkpoint save may replace ----------

TEST_CASE("the Trainer stops when an update makes a parameter non-finite",
          "[reliability][trainer]") {
  nn::Linear model(4, 2);
  // Every gradient is finite, but lr · gradient overflows float32: the weights become infinite.
  optim::SGD sgd(model.parameters(), {.lr = 1e300});
  train::Trainer trainer(model, sgd,
                         {.epochs = 2, .batch_size = 4, .progress = train::ProgressStyle::none});
  train::History history = trainer.fit(tiny_dataset());
  CHECK(history.stop_reason == train::StopReason::parameters_not_finite);
  CHECK(std::string(train::stop_reason_name(history.stop_reason)) == "parameters_not_finite");
  CHECK(history.diverged());
  CHECK(history.iterations() == 1);
  CHECK_THAT(history.diagnosis, Contains("iteration 1") && Contains("non-finite"));
}

TEST_CASE("a diverged history is told apart from a completed or interrupted one",
          "[reliability][trainer]") {
  train::History history;
  CHECK_FALSE(history.diverged());
  for (train::StopReason reason :
       {train::StopReason::loss_not_finite, train::StopReason::loss_exploded,
        train::StopReason::gradient_not_finite, train::StopReason::parameters_not_finite}) {
    history.stop_reason = reason;
    CHECK(history.diverged());
  }
  history.stop_reason = train::StopReason::stopped_by_callback;
  CHECK_FALSE(history.diverged());
}

TEST_CASE("a log that cannot be written does not stop the other logs", "[reliability][trainer]") {
  TempFolder folder("gradlab-full-log");
  nn::Linear model(4, 2);
  optim::SGD sgd(model.parameters(), {.lr = 0.1});
  train::Trainer trainer(model, sgd,
                         {.epochs = 1, .batch_size = 4, .progress = train::ProgressStyle::none});
  const train::History history = trainer.fit(tiny_dataset());
  // history.csv is written through its temporary name, here /dev/full: "no space left".
  fs::create_symlink("/dev/full", folder.path / ".history.csv.tmp");
  CHECK_THAT(error_of([&] { trainer.write_logs(folder.path.string(), history); }),
             Contains("history.csv") && Contains("disk full"));
  CHECK_FALSE(fs::exists(folder.path / "history.csv"));
  CHECK(fs::file_size(folder.path / "epochs.csv") > 0);
  CHECK(fs::file_size(folder.path / "summary.json") > 0);
}

TEST_CASE("a plot file that cannot be written is an error and is not left behind",
          "[reliability][plots]") {
  TempFolder folder("gradlab-full-plot");
  fs::create_symlink("/dev/full", folder.path / "loss.csv");
  CHECK_THAT(error_of([&] {
               plots::loss_curve({2.3, 2.0, 1.5}, folder.path / "loss.png");
             }),
             Contains("loss.csv") && Contains("disk full"));
  CHECK_FALSE(fs::exists(fs::symlink_status(folder.path / "loss.csv")));
  CHECK_FALSE(fs::exists(folder.path / "loss.gp"));
  CHECK_FALSE(fs::exists(folder.path / "loss.png"));
}

TEST_CASE("a checkpoint replaces only a gradlab checkpoint", "[reliability][checkpoint]") {
  TempFolder folder("gradlab-ck-target");
  nn::Linear model(4, 2);
  const fs::path ck = folder.path / "ck";
  CHECK(error_of([&] { nn::check_checkpoint_target(ck); }) == "no error");  // nothing there yet
  nn::save_checkpoint(model, ck);
  CHECK(error_of([&] { nn::check_checkpoint_target(ck); }) == "no error");
  nn::save_checkpoint(model, ck);  // an older checkpoint is replaced

  std::ofstream(ck / "notes.txt") << "mine\n";
  CHECK_THAT(error_of([&] { nn::save_checkpoint(model, ck); }),
             Contains("not a gradlab checkpoint") && Contains("notes.txt"));
  CHECK(fs::exists(ck / "notes.txt"));

  const fs::path webapp = folder.path / "webapp";
  fs::create_directories(webapp / "src");
  std::ofstream(webapp / "manifest.json") << "{}\n";
  std::ofstream(webapp / "index.html") << "x\n";
  CHECK_THAT(error_of([&] { nn::save_checkpoint(model, webapp); }),
             Contains("not a gradlab checkpoint") && Contains("format_version") &&
                 Contains("index.html") && Contains("src/"));
  CHECK(fs::exists(webapp / "index.html"));

  std::ofstream(folder.path / "file") << "x\n";
  CHECK_THAT(error_of([&] { nn::check_checkpoint_target(folder.path / "file"); }),
             Contains("not a folder"));
  CHECK_THAT(error_of([&] { nn::check_checkpoint_target("/dev/null"); }), Contains("not a folder"));
  CHECK_THAT(error_of([&] { nn::check_checkpoint_target("."); }), Contains("working folder"));
  CHECK_THAT(error_of([&] { nn::check_checkpoint_target(fs::current_path().parent_path()); }),
             Contains("working folder"));
}
