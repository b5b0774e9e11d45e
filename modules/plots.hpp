#pragma once
/// \file modules/plots.hpp
/// \brief Deprecated forwarding header: the file moved to modules/train/plots.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/plots.hpp moved to modules/train/plots.hpp; include that (this path goes away in the next release)")
#include "modules/train/plots.hpp"
