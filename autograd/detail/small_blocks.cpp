// The per-thread cache of small blocks behind tensors, nodes and closures (small_blocks.hpp).
#include "autograd/detail/small_blocks.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>
#include <new>
#include <vector>

namespace gradlab::detail {
namespace {

constexpr std::size_t kAlignment = 64;  // a cache line; what oneDNN and AVX-512 like

// Small blocks are recycled per thread. Every op on small tensors makes and drops a handful of
// small objects (the output's TensorImpl, its buffer, the graph node, the node's input list, a
// closure too big to sit inline and their reference-count blocks), and the C library's allocator
// was the kLargest cost of an op on 4×4 tensors: aligned allocations carve a block out of a bigger
// one and free the rest, and bursts of frees (a whole graph at the end of a step) spill out of its
// per-thread caches. Blocks come in power-of-two size classes from 64 B to 4 KiB, all 64-byte
// aligned; each class keeps up to 4096 free blocks or 1 MiB per thread (6 MiB at most in all),
// enough for the graph of a step on small tensors. Bigger blocks: see take_large below.
class SmallBlockCache {
 public:
  static constexpr std::size_t kLargest = 4096;

  // The size class that holds `bytes` (≤ `kLargest`): 64, 128, ..., 4096 bytes.
  static std::size_t class_bytes(std::size_t bytes) {
    return std::max(kAlignment, std::bit_ceil(bytes));
  }

  void* take(std::size_t class_size) {
    std::vector<void*>& kept = kept_[index(class_size)];
    if (kept.empty()) {
      void* block = std::aligned_alloc(kAlignment, class_size);
      if (block == nullptr) throw std::bad_alloc();
      return block;
    }
    void* block = kept.back();
    kept.pop_back();
    return block;
  }

  void give_back(void* block, std::size_t class_size) noexcept {
    std::vector<void*>& kept = kept_[index(class_size)];
    if (kept.size() < kept.capacity()) {
      kept.push_back(block);  // never reallocates: the capacity is reserved up front
    } else {
      std::free(block);
    }
  }

  // Large blocks (tensor data over 4 KiB) are kept by exact size: a training loop frees and
  // takes the same sizes every step, and a fresh block from the C library is fresh pages from
  // the kernel, each faulted in and zeroed on first touch (the deep-tanh step took ~160,000 page
  // faults per run of gradlab_bench before). Up to kLargeKeptBytes per thread; when a block does
  // not fit, the oldest kept ones go back to the C library first.
  void* take_large(std::size_t bytes) {
    for (std::size_t i = large_.size(); i-- > 0;) {
      if (large_[i].bytes == bytes) {
        void* block = large_[i].block;
        large_bytes_ -= bytes;
        large_.erase(large_.begin() + static_cast<std::ptrdiff_t>(i));
        return block;
      }
    }
    return nullptr;
  }

  bool give_back_large(void* block, std::size_t bytes) noexcept {
    if (bytes > kLargeKeptBytes) return false;
    while (!large_.empty() &&
           (large_bytes_ + bytes > kLargeKeptBytes || large_.size() == large_.capacity())) {
      std::free(large_.front().block);
      large_bytes_ -= large_.front().bytes;
      large_.erase(large_.begin());
    }
    large_.push_back({bytes, block});  // never reallocates: the capacity is reserved up front
    large_bytes_ += bytes;
    return true;
  }

  SmallBlockCache() {
    large_.reserve(kLargeKeptBlocks);
    for (std::size_t i = 0; i < kept_.size(); ++i) {
      kept_[i].reserve(std::min(kKeptBlocksPerClass, kKeptBytesPerClass / (kAlignment << i)));
    }
  }
  SmallBlockCache(const SmallBlockCache&) = delete;
  SmallBlockCache& operator=(const SmallBlockCache&) = delete;
  ~SmallBlockCache();

 private:
  static constexpr std::size_t kKeptBytesPerClass = 1024 * 1024;
  static constexpr std::size_t kKeptBlocksPerClass = 4096;
  static std::size_t index(std::size_t class_size) {
    return static_cast<std::size_t>(std::countr_zero(class_size) - std::countr_zero(kAlignment));
  }
  std::array<std::vector<void*>, 7> kept_;  // 64 B ... 4 KiB
  static constexpr std::size_t kLargeKeptBytes = 128 * 1024 * 1024;
  static constexpr std::size_t kLargeKeptBlocks = 64;
  struct LargeBlock {
    std::size_t bytes;
    void* block;
  };
  std::vector<LargeBlock> large_;  // the most recently given back last
  std::size_t large_bytes_ = 0;
};

// This thread's cache, reached through a plain pointer (the initial-exec TLS model makes that a
// single load, where a thread_local object of a shared library costs a call per access). Null
// before first use and again once the thread's cache is destroyed at thread exit; blocks freed
// after that, by objects that outlive it, go straight back to the C library.
[[gnu::tls_model("initial-exec")]] thread_local SmallBlockCache* this_thread_blocks = nullptr;
[[gnu::tls_model("initial-exec")]] thread_local bool blocks_gone = false;

SmallBlockCache::~SmallBlockCache() {
  for (auto& kept : kept_) {
    for (void* block : kept) std::free(block);
  }
  for (const LargeBlock& kept : large_) std::free(kept.block);
  this_thread_blocks = nullptr;
  blocks_gone = true;
}

[[gnu::noinline]] SmallBlockCache* first_use_of_small_blocks() {
  if (!blocks_gone) {
    thread_local SmallBlockCache cache;
    this_thread_blocks = &cache;
  }
  return this_thread_blocks;
}

// Every small allocation goes through here, so the common case is kept to a load and a test.
inline SmallBlockCache* small_blocks() {
  if (this_thread_blocks == nullptr) [[unlikely]] {
    return first_use_of_small_blocks();
  }
  return this_thread_blocks;
}

}  // namespace

void* take_small_block(std::size_t bytes) {
  SmallBlockCache* cache = small_blocks();
  if (cache != nullptr && bytes <= SmallBlockCache::kLargest)
    return cache->take(SmallBlockCache::class_bytes(bytes));
  const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (cache != nullptr) {
    if (void* kept = cache->take_large(rounded)) return kept;
  }
  void* block = std::aligned_alloc(kAlignment, rounded);
  if (block == nullptr) throw std::bad_alloc();
  return block;
}

void give_small_block_back(void* block, std::size_t bytes) noexcept {
  SmallBlockCache* cache = small_blocks();
  if (cache != nullptr && bytes <= SmallBlockCache::kLargest) {
    cache->give_back(block, SmallBlockCache::class_bytes(bytes));
  } else if (cache == nullptr ||
             !cache->give_back_large(block, (bytes + kAlignment - 1) / kAlignment * kAlignment)) {
    std::free(block);
  }
}

}  // namespace gradlab::detail
