// The fuzzers' seed corpora and every input a fuzzer ever crashed on, replayed in the normal
// (g++) test build through the same checks the libFuzzer targets run (tests/fuzz/fuzz_checks.hpp):
// every file gives a result or a gradlab::Error, never another exception or a wrong result.
//
// Files live in tests/fuzz/corpus/<target>/ (seeds, written by tests/fuzz/make_corpus.py) and
// tests/fuzz/regressions/<target>/ (crash inputs, named after the bug they caught). A name that
// starts with "valid_" must be accepted and one that starts with "bad_" must be refused.
//
// The folder is found from this file's own path: CMake compiles test sources by their absolute
// path, so __FILE__ is ".../tests/data/test_fuzz_corpus.cpp" and the inputs sit in
// "../fuzz" beside it. No compile definition or working directory is needed.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_checks.hpp"

using namespace gradlab;
namespace fs = std::filesystem;

namespace {

fs::path fuzz_folder() { return fs::path(__FILE__).parent_path().parent_path() / "fuzz"; }

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

// Replays every file of `folder`/<target>/ and returns how many there were.
int replay(const fs::path& folder) {
  int files = 0;
  for (const char* target : fuzz::targets) {
    const fs::path inputs = folder / target;
    if (!fs::is_directory(inputs)) continue;
    for (const auto& file : fs::directory_iterator(inputs)) {
      if (!file.is_regular_file()) continue;
      const std::string name = file.path().filename().string();
      INFO("input " << file.path().string());
      fuzz::Outcome outcome;
      REQUIRE_NOTHROW(outcome = fuzz::check(target, read_bytes(file.path())));
      INFO("refused with: " << outcome.error);
      if (starts_with(name, "valid_")) CHECK(outcome.accepted);
      if (starts_with(name, "bad_")) CHECK_FALSE(outcome.accepted);
      ++files;
    }
  }
  return files;
}

}  // namespace

TEST_CASE("every seed of every fuzz target gives a result or a gradlab::Error as its name says",
          "[fuzz]") {
  REQUIRE(fs::is_directory(fuzz_folder() / "corpus"));
  for (const char* target : fuzz::targets)
    CHECK(fs::is_directory(fuzz_folder() / "corpus" / target));
  // make_corpus.py writes 8 IDX, 4 CIFAR-10, 10 .npy and 29 manifest seeds (8 of format 2, 8 of
  // format 3 or with a training state).
  CHECK(replay(fuzz_folder() / "corpus") == 51);
}

TEST_CASE("every input a fuzzer crashed on is now answered with a result or a gradlab::Error",
          "[fuzz]") {
  const fs::path regressions = fuzz_folder() / "regressions";
  if (!fs::is_directory(regressions)) return;  // no fuzzer has found anything yet
  // A file outside a target's folder would never be replayed: refuse strays.
  for (const auto& entry : fs::directory_iterator(regressions)) {
    const std::string name = entry.path().filename().string();
    INFO("regressions/" << name);
    const bool target_folder =
        entry.is_directory() && std::find(std::begin(fuzz::targets), std::end(fuzz::targets),
                                          name) != std::end(fuzz::targets);
    const bool readme = entry.is_regular_file() && name == "README.md";
    CHECK((target_folder || readme));
  }
  replay(regressions);
}

TEST_CASE("the gzip wrapper of the IDX check makes streams that the loader reads back", "[fuzz]") {
  // The IDX check parses raw inputs a second time wrapped in gzip; that comparison is only as
  // good as the wrapper, so check it on a file bigger than one stored block (65,535 bytes).
  std::vector<std::uint8_t> file = {0, 0, 8, 1, 0, 1, 0x11, 0x70};  // [70,000] unsigned bytes
  for (int i = 0; i < 70000; ++i) file.push_back(static_cast<std::uint8_t>(i * 31));
  const std::vector<std::uint8_t> gzipped = fuzz::detail::gzip_stored(file);
  CHECK(gzipped.size() == 10 + 2 * 5 + file.size() + 8);  // header, 2 block heads, data, trailer
  const data::IdxArray array = data::parse_idx(gzipped.data(), gzipped.size(), "wrapped");
  CHECK(array.gzipped);
  CHECK(array.dims == Shape{70000});
  CHECK(array.bytes == file);
  CHECK(fuzz::check_idx(file).accepted);
}

TEST_CASE("a fuzz check reports a parser that breaks its promise", "[fuzz]") {
  // The checks must be able to fail: the contract violation is not a gradlab::Error, so it
  // escapes the refusal handling (and, in a fuzzer, becomes a crash).
  CHECK_THROWS_AS(fuzz::detail::run([] { fuzz::detail::require(false, "broken"); }),
                  fuzz::ContractViolation);
  CHECK_FALSE(fuzz::detail::run([] { throw Error("refused"); }).accepted);
  CHECK_THROWS_AS(fuzz::check("jpeg", {}), std::invalid_argument);
}
