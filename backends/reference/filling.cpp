// Reference kernels: filling and copying (fill, arange, random_*, convert, broadcast_to,
// transpose2d, axpby).
#include <algorithm>
#include <xtensor/xmanipulation.hpp>

#include "backends/random.hpp"
#include "backends/reference/reference_backend.hpp"
#include "backends/reference/support.hpp"

namespace gradlab {

using namespace reference;

void ReferenceBackend::fill(View out, double value) {
  require_present("fill", "out", out);
  dispatch_any(out.dtype, [&]<class T>(T) { flat<T>(out).fill(static_cast<T>(value)); });
}

void ReferenceBackend::arange(View out, double start, double step) {
  require_present("arange", "out", out);
  dispatch_any(out.dtype, [&]<class T>(T) {
    T* data = out.as<T>();
    for (std::int64_t i = 0; i < out.numel(); ++i) {
      data[i] = static_cast<T>(start + static_cast<double>(i) * step);
    }
  });
}

// Both random kernels and the dropout mask come from the shared counter-based generator, so
// every backend draws the same numbers for the same seed.
void ReferenceBackend::random_normal(View out, double mean, double std, std::uint64_t seed) {
  require_present("random_normal", "out", out);
  random::fill_normal(out, mean, std, seed);
}

void ReferenceBackend::random_uniform(View out, double low, double high, std::uint64_t seed) {
  require_present("random_uniform", "out", out);
  random::fill_uniform(out, low, high, seed);
}

void ReferenceBackend::convert(ConstView in, View out) {
  require_present("convert", "out", out);
  require_shape("convert", "in", in, out.shape);
  dispatch_any(in.dtype, [&]<class From>(From) {
    dispatch_any(out.dtype, [&]<class To>(To) {
      auto output = flat<To>(out);
      xt::noalias(output) = xt::cast<To>(flat<From>(in));
    });
  });
}

void ReferenceBackend::broadcast_to(ConstView in, View out) {
  require_present("broadcast_to", "out", out);
  require_dtype("broadcast_to", "in", in, out.dtype);
  const auto shape = broadcast_shape("broadcast_to", in.shape, out.shape);
  if (!std::equal(shape.begin(), shape.end(), out.shape.begin(), out.shape.end())) {
    fail("broadcast_to",
         "cannot broadcast " + shape_string(in.shape) + " to " + shape_string(out.shape));
  }
  // When `in` (without its leading 1s) is the tail of out's shape, out is copies of `in` laid
  // end to end: the bias pattern [C] → [N, C].
  std::span<const std::int64_t> core = in.shape;
  while (!core.empty() && core.front() == 1) core = core.subspan(1);
  const bool tiles = core.size() <= out.shape.size() &&
                     std::equal(core.begin(), core.end(), out.shape.end() - core.size());
  dispatch_any(out.dtype, [&]<class T>(T) {
    if (tiles) {
      const std::int64_t block = in.numel();
      for (std::int64_t start = 0; start < out.numel(); start += block) {
        std::copy(in.as<T>(), in.as<T>() + block, out.as<T>() + start);
      }
    } else {
      auto output = tensor<T>(out);
      xt::noalias(output) = xt::broadcast(tensor<T>(in), output.shape());
    }
  });
}

void ReferenceBackend::transpose2d(ConstView in, View out) {
  require_rank("transpose2d", "in", in, 2);
  require_dtype("transpose2d", "out", out, in.dtype);
  const Shape transposed{in.shape[1], in.shape[0]};
  require_shape("transpose2d", "out", out, transposed);
  dispatch_any(in.dtype, [&]<class T>(T) {
    auto output = tensor<T>(out);
    xt::noalias(output) = xt::transpose(tensor<T>(in));
  });
}

void ReferenceBackend::axpby(double a, ConstView x, double b, View y) {
  require_present("axpby", "y", y);
  require_dtype("axpby", "x", x, y.dtype);
  require_shape("axpby", "x", x, y.shape);
  dispatch_float(y.dtype, "axpby", [&]<class T>(T) {
    auto input = flat<T>(x);
    auto output = flat<T>(y);
    const T alpha = static_cast<T>(a);
    const T beta = static_cast<T>(b);
    if (b == 0) {
      xt::noalias(output) = alpha * input;  // y is not read: as in BLAS, b = 0 overwrites NaNs
    } else if (b == 1) {
      xt::noalias(output) += alpha * input;  // gradient accumulation, the common case
    } else {
      xt::noalias(output) = alpha * input + beta * output;
    }
  });
}

}  // namespace gradlab
