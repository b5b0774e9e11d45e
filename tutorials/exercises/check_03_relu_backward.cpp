// Checks exercise 03 (relu_backward) against autograd through gradlab::relu, including the kink
// at 0, and with gradcheck away from the kink.
#include <optional>

#include "03_relu_backward.hpp"
#include "autograd/function.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "check.hpp"

using namespace gradlab;
using namespace gradlab::exercises;

namespace {

struct LearnerRelu : Function<LearnerRelu> {
  static constexpr const char* name = "your_relu";
  static Tensor forward(FunctionContext& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return relu(x);
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& dy) {
    return {relu_backward(ctx.saved(0), dy)};
  }
};

}  // namespace

int main() {
  return run_checks([] {
    Checker checker("03 ReLU's backward pass");
    manual_seed(3);
    // Random values, two exact zeros (the kink) and a few of each sign.
    Tensor x = from({-1.5, 0.0, 2.0, -0.25, 0.0, 0.75, 3.0, -2.0}, {2, 4},
                    {.dtype = DType::float64, .requires_grad = true});
    Tensor dy = randn({2, 4}, {.dtype = DType::float64});
    relu(x).backward(dy);
    const std::vector<double> xs = x.to_vector(), upstream = dy.to_vector();
    const Hint passed_everything = [&](const std::vector<double>& mine,
                                       const std::vector<double>&) -> std::optional<std::string> {
      if (mine == upstream) return "dx equals dy everywhere: block the gradient where x ≤ 0";
      return std::nullopt;
    };
    const Hint forgot_upstream = [&](const std::vector<double>& mine,
                                     const std::vector<double>&) -> std::optional<std::string> {
      for (std::size_t i = 0; i < xs.size(); ++i) {
        if (mine[i] != (xs[i] > 0 ? 1.0 : 0.0)) return std::nullopt;
      }
      return "dx is the local gradient alone: multiply it by the upstream gradient dy";
    };
    const Hint kink = [&](const std::vector<double>& mine,
                          const std::vector<double>&) -> std::optional<std::string> {
      for (std::size_t i = 0; i < xs.size(); ++i) {
        if (xs[i] == 0.0 && mine[i] != 0.0) return "at x = 0 the gradient is 0 (x > 0, not x ≥ 0)";
      }
      return std::nullopt;
    };
    checker.compare("dx", relu_backward(x.detach(), dy), x.grad(),
                    {passed_everything, forgot_upstream, kink});
    GradcheckOptions options;
    options.name = "your relu backward";
    const GradcheckResult result =
        gradcheck([](const std::vector<Tensor>& in) { return LearnerRelu::apply(in[0]); },
                  {randn({6, 7}, {.dtype = DType::float64})}, options);
    checker.expect("gradcheck (float64 central differences) passes", result.passed,
                   "gradcheck says:\n" + result.report());
    return checker.finish();
  });
}
