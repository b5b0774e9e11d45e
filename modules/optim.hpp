#pragma once
/// \file modules/optim.hpp
/// \brief Deprecated forwarding header: the file moved to modules/optim/optim.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/optim.hpp moved to modules/optim/optim.hpp; include that (this path goes away in the next release)")
#include "modules/optim/optim.hpp"
