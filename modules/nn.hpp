#pragma once
/// \file modules/nn.hpp
/// \brief Deprecated forwarding header: the file moved to modules/nn/nn.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/nn.hpp moved to modules/nn/nn.hpp; include that (this path goes away in the next release)")
#include "modules/nn/nn.hpp"
