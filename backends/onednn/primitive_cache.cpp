// The primitive cache, the plans it holds, and the small helpers every oneDNN kernel file uses.
#include <omp.h>

#include <algorithm>
#include <bit>
#include <stdexcept>

#include "backends/onednn/onednn_context.hpp"

namespace gradlab::onednn {

// --- cache keys ---------------------------------------------------------------------------

CacheKey& CacheKey::add_shape(std::span<const std::int64_t> shape) {
  words_.push_back(static_cast<std::int64_t>(shape.size()));
  words_.insert(words_.end(), shape.begin(), shape.end());
  return *this;
}

CacheKey& CacheKey::add_real(double value) {
  words_.push_back(std::bit_cast<std::int64_t>(value));
  return *this;
}

std::size_t CacheKey::hash() const {
  // FNV-1a, one 64-bit word at a time: h ← (h ⊕ word) · prime.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::int64_t word : words_) {
    h ^= static_cast<std::uint64_t>(word);
    h *= 0x100000001b3ULL;
  }
  return static_cast<std::size_t>(h);
}

// --- plans --------------------------------------------------------------------------------

dnnl::memory Plan::bind(const dnnl::memory::desc& md) {
  dnnl::memory memory(md, engine_, DNNL_MEMORY_NONE);
  slots_.push_back(memory);
  return memory;
}

void Plan::skip() { slots_.emplace_back(); }

dnnl::memory Plan::own(const dnnl::memory::desc& md) { return dnnl::memory(md, engine_); }

dnnl::memory Plan::bind_or_own(const dnnl::memory::desc& md, bool present) {
  if (present) return bind(md);
  skip();
  return own(md);
}

void Plan::add_step(dnnl::primitive primitive, std::unordered_map<int, dnnl::memory> arguments) {
  steps_.push_back(Step{std::move(primitive), std::move(arguments)});
}

void Plan::run(dnnl::stream& stream, std::initializer_list<const void*> buffers) const {
  if (buffers.size() != slots_.size()) {
    throw std::logic_error("onednn Plan::run: " + std::to_string(buffers.size()) + " buffers for " +
                           std::to_string(slots_.size()) + " slots");
  }
  auto buffer = buffers.begin();
  for (const dnnl::memory& slot : slots_) {
    // oneDNN only reads or writes through the handle as the primitive's arguments say; the
    // const_cast is the price of one setter for inputs and outputs alike.
    if (slot) slot.set_data_handle(const_cast<void*>(*buffer));
    ++buffer;
  }
  try {
    for (const Step& step : steps_) step.primitive.execute(stream, step.arguments);
    stream.wait();
  } catch (const dnnl::error& error) {
    throw Error(std::string("onednn backend: a primitive failed to execute (") + error.what() +
                ")");
  }
}

// --- the cache ----------------------------------------------------------------------------

std::shared_ptr<const Plan> PrimitiveCache::find_or_build(const CacheKey& key, const char* kernel,
                                                          const std::function<Plan()>& build) {
  if (auto found = plans_.find(key); found != plans_.end()) return found->second;
  if (plans_.size() >= capacity) plans_.clear();
  std::shared_ptr<const Plan> plan;
  try {
    plan = std::make_shared<const Plan>(build());
  } catch (const dnnl::error& error) {
    throw Error(std::string("onednn backend: ") + kernel +
                ": oneDNN could not create the primitive (" + error.what() + ")");
  }
  plans_.emplace(key, plan);
  return plan;
}

// --- context ------------------------------------------------------------------------------

bool Context::use_bf16() const {
  return precision() == Precision::bf16 && (bf16_hardware || force_bf16);
}

// --- helpers ------------------------------------------------------------------------------

dnnl::memory::dims dims_of(std::span<const std::int64_t> shape) {
  if (shape.empty()) return {1};
  return dnnl::memory::dims(shape.begin(), shape.end());
}

dnnl::memory::desc row_major_md(const dnnl::memory::dims& dims, dnnl::memory::data_type type) {
  // Strides of a dense row-major array: the last dimension has stride 1, each earlier one the
  // product of the extents after it.
  dnnl::memory::dims strides(dims.size());
  dnnl::memory::dim stride = 1;
  for (std::size_t i = dims.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= dims[i];
  }
  return dnnl::memory::desc(dims, type, strides);
}

void require_float32(const char* kernel, const char* what, DType dtype) {
  if (dtype == DType::float32) return;
  if (dtype == DType::float64) {
    throw Error(std::string("onednn backend: ") + kernel + ": " + what +
                " is float64, and the onednn backend has no float64; use the reference backend "
                "(BackendGuard(\"reference\")) or float32 tensors");
  }
  throw Error(std::string("onednn backend: ") + kernel + ": " + what + " must be float32, got " +
              dtype_name(dtype));
}

void require_same_shape(const char* kernel, std::span<const std::int64_t> a,
                        std::span<const std::int64_t> b) {
  if (a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin())) return;
  throw Error(std::string("onednn backend: ") + kernel + ": shapes differ, " + shape_string(a) +
              " vs " + shape_string(b));
}

void for_each_chunk(std::int64_t count,
                    const std::function<void(std::int64_t, std::int64_t)>& body) {
  if (count < kParallelHostElements) {
    body(0, count);
    return;
  }
#pragma omp parallel
  {
    const std::int64_t threads = omp_get_num_threads();
    const std::int64_t thread = omp_get_thread_num();
    const std::int64_t begin = count * thread / threads;
    const std::int64_t end = count * (thread + 1) / threads;
    body(begin, end);
  }
}

}  // namespace gradlab::onednn
