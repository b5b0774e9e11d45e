#pragma once
/// \file modules/app/cli.hpp
/// \brief The flags every gradlab program shares, and the first line each program prints.
///
/// Every program (tutorial chapters, `gradlab_train`, the benches) takes `--backend`,
/// `--precision`, `--threads` and `--seed`; tutorials also take `--data`, `--out`, `--quick` and
/// `--pause`. `add_common_flags` (modules/app/cli_flags.hpp, CLI11) declares them on a CLI11 app;
/// `apply(options)` makes them take effect and `runtime_banner()` is the program's first line:
/// \code
///   gradlab::cli::CommonOptions options;
///   CLI::App app{"what this program does"};
///   gradlab::cli::add_common_flags(app, options);
///   CLI11_PARSE(app, argc, argv);
///   gradlab::cli::apply(options);
///   std::cout << gradlab::cli::runtime_banner() << "\n";
/// \endcode

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

#include "autograd/profiler.hpp"

namespace gradlab::cli {

/// The shared flags and their values.
struct CommonOptions {
  std::string backend;            ///< "reference" or "onednn" (default: see default_backend()).
  std::string precision = "f32";  ///< "f32" or "bf16".
  int threads = 0;                ///< OpenMP threads for oneDNN and OpenBLAS (0: all cores).
  std::uint64_t seed = 42;        ///< Seeds gradlab's global generator.
  std::string data;               ///< Dataset folder ("" = the default for the dataset).
  std::string out;                ///< Output folder for pictures, CSV and logs.
  bool quick = false;             ///< Small sizes, for CI.
  bool pause = false;             ///< Wait for Enter between steps.
  bool profile = false;           ///< Print where the time went (gradlab::Profiler).
  std::string profile_trace;      ///< Also write a Chrome trace there ("" = none).
};

/// The backend a program uses when `--backend` is not given: `GRADLAB_BACKEND` if set, else
/// "onednn" when it is built in, else "reference".
std::string default_backend();

/// Makes the options take effect: backend, precision, threads, seed. Unknown values (and a
/// negative thread count) raise a `gradlab::Error` naming the flag; all values are checked before
/// any takes effect, so a refused call changes nothing.
void apply(CommonOptions& options);

/// One line: backend (and its details: oneDNN's ISA), precision, threads.
std::string runtime_banner();

/// Waits for Enter when `--pause` was given (and standard input is a terminal or a pipe).
void pause_point(const CommonOptions& options, const std::string& next_step);

/// `--profile` and `--profile-trace FILE` in effect: a `Profiler` over the program's work while
/// this object lives (none when neither flag was given).
class ProfileFlags {
 public:
  /// Starts a Profiler when `options` asks for one.
  explicit ProfileFlags(const CommonOptions& options);
  /// Stops it; prints the table (its `top` costliest op kinds) to `out` and writes the trace.
  /// Does nothing when no Profiler runs.
  void finish(std::ostream& out, std::size_t top = 12);

 private:
  std::unique_ptr<Profiler> profiler_;
  std::string trace_;
};

}  // namespace gradlab::cli
