// libFuzzer target for the IDX loader (MNIST / Fashion-MNIST files): gradlab::data::parse_idx,
// which gunzips a gzip stream first. One input is one whole file, raw or gzipped, exactly as
// data::read_idx reads it from disk; a raw input is also parsed once more wrapped in gzip, and
// both readings must agree (see check_idx in fuzz_checks.hpp).
//
//   ./gradlab fuzz idx 60                      fuzz for a minute, seeds from corpus/idx/
//   build-fuzz/tests/fuzz/fuzz_idx crash-...   replay one input
#include "fuzz/fuzz_checks.hpp"

/// libFuzzer calls this once per input. A gradlab::Error is a refusal and is caught inside
/// check_idx; any other exception, crash or sanitizer report is a bug libFuzzer records.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gradlab::fuzz::check_idx({data, size});
  return 0;
}
