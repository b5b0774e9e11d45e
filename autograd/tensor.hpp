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
  /// Raw data pointer (contiguous, row-major). Check `dtype()` first.
  template <class T>
  T* data() const {
    return static_cast<T*>(raw_data());
  }
  /// Untyped data pointer.
  void* raw_data() const;
  /// The single value of a one-element tensor as a double; raises for more elements.
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
/// A tensor filled with `value`.
Tensor full(const Shape& shape, double value, TensorOptions options = {});
/// [0, 1, ..., n−1].
Tensor arange(std::int64_t n, TensorOptions options = {});
/// Standard normal samples N(0, 1), drawn from the global generator (see `manual_seed`).
Tensor randn(const Shape& shape, TensorOptions options = {});
/// Uniform samples U[0, 1) from the global generator.
Tensor rand(const Shape& shape, TensorOptions options = {});
/// A tensor holding `values` (row-major) with `shape` (default: 1-D of values.size()).
Tensor from(const std::vector<double>& values, const Shape& shape = {}, TensorOptions options = {});
/// Class labels: a 1-D int64 tensor.
Tensor labels(const std::vector<std::int64_t>& values);

/// Seeds the global generator used by `randn`, `rand` and the default dropout seed.
void manual_seed(std::uint64_t seed);
/// Draws the next 64-bit seed from the global generator (each random tensor takes one).
std::uint64_t next_seed();

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
