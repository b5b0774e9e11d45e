#pragma once
/// \file tutorials/exercises/check.hpp
/// \brief What every exercise checker shares: compare a learner's result with the expected one,
/// say where they differ, and guess the usual mistake behind the difference.
///
/// A checker prints one line per check ("ok" or what is wrong, with a hint) and exits with 0
/// when every check passed, 1 when one failed (the exercise is not solved yet), 2 when the
/// learner's code threw an error.

#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "autograd/tensor.hpp"

namespace gradlab::exercises {

/// A guess at what went wrong: returns a hint when it recognises the mistake.
using Hint = std::function<std::optional<std::string>(const std::vector<double>& mine,
                                                      const std::vector<double>& expected)>;

/// Collects the outcome of an exercise's checks.
class Checker {
 public:
  /// Starts the checks of exercise `title`.
  explicit Checker(std::string title) : title_(std::move(title)) {
    fmt::print("exercise: {}\n", title_);
  }

  /// Compares two lists of numbers (same meaning, e.g. the elements of dx). Passes when every
  /// |mine − expected| ≤ 1e-6 · (1 + |expected|). Otherwise prints the worst element and the
  /// first hint that recognises the mistake (the `extra` ones first, then the general ones).
  bool compare(const std::string& what, const std::vector<double>& mine,
               const std::vector<double>& expected, const std::vector<Hint>& extra = {});

  /// Compares two tensors: shapes first (naming both), then their elements.
  bool compare(const std::string& what, const Tensor& mine, const Tensor& expected,
               const std::vector<Hint>& extra = {});

  /// A yes/no check with its own message when it fails.
  bool expect(const std::string& what, bool holds, const std::string& why_not);

  /// Prints the verdict; returns the exit status (0 solved, 1 not yet).
  int finish() const;

 private:
  std::string title_;
  int checks_ = 0;
  int failed_ = 0;
};

/// Hint when mine ≈ factor · expected: "your result is `factor` × the expected one: `question`".
Hint scaled_by(double factor, std::string question);

/// Runs `body` (the checks) and turns an exception from the learner's code into a message and
/// exit status 2, so a checker never ends in a crash.
int run_checks(const std::function<int()>& body);

}  // namespace gradlab::exercises
