// The gradlab port of train.py, line by line (the section "A port, line by line" of
// docs/pytorch_differences.md walks through it).
// Build it inside the repository as the target `porting_example`, or in a project of your own
// with find_package(gradlab) (docs/your_own_project.md). CTest runs it and compares what it
// prints with pytorch_output.txt, the output of train.py under PyTorch 1.13.
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <vector>

#include "autograd/ops.hpp"
#include "autograd/tensor.hpp"
#include "modules/optim/optim.hpp"

using namespace gradlab;

int main() {
  constexpr std::int64_t N = 64, D = 5, H = 8, C = 3, B = 16;
  const TensorOptions f64{.dtype = DType::float64};
  const TensorOptions learnable{.dtype = DType::float64, .requires_grad = true};

  // torch.tensor([[...]]) becomes from(values, shape): the values row by row.
  std::vector<double> x_values, w1_values, w2_values;
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t j = 0; j < D; ++j) x_values.push_back(std::sin(0.7 * i + 1.3 * j));
  for (std::int64_t i = 0; i < D; ++i)
    for (std::int64_t j = 0; j < H; ++j) w1_values.push_back(0.3 * std::cos(i + 2 * j));
  for (std::int64_t i = 0; i < H; ++i)
    for (std::int64_t j = 0; j < C; ++j) w2_values.push_back(0.3 * std::sin(2 * i - j));
  const Tensor X = from(x_values, {N, D}, f64);
  const Tensor y = argmax(slice(X, 1, 0, C));  // X[:, :C].argmax(dim=1)
  const Tensor W1 = from(w1_values, {D, H}, learnable);
  const Tensor b1 = zeros({H}, learnable);
  const Tensor W2 = from(w2_values, {H, C}, learnable);
  const Tensor b2 = zeros({C}, learnable);
  optim::AdamW optimizer({W1, b1, W2, b2}, {.lr = 0.05, .weight_decay = 0.1});

  for (std::int64_t step = 1; step < 25; ++step) {
    const std::int64_t start = ((step - 1) * B) % N;
    const Tensor xb = slice(X, 0, start, start + B);  // X[start:start + B]
    const Tensor yb = slice(y, 0, start, start + B);
    const Tensor h = clamp(matmul(xb, W1) + b1, 0.0);  // torch.clamp(..., min=0.0)
    const Tensor scores = matmul(h, W2) + b2;
    const Tensor loss = cross_entropy(scores, yb);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (step == 12) {  // with torch.no_grad():
      NoGradGuard no_grad;
      b2.zero_();
      W2.mul_(0.5);
    }
    std::printf("step %2lld  loss %.15f\n", static_cast<long long>(step), loss.item());
  }

  NoGradGuard no_grad;
  const Tensor predicted = argmax(matmul(clamp(matmul(X, W1) + b1, 0.0), W2) + b2);
  const Tensor accuracy = mean(eq(predicted.to(DType::float64), y.to(DType::float64)));
  std::printf("accuracy %.15f\n", accuracy.item());
}
