#pragma once
/// \file modules/npy.hpp
/// \brief Deprecated: moved to modules/io/npy.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/npy.hpp moved to modules/io/npy.hpp")
#include "modules/io/npy.hpp"
