#pragma once
/// \file backends/random.hpp
/// \brief The counter-based random number generator shared by every backend.
///
/// gradlab promises that the same seed gives the same numbers on every backend and for every
/// number of threads. A sequential generator (draw, update state, draw again) cannot keep that
/// promise cheaply once threads split the work, so this one is *counter-based*: the value of
/// element i is a pure function of (seed, i). Any thread may compute any element, in any order.
///
/// The algorithm, in three steps:
///
/// 1. **Bits.** `random_bits(seed, i)` is the (i+1)-th output of SplitMix64 (Steele, Lea and
///    Flood, "Fast splittable pseudorandom number generators", 2014) started from the state
///    mix(seed): bits = mix(mix(seed) + (i + 1) · γ), with γ = 0x9E3779B97F4A7C15 (2⁶⁴ divided by
///    the golden ratio) and mix the SplitMix64 finaliser, three xor-shift-multiply rounds
///    z ← (z ⊕ z≫30) · 0xBF58476D1CE4E5B9, z ← (z ⊕ z≫27) · 0x94D049BB133111EB, z ← z ⊕ z≫31.
///    SplitMix64 jumps to its i-th output in O(1), which is what makes it counter-based; mixing
///    the seed first gives nearby seeds unrelated streams.
/// 2. **Uniform.** `uniform01(seed, i)` keeps the top 53 bits: u = (bits ≫ 11) · 2⁻⁵³ ∈ [0, 1),
///    every double in that grid equally likely.
/// 3. **Normal.** `standard_normal(seed, i)` uses Box–Muller on two uniforms of a second stream
///    (counters 2i and 2i + 1 of seed ⊕ a fixed constant):
///    z = √(−2 ln(1 − u₁)) · cos(2π u₂), which is N(0, 1); 1 − u₁ ∈ (0, 1] keeps the log finite.
///
/// Everything is computed in double precision and rounded once to the output dtype, so float32
/// and float64 buffers filled with the same seed agree to float32 precision.
///
/// Kernels use the `fill_*` functions, which take a `View` (float32 or float64) and fill it in
/// parallel with OpenMP:
/// \code
///   std::vector<float> weights(784 * 100);
///   gradlab::Shape shape{784, 100};
///   gradlab::random::fill_normal({weights.data(), shape, gradlab::DType::float32}, 0.0, 0.01, 42);
/// \endcode

#include <cstdint>

#include "backends/types.hpp"

namespace gradlab::random {

/// 64 well-mixed bits that depend only on (seed, index): the SplitMix64 finaliser of the pair.
std::uint64_t random_bits(std::uint64_t seed, std::uint64_t index);

/// A uniform number in [0, 1) from the top 53 bits of `random_bits(seed, index)`.
double uniform01(std::uint64_t seed, std::uint64_t index);

/// A standard normal number (mean 0, standard deviation 1) by Box–Muller:
/// z = √(−2 ln(1 − u₁)) · cos(2π u₂) with u₁, u₂ two uniforms of the normal stream of `seed`.
double standard_normal(std::uint64_t seed, std::uint64_t index);

/// out[i] = low + (high − low) · uniform01(seed, i), kept strictly below `high` after rounding
/// to the output dtype. float32 or float64; other dtypes raise `Error`.
void fill_uniform(View out, double low, double high, std::uint64_t seed);

/// out[i] = mean + std · standard_normal(seed, i). float32 or float64; other dtypes raise
/// `Error`.
void fill_normal(View out, double mean, double std, std::uint64_t seed);

/// Inverted-dropout mask: out[i] = 1/(1 − p) when uniform01(seed, i) ≥ p (kept, probability
/// 1 − p), else 0. Uses the same uniform stream as `fill_uniform`, so E[out[i]] = 1.
/// Needs 0 ≤ p < 1; float32 or float64.
void fill_dropout_mask(View out, double p, std::uint64_t seed);

}  // namespace gradlab::random
