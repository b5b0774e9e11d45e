// libFuzzer target for the CIFAR-10 loader: gradlab::data::parse_cifar10. One input is the
// contents of one batch file (records of 1 label byte + 3,072 pixel bytes); an accepted input
// must give exactly its records back (see check_cifar10 in fuzz_checks.hpp).
//
//   ./gradlab fuzz cifar10 60                      fuzz for a minute, seeds from corpus/cifar10/
//   build-fuzz/tests/fuzz/fuzz_cifar10 crash-...   replay one input
#include "fuzz/fuzz_checks.hpp"

/// libFuzzer calls this once per input. A gradlab::Error is a refusal and is caught inside
/// check_cifar10; any other exception, crash or sanitizer report is a bug libFuzzer records.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gradlab::fuzz::check_cifar10({data, size});
  return 0;
}
