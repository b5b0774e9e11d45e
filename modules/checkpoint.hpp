#pragma once
/// \file modules/checkpoint.hpp
/// \brief Deprecated forwarding header: the file moved to modules/nn/checkpoint.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/checkpoint.hpp moved to modules/nn/checkpoint.hpp; include that (this path goes away in the next release)")
#include "modules/nn/checkpoint.hpp"
