// The frame shared by every tutorial chapter (see tutorial.hpp).
#include "tutorial.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "backends/types.hpp"
#include "modules/app/cli_flags.hpp"
#include "modules/train/plots.hpp"
#include "modules/data/preprocess.hpp"

namespace gradlab::tutorial {

namespace {

// Columns a UTF-8 string takes on a terminal: one per code point, none for continuation bytes or
// combining marks (U+0300–U+036F, as in x̂), so tables with γ, β, ² or sparklines line up.
std::size_t display_width(const std::string& text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto byte = static_cast<unsigned char>(text[i]);
    if ((byte & 0xC0) == 0x80) continue;
    bool combining = (byte == 0xCC || (byte == 0xCD && i + 1 < text.size() &&
                                       static_cast<unsigned char>(text[i + 1]) < 0xB0));
    if (!combining) ++width;
  }
  return width;
}

std::string pad(const std::string& text, std::size_t width, bool left_align) {
  std::size_t used = display_width(text);
  std::string fill(width > used ? width - used : 0, ' ');
  return left_align ? text + fill : fill + text;
}

std::string wrap(const std::string& text, std::size_t width, const std::string& indent) {
  std::istringstream words(text);
  std::string word, line, result;
  while (words >> word) {
    if (!line.empty() && display_width(line) + 1 + display_width(word) > width) {
      result += indent + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) result += indent + line + "\n";
  return result;
}

}  // namespace

Chapter::Chapter(ChapterInfo info, cli::CommonOptions options)
    : info_(std::move(info)), options_(std::move(options)) {
  out_dir_ =
      options_.out.empty() ? fmt::format("out/{:02d}_{}", info_.number, info_.slug) : options_.out;
  std::error_code error;
  std::filesystem::create_directories(out_dir_, error);
  if (error) throw Error("cannot create the output folder " + out_dir_ + ": " + error.message());
}

std::string Chapter::path(const std::string& file) const { return out_dir_ + "/" + file; }

data::TrainValidation Chapter::centred_fashion_mnist(std::int64_t train_size,
                                                     std::int64_t val_size) const {
  const std::string dir = options_.data.empty() ? data::default_fashion_mnist_dir : options_.data;
  const data::Dataset all = data::load_fashion_mnist(dir);
  std::vector<std::int64_t> order = data::shuffled_indices(all.size(), options_.seed);
  order.resize(static_cast<std::size_t>(train_size + val_size));
  data::TrainValidation parts = data::split_train_validation(data::select(all, order), val_size);
  data::MeanImage centre;
  parts.train.images = centre.fit_apply(parts.train.images);
  parts.validation.images = centre.apply(parts.validation.images);
  return parts;
}

void Chapter::step(const std::string& title) {
  ++step_number_;
  if (step_number_ > 1) cli::pause_point(options_, title);
  std::cout << fmt::format("\n── Step {}: {} {}\n", step_number_, title,
                           std::string(std::max<int>(3, 84 - int(title.size())), '-'));
}

void Chapter::say(const std::string& text) { std::cout << wrap(text, 96, "  "); }

void Chapter::notice(const std::string& text) {
  std::cout << wrap("What to notice: " + text, 96, "  » ");
}

void Chapter::table(const std::vector<std::string>& header,
                    const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) widths[c] = display_width(header[c]);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], display_width(row[c]));
    }
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line = "   ";
    for (std::size_t c = 0; c < widths.size(); ++c) {
      std::string cell = c < row.size() ? row[c] : "";
      line += c == 0 ? pad(cell, widths[c], true) : "  " + pad(cell, widths[c], false);
    }
    std::cout << line << "\n";
  };
  print_row(header);
  std::size_t total = 3;
  for (std::size_t width : widths) total += width + 2;
  std::cout << "   " << std::string(total - 5, '-') << "\n";
  for (const auto& row : rows) print_row(row);
}

void Chapter::picture(const std::string& file, const std::string& what) {
  // A bare file name is one the chapter wrote into its output folder: show where it is.
  std::string shown = file.find('/') == std::string::npos ? path(file) : file;
  pictures_.emplace_back(shown, what);
  std::cout << "  [picture] " << shown << " — " << what << "\n";
}

void Chapter::draw_with_gnuplot(const std::string& name, const std::string& script,
                                const std::string& what) {
  const plots::PlotResult result = plots::draw_script(path(name + ".png"), script);
  if (result.drawn) {
    picture(result.png.string(), what);
  } else {
    say("(" + result.note + ")");
  }
}

bool Chapter::claim(const std::string& what, bool holds, const std::string& measured) {
  if (!holds) ++failed_claims_;
  std::cout << fmt::format("  {} {} (measured: {})\n", holds ? "✓" : "✗ CLAIM FAILED:", what,
                           measured);
  return holds;
}

void Chapter::summary(const std::string& text) { summary_ = text; }

int Chapter::finish() {
  std::cout << fmt::format("\n══ Chapter {:02d} done: {}\n", info_.number, info_.title);
  if (!summary_.empty()) std::cout << "summary: " << summary_ << "\n";
  for (const auto& [file, what] : pictures_)
    std::cout << "picture: " << file << " — " << what << "\n";
  std::cout << try_this_text(info_);
  if (failed_claims_ > 0) {
    std::cout << failed_claims_ << " claim(s) failed\n";
    return 1;
  }
  return 0;
}

std::string try_this_text(const ChapterInfo& info) {
  if (info.try_this.empty()) return "";
  std::string text = "\n── Try this " + std::string(85, '-') + "\n";
  for (const TryThis& suggestion : info.try_this) {
    text += fmt::format("  ./gradlab chapter {} {}\n", info.number, suggestion.flags);
    text += wrap(suggestion.what, 90, "      ");
  }
  return text;
}

int run_chapter(int argc, char** argv, const ChapterInfo& info,
                const std::function<void(Chapter&)>& body,
                const std::function<void(CLI::App&)>& extra_flags) {
  cli::CommonOptions options;
  CLI::App app{fmt::format("gradlab chapter {:02d}: {}", info.number, info.title)};
  cli::add_common_flags(app, options, true);
  if (extra_flags) extra_flags(app);
  cli::strict_values(app);  // no control characters, no blanks around values (issue 15)
  // A suggestion naming a flag the chapter does not take is the chapter's bug: stop at once.
  for (const TryThis& suggestion : info.try_this) {
    std::istringstream words(suggestion.flags);
    std::string word;
    while (words >> word) {
      if (word.rfind("--", 0) == 0 && app.get_option_no_throw(word) == nullptr) {
        std::cerr << fmt::format(
            "chapter {:02d} ({}): error: the \"Try this\" suggestion '{}' names {}, which is not "
            "a flag of this chapter\n",
            info.number, info.slug, suggestion.flags, word);
        return 2;
      }
    }
  }
  app.footer(try_this_text(info));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  try {
    cli::apply(options);
    std::cout << cli::runtime_banner() << "\n";
    std::cout << fmt::format("\n══ Chapter {:02d}: {} {}\n", info.number, info.title,
                             std::string(std::max<int>(3, 80 - int(info.title.size())), '='));
    Chapter chapter(info, options);
    cli::ProfileFlags profile(options);  // --profile, --profile-trace FILE
    body(chapter);
    profile.finish(std::cout);
    return chapter.finish();
  } catch (const std::exception& error) {
    std::cerr << fmt::format("chapter {:02d} ({}): error: {}\n", info.number, info.slug,
                             error.what());
    return 2;
  }
}

std::string number(double value, int digits) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  double magnitude = std::abs(value);
  if (value != 0 && (magnitude < std::pow(10.0, -digits) || magnitude >= 1e6))
    return fmt::format("{:.{}e}", value, std::max(1, digits - 2));
  return fmt::format("{:.{}f}", value, digits);
}

}  // namespace gradlab::tutorial
