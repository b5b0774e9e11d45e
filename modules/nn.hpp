#pragma once
/// \file modules/nn.hpp
/// \brief Deprecated: moved to modules/nn/nn.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/nn.hpp moved to modules/nn/nn.hpp")
#include "modules/nn/nn.hpp"
