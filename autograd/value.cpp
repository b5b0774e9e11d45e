// The scalar engine: every op computes its value and, right beside it, its local gradients;
// backward() applies the chain rule over a topological order of the graph.
#include "autograd/value.hpp"

#include <atomic>
#include <cmath>
#include <ostream>
#include <sstream>
#include <unordered_set>

#include "backends/types.hpp"

namespace gradlab {
namespace {
std::string text(double number) {  // a plain number as an op's name shows it: "2", "0.5"
  std::ostringstream out;
  out << number;
  return out.str();
}
void require_nonzero(double divisor, double dividend) {
  if (divisor == 0.0) throw Error("Value /: division by zero (" + text(dividend) + " / 0)");
}
}  // namespace

// --- the ops: value, then the local gradient with respect to each input ------------------------

Value operator+(const Value& a, const Value& b) {
  return Value(a.data() + b.data(), "+", {a, b}, {1, 1});
}
Value operator-(const Value& a, const Value& b) {
  return Value(a.data() - b.data(), "-", {a, b}, {1, -1});
}
Value operator*(const Value& a, const Value& b) {  // the local gradients are the inputs, swapped
  return Value(a.data() * b.data(), "*", {a, b}, {b.data(), a.data()});
}

Value operator/(const Value& a, const Value& b) {
  require_nonzero(b.data(), a.data());
  const double x = a.data(), y = b.data();
  return Value(x / y, "/", {a, b}, {1.0 / y, -x / (y * y)});
}

Value operator-(const Value& a) { return Value(-a.data(), "neg", {a}, {-1}); }
// With a plain number s, which gets no gradient, the op's name shows s: "+ 2", "1 -".
Value operator+(const Value& a, double s) { return Value(a.data() + s, "+ " + text(s), {a}, {1}); }
Value operator+(double s, const Value& a) { return Value(s + a.data(), text(s) + " +", {a}, {1}); }
Value operator-(const Value& a, double s) { return Value(a.data() - s, "- " + text(s), {a}, {1}); }
Value operator-(double s, const Value& a) { return Value(s - a.data(), text(s) + " -", {a}, {-1}); }
Value operator*(const Value& a, double s) { return Value(a.data() * s, "* " + text(s), {a}, {s}); }
Value operator*(double s, const Value& a) { return Value(s * a.data(), text(s) + " *", {a}, {s}); }

Value operator/(const Value& a, double s) {
  require_nonzero(s, a.data());
  return Value(a.data() / s, "/ " + text(s), {a}, {1.0 / s});
}

Value operator/(double s, const Value& a) {
  require_nonzero(a.data(), s);
  const double x = a.data();
  return Value(s / x, text(s) + " /", {a}, {-s / (x * x)});
}

Value pow(const Value& x, double p) {
  const double base = x.data();
  if (base < 0.0 && p != std::trunc(p)) {
    throw Error("Value pow: " + text(base) + " ^ " + text(p) +
                " is not a real number (negative base, fractional exponent)");
  }
  if (base == 0.0 && p < 1.0 && p != 0.0)
    throw Error("Value pow: the derivative of x ^ " + text(p) + " is infinite at x = 0");
  const double local = p == 0.0 ? 0.0 : p * std::pow(base, p - 1.0);
  return Value(std::pow(base, p), "^ " + text(p), {x}, {local});
}

Value exp(const Value& x) { return Value(std::exp(x.data()), "exp", {x}, {std::exp(x.data())}); }
Value log(const Value& x) {
  if (x.data() <= 0.0) throw Error("Value log: input " + text(x.data()) + " is not positive");
  return Value(std::log(x.data()), "log", {x}, {1.0 / x.data()});
}
Value tanh(const Value& x) {
  const double t = std::tanh(x.data());
  return Value(t, "tanh", {x}, {1 - t * t});
}
Value sigmoid(const Value& x) {
  const double v = x.data();  // written so that exp never overflows
  const double s = v >= 0.0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
  return Value(s, "sigmoid", {x}, {s * (1.0 - s)});
}
Value relu(const Value& x) {
  const bool positive = x.data() > 0.0;
  return Value(positive ? x.data() : 0.0, "relu", {x}, {positive ? 1.0 : 0.0});
}
Value max(const Value& a, const Value& b) {
  const bool a_wins = a.data() >= b.data();
  return Value(a_wins ? a.data() : b.data(), "max", {a, b},
               {a_wins ? 1.0 : 0.0, a_wins ? 0.0 : 1.0});
}

// --- the engine ----------------------------------------------------------------------------------

std::vector<Value> topological_order(const Value& root) {
  // Depth-first, with a stack of (node, how many of its children were looked at): a node joins
  // the list once all its children have.
  std::vector<Value> order;
  std::unordered_set<const ValueNode*> seen{root.node()};
  std::vector<std::pair<const std::shared_ptr<ValueNode>*, std::size_t>> stack{{&root.node_, 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < (*node)->children.size()) {
      const std::shared_ptr<ValueNode>& child = (*node)->children[next++];
      if (seen.insert(child.get()).second) stack.emplace_back(&child, 0);
    } else {
      order.push_back(Value(*node));
      stack.pop_back();
    }
  }
  return order;
}

void Value::backward() const {
  const std::vector<Value> order = topological_order(*this);
  for (const Value& value : order) value.node_->upstream = 0.0;
  node_->upstream = 1.0;  // d root / d root
  // From the root back to the leaves: a node's upstream gradient is complete before its
  // children receive their share, because every node made from it comes later in `order`.
  for (auto value = order.rbegin(); value != order.rend(); ++value) {
    ValueNode& out = *value->node_;
    for (std::size_t i = 0; i < out.children.size(); ++i) {
      out.children[i]->upstream += out.local_gradients[i] * out.upstream;  // the chain rule
    }
    out.grad += out.upstream;
  }
}

void Value::zero_grad() const {
  for (const Value& value : topological_order(*this)) value.node_->grad = value.node_->upstream = 0;
}

Value::Value(double data, std::string label) : node_(std::make_shared<ValueNode>()) {
  node_->data = data;
  node_->label = std::move(label);
}

Value::Value(double data, std::string op, std::vector<Value> children, std::vector<double> local)
    : Value(data) {
  node_->op = std::move(op);
  for (Value& child : children) node_->children.push_back(std::move(child.node_));
  node_->local_gradients = std::move(local);
}

std::vector<Value> Value::children() const {
  std::vector<Value> result;
  for (const auto& child : node_->children) result.push_back(Value(child));
  return result;
}

const Value& Value::set_label(std::string label) const {
  node_->label = std::move(label);
  return *this;
}

static std::atomic<std::int64_t> nodes_alive{0};
ValueNode::ValueNode() { ++nodes_alive; }
ValueNode::~ValueNode() {
  --nodes_alive;
  // Freeing a chain a million values long by recursion would overflow the stack: take over
  // the children this node was the last owner of, and free them one by one.
  std::vector<std::shared_ptr<ValueNode>> orphans = std::move(children);
  while (!orphans.empty()) {
    std::shared_ptr<ValueNode> node = std::move(orphans.back());
    orphans.pop_back();
    if (node.use_count() == 1) {
      for (auto& child : node->children) orphans.push_back(std::move(child));
      node->children.clear();
    }
  }
}

std::int64_t value_nodes_alive() { return nodes_alive; }

std::ostream& operator<<(std::ostream& out, const Value& value) {
  out << "Value(";
  if (!value.label().empty()) out << value.label() << ", ";
  return out << "data=" << value.data() << ", grad=" << value.grad() << ")";
}

}  // namespace gradlab
