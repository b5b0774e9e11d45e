#pragma once
// How many seeds the gradcheck-at-scale tests run per case (tests/autograd and tests/modules):
// 20 in Release builds, 3 in the sanitized build, which runs about 10× slower
// (tests/CMakeLists.txt defines GRADLAB_REDUCED_GRADCHECK_TESTS there).

namespace gradlab::testing {

#ifdef GRADLAB_REDUCED_GRADCHECK_TESTS
inline constexpr int kGradcheckSeeds = 3;
#else
inline constexpr int kGradcheckSeeds = 20;
#endif

}  // namespace gradlab::testing
