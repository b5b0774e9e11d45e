// Checks exercise 01 (sigmoid_neuron_backward) against the scalar engine's backward pass and
// against central differences, at the lecture's point and at random points.
#include <cmath>
#include <random>

#include "01_sigmoid_gate.hpp"
#include "autograd/value.hpp"
#include "check.hpp"

using namespace gradlab;
using namespace gradlab::exercises;

namespace {

double neuron(double w0, double x0, double w1, double x1, double w2) {
  return 1.0 / (1.0 + std::exp(-(w0 * x0 + w1 * x1 + w2)));
}

std::vector<double> as_list(const NeuronGradients& g) {
  return {g.dw0, g.dx0, g.dw1, g.dx1, g.dw2};
}

}  // namespace

int main() {
  return run_checks([] {
    Checker checker("01 the sigmoid neuron, gate by gate");
    std::mt19937_64 random(1);
    std::normal_distribution<double> normal(0.0, 1.5);
    for (int trial = 0; trial < 4; ++trial) {
      std::vector<double> p = {2, -1, -3, -2, -3};  // the lecture's point first
      if (trial > 0) {
        for (double& value : p) value = normal(random);
      }
      // Expected: the scalar engine's backward pass over the same gates.
      Value w0(p[0]), x0(p[1]), w1(p[2]), x1(p[3]), w2(p[4]);
      Value f = 1.0 / (1.0 + exp(-(w0 * x0 + w1 * x1 + w2)));
      f.backward();
      const std::vector<double> expected = {w0.grad(), x0.grad(), w1.grad(), x1.grad(), w2.grad()};
      const std::vector<double> mine =
          as_list(sigmoid_neuron_backward(p[0], p[1], p[2], p[3], p[4]));
      const double s = f.data();
      checker.compare(
          fmt::format("gradients at w = ({:.3g}, {:.3g}, {:.3g}), x = ({:.3g}, {:.3g})", p[0], p[2],
                      p[4], p[1], p[3]),
          mine, expected,
          {scaled_by(1.0 / (1.0 - s), "the chain gives σ(1 − σ): did you stop at σ?"),
           scaled_by(s / (1.0 - s), "the exp gate's local gradient is exp(e): did you skip it?"),
           scaled_by(1.0 / s, "d(1/h)/dh = −1/h²: is the square missing?")});
      // Central differences of the forward: what the gradients must be, numerically.
      std::vector<double> numeric;
      for (std::size_t i = 0; i < p.size(); ++i) {
        std::vector<double> plus = p, minus = p;
        plus[i] += 1e-6, minus[i] -= 1e-6;
        numeric.push_back((neuron(plus[0], plus[1], plus[2], plus[3], plus[4]) -
                           neuron(minus[0], minus[1], minus[2], minus[3], minus[4])) /
                          2e-6);
      }
      double worst = 0;
      for (std::size_t i = 0; i < p.size(); ++i)
        worst = std::max(worst, std::abs(mine[i] - numeric[i]));
      checker.expect("agrees with central differences (within 1e-7)", worst < 1e-7,
                     fmt::format("off by up to {:.3g} from the numerical gradient", worst));
    }
    return checker.finish();
  });
}
