// The .npy reader and writer: exact bytes written, round trips, NumPy interoperability, and every
// malformed-input path naming the file and the byte offset.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "temp_folder.hpp"
#include "backends/backend.hpp"
#include "modules/io/npy.hpp"

using namespace gradlab;
using gradlab::testing::TempFolder;
namespace fs = std::filesystem;

namespace {

std::vector<std::uint8_t> bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A .npy file image: preamble for version 1.0 with `header` (not padded) followed by `data`.
std::vector<std::uint8_t> npy_image(const std::string& header, std::size_t data_bytes,
                                    unsigned major = 1) {
  std::vector<std::uint8_t> out{0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
  const std::size_t length = header.size();
  out.push_back(static_cast<std::uint8_t>(length & 0xff));
  out.push_back(static_cast<std::uint8_t>(length >> 8));
  if (major != 1) {
    out.push_back(0);
    out.push_back(0);
  }
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}

std::string parse_error(const std::vector<std::uint8_t>& image) {
  try {
    npy::parse(image, "test.npy");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

const std::string good_header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";

}  // namespace

TEST_CASE("npy::write produces NumPy's version 1.0 layout with 64-byte-aligned data") {
  TempFolder folder{"gradlab-npy-test"};
  const fs::path file = folder.path / "w.npy";
  npy::write(file, from({1, 2, 3, 4, 5, 6}, {2, 3}));
  const auto bytes = bytes_of(file);
  // 10-byte preamble + the 59-byte dict + '\n' = 70 bytes, padded with spaces to 128
  REQUIRE(bytes.size() == 128 + 6 * 4);
  CHECK(std::memcmp(bytes.data(), "\x93NUMPY\x01\x00", 8) == 0);
  CHECK(bytes[8] + 256 * bytes[9] == 128 - 10);
  const std::string header(bytes.begin() + 10, bytes.begin() + 128);
  CHECK(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }   ", 0) == 0);
  CHECK(header.back() == '\n');
  float third;
  std::memcpy(&third, bytes.data() + 128 + 2 * 4, 4);
  CHECK(third == 3.0f);
}

TEST_CASE(
    "npy round-trips float32, float64 and int64 bit-exactly, including 0-D, 1-D and empty arrays") {
  BackendGuard reference("reference");  // float64 samples
  TempFolder folder{"gradlab-npy-test"};
  const std::vector<Tensor> tensors{randn({3, 4}), randn({5}, {.dtype = DType::float64}),
                                    labels({-3, 0, 7}), from({2.5}, {}), zeros({0, 4})};
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const fs::path file = folder.path / ("t" + std::to_string(i) + ".npy");
    npy::write(file, tensors[i]);
    const Tensor back = npy::read(file);
    CHECK(back.shape() == tensors[i].shape());
    CHECK(back.dtype() == tensors[i].dtype());
    const auto n = static_cast<std::size_t>(back.numel()) * dtype_size(back.dtype());
    if (n > 0) CHECK(std::memcmp(back.raw_data(), tensors[i].raw_data(), n) == 0);
    const npy::Header header = npy::read_header(file);
    CHECK(header.shape == tensors[i].shape());
    CHECK(header.data_bytes == n);
  }
}

TEST_CASE("NumPy reads what npy::write writes and npy::read reads what NumPy writes") {
  if (std::system("python3 -c 'import numpy' > /dev/null 2>&1") != 0) {
    WARN("python3 with numpy is not installed: interoperability not checked");
    return;
  }
  TempFolder folder{"gradlab-npy-test"};
  const fs::path ours = folder.path / "ours.npy";
  const fs::path theirs = folder.path / "theirs.npy";
  npy::write(ours, from({1.5, -2, 3, 4, 5, 6.25}, {3, 2}, {.dtype = DType::float64}));
  const std::string script =
      "import numpy as np; a = np.load('" + ours.string() +
      "'); assert a.dtype == np.float64 and a.shape == (3, 2) and a[2, 1] == 6.25; "
      "np.save('" +
      theirs.string() + "', np.arange(12, dtype='<f4').reshape(3, 4) / 4)";
  REQUIRE(std::system(("python3 -c \"" + script + "\"").c_str()) == 0);
  const Tensor back = npy::read(theirs);
  CHECK(back.shape() == Shape{3, 4});
  CHECK(back.dtype() == DType::float32);
  CHECK(back.at(11) == 2.75);
}

TEST_CASE(
    "npy parses headers with double quotes, no trailing comma, versions 2.0 and 1-D Fortran "
    "order") {
  CHECK(npy::parse(
            npy_image("{\"descr\": \"<f8\", \"shape\": (2,), \"fortran_order\": False}\n", 16), "x")
            .shape() == Shape{2});
  CHECK(npy::parse(npy_image(good_header, 24, 2), "x").shape() == Shape{2, 3});
  CHECK(npy::parse(npy_image("{'descr': '<i8', 'fortran_order': True, 'shape': (3,), }\n", 24), "x")
            .dtype() == DType::int64);
  CHECK(npy::parse(npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", 4), "x")
            .shape() == Shape{});
}

TEST_CASE("npy rejects every malformed header, naming the file and the byte offset") {
  // Wrong magic, version, lengths.
  CHECK(parse_error({0x93, 'N', 'U'}) ==
        "npy: test.npy: byte 3: file too short for a .npy preamble (3 bytes)");
  auto image = npy_image(good_header, 24);
  image[1] = 'X';
  CHECK(parse_error(image) ==
        "npy: test.npy: byte 0: not a .npy file (the magic string \\x93NUMPY is missing)");
  image = npy_image(good_header, 24);
  image[6] = 4;
  CHECK_THAT(parse_error(image),
             Catch::StartsWith("npy: test.npy: byte 6: unsupported .npy version 4.0"));
  image = npy_image(good_header, 24);
  image[8] = 0xff;  // header length 0x00ff + a bit: longer than the file
  image[9] = 0x7f;
  CHECK_THAT(parse_error(image),
             Catch::StartsWith(
                 "npy: test.npy: byte 8: header length 32767 runs past the end of the file"));
  image = npy_image(good_header, 24, 2);
  image[11] = 0x40;  // 1 GiB header in version 2.0
  CHECK_THAT(parse_error(image),
             Catch::Contains("byte 8: header length") && Catch::Contains("exceeds the limit"));
  CHECK_THAT(parse_error({0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 5}),
             Catch::Contains("byte 9: file ends inside the header length field"));

  // Header text.
  auto header_error = [](const std::string& header, std::size_t data = 24) {
    return parse_error(npy_image(header, data));
  };
  CHECK(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") ==
        "npy: test.npy: byte 68: the header does not end with a newline");
  CHECK(header_error("['descr']\n") ==
        "npy: test.npy: byte 10: expected '{' at the start of the header dict, found '['");
  CHECK(header_error("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n") ==
        "npy: test.npy: byte 20: unsupported dtype '>f4' (gradlab reads '<f4', '<f8', '<i8')");
  CHECK(header_error("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n") ==
        "npy: test.npy: byte 10: Fortran-order arrays are not supported (save with C order)");
  CHECK(header_error("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3), }\n") ==
        "npy: test.npy: byte 44: expected True or False for 'fortran_order'");
  CHECK(header_error("{'descr': '<f4', 'descr': '<f4', 'shape': (2, 3), }\n") ==
        "npy: test.npy: byte 27: the key 'descr' appears twice");
  CHECK(header_error("{'descr': '<f4', 'shape': (2, 3), }\n") ==
        "npy: test.npy: byte 45: the header has no 'fortran_order'");
  CHECK(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}\n") ==
        "npy: test.npy: byte 68: unexpected header key 'x' (expected 'descr', 'fortran_order', "
        "'shape')");
  CHECK(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }\n") ==
        "npy: test.npy: byte 64: expected a non-negative integer dimension in 'shape'");
  CHECK(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (6), }\n") ==
        "npy: test.npy: byte 63: 'shape' (n) is an integer in Python, a 1-D shape is written (n,)");
  CHECK(header_error(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n") ==
        "npy: test.npy: byte 61: a dimension in 'shape' does not fit in 64 bits");
  CHECK(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x\n") ==
        "npy: test.npy: byte 70: unexpected text after the header dict");
  CHECK(header_error("{'descr': '<f4\n") ==
        "npy: test.npy: byte 20: unterminated string for 'descr'");
  CHECK(header_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3\n") ==
        "npy: test.npy: byte 65: header ends early: expected ',' between dimensions of 'shape'");
  CHECK(header_error("{'de\\scr': 1}\n") ==
        "npy: test.npy: byte 14: unsupported character '\\' in a header key");
}

TEST_CASE("npy rejects data that is shorter or longer than the shape says, or absurdly large") {
  const std::size_t data_offset = 10 + good_header.size();
  CHECK(parse_error(npy_image(good_header, 20)) ==
        "npy: test.npy: byte " + std::to_string(data_offset) +
            ": expected 24 bytes of data for shape (2, 3) '<f4', found 20");
  CHECK(parse_error(npy_image(good_header, 30)) ==
        "npy: test.npy: byte " + std::to_string(data_offset + 24) +
            ": 6 unexpected bytes after the data of shape (2, 3) '<f4'");
  CHECK_THAT(
      parse_error(npy_image(
          "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n", 8)),
      Catch::Contains("describes more than 2^63 bytes"));
  CHECK_THAT(
      parse_error(npy_image(
          "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }\n", 0)),
      Catch::Contains("describes more than 2^63 bytes"));
}

TEST_CASE("npy::read names the path for missing, truncated and directory inputs") {
  TempFolder folder{"gradlab-npy-test"};
  const fs::path missing = folder.path / "missing.npy";
  CHECK_THROWS_WITH(npy::read(missing), "npy: " + missing.string() + ": the file does not exist");
  CHECK_THROWS_WITH(npy::read(folder.path),
                    "npy: " + folder.path.string() + ": not a regular file");
  const fs::path file = folder.path / "cut.npy";
  // header "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 10), }" (60 bytes) padded to
  // 118, so the data starts at 10 + 118 = 128 and holds 400 bytes
  npy::write(file, randn({10, 10}));
  REQUIRE(npy::read_header(file).data_offset == 128);
  fs::resize_file(file, 200);
  CHECK_THROWS_WITH(
      npy::read(file),
      "npy: " + file.string() +
          ": byte 128: expected 400 bytes of data for shape (10, 10) '<f4', found 72");
  fs::resize_file(file, 30);
  CHECK_THROWS_WITH(npy::read(file),
                    "npy: " + file.string() +
                        ": byte 8: header length 118 runs past the end of the file (30 bytes)");
  fs::resize_file(file, 0);
  CHECK_THROWS_WITH(npy::read(file), "npy: " + file.string() +
                                         ": byte 0: file too short for a .npy preamble (0 bytes)");
}

TEST_CASE("npy survives random corruption of a valid file: every failure is a gradlab::Error") {
  TempFolder folder{"gradlab-npy-test"};
  const fs::path file = folder.path / "valid.npy";
  npy::write(file, randn({3, 5}));
  const auto original = bytes_of(file);
  std::mt19937 generator(2024);
  int errors = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    auto corrupted = original;
    const int flips = 1 + static_cast<int>(generator() % 4);
    for (int f = 0; f < flips; ++f)
      corrupted[generator() % 64] = static_cast<std::uint8_t>(generator());
    if (generator() % 4 == 0) corrupted.resize(generator() % corrupted.size());
    try {
      const Tensor t = npy::parse(corrupted, "fuzz");
      CHECK(static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype()) <= corrupted.size());
    } catch (const Error&) {
      ++errors;
    }
  }
  CHECK(errors > 1000);  // most corruptions are caught; none crashes or throws anything else
}
