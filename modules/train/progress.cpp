// The progress bar: drawing with carriage returns on terminals, one line per epoch elsewhere.
#include "modules/train/progress.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <ostream>

#include "backends/types.hpp"

namespace gradlab::train {

ProgressStyle parse_progress_style(const std::string& text) {
  if (text == "auto") return ProgressStyle::automatic;
  if (text == "bar") return ProgressStyle::bar;
  if (text == "lines") return ProgressStyle::lines;
  if (text == "none") return ProgressStyle::none;
  throw Error("progress style: expected auto, bar, lines or none, got '" + text + "'");
}

bool is_terminal(const std::ostream& out) {
  if (&out == &std::cout) return ::isatty(STDOUT_FILENO) != 0;
  if (&out == &std::cerr || &out == &std::clog) return ::isatty(STDERR_FILENO) != 0;
  return false;
}

ProgressBar::ProgressBar(std::ostream& out, std::int64_t total_steps, ProgressStyle style)
    : out_(out),
      total_(std::max<std::int64_t>(total_steps, 1)),
      style_(style),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  if (style_ == ProgressStyle::automatic)
    style_ = is_terminal(out) ? ProgressStyle::bar : ProgressStyle::lines;
}

std::string ProgressBar::format_duration(double seconds) {
  if (!(seconds >= 0.0)) return "?";
  const auto whole = static_cast<long long>(seconds + 0.5);
  if (whole < 60) return fmt::format("{}s", whole);
  if (whole < 3600) return fmt::format("{}m{:02}s", whole / 60, whole % 60);
  return fmt::format("{}h{:02}m", whole / 3600, (whole % 3600) / 60);
}

void ProgressBar::update(std::int64_t step, double loss, double accuracy) {
  if (style_ != ProgressStyle::bar) return;
  const auto now = std::chrono::steady_clock::now();
  // Redraw at most ten times a second, and always at the last step.
  if (step < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double fraction =
      std::clamp(static_cast<double>(step) / static_cast<double>(total_), 0.0, 1.0);
  const double eta =
      step > 0 ? elapsed / static_cast<double>(step) * static_cast<double>(total_ - step) : -1.0;
  constexpr int width = 30;
  const int filled = static_cast<int>(fraction * width);
  std::string line = "[" + std::string(static_cast<std::size_t>(filled), '#') +
                     std::string(static_cast<std::size_t>(width - filled), '.') + "] ";
  line += fmt::format("{}/{}  {:3.0f}%  ETA {}  loss {:.4f}", step, total_, 100.0 * fraction,
                      format_duration(eta), loss);
  if (accuracy >= 0.0) line += fmt::format("  val {:.2f}%", 100.0 * accuracy);
  const std::size_t length = line.size();
  if (length < drawn_width_) line += std::string(drawn_width_ - length, ' ');  // wipe leftovers
  drawn_width_ = length;
  out_ << '\r' << line << std::flush;
}

void ProgressBar::clear() {
  if (style_ != ProgressStyle::bar || drawn_width_ == 0) return;
  out_ << '\r' << std::string(drawn_width_, ' ') << '\r' << std::flush;
  drawn_width_ = 0;
}

void ProgressBar::end_epoch(const std::string& summary) {
  if (style_ == ProgressStyle::none) return;
  clear();
  out_ << summary << '\n' << std::flush;
}

}  // namespace gradlab::train
