#pragma once
// Helpers for the data tests: a temporary folder, and writers for small IDX, gzip and CIFAR-10
// files whose every byte the tests control (so corrupt variants can be made byte by byte).
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "autograd/tensor.hpp"
#include "modules/data/data.hpp"

#include "temp_folder.hpp"

namespace gradlab::testing {

using Bytes = std::vector<std::uint8_t>;

/// The data tests' scratch folder (see temp_folder.hpp).
class TempDir : public TempFolder {
 public:
  TempDir() : TempFolder("gradlab-data-test") {}
};

/// Writes `bytes` to `path`.
inline void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

/// An IDX file of unsigned bytes: 00 00 08 ndims, big-endian extents, values.
inline Bytes idx_bytes(const std::vector<std::uint32_t>& dims, const Bytes& values) {
  Bytes bytes = {0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t extent : dims)
    for (int shift = 24; shift >= 0; shift -= 8)
      bytes.push_back(static_cast<std::uint8_t>(extent >> shift));
  bytes.insert(bytes.end(), values.begin(), values.end());
  return bytes;
}

/// CRC-32 (the gzip trailer's check), bit by bit: reflected polynomial 0xEDB88320.
inline std::uint32_t crc32_of(const Bytes& data) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::uint8_t byte : data) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

/// A gzip stream of `data` made of "stored" deflate blocks (no compression): a 10-byte header
/// (1f 8b, method 8, no flags), blocks of [final bit + type 00][LEN][~LEN][bytes], then the
/// CRC-32 and the size modulo 2³², little-endian. Tests can corrupt any byte of it.
inline Bytes gzip_stored(const Bytes& data) {
  Bytes out = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
  std::size_t offset = 0;
  do {
    const std::size_t length = std::min<std::size_t>(65535, data.size() - offset);
    const bool last = offset + length == data.size();
    out.push_back(last ? 1 : 0);
    out.push_back(static_cast<std::uint8_t>(length));
    out.push_back(static_cast<std::uint8_t>(length >> 8));
    out.push_back(static_cast<std::uint8_t>(~length));
    out.push_back(static_cast<std::uint8_t>(~length >> 8));
    out.insert(out.end(), data.begin() + static_cast<std::ptrdiff_t>(offset),
               data.begin() + static_cast<std::ptrdiff_t>(offset + length));
    offset += length;
  } while (offset < data.size());
  const std::uint32_t crc = crc32_of(data);
  const auto size = static_cast<std::uint32_t>(data.size());
  for (int shift = 0; shift < 32; shift += 8)
    out.push_back(static_cast<std::uint8_t>(crc >> shift));
  for (int shift = 0; shift < 32; shift += 8)
    out.push_back(static_cast<std::uint8_t>(size >> shift));
  return out;
}

/// A small labelled dataset whose example i has every pixel equal to i (so rows can be traced
/// through shuffles and batches) and label i mod classes.
inline data::Dataset traceable_dataset(std::int64_t n, std::int64_t features,
                                       std::int64_t classes = 10) {
  data::Dataset dataset;
  dataset.name = "traceable";
  dataset.image_shape = {1, 1, features};
  for (std::int64_t c = 0; c < classes; ++c) dataset.class_names.push_back(std::to_string(c));
  dataset.images = Tensor::empty({n, features}, DType::float32);
  dataset.labels = Tensor::empty({n}, DType::int64);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < features; ++j)
      dataset.images.data<float>()[i * features + j] = static_cast<float>(i);
    dataset.labels.data<std::int64_t>()[i] = i % classes;
  }
  return dataset;
}

}  // namespace gradlab::testing
