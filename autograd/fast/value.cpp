// The fast scalar engine: each op computes its output and, right beside it, its local gradients;
// one iterative engine applies the chain rule (see autograd/fast/value.hpp for the design, and
// autograd/value.cpp for the same engine written to be read).

#include "autograd/fast/value.hpp"

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <ostream>
#include <sstream>
#include <utility>
#include <vector>

#include "backends/types.hpp"

namespace gradlab::fast {

namespace {

// --- where nodes live ------------------------------------------------------------------------

// Nodes are cut, one after another, from 64 KiB chunks (a bump pointer), and a chunk is reused
// only once every node in it has been freed. So the nodes of a graph sit in memory in the order
// they were made, children before parents, and building, back-propagating and freeing a graph
// read memory almost sequentially, which the hardware prefetches. (A free list of single blocks
// hands back blocks in the scrambled order of the last teardown, so every node made costs a cache
// miss that the next allocation has to wait for: that was a quarter of a training step.)
//
// The arena also keeps its chunks in the order it started them, and each chunk marks which of
// its slots hold a live node. Walking the slots from newest to oldest therefore visits the live
// nodes in reverse order of creation, which is a reverse topological order of every graph they
// form (an op's node is always made after its inputs): `Value::backward` uses that walk instead
// of sorting the graph.
//
// Each thread has its own arena, and only that thread touches its chunks (no locking on the
// paths that make and free nodes). A node freed on another thread is not put back into its chunk
// there: it goes onto the arena's list of nodes freed elsewhere (behind a lock; such frees are
// rare), which the owning thread empties into its chunks when it next starts a chunk, walks the
// arena or counts its nodes. Empty chunks are kept for reuse, up to `kSpareChunksKept` of them;
// the rest go back to the system. When the thread exits, its arena gives back every empty chunk
// and becomes an orphan: its chunks still holding nodes alive elsewhere are then freed under the
// lock, by whichever thread frees their last node, and the last one deletes the arena.
class NodeArena;

// This thread's arena (null before first use, and again once the thread has exited). The
// initial-exec TLS model makes each access a plain load instead of a call into the dynamic linker
// (gradlab_autograd is a shared library), which matters when every node made or freed touches it.
[[gnu::tls_model("initial-exec")]] thread_local NodeArena* arena_of_this_thread = nullptr;

class NodeArena {
 public:
  void* allocate() {
    if (newest_ == nullptr || newest_->used == kSlotsPerChunk) {
      drain_freed_elsewhere();  // may empty the newest chunk, which then starts over
      if (newest_ == nullptr || newest_->used == kSlotsPerChunk) start_chunk();
    }
    Chunk& chunk = *newest_;
    // The slot handed out a few allocations from now: ask for its cache line already, for
    // writing, so that making a node does not wait for memory (a hint: it never faults).
    __builtin_prefetch(static_cast<std::byte*>(chunk.slot(chunk.used)) + 2 * kPrefetchDistance, 1);
    chunk.set_live(chunk.used);
    ++chunk.live;
    ++nodes_alive_;
    return chunk.slot(chunk.used++);
  }

  static void deallocate(void* memory) noexcept {
    Chunk* chunk = Chunk::of(memory);
    if (chunk->arena == arena_of_this_thread) [[likely]] {
      chunk->arena->free_here(chunk, memory);
    } else {
      chunk->arena->free_elsewhere(chunk, memory);
    }
  }

  /// Nodes made by this arena and not freed yet (wherever they are freed).
  std::int64_t nodes_alive() {
    drain_freed_elsewhere();
    return nodes_alive_;
  }

  /// True when `node` was made by this thread's arena (only then may this thread walk it).
  static bool made_here(const ValueNode* node) {
    return Chunk::of(node)->arena == arena_of_this_thread;
  }

  /// Frees, on the owning thread, the nodes that other threads freed since the last call.
  void drain_freed_elsewhere() noexcept {
    if (!has_freed_elsewhere_.load(std::memory_order_relaxed)) [[likely]] {
      return;
    }
    FreedNode* list = nullptr;
    {
      std::lock_guard lock(mutex_);
      list = std::exchange(freed_elsewhere_, nullptr);
      has_freed_elsewhere_.store(false, std::memory_order_relaxed);
    }
    free_list_here(list);
  }

  /// Called once, by the owning thread as it exits: gives back every empty chunk and the nodes
  /// freed elsewhere; the arena deletes itself now, or once the last node still alive is freed.
  void abandon() noexcept {
    std::unique_lock lock(mutex_);
    orphaned_ = true;
    free_list_here(std::exchange(freed_elsewhere_, nullptr));
    while (spare_ != nullptr) {
      std::free(std::exchange(spare_, spare_->newer));
    }
    spare_count_ = 0;
    if (newest_ != nullptr && newest_->live == 0) retire(newest_);
    if (nodes_alive_ == 0) {
      lock.unlock();
      delete this;
    }
  }

  /// True when `a` and `b` were made by the same thread's arena.
  static bool same_arena(const ValueNode* a, const ValueNode* b) {
    return Chunk::of(a)->arena == Chunk::of(b)->arena;
  }

  /// Calls `visit(node)` for every live node of the arena that `from` belongs to, starting with
  /// `from` itself and going back in order of creation, until `visit` returns false.
  template <class Visit>
  static void walk_back_from(ValueNode* from, Visit visit) {
    Chunk* chunk = Chunk::of(from);
    std::uint32_t end = chunk->index_of(from) + 1;  // slots [0, end) of this chunk
    while (chunk != nullptr) {
      for (std::uint32_t index = end; index-- > 0;) {
        // Ask for the node a few steps further down the walk now, so its cache miss overlaps
        // with this one's work (a hint: it never faults).
        __builtin_prefetch(static_cast<std::byte*>(chunk->slot(index)) - kPrefetchDistance);
        if (chunk->is_live(index) && !visit(static_cast<ValueNode*>(chunk->slot(index)))) {
          return;
        }
      }
      chunk = chunk->older;
      if (chunk != nullptr) end = chunk->used;
    }
  }

 private:
  static constexpr std::size_t kChunkBytes = 64 * 1024;
  static constexpr std::size_t kSlotBytes = sizeof(ValueNode);
  static constexpr std::uint32_t kHeaderSlots = 3;
  static constexpr std::uint32_t kSlotsPerChunk = kChunkBytes / kSlotBytes - kHeaderSlots;
  static constexpr std::size_t kSpareChunksKept = 256;  // 16 MiB
  static constexpr std::size_t kPrefetchDistance = 8 * kSlotBytes;

  // A node freed on another thread, waiting in its arena's list (it reuses the node's memory).
  struct FreedNode {
    FreedNode* next;
  };

  // A chunk's header sits in its first slots; the chunk is aligned to its size, so the header of
  // any node's chunk is found by clearing the low bits of the node's address.
  struct Chunk {
    NodeArena* arena;
    Chunk* older;  // the chunk started before this one (live chunks only); null for the oldest
    Chunk* newer;  // the chunk started after this one; null for the newest
    std::uint32_t live;  // nodes handed out and not yet freed
    std::uint32_t used;  // slots handed out since the chunk was (re)started
    std::array<std::uint64_t, (kSlotsPerChunk + 63) / 64> live_slots;  // one bit per slot

    void* slot(std::uint32_t index) {
      return reinterpret_cast<std::byte*>(this) + (index + kHeaderSlots) * kSlotBytes;
    }
    std::uint32_t index_of(const void* node) const {
      const auto offset = static_cast<std::size_t>(static_cast<const std::byte*>(node) -
                                                   reinterpret_cast<const std::byte*>(this));
      return static_cast<std::uint32_t>(offset / kSlotBytes - kHeaderSlots);
    }
    bool is_live(std::uint32_t index) const {
      return (live_slots[index / 64] >> (index % 64)) & 1U;
    }
    void set_live(std::uint32_t index) {
      live_slots[index / 64] |= std::uint64_t{1} << (index % 64);
    }
    void set_dead(std::uint32_t index) {
      live_slots[index / 64] &= ~(std::uint64_t{1} << (index % 64));
    }

    static Chunk* of(const void* node) {
      return reinterpret_cast<Chunk*>(reinterpret_cast<std::uintptr_t>(node) &
                                      ~std::uintptr_t{kChunkBytes - 1});
    }
  };
  static_assert(sizeof(Chunk) <= kHeaderSlots * kSlotBytes && kChunkBytes % kSlotBytes == 0);

  // Makes a spare (or new) chunk the newest one.
  void start_chunk() {
    Chunk* chunk = spare_;
    if (chunk != nullptr) {
      spare_ = chunk->newer;
      --spare_count_;
    } else {
      void* memory = std::aligned_alloc(kChunkBytes, kChunkBytes);
      if (memory == nullptr) throw std::bad_alloc();
      chunk = static_cast<Chunk*>(memory);
      chunk->arena = this;
    }
    chunk->live = 0;
    chunk->used = 0;
    chunk->live_slots.fill(0);
    chunk->older = newest_;
    chunk->newer = nullptr;
    if (newest_ != nullptr) newest_->newer = chunk;
    newest_ = chunk;
  }

  // Returns a node to its chunk: on the owning thread, or under the lock once it has exited.
  void free_here(Chunk* chunk, void* memory) noexcept {
    chunk->set_dead(chunk->index_of(memory));
    --nodes_alive_;
    if (--chunk->live > 0) {
      return;
    }
    if (chunk == newest_ && !orphaned_) {
      chunk->used = 0;  // empty and still the one being filled: start it over
    } else {
      retire(chunk);
    }
  }

  void free_list_here(FreedNode* list) noexcept {
    while (list != nullptr) {
      FreedNode* next = list->next;  // read first: freeing may give the chunk back
      free_here(Chunk::of(list), list);
      list = next;
    }
  }

  // A node of this arena freed by another thread: queued for the owner, or, when the owner has
  // exited, returned to its chunk right here (deleting the arena with its last node).
  void free_elsewhere(Chunk* chunk, void* memory) noexcept {
    std::unique_lock lock(mutex_);
    if (orphaned_) {
      free_here(chunk, memory);
      if (nodes_alive_ == 0) {
        lock.unlock();
        delete this;  // no other thread can be waiting: each waiter would own a live node
      }
      return;
    }
    auto* freed = static_cast<FreedNode*>(memory);
    freed->next = freed_elsewhere_;
    freed_elsewhere_ = freed;
    has_freed_elsewhere_.store(true, std::memory_order_relaxed);
  }

  // Takes an empty chunk out of the list; keeps it as a spare or frees it.
  void retire(Chunk* chunk) noexcept {
    if (chunk->older != nullptr) chunk->older->newer = chunk->newer;
    if (chunk->newer != nullptr) {
      chunk->newer->older = chunk->older;
    } else {
      newest_ = chunk->older;  // only an orphan's newest chunk is retired
    }
    if (orphaned_ || spare_count_ >= kSpareChunksKept) {
      std::free(chunk);
      return;
    }
    chunk->newer = spare_;  // the spares form a list through `newer`
    spare_ = chunk;
    ++spare_count_;
  }

  Chunk* newest_ = nullptr;
  Chunk* spare_ = nullptr;
  std::int64_t nodes_alive_ = 0;
  std::size_t spare_count_ = 0;
  bool orphaned_ = false;  // the owning thread has exited (then read and written under the lock)
  std::mutex mutex_;       // guards `freed_elsewhere_`, and everything once orphaned
  FreedNode* freed_elsewhere_ = nullptr;
  std::atomic<bool> has_freed_elsewhere_{false};  // a hint for the owner: the list is not empty
};

// Visit marks are read by an arena walk on the owning thread while another thread may sort a
// graph of the same arena handed to it: relaxed atomic accesses (plain moves on x86).
std::uint32_t mark_of(const ValueNode& node) {
  return std::atomic_ref(const_cast<ValueNode&>(node).visit_mark).load(std::memory_order_relaxed);
}
void set_mark(ValueNode& node, std::uint32_t mark) {
  std::atomic_ref(node.visit_mark).store(mark, std::memory_order_relaxed);
}

// A frame of the topological sort's explicit stack: a node and the index of its next child.
struct Frame {
  ValueNode* node;
  std::uint32_t next_child;
};

// Everything the engine keeps per thread besides the arena: working lists reused from call to
// call (kept at their largest size, so that ordering or freeing a graph of 70,000 nodes does not
// regrow and copy a vector sixteen times; each list is used by one function at a time). Made on
// first use and deleted when the thread exits, when its arena is abandoned too.
struct EngineState {
  std::vector<Frame> sort_stack;
  std::vector<ValueNode*> backward_order;
  std::vector<ValueNode*> nodes_to_free;
};

[[gnu::tls_model("initial-exec")]] thread_local EngineState* engine_of_this_thread = nullptr;

// Runs when the thread exits (a thread_local's destructor): frees the working lists and
// abandons the arena. A value used on this thread after that (by a later thread_local's
// destructor) gets a fresh engine that is never freed.
struct ThreadExit {
  ThreadExit() = default;
  ThreadExit(const ThreadExit&) = delete;
  ThreadExit& operator=(const ThreadExit&) = delete;
  ~ThreadExit() {
    delete std::exchange(engine_of_this_thread, nullptr);
    std::exchange(arena_of_this_thread, nullptr)->abandon();
  }
};

[[gnu::noinline]] EngineState& first_use_of_engine() {
  thread_local ThreadExit at_exit;  // registered once, on this thread's first use
  engine_of_this_thread = new EngineState;
  arena_of_this_thread = new NodeArena;
  return *engine_of_this_thread;
}

// Every node made goes through here, so the common case is kept to a load and a test.
inline EngineState& engine() {
  if (engine_of_this_thread == nullptr) [[unlikely]] {
    return first_use_of_engine();
  }
  return *engine_of_this_thread;
}

// --- making op nodes --------------------------------------------------------------------------

// Adds an owner (a handle or a parent node) to `node`, refusing to overflow the count.
void add_owner(ValueNode& node) {
  if (node.owners == ValueNode::kMaxOwners) {
    throw Error("Value: a value can be used by at most " + std::to_string(ValueNode::kMaxOwners) +
                " handles and nodes at once");
  }
  ++node.owners;
}

// Makes `child` the next input of `parent`; `parent` becomes one of the child's owners.
void add_child(ValueNode& parent, const Value& child, double local_gradient) {
  ValueNode* input = child.node();
  add_owner(*input);
  if (input->spans_arenas || !NodeArena::same_arena(&parent, input)) parent.spans_arenas = 1;
  const int slot = parent.children[0] == nullptr ? 0 : 1;
  parent.children[slot] = input;
  parent.local_gradients[slot] = local_gradient;
}

// A handle to a new node for the output of `op`, holding `out`, without inputs yet.
Value new_op(ValueOp op, double out) { return Value::adopt(new ValueNode(op, out)); }

// An op with one Value input: out = f(x), with ∂out/∂x = local.
Value unary(ValueOp op, double out, const Value& x, double local) {
  Value result = new_op(op, out);
  add_child(*result.node(), x, local);
  return result;
}

// An op with two Value inputs: out = f(a, b), with ∂out/∂a = local_a and ∂out/∂b = local_b.
Value binary(ValueOp op, double out, const Value& a, double local_a, const Value& b,
             double local_b) {
  Value result = new_op(op, out);
  add_child(*result.node(), a, local_a);
  add_child(*result.node(), b, local_b);
  return result;
}

// An op between a Value and a plain number s (which gets no gradient): `side` says where s was
// written, so that the op prints as "+ 2" or "1 /". The op has one input, so s is kept in the
// second local-gradient slot.
Value with_constant(ValueOp op, ConstantSide side, double s, double out, const Value& x,
                    double local) {
  Value result = unary(op, out, x, local);
  result.node()->local_gradients[1] = s;
  result.node()->constant_side = static_cast<std::uint32_t>(side);
  return result;
}

// How each op prints.
const char* op_symbol(ValueOp op) {
  switch (op) {
    case ValueOp::leaf: return "leaf";
    case ValueOp::add: return "+";
    case ValueOp::sub: return "-";
    case ValueOp::mul: return "*";
    case ValueOp::div: return "/";
    case ValueOp::neg: return "neg";
    case ValueOp::pow: return "^";
    case ValueOp::exp: return "exp";
    case ValueOp::log: return "log";
    case ValueOp::tanh: return "tanh";
    case ValueOp::sigmoid: return "sigmoid";
    case ValueOp::relu: return "relu";
    case ValueOp::max: return "max";
  }
  return "?";
}

// Labels are rare, so they live in one table beside the nodes instead of in every node (a node
// then fits one cache line). The table serves all threads, behind a lock: labelling is never on
// a hot path. Made on first use and never destroyed, so that values freed while the program
// exits still find it.
class LabelTable {
 public:
  static LabelTable& instance() {
    static auto* table = new LabelTable;
    return *table;
  }
  void set(const ValueNode* node, std::string label) {
    std::lock_guard lock(mutex_);
    labels_[node] = std::move(label);
  }
  const std::string& get(const ValueNode* node) {
    std::lock_guard lock(mutex_);
    return labels_.at(node);  // the string stays put until its node is freed or relabelled
  }
  void drop(const ValueNode* node) {
    std::lock_guard lock(mutex_);
    labels_.erase(node);
  }

 private:
  std::mutex mutex_;
  std::unordered_map<const ValueNode*, std::string> labels_;
};

std::string format_number(double number) {
  std::ostringstream text;
  text << number;
  return text.str();
}

// --- ordering a graph -------------------------------------------------------------------------

// Each sort takes a fresh mark, so nodes need no clearing between sorts. (After 2³² sorts the
// marks repeat; a node would have to sit untouched through exactly that many sorts to be
// mistaken for visited.)
//
// The count is shared by all threads, so that a sort on one thread never takes a mark that
// another thread's sort left on the nodes of a graph handed over between them.
std::uint32_t next_visit_mark() {
  static std::atomic<std::uint32_t> last_mark{0};
  std::uint32_t mark = last_mark.fetch_add(1, std::memory_order_relaxed) + 1;
  while (mark == 0) {  // 0 is the mark of nodes never visited
    mark = last_mark.fetch_add(1, std::memory_order_relaxed) + 1;
  }
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
  set_mark(*root, mark);
  stack.push_back({root, 0});
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.next_child < static_cast<std::uint32_t>(top.node->child_count())) {
      ValueNode* child = top.node->children[top.next_child++];
      if (mark_of(*child) != mark) {
        set_mark(*child, mark);
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
    for (ValueNode* child : current->children) {
      if (child != nullptr && --child->owners == 0) {
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

// Back-propagation for a graph whose nodes come from more than one thread's arena (the arena
// walk of `Value::backward` sees one arena only): order the graph with a depth-first search,
// zeroing this pass's upstream gradients on the way, then apply the chain rule in reverse order.
void backward_by_sorting(ValueNode* root) {
  std::vector<ValueNode*>& order = engine().backward_order;
  order.clear();
  visit_in_topological_order(root, [&](ValueNode* node) {
    node->upstream = 0.0;
    order.push_back(node);
  });
  root->upstream = 1.0;
  for (std::size_t k = order.size(); k-- > 0;) {
    prefetch_ahead(order, k);
    ValueNode& out = *order[k];
    for (int i = 0; i < out.child_count(); ++i) {
      out.children[i]->upstream += out.local_gradients[i] * out.upstream;  // the chain rule
    }
    out.grad += out.upstream;
  }
}

}  // namespace

// --- the node and the handle ------------------------------------------------------------------

ValueNode::~ValueNode() {
  if (has_label) LabelTable::instance().drop(this);
}

void* ValueNode::operator new([[maybe_unused]] std::size_t size) {
  // ValueNode is final, so every request is for one slot.
  if (arena_of_this_thread == nullptr) [[unlikely]] {
    first_use_of_engine();
  }
  return arena_of_this_thread->allocate();
}

void ValueNode::operator delete(void* block) noexcept { NodeArena::deallocate(block); }

std::int64_t value_nodes_alive() {
  engine();
  return arena_of_this_thread->nodes_alive();
}

Value::Value() : Value(0.0) {}

Value::Value(double data, std::string label) : node_(new ValueNode(ValueOp::leaf, data)) {
  if (!label.empty()) {
    set_label(std::move(label));
  }
}

Value::Value(ValueNode* node) : node_(node) {
  if (node_ == nullptr) {
    throw Error("Value: cannot wrap a null node");
  }
  add_owner(*node_);
}

Value Value::adopt(ValueNode* node) {
  if (node == nullptr) {
    throw Error("Value: cannot adopt a null node");
  }
  return Value(node, Adopting{});
}

Value::Value(const Value& other) : node_(other.node_) { add_owner(*node_); }

Value::Value(Value&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}

Value& Value::operator=(const Value& other) {
  add_owner(*other.node_);  // first, so that `a = a` cannot free the node
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

Value::~Value() { release(node_); }

std::string Value::op_name() const {
  const char* symbol = op_symbol(static_cast<ValueOp>(node_->op));
  const double constant =
      node_->local_gradients[1];  // ops with a plain-number operand keep it here
  switch (static_cast<ConstantSide>(node_->constant_side)) {
    case ConstantSide::left: return format_number(constant) + " " + symbol;
    case ConstantSide::right: return std::string(symbol) + " " + format_number(constant);
    case ConstantSide::none: break;
  }
  return symbol;
}

std::vector<Value> Value::children() const {
  std::vector<Value> result;
  for (int i = 0; i < node_->child_count(); ++i) {
    result.emplace_back(node_->children[i]);
  }
  return result;
}

std::vector<double> Value::local_gradients() const {
  return {node_->local_gradients.begin(), node_->local_gradients.begin() + node_->child_count()};
}

const std::string& Value::label() const {
  static const std::string no_label;
  return node_->has_label ? LabelTable::instance().get(node_) : no_label;
}

const Value& Value::set_label(std::string label) const {
  LabelTable::instance().set(node_, std::move(label));
  node_->has_label = 1;
  return *this;
}

void Value::backward() const {
  if (node_->spans_arenas || !NodeArena::made_here(node_)) {
    backward_by_sorting(node_);  // only the thread that made an arena walks it
    return;
  }
  arena_of_this_thread->drain_freed_elsewhere();  // fewer dead slots to walk past
  // Every node of the graph sits in this thread's arena, and the arena walks its live nodes from
  // newest to oldest: a reverse topological order, so no sort is needed. A fresh mark tells the
  // nodes reached from the root in this pass (their upstream gradient starts at their first
  // contribution) from the other live nodes, which are skipped.
  const std::uint32_t mark = next_visit_mark();
  set_mark(*node_, mark);
  node_->upstream = 1.0;             // d root / d root
  std::size_t reached_not_done = 1;  // the walk stops once every reached node is done
  NodeArena::walk_back_from(node_, [&](ValueNode* node) {
    if (mark_of(*node) != mark) {
      return true;  // not part of this graph (perhaps being sorted by another thread)
    }
    // Every value computed from `node` was made after it, so has already handed it its
    // contribution: its upstream gradient is complete.
    for (int i = 0; i < node->child_count(); ++i) {
      ValueNode& child = *node->children[i];
      const double contribution = node->local_gradients[i] * node->upstream;  // the chain rule
      if (mark_of(child) == mark) {
        child.upstream += contribution;
      } else {
        set_mark(child, mark);
        child.upstream = contribution;
        ++reached_not_done;
      }
    }
    node->grad += node->upstream;
    return --reached_not_done > 0;
  });
}

void Value::zero_grad() const {
  for (ValueNode* node : topological_nodes(node_)) {
    node->grad = 0.0;
    node->upstream = 0.0;
  }
}

// --- arithmetic: forward value, then the local gradient with respect to each input -----------

Value operator+(const Value& a, const Value& b) {
  return binary(ValueOp::add, a.data() + b.data(), a, 1.0, b, 1.0);
}

Value operator-(const Value& a, const Value& b) {
  return binary(ValueOp::sub, a.data() - b.data(), a, 1.0, b, -1.0);
}

Value operator*(const Value& a, const Value& b) {
  return binary(ValueOp::mul, a.data() * b.data(), a, b.data(), b, a.data());
}

Value operator/(const Value& a, const Value& b) {
  if (b.data() == 0.0) {
    throw Error("Value /: division by zero (" + format_number(a.data()) + " / 0)");
  }
  const double inverse = 1.0 / b.data();
  // d(a/b)/da = 1/b,  d(a/b)/db = −a/b²
  return binary(ValueOp::div, a.data() * inverse, a, inverse, b, -a.data() * inverse * inverse);
}

Value operator-(const Value& a) { return unary(ValueOp::neg, -a.data(), a, -1.0); }

Value operator+(const Value& a, double s) {
  return with_constant(ValueOp::add, ConstantSide::right, s, a.data() + s, a, 1.0);
}

Value operator+(double s, const Value& a) {
  return with_constant(ValueOp::add, ConstantSide::left, s, s + a.data(), a, 1.0);
}

Value operator-(const Value& a, double s) {
  return with_constant(ValueOp::sub, ConstantSide::right, s, a.data() - s, a, 1.0);
}

Value operator-(double s, const Value& a) {
  return with_constant(ValueOp::sub, ConstantSide::left, s, s - a.data(), a, -1.0);
}

Value operator*(const Value& a, double s) {
  return with_constant(ValueOp::mul, ConstantSide::right, s, a.data() * s, a, s);
}

Value operator*(double s, const Value& a) {
  return with_constant(ValueOp::mul, ConstantSide::left, s, s * a.data(), a, s);
}

Value operator/(const Value& a, double s) {
  if (s == 0.0) {
    throw Error("Value /: division by zero (" + format_number(a.data()) + " / 0)");
  }
  return with_constant(ValueOp::div, ConstantSide::right, s, a.data() / s, a, 1.0 / s);
}

Value operator/(double s, const Value& a) {
  if (a.data() == 0.0) {
    throw Error("Value /: division by zero (" + format_number(s) + " / 0)");
  }
  const double x = a.data();
  return with_constant(ValueOp::div, ConstantSide::left, s, s / x, a,
                       -s / (x * x));  // d(s/x)/dx = −s/x²
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
  return with_constant(ValueOp::pow, ConstantSide::right, p, std::pow(base, p), x, local);
}

Value exp(const Value& x) {
  const double e = std::exp(x.data());
  return unary(ValueOp::exp, e, x, e);  // d eˣ/dx = eˣ
}

Value log(const Value& x) {
  if (x.data() <= 0.0) {
    throw Error("Value log: input " + format_number(x.data()) + " is not positive");
  }
  return unary(ValueOp::log, std::log(x.data()), x, 1.0 / x.data());  // d ln x/dx = 1/x
}

Value tanh(const Value& x) {
  const double t = std::tanh(x.data());
  return unary(ValueOp::tanh, t, x, 1.0 - t * t);  // d tanh x/dx = 1 − tanh²x
}

Value sigmoid(const Value& x) {
  // σ(x) = 1/(1 + e⁻ˣ), written so that no exp overflows for large |x|.
  const double v = x.data();
  const double s = v >= 0.0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
  return unary(ValueOp::sigmoid, s, x, s * (1.0 - s));  // dσ/dx = σ(1 − σ)
}

Value relu(const Value& x) {
  const bool positive = x.data() > 0.0;
  return unary(ValueOp::relu, positive ? x.data() : 0.0, x, positive ? 1.0 : 0.0);
}

Value max(const Value& a, const Value& b) {
  const bool a_wins = a.data() >= b.data();  // the winner takes the whole gradient
  return binary(ValueOp::max, a_wins ? a.data() : b.data(), a, a_wins ? 1.0 : 0.0, b,
                a_wins ? 0.0 : 1.0);
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

}  // namespace gradlab::fast
