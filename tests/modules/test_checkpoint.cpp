// Checkpoints: save → load is bit-exact on every backend, loading is all or nothing, and every bad
// checkpoint is refused with a message naming the parameter and the shapes.
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "checkpoint_helpers.hpp"
#include "temp_folder.hpp"
#include "backends/backend.hpp"
#include "modules/nn/nn.hpp"
#include "modules/io/npy.hpp"
#include "modules/optim/optim.hpp"

using namespace gradlab;
using gradlab::testing::load_error;
using gradlab::testing::read_text;
using gradlab::testing::small_net;
using gradlab::testing::snapshot;
using gradlab::testing::TempFolder;
using gradlab::testing::write_text;
namespace fs = std::filesystem;

TEST_CASE("save then load round-trips parameters and buffers bit-exactly, on every backend") {
  for (const std::string& name : available_backends()) {
    BackendGuard guard(name);
    INFO("backend " << name);
    TempFolder folder{"gradlab-checkpoint-test"};
    manual_seed(1);
    nn::Sequential trained = small_net();
    trained(randn({8, 4}));  // moves BatchNorm's running averages away from 0 and 1
    trained.save(folder.path / "ck");

    manual_seed(2);
    nn::Sequential fresh = small_net();
    REQUIRE(snapshot(fresh) != snapshot(trained));
    fresh.load(folder.path / "ck");
    CHECK(snapshot(fresh) == snapshot(trained));

    trained.eval();
    fresh.eval();
    Tensor x = randn({3, 4});
    CHECK(fresh(x).to_vector() == trained(x).to_vector());
  }
}

TEST_CASE("a checkpoint folder holds one .npy per tensor and a manifest NumPy users can read") {
  TempFolder folder{"gradlab-checkpoint-test"};
  nn::Sequential net = small_net();
  const fs::path ck = folder.path / "ck";
  net.save(ck);
  for (const char* file :
       {"0.weight.npy", "0.bias.npy", "1.weight.npy", "1.bias.npy", "1.running_mean.npy",
        "1.running_var.npy", "2.weight.npy", "3.weight.npy", "3.bias.npy", "manifest.json"})
    CHECK(fs::is_regular_file(ck / file));
  const std::string manifest = read_text(ck / "manifest.json");
  CHECK(manifest.find("\"format_version\": 2") != std::string::npos);
  CHECK(manifest.find("\"name\": \"0.weight\"") != std::string::npos);
  CHECK(manifest.find("\"dtype\": \"float32\"") != std::string::npos);
  CHECK(npy::read_header(ck / "0.weight.npy").shape == Shape{4, 5});
  // nothing but the checkpoint is left beside it (no temporary folders)
  CHECK(std::distance(fs::directory_iterator(folder.path), fs::directory_iterator()) == 1);
}

TEST_CASE(
    "saving over an older checkpoint replaces it, a folder that is not a checkpoint is refused") {
  TempFolder folder{"gradlab-checkpoint-test"};
  const fs::path ck = folder.path / "ck";
  manual_seed(3);
  nn::Sequential first = small_net();
  first.save(ck);
  manual_seed(4);
  nn::Sequential second = small_net();
  second.save(ck / "");  // a trailing slash names the same folder
  nn::Sequential loaded = small_net();
  loaded.load(ck);
  CHECK(snapshot(loaded) == snapshot(second));
  CHECK(std::distance(fs::directory_iterator(folder.path), fs::directory_iterator()) == 1);

  const fs::path other = folder.path / "photos";
  fs::create_directories(other);
  write_text(other / "cat.jpg", "not a checkpoint");
  CHECK_THROWS_WITH(
      second.save(other),
      Catch::Contains("refusing to replace a non-empty folder that is not a gradlab checkpoint"));
  CHECK(read_text(other / "cat.jpg") == "not a checkpoint");
}

TEST_CASE("finetuning: load, freeze the features, train only the classifier") {
  TempFolder folder{"gradlab-checkpoint-test"};
  manual_seed(5);
  nn::Sequential pretrained = nn::MLP({4, 6, 3}, {.activation = "relu"});
  pretrained.save(folder.path / "pretrained");

  nn::Sequential net = nn::MLP({4, 6, 3}, {.activation = "relu"});
  net.load(folder.path / "pretrained");
  net[0].freeze();
  const auto features_before = net.at<nn::Linear>(0).weight.to_vector();
  const auto classifier_before = net.at<nn::Linear>(2).weight.to_vector();
  optim::SGD optimizer(net.parameters(), {.lr = 0.1, .momentum = 0.9});
  nn::CrossEntropyLoss criterion;
  for (int step = 0; step < 5; ++step) {
    optimizer.zero_grad();
    criterion(net(randn({8, 4})), labels({0, 1, 2, 0, 1, 2, 0, 1})).backward();
    optimizer.step();
  }
  CHECK(net.at<nn::Linear>(0).weight.to_vector() == features_before);
  CHECK(net.at<nn::Linear>(2).weight.to_vector() != classifier_before);
}

TEST_CASE("loading a wrong shape names the parameter and both shapes and changes nothing") {
  TempFolder folder{"gradlab-checkpoint-test"};
  nn::Sequential wide = small_net(6);
  wide.save(folder.path / "ck");
  nn::Sequential net = small_net(5);
  const auto before = snapshot(net);
  CHECK_THAT(
      load_error(net, folder.path / "ck"),
      Catch::EndsWith("parameter '0.weight': the checkpoint has shape [4, 6], the module [4, 5]"));
  CHECK(snapshot(net) == before);
}

TEST_CASE(
    "loading a checkpoint with a missing file fails, names the parameter, and changes nothing") {
  TempFolder folder{"gradlab-checkpoint-test"};
  const fs::path ck = folder.path / "ck";
  small_net().save(ck);
  fs::remove(ck / "3.bias.npy");  // the last parameter: every earlier one has been read by then
  nn::Sequential net = small_net();
  const auto before = snapshot(net);
  const std::string error = load_error(net, ck);
  CHECK_THAT(error,
             Catch::Contains("parameter '3.bias'") && Catch::Contains("the file does not exist"));
  CHECK(snapshot(net) == before);
}

TEST_CASE("loading a corrupt .npy fails with the npy reader's message and changes nothing") {
  TempFolder folder{"gradlab-checkpoint-test"};
  const fs::path ck = folder.path / "ck";
  small_net().save(ck);
  fs::resize_file(ck / "1.running_var.npy",
                  128 + 6);  // a buffer, read after every parameter; data at 128
  nn::Sequential net = small_net();
  const auto before = snapshot(net);
  CHECK_THAT(
      load_error(net, ck),
      Catch::Contains("buffer '1.running_var': npy:") &&
          Catch::Contains("byte 128: expected 20 bytes of data for shape (5,) '<f4', found 6"));
  CHECK(snapshot(net) == before);
}

TEST_CASE("a file whose contents disagree with the manifest is refused") {
  TempFolder folder{"gradlab-checkpoint-test"};
  const fs::path ck = folder.path / "ck";
  small_net().save(ck);
  npy::write(ck / "0.bias.npy", zeros({7}));  // the manifest still says [5]
  nn::Sequential net = small_net();
  CHECK_THAT(load_error(net, ck),
             Catch::EndsWith("parameter '0.bias': file 0.bias.npy holds shape [7] (float32), the "
                             "module has shape [5] (float32)"));
}

TEST_CASE("a newer format_version is refused with a clear message") {
  TempFolder folder{"gradlab-checkpoint-test"};
  const fs::path ck = folder.path / "ck";
  small_net().save(ck);
  std::string manifest = read_text(ck / "manifest.json");
  manifest.replace(manifest.find("\"format_version\": 2"), 19, "\"format_version\": 4");
  write_text(ck / "manifest.json", manifest);
  nn::Sequential net = small_net();
  CHECK_THAT(load_error(net, ck),
             Catch::Contains("format_version 4 is newer than this gradlab understands (3)"));
}

TEST_CASE("manifests that are missing, invalid or inconsistent with the module are refused") {
  TempFolder folder{"gradlab-checkpoint-test"};
  const fs::path ck = folder.path / "ck";
  nn::Sequential net = small_net();
  net.save(ck);
  const std::string good = read_text(ck / "manifest.json");

  CHECK_THAT(load_error(net, folder.path / "nowhere"), Catch::EndsWith("no such folder"));
  write_text(ck / "manifest.json", "{\"format_version\": 1, \"parameters\": [");
  CHECK_THAT(load_error(net, ck), Catch::Contains("manifest.json is not valid JSON"));
  write_text(ck / "manifest.json", "{\"parameters\": []}");
  CHECK_THAT(load_error(net, ck), Catch::Contains("manifest.json has no integer 'format_version'"));
  write_text(ck / "manifest.json", "{\"format_version\": 1, \"parameters\": [], \"buffers\": []}");
  CHECK_THAT(
      load_error(net, ck),
      Catch::EndsWith(
          "parameter '0.weight' (shape [4, 5] in the module) is missing from the checkpoint"));

  std::string escape = good;
  escape.replace(escape.find("\"file\": \"0.weight.npy\""), 22, "\"file\": \"../0.weight.npy\"");
  write_text(ck / "manifest.json", escape);
  CHECK_THAT(load_error(net, ck),
             Catch::Contains(
                 "file '../0.weight.npy' must be a plain file name inside the checkpoint folder"));

  fs::remove(ck / "manifest.json");
  CHECK_THAT(load_error(net, ck),
             Catch::Contains("manifest.json is missing (not a gradlab checkpoint?)"));

  // A checkpoint of a longer net has parameters this module lacks.
  nn::Sequential longer = small_net();
  longer.push_back(nn::Linear(3, 2));
  longer.save(folder.path / "longer");
  CHECK_THAT(
      load_error(net, folder.path / "longer"),
      Catch::EndsWith(
          "the checkpoint has parameter '4.bias' (shape [2]) that the module does not have"));
}

TEST_CASE("a dtype mismatch names both dtypes") {
  BackendGuard reference("reference");  // float64 parameters
  TempFolder folder{"gradlab-checkpoint-test"};
  nn::Linear single(3, 2);
  single.save(folder.path / "ck");
  nn::Linear twice(3, 2, {.dtype = DType::float64});
  CHECK_THAT(
      load_error(twice, folder.path / "ck"),
      Catch::EndsWith("parameter 'weight': the checkpoint has dtype float32, the module float64"));
}
