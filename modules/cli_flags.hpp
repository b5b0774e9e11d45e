#pragma once
/// \file modules/cli_flags.hpp
/// \brief Declares the shared flags of modules/cli.hpp on a CLI11 app (include in programs only:
/// CLI11 is a big header).

#include <CLI/CLI.hpp>

#include "modules/cli.hpp"

namespace gradlab::cli {

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
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Random seed")->capture_default_str();
  if (tutorial_flags) {
    app.add_option("--data", options.data, "Dataset folder (default: the Debian package's)");
    app.add_option("--out", options.out, "Output folder for pictures and CSV")->capture_default_str();
    app.add_flag("--quick", options.quick, "Small sizes (what CI runs)");
    app.add_flag("--pause", options.pause, "Wait for Enter between steps");
  }
}

}  // namespace gradlab::cli
