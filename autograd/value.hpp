#pragma once
/// \file autograd/value.hpp
/// \brief `Value`: one number that remembers how it was computed. The scalar engine, to read.
///
/// A `Value` is a handle to a node holding a number (`data`), its gradient (`grad`), the values
/// it was computed from (its children) and the op's **local gradient** ∂out/∂child for each,
/// computed right beside the forward value. `backward()` sorts the graph, children before the
/// values made from them, then walks it from the root back with the chain rule at each node:
///
///     child.grad += local_gradient × out.grad
///
/// \code
///   Value x(-2.0, "x"), y(5.0, "y"), z(-4.0, "z");
///   Value f = (x + y) * z;   // f = −12
///   f.backward();            // x.grad() == −4, y.grad() == −4, z.grad() == 3
/// \endcode
///
/// A second `backward()` adds to the first's gradients (`zero_grad()` starts over), as a value
/// used twice receives both contributions. Nodes are shared (`std::shared_ptr`): handles can be
/// copied, handed to another thread and freed anywhere; use one graph on one thread at a time.
/// autograd/fast/value.hpp is the same engine built for speed.

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace gradlab {

/// What a `Value` points at: the number, its gradients, and how it was made.
struct ValueNode {
  double data = 0.0;      ///< The number.
  double grad = 0.0;      ///< d root / d this value, summed over all backward passes.
  double upstream = 0.0;  ///< d root / d this value in the latest backward pass alone.
  std::vector<std::shared_ptr<ValueNode>> children;  ///< The op's inputs (none for a leaf).
  std::vector<double> local_gradients;  ///< ∂this/∂children[i], computed by the forward pass.
  std::string op = "leaf";              ///< How the op prints: "+", "tanh", "^ 2", "1 /", ...
  std::string label;                    ///< A name for printouts and pictures.

  ValueNode();   ///< Counts the node (`value_nodes_alive`).
  ~ValueNode();  ///< Frees a long chain of children with a loop, not recursion.
};

/// A scalar with automatic differentiation: a cheap, shared handle to a `ValueNode`. Copies
/// name the same node, so `Value b = a; b.set_data(3);` changes `a` too.
class Value {
 public:
  /// A leaf (a number made by the user, not by an op) holding `data`, named `label`.
  explicit Value(double data = 0.0, std::string label = {});
  /// The value an op made: `data`, computed from `children` with these local gradients.
  Value(double data, std::string op, std::vector<Value> children, std::vector<double> local);

  double data() const { return node_->data; }                   ///< The number.
  void set_data(double data) const { node_->data = data; }      ///< Overwrites the number.
  double grad() const { return node_->grad; }                   ///< The summed gradient.
  void set_grad(double grad) const { node_->grad = grad; }      ///< Overwrites the gradient.
  double upstream_gradient() const { return node_->upstream; }  ///< Latest pass's gradient.
  bool is_leaf() const { return node_->children.empty(); }      ///< Made by the user?
  const std::string& op_name() const { return node_->op; }      ///< "+", "tanh", "leaf", ...
  std::vector<Value> children() const;                          ///< The op's inputs.
  /// ∂this/∂children()[i]; backward hands child i `local_gradients()[i] × upstream_gradient()`.
  const std::vector<double>& local_gradients() const { return node_->local_gradients; }
  const std::string& label() const { return node_->label; }  ///< The name ("" when unset).
  /// Sets the name; returns *this, so `Value w = (a * b).set_label("w");` reads naturally.
  const Value& set_label(std::string label) const;

  /// Back-propagates from this value: d this/d this = 1, then, from this value back to the
  /// leaves, every child receives local gradient × upstream gradient. Adds to every `grad`.
  void backward() const;
  /// Sets `grad` and the upstream gradient to 0 on every value this one depends on, and itself.
  void zero_grad() const;
  const ValueNode* node() const { return node_.get(); }  ///< The same for every copy.

 private:
  friend std::vector<Value> topological_order(const Value& root);
  explicit Value(std::shared_ptr<ValueNode> node) : node_(std::move(node)) {}
  std::shared_ptr<ValueNode> node_;
};

// Each op: its value, and in brackets its local gradients (∂out/∂a, ∂out/∂b).
Value operator+(const Value& a, const Value& b);  ///< a + b  [1, 1]
Value operator-(const Value& a, const Value& b);  ///< a − b  [1, −1]
Value operator*(const Value& a, const Value& b);  ///< a · b  [b, a]
Value operator/(const Value& a, const Value& b);  ///< a / b  [1/b, −a/b²]; b = 0 raises Error
Value operator-(const Value& a);                  ///< −a  [−1]
Value operator+(const Value& a, double s);        ///< a + s  [1] (a plain number gets no grad)
Value operator+(double s, const Value& a);        ///< s + a  [1]
Value operator-(const Value& a, double s);        ///< a − s  [1]
Value operator-(double s, const Value& a);        ///< s − a  [−1]
Value operator*(const Value& a, double s);        ///< a · s  [s]
Value operator*(double s, const Value& a);        ///< s · a  [s]
Value operator/(const Value& a, double s);        ///< a / s  [1/s]; s = 0 raises Error
Value operator/(double s, const Value& a);        ///< s / a  [−s/a²]; a = 0 raises Error
/// xᵖ  [p·xᵖ⁻¹]; raises Error for a negative x with fractional p, or x = 0 with p < 1, p ≠ 0.
Value pow(const Value& x, double p);
Value exp(const Value& x);      ///< eˣ  [eˣ]
Value log(const Value& x);      ///< ln x  [1/x]; x ≤ 0 raises Error
Value tanh(const Value& x);     ///< tanh x  [1 − tanh²x]
Value sigmoid(const Value& x);  ///< σ(x) = 1/(1 + e⁻ˣ)  [σ(1 − σ)]
Value relu(const Value& x);     ///< max(0, x)  [1 if x > 0, else 0]
/// max(a, b)  [1, 0] when a ≥ b, else [0, 1]: the winner takes the whole gradient.
Value max(const Value& a, const Value& b);

/// Every value `root` depends on, and `root` last, each once, children before the values made
/// from them (depth-first search with an explicit stack, so graphs of any depth work).
std::vector<Value> topological_order(const Value& root);
/// How many nodes are alive in the program: a graph is freed when its last handle goes.
std::int64_t value_nodes_alive();
/// Prints `Value(label, data=…, grad=…)` (the label only when set).
std::ostream& operator<<(std::ostream& out, const Value& value);

}  // namespace gradlab
