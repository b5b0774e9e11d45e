// Reference kernels: the optimiser updates, in place, in PyTorch's forms (weight decay added to
// the gradient first; SGD's velocity in gradient units).
#include <cmath>

#include "backends/reference/reference_backend.hpp"
#include "backends/reference/support.hpp"

namespace gradlab {

using namespace reference;

namespace {

/// Checks that every state buffer has the parameter's dtype and shape.
void check_state(const char* kernel, View param, ConstView grad,
                 std::initializer_list<std::pair<const char*, ConstView>> state) {
  require_present(kernel, "param", param);
  require_dtype(kernel, "grad", grad, param.dtype);
  require_shape(kernel, "grad", grad, param.shape);
  for (const auto& [name, buffer] : state) {
    require_dtype(kernel, name, buffer, param.dtype);
    require_shape(kernel, name, buffer, param.shape);
  }
}

}  // namespace

void ReferenceBackend::sgd_update(View param, ConstView grad, View velocity, double lr,
                                  double momentum, bool nesterov, double weight_decay) {
  const char* kernel = nesterov ? "sgd_update(nesterov)" : "sgd_update";
  const bool plain = momentum == 0 && !nesterov;
  if (plain) {
    check_state(kernel, param, grad, {});
  } else {
    check_state(kernel, param, grad, {{"velocity", velocity}});
  }
  dispatch_float(param.dtype, kernel, [&]<class T>(T) {
    auto x = flat<T>(param);
    const auto dx = flat<T>(grad);
    const T learning_rate = static_cast<T>(lr), mu = static_cast<T>(momentum);
    const xt::xtensor<T, 1> g = dx + static_cast<T>(weight_decay) * x;  // g = dx + wd · x
    if (plain) {
      xt::noalias(x) -= learning_rate * g;  // x ← x − lr · g
      return;
    }
    auto v = flat<T>(velocity);
    xt::noalias(v) = mu * v + g;  // v ← μ v + g   (v is in gradient units, as in PyTorch)
    if (nesterov) {
      xt::noalias(x) -= learning_rate * (g + mu * v);  // x ← x − lr · (g + μ v)
    } else {
      xt::noalias(x) -= learning_rate * v;  // x ← x − lr · v
    }
  });
}

void ReferenceBackend::adagrad_update(View param, ConstView grad, View cache, double lr, double eps,
                                      double weight_decay) {
  const char* kernel = "adagrad_update";
  check_state(kernel, param, grad, {{"cache", cache}});
  dispatch_float(param.dtype, kernel, [&]<class T>(T) {
    auto x = flat<T>(param);
    const xt::xtensor<T, 1> g = flat<T>(grad) + static_cast<T>(weight_decay) * x;
    auto c = flat<T>(cache);
    xt::noalias(c) += g * g;  // cache ← cache + g²
    xt::noalias(x) -= static_cast<T>(lr) * g / (xt::sqrt(c) + static_cast<T>(eps));
  });
}

void ReferenceBackend::rmsprop_update(View param, ConstView grad, View cache, double lr,
                                      double alpha, double eps, double weight_decay) {
  const char* kernel = "rmsprop_update";
  check_state(kernel, param, grad, {{"cache", cache}});
  dispatch_float(param.dtype, kernel, [&]<class T>(T) {
    auto x = flat<T>(param);
    const xt::xtensor<T, 1> g = flat<T>(grad) + static_cast<T>(weight_decay) * x;
    auto c = flat<T>(cache);
    const T rho = static_cast<T>(alpha);
    xt::noalias(c) = rho * c + (1 - rho) * g * g;  // cache ← α · cache + (1 − α) · g²
    xt::noalias(x) -= static_cast<T>(lr) * g / (xt::sqrt(c) + static_cast<T>(eps));
  });
}

void ReferenceBackend::adam_update(View param, ConstView grad, View m, View v, double lr,
                                   double beta1, double beta2, double eps, std::int64_t t,
                                   double weight_decay, bool decoupled) {
  const char* kernel = "adam_update";
  check_state(kernel, param, grad, {{"m", m}, {"v", v}});
  if (t < 1) fail(kernel, "the step t counts from 1, got " + std::to_string(t));
  dispatch_float(param.dtype, kernel, [&]<class T>(T) {
    auto x = flat<T>(param);
    auto first = flat<T>(m);
    auto second = flat<T>(v);
    const T wd = static_cast<T>(weight_decay);
    if (decoupled) x *= static_cast<T>(1 - lr * weight_decay);  // AdamW: x ← x · (1 − lr · wd)
    const xt::xtensor<T, 1> g =
        decoupled ? xt::xtensor<T, 1>(flat<T>(grad)) : xt::xtensor<T, 1>(flat<T>(grad) + wd * x);
    const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
    // 1 − β is formed in double: in float, 1 − 0.999f is off by 1.3e-5 relative.
    const T one_minus_b1 = static_cast<T>(1 - beta1), one_minus_b2 = static_cast<T>(1 - beta2);
    // The bias corrections 1 − βᵗ, computed in double: β₂ᵗ is close to 1 for small t.
    const T correction1 = static_cast<T>(1 - std::pow(beta1, static_cast<double>(t)));
    const T correction2 = static_cast<T>(1 - std::pow(beta2, static_cast<double>(t)));
    xt::noalias(first) = b1 * first + one_minus_b1 * g;        // m ← β₁m + (1−β₁)g
    xt::noalias(second) = b2 * second + one_minus_b2 * g * g;  // v ← β₂v + (1−β₂)g²
    // x ← x − lr · m̂ / (√v̂ + eps) with m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)
    xt::noalias(x) -= static_cast<T>(lr) * (first / correction1) /
                      (xt::sqrt(second / correction2) + static_cast<T>(eps));
  });
}

}  // namespace gradlab
