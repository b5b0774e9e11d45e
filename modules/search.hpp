#pragma once
/// \file modules/search.hpp
/// \brief Deprecated forwarding header: the file moved to modules/train/search.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/search.hpp moved to modules/train/search.hpp; include that (this path goes away in the next release)")
#include "modules/train/search.hpp"
