#pragma once
/// \file autograd/fast/value.hpp
/// \brief `fast::Value`: the scalar engine of autograd/value.hpp, built for speed.
///
/// This is the fast door of the scalar engine. It has the same API and computes the same numbers
/// as `gradlab::Value` (autograd/value.hpp, the one to read first), and the two-moons benchmark
/// (`./gradlab bench --benchmark_filter=moons`) runs both and prints the ratio. What makes it fast
/// is memory: nodes of one cache line made in order from a per-thread arena, owners counted with
/// a plain integer, and a backward pass that walks the arena instead of sorting the graph.
/// Chapter 12 measures the difference. Below is the engine's own description.
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
/// **Backward needs no sort, and no recursion.** micrograd sorts the graph topologically before
/// back-propagating. Here an op's node is always made after its inputs, and nodes are laid out in
/// memory in the order they are made, so walking the nodes from the newest back to the oldest
/// already visits every value before the inputs it was computed from: `backward()` walks that
/// way, starting at the root and skipping nodes the root does not depend on. (A graph that mixes
/// nodes made on different threads is sorted instead, with an explicit stack.) Nothing is
/// recursive, so a chain of a million nodes works; destroying such a chain is iterative too.
/// `topological_order()` still gives the sorted list, for printing and drawing.
///
/// **Calling `backward()` twice accumulates.** Each call computes this pass's gradients from
/// scratch (the seed d root/d root = 1, then local × upstream down the graph) and *adds* them to
/// `grad` of every node, so after two calls every `grad` is twice the one-pass value. Call
/// `zero_grad()` in between to start over. (PyTorch refuses a second pass unless asked to keep
/// the graph; adding is what two passes mean mathematically, and it is the same rule that makes a
/// node used twice receive both contributions.)
///
/// **Memory.** Nodes (64 bytes each) are cut in order from 64 KiB chunks of a per-thread arena;
/// a chunk is reused once all of its nodes are freed. Up to 16 MiB of empty chunks are kept for
/// the next graph, the rest go back to the system. A node kept alive keeps its whole chunk, so a
/// program that keeps one value out of every graph it builds holds more memory than it uses.
/// `backward()` walks every live node made before its root on this thread, so its time grows
/// with the number of values alive, not only with the size of the graph.
///
/// **Threads.** A graph may be handed to another thread (through anything that synchronises: a
/// mutex, a queue, `std::thread`'s start and `join()`), which may then back-propagate it, build
/// on it and free it; its nodes may outlive the thread that made them. What is not allowed is two
/// threads using the same graph at the same time, nor graphs on two threads sharing a node (a
/// shared parameter, say): owner counts and gradients are plain numbers. How it works: only the
/// thread that made a chunk touches it; a node freed on another thread goes onto its arena's
/// list of nodes freed elsewhere (behind a lock), which the owning thread empties into its
/// chunks when it next starts a chunk, back-propagates or counts its nodes; `backward()` on
/// another thread's nodes sorts the graph instead of walking their arena. When a thread exits,
/// its arena gives back every empty chunk and its working lists; chunks still holding nodes alive
/// elsewhere are freed with their last node. `./gradlab test --tsan` runs the threading cases of
/// tests/autograd/value_engine_cases.inc under ThreadSanitizer.

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace gradlab::fast {

/// Where an op's plain-number operand sits, for ops such as `a + 2` or `1 / a` (used to print
/// the op's name, e.g. "+ 2" or "1 /").
enum class ConstantSide : std::uint8_t {
  none,   ///< The op has no plain-number operand.
  left,   ///< The number is on the left: `s − a`, `s / a`.
  right,  ///< The number is on the right: `a + s`, `a ^ p`.
};

/// The op that made a node (what it prints as, and how many inputs it has).
enum class ValueOp : std::uint8_t {
  leaf,     ///< Made by the user, not computed.
  add,      ///< a + b, a + s
  sub,      ///< a − b, a − s, s − a
  mul,      ///< a · b, a · s
  div,      ///< a / b, a / s, s / a
  neg,      ///< −a
  pow,      ///< a ^ p
  exp,      ///< eᵃ
  log,      ///< ln a
  tanh,     ///< tanh a
  sigmoid,  ///< σ(a)
  relu,     ///< max(0, a)
  max,      ///< max(a, b)
};

/// The shared state behind a `Value` handle. Not part of the learner-facing API: use `Value`.
///
/// A node counts its owners itself (the handles naming it and the nodes computed from it), with
/// a plain integer: graphs of scalars have one node per multiply and per add, so what a node
/// costs to make, copy and free sets the engine's speed, and `std::shared_ptr`'s atomic counts
/// and separate control block cost about twice as much (measured on the two-moons benchmark).
/// For the same reason a node fills exactly one 64-byte cache line: building, back-propagating
/// and freeing a graph of 65,000 nodes is bound by memory traffic, and a node of two lines cost
/// a quarter more time. Hence the packing: the op and its flags share a word with the owner
/// count, an op with a plain-number operand keeps that number in the unused second local
/// gradient, and the rare label lives in a table beside the nodes.
struct alignas(64) ValueNode final {
  /// The most owners a node can have (the count has 24 bits).
  static constexpr std::uint32_t kMaxOwners = (1U << 24) - 1;

  std::array<ValueNode*, 2> children{};  ///< Inputs of the op; null when unused. Owned.
  /// ∂data/∂children[i].data, fixed at forward time. An op with a plain-number operand
  /// (`a + 2`, `a ^ 3`) has one input, and keeps the number in `local_gradients[1]`.
  std::array<double, 2> local_gradients{};
  double data = 0.0;              ///< The number this node holds.
  double upstream = 0.0;          ///< d root / d this node in the most recent backward pass alone.
  double grad = 0.0;              ///< Sum of d root / d this node over all backward passes so far.
  std::uint32_t visit_mark = 0;   ///< Tells the nodes reached by the current graph walk.
  std::uint32_t owners : 24 = 0;  ///< Handles and parent nodes that keep this alive.
  std::uint32_t op : 4 = 0;       ///< The `ValueOp` that made this node.
  std::uint32_t constant_side : 2 = 0;  ///< The `ConstantSide` of its plain-number operand.
  /// 1 when this node or one of its inputs, at any depth, was made on another thread (in
  /// another thread's arena): `backward()` then sorts the graph instead of walking the arena.
  std::uint32_t spans_arenas : 1 = 0;
  std::uint32_t has_label : 1 = 0;  ///< 1 when a label was set (kept in a table beside the nodes).

  /// How many inputs the op had: 0 for leaves, 1 or 2.
  int child_count() const { return children[1] != nullptr ? 2 : children[0] != nullptr ? 1 : 0; }

  /// A leaf holding 0.
  ValueNode() = default;
  /// A node made by `op`, holding `data`, without inputs yet, and already counting the one
  /// handle that `Value::adopt` makes from it. (All the small fields are set in one go: writing
  /// them one by one and then reading their shared word back stalls the processor, which showed
  /// up as a tenth of the time spent building graphs.)
  ValueNode(ValueOp op, double data)
      : data(data),
        owners(1),
        op(static_cast<std::uint32_t>(op)),
        constant_side(0),
        spans_arenas(0),
        has_label(0) {}
  ValueNode(const ValueNode&) = delete;
  ValueNode& operator=(const ValueNode&) = delete;
  /// Drops the node's label, if it has one.
  ~ValueNode();

  /// Nodes come from a per-thread arena, cut in order from 64 KiB chunks: a training step makes
  /// and frees tens of thousands of them, and their layout in creation order is what lets
  /// `Value::backward` walk instead of sort.
  static void* operator new(std::size_t size);
  /// Returns the slot to its chunk (in the arena of the thread that made it).
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
  /// The handle of a node just made with `new ValueNode(op, data)`, whose owner count already
  /// includes this handle (used by the engine when it makes nodes).
  static Value adopt(ValueNode* node);
  /// Another handle to the same node. Raises gradlab::Error when the node already has
  /// `ValueNode::kMaxOwners` owners.
  Value(const Value& other);
  /// Takes over `other`'s node; `other` must not be used afterwards except to assign to it.
  Value(Value&& other) noexcept;
  /// Makes this handle name `other`'s node (raises gradlab::Error like the copy constructor).
  Value& operator=(const Value& other);
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
  bool is_leaf() const { return node_->children[0] == nullptr; }
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
  struct Adopting {};
  Value(ValueNode* node, Adopting) noexcept : node_(node) {}

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

/// How many scalar nodes made on this thread are alive (wherever they are freed: nodes freed on
/// other threads are counted out here, when this thread takes them back). A graph is freed
/// as soon as its last handle goes, so this returns to its earlier count after a training step (a
/// test of that is a test that no reference cycle keeps a graph alive).
std::int64_t value_nodes_alive();

/// Prints `Value(data=…, grad=…)`, with the label first when there is one.
std::ostream& operator<<(std::ostream& out, const Value& value);

}  // namespace gradlab::fast
