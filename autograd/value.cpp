// Scalar nodes: each op computes its output and, right beside it, its local gradients; one
// iterative engine applies the chain rule (see autograd/value.hpp for the design).

#include "autograd/value.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <sstream>
#include <utility>
#include <vector>

#include "backends/dtype.hpp"

namespace gradlab {

namespace {

// --- where nodes live ------------------------------------------------------------------------

// A free list of ValueNode-sized blocks carved from chunks of 4096. Each thread has its own list
// (no locking); a block freed on another thread simply joins that thread's list. Chunks are never
// released, so a block stays valid memory whichever thread ends up holding it.
class NodePool {
 public:
  void* allocate() {
    if (free_ == nullptr) {
      refill();
    }
    FreeBlock* block = free_;
    free_ = block->next;
    return block;
  }

  void deallocate(void* memory) noexcept {
    auto* block = static_cast<FreeBlock*>(memory);
    block->next = free_;
    free_ = block;
  }

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  union Block {
    FreeBlock free;
    alignas(ValueNode) std::byte node[sizeof(ValueNode)];
  };
  static constexpr std::size_t blocks_per_chunk = 4096;

  void refill() {
    // Intentionally never freed (see above); the blocks are threaded onto the list in address
    // order, so nodes made one after another sit next to each other in memory.
    auto* chunk = new Block[blocks_per_chunk];
    for (std::size_t i = blocks_per_chunk; i-- > 0;) {
      chunk[i].free.next = free_;
      free_ = &chunk[i].free;
    }
  }

  FreeBlock* free_ = nullptr;
};

// A frame of the topological sort's explicit stack: a node and the index of its next child.
struct Frame {
  ValueNode* node;
  std::uint32_t next_child;
};

// Everything the engine keeps per thread: the node pool, the sort's visit mark, and working
// lists reused from call to call (kept at their largest size, so that ordering or freeing a graph
// of 70,000 nodes does not regrow and copy a vector sixteen times; each list is used by one
// function at a time). Made on first use and never destroyed, like the pool's memory, so that
// values destroyed while the program exits still find it.
struct EngineState {
  NodePool pool;
  std::int64_t nodes_alive = 0;  // made minus freed on this thread
  std::uint32_t last_visit_mark = 0;
  std::vector<Frame> sort_stack;
  std::vector<ValueNode*> backward_order;
  std::vector<ValueNode*> nodes_to_free;
};

// The initial-exec TLS model makes each access a plain load instead of a call into the dynamic
// linker (gradlab_autograd is a shared library), which matters when every node made or freed
// touches the pool.
[[gnu::tls_model("initial-exec")]] thread_local EngineState* engine_of_this_thread = nullptr;

EngineState& engine() {
  if (engine_of_this_thread == nullptr) {
    engine_of_this_thread = new EngineState;
  }
  return *engine_of_this_thread;
}

// --- making op nodes --------------------------------------------------------------------------

// A node for an op's output, without inputs yet (`add_child` attaches them) and without owners
// yet (the handle made from it becomes the first).
ValueNode* new_op_node(const char* op, double out) {
  auto* node = new ValueNode;
  node->data = out;
  node->op = op;
  return node;
}

// Makes `child` the next input of `parent`; `parent` becomes one of the child's owners.
void add_child(ValueNode& parent, const Value& child, double local_gradient) {
  ValueNode* input = child.node();
  ++input->owners;
  parent.children[parent.child_count] = input;
  parent.local_gradients[parent.child_count] = local_gradient;
  ++parent.child_count;
}

// An op with one Value input: out = f(x), with ∂out/∂x = local.
Value unary(const char* op, double out, const Value& x, double local) {
  ValueNode* node = new_op_node(op, out);
  add_child(*node, x, local);
  return Value(node);
}

// An op with two Value inputs: out = f(a, b), with ∂out/∂a = local_a and ∂out/∂b = local_b.
Value binary(const char* op, double out, const Value& a, double local_a, const Value& b,
             double local_b) {
  ValueNode* node = new_op_node(op, out);
  add_child(*node, a, local_a);
  add_child(*node, b, local_b);
  return Value(node);
}

// An op between a Value and a plain number s (which gets no gradient): `side` says where s was
// written, so that the op prints as "+ 2" or "1 /".
Value with_constant(const char* op, ConstantSide side, double s, double out, const Value& x,
                    double local) {
  Value result = unary(op, out, x, local);
  result.node()->constant = s;
  result.node()->constant_side = side;
  return result;
}

std::string format_number(double number) {
  std::ostringstream text;
  text << number;
  return text.str();
}

// --- ordering a graph -------------------------------------------------------------------------

// Each sort takes a fresh mark, so nodes need no clearing between sorts. (After 2³² sorts the
// marks repeat; a node would have to sit untouched through exactly that many sorts to be
// mistaken for visited.)
std::uint32_t next_visit_mark() {
  std::uint32_t& mark = engine().last_visit_mark;
  if (++mark == 0) ++mark;  // 0 is the mark of nodes never visited
  return mark;
}

// Graph walks are bound by memory latency: each step needs a node scattered somewhere in
// megabytes of nodes. Asking the cache for the nodes that will be needed soon lets several of
// those waits overlap. (Prefetches are hints: they never fault, even on a null pointer.)
void prefetch_children(const ValueNode& node) {
  __builtin_prefetch(node.children[0]);
  __builtin_prefetch(node.children[1]);
}

// While processing order[k] on the way down: order[k − 16] and the children of order[k − 8].
void prefetch_ahead(const std::vector<ValueNode*>& order, std::size_t k) {
  constexpr std::size_t distance = 8;
  if (k >= 2 * distance) __builtin_prefetch(order[k - 2 * distance]);
  if (k >= distance) prefetch_children(*order[k - distance]);
}

// Calls `emit(node)` for every node reachable from `root`, children before parents. An explicit
// stack of (node, index of the next child to visit) replaces the recursion of micrograd's
// build_topo: a node is emitted once all of its children have been.
template <class Emit>
void visit_in_topological_order(ValueNode* root, Emit emit) {
  const std::uint32_t mark = next_visit_mark();
  std::vector<Frame>& stack = engine().sort_stack;
  stack.clear();
  root->visit_mark = mark;
  stack.push_back({root, 0});
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.next_child < top.node->child_count) {
      ValueNode* child = top.node->children[top.next_child++];
      if (child->visit_mark != mark) {
        child->visit_mark = mark;
        prefetch_children(*child);
        stack.push_back({child, 0});  // invalidates `top`; it is not used again this turn
      }
    } else {
      emit(top.node);
      stack.pop_back();
    }
  }
}

// The nodes reachable from `root`, children before parents (what the engine walks).
std::vector<ValueNode*> topological_nodes(ValueNode* root) {
  std::vector<ValueNode*> order;
  visit_in_topological_order(root, [&](ValueNode* node) { order.push_back(node); });
  return order;
}

// Drops one owner of `node`; frees it when that was the last one, and then every child that
// only it kept alive, and so on down the graph. The default (recursive) way would use one stack
// frame per node of a chain and overflow on long ones, so the nodes to free wait in a list.
void release(ValueNode* node) {
  if (node == nullptr || --node->owners > 0) {
    return;
  }
  std::vector<ValueNode*>& to_free = engine().nodes_to_free;
  to_free.clear();
  for (ValueNode* current = node; current != nullptr;) {
    for (std::uint8_t i = 0; i < current->child_count; ++i) {
      ValueNode* child = current->children[i];
      if (--child->owners == 0) {
        prefetch_children(*child);
        to_free.push_back(child);
      }
    }
    delete current;
    current = nullptr;
    if (!to_free.empty()) {
      current = to_free.back();
      to_free.pop_back();
    }
  }
}

}  // namespace

// --- the node and the handle ------------------------------------------------------------------

void* ValueNode::operator new([[maybe_unused]] std::size_t size) {
  // ValueNode is final, so every request is for one pool block.
  EngineState& state = engine();
  ++state.nodes_alive;
  return state.pool.allocate();
}

void ValueNode::operator delete(void* block) noexcept {
  EngineState& state = engine();
  --state.nodes_alive;
  state.pool.deallocate(block);
}

std::int64_t value_nodes_alive() {
  return engine().nodes_alive;
}

Value::Value() : Value(0.0) {}

Value::Value(double data, std::string label) : Value(new ValueNode) {
  node_->data = data;
  if (!label.empty()) {
    node_->label = std::make_unique<std::string>(std::move(label));
  }
}

Value::Value(ValueNode* node) : node_(node) {
  if (node_ == nullptr) {
    throw Error("Value: cannot wrap a null node");
  }
  ++node_->owners;
}

Value::Value(const Value& other) noexcept : node_(other.node_) {
  ++node_->owners;
}

Value::Value(Value&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}

Value& Value::operator=(const Value& other) noexcept {
  ++other.node_->owners;  // first, so that `a = a` cannot free the node
  release(node_);
  node_ = other.node_;
  return *this;
}

Value& Value::operator=(Value&& other) noexcept {
  if (this != &other) {
    release(node_);
    node_ = std::exchange(other.node_, nullptr);
  }
  return *this;
}

Value::~Value() {
  release(node_);
}

std::string Value::op_name() const {
  if (node_->op == nullptr) {
    return "leaf";
  }
  switch (node_->constant_side) {
    case ConstantSide::left:
      return format_number(node_->constant) + " " + node_->op;
    case ConstantSide::right:
      return std::string(node_->op) + " " + format_number(node_->constant);
    case ConstantSide::none:
      break;
  }
  return node_->op;
}

std::vector<Value> Value::children() const {
  std::vector<Value> result;
  for (std::uint8_t i = 0; i < node_->child_count; ++i) {
    result.emplace_back(node_->children[i]);
  }
  return result;
}

std::vector<double> Value::local_gradients() const {
  return {node_->local_gradients.begin(), node_->local_gradients.begin() + node_->child_count};
}

const std::string& Value::label() const {
  static const std::string no_label;
  return node_->label ? *node_->label : no_label;
}

const Value& Value::set_label(std::string label) const {
  node_->label = std::make_unique<std::string>(std::move(label));
  return *this;
}

void Value::backward() const {
  // Order the graph, and start this pass's upstream gradients from nothing on the way (a graph
  // of scalars is mostly memory traffic: one walk fewer is time saved) ...
  std::vector<ValueNode*>& order = engine().backward_order;
  order.clear();
  visit_in_topological_order(node_, [&](ValueNode* node) {
    node->upstream = 0.0;
    order.push_back(node);
  });
  node_->upstream = 1.0;  // ... except d root / d root = 1
  // Reverse topological order: when a node is reached, every value computed from it has already
  // handed it its contribution, so its upstream gradient is complete.
  for (std::size_t k = order.size(); k-- > 0;) {
    prefetch_ahead(order, k);
    ValueNode& out = *order[k];
    for (std::uint8_t i = 0; i < out.child_count; ++i) {
      out.children[i]->upstream += out.local_gradients[i] * out.upstream;  // the chain rule
    }
    out.grad += out.upstream;
  }
}

void Value::zero_grad() const {
  for (ValueNode* node : topological_nodes(node_)) {
    node->grad = 0.0;
    node->upstream = 0.0;
  }
}

// --- arithmetic: forward value, then the local gradient with respect to each input -----------

Value operator+(const Value& a, const Value& b) {
  return binary("+", a.data() + b.data(), a, 1.0, b, 1.0);
}

Value operator-(const Value& a, const Value& b) {
  return binary("-", a.data() - b.data(), a, 1.0, b, -1.0);
}

Value operator*(const Value& a, const Value& b) {
  return binary("*", a.data() * b.data(), a, b.data(), b, a.data());
}

Value operator/(const Value& a, const Value& b) {
  if (b.data() == 0.0) {
    throw Error("Value /: division by zero (" + format_number(a.data()) + " / 0)");
  }
  const double inverse = 1.0 / b.data();
  // d(a/b)/da = 1/b,  d(a/b)/db = −a/b²
  return binary("/", a.data() * inverse, a, inverse, b, -a.data() * inverse * inverse);
}

Value operator-(const Value& a) {
  return unary("neg", -a.data(), a, -1.0);
}

Value operator+(const Value& a, double s) {
  return with_constant("+", ConstantSide::right, s, a.data() + s, a, 1.0);
}

Value operator+(double s, const Value& a) {
  return with_constant("+", ConstantSide::left, s, s + a.data(), a, 1.0);
}

Value operator-(const Value& a, double s) {
  return with_constant("-", ConstantSide::right, s, a.data() - s, a, 1.0);
}

Value operator-(double s, const Value& a) {
  return with_constant("-", ConstantSide::left, s, s - a.data(), a, -1.0);
}

Value operator*(const Value& a, double s) {
  return with_constant("*", ConstantSide::right, s, a.data() * s, a, s);
}

Value operator*(double s, const Value& a) {
  return with_constant("*", ConstantSide::left, s, s * a.data(), a, s);
}

Value operator/(const Value& a, double s) {
  if (s == 0.0) {
    throw Error("Value /: division by zero (" + format_number(a.data()) + " / 0)");
  }
  return with_constant("/", ConstantSide::right, s, a.data() / s, a, 1.0 / s);
}

Value operator/(double s, const Value& a) {
  if (a.data() == 0.0) {
    throw Error("Value /: division by zero (" + format_number(s) + " / 0)");
  }
  const double x = a.data();
  return with_constant("/", ConstantSide::left, s, s / x, a, -s / (x * x));  // d(s/x)/dx = −s/x²
}

// --- functions -----------------------------------------------------------------------------

Value pow(const Value& x, double p) {
  const double base = x.data();
  if (base < 0.0 && p != std::trunc(p)) {
    throw Error("Value pow: " + format_number(base) + " ^ " + format_number(p) +
                " is not a real number (negative base, fractional exponent)");
  }
  if (base == 0.0 && p < 1.0 && p != 0.0) {
    throw Error("Value pow: the derivative of x ^ " + format_number(p) + " is infinite at x = 0");
  }
  const double local = p == 0.0 ? 0.0 : p * std::pow(base, p - 1.0);  // d xᵖ/dx = p·xᵖ⁻¹
  return with_constant("^", ConstantSide::right, p, std::pow(base, p), x, local);
}

Value exp(const Value& x) {
  const double e = std::exp(x.data());
  return unary("exp", e, x, e);  // d eˣ/dx = eˣ
}

Value log(const Value& x) {
  if (x.data() <= 0.0) {
    throw Error("Value log: input " + format_number(x.data()) + " is not positive");
  }
  return unary("log", std::log(x.data()), x, 1.0 / x.data());  // d ln x/dx = 1/x
}

Value tanh(const Value& x) {
  const double t = std::tanh(x.data());
  return unary("tanh", t, x, 1.0 - t * t);  // d tanh x/dx = 1 − tanh²x
}

Value sigmoid(const Value& x) {
  // σ(x) = 1/(1 + e⁻ˣ), written so that no exp overflows for large |x|.
  const double v = x.data();
  const double s = v >= 0.0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
  return unary("sigmoid", s, x, s * (1.0 - s));  // dσ/dx = σ(1 − σ)
}

Value relu(const Value& x) {
  const bool positive = x.data() > 0.0;
  return unary("relu", positive ? x.data() : 0.0, x, positive ? 1.0 : 0.0);
}

Value max(const Value& a, const Value& b) {
  const bool a_wins = a.data() >= b.data();  // the winner takes the whole gradient
  return binary("max", a_wins ? a.data() : b.data(), a, a_wins ? 1.0 : 0.0, b, a_wins ? 0.0 : 1.0);
}

// --- inspecting a graph --------------------------------------------------------------------

std::vector<Value> topological_order(const Value& root) {
  std::vector<Value> result;
  visit_in_topological_order(root.node(), [&](ValueNode* node) { result.emplace_back(node); });
  return result;
}

std::ostream& operator<<(std::ostream& out, const Value& value) {
  out << "Value(";
  if (!value.label().empty()) {
    out << value.label() << ", ";
  }
  return out << "data=" << value.data() << ", grad=" << value.grad() << ")";
}

}  // namespace gradlab
