// Checks exercise 05 (batch_norm_backward) against autograd through gradlab::batch_norm in
// training mode, and with gradcheck.
#include "05_batch_norm_backward.hpp"
#include "autograd/function.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "check.hpp"

using namespace gradlab;
using namespace gradlab::exercises;

namespace {

constexpr double kEps = 1e-5;

Tensor batch_norm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta) {
  const std::int64_t d = x.size(1);
  Tensor running_mean = zeros({d}, {.dtype = x.dtype()});
  Tensor running_var = ones({d}, {.dtype = x.dtype()});
  return batch_norm(x, gamma, beta, running_mean, running_var, true, 0.1, kEps);
}

struct LearnerBatchNorm : Function<LearnerBatchNorm> {
  static constexpr const char* name = "your_batch_norm";
  static Tensor forward(FunctionContext& ctx, const Tensor& x, const Tensor& gamma,
                        const Tensor& beta) {
    ctx.save_for_backward({x, gamma});
    return batch_norm_train(x, gamma, beta);
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& dy) {
    const BatchNormGradients g = batch_norm_backward(ctx.saved(0), ctx.saved(1), dy, kEps);
    return {g.dx, g.dgamma, g.dbeta};
  }
};

}  // namespace

int main() {
  return run_checks([] {
    Checker checker("05 batch normalisation's backward pass");
    manual_seed(5);
    const std::int64_t n = 8, d = 3;
    const TensorOptions f64{.dtype = DType::float64, .requires_grad = true};
    Tensor x = randn({n, d}, f64) * 2.0 + 1.0;
    x = x.detach().requires_grad_(true);
    Tensor gamma = randn({d}, f64), beta = randn({d}, f64);
    Tensor dy = randn({n, d}, {.dtype = DType::float64});
    batch_norm_train(x, gamma, beta).backward(dy);
    const BatchNormGradients mine = batch_norm_backward(x.detach(), gamma.detach(), dy, kEps);
    checker.compare("dbeta", mine.dbeta, beta.grad(),
                    {scaled_by(1.0 / n, "dβ is a sum over the batch, not a mean")});
    checker.compare("dgamma", mine.dgamma, gamma.grad(),
                    {scaled_by(1.0 / n, "dγ is a sum over the batch, not a mean")});
    checker.compare("dx", mine.dx, x.grad(),
                    {scaled_by(double(n), "is there one factor N too many (N dy, or 1/N missing)?"),
                     scaled_by(1.0 / n, "is there one division by N too many?")});
    GradcheckOptions options;
    options.name = "your batch norm backward";
    const GradcheckResult result = gradcheck(
        [](const std::vector<Tensor>& in) { return LearnerBatchNorm::apply(in[0], in[1], in[2]); },
        {x.detach(), gamma.detach(), beta.detach()}, options);
    checker.expect("gradcheck (float64 central differences) passes", result.passed,
                   "gradcheck says:\n" + result.report());
    return checker.finish();
  });
}
