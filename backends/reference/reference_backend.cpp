// The reference backend's identity and factory; the kernels are in the other files of this
// folder (see reference_backend.hpp for the map).
#include "backends/reference/reference_backend.hpp"

#include <cblas.h>

#include <sstream>
#include <xtensor/xtensor_config.hpp>

namespace gradlab {

std::string ReferenceBackend::name() const { return "reference"; }

std::string ReferenceBackend::description() const {
  // openblas_get_config() reads like "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell ...":
  // keep the version, and add the kernel set (core) OpenBLAS picked for this CPU.
  std::istringstream config(openblas_get_config());
  std::string library, version;
  config >> library >> version;
  std::ostringstream text;
  text << "reference (xtensor " << XTENSOR_VERSION_MAJOR << '.' << XTENSOR_VERSION_MINOR << '.'
       << XTENSOR_VERSION_PATCH << " + OpenBLAS " << version << ' ' << openblas_get_corename()
       << ", OpenMP)";
  if (precision() == Precision::bf16) {
    text << ", bf16 emulated (matrix products round their float32 inputs to bfloat16)";
  }
  return text.str();
}

bool ReferenceBackend::supports(DType dtype) const {
  return dtype == DType::float32 || dtype == DType::float64;
}

Precision ReferenceBackend::effective_precision() const { return precision(); }

std::unique_ptr<Backend> make_reference_backend() { return std::make_unique<ReferenceBackend>(); }

namespace {
/// Registers "reference" with the registry when the library is loaded.
[[maybe_unused]] const bool registered = [] {
  register_backend("reference", [] { return make_reference_backend(); });
  return true;
}();
}  // namespace

}  // namespace gradlab
