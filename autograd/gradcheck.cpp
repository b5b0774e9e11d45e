// Numerical gradient checking: Richardson-extrapolated central differences in float64, with a
// noise estimate per element, against the analytic backward.
#include "autograd/gradcheck.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
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
    case GradcheckVerdict::inconclusive: return "inconclusive";
  }
  return "unknown";
}

namespace {

constexpr double kEpsilon = std::numeric_limits<double>::epsilon();        // 2.2e-16
constexpr double kFloat32Epsilon = std::numeric_limits<float>::epsilon();  // 1.2e-7

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

// f's output at the current inputs, as float64 values (no graph).
std::vector<double> outputs(const GradcheckFunction& f, const std::vector<Tensor>& inputs) {
  NoGradGuard no_graph;
  Tensor output = f(inputs);
  if (output.dtype() != DType::float64) output = output.to(DType::float64);
  const double* values = output.const_data<double>();  // contiguous; faster than to_vector()
  return std::vector<double>(values, values + output.numel());
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

// A finite difference of L = Σ u ⊙ y and the round-off it may carry (before the safety factor).
struct Difference {
  double value = 0;
  double roundoff = 0;
};

// True when `v` is exactly representable in float32.
bool is_float(double v) { return static_cast<double>(static_cast<float>(v)) == v; }

// The differences gradcheck needs at one point, from f's outputs at x + t·d for
// t = −h, −h/2, 0, h/2, h (d: one element, or a direction). Each is Σₖ uₖ·(combination of the yₖ)
// over the outputs k: the outputs are subtracted element by element first, and only outputs
// that moved add round-off, ε·|uₖ|·Σ|coefficient·yₖ|.
struct Differences {
  Difference central_h, central_half;  // (y(+h) − y(−h)) / 2h and (y(+h/2) − y(−h/2)) / h
  Difference right_h, right_half;      // (y(+h) − y(0)) / h and (y(+h/2) − y(0)) / (h/2)
  Difference left_h, left_half;        // (y(0) − y(−h)) / h and (y(0) − y(−h/2)) / (h/2)
  // (y(+h) + y(−h) − 4·y(+h/2) − 4·y(−h/2) + 6·y(0)) / h: O(h³) for a smooth function, about
  // the slope jump for a kink near the point.
  Difference even;
};

Differences differences(const std::array<const std::vector<double>*, 5>& y,
                        const std::vector<double>& u, double h) {
  const std::vector<double>&minus = *y[0], &minus_half = *y[1], &base = *y[2], &plus_half = *y[3],
        &plus = *y[4];
  Differences d;
  auto add = [](Difference& sum, double weight, double change, double magnitude) {
    sum.value += weight * change;
    sum.roundoff += std::abs(weight) * magnitude;
  };
  // An output computed in float32 (returned as float32, or rounded to it inside) carries float32's
  // round-off: its values are all exactly representable as floats, which float64 results are not.
  bool moved = false, all_float32 = true;
  double largest_still = 0;  // largest |uₖ·yₖ| of the outputs that did not move
  for (std::size_t k = 0; k < u.size(); ++k) {
    const double m = minus[k], mh = minus_half[k], b = base[k], ph = plus_half[k], p = plus[k];
    if (m == b && mh == b && ph == b && p == b) {
      largest_still = std::max(largest_still, std::abs(u[k] * b));
      continue;  // this output does not depend on the point, or moves by less than its resolution
    }
    moved = true;
    all_float32 = all_float32 && is_float(m) && is_float(mh) && is_float(ph) && is_float(p);
    const double w = u[k];
    add(d.central_h, w, p - m, std::abs(p) + std::abs(m));
    add(d.central_half, w, ph - mh, std::abs(ph) + std::abs(mh));
    add(d.right_h, w, p - b, std::abs(p) + std::abs(b));
    add(d.right_half, w, ph - b, std::abs(ph) + std::abs(b));
    add(d.left_h, w, b - m, std::abs(b) + std::abs(m));
    add(d.left_half, w, b - mh, std::abs(b) + std::abs(mh));
    add(d.even, w, (p + m) - 4 * (ph + mh) + 6 * b,
        std::abs(p) + std::abs(m) + 4 * (std::abs(ph) + std::abs(mh)) + 6 * std::abs(b));
  }
  if (!moved) {
    // Nothing moved: the true changes are below the outputs' resolution (tanh(18 ± h) is 1 in
    // float64). The output this point affects then changed by at most about ε·|yₖ|; take the
    // largest, so a tiny analytic gradient (1e-15) is not called wrong against a numeric 0.
    for (Difference* x :
         {&d.central_h, &d.central_half, &d.right_h, &d.right_half, &d.left_h, &d.left_half})
      x->roundoff = 2 * largest_still;
    d.even.roundoff = 16 * largest_still;
  }
  const double epsilon = moved && all_float32 ? kFloat32Epsilon : kEpsilon;
  auto scale = [epsilon](Difference& difference, double divisor) {
    difference.value /= divisor;
    difference.roundoff *= epsilon / divisor;
  };
  scale(d.central_h, 2 * h);
  scale(d.central_half, h);
  scale(d.right_h, h);
  scale(d.right_half, h / 2);
  scale(d.left_h, h);
  scale(d.left_half, h / 2);
  scale(d.even, h);
  return d;
}

// How much more round-off f's outputs carry near a point than the model ε·|yₖ| says, from 17
// outputs y(t) at t = −h, −7h/8, ..., h. Their fourth differences are pure round-off for a
// smooth function (the smooth part is ~ (h/8)⁴·f⁽⁴⁾), and a kink spoils at most 4 of the 13;
// the factor is the median of |Σₖ uₖ·Δ⁴yₖ| over the median of its model, at least 1. It catches
// cancellation inside the op: log(1 + eˣ) at x = −18 is 1.5e-8 but carries the round-off of the 1.
double noise_factor(const std::vector<std::vector<double>>& y, const std::vector<double>& u) {
  const std::size_t stencils = y.size() - 4;
  std::vector<double> measured(stencils, 0.0), model(stencils, 0.0);
  bool all_float32 = true;
  for (std::size_t k = 0; k < u.size(); ++k) {
    bool moved = false;
    for (const auto& values : y) moved = moved || values[k] != y[0][k];
    if (!moved) continue;
    for (const auto& values : y) all_float32 = all_float32 && is_float(values[k]);
    for (std::size_t s = 0; s < stencils; ++s) {
      const double a = y[s][k], b = y[s + 1][k], c = y[s + 2][k], d = y[s + 3][k], e = y[s + 4][k];
      measured[s] += u[k] * ((a + e) - 4 * (b + d) + 6 * c);
      model[s] += std::abs(u[k]) *
                  (std::abs(a) + std::abs(e) + 4 * (std::abs(b) + std::abs(d)) + 6 * std::abs(c));
    }
  }
  auto median = [](std::vector<double> values) {
    for (double& v : values) v = std::abs(v);
    std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
    return values[values.size() / 2];
  };
  const double expected = (all_float32 ? kFloat32Epsilon : kEpsilon) * median(model);
  const double seen = median(measured);
  return expected > 0 && seen > expected ? seen / expected : 1.0;
}

// The numeric gradient at one point, or why there is none.
struct Estimate {
  enum class Kind {
    smooth,     // Richardson from the central differences
    one_sided,  // a kink within h: Richardson from the clean side's one-sided differences
    at_kink,    // the kink is at the point: [low, high] are the two one-sided slopes
    unchecked,  // a kink within h and neither side is clean (or f gave NaN/inf nearby)
  };
  Kind kind = Kind::smooth;
  double numeric = 0;
  double noise = 0;  // uncertainty of `numeric`: safety × round-off + truncation estimate
  double low = 0, high = 0;
};

// From the differences at one point: Richardson's value and its noise, or the kink handling.
Estimate estimate(const Differences& d, double safety, double floor) {
  Estimate result;
  const Difference &c1 = d.central_h, &c2 = d.central_half;
  const double scale = std::max({std::abs(c1.value), std::abs(c2.value), std::abs(d.right_h.value),
                                 std::abs(d.left_h.value)});
  for (const Difference* x :
       {&c1, &c2, &d.right_h, &d.right_half, &d.left_h, &d.left_half, &d.even}) {
    if (!std::isfinite(x->value)) {
      result.kind = Estimate::Kind::unchecked;
      return result;
    }
  }
  // Smooth: the central differences at h and h/2 agree up to round-off and O(h²) truncation, and
  // the even combination vanishes. A kink within h breaks one of the two.
  const double odd_gap = std::abs(c1.value - c2.value);
  const bool odd_smooth = odd_gap <= safety * (c1.roundoff + c2.roundoff) + 1e-6 * scale;
  const bool even_smooth = std::abs(d.even.value) <= safety * d.even.roundoff + 1e-6 * scale;
  if (odd_smooth && even_smooth) {
    result.numeric = (4 * c2.value - c1.value) / 3;
    result.noise = safety * (4 * c2.roundoff + c1.roundoff) / 3 + odd_gap + floor;
    return result;
  }
  // A kink within h. A side is clean when its one-sided slopes at h and h/2 agree (up to the
  // curvature of a smooth piece, O(h)); its Richardson value 2·D(h/2) − D(h) is then trusted.
  auto side = [&](const Difference& at_h, const Difference& at_half, bool& clean) {
    const double gap = std::abs(at_h.value - at_half.value);
    const double roundoff = safety * (2 * at_half.roundoff + at_h.roundoff);
    clean = gap <= roundoff + 1e-3 * std::max(std::abs(at_h.value), std::abs(at_half.value));
    return std::pair{2 * at_half.value - at_h.value, roundoff + gap + floor};
  };
  bool right_clean = false, left_clean = false;
  auto [right, right_noise] = side(d.right_h, d.right_half, right_clean);
  auto [left, left_noise] = side(d.left_h, d.left_half, left_clean);
  if (right_clean && left_clean) {
    result.kind = Estimate::Kind::at_kink;
    result.low = std::min(left, right);
    result.high = std::max(left, right);
    result.noise = std::max(left_noise, right_noise);
  } else if (right_clean || left_clean) {
    result.kind = Estimate::Kind::one_sided;
    result.numeric = right_clean ? right : left;
    result.noise = right_clean ? right_noise : left_noise;
  } else {
    result.kind = Estimate::Kind::unchecked;
  }
  return result;
}

// One checked point (an element or a direction) judged against its estimate.
struct Judgement {
  double numeric = 0;
  double noise = 0;
  double relative = 0;        // relative error above the noise
  bool within_noise = false;  // |a − n| ≤ noise
  bool noisy = false;         // the noise could hide a 1 % error
  bool kink = false;
  bool one_sided = false;
  bool unchecked = false;
  std::string band;
};

std::string band_name(double relative, bool kink) { return verdict_name(classify(relative, kink)); }

// `typical` is the size of a typical gradient entry at this point (see `typical_gradient`).
Judgement judge(double analytic, const Estimate& e, double typical) {
  Judgement j;
  j.kink = e.kind != Estimate::Kind::smooth;
  j.noise = e.noise;
  if (!std::isfinite(analytic)) {  // an infinite or NaN gradient is never right
    j.numeric = e.numeric;
    j.relative = std::numeric_limits<double>::infinity();
    j.band = "wrong";
    return j;
  }
  if (e.kind == Estimate::Kind::unchecked) {
    j.unchecked = true;
    j.numeric = std::numeric_limits<double>::quiet_NaN();
    j.band = "could not check (kink)";
    return j;
  }
  double numeric = e.numeric;
  if (e.kind == Estimate::Kind::at_kink) {
    // Any value between the two one-sided slopes is a valid choice at the kink itself (ReLU′(0)
    // = 0, |x|′(0) = 0); outside that range it is compared with the nearer slope.
    numeric = std::clamp(analytic, e.low, e.high);
  }
  j.numeric = numeric;
  j.one_sided = e.kind == Estimate::Kind::one_sided;
  const double gap = std::abs(analytic - numeric);
  const double magnitude = std::max(std::abs(analytic), std::abs(numeric));
  const double excess = std::max(0.0, gap - e.noise);
  j.relative = excess == 0 ? 0.0 : excess / magnitude;
  j.within_noise = gap <= e.noise;
  // Noisy: a 1 % error could hide in the noise. A gradient that is (nearly) zero, where the noise
  // is still below 1e-5 of a typical gradient, is not: an error there would have to be tiny.
  j.noisy = e.noise > 1e-2 * std::max(magnitude, 1e-3 * typical);
  if (e.kind == Estimate::Kind::at_kink && excess == 0) {
    // Consistent, but a point at a kink proves little: it counts as not checked.
    j.unchecked = true;
    j.within_noise = j.noisy = false;
    j.band = "at a kink, between the slopes";
  } else if (j.within_noise) {
    j.band = "within round-off";
  } else {
    j.band = band_name(j.relative, j.kink);
  }
  return j;
}

// The root mean square of all analytic gradient entries: the size of a typical one.
double typical_gradient(const std::vector<Tensor>& gradients) {
  double squares = 0;
  std::int64_t count = 0;
  for (const Tensor& g : gradients) {
    const double* values = g.const_data<double>();
    for (std::int64_t i = 0; i < g.numel(); ++i) {
      if (std::isfinite(values[i])) squares += values[i] * values[i];
    }
    count += g.numel();
  }
  return count > 0 ? std::sqrt(squares / static_cast<double>(count)) : 0.0;
}

std::vector<std::int64_t> position_of(std::int64_t flat, const Shape& shape) {
  std::vector<std::int64_t> position(shape.size());
  for (std::size_t axis = shape.size(); axis-- > 0;) {
    position[axis] = flat % shape[axis];
    flat /= shape[axis];
  }
  return position;
}

std::string place_string(const std::vector<std::int64_t>& position) {
  return fmt::format("[{}]", fmt::join(position, ", "));
}

// Ranks points for "worst": any error above the noise beats every point within it; among the
// latter, the one closest to its noise limit.
double badness(const Judgement& j, double analytic) {
  if (j.relative > 0) return 2 + j.relative;
  if (j.unchecked) return 1;
  const double gap = std::abs(analytic - j.numeric);
  return gap / (gap + j.noise + std::numeric_limits<double>::min());
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
  const double typical = typical_gradient(analytic);

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
  const std::vector<double> base = outputs(f, working);
  for (std::size_t k = 0; k < checked.size(); ++k) {
    std::size_t index = checked[k];
    Tensor& x = working[index];
    GradcheckInput report;
    report.name = index < options.input_names.size() ? options.input_names[index]
                                                     : "input" + std::to_string(index);
    report.shape = x.shape();
    const std::int64_t count = x.numel();
    std::int64_t wanted = options.sparse_elements;
    if (wanted == 0 && count > options.auto_sparse_above) wanted = options.auto_sparse_count;
    const bool sparse = wanted > 0 && wanted < count;
    const std::int64_t directions =
        options.directions >= 0 ? options.directions : (sparse ? options.auto_directions : 0);
    double* values = x.data<double>();
    const double* gradient = analytic[k].const_data<double>();

    // The checked points: single elements, then directions v with random entries ±1 (their
    // analytic value is uᵀ·J·v = Σ gradient ⊙ v).
    struct Point {
      std::int64_t element = -1, direction = -1;
      double analytic = 0;
      Differences differences;
      Judgement judgement;
    };
    std::vector<Point> points;
    for (std::int64_t element : pick_elements(count, sparse ? wanted : 0, rng)) {
      points.push_back(
          {.element = element, .analytic = gradient[element], .differences = {}, .judgement = {}});
    }
    std::bernoulli_distribution coin(0.5);
    std::vector<std::vector<double>> along(static_cast<std::size_t>(directions));
    for (std::int64_t direction = 0; direction < directions; ++direction) {
      std::vector<double>& v = along[static_cast<std::size_t>(direction)];
      double a = 0;
      for (std::int64_t i = 0; i < count; ++i) {
        v.push_back(coin(rng) ? 1.0 : -1.0);
        a += gradient[i] * v.back();
      }
      points.push_back({.direction = direction, .analytic = a, .differences = {}, .judgement = {}});
    }
    // f's outputs with x moved to x + t·(the point's element or direction).
    const std::vector<double> original(values, values + count);
    auto outputs_at = [&](const Point& point, double t) {
      if (point.element >= 0) {
        values[point.element] = original[point.element] + t;
      } else {
        const std::vector<double>& v = along[static_cast<std::size_t>(point.direction)];
        for (std::int64_t i = 0; i < count; ++i) values[i] = original[i] + t * v[i];
      }
      std::vector<double> y = outputs(f, working);
      std::copy(original.begin(), original.end(), values);
      return y;
    };
    // A typical gradient entry (for a direction: a typical uᵀ·J·v).
    auto typical_at = [&](const Point& point) {
      return point.element >= 0 ? typical : typical * std::sqrt(static_cast<double>(count));
    };
    auto judge_point = [&](Point& point, double safety) {
      point.judgement =
          judge(point.analytic, estimate(point.differences, safety, options.zero_floor),
                typical_at(point));
    };

    for (Point& point : points) {
      std::vector<double> minus = outputs_at(point, -h), minus_half = outputs_at(point, -h / 2),
                          plus_half = outputs_at(point, h / 2), plus = outputs_at(point, h);
      point.differences =
          differences({&minus, &minus_half, &base, &plus_half, &plus}, upstream_values, h);
      judge_point(point, options.noise_safety);
    }
    // A second look, with the round-off measured instead of modelled, at the points the model
    // may have misjudged: the kinks (cancellation inside an op looks like one) and the failing
    // points, worst first, until one failure is confirmed (one is enough to fail the input).
    auto second_look = [&](Point& point) {
      std::vector<std::vector<double>> y;
      for (int i = -8; i <= 8; ++i) y.push_back(outputs_at(point, i * h / 8));
      judge_point(point, options.noise_safety * noise_factor(y, upstream_values));
    };
    for (Point& point : points) {
      if (point.judgement.kink) second_look(point);
    }
    std::vector<Point*> failing;
    for (Point& point : points) {
      if (point.judgement.relative > 1e-7) failing.push_back(&point);
    }
    std::sort(failing.begin(), failing.end(), [](const Point* a, const Point* b) {
      return a->judgement.relative > b->judgement.relative;
    });
    for (Point* point : failing) {
      second_look(*point);
      if (point->judgement.relative > 1e-7) break;
    }

    double worst = -1;
    for (const Point& point : points) {
      const Judgement& j = point.judgement;
      report.elements_checked += point.element >= 0;
      report.directions_checked += point.direction >= 0;
      report.within_noise += j.within_noise;
      report.noisy += j.noisy;
      report.kink_elements += j.kink;
      report.one_sided += j.one_sided;
      report.unchecked += j.unchecked;
      if (!j.unchecked) report.max_relative_error = std::max(report.max_relative_error, j.relative);
      const double score = badness(j, point.analytic);
      if (score > worst) {
        worst = score;
        const std::int64_t element = point.element;
        report.worst_index = element;
        report.worst_position =
            element >= 0 ? position_of(element, x.shape()) : std::vector<std::int64_t>{};
        report.worst_place = element >= 0 ? place_string(report.worst_position)
                                          : "direction " + std::to_string(point.direction);
        report.value = element >= 0 ? original[element] : std::numeric_limits<double>::quiet_NaN();
        report.analytic = point.analytic;
        report.numeric = j.numeric;
        report.noise = j.noise;
        report.worst_band = j.band;
      }
    }

    // The verdict: an error above the noise decides; otherwise too little evidence is no pass.
    const std::int64_t checked_points = report.elements_checked + report.directions_checked;
    report.verdict = classify(report.max_relative_error, report.kink_elements > 0);
    const bool failed = report.verdict == GradcheckVerdict::wrong ||
                        report.verdict == GradcheckVerdict::uncomfortable;
    if (!failed && 2 * report.unchecked > checked_points) {
      report.verdict = GradcheckVerdict::inconclusive;
      report.advice = fmt::format(
          "{} of {} points are within h of a kink and could not be checked: move the test points "
          "away from the kinks",
          report.unchecked, checked_points);
    } else if (!failed && 2 * report.noisy > checked_points) {
      report.verdict = GradcheckVerdict::inconclusive;
      report.advice = fmt::format(
          "at {} of {} points the round-off noise could hide a 1 % error: does the op compute in "
          "float32 inside? Check it in float64",
          report.noisy, checked_points);
    }
    result.inputs.push_back(report);
  }

  result.passed = result.zero_upstream_ok && result.deterministic;
  bool failed = !result.passed;
  for (const GradcheckInput& input : result.inputs) {
    if (input.verdict != GradcheckVerdict::good &&
        input.verdict != GradcheckVerdict::fine_with_kinks) {
      result.passed = false;
    }
    if (input.verdict == GradcheckVerdict::wrong ||
        input.verdict == GradcheckVerdict::uncomfortable) {
      failed = true;
    }
  }
  result.inconclusive = !result.passed && !failed;
  return result;
}

std::string GradcheckResult::report() const {
  const char* outcome = passed ? "PASSED" : inconclusive ? "INCONCLUSIVE" : "FAILED";
  std::string text = fmt::format(
      "gradcheck {}: {} (float64; Richardson from central differences at h = {:g} and h/2)\n", name,
      outcome, step);
  text += fmt::format("  {:<10} {:<12} {:>11} {:>8} {:>6} {:>6} {:>6} {:>9} {:>13}  {}\n", "input",
                      "shape", "checked", "in noise", "noisy", "kinks", "1-side", "unchecked",
                      "max rel error", "verdict");
  for (const GradcheckInput& input : inputs) {
    std::string checked = std::to_string(input.elements_checked);
    if (input.directions_checked > 0) checked += fmt::format(" + {}d", input.directions_checked);
    text += fmt::format("  {:<10} {:<12} {:>11} {:>8} {:>6} {:>6} {:>6} {:>9} {:>13.3e}  {}\n",
                        input.name, shape_string(input.shape), checked, input.within_noise,
                        input.noisy, input.kink_elements, input.one_sided, input.unchecked,
                        input.max_relative_error, verdict_name(input.verdict));
  }
  text += fmt::format("  worst point   {:<10} {:<14} {:>12} {:>15} {:>15} {:>10}  {}\n", "input",
                      "at", "value", "analytic", "numeric", "noise", "band");
  for (const GradcheckInput& input : inputs) {
    text +=
        fmt::format("                {:<10} {:<14} {:>12.6g} {:>15.8g} {:>15.8g} {:>10.2e}  {}\n",
                    input.name, input.worst_place, input.value, input.analytic, input.numeric,
                    input.noise, input.worst_band);
  }
  for (const GradcheckInput& input : inputs) {
    if (!input.advice.empty())
      text += fmt::format("  {}: inconclusive, {}\n", input.name, input.advice);
  }
  text += fmt::format("  zero upstream gives zero gradient: {}\n", zero_upstream_ok ? "yes" : "NO");
  text += fmt::format("  backward is deterministic:         {}\n", deterministic ? "yes" : "NO");
  return text;
}

std::string GradcheckResult::to_json() const {
  nlohmann::json json;
  json["name"] = name;
  json["passed"] = passed;
  json["inconclusive"] = inconclusive;
  json["step"] = step;
  json["zero_upstream_ok"] = zero_upstream_ok;
  json["deterministic"] = deterministic;
  // JSON has no NaN: a missing number (the value at a direction) is null.
  auto number = [](double x) {
    return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr);
  };
  for (const GradcheckInput& input : inputs) {
    json["inputs"].push_back({{"name", input.name},
                              {"shape", input.shape},
                              {"elements_checked", input.elements_checked},
                              {"directions_checked", input.directions_checked},
                              {"within_noise", input.within_noise},
                              {"noisy", input.noisy},
                              {"kink_elements", input.kink_elements},
                              {"one_sided", input.one_sided},
                              {"unchecked", input.unchecked},
                              {"max_relative_error", number(input.max_relative_error)},
                              {"worst_index", input.worst_index},
                              {"worst_position", input.worst_position},
                              {"worst_place", input.worst_place},
                              {"value", number(input.value)},
                              {"analytic", number(input.analytic)},
                              {"numeric", number(input.numeric)},
                              {"noise", number(input.noise)},
                              {"worst_band", input.worst_band},
                              {"verdict", verdict_name(input.verdict)},
                              {"advice", input.advice}});
  }
  return json.dump(2);
}

}  // namespace gradlab
