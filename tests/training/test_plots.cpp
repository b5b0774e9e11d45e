// Plots: PNG through gnuplot (skipped when it is not installed), the CSV + note fallback, the
// activation capture and the sparkline.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "backends/backend.hpp"
#include "modules/nn/layers.hpp"
#include "modules/train/plots.hpp"
#include "synthetic.hpp"

using namespace gradlab;
namespace fs = std::filesystem;

namespace {

std::vector<double> falling_loss(std::size_t n) {
  std::vector<double> loss;
  for (std::size_t i = 0; i < n; ++i)
    loss.push_back(2.3 * std::exp(-0.01 * static_cast<double>(i)) + 0.05 * std::sin(i));
  return loss;
}

// Number of UTF-8 code points (the block characters take three bytes each).
std::size_t code_points(const std::string& text) {
  std::size_t count = 0;
  for (unsigned char c : text) count += (c & 0xC0) != 0x80 ? 1 : 0;
  return count;
}

}  // namespace

TEST_CASE("with gnuplot, every plot writes a non-empty PNG with its CSV and script beside it",
          "[plots]") {
  if (!plots::gnuplot_available()) {
    WARN("gnuplot is not installed (Debian: gnuplot-nox): skipping the PNG checks");
    return;
  }
  const fs::path folder = testing::fresh_folder("plots");
  std::vector<plots::PlotResult> results;
  results.push_back(plots::loss_curve(falling_loss(300), folder / "loss.png"));
  results.push_back(plots::accuracy_curves(
      {{1, 10, 0.1, 1.0, 0.70, 0.68}, {2, 20, 0.1, 0.6, 0.80, 0.77}}, folder / "accuracy.png"));
  results.push_back(plots::update_ratio_curves({{1, "0.weight", 1e-3, 1.0, 1e-3},
                                                {10, "0.weight", 5e-4, 1.0, 5e-4},
                                                {1, "0.bias", 0.0, 0.0, 0.0}},
                                               folder / "ratios.png"));
  train::SearchResult search = train::random_search(
      {{"lr", 1e-5, 1e-1}, {"reg", 1e-5, 1.0}},
      [](const train::HyperParameters& v) {
        return train::TrialOutcome{-std::abs(std::log10(v.at("lr")) + 3.0), v.at("lr") > 3e-2, ""};
      },
      {.stages = 1, .trials_per_stage = 15});
  results.push_back(plots::hyperparameter_scatter(search, "lr", "reg", folder / "search.png"));
  BackendGuard backend("reference");
  manual_seed(4);
  nn::Sequential net = nn::MLP({20, 30, 30, 30, 5}, {.activation = "tanh", .init = "xavier"});
  const auto layers = plots::collect_activations(net, randn({64, 20}));
  REQUIRE(layers.size() == 3);  // the three Tanh layers
  CHECK(layers[0].name == "layer 1 (Tanh)");
  CHECK(layers[0].values.size() == 64 * 30);
  results.push_back(plots::activation_histograms(layers, folder / "activations.png", 40));

  for (const plots::PlotResult& result : results) {
    INFO(result.png.string() << ": " << result.note);
    CHECK(result.drawn);
    CHECK(result.note.empty());
    CHECK(fs::file_size(result.png) > 1000);
    CHECK(fs::file_size(result.csv) > 0);
    CHECK(fs::exists(result.script));
  }
}

TEST_CASE(
    "without gnuplot, a plot writes the CSV and script and a one-line note, and does not throw",
    "[plots]") {
  const fs::path folder = testing::fresh_folder("no-gnuplot");
  plots::PlotSettings settings;
  settings.gnuplot = "/nonexistent/gradlab-no-such-gnuplot";
  CHECK_FALSE(plots::gnuplot_available(settings));
  plots::PlotResult result = plots::loss_curve(falling_loss(50), folder / "loss.png", settings);
  CHECK_FALSE(result.drawn);
  CHECK_FALSE(fs::exists(folder / "loss.png"));
  CHECK(result.csv == folder / "loss.csv");
  std::ifstream csv(result.csv);
  std::stringstream text;
  text << csv.rdbuf();
  CHECK_THAT(text.str(), Catch::StartsWith("iteration,loss,moving_average\n1,2.3,2.3\n"));
  CHECK(fs::exists(folder / "loss.gp"));
  CHECK_THAT(result.note, Catch::Contains("gnuplot") &&
                              Catch::Contains("gradlab-no-such-gnuplot") &&
                              Catch::Contains("loss.csv"));
  CHECK(result.note.find('\n') == std::string::npos);
}

TEST_CASE("sparkline draws a falling series from the tallest block down to the lowest", "[plots]") {
  CHECK(plots::sparkline({8, 7, 6, 5, 4, 3, 2, 1}, 8) == "█▇▆▅▄▃▂▁");
  // 600 values squeezed into 60 columns, each the mean of 10.
  const std::string line = plots::sparkline(falling_loss(600), 60);
  CHECK(code_points(line) == 60);
  CHECK(line.rfind("█", 0) == 0);
  CHECK(line.substr(line.size() - 3) == "▁");
  CHECK(plots::sparkline({}, 10).empty());
  CHECK(plots::sparkline({1.0, std::nan(""), 2.0}, 3) == "▁!█");
  CHECK(plots::sparkline({5.0, 5.0}, 4) == "▅▅");  // flat: mid-height, one column per value
}

TEST_CASE("activation histograms centre a bin on 0, so a collapsed layer shows at 0", "[plots]") {
  const fs::path folder = testing::fresh_folder("histogram-bins");
  // One layer spread over [-1.3, 0.9], one collapsed to tiny values around 0.
  std::vector<float> wide, collapsed;
  for (int i = 0; i <= 220; ++i) wide.push_back(-1.3f + 0.01f * static_cast<float>(i));
  for (int i = -5; i <= 5; ++i) collapsed.push_back(1e-4f * static_cast<float>(i));
  plots::PlotSettings settings;
  settings.gnuplot = "gradlab-no-such-gnuplot";  // the CSV is what is checked
  const plots::PlotResult result = plots::activation_histograms(
      {{"wide", wide}, {"collapsed", collapsed}}, folder / "bins.png", 25, settings);
  std::ifstream csv(result.csv);
  std::string header, line;
  std::getline(csv, header);
  double zero_bin_fraction = -1;
  while (std::getline(csv, line)) {
    std::stringstream fields(line);
    std::string centre, fraction_wide, centre_again, fraction_collapsed;
    std::getline(fields, centre, ','), std::getline(fields, fraction_wide, ',');
    std::getline(fields, centre_again, ','), std::getline(fields, fraction_collapsed, ',');
    if (std::abs(std::stod(centre)) < 1e-9) zero_bin_fraction = std::stod(fraction_collapsed);
  }
  CHECK(zero_bin_fraction == 1.0);  // a bin centred on 0 holds the whole collapsed layer
}

namespace {

// Every file under `folder` an injected command made: named exactly "pwned-" and two letters
// (the hostile names themselves hold "/", so they also make folders and files whose names start
// with "pwned-nl\")" and so on; those are the plots, not an injection).
std::vector<std::string> injected_files(const fs::path& folder) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (name.size() == 8 && name.rfind("pwned-", 0) == 0) found.push_back(entry.path().string());
  }
  return found;
}

// Strings that would run a command if gnuplot interpreted them: a newline that ends the quoted
// string (then `system`), a backquote (command substitution in double-quoted strings), quotes,
// backslashes and a macro sign.
std::vector<std::string> hostile_names(const fs::path& folder) {
  const std::string touch = "touch " + (folder / "pwned").string();
  return {"x\nsystem(\"" + touch + "-nl\")\n#",
          "it's'\nsystem('" + touch + "-sq')\n#",
          "q\"uote\"\nsystem(\"" + touch + "-dq\")\n#",
          "tick`" + touch + "-bq`",
          "back\\slash\\",
          "at @x and \r carriage\t tab"};
}

}  // namespace

TEST_CASE("no path, title or label given to the plot functions is interpreted by gnuplot",
          "[plots][reliability]") {
  if (!plots::gnuplot_available()) {
    WARN("gnuplot is not installed (Debian: gnuplot-nox): skipping");
    return;
  }
  const fs::path folder = testing::fresh_folder("plots-injection");
  const std::vector<std::string> names = hostile_names(folder);
  std::vector<plots::PlotResult> results;
  for (std::size_t i = 0; i < names.size(); ++i) {
    // The hostile string as the picture's file name and as a folder on its way.
    results.push_back(plots::loss_curve(falling_loss(30), folder / (names[i] + ".png")));
    results.push_back(plots::loss_curve(
        falling_loss(30), folder / ("d" + std::to_string(i)) / names[i] / "loss.png"));
  }
  // ... as parameter names (key titles), search dimensions (axis labels, the title) and layer
  // names (panel titles).
  std::vector<train::UpdateRatio> ratios;
  for (std::size_t i = 0; i < names.size(); ++i) ratios.push_back({1, names[i], 1e-3, 1.0, 1e-3});
  results.push_back(plots::update_ratio_curves(ratios, folder / "ratios.png"));
  for (std::size_t i = 0; i + 1 < names.size(); ++i) {
    train::SearchResult search =
        train::random_search({{names[i], 1e-5, 1e-1}, {names[i + 1], 1e-5, 1.0}},
                             [](const train::HyperParameters&) {
                               return train::TrialOutcome{1.0, false, ""};
                             },
                             {.stages = 1, .trials_per_stage = 5});
    results.push_back(plots::hyperparameter_scatter(
        search, names[i], names[i + 1], folder / ("search" + std::to_string(i) + ".png")));
  }
  std::vector<plots::LayerActivations> layers;
  for (const std::string& name : names) layers.push_back({name, {0.1f, 0.2f, 0.5f}});
  results.push_back(plots::activation_histograms(layers, folder / "activations.png", 10));

  for (const plots::PlotResult& result : results) {
    INFO(result.png.string() << ": " << result.note);
    CHECK(result.drawn);
    CHECK(fs::exists(result.png));
  }
  const std::vector<std::string> injected = injected_files(folder);
  for (const std::string& path : injected) FAIL_CHECK("gnuplot ran an injected command: " << path);
  CHECK(injected.empty());
}

namespace picture_rules {

// A script that follows the picture rules; each test below breaks one line of it.
const std::string good_script =
    "set terminal pngcairo size 900,560\n"
    "set output 'rules.png'\n"
    "set title 'Training loss'\n"
    "set xlabel 'iteration (mini-batch steps)'\n"
    "set ylabel 'loss (cross-entropy, nats)'\n"
    "plot 'rules.csv' using 1:2 with lines title 'loss', \\\n"
    "     '' using 1:3 with lines title 'moving average'\n";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

// True when one of `problems` contains `part`.
bool mentions(const std::vector<std::string>& problems, const std::string& part) {
  return std::any_of(problems.begin(), problems.end(),
                     [&](const std::string& p) { return p.find(part) != std::string::npos; });
}

}  // namespace picture_rules

TEST_CASE("the picture audit passes a script with a title, labelled axes and a legend", "[plots]") {
  using namespace picture_rules;
  CHECK(plots::audit_script(good_script).empty());
  // Brackets work as well as parentheses, and a multiplot title stands for the title.
  CHECK(plots::audit_script(replaced(replaced(good_script, "(mini-batch steps)", "[steps]"),
                                     "set title 'Training loss'",
                                     "set multiplot layout 1,1 title 'Panels'"))
            .empty());
  // One curve needs no legend.
  CHECK(plots::audit_script(replaced(good_script,
                                     ", \\\n     '' using 1:3 with lines title "
                                     "'moving average'",
                                     ""))
            .empty());
}

TEST_CASE("the picture audit names every rule a script breaks", "[plots]") {
  using namespace picture_rules;
  CHECK(mentions(plots::audit_script(replaced(good_script, "set title 'Training loss'\n", "")),
                 "no title"));
  CHECK(mentions(
      plots::audit_script(replaced(good_script, "set title 'Training loss'", "set title ''")),
      "no title"));
  CHECK(mentions(plots::audit_script(replaced(good_script,
                                              "set xlabel 'iteration (mini-batch "
                                              "steps)'\n",
                                              "")),
                 "no x axis label"));
  CHECK(
      mentions(plots::audit_script(replaced(good_script, "'loss (cross-entropy, nats)'", "'loss'")),
               "the y label 'loss' names no unit"));
  CHECK(mentions(
      plots::audit_script(replaced(good_script, "'loss (cross-entropy, nats)'", "'loss ( )'")),
      "names no unit"));
  CHECK(mentions(plots::audit_script(replaced(good_script, "title 'moving average'", "notitle")),
                 "curve 2 of 2 has no title"));
  CHECK(mentions(plots::audit_script(replaced(good_script, "set title 'Training loss'\n",
                                              "set title 'Training loss'\nset key off\n")),
                 "the key (legend) is off"));
  CHECK(mentions(plots::audit_script("set title 'nothing drawn'\n"), "draws nothing"));
}

TEST_CASE("draw_script refuses a picture that breaks the rules and writes nothing", "[plots]") {
  using namespace picture_rules;
  const fs::path folder = testing::fresh_folder("plots_rules");
  const fs::path png = folder / "rules.png";
  const std::string broken = replaced(good_script, "'loss (cross-entropy, nats)'", "'loss'");
  REQUIRE_THROWS_WITH(plots::draw_script(png, broken),
                      Catch::Contains("rules.png") && Catch::Contains("names no unit"));
  CHECK_FALSE(fs::exists(folder / "rules.gp"));
  CHECK_FALSE(fs::exists(png));
  // The plots of this module follow the rules themselves: none of them throws.
  CHECK_NOTHROW(plots::loss_curve(falling_loss(50), folder / "loss.png"));
  CHECK_NOTHROW(plots::accuracy_curves({{1, 10, 0.1, 1.0, 0.70, 0.68}}, folder / "acc.png"));
}
