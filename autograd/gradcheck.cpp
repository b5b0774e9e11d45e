// Numerical gradient checking: central differences in float64 against the analytic backward.
#include "autograd/gradcheck.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "autograd/ops.hpp"
#include "backends/backend.hpp"

namespace gradlab {

const char* verdict_name(GradcheckVerdict verdict) {
  switch (verdict) {
    case GradcheckVerdict::good: return "good";
    case GradcheckVerdict::fine_with_kinks: return "fine with kinks";
    case GradcheckVerdict::uncomfortable: return "uncomfortable";
    case GradcheckVerdict::wrong: return "wrong";
  }
  return "unknown";
}

namespace {

GradcheckVerdict classify(double error, bool has_kinks) {
  if (!(error <= 1e-2)) return GradcheckVerdict::wrong;  // NaN included: it compares false
  if (error > 1e-4) return GradcheckVerdict::uncomfortable;
  if (error > 1e-7)
    return has_kinks ? GradcheckVerdict::fine_with_kinks : GradcheckVerdict::uncomfortable;
  return GradcheckVerdict::good;
}

// Which elements of an input of `count` elements to perturb: all, or k distinct random ones.
std::vector<std::int64_t> pick_elements(std::int64_t count, std::int64_t wanted,
                                        std::mt19937_64& rng) {
  std::vector<std::int64_t> all(static_cast<std::size_t>(count));
  std::iota(all.begin(), all.end(), 0);
  if (wanted <= 0 || wanted >= count) return all;
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<std::size_t>(wanted));
  std::sort(all.begin(), all.end());
  return all;
}

// The scalar objective L(x) = Σ f(x) ⊙ u, in float64.
double objective(const GradcheckFunction& f, const std::vector<Tensor>& inputs,
                 const Tensor& upstream) {
  NoGradGuard no_graph;
  Tensor output = f(inputs);
  if (output.dtype() != DType::float64) output = output.to(DType::float64);
  return sum(output * upstream).item();
}

std::vector<Tensor> analytic_gradients(const GradcheckFunction& f,
                                       const std::vector<Tensor>& inputs,
                                       const std::vector<std::size_t>& checked,
                                       const Tensor& upstream) {
  for (std::size_t i : checked) inputs[i].zero_grad();
  Tensor output = f(inputs);
  std::vector<Tensor> gradients;
  if (!output.requires_grad()) {
    // The output does not depend on any checked input through the graph: gradients are zero.
    for (std::size_t i : checked)
      gradients.push_back(zeros(inputs[i].shape(), {.dtype = DType::float64}));
    return gradients;
  }
  Tensor seed = upstream;
  if (output.dtype() != DType::float64) output = output.to(DType::float64);
  output.backward(seed);
  for (std::size_t i : checked) {
    Tensor g = inputs[i].grad();
    gradients.push_back(g.defined() ? g.clone()
                                    : zeros(inputs[i].shape(), {.dtype = DType::float64}));
    inputs[i].zero_grad();
  }
  return gradients;
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  if (!(options.step > 0) || !std::isfinite(options.step)) {
    throw Error("gradcheck " + options.name + ": step must be finite and > 0, got " +
                std::to_string(options.step));
  }
  BackendGuard reference("reference");
  GradcheckResult result;
  result.name = options.name;
  result.step = options.step;

  // Float64 leaf copies of the inputs; choose which to check.
  std::vector<Tensor> working;
  std::vector<std::size_t> checked;
  bool any_marked = std::any_of(inputs.begin(), inputs.end(), [](const Tensor& t) {
    return t.defined() && t.dtype() != DType::int64 && t.requires_grad();
  });
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    if (!input.defined() || input.dtype() == DType::int64) {
      working.push_back(input);
      continue;
    }
    Tensor copy;
    {
      NoGradGuard no_graph;
      copy = input.detach().to(DType::float64).clone();
    }
    bool check = any_marked ? input.requires_grad() : true;
    copy.requires_grad_(check);
    if (check) checked.push_back(i);
    working.push_back(copy);
  }
  if (checked.empty()) throw Error("gradcheck " + options.name + ": no float input to check");

  std::mt19937_64 rng(options.seed);
  Tensor probe;
  {
    NoGradGuard no_graph;
    probe = f(working);
  }
  if (!probe.defined())
    throw Error("gradcheck " + options.name + ": the function returned an undefined tensor");
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> upstream_values(static_cast<std::size_t>(probe.numel()));
  for (double& value : upstream_values) value = normal(rng);
  Tensor upstream = from(upstream_values, probe.shape().empty() ? Shape{} : probe.shape(),
                         {.dtype = DType::float64});
  if (probe.shape().empty()) upstream = upstream.reshape({});

  std::vector<Tensor> analytic = analytic_gradients(f, working, checked, upstream);

  if (options.check_determinism) {
    std::vector<Tensor> again = analytic_gradients(f, working, checked, upstream);
    for (std::size_t k = 0; k < analytic.size(); ++k) {
      if (analytic[k].to_vector() != again[k].to_vector()) result.deterministic = false;
    }
  }
  if (options.check_zero_upstream) {
    std::vector<Tensor> from_zero =
        analytic_gradients(f, working, checked, zeros(upstream.shape(), {.dtype = DType::float64}));
    for (const Tensor& g : from_zero) {
      for (double value : g.to_vector()) {
        if (value != 0.0) result.zero_upstream_ok = false;
      }
    }
  }

  const double h = options.step;
  const double base = objective(f, working, upstream);
  for (std::size_t k = 0; k < checked.size(); ++k) {
    std::size_t index = checked[k];
    Tensor& x = working[index];
    GradcheckInput report;
    report.name = index < options.input_names.size() ? options.input_names[index]
                                                     : "input" + std::to_string(index);
    report.shape = x.shape();
    std::int64_t wanted = options.sparse_elements;
    if (wanted == 0 && x.numel() > options.auto_sparse_above) wanted = 200;
    double* values = x.data<double>();
    for (std::int64_t element : pick_elements(x.numel(), wanted, rng)) {
      double original = values[element];
      values[element] = original + h;
      double plus = objective(f, working, upstream);
      values[element] = original - h;
      double minus = objective(f, working, upstream);
      values[element] = original;
      double numeric = (plus - minus) / (2 * h);
      double a = analytic[k].data<double>()[element];
      ++report.elements_checked;
      // A kink between x − h and x + h: the two one-sided slopes disagree far more than the
      // curvature of a smooth function could make them.
      double forward_slope = (plus - base) / h, backward_slope = (base - minus) / h;
      double slope_gap = std::abs(forward_slope - backward_slope);
      if (slope_gap > 1e-6 &&
          slope_gap > 1e-2 * std::max(std::abs(forward_slope), std::abs(backward_slope))) {
        ++report.kink_elements;
        continue;
      }
      double magnitude = std::max(std::abs(a), std::abs(numeric));
      double error = magnitude < options.zero_floor ? 0.0 : std::abs(a - numeric) / magnitude;
      // An infinite or NaN gradient on either side cannot be checked: it counts as wrong.
      if (!std::isfinite(a) || !std::isfinite(numeric))
        error = std::numeric_limits<double>::infinity();
      if (report.worst_index < 0 || error > report.max_relative_error) {
        report.max_relative_error = error;
        report.worst_index = element;
        report.analytic = a;
        report.numeric = numeric;
      }
    }
    report.verdict = classify(report.max_relative_error, report.kink_elements > 0);
    result.inputs.push_back(report);
  }

  result.passed = result.zero_upstream_ok && result.deterministic;
  for (const GradcheckInput& input : result.inputs) {
    if (input.verdict != GradcheckVerdict::good &&
        input.verdict != GradcheckVerdict::fine_with_kinks) {
      result.passed = false;
    }
  }
  return result;
}

std::string GradcheckResult::report() const {
  std::string text = fmt::format("gradcheck {}: {} (float64, central differences, h = {:g})\n",
                                 name, passed ? "PASSED" : "FAILED", step);
  text += fmt::format("  {:<10} {:<14} {:>8} {:>6} {:>14} {:>10} {:>15} {:>15}  {}\n", "input",
                      "shape", "checked", "kinks", "max rel error", "worst at", "analytic",
                      "numeric", "verdict");
  for (const GradcheckInput& input : inputs) {
    text += fmt::format(
        "  {:<10} {:<14} {:>8} {:>6} {:>14.3e} {:>10} {:>15.8g} {:>15.8g}  {}\n", input.name,
        shape_string(input.shape), input.elements_checked, input.kink_elements,
        input.max_relative_error,
        input.worst_index < 0 ? std::string("-") : "[" + std::to_string(input.worst_index) + "]",
        input.analytic, input.numeric, verdict_name(input.verdict));
  }
  text += fmt::format("  zero upstream gives zero gradient: {}\n", zero_upstream_ok ? "yes" : "NO");
  text += fmt::format("  backward is deterministic:         {}\n", deterministic ? "yes" : "NO");
  return text;
}

std::string GradcheckResult::to_json() const {
  nlohmann::json json;
  json["name"] = name;
  json["passed"] = passed;
  json["step"] = step;
  json["zero_upstream_ok"] = zero_upstream_ok;
  json["deterministic"] = deterministic;
  for (const GradcheckInput& input : inputs) {
    json["inputs"].push_back({{"name", input.name},
                              {"shape", input.shape},
                              {"elements_checked", input.elements_checked},
                              {"kink_elements", input.kink_elements},
                              {"max_relative_error", input.max_relative_error},
                              {"worst_index", input.worst_index},
                              {"analytic", input.analytic},
                              {"numeric", input.numeric},
                              {"verdict", verdict_name(input.verdict)}});
  }
  return json.dump(2);
}

}  // namespace gradlab
