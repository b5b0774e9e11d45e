#pragma once
/// \file modules/init.hpp
/// \brief Deprecated forwarding header: the file moved to modules/nn/init.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/init.hpp moved to modules/nn/init.hpp; include that (this path goes away in the next release)")
#include "modules/nn/init.hpp"
