#pragma once
/// \file modules/cli.hpp
/// \brief Deprecated forwarding header: the file moved to modules/app/cli.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/cli.hpp moved to modules/app/cli.hpp; include that (this path goes away in the next release)")
#include "modules/app/cli.hpp"
