#pragma once
/// \file autograd/gradcheck.hpp
/// \brief Numerical gradient checking of any op, including the ones you write yourself.
///
/// `gradcheck(f, inputs)` compares the analytic gradient (your backward) with finite differences,
/// in float64 on the reference backend whatever backend is active. The scalar it differentiates is
/// L(x) = Σ u ⊙ f(x) for a fixed random upstream gradient u.
///
/// **Numeric gradient.** For each checked element it evaluates f at x − h, x − h/2, x, x + h/2 and
/// x + h, subtracts the outputs element by element *before* the weighted sum (so the cancellation
/// in Σ u ⊙ f does not hide the round-off), and combines the central differences at h and h/2 by
/// Richardson extrapolation, n = (4·D(h/2) − D(h)) / 3, which is accurate to O(h⁴).
///
/// **Noise estimate.** Every element gets an uncertainty: the round-off of the differences,
/// ε·Σ|uᵢ|·(|yᵢ(x+h)| + |yᵢ(x−h)|)/2h summed over the outputs that moved (times a safety
/// factor), plus the truncation estimate |D(h) − D(h/2)|. An element whose |a − n| is within that
/// noise "agrees within round-off" and never fails the check; above it, the part of |a − n| the
/// noise cannot explain, relative to max(|a|, |n|), is judged with the course notes' bands
/// (before failing a point, the round-off is measured from 17 evaluations h/8 apart, which
/// catches cancellation inside an op that the model cannot see):
///
/// | relative error above the noise | verdict |
/// |---|---|
/// | > 1e-2 | wrong |
/// | 1e-2 … 1e-4 | uncomfortable |
/// | 1e-4 … 1e-7 | fine only if the function has kinks (ReLU, max, ...) |
/// | ≤ 1e-7 | good |
///
/// **Kinks.** Where the differences at h and h/2 are not those of a smooth function, a kink lies
/// within h of the point. It is then checked with the one-sided difference on the side whose
/// slopes at h and h/2 agree (the side away from the kink); when both sides are clean the kink is
/// at the point itself and the analytic value must lie between the two one-sided slopes (ReLU′(0)
/// = 0 does), but such a point counts as "could not check", as does one with no clean side.
///
/// **Inconclusive, never passed**: when more than half of an input's checked points could not be
/// checked (move the points away from the kinks), or when at more than half of them the noise is
/// so large that a 1 % error could hide in it (an op that computes in float32 inside).
///
/// **Big inputs** (more than `auto_sparse_above` elements) are checked on `auto_sparse_count`
/// random elements plus `auto_directions` random directions v: uᵀ·J·v from the analytic gradient
/// against the finite difference of L along v, which sees every element at once.
///
/// It also checks that a zero upstream gradient gives zero gradients and that two backward passes
/// give identical results. The page "Checking your own op" (docs/checking_your_own_op.md) shows
/// how to read the report.
///
/// \code
///   auto x = gradlab::randn({4, 5}, {.dtype = DType::float64, .requires_grad = true});
///   auto result = gradlab::gradcheck([](const auto& in) { return gradlab::tanh(in[0]); }, {x});
///   std::cout << result.report();      // table + verdict
///   assert(result.passed);
/// \endcode

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/tensor.hpp"

namespace gradlab {

/// Settings of a gradient check.
struct GradcheckOptions {
  double step = 1e-5;  ///< h of the finite differences (h/2 is used too, for Richardson).
  /// An absolute tolerance added to every element's noise estimate (0: the noise model alone).
  /// Before the noise model this was a floor under which both values counted as agreement.
  double zero_floor = 0;
  std::int64_t sparse_elements = 0;  ///< Check only this many random elements per input (0: all).
  std::int64_t auto_sparse_above = 4096;  ///< Bigger inputs are checked sparsely and by direction.
  std::int64_t auto_sparse_count = 100;   ///< Random elements checked in that case.
  /// Directional checks per input: −1 (automatic) gives `auto_directions` when an input is checked
  /// sparsely (explicitly or above `auto_sparse_above`) and none otherwise.
  std::int64_t directions = -1;
  std::int64_t auto_directions = 4;  ///< Directions of the automatic choice.
  double noise_safety = 8;    ///< Safety factor on the round-off model (see the file comment).
  std::uint64_t seed = 1234;  ///< Seed of the upstream gradient and sparse picks.
  bool check_zero_upstream = true;       ///< Zero upstream must give zero gradients.
  bool check_determinism = true;         ///< Two backward passes must agree bit for bit.
  std::string name = "function";         ///< Shown in the report.
  std::vector<std::string> input_names;  ///< Shown in the report (default: input0, input1, ...).
};

/// How trustworthy a gradient is, from the course notes' bands.
enum class GradcheckVerdict {
  good,             ///< ≤ 1e-7.
  fine_with_kinks,  ///< 1e-7 … 1e-4 and the input has kinks near the checked points.
  uncomfortable,    ///< 1e-4 … 1e-2, or 1e-7 … 1e-4 without kinks.
  wrong,            ///< > 1e-2: the backward is almost certainly wrong.
  /// Nothing wrong seen, but too little could be checked: most points sit at kinks, or the
  /// round-off noise could hide a 1 % error at most points. Never a pass.
  inconclusive,
};

/// Name of a verdict ("good", "fine with kinks", "uncomfortable", "wrong", "inconclusive").
const char* verdict_name(GradcheckVerdict verdict);

/// The check of one input. Counts are of checked points: elements, then directions.
struct GradcheckInput {
  std::string name;                     ///< Input name.
  Shape shape;                          ///< Input shape.
  std::int64_t elements_checked = 0;    ///< How many single elements were perturbed.
  std::int64_t directions_checked = 0;  ///< How many random directions were checked.
  std::int64_t within_noise = 0;        ///< Points where |a − n| is within the noise estimate.
  std::int64_t noisy = 0;               ///< Points where the noise could hide a 1 % error.
  std::int64_t kink_elements = 0;  ///< Points within h of a kink (the differences are not smooth).
  std::int64_t one_sided = 0;      ///< Kink points checked with a one-sided difference.
  std::int64_t unchecked = 0;      ///< Kink points that could not be checked.
  /// Largest relative error above the noise, max(0, |a − n| − noise) / max(|a|, |n|), over the
  /// checked points (0 when every point agrees within round-off).
  double max_relative_error = 0;
  std::int64_t worst_index = -1;  ///< Flat index of the worst element (−1: a direction or none).
  std::vector<std::int64_t> worst_position;  ///< Its multi-index (empty for a direction).
  std::string worst_place = "-";             ///< Where, for people: "[12, 7]" or "direction 2".
  double value = 0;              ///< Input value at the worst element (NaN for a direction).
  double analytic = 0;           ///< Analytic gradient (or uᵀ·J·v) at the worst point.
  double numeric = 0;            ///< Numeric gradient at the worst point.
  double noise = 0;              ///< Noise estimate of the numeric gradient there.
  std::string worst_band = "-";  ///< That point's own band ("within round-off", "wrong", ...).
  GradcheckVerdict verdict = GradcheckVerdict::good;  ///< The verdict for this input.
  std::string advice;  ///< Why an input is inconclusive and what to do (empty otherwise).
};

/// Everything a gradient check found.
struct GradcheckResult {
  std::string name;                    ///< Function name from the options.
  std::vector<GradcheckInput> inputs;  ///< One entry per checked input.
  bool zero_upstream_ok = true;        ///< Zero upstream gave zero gradients.
  bool deterministic = true;           ///< Two backward passes agreed exactly.
  bool passed = false;                 ///< Every input good or fine with kinks, and both checks ok.
  /// Nothing failed but some input is inconclusive (then `passed` is false).
  bool inconclusive = false;
  double step = 1e-5;  ///< h used.

  /// A readable table with the verdict per input and the two extra checks.
  std::string report() const;
  /// The same as JSON (for tools and tests).
  std::string to_json() const;
};

/// A function of tensors to check: takes the inputs, returns one tensor (any shape).
using GradcheckFunction = std::function<Tensor(const std::vector<Tensor>&)>;

/// Checks `f`'s analytic gradients with respect to every float input that requires a gradient
/// (all float inputs when none does). Inputs are copied to float64 and everything runs on the
/// reference backend. A non-scalar output is reduced as Σ f(x) ⊙ u with a fixed random u, so
/// every output element takes part. Costs 4 evaluations of `f` per checked element or direction,
/// and 17 more for each second look.
GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace gradlab
