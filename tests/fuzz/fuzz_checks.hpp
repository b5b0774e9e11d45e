#pragma once
/// \file tests/fuzz/fuzz_checks.hpp
/// \brief What one fuzz input must satisfy, for each of the four file parsers; shared by the
/// libFuzzer targets (tests/fuzz/fuzz_*.cpp) and the regression test that replays the seed
/// corpus and every crash ever found (tests/data/test_fuzz_corpus.cpp).
///
/// The contract of a parser: any byte string gives either a result or a `gradlab::Error`.
/// Each `check_*` function feeds the bytes to the parser the way the loader does, catches
/// `gradlab::Error` (a refusal, which is fine) and nothing else, and then checks the result
/// against what the parser promises (sizes agree with the header, values are the input bytes,
/// a parse → format → parse round trip is exact, ...). A broken promise throws
/// `ContractViolation`, which is not a `gradlab::Error`: in a fuzzer it escapes
/// `LLVMFuzzerTestOneInput` and libFuzzer records the input as a crash; in the Catch2 test it
/// fails the test. Crashes, sanitizer reports, leaks, huge allocations and hangs are caught by
/// libFuzzer itself.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "modules/nn/checkpoint.hpp"
#include "modules/data/data.hpp"
#include "modules/io/npy.hpp"

namespace gradlab::fuzz {

/// A parser broke its contract: it accepted bytes but returned a result that disagrees with them,
/// or two ways of reading the same bytes disagree.
class ContractViolation : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// What a parser did with one input.
struct Outcome {
  bool accepted = false;  ///< It returned a result (which passed the checks).
  std::string error;      ///< The `gradlab::Error` message when it refused the input.
};

/// The names of the fuzz targets, which are also the folder names of their corpora.
inline constexpr const char* targets[] = {"idx", "cifar10", "npy", "manifest"};

namespace detail {

inline void require(bool condition, const std::string& what) {
  if (!condition) throw ContractViolation(what);
}

/// Runs `parse` and turns a `gradlab::Error` into a refusal; other exceptions pass through.
template <typename Parse>
Outcome run(Parse&& parse) {
  try {
    parse();
    return {true, ""};
  } catch (const Error& error) {
    return {false, error.what()};
  }
}

/// CRC-32 as gzip uses it (polynomial 0xEDB88320, reflected), bit by bit: inputs are small.
inline std::uint32_t crc32(std::span<const std::uint8_t> bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::uint8_t byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

inline void append_little_endian(std::vector<std::uint8_t>& out, std::uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

/// `bytes` wrapped in a gzip member made of "stored" (uncompressed) deflate blocks of at most
/// 65,535 bytes (RFC 1951 §3.2.4, RFC 1952): a valid gzip stream of any content without zlib.
inline std::vector<std::uint8_t> gzip_stored(std::span<const std::uint8_t> bytes) {
  // ID1 ID2, CM = 8 (deflate), no flags, MTIME 0, XFL 0, OS 255 (unknown).
  std::vector<std::uint8_t> out = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
  std::size_t done = 0;
  do {
    const std::size_t length = std::min<std::size_t>(bytes.size() - done, 65535);
    const bool last = done + length == bytes.size();
    out.push_back(last ? 1 : 0);  // BFINAL, BTYPE = 00 (stored); the rest of the byte is padding
    append_little_endian(out, static_cast<std::uint32_t>(length), 2);
    append_little_endian(out, static_cast<std::uint32_t>(~length & 0xFFFF), 2);
    out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(done),
               bytes.begin() + static_cast<std::ptrdiff_t>(done + length));
    done += length;
  } while (done < bytes.size());
  append_little_endian(out, crc32(bytes), 4);
  append_little_endian(out, static_cast<std::uint32_t>(bytes.size()), 4);  // ISIZE, mod 2^32
  return out;
}

/// What an accepted IDX array promises: values are the product of the extents.
inline void check_idx_array(const data::IdxArray& array) {
  std::uint64_t count = 1;
  for (std::int64_t extent : array.dims) {
    require(extent >= 0 && extent <= 0xFFFFFFFFll, "parse_idx: an extent outside 0..2^32-1");
    count *= static_cast<std::uint64_t>(extent);  // wraps only before a 0 extent, then is 0
  }
  require(array.dims.size() >= 1 && array.dims.size() <= 8, "parse_idx: 1 to 8 dimensions");
  require(array.data_offset == 4 + 4 * array.dims.size(), "parse_idx: data offset after header");
  require(array.values().size() == count, "parse_idx: value count differs from the extents");
}

}  // namespace detail

/// IDX (`data::parse_idx`, which gunzips gzip streams first). The input is a whole file, raw or
/// gzipped, exactly as `read_idx` reads it from disk. A raw input is also wrapped in a gzip
/// stream and parsed again: the loader must read the same array, or refuse both.
inline Outcome check_idx(std::span<const std::uint8_t> input) {
  data::IdxArray raw;
  const Outcome outcome = detail::run([&] {
    raw = data::parse_idx(input.data(), input.size(), "fuzz input");
    detail::check_idx_array(raw);
  });
  const bool gzipped = input.size() >= 2 && input[0] == 0x1f && input[1] == 0x8b;
  if (!gzipped) {
    const std::vector<std::uint8_t> wrapped = detail::gzip_stored(input);
    data::IdxArray unzipped;
    const Outcome again = detail::run([&] {
      unzipped = data::parse_idx(wrapped.data(), wrapped.size(), "fuzz input (gzipped)");
      detail::check_idx_array(unzipped);
    });
    detail::require(again.accepted == outcome.accepted,
                    "parse_idx: the gzipped input was " +
                        std::string(again.accepted ? "accepted" : "refused: " + again.error) +
                        ", the raw one " +
                        std::string(outcome.accepted ? "accepted" : "refused: " + outcome.error));
    if (outcome.accepted) {
      detail::require(unzipped.gzipped && !raw.gzipped, "parse_idx: wrong 'gzipped' flag");
      detail::require(unzipped.dims == raw.dims && unzipped.bytes == raw.bytes,
                      "parse_idx: the gzipped input gives a different array");
    }
  }
  return outcome;
}

/// CIFAR-10 (`data::parse_cifar10`): records of 1 label byte + 3,072 pixel bytes.
inline Outcome check_cifar10(std::span<const std::uint8_t> input) {
  return detail::run([&] {
    const data::Dataset dataset = data::parse_cifar10(input.data(), input.size(), "fuzz input");
    constexpr auto record = static_cast<std::int64_t>(data::cifar10_record_size);
    const auto count = static_cast<std::int64_t>(input.size()) / record;
    detail::require(count >= 1 && count * record == static_cast<std::int64_t>(input.size()),
                    "parse_cifar10: accepted a size that is not a positive multiple of 3073");
    detail::require(
        dataset.images.shape() == Shape{count, 3072} && dataset.labels.shape() == Shape{count},
        "parse_cifar10: wrong image or label shape");
    const float* images = dataset.images.data<float>();
    const std::int64_t* labels = dataset.labels.data<std::int64_t>();
    for (std::int64_t i = 0; i < count; ++i) {
      const std::uint8_t* bytes = input.data() + i * record;
      detail::require(labels[i] == bytes[0] && labels[i] <= 9, "parse_cifar10: wrong label");
      // The first and last pixel of each record are the bytes divided by 255.
      detail::require(images[i * 3072] == static_cast<float>(bytes[1]) / 255.0f &&
                          images[i * 3072 + 3071] == static_cast<float>(bytes[3072]) / 255.0f,
                      "parse_cifar10: a pixel is not its byte / 255");
    }
  });
}

/// `.npy` (`npy::parse`). The header is also parsed from a prefix that ends where the data
/// starts, as `npy::read_header` does with a file; both must agree with the tensor.
inline Outcome check_npy(std::span<const std::uint8_t> input) {
  return detail::run([&] {
    const Tensor tensor = npy::parse(input, "fuzz input");
    const npy::Header header = npy::parse_header(input, input.size(), "fuzz input");
    const npy::Header from_prefix = npy::parse_header(
        input.first(static_cast<std::size_t>(header.data_offset)), input.size(), "fuzz input");
    detail::require(from_prefix.shape == header.shape && from_prefix.dtype == header.dtype &&
                        from_prefix.data_bytes == header.data_bytes,
                    "npy::parse_header: a prefix reads differently from the whole file");
    detail::require(tensor.shape() == header.shape && tensor.dtype() == header.dtype,
                    "npy::parse: the tensor disagrees with the header");
    const auto bytes = static_cast<std::uint64_t>(tensor.numel()) * dtype_size(tensor.dtype());
    detail::require(
        bytes == header.data_bytes && header.data_offset + header.data_bytes == input.size(),
        "npy::parse: the data does not end where the file does");
    detail::require(
        bytes == 0 || std::memcmp(tensor.raw_data(), input.data() + header.data_offset, bytes) == 0,
        "npy::parse: the tensor's bytes are not the file's");
  });
}

/// Checkpoint manifests (`nn::parse_checkpoint_manifest`). An accepted manifest must survive
/// format → parse unchanged, and formatting that again must give the same text.
inline Outcome check_manifest(std::span<const std::uint8_t> input) {
  const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  return detail::run([&] {
    const nn::CheckpointManifest manifest = nn::parse_checkpoint_manifest(text, "fuzz input");
    const std::string formatted = nn::format_checkpoint_manifest(manifest);
    const nn::CheckpointManifest again = nn::parse_checkpoint_manifest(formatted, "formatted");
    detail::require(again == manifest, "checkpoint manifest: format → parse changed it");
    detail::require(nn::format_checkpoint_manifest(again) == formatted,
                    "checkpoint manifest: formatting is not stable");
  });
}

/// Dispatches on a target name ("idx", "cifar10", "npy", "manifest").
inline Outcome check(std::string_view target, std::span<const std::uint8_t> input) {
  if (target == "idx") return check_idx(input);
  if (target == "cifar10") return check_cifar10(input);
  if (target == "npy") return check_npy(input);
  if (target == "manifest") return check_manifest(input);
  throw std::invalid_argument("no fuzz target named '" + std::string(target) + "'");
}

}  // namespace gradlab::fuzz
