#pragma once
/// \file autograd/value.hpp
/// \brief `Value`: one number that remembers how it was computed (micrograd-style scalar nodes).
///
/// The first chapters build computational graphs out of single numbers, so that every node, every
/// local gradient and every step of the chain rule can be printed and checked by hand. A `Value`
/// is a cheap handle (a reference-counted pointer) to a node holding the number (`data`), the
/// gradient of the last `backward()` root with respect to it (`grad`), the nodes it was computed
/// from (`children`), the op's name and, for each child, the op's **local gradient** ∂out/∂child.
///
/// \code
///   using namespace gradlab;
///   Value x(-2.0, "x"), y(5.0, "y"), z(-4.0, "z");
///   Value f = (x + y) * z;          // f = −12
///   f.backward();
///   // x.grad() == −4, y.grad() == −4, z.grad() == 3
/// \endcode
///
/// **Local gradients are written beside the forward.** Every op computes its output and, in the
/// same few lines, the derivative of that output with respect to each input, e.g. for a·b the
/// numbers (b, a). The backward pass then applies the chain rule, one line for every op:
///
///     child.grad += local_gradient × out.grad
///
/// In micrograd each op stores a closure that runs that line with its own `local`; here the
/// `local` numbers themselves are stored (every scalar op's local gradient depends only on the
/// forward values), so the engine writes the line once, nodes stay small (no closure, no
/// reference cycle), and chapter 01 can print "local × upstream = contribution" at every node
/// through `local_gradients()` and `upstream_gradient()`.
///
/// **Backward is iterative.** `backward()` orders the graph with an explicit stack (no recursion),
/// so a chain of a million nodes works; destroying such a chain is iterative too.
///
/// **Calling `backward()` twice accumulates.** Each call computes this pass's gradients from
/// scratch (the seed d root/d root = 1, then local × upstream down the graph) and *adds* them to
/// `grad` of every node, so after two calls every `grad` is twice the one-pass value. Call
/// `zero_grad()` in between to start over. (PyTorch refuses a second pass unless asked to keep
/// the graph; adding is what two passes mean mathematically, and it is the same rule that makes a
/// node used twice receive both contributions.)
///
/// **Memory.** Nodes come from a per-thread pool and go back to it when their graph is freed; the
/// pool keeps what it has grown to (128 bytes per node of the largest graph alive at once)
/// for the next graph rather than returning it to the system.
///
/// Values are not thread-safe: build and differentiate one graph on one thread.

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace gradlab {

/// Where an op's plain-number operand sits, for ops such as `a + 2` or `1 / a` (used to print
/// the op's name, e.g. "+ 2" or "1 /").
enum class ConstantSide : std::uint8_t {
  none,   ///< The op has no plain-number operand.
  left,   ///< The number is on the left: `s − a`, `s / a`.
  right,  ///< The number is on the right: `a + s`, `a ^ p`.
};

/// The shared state behind a `Value` handle. Not part of the learner-facing API: use `Value`.
///
/// A node counts its owners itself (the handles naming it and the nodes computed from it), with
/// a plain integer: graphs of scalars have one node per multiply and per add, so what a node
/// costs to make, copy and free sets the engine's speed, and `std::shared_ptr`'s atomic counts
/// and separate control block cost about twice as much (measured on the two-moons benchmark).
/// For the same reason the fields that ordering, back-propagating and freeing read come first
/// and fill exactly one 64-byte cache line; the rest is read when a graph is built or printed.
struct alignas(64) ValueNode final {
  // --- read by every graph walk (the first cache line) ---
  std::array<ValueNode*, 2> children{};     ///< Inputs of the op (first `child_count`); owned.
  std::array<double, 2> local_gradients{};  ///< ∂data/∂children[i].data, fixed at forward time.
  double upstream = 0.0;         ///< d root / d this node in the most recent backward pass alone.
  double grad = 0.0;             ///< Sum of d root / d this node over all backward passes so far.
  std::uint32_t owners = 0;      ///< Handles and parent nodes that keep this alive.
  std::uint32_t visit_mark = 0;  ///< Used by the topological sort.
  std::uint8_t child_count = 0;  ///< 0 for leaves, 1 for unary ops, 2 for binary ops.
  ConstantSide constant_side = ConstantSide::none;  ///< Whether the op had a plain-number operand.
  // --- read when building and printing ---
  double data = 0.0;                   ///< The number this node holds.
  const char* op = nullptr;            ///< Op symbol ("+", "tanh", ...); null for leaves.
  double constant = 0.0;               ///< The plain-number operand (or exponent of pow).
  std::unique_ptr<std::string> label;  ///< Optional name (allocated only when set).

  /// Nodes come from a per-thread pool of fixed-size blocks: a training step makes and frees
  /// tens of thousands of them, and the general-purpose allocator's slow paths showed up as a
  /// fifth of the time. Freed blocks are reused, never returned to the system.
  static void* operator new(std::size_t size);
  /// Returns the block to the pool of the thread that frees it.
  static void operator delete(void* block) noexcept;
};

/// A scalar with automatic differentiation: a cheap handle to a `ValueNode`.
///
/// Copying a `Value` copies the handle: both copies name the same node, so `Value b = a;` then
/// `b.set_data(3)` changes `a` too (as in Python). A node lives as long as a handle or a node
/// computed from it does; freeing a graph walks it with a loop, never recursion, so a chain of a
/// million nodes is freed without exhausting the stack.
class Value {
 public:
  /// A leaf holding 0.
  Value();
  /// A leaf (a number the user made, not computed by an op) holding `data`, named `label`.
  explicit Value(double data, std::string label = {});
  /// A new handle sharing `node` (used by the engine and by graph walks).
  explicit Value(ValueNode* node);
  /// Another handle to the same node.
  Value(const Value& other) noexcept;
  /// Takes over `other`'s node; `other` must not be used afterwards except to assign to it.
  Value(Value&& other) noexcept;
  /// Makes this handle name `other`'s node.
  Value& operator=(const Value& other) noexcept;
  /// Makes this handle name `other`'s node, taking it over.
  Value& operator=(Value&& other) noexcept;
  /// Releases the node (and, iteratively, every node only it kept alive).
  ~Value();

  // --- the number and its gradient ------------------------------------------------------

  /// The number this node holds.
  double data() const { return node_->data; }
  /// Overwrites the number (e.g. a parameter update `p.set_data(p.data() - lr * p.grad())`).
  /// Nodes already computed from this one are not recomputed: rebuild the graph after updating.
  void set_data(double data) const { node_->data = data; }
  /// d root / d this node, summed over every `backward()` call since the last `zero_grad()`.
  double grad() const { return node_->grad; }
  /// Overwrites the accumulated gradient.
  void set_grad(double grad) const { node_->grad = grad; }
  /// d root / d this node in the most recent backward pass alone: the "upstream gradient" that
  /// this node's local gradients are multiplied by. 0 before any pass reached the node.
  double upstream_gradient() const { return node_->upstream; }

  // --- how it was made ------------------------------------------------------------------

  /// True when the user made this value (no op, no children).
  bool is_leaf() const { return node_->child_count == 0; }
  /// The op's name as shown in printouts: "+", "*", "tanh", "+ 1", "1 /", "^ 2", ...; "leaf"
  /// for leaves.
  std::string op_name() const;
  /// The inputs of the op that made this value (empty for leaves). A child used twice, as in
  /// `a + a`, appears twice.
  std::vector<Value> children() const;
  /// For each child i, the op's local gradient ∂this/∂children()[i], computed by the forward.
  /// During backward child i receives `local_gradients()[i] * upstream_gradient()`.
  std::vector<double> local_gradients() const;
  /// The name shown in printouts and graph pictures ("" when unset).
  const std::string& label() const;
  /// Sets the name; returns *this so that `Value w = (a * b).set_label("w");` reads naturally.
  const Value& set_label(std::string label) const;

  // --- differentiation ------------------------------------------------------------------

  /// Back-propagates from this value: seeds d this / d this = 1, visits every node reachable
  /// from here in reverse topological order, and at each node adds
  /// `local_gradient × upstream` to each child's upstream gradient; every node's `grad` then
  /// grows by its upstream gradient of this pass. Iterative: graphs of any depth work.
  void backward() const;
  /// Sets `grad` (and the last pass's upstream gradient) to 0 on every node reachable from
  /// here, this one included.
  void zero_grad() const;

  /// The node (for the engine, graph export and identity checks: two handles name the same
  /// node when their `node()` pointers are equal).
  ValueNode* node() const { return node_; }

 private:
  ValueNode* node_;
};

// --- arithmetic ---------------------------------------------------------------------------

/// a + b.   Local gradients: ∂/∂a = 1, ∂/∂b = 1 (addition hands the upstream gradient to both).
Value operator+(const Value& a, const Value& b);
/// a − b.   ∂/∂a = 1, ∂/∂b = −1.
Value operator-(const Value& a, const Value& b);
/// a · b.   ∂/∂a = b, ∂/∂b = a (multiplication swaps its inputs).
Value operator*(const Value& a, const Value& b);
/// a / b.   ∂/∂a = 1/b, ∂/∂b = −a/b². Raises gradlab::Error when b is 0.
Value operator/(const Value& a, const Value& b);
/// −a.      ∂/∂a = −1.
Value operator-(const Value& a);

/// a + s (s a plain number, which gets no gradient).   ∂/∂a = 1.
Value operator+(const Value& a, double s);
/// s + a.   ∂/∂a = 1.
Value operator+(double s, const Value& a);
/// a − s.   ∂/∂a = 1.
Value operator-(const Value& a, double s);
/// s − a.   ∂/∂a = −1.
Value operator-(double s, const Value& a);
/// a · s.   ∂/∂a = s.
Value operator*(const Value& a, double s);
/// s · a.   ∂/∂a = s.
Value operator*(double s, const Value& a);
/// a / s.   ∂/∂a = 1/s. Raises gradlab::Error when s is 0.
Value operator/(const Value& a, double s);
/// s / a.   ∂/∂a = −s/a². Raises gradlab::Error when a is 0.
Value operator/(double s, const Value& a);

// --- functions ----------------------------------------------------------------------------

/// x^p for a plain-number exponent p.   ∂/∂x = p·x^(p−1). Raises gradlab::Error when the result
/// is not a real number (negative x with a fractional p) or x is 0 with p < 1.
Value pow(const Value& x, double p);
/// eˣ.   ∂/∂x = eˣ.
Value exp(const Value& x);
/// ln x.   ∂/∂x = 1/x. Raises gradlab::Error when x ≤ 0.
Value log(const Value& x);
/// tanh x.   ∂/∂x = 1 − tanh²x.
Value tanh(const Value& x);
/// σ(x) = 1 / (1 + e⁻ˣ).   ∂/∂x = σ(x)·(1 − σ(x)).
Value sigmoid(const Value& x);
/// max(0, x).   ∂/∂x = 1 when x > 0, else 0 (the kink at 0 gets 0).
Value relu(const Value& x);
/// max(a, b): routes the whole upstream gradient to the larger input (to `a` on a tie).
/// ∂/∂a = [a ≥ b], ∂/∂b = [a < b].
Value max(const Value& a, const Value& b);

// --- inspecting a graph -------------------------------------------------------------------

/// Every node reachable from `root`, each once, children before the values computed from them
/// (so `root` is last). Iterative depth-first search: graphs of any depth work.
std::vector<Value> topological_order(const Value& root);

/// How many scalar nodes exist: made minus freed on this thread. A graph is freed as soon as
/// its last handle goes, so this returns to its earlier count after a training step (a test of
/// that is a test that no reference cycle keeps a graph alive).
std::int64_t value_nodes_alive();

/// Prints `Value(data=…, grad=…)`, with the label first when there is one.
std::ostream& operator<<(std::ostream& out, const Value& value);

}  // namespace gradlab
