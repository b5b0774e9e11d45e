// Dataset loaders (IDX, CIFAR-10), splits, shuffling and the mini-batch iterator.
//
// Reading a file is two steps everywhere: get the bytes (decompressing gzip in memory), then parse
// them with functions that take a pointer and a size and check every length before they read or
// allocate. The parsers are the fuzzers' entry points, so they must survive any input: each check
// below names the byte offset it is about, which is what the error message reports.
#include "modules/data/data.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <utility>

#include "backends/random.hpp"

namespace gradlab::data {
namespace {

namespace fs = std::filesystem;

// --- errors ---------------------------------------------------------------------------------

/// Where a byte offset points: a source name and whether the offset counts decompressed bytes.
struct Source {
  std::string name;
  bool decompressed = false;
};

[[noreturn]] void fail_at(const Source& source, std::size_t offset, const std::string& message) {
  throw Error(fmt::format("{}: byte {}{}: {}", source.name, offset,
                          source.decompressed ? " of the decompressed data" : "", message));
}

// --- files ----------------------------------------------------------------------------------

/// Resizes `bytes` to `size`, turning an allocation failure into an error naming `name` and the
/// size asked for (never a bare std::bad_alloc).
void resize_or_fail(std::vector<std::uint8_t>& bytes, std::size_t size, const std::string& name,
                    const char* what) {
  try {
    bytes.resize(size);
  } catch (const std::bad_alloc&) {
    throw Error(
        fmt::format("{}: out of memory: cannot allocate {} bytes for {}", name, size, what));
  }
}

/// What is at `path` when it is not a regular file: "" when nothing is there, else a phrase such
/// as "is a directory, not a data file".
std::string not_a_regular_file(const fs::path& path) {
  std::error_code error;
  const fs::file_status link = fs::symlink_status(path, error);
  if (error || link.type() == fs::file_type::not_found) return "";
  const fs::file_status target = fs::status(path, error);
  if (error) {
    if (error == std::errc::too_many_symbolic_link_levels)
      return "is a symbolic link loop (too many levels of symbolic links), not a data file";
    if (link.type() == fs::file_type::symlink && error == std::errc::no_such_file_or_directory)
      return "is a dangling symbolic link (its target does not exist)";
    return "cannot be examined: " + error.message();
  }
  switch (target.type()) {
    case fs::file_type::regular: return "";
    case fs::file_type::directory: return "is a directory, not a data file";
    case fs::file_type::fifo: return "is a FIFO (named pipe), not a data file";
    case fs::file_type::socket: return "is a socket, not a data file";
    case fs::file_type::block: return "is a block device, not a data file";
    case fs::file_type::character: return "is a character device, not a data file";
    default: return "is not a regular file";
  }
}

/// The whole file at `path`. The buffer is sized from the file size the system reports, and a
/// read that returns fewer bytes (a file shrinking under us) is an error.
std::vector<std::uint8_t> read_file(const std::string& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    const std::string what = not_a_regular_file(path);
    throw Error(fmt::format("{}: {}", path, what.empty() ? "not found" : what));
  }
  const std::uintmax_t size = fs::file_size(path, error);
  if (error) throw Error(fmt::format("{}: cannot get its size: {}", path, error.message()));
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(fmt::format("{}: cannot open for reading", path));
  std::vector<std::uint8_t> bytes;
  resize_or_fail(bytes, static_cast<std::size_t>(size), path, "the file's contents");
  file.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  const auto got = static_cast<std::size_t>(file.gcount());
  if (got != bytes.size())
    fail_at({path}, got, fmt::format("short read: expected {} bytes, got {}", bytes.size(), got));
  return bytes;
}

bool is_gzip(const std::uint8_t* bytes, std::size_t size) {
  return size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

// --- IDX ------------------------------------------------------------------------------------

const char* idx_type_name(std::uint8_t code) {
  switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

constexpr std::size_t idx_max_dims = 8;

struct IdxHeader {
  Shape dims;
  std::size_t data_offset = 0;
};

/// Refuses an IDX header whose file (`header` bytes + `values`) would be larger than `max_bytes`.
void check_declared_size(const Shape& dims, std::size_t header, std::uint64_t values, bool overflow,
                         std::uint64_t max_bytes, const Source& source) {
  if (!overflow && values <= max_bytes && header + values <= max_bytes) return;
  fail_at(source, 4,
          fmt::format("the IDX header declares extents {}, a file of {} bytes, more than the "
                      "limit of {} bytes; refused (raise the limit with "
                      "LoadOptions::max_idx_bytes or gradlab_train --max-data-size if the file "
                      "is genuine)",
                      shape_string(dims),
                      overflow ? std::string("more than 2⁶⁴") : std::to_string(header + values),
                      max_bytes));
}

/// Reads and checks the header of an IDX file of unsigned bytes; the data after it must be exactly
/// the product of the extents.
IdxHeader parse_idx_header(const std::uint8_t* bytes, std::size_t size, const Source& source,
                           std::uint64_t max_bytes) {
  if (size < 4)
    fail_at(source, size,
            fmt::format("too short for an IDX header: the magic number needs 4 bytes, the data "
                        "has {}",
                        size));
  if (bytes[0] != 0 || bytes[1] != 0)
    fail_at(source, 0,
            fmt::format("bad magic number {:02x} {:02x} {:02x} {:02x}: an IDX file starts with "
                        "two zero bytes, a type code and the number of dimensions",
                        bytes[0], bytes[1], bytes[2], bytes[3]));
  if (bytes[2] != 0x08)
    fail_at(source, 2,
            fmt::format("IDX element type 0x{:02x} ({}) is not supported: gradlab reads "
                        "unsigned-byte IDX files (type 0x08)",
                        bytes[2], idx_type_name(bytes[2])));
  const std::size_t ndims = bytes[3];
  if (ndims == 0 || ndims > idx_max_dims)
    fail_at(
        source, 3,
        fmt::format("an IDX array with {} dimensions: gradlab reads 1 to {}", ndims, idx_max_dims));
  const std::size_t header = 4 + 4 * ndims;
  if (size < header)
    fail_at(source, size,
            fmt::format("short read: the header of {} extents needs {} bytes, the data ends "
                        "after {}",
                        ndims, header, size));

  IdxHeader result;
  result.data_offset = header;
  const std::size_t available = size - header;
  // The product of the extents, checked for overflow, is compared with what the data holds
  // before anything is allocated: a forged header cannot ask for more than the file can fill.
  std::uint64_t expected = 1;
  bool overflow = false;
  for (std::size_t d = 0; d < ndims; ++d) {
    const std::uint8_t* p = bytes + 4 + 4 * d;
    const std::uint32_t extent = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                 (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
    result.dims.push_back(static_cast<std::int64_t>(extent));
    overflow = overflow || __builtin_mul_overflow(expected, std::uint64_t{extent}, &expected);
  }
  if (overflow || expected > available)
    fail_at(source, size,
            fmt::format("short read: the extents {} need {} bytes of data after the {}-byte "
                        "header, the data holds only {} (truncated file?)",
                        shape_string(result.dims),
                        overflow ? std::string("more than 2⁶⁴") : std::to_string(expected), header,
                        available));
  // Complete, but larger than allowed (a gzip stream was checked before it was inflated).
  check_declared_size(result.dims, header, expected, false, max_bytes, source);
  if (expected < available)
    fail_at(source, header + expected,
            fmt::format("{} unexpected bytes after the last value of the extents {}",
                        available - expected, shape_string(result.dims)));
  return result;
}

// --- gzip, inflated step by step ---------------------------------------------------------

/// A gzip stream held in memory, decompressed on demand (several concatenated members are read
/// one after the other). Errors name the source and the compressed byte offset.
class GzipReader {
 public:
  GzipReader(const std::uint8_t* bytes, std::size_t size, const std::string& name)
      : bytes_(bytes), size_(size), source_{name} {
    if (size > std::numeric_limits<uInt>::max())
      fail_at(source_, 0,
              fmt::format("a gzip file of {} bytes is larger than gradlab reads", size));
    // 15 + 16: the largest window, and expect a gzip header and trailer (with its CRC-32 check).
    if (inflateInit2(&stream_, 15 + 16) != Z_OK)
      throw Error(fmt::format("{}: cannot initialise zlib's inflate", name));
    stream_.next_in = const_cast<Bytef*>(bytes);
    stream_.avail_in = static_cast<uInt>(size);
  }
  ~GzipReader() { inflateEnd(&stream_); }
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;

  /// Decompresses up to `count` bytes into `out`; returns how many it wrote (fewer only at the
  /// end of the stream).
  std::size_t read(std::uint8_t* out, std::size_t count) {
    std::size_t produced = 0;
    while (produced < count && !finished_) {
      const std::size_t room =
          std::min<std::size_t>(count - produced, std::numeric_limits<uInt>::max());
      stream_.next_out = out + produced;
      stream_.avail_out = static_cast<uInt>(room);
      const int status = inflate(&stream_, Z_NO_FLUSH);
      produced += room - stream_.avail_out;
      const std::size_t consumed = size_ - stream_.avail_in;
      if (status == Z_STREAM_END) {
        if (stream_.avail_in == 0) {
          finished_ = true;
          break;
        }
        // Another member may follow (gzip allows concatenation); anything else is garbage.
        if (!is_gzip(bytes_ + consumed, stream_.avail_in))
          fail_at(source_, consumed,
                  fmt::format("{} bytes of trailing garbage after the end of the gzip stream",
                              stream_.avail_in));
        inflateReset(&stream_);
      } else if (status == Z_BUF_ERROR && stream_.avail_in == 0) {
        fail_at(source_, size_, "short read: the gzip stream ends early (truncated file?)");
      } else if (status != Z_OK && !(status == Z_BUF_ERROR && stream_.avail_out == 0)) {
        fail_at(source_, consumed,
                fmt::format("corrupt gzip stream: {}",
                            stream_.msg != nullptr ? stream_.msg : zError(status)));
      }
    }
    return produced;
  }

  /// Compressed bytes consumed so far.
  std::size_t consumed() const { return size_ - stream_.avail_in; }

 private:
  const std::uint8_t* bytes_;
  std::size_t size_;
  Source source_;
  z_stream stream_{};
  bool finished_ = false;
};

/// Decompresses the IDX file in a gzip stream no further than its header declares: the header
/// first, then (when it declares at most `max_bytes`) the values, in a buffer that grows with
/// the data actually decompressed, never beyond the declared size. A stream that goes on past
/// that size fails at the first extra byte. A stream too short, or a header that is not IDX, is
/// returned as far as it goes: parse_idx_header names what is wrong with it.
std::vector<std::uint8_t> gunzip_idx(const std::uint8_t* bytes, std::size_t size,
                                     const std::string& name, std::uint64_t max_bytes) {
  GzipReader reader(bytes, size, name);
  const Source source{name, true};
  std::vector<std::uint8_t> out(4);
  std::size_t got = reader.read(out.data(), 4);
  const std::size_t ndims = out[3];
  if (got < 4 || out[0] != 0 || out[1] != 0 || out[2] != 0x08 || ndims == 0 ||
      ndims > idx_max_dims) {
    out.resize(got);
    return out;
  }
  const std::size_t header = 4 + 4 * ndims;
  out.resize(header);
  got += reader.read(out.data() + 4, header - 4);
  if (got < header) {
    out.resize(got);
    return out;
  }
  Shape dims;
  std::uint64_t values = 1;
  bool overflow = false;
  for (std::size_t d = 0; d < ndims; ++d) {
    const std::uint8_t* p = out.data() + 4 + 4 * d;
    const std::uint32_t extent = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                 (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
    dims.push_back(static_cast<std::int64_t>(extent));
    overflow = overflow || __builtin_mul_overflow(values, std::uint64_t{extent}, &values);
  }
  check_declared_size(dims, header, overflow ? 0 : values, overflow, max_bytes, source);
  const auto declared = static_cast<std::size_t>(header + values);
  // Grow by doubling (from 1 MiB), so memory follows the data actually there, not the claim.
  while (out.size() < declared) {
    const std::size_t before = out.size();
    const std::size_t target = std::min(declared, std::max<std::size_t>(2 * before, 1 << 20));
    resize_or_fail(out, target, name, "the decompressed IDX data");
    const std::size_t read = reader.read(out.data() + before, target - before);
    if (read < target - before) {
      out.resize(before + read);
      return out;
    }
  }
  std::uint8_t extra = 0;
  if (reader.read(&extra, 1) != 0)
    fail_at(source, declared,
            fmt::format("the gzip stream decompresses to more than the {} bytes its IDX header "
                        "declares ({}-byte header + extents {}); decompression stopped at the "
                        "first extra byte (compressed byte {})",
                        declared, header, shape_string(dims), reader.consumed()));
  return out;
}

/// Parses `bytes` (taking ownership), decompressing them first when they are a gzip stream.
IdxArray parse_idx_owned(std::vector<std::uint8_t> bytes, const std::string& name,
                         const LoadOptions& options) {
  Source source{name};
  if (is_gzip(bytes.data(), bytes.size())) {
    bytes = gunzip_idx(bytes.data(), bytes.size(), name, options.max_idx_bytes);
    source.decompressed = true;
  }
  IdxHeader header = parse_idx_header(bytes.data(), bytes.size(), source, options.max_idx_bytes);
  IdxArray array;
  array.name = name;
  array.gzipped = source.decompressed;
  array.dims = std::move(header.dims);
  array.data_offset = header.data_offset;
  array.bytes = std::move(bytes);
  return array;
}

/// The source of an already parsed array, for messages about its values.
Source source_of(const IdxArray& array) { return Source{array.name, array.gzipped}; }

// --- datasets -------------------------------------------------------------------------------

Dataset allocate_dataset(std::string name, std::int64_t count, ImageShape image_shape,
                         std::vector<std::string> class_names) {
  Dataset dataset;
  dataset.name = std::move(name);
  dataset.image_shape = image_shape;
  dataset.class_names = std::move(class_names);
  try {
    dataset.images = Tensor::empty({count, image_shape.features()}, DType::float32);
    dataset.labels = Tensor::empty({count}, DType::int64);
  } catch (const std::bad_alloc&) {
    throw Error(fmt::format("{}: out of memory: cannot allocate {} images of {} floats ({} bytes)",
                            dataset.name, count, image_shape.features(),
                            count * image_shape.features() * 4));
  }
  return dataset;
}

/// Pixels 0..255 to [0, 1]: out[i] = in[i] / 255, one pass the compiler vectorises.
void bytes_to_unit_floats(const std::uint8_t* in, std::size_t count, float* out) {
  for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<float>(in[i]) / 255.0f;
}

std::vector<std::string> digit_class_names() {
  std::vector<std::string> names;
  for (int digit = 0; digit < 10; ++digit) names.push_back(std::to_string(digit));
  return names;
}

/// The first of `stem.gz` and `stem` that exists in `dir`, or "" when neither does. Something
/// else under either name (a directory, a FIFO, a symbolic link loop) is an error saying what.
std::string find_idx_file(const std::string& dir, const std::string& stem) {
  for (const std::string& candidate : {stem + ".gz", stem}) {
    const fs::path path = fs::path(dir) / candidate;
    std::error_code error;
    if (fs::is_regular_file(path, error)) return path.string();
    const std::string what = not_a_regular_file(path);
    if (!what.empty()) throw Error(fmt::format("{}: {}", path.string(), what));
  }
  return "";
}

/// Loads the IDX pair of a MNIST-like dataset; `where_to_get_it` completes the missing-file
/// message.
Dataset load_mnist_like(const std::string& display_name, const std::string& dir, Split split,
                        std::vector<std::string> class_names, const std::string& where_to_get_it,
                        const LoadOptions& options) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const std::string images_stem = prefix + "-images-idx3-ubyte";
  const std::string labels_stem = prefix + "-labels-idx1-ubyte";
  const std::string images_path = find_idx_file(dir, images_stem);
  const std::string labels_path = find_idx_file(dir, labels_stem);
  if (images_path.empty() || labels_path.empty()) {
    const std::string& missing = images_path.empty() ? images_stem : labels_stem;
    throw Error(fmt::format("{} not found: expected {}.gz (or the uncompressed {}) in {}. {}",
                            display_name, missing, missing, dir, where_to_get_it));
  }
  return load_idx_pair(images_path, labels_path, std::move(class_names),
                       fmt::format("{} {}", display_name, split_name(split)), options);
}

/// Checks CIFAR-10 records and returns how many there are.
std::size_t count_cifar10_records(const std::uint8_t* bytes, std::size_t size,
                                  const Source& source) {
  if (size == 0) fail_at(source, 0, "empty file: a CIFAR-10 batch holds records of 3073 bytes");
  if (size % cifar10_record_size != 0)
    fail_at(
        source, size - size % cifar10_record_size,
        fmt::format("short read: the last record has {} of its {} bytes (1 label byte + "
                    "3072 pixel bytes); the file size {} is not a multiple of {} "
                    "(truncated file?)",
                    size % cifar10_record_size, cifar10_record_size, size, cifar10_record_size));
  const std::size_t count = size / cifar10_record_size;
  for (std::size_t record = 0; record < count; ++record) {
    const std::uint8_t label = bytes[record * cifar10_record_size];
    if (label > 9)
      fail_at(source, record * cifar10_record_size,
              fmt::format("label {} of record {} is outside 0..9", label, record));
  }
  return count;
}

/// Converts checked CIFAR-10 records into rows of images and labels.
void convert_cifar10_records(const std::uint8_t* bytes, std::size_t count, float* images,
                             std::int64_t* labels) {
  constexpr std::size_t pixels = cifar10_record_size - 1;
  for (std::size_t record = 0; record < count; ++record) {
    const std::uint8_t* in = bytes + record * cifar10_record_size;
    labels[record] = in[0];
    bytes_to_unit_floats(in + 1, pixels, images + record * pixels);
  }
}

constexpr ImageShape cifar10_image_shape{3, 32, 32};

const char* cifar10_help =
    "Download the binary version from the CIFAR-10 website "
    "(https://www.cs.toronto.edu/~kriz/cifar.html, \"CIFAR-10 binary version (suitable for C "
    "programs)\"), unpack it, and pass its cifar-10-batches-bin folder (--data DIR); it holds "
    "data_batch_1.bin … data_batch_5.bin and test_batch.bin";

/// Copies the rows `indices` (or `begin` … `begin + count − 1` when `indices` is empty) of a
/// dataset into fresh tensors.
void copy_rows(const Dataset& dataset, std::span<const std::int64_t> indices, std::int64_t begin,
               std::int64_t count, float* images, std::int64_t* labels) {
  const std::int64_t features = dataset.features();
  const float* source_images = dataset.images.const_data<float>();
  const std::int64_t* source_labels = dataset.labels.const_data<std::int64_t>();
  for (std::int64_t row = 0; row < count; ++row) {
    const std::int64_t from = indices.empty() ? begin + row : indices[begin + row];
    std::memcpy(images + row * features, source_images + from * features,
                sizeof(float) * static_cast<std::size_t>(features));
    labels[row] = source_labels[from];
  }
}

void check_dataset(const Dataset& dataset, const char* what) {
  if (!dataset.images.defined() || !dataset.labels.defined())
    throw Error(fmt::format("{}: the dataset '{}' has no images or labels", what, dataset.name));
  if (dataset.images.dtype() != DType::float32 || dataset.images.dim() != 2 ||
      dataset.labels.dtype() != DType::int64 || dataset.labels.dim() != 1 ||
      dataset.labels.size(0) != dataset.images.size(0))
    throw Error(
        fmt::format("{}: the dataset '{}' needs float32 images [N, D] and int64 labels "
                    "[N]; it has {} images {} and {} labels {}",
                    what, dataset.name, dtype_name(dataset.images.dtype()),
                    shape_string(dataset.images.shape()), dtype_name(dataset.labels.dtype()),
                    shape_string(dataset.labels.shape())));
}

}  // namespace

// --- small definitions --------------------------------------------------------------------

std::string ImageShape::to_string() const {
  return fmt::format("{}×{}×{}", channels, height, width);
}

std::int64_t Dataset::size() const { return images.defined() ? images.size(0) : 0; }

std::int64_t Dataset::features() const { return images.defined() ? images.size(1) : 0; }

const char* split_name(Split split) { return split == Split::train ? "train" : "test"; }

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {
      "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return names;
}

// --- gzip ---------------------------------------------------------------------------------

std::vector<std::uint8_t> gunzip(const std::uint8_t* bytes, std::size_t size,
                                 const std::string& name) {
  GzipReader reader(bytes, size, name);
  // Deflate expands at most about 1032 : 1, so no honest stream decompresses to more than this;
  // the cap keeps a forged stream from growing the buffer without end.
  const std::size_t limit = size * 1040 + 4096;
  std::vector<std::uint8_t> out;
  std::size_t produced = 0;
  for (;;) {
    const std::size_t target = std::min(limit, std::max<std::size_t>(2 * produced, 64 * 1024));
    resize_or_fail(out, target, name, "the decompressed data");
    const std::size_t read = reader.read(out.data() + produced, target - produced);
    produced += read;
    if (produced < target) break;
    if (target == limit) {
      std::uint8_t extra = 0;
      if (reader.read(&extra, 1) == 0) break;
      fail_at(Source{name}, reader.consumed(),
              fmt::format("corrupt gzip stream: it decompresses to more than {} bytes", limit));
    }
  }
  out.resize(produced);
  return out;
}

// --- IDX ----------------------------------------------------------------------------------

IdxArray parse_idx(const std::uint8_t* bytes, std::size_t size, const std::string& name,
                   const LoadOptions& options) {
  if (bytes == nullptr && size != 0) throw Error(fmt::format("{}: parse_idx got no bytes", name));
  return parse_idx_owned(std::vector<std::uint8_t>(bytes, bytes + size), name, options);
}

IdxArray read_idx(const std::string& path, const LoadOptions& options) {
  return parse_idx_owned(read_file(path), path, options);
}

Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path,
                      std::vector<std::string> class_names, const std::string& name,
                      const LoadOptions& options) {
  if (class_names.empty() || class_names.size() > 256)
    throw Error(fmt::format("load_idx_pair({}): needs 1 to 256 class names, got {}", name,
                            class_names.size()));
  const IdxArray images = read_idx(images_path, options);
  const IdxArray labels = read_idx(labels_path, options);
  const Source images_source = source_of(images);
  const Source labels_source = source_of(labels);

  // Images are [N, D], [N, H, W] (grey) or [N, C, H, W].
  ImageShape shape;
  switch (images.dims.size()) {
    case 2: shape = {1, 1, images.dims[1]}; break;
    case 3: shape = {1, images.dims[1], images.dims[2]}; break;
    case 4: shape = {images.dims[1], images.dims[2], images.dims[3]}; break;
    default:
      fail_at(images_source, 3,
              fmt::format("an image file holds [N, H, W], [N, C, H, W] or [N, D] values; this "
                          "one is {}",
                          shape_string(images.dims)));
  }
  if (labels.dims.size() != 1)
    fail_at(
        labels_source, 3,
        fmt::format("a label file holds [N] values; this one is {}", shape_string(labels.dims)));
  const std::int64_t count = images.dims[0];
  if (count == 0) fail_at(images_source, 4, "the image file holds no images");
  if (shape.features() == 0)
    fail_at(images_source, 8, fmt::format("images of {} hold no pixels", shape.to_string()));
  if (labels.dims[0] != count)
    fail_at(labels_source, 4,
            fmt::format("the label file holds {} labels but the image file {} holds {} images",
                        labels.dims[0], images_path, count));

  const std::span<const std::uint8_t> label_bytes = labels.values();
  for (std::size_t i = 0; i < label_bytes.size(); ++i)
    if (label_bytes[i] >= class_names.size())
      fail_at(labels_source, labels.data_offset + i,
              fmt::format("label {} of example {} is outside 0..{}", label_bytes[i], i,
                          class_names.size() - 1));

  Dataset dataset = allocate_dataset(name, count, shape, std::move(class_names));
  dataset.source = images_path;
  const std::span<const std::uint8_t> pixels = images.values();
  bytes_to_unit_floats(pixels.data(), pixels.size(), dataset.images.data<float>());
  std::int64_t* out_labels = dataset.labels.data<std::int64_t>();
  for (std::size_t i = 0; i < label_bytes.size(); ++i) out_labels[i] = label_bytes[i];
  return dataset;
}

Dataset load_fashion_mnist(const std::string& dir, Split split, const LoadOptions& options) {
  return load_mnist_like(
      "Fashion-MNIST", dir, split, fashion_mnist_class_names(),
      fmt::format("Install the Debian package 'dataset-fashion-mnist' (sudo apt-get install "
                  "dataset-fashion-mnist), which puts the files in {}, or download the four "
                  "files from https://github.com/zalandoresearch/fashion-mnist and pass their "
                  "folder (--data DIR)",
                  default_fashion_mnist_dir),
      options);
}

Dataset load_mnist(const std::string& dir, Split split, const LoadOptions& options) {
  return load_mnist_like(
      "MNIST", dir, split, digit_class_names(),
      "Download the four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
      "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from the MNIST page "
      "(http://yann.lecun.com/exdb/mnist/) and pass their folder (--data DIR)",
      options);
}

// --- CIFAR-10 -----------------------------------------------------------------------------

Dataset parse_cifar10(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  if (bytes == nullptr && size != 0)
    throw Error(fmt::format("{}: parse_cifar10 got no bytes", name));
  const std::size_t count = count_cifar10_records(bytes, size, Source{name});
  Dataset dataset = allocate_dataset(name, static_cast<std::int64_t>(count), cifar10_image_shape,
                                     cifar10_class_names());
  convert_cifar10_records(bytes, count, dataset.images.data<float>(),
                          dataset.labels.data<std::int64_t>());
  return dataset;
}

Dataset load_cifar10(const std::string& dir, Split split) {
  std::vector<std::string> paths;
  if (split == Split::train) {
    for (int batch = 1; batch <= 5; ++batch)
      paths.push_back((fs::path(dir) / fmt::format("data_batch_{}.bin", batch)).string());
  } else {
    paths.push_back((fs::path(dir) / "test_batch.bin").string());
  }
  // Sizes first, so the dataset is allocated once and each file is converted straight into it.
  std::size_t total_bytes = 0;
  for (const std::string& path : paths) {
    std::error_code error;
    const std::string what = not_a_regular_file(path);
    if (!what.empty()) throw Error(fmt::format("{}: {}", path, what));
    if (!fs::is_regular_file(path, error))
      throw Error(fmt::format("CIFAR-10 not found: expected {} in {}. {}",
                              fs::path(path).filename().string(), dir, cifar10_help));
    const std::uintmax_t size = fs::file_size(path, error);
    if (error) throw Error(fmt::format("{}: cannot get its size: {}", path, error.message()));
    if (size == 0 || size % cifar10_record_size != 0) {
      // Let the parser phrase the error; it needs only the size for these two checks.
      const std::vector<std::uint8_t> bytes = read_file(path);
      count_cifar10_records(bytes.data(), bytes.size(), Source{path});
    }
    total_bytes += static_cast<std::size_t>(size);
  }
  const auto count = static_cast<std::int64_t>(total_bytes / cifar10_record_size);
  Dataset dataset = allocate_dataset(fmt::format("CIFAR-10 {}", split_name(split)), count,
                                     cifar10_image_shape, cifar10_class_names());
  float* images = dataset.images.data<float>();
  std::int64_t* labels = dataset.labels.data<std::int64_t>();
  std::size_t done = 0;
  for (const std::string& path : paths) {
    const std::vector<std::uint8_t> bytes = read_file(path);
    const std::size_t records = count_cifar10_records(bytes.data(), bytes.size(), Source{path});
    if (done + records > static_cast<std::size_t>(count))
      throw Error(fmt::format("{}: the file grew while CIFAR-10 was being read", path));
    convert_cifar10_records(bytes.data(), records, images + done * (cifar10_record_size - 1),
                            labels + done);
    done += records;
  }
  if (done != static_cast<std::size_t>(count))
    throw Error(fmt::format("{}: a file shrank while CIFAR-10 was being read", dir));
  dataset.source = fmt::format("{}", fmt::join(paths, ", "));
  return dataset;
}

void check_same_image_shape(const Dataset& reference, const Dataset& other) {
  if (reference.features() == other.features() &&
      reference.image_shape.to_string() == other.image_shape.to_string())
    return;
  auto described = [](const Dataset& dataset) {
    return fmt::format("'{}'{} holds images of {} ({} values each)", dataset.name,
                       dataset.source.empty() ? std::string() : " (" + dataset.source + ")",
                       dataset.image_shape.to_string(), dataset.features());
  };
  throw Error(fmt::format("{}, but {}: every split must hold images of the same size",
                          described(other), described(reference)));
}

// --- splits and shuffling -----------------------------------------------------------------

std::vector<std::int64_t> shuffled_indices(std::int64_t n, std::uint64_t seed) {
  if (n < 0) throw Error(fmt::format("shuffled_indices: n = {} is negative", n));
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[i] = i;
  for (std::int64_t i = n - 1; i >= 1; --i) {
    // j = ⌊u · (i + 1)⌋ with u = bits / 2⁶⁴, computed exactly as the high half of a 128-bit
    // product (Lemire's method without rejection; its bias is below (i + 1) / 2⁶⁴).
    const std::uint64_t bits = random::random_bits(seed, static_cast<std::uint64_t>(i));
    const auto j = static_cast<std::int64_t>(
        (static_cast<unsigned __int128>(bits) * static_cast<std::uint64_t>(i + 1)) >> 64);
    std::swap(order[i], order[j]);
  }
  return order;
}

Dataset select(const Dataset& dataset, std::span<const std::int64_t> indices) {
  check_dataset(dataset, "data::select");
  const std::int64_t n = dataset.size();
  for (std::size_t i = 0; i < indices.size(); ++i)
    if (indices[i] < 0 || indices[i] >= n)
      throw Error(fmt::format("data::select: index {} (position {}) is outside 0..{} of '{}'",
                              indices[i], i, n - 1, dataset.name));
  const auto count = static_cast<std::int64_t>(indices.size());
  Dataset result = allocate_dataset(dataset.name, count, dataset.image_shape, dataset.class_names);
  result.source = dataset.source;
  copy_rows(dataset, indices, 0, count, result.images.data<float>(),
            result.labels.data<std::int64_t>());
  return result;
}

Dataset slice(const Dataset& dataset, std::int64_t begin, std::int64_t count) {
  check_dataset(dataset, "data::slice");
  if (begin < 0 || count < 0 || begin > dataset.size() || count > dataset.size() - begin)
    throw Error(fmt::format("data::slice: examples {}..{} are outside the {} examples of '{}'",
                            begin, begin + count - 1, dataset.size(), dataset.name));
  Dataset result = allocate_dataset(dataset.name, count, dataset.image_shape, dataset.class_names);
  result.source = dataset.source;
  copy_rows(dataset, {}, begin, count, result.images.data<float>(),
            result.labels.data<std::int64_t>());
  return result;
}

Dataset shuffle(const Dataset& dataset, std::uint64_t seed) {
  check_dataset(dataset, "data::shuffle");
  return select(dataset, shuffled_indices(dataset.size(), seed));
}

TrainValidation split_train_validation(const Dataset& dataset, std::int64_t validation_size,
                                       std::optional<std::uint64_t> shuffle_seed) {
  check_dataset(dataset, "data::split_train_validation");
  const std::int64_t n = dataset.size();
  if (validation_size <= 0 || validation_size >= n)
    throw Error(
        fmt::format("data::split_train_validation: a validation set of {} examples out "
                    "of {} leaves no room for both splits (need 0 < size < {})",
                    validation_size, n, n));
  std::vector<std::int64_t> order;
  if (shuffle_seed) {
    order = shuffled_indices(n, *shuffle_seed);
  } else {
    order.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) order[i] = i;
  }
  const std::span<const std::int64_t> all(order);
  const std::int64_t train_size = n - validation_size;
  TrainValidation parts{select(dataset, all.first(static_cast<std::size_t>(train_size))),
                        select(dataset, all.subspan(static_cast<std::size_t>(train_size)))};
  parts.train.name = dataset.name + " (train part)";
  parts.validation.name = dataset.name + " (validation part)";
  return parts;
}

// --- mini-batches -------------------------------------------------------------------------

BatchIterator::BatchIterator(const Dataset& dataset, std::int64_t batch_size,
                             std::optional<std::uint64_t> shuffle_seed, bool drop_last)
    : dataset_(dataset), batch_size_(batch_size), drop_last_(drop_last) {
  check_dataset(dataset_, "data::BatchIterator");
  if (batch_size < 1)
    throw Error(fmt::format("data::BatchIterator: batch size {} must be at least 1", batch_size));
  if (shuffle_seed) order_ = shuffled_indices(dataset_.size(), *shuffle_seed);
}

std::int64_t BatchIterator::size() const {
  const std::int64_t n = dataset_.size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

Batch BatchIterator::batch(std::int64_t index) const {
  if (index < 0 || index >= size())
    throw Error(fmt::format("data::BatchIterator: batch {} is outside 0..{}", index, size() - 1));
  const std::int64_t first = index * batch_size_;
  const std::int64_t count = std::min(batch_size_, dataset_.size() - first);
  Batch result;
  result.index = index;
  result.first = first;
  result.images = Tensor::empty({count, dataset_.features()}, DType::float32);
  result.labels = Tensor::empty({count}, DType::int64);
  copy_rows(dataset_, order_, first, count, result.images.data<float>(),
            result.labels.data<std::int64_t>());
  return result;
}

BatchIterator::iterator::iterator(const BatchIterator* owner, std::int64_t index)
    : owner_(owner), index_(index) {
  if (owner_ != nullptr && index_ < owner_->size()) current_ = owner_->batch(index_);
}

BatchIterator::iterator& BatchIterator::iterator::operator++() {
  ++index_;
  current_ = index_ < owner_->size() ? owner_->batch(index_) : Batch{};
  return *this;
}

}  // namespace gradlab::data
