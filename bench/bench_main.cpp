// gradlab_bench: runs the Google Benchmark suite, then prints a table a learner can read without
// explanation (ms per training step, speed-up over the reference backend, and optionally the
// same steps in PyTorch), and writes it as JSON on request.
//
//   gradlab_bench [--threads N] [--json FILE] [--vs-pytorch] [--quick] [--steps-only] [--rounds N]
//                 [--profile] [--profile-trace FILE] [any --benchmark_* flag of Google Benchmark]
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "autograd/profiler.hpp"
#include "backends/backend.hpp"
#include "floor.hpp"
#include "registration.hpp"
#include "workloads.hpp"

namespace {

using gradlab::bench::Configuration;

// Keeps the console output of Google Benchmark and remembers milliseconds per iteration.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> milliseconds;

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.iterations > 0 && run.run_type == Run::RT_Iteration) {
        milliseconds[run.run_name.function_name] =
            1000.0 * run.real_accumulated_time / double(run.iterations);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

struct Flags {
  int threads = 0;
  std::string json_path;
  bool vs_pytorch = false;
  bool quick = false;
  bool steps_only = false;
  bool profile = false;
  std::string profile_trace;
  int rounds = 1;
};

/// One round of measurements: every benchmark, the PyTorch peer and the GEMM floors, timed one
/// after the other. With --rounds N the rounds run in turn, so every ratio can be taken within
/// one round and the median of the rounds quoted (the machine's speed drifts between rounds).
struct Round {
  std::map<std::string, double> milliseconds;           // benchmark name → ms per iteration
  std::map<std::string, double> torch_ms;               // "<workload>/<precision>" → ms
  std::map<std::string, gradlab::bench::Floor> floors;  // "<workload>/<precision>"
  nlohmann::json pytorch;                               // the peer's own output
};

/// Parses the value of a whole-number flag into `out`: the whole text must be a number from
/// `low` to `high` ("4abc", "-3", "" and out-of-range values are refused with a message naming the
/// flag). Returns false after printing the refusal.
bool whole_number_flag(const char* flag, const std::string& text, int low, int high, int& out) {
  std::size_t used = 0;
  int parsed = 0;
  try {
    parsed = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || parsed < low || parsed > high) {
    std::cerr << "gradlab_bench: " << flag << " needs a whole number from " << low << " to " << high
              << ", got '" << text << "'\n";
    return false;
  }
  out = parsed;
  return true;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// --profile: instead of timing, where each training step's time goes (gradlab::Profiler), per
// workload and configuration; --profile-trace FILE writes one Chrome trace per configuration,
// named FILE with "-<workload>-<backend>-<precision>" before its extension.
// Only the steps whose name ("step/<workload>/<backend>/<precision>") matches `filter`.
// Returns how many were profiled.
int print_profiles(const std::vector<Configuration>& configurations, const Flags& flags,
                   const std::regex& filter) {
  constexpr int kSteps = 10;
  int profiled = 0;
  for (const auto& workload : gradlab::bench::workloads()) {
    for (const Configuration& configuration : configurations) {
      if (!std::regex_search(
              "step/" + workload.name + "/" + configuration.backend + "/" + configuration.precision,
              filter))
        continue;
      ++profiled;
      gradlab::BackendGuard guard(configuration.backend);
      gradlab::Precision previous = gradlab::precision();
      gradlab::set_precision(gradlab::parse_precision(configuration.precision));
      gradlab::bench::TrainingStep step(workload);
      step.run();  // warm-up: primitive caches, first-touch of buffers
      step.run();
      gradlab::Profiler profile;
      for (int i = 0; i < kSteps; ++i) {
        gradlab::Profiler::Range range("step");
        step.run();
      }
      profile.stop();
      std::cout << fmt::format("\n{} on {} {}:\n", workload.name, configuration.backend,
                               configuration.precision)
                << profile.report().table(8);
      if (!flags.profile_trace.empty()) {
        std::filesystem::path path = flags.profile_trace;
        path.replace_filename(fmt::format("{}-{}-{}-{}{}", path.stem().string(), workload.name,
                                          configuration.backend, configuration.precision,
                                          path.extension().string()));
        profile.write_trace(path);
        std::cout << "trace: " << path.string() << "\n";
      }
      gradlab::set_precision(previous);
    }
  }
  return profiled;
}

nlohmann::json run_pytorch(int threads, bool quick) {
  std::string command =
      fmt::format("/usr/bin/python3 {}/bench/pytorch_peer.py --threads {} --min-seconds {}",
                  GRADLAB_SOURCE_DIR, threads, quick ? 0.2 : 1.0);
  std::cerr << "running the PyTorch peer: " << command << "\n";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return {{"error", "could not start /usr/bin/python3"}};
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe.get()) != nullptr) output += buffer;
  try {
    return nlohmann::json::parse(output);
  } catch (const std::exception&) {
    return {{"error", "the PyTorch peer printed no result (is python3-torch installed?)"}};
  }
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  std::vector<char*> passed{argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string argument = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "gradlab_bench: " << argument << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (argument == "--threads") {
      if (!whole_number_flag("--threads", value(), 1, 1024, flags.threads)) return 2;
    } else if (argument == "--json") {
      flags.json_path = value();
      if (flags.json_path.empty()) {
        std::cerr << "gradlab_bench: --json needs a file name, got ''\n";
        return 2;
      }
    } else if (argument == "--rounds") {
      if (!whole_number_flag("--rounds", value(), 1, 20, flags.rounds)) return 2;
    } else if (argument == "--vs-pytorch") {
      flags.vs_pytorch = true;
    } else if (argument == "--quick") {
      flags.quick = true;
    } else if (argument == "--steps-only") {
      flags.steps_only = true;
    } else if (argument == "--profile") {
      flags.profile = true;
    } else if (argument == "--profile-trace") {
      flags.profile = true;
      flags.profile_trace = value();
    } else if (argument == "--help" || argument == "-h") {
      std::cout
          << "gradlab_bench [--threads N] [--json FILE] [--vs-pytorch] [--quick] [--steps-only]\n"
             "              [--rounds N]\n"
             "  --threads N     threads for oneDNN and OpenBLAS, 1 to 1024 (default: all cores)\n"
             "  --json FILE     also write the results as JSON\n"
             "  --vs-pytorch    add the same training steps in PyTorch (python3-torch)\n"
             "  --quick         short runs (less precise)\n"
             "  --steps-only    only the whole training steps, not the per-op benchmarks\n"
             "  --rounds N      measure everything N times in turn (1 to 20, default 1) and print\n"
             "                  medians, each ratio taken within a round, with its spread\n"
             "  --profile       instead of timing: where each training step's time goes, per op\n"
             "                  (--benchmark_filter=REGEX chooses the steps)\n"
             "  --profile-trace FILE  with --profile, also write Chrome traces FILE-<config>.json\n"
             "  --benchmark_*   any Google Benchmark flag, e.g. --benchmark_filter=wide\n";
      return 0;
    } else {
      passed.push_back(argv[i]);
    }
  }
  try {
    gradlab::set_num_threads(
        flags.threads > 0 ? flags.threads : int(std::max(1u, std::thread::hardware_concurrency())));
  } catch (const gradlab::Error& error) {
    std::cerr << "gradlab_bench: --threads: " << error.what() << "\n";
    return 2;
  }
  // The JSON file is checked before the run (which takes minutes), not after it.
  if (!flags.json_path.empty()) {
    std::error_code ignored;
    const bool existed = std::filesystem::exists(flags.json_path, ignored);
    if (!std::ofstream(flags.json_path, std::ios::app)) {
      std::cerr << "gradlab_bench: --json " << flags.json_path << ": cannot write this file ("
                << std::strerror(errno) << ")\n";
      return 2;
    }
    if (!existed) std::filesystem::remove(flags.json_path, ignored);
  }
  std::string min_time = "--benchmark_min_time=0.05";
  if (flags.quick) passed.push_back(min_time.data());

  std::vector<std::string> backends = gradlab::available_backends();
  std::vector<Configuration> configurations;
  for (const std::string& name : backends) {
    configurations.push_back({name, "f32"});
    if (name == "onednn") configurations.push_back({name, "bf16"});
  }
  if (flags.profile) {
    std::cout << "gradlab bench --profile | threads " << gradlab::num_threads() << "\n";
    std::string filter = ".";  // --benchmark_filter=REGEX chooses the steps profiled too
    for (const char* argument : passed)
      if (std::strncmp(argument, "--benchmark_filter=", 19) == 0) filter = argument + 19;
    try {
      if (print_profiles(configurations, flags, std::regex(filter)) == 0) {
        std::cerr << "gradlab_bench: --profile: no training step matches the filter given "
                     "(--benchmark_filter); nothing was profiled\n";
        return 2;
      }
    } catch (const std::exception& error) {  // a trace that cannot be written, a bad filter
      std::cerr << "gradlab_bench: --profile: " << error.what() << "\n";
      return 2;
    }
    return 0;
  }
  if (!flags.steps_only) gradlab::bench::register_op_benchmarks(backends);
  gradlab::bench::register_training_benchmarks(configurations);

  // How idle OpenMP threads wait changes small steps a lot (waking a sleeping thread for every
  // kernel), so the table says which policy it was measured under.
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  std::cout << "gradlab bench | threads " << gradlab::num_threads() << " | OMP_WAIT_POLICY "
            << (wait_policy ? wait_policy : "unset (libgomp: spin a while, then sleep)") << "\n";
  for (const std::string& name : backends) {
    std::cout << "  " << name << ": " << gradlab::backend_named(name).description() << "\n";
  }
  int passed_count = static_cast<int>(passed.size());
  benchmark::Initialize(&passed_count, passed.data());
  std::vector<Round> rounds(static_cast<std::size_t>(flags.rounds));
  for (std::size_t r = 0; r < rounds.size(); ++r) {
    Round& round = rounds[r];
    if (rounds.size() > 1) std::cout << "\n--- round " << r + 1 << " of " << rounds.size() << "\n";
    CollectingReporter reporter;
    const std::size_t ran = benchmark::RunSpecifiedBenchmarks(&reporter);
    if (ran == 0) {
      std::cerr << "gradlab_bench: no benchmark matches the filter given (--benchmark_filter); "
                   "nothing was measured\n";
      return 2;
    }
    round.milliseconds = reporter.milliseconds;

    if (flags.vs_pytorch) {
      round.pytorch = run_pytorch(gradlab::num_threads(), flags.quick);
      if (round.pytorch.contains("results")) {
        for (const auto& row : round.pytorch["results"]) {
          round.torch_ms[row["workload"].get<std::string>() + "/" +
                         row["precision"].get<std::string>()] = row["ms_per_step"];
        }
      } else {
        std::cerr << "PyTorch column skipped: "
                  << round.pytorch.value("error", std::string("unknown error")) << "\n";
      }
    }

    // The GEMM floor of each workload (floor.hpp), f32 and bf16.
    for (const auto& workload : gradlab::bench::workloads()) {
      bool measured = false;
      for (const auto& [name, ms] : round.milliseconds)
        measured = measured || name.rfind("step/" + workload.name + "/", 0) == 0;
      if (!measured) continue;
      std::cerr << "timing the GEMM floor of " << workload.name << "\n";
      round.floors[workload.name + "/f32"] = gradlab::bench::f32_floor(workload, flags.quick);
      round.floors[workload.name + "/bf16"] = gradlab::bench::bf16_floor(workload, flags.quick);
    }
  }
  benchmark::Shutdown();

  // Medians over the rounds (one round: its own values). Ratios are taken within each round
  // first, then their median is taken: a round measured while the machine was slow moves both
  // sides of its ratio.
  auto per_round = [&](auto value_in_round) {
    std::vector<double> values;
    for (const Round& round : rounds) values.push_back(value_in_round(round));
    return values;
  };
  auto median_of = [&](auto value_in_round) { return median(per_round(value_in_round)); };
  auto spread_of = [&](auto value_in_round) {
    const std::vector<double> values = per_round(value_in_round);
    const auto [low, high] = std::minmax_element(values.begin(), values.end());
    return std::pair{*low, *high};
  };
  std::map<std::string, double> milliseconds;  // every benchmark, median over the rounds
  for (const auto& [name, ms] : rounds.front().milliseconds)
    milliseconds[name] = median_of([&](const Round& round) { return round.milliseconds.at(name); });
  std::map<std::string, gradlab::bench::Floor> floors = rounds.front().floors;
  for (auto& [key, floor] : floors)
    if (floor.ms > 0)
      floor.ms = median_of([&](const Round& round) { return round.floors.at(key).ms; });
  const nlohmann::json& pytorch = rounds.front().pytorch;
  std::map<std::string, double> torch_ms;
  for (const auto& [key, ms] : rounds.front().torch_ms) {
    bool in_every_round = true;
    for (const Round& round : rounds) in_every_round = in_every_round && round.torch_ms.count(key);
    if (in_every_round)
      torch_ms[key] = median_of([&](const Round& round) { return round.torch_ms.at(key); });
  }

  // --- the table ---------------------------------------------------------------------------
  nlohmann::json json;
  json["threads"] = gradlab::num_threads();
  json["rounds"] = flags.rounds;
  json["omp_wait_policy"] = std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "";
  for (const std::string& name : backends)
    json["backends"][name] = gradlab::backend_named(name).description();
  std::cout
      << "\nWhole training step (forward + backward + SGD momentum), milliseconds per step:\n";
  std::cout << fmt::format("  {:<16} {:<18} {:>9} {:>12} {:>10} {:>12} {:>9} {:>11}\n", "workload",
                           "backend/precision", "ms/step", "vs reference", "PyTorch ms",
                           "ours/PyTorch", "floor ms", "ours/floor");
  auto text_or_dash = [](bool known, double value) {
    return known ? fmt::format("{:.2f}", value) : std::string("-");
  };
  std::vector<std::string> spreads;  // with --rounds: each ratio's range over the rounds
  for (const auto& workload : gradlab::bench::workloads()) {
    const std::string reference_name = "step/" + workload.name + "/reference/f32";
    const bool has_reference = milliseconds.count(reference_name) > 0;
    for (const Configuration& configuration : configurations) {
      const std::string name =
          "step/" + workload.name + "/" + configuration.backend + "/" + configuration.precision;
      if (!milliseconds.count(name)) continue;
      const double ms = milliseconds.at(name);
      const auto ours = [&](const Round& round) { return round.milliseconds.at(name); };
      std::string speedup =
          has_reference ? fmt::format("{:.2f}x", median_of([&](const Round& round) {
                                        return round.milliseconds.at(reference_name) / ours(round);
                                      }))
                        : "-";
      const std::string torch_key = workload.name + "/" + configuration.precision;
      const bool has_torch = torch_ms.count(torch_key) > 0;
      const auto per_torch = [&](const Round& round) {
        return ours(round) / round.torch_ms.at(torch_key);
      };
      // A bf16 request the CPU cannot honour computes f32, so its floor is the f32 one.
      const bool bf16_computed =
          configuration.precision == "bf16" && floors[workload.name + "/bf16"].skipped.empty();
      const std::string floor_key = workload.name + (bf16_computed ? "/bf16" : "/f32");
      const gradlab::bench::Floor& floor = floors[floor_key];
      const bool has_floor = floor.ms > 0;
      const auto per_floor = [&](const Round& round) {
        return ours(round) / round.floors.at(floor_key).ms;
      };
      const double ours_per_torch = has_torch ? median_of(per_torch) : 0;
      const double ours_per_floor = has_floor ? median_of(per_floor) : 0;
      std::cout << fmt::format(
          "  {:<16} {:<18} {:>9.2f} {:>12} {:>10} {:>12} {:>9} {:>11}\n", workload.name,
          configuration.backend + " " + configuration.precision, ms, speedup,
          text_or_dash(has_torch, has_torch ? torch_ms.at(torch_key) : 0),
          text_or_dash(has_torch, ours_per_torch), text_or_dash(has_floor, floor.ms),
          text_or_dash(has_floor, ours_per_floor));
      auto or_null = [](bool known, double value) {
        return known ? nlohmann::json(value) : nlohmann::json();
      };
      nlohmann::json row = {
          {"workload", workload.name},
          {"backend", configuration.backend},
          {"precision", configuration.precision},
          {"ms_per_step", ms},
          {"pytorch_ms_per_step", or_null(has_torch, has_torch ? torch_ms.at(torch_key) : 0)},
          {"ours_per_pytorch", or_null(has_torch, ours_per_torch)},
          {"floor_ms", or_null(has_floor, floor.ms)},
          {"ours_per_floor", or_null(has_floor, ours_per_floor)}};
      if (rounds.size() > 1) {
        // Each quantity's range over the rounds, and its per-round values for the JSON.
        const auto range = [&](const char* label, auto value_in_round) {
          const auto [low, high] = spread_of(value_in_round);
          return fmt::format("{} {:.2f}-{:.2f}", label, low, high);
        };
        std::string spread = fmt::format("  {:<16} {:<18} {}", workload.name,
                                         configuration.backend + " " + configuration.precision,
                                         range("ms/step", ours));
        row["ms_per_step_rounds"] = per_round(ours);
        if (has_torch) {
          spread += ", " + range("ours/PyTorch", per_torch);
          row["ours_per_pytorch_rounds"] = per_round(per_torch);
        }
        if (has_floor) {
          spread += ", " + range("ours/floor", per_floor);
          row["ours_per_floor_rounds"] = per_round(per_floor);
        }
        spreads.push_back(spread);
      }
      json["steps"].push_back(row);
    }
  }
  std::cout << "  (speed-up is reference f32 time / this time; ours/PyTorch below 1 means gradlab "
               "is faster;\n   floor = the step's matrix products alone, each with the fastest "
               "kernel here: forward, weight\n   gradients, input gradients of every layer but "
               "the first)\n";
  if (rounds.size() > 1) {
    std::cout << "  Medians of " << rounds.size()
              << " rounds, each ratio taken within its round; over the rounds they ranged:\n";
    for (const std::string& spread : spreads) std::cout << spread << "\n";
  }
  for (const auto& [key, floor] : floors) {
    if (floor.skipped.empty()) {
      std::cout << fmt::format("  floor {:<22} {:>8.2f} ms  (fastest per product: {})\n", key,
                               floor.ms, floor.kernels);
    } else {
      std::cout << fmt::format("  floor {:<22} skipped: {}\n", key, floor.skipped);
    }
    json["floors"][key] = {{"ms", floor.ms > 0 ? nlohmann::json(floor.ms) : nlohmann::json()},
                           {"kernels", floor.kernels},
                           {"skipped", floor.skipped}};
  }

  bool printed_overhead_header = false;
  for (const std::string& name : backends) {
    auto found = milliseconds.find("overhead/" + name + "/tanh-chain 4x4 (300 ops)");
    if (found == milliseconds.end()) continue;
    if (!printed_overhead_header) {
      std::cout << "\nFramework overhead per op (4x4 tensors, tanh(h*1.01+0.1) x100 + backward, "
                   "time / 300):\n";
      printed_overhead_header = true;
    }
    double microseconds = found->second * 1000.0 / 300.0;
    std::cout << fmt::format("  {:<12} {:>8.3f} us per op\n", name, microseconds);
    json["overhead_us_per_op"][name] = microseconds;
  }

  bool printed_ops_header = false;
  for (const auto& [name, ms] : milliseconds) {
    if (name.rfind("op/", 0) != 0) continue;
    if (!printed_ops_header) {
      std::cout << "\nPer op, microseconds (see the Google Benchmark lines above for every op):\n";
      printed_ops_header = true;
    }
    std::cout << fmt::format("  {:<64} {:>12.1f}\n", name.substr(3), ms * 1000.0);
    json["ops_us"][name.substr(3)] = ms * 1000.0;
  }
  if (!pytorch.is_null()) json["pytorch"] = pytorch;

  if (!flags.json_path.empty()) {
    std::ofstream out(flags.json_path);
    if (!out) {
      std::cerr << "gradlab_bench: cannot write " << flags.json_path << "\n";
      return 1;
    }
    out << json.dump(2) << "\n";
    std::cout << "\nJSON written to " << flags.json_path << "\n";
  }
  return 0;
}
