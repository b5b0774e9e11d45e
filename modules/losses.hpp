#pragma once
/// \file modules/losses.hpp
/// \brief Deprecated: moved to modules/nn/losses.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/losses.hpp moved to modules/nn/losses.hpp")
#include "modules/nn/losses.hpp"
