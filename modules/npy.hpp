#pragma once
/// \file modules/npy.hpp
/// \brief Deprecated forwarding header: the file moved to modules/io/npy.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/npy.hpp moved to modules/io/npy.hpp; include that (this path goes away in the next release)")
#include "modules/io/npy.hpp"
