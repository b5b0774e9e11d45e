// Writes that modules make in place raise the tensor's version (autograd/tensor.hpp): loading a
// checkpoint overwrites every parameter, so a graph recorded before the load refuses a later
// backward pass.
#include <catch2/catch.hpp>
#include <filesystem>

#include "autograd/ops.hpp"
#include "modules/nn/nn.hpp"

using namespace gradlab;

TEST_CASE("loading a checkpoint raises the version of every parameter it overwrites", "[inplace]") {
  const std::filesystem::path folder =
      std::filesystem::temp_directory_path() / "gradlab_test_versions_checkpoint";
  std::filesystem::remove_all(folder);
  nn::Linear saved(3, 2), restored(3, 2);
  saved.save(folder);
  const std::uint64_t before = restored.weight.version();
  Tensor loss = (restored.weight * restored.weight).sum();  // mul keeps the weight
  restored.load(folder);
  CHECK(restored.weight.version() > before);
  CHECK(restored.bias.version() > 0);
  CHECK(restored.weight.to_vector() == saved.weight.to_vector());
  CHECK_THROWS_WITH(loss.backward(),
                    Catch::Contains("saved by `mul`") && Catch::Contains("modified in place"));
  std::filesystem::remove_all(folder);
}
