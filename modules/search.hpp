#pragma once
/// \file modules/search.hpp
/// \brief Deprecated: moved to modules/train/search.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/search.hpp moved to modules/train/search.hpp")
#include "modules/train/search.hpp"
