// libFuzzer target for the checkpoint manifest: gradlab::nn::parse_checkpoint_manifest, the
// parser load_checkpoint runs on manifest.json. One input is the text of one manifest; an
// accepted manifest must survive format → parse unchanged (see check_manifest in
// fuzz_checks.hpp).
//
//   ./gradlab fuzz manifest 60                      fuzz for a minute, seeds from corpus/manifest/
//   build-fuzz/tests/fuzz/fuzz_manifest crash-...   replay one input
#include "fuzz/fuzz_checks.hpp"

/// libFuzzer calls this once per input. A gradlab::Error is a refusal and is caught inside
/// check_manifest; any other exception, crash or sanitizer report is a bug libFuzzer records.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gradlab::fuzz::check_manifest({data, size});
  return 0;
}
