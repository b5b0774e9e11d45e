// The Tensor handle, creation, grad mode, printing and the backward engine.
#include "autograd/tensor.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "autograd/detail/profile_hooks.hpp"
#include "autograd/detail/versions.hpp"
#include "autograd/node.hpp"
#include "autograd/ops.hpp"
#include "backends/backend.hpp"

namespace gradlab {

// --- storage and teardown -------------------------------------------------------------------

namespace {

// TensorImpls, Nodes and their reference counts come from the per-thread small-block cache
// (autograd/detail/small_blocks.hpp), and so do storage buffers (autograd/inplace.cpp): an op on
// small tensors then calls no malloc.
std::shared_ptr<TensorImpl> new_impl() {
  return std::allocate_shared<TensorImpl>(detail::SmallBlockAllocator<TensorImpl>{});
}

[[gnu::tls_model("initial-exec")]] thread_local bool grad_mode = true;

}  // namespace

// Destroying the last tensor of a long chain would destroy node → input → node → ... recursively
// and overflow the stack for deep graphs. Instead, nodes that only this chain owns are moved onto
// an explicit stack and destroyed one at a time.
TensorImpl::~TensorImpl() {
  if (!grad_fn || grad_fn.use_count() != 1) return;
  std::vector<std::shared_ptr<Node>> doomed;
  doomed.push_back(std::move(grad_fn));
  while (!doomed.empty()) {
    std::shared_ptr<Node> node = std::move(doomed.back());
    doomed.pop_back();
    for (Tensor& input : node->inputs) {
      const auto& impl = input.impl();
      if (impl && impl.use_count() == 1 && impl->grad_fn && impl->grad_fn.use_count() == 1) {
        doomed.push_back(std::move(impl->grad_fn));
      }
    }
  }
}

// --- Tensor basics --------------------------------------------------------------------------

const TensorImpl& Tensor::checked() const {
  if (!impl_) throw Error("use of an undefined tensor (default-constructed Tensor has no data)");
  return *impl_;
}

const Shape& Tensor::shape() const { return checked().shape; }

std::int64_t Tensor::size(std::int64_t axis) const {
  std::int64_t rank = dim();
  std::int64_t resolved = axis < 0 ? axis + rank : axis;
  if (resolved < 0 || resolved >= rank) {
    throw Error("size: axis " + std::to_string(axis) + " out of range for shape " +
                shape_string(shape()));
  }
  return shape()[static_cast<std::size_t>(resolved)];
}

std::int64_t Tensor::numel() const { return shape_numel(shape()); }
DType Tensor::dtype() const { return checked().dtype; }

double Tensor::at(std::int64_t i) const {
  if (i < 0 || i >= numel()) {
    throw Error("at: index " + std::to_string(i) + " out of range for shape " +
                shape_string(shape()));
  }
  switch (dtype()) {
    case DType::float32: return const_data<float>()[i];
    case DType::float64: return const_data<double>()[i];
    case DType::int64: return static_cast<double>(const_data<std::int64_t>()[i]);
  }
  return 0;
}

double Tensor::item() const {
  if (numel() != 1) {
    throw Error("item: expected a tensor with one element, got shape " + shape_string(shape()));
  }
  return at(0);
}

std::vector<double> Tensor::to_vector() const {
  std::vector<double> values(static_cast<std::size_t>(numel()));
  for (std::int64_t i = 0; i < numel(); ++i) values[static_cast<std::size_t>(i)] = at(i);
  return values;
}

ConstView Tensor::view() const {
  const TensorImpl& impl = checked();
  if (impl.saved_version != TensorImpl::kNotSaved) detail::check_saved_version(impl);
  return ConstView{impl.storage.get(), impl.shape, impl.dtype};
}

View Tensor::mutable_view() const {
  const TensorImpl& impl = checked();
  return View{impl.storage.get(), impl.shape, impl.dtype};
}

// --- autograd state -------------------------------------------------------------------------

bool Tensor::requires_grad() const { return checked().requires_grad; }

Tensor& Tensor::requires_grad_(bool needed) {
  checked();
  if (impl_->grad_fn && !needed) {
    throw Error("requires_grad_(false) on a non-leaf tensor (made by '" + impl_->grad_fn->op +
                "'); use detach() to cut it from the graph");
  }
  if (needed && impl_->dtype == DType::int64) {
    throw Error("requires_grad_: int64 tensors (labels) cannot have gradients");
  }
  impl_->requires_grad = needed;
  return *this;
}

bool Tensor::is_leaf() const { return checked().grad_fn == nullptr; }

Tensor& Tensor::retain_grad() {
  checked();
  impl_->retains_grad = true;
  return *this;
}

Tensor Tensor::grad() const { return Tensor(checked().grad); }

void Tensor::set_grad(const Tensor& gradient) const {
  checked();
  if (gradient.defined() && gradient.shape() != impl_->shape) {
    throw Error("set_grad: gradient shape " + shape_string(gradient.shape()) +
                " does not match tensor shape " + shape_string(impl_->shape));
  }
  if (gradient.defined() && gradient.dtype() != impl_->dtype) {
    throw Error(std::string("set_grad: gradient dtype ") + dtype_name(gradient.dtype()) +
                " does not match tensor dtype " + dtype_name(impl_->dtype));
  }
  impl_->grad = gradient.impl();
}

void Tensor::zero_grad() const {
  checked();
  impl_->grad.reset();
}

Tensor Tensor::detach() const {
  const TensorImpl& impl = checked();
  auto detached = new_impl();
  detached->storage = impl.storage;
  detached->shape = impl.shape;
  detached->dtype = impl.dtype;
  // Checked if read in backward; the label names it in that check's error.
  detached->saved_version = detail::header_of(impl).version.load(std::memory_order_relaxed);
  if (!impl.label.empty()) detached->label = impl.label;
  return Tensor(std::move(detached));
}

Tensor Tensor::clone() const {
  Tensor copy = empty(shape(), dtype());
  std::memcpy(copy.impl()->storage.get(), const_raw_data(),
              static_cast<std::size_t>(numel()) * dtype_size(dtype()));
  return copy;
}

std::string Tensor::op_name() const { return checked().grad_fn ? impl_->grad_fn->op : "leaf"; }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked().grad_fn; }

Tensor& Tensor::set_label(std::string label) {
  checked();
  impl_->label = std::move(label);
  return *this;
}

const std::string& Tensor::label() const { return checked().label; }

Tensor Tensor::reshape(const Shape& shape) const { return gradlab::reshape(*this, shape); }
Tensor Tensor::t() const { return transpose(*this); }
Tensor Tensor::sum() const { return gradlab::sum(*this); }
Tensor Tensor::sum(std::int64_t axis, bool keepdim) const {
  return gradlab::sum(*this, axis, keepdim);
}
Tensor Tensor::mean() const { return gradlab::mean(*this); }
Tensor Tensor::mean(std::int64_t axis, bool keepdim) const {
  return gradlab::mean(*this, axis, keepdim);
}
Tensor Tensor::max() const { return gradlab::max(*this); }
Tensor Tensor::max(std::int64_t axis, bool keepdim) const {
  return gradlab::max(*this, axis, keepdim);
}
Tensor Tensor::matmul(const Tensor& other) const { return gradlab::matmul(*this, other); }

// --- creation -------------------------------------------------------------------------------

namespace {

std::atomic<std::uint64_t> generator_state{0x853c49e6748fea9bULL};

Tensor make_leaf(Tensor tensor, const TensorOptions& options) {
  if (options.requires_grad) tensor.requires_grad_(true);
  return tensor;
}

}  // namespace

Tensor full(const Shape& shape, double value, TensorOptions options) {
  Tensor tensor = Tensor::empty(shape, options.dtype);
  backend().fill(tensor.mutable_view(), value);
  return make_leaf(tensor, options);
}

Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }

Tensor arange(std::int64_t n, TensorOptions options) {
  if (n < 0) throw Error("arange: n must be non-negative, got " + std::to_string(n));
  Tensor tensor = Tensor::empty({n}, options.dtype);
  backend().arange(tensor.mutable_view(), 0.0, 1.0);
  return make_leaf(tensor, options);
}

// SplitMix64 step: every random tensor takes one 64-bit seed from this global stream, and the
// backend expands the seed into numbers with its counter-based generator.
std::uint64_t next_seed() {
  std::uint64_t z = generator_state.fetch_add(0x9e3779b97f4a7c15ULL) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void manual_seed(std::uint64_t seed) { generator_state.store(seed); }

std::uint64_t random_state() { return generator_state.load(); }

Tensor randn(const Shape& shape, TensorOptions options) {
  Tensor tensor = Tensor::empty(shape, options.dtype);
  backend().random_normal(tensor.mutable_view(), 0.0, 1.0, next_seed());
  return make_leaf(tensor, options);
}

Tensor rand(const Shape& shape, TensorOptions options) {
  Tensor tensor = Tensor::empty(shape, options.dtype);
  backend().random_uniform(tensor.mutable_view(), 0.0, 1.0, next_seed());
  return make_leaf(tensor, options);
}

Tensor from(const std::vector<double>& values, const Shape& shape, TensorOptions options) {
  Shape resolved = shape.empty() ? Shape{static_cast<std::int64_t>(values.size())} : shape;
  if (shape_numel(resolved) != static_cast<std::int64_t>(values.size())) {
    throw Error("from: " + std::to_string(values.size()) + " values do not fill shape " +
                shape_string(resolved));
  }
  Tensor as_double = Tensor::empty(resolved, DType::float64);
  // (An empty vector's data() may be null, which memcpy must not get even for 0 bytes.)
  if (!values.empty())
    std::memcpy(as_double.impl()->storage.get(), values.data(), values.size() * sizeof(double));
  if (options.dtype == DType::float64) return make_leaf(as_double, options);
  Tensor converted = Tensor::empty(resolved, options.dtype);
  backend_named("reference").convert(as_double.view(), converted.mutable_view());
  return make_leaf(converted, options);
}

Tensor labels(const std::vector<std::int64_t>& values) {
  Tensor tensor = Tensor::empty({static_cast<std::int64_t>(values.size())}, DType::int64);
  if (!values.empty())
    std::memcpy(tensor.impl()->storage.get(), values.data(), values.size() * sizeof(std::int64_t));
  return tensor;
}

// --- grad mode ------------------------------------------------------------------------------

NoGradGuard::NoGradGuard() : previous_(grad_mode) { grad_mode = false; }
NoGradGuard::~NoGradGuard() { grad_mode = previous_; }
bool grad_mode_enabled() { return grad_mode; }

// --- recording and the backward engine ------------------------------------------------------

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!grad_mode) return false;
  for (const Tensor* input : inputs) {
    if (input->defined() && input->requires_grad()) return true;
  }
  return false;
}

Tensor record(const char* op, NodeInputs inputs, Tensor output, BackwardFunction backward) {
  detail::profile_op(op);  // a running Profiler times the op's forward (autograd/profiler.hpp)
  if (!grad_mode) return output;
  bool needed = false;
  for (const Tensor& input : inputs) needed = needed || (input.defined() && input.requires_grad());
  if (!needed) return output;
  output.impl()->grad_fn = std::allocate_shared<Node>(
      detail::SmallBlockAllocator<Node>{}, Node{op, std::move(inputs), std::move(backward)});
  output.impl()->requires_grad = true;
  return output;
}

bool GradientSink::needs(std::size_t i) const {
  return i < inputs_.size() && inputs_[i].defined() && inputs_[i].requires_grad();
}

void GradientSink::add(std::size_t i, const Tensor& gradient) {
  if (!needs(i)) return;
  TensorImpl& input = *inputs_[i].impl();
  if (!gradient.defined())
    throw Error(std::string(op_) + " backward: gradient for input " + std::to_string(i) +
                " is an undefined tensor (the input has shape " + shape_string(input.shape) + ")");
  if (gradient.dtype() != input.dtype)
    throw Error(std::string(op_) + " backward: gradient for input " + std::to_string(i) +
                " has dtype " + dtype_name(gradient.dtype()) + " but the input has dtype " +
                dtype_name(input.dtype));
  if (gradient.shape() != input.shape) {
    throw Error(std::string(op_) + " backward: gradient for input " + std::to_string(i) +
                " has shape " + shape_string(gradient.shape()) + " but the input has shape " +
                shape_string(input.shape));
  }
  // Gradients add at forks: a tensor used twice receives both contributions. The sum is made
  // out of place because `gradient` may be shared with another input (add passes g to both).
  input.pending = input.pending ? (Tensor(input.pending) + gradient).impl() : gradient.impl();
}

namespace {
std::atomic<std::uint64_t> visit_epoch{0};
}

namespace {

// A handle to a tensor of the graph, as the graph itself holds it (the root's own handle or an
// entry of a node's inputs): listing these costs no reference counting, and they stay valid as
// long as the root keeps the graph alive.
using GraphEntry = const std::shared_ptr<TensorImpl>*;

// Lists the tensors of the graph ending at `root` that require a gradient into `order`, inputs
// before the ops that use them. An explicit stack of (tensor, index of the next input to visit)
// makes this a post-order depth-first search without recursion, so a chain of a million ops is
// fine.
void sort_graph(GraphEntry root, std::vector<GraphEntry>& order,
                std::vector<std::pair<GraphEntry, std::size_t>>& stack) {
  const std::uint64_t epoch = ++visit_epoch;
  order.clear();
  stack.clear();
  (*root)->visit_mark = epoch;
  stack.emplace_back(root, 0);
  while (!stack.empty()) {
    auto& [tensor, next] = stack.back();
    const Node* node = (*tensor)->grad_fn.get();
    if (node != nullptr && next < node->inputs.size()) {
      GraphEntry input = &node->inputs[next++].impl();
      if (*input && (*input)->requires_grad && (*input)->visit_mark != epoch) {
        (*input)->visit_mark = epoch;
        stack.emplace_back(input, 0);  // invalidates `tensor` and `next`; not used again this turn
      }
      continue;
    }
    order.push_back(tensor);
    stack.pop_back();
  }
}

// The working lists of one sort, taken from a per-thread stock and given back afterwards, so
// that backward() on every training step does not allocate them again (growing a list of a few
// thousand entries is a large allocation, and the C library tidies up all its small free blocks
// before each one). A backward inside a backward closure simply takes a second set. The stock is
// freed when its thread exits; a sort after that (in a later thread_local's destructor) works
// on lists of its own.
class SortLists {
 public:
  SortLists() {
    std::vector<Lists>* spare = stock();
    if (spare != nullptr && !spare->empty()) {
      lists_ = std::move(spare->back());
      spare->pop_back();
    }
  }
  ~SortLists() {
    if (std::vector<Lists>* spare = stock(); spare != nullptr) spare->push_back(std::move(lists_));
  }
  SortLists(const SortLists&) = delete;
  SortLists& operator=(const SortLists&) = delete;

  std::vector<GraphEntry>& order() { return lists_.order; }
  std::vector<std::pair<GraphEntry, std::size_t>>& stack() { return lists_.stack; }

 private:
  struct Lists {
    std::vector<GraphEntry> order;
    std::vector<std::pair<GraphEntry, std::size_t>> stack;
  };
  // This thread's stock: made on first use, destroyed when the thread exits (then null).
  struct Stock {
    std::vector<Lists> lists;
    ~Stock();
  };
  [[gnu::tls_model("initial-exec")]] static thread_local std::vector<Lists>* of_this_thread;
  [[gnu::tls_model("initial-exec")]] static thread_local bool stock_gone;
  static std::vector<Lists>* stock() {
    if (of_this_thread == nullptr && !stock_gone) [[unlikely]] {
      thread_local Stock stock;
      of_this_thread = &stock.lists;
    }
    return of_this_thread;
  }
  Lists lists_;
};

thread_local std::vector<SortLists::Lists>* SortLists::of_this_thread = nullptr;
thread_local bool SortLists::stock_gone = false;
SortLists::Stock::~Stock() {
  of_this_thread = nullptr;
  stock_gone = true;
}

}  // namespace

std::vector<Tensor> topological_order(const Tensor& root) {
  SortLists lists;
  sort_graph(&root.impl(), lists.order(), lists.stack());
  std::vector<Tensor> order;
  order.reserve(lists.order().size());
  for (GraphEntry entry : lists.order()) order.emplace_back(*entry);
  return order;
}

void Tensor::backward(const Tensor& gradient) const {
  const TensorImpl& self = checked();
  if (!self.requires_grad) {
    throw Error(
        "backward: this tensor does not require a gradient (no tensor it was computed "
        "from has requires_grad set)");
  }
  Tensor seed = gradient;
  if (!seed.defined()) {
    if (numel() != 1) {
      throw Error(
          "backward: without a gradient argument the tensor must hold one element, got "
          "shape " +
          shape_string(shape()) + "; pass the upstream gradient explicitly");
    }
    seed = ones(shape(), {.dtype = dtype()});
  } else if (seed.shape() != shape() || seed.dtype() != dtype()) {
    throw Error("backward: gradient of shape " + shape_string(seed.shape()) + " (" +
                dtype_name(seed.dtype()) + ") for a tensor of shape " + shape_string(shape()) +
                " (" + dtype_name(dtype()) + ")");
  }

  SortLists lists;
  std::vector<GraphEntry>& order = lists.order();
  sort_graph(&impl_, order, lists.stack());
  NoGradGuard no_recording;  // gradients are plain numbers, not new graphs
  detail::ProfileRange timed_pass(detail::ProfileKind::backward_pass, "backward");
  impl_->pending = seed.impl();
  // Reverse topological order: a tensor's upstream gradient is complete before it is used.
  for (std::size_t k = order.size(); k-- > 0;) {
    TensorImpl& tensor = **order[k];
    if (!tensor.pending) continue;
    Tensor upstream(std::move(tensor.pending));
    if (!tensor.grad_fn || tensor.retains_grad) {
      // Leaves (and retained tensors) accumulate across backward calls until zero_grad().
      if (!tensor.grad) {
        tensor.grad = upstream.impl().use_count() == 1 ? upstream.impl() : upstream.clone().impl();
      } else {
        tensor.grad = (Tensor(tensor.grad) + upstream).impl();
      }
    }
    if (tensor.grad_fn) {
      GradientSink sink(tensor.grad_fn->inputs, tensor.grad_fn->op);
      detail::BackwardOfNode running(tensor.grad_fn->op);  // names it if a saved tensor changed
      detail::ProfileRange timed(detail::ProfileKind::backward, tensor.grad_fn->op);
      tensor.grad_fn->backward(upstream, sink);
    }
  }
}

// --- printing -------------------------------------------------------------------------------

namespace {

void print_values(std::ostream& out, const Tensor& tensor, std::size_t axis, std::int64_t offset,
                  std::int64_t stride_product) {
  const Shape& shape = tensor.shape();
  if (shape.empty()) {
    out << tensor.at(0);
    return;
  }
  std::int64_t extent = shape[axis];
  std::int64_t stride = stride_product / std::max<std::int64_t>(extent, 1);
  constexpr std::int64_t kEdge = 3;  // show the first and last three when a dimension is long
  out << "[";
  for (std::int64_t i = 0; i < extent; ++i) {
    if (extent > 2 * kEdge + 1 && i == kEdge) {
      out << "..., ";
      i = extent - kEdge - 1;
      continue;
    }
    if (axis + 1 == shape.size()) {
      out << tensor.at(offset + i);
    } else {
      print_values(out, tensor, axis + 1, offset + i * stride, stride);
    }
    if (i + 1 < extent)
      out << (axis + 1 == shape.size() ? ", " : ",\n" + std::string(axis + 8, ' '));
  }
  out << "]";
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const Tensor& tensor) {
  if (!tensor.defined()) return out << "tensor(undefined)";
  std::ostringstream text;
  text << std::setprecision(4) << "tensor(";
  print_values(text, tensor, 0, 0, tensor.numel());
  text << ", shape=" << shape_string(tensor.shape()) << ", dtype=" << dtype_name(tensor.dtype());
  if (!tensor.is_leaf())
    text << ", grad_fn=" << tensor.op_name();
  else if (tensor.requires_grad())
    text << ", requires_grad";
  text << ")";
  return out << text.str();
}

std::string to_string(const Tensor& tensor) {
  std::ostringstream text;
  text << tensor;
  return text.str();
}

Tensor Tensor::to(DType target) const {
  if (dtype() == target) return *this;
  if (target == DType::int64) {
    // NaN, ±inf and values beyond ±2^63 have no int64 value (the conversion would be undefined
    // behaviour, in practice INT64_MIN): refuse them, naming the first.
    const std::vector<double> values = to_vector();
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double v = values[i];
      if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0)) {
        std::ostringstream text;
        text << std::setprecision(17) << "to(int64): element " << i << " (of shape "
             << shape_string(shape()) << ") is " << v
             << ", which has no int64 value (NaN, infinite or beyond ±2^63)";
        throw Error(text.str());
      }
    }
  }
  Tensor y = Tensor::empty(shape(), target);
  if (y.numel() > 0) backend().convert(view(), y.mutable_view());
  if (!any_requires_grad({this}) || target == DType::int64) return y;
  return record("to", {*this}, y, [from = dtype()](const Tensor& upstream, GradientSink& grads) {
    grads.add(0, upstream.to(from));
  });
}

}  // namespace gradlab
