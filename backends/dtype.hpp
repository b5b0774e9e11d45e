#pragma once
/// \file backends/dtype.hpp
/// \brief Deprecated: renamed backends/types.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: backends/dtype.hpp is now backends/types.hpp")
#include "backends/types.hpp"
