#pragma once
/// \file backends/dtype.hpp
/// \brief Deprecated forwarding header: renamed backends/types.hpp in gradlab 0.2 (it holds
/// Error, DType, Shape, View and ConstView; see CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: backends/dtype.hpp is now backends/types.hpp; include that (this path goes away in the next release)")
#include "backends/types.hpp"
