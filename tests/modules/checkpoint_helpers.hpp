#pragma once
// Helpers shared by the checkpoint tests: a small network with parameters and buffers of every
// kind, and a bit-exact snapshot of a module's state.

#include <cstdint>
#include <vector>

#include "modules/nn.hpp"

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
      out.emplace_back(begin, begin + static_cast<std::size_t>(tensor.numel()) *
                                          dtype_size(tensor.dtype()));
    }
  }
  return out;
}

}  // namespace gradlab::testing
