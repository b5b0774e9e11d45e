#pragma once
/// \file modules/init.hpp
/// \brief Deprecated: moved to modules/nn/init.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/init.hpp moved to modules/nn/init.hpp")
#include "modules/nn/init.hpp"
