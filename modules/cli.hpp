#pragma once
/// \file modules/cli.hpp
/// \brief Deprecated: moved to modules/app/cli.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/cli.hpp moved to modules/app/cli.hpp")
#include "modules/app/cli.hpp"
