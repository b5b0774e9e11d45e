// The picture audit: every gnuplot script (.gp) and Graphviz graph (.dot) under the folders given
// on the command line follows the picture rules of modules/train/plots.hpp. A .gp script needs a
// title, x and y labels that name their unit in parentheses or brackets, and a legend when a plot
// draws several curves (plots::audit_script); a .dot graph needs a title (a graph-level label).
// When gnuplot (or Graphviz) is installed, each script (graph) must also have its PNG beside it.
// Prints one line per file and exits 1 when a file breaks a rule or no picture was found.
// Usage: picture_audit FOLDER...
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/graphviz.hpp"
#include "modules/train/plots.hpp"

namespace picture_audit {

namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// What a Graphviz file lacks: its title is a graph-level `label="..."` line (autograd/graphviz).
std::vector<std::string> audit_dot(const std::string& text) {
  static const std::regex title(R"((^|\n)\s*label="[^"]*[^"\s][^"]*";)");
  if (std::regex_search(text, title)) return {};
  return {"no title (a graph-level label=\"...\")"};
}

int run(const std::vector<std::string>& folders) {
  const bool gnuplot = gradlab::plots::gnuplot_available();
  const bool dot = gradlab::dot_program_available();
  int files = 0, broken = 0;
  for (const std::string& folder : folders) {
    if (!fs::is_directory(folder)) {
      std::cout << "not a folder: " << folder << "\n";
      return 1;
    }
    std::vector<fs::path> paths;
    for (const auto& entry : fs::recursive_directory_iterator(folder))
      if (entry.is_regular_file() &&
          (entry.path().extension() == ".gp" || entry.path().extension() == ".dot"))
        paths.push_back(entry.path());
    std::sort(paths.begin(), paths.end());
    for (const fs::path& path : paths) {
      const std::string text = read_all(path);
      const bool script = path.extension() == ".gp";
      std::vector<std::string> problems =
          script ? gradlab::plots::audit_script(text) : audit_dot(text);
      // The picture itself must be there when its program is installed: a script gnuplot
      // refuses leaves only its .gnuplot.log behind.
      const bool can_draw = script ? gnuplot : dot;
      if (can_draw && !fs::exists(fs::path(path).replace_extension(".png")))
        problems.push_back(script ? "no PNG beside it: gnuplot failed on it (see its "
                                    ".gnuplot.log)"
                                  : "no PNG beside it: Graphviz failed on it");
      ++files;
      if (problems.empty()) {
        std::cout << "ok: " << path.string() << "\n";
        continue;
      }
      ++broken;
      std::cout << "BROKEN: " << path.string() << "\n";
      for (const std::string& problem : problems) std::cout << "    " << problem << "\n";
    }
  }
  std::cout << files << " pictures audited, " << broken << " break the rules\n";
  if (files == 0) std::cout << "no .gp or .dot file found: nothing was audited\n";
  return files > 0 && broken == 0 ? 0 : 1;
}

}  // namespace picture_audit

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: picture_audit FOLDER...\n";
    return 2;
  }
  return picture_audit::run(std::vector<std::string>(argv + 1, argv + argc));
}
