#pragma once
/// \file modules/trainer.hpp
/// \brief Deprecated: moved to modules/train/trainer.hpp in gradlab 0.2 (see CHANGELOG.md). This
/// forwarding header goes away in the next release.
#pragma message("gradlab: modules/trainer.hpp moved to modules/train/trainer.hpp")
#include "modules/train/trainer.hpp"
