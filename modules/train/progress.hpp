#pragma once
/// \file modules/train/progress.hpp
/// \brief `train::ProgressBar`: a one-line progress display with ETA, loss and accuracy.
///
/// On a terminal the bar redraws itself in place with a carriage return (at most about ten
/// times a second, so printing never slows training down); when the output is a file or a pipe
/// (a CI log), it stays silent during the epoch and prints one plain line per epoch instead, so
/// logs are not flooded with thousands of partial lines.
///
/// \code
///   train::ProgressBar bar(std::cerr, total_iterations);
///   for (std::int64_t i = 1; i <= total_iterations; ++i) {
///     ... one training step ...
/// bar.update(i, loss);                            // "[#####.....] 512/2140  ETA 12s  loss 0.412"
///   }
///   bar.end_epoch("epoch 1/5  loss 0.41  train 86.2%  val 85.9%");
/// \endcode

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace gradlab::train {

/// How progress is shown.
enum class ProgressStyle {
  automatic,  ///< `bar` when the stream is a terminal, `lines` otherwise.
  bar,        ///< Redraw one line in place (carriage return), plus a line per epoch.
  lines,      ///< Only one line per epoch (for logs).
  none,       ///< Print nothing.
};

/// Parses "auto", "bar", "lines" or "none"; raises `gradlab::Error` for anything else.
ProgressStyle parse_progress_style(const std::string& text);

/// True when `out` is `std::cout` or `std::cerr` and that stream is attached to a terminal.
bool is_terminal(const std::ostream& out);

/// A progress display over a known number of steps.
class ProgressBar {
 public:
  /// Shows progress over `total_steps` steps on `out` in the given style (`automatic` picks
  /// `bar` on a terminal and `lines` elsewhere). The clock for the ETA starts now.
  ProgressBar(std::ostream& out, std::int64_t total_steps,
              ProgressStyle style = ProgressStyle::automatic);

  /// Reports that `step` of the total steps are done, with the latest loss and (when known,
  /// i.e. ≥ 0) the latest validation accuracy. ETA = elapsed / step · (total − step).
  void update(std::int64_t step, double loss, double accuracy = -1.0);
  /// Ends an epoch: clears the bar (in `bar` style) and prints `summary` on its own line.
  void end_epoch(const std::string& summary);
  /// Removes the bar from the screen (in `bar` style) so that other output starts on a clean line.
  void clear();
  /// The style in use (never `automatic`).
  ProgressStyle style() const { return style_; }

  /// A duration as "42s", "3m07s" or "1h02m".
  static std::string format_duration(double seconds);

 private:
  std::ostream& out_;
  std::int64_t total_;
  ProgressStyle style_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::size_t drawn_width_ = 0;
};

}  // namespace gradlab::train
