// A custom op in your own project: the "swish" activation f(x) = x·σ(x), with a hand-written
// backward f′(x) = σ(x) + x·σ(x)(1 − σ(x)), checked numerically by gradcheck.
#include <iostream>

#include "autograd/function.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "modules/nn/layers.hpp"

using namespace gradlab;

struct Swish : Function<Swish> {
  static constexpr const char* name = "swish";
  static Tensor forward(FunctionContext& ctx, const Tensor& x) {
    Tensor s = sigmoid(x);
    ctx.save_for_backward({x, s});
    return x * s;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& upstream) {
    const Tensor& x = ctx.saved(0);
    const Tensor& s = ctx.saved(1);
    return {upstream * (s + x * s * (1.0 - s))};  // local gradient × upstream gradient
  }
};

int main() {
  Tensor x = randn({4, 3}, {.dtype = DType::float64, .requires_grad = true});
  GradcheckOptions options;
  options.name = "swish";
  GradcheckResult result =
      gradcheck([](const std::vector<Tensor>& in) { return Swish::apply(in[0]); }, {x}, options);
  std::cout << result.report();

  // The op in a layer of gradlab's own (gradlab::gradlab_nn): a Linear layer, then swish.
  nn::Linear layer(3, 2);
  Tensor h = Swish::apply(layer(randn({5, 3})));
  std::cout << "linear then swish: output of shape [" << h.size(0) << ", " << h.size(1) << "]\n";
  return result.passed ? 0 : 1;
}
