// Checks exercise 04 (softmax_cross_entropy_backward) against autograd through
// gradlab::cross_entropy, and with gradcheck.
#include "04_softmax_cross_entropy.hpp"
#include "autograd/function.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "check.hpp"

using namespace gradlab;
using namespace gradlab::exercises;

namespace {

std::vector<std::int64_t> the_labels;  // the labels of the gradcheck below

struct LearnerCrossEntropy : Function<LearnerCrossEntropy> {
  static constexpr const char* name = "your_cross_entropy";
  static Tensor forward(FunctionContext& ctx, const Tensor& scores) {
    ctx.save_for_backward({scores});
    return cross_entropy(scores, labels(the_labels));
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& upstream) {
    return {softmax_cross_entropy_backward(ctx.saved(0), the_labels) * upstream.item()};
  }
};

}  // namespace

int main() {
  return run_checks([] {
    Checker checker("04 softmax cross-entropy's gradient");
    manual_seed(4);
    const std::int64_t n = 6, c = 5;
    Tensor scores = randn({n, c}, {.dtype = DType::float64, .requires_grad = true});
    the_labels = {0, 3, 1, 4, 4, 2};
    cross_entropy(scores, labels(the_labels)).backward();
    checker.compare(
        "dscores", softmax_cross_entropy_backward(scores.detach(), the_labels), scores.grad(),
        {scaled_by(double(n), "the loss is a mean: did you forget to divide by the batch size N?"),
         scaled_by(1.0 / n, "your gradient is 1/N of the expected: did you divide by N twice?")});
    GradcheckOptions options;
    options.name = "your cross-entropy gradient";
    const GradcheckResult result =
        gradcheck([](const std::vector<Tensor>& in) { return LearnerCrossEntropy::apply(in[0]); },
                  {scores.detach()}, options);
    checker.expect("gradcheck (float64 central differences) passes", result.passed,
                   "gradcheck says:\n" + result.report());
    return checker.finish();
  });
}
