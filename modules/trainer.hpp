#pragma once
/// \file modules/trainer.hpp
/// \brief Deprecated forwarding header: the file moved to modules/train/trainer.hpp in gradlab 0.2 (see
/// CHANGELOG.md). It goes away in the next release.
#pragma message( \
    "gradlab: modules/trainer.hpp moved to modules/train/trainer.hpp; include that (this path goes away in the next release)")
#include "modules/train/trainer.hpp"
