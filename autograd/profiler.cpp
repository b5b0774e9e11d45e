// The Profiler (profiler.hpp) and the engine's hooks into it (detail/profile_hooks.hpp).
#include "autograd/profiler.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "autograd/detail/profile_hooks.hpp"
#include "backends/types.hpp"

namespace gradlab {
namespace detail {

[[gnu::tls_model("initial-exec")]] thread_local ProfileState* profile_state = nullptr;

namespace {
using Clock = std::chrono::steady_clock;

/// One timed interval, in nanoseconds since the Profiler started; `end` is -1 while open.
struct ProfileEvent {
  std::uint32_t name;
  ProfileKind kind;
  std::int64_t start;
  std::int64_t end;
};
}  // namespace

/// Everything one Profiler has recorded.
struct ProfileState {
  Clock::time_point origin = Clock::now();
  std::int64_t mark = 0;  // end of the previous event: where the next forward starts
  std::int64_t stopped = -1;
  int inside_backward = 0;  // ops inside the backward pass are part of their node's backward
  ProfileState* previous = nullptr;
  std::vector<ProfileEvent> events;
  std::deque<std::string> names;  // stable storage for the keys of `ids`
  std::unordered_map<std::string_view, std::uint32_t> ids;

  std::int64_t now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - origin).count();
  }
  std::uint32_t id(std::string_view name) {
    auto found = ids.find(name);
    if (found != ids.end()) return found->second;
    names.emplace_back(name);
    auto index = static_cast<std::uint32_t>(names.size() - 1);
    ids.emplace(names.back(), index);
    return index;
  }
  std::int64_t end_of(const ProfileEvent& event) const {
    return event.end >= 0 ? event.end : (stopped >= 0 ? stopped : now());
  }
};

namespace {
bool counts_as_backward(ProfileKind kind) {
  return kind == ProfileKind::backward || kind == ProfileKind::backward_pass;
}
}  // namespace

void profile_forward(ProfileState& state, std::string_view op) {
  if (state.inside_backward > 0) return;
  const std::int64_t t = state.now();
  state.events.push_back({state.id(op), ProfileKind::forward, state.mark, t});
  state.mark = t;
}

std::size_t profile_begin(ProfileState& state, ProfileKind kind, std::string_view name) {
  const std::int64_t t = state.now();
  if (counts_as_backward(kind)) ++state.inside_backward;
  state.events.push_back({state.id(name), kind, t, -1});
  state.mark = t;
  return state.events.size() - 1;
}

void profile_end(ProfileState& state, std::size_t index) {
  const std::int64_t t = state.now();
  ProfileEvent& event = state.events[index];
  event.end = t;
  if (counts_as_backward(event.kind)) --state.inside_backward;
  state.mark = t;
}

}  // namespace detail

// --- the report -----------------------------------------------------------------------------

namespace {

// Events by start time, a parent before the children that start with it.
std::vector<std::size_t> by_start(const detail::ProfileState& state) {
  std::vector<std::size_t> order(state.events.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto& x = state.events[a];
    const auto& y = state.events[b];
    if (x.start != y.start) return x.start < y.start;
    return state.end_of(x) > state.end_of(y);
  });
  return order;
}

constexpr double kMs = 1e-6;  // nanoseconds → milliseconds

}  // namespace

double ProfileReport::outside_ops_ms() const {
  double in_ops = 0;
  for (const ProfileRow& row : ops) in_ops += row.total_ms();
  return std::max(0.0, profiled_ms - in_ops);
}

std::string ProfileReport::table(std::size_t top) const {
  if (ops.empty() && ranges.empty()) {
    return "Profile: no tensor op ran while profiling (the scalar engines, autograd/value.hpp "
           "and autograd/fast/, are not profiled)\n";
  }
  const double per = steps > 0 ? double(steps) : 1.0;
  std::string out;
  if (steps > 0) {
    out += fmt::format("Profile: {} steps, {:.3f} ms per step; times and calls are per step\n",
                       steps, profiled_ms / per);
  } else {
    out += fmt::format("Profile: {:.3f} ms profiled\n", profiled_ms);
  }
  out += fmt::format("  {:<20} {:>11} {:>7} {:>12} {:>7} {:>10} {:>7}\n", "op kind", "forward ms",
                     "calls", "backward ms", "calls", "total ms", "share");
  auto share = [&](double ms) { return profiled_ms > 0 ? 100.0 * ms / profiled_ms : 0.0; };
  std::size_t shown = 0;
  for (const ProfileRow& row : ops) {
    if (top > 0 && shown++ >= top) break;
    out +=
        fmt::format("  {:<20} {:>11.3f} {:>7.4g} {:>12.3f} {:>7.4g} {:>10.3f} {:>6.1f}%\n", row.op,
                    row.forward_ms / per, double(row.forward_calls) / per, row.backward_ms / per,
                    double(row.backward_calls) / per, row.total_ms() / per, share(row.total_ms()));
  }
  if (top > 0 && ops.size() > top) {
    double rest = 0;
    for (std::size_t i = top; i < ops.size(); ++i) rest += ops[i].total_ms();
    out += fmt::format("  {:<20} {:>11} {:>7} {:>12} {:>7} {:>10.3f} {:>6.1f}%\n",
                       fmt::format("({} other kinds)", ops.size() - top), "", "", "", "",
                       rest / per, share(rest));
  }
  out += fmt::format("  {:<20} {:>11} {:>7} {:>12} {:>7} {:>10.3f} {:>6.1f}%\n", "(not in an op)",
                     "", "", "", "", outside_ops_ms() / per, share(outside_ops_ms()));
  if (!ranges.empty()) {
    out += "  ranges:";
    for (const ProfileRangeRow& range : ranges) {
      out += fmt::format(" {} {:.3f} ms ({}x);", range.name, range.total_ms / per,
                         double(range.count) / per);
    }
    out.back() = '\n';
  }
  return out;
}

// --- the Profiler ---------------------------------------------------------------------------

Profiler::Profiler(std::filesystem::path trace_path)
    : state_(std::make_unique<detail::ProfileState>()), trace_path_(std::move(trace_path)) {
  state_->previous = detail::profile_state;
  detail::profile_state = state_.get();
  running_ = true;
}

Profiler::~Profiler() {
  if (!running_) return;
  stop();
  try {
    if (!trace_path_.empty()) write_trace(trace_path_);
  } catch (...) {  // a destructor must not throw; stop() reports the error when called
  }
}

void Profiler::stop() {
  if (!running_) return;
  running_ = false;
  state_->stopped = state_->now();
  // Profilers nest like scopes; if an inner one is still running, unlink this one only.
  if (detail::profile_state == state_.get()) {
    detail::profile_state = state_->previous;
  } else {
    for (detail::ProfileState* s = detail::profile_state; s != nullptr; s = s->previous) {
      if (s->previous == state_.get()) s->previous = state_->previous;
    }
  }
  if (!trace_path_.empty()) {
    std::filesystem::path path = std::move(trace_path_);
    trace_path_.clear();
    write_trace(path);
  }
}

bool Profiler::running() const { return running_; }

ProfileReport Profiler::report() const {
  const detail::ProfileState& state = *state_;
  std::map<std::uint32_t, ProfileRow> ops;
  std::map<std::uint32_t, ProfileRangeRow> ranges;
  ProfileReport report;
  std::int64_t covered_until = -1;
  for (std::size_t index : by_start(state)) {
    const detail::ProfileEvent& event = state.events[index];
    const std::int64_t end = state.end_of(event);
    const double ms = double(end - event.start) * kMs;
    if (event.start >= covered_until) {  // an outermost event
      report.profiled_ms += ms;
      covered_until = end;
    }
    const std::string& name = state.names[event.name];
    if (event.kind == detail::ProfileKind::forward || event.kind == detail::ProfileKind::backward) {
      ProfileRow& row = ops[event.name];
      row.op = name;
      if (event.kind == detail::ProfileKind::forward) {
        row.forward_ms += ms;
        ++row.forward_calls;
      } else {
        row.backward_ms += ms;
        ++row.backward_calls;
      }
    } else {
      ProfileRangeRow& row = ranges[event.name];
      row.name = name;
      row.total_ms += ms;
      ++row.count;
      if (name == "step") ++report.steps;
    }
  }
  for (auto& [id, row] : ops) report.ops.push_back(std::move(row));
  for (auto& [id, row] : ranges) report.ranges.push_back(std::move(row));
  std::stable_sort(
      report.ops.begin(), report.ops.end(),
      [](const ProfileRow& a, const ProfileRow& b) { return a.total_ms() > b.total_ms(); });
  std::stable_sort(
      report.ranges.begin(), report.ranges.end(),
      [](const ProfileRangeRow& a, const ProfileRangeRow& b) { return a.total_ms > b.total_ms; });
  return report;
}

std::string Profiler::trace_json() const {
  const detail::ProfileState& state = *state_;
  nlohmann::json events = nlohmann::json::array();
  const auto pid = static_cast<std::int64_t>(::getpid());
  for (std::size_t index : by_start(state)) {
    const detail::ProfileEvent& event = state.events[index];
    const std::string& name = state.names[event.name];
    const char* category = "range";
    std::string label = name;
    if (event.kind == detail::ProfileKind::forward) {
      category = "forward";
    } else if (event.kind == detail::ProfileKind::backward) {
      category = "backward";
      label += " backward";
    }
    events.push_back({{"name", label},
                      {"cat", category},
                      {"ph", "X"},
                      {"ts", double(event.start) / 1000.0},
                      {"dur", double(state.end_of(event) - event.start) / 1000.0},
                      {"pid", pid},
                      {"tid", 1},
                      {"args", {{"op", name}}}});
  }
  nlohmann::json trace = {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}};
  return trace.dump();
}

void Profiler::write_trace(const std::filesystem::path& path) const {
  std::ofstream out(path);
  if (!out) throw Error("Profiler: cannot write the trace to " + path.string());
  out << trace_json() << "\n";
  if (!out) throw Error("Profiler: writing the trace to " + path.string() + " failed");
}

Profiler::Range::Range(std::string_view name) : state_(detail::profile_state) {
  if (state_ != nullptr) index_ = detail::profile_begin(*state_, detail::ProfileKind::range, name);
}

Profiler::Range::~Range() {
  if (state_ != nullptr) detail::profile_end(*state_, index_);
}

}  // namespace gradlab
