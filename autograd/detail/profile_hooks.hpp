#pragma once
/// \file autograd/detail/profile_hooks.hpp
/// \brief The two hooks through which the engine reports to a running `gradlab::Profiler`.
///
/// `record` calls `profile_op(op)` when an op has computed its output, and the backward engine
/// wraps the backward pass and each node's backward closure in a `ProfileRange`. When no
/// Profiler runs on the calling thread, each hook costs one thread-local pointer test.
/// The machinery behind them is in autograd/profiler.cpp.

#include <string_view>

namespace gradlab::detail {

struct ProfileState;

/// The Profiler running on this thread, or null (nearly always).
[[gnu::tls_model("initial-exec")]] extern thread_local ProfileState* profile_state;

/// What a timed range is: a forward op, a node's backward, the backward pass, a user's range.
enum class ProfileKind : unsigned char { forward, backward, backward_pass, range };

/// Records the forward of op `op`: from the end of the previous event on this thread to now.
void profile_forward(ProfileState& state, std::string_view op);
/// Opens a range of kind `kind` named `name`; returns its index for `profile_end`.
std::size_t profile_begin(ProfileState& state, ProfileKind kind, std::string_view name);
/// Closes the range `index` opened by `profile_begin`.
void profile_end(ProfileState& state, std::size_t index);

/// The hook in `record`: one pointer test when no Profiler runs.
inline void profile_op(std::string_view op) {
  if (profile_state != nullptr) [[unlikely]]
    profile_forward(*profile_state, op);
}

/// Times the lifetime of this object as a range (a node's backward, the backward pass).
class ProfileRange {
 public:
  /// Opens the range when a Profiler runs on this thread.
  ProfileRange(ProfileKind kind, std::string_view name) : state_(profile_state) {
    if (state_ != nullptr) [[unlikely]]
      index_ = profile_begin(*state_, kind, name);
  }
  /// Closes it.
  ~ProfileRange() {
    if (state_ != nullptr) [[unlikely]]
      profile_end(*state_, index_);
  }
  ProfileRange(const ProfileRange&) = delete;             ///< Not copyable.
  ProfileRange& operator=(const ProfileRange&) = delete;  ///< Not copyable.

 private:
  ProfileState* state_;
  std::size_t index_ = 0;
};

}  // namespace gradlab::detail
