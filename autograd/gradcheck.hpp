#pragma once
/// \file autograd/gradcheck.hpp
/// \brief Numerical gradient checking of any op, including the ones you write yourself.
///
/// `gradcheck(f, inputs)` compares the analytic gradient (your backward) with central
/// differences (f(x + h) − f(x − h)) / 2h, in float64 on the reference backend whatever backend
/// is active. For each input it reports the largest relative error |a − n| / max(|a|, |n|), the
/// element where it happens, both values there, and a verdict from the course notes' bands:
///
/// | max relative error | verdict |
/// |---|---|
/// | > 1e-2 | wrong |
/// | 1e-2 … 1e-4 | uncomfortable |
/// | 1e-4 … 1e-7 | fine only if the function has kinks (ReLU, max, ...) |
/// | ≤ 1e-7 | good |
///
/// It also checks that a zero upstream gradient gives zero gradients, that two backward passes
/// give identical results, and flags kinks: where the one-sided differences (f(x+h) − f(x))/h and
/// (f(x) − f(x−h))/h disagree, the numeric gradient is unreliable, so such elements are counted
/// and reported instead of being called a bug. Big inputs can be checked on k random elements.
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
  double step = 1e-5;                ///< h of the central difference.
  double zero_floor = 1e-8;          ///< Both |a|, |n| below this: counted as agreement.
  std::int64_t sparse_elements = 0;  ///< Check only this many random elements per input (0: all).
  std::int64_t auto_sparse_above = 20000;  ///< Inputs bigger than this are checked sparsely (200).
  std::uint64_t seed = 1234;               ///< Seed of the upstream gradient and sparse picks.
  bool check_zero_upstream = true;         ///< Zero upstream must give zero gradients.
  bool check_determinism = true;           ///< Two backward passes must agree bit for bit.
  std::string name = "function";           ///< Shown in the report.
  std::vector<std::string> input_names;    ///< Shown in the report (default: input0, input1, ...).
};

/// How trustworthy a gradient is, from the course notes' bands.
enum class GradcheckVerdict {
  good,             ///< ≤ 1e-7.
  fine_with_kinks,  ///< 1e-7 … 1e-4 and the input has kinks near the checked points.
  uncomfortable,    ///< 1e-4 … 1e-2, or 1e-7 … 1e-4 without kinks.
  wrong,            ///< > 1e-2: the backward is almost certainly wrong.
};

/// Name of a verdict ("good", "fine with kinks", "uncomfortable", "wrong").
const char* verdict_name(GradcheckVerdict verdict);

/// The check of one input.
struct GradcheckInput {
  std::string name;                   ///< Input name.
  Shape shape;                        ///< Input shape.
  std::int64_t elements_checked = 0;  ///< How many elements were perturbed.
  std::int64_t kink_elements = 0;     ///< Elements where one-sided differences disagree.
  double max_relative_error = 0;      ///< Largest relative error over non-kink elements.
  std::int64_t worst_index = -1;      ///< Flat index of that element (−1: none checked).
  double analytic = 0;                ///< Analytic gradient at the worst element.
  double numeric = 0;                 ///< Numeric gradient at the worst element.
  GradcheckVerdict verdict = GradcheckVerdict::good;  ///< The band of max_relative_error.
};

/// Everything a gradient check found.
struct GradcheckResult {
  std::string name;                    ///< Function name from the options.
  std::vector<GradcheckInput> inputs;  ///< One entry per checked input.
  bool zero_upstream_ok = true;        ///< Zero upstream gave zero gradients.
  bool deterministic = true;           ///< Two backward passes agreed exactly.
  bool passed = false;                 ///< Every input good or fine with kinks, and both checks ok.
  double step = 1e-5;                  ///< h used.

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
/// every output element takes part.
GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace gradlab
