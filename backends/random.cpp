// The counter-based generator: see backends/random.hpp for the algorithm.
#include "backends/random.hpp"

#include <cmath>
#include <numbers>
#include <string>

namespace gradlab::random {
namespace {

constexpr std::uint64_t golden_gamma = 0x9E3779B97F4A7C15ULL;  // 2⁶⁴ / golden ratio, odd
// Xored into the seed to give the normal numbers their own stream, so that a normal tensor and
// a uniform tensor drawn with the same seed are not built from the same uniforms.
constexpr std::uint64_t normal_stream = 0x6A09E667F3BCC909ULL;  // fractional bits of √2

/// The SplitMix64 finaliser: three xor-shift-multiply rounds that spread every input bit over
/// every output bit.
constexpr std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// Fills a float32 or float64 buffer with value(i) for every i, in parallel. Each element depends
/// only on its index, so the result is the same for every thread count.
template <class ValueAt>
void fill_each(View out, const char* what, ValueAt value_at) {
  const std::int64_t n = out.numel();
  if (out.dtype == DType::float32) {
    float* data = out.as<float>();
#pragma omp parallel for schedule(static) if (n > 16384)
    for (std::int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(value_at(i));
  } else if (out.dtype == DType::float64) {
    double* data = out.as<double>();
#pragma omp parallel for schedule(static) if (n > 16384)
    for (std::int64_t i = 0; i < n; ++i) data[i] = value_at(i);
  } else {
    throw Error(std::string(what) + ": output must be float32 or float64, got " +
                dtype_name(out.dtype) + " of shape " + shape_string(out.shape));
  }
}

}  // namespace

std::uint64_t random_bits(std::uint64_t seed, std::uint64_t index) {
  return mix(mix(seed) + (index + 1) * golden_gamma);
}

double uniform01(std::uint64_t seed, std::uint64_t index) {
  return static_cast<double>(random_bits(seed, index) >> 11) * 0x1.0p-53;
}

double standard_normal(std::uint64_t seed, std::uint64_t index) {
  const std::uint64_t stream = seed ^ normal_stream;
  const double u1 = uniform01(stream, 2 * index);
  const double u2 = uniform01(stream, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

void fill_uniform(View out, double low, double high, std::uint64_t seed) {
  if (!(low < high)) {
    throw Error("random_uniform: needs low < high, got [" + std::to_string(low) + ", " +
                std::to_string(high) + ")");
  }
  if (out.dtype == DType::float32) {
    // Rounding to float may turn a value just below `high` into `high` itself; step back one ulp
    // so that the interval stays half-open.
    const float below_high = std::nextafter(static_cast<float>(high), static_cast<float>(low));
    fill_each(out, "random_uniform", [&](std::int64_t i) {
      const float value = static_cast<float>(low + (high - low) * uniform01(seed, i));
      return static_cast<double>(value < static_cast<float>(high) ? value : below_high);
    });
  } else {
    const double below_high = std::nextafter(high, low);
    fill_each(out, "random_uniform", [&](std::int64_t i) {
      const double value = low + (high - low) * uniform01(seed, i);
      return value < high ? value : below_high;
    });
  }
}

void fill_normal(View out, double mean, double std, std::uint64_t seed) {
  if (!(std >= 0.0)) {
    throw Error("random_normal: the standard deviation must be >= 0, got " + std::to_string(std));
  }
  fill_each(out, "random_normal",
            [&](std::int64_t i) { return mean + std * standard_normal(seed, i); });
}

void fill_dropout_mask(View out, double p, std::uint64_t seed) {
  if (!(p >= 0.0 && p < 1.0)) {
    throw Error("dropout_mask: the drop probability p must be in [0, 1), got " + std::to_string(p));
  }
  const double kept = 1.0 / (1.0 - p);
  fill_each(out, "dropout_mask",
            [&](std::int64_t i) { return uniform01(seed, i) >= p ? kept : 0.0; });
}

}  // namespace gradlab::random
