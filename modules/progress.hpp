#pragma once
/// \file modules/progress.hpp
/// \brief Deprecated forwarding header: the file moved to modules/train/progress.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/progress.hpp moved to modules/train/progress.hpp; include that (this path goes away in the next release)")
#include "modules/train/progress.hpp"
