#pragma once
/// \file modules/io/npy.hpp
/// \brief A small, strict reader and writer of NumPy's `.npy` format, for checkpoints.
///
/// A `.npy` file is a 6-byte magic string "\x93NUMPY", a version (major, minor byte), the length
/// of a header (2 bytes little-endian in version 1.0, 4 bytes in 2.0 and 3.0), the header — a
/// Python dict literal padded with spaces and ended by '\n', e.g.
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (784, 50), }` — and then the raw elements
/// in row-major order. NumPy reads what `write` produces: `numpy.load("0.weight.npy")`.
///
/// Supported: little-endian '<f4' (float32), '<f8' (float64) and '<i8' (int64), C order
/// (Fortran order is accepted only for 0-D and 1-D arrays, where it is the same thing).
/// `write` always produces version 1.0 with the header padded so the data starts at a multiple of
/// 64 bytes; `read` also accepts versions 2.0 and 3.0.
///
/// The reader trusts nothing in the file: every field is validated, sizes are checked for
/// overflow and against the file's actual length before anything is allocated, and every problem
/// raises `gradlab::Error` naming the file and the byte offset where it was found:
/// \code
///   npy: weights/0.weight.npy: byte 58: expected 156800 bytes of data for shape (784, 50) '<f4',
///   found 1024
/// \endcode

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "autograd/tensor.hpp"

namespace gradlab::npy {

/// What the header of a `.npy` file declares.
struct Header {
  DType dtype = DType::float32;   ///< Element type.
  Shape shape;                    ///< Extents (empty for a 0-D array).
  std::uint64_t data_offset = 0;  ///< Where the elements start, in bytes from the file's start.
  std::uint64_t data_bytes = 0;   ///< numel · element size.
};

/// Largest header `read` accepts for versions 2.0 and 3.0 (1 MiB; NumPy's own headers are a few
/// hundred bytes). Version 1.0 headers are at most 65535 bytes by construction.
inline constexpr std::uint64_t max_header_bytes = 1 << 20;

/// Writes `tensor` (float32, float64 or int64) to `path` in the `.npy` 1.0 format. Raises an
/// `Error` naming the path when the file cannot be written completely.
void write(const std::filesystem::path& path, const Tensor& tensor);

/// Reads and validates only the header of `path` (the data's size is checked against the file's
/// length, the data is not read).
Header read_header(const std::filesystem::path& path);

/// Reads a whole `.npy` file into a new tensor (no graph, `requires_grad` false).
Tensor read(const std::filesystem::path& path);

/// Parses a whole `.npy` file held in memory; `source` names it in error messages. The same
/// checks as `read` (this is the entry point for fuzzing).
Tensor parse(std::span<const std::uint8_t> bytes, const std::string& source);

/// Parses the header at the start of `prefix`, where `file_size` is the length of the whole file
/// (`prefix` may be shorter: only the header needs to be in it). Checks that the data the header
/// declares is exactly what remains of the file.
Header parse_header(std::span<const std::uint8_t> prefix, std::uint64_t file_size,
                    const std::string& source);

/// The `descr` string of a dtype: "<f4", "<f8" or "<i8".
const char* descr(DType dtype);

}  // namespace gradlab::npy
