// Storage with its version counter, the in-place ops, and the check of saved tensors.
//
// Every storage buffer starts with a header holding its version (autograd/detail/versions.hpp).
// An in-place op computes its result out of place through the active backend (so it runs on every
// backend, with the usual broadcasting and dtype checks), copies it into the tensor's own storage
// and raises the version. A backward closure that reads a tensor it saved (a `detach()`ed handle)
// after that raises an error that names the saver, the writer and both versions.
#include <cstring>
#include <new>
#include <sstream>

#include "autograd/detail/versions.hpp"
#include "autograd/node.hpp"
#include "autograd/ops.hpp"
#include "backends/backend.hpp"

namespace gradlab {

// --- storage ------------------------------------------------------------------------------

namespace detail {

std::shared_ptr<void> allocate_storage(std::size_t bytes) {
  const std::size_t size = kStorageHeaderBytes + bytes;
  void* memory = nullptr;
  try {
    memory = take_small_block(size);
  } catch (const std::bad_alloc&) {
    throw Error("out of memory allocating " + std::to_string(bytes) + " bytes");
  }
  ::new (memory) StorageHeader{};
  char* data = static_cast<char*>(memory) + kStorageHeaderBytes;
  return std::shared_ptr<void>(
      data,
      [size](void* buffer) {
        give_small_block_back(static_cast<char*>(buffer) - kStorageHeaderBytes, size);
      },
      SmallBlockAllocator<void>{});
}

namespace {
// The op whose backward closure runs on this thread, or null outside a backward pass.
[[gnu::tls_model("initial-exec")]] thread_local const std::string* op_in_backward = nullptr;
}  // namespace

BackwardOfNode::BackwardOfNode(const std::string& op) : previous_(op_in_backward) {
  op_in_backward = &op;
}
BackwardOfNode::~BackwardOfNode() { op_in_backward = previous_; }

void check_saved_version(const TensorImpl& impl) {
  if (op_in_backward == nullptr) return;  // outside a backward pass a detached handle is data
  const StorageHeader& header = header_of(impl);
  const std::uint64_t version = header.version.load(std::memory_order_relaxed);
  if (version == impl.saved_version) return;
  const char* writer = header.last_writer.load(std::memory_order_relaxed);
  std::ostringstream text;
  if (impl.label.empty())
    text << "a tensor of shape " << shape_string(impl.shape);
  else
    text << "`" << impl.label << "` (shape " << shape_string(impl.shape) << ")";
  text << ", saved by `" << *op_in_backward << "` for the backward pass, was modified in place by `"
       << (writer ? writer : "?") << "` after it was saved: version " << version << ", expected "
       << impl.saved_version
       << " (compute a new tensor instead, e.g. x = x + y, or call backward() before changing "
          "it)";
  throw Error(text.str());
}

}  // namespace detail

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  // One pass: every extent must be ≥ 0 and the byte count must fit 64 bits (a zero extent makes
  // it 0, whatever the others are, so an overflow only counts when no extent is zero).
  std::int64_t bytes = static_cast<std::int64_t>(dtype_size(dtype));
  bool overflow = false, has_zero = false;
  for (std::int64_t extent : shape) {
    if (extent < 0)
      throw Error("cannot create a tensor with negative extent: " + shape_string(shape));
    has_zero = has_zero || extent == 0;
    overflow = __builtin_mul_overflow(bytes, extent, &bytes) || overflow;
  }
  if (overflow && !has_zero) {
    throw Error("cannot create a tensor of shape " + shape_string(shape) +
                ": its size in bytes does not fit 64 bits");
  }
  auto impl = std::allocate_shared<TensorImpl>(detail::SmallBlockAllocator<TensorImpl>{});
  impl->storage = detail::allocate_storage(has_zero ? 0 : static_cast<std::size_t>(bytes));
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

// --- versions and data accessors ----------------------------------------------------------

std::uint64_t Tensor::version() const {
  if (!defined()) throw Error("version: the tensor is undefined");
  return detail::header_of(*impl_).version.load(std::memory_order_relaxed);
}

void Tensor::bump_version(const char* writer) const {
  if (!defined()) throw Error("bump_version: the tensor is undefined");
  detail::StorageHeader& header = detail::header_of(*impl_);
  header.version.fetch_add(1, std::memory_order_relaxed);
  header.last_writer.store(writer, std::memory_order_relaxed);
}

void* Tensor::raw_data() const {
  if (!defined())
    throw Error("use of an undefined tensor (default-constructed Tensor has no data)");
  bump_version("a write through data<T>() or raw_data()");
  return impl_->storage.get();
}

const void* Tensor::const_raw_data() const {
  if (!defined())
    throw Error("use of an undefined tensor (default-constructed Tensor has no data)");
  if (impl_->saved_version != TensorImpl::kNotSaved) detail::check_saved_version(*impl_);
  return impl_->storage.get();
}

Tensor scalar(double value, DType dtype) { return full({}, value, {.dtype = dtype}); }

// --- in-place ops ---------------------------------------------------------------------------

namespace {

// PyTorch's rules: no in-place write into a tensor the graph needs while recording (for a leaf
// that requires grad: use a NoGradGuard), and none from a tensor that requires grad.
void check_writable(const Tensor& self, const char* op, const Tensor& other = Tensor()) {
  if (!self.defined()) throw Error(std::string(op) + ": the tensor is undefined");
  if (!grad_mode_enabled()) return;
  if (self.requires_grad() && self.is_leaf())
    throw Error(std::string(op) + ": a leaf tensor that requires grad (shape " +
                shape_string(self.shape()) +
                ") cannot be changed in place while gradients are recorded; wrap the write in a "
                "NoGradGuard (PyTorch: torch.no_grad()), e.g. to reset a parameter");
  if (self.requires_grad())
    throw Error(std::string(op) + ": the tensor (shape " + shape_string(self.shape()) +
                ") is part of a graph (made by `" + self.op_name() +
                "`); gradlab does not record in-place ops, so compute a new tensor instead (e.g. "
                "x = x + y), or write under a NoGradGuard if the graph must not see it");
  if (other.defined() && other.requires_grad())
    throw Error(std::string(op) +
                ": the other operand requires grad, and in-place ops are not "
                "recorded in the graph; compute a new tensor instead (e.g. x = x + y)");
}

// Writes `result` (computed out of place) into `self`'s storage and raises its version.
const Tensor& write_into(const Tensor& self, const Tensor& result, const char* op) {
  if (result.shape() != self.shape())
    throw Error(std::string(op) + ": the result has shape " + shape_string(result.shape()) +
                " but the tensor has shape " + shape_string(self.shape()) +
                "; an in-place op cannot change the shape (the other operand must broadcast to "
                "it)");
  if (result.dtype() != self.dtype())
    throw Error(std::string(op) + ": the result is " + dtype_name(result.dtype()) +
                " but the tensor is " + dtype_name(self.dtype()));
  std::memcpy(self.impl()->storage.get(), result.const_raw_data(),
              static_cast<std::size_t>(self.numel()) * dtype_size(self.dtype()));
  self.bump_version(op);
  return self;
}

template <class Compute>
const Tensor& in_place(const Tensor& self, const char* op, const Tensor& other, Compute compute) {
  check_writable(self, op, other);
  Tensor result;
  {
    NoGradGuard no_graph;
    result = compute(self.detach());
  }
  return write_into(self, result, op);
}

Tensor constant(double value, const Tensor& like) { return scalar(value, like.dtype()); }

}  // namespace

const Tensor& Tensor::copy_(const Tensor& source) const {
  if (defined() && source.defined()) {  // NumPy's rule: extents equal or 1, aligned at the right
    const Shape &to = shape(), &from = source.shape();
    bool fits = from.size() <= to.size();
    for (std::size_t i = 1; fits && i <= from.size(); ++i)
      fits = from[from.size() - i] == 1 || from[from.size() - i] == to[to.size() - i];
    if (!fits)
      throw Error("copy_: a source of shape " + shape_string(from) +
                  " does not broadcast to the tensor's shape " + shape_string(to));
  }
  return in_place(*this, "copy_", source, [&](const Tensor& self) {
    Tensor out = Tensor::empty(self.shape(), self.dtype());
    if (out.numel() > 0) backend().broadcast_to(source.to(self.dtype()).view(), out.mutable_view());
    return out;
  });
}

const Tensor& Tensor::fill_(double value) const {
  return in_place(*this, "fill_", Tensor(), [&](const Tensor& self) {
    return full(self.shape(), value, {.dtype = self.dtype()});
  });
}

const Tensor& Tensor::zero_() const {
  return in_place(*this, "zero_", Tensor(),
                  [&](const Tensor& self) { return zeros(self.shape(), {.dtype = self.dtype()}); });
}

const Tensor& Tensor::add_(const Tensor& other, double alpha) const {
  return in_place(*this, "add_", other, [&](const Tensor& self) {
    return alpha == 1.0 ? self + other : self + other * alpha;
  });
}

const Tensor& Tensor::add_(double value) const {
  return in_place(*this, "add_", Tensor(), [&](const Tensor& self) { return self + value; });
}

const Tensor& Tensor::sub_(const Tensor& other, double alpha) const {
  return in_place(*this, "sub_", other, [&](const Tensor& self) {
    return alpha == 1.0 ? self - other : self - other * alpha;
  });
}

const Tensor& Tensor::sub_(double value) const {
  return in_place(*this, "sub_", Tensor(), [&](const Tensor& self) { return self - value; });
}

const Tensor& Tensor::mul_(const Tensor& other) const {
  return in_place(*this, "mul_", other, [&](const Tensor& self) { return self * other; });
}

const Tensor& Tensor::mul_(double value) const {
  return in_place(*this, "mul_", Tensor(), [&](const Tensor& self) { return self * value; });
}

const Tensor& Tensor::div_(const Tensor& other) const {
  return in_place(*this, "div_", other, [&](const Tensor& self) { return self / other; });
}

const Tensor& Tensor::div_(double value) const {
  return in_place(*this, "div_", Tensor(), [&](const Tensor& self) { return self / value; });
}

const Tensor& Tensor::clamp_(double lo, double hi) const {
  // min(max(x, lo), hi), with min(a, b) = −max(−a, −b): two passes of the `maximum` kernel.
  return in_place(*this, "clamp_", Tensor(), [&](const Tensor& self) {
    return -maximum(-maximum(self, constant(lo, self)), constant(-hi, self));
  });
}

}  // namespace gradlab
