// Specification of the Profiler (autograd/profiler.hpp): the report by op kind and the Chrome
// trace, validated against the Trace Event format (no browser is reachable from CI, so the test
// is the viewer): the fields and their types, "X" events with non-negative durations, proper
// nesting per thread, op durations summing to no more than the step. The validator is shown
// failing on broken traces, so a passing check means something.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "autograd/ops.hpp"
#include "autograd/profiler.hpp"
#include "autograd/tensor.hpp"
#include "temp_folder.hpp"

namespace profiler_test {

using nlohmann::json;

// Every way `trace` breaks the Trace Event format (JSON object form, complete "X" events);
// empty when it is valid. Nesting: on each (pid, tid), an event that starts inside another must
// end inside it too.
std::vector<std::string> trace_problems(const std::string& text) {
  std::vector<std::string> problems;
  json trace;
  try {
    trace = json::parse(text);
  } catch (const std::exception& error) {
    return {std::string("not JSON: ") + error.what()};
  }
  if (!trace.is_object() || !trace.contains("traceEvents") || !trace["traceEvents"].is_array())
    return {"no traceEvents array"};
  if (trace.contains("displayTimeUnit") && !trace["displayTimeUnit"].is_string())
    problems.push_back("displayTimeUnit is not a string");
  struct Interval {
    double start, end;
    std::string name;
  };
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<Interval>> threads;
  std::size_t index = 0;
  for (const json& event : trace["traceEvents"]) {
    const std::string where = "event " + std::to_string(index++);
    bool complete = true;
    auto require = [&](const char* field, bool (json::*is_type)() const noexcept) {
      if (!event.contains(field)) {
        problems.push_back(where + ": missing \"" + field + "\"");
        complete = false;
      } else if (!(event[field].*is_type)()) {
        problems.push_back(where + ": \"" + field + "\" has the wrong type");
        complete = false;
      }
    };
    require("name", &json::is_string);
    require("cat", &json::is_string);
    require("ph", &json::is_string);
    require("ts", &json::is_number);
    require("dur", &json::is_number);
    require("pid", &json::is_number_integer);
    require("tid", &json::is_number_integer);
    require("args", &json::is_object);
    if (!complete) continue;
    if (event["ph"] != "X") problems.push_back(where + ": ph is not \"X\"");
    const double start = event["ts"], duration = event["dur"];
    if (duration < 0) problems.push_back(where + ": negative dur");
    threads[{event["pid"], event["tid"]}].push_back(
        {start, start + duration, event["name"].get<std::string>()});
  }
  constexpr double kSlack = 1e-3;  // microseconds: the rounding of ts + dur
  for (auto& [thread, intervals] : threads) {
    std::stable_sort(intervals.begin(), intervals.end(), [](const Interval& a, const Interval& b) {
      return a.start != b.start ? a.start < b.start : a.end > b.end;
    });
    std::vector<Interval> open;
    for (const Interval& interval : intervals) {
      while (!open.empty() && open.back().end <= interval.start + kSlack) open.pop_back();
      if (!open.empty() && interval.end > open.back().end + kSlack) {
        problems.push_back("\"" + interval.name + "\" overlaps \"" + open.back().name +
                           "\" without nesting inside it");
      }
      open.push_back(interval);
    }
  }
  return problems;
}

// Total duration of the events whose category is `category`.
double total_duration(const json& trace, const std::string& category) {
  double total = 0;
  for (const json& event : trace["traceEvents"])
    if (event["cat"] == category) total += event["dur"].get<double>();
  return total;
}

// Three training steps of a small MLP, each in a "step" range.
void train_a_little() {
  using namespace gradlab;
  manual_seed(1);
  Tensor x = randn({64, 128});
  Tensor w1 = (randn({128, 128}) * 0.1).requires_grad_(true);
  Tensor b1 = zeros({128}, {.requires_grad = true});
  Tensor w2 = (randn({128, 10}) * 0.1).requires_grad_(true);
  Tensor y = labels(std::vector<std::int64_t>(64, 3));
  for (int step = 0; step < 3; ++step) {
    Profiler::Range range("step");
    Tensor loss = cross_entropy(matmul(relu(linear(x, w1, b1)), w2), y);
    loss.backward();
    w1.zero_grad();
    b1.zero_grad();
    w2.zero_grad();
  }
}

}  // namespace profiler_test

using namespace profiler_test;

TEST_CASE("Profiler: the report counts each op kind's forwards and backwards", "[profiler]") {
  gradlab::Profiler profile;
  train_a_little();
  profile.stop();
  gradlab::ProfileReport report = profile.report();
  CHECK(report.steps == 3);
  std::map<std::string, gradlab::ProfileRow> rows;
  for (const auto& row : report.ops) rows[row.op] = row;
  for (const char* op : {"linear", "relu", "matmul", "cross_entropy"}) {
    INFO(op);
    REQUIRE(rows.count(op) == 1);
    CHECK(rows[op].forward_calls == 3);
    CHECK(rows[op].backward_calls == 3);
  }
  double in_ops = 0;
  for (const auto& row : report.ops) in_ops += row.total_ms();
  CHECK(in_ops <= report.profiled_ms * 1.000001);
  CHECK(report.outside_ops_ms() >= 0);
  const std::string table = report.table(2);
  CHECK_THAT(table, Catch::Matchers::Contains("3 steps"));
  CHECK_THAT(table, Catch::Matchers::Contains("other kinds"));
  CHECK_THAT(table, Catch::Matchers::Contains("(not in an op)"));
}

TEST_CASE("Profiler: the trace follows the Trace Event format and nests per thread", "[profiler]") {
  gradlab::testing::TempFolder folder;
  const std::filesystem::path path = folder.path / "trace.json";
  {
    gradlab::Profiler profile(path);
    train_a_little();
  }  // the destructor writes the trace
  std::ifstream file(path);
  const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  const std::vector<std::string> problems = trace_problems(text);
  for (const std::string& problem : problems) INFO(problem);
  REQUIRE(problems.empty());

  const json trace = json::parse(text);
  CHECK(trace["displayTimeUnit"] == "ms");
  // Every op event lies inside a step; the ops take no more than the steps, and most of them.
  std::vector<std::pair<double, double>> steps;
  for (const json& event : trace["traceEvents"]) {
    if (event["name"] == "step")
      steps.emplace_back(event["ts"], event["ts"].get<double>() + event["dur"].get<double>());
  }
  REQUIRE(steps.size() == 3);
  for (const json& event : trace["traceEvents"]) {
    if (event["cat"] == "range") continue;
    const double start = event["ts"], end = start + event["dur"].get<double>();
    bool inside = false;
    for (auto [from, to] : steps) inside = inside || (start >= from - 1e-3 && end <= to + 1e-3);
    INFO(event.dump());
    CHECK(inside);
  }
  double step_time = 0;
  for (auto [from, to] : steps) step_time += to - from;
  const double op_time = total_duration(trace, "forward") + total_duration(trace, "backward");
  CHECK(op_time <= step_time * 1.000001);
  CHECK(op_time >= 0.5 * step_time);
}

TEST_CASE("Profiler: the trace validator rejects broken traces", "[profiler]") {
  auto event = [](const char* name, double ts, double dur) {
    return json{{"name", name}, {"cat", "forward"}, {"ph", "X"}, {"ts", ts},
                {"dur", dur},   {"pid", 1},         {"tid", 1},  {"args", json::object()}};
  };
  auto trace = [](json events) {
    return json{{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}}.dump();
  };
  // Valid: a step holding two ops one after the other.
  CHECK(trace_problems(trace({event("step", 0, 10), event("a", 1, 4), event("b", 5, 4)})).empty());
  // Overlapping siblings: "b" starts inside "a" and ends after it.
  CHECK(trace_problems(trace({event("step", 0, 10), event("a", 1, 4), event("b", 3, 4)})).size() ==
        1);
  // A child that outlives its parent.
  CHECK(trace_problems(trace({event("step", 0, 10), event("a", 8, 4)})).size() == 1);
  // A missing field, a field of the wrong type, a negative duration, another phase.
  json missing = event("a", 0, 1);
  missing.erase("dur");
  CHECK(trace_problems(trace({missing})) == std::vector<std::string>{"event 0: missing \"dur\""});
  json wrong_type = event("a", 0, 1);
  wrong_type["ts"] = "0";
  CHECK(trace_problems(trace({wrong_type})).size() == 1);
  CHECK(trace_problems(trace({event("a", 0, -1)})) ==
        std::vector<std::string>{"event 0: negative dur"});
  json begin = event("a", 0, 1);
  begin["ph"] = "B";
  CHECK(trace_problems(trace({begin})).size() == 1);
  // Not JSON at all, or no event list.
  CHECK(trace_problems("{\"traceEvents\": [").size() == 1);
  CHECK(trace_problems("{}") == std::vector<std::string>{"no traceEvents array"});
}

TEST_CASE("Profiler: nothing is recorded when no Profiler runs, and ops after stop() are not",
          "[profiler]") {
  gradlab::Profiler profile;
  profile.stop();
  CHECK_FALSE(profile.running());
  train_a_little();
  CHECK(profile.report().ops.empty());
  CHECK(json::parse(profile.trace_json())["traceEvents"].empty());
  // Ranges without a Profiler do nothing.
  gradlab::Profiler::Range lonely("lonely");
}
