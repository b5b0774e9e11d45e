#pragma once
/// \file backends/onednn/onednn_context.hpp
/// \brief Private to the oneDNN backend: the engine and stream, the primitive cache, memory
/// descriptor helpers, and the entry points of the kernel families.
///
/// Nothing outside backends/onednn/ includes this header (it pulls in dnnl.hpp). The backend
/// class in onednn_backend.cpp owns one `Context` and forwards each kernel to a free function
/// declared at the bottom of this file; the functions live in one .cpp per kernel family:
///
/// | file                      | kernels                                                       |
/// |---------------------------|---------------------------------------------------------------|
/// | primitive_cache.cpp       | `Plan`, `PrimitiveCache`, the helpers below                   |
/// | matrix_kernels.cpp        | matmul, linear forward/backward (matmul; bf16: inner_product) |
/// | elementwise_kernels.cpp   | fill, arange, broadcast, transpose, axpby, unary, binary, reduce |
/// | softmax_kernels.cpp       | softmax, log-softmax, fused cross-entropy                    |
/// | batch_norm_kernels.cpp    | batch normalisation (train, inference, backward)             |
/// | optimizer_kernels.cpp     | SGD/momentum/Nesterov, AdaGrad, RMSProp, Adam                |
///
/// The hot path of every primitive-backed kernel is: build a `CacheKey` from the kernel, the
/// shapes and the flags; look up the ready `Plan` (built once: primitive descriptor, primitive,
/// memory objects); point the plan's memory objects at the caller's buffers; execute.

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/backend.hpp"

namespace gradlab::onednn {

/// Below this many elements the elementwise, binary, reduction and transpose kernels run a
/// plain host loop instead of a oneDNN primitive. Executing even a ready primitive costs about
/// 1.3 µs with 2 OpenMP threads (the parallel region is the cost); a 4×4 tanh in a host loop
/// costs tens of nanoseconds. 4096 floats (16 KiB) is where a primitive starts to pay.
inline constexpr std::int64_t kSmallTensorElements = 4096;

/// Host loops over at least this many elements split the work across OpenMP threads.
inline constexpr std::int64_t kParallelHostElements = 1 << 16;

/// The kernels that own cache entries (the first word of every `CacheKey`).
enum class PlanKind : std::int64_t {
  matmul,
  linear_forward,
  linear_backward,
  eltwise_forward,
  eltwise_backward,
  binary,
  reduction,
  transpose,
  softmax_forward,
  softmax_backward,
  batch_norm_train,
  batch_norm_inference,
  batch_norm_backward,
};

/// What identifies a ready plan: the kernel, then every shape, dtype, flag and scalar parameter
/// that went into building its primitives, flattened into 64-bit words.
class CacheKey {
 public:
  /// Starts a key for `kind`.
  explicit CacheKey(PlanKind kind) { words_.push_back(static_cast<std::int64_t>(kind)); }
  /// Appends an integer (a flag, an extent, an enum value).
  CacheKey& add(std::int64_t value) {
    words_.push_back(value);
    return *this;
  }
  /// Appends a shape as its rank followed by its extents, so [2, 3] and [2], [3] differ.
  CacheKey& add_shape(std::span<const std::int64_t> shape);
  /// Appends a floating-point parameter by its bit pattern (alpha of leaky ReLU, eps, ...).
  CacheKey& add_real(double value);

  /// Word-by-word equality.
  bool operator==(const CacheKey& other) const = default;
  /// FNV-1a over the words.
  std::size_t hash() const;

 private:
  std::vector<std::int64_t> words_;
};

/// Hash functor for `CacheKey`, for std::unordered_map.
struct CacheKeyHash {
  /// The key's own hash.
  std::size_t operator()(const CacheKey& key) const { return key.hash(); }
};

/// A ready-to-run recipe: one or more primitives executed in order, the memory objects the
/// caller points at its own buffers on every run ("slots", in the order they were bound), and
/// intermediate buffers the plan owns (for example the bf16 copies of a matrix product's inputs).
class Plan {
 public:
  /// Makes an empty plan whose memory objects live on `engine`.
  explicit Plan(const dnnl::engine& engine) : engine_(engine) {}

  /// Adds a slot: a memory object of layout `md` without storage; `run` points it at the
  /// caller's buffer given in the same position.
  dnnl::memory bind(const dnnl::memory::desc& md);
  /// Adds a slot that ignores the buffer given for it (a wanted-or-not output that is not
  /// wanted in this plan), keeping the positions of the slots after it.
  void skip();
  /// Allocates a buffer of layout `md` owned by the plan (an intermediate result).
  dnnl::memory own(const dnnl::memory::desc& md);
  /// `bind(md)` when `present`, else `skip()` then `own(md)`: for optional inputs and outputs
  /// that a primitive needs anyway.
  dnnl::memory bind_or_own(const dnnl::memory::desc& md, bool present);
  /// Appends a primitive and its arguments (DNNL_ARG_* → memory).
  void add_step(dnnl::primitive primitive, std::unordered_map<int, dnnl::memory> arguments);

  /// Points the slots at `buffers` (one per slot, in binding order; skipped slots may be null)
  /// and executes every step on `stream`, then waits.
  void run(dnnl::stream& stream, std::initializer_list<const void*> buffers) const;

 private:
  struct Step {
    dnnl::primitive primitive;
    std::unordered_map<int, dnnl::memory> arguments;
  };
  dnnl::engine engine_;
  std::vector<dnnl::memory> slots_;  // an empty memory marks a skipped slot
  std::vector<Step> steps_;
};

/// The framework-level primitive cache: `CacheKey` → ready `Plan`. A hit costs one hash of a
/// few words and no oneDNN call. When it holds `capacity` plans it is emptied (shapes in a
/// training loop repeat, so this only happens to programs that sweep through many shapes).
class PrimitiveCache {
 public:
  /// Maximum number of plans kept before the cache starts over.
  static constexpr std::size_t capacity = 4096;

  /// The plan stored under `key`, built by `build()` on a miss. `kernel` names the kernel in the
  /// `gradlab::Error` raised when oneDNN cannot build a primitive.
  std::shared_ptr<const Plan> find_or_build(const CacheKey& key, const char* kernel,
                                            const std::function<Plan()>& build);
  /// Number of plans held.
  std::size_t size() const { return plans_.size(); }

 private:
  std::unordered_map<CacheKey, std::shared_ptr<const Plan>, CacheKeyHash> plans_;
};

/// The state every kernel family shares: one CPU engine and stream, the primitive cache, the
/// reference backend for the kernels oneDNN lacks, and the bf16 decision.
struct Context {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};  ///< The CPU engine.
  dnnl::stream stream{engine};                      ///< An in-order stream on it.
  PrimitiveCache cache;                             ///< Ready plans.
  std::unique_ptr<Backend> reference;               ///< Target of the documented fallbacks.
  bool bf16_hardware = false;  ///< The CPU has AVX512-BF16 or AMX (oneDNN's effective ISA).
  bool force_bf16 = false;     ///< Test override: attempt bf16 even without the hardware.

  /// True when matrix products should compute in bf16: bf16 precision was requested and the
  /// CPU supports it (or the test override is on).
  bool use_bf16() const;
};

// --- helpers shared by the kernel files ---------------------------------------------------

/// oneDNN dims of a shape; a scalar (rank 0) becomes {1} since oneDNN has no rank-0 tensors.
dnnl::memory::dims dims_of(std::span<const std::int64_t> shape);
/// A row-major (dense, last dimension fastest) f32 memory descriptor of `dims`.
dnnl::memory::desc row_major_md(const dnnl::memory::dims& dims,
                                dnnl::memory::data_type type = dnnl::memory::data_type::f32);

/// Raises the backend's float64 error when `dtype` is float64, and a dtype error for anything
/// but float32. `kernel` and `what` ("x", "weight") name the culprit.
void require_float32(const char* kernel, const char* what, DType dtype);
/// Raises an error naming `kernel` and both shapes unless `a` and `b` are equal.
void require_same_shape(const char* kernel, std::span<const std::int64_t> a,
                        std::span<const std::int64_t> b);

/// Runs `body(begin, end)` over [0, count): in one call for small counts, split across the
/// OpenMP threads from `kParallelHostElements` elements on.
void for_each_chunk(std::int64_t count,
                    const std::function<void(std::int64_t, std::int64_t)>& body);

// --- kernel families (one .cpp each) ------------------------------------------------------

void matmul(Context& context, ConstView a, bool transpose_a, ConstView b, bool transpose_b, View c);
void linear_forward(Context& context, ConstView x, ConstView weight, ConstView bias, View y);
void linear_backward(Context& context, ConstView x, ConstView weight, ConstView dy, View dx,
                     View dweight, View dbias);

void fill(View out, double value);
void arange(View out, double start, double step);
void broadcast_to(ConstView in, View out);
void transpose2d(Context& context, ConstView in, View out);
void axpby(double a, ConstView x, double b, View y);
void unary(Context& context, UnaryOp op, ConstView x, View y, double alpha);
void unary_backward(Context& context, UnaryOp op, ConstView x, ConstView y, ConstView dy, View dx,
                    double alpha);
void binary(Context& context, BinaryOp op, ConstView a, ConstView b, View y);
void reduce(Context& context, ReduceOp op, ConstView x, View y);

void softmax(Context& context, ConstView x, View y, bool log);
void softmax_backward(Context& context, ConstView y, ConstView dy, View dx, bool log);
void cross_entropy(Context& context, ConstView scores, ConstView labels, View probabilities,
                   View loss);
void cross_entropy_backward(ConstView probabilities, ConstView labels, double dloss, View dscores);

void batch_norm_train(Context& context, ConstView x, ConstView gamma, ConstView beta, double eps,
                      View y, View mean, View variance);
void batch_norm_inference(Context& context, ConstView x, ConstView gamma, ConstView beta,
                          ConstView running_mean, ConstView running_variance, double eps, View y);
void batch_norm_backward(Context& context, ConstView x, ConstView dy, ConstView gamma,
                         ConstView mean, ConstView variance, double eps, View dx, View dgamma,
                         View dbeta);

void sgd_update(View param, ConstView grad, View velocity, double lr, double momentum,
                bool nesterov, double weight_decay);
void adagrad_update(View param, ConstView grad, View cache, double lr, double eps,
                    double weight_decay);
void rmsprop_update(View param, ConstView grad, View cache, double lr, double alpha, double eps,
                    double weight_decay);
void adam_update(View param, ConstView grad, View m, View v, double lr, double beta1, double beta2,
                 double eps, std::int64_t t, double weight_decay, bool decoupled);

}  // namespace gradlab::onednn
