// Issue 15, defects 10 and 11: checkpoints record their architecture as data (format_version 2)
// and load refuses a module of another architecture, naming both sides; loads can leave named
// layers out or allow another activation; version 1 checkpoints still load. A save cleans up
// the temporaries of interrupted saves, and a checkpoint whose name an interrupted save left
// missing is recovered. (The kill-at-every-step and fsync-order tests are process tests:
// tests/reliability/checkpoint_crash.sh.)
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint_helpers.hpp"
#include "modules/nn/checkpoint.hpp"
#include "modules/nn/nn.hpp"
#include "temp_folder.hpp"

// A named namespace around everything: a unity build compiles this file together with the
// folder's other tests, whose helpers may have the same names.
namespace checkpoint_layers_test {

using namespace gradlab;
namespace fs = std::filesystem;

using gradlab::testing::load_error;
using gradlab::testing::read_text;
using gradlab::testing::snapshot;
using gradlab::testing::TempFolder;
using gradlab::testing::write_text;
using nlohmann::json;

// 784 → 20 → 10 as gradlab_train builds it, with the activation asked for.
nn::Sequential mlp(const std::string& activation, std::int64_t classes = 10) {
  return nn::MLP({784, 20, classes}, {.activation = activation});
}

// The error of loading `folder` into `module` with `options` ("no error" if none).
std::string load_error_with(nn::Module& module, const fs::path& folder,
                            const nn::LoadOptions& options) {
  try {
    module.load(folder, options);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// The names in `folder`, sorted.
std::vector<std::string> names_in(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The file names of `paths`, to compare and print (Catch cannot print a path).
std::vector<std::string> file_names(const std::vector<fs::path>& paths) {
  std::vector<std::string> names;
  for (const fs::path& path : paths) names.push_back(path.filename().string());
  return names;
}

// The file name `path` holds, or "(none)".
std::string file_name(const std::optional<fs::path>& path) {
  return path ? path->filename().string() : "(none)";
}

// --- defect 11: the architecture as data ---------------------------------------------------

TEST_CASE("the manifest records every layer with its type and settings (format_version 2)",
          "[checkpoint][architecture]") {
  TempFolder folder{"gradlab-checkpoint-layers"};
  nn::Sequential net(nn::Linear(784, 50), nn::BatchNorm1d(50), nn::LeakyReLU(0.2),
                     nn::Dropout(0.25), nn::Linear(50, 10, {.bias = false}));
  net.save(folder.path / "ck");
  const json manifest = json::parse(read_text(folder.path / "ck" / "manifest.json"));
  CHECK(manifest["format_version"] == 2);
  const json expected = json::parse(R"([
    {"name": "", "type": "Sequential", "settings": {}},
    {"name": "0", "type": "Linear",
     "settings": {"in_features": 784, "out_features": 50, "bias": true}},
    {"name": "1", "type": "BatchNorm1d",
     "settings": {"num_features": 50, "eps": 1e-05, "momentum": 0.1}},
    {"name": "2", "type": "LeakyReLU", "settings": {"negative_slope": 0.2}},
    {"name": "3", "type": "Dropout", "settings": {"p": 0.25}},
    {"name": "4", "type": "Linear",
     "settings": {"in_features": 50, "out_features": 10, "bias": false}}])");
  CHECK(manifest["layers"] == expected);
  CHECK(manifest["layers"][1]["settings"]["in_features"].is_number_integer());
  CHECK(manifest["layers"][1]["settings"]["bias"].is_boolean());
  CHECK(manifest["architecture"][0] == "Sequential(");  // the readable lines stay

  // The parser reads the layers back, in order, and formatting gives the same text.
  const std::string text = read_text(folder.path / "ck" / "manifest.json");
  const nn::CheckpointManifest parsed = nn::parse_checkpoint_manifest(text, "saved");
  CHECK(parsed.layers == nn::describe_layers(net));
  CHECK(nn::format_checkpoint_manifest(parsed) == text);
  CHECK(nn::layer_string(parsed.layers[3]) == "LeakyReLU(negative_slope=0.2)");
  CHECK(nn::layer_string(parsed.layers[5]) ==
        "Linear(in_features=50, out_features=10, bias=false)");

  // Nested modules get dotted names, in pre-order.
  nn::Sequential outer;
  outer.push_back(std::make_shared<nn::Sequential>(nn::Linear(3, 2), nn::Tanh()));
  outer.push_back(nn::ELU(0.5));
  const std::vector<nn::LayerSpec> layers = nn::describe_layers(outer);
  REQUIRE(layers.size() == 5);
  CHECK(layers[1] == nn::LayerSpec{"0", "Sequential", {}});
  CHECK(layers[3] == nn::LayerSpec{"0.1", "Tanh", {}});
  CHECK(layers[4] == nn::LayerSpec{"1", "ELU", {{"alpha", 0.5}}});
}

TEST_CASE("a ReLU checkpoint does not load into a Sigmoid net unless the change is allowed",
          "[checkpoint][architecture]") {
  TempFolder folder{"gradlab-checkpoint-layers"};
  const fs::path ck = folder.path / "ck";
  manual_seed(1);
  nn::Sequential relu_net = mlp("relu");
  relu_net.save(ck);

  manual_seed(2);
  nn::Sequential sigmoid_net = mlp("sigmoid");
  const auto before = snapshot(sigmoid_net);
  const std::string error = load_error(sigmoid_net, ck);
  CHECK(error == "checkpoint " + ck.string() +
                     ": layer 1 is ReLU() in the checkpoint, Sigmoid() in the module; to load the "
                     "weights into a different activation, set "
                     "LoadOptions::allow_activation_change (gradlab_train "
                     "--allow-activation-change)");
  CHECK(snapshot(sigmoid_net) == before);  // all or nothing

  sigmoid_net.load(ck, {.exclude = {}, .allow_activation_change = true});
  CHECK(snapshot(sigmoid_net) == snapshot(relu_net));

  // A different setting of the same activation is an activation change too.
  nn::Sequential leaky(nn::Linear(4, 3), nn::LeakyReLU(0.01));
  leaky.save(folder.path / "leaky");
  nn::Sequential steeper(nn::Linear(4, 3), nn::LeakyReLU(0.2));
  CHECK_THAT(load_error(steeper, folder.path / "leaky"),
             Catch::Contains("layer 1 is LeakyReLU(negative_slope=0.01) in the checkpoint, "
                             "LeakyReLU(negative_slope=0.2) in the module (negative_slope 0.01 "
                             "vs 0.2); to load the weights into a different activation"));
  steeper.load(folder.path / "leaky", {.exclude = {}, .allow_activation_change = true});
}

TEST_CASE("a mismatch of layer count, type or setting names the layer and both sides",
          "[checkpoint][architecture]") {
  TempFolder folder{"gradlab-checkpoint-layers"};
  const fs::path ck = folder.path / "ck";
  nn::Sequential saved(nn::Linear(4, 3), nn::BatchNorm1d(3), nn::ReLU(), nn::Dropout(0.5));
  saved.save(ck);
  const std::string where = "checkpoint " + ck.string() + ": ";

  SECTION("one layer more in the module") {
    nn::Sequential longer(nn::Linear(4, 3), nn::BatchNorm1d(3), nn::ReLU(), nn::Dropout(0.5),
                          nn::Tanh());
    CHECK(load_error(longer, ck) ==
          where +
              "the checkpoint has 4 layers, the module 5: layer 4 (Tanh()) is only in the "
              "module; to load the rest, exclude it (LoadOptions::exclude, gradlab_train "
              "--load-except 4)");
  }
  SECTION("one layer fewer in the module") {
    nn::Sequential shorter(nn::Linear(4, 3), nn::BatchNorm1d(3), nn::ReLU());
    CHECK_THAT(
        load_error(shorter, ck),
        Catch::Contains("the checkpoint has 4 layers, the module 3: layer 3 (Dropout(p=0.5)) "
                        "is only in the checkpoint"));
  }
  SECTION("another type that is not an activation") {
    nn::Sequential other(nn::Linear(4, 3), nn::BatchNorm1d(3), nn::ReLU(), nn::Tanh());
    CHECK(load_error(other, ck) ==
          where +
              "layer 3 is Dropout(p=0.5) in the checkpoint, Tanh() in the module; to load the "
              "rest, exclude it (LoadOptions::exclude, gradlab_train --load-except 3)");
    // allow_activation_change does not cover it: Dropout is not an activation.
    CHECK_THAT(load_error_with(other, ck, {.exclude = {}, .allow_activation_change = true}),
               Catch::Contains("layer 3 is Dropout(p=0.5) in the checkpoint, Tanh()"));
  }
  SECTION("a setting") {
    nn::Sequential other(nn::Linear(4, 3), nn::BatchNorm1d(3, {.eps = 1e-3}), nn::ReLU(),
                         nn::Dropout(0.5));
    CHECK(load_error(other, ck) ==
          where +
              "layer 1 is BatchNorm1d(num_features=3, eps=1e-05, momentum=0.1) in the "
              "checkpoint, BatchNorm1d(num_features=3, eps=0.001, momentum=0.1) in the module "
              "(eps 1e-05 vs 0.001); to load the rest, exclude it (LoadOptions::exclude, "
              "gradlab_train --load-except 1)");
  }
  SECTION("the saved module's own type") {
    nn::Linear alone(4, 3);
    alone.save(folder.path / "alone");
    nn::Sequential wrapped(nn::Linear(4, 3));
    // The tensors differ in name first ("weight" vs "0.weight").
    CHECK_THAT(load_error(wrapped, folder.path / "alone"), Catch::Contains("'0.weight'"));
    nn::Maxout maxout(4, 1, 3);  // weight [4, 3] and bias [3], like Linear(4, 3)
    CHECK(load_error(maxout, folder.path / "alone") ==
          "checkpoint " + (folder.path / "alone").string() +
              ": the saved module itself is Linear(in_features=4, out_features=3, bias=true) in "
              "the checkpoint, Maxout(in_features=4, out_features=1, pieces=3) in the module");
  }
}

TEST_CASE("excluded layers and tensors are neither loaded nor compared (a new classifier head)",
          "[checkpoint][architecture]") {
  TempFolder folder{"gradlab-checkpoint-layers"};
  const fs::path ck = folder.path / "ck";
  manual_seed(3);
  nn::Sequential pretrained = mlp("relu", 10);
  pretrained.save(ck);

  manual_seed(4);
  nn::Sequential five = mlp("relu", 5);  // a head of another size: 2.weight [20, 5]
  CHECK_THAT(load_error(five, ck),
             Catch::Contains("parameter '2.weight': the checkpoint has shape [20, 10], the module "
                             "[20, 5]"));
  const Tensor head = five.at<nn::Linear>(2).weight;
  const std::vector<float> head_before(head.data<float>(), head.data<float>() + head.numel());
  five.load(ck, {.exclude = {"2"}});
  CHECK(std::equal(head_before.begin(), head_before.end(), head.data<float>()));  // kept
  const Tensor body = five.at<nn::Linear>(0).weight;
  const Tensor saved_body = pretrained.at<nn::Linear>(0).weight;
  CHECK(
      std::equal(body.data<float>(), body.data<float>() + body.numel(), saved_body.data<float>()));

  // Exact tensor names exclude only that tensor; the layer itself is still compared.
  nn::Sequential ten = mlp("relu", 10);
  ten.load(ck, {.exclude = {"2.bias"}});
  CHECK_THAT(load_error_with(five, ck, {.exclude = {"2.weight", "2.bias"}}),
             Catch::Contains("layer 2 is Linear(in_features=20, out_features=10, bias=true) in "
                             "the checkpoint, Linear(in_features=20, out_features=5, bias=true) "
                             "in the module (out_features 10 vs 5)"));

  // A name that matches nothing is a typo, not a silent full load; a name that is not a
  // dotted name is refused.
  CHECK_THAT(load_error_with(ten, ck, {.exclude = {"7"}}),
             Catch::EndsWith("the exclusion '7' names no layer, parameter or buffer of the "
                             "checkpoint or the module"));
  CHECK_THAT(load_error_with(ten, ck, {.exclude = {"2."}}),
             Catch::Contains("cannot exclude '2.': not the dotted name"));
  CHECK_THAT(load_error_with(ten, ck, {.exclude = {""}}), Catch::Contains("cannot exclude ''"));
}

TEST_CASE("a version 1 checkpoint (no layers) still loads", "[checkpoint][architecture]") {
  TempFolder folder{"gradlab-checkpoint-layers"};
  const fs::path ck = folder.path / "ck";
  manual_seed(5);
  nn::Sequential relu_net = mlp("relu");
  relu_net.save(ck);
  // The manifest gradlab 0.2 wrote: format_version 1, no "layers".
  json manifest = json::parse(read_text(ck / "manifest.json"));
  manifest["format_version"] = 1;
  manifest.erase("layers");
  write_text(ck / "manifest.json", manifest.dump(2));

  nn::Sequential fresh = mlp("relu");
  fresh.load(ck);
  CHECK(snapshot(fresh) == snapshot(relu_net));
  // Its architecture cannot be compared: names, shapes and dtypes are all that is checked.
  nn::Sequential sigmoid_net = mlp("sigmoid");
  sigmoid_net.load(ck);
  CHECK(snapshot(sigmoid_net) == snapshot(relu_net));
  // A version 1 manifest with layers is not one gradlab wrote.
  manifest["layers"] = json::array();
  write_text(ck / "manifest.json", manifest.dump(2));
  CHECK_THAT(load_error(fresh, ck), Catch::Contains("unknown key 'layers'"));
}

TEST_CASE("the layers of a manifest are validated strictly", "[checkpoint][architecture]") {
  TempFolder folder{"gradlab-checkpoint-layers"};
  nn::Sequential net(nn::Linear(4, 3), nn::LeakyReLU(0.1));
  net.save(folder.path / "ck");
  const json good = json::parse(read_text(folder.path / "ck" / "manifest.json"));
  struct Case {
    std::function<void(json&)> edit;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](json& m) { m.erase("layers"); },
       "the list 'layers' is missing (format_version 2 records the architecture)"},
      {[](json& m) { m["layers"] = json::object(); }, "'layers' must be a list, got an object"},
      {[](json& m) { m["layers"][1] = "Linear"; },
       "layers[1]: a layer must be an object with name, type and settings, got a string"},
      {[](json& m) { m["layers"][1]["shape"] = 3; },
       "layers[1]: unknown key 'shape' (a layer has name, type, settings)"},
      {[](json& m) { m["layers"][1].erase("settings"); },
       "layers[1]: the key 'settings' is missing"},
      {[](json& m) { m["layers"][1]["name"] = 0; },
       "layers[1]: 'name' must be a string, got a number"},
      {[](json& m) { m["layers"][1]["name"] = "0..1"; }, "name '0..1' is neither"},
      {[](json& m) { m["layers"][2]["name"] = "0"; }, "'layers' lists the layer '0' twice"},
      {[](json& m) { m["layers"][1]["type"] = "Lin ear"; },
       "type 'Lin ear' is not a word of letters, digits and '_'"},
      {[](json& m) { m["layers"][1]["type"] = ""; }, "type '' is not a word"},
      {[](json& m) { m["layers"][1]["settings"] = json::array(); },
       "'settings' must be an object, got an array"},
      {[](json& m) { m["layers"][1]["settings"]["bad key"] = 1; },
       "setting 'bad key' is not a word of letters, digits and '_'"},
      {[](json& m) { m["layers"][1]["settings"]["in_features"] = json::array({4}); },
       "layers[1]: setting 'in_features': must be a boolean, an integer, a number or a string, "
       "got an array"},
      {[](json& m) { m["layers"][1]["settings"]["in_features"] = nullptr; }, "got a null"},
      {[](json& m) { m["layers"][1]["settings"]["in_features"] = 18446744073709551615ull; },
       "setting 'in_features': the integer 18446744073709551615 does not fit in 64 bits"},
  };
  for (const Case& bad : cases) {
    json manifest = good;
    bad.edit(manifest);
    INFO(manifest.dump());
    CHECK_THROWS_WITH(nn::parse_checkpoint_manifest(manifest.dump(), "m"),
                      Catch::StartsWith("m") && Catch::Contains(bad.expected));
  }
  // Strings are settings too (a module of your own may have one), and survive a round trip.
  json manifest = good;
  manifest["layers"][2]["settings"]["mode"] = "fan_in";
  const nn::CheckpointManifest parsed = nn::parse_checkpoint_manifest(manifest.dump(), "m");
  const auto& settings = parsed.layers[2].settings;
  CHECK(std::find(settings.begin(), settings.end(),
                  nn::LayerSetting{"mode", std::string("fan_in")}) != settings.end());
  CHECK(nn::parse_checkpoint_manifest(nn::format_checkpoint_manifest(parsed), "again") == parsed);
}

// --- defect 10: interrupted saves ----------------------------------------------------------

TEST_CASE("a save removes the temporaries interrupted saves of the same target left, and says so",
          "[checkpoint][crash]") {
  TempFolder folder{"gradlab-checkpoint-layers"};
  const fs::path ck = folder.path / "ck";
  nn::Sequential net = mlp("relu");
  net.save(ck);
  // What killed saves leave: a half-written temporary and an old checkpoint moved aside.
  fs::create_directory(folder.path / "ck.tmp-0123456789abcdef");
  write_text(folder.path / "ck.tmp-0123456789abcdef" / "0.weight.npy", "half");
  fs::copy(ck, folder.path / "ck.old-fedcba9876543210", fs::copy_options::recursive);
  // Names that only look alike are someone else's and stay.
  for (const char* name : {"ck.tmp-notours", "ck.tmp-0123456789ABCDEF", "ck2.tmp-0123456789abcdef",
                           "ck.tmp-0123456789abcdef0"})
    fs::create_directory(folder.path / name);
  write_text(folder.path / "ck.old-00000000000000aa", "a file, not a folder");

  const nn::SaveReport report = nn::save_checkpoint(net, ck);
  CHECK(file_name(report.recovered_from) == "(none)");
  CHECK(file_names(report.removed) ==
        std::vector<std::string>{"ck.old-fedcba9876543210", "ck.tmp-0123456789abcdef"});
  REQUIRE(report.removed.size() == 2);
  CHECK(report.removed.front().parent_path().string() == folder.path.string());
  CHECK(names_in(folder.path) ==
        std::vector<std::string>{"ck", "ck.old-00000000000000aa", "ck.tmp-0123456789ABCDEF",
                                 "ck.tmp-0123456789abcdef0", "ck.tmp-notours",
                                 "ck2.tmp-0123456789abcdef"});
  // The next save finds nothing to remove, and a successful save leaves no temporary of its own.
  CHECK(nn::save_checkpoint(net, ck).removed.empty());
  CHECK(names_in(folder.path).size() == 6);
}

TEST_CASE("a checkpoint whose name an interrupted save left missing is recovered on load and save",
          "[checkpoint][crash]") {
  TempFolder folder{"gradlab-checkpoint-layers"};
  const fs::path ck = folder.path / "ck";
  manual_seed(6);
  nn::Sequential old_net = mlp("relu");
  manual_seed(7);
  nn::Sequential new_net = mlp("relu");
  // The two-rename fallback killed between its renames: the old checkpoint moved aside, the new
  // one complete under its temporary name (written after the old one).
  old_net.save(folder.path / "ck.old-1111111111111111");
  new_net.save(folder.path / "ck.tmp-2222222222222222");
  fs::last_write_time(
      folder.path / "ck.tmp-2222222222222222" / "manifest.json",
      fs::last_write_time(folder.path / "ck.old-1111111111111111" / "manifest.json") +
          std::chrono::seconds(1));
  // An incomplete temporary (a listed file missing) is never chosen, however new.
  new_net.save(folder.path / "ck.tmp-3333333333333333");
  fs::remove(folder.path / "ck.tmp-3333333333333333" / "2.bias.npy");
  fs::last_write_time(
      folder.path / "ck.tmp-3333333333333333" / "manifest.json",
      fs::last_write_time(folder.path / "ck.tmp-2222222222222222" / "manifest.json") +
          std::chrono::seconds(1));

  SECTION("load puts the newest complete one back under the name") {
    nn::Sequential net = mlp("relu");
    net.load(ck);
    CHECK(snapshot(net) == snapshot(new_net));
    CHECK(fs::is_directory(ck));
    CHECK_FALSE(fs::exists(folder.path / "ck.tmp-2222222222222222"));
  }
  SECTION("without the new one, the old one comes back") {
    fs::remove_all(folder.path / "ck.tmp-2222222222222222");
    CHECK(file_name(nn::recover_checkpoint(ck)) == "ck.old-1111111111111111");
    nn::Sequential net = mlp("relu");
    net.load(ck);
    CHECK(snapshot(net) == snapshot(old_net));
    CHECK(file_name(nn::recover_checkpoint(ck)) == "(none)");  // the name exists: nothing to do
  }
  SECTION("a save recovers first, then replaces, then removes the rest") {
    const nn::SaveReport report = nn::save_checkpoint(old_net, ck);
    CHECK(file_name(report.recovered_from) == "ck.tmp-2222222222222222");
    CHECK(file_names(report.removed) ==
          std::vector<std::string>{"ck.old-1111111111111111", "ck.tmp-3333333333333333"});
    CHECK(names_in(folder.path) == std::vector<std::string>{"ck"});
    nn::Sequential net = mlp("relu");
    net.load(ck);
    CHECK(snapshot(net) == snapshot(old_net));
  }
  SECTION("nothing complete: load says the folder is missing") {
    for (const char* name : {"ck.tmp-2222222222222222", "ck.old-1111111111111111"})
      fs::remove(folder.path / name / "manifest.json");
    nn::Sequential net = mlp("relu");
    CHECK_THAT(load_error(net, ck), Catch::EndsWith("no such folder"));
  }
}

}  // namespace checkpoint_layers_test
