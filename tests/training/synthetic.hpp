#pragma once
// Tiny synthetic datasets for the training tests: Gaussian blobs around random class centres,
// small enough that every test runs in well under a second.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "autograd/tensor.hpp"
#include "modules/data/data.hpp"

namespace gradlab::testing {

/// `n` examples of `features` features in `classes` classes: example i has label i mod classes
/// and image centre[label] + noise · N(0, 1). Deterministic for a seed.
inline data::Dataset blobs(std::int64_t n, std::int64_t features, std::int64_t classes,
                           double noise, std::uint64_t seed, const std::string& name = "blobs") {
  manual_seed(seed);
  Tensor centres = randn({classes, features});
  Tensor images = randn({n, features}) * noise;
  std::vector<std::int64_t> label_values(static_cast<std::size_t>(n));
  float* pixels = images.data<float>();
  const float* centre = centres.data<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    label_values[static_cast<std::size_t>(i)] = i % classes;
    for (std::int64_t j = 0; j < features; ++j)
      pixels[i * features + j] += centre[(i % classes) * features + j];
  }
  data::Dataset dataset;
  dataset.name = name;
  dataset.images = images;
  dataset.labels = labels(label_values);
  dataset.image_shape = {1, 1, features};
  for (std::int64_t c = 0; c < classes; ++c)
    dataset.class_names.push_back("class " + std::to_string(c));
  return dataset;
}

/// A fresh, empty folder under the system's temporary folder.
inline std::filesystem::path fresh_folder(const std::string& name) {
  const auto folder = std::filesystem::temp_directory_path() / ("gradlab-test-training-" + name);
  std::filesystem::remove_all(folder);
  std::filesystem::create_directories(folder);
  return folder;
}

}  // namespace gradlab::testing
