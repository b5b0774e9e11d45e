#pragma once
/// \file autograd/profiler.hpp
/// \brief `Profiler`: where a training step's time goes, per op kind, forward and backward.
///
/// \code
///   gradlab::Profiler profile;                      // starts timing this thread's ops
///   for (int i = 0; i < 10; ++i) {
///     gradlab::Profiler::Range step("step");        // a named range (optional)
///     Tensor loss = cross_entropy(model(x), y);
///     loss.backward();
///     { gradlab::Profiler::Range update("optimizer"); optimizer.step(); }
///   }
///   profile.stop();
///   std::cout << profile.report().table();         // time per op kind, forward and backward
///   profile.write_trace("trace.json");              // open in Perfetto or chrome://tracing
/// \endcode
///
/// What is measured, and how:
/// - An op's **forward** time runs from the end of the previous event on this thread (the
///   previous op, or the start of the enclosing range) to the moment the op records its output.
///   It includes the op's checks and allocation. Work between ops that is not an op (filling a
///   batch, a loop of your own) is charged to the next op unless you wrap it in a `Range`.
/// - A node's **backward** time is its backward closure, timed around the call in the backward
///   engine; the whole backward pass is the range "backward".
/// - Only the thread that created the Profiler is timed; kernels' own worker threads (oneDNN,
///   OpenBLAS) work inside the op that called them.
/// When no Profiler runs, the engine's hooks cost one thread-local pointer test per op.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gradlab {

namespace detail {
struct ProfileState;
}

/// One op kind's line of a `ProfileReport`.
struct ProfileRow {
  std::string op;                   ///< The op's name, e.g. "linear".
  double forward_ms = 0;            ///< Total forward time, milliseconds.
  std::int64_t forward_calls = 0;   ///< How many forwards were timed.
  double backward_ms = 0;           ///< Total backward time, milliseconds.
  std::int64_t backward_calls = 0;  ///< How many backward closures were timed.
  double total_ms() const { return forward_ms + backward_ms; }  ///< Forward + backward.
};

/// One named range's line of a `ProfileReport` ("step", "backward", "optimizer", ...).
struct ProfileRangeRow {
  std::string name;        ///< The range's name.
  double total_ms = 0;     ///< Total time inside it, milliseconds.
  std::int64_t count = 0;  ///< How many times it was entered.
};

/// The summary of a profile: op kinds by total time, and the named ranges.
struct ProfileReport {
  std::vector<ProfileRow> ops;          ///< Op kinds, the most expensive first.
  std::vector<ProfileRangeRow> ranges;  ///< Named ranges, the longest first.
  /// The profiled time: the sum of the outermost events (ranges, or ops outside any range).
  double profiled_ms = 0;
  /// How many ranges named "step" there were (0 if none); the table then shows ms per step.
  std::int64_t steps = 0;
  /// Time inside the outermost events but in no op (glue, optimiser kernels, ...).
  double outside_ops_ms() const;
  /// The table: op kind, forward ms and calls, backward ms and calls, total, share of the
  /// profiled time; per step when there are "step" ranges. `top` limits the rows (0: all).
  std::string table(std::size_t top = 0) const;
};

/// Times every op's forward and backward on the thread that creates it, until `stop()` or its
/// destruction. Profilers nest: an inner one takes over until it stops.
class Profiler {
 public:
  /// Starts profiling this thread. With `trace_path` set, `stop()` also writes the trace there.
  explicit Profiler(std::filesystem::path trace_path = {});
  /// Stops (and writes the trace if a path was given and `stop()` was not called).
  ~Profiler();
  Profiler(const Profiler&) = delete;             ///< Not copyable.
  Profiler& operator=(const Profiler&) = delete;  ///< Not copyable.

  /// Stops timing (idempotent); the report and trace stay available.
  void stop();
  /// True between construction and `stop()`.
  bool running() const;
  /// The summary by op kind (works while running too: the events so far).
  ProfileReport report() const;
  /// The Chrome trace (Trace Event format, "X" events in microseconds) as a JSON string.
  std::string trace_json() const;
  /// Writes `trace_json()` to `path`; throws `gradlab::Error` if the file cannot be written.
  void write_trace(const std::filesystem::path& path) const;

  /// A named range on the running Profiler of this thread (does nothing when none runs): a
  /// training step, an optimiser update, data loading. Ranges nest; a range must close before
  /// the Profiler it reports to is destroyed.
  class Range {
   public:
    /// Opens the range `name`.
    explicit Range(std::string_view name);
    /// Closes it.
    ~Range();
    Range(const Range&) = delete;             ///< Not copyable.
    Range& operator=(const Range&) = delete;  ///< Not copyable.

   private:
    detail::ProfileState* state_;
    std::size_t index_ = 0;
  };

 private:
  std::unique_ptr<detail::ProfileState> state_;
  std::filesystem::path trace_path_;
  bool running_ = false;
};

}  // namespace gradlab
