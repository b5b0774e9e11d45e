#pragma once
/// \file modules/cli_flags.hpp
/// \brief Deprecated forwarding header: the file moved to modules/app/cli_flags.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/cli_flags.hpp moved to modules/app/cli_flags.hpp; include that (this path goes away in the next release)")
#include "modules/app/cli_flags.hpp"
