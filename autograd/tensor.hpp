#pragma once
/// \file autograd/tensor.hpp
/// \brief `Tensor`: a cheap handle to an n-dimensional array that remembers how it was made.
///
/// A `Tensor` is a shared pointer to data + shape + dtype + gradient + `requires_grad` + the graph
/// node that produced it. Copying a `Tensor` copies the handle, not the data. Every op (see
/// autograd/ops.hpp) computes its result through the active backend and, when one of its inputs
/// requires a gradient, records a node holding the inputs and a backward closure that maps the
/// upstream gradient to each input's gradient (local gradient × upstream gradient).
///
/// \code
///   using namespace gradlab;
///   Tensor w = randn({3, 2}, {.requires_grad = true});
///   Tensor x = from({1, 2, 3, 4, 5, 6}, {2, 3});
///   Tensor loss = tanh(matmul(x, w)).sum();
///   loss.backward();
///   std::cout << w.grad();      // d loss / d w, shape [3, 2]
/// \endcode
///
/// Gradients of leaves (tensors made by the user with `requires_grad`) accumulate in `grad()`
/// across calls to `backward()` until `zero_grad()`, as in PyTorch; the graph is kept after
/// `backward()`, so calling it twice adds the gradients twice (PyTorch would raise instead unless
/// `retain_graph` is set; we chose to accumulate, which is what the math of two passes gives).
/// Intermediate tensors keep their gradient only when `retain_grad()` was called.
///
/// In-place ops (`copy_`, `zero_`, `fill_`, `add_`, `sub_`, `mul_`, `div_`, `clamp_`, defined in
/// autograd/inplace.cpp) overwrite a tensor's data. Every storage buffer carries a version
/// counter that each in-place write raises by one (the ops above, optimiser steps, checkpoint
/// loads, and every call of the mutable accessors `data<T>()` and `raw_data()`). An op that keeps
/// a tensor for its backward pass keeps a `detach()`ed handle, which remembers the version it saw;
/// if the backward pass then finds the data changed, it raises instead of computing a wrong
/// gradient, as PyTorch does. In-place ops are not recorded in the graph: on a tensor that
/// requires a gradient they are refused unless a `NoGradGuard` is alive (PyTorch records them on
/// non-leaf tensors; see docs/pytorch_differences.md).

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backends/types.hpp"

namespace gradlab {

class Tensor;
struct Node;

/// Options for creating a tensor: `{.dtype = DType::float64, .requires_grad = true}`.
struct TensorOptions {
  DType dtype = DType::float32;  ///< Element type.
  bool requires_grad = false;    ///< Whether gradients flow into this tensor.
};

/// The shared state behind a `Tensor` handle. Not part of the learner-facing API: use `Tensor`.
struct TensorImpl {
  std::shared_ptr<void> storage;        ///< 64-byte aligned buffer (shared by reshape/detach).
  Shape shape;                          ///< Extents, row-major, always contiguous.
  DType dtype = DType::float32;         ///< Element type.
  bool requires_grad = false;           ///< Gradients flow into this tensor.
  bool retains_grad = false;            ///< Keep `grad` although this is not a leaf.
  std::shared_ptr<Node> grad_fn;        ///< The node that made this tensor (null for leaves).
  std::shared_ptr<TensorImpl> grad;     ///< Accumulated gradient (leaves and retained).
  std::shared_ptr<TensorImpl> pending;  ///< Upstream gradient during one backward pass.
  std::uint64_t visit_mark = 0;         ///< Used by the topological sort.
  std::string label;                    ///< Optional name shown in graph pictures.
  /// Set by `detach()` (how ops save tensors for backward): the storage's version when the handle
  /// was made. Reading the handle in a backward pass after the version moved on raises.
  std::uint64_t saved_version = kNotSaved;
  /// `saved_version` of handles not made by `detach()`.
  static constexpr std::uint64_t kNotSaved = ~std::uint64_t{0};

  ~TensorImpl();
};

/// A handle to an n-dimensional array with automatic differentiation.
class Tensor {
 public:
  /// An undefined tensor (no data); `defined()` is false.
  Tensor() = default;
  /// Wraps existing state (used by ops and the backward engine).
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  /// Allocates an uninitialised tensor of `shape` and `dtype` (contents are unspecified).
  static Tensor empty(const Shape& shape, DType dtype = DType::float32);

  // --- what it is -----------------------------------------------------------------------

  /// True when the handle points at data.
  bool defined() const { return impl_ != nullptr; }
  /// The extents, outermost first.
  const Shape& shape() const;
  /// Number of dimensions.
  std::int64_t dim() const { return static_cast<std::int64_t>(shape().size()); }
  /// Extent of dimension `axis` (negative counts from the end).
  std::int64_t size(std::int64_t axis) const;
  /// Number of elements.
  std::int64_t numel() const;
  /// Element type.
  DType dtype() const;
  /// Writable data pointer (contiguous, row-major). Check `dtype()` first. Each call counts as an
  /// in-place write: it raises the version by one (see the file comment), whether or not you then
  /// write. To read, use `const_data<T>()`.
  template <class T>
  T* data() const {
    return static_cast<T*>(raw_data());
  }
  /// Untyped writable data pointer; raises the version by one, as `data<T>()`.
  void* raw_data() const;
  /// Read-only data pointer (contiguous, row-major); leaves the version alone.
  template <class T>
  const T* const_data() const {
    return static_cast<const T*>(const_raw_data());
  }
  /// Untyped read-only data pointer; leaves the version alone.
  const void* const_raw_data() const;
  /// The single value of a one-element tensor (any shape: [], [1], [1, 1], ...) as a double;
  /// raises for more or fewer elements.
  double item() const;
  /// Element at flat index `i` as a double (for printing and tests; slow).
  double at(std::int64_t i) const;
  /// All elements as doubles, row-major (for printing and tests).
  std::vector<double> to_vector() const;
  /// A read-only view for a kernel.
  ConstView view() const;
  /// A writable view for a kernel.
  View mutable_view() const;

  // --- autograd -------------------------------------------------------------------------

  /// Whether gradients flow into this tensor.
  bool requires_grad() const;
  /// Marks a leaf as requiring (or not) a gradient; returns *this.
  Tensor& requires_grad_(bool needed = true);
  /// True when the user made this tensor (no recorded node).
  bool is_leaf() const;
  /// Keeps this intermediate tensor's gradient after `backward()` (leaves always keep theirs).
  Tensor& retain_grad();
  /// The accumulated gradient (undefined until a backward pass reached it).
  Tensor grad() const;
  /// Replaces the gradient (an undefined tensor clears it).
  void set_grad(const Tensor& gradient) const;
  /// Clears the accumulated gradient.
  void zero_grad() const;
  /// Back-propagates from this tensor. Without `gradient`, the tensor must hold one element and
  /// the seed is 1. Non-recursive: graphs of any depth work.
  void backward(const Tensor& gradient = Tensor()) const;
  /// A tensor sharing this data but cut from the graph (no node, `requires_grad` false).
  Tensor detach() const;
  /// An independent copy of the data (no graph).
  Tensor clone() const;
  /// Name of the op that made this tensor ("leaf" for leaves).
  std::string op_name() const;
  /// The node that made this tensor (null for leaves).
  const std::shared_ptr<Node>& grad_fn() const;
  /// Sets a label shown in graph pictures; returns *this.
  Tensor& set_label(std::string label);
  /// The label, or "" when unset.
  const std::string& label() const;

  // --- shape and type -------------------------------------------------------------------

  // --- in-place ops and versions (autograd/inplace.cpp) -----------------------------------
  //
  // Each writes into this tensor's own storage, raises its version and returns *this. `other`
  // broadcasts to this tensor's shape (the shape never changes) and must have its dtype. On a
  // tensor that requires a gradient they need a `NoGradGuard` (e.g. a parameter reset), as in
  // PyTorch for leaves; they are not recorded in the graph.

  /// Copies `source` (same dtype, broadcast to this shape) into this tensor.
  const Tensor& copy_(const Tensor& source) const;
  /// Sets every element to 0.
  const Tensor& zero_() const;
  /// Sets every element to `value`.
  const Tensor& fill_(double value) const;
  /// this ← this + alpha · other.
  const Tensor& add_(const Tensor& other, double alpha = 1.0) const;
  /// this ← this + value.
  const Tensor& add_(double value) const;
  /// this ← this − alpha · other.
  const Tensor& sub_(const Tensor& other, double alpha = 1.0) const;
  /// this ← this − value.
  const Tensor& sub_(double value) const;
  /// this ← this · other.
  const Tensor& mul_(const Tensor& other) const;
  /// this ← this · value.
  const Tensor& mul_(double value) const;
  /// this ← this / other.
  const Tensor& div_(const Tensor& other) const;
  /// this ← this / value.
  const Tensor& div_(double value) const;
  /// this ← min(max(this, lo), hi) elementwise (lo ≤ hi).
  const Tensor& clamp_(double lo, double hi) const;
  /// The version of this tensor's storage: 0 when made, +1 for each in-place write. Handles that
  /// share the storage (`detach()`, `reshape`) share the counter.
  std::uint64_t version() const;
  /// Raises the version by one, naming `writer` (e.g. "SGD.step") in the error a stale saved
  /// tensor raises. Call it after writing into the data through `mutable_view()`.
  void bump_version(const char* writer) const;

  /// Same data viewed with another shape (one extent may be −1: inferred). Differentiable.
  Tensor reshape(const Shape& shape) const;
  /// 2-D transpose (a copy). Differentiable.
  Tensor t() const;
  /// Conversion to another dtype (differentiable between float types).
  Tensor to(DType dtype) const;

  // --- reductions and math as methods ---------------------------------------------------

  /// Sum of all elements (shape []).
  Tensor sum() const;
  /// Sum over `axis` (negative counts from the end), keeping it as size 1 when `keepdim`.
  Tensor sum(std::int64_t axis, bool keepdim = false) const;
  /// Mean of all elements.
  Tensor mean() const;
  /// Mean over `axis`.
  Tensor mean(std::int64_t axis, bool keepdim = false) const;
  /// Max of all elements.
  Tensor max() const;
  /// Max over `axis`.
  Tensor max(std::int64_t axis, bool keepdim = false) const;
  /// Matrix product with `other`.
  Tensor matmul(const Tensor& other) const;

  /// The shared state (for the engine, ops and backends).
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

 private:
  const TensorImpl& checked() const;
  std::shared_ptr<TensorImpl> impl_;
};

// --- creation -----------------------------------------------------------------------------

/// A tensor of zeros.
Tensor zeros(const Shape& shape, TensorOptions options = {});
/// A tensor of ones.
Tensor ones(const Shape& shape, TensorOptions options = {});
/// A tensor filled with `value`. `full({}, v)` is a 0-d tensor (shape [], one element).
Tensor full(const Shape& shape, double value, TensorOptions options = {});
/// A 0-d tensor (shape [], one element) holding `value`: what `sum()` returns and what
/// `backward()` takes as the seed of a 0-d loss. Same as `full({}, value, {.dtype = dtype})`.
Tensor scalar(double value, DType dtype = DType::float32);
/// [0, 1, ..., n−1].
Tensor arange(std::int64_t n, TensorOptions options = {});
/// Standard normal samples N(0, 1), drawn from the global generator (see `manual_seed`).
Tensor randn(const Shape& shape, TensorOptions options = {});
/// Uniform samples U[0, 1) from the global generator.
Tensor rand(const Shape& shape, TensorOptions options = {});
/// A tensor holding `values` (row-major) with `shape`. An empty `shape` means the default, 1-D of
/// values.size() elements: `from({1.0})` has shape [1] and `from({})` shape [0]; for a 0-d tensor
/// (shape []) use `scalar(v)` (PyTorch's `torch.tensor(1.0)` is 0-d, `torch.tensor([1.0])` is
/// [1]).
Tensor from(const std::vector<double>& values, const Shape& shape = {}, TensorOptions options = {});
/// Class labels: a 1-D int64 tensor.
Tensor labels(const std::vector<std::int64_t>& values);

/// Seeds the global generator used by `randn`, `rand` and the default dropout seed.
void manual_seed(std::uint64_t seed);
/// Draws the next 64-bit seed from the global generator (each random tensor takes one).
std::uint64_t next_seed();
/// The global generator's whole state: `manual_seed(random_state())` later puts it back, so
/// the random numbers drawn after that are the ones that would have been drawn here (a resumed
/// training run uses this for its dropout masks).
std::uint64_t random_state();

// --- recording switch ---------------------------------------------------------------------

/// While alive, ops record no graph (used for parameter updates and evaluation).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

/// True unless a `NoGradGuard` is alive on this thread.
bool grad_mode_enabled();

// --- printing -----------------------------------------------------------------------------

/// Prints shape, dtype and values (abbreviated for big tensors).
std::ostream& operator<<(std::ostream& out, const Tensor& tensor);
/// The same text as `operator<<`.
std::string to_string(const Tensor& tensor);

// --- arithmetic operators (NumPy broadcasting); defined in autograd/ops.cpp ----------------

/// Elementwise a + b with broadcasting.
Tensor operator+(const Tensor& a, const Tensor& b);
/// Elementwise a − b with broadcasting.
Tensor operator-(const Tensor& a, const Tensor& b);
/// Elementwise a · b with broadcasting.
Tensor operator*(const Tensor& a, const Tensor& b);
/// Elementwise a / b with broadcasting.
Tensor operator/(const Tensor& a, const Tensor& b);
/// −a.
Tensor operator-(const Tensor& a);
/// a + s.
Tensor operator+(const Tensor& a, double s);
/// s + a.
Tensor operator+(double s, const Tensor& a);
/// a − s.
Tensor operator-(const Tensor& a, double s);
/// s − a.
Tensor operator-(double s, const Tensor& a);
/// a · s.
Tensor operator*(const Tensor& a, double s);
/// s · a.
Tensor operator*(double s, const Tensor& a);
/// a / s.
Tensor operator/(const Tensor& a, double s);
/// s / a.
Tensor operator/(double s, const Tensor& a);

}  // namespace gradlab
