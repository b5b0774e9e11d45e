#pragma once
// Helpers shared by the checkpoint tests: a small network with parameters and buffers of every
// kind, and a bit-exact snapshot of a module's state.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "modules/nn/nn.hpp"

namespace gradlab::testing {

/// Parameters 0.weight [4, hidden], 0.bias [hidden], 1.weight, 1.bias (BatchNorm), 2.weight
/// (PReLU), 3.weight [hidden, 3], 3.bias [3]; buffers 1.running_mean, 1.running_var [hidden].
inline nn::Sequential small_net(std::int64_t hidden = 5) {
  return nn::MLP({4, hidden, 3}, {.activation = "prelu", .batchnorm = true});
}

/// Every parameter and then every buffer of `module` as raw bytes, to compare bit for bit.
inline std::vector<std::vector<std::uint8_t>> snapshot(const nn::Module& module) {
  std::vector<std::vector<std::uint8_t>> out;
  for (const auto& list : {module.named_parameters(), module.named_buffers()}) {
    for (const auto& [name, tensor] : list) {
      const auto* begin = static_cast<const std::uint8_t*>(tensor.raw_data());
      out.emplace_back(
          begin, begin + static_cast<std::size_t>(tensor.numel()) * dtype_size(tensor.dtype()));
    }
  }
  return out;
}

/// The whole content of the file at `path` (bytes as they are).
inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Replaces the content of the file at `path` with `text`.
inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

/// The message of the Error that loading `folder` into `module` raises ("no error" if none).
inline std::string load_error(nn::Module& module, const std::filesystem::path& folder) {
  try {
    module.load(folder);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace gradlab::testing
