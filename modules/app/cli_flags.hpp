#pragma once
/// \file modules/app/cli_flags.hpp
/// \brief Declares the shared flags of modules/app/cli.hpp on a CLI11 app (include in programs
/// only:
/// CLI11 is a big header).

#include <CLI/CLI.hpp>

#include <cmath>
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

/// Adds --backend, --precision, --threads, --seed; with `tutorial_flags` also --data, --out,
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
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Random seed")
      ->check(non_negative)  // CLI11 would wrap −1 round to 2⁶⁴ − 1
      ->capture_default_str();
  if (tutorial_flags) {
    app.add_option("--data", options.data, "Dataset folder (default: the Debian package's)");
    app.add_option("--out", options.out, "Output folder for pictures and CSV")
        ->capture_default_str();
    app.add_flag("--quick", options.quick, "Small sizes (what CI runs)");
    app.add_flag("--pause", options.pause, "Wait for Enter between steps");
  }
}

}  // namespace gradlab::cli
