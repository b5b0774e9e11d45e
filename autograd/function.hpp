#pragma once
/// \file autograd/function.hpp
/// \brief Custom differentiable ops: write `forward` and `backward`, get a graph node.
///
/// In the spirit of `torch::autograd::Function`: a struct with two static functions.
/// `forward(ctx, inputs...)` computes the output with any tensor ops (no graph is recorded inside
/// it) and saves what the backward needs; `backward(ctx, upstream)` returns one gradient per
/// tensor input (an undefined `Tensor` for "no gradient"). `apply(inputs...)` runs forward and
/// records a node whose backward calls yours.
///
/// \code
///   // f(x, y) = x · y + x, written by hand.
///   struct MulAdd : gradlab::Function<MulAdd> {
///     static constexpr const char* name = "mul_add";
///     static Tensor forward(FunctionContext& ctx, const Tensor& x, const Tensor& y) {
///       ctx.save_for_backward({x, y});
///       return x * y + x;
///     }
///     static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& upstream) {
///       const Tensor& x = ctx.saved(0);
///       const Tensor& y = ctx.saved(1);
///       return {upstream * (y + 1.0), upstream * x};   // local gradient × upstream gradient
///     }
///   };
///   Tensor z = MulAdd::apply(x, y);
/// \endcode
/// Check a hand-written backward with `gradcheck` (autograd/gradcheck.hpp).

#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "autograd/node.hpp"
#include "autograd/tensor.hpp"

namespace gradlab {

/// What a custom op's forward leaves for its backward.
class FunctionContext {
 public:
  /// Saves tensors for the backward (stored without their graph, so no reference cycles).
  void save_for_backward(const std::vector<Tensor>& tensors) {
    saved_.clear();
    for (const Tensor& tensor : tensors)
      saved_.push_back(tensor.defined() ? tensor.detach() : tensor);
  }
  /// The i-th saved tensor.
  const Tensor& saved(std::size_t i) const {
    if (i >= saved_.size()) {
      throw Error("FunctionContext::saved: index " + std::to_string(i) + " but only " +
                  std::to_string(saved_.size()) + " tensors were saved");
    }
    return saved_[i];
  }
  /// All saved tensors.
  const std::vector<Tensor>& saved_tensors() const { return saved_; }
  /// True when tensor input `i` of the op wants a gradient (skip work otherwise).
  bool needs_input_grad(std::size_t i) const { return i < needs_.size() && needs_[i]; }
  /// Non-tensor values the backward needs (a slope, a count, ...).
  std::map<std::string, double> values;

 private:
  template <class Op>
  friend struct Function;
  std::vector<Tensor> saved_;
  std::vector<bool> needs_;
};

/// Base for custom ops; `Op` provides static `forward(ctx, ...)` and `backward(ctx, upstream)`
/// and optionally `static constexpr const char* name`.
template <class Op>
struct Function {
  /// Runs `Op::forward` on `args` and records a node that calls `Op::backward`.
  template <class... Args>
  static Tensor apply(Args&&... args) {
    auto ctx = std::make_shared<FunctionContext>();
    NodeInputs inputs;
    (collect(inputs, args), ...);
    for (const Tensor& input : inputs) {
      ctx->needs_.push_back(grad_mode_enabled() && input.defined() && input.requires_grad());
    }
    Tensor output;
    {
      NoGradGuard no_recording_inside_forward;
      output = Op::forward(*ctx, std::forward<Args>(args)...);
    }
    if (!output.defined())
      throw Error(std::string(op_name()) + ": forward returned an undefined tensor");
    // A fresh handle: forward may have returned one of its inputs unchanged.
    Tensor fresh = output.detach();
    std::size_t input_count = inputs.size();
    return record(op_name(), std::move(inputs), fresh,
                  [ctx, input_count](const Tensor& upstream, GradientSink& grads) {
                    std::vector<Tensor> gradients;
                    try {
                      gradients = Op::backward(*ctx, upstream);
                    } catch (const Error& error) {  // say whose backward failed
                      throw Error(std::string(op_name()) + " backward: " + error.what());
                    }
                    if (gradients.size() != input_count) {
                      throw Error(std::string(op_name()) + ": backward returned " +
                                  std::to_string(gradients.size()) + " gradients for " +
                                  std::to_string(input_count) + " tensor inputs");
                    }
                    for (std::size_t i = 0; i < gradients.size(); ++i) {
                      if (gradients[i].defined() && grads.needs(i)) grads.add(i, gradients[i]);
                    }
                  });
  }

 private:
  static const char* op_name() {
    if constexpr (requires { Op::name; }) {
      return Op::name;
    } else {
      return "custom";
    }
  }
  template <class Arg>
  static void collect(NodeInputs& inputs, const Arg& arg) {
    if constexpr (std::is_same_v<std::decay_t<Arg>, Tensor>) inputs.push_back(arg);
  }
};

}  // namespace gradlab
