#pragma once
// A scratch folder for tests that write files: fresh and uniquely named under the system's
// temporary folder, removed with everything in it when the test's scope ends.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

namespace gradlab::testing {

/// A fresh folder `<tmp>/<prefix>-<pid>-<n>`, removed at scope exit.
class TempFolder {
 public:
  /// Creates the folder (an old one of the same name is removed first).
  explicit TempFolder(const std::string& prefix = "gradlab-test") {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;

  /// The path of `name` inside the folder, as a string.
  std::string file(const std::string& name) const { return (path / name).string(); }

  std::filesystem::path path;  ///< The folder.
};

}  // namespace gradlab::testing
