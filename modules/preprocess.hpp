#pragma once
/// \file modules/preprocess.hpp
/// \brief Deprecated forwarding header: the file moved to modules/data/preprocess.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/preprocess.hpp moved to modules/data/preprocess.hpp; include that (this path goes away in the next release)")
#include "modules/data/preprocess.hpp"
