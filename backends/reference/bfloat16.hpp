#pragma once
/// \file backends/reference/bfloat16.hpp
/// \brief bfloat16 rounding, so the reference backend can show what a bf16 matrix product does
/// to its numbers on any CPU.
///
/// A bfloat16 keeps float32's sign and 8-bit exponent but only the top 7 of its 23 fraction
/// bits: 8 significant bits, about 2.4 decimal digits, with float32's whole range. Turning a
/// float32 into a bfloat16 drops the low 16 bits, rounding to nearest with ties to even, as the
/// CPU's conversion instruction does.
///
/// A bf16 matrix product (oneDNN on a CPU with AVX512-BF16 or AMX) rounds both inputs to
/// bfloat16, multiplies them (a product of two 8-bit significands fits a float32 exactly) and
/// accumulates in float32. The reference backend's bf16 mode does exactly that with ordinary
/// float32 arithmetic: round the inputs, then call the float32 gemm. Only the order of the
/// additions differs from the hardware, so the two agree to about 1e-3 relative, while either
/// differs from a float32 product by up to about 2⁻⁸ ≈ 4e-3 relative per input.

#include <bit>
#include <cstdint>
#include <vector>

namespace gradlab::reference {

/// `value` rounded to the nearest bfloat16 (ties to even), returned as a float32. Infinities
/// stay infinite, NaN stays NaN, and values beyond bfloat16's largest finite number become
/// infinite, as in hardware.
inline float round_to_bfloat16(float value) {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it a (quiet) NaN whatever the rounding
    return std::bit_cast<float>((bits | 0x00400000u) & 0xffff0000u);
  }
  // Add just under half of the dropped part's unit, plus one when the kept part is odd: a tie
  // then carries into the kept bits only when that makes them even.
  const std::uint32_t kept_lowest_bit = (bits >> 16) & 1u;
  bits += 0x7fffu + kept_lowest_bit;
  return std::bit_cast<float>(bits & 0xffff0000u);
}

/// A copy of `count` values starting at `data`, each rounded to bfloat16.
inline std::vector<float> rounded_to_bfloat16(const float* data, std::int64_t count) {
  std::vector<float> rounded(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) rounded[i] = round_to_bfloat16(data[i]);
  return rounded;
}

}  // namespace gradlab::reference
