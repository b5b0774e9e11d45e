// The shared checking code of the exercises (check.hpp).
#include "check.hpp"

#include <algorithm>
#include <exception>

namespace gradlab::exercises {
namespace {

bool close(double a, double b) { return std::abs(a - b) <= 1e-6 * (1.0 + std::abs(b)); }

/// True when mine ≈ factor · expected everywhere (and expected is not all zero).
bool is_scaled(const std::vector<double>& mine, const std::vector<double>& expected,
               double factor) {
  bool any_nonzero = false;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    if (!close(mine[i], factor * expected[i])) return false;
    any_nonzero = any_nonzero || expected[i] != 0.0;
  }
  return any_nonzero;
}

/// The mistakes that look the same in every exercise.
std::optional<std::string> general_hint(const std::vector<double>& mine,
                                        const std::vector<double>& expected) {
  if (std::all_of(mine.begin(), mine.end(), [](double v) { return v == 0.0; })) {
    return "every value is 0: is the TODO still there?";
  }
  if (std::any_of(mine.begin(), mine.end(), [](double v) { return !std::isfinite(v); })) {
    return "there are NaN or infinite values: a division by zero, or a log of 0?";
  }
  if (is_scaled(mine, expected, -1.0)) return "every sign is flipped: check the minus signs";
  for (double factor : {2.0, 0.5}) {
    if (is_scaled(mine, expected, factor)) {
      return fmt::format("your result is {} × the expected one: a factor of 2 counted {}", factor,
                         factor > 1 ? "twice or added" : "missing or halved");
    }
  }
  return std::nullopt;
}

}  // namespace

bool Checker::compare(const std::string& what, const std::vector<double>& mine,
                      const std::vector<double>& expected, const std::vector<Hint>& extra) {
  ++checks_;
  if (mine.size() != expected.size()) {
    ++failed_;
    fmt::print("  ✗ {}: {} values, expected {}\n", what, mine.size(), expected.size());
    return false;
  }
  std::size_t worst = 0;
  double worst_gap = 0.0;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    const double gap = std::abs(mine[i] - expected[i]) / (1.0 + std::abs(expected[i]));
    if (!(gap <= worst_gap)) worst = i, worst_gap = gap;  // NaN counts as the worst
  }
  if (mine.empty() || worst_gap <= 1e-6) {
    fmt::print("  ✓ {}\n", what);
    return true;
  }
  ++failed_;
  fmt::print("  ✗ {}: element {} is {:.6g}, expected {:.6g}\n", what, worst, mine[worst],
             expected[worst]);
  std::optional<std::string> hint;
  for (const Hint& guess : extra) {
    if ((hint = guess(mine, expected))) break;
  }
  if (!hint) hint = general_hint(mine, expected);
  if (hint) fmt::print("    hint: {}\n", *hint);
  return false;
}

bool Checker::compare(const std::string& what, const Tensor& mine, const Tensor& expected,
                      const std::vector<Hint>& extra) {
  if (!mine.defined()) {
    ++checks_, ++failed_;
    fmt::print("  ✗ {}: your function returned an undefined tensor\n", what);
    return false;
  }
  if (mine.shape() != expected.shape()) {
    ++checks_, ++failed_;
    const bool transposed = mine.dim() == 2 && expected.dim() == 2 &&
                            mine.size(0) == expected.size(1) && mine.size(1) == expected.size(0);
    fmt::print("  ✗ {}: shape {}, expected {}{}\n", what, shape_string(mine.shape()),
               shape_string(expected.shape()),
               transposed ? " (transposed: which side of the product does it go on?)" : "");
    return false;
  }
  return compare(what, mine.to_vector(), expected.to_vector(), extra);
}

bool Checker::expect(const std::string& what, bool holds, const std::string& why_not) {
  ++checks_;
  if (holds) {
    fmt::print("  ✓ {}\n", what);
    return true;
  }
  ++failed_;
  fmt::print("  ✗ {}: {}\n", what, why_not);
  return false;
}

int Checker::finish() const {
  if (failed_ == 0) {
    fmt::print("SOLVED: all {} checks of '{}' passed\n", checks_, title_);
    return 0;
  }
  fmt::print("NOT YET: {} of {} checks of '{}' failed\n", failed_, checks_, title_);
  return 1;
}

Hint scaled_by(double factor, std::string question) {
  return [factor, question](const std::vector<double>& mine,
                            const std::vector<double>& expected) -> std::optional<std::string> {
    if (!is_scaled(mine, expected, factor)) return std::nullopt;
    return fmt::format("your result is {:.4g} × the expected one: {}", factor, question);
  };
}

int run_checks(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& error) {
    fmt::print("NOT YET: your code raised an error: {}\n", error.what());
    return 2;
  }
}

}  // namespace gradlab::exercises
