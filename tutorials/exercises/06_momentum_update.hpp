#pragma once
/// \file tutorials/exercises/06_momentum_update.hpp
/// \brief Exercise 06: one step of SGD with momentum.

#include <vector>

namespace gradlab::exercises {

/// Your update (the task is in 06_momentum_update.cpp): moves the parameters `x` one step with
/// learning rate `lr` and momentum `mu`, given their gradient `dx`, keeping the velocity `v`
/// between calls (it starts at 0).
void momentum_step(std::vector<double>& x, std::vector<double>& v, const std::vector<double>& dx,
                   double lr, double mu);

}  // namespace gradlab::exercises
