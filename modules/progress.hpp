#pragma once
/// \file modules/progress.hpp
/// \brief Deprecated: moved to modules/train/progress.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/progress.hpp moved to modules/train/progress.hpp")
#include "modules/train/progress.hpp"
