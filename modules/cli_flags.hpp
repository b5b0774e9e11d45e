#pragma once
/// \file modules/cli_flags.hpp
/// \brief Deprecated: moved to modules/app/cli_flags.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/cli_flags.hpp moved to modules/app/cli_flags.hpp")
#include "modules/app/cli_flags.hpp"
