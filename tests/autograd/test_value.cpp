// Specification of the scalar nodes `Value` (autograd/value.hpp): the lecture's worked examples,
// every op's derivative against central differences, the engine's accumulation rules, graphs a
// million nodes deep, and micrograd's two-moons demo trained to ≥ 95 % accuracy. The cases are in
// value_engine_cases.inc, shared with the fast engine's test_fast_value.cpp.

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <numbers>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "autograd/value.hpp"
#include "backends/types.hpp"

namespace reading_engine_tests {
using namespace gradlab;
#define VALUE_ENGINE "Value: "
#include "value_engine_cases.inc"
#undef VALUE_ENGINE
}  // namespace reading_engine_tests
