// The shared flag declarations of modules/app/cli_flags.hpp, parsed directly: every bad value is a
// CLI11 error whose message starts with the flag and says what was expected.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "modules/app/cli_flags.hpp"

using Catch::Matchers::Contains;

namespace {

// Parses `arguments` with the shared flags (tutorial set) plus one --rate option checked by
// `check`; returns CLI11's message, or "parsed" when the arguments were accepted.
std::string parse(std::vector<std::string> arguments,
                  const CLI::Validator& check = gradlab::cli::positive) {
  gradlab::cli::CommonOptions options;
  double rate = 1.0;
  CLI::App app{"flag test"};
  gradlab::cli::add_common_flags(app, options, true);
  app.add_option("--rate", rate, "a rate")->check(check);
  gradlab::cli::strict_values(app);
  arguments.insert(arguments.begin(), "program");
  std::vector<const char*> argv;
  for (const std::string& argument : arguments) argv.push_back(argument.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& error) {
    return error.what();
  }
  return "parsed";
}

}  // namespace

TEST_CASE("the shared flags refuse negative and non-numeric counts", "[reliability][cli]") {
  CHECK_THAT(parse({"--threads", "-3"}),
             Contains("--threads: must be a finite number >= 0, got -3"));
  CHECK_THAT(parse({"--threads", "abc"}), Contains("--threads: must be a number >= 0, got 'abc'"));
  CHECK_THAT(parse({"--seed", "-1"}), Contains("--seed: must be a finite number >= 0, got -1"));
  CHECK_THAT(parse({"--seed", "nan"}), Contains("--seed: must be a finite number >= 0, got nan"));
  CHECK(parse({"--threads", "0", "--seed", "7"}) == "parsed");
}

TEST_CASE("number checks refuse NaN and infinity that CLI11 range checks let through",
          "[reliability][cli]") {
  CHECK_THAT(parse({"--rate", "nan"}), Contains("--rate: must be a finite number > 0, got nan"));
  CHECK_THAT(parse({"--rate", "inf"}), Contains("--rate: must be a finite number > 0, got inf"));
  CHECK_THAT(parse({"--rate", "-inf"}), Contains("--rate: must be a finite number > 0, got -inf"));
  CHECK_THAT(parse({"--rate", "0"}), Contains("--rate: must be a finite number > 0, got 0"));
  CHECK_THAT(parse(
                 {
                     "--rate",
                     "1",
                 },
                 gradlab::cli::unit_interval),
             Contains("--rate: must be a finite number in [0, 1), got 1"));
  CHECK_THAT(parse({"--rate", "-0.5"}, gradlab::cli::non_negative),
             Contains("--rate: must be a finite number >= 0, got -0.5"));
  CHECK(parse({"--rate", "0.5"}, gradlab::cli::unit_interval) == "parsed");
  CHECK(parse({"--rate", "1e-4"}) == "parsed");
}

TEST_CASE("the shared flags refuse unknown flags and missing values", "[reliability][cli]") {
  CHECK_THAT(parse({"--bogus"}), Contains("--bogus"));
  CHECK_THAT(parse({"--backend"}), Contains("--backend"));
}

TEST_CASE("the shared flags refuse a seed of 2^64 and more threads than the runtime gives",
          "[reliability][cli]") {
  CHECK_THAT(parse({"--seed", "18446744073709551616"}),
             Contains("--seed: must be a whole number from 0 to 18446744073709551615"));
  CHECK(parse({"--seed", "18446744073709551615"}) == "parsed");
  CHECK_THAT(parse({"--seed", "0x10"}), Contains("--seed: must be a whole number"));
  CHECK_THAT(parse({"--threads", "100000"}),
             Contains("--threads: must be a whole number from 0 to 1024, got 100000"));
  CHECK(parse({"--threads", "1024"}) == "parsed");
}

TEST_CASE("flag values with control characters or surrounding blanks are refused",
          "[reliability][cli]") {
  CHECK_THAT(parse({"--out", "runs/x\nsystem(\"touch pwned\")"}),
             Contains("--out: contains the control character \\x0a at position 7"));
  CHECK_THAT(parse({"--data", "d\x1b"}), Contains("--data: contains the control character \\x1b"));
  CHECK_THAT(parse({"--rate", "\t3"}), Contains("--rate: contains the control character \\x09"));
  CHECK_THAT(parse({"--threads", " 2"}), Contains("--threads: "));
  CHECK_THAT(parse({"--backend", " onednn"}), Contains("--backend: has a space"));
  CHECK_THAT(parse({"--out", "runs "}), Contains("--out: has a space"));
  CHECK(parse({"--out", "runs/with space/x"}) == "parsed");
}
