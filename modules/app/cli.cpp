// The shared program flags: applying them and the banner line.
#include "modules/app/cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "autograd/tensor.hpp"
#include "backends/backend.hpp"

namespace gradlab::cli {

std::string default_backend() {
  if (const char* name = std::getenv("GRADLAB_BACKEND"); name != nullptr && *name != '\0')
    return name;
  auto names = available_backends();
  return std::find(names.begin(), names.end(), "onednn") != names.end() ? "onednn" : "reference";
}

void apply(CommonOptions& options) {
  if (options.backend.empty()) options.backend = default_backend();
  // Every value is checked before anything changes, so a refused call leaves the program as it was.
  Precision chosen_precision = Precision::f32;
  try {
    chosen_precision = parse_precision(options.precision);
  } catch (const Error& error) {
    throw Error(std::string("--precision: ") + error.what());
  }
  if (options.threads < 0) {
    throw Error("--threads: must be 0 (all cores) or a positive count, got " +
                std::to_string(options.threads));
  }
  try {
    set_backend(options.backend);
  } catch (const Error& error) {
    throw Error(std::string("--backend: ") + error.what());
  }
  set_precision(chosen_precision);
  int threads = options.threads > 0
                    ? options.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  set_num_threads(threads);
  manual_seed(options.seed);
}

std::string runtime_banner() {
  Backend& active = backend();
  return "gradlab | backend " + active.name() + " (" + active.description() + ") | precision " +
         precision_name(precision()) + " | threads " + std::to_string(num_threads());
}

ProfileFlags::ProfileFlags(const CommonOptions& options) : trace_(options.profile_trace) {
  if (!trace_.empty()) {  // refused now, not after the work it would profile
    std::error_code ignored;
    const bool existed = std::filesystem::exists(trace_, ignored);
    if (!std::ofstream(trace_, std::ios::app)) {
      throw Error("--profile-trace " + trace_ + ": cannot write this file (" +
                  std::strerror(errno) + ")");
    }
    if (!existed) std::filesystem::remove(trace_, ignored);
  }
  if (options.profile || !options.profile_trace.empty()) profiler_ = std::make_unique<Profiler>();
}

void ProfileFlags::finish(std::ostream& out, std::size_t top) {
  if (!profiler_) return;
  profiler_->stop();
  out << "\n" << profiler_->report().table(top);
  if (!trace_.empty()) {
    profiler_->write_trace(trace_);
    out << "trace: " << trace_ << " (open it in https://ui.perfetto.dev or chrome://tracing)\n";
  }
  profiler_.reset();
}

void pause_point(const CommonOptions& options, const std::string& next_step) {
  if (!options.pause) return;
  std::cout << "\n[press Enter to continue: " << next_step << "]" << std::flush;
  std::string ignored;
  std::getline(std::cin, ignored);
}

}  // namespace gradlab::cli
