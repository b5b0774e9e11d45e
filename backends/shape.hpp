#pragma once
/// \file backends/shape.hpp
/// \brief `Shape`: the extents of a tensor, kept inline for up to six dimensions.
///
/// Every op makes a few shapes (its output's, the shape a backward closure keeps, ...). A
/// `std::vector` would cost a heap allocation each time, which on 4×4 tensors was a good part of
/// an op's cost; a `Shape` keeps up to `Shape::inline_rank` extents inside itself and only
/// allocates for higher ranks. It behaves like a `std::vector<std::int64_t>` for everything the
/// project uses (brace lists, indexing, iteration, `push_back`, `insert`, `erase`, comparison)
/// and converts implicitly to `std::span<const std::int64_t>`, the form kernels take.
///
/// \code
///   gradlab::Shape shape{256, 784};
///   shape.insert(shape.begin(), 1);        // [1, 256, 784]
///   std::int64_t rows = shape[1];          // 256
/// \endcode

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <span>
#include <vector>

namespace gradlab {

/// A tensor shape: one extent per dimension, outermost first (row-major).
class Shape {
 public:
  using value_type = std::int64_t;              ///< Element type (an extent).
  using size_type = std::size_t;                ///< Type of sizes and indices.
  using difference_type = std::ptrdiff_t;       ///< Iterator distance.
  using reference = std::int64_t&;              ///< Mutable element reference.
  using const_reference = const std::int64_t&;  ///< Read-only element reference.
  using iterator = std::int64_t*;               ///< Mutable iterator (a pointer).
  using const_iterator = const std::int64_t*;   ///< Read-only iterator (a pointer).

  /// Ranks up to this many are stored without a heap allocation.
  static constexpr std::size_t inline_rank = 6;

  /// The shape of a scalar: no dimensions.
  Shape() noexcept = default;
  /// The extents in `extents`, e.g. `Shape{3, 4}`.
  Shape(std::initializer_list<std::int64_t> extents) { assign(extents.begin(), extents.end()); }
  /// `rank` dimensions, each of extent `extent`.
  explicit Shape(std::size_t rank, std::int64_t extent = 0) { resize(rank, extent); }
  /// The extents in [first, last).
  template <std::input_iterator It>
  Shape(It first, It last) {
    for (; first != last; ++first) push_back(static_cast<std::int64_t>(*first));
  }
  /// The extents of a view's shape (or any other contiguous list of extents).
  explicit Shape(std::span<const std::int64_t> extents) {
    assign(extents.data(), extents.data() + extents.size());
  }
  /// The extents held in a `std::vector`.
  explicit Shape(const std::vector<std::int64_t>& extents) {
    assign(extents.data(), extents.data() + extents.size());
  }

  /// Copies the extents.
  Shape(const Shape& other) { copy_from(other); }
  /// Takes the extents (and any heap storage) of `other`, which becomes a scalar shape.
  Shape(Shape&& other) noexcept { take(other); }
  /// Copies the extents of `other`.
  Shape& operator=(const Shape& other) {
    if (this != &other) copy_from(other);
    return *this;
  }
  /// Takes the extents of `other`, which becomes a scalar shape.
  Shape& operator=(Shape&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  /// Replaces the extents with `extents`.
  Shape& operator=(std::initializer_list<std::int64_t> extents) {
    assign(extents.begin(), extents.end());
    return *this;
  }
  ~Shape() { release(); }

  /// Number of dimensions.
  std::size_t size() const noexcept { return size_; }
  /// True for the shape of a scalar (no dimensions).
  bool empty() const noexcept { return size_ == 0; }
  /// Pointer to the first extent.
  std::int64_t* data() noexcept { return data_; }
  /// Pointer to the first extent.
  const std::int64_t* data() const noexcept { return data_; }
  /// Extent `i` (unchecked).
  std::int64_t& operator[](std::size_t i) noexcept { return data_[i]; }
  /// Extent `i` (unchecked).
  const std::int64_t& operator[](std::size_t i) const noexcept { return data_[i]; }
  /// The outermost extent; the shape must not be empty.
  std::int64_t& front() noexcept { return data_[0]; }
  /// The outermost extent; the shape must not be empty.
  const std::int64_t& front() const noexcept { return data_[0]; }
  /// The innermost extent; the shape must not be empty.
  std::int64_t& back() noexcept { return data_[size_ - 1]; }
  /// The innermost extent; the shape must not be empty.
  const std::int64_t& back() const noexcept { return data_[size_ - 1]; }

  /// Iterator to the outermost extent.
  iterator begin() noexcept { return data_; }
  /// Iterator past the innermost extent.
  iterator end() noexcept { return data_ + size_; }
  /// Iterator to the outermost extent.
  const_iterator begin() const noexcept { return data_; }
  /// Iterator past the innermost extent.
  const_iterator end() const noexcept { return data_ + size_; }
  /// Iterator to the outermost extent.
  const_iterator cbegin() const noexcept { return data_; }
  /// Iterator past the innermost extent.
  const_iterator cend() const noexcept { return data_ + size_; }
  /// Reverse iterator from the innermost extent.
  std::reverse_iterator<const_iterator> rbegin() const noexcept {
    return std::reverse_iterator(end());
  }
  /// Reverse iterator past the outermost extent.
  std::reverse_iterator<const_iterator> rend() const noexcept {
    return std::reverse_iterator(begin());
  }

  /// Adds an innermost dimension of extent `extent`.
  void push_back(std::int64_t extent) {
    if (size_ == capacity_) grow(size_ + 1);
    data_[size_++] = extent;
  }
  /// Removes the innermost dimension; the shape must not be empty.
  void pop_back() noexcept { --size_; }
  /// Inserts a dimension of extent `extent` before `position`; returns an iterator to it.
  iterator insert(const_iterator position, std::int64_t extent) {
    const std::size_t index = static_cast<std::size_t>(position - data_);
    push_back(extent);
    std::rotate(data_ + index, data_ + size_ - 1, data_ + size_);
    return data_ + index;
  }
  /// Removes the dimension at `position`; returns an iterator to the one after it.
  iterator erase(const_iterator position) noexcept { return erase(position, position + 1); }
  /// Removes the dimensions in [first, last); returns an iterator to the one after them.
  iterator erase(const_iterator first, const_iterator last) noexcept {
    iterator target = data_ + (first - data_);
    std::copy(last, const_iterator(end()), target);
    size_ -= static_cast<std::uint32_t>(last - first);
    return target;
  }
  /// Sets the rank to `rank`; new dimensions get extent `extent`.
  void resize(std::size_t rank, std::int64_t extent = 0) {
    if (rank > capacity_) grow(rank);
    for (std::size_t i = size_; i < rank; ++i) data_[i] = extent;
    size_ = static_cast<std::uint32_t>(rank);
  }
  /// Makes room for `rank` dimensions without changing the extents.
  void reserve(std::size_t rank) {
    if (rank > capacity_) grow(rank);
  }
  /// Removes every dimension (the shape of a scalar).
  void clear() noexcept { size_ = 0; }
  /// Replaces the extents with those in [first, last) (pointers into another shape or array).
  void assign(const std::int64_t* first, const std::int64_t* last) {
    const auto rank = static_cast<std::size_t>(last - first);
    if (rank > capacity_) grow(rank);
    std::copy(first, last, data_);
    size_ = static_cast<std::uint32_t>(rank);
  }

  /// True when both shapes have the same rank and extents.
  friend bool operator==(const Shape& a, const Shape& b) noexcept {
    if (a.size_ != b.size_) return false;
    for (std::uint32_t i = 0; i < a.size_; ++i) {  // a plain loop: no call to memcmp for 2 extents
      if (a.data_[i] != b.data_[i]) return false;
    }
    return true;
  }
  /// Lexicographic order of the extents (for sorted containers).
  friend std::strong_ordering operator<=>(const Shape& a, const Shape& b) noexcept {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  // Moves the extents to a heap block with room for at least `rank` of them.
  void grow(std::size_t rank);
  // Copies `other`'s extents. Up to the inline rank, all six slots are copied whatever the rank
  // (a fixed-size copy the compiler turns into a few moves; a heap block holds more than six).
  void copy_from(const Shape& other) {
    if (other.size_ <= inline_rank && data_ == inline_) {
      std::copy(other.data_, other.data_ + inline_rank, inline_);
      size_ = other.size_;
    } else {
      assign(other.begin(), other.end());
    }
  }
  void release() noexcept {
    if (data_ != inline_) delete[] data_;
  }
  void take(Shape& other) noexcept {
    size_ = other.size_;
    if (other.data_ == other.inline_) {
      std::copy(other.inline_, other.inline_ + inline_rank, inline_);  // all six: a fixed-size copy
      data_ = inline_;
      capacity_ = inline_rank;
    } else {
      data_ = other.data_;
      capacity_ = other.capacity_;
      other.data_ = other.inline_;
      other.capacity_ = inline_rank;
    }
    other.size_ = 0;
  }

  std::int64_t* data_ = inline_;
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = inline_rank;
  std::int64_t inline_[inline_rank] = {};
};

}  // namespace gradlab
