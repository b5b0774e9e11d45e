#pragma once
/// \file modules/module.hpp
/// \brief Deprecated forwarding header: the file moved to modules/nn/module.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/module.hpp moved to modules/nn/module.hpp; include that (this path goes away in the next release)")
#include "modules/nn/module.hpp"
