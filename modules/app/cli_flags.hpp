#pragma once
/// \file modules/app/cli_flags.hpp
/// \brief Declares the shared flags of modules/app/cli.hpp on a CLI11 app (include in programs
/// only:
/// CLI11 is a big header).

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>

#include "modules/app/cli.hpp"

namespace gradlab::cli {

/// A CLI11 check that the value is a finite number meeting `requirement` (as text, e.g. "> 0",
/// tested by `accept`). It replaces CLI11's `PositiveNumber` and `Range`, which let "nan" through
/// (every comparison with NaN is false) and print their limits as 300-digit numbers. CLI11
/// prefixes the flag, so the user reads e.g. "--lr: must be a finite number > 0, got -1".
inline CLI::Validator number_check(const std::string& requirement,
                                   std::function<bool(double)> accept) {
  return CLI::Validator(
      [requirement, accept](std::string& text) -> std::string {
        double value = 0.0;
        if (!CLI::detail::lexical_cast(text, value))
          return "must be a number " + requirement + ", got '" + text + "'";
        if (!std::isfinite(value) || !accept(value))
          return "must be a finite number " + requirement + ", got " + text;
        return {};
      },
      "NUMBER " + requirement);
}

/// Values > 0 (sizes, learning rates).
inline const CLI::Validator positive = number_check("> 0", [](double v) { return v > 0; });
/// Values ≥ 0 (counts where 0 means "none" or "all").
inline const CLI::Validator non_negative = number_check(">= 0", [](double v) { return v >= 0; });
/// Values in [0, 1) (probabilities that must leave something, momentum).
inline const CLI::Validator unit_interval =
    number_check("in [0, 1)", [](double v) { return v >= 0 && v < 1; });

/// The most threads `--threads` accepts (the OpenMP runtime would silently cap a larger count).
inline constexpr int max_threads = 1024;

/// A CLI11 check that the value is a whole decimal number from 0 to `limit` (no sign, no
/// exponent, no hexadecimal or octal prefix); CLI11 alone would turn "2^64" into 2⁶⁴ − 1 and read
/// "010" as octal.
inline CLI::Validator whole_number_check(std::uint64_t limit) {
  return CLI::Validator(
      [limit](std::string& text) -> std::string {
        std::uint64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, value);
        if (text.empty() || stop != end || error != std::errc() || value > limit ||
            (text.size() > 1 && text.front() == '0'))
          return "must be a whole number from 0 to " + std::to_string(limit) + ", got " + text;
        return {};
      },
      "INTEGER in [0, " + std::to_string(limit) + "]");
}

/// Checks that `option`'s value is a whole number from `low` to `high`: `number_check` for the
/// range ("--hidden: must be a finite number in [4, 1024], got 2"), then `whole_number_check`
/// for the digits ("... must be a whole number from 0 to 1024, got 2.5"). Returns `option`, so
/// that more settings can follow: `whole_number_in(app.add_option(...), 4, 1024)->...`.
inline CLI::Option* whole_number_in(CLI::Option* option, std::uint64_t low, std::uint64_t high) {
  const double from = static_cast<double>(low), to = static_cast<double>(high);
  return option
      ->check(number_check("in [" + std::to_string(low) + ", " + std::to_string(high) + "]",
                           [from, to](double v) { return v >= from && v <= to; }))
      ->check(whole_number_check(high));
}

/// `text` with each control character written as backslash, x and two hex digits, for messages.
inline std::string visible(const std::string& text) {
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      const char* digits = "0123456789abcdef";
      out += std::string("\\x") + digits[byte >> 4] + digits[byte & 15];
    } else {
      out += c;
    }
  }
  return out;
}

/// A CLI11 check for every value: no control character anywhere (a newline in a path would end
/// a line of a log or script; no flag needs one) and no space or tab at either end (C++ number
/// parsers skip leading blanks, so a tab before "20" would be read as 20 in one place and refused
/// in another). The message names the flag, e.g. "--out: contains the control character ...".
inline const CLI::Validator plain_value = CLI::Validator(
    [](std::string& text) -> std::string {
      for (std::size_t i = 0; i < text.size(); ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte < 0x20 || byte == 0x7f)
          return "contains the control character " + visible(std::string(1, text[i])) +
                 " at position " + std::to_string(i + 1) + " of '" + visible(text) +
                 "'; values and paths may not contain control characters";
      }
      if (!text.empty() && (text.front() == ' ' || text.back() == ' '))
        return "has a space before or after the value '" + text + "'";
      return {};
    },
    "");

/// Adds `plain_value` to every option of `app` that takes a value. Call it after the last
/// option is declared, before parsing.
inline void strict_values(CLI::App& app) {
  for (CLI::Option* option : app.get_options())
    if (option->get_type_size() != 0) option->check(plain_value);
}

/// Adds --backend, --precision, --threads, --seed, --profile, --profile-trace; with `tutorial_flags` also --data, --out,
/// --quick and --pause.
inline void add_common_flags(CLI::App& app, CommonOptions& options, bool tutorial_flags = false) {
  options.backend = default_backend();
  app.add_option("--backend", options.backend, "Kernel backend: reference | onednn")
      ->capture_default_str();
  app.add_option("--precision", options.precision,
                 "Matrix-product precision: f32 | bf16 (bf16 needs AVX512-BF16 or AMX)")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "Threads for oneDNN and OpenBLAS (0 = all cores)")
      ->check(non_negative)
      ->check(whole_number_check(max_threads))
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Random seed")
      ->check(non_negative)  // CLI11 would wrap −1 round to 2⁶⁴ − 1
      ->check(whole_number_check(UINT64_MAX))
      ->capture_default_str();
  app.add_flag("--profile", options.profile,
               "Print the time per op kind, forward and backward (gradlab::Profiler)");
  app.add_option("--profile-trace", options.profile_trace,
                 "Also write a Chrome trace (Perfetto, chrome://tracing) to this file");
  if (tutorial_flags) {
    app.add_option("--data", options.data, "Dataset folder (default: the Debian package's)");
    app.add_option("--out", options.out, "Output folder for pictures and CSV")
        ->capture_default_str();
    app.add_flag("--quick", options.quick, "Small sizes (what CI runs)");
    app.add_flag("--pause", options.pause, "Wait for Enter between steps");
  }
}

}  // namespace gradlab::cli
