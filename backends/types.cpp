// Element types and shapes: the small vocabulary shared by the core and the kernels.
#include "backends/types.hpp"

#include <algorithm>

namespace gradlab {

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int64: return "int64";
  }
  return "unknown";
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::float32: return 4;
    case DType::float64: return 8;
    case DType::int64: return 8;
  }
  return 0;
}

void Shape::grow(std::size_t rank) {
  const std::size_t capacity = std::max<std::size_t>(rank, 2 * std::size_t{capacity_});
  auto* block = new std::int64_t[capacity]();  // zeroed: copies may read all six first slots
  std::copy(data_, data_ + size_, block);
  release();
  data_ = block;
  capacity_ = static_cast<std::uint32_t>(capacity);
}

std::int64_t shape_numel(std::span<const std::int64_t> shape) {
  // A zero extent makes the count 0 whatever the others are; otherwise the product must fit
  // (signed overflow is undefined behaviour, and a wrapped count could look like a valid one).
  for (std::int64_t extent : shape)
    if (extent == 0) return 0;
  std::int64_t count = 1;
  for (std::int64_t extent : shape)
    if (__builtin_mul_overflow(count, extent, &count))
      throw Error("the shape " + shape_string(shape) + " has more than 2^63 - 1 elements");
  return count;
}

std::string shape_string(std::span<const std::int64_t> shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

}  // namespace gradlab
