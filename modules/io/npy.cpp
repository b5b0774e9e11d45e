// The .npy reader and writer. The reader is written for hostile input: a cursor walks the header
// with bounds checks at every byte, integers are parsed with overflow checks, and nothing is
// allocated until the declared data size has been matched against the real file size.

#include "modules/io/npy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <vector>

namespace gradlab::npy {

static_assert(std::endian::native == std::endian::little,
              "the .npy reader and writer assume a little-endian host");

namespace {

constexpr std::uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
constexpr std::size_t max_dimensions = 64;  // NumPy's own limit (NPY_MAXDIMS) is 32 or 64

[[noreturn]] void fail(const std::string& source, std::uint64_t offset, const std::string& what) {
  throw Error(fmt::format("npy: {}: byte {}: {}", source, offset, what));
}

std::string shape_tuple(const Shape& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ",";
  return out + ")";
}

// Walks the header dict text. `base` is the file offset of text[0], for messages.
class HeaderParser {
 public:
  HeaderParser(std::span<const std::uint8_t> text, std::uint64_t base, const std::string& source)
      : text_(text), base_(base), source_(source) {}

  std::uint64_t offset() const { return base_ + position_; }
  [[noreturn]] void fail_here(const std::string& what) const { fail(source_, offset(), what); }

  void skip_spaces() {
    while (position_ < text_.size() && (text_[position_] == ' ' || text_[position_] == '\t'))
      ++position_;
  }
  bool at_end() const { return position_ >= text_.size(); }
  std::optional<char> peek() const {
    if (at_end()) return std::nullopt;
    return static_cast<char>(text_[position_]);
  }
  bool accept(char c) {
    skip_spaces();
    if (peek() == c) {
      ++position_;
      return true;
    }
    return false;
  }
  void expect(char c, const char* where) {
    if (!accept(c)) {
      if (at_end()) fail_here(fmt::format("header ends early: expected '{}' {}", c, where));
      fail_here(fmt::format("expected '{}' {}, found '{}'", c, where, printable(*peek())));
    }
  }
  static std::string printable(char c) {
    if (c >= 0x20 && c < 0x7f) return std::string(1, c);
    return fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
  }

  // A Python string literal in single or double quotes, without escapes.
  std::string string_literal(const char* what) {
    skip_spaces();
    const auto quote = peek();
    if (quote != '\'' && quote != '"') {
      if (at_end()) fail_here(fmt::format("header ends early: expected {}", what));
      fail_here(fmt::format("expected {} as a quoted string, found '{}'", what, printable(*quote)));
    }
    const std::uint64_t start = offset();
    ++position_;
    std::string out;
    while (true) {
      if (at_end()) fail(source_, start, fmt::format("unterminated string for {}", what));
      const char c = static_cast<char>(text_[position_]);
      if (c == *quote) break;
      if (c == '\\' || static_cast<unsigned char>(c) < 0x20 ||
          static_cast<unsigned char>(c) >= 0x7f)
        fail_here(fmt::format("unsupported character '{}' in {}", printable(c), what));
      if (out.size() >= 64) fail(source_, start, fmt::format("{} is too long", what));
      out += c;
      ++position_;
    }
    ++position_;
    return out;
  }

  bool boolean_literal() {
    skip_spaces();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      const std::size_t length = std::strlen(word);
      if (text_.size() - position_ >= length &&
          std::memcmp(text_.data() + position_, word, length) == 0) {
        position_ += length;
        return value;
      }
    }
    fail_here("expected True or False for 'fortran_order'");
  }

  // A non-negative decimal integer (a dimension), rejecting values that do not fit int64.
  std::int64_t dimension() {
    skip_spaces();
    const std::uint64_t start = offset();
    if (at_end() || !is_digit(*peek()))
      fail_here("expected a non-negative integer dimension in 'shape'");
    std::uint64_t value = 0;
    constexpr auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    while (!at_end() && is_digit(*peek())) {
      const auto digit = static_cast<std::uint64_t>(*peek() - '0');
      if (value > (limit - digit) / 10)
        fail(source_, start, "a dimension in 'shape' does not fit in 64 bits");
      value = value * 10 + digit;
      ++position_;
    }
    return static_cast<std::int64_t>(value);
  }

  // (d0, d1, ...) with Python's tuple rules: () is 0-D, (n,) is 1-D, trailing comma allowed.
  Shape shape_tuple_literal() {
    expect('(', "to open 'shape'");
    Shape shape;
    if (accept(')')) return shape;
    while (true) {
      if (shape.size() >= max_dimensions)
        fail_here(fmt::format("'shape' has more than {} dimensions", max_dimensions));
      shape.push_back(dimension());
      if (accept(')')) {
        if (shape.size() == 1)
          fail_here("'shape' (n) is an integer in Python, a 1-D shape is written (n,)");
        return shape;
      }
      expect(',', "between dimensions of 'shape'");
      if (accept(')')) return shape;
    }
  }

 private:
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  std::span<const std::uint8_t> text_;
  std::uint64_t base_;
  const std::string& source_;
  std::size_t position_ = 0;
};

std::uint64_t read_little_endian(std::span<const std::uint8_t> bytes, std::size_t at,
                                 std::size_t count) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < count; ++i)
    value |= static_cast<std::uint64_t>(bytes[at + i]) << (8 * i);
  return value;
}

std::uint64_t file_size_of(const std::filesystem::path& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (error || !std::filesystem::exists(status))
    throw Error(fmt::format("npy: {}: the file does not exist", path.string()));
  if (!std::filesystem::is_regular_file(status))
    throw Error(fmt::format("npy: {}: not a regular file", path.string()));
  const auto size = std::filesystem::file_size(path, error);
  if (error)
    throw Error(
        fmt::format("npy: {}: cannot read the file size: {}", path.string(), error.message()));
  return size;
}

// Reads exactly `count` bytes at `offset` into `out`.
void read_exactly(std::ifstream& in, const std::string& source, std::uint64_t offset, char* out,
                  std::uint64_t count) {
  in.seekg(static_cast<std::streamoff>(offset));
  std::uint64_t done = 0;
  while (done < count && in) {
    const auto chunk =
        static_cast<std::streamsize>(std::min<std::uint64_t>(count - done, 1u << 30));
    in.read(out + done, chunk);
    done += static_cast<std::uint64_t>(in.gcount());
  }
  if (done != count)
    fail(source, offset + done, fmt::format("short read: expected {} bytes, got {}", count, done));
}

}  // namespace

const char* descr(DType dtype) {
  switch (dtype) {
    case DType::float32: return "<f4";
    case DType::float64: return "<f8";
    case DType::int64: return "<i8";
  }
  throw Error("npy: unknown dtype");
}

Header parse_header(std::span<const std::uint8_t> prefix, std::uint64_t file_size,
                    const std::string& source) {
  if (prefix.size() > file_size)
    throw Error(fmt::format("npy: {}: the prefix is longer than the file", source));
  if (prefix.size() < 8)
    fail(source, prefix.size(),
         fmt::format("file too short for a .npy preamble ({} bytes)", file_size));
  if (std::memcmp(prefix.data(), magic, sizeof magic) != 0)
    fail(source, 0, "not a .npy file (the magic string \\x93NUMPY is missing)");
  const unsigned major = prefix[6];
  const unsigned minor = prefix[7];
  if (major < 1 || major > 3 || minor != 0)
    fail(source, 6,
         fmt::format("unsupported .npy version {}.{} (gradlab reads 1.0, 2.0 and 3.0)", major,
                     minor));
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  const std::size_t header_start = 8 + length_bytes;
  if (prefix.size() < header_start)
    fail(source, prefix.size(),
         fmt::format("file ends inside the header length field ({} bytes)", file_size));
  const std::uint64_t header_length = read_little_endian(prefix, 8, length_bytes);
  if (header_length > max_header_bytes)
    fail(source, 8,
         fmt::format("header length {} exceeds the limit of {} bytes", header_length,
                     max_header_bytes));
  const std::uint64_t data_offset = header_start + header_length;
  if (data_offset > file_size)
    fail(source, 8,
         fmt::format("header length {} runs past the end of the file ({} bytes)", header_length,
                     file_size));
  if (data_offset > prefix.size())
    fail(source, prefix.size(), "the header was not read completely (short read)");

  const auto text = prefix.subspan(header_start, header_length);
  if (text.empty() || text.back() != '\n')
    fail(source, data_offset == 0 ? 0 : data_offset - 1, "the header does not end with a newline");
  HeaderParser parser(text.first(text.size() - 1), header_start, source);

  std::optional<std::string> descr_value;
  std::optional<bool> fortran_order;
  std::optional<Shape> shape;
  std::uint64_t descr_offset = 0;
  parser.expect('{', "at the start of the header dict");
  while (!parser.accept('}')) {
    const std::uint64_t key_offset = (parser.skip_spaces(), parser.offset());
    const std::string key = parser.string_literal("a header key");
    parser.expect(':', fmt::format("after the key '{}'", key).c_str());
    auto once = [&](bool seen) {
      if (seen) fail(source, key_offset, fmt::format("the key '{}' appears twice", key));
    };
    if (key == "descr") {
      once(descr_value.has_value());
      descr_offset = (parser.skip_spaces(), parser.offset());
      descr_value = parser.string_literal("'descr'");
    } else if (key == "fortran_order") {
      once(fortran_order.has_value());
      fortran_order = parser.boolean_literal();
    } else if (key == "shape") {
      once(shape.has_value());
      shape = parser.shape_tuple_literal();
    } else {
      fail(source, key_offset,
           fmt::format("unexpected header key '{}' (expected 'descr', 'fortran_order', 'shape')",
                       key));
    }
    if (parser.accept('}')) break;
    parser.expect(',', "between header entries");
  }
  parser.skip_spaces();
  if (!parser.at_end()) parser.fail_here("unexpected text after the header dict");
  if (!descr_value) parser.fail_here("the header has no 'descr'");
  if (!fortran_order) parser.fail_here("the header has no 'fortran_order'");
  if (!shape) parser.fail_here("the header has no 'shape'");

  Header header;
  if (*descr_value == "<f4") {
    header.dtype = DType::float32;
  } else if (*descr_value == "<f8") {
    header.dtype = DType::float64;
  } else if (*descr_value == "<i8") {
    header.dtype = DType::int64;
  } else {
    fail(source, descr_offset,
         fmt::format("unsupported dtype '{}' (gradlab reads '<f4', '<f8', '<i8')", *descr_value));
  }
  if (*fortran_order && shape->size() > 1)
    fail(source, header_start, "Fortran-order arrays are not supported (save with C order)");
  header.shape = *shape;
  header.data_offset = data_offset;

  // numel · element size, refusing overflow. Zero extents are skipped in the product so that a
  // shape like (0, 2^62, 2^62) is refused too: its element count would overflow downstream.
  const std::uint64_t element = dtype_size(header.dtype);
  constexpr auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t product = element;
  bool empty = false;
  for (std::int64_t d : header.shape) {
    const auto extent = static_cast<std::uint64_t>(d);
    if (extent == 0) {
      empty = true;
      continue;
    }
    if (product > limit / extent)
      fail(source, data_offset,
           fmt::format("shape {} '{}' describes more than 2^63 bytes", shape_tuple(header.shape),
                       *descr_value));
    product *= extent;
  }
  const std::uint64_t bytes = empty ? 0 : product;
  const std::uint64_t available = file_size - data_offset;
  if (bytes > available)
    fail(source, data_offset,
         fmt::format("expected {} bytes of data for shape {} '{}', found {}", bytes,
                     shape_tuple(header.shape), *descr_value, available));
  if (bytes < available)
    fail(source, data_offset + bytes,
         fmt::format("{} unexpected bytes after the data of shape {} '{}'", available - bytes,
                     shape_tuple(header.shape), *descr_value));
  header.data_bytes = bytes;
  return header;
}

Header read_header(const std::filesystem::path& path) {
  const std::string source = path.string();
  const std::uint64_t size = file_size_of(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("npy: {}: cannot open the file", source));
  // Read the preamble (at most 12 bytes), which says how long the header is, then read up to
  // the end of the header; parse_header validates every field and reports what is missing.
  std::vector<std::uint8_t> prefix(static_cast<std::size_t>(std::min<std::uint64_t>(size, 12)));
  read_exactly(in, source, 0, reinterpret_cast<char*>(prefix.data()), prefix.size());
  const std::size_t length_bytes = prefix.size() > 6 && prefix[6] == 1 ? 2 : 4;
  if (prefix.size() >= 8 + length_bytes) {
    const std::uint64_t header_length = read_little_endian(prefix, 8, length_bytes);
    const std::uint64_t wanted = 8 + length_bytes + std::min(header_length, max_header_bytes);
    const std::size_t already = prefix.size();
    if (wanted <= size && wanted > already) {  // otherwise parse_header reports the bad length
      prefix.resize(static_cast<std::size_t>(wanted));
      read_exactly(in, source, already, reinterpret_cast<char*>(prefix.data()) + already,
                   wanted - already);
    }
  }
  return parse_header(prefix, size, source);
}

Tensor read(const std::filesystem::path& path) {
  const Header header = read_header(path);
  Tensor tensor = Tensor::empty(header.shape, header.dtype);
  if (header.data_bytes > 0) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(fmt::format("npy: {}: cannot open the file", path.string()));
    read_exactly(in, path.string(), header.data_offset, static_cast<char*>(tensor.raw_data()),
                 header.data_bytes);
  }
  return tensor;
}

Tensor parse(std::span<const std::uint8_t> bytes, const std::string& source) {
  const Header header = parse_header(bytes, bytes.size(), source);
  Tensor tensor = Tensor::empty(header.shape, header.dtype);
  if (header.data_bytes > 0)
    std::memcpy(tensor.raw_data(), bytes.data() + header.data_offset,
                static_cast<std::size_t>(header.data_bytes));
  return tensor;
}

void write(const std::filesystem::path& path, const Tensor& tensor) {
  const std::string target = path.string();
  if (!tensor.defined())
    throw Error(fmt::format("npy: {}: cannot write an undefined tensor", target));
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                 descr(tensor.dtype()), shape_tuple(tensor.shape()));
  // Pad with spaces so that magic (6) + version (2) + length (2) + header + '\n' is a multiple of
  // 64: the data then starts aligned, as NumPy does.
  const std::size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  if (dict.size() > 65535)
    throw Error(fmt::format("npy: {}: header too long for version 1.0", target));

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(fmt::format("npy: {}: cannot create the file", target));
  const std::uint8_t preamble[10] = {magic[0],
                                     magic[1],
                                     magic[2],
                                     magic[3],
                                     magic[4],
                                     magic[5],
                                     1,
                                     0,
                                     static_cast<std::uint8_t>(dict.size() & 0xff),
                                     static_cast<std::uint8_t>(dict.size() >> 8)};
  out.write(reinterpret_cast<const char*>(preamble), sizeof preamble);
  out.write(dict.data(), static_cast<std::streamsize>(dict.size()));
  const auto bytes = static_cast<std::uint64_t>(tensor.numel()) * dtype_size(tensor.dtype());
  if (bytes > 0)
    out.write(static_cast<const char*>(tensor.const_raw_data()),
              static_cast<std::streamsize>(bytes));
  out.close();
  if (!out)
    throw Error(fmt::format("npy: {}: writing failed (disk full or permission denied?)", target));
}

}  // namespace gradlab::npy
