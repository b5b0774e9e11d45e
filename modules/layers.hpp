#pragma once
/// \file modules/layers.hpp
/// \brief Deprecated forwarding header: the file moved to modules/nn/layers.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/layers.hpp moved to modules/nn/layers.hpp; include that (this path goes away in the next release)")
#include "modules/nn/layers.hpp"
