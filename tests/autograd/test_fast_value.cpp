// The fast scalar engine (autograd/fast/value.hpp) passes the same specification as the one to
// read (test_value.cpp): the cases are in value_engine_cases.inc.

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

#include "autograd/fast/value.hpp"
#include "backends/types.hpp"

namespace fast_engine_tests {
using namespace gradlab::fast;
#define VALUE_ENGINE "fast::Value: "
#include "value_engine_cases.inc"
#undef VALUE_ENGINE
}  // namespace fast_engine_tests
