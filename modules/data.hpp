#pragma once
/// \file modules/data.hpp
/// \brief Deprecated forwarding header: the file moved to modules/data/data.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/data.hpp moved to modules/data/data.hpp; include that (this path goes away in the next release)")
#include "modules/data/data.hpp"
