#pragma once
/// \file modules/losses.hpp
/// \brief Deprecated forwarding header: the file moved to modules/nn/losses.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/losses.hpp moved to modules/nn/losses.hpp; include that (this path goes away in the next release)")
#include "modules/nn/losses.hpp"
