#pragma once
/// \file backends/types.hpp
/// \brief The types every floor shares: `Error`, `DType`, `Shape` (backends/shape.hpp) and the
/// buffer views (`View`, `ConstView`) that every kernel takes.
///
/// A backend knows nothing of graphs or of the `Tensor` class: each kernel receives contiguous,
/// row-major buffers described by a `ConstView` (input) or a `View` (output), that is a pointer,
/// a shape and a dtype. This header is the whole vocabulary the kernels share with the core.

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "backends/shape.hpp"

namespace gradlab {

/// Element type of a tensor's storage.
enum class DType : std::uint8_t {
  float32,  ///< 32-bit IEEE float: the default, supported by every backend.
  float64,  ///< 64-bit IEEE float: reference backend only (gradcheck needs it).
  int64,    ///< 64-bit signed integer: class labels and argmax results only.
};

/// The name of a dtype as users write it ("float32", "float64", "int64").
const char* dtype_name(DType dtype);

/// Size in bytes of one element of `dtype`.
std::size_t dtype_size(DType dtype);

/// Number of elements of a shape (1 for the empty shape, i.e. a scalar).
std::int64_t shape_numel(std::span<const std::int64_t> shape);

/// Human-readable form of a shape, e.g. "[3, 4]".
std::string shape_string(std::span<const std::int64_t> shape);

/// The error type thrown for every bad input: the message names the op and the shapes involved.
class Error : public std::runtime_error {
 public:
  /// Creates an error carrying `message`.
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// A read-only, contiguous, row-major buffer handed to a kernel.
struct ConstView {
  const void* data = nullptr;           ///< First element; null means "absent" (optional inputs).
  std::span<const std::int64_t> shape;  ///< Extents, outermost first.
  DType dtype = DType::float32;         ///< Element type.

  /// Number of elements.
  std::int64_t numel() const { return shape_numel(shape); }
  /// True when the view points at data (optional inputs may be absent).
  explicit operator bool() const { return data != nullptr; }
  /// The data as a typed pointer; the caller has checked the dtype.
  template <class T>
  const T* as() const {
    return static_cast<const T*>(data);
  }
};

/// A writable, contiguous, row-major buffer handed to a kernel as an output.
struct View {
  void* data = nullptr;                 ///< First element; null means "not wanted".
  std::span<const std::int64_t> shape;  ///< Extents, outermost first.
  DType dtype = DType::float32;         ///< Element type.

  /// Number of elements.
  std::int64_t numel() const { return shape_numel(shape); }
  /// True when the output is wanted (optional outputs may be absent).
  explicit operator bool() const { return data != nullptr; }
  /// The data as a typed pointer; the caller has checked the dtype.
  template <class T>
  T* as() const {
    return static_cast<T*>(data);
  }
  /// The same buffer, read-only.
  operator ConstView() const { return ConstView{data, shape, dtype}; }
};

}  // namespace gradlab
