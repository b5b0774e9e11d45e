// Checkpoints under bad conditions: saving where nothing can be written, a folder that vanishes
// in the middle of a save, and loading from every kind of broken checkpoint. The promises under
// test (modules/nn/checkpoint.hpp): every failure is a gradlab::Error that names the checkpoint and
// what is wrong; a failed save leaves nothing partial behind (and an older checkpoint intact); a
// failed load leaves the module exactly as it was.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "modules/nn/checkpoint.hpp"
#include "modules/nn/nn.hpp"
#include "modules/io/npy.hpp"
#include "checkpoint_helpers.hpp"
#include "temp_folder.hpp"

using namespace gradlab;
using gradlab::testing::load_error;
using gradlab::testing::read_text;
using gradlab::testing::small_net;
using gradlab::testing::snapshot;
using gradlab::testing::TempFolder;
using gradlab::testing::write_text;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The names in `folder`, sorted.
std::vector<std::string> listing(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string save_error(const nn::Module& module, const fs::path& folder) {
  try {
    module.save(folder);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// A module whose printout deletes things: save_checkpoint prints the module (the manifest's
// "architecture") after it has written every tensor file and before it writes the manifest, so
// this removes a folder in the middle of a save, deterministically.
class Vanishing : public nn::Module {
 public:
  Vanishing() : Module("Vanishing") {
    register_parameter("weight", randn({3, 2}));
    register_buffer("steps", full({1}, 7.0));
  }
  // Deletes every "<stem>.tmp-*" folder in `parent` (a save's temporary folder) on the next
  // printout, or `parent` itself with `whole_parent`.
  void vanish_on_print(fs::path parent, std::string stem, bool whole_parent = false) {
    parent_ = std::move(parent);
    stem_ = std::move(stem);
    whole_parent_ = whole_parent;
  }
  int removed() const { return removed_; }

  std::string extra_repr() const override {
    if (parent_.empty()) return "";
    if (whole_parent_) {
      removed_ += fs::remove_all(parent_) > 0 ? 1 : 0;
      return "";
    }
    std::vector<fs::path> doomed;
    for (const auto& entry : fs::directory_iterator(parent_))
      if (entry.path().filename().string().rfind(stem_ + ".tmp-", 0) == 0)
        doomed.push_back(entry.path());
    for (const fs::path& path : doomed) removed_ += fs::remove_all(path) > 0 ? 1 : 0;
    return "";
  }

 private:
  fs::path parent_;
  std::string stem_;
  bool whole_parent_ = false;
  mutable int removed_ = 0;
};

// One broken checkpoint: what is done to a good one, and what the error must say.
struct BadCheckpoint {
  std::string what;
  std::function<void(const fs::path& checkpoint)> damage;
  std::string expected;
};

// Saves a good checkpoint, damages it, loads it into a fresh net, and checks the message and
// that the net did not change.
void check_refused(const BadCheckpoint& bad) {
  INFO(bad.what);
  TempFolder folder{"gradlab-checkpoint-robustness"};
  const fs::path ck = folder.path / "ck";
  manual_seed(11);
  small_net().save(ck);
  bad.damage(ck);
  manual_seed(12);
  nn::Sequential net = small_net();
  const auto before = snapshot(net);
  const std::string error = load_error(net, ck);
  CHECK_THAT(error, Catch::Contains(bad.expected));
  CHECK_THAT(error, Catch::StartsWith("checkpoint " + ck.string()));
  CHECK(snapshot(net) == before);
}

// Edits manifest.json of a checkpoint through a JSON value.
std::function<void(const fs::path&)> edit_manifest(std::function<void(json&)> edit) {
  return [edit](const fs::path& ck) {
    json manifest = json::parse(read_text(ck / "manifest.json"));
    edit(manifest);
    write_text(ck / "manifest.json", manifest.dump(2));
  };
}

std::function<void(const fs::path&)> replace_manifest(std::string text) {
  return [text](const fs::path& ck) { write_text(ck / "manifest.json", text); };
}

std::function<void(const fs::path&)> set_file_of_first_parameter(std::string file) {
  return edit_manifest([file](json& m) { m["parameters"][0]["file"] = file; });
}

std::function<void(const fs::path&)> truncated_to(std::string file, std::uintmax_t size) {
  return [file, size](const fs::path& ck) { fs::resize_file(ck / file, size); };
}

}  // namespace

// --- saving --------------------------------------------------------------------------------

TEST_CASE("saving below a regular file or onto one fails and leaves the folder as it was",
          "[checkpoint][robustness]") {
  TempFolder folder{"gradlab-checkpoint-robustness"};
  write_text(folder.path / "notes.txt", "keep me");
  nn::Sequential net = small_net();
  CHECK_THAT(save_error(net, folder.path / "notes.txt" / "ck"),
             Catch::Contains("notes.txt/ck: cannot create the parent folder"));
  CHECK_THAT(save_error(net, folder.path / "notes.txt" / "deeper" / "ck"),
             Catch::Contains("cannot create the parent folder"));
  CHECK_THAT(save_error(net, folder.path / "notes.txt"),
             Catch::EndsWith("notes.txt: a file of that name exists and is not a folder"));
  CHECK(listing(folder.path) == std::vector<std::string>{"notes.txt"});
  CHECK(read_text(folder.path / "notes.txt") == "keep me");
}

TEST_CASE("saving under /proc fails with the folder's name even for root",
          "[checkpoint][robustness]") {
  nn::Sequential net = small_net();
  const fs::path target = "/proc/gradlab-checkpoint-robustness";
  CHECK_THAT(save_error(net, target), Catch::StartsWith("checkpoint " + target.string()) &&
                                          Catch::Contains("cannot create the temporary folder"));
  CHECK_FALSE(fs::exists(target));
}

TEST_CASE("saving into a read-only folder fails and leaves it empty (as a non-root user)",
          "[checkpoint][robustness]") {
  if (::geteuid() == 0) {
    // Root writes through mode 0500 (the two cases above cover unwritable places for root).
    WARN("running as root: the chmod 0500 case cannot be tested");
    return;
  }
  TempFolder folder{"gradlab-checkpoint-robustness"};
  const fs::path locked = folder.path / "locked";
  fs::create_directory(locked);
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
  nn::Sequential net = small_net();
  const std::string error = save_error(net, locked / "ck");
  fs::permissions(locked, fs::perms::owner_all);
  CHECK_THAT(error, Catch::Contains("cannot create the temporary folder"));
  CHECK(listing(locked).empty());
}

TEST_CASE("a temporary folder that vanishes mid-save gives an error and no checkpoint",
          "[checkpoint][robustness]") {
  TempFolder folder{"gradlab-checkpoint-robustness"};
  const fs::path ck = folder.path / "ck";
  Vanishing module;
  module.vanish_on_print(folder.path, "ck");
  CHECK_THAT(save_error(module, ck),
             Catch::StartsWith("checkpoint " + ck.string()) &&
                 Catch::Contains("cannot write manifest.json into the temporary folder"));
  CHECK(module.removed() == 1);  // the folder did vanish after the tensor files were written
  CHECK(listing(folder.path).empty());
}

TEST_CASE("a save that fails over an older checkpoint keeps the older one loadable",
          "[checkpoint][robustness]") {
  TempFolder folder{"gradlab-checkpoint-robustness"};
  const fs::path ck = folder.path / "ck";
  manual_seed(21);
  Vanishing module;
  module.save(ck);
  const auto saved = snapshot(module);

  manual_seed(22);
  Vanishing changed;
  changed.vanish_on_print(folder.path, "ck");
  CHECK_THAT(save_error(changed, ck), Catch::Contains("cannot write manifest.json"));
  CHECK(changed.removed() == 1);
  CHECK(listing(folder.path) == std::vector<std::string>{"ck"});

  manual_seed(23);
  Vanishing fresh;
  fresh.load(ck);
  CHECK(snapshot(fresh) == saved);
}

TEST_CASE("a parent folder that vanishes mid-save gives an error and nothing is recreated",
          "[checkpoint][robustness]") {
  TempFolder folder{"gradlab-checkpoint-robustness"};
  const fs::path runs = folder.path / "runs";
  Vanishing module;
  module.vanish_on_print(runs, "ck", /*whole_parent=*/true);
  CHECK_THAT(save_error(module, runs / "ck"),
             Catch::StartsWith("checkpoint " + (runs / "ck").string()));
  CHECK(module.removed() == 1);
  CHECK(listing(folder.path).empty());
}

// --- loading -------------------------------------------------------------------------------

TEST_CASE("loading from a missing folder, a file or a folder without manifest is refused",
          "[checkpoint][robustness]") {
  TempFolder folder{"gradlab-checkpoint-robustness"};
  nn::Sequential net = small_net();
  const auto before = snapshot(net);
  CHECK_THAT(load_error(net, folder.path / "nowhere"), Catch::EndsWith("nowhere: no such folder"));
  write_text(folder.path / "file", "x");
  CHECK_THAT(load_error(net, folder.path / "file"), Catch::EndsWith("file: no such folder"));
  fs::create_directory(folder.path / "empty");
  CHECK_THAT(load_error(net, folder.path / "empty"),
             Catch::EndsWith("manifest.json is missing (not a gradlab checkpoint?)"));
  fs::create_directories(folder.path / "odd" / "manifest.json");
  CHECK_THAT(load_error(net, folder.path / "odd"),
             Catch::EndsWith("manifest.json is missing (not a gradlab checkpoint?)"));
  CHECK(snapshot(net) == before);
}

TEST_CASE("broken tensor files are refused with the parameter's name and the module is untouched",
          "[checkpoint][robustness]") {
  // 1.running_var is the last tensor read (the last buffer), so every other file has been read
  // and checked when it fails: the module must still be untouched.
  const std::vector<BadCheckpoint> cases = {
      {"a missing parameter file", [](const fs::path& ck) { fs::remove(ck / "3.bias.npy"); },
       "parameter '3.bias': npy: "},
      {"a missing buffer file", [](const fs::path& ck) { fs::remove(ck / "1.running_var.npy"); },
       "buffer '1.running_var': npy: "},
      {"a tensor file that is a folder",
       [](const fs::path& ck) {
         fs::remove(ck / "0.bias.npy");
         fs::create_directory(ck / "0.bias.npy");
       },
       "parameter '0.bias': npy: "},
      {"an empty .npy", truncated_to("1.running_var.npy", 0),
       "byte 0: file too short for a .npy preamble (0 bytes)"},
      {"a .npy cut inside the magic string", truncated_to("1.running_var.npy", 5),
       "file too short for a .npy preamble (5 bytes)"},
      {"a .npy cut inside the header length", truncated_to("1.running_var.npy", 9),
       "file ends inside the header length field (9 bytes)"},
      {"a .npy cut inside the header", truncated_to("1.running_var.npy", 60),
       "header length 118 runs past the end of the file (60 bytes)"},
      {"a .npy cut inside the data", truncated_to("1.running_var.npy", 128 + 6),
       "byte 128: expected 20 bytes of data for shape (5,) '<f4', found 6"},
      {"a .npy with bytes after its data",
       [](const fs::path& ck) {
         std::ofstream(ck / "1.running_var.npy", std::ios::app | std::ios::binary) << "xyz";
       },
       "3 unexpected bytes after the data of shape (5,) '<f4'"},
      {"a text file instead of a .npy",
       [](const fs::path& ck) { write_text(ck / "1.running_var.npy", "running_var = 1, 1, 1"); },
       "not a .npy file (the magic string \\x93NUMPY is missing)"},
      {"a file of the wrong dtype (float64 where the manifest says float32)",
       [](const fs::path& ck) {
         npy::write(ck / "0.bias.npy", zeros({5}, {.dtype = DType::float64}));
       },
       "parameter '0.bias': file 0.bias.npy holds shape [5] (float64), the module has shape [5] "
       "(float32)"},
      {"a file of the wrong shape",
       [](const fs::path& ck) {
         npy::write(ck / "3.weight.npy", zeros({3, 5}));
       },
       "parameter '3.weight': file 3.weight.npy holds shape [3, 5] (float32), the module has "
       "shape [5, 3] (float32)"},
  };
  for (const BadCheckpoint& bad : cases) check_refused(bad);
  CHECK(cases.size() == 12);
}

TEST_CASE("a checkpoint of another shape or dtype names the parameter and both shapes",
          "[checkpoint][robustness]") {
  const std::vector<BadCheckpoint> cases = {
      {"a wider first layer in the manifest", edit_manifest([](json& m) {
         m["parameters"][0]["shape"] = {4, 6};
       }),
       "parameter '0.weight': the checkpoint has shape [4, 6], the module [4, 5]"},
      {"a scalar where the module has a vector",
       edit_manifest([](json& m) { m["buffers"][0]["shape"] = json::array(); }),
       "buffer '1.running_mean': the checkpoint has shape [], the module [5]"},
      {"float64 in the manifest for a float32 parameter",
       edit_manifest([](json& m) { m["parameters"][1]["dtype"] = "float64"; }),
       "parameter '0.bias': the checkpoint has dtype float64, the module float32"},
      {"a parameter the module lacks", edit_manifest([](json& m) {
         m["parameters"].push_back(
             {{"name", "4.weight"}, {"file", "0.bias.npy"}, {"shape", {5}}, {"dtype", "float32"}});
       }),
       "the checkpoint has parameter '4.weight' (shape [5]) that the module does not have"},
      {"a parameter missing from the manifest",
       edit_manifest([](json& m) { m["parameters"].erase(m["parameters"].size() - 1); }),
       "parameter '3.bias' (shape [3] in the module) is missing from the checkpoint"},
      {"a buffer listed as a parameter", edit_manifest([](json& m) {
         m["parameters"].push_back(m["buffers"][0]);
         m["buffers"].erase(0);
       }),
       "the checkpoint has parameter '1.running_mean' (shape [5]) that the module does not have"},
  };
  for (const BadCheckpoint& bad : cases) check_refused(bad);
  CHECK(cases.size() == 6);
}

TEST_CASE("manifests with wrong, unknown or missing keys are refused and the module is untouched",
          "[checkpoint][robustness]") {
  const std::vector<BadCheckpoint> cases = {
      {"not JSON", replace_manifest("{\"format_version\": 1, \"parameters\": ["),
       "manifest.json is not valid JSON"},
      {"an empty file", replace_manifest(""), "manifest.json is not valid JSON"},
      {"lists nested 20 deep",
       replace_manifest(R"({"format_version": 1, "buffers": [], "parameters": )" +
                        std::string(20, '[') + std::string(20, ']') + "}"),
       "manifest.json nests values deeper than 16 levels"},
      {"a JSON list", replace_manifest("[]"),
       "manifest.json must hold a JSON object, not an array"},
      {"JSON null", replace_manifest("null"), "manifest.json must hold a JSON object, not a null"},
      {"no format_version", edit_manifest([](json& m) { m.erase("format_version"); }),
       "manifest.json has no integer 'format_version'"},
      {"format_version as text", edit_manifest([](json& m) { m["format_version"] = "1"; }),
       "manifest.json has no integer 'format_version'"},
      {"a fractional format_version", edit_manifest([](json& m) { m["format_version"] = 1.5; }),
       "manifest.json has no integer 'format_version'"},
      {"format_version 0", edit_manifest([](json& m) { m["format_version"] = 0; }),
       "format_version 0 is invalid (versions start at 1)"},
      {"a negative format_version", edit_manifest([](json& m) { m["format_version"] = -3; }),
       "format_version -3 is invalid"},
      {"a newer format_version", edit_manifest([](json& m) { m["format_version"] = 4; }),
       "format_version 4 is newer than this gradlab understands (3); load it with a newer gradlab"},
      {"a newer format_version with keys this build does not know", edit_manifest([](json& m) {
         m["format_version"] = 7;
         m["optimizer_state"] = json::object();
       }),
       "format_version 7 is newer than this gradlab understands (3)"},
      {"an unknown top-level key", edit_manifest([](json& m) { m["optimizer"] = "adam"; }),
       "manifest.json: unknown key 'optimizer'"},
      {"an unknown key in an entry",
       edit_manifest([](json& m) { m["parameters"][2]["stride"] = 2; }),
       "manifest.json: parameters[2]: unknown key 'stride'"},
      {"no parameters list", edit_manifest([](json& m) { m.erase("parameters"); }),
       "manifest.json: the list 'parameters' is missing"},
      {"no buffers list", edit_manifest([](json& m) { m.erase("buffers"); }),
       "manifest.json: the list 'buffers' is missing"},
      {"parameters as an object", edit_manifest([](json& m) { m["parameters"] = json::object(); }),
       "'parameters' must be a list, got an object"},
      {"an entry that is a string",
       edit_manifest([](json& m) { m["buffers"][1] = "1.running_var"; }),
       "buffers[1]: an entry must be an object with name, file, shape and dtype, got a string"},
      {"an entry without name", edit_manifest([](json& m) { m["parameters"][0].erase("name"); }),
       "parameters[0]: the key 'name' is missing"},
      {"an entry without file", edit_manifest([](json& m) { m["parameters"][0].erase("file"); }),
       "parameters[0]: the key 'file' is missing"},
      {"an entry without shape", edit_manifest([](json& m) { m["buffers"][0].erase("shape"); }),
       "buffers[0]: the key 'shape' is missing"},
      {"an entry without dtype", edit_manifest([](json& m) { m["buffers"][0].erase("dtype"); }),
       "buffers[0]: the key 'dtype' is missing"},
      {"a name that is a number", edit_manifest([](json& m) { m["parameters"][0]["name"] = 0; }),
       "parameters[0]: 'name' must be a string, got a number"},
      {"a name that is not a dotted name",
       edit_manifest([](json& m) { m["parameters"][0]["name"] = "0..weight"; }),
       "name '0..weight' is not a dotted name of letters, digits and '_'"},
      {"a name listed twice",
       edit_manifest([](json& m) { m["parameters"].push_back(m["parameters"][0]); }),
       "'parameters' lists '0.weight' twice"},
      {"a negative extent", edit_manifest([](json& m) {
         m["parameters"][0]["shape"] = {4, -5};
       }),
       "parameters '0.weight': extent 1 of 'shape' must be a non-negative integer below 2^63, "
       "got -5"},
      {"a fractional extent", edit_manifest([](json& m) {
         m["parameters"][0]["shape"] = {4, 2.5};
       }),
       "extent 1 of 'shape' must be a non-negative integer below 2^63, got 2.5"},
      {"an extent as text", edit_manifest([](json& m) {
         m["parameters"][0]["shape"] = {"4", 5};
       }),
       "extent 0 of 'shape' must be a non-negative integer below 2^63, got a string"},
      {"an extent of 2^64 - 1",
       replace_manifest(R"({"format_version": 1, "buffers": [], "parameters": [{"name": "w",
          "file": "w.npy", "dtype": "float32", "shape": [18446744073709551615]}]})"),
       "extent 0 of 'shape' must be a non-negative integer below 2^63, got 18446744073709551615"},
      {"a shape of more than 2^63 bytes", edit_manifest([](json& m) {
         m["parameters"][0]["shape"] = {std::int64_t{1} << 31, std::int64_t{1} << 31};
       }),
       "parameters '0.weight': 'shape' describes more than 2^63 bytes"},
      {"a shape with 65 extents",
       edit_manifest([](json& m) { m["parameters"][0]["shape"] = std::vector<int>(65, 1); }),
       "'shape' has 65 extents, more than 64"},
      {"a shape that is a number", edit_manifest([](json& m) { m["parameters"][0]["shape"] = 20; }),
       "'shape' must be a list of extents, got a number"},
      {"an unknown dtype", edit_manifest([](json& m) { m["parameters"][0]["dtype"] = "float16"; }),
       "unknown dtype 'float16' (gradlab saves float32, float64 or int64)"},
      {"architecture that is not a list",
       edit_manifest([](json& m) { m["architecture"] = "Sequential()"; }),
       "'architecture' must be a list of lines, got a string"},
      {"empty lists", edit_manifest([](json& m) {
         m["parameters"] = json::array();
         m["buffers"] = json::array();
       }),
       "parameter '0.weight' (shape [4, 5] in the module) is missing from the checkpoint"},
  };
  for (const BadCheckpoint& bad : cases) check_refused(bad);
  CHECK(cases.size() == 35);
}

TEST_CASE("a manifest cannot make load read a file outside the checkpoint folder",
          "[checkpoint][robustness]") {
  const std::vector<std::string> escapes = {"../0.weight.npy",
                                            "/etc/passwd",
                                            "sub/0.weight.npy",
                                            "..",
                                            ".",
                                            "",
                                            "a\\b.npy",
                                            std::string("0.weight.npy\0.txt", 17)};
  for (const std::string& file : escapes)
    check_refused({"file '" + file + "'", set_file_of_first_parameter(file),
                   "must be a plain file name inside the checkpoint folder"});
  CHECK(escapes.size() == 8);
  // The message shows a NUL byte as \x00 instead of ending there.
  check_refused({"a NUL byte in the file name", set_file_of_first_parameter(escapes.back()),
                 "file '0.weight.npy\\x00.txt' must be a plain file name"});
}

TEST_CASE("the manifest parser reads back what save writes and refuses trailing garbage",
          "[checkpoint][robustness]") {
  TempFolder folder{"gradlab-checkpoint-robustness"};
  nn::Sequential net = small_net();
  net.save(folder.path / "ck");
  const std::string text = read_text(folder.path / "ck" / "manifest.json");
  const nn::CheckpointManifest manifest = nn::parse_checkpoint_manifest(text, "saved");
  CHECK(manifest.format_version == 2);
  REQUIRE(manifest.parameters.size() == 7);
  CHECK(manifest.parameters[0] ==
        nn::ManifestEntry{"0.weight", "0.weight.npy", {4, 5}, DType::float32});
  CHECK(manifest.buffers.size() == 2);
  CHECK(manifest.architecture.front() == "Sequential(");
  CHECK(manifest.architecture.back() == "Total: 58 parameters (58 trainable)");
  CHECK(nn::format_checkpoint_manifest(manifest) == text);
  CHECK_THROWS_WITH(nn::parse_checkpoint_manifest(text + "}", "saved"),
                    Catch::StartsWith("saved is not valid JSON"));
}
