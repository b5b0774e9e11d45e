#pragma once
/// \file modules/data.hpp
/// \brief Deprecated: moved to modules/data/data.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/data.hpp moved to modules/data/data.hpp")
#include "modules/data/data.hpp"
