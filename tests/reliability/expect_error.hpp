#pragma once
// What a call throws, as text, so a test can say which error it expects and a failing check shows
// what really happened: the gradlab::Error message, another exception type (a bug:
// std::out_of_range,
// std::bad_alloc … are not what a user should see), or "no error".

#include <exception>
#include <limits>
#include <string>

#include "backends/types.hpp"

namespace gradlab::testing {

/// A quiet NaN, the bad value the tests feed wherever a number is expected.
inline constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();
/// +∞, the other bad number.
inline constexpr double inf_value = std::numeric_limits<double>::infinity();

/// Runs `call` and describes its outcome: the message of a gradlab::Error, "wrong exception
/// type: <what>" for any other exception, or "no error".
template <class Call>
std::string error_of(Call&& call) {
  try {
    call();
  } catch (const gradlab::Error& error) {
    return error.what();
  } catch (const std::exception& error) {
    return std::string("wrong exception type: ") + error.what();
  }
  return "no error";
}

}  // namespace gradlab::testing
