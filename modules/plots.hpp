#pragma once
/// \file modules/plots.hpp
/// \brief Deprecated: moved to modules/train/plots.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/plots.hpp moved to modules/train/plots.hpp")
#include "modules/train/plots.hpp"
