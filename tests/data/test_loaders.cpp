// Loaders: IDX (raw and gzipped) and CIFAR-10 files written by the tests, every value checked;
// corrupt and truncated variants each fail with the file and the byte offset; the real
// Fashion-MNIST when its Debian package is installed.
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <filesystem>
#include <random>

#include "data_files.hpp"
#include "modules/data/data.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;
using gradlab::testing::Bytes;
using gradlab::testing::gzip_stored;
using gradlab::testing::idx_bytes;
using gradlab::testing::TempDir;
using gradlab::testing::write_file;

namespace {

// Three 2×3 images with pixels 0, 15, 30, …, 255 and labels 9, 0, 4.
Bytes small_image_values() {
  Bytes values;
  for (int k = 0; k < 18; ++k) values.push_back(static_cast<std::uint8_t>(15 * k));
  return values;
}
const Bytes small_labels = {9, 0, 4};

Bytes small_images_file() { return idx_bytes({3, 2, 3}, small_image_values()); }
Bytes small_labels_file() { return idx_bytes({3}, small_labels); }

std::vector<std::string> ten_names() {
  std::vector<std::string> names;
  for (int c = 0; c < 10; ++c) names.push_back("class " + std::to_string(c));
  return names;
}

void check_small_dataset(const data::Dataset& dataset) {
  REQUIRE(dataset.size() == 3);
  REQUIRE(dataset.features() == 6);
  CHECK(dataset.images.shape() == Shape{3, 6});
  CHECK(dataset.images.dtype() == DType::float32);
  CHECK(dataset.labels.shape() == Shape{3});
  CHECK(dataset.labels.dtype() == DType::int64);
  CHECK(dataset.image_shape.channels == 1);
  CHECK(dataset.image_shape.height == 2);
  CHECK(dataset.image_shape.width == 3);
  const float* pixels = dataset.images.data<float>();
  for (int k = 0; k < 18; ++k) CHECK(pixels[k] == static_cast<float>(15 * k) / 255.0f);
  CHECK(pixels[0] == 0.0f);
  CHECK(pixels[17] == 1.0f);
  for (int i = 0; i < 3; ++i) CHECK(dataset.labels.data<std::int64_t>()[i] == small_labels[i]);
}

/// Loads an image/label pair written from the given bytes.
data::Dataset load_pair(const TempDir& dir, const Bytes& images, const Bytes& labels,
                        const std::string& images_name = "images.idx",
                        const std::string& labels_name = "labels.idx") {
  write_file(dir.file(images_name), images);
  write_file(dir.file(labels_name), labels);
  return data::load_idx_pair(dir.file(images_name), dir.file(labels_name), ten_names(), "small");
}

}  // namespace

TEST_CASE("IDX: a raw image/label pair loads every pixel as byte/255 and every label as is",
          "[data][idx]") {
  TempDir dir;
  const data::Dataset dataset = load_pair(dir, small_images_file(), small_labels_file());
  check_small_dataset(dataset);
  CHECK(dataset.name == "small");
  CHECK(dataset.num_classes() == 10);
}

TEST_CASE("IDX: a gzipped pair loads to exactly the values of the raw pair", "[data][idx]") {
  TempDir dir;
  check_small_dataset(load_pair(dir, gzip_stored(small_images_file()),
                                gzip_stored(small_labels_file()), "images.gz", "labels.gz"));
}

TEST_CASE("IDX: parse_idx reads extents and header size and values from memory", "[data][idx]") {
  const Bytes file = small_images_file();
  const data::IdxArray array = data::parse_idx(file.data(), file.size(), "memory");
  CHECK(array.dims == Shape{3, 2, 3});
  CHECK(array.data_offset == 16);
  CHECK_FALSE(array.gzipped);
  REQUIRE(array.values().size() == 18);
  CHECK(array.values()[17] == 255);

  const Bytes zipped = gzip_stored(file);
  const data::IdxArray unzipped = data::parse_idx(zipped.data(), zipped.size(), "memory.gz");
  CHECK(unzipped.gzipped);
  CHECK(unzipped.dims == Shape{3, 2, 3});
  CHECK(std::equal(unzipped.values().begin(), unzipped.values().end(), array.values().begin()));
}

TEST_CASE("IDX: a gzip stream of several blocks and several members decompresses whole",
          "[data][idx][gzip]") {
  Bytes big(70000 * 2);  // more than one 65,535-byte stored block
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 7 + i / 300);
  Bytes members = gzip_stored(Bytes(big.begin(), big.begin() + 70000));
  const Bytes second = gzip_stored(Bytes(big.begin() + 70000, big.end()));
  members.insert(members.end(), second.begin(), second.end());
  CHECK(data::gunzip(members.data(), members.size(), "two members") == big);
}

TEST_CASE("IDX: corrupt and truncated files fail with the path and the byte offset",
          "[data][idx][errors]") {
  TempDir dir;
  const std::string images_path = dir.file("images.idx");
  const std::string labels_path = dir.file("labels.idx");
  const Bytes images = small_images_file();  // 16-byte header + 18 values = 34 bytes
  const Bytes labels = small_labels_file();  // 8-byte header + 3 values = 11 bytes

  SECTION("a bad magic number is reported at byte 0") {
    Bytes bad = images;
    bad[0] = 0x01;
    CHECK_THROWS_WITH(load_pair(dir, bad, labels),
                      Contains(images_path + ": byte 0:") && Contains("bad magic number"));
  }
  SECTION("an element type other than unsigned byte is reported at byte 2") {
    Bytes bad = images;
    bad[2] = 0x0D;
    CHECK_THROWS_WITH(load_pair(dir, bad, labels),
                      Contains(images_path + ": byte 2:") && Contains("0x0d (float32)"));
  }
  SECTION("zero dimensions are reported at byte 3") {
    Bytes bad = images;
    bad[3] = 0;
    CHECK_THROWS_WITH(load_pair(dir, bad, labels), Contains(images_path + ": byte 3:"));
  }
  SECTION("a file cut inside the header is a short read where the file ends") {
    const Bytes cut(images.begin(), images.begin() + 10);
    CHECK_THROWS_WITH(load_pair(dir, cut, labels),
                      Contains(images_path + ": byte 10:") && Contains("short read"));
  }
  SECTION("a file missing its last 5 values is a short read at byte 29") {
    const Bytes cut(images.begin(), images.end() - 5);
    CHECK_THROWS_WITH(load_pair(dir, cut, labels), Contains(images_path + ": byte 29:") &&
                                                       Contains("short read") &&
                                                       Contains("[3, 2, 3] need 18 bytes"));
  }
  SECTION("extra bytes after the last value are reported where they start") {
    Bytes longer = images;
    longer.insert(longer.end(), {1, 2, 3});
    CHECK_THROWS_WITH(load_pair(dir, longer, labels),
                      Contains(images_path + ": byte 34:") && Contains("3 unexpected bytes"));
  }
  SECTION("forged giant extents fail as a short read without allocating them") {
    const Bytes forged = idx_bytes({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, small_image_values());
    CHECK_THROWS_WITH(load_pair(dir, forged, labels),
                      Contains(images_path + ": byte 34:") && Contains("short read"));
  }
  SECTION("a label count that differs from the image count is reported in the label file") {
    CHECK_THROWS_WITH(load_pair(dir, images, idx_bytes({2}, {9, 0})),
                      Contains(labels_path + ": byte 4:") && Contains("holds 2 labels") &&
                          Contains("holds 3 images"));
  }
  SECTION("a label outside the classes is reported at its own byte") {
    CHECK_THROWS_WITH(
        load_pair(dir, images, idx_bytes({3}, {9, 0, 10})),
        Contains(labels_path + ": byte 10:") && Contains("label 10 of example 2 is outside 0..9"));
  }
  SECTION("an image file with one dimension is reported at byte 3") {
    CHECK_THROWS_WITH(load_pair(dir, idx_bytes({3}, {1, 2, 3}), labels),
                      Contains(images_path + ": byte 3:") && Contains("[3]"));
  }
  SECTION("a missing file is named") {
    write_file(labels_path, labels);
    CHECK_THROWS_WITH(data::load_idx_pair(dir.file("absent.idx"), labels_path, ten_names(), "x"),
                      Contains(dir.file("absent.idx")) && Contains("not found"));
  }
}

TEST_CASE("IDX: corrupt and truncated gzip streams fail with the path and the byte offset",
          "[data][idx][gzip][errors]") {
  TempDir dir;
  const std::string images_path = dir.file("images.gz");
  const Bytes zipped = gzip_stored(small_images_file());  // 10 + 5 + 34 + 8 = 57 bytes
  const Bytes labels = small_labels_file();

  SECTION("a stream cut short is a short read at the end of the file") {
    const Bytes cut(zipped.begin(), zipped.begin() + 30);
    CHECK_THROWS_WITH(load_pair(dir, cut, labels, "images.gz"),
                      Contains(images_path + ": byte 30:") && Contains("ends early"));
  }
  SECTION("a wrong CRC-32 in the trailer is a corrupt stream") {
    Bytes bad = zipped;
    bad[bad.size() - 8] ^= 0xFF;
    CHECK_THROWS_WITH(load_pair(dir, bad, labels, "images.gz"),
                      Contains(images_path + ": byte ") && Contains("corrupt gzip stream") &&
                          Contains("incorrect data check"));
  }
  SECTION("a reserved deflate block type is a corrupt stream") {
    Bytes bad = zipped;
    bad[10] = 0x07;  // final block, type 11 (reserved)
    CHECK_THROWS_WITH(load_pair(dir, bad, labels, "images.gz"),
                      Contains(images_path + ": byte ") && Contains("invalid block type"));
  }
  SECTION("garbage after the stream is reported where it starts") {
    Bytes longer = zipped;
    longer.insert(longer.end(), {'x', 'y', 'z'});
    CHECK_THROWS_WITH(
        load_pair(dir, longer, labels, "images.gz"),
        Contains(images_path + ": byte 57:") && Contains("3 bytes of trailing garbage"));
  }
  SECTION("a bad IDX header inside a good stream counts decompressed bytes") {
    Bytes inner = small_images_file();
    inner[1] = 0x42;
    CHECK_THROWS_WITH(load_pair(dir, gzip_stored(inner), labels, "images.gz"),
                      Contains(images_path + ": byte 0 of the decompressed data:") &&
                          Contains("bad magic number"));
  }
}

TEST_CASE("IDX and CIFAR parsers survive 4000 random corruptions by parsing or raising Error",
          "[data][idx][cifar][robustness]") {
  std::mt19937 generator(20261127);
  const std::array<Bytes, 3> seeds = {small_images_file(), gzip_stored(small_images_file()),
                                      Bytes(data::cifar10_record_size * 2, 3)};
  int parsed = 0, rejected = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    Bytes bytes = seeds[trial % 3];
    const int edits = 1 + static_cast<int>(generator() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (generator() % 3) {
        case 0: bytes[generator() % bytes.size()] = static_cast<std::uint8_t>(generator()); break;
        case 1: bytes.resize(generator() % (bytes.size() + 1)); break;
        default: bytes.push_back(static_cast<std::uint8_t>(generator())); break;
      }
      if (bytes.empty()) bytes.push_back(0);
    }
    try {
      if (trial % 3 == 2) {
        const data::Dataset dataset = data::parse_cifar10(bytes.data(), bytes.size(), "fuzz");
        CHECK(dataset.size() * static_cast<std::int64_t>(data::cifar10_record_size) ==
              static_cast<std::int64_t>(bytes.size()));
      } else {
        const data::IdxArray array = data::parse_idx(bytes.data(), bytes.size(), "fuzz");
        CHECK(static_cast<std::int64_t>(array.values().size()) == shape_numel(array.dims));
      }
      ++parsed;
    } catch (const Error& error) {
      CHECK_THAT(error.what(), Contains("fuzz: byte "));
      ++rejected;
    }
  }
  CHECK(parsed + rejected == 4000);
  CHECK(rejected > 1000);  // most corruptions must be caught, not silently accepted
}

TEST_CASE("Fashion-MNIST and MNIST load by their standard file names gzipped or raw",
          "[data][idx]") {
  TempDir dir;
  write_file(dir.file("train-images-idx3-ubyte.gz"), gzip_stored(small_images_file()));
  write_file(dir.file("train-labels-idx1-ubyte.gz"), gzip_stored(small_labels_file()));
  write_file(dir.file("t10k-images-idx3-ubyte"), small_images_file());
  write_file(dir.file("t10k-labels-idx1-ubyte"), small_labels_file());

  const data::Dataset train = data::load_fashion_mnist(dir.path.string(), data::Split::train);
  check_small_dataset(train);
  CHECK(train.name == "Fashion-MNIST train");
  CHECK(train.class_names == data::fashion_mnist_class_names());
  CHECK(train.class_names[9] == "Ankle boot");

  const data::Dataset test = data::load_mnist(dir.path.string(), data::Split::test);
  check_small_dataset(test);
  CHECK(test.name == "MNIST test");
  CHECK(test.class_names.front() == "0");
  CHECK(test.class_names.back() == "9");
}

TEST_CASE("A missing dataset says where it was expected and what provides it", "[data][errors]") {
  TempDir dir;
  CHECK_THROWS_WITH(data::load_fashion_mnist(dir.path.string()),
                    Contains("Fashion-MNIST not found") && Contains("train-images-idx3-ubyte.gz") &&
                        Contains(dir.path.string()) && Contains("dataset-fashion-mnist"));
  CHECK_THROWS_WITH(data::load_fashion_mnist(dir.path.string(), data::Split::test),
                    Contains("t10k-images-idx3-ubyte.gz"));
  write_file(dir.file("train-images-idx3-ubyte"), small_images_file());
  CHECK_THROWS_WITH(data::load_mnist(dir.path.string()),
                    Contains("MNIST not found") && Contains("train-labels-idx1-ubyte.gz"));
  CHECK_THROWS_WITH(data::load_cifar10(dir.path.string()),
                    Contains("CIFAR-10 not found") && Contains("data_batch_1.bin") &&
                        Contains("binary version") && Contains("test_batch.bin"));
}

namespace {

// CIFAR-10 record g (counting over all files of a split): label g mod 10, pixel p = (7g + p) mod
// 256.
Bytes cifar_records(int first, int count) {
  Bytes bytes;
  for (int g = first; g < first + count; ++g) {
    bytes.push_back(static_cast<std::uint8_t>(g % 10));
    for (int p = 0; p < 3072; ++p) bytes.push_back(static_cast<std::uint8_t>((7 * g + p) % 256));
  }
  return bytes;
}

void check_cifar_dataset(const data::Dataset& dataset, int count) {
  REQUIRE(dataset.size() == count);
  REQUIRE(dataset.features() == 3072);
  CHECK(dataset.image_shape.to_string() == "3×32×32");
  CHECK(dataset.class_names == data::cifar10_class_names());
  const float* pixels = dataset.images.data<float>();
  int wrong = 0;
  for (int g = 0; g < count; ++g) {
    CHECK(dataset.labels.data<std::int64_t>()[g] == g % 10);
    // Feature p is byte p of the record's pixels: R plane (p < 1024), then G, then B.
    for (int p = 0; p < 3072; ++p)
      if (pixels[g * 3072 + p] != static_cast<float>((7 * g + p) % 256) / 255.0f) ++wrong;
  }
  CHECK(wrong == 0);
}

}  // namespace

TEST_CASE("CIFAR-10: five train batches concatenate in order and the test batch loads alone",
          "[data][cifar]") {
  TempDir dir;
  for (int batch = 1; batch <= 5; ++batch)
    write_file(dir.file("data_batch_" + std::to_string(batch) + ".bin"),
               cifar_records((batch - 1) * 2, 2));
  write_file(dir.file("test_batch.bin"), cifar_records(0, 3));

  const data::Dataset train = data::load_cifar10(dir.path.string(), data::Split::train);
  check_cifar_dataset(train, 10);
  CHECK(train.name == "CIFAR-10 train");
  check_cifar_dataset(data::load_cifar10(dir.path.string(), data::Split::test), 3);

  const Bytes one = cifar_records(0, 4);
  check_cifar_dataset(data::parse_cifar10(one.data(), one.size(), "memory"), 4);
}

TEST_CASE("CIFAR-10: truncated batches and bad labels fail with the path and the byte offset",
          "[data][cifar][errors]") {
  TempDir dir;
  for (int batch = 1; batch <= 5; ++batch)
    write_file(dir.file("data_batch_" + std::to_string(batch) + ".bin"),
               cifar_records((batch - 1) * 2, 2));
  write_file(dir.file("test_batch.bin"), cifar_records(0, 3));

  SECTION("a batch missing its last 10 bytes is a short read where the cut record starts") {
    Bytes cut = cifar_records(4, 2);
    cut.resize(cut.size() - 10);
    write_file(dir.file("data_batch_3.bin"), cut);
    CHECK_THROWS_WITH(
        data::load_cifar10(dir.path.string()),
        Contains(dir.file("data_batch_3.bin") + ": byte 3073:") && Contains("short read"));
  }
  SECTION("a label above 9 is reported at its record's first byte") {
    Bytes bad = cifar_records(0, 3);
    bad[3073] = 10;
    write_file(dir.file("test_batch.bin"), bad);
    CHECK_THROWS_WITH(
        data::load_cifar10(dir.path.string(), data::Split::test),
        Contains(dir.file("test_batch.bin") + ": byte 3073:") && Contains("label 10 of record 1"));
  }
  SECTION("an empty batch is reported at byte 0") {
    write_file(dir.file("data_batch_5.bin"), {});
    CHECK_THROWS_WITH(data::load_cifar10(dir.path.string()),
                      Contains(dir.file("data_batch_5.bin") + ": byte 0:"));
  }
}

TEST_CASE("The real Fashion-MNIST loads 60000 + 10000 images of 784 pixels with labels 0..9",
          "[data][fashion-mnist]") {
  const std::string dir = data::default_fashion_mnist_dir;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "train-images-idx3-ubyte.gz")) {
    WARN("skipped: Fashion-MNIST is not installed in "
         << dir << " (Debian package dataset-fashion-mnist)");
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  const data::Dataset train = data::load_fashion_mnist(dir, data::Split::train);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  WARN("Fashion-MNIST train loaded in " << seconds << " s");
  CHECK(seconds < 3.0);  // typically ~0.3 s; generous for a busy machine
  const data::Dataset test = data::load_fashion_mnist(dir, data::Split::test);

  for (const data::Dataset* dataset : {&train, &test}) {
    CHECK(dataset->features() == 784);
    CHECK(dataset->image_shape.to_string() == "1×28×28");
    const std::int64_t n = dataset->size();
    std::array<std::int64_t, 10> per_class{};
    const std::int64_t* labels = dataset->labels.data<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) {
      REQUIRE(labels[i] >= 0);
      REQUIRE(labels[i] <= 9);
      ++per_class[labels[i]];
    }
    // Fashion-MNIST is balanced: 6,000 (train) or 1,000 (test) images of each class.
    for (std::int64_t count : per_class) CHECK(count == n / 10);
    const float* pixels = dataset->images.data<float>();
    float low = 1, high = 0;
    for (std::int64_t k = 0; k < n * 784; ++k) {
      low = std::min(low, pixels[k]);
      high = std::max(high, pixels[k]);
    }
    CHECK(low == 0.0f);
    CHECK(high == 1.0f);
  }
  CHECK(train.size() == 60000);
  CHECK(test.size() == 10000);
  CHECK(train.labels.data<std::int64_t>()[0] == 9);  // the first training image is an ankle boot
}
