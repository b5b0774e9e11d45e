#pragma once
/// \file autograd/detail/versions.hpp
/// \brief The version counter every storage buffer carries, and the check of saved tensors.
///
/// A tensor's storage is one block: a 64-byte header (`StorageHeader`: the version and the name
/// of the last in-place writer) followed by the data, which keeps its 64-byte alignment. Every
/// handle sharing the data (`detach()`, `reshape`) therefore shares the counter, with no
/// allocation of its own. While the backward engine runs a node's closure it names the node
/// (`BackwardOfNode`); reading a `detach()`ed handle then compares the version it saw with the
/// storage's (`check_saved_version`).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "autograd/tensor.hpp"

namespace gradlab::detail {

/// What each storage block holds in front of its data. Atomic (relaxed), so that threads that
/// write disjoint parts of one tensor through `data<T>()` do not race on the counter.
struct StorageHeader {
  std::atomic<std::uint64_t> version{0};          ///< +1 per in-place write.
  std::atomic<const char*> last_writer{nullptr};  ///< The op of the last write (a literal).
};

/// Bytes in front of the data (one cache line, so the data stays 64-byte aligned).
constexpr std::size_t kStorageHeaderBytes = 64;

/// The header of `impl`'s storage.
inline StorageHeader& header_of(const TensorImpl& impl) {
  return *static_cast<StorageHeader*>(
      static_cast<void*>(static_cast<char*>(impl.storage.get()) - kStorageHeaderBytes));
}

/// A buffer of `bytes` data bytes behind a fresh header (version 0), from the small-block cache.
std::shared_ptr<void> allocate_storage(std::size_t bytes);

/// Raises when a backward closure is running and `impl` (a `detach()`ed handle, i.e. a tensor
/// saved for backward) no longer has the version it was saved at.
void check_saved_version(const TensorImpl& impl);

/// While alive, the backward engine is running the closure of a node of op `op`.
class BackwardOfNode {
 public:
  /// Names `op` as the node whose closure runs now.
  explicit BackwardOfNode(const std::string& op);
  ~BackwardOfNode();
  BackwardOfNode(const BackwardOfNode&) = delete;
  BackwardOfNode& operator=(const BackwardOfNode&) = delete;

 private:
  const std::string* previous_;
};

}  // namespace gradlab::detail
