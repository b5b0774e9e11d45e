#pragma once
/// \file modules/preprocess.hpp
/// \brief Deprecated: moved to modules/data/preprocess.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/preprocess.hpp moved to modules/data/preprocess.hpp")
#include "modules/data/preprocess.hpp"
