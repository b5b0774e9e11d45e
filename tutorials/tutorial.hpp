#pragma once
/// \file tutorials/tutorial.hpp
/// \brief The frame every tutorial chapter shares: flags, headers, steps, tables, pictures and
/// the chapter's key claims.
///
/// A chapter is a `main` that hands its body to `run_chapter`:
/// \code
///   int main(int argc, char** argv) {
///     return gradlab::tutorial::run_chapter(argc, argv, {1, "computational_graph",
///         "Computational graphs and backpropagation"}, [](Chapter& chapter) {
///       chapter.step("Build f = (x + y) * z");
///       chapter.say("We make three scalar nodes ...");
///       ...
///       chapter.claim("df/dx = -4", std::abs(dx + 4) < 1e-12, fmt::format("{}", dx));
///       chapter.summary("f = -12 and its gradients -4, -4, 3 come out of local x upstream");
///     });
///   }
/// \endcode
/// Claims are what the chapter's test checks: the program exits non-zero when one fails, and
/// CTest runs every chapter with `--quick`.
///
/// A chapter's own flags come through `extra_flags`, and its "Try this" suggestions name them;
/// CTest runs each suggestion too (tests/tutorials/try_this.sh), so a suggestion must leave every
/// claim true and every printed conclusion computed from the run:
/// \code
///   double lr = 0;
///   return run_chapter(argc, argv, {8, "babysitting_learning", "Babysitting the learning process",
///       {{"--lr 2", "what the run with lr 2 shows, and why"}, ...}},
///       [&lr](Chapter& chapter) { ... },
///       [&lr](CLI::App& app) {
///         app.add_option("--lr", lr, "Adds this learning rate to the sweep")
///             ->check(gradlab::cli::number_check("in (0, 1e5]", ...));
///       });
/// \endcode

#include <functional>
#include <string>
#include <vector>

#include "modules/app/cli.hpp"
#include "modules/data/data.hpp"

namespace CLI {
class App;
}

namespace gradlab::tutorial {

/// One "Try this" suggestion at the end of a chapter: flags to add to the chapter's command, and
/// what to look for in that run.
struct TryThis {
  std::string flags;  ///< E.g. "--lr 3e-3"; every `--name` must be a flag the chapter takes.
  std::string what;   ///< What the run shows, and why, in a sentence or two.
};

/// Number, short name (folder and program name) and title of a chapter, and its "Try this"
/// suggestions (two or three; printed at the end of the run and in `--help`).
struct ChapterInfo {
  int number = 0;                 ///< 1 … 13.
  std::string slug;               ///< e.g. "computational_graph" → out/01_computational_graph/.
  std::string title;              ///< Shown in the header.
  std::vector<TryThis> try_this;  ///< The chapter's suggestions (see `try_this_text`).
};

/// The "Try this" block of a chapter: a heading, then per suggestion the command line
/// ("  ./gradlab chapter 8 --lr 3e-3", which the try-this test extracts and runs) and, indented
/// below it, what to look for. Empty when the chapter has no suggestions.
std::string try_this_text(const ChapterInfo& info);

/// What a chapter body uses to talk to the learner.
class Chapter {
 public:
  /// Made by `run_chapter` after the flags are parsed.
  Chapter(ChapterInfo info, cli::CommonOptions options);

  /// The parsed flags.
  const cli::CommonOptions& options() const { return options_; }
  /// True with `--quick` (small sizes, for CI).
  bool quick() const { return options_.quick; }
  /// The chapter's output folder (created): `--out` or out/NN_slug.
  const std::string& out_dir() const { return out_dir_; }
  /// A file inside the output folder.
  std::string path(const std::string& file) const;

  /// A random subset of Fashion-MNIST's training file (from `--data`, shuffled with `--seed`),
  /// split into `train_size` training and `val_size` validation examples, both minus the mean
  /// image of the training part (fitted on the training part only).
  data::TrainValidation centred_fashion_mnist(std::int64_t train_size, std::int64_t val_size) const;
  /// Starts a numbered step with a title (and waits for Enter first with `--pause`).
  void step(const std::string& title);
  /// A paragraph of explanation, wrapped to 96 columns.
  void say(const std::string& text);
  /// "What to notice": the point of the step.
  void notice(const std::string& text);
  /// A table with a header row; columns are right-aligned except the first.
  void table(const std::vector<std::string>& header,
             const std::vector<std::vector<std::string>>& rows);
  /// Records a picture (or CSV) the chapter wrote, for the summary; a bare file name means a
  /// file in the output folder.
  void picture(const std::string& file, const std::string& what);
  /// Runs gnuplot (the plots module's command) on `script`, saved as `name`.gp in the output
  /// folder beside its CSV (the script's paths are relative to that folder), and records
  /// `name`.png as a picture; without gnuplot it says that the script and CSV were written.
  /// The output folder never appears in the script (gnuplot runs inside it); any text a script
  /// quotes that the chapter did not write itself goes through `plots::gnuplot_string`.
  void draw_with_gnuplot(const std::string& name, const std::string& script,
                         const std::string& what);
  /// A key claim of the chapter, checked live; printed with ✓ or ✗. A failed claim makes the
  /// program exit with status 1.
  bool claim(const std::string& what, bool holds, const std::string& measured);
  /// The chapter's one-line summary (printed at the end, collected by the course runner).
  void summary(const std::string& text);

  /// Prints the closing block (summary, pictures, then the chapter's "Try this" suggestions);
  /// returns the exit status (0 when every claim held).
  int finish();

 private:
  ChapterInfo info_;
  cli::CommonOptions options_;
  std::string out_dir_;
  int step_number_ = 0;
  int failed_claims_ = 0;
  std::string summary_;
  std::vector<std::pair<std::string, std::string>> pictures_;
};

/// Parses the common tutorial flags (plus any the chapter adds through `extra_flags`), applies
/// them, prints the banner and the chapter header, runs `body` and returns the exit status.
/// Errors are printed with the chapter's name and give status 2. Each "Try this" suggestion is
/// checked first: a `--name` in it that the chapter does not take is an error (status 2), so a
/// suggestion can never name a flag that does not exist. `--help` ends with the suggestions.
int run_chapter(int argc, char** argv, const ChapterInfo& info,
                const std::function<void(Chapter&)>& body,
                const std::function<void(CLI::App&)>& extra_flags = {});

/// Formats a number for a table: fixed with `digits` decimals, or scientific when tiny or huge.
std::string number(double value, int digits = 4);

}  // namespace gradlab::tutorial
