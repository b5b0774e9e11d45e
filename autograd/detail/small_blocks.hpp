#pragma once
/// \file autograd/detail/small_blocks.hpp
/// \brief Performance machinery of the tensor graph: a per-thread cache of small memory blocks,
/// an allocator over it, and `BackwardFunction`, a move-only callable that stores small closures
/// inline. Together they make recording an op on small tensors cost no call to `malloc`.
///
/// Nothing here is needed to understand backprop: autograd/node.hpp uses these types as if they
/// were `std::vector` and `std::function`.

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "backends/types.hpp"

namespace gradlab {

class Tensor;
class GradientSink;

namespace detail {

/// A block of at least `bytes` bytes, 64-byte aligned, from this thread's cache of small blocks
/// (the one tensors, nodes and closures are made from). Bigger blocks (tensor data) are kept by
/// exact size too, up to 128 MiB per thread, so that a training loop reuses last step's pages.
void* take_small_block(std::size_t bytes);
/// Returns a block from `take_small_block(bytes)`.
void give_small_block_back(void* block, std::size_t bytes) noexcept;

/// A standard allocator over the small-block cache (for the lists every node keeps).
template <class T>
struct SmallBlockAllocator {
  using value_type = T;  ///< What it allocates.
  SmallBlockAllocator() = default;
  /// Allocators of all element types share the one cache.
  template <class U>
  SmallBlockAllocator(const SmallBlockAllocator<U>&) noexcept {}
  /// Room for `n` objects.
  T* allocate(std::size_t n) { return static_cast<T*>(take_small_block(n * sizeof(T))); }
  /// Gives back the room of `n` objects.
  void deallocate(T* objects, std::size_t n) noexcept {
    give_small_block_back(objects, n * sizeof(T));
  }
  /// Every instance can free what any other allocated.
  template <class U>
  bool operator==(const SmallBlockAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace detail

/// The inputs a node keeps: a `std::vector<Tensor>` whose storage comes from the small-block cache.
using NodeInputs = std::vector<Tensor, detail::SmallBlockAllocator<Tensor>>;

/// Maps the upstream gradient (d loss / d output) to the inputs' gradients: any callable
/// `void(const Tensor& upstream, GradientSink& grads)`, usually a lambda.
///
/// It works like `std::function` (move-only), but a closure of up to `kInlineBytes` (what an
/// elementwise op captures: two tensors and a constant) is stored inside the object, and bigger
/// ones in a block of the small-block cache, so recording an op costs no call to `malloc`.
class BackwardFunction {
 public:
  /// Closures up to this size are stored inline.
  static constexpr std::size_t kInlineBytes = 48;

  /// An empty function (`bool(f)` is false).
  BackwardFunction() noexcept = default;
  /// Wraps `f`, a callable taking `(const Tensor& upstream, GradientSink& grads)`.
  template <class F>
  requires(!std::is_same_v<std::decay_t<F>, BackwardFunction> &&
           std::is_invocable_v<std::decay_t<F>&, const Tensor&, GradientSink&>)
      BackwardFunction(F&& f) {  // NOLINT: implicit, like std::function
    using Callable = std::decay_t<F>;
    static_assert(alignof(Callable) <= 64, "BackwardFunction: over-aligned closure");
    if constexpr (fits_inline<Callable>()) {
      ::new (static_cast<void*>(storage_)) Callable(std::forward<F>(f));
    } else {
      void* block = detail::take_small_block(sizeof(Callable));
      try {
        ::new (block) Callable(std::forward<F>(f));
      } catch (...) {
        detail::give_small_block_back(block, sizeof(Callable));
        throw;
      }
      ::new (static_cast<void*>(storage_)) Callable*(static_cast<Callable*>(block));
    }
    operations_ = &operations_of<Callable>;
  }
  /// Takes `other`'s callable; `other` becomes empty.
  BackwardFunction(BackwardFunction&& other) noexcept { take(other); }
  /// Replaces the callable with `other`'s; `other` becomes empty.
  BackwardFunction& operator=(BackwardFunction&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  BackwardFunction(const BackwardFunction&) = delete;
  BackwardFunction& operator=(const BackwardFunction&) = delete;
  ~BackwardFunction() { reset(); }

  /// Calls the wrapped callable; throws `Error` when empty.
  void operator()(const Tensor& upstream, GradientSink& grads) const {
    if (operations_ == nullptr) throw Error("backward: node has no backward function");
    operations_->call(const_cast<unsigned char*>(storage_), upstream, grads);
  }
  /// True when a callable is wrapped.
  explicit operator bool() const noexcept { return operations_ != nullptr; }

 private:
  struct Operations {
    void (*call)(void* storage, const Tensor& upstream, GradientSink& grads);
    void (*move)(void* from, void* to) noexcept;  // move-constructs into `to`, destroys `from`
    void (*destroy)(void* storage) noexcept;
  };

  template <class Callable>
  static constexpr bool fits_inline() {
    return sizeof(Callable) <= kInlineBytes && alignof(Callable) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<Callable>;
  }
  template <class Callable>
  static Callable& stored(void* storage) noexcept {
    if constexpr (fits_inline<Callable>()) {
      return *std::launder(static_cast<Callable*>(storage));
    } else {
      return **std::launder(static_cast<Callable**>(storage));
    }
  }
  template <class Callable>
  static constexpr Operations operations_of{
      [](void* storage, const Tensor& upstream, GradientSink& grads) {
        stored<Callable>(storage)(upstream, grads);
      },
      [](void* from, void* to) noexcept {
        if constexpr (fits_inline<Callable>()) {
          ::new (to) Callable(std::move(stored<Callable>(from)));
          stored<Callable>(from).~Callable();
        } else {
          ::new (to) Callable*(&stored<Callable>(from));
        }
      },
      [](void* storage) noexcept {
        if constexpr (fits_inline<Callable>()) {
          stored<Callable>(storage).~Callable();
        } else {
          Callable* callable = &stored<Callable>(storage);
          callable->~Callable();
          detail::give_small_block_back(callable, sizeof(Callable));
        }
      }};

  void reset() noexcept {
    if (operations_ != nullptr) operations_->destroy(storage_);
    operations_ = nullptr;
  }
  void take(BackwardFunction& other) noexcept {
    if (other.operations_ == nullptr) return;
    other.operations_->move(other.storage_, storage_);
    operations_ = other.operations_;
    other.operations_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char storage_[kInlineBytes];
  const Operations* operations_ = nullptr;
};

}  // namespace gradlab
