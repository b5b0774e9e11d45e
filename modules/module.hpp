#pragma once
/// \file modules/module.hpp
/// \brief Deprecated: moved to modules/nn/module.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/module.hpp moved to modules/nn/module.hpp")
#include "modules/nn/module.hpp"
