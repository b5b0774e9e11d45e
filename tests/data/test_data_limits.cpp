// Hostile data files (issue 15): gzip bombs stop at the size their IDX header declares, a header
// declaring more than the limit is refused before decompressing, running out of memory is a named
// error, and a directory, FIFO or symbolic link loop under a data file's name is said to be that.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "data_files.hpp"
#include "modules/data/data.hpp"

// A named namespace around everything: a unity build compiles this file together with the
// folder's other tests, whose helpers may have the same names.
namespace data_limits_tests {

using namespace gradlab;
using Catch::Matchers::Contains;
using gradlab::testing::Bytes;
using gradlab::testing::idx_bytes;
using gradlab::testing::TempDir;
using gradlab::testing::write_file;

namespace {

// A gzip stream of an IDX header with extents `dims` followed by `zeros` zero bytes (whatever the
// header declares): 1 GiB of zeros compresses to about 1 MB.
Bytes gzip_bomb(const std::vector<std::uint32_t>& dims, std::uint64_t zeros) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  Bytes out;
  std::vector<std::uint8_t> buffer(1 << 20);
  auto feed = [&](const std::uint8_t* data, std::size_t size, int flush) {
    stream.next_in = const_cast<Bytef*>(data);
    stream.avail_in = static_cast<uInt>(size);
    do {
      stream.next_out = buffer.data();
      stream.avail_out = static_cast<uInt>(buffer.size());
      deflate(&stream, flush);
      out.insert(out.end(), buffer.data(), buffer.data() + (buffer.size() - stream.avail_out));
    } while (stream.avail_out == 0);
  };
  const Bytes header = idx_bytes(dims, {});
  feed(header.data(), header.size(), Z_NO_FLUSH);
  const std::vector<std::uint8_t> chunk(1 << 20, 0);
  for (std::uint64_t left = zeros; left > 0;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    left -= n;
    feed(chunk.data(), n, left == 0 ? Z_FINISH : Z_NO_FLUSH);
  }
  if (zeros == 0) feed(nullptr, 0, Z_FINISH);
  deflateEnd(&stream);
  return out;
}

// A field of /proc/self/status in kB ("VmHWM", "VmSize"), or -1 when it cannot be read.
long status_kb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// Resets the peak resident size (VmHWM) to the current one; false when the kernel refuses.
bool reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

constexpr std::uint64_t MiB = 1 << 20;

}  // namespace

TEST_CASE("a gzip bomb is decompressed no further than its IDX header declares",
          "[data][reliability][bomb]") {
  TempDir dir;
  // The header of the real training images (60000 × 28 × 28, 47 MB), then 1 GiB of zeros.
  const std::string path = dir.file("train-images-idx3-ubyte.gz");
  write_file(path, gzip_bomb({60000, 28, 28}, 1024 * MiB));
  const bool measured = reset_peak_rss();
  const long before = status_kb("VmHWM");
  CHECK_THROWS_WITH(data::read_idx(path),
                    Contains(path) && Contains("byte 47040016 of the decompressed data") &&
                        Contains("more than the 47040016 bytes its IDX header declares"));
  const long growth_mb = (status_kb("VmHWM") - before) / 1024;
  INFO("peak resident growth: " << growth_mb << " MB");
  if (measured && before > 0) CHECK(growth_mb < 47 + 100);
}

TEST_CASE("an IDX header declaring more than the limit is refused before decompressing",
          "[data][reliability][bomb]") {
  TempDir dir;
  // 2 GiB declared, 64 MiB of zeros there (the rest would be a truncated file).
  const std::string path = dir.file("big.idx.gz");
  write_file(path, gzip_bomb({65536, 32768, 1}, 64 * MiB));
  const bool measured = reset_peak_rss();
  const long before = status_kb("VmHWM");
  CHECK_THROWS_WITH(data::read_idx(path), Contains(path) && Contains("[65536, 32768, 1]") &&
                                              Contains("a file of 2147483664 bytes") &&
                                              Contains("more than the limit of 1073741824 bytes") &&
                                              Contains("--max-data-size"));
  const long growth_mb = (status_kb("VmHWM") - before) / 1024;
  INFO("peak resident growth: " << growth_mb << " MB");
  if (measured && before > 0) CHECK(growth_mb < 16);
  // A raised limit reads on, and finds the stream too short for what the header declares.
  CHECK_THROWS_WITH(data::read_idx(path, {.max_idx_bytes = 4096 * MiB}),
                    Contains(path) && Contains("short read"));
  // The limit holds for a raw file too, and for a small limit.
  write_file(dir.file("small.idx"), idx_bytes({4, 4}, Bytes(16, 7)));
  CHECK(data::read_idx(dir.file("small.idx")).values().size() == 16);
  CHECK_THROWS_WITH(data::read_idx(dir.file("small.idx"), {.max_idx_bytes = 20}),
                    Contains("a file of 28 bytes") && Contains("limit of 20 bytes"));
}

TEST_CASE("running out of memory while decompressing is an error naming the file and the size",
          "[data][reliability][bomb]") {
  const long size_kb = status_kb("VmSize");
  if (size_kb < 0 || size_kb > (1L << 30)) {  // sanitizers reserve terabytes of address space
    WARN("address space too large to limit (sanitizer build?): skipping");
    return;
  }
  TempDir dir;
  const std::string path = dir.file("t10k-images-idx3-ubyte.gz");
  write_file(path, gzip_bomb({900, 1000, 1000}, 900'000'000));  // honest: 900 MB of zeros
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_AS, &old) == 0);
  rlimit limited = old;
  limited.rlim_cur = static_cast<rlim_t>(size_kb) * 1024 + 300 * MiB;
  REQUIRE(setrlimit(RLIMIT_AS, &limited) == 0);
  std::string message = "no error";
  try {
    data::read_idx(path);
  } catch (const Error& error) {
    message = error.what();
  } catch (const std::exception& error) {
    message = std::string("not a gradlab::Error: ") + error.what();
  }
  setrlimit(RLIMIT_AS, &old);
  CHECK_THAT(message, Contains(path) && Contains("out of memory") && Contains("cannot allocate"));
}

TEST_CASE("a directory, FIFO or symbolic link loop named like a data file is said to be that",
          "[data][reliability]") {
  TempDir dir;
  const std::string images = dir.file("train-images-idx3-ubyte.gz");
  std::filesystem::create_directory(images);
  CHECK_THROWS_WITH(data::load_fashion_mnist(dir.path.string()),
                    Contains(images) && Contains("is a directory") && !Contains("not found") &&
                        !Contains("dataset-fashion-mnist"));
  std::filesystem::remove(images);
  REQUIRE(mkfifo(images.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(data::load_mnist(dir.path.string()),
                    Contains(images) && Contains("FIFO") && !Contains("not found"));
  std::filesystem::remove(images);
  std::filesystem::create_symlink(images, images);  // a link to itself
  CHECK_THROWS_WITH(data::load_fashion_mnist(dir.path.string()),
                    Contains(images) && Contains("symbolic link loop") && !Contains("not found"));
  std::filesystem::remove(images);
  std::filesystem::create_directory(dir.file("data_batch_1.bin"));
  CHECK_THROWS_WITH(data::load_cifar10(dir.path.string()),
                    Contains("data_batch_1.bin") && Contains("is a directory"));
}

TEST_CASE("test images of another size than the training images are named with their file",
          "[data][reliability]") {
  TempDir dir;
  write_file(dir.file("train-images-idx3-ubyte"), idx_bytes({2, 28, 28}, Bytes(2 * 784, 1)));
  write_file(dir.file("train-labels-idx1-ubyte"), idx_bytes({2}, {0, 1}));
  write_file(dir.file("t10k-images-idx3-ubyte"), idx_bytes({2, 32, 32}, Bytes(2 * 1024, 1)));
  write_file(dir.file("t10k-labels-idx1-ubyte"), idx_bytes({2}, {0, 1}));
  const data::Dataset train = data::load_mnist(dir.path.string());
  const data::Dataset test = data::load_mnist(dir.path.string(), data::Split::test);
  CHECK(test.source == dir.file("t10k-images-idx3-ubyte"));
  CHECK_THROWS_WITH(data::check_same_image_shape(train, test),
                    Contains(dir.file("t10k-images-idx3-ubyte")) && Contains("1×32×32") &&
                        Contains("1×28×28") && Contains(dir.file("train-images-idx3-ubyte")));
  CHECK_NOTHROW(data::check_same_image_shape(train, data::slice(train, 0, 1)));
}

}  // namespace data_limits_tests
