#pragma once
/// \file modules/layers.hpp
/// \brief Deprecated: moved to modules/nn/layers.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/layers.hpp moved to modules/nn/layers.hpp")
#include "modules/nn/layers.hpp"
