// Reference kernels: the optimiser updates, in place, in the lecture notes' forms.
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
                                  double momentum, bool nesterov) {
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
    if (plain) {
      xt::noalias(x) -= learning_rate * dx;  // x ← x − lr · dx
      return;
    }
    auto v = flat<T>(velocity);
    if (nesterov) {
      // v_prev = v;  v ← μ v − lr · dx;  x ← x − μ v_prev + (1 + μ) v, fused into one pass.
      for (std::size_t i = 0; i < x.size(); ++i) {
        const T v_prev = v(i);
        v(i) = mu * v(i) - learning_rate * dx(i);
        x(i) += -mu * v_prev + (1 + mu) * v(i);
      }
    } else {
      xt::noalias(v) = mu * v - learning_rate * dx;  // v ← μ v − lr · dx
      xt::noalias(x) += v;                           // x ← x + v
    }
  });
}

void ReferenceBackend::adagrad_update(View param, ConstView grad, View cache, double lr,
                                      double eps) {
  const char* kernel = "adagrad_update";
  check_state(kernel, param, grad, {{"cache", cache}});
  dispatch_float(param.dtype, kernel, [&]<class T>(T) {
    auto x = flat<T>(param);
    const auto dx = flat<T>(grad);
    auto c = flat<T>(cache);
    xt::noalias(c) += dx * dx;  // cache ← cache + dx²
    xt::noalias(x) -= static_cast<T>(lr) * dx / (xt::sqrt(c) + static_cast<T>(eps));
  });
}

void ReferenceBackend::rmsprop_update(View param, ConstView grad, View cache, double lr,
                                      double decay, double eps) {
  const char* kernel = "rmsprop_update";
  check_state(kernel, param, grad, {{"cache", cache}});
  dispatch_float(param.dtype, kernel, [&]<class T>(T) {
    auto x = flat<T>(param);
    const auto dx = flat<T>(grad);
    auto c = flat<T>(cache);
    const T rho = static_cast<T>(decay);
    xt::noalias(c) = rho * c + (1 - rho) * dx * dx;  // cache ← decay · cache + (1 − decay) · dx²
    xt::noalias(x) -= static_cast<T>(lr) * dx / (xt::sqrt(c) + static_cast<T>(eps));
  });
}

void ReferenceBackend::adam_update(View param, ConstView grad, View m, View v, double lr,
                                   double beta1, double beta2, double eps, std::int64_t t) {
  const char* kernel = "adam_update";
  check_state(kernel, param, grad, {{"m", m}, {"v", v}});
  if (t < 1) fail(kernel, "the step t counts from 1, got " + std::to_string(t));
  dispatch_float(param.dtype, kernel, [&]<class T>(T) {
    auto x = flat<T>(param);
    const auto dx = flat<T>(grad);
    auto first = flat<T>(m);
    auto second = flat<T>(v);
    const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
    // 1 − β is formed in double: in float, 1 − 0.999f is off by 1.3e-5 relative.
    const T one_minus_b1 = static_cast<T>(1 - beta1), one_minus_b2 = static_cast<T>(1 - beta2);
    // The bias corrections 1 − βᵗ, computed in double: β₂ᵗ is close to 1 for small t.
    const T correction1 = static_cast<T>(1 - std::pow(beta1, static_cast<double>(t)));
    const T correction2 = static_cast<T>(1 - std::pow(beta2, static_cast<double>(t)));
    xt::noalias(first) = b1 * first + one_minus_b1 * dx;         // m ← β₁m + (1−β₁)dx
    xt::noalias(second) = b2 * second + one_minus_b2 * dx * dx;  // v ← β₂v + (1−β₂)dx²
    // x ← x − lr · m̂ / (√v̂ + eps) with m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)
    xt::noalias(x) -= static_cast<T>(lr) * (first / correction1) /
                      (xt::sqrt(second / correction2) + static_cast<T>(eps));
  });
}

}  // namespace gradlab
