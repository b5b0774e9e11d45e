#pragma once
/// \file modules/checkpoint.hpp
/// \brief Deprecated: moved to modules/nn/checkpoint.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/checkpoint.hpp moved to modules/nn/checkpoint.hpp")
#include "modules/nn/checkpoint.hpp"
