// gradlab_course: runs the chapters 01 → 13 in order (flags are passed to every chapter), shows
// each one's output as it comes, and ends with a summary: what each chapter showed, where its
// pictures are, and how long it took.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace {

struct ChapterRun {
  std::string name;
  std::string summary;
  std::vector<std::string> pictures;
  double seconds = 0;
  int status = 0;
};

std::string quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> arguments(argv + 1, argv + argc);
  for (const std::string& argument : arguments) {
    if (argument == "--help" || argument == "-h") {
      std::cout << "gradlab course [flags]: runs chapters 01 to 13 in order; every flag goes to "
                   "every chapter\n"
                   "(see ./gradlab chapter 1 --help). --pause waits for Enter between steps.\n";
      return 0;
    }
  }
  std::vector<std::filesystem::path> chapters;
  for (const auto& entry : std::filesystem::directory_iterator(GRADLAB_CHAPTER_DIR)) {
    std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() > 3 && std::isdigit(name[0]) &&
        std::isdigit(name[1]) && name[2] == '_' &&
        (entry.status().permissions() & std::filesystem::perms::owner_exec) !=
            std::filesystem::perms::none) {
      chapters.push_back(entry.path());
    }
  }
  std::sort(chapters.begin(), chapters.end());
  if (chapters.empty()) {
    std::cerr << "gradlab course: no chapter programs found in " << GRADLAB_CHAPTER_DIR << "\n";
    return 2;
  }
  std::string flags;
  for (const std::string& argument : arguments) flags += " " + quote(argument);

  std::vector<ChapterRun> runs;
  auto course_start = std::chrono::steady_clock::now();
  for (const auto& chapter : chapters) {
    ChapterRun run;
    run.name = chapter.filename().string();
    std::cout << fmt::format("\n\n################ {} ################\n", run.name) << std::flush;
    auto start = std::chrono::steady_clock::now();
    std::string command = quote(chapter.string()) + flags + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
      std::cerr << "gradlab course: cannot start " << chapter << "\n";
      return 2;
    }
    char buffer[8192];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
      std::string line = buffer;
      std::cout << line << std::flush;
      if (line.rfind("summary: ", 0) == 0) run.summary = line.substr(9, line.size() - 10);
      if (line.rfind("picture: ", 0) == 0) run.pictures.push_back(line.substr(9, line.size() - 10));
    }
    int status = pclose(pipe);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    runs.push_back(run);
  }
  double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - course_start).count();

  std::cout << "\n\n################ The course in one page ################\n";
  int failures = 0;
  for (const ChapterRun& run : runs) {
    std::cout << fmt::format("\n{}  ({:.1f} s){}\n", run.name, run.seconds,
                             run.status == 0 ? "" : "  [FAILED]");
    if (!run.summary.empty()) std::cout << "  " << run.summary << "\n";
    for (const std::string& picture : run.pictures) std::cout << "    picture: " << picture << "\n";
    failures += run.status != 0;
  }
  std::cout << fmt::format("\n{} chapters in {:.1f} s; {} failed\n", runs.size(), total, failures);
  return failures == 0 ? 0 : 1;
}
