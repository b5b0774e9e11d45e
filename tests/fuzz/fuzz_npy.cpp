// libFuzzer target for the .npy reader of checkpoints: gradlab::npy::parse and
// npy::parse_header. One input is one whole .npy file; an accepted input must give a tensor
// whose shape, dtype and bytes are what its header declares, and the header read from a prefix
// (as npy::read_header does) must agree (see check_npy in fuzz_checks.hpp).
//
//   ./gradlab fuzz npy 60                      fuzz for a minute, seeds from corpus/npy/
//   build-fuzz/tests/fuzz/fuzz_npy crash-...   replay one input
#include "fuzz/fuzz_checks.hpp"

/// libFuzzer calls this once per input. A gradlab::Error is a refusal and is caught inside
/// check_npy; any other exception, crash or sanitizer report is a bug libFuzzer records.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gradlab::fuzz::check_npy({data, size});
  return 0;
}
