// The oneDNN backend class: checks the dtype rules, serialises calls, and forwards each kernel
// to its family file (see onednn_context.hpp) or, for the kernels oneDNN has no primitive for,
// to the shared random generator or the reference backend (table in docs/backends.md).
#include "backends/onednn/onednn_backend.hpp"

#include <cstring>
#include <mutex>
#include <string>

#include "backends/onednn/onednn_context.hpp"
#include "backends/random.hpp"
#include "backends/reference/reference_backend.hpp"

namespace gradlab {
namespace {

/// A readable name of the instruction set oneDNN dispatches to.
const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::all: return "all";
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
  }
  return "unknown";
}

/// True when oneDNN's ISA includes the AVX512-BF16 instructions (the ISA values are nested bit
/// masks: avx512_core_amx contains every bit of avx512_core_bf16).
bool isa_has_bf16(dnnl::cpu_isa isa) {
  const auto bits = static_cast<unsigned>(isa);
  const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (bits & bf16) == bf16;
}

/// The oneDNN backend. Every kernel call takes a mutex: the cached plans' memory objects are
/// re-pointed at the caller's buffers on each call, so two threads must not share a plan at
/// once. The parallelism lives inside the kernels (OpenMP).
class OnednnBackend final : public Backend {
 public:
  explicit OnednnBackend(const OnednnOptions& options) {
    context_.reference = make_reference_backend();
    context_.bf16_hardware = isa_has_bf16(dnnl::get_effective_cpu_isa());
    context_.force_bf16 = options.force_bf16;
  }

  std::string name() const override { return "onednn"; }

  /// "onednn 2.6.3, ISA avx2, f32", plus what happens to a bf16 request.
  std::string description() const override {
    const dnnl_version_t* version = dnnl::version();
    std::string text = "onednn " + std::to_string(version->major) + "." +
                       std::to_string(version->minor) + "." + std::to_string(version->patch) +
                       ", ISA " + isa_name(dnnl::get_effective_cpu_isa()) + ", ";
    if (precision() == Precision::f32) return text + "f32";
    if (context_.use_bf16()) {
      return text + "bf16 matrix products (f32 accumulation)" +
             (context_.bf16_hardware ? "" : " forced without bf16 hardware (test mode)");
    }
    return text + "bf16 requested but not supported by this CPU: computing in f32";
  }

  bool supports(DType dtype) const override { return dtype == DType::float32; }

  Precision effective_precision() const override {
    return context_.use_bf16() ? Precision::bf16 : Precision::f32;
  }

  // --- filling and copying ----------------------------------------------------------------

  void fill(View out, double value) override {
    Lock lock(mutex_);
    onednn::fill(out, value);
  }
  void arange(View out, double start, double step) override {
    Lock lock(mutex_);
    onednn::arange(out, start, step);
  }
  void random_normal(View out, double mean, double std, std::uint64_t seed) override {
    onednn::require_float32("random_normal", "out", out.dtype);
    random::fill_normal(out, mean, std, seed);  // the shared counter-based generator
  }
  void random_uniform(View out, double low, double high, std::uint64_t seed) override {
    onednn::require_float32("random_uniform", "out", out.dtype);
    random::fill_uniform(out, low, high, seed);
  }
  void convert(ConstView in, View out) override {
    refuse_float64("convert", in.dtype);
    refuse_float64("convert", out.dtype);
    if (in.dtype == out.dtype) {
      onednn::require_same_shape("convert", in.shape, out.shape);
      if (in.data != out.data) std::memcpy(out.data, in.data, in.numel() * dtype_size(in.dtype));
      return;
    }
    Lock lock(mutex_);
    context_.reference->convert(in, out);  // float32 ↔ int64: no oneDNN data type for int64
  }
  void broadcast_to(ConstView in, View out) override {
    Lock lock(mutex_);
    onednn::broadcast_to(in, out);
  }
  void transpose2d(ConstView in, View out) override {
    Lock lock(mutex_);
    onednn::transpose2d(context_, in, out);
  }
  void axpby(double a, ConstView x, double b, View y) override {
    Lock lock(mutex_);
    onednn::axpby(a, x, b, y);
  }

  // --- elementwise ------------------------------------------------------------------------

  void unary(UnaryOp op, ConstView x, View y, double alpha) override {
    Lock lock(mutex_);
    onednn::unary(context_, op, x, y, alpha);
  }
  void unary_backward(UnaryOp op, ConstView x, ConstView y, ConstView dy, View dx,
                      double alpha) override {
    Lock lock(mutex_);
    onednn::unary_backward(context_, op, x, y, dy, dx, alpha);
  }
  void binary(BinaryOp op, ConstView a, ConstView b, View y) override {
    Lock lock(mutex_);
    onednn::binary(context_, op, a, b, y);
  }

  // --- reductions -------------------------------------------------------------------------

  void reduce(ReduceOp op, ConstView x, View y) override {
    Lock lock(mutex_);
    onednn::reduce(context_, op, x, y);
  }
  void reduce_max_backward(ConstView x, ConstView y, ConstView dy, View dx) override {
    onednn::require_float32("reduce_max_backward", "x", x.dtype);
    Lock lock(mutex_);
    context_.reference->reduce_max_backward(x, y, dy, dx);  // no primitive routes to the winner
  }
  void argmax(ConstView x, View out) override {
    onednn::require_float32("argmax", "x", x.dtype);
    Lock lock(mutex_);
    context_.reference->argmax(x, out);  // reduction_max gives the value, not the index
  }
  void argmin(ConstView x, View out) override {
    onednn::require_float32("argmin", "x", x.dtype);
    Lock lock(mutex_);
    context_.reference->argmin(x, out);  // reduction_min gives the value, not the index
  }

  // --- indexing and selection: copies, no arithmetic; float32 and int64 ---------------------

  void where(ConstView condition, ConstView a, ConstView b, View y) override {
    refuse_float64("where", y.dtype);
    Lock lock(mutex_);
    context_.reference->where(condition, a, b, y);  // no select primitive in oneDNN 2.6
  }
  void index_select(ConstView x, std::int64_t axis, ConstView indices, View y) override {
    refuse_float64("index_select", x.dtype);
    Lock lock(mutex_);
    context_.reference->index_select(x, axis, indices, y);  // no gather primitive in oneDNN 2.6
  }
  void index_add(ConstView source, std::int64_t axis, ConstView indices, View y) override {
    refuse_float64("index_add", y.dtype);
    Lock lock(mutex_);
    context_.reference->index_add(source, axis, indices, y);  // nor a scatter-add
  }

  // --- matrix products --------------------------------------------------------------------

  void matmul(ConstView a, bool transpose_a, ConstView b, bool transpose_b, View c) override {
    Lock lock(mutex_);
    onednn::matmul(context_, a, transpose_a, b, transpose_b, c);
  }
  void linear_forward(ConstView x, ConstView weight, ConstView bias, View y) override {
    Lock lock(mutex_);
    onednn::linear_forward(context_, x, weight, bias, y);
  }
  void linear_backward(ConstView x, ConstView weight, ConstView dy, View dx, View dweight,
                       View dbias) override {
    Lock lock(mutex_);
    onednn::linear_backward(context_, x, weight, dy, dx, dweight, dbias);
  }

  // --- softmax and losses -----------------------------------------------------------------

  void softmax(ConstView x, View y, bool log) override {
    Lock lock(mutex_);
    onednn::softmax(context_, x, y, log);
  }
  void softmax_backward(ConstView y, ConstView dy, View dx, bool log) override {
    Lock lock(mutex_);
    onednn::softmax_backward(context_, y, dy, dx, log);
  }
  void cross_entropy(ConstView scores, ConstView labels, View probabilities, View loss) override {
    Lock lock(mutex_);
    onednn::cross_entropy(context_, scores, labels, probabilities, loss);
  }
  void cross_entropy_backward(ConstView probabilities, ConstView labels, double dloss,
                              View dscores) override {
    onednn::cross_entropy_backward(probabilities, labels, dloss, dscores);
  }
  void svm_loss(ConstView scores, ConstView labels, double margin, View loss) override {
    onednn::require_float32("svm_loss", "scores", scores.dtype);
    Lock lock(mutex_);
    context_.reference->svm_loss(scores, labels, margin, loss);  // no hinge-loss primitive
  }
  void svm_loss_backward(ConstView scores, ConstView labels, double margin, double dloss,
                         View dscores) override {
    onednn::require_float32("svm_loss_backward", "scores", scores.dtype);
    Lock lock(mutex_);
    context_.reference->svm_loss_backward(scores, labels, margin, dloss, dscores);
  }

  // --- layers -----------------------------------------------------------------------------

  void batch_norm_train(ConstView x, ConstView gamma, ConstView beta, double eps, View y, View mean,
                        View variance) override {
    Lock lock(mutex_);
    onednn::batch_norm_train(context_, x, gamma, beta, eps, y, mean, variance);
  }
  void batch_norm_inference(ConstView x, ConstView gamma, ConstView beta, ConstView running_mean,
                            ConstView running_variance, double eps, View y) override {
    Lock lock(mutex_);
    onednn::batch_norm_inference(context_, x, gamma, beta, running_mean, running_variance, eps, y);
  }
  void batch_norm_backward(ConstView x, ConstView dy, ConstView gamma, ConstView mean,
                           ConstView variance, double eps, View dx, View dgamma,
                           View dbeta) override {
    Lock lock(mutex_);
    onednn::batch_norm_backward(context_, x, dy, gamma, mean, variance, eps, dx, dgamma, dbeta);
  }
  void maxout(ConstView x, std::int64_t pieces, View y, View argmax) override {
    onednn::require_float32("maxout", "x", x.dtype);
    Lock lock(mutex_);
    context_.reference->maxout(x, pieces, y, argmax);  // pooling cannot return the argmax
  }
  void maxout_backward(ConstView dy, ConstView argmax, std::int64_t pieces, View dx) override {
    onednn::require_float32("maxout_backward", "dy", dy.dtype);
    Lock lock(mutex_);
    context_.reference->maxout_backward(dy, argmax, pieces, dx);
  }
  void dropout_mask(View mask, double p, std::uint64_t seed) override {
    onednn::require_float32("dropout_mask", "mask", mask.dtype);
    random::fill_dropout_mask(mask, p, seed);  // no RNG primitive in oneDNN
  }

  // --- optimiser updates ------------------------------------------------------------------

  void sgd_update(View param, ConstView grad, View velocity, double lr, double momentum,
                  bool nesterov, double weight_decay) override {
    onednn::sgd_update(param, grad, velocity, lr, momentum, nesterov, weight_decay);
  }
  void adagrad_update(View param, ConstView grad, View cache, double lr, double eps,
                      double weight_decay) override {
    onednn::adagrad_update(param, grad, cache, lr, eps, weight_decay);
  }
  void rmsprop_update(View param, ConstView grad, View cache, double lr, double alpha, double eps,
                      double weight_decay) override {
    onednn::rmsprop_update(param, grad, cache, lr, alpha, eps, weight_decay);
  }
  void adam_update(View param, ConstView grad, View m, View v, double lr, double beta1,
                   double beta2, double eps, std::int64_t t, double weight_decay,
                   bool decoupled) override {
    onednn::adam_update(param, grad, m, v, lr, beta1, beta2, eps, t, weight_decay, decoupled);
  }

 private:
  using Lock = std::lock_guard<std::mutex>;

  /// The float64 refusal for kernels whose other dtypes are free (convert).
  static void refuse_float64(const char* kernel, DType dtype) {
    if (dtype == DType::float64) onednn::require_float32(kernel, "a buffer", dtype);
  }

  std::mutex mutex_;
  onednn::Context context_;
};

/// Registers "onednn" with the registry when the library is loaded.
[[maybe_unused]] const bool registered = [] {
  register_backend("onednn", [] { return make_onednn_backend(); });
  return true;
}();

}  // namespace

std::unique_ptr<Backend> make_onednn_backend() { return make_onednn_backend(OnednnOptions{}); }

std::unique_ptr<Backend> make_onednn_backend(const OnednnOptions& options) {
  return std::make_unique<OnednnBackend>(options);
}

}  // namespace gradlab
