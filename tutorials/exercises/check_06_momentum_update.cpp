// Checks exercise 06 (momentum_step): 25 steps on the bowl f(x) = Σ a_i x_i² give the same
// trajectory as the library's optim::SGD with momentum.
#include <cmath>
#include <optional>

#include "06_momentum_update.hpp"
#include "autograd/ops.hpp"
#include "check.hpp"
#include "modules/optim/optim.hpp"

using namespace gradlab;
using namespace gradlab::exercises;

int main() {
  return run_checks([] {
    Checker checker("06 SGD with momentum");
    const std::vector<double> curvature = {1.0, 10.0, 0.1};  // a long, narrow bowl
    const std::vector<double> start = {1.0, -1.0, 2.0};
    const double lr = 0.05, mu = 0.9;
    const auto gradient = [&](const std::vector<double>& x) {
      std::vector<double> g(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) g[i] = 2.0 * curvature[i] * x[i];
      return g;
    };
    // The library's optimiser on a tensor parameter.
    Tensor parameter = from(start, {3}, {.dtype = DType::float64, .requires_grad = true});
    optim::SGD sgd({parameter}, {.lr = lr, .momentum = mu});
    // Yours, and plain SGD for the hint.
    std::vector<double> x = start, v(start.size(), 0.0), plain = start;
    std::vector<double> expected_path, my_path, plain_path;
    for (int step = 0; step < 25; ++step) {
      sgd.zero_grad();
      sum(from(curvature, {3}, {.dtype = DType::float64}) * parameter * parameter).backward();
      sgd.step();
      momentum_step(x, v, gradient(x), lr, mu);
      const std::vector<double> g = gradient(plain);
      for (std::size_t i = 0; i < plain.size(); ++i) plain[i] -= lr * g[i];
      const std::vector<double> p = parameter.to_vector();
      expected_path.insert(expected_path.end(), p.begin(), p.end());
      my_path.insert(my_path.end(), x.begin(), x.end());
      plain_path.insert(plain_path.end(), plain.begin(), plain.end());
    }
    const Hint plain_sgd = [&](const std::vector<double>& mine,
                               const std::vector<double>&) -> std::optional<std::string> {
      if (mine == plain_path) return "this is plain SGD: the velocity v never moved x";
      return std::nullopt;
    };
    const Hint later_steps = [](const std::vector<double>& mine,
                                const std::vector<double>& expected) -> std::optional<std::string> {
      for (std::size_t i = 0; i < 3; ++i) {
        if (std::abs(mine[i] - expected[i]) > 1e-9) return std::nullopt;
      }
      return "the first step is right, later ones are not: does v keep μ·v from the last call "
             "(update it in place, and use the new v to move x)?";
    };
    checker.compare("the parameters after each of 25 steps", my_path, expected_path,
                    {plain_sgd, later_steps});
    return checker.finish();
  });
}
