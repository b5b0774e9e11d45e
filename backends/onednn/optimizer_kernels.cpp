// Optimiser updates of the oneDNN backend: fused host loops, one pass over the parameter.
//
// Why not primitives: each update is several elementwise steps (Adam: two running averages, two
// bias corrections, a square root, a division). As oneDNN eltwise/binary primitives that is five
// to eight passes over memory and as many primitive executions; one fused loop reads each
// element once. The loops split across OpenMP threads for large parameters, and each is
// vectorised (`omp simd`; the closures copy the pointers and constants, so that the compiler
// knows the stores cannot change the pointers).
#include <cmath>
#include <string>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "backends/onednn/onednn_context.hpp"

namespace gradlab::onednn {
namespace {

/// Checks that `state` (a gradient or an optimiser buffer) is float32 with the parameter's
/// shape.
void require_like_param(const char* kernel, const char* what, ConstView state, View param) {
  require_float32(kernel, what, state.dtype);
  require_same_shape(kernel, state.shape, param.shape);
}

/// Runs the update with flush-to-zero and denormals-are-zero set on this thread, restoring the
/// previous mode after. Multiplying a denormal number (below 1.2e-38) takes a microcode assist
/// many times slower than a multiply: perf on the lecture-2layer bf16 step put half the update's
/// samples on one mulps, and a velocity that only decays (μ v, for a parameter whose gradient
/// stays 0) reaches that range. Such a value counts as 0 instead, which no parameter can notice.
class FlushDenormals {
 public:
#if defined(__x86_64__) || defined(__i386__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero); }
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  static constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;
  unsigned saved_;
#endif
};

}  // namespace

void sgd_update(View param, ConstView grad, View velocity, double lr, double momentum,
                bool nesterov, double weight_decay) {
  constexpr const char* kernel = "sgd_update";
  require_float32(kernel, "param", param.dtype);
  require_like_param(kernel, "grad", grad, param);
  float* x = param.as<float>();
  const float* dx = grad.as<float>();
  const float rate = static_cast<float>(lr), mu = static_cast<float>(momentum),
              wd = static_cast<float>(weight_decay);
  if (momentum == 0.0) {
    // x ← x − lr · (dx + wd · x)
    for_each_chunk(param.numel(), [x, dx, rate, wd](std::int64_t begin, std::int64_t end) {
      FlushDenormals flush;
#pragma omp simd
      for (std::int64_t i = begin; i < end; ++i) x[i] -= rate * (dx[i] + wd * x[i]);
    });
    return;
  }
  if (!velocity) {
    throw Error("onednn backend: sgd_update: momentum " + std::to_string(momentum) +
                " needs a velocity buffer");
  }
  require_like_param(kernel, "velocity", velocity, param);
  float* v = velocity.as<float>();
  // The loop reads the constants from locals, so the compiler knows the stores cannot change
  // them; Nesterov is chosen outside the loop.
  for_each_chunk(param.numel(), [=](std::int64_t begin, std::int64_t end) {
    FlushDenormals flush;
    const float m = mu, r = rate, decay = wd;
    if (nesterov) {
#pragma omp simd
      for (std::int64_t i = begin; i < end; ++i) {
        const float g = dx[i] + decay * x[i];  // g = dx + wd · x
        v[i] = m * v[i] + g;                   // v ← μ v + g (gradient units, as in PyTorch)
        x[i] -= r * (g + m * v[i]);            // Nesterov: x ← x − lr · (g + μ v)
      }
    } else {
#pragma omp simd
      for (std::int64_t i = begin; i < end; ++i) {
        const float g = dx[i] + decay * x[i];
        v[i] = m * v[i] + g;
        x[i] -= r * v[i];  // momentum: x ← x − lr · v
      }
    }
  });
}

void adagrad_update(View param, ConstView grad, View cache, double lr, double eps,
                    double weight_decay) {
  constexpr const char* kernel = "adagrad_update";
  require_float32(kernel, "param", param.dtype);
  require_like_param(kernel, "grad", grad, param);
  require_like_param(kernel, "cache", cache, param);
  float* x = param.as<float>();
  const float* dx = grad.as<float>();
  float* c = cache.as<float>();
  const float rate = static_cast<float>(lr), epsilon = static_cast<float>(eps),
              wd = static_cast<float>(weight_decay);
  for_each_chunk(param.numel(), [=](std::int64_t begin, std::int64_t end) {
    FlushDenormals flush;
#pragma omp simd
    for (std::int64_t i = begin; i < end; ++i) {
      const float g = dx[i] + wd * x[i];               // g = dx + wd · x
      c[i] += g * g;                                   // cache ← cache + g²
      x[i] -= rate * g / (std::sqrt(c[i]) + epsilon);  // x ← x − lr · g / (√cache + eps)
    }
  });
}

void rmsprop_update(View param, ConstView grad, View cache, double lr, double alpha, double eps,
                    double weight_decay) {
  constexpr const char* kernel = "rmsprop_update";
  require_float32(kernel, "param", param.dtype);
  require_like_param(kernel, "grad", grad, param);
  require_like_param(kernel, "cache", cache, param);
  float* x = param.as<float>();
  const float* dx = grad.as<float>();
  float* c = cache.as<float>();
  const float rate = static_cast<float>(lr), rho = static_cast<float>(alpha),
              epsilon = static_cast<float>(eps), wd = static_cast<float>(weight_decay);
  for_each_chunk(param.numel(), [=](std::int64_t begin, std::int64_t end) {
    FlushDenormals flush;
#pragma omp simd
    for (std::int64_t i = begin; i < end; ++i) {
      const float g = dx[i] + wd * x[i];         // g = dx + wd · x
      c[i] = rho * c[i] + (1.0f - rho) * g * g;  // cache ← α cache + (1 − α) g²
      x[i] -= rate * g / (std::sqrt(c[i]) + epsilon);
    }
  });
}

void adam_update(View param, ConstView grad, View m, View v, double lr, double beta1, double beta2,
                 double eps, std::int64_t t, double weight_decay, bool decoupled) {
  constexpr const char* kernel = "adam_update";
  require_float32(kernel, "param", param.dtype);
  require_like_param(kernel, "grad", grad, param);
  require_like_param(kernel, "m", m, param);
  require_like_param(kernel, "v", v, param);
  if (t < 1)
    throw Error("onednn backend: adam_update: step t must be ≥ 1, got " + std::to_string(t));
  float* x = param.as<float>();
  const float* dx = grad.as<float>();
  float* pm = m.as<float>();
  float* pv = v.as<float>();
  const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
  // 1 − β is formed in double: in float, 1 − 0.999f is off by 1.3e-5 relative.
  const float one_minus_b1 = static_cast<float>(1.0 - beta1),
              one_minus_b2 = static_cast<float>(1.0 - beta2);
  // The bias corrections 1/(1 − βᵗ), computed once in double.
  const float correction1 = static_cast<float>(1.0 / (1.0 - std::pow(beta1, double(t))));
  const float correction2 = static_cast<float>(1.0 / (1.0 - std::pow(beta2, double(t))));
  const float rate = static_cast<float>(lr), epsilon = static_cast<float>(eps);
  // Coupled L2 (Adam): g = dx + wd · x. Decoupled (AdamW): x ← x · (1 − lr · wd), g = dx.
  const float coupled = decoupled ? 0.0f : static_cast<float>(weight_decay);
  const float shrink = decoupled ? static_cast<float>(1.0 - lr * weight_decay) : 1.0f;
  for_each_chunk(param.numel(), [=](std::int64_t begin, std::int64_t end) {
    FlushDenormals flush;
#pragma omp simd
    for (std::int64_t i = begin; i < end; ++i) {
      x[i] *= shrink;
      const float g = dx[i] + coupled * x[i];
      pm[i] = b1 * pm[i] + one_minus_b1 * g;      // m ← β₁m + (1−β₁)g
      pv[i] = b2 * pv[i] + one_minus_b2 * g * g;  // v ← β₂v + (1−β₂)g²
      const float m_hat = pm[i] * correction1, v_hat = pv[i] * correction2;
      x[i] -= rate * m_hat / (std::sqrt(v_hat) + epsilon);
    }
  });
}

}  // namespace gradlab::onednn
