// Plots: CSV + gnuplot script + PNG, the no-gnuplot fallback, activation capture, sparklines.
#include "modules/train/plots.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <tuple>

namespace gradlab::plots {

namespace fs = std::filesystem;

namespace {

// How running a program ended.
struct RunStatus {
  bool started = false;  // the program could be started at all
  int exit_code = -1;    // its exit status when it ended normally
  std::string error;     // why it could not be started
};

// Runs `program` with `arguments` in `directory`, its stdout and stderr appended to `log_path`
// (no shell, so no quoting problems with odd file names).
RunStatus run_program(const std::string& program, const std::vector<std::string>& arguments,
                      const fs::path& directory, const fs::path& log_path) {
  RunStatus status;
  std::vector<std::string> storage{program};
  storage.insert(storage.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (std::string& argument : storage) argv.push_back(argument.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string dir = directory.empty() ? std::string(".") : directory.string();
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  const std::string log = fs::absolute(log_path).string();
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int error = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    status.error = std::strerror(error);
    return status;
  }
  status.started = true;
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wait_status)) status.exit_code = WEXITSTATUS(wait_status);
  return status;
}

std::ofstream open_for_writing(const fs::path& path) {
  if (path.has_parent_path()) {
    std::error_code error;
    fs::create_directories(path.parent_path(), error);
    if (error)
      throw Error(fmt::format("plots: cannot create the folder '{}': {}",
                              path.parent_path().string(), error.message()));
  }
  std::ofstream file(path);
  if (!file) throw Error(fmt::format("plots: cannot write '{}'", path.string()));
  return file;
}

// Closes a file written through open_for_writing and checks that every byte arrived; a failed
// write (disk full) removes the file and throws, so no empty or truncated file is left behind.
void finish_writing(std::ofstream& file, const fs::path& path) {
  file.close();
  if (file) return;
  std::error_code ignored;
  fs::remove(path, ignored);
  throw Error(fmt::format("plots: writing '{}' failed (is the disk full?)", path.string()));
}

// `text` with every control character (a newline above all) shown as '?': a path that goes into
// a gnuplot comment must not end the comment.
std::string printable(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return text;
}

// The common preamble of every script: PNG output beside the script. `title` is a gnuplot string
// expression (see gnuplot_string); an enhanced-text title of the project's own is passed with
// `enhanced` set, a title holding user text is drawn as written.
std::string script_header(const PlotResult& files, const PlotSettings& settings,
                          const std::string& title, bool enhanced = false) {
  return fmt::format(
      "# gnuplot script written by gradlab. Change it and rerun:  cd {} && gnuplot {}\n"
      "set terminal pngcairo size {},{} enhanced font 'DejaVu Sans,10'\n"
      "set output {}\n"
      "set datafile separator ','\n"
      "set title {}{}\n"
      "set grid\n",
      printable(files.script.parent_path().empty() ? std::string(".")
                                                   : files.script.parent_path().string()),
      printable(files.script.filename().string()), settings.width, settings.height,
      gnuplot_string(files.png.filename().string()), title, enhanced ? "" : " noenhanced");
}

// The CSV file's name as a gnuplot string.
std::string csv_name(const PlotResult& files) {
  return gnuplot_string(files.csv.filename().string());
}

}  // namespace

std::string gnuplot_string(std::string_view text) {
  const bool plain = std::none_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  if (plain) {
    // Single quotes: gnuplot expands nothing inside them (no backslash escapes, no `command`
    // substitution, no @macros); a quote is written twice.
    std::string quoted = "'";
    for (char c : text) quoted += c == '\'' ? std::string("''") : std::string(1, c);
    return quoted + "'";
  }
  // A control character (a newline above all) cannot be written inside single quotes: double
  // quotes with an octal escape for it, and for every character gnuplot would act on there
  // (`command` substitution happens inside double quotes, so no backquote is written as is).
  std::string quoted = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == '`' || c == '"' || c == '\\' || c == '@' || c == '$')
      quoted += fmt::format("\\{:03o}", byte);
    else
      quoted += c;
  }
  return quoted + "\"";
}

namespace {

// The commands of a gnuplot script, as gnuplot reads them: a line ending in a backslash goes on
// in the next line, a line starting with '#' is a comment, ';' outside quotes ends a command.
std::vector<std::string> script_commands(std::string_view script) {
  std::vector<std::string> lines;
  std::string joined;
  std::size_t start = 0;
  while (start <= script.size()) {
    std::size_t end = script.find('\n', start);
    if (end == std::string_view::npos) end = script.size();
    std::string line(script.substr(start, end - start));
    start = end + 1;
    const std::size_t first = line.find_first_not_of(" \t");
    if (joined.empty() && (first == std::string::npos || line[first] == '#')) continue;
    if (!line.empty() && line.back() == '\\') {
      line.pop_back();
      joined += line + " ";
      continue;
    }
    lines.push_back(joined + line);
    joined.clear();
  }
  if (!joined.empty()) lines.push_back(joined);
  std::vector<std::string> commands;
  for (const std::string& line : lines) {
    std::string command;
    char quote = 0;
    for (char c : line) {
      if (quote != 0) {
        if (c == quote) quote = 0;
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == ';') {
        commands.push_back(command);
        command.clear();
        continue;
      }
      command += c;
    }
    commands.push_back(command);
  }
  return commands;
}

// The first quoted string in `text` (single quotes: '' is a quote; double quotes: backslash
// escapes kept as written), or nothing when there is none.
std::optional<std::string> first_quoted(std::string_view text) {
  const std::size_t open = text.find_first_of("'\"");
  if (open == std::string_view::npos) return std::nullopt;
  const char quote = text[open];
  std::string content;
  for (std::size_t i = open + 1; i < text.size(); ++i) {
    if (text[i] == quote) {
      if (quote == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
        content += '\'';
        ++i;
        continue;
      }
      return content;
    }
    if (quote == '"' && text[i] == '\\' && i + 1 < text.size()) content += text[i++];
    content += text[i];
  }
  return content;  // unterminated: gnuplot will complain; the audit judges what is there
}

// The words of a command (split at blanks).
std::vector<std::string> words_of(const std::string& command) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < command.size()) {
    i = command.find_first_not_of(" \t", i);
    if (i == std::string::npos) break;
    const std::size_t end = command.find_first_of(" \t", i);
    words.push_back(command.substr(i, end == std::string::npos ? std::string::npos : end - i));
    i = end;
  }
  return words;
}

// The text after the first two words of a command ("set xlabel 'x (m)'" → "'x (m)'").
std::string after_two_words(const std::string& command) {
  std::size_t i = command.find_first_not_of(" \t");
  for (int word = 0; word < 2 && i != std::string::npos; ++word) {
    i = command.find_first_of(" \t", i);
    if (i != std::string::npos) i = command.find_first_not_of(" \t", i);
  }
  return i == std::string::npos ? std::string() : command.substr(i);
}

// The curves of a plot command: its arguments split at commas outside quotes and brackets.
std::vector<std::string> plot_items(const std::string& arguments) {
  std::vector<std::string> items;
  std::string item;
  char quote = 0;
  int depth = 0;
  for (char c : arguments) {
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '(' || c == '[' || c == '{') {
      ++depth;
    } else if (c == ')' || c == ']' || c == '}') {
      --depth;
    } else if (c == ',' && depth == 0) {
      items.push_back(item);
      item.clear();
      continue;
    }
    item += c;
  }
  if (item.find_first_not_of(" \t") != std::string::npos) items.push_back(item);
  return items;
}

// A label that names its unit: some non-blank text in parentheses or brackets.
bool names_unit(const std::string& label) {
  static const std::regex unit(R"(\([^()]*[^()\s][^()]*\)|\[[^\]\[]*[^\]\[\s][^\]\[]*\])");
  return std::regex_search(label, unit);
}

// True when a curve of a plot command carries a non-empty title for the legend.
bool has_title(const std::string& item) {
  static const std::regex title(R"((^|\s)(title|t)\s+(\S.*))");
  std::smatch match;
  if (!std::regex_search(item, match, title)) return false;
  const std::string rest = match[3].str();
  if (rest.front() != '\'' && rest.front() != '"') return true;  // columnheader, an expression
  const std::optional<std::string> text = first_quoted(rest);
  return text && !text->empty();
}

}  // namespace

std::vector<std::string> audit_script(std::string_view script) {
  std::vector<std::string> problems;
  std::string title, multiplot_title, xlabel, ylabel;
  bool xlabel_set = false, ylabel_set = false, key_on = true;
  int plots = 0;
  for (const std::string& command : script_commands(script)) {
    const std::vector<std::string> words = words_of(command);
    if (words.empty()) continue;
    const std::string& verb = words[0];
    const std::string what = words.size() > 1 ? words[1] : "";
    const std::string value = first_quoted(after_two_words(command)).value_or("");
    if (verb == "reset") {
      title = multiplot_title = xlabel = ylabel = "";
      xlabel_set = ylabel_set = false;
      key_on = true;
    } else if (verb == "set" && what == "title") {
      title = value;
    } else if (verb == "unset" && what == "title") {
      title.clear();
    } else if (verb == "set" && what == "xlabel") {
      xlabel = value;
      xlabel_set = true;
    } else if (verb == "unset" && what == "xlabel") {
      xlabel_set = false;
    } else if (verb == "set" && what == "ylabel") {
      ylabel = value;
      ylabel_set = true;
    } else if (verb == "unset" && what == "ylabel") {
      ylabel_set = false;
    } else if (verb == "set" && what == "key") {
      key_on = std::find(words.begin(), words.end(), "off") == words.end();
    } else if ((verb == "unset" && what == "key") || (verb == "set" && what == "nokey")) {
      key_on = false;
    } else if (verb == "set" && what == "multiplot") {
      const std::size_t at = command.find(" title ");
      multiplot_title = at == std::string::npos
                            ? std::string()
                            : first_quoted(std::string_view(command).substr(at)).value_or("");
    } else if (verb == "unset" && what == "multiplot") {
      multiplot_title.clear();
    } else if (verb == "plot" || verb == "splot") {
      const std::string name = fmt::format("plot {}", ++plots);
      if (title.empty() && multiplot_title.empty())
        problems.push_back(name + ": no title (set title, or a multiplot title)");
      for (const auto& [axis, set, label] :
           {std::tuple{"x", xlabel_set, xlabel}, std::tuple{"y", ylabel_set, ylabel}}) {
        if (!set || label.empty())
          problems.push_back(fmt::format("{}: no {} axis label (set {}label)", name, axis, axis));
        else if (!names_unit(label))
          problems.push_back(
              fmt::format("{}: the {} label '{}' names no unit in parentheses or brackets", name,
                          axis, printable(label)));
      }
      const std::vector<std::string> items =
          plot_items(command.substr(command.find(verb) + verb.size()));
      const bool several = items.size() > 1 || command.find(" for [") != std::string::npos;
      if (several && !key_on)
        problems.push_back(
            fmt::format("{}: {} curves but the key (legend) is off", name, items.size()));
      if (several)
        for (std::size_t i = 0; i < items.size(); ++i)
          if (!has_title(items[i]))
            problems.push_back(fmt::format("{}: curve {} of {} has no title for the legend", name,
                                           i + 1, items.size()));
    }
  }
  if (plots == 0) problems.push_back("the script draws nothing (no plot command)");
  return problems;
}

PlotResult file_names(const fs::path& png) {
  if (png.filename().empty())
    throw Error("plots: the picture path '" + png.string() + "' has no file name");
  PlotResult files;
  files.png = png;
  files.csv = fs::path(png).replace_extension(".csv");
  files.script = fs::path(png).replace_extension(".gp");
  return files;
}

namespace {

// Writes the script, runs gnuplot on it and checks the picture. Never throws for gnuplot itself.
// Every picture of the project is drawn here: gnuplot runs without a shell, in the script's folder.
PlotResult draw(PlotResult files, const std::string& script, const PlotSettings& settings) {
  const std::vector<std::string> problems = audit_script(script);
  if (!problems.empty()) {
    std::string list;
    for (const std::string& problem : problems) list += "\n  " + problem;
    throw Error(
        fmt::format("plots: the picture '{}' breaks the picture rules (a title, axis "
                    "labels with units, a legend for several curves):{}",
                    files.png.string(), list));
  }
  {
    auto file = open_for_writing(files.script);
    file << script;
    finish_writing(file, files.script);
  }
  std::error_code ignored;
  fs::remove(files.png, ignored);
  const fs::path log = fs::path(files.png).replace_extension(".gnuplot.log");
  const RunStatus status = run_program(settings.gnuplot, {files.script.filename().string()},
                                       files.script.parent_path(), log);
  const std::string what =
      files.csv.filename().string() + " and " + files.script.filename().string();
  if (!status.started) {
    fs::remove(log, ignored);
    files.note = fmt::format(
        "no picture: gnuplot ('{}') could not be started ({}); wrote {} — install "
        "gnuplot-nox to get {}",
        settings.gnuplot, status.error, what, files.png.filename().string());
    return files;
  }
  const bool has_png = fs::exists(files.png, ignored) && fs::file_size(files.png, ignored) > 0;
  if (status.exit_code != 0 || !has_png) {
    fs::remove(files.png, ignored);  // an empty or half-drawn picture is no picture
    if (fs::exists(log, ignored) && fs::file_size(log, ignored) == 0) fs::remove(log, ignored);
    files.note = fmt::format("no picture: gnuplot exited with status {} (see {}); wrote {}",
                             status.exit_code, log.string(), what);
    return files;
  }
  // Keep the log only when gnuplot said something worth reading.
  if (fs::exists(log, ignored) && fs::file_size(log, ignored) == 0) fs::remove(log, ignored);
  files.drawn = true;
  return files;
}

}  // namespace

std::pair<double, double> common_range(const std::vector<std::vector<double>>& curves) {
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (const auto& curve : curves) {
    for (double value : curve) {
      if (!std::isfinite(value)) continue;
      low = std::min(low, value);
      high = std::max(high, value);
    }
  }
  if (!std::isfinite(low)) return {0.0, 1.0};
  const double margin = std::max(0.05 * (high - low), 1e-9);
  return {low - margin, high + margin};
}

PlotResult draw_script(const fs::path& png, const std::string& script,
                       const PlotSettings& settings) {
  return draw(file_names(png), script, settings);
}

namespace {

std::string csv_number(double value) {
  return std::isfinite(value) ? fmt::format("{:.9g}", value) : std::string("nan");
}

}  // namespace

std::string default_gnuplot_command() {
  const char* command = std::getenv("GRADLAB_GNUPLOT");
  return command != nullptr && *command != '\0' ? command : "gnuplot";
}

bool gnuplot_available(const PlotSettings& settings) {
  const fs::path log =
      fs::temp_directory_path() / fmt::format("gradlab-gnuplot-check-{}.log", ::getpid());
  const RunStatus status =
      run_program(settings.gnuplot, {"--version"}, fs::temp_directory_path(), log);
  std::error_code ignored;
  fs::remove(log, ignored);
  return status.started && status.exit_code == 0;
}

PlotResult loss_curve(const std::vector<double>& loss, const fs::path& png,
                      const PlotSettings& settings) {
  PlotResult files = file_names(png);
  // Moving average over about 2% of the run (at least 1), to see the trend through the noise of
  // the mini-batches.
  const std::size_t window = std::max<std::size_t>(1, loss.size() / 50);
  {
    auto csv = open_for_writing(files.csv);
    csv << "iteration,loss,moving_average\n";
    double sum = 0.0;
    std::size_t finite = 0;
    for (std::size_t i = 0; i < loss.size(); ++i) {
      if (std::isfinite(loss[i])) {
        sum += loss[i];
        ++finite;
      }
      if (i >= window && std::isfinite(loss[i - window])) {
        sum -= loss[i - window];
        --finite;
      }
      csv << i + 1 << ',' << csv_number(loss[i]) << ','
          << (finite > 0 ? csv_number(sum / static_cast<double>(finite)) : "nan") << '\n';
    }
    finish_writing(csv, files.csv);
  }
  std::string script = script_header(
      files, settings, gnuplot_string(settings.title.empty() ? "Training loss" : settings.title));
  if (settings.y_range) {
    script += fmt::format("set yrange [{}:{}]\n", csv_number(settings.y_range->first),
                          csv_number(settings.y_range->second));
  }
  script += fmt::format(
      "set xlabel 'iteration (mini-batch steps)'\nset ylabel {2} noenhanced\n"
      "plot {0} skip 1 using 1:2 with lines lc rgb '#9ecae1' title 'mini-batch loss', \\\n"
      "     {0} skip 1 using 1:3 with lines lw 2 lc rgb '#08519c' title 'moving average ({1} "
      "iterations)'\n",
      csv_name(files), window,
      gnuplot_string(settings.y_label.empty() ? "loss (cross-entropy, nats)" : settings.y_label));
  return draw(files, script, settings);
}

PlotResult accuracy_curves(const std::vector<train::EpochRecord>& epochs, const fs::path& png,
                           const PlotSettings& settings) {
  PlotResult files = file_names(png);
  bool has_validation = false;
  {
    auto csv = open_for_writing(files.csv);
    csv << "epoch,train_accuracy,val_accuracy\n";
    for (const train::EpochRecord& e : epochs) {
      has_validation = has_validation || e.val_accuracy >= 0.0;
      csv << e.epoch << ',' << csv_number(e.train_accuracy) << ','
          << (e.val_accuracy >= 0.0 ? csv_number(e.val_accuracy) : "nan") << '\n';
    }
    finish_writing(csv, files.csv);
  }
  std::string script = script_header(files, settings, "'Accuracy (train: fixed training subset)'");
  script += fmt::format(
      "set xlabel 'epoch (passes over the training set)'\nset ylabel 'accuracy (fraction)'\nset "
      "key bottom right\nset xtics 1\n"
      "plot {0} skip 1 using 1:2 with linespoints lw 2 pt 7 title 'train'{1}\n",
      csv_name(files),
      has_validation
          ? fmt::format(
                ", \\\n     {} skip 1 using 1:3 with linespoints lw 2 pt 5 title 'validation'",
                csv_name(files))
          : std::string());
  return draw(files, script, settings);
}

PlotResult update_ratio_curves(const std::vector<train::UpdateRatio>& ratios, const fs::path& png,
                               const PlotSettings& settings) {
  PlotResult files = file_names(png);
  // Wide table: one row per measured iteration, one column per parameter (in first-seen order).
  std::vector<std::string> names;
  std::map<std::int64_t, std::map<std::string, double>> rows;
  for (const train::UpdateRatio& r : ratios) {
    if (std::find(names.begin(), names.end(), r.parameter) == names.end())
      names.push_back(r.parameter);
    rows[r.iteration][r.parameter] = r.ratio;
  }
  {
    auto csv = open_for_writing(files.csv);
    csv << "iteration";
    for (const std::string& name : names) csv << ',' << printable(name);
    csv << '\n';
    for (const auto& [iteration, values] : rows) {
      csv << iteration;
      for (const std::string& name : names) {
        auto found = values.find(name);
        // 0 cannot be drawn on a log axis; leave it out.
        csv << ','
            << (found != values.end() && found->second > 0.0 ? csv_number(found->second) : "nan");
      }
      csv << '\n';
    }
    finish_writing(csv, files.csv);
  }
  std::string script = script_header(
      files, settings,
      "'Update/weight ratio ||{/Symbol D}{/Symbol q}|| / ||{/Symbol q}|| per parameter'", true);
  script +=
      "set xlabel 'iteration (mini-batch steps)'\nset ylabel 'update/weight ratio (dimensionless, "
      "log scale)'\nset logscale y\nset key outside right\n";
  script += "plot 1e-3 with lines dt 2 lw 2 lc rgb 'black' title 'target 1e-3'";
  for (std::size_t i = 0; i < names.size(); ++i)
    script += fmt::format(
        ", \\\n     {} skip 1 using 1:{} with linespoints pt 7 ps 0.5 title {} noenhanced",
        csv_name(files), i + 2, gnuplot_string(names[i]));
  script += '\n';
  return draw(files, script, settings);
}

PlotResult hyperparameter_scatter(const train::SearchResult& search, const std::string& x_name,
                                  const std::string& y_name, const fs::path& png,
                                  const PlotSettings& settings) {
  PlotResult files = file_names(png);
  auto scale_of = [&](const std::string& name) {
    if (!search.stage_ranges.empty())
      for (const train::ParameterRange& range : search.stage_ranges.front())
        if (range.name == name) return range.scale;
    return train::RangeScale::linear;
  };
  {
    auto csv = open_for_writing(files.csv);
    csv << printable(x_name) << ',' << printable(y_name) << ",score,diverged,stage\n";
    for (const train::TrialResult& trial : search.trials) {
      auto x = trial.values.find(x_name);
      auto y = trial.values.find(y_name);
      if (x == trial.values.end() || y == trial.values.end())
        throw Error(fmt::format("hyperparameter_scatter: trial {} has no value for '{}' or '{}'",
                                trial.id, x_name, y_name));
      csv << csv_number(x->second) << ',' << csv_number(y->second) << ','
          << csv_number(trial.outcome.score) << ',' << (trial.outcome.diverged ? 1 : 0) << ','
          << trial.stage << '\n';
    }
    finish_writing(csv, files.csv);
  }
  // A hyperparameter is a plain number; its label says so, and how the axis is scaled.
  auto axis_label = [&](const std::string& name) {
    return name + (scale_of(name) == train::RangeScale::log ? " (dimensionless, log scale)"
                                                            : " (dimensionless)");
  };
  std::string script =
      script_header(files, settings,
                    gnuplot_string("Hyperparameter search: score by " + x_name + " and " + y_name));
  script += fmt::format(
      "set xlabel {} noenhanced\nset ylabel {} noenhanced\nset cblabel 'score (higher is "
      "better)'\nset palette rgb 33,13,10\n",
      gnuplot_string(axis_label(x_name)), gnuplot_string(axis_label(y_name)));
  if (scale_of(x_name) == train::RangeScale::log)
    script += "set logscale x\nset format x '10^{%L}'\n";
  if (scale_of(y_name) == train::RangeScale::log)
    script += "set logscale y\nset format y '10^{%L}'\n";
  script += fmt::format(
      "plot {0} skip 1 using 1:2:($4 == 0 ? $3 : 1/0) with points pt 7 ps 1.5 palette title "
      "'trial', \\\n"
      "     {0} skip 1 using 1:($4 == 1 ? $2 : 1/0) with points pt 2 ps 1.2 lc rgb 'gray50' "
      "title 'diverged'\n",
      csv_name(files));
  return draw(files, script, settings);
}

std::vector<LayerActivations> collect_activations(nn::Sequential& net, const Tensor& x) {
  static const std::set<std::string> activation_types{"Sigmoid", "Tanh",  "ReLU",  "LeakyReLU",
                                                      "ELU",     "PReLU", "Maxout"};
  NoGradGuard no_grad;
  std::vector<LayerActivations> all;
  std::vector<LayerActivations> activations;
  Tensor current = x;
  for (std::size_t i = 0; i < net.size(); ++i) {
    nn::Module& layer = net[i];
    current = layer.forward(current);
    LayerActivations record;
    record.name = fmt::format("layer {} ({})", i, layer.type_name());
    const std::vector<double> values = current.to_vector();
    record.values.assign(values.begin(), values.end());
    if (activation_types.count(layer.type_name()) != 0) activations.push_back(record);
    if (i + 1 < net.size()) all.push_back(std::move(record));  // the scores are not activations
  }
  return activations.empty() ? all : activations;
}

PlotResult activation_histograms(const std::vector<LayerActivations>& layers, const fs::path& png,
                                 std::int64_t bins, const PlotSettings& settings) {
  if (bins < 1) throw Error(fmt::format("activation_histograms: bins must be ≥ 1, got {}", bins));
  if (layers.empty()) throw Error("activation_histograms: no layers given");
  PlotResult files = file_names(png);
  struct Summary {
    double low = 0, high = 0, mean = 0, std = 0;
    std::vector<double> fraction;
  };
  // One x axis shared by every panel (the range of all layers together), as in the lecture's
  // figure: a layer whose values collapse towards 0 then shows as a thin spike, not as a bell
  // curve rescaled to fill its own panel.
  double shared_low = std::numeric_limits<double>::infinity(), shared_high = -shared_low;
  for (const LayerActivations& layer : layers) {
    for (float v : layer.values) {
      if (!std::isfinite(v)) continue;
      shared_low = std::min<double>(shared_low, v);
      shared_high = std::max<double>(shared_high, v);
    }
  }
  if (!std::isfinite(shared_low)) {
    shared_low = 0;
    shared_high = 1;
  }
  if (shared_high - shared_low < 1e-12) {
    shared_low -= 0.5;
    shared_high += 0.5;
  }  // constant: one visible bar
  // When the range holds 0, move the bins so that one is centred on 0: a layer collapsed to 0
  // (tanh after weights too small) then shows at 0, not half a bin to one side. One bin more
  // keeps the largest values inside.
  if (shared_low < 0 && shared_high > 0 && bins > 1) {
    const double width = (shared_high - shared_low) / static_cast<double>(bins - 1);
    shared_low = (std::floor(shared_low / width + 0.5) - 0.5) * width;
    shared_high = shared_low + static_cast<double>(bins) * width;
  }
  std::vector<Summary> summaries;
  for (const LayerActivations& layer : layers) {
    Summary s;
    double sum = 0, squares = 0;
    std::size_t count = 0;
    s.low = shared_low;
    s.high = shared_high;
    for (float v : layer.values) {
      if (!std::isfinite(v)) continue;
      sum += v;
      squares += static_cast<double>(v) * v;
      ++count;
    }
    s.mean = count > 0 ? sum / static_cast<double>(count) : 0.0;
    s.std = count > 0
                ? std::sqrt(std::max(0.0, squares / static_cast<double>(count) - s.mean * s.mean))
                : 0.0;
    s.fraction.assign(static_cast<std::size_t>(bins), 0.0);
    const double width = (s.high - s.low) / static_cast<double>(bins);
    for (float v : layer.values) {
      if (!std::isfinite(v)) continue;
      auto bin = static_cast<std::int64_t>((v - s.low) / width);
      bin = std::clamp<std::int64_t>(bin, 0, bins - 1);
      s.fraction[static_cast<std::size_t>(bin)] += 1.0;
    }
    for (double& f : s.fraction) f /= std::max<double>(1.0, static_cast<double>(count));
    summaries.push_back(std::move(s));
  }
  {
    auto csv = open_for_writing(files.csv);
    for (std::size_t l = 0; l < layers.size(); ++l)
      csv << (l > 0 ? "," : "") << "centre_" << l << ",fraction_" << l;
    csv << '\n';
    for (std::int64_t b = 0; b < bins; ++b) {
      for (std::size_t l = 0; l < layers.size(); ++l) {
        const Summary& s = summaries[l];
        const double width = (s.high - s.low) / static_cast<double>(bins);
        csv << (l > 0 ? "," : "") << csv_number(s.low + (static_cast<double>(b) + 0.5) * width)
            << ',' << csv_number(s.fraction[static_cast<std::size_t>(b)]);
      }
      csv << '\n';
    }
    finish_writing(csv, files.csv);
  }
  const auto count = static_cast<int>(layers.size());
  const int columns = std::min(count, 4);
  const int rows = (count + columns - 1) / columns;
  PlotSettings sized = settings;
  sized.width = std::max(settings.width, 300 * columns);
  sized.height = std::max(settings.height / 2, 260 * rows);
  std::string script = script_header(files, sized, "''");
  script += fmt::format("set xrange [{}:{}]\n", csv_number(shared_low), csv_number(shared_high));
  script += fmt::format(
      "unset title\nset style fill solid 0.8 noborder\nset key off\n"
      "set xlabel 'output value (dimensionless)'\nset ylabel 'share of values (fraction)'\n"
      "set multiplot layout {},{} "
      "title 'Activations per layer (fraction of values per bin)'\n",
      rows, columns);
  for (std::size_t l = 0; l < layers.size(); ++l)
    script += fmt::format(
        "set title {}.\"\\n\".{} noenhanced\nplot {} skip 1 using {}:{} with boxes lc "
        "rgb '#3182bd'\n",
        gnuplot_string(layers[l].name),
        gnuplot_string(fmt::format("mean {:.3g}, std {:.3g}", summaries[l].mean, summaries[l].std)),
        csv_name(files), 2 * l + 1, 2 * l + 2);
  script += "unset multiplot\n";
  return draw(files, script, sized);
}

std::string sparkline(const std::vector<double>& values, std::size_t width) {
  if (values.empty() || width == 0) return "";
  static const char* const blocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  const std::size_t groups = std::min(width, values.size());
  std::vector<double> means(groups, std::nan(""));
  for (std::size_t g = 0; g < groups; ++g) {
    // Group g covers values [g·n/groups, (g+1)·n/groups).
    const std::size_t begin = g * values.size() / groups;
    const std::size_t end = (g + 1) * values.size() / groups;
    double sum = 0.0;
    std::size_t count = 0;
    for (std::size_t i = begin; i < end; ++i)
      if (std::isfinite(values[i])) {
        sum += values[i];
        ++count;
      }
    if (count > 0) means[g] = sum / static_cast<double>(count);
  }
  double low = std::numeric_limits<double>::infinity();
  double high = -low;
  for (double m : means)
    if (std::isfinite(m)) {
      low = std::min(low, m);
      high = std::max(high, m);
    }
  std::string line;
  for (double m : means) {
    if (!std::isfinite(m)) {
      line += '!';
      continue;
    }
    const double t = high > low ? (m - low) / (high - low) : 0.5;
    line += blocks[std::clamp(static_cast<int>(t * 8.0), 0, 7)];
  }
  return line;
}

std::vector<PlotResult> training_plots(const train::History& history, const fs::path& directory,
                                       const PlotSettings& settings) {
  std::vector<PlotResult> results;
  results.push_back(loss_curve(history.loss, directory / "loss.png", settings));
  results.push_back(accuracy_curves(history.epochs, directory / "accuracy.png", settings));
  results.push_back(
      update_ratio_curves(history.update_ratios, directory / "update_ratios.png", settings));
  return results;
}

}  // namespace gradlab::plots
