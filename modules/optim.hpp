#pragma once
/// \file modules/optim.hpp
/// \brief Deprecated: moved to modules/optim/optim.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/optim.hpp moved to modules/optim/optim.hpp")
#include "modules/optim/optim.hpp"
