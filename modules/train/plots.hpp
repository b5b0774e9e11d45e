#pragma once
/// \file modules/train/plots.hpp
/// \brief Pictures of training (namespace `gradlab::plots`): loss curve, train/val accuracy,
/// update/weight ratios, hyperparameter scatter, activation histograms, and a terminal sparkline.
///
/// Every plot writes three files side by side: the data as CSV (`loss.csv`), a gnuplot script
/// (`loss.gp`, kept so that a learner can change it and run `cd DIR && gnuplot loss.gp`), and the
/// picture (`loss.png`) made by running gnuplot (Debian `gnuplot-nox`) on the script. Without
/// gnuplot, or when it fails, the CSV and the script are still written and the result carries a
/// one-line note saying so; nothing throws for a missing gnuplot. A file that cannot be written
/// (disk full) raises `gradlab::Error` naming it, and no empty or partial file is left behind.
///
/// \code
///   plots::PlotResult plot = plots::loss_curve(history.loss, "runs/first/loss.png");
///   if (!plot.drawn) std::cout << plot.note << "\n";
///   std::cout << "loss " << plots::sparkline(history.loss, 60) << "\n";   // ▇▆▅▄▃▃▂▂▂▁▁…
/// \endcode
///
/// Every picture follows three rules, checked by `audit_script` when it is drawn (a script that
/// breaks one is refused with a `gradlab::Error` listing what is missing, and nothing is written):
/// - a title (`set title '...'`, or the title of a `set multiplot`), not empty;
/// - an x and a y axis label (`set xlabel`, `set ylabel`) that names its unit in parentheses or
///   brackets: "time (ms)", "loss (cross-entropy, nats)", "accuracy (fraction)", "count (images)",
///   "w0 [weight value]". A pure number names what kind of number it is: "(fraction)", "(ratio)",
///   "(count)", "(dimensionless)";
/// - a legend when a `plot` command draws more than one curve: the key is not switched off and
///   every curve has a non-empty `title`.
///
/// The gnuplot command is `$GRADLAB_GNUPLOT` when set, else "gnuplot"; `PlotSettings::gnuplot`
/// overrides both (tests point it at a program that does not exist to check the fallback).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "autograd/tensor.hpp"
#include "modules/nn/layers.hpp"
#include "modules/train/search.hpp"
#include "modules/train/trainer.hpp"

namespace gradlab::plots {

/// The gnuplot command used by default: `$GRADLAB_GNUPLOT` when set and non-empty, else "gnuplot".
std::string default_gnuplot_command();

/// How to draw.
struct PlotSettings {
  std::string gnuplot = default_gnuplot_command();  ///< Program run on the script.
  int width = 900;                                  ///< Picture width in pixels.
  int height = 560;                                 ///< Picture height in pixels.
  /// The y axis's range, for curves meant to be compared with another picture's (give both the
  /// same range); empty: gnuplot fits it to the data. Used by `loss_curve`.
  std::optional<std::pair<double, double>> y_range{};
  /// The y axis's label, with its unit (see the rules above); empty: the plot's own ("loss
  /// (nats)" for `loss_curve`). Used by `loss_curve`.
  std::string y_label{};
  /// The picture's title; empty: the plot's own. Used by `loss_curve`.
  std::string title{};
};

/// What a plot call wrote.
struct PlotResult {
  std::filesystem::path csv;     ///< The data (always written).
  std::filesystem::path script;  ///< The gnuplot script (always written).
  std::filesystem::path png;     ///< The picture (exists when `drawn`).
  bool drawn = false;            ///< gnuplot ran and the PNG is non-empty.
  std::string note;              ///< One line explaining why there is no picture ("" when drawn).
};

/// `text` as a gnuplot string constant that gnuplot reads back as exactly `text` and never
/// interprets: single-quoted (a quote doubled) when it holds no control character, else
/// double-quoted with octal escapes for control characters, quotes, backslashes, backquotes,
/// '@' and '$'. Every path, title and label written into a script goes through here, so a newline
/// in a path cannot end a command and no text can reach `system` or `command` substitution.
std::string gnuplot_string(std::string_view text);

/// What `script` lacks of the picture rules above, one sentence per problem ("plot 1: the y label
/// 'loss' names no unit in parentheses or brackets"); empty when it follows them all. Lines are
/// read as gnuplot reads them: a trailing backslash continues a command, `#` starts a comment
/// line, and `set`/`unset` apply to every later `plot` until changed.
std::vector<std::string> audit_script(std::string_view script);

/// The files of a picture: `png`, and beside it the CSV and the gnuplot script (.csv, .gp).
PlotResult file_names(const std::filesystem::path& png);

/// Writes `script` to `png`'s .gp file, runs gnuplot on it in that folder (no shell involved)
/// and says whether `png` was drawn. The script names its files relative to that folder. Every
/// picture the project draws goes through here (and the plot functions below). A script that
/// breaks the picture rules (`audit_script`) raises `gradlab::Error` naming `png` and every
/// problem, before anything is written.
PlotResult draw_script(const std::filesystem::path& png, const std::string& script,
                       const PlotSettings& settings = {});

/// The smallest and largest finite value over all `curves`, widened by 5 % on each side: a y
/// range that several pictures can share (`PlotSettings::y_range`). (0, 1) when none is finite.
std::pair<double, double> common_range(const std::vector<std::vector<double>>& curves);

/// True when `settings.gnuplot` can be started (runs `gnuplot --version`).
bool gnuplot_available(const PlotSettings& settings = {});

/// Loss per iteration (and a moving average over ~2% of the run) → `png` (+ .csv, .gp).
PlotResult loss_curve(const std::vector<double>& loss, const std::filesystem::path& png,
                      const PlotSettings& settings = {});

/// Train and validation accuracy per epoch. A big gap means overfitting (more regularisation);
/// no gap, too little capacity.
PlotResult accuracy_curves(const std::vector<train::EpochRecord>& epochs,
                           const std::filesystem::path& png, const PlotSettings& settings = {});

/// Update/weight ratio ‖Δθ‖ / ‖θ‖ per parameter over the iterations, log y, with the lecture's
/// target 1e-3 as a dashed line.
PlotResult update_ratio_curves(const std::vector<train::UpdateRatio>& ratios,
                               const std::filesystem::path& png, const PlotSettings& settings = {});

/// Hyperparameter scatter: each converged trial at (x, y) = (its `x_name`, its `y_name` value),
/// coloured by its score; diverged trials as grey crosses. Axes are logarithmic for log ranges
/// (taken from the search's first stage).
PlotResult hyperparameter_scatter(const train::SearchResult& search, const std::string& x_name,
                                  const std::string& y_name, const std::filesystem::path& png,
                                  const PlotSettings& settings = {});

/// The values one layer produced, for a histogram.
struct LayerActivations {
  std::string name;           ///< E.g. "layer 2 (ReLU)".
  std::vector<float> values;  ///< Every output value of the layer on the probe batch.
};

/// Runs `x` through `net` layer by layer without recording a graph (in the net's current
/// train/eval mode) and keeps the output of every activation layer (Sigmoid, Tanh, ReLU,
/// LeakyReLU, ELU, PReLU, Maxout); when the net has none, the output of every layer.
std::vector<LayerActivations> collect_activations(nn::Sequential& net, const Tensor& x);

/// One histogram panel per layer (multiplot), `bins` bins each, with the mean and standard
/// deviation in each panel's title and one x axis shared by all panels — the lecture's picture
/// of activations collapsing or saturating layer by layer.
PlotResult activation_histograms(const std::vector<LayerActivations>& layers,
                                 const std::filesystem::path& png, std::int64_t bins = 50,
                                 const PlotSettings& settings = {});

/// A one-line picture of a series with the eight block characters ▁▂▃▄▅▆▇█: the series is cut
/// into `width` consecutive groups, each drawn at the height of its mean, scaled between the
/// smallest and the largest group mean. Non-finite values are skipped (a group of only
/// non-finite values prints '!'). Empty input gives "".
std::string sparkline(const std::vector<double>& values, std::size_t width = 60);

/// Writes loss.png, accuracy.png and update_ratios.png (with CSV and scripts) for `history` into
/// `directory`; returns the three results in that order.
std::vector<PlotResult> training_plots(const train::History& history,
                                       const std::filesystem::path& directory,
                                       const PlotSettings& settings = {});

}  // namespace gradlab::plots
