// Checks exercise 02 (linear_backward) against autograd through gradlab::linear, and with
// gradcheck: the learner's backward wrapped as a custom op, checked numerically in float64.
#include "02_linear_backward.hpp"
#include "autograd/function.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "check.hpp"

using namespace gradlab;
using namespace gradlab::exercises;

namespace {

/// y = x·W + b with the learner's backward.
struct LearnerLinear : Function<LearnerLinear> {
  static constexpr const char* name = "your_linear";
  static Tensor forward(FunctionContext& ctx, const Tensor& x, const Tensor& W, const Tensor& b) {
    ctx.save_for_backward({x, W, b});
    return linear(x, W, b);
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& dy) {
    const LinearGradients g = linear_backward(ctx.saved(0), ctx.saved(1), ctx.saved(2), dy);
    return {g.dx, g.dW, g.db};
  }
};

}  // namespace

int main() {
  return run_checks([] {
    Checker checker("02 the linear layer's backward pass");
    manual_seed(2);
    const std::int64_t n = 5, d = 4, m = 3;
    const TensorOptions f64{.dtype = DType::float64, .requires_grad = true};
    Tensor x = randn({n, d}, f64), W = randn({d, m}, f64), b = randn({m}, f64);
    Tensor dy = randn({n, m}, {.dtype = DType::float64});
    linear(x, W, b).backward(dy);
    const LinearGradients mine = linear_backward(x.detach(), W.detach(), b.detach(), dy);
    checker.compare("dx", mine.dx, x.grad());
    checker.compare("dW", mine.dW, W.grad());
    checker.compare("db", mine.db, b.grad(),
                    {scaled_by(1.0 / n, "a mean over the batch where the sum belongs?")});
    GradcheckOptions options;
    options.name = "your linear backward";
    const GradcheckResult result = gradcheck(
        [](const std::vector<Tensor>& in) { return LearnerLinear::apply(in[0], in[1], in[2]); },
        {x.detach(), W.detach(), b.detach()}, options);
    checker.expect("gradcheck (float64 central differences) passes", result.passed,
                   "gradcheck says:\n" + result.report());
    return checker.finish();
  });
}
