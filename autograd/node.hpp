#pragma once
/// \file autograd/node.hpp
/// \brief Graph nodes and how an op records one: `record(op, inputs, output, backward)`.
///
/// Every op follows the same three beats (flashlight's pattern):
/// \code
///   Tensor tanh(const Tensor& x) {
///     Tensor y = unary_kernel(UnaryOp::tanh, x);                    // 1. compute via the backend
///     return record("tanh", {x}, y, [x = x.detach(), y = y.detach()](
///                                      const Tensor& upstream, GradientSink& grads) {
/// grads.add(0, unary_backward_kernel(UnaryOp::tanh, x, y, upstream));  // 2. local × upstream
///     });                                                            // 3. return the output
///   }
/// \endcode
/// The closure must not capture the output tensor itself (that would make a reference cycle):
/// capture `y.detach()`, which shares the data without the node.
///
/// This file is the part to read: `Node`, `record` and `GradientSink`. How a node's memory is
/// managed (a cache of small blocks, a closure stored without `malloc`) is in
/// autograd/detail/small_blocks.hpp.

#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "autograd/detail/small_blocks.hpp"
#include "autograd/tensor.hpp"

namespace gradlab {

/// One recorded operation: its inputs and its backward closure.
struct Node {
  std::string op;             ///< The op's name, e.g. "matmul".
  NodeInputs inputs;          ///< The tensors the op read (edges of the graph).
  BackwardFunction backward;  ///< local gradient × upstream gradient, per input.
};

/// Attaches a node to `output` when grad mode is on and some input requires a gradient; returns
/// `output` either way.
Tensor record(const char* op, NodeInputs inputs, Tensor output, BackwardFunction backward);

/// Where a backward closure delivers the gradient of each of its node's inputs.
class GradientSink {
 public:
  /// Wraps the inputs of a node of op `op` (named in error messages; must outlive the sink).
  explicit GradientSink(std::span<const Tensor> inputs, std::string_view op = "backward")
      : inputs_(inputs), op_(op) {}
  /// True when input `i` wants a gradient (skip the work otherwise).
  bool needs(std::size_t i) const;
  /// Adds `gradient` (same shape as input `i`) to input `i`'s upstream gradient.
  void add(std::size_t i, const Tensor& gradient);

 private:
  std::span<const Tensor> inputs_;
  std::string_view op_;
};

/// True when grad mode is on and at least one of `inputs` requires a gradient.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);

/// The tensors of the graph ending at `root`, inputs before the ops that use them (iterative
/// depth-first search; no recursion, so graphs of any depth work).
std::vector<Tensor> topological_order(const Tensor& root);

}  // namespace gradlab
