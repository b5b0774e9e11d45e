#pragma once
/// \file backends/backend.hpp
/// \brief The one list of numeric kernels, and the registry that picks the active backend.
///
/// Every number gradlab computes goes through a `Backend`: the autograd core records graphs and
/// calls these kernels, it never loops over elements itself. A backend sees contiguous row-major
/// buffers (`View`, `ConstView`) and knows nothing of graphs. Two backends exist:
///
/// - `reference` (backends/reference/): written to be read, xtensor expressions that look like
///   the formulas below, f32 and f64;
/// - `onednn` (backends/onednn/): oneDNN 2.6 primitives, f32 (and a bf16 compute mode).
///
/// Choose one with `set_backend("onednn")`, a scoped `BackendGuard`, or the `GRADLAB_BACKEND`
/// environment variable:
/// \code
///   gradlab::BackendGuard guard("reference");   // until the end of the scope
///   Tensor y = gradlab::tanh(x);                 // runs the reference tanh kernel
/// \endcode
///
/// Conventions for every kernel: outputs are preallocated by the caller with the right shape and
/// dtype; all float inputs and outputs of one call share one dtype (labels and argmax are int64);
/// a kernel raises `gradlab::Error` for a dtype it does not support. "Rows" of a tensor are all
/// dimensions but the last, flattened: a [N, C] matrix has N rows of C elements.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backends/types.hpp"

namespace gradlab {

/// Elementwise functions y = f(x; alpha). `alpha` is the op's one scalar parameter.
enum class UnaryOp : std::uint8_t {
  neg,         ///< y = −x
  exp,         ///< y = eˣ
  log,         ///< y = ln x
  sqrt,        ///< y = √x
  pow,         ///< y = x^alpha
  scale,       ///< y = alpha · x
  shift,       ///< y = x + alpha
  sigmoid,     ///< y = σ(x) = 1 / (1 + e^−x)
  tanh,        ///< y = tanh x
  relu,        ///< y = max(0, x)
  leaky_relu,  ///< y = x if x > 0, else alpha · x   (alpha = negative_slope; the lecture uses 0.01)
  elu,         ///< y = x if x > 0, else alpha · (eˣ − 1)
  abs,         ///< y = |x|; y′ = sign(x), 0 at 0 (and at NaN, as PyTorch)
};

/// Name of a unary op, e.g. "tanh".
const char* unary_op_name(UnaryOp op);

/// Elementwise functions of two tensors, with NumPy broadcasting: y = a ∘ b.
enum class BinaryOp : std::uint8_t {
  add,      ///< y = a + b
  sub,      ///< y = a − b
  mul,      ///< y = a · b
  div,      ///< y = a / b
  maximum,  ///< y = max(a, b), NaN when either is
  minimum,  ///< y = min(a, b), NaN when either is
  lt,       ///< y = 1 if a < b, else 0 (a mask in a's dtype; false when either is NaN)
  le,       ///< y = 1 if a ≤ b, else 0
  gt,       ///< y = 1 if a > b, else 0
  ge,       ///< y = 1 if a ≥ b, else 0
  eq,       ///< y = 1 if a = b, else 0
  ne,       ///< y = 1 if a ≠ b, else 0 (true when either is NaN)
};

/// Name of a binary op, e.g. "add".
const char* binary_op_name(BinaryOp op);

/// Reductions along axes.
enum class ReduceOp : std::uint8_t {
  sum,   ///< y = Σ x over the reduced axes
  mean,  ///< y = (1/n) Σ x over the reduced axes (n = number of reduced elements)
  max,   ///< y = max x over the reduced axes (NaN when one of them is)
  min,   ///< y = min x over the reduced axes (NaN when one of them is)
};

/// Name of a reduction, e.g. "sum".
const char* reduce_op_name(ReduceOp op);

/// Compute precision of the matrix products (a mode, not a storage type).
enum class Precision : std::uint8_t {
  f32,   ///< Everything in float32.
  bf16,  ///< Matrix products in bfloat16 with float32 accumulation and float32 master weights.
};

/// The kernel interface. One virtual function per kernel; each comment gives the math.
class Backend {
 public:
  virtual ~Backend() = default;

  /// Short name used by `set_backend`, e.g. "reference".
  virtual std::string name() const = 0;
  /// One line for program headers: implementation details such as the CPU ISA in use.
  virtual std::string description() const = 0;
  /// True when the backend computes in `dtype` (oneDNN: no float64).
  virtual bool supports(DType dtype) const = 0;
  /// The precision the matrix products are really computed in under the requested
  /// `precision()`: bf16 when this backend honours a bf16 request here (the reference backend
  /// emulates it on any CPU, oneDNN needs AVX512-BF16 or AMX), f32 otherwise.
  virtual Precision effective_precision() const = 0;

  // --- filling and copying ------------------------------------------------------------------

  /// out[i] = value.
  virtual void fill(View out, double value) = 0;
  /// out[i] = start + i · step.
  virtual void arange(View out, double start, double step) = 0;
  /// out[i] ~ N(mean, std²), from a counter-based generator: the same seed gives the same
  /// numbers on every backend.
  virtual void random_normal(View out, double mean, double std, std::uint64_t seed) = 0;
  /// out[i] ~ U[low, high), same generator as `random_normal`.
  virtual void random_uniform(View out, double low, double high, std::uint64_t seed) = 0;
  /// out[i] = (float) in[i]: conversion between any two dtypes of the same shape.
  virtual void convert(ConstView in, View out) = 0;
  /// out = in broadcast (NumPy rules) to out's shape: dims of size 1 in `in` repeat.
  virtual void broadcast_to(ConstView in, View out) = 0;
  /// out = inᵀ for a 2-D input: out[j, i] = in[i, j].
  virtual void transpose2d(ConstView in, View out) = 0;
  /// y ← a·x + b·y (both the same shape). Used to accumulate gradients (a = b = 1) and to update
  /// running averages. With b = 0, y is not read (as in BLAS), so NaNs there are overwritten.
  virtual void axpby(double a, ConstView x, double b, View y) = 0;

  // --- elementwise --------------------------------------------------------------------------

  /// y = f(x; alpha) elementwise, f given by `op`.
  virtual void unary(UnaryOp op, ConstView x, View y, double alpha) = 0;
  /// dx = dy · f′(x; alpha): the local gradient times the upstream gradient. `y` = f(x) is given
  /// too because some derivatives are cheaper from the output (σ′ = y(1−y), tanh′ = 1 − y²); a
  /// kernel may read only the one of x and y its derivative needs.
  virtual void unary_backward(UnaryOp op, ConstView x, ConstView y, ConstView dy, View dx,
                              double alpha) = 0;
  /// y = a ∘ b with NumPy broadcasting; y has the broadcast shape.
  virtual void binary(BinaryOp op, ConstView a, ConstView b, View y) = 0;

  // --- reductions ---------------------------------------------------------------------------

  /// y = reduce(x) over every axis where y's extent is 1 and x's is not (y keeps x's rank).
  virtual void reduce(ReduceOp op, ConstView x, View y) = 0;
  /// Backward of a max reduction: dx[i] = dy[r(i)] if x[i] is the first maximum of its group,
  /// else 0 (max routes the gradient to the winner). y is the forward result. It routes to the
  /// first element equal to y (the first NaN when y is NaN), so it is min's backward too.
  virtual void reduce_max_backward(ConstView x, ConstView y, ConstView dy, View dx) = 0;
  /// out[n] = argmax_c x[n, c] over the last axis (int64 output, one per row).
  virtual void argmax(ConstView x, View out) = 0;
  /// out[n] = argmin_c x[n, c] over the last axis: the first smallest, or the first NaN (as
  /// torch.argmin).
  virtual void argmin(ConstView x, View out) = 0;

  // --- indexing and selection (copies; any dtype, int64 included) -------------------------

  /// y = condition ≠ 0 ? a : b elementwise (a NaN condition counts as true); all four have one
  /// shape, and condition has y's dtype.
  virtual void where(ConstView condition, ConstView a, ConstView b, View y) = 0;
  /// Picks entries along `axis`: y[i, j, k] = x[i, indices[j], k], with x seen as
  /// [outer, x extent, inner] and y as [outer, number of indices, inner]. Indices are int64 in
  /// [0, extent of x along axis).
  virtual void index_select(ConstView x, std::int64_t axis, ConstView indices, View y) = 0;
  /// Its backward, a scatter-add: y[i, indices[j], k] += source[i, j, k]. A repeated index adds
  /// every one of its entries.
  virtual void index_add(ConstView source, std::int64_t axis, ConstView indices, View y) = 0;

  // --- matrix products ----------------------------------------------------------------------

  /// C = op(A) · op(B) for 2-D A, B, where op(M) = Mᵀ when the flag is set.
  virtual void matmul(ConstView a, bool transpose_a, ConstView b, bool transpose_b, View c) = 0;
  /// Fully connected layer: y = x · W + b, x [N, D], W [D, M], b [M] (optional), y [N, M].
  virtual void linear_forward(ConstView x, ConstView weight, ConstView bias, View y) = 0;
  /// Its backward: dx = dy · Wᵀ, dW = xᵀ · dy, db = Σ_n dy[n, :]. Absent outputs are skipped.
  virtual void linear_backward(ConstView x, ConstView weight, ConstView dy, View dx, View dweight,
                               View dbias) = 0;

  // --- softmax and losses -------------------------------------------------------------------

  /// Row-wise softmax, y[n, c] = e^{x[n,c] − m_n} / Σ_k e^{x[n,k] − m_n} with m_n = max_k x[n,k]
  /// (the shift keeps e^x finite); with `log`, y = log softmax = x − m − log Σ e^{x − m}.
  virtual void softmax(ConstView x, View y, bool log) = 0;
  /// Its backward from the output y: softmax: dx = y ⊙ (dy − Σ_c dy⊙y); log-softmax:
  /// dx = dy − e^y · Σ_c dy.
  virtual void softmax_backward(ConstView y, ConstView dy, View dx, bool log) = 0;
  /// Fused softmax cross-entropy, mean over the batch:
  /// loss = (1/N) Σ_n −log softmax(s)[n, y_n]. Writes the probabilities p = softmax(s) [N, C]
  /// for the backward and the loss into `loss` (shape [] or [1]). Labels are int64 in [0, C).
  virtual void cross_entropy(ConstView scores, ConstView labels, View probabilities, View loss) = 0;
  /// Its backward: ds = dloss · (p − onehot(y)) / N.
  virtual void cross_entropy_backward(ConstView probabilities, ConstView labels, double dloss,
                                      View dscores) = 0;
  /// Multiclass SVM (hinge) loss, mean over the batch:
  /// loss = (1/N) Σ_n Σ_{j≠y_n} max(0, s[n, j] − s[n, y_n] + margin).
  virtual void svm_loss(ConstView scores, ConstView labels, double margin, View loss) = 0;
  /// Its backward: each positive margin term adds dloss/N to ds[n, j] and subtracts it from
  /// ds[n, y_n].
  virtual void svm_loss_backward(ConstView scores, ConstView labels, double margin, double dloss,
                                 View dscores) = 0;

  // --- layers -------------------------------------------------------------------------------

  /// Batch normalisation in training mode over x [N, C] (per column c):
  /// μ = (1/N) Σ_n x, σ² = (1/N) Σ_n (x − μ)² (biased), x̂ = (x − μ)/√(σ² + eps),
  /// y = γ x̂ + β. Writes y and the batch statistics μ, σ² ([C] each). In all three batch-norm
  /// kernels an absent γ means 1 and an absent β means 0.
  virtual void batch_norm_train(ConstView x, ConstView gamma, ConstView beta, double eps, View y,
                                View mean, View variance) = 0;
  /// Batch normalisation in inference mode: y = γ (x − μ_run)/√(σ²_run + eps) + β.
  virtual void batch_norm_inference(ConstView x, ConstView gamma, ConstView beta,
                                    ConstView running_mean, ConstView running_variance, double eps,
                                    View y) = 0;
  /// Backward of training-mode batch norm (batch statistics μ, σ² from the forward):
  /// dβ = Σ_n dy, dγ = Σ_n dy ⊙ x̂,
  /// dx = γ/√(σ²+eps) · (dy − dβ/N − x̂ ⊙ dγ/N). Absent outputs are skipped.
  virtual void batch_norm_backward(ConstView x, ConstView dy, ConstView gamma, ConstView mean,
                                   ConstView variance, double eps, View dx, View dgamma,
                                   View dbeta) = 0;
  /// Maxout over groups of `pieces` consecutive features: x [N, M·pieces] → y [N, M],
  /// y[n, j] = max_k x[n, j·pieces + k]; writes the winning k (int64) into `argmax` [N, M].
  virtual void maxout(ConstView x, std::int64_t pieces, View y, View argmax) = 0;
  /// Its backward: dx[n, j·pieces + argmax[n, j]] = dy[n, j], all other dx = 0.
  virtual void maxout_backward(ConstView dy, ConstView argmax, std::int64_t pieces, View dx) = 0;
  /// Inverted-dropout mask: mask[i] = 1/(1−p) with probability 1−p, else 0 (same generator and
  /// seed rule as `random_uniform`). Applied by multiplication, so E[mask] = 1.
  virtual void dropout_mask(View mask, double p, std::uint64_t seed) = 0;

  // --- optimiser updates (in place, PyTorch's forms) ---------------------------------------
  //
  // Each takes a weight decay wd ≥ 0, added to the gradient first as PyTorch's optimisers do
  // (coupled L2: g = dx + wd · x); Adam can instead decay the parameter itself (AdamW).

  /// SGD, optionally with momentum μ (velocity v, absent when μ = 0), v in gradient units:
  /// g = dx + wd · x;
  /// plain:    x ← x − lr · g
  /// momentum: v ← μ v + g;  x ← x − lr · v
  /// Nesterov: v ← μ v + g;  x ← x − lr · (g + μ v)
  virtual void sgd_update(View param, ConstView grad, View velocity, double lr, double momentum,
                          bool nesterov, double weight_decay) = 0;
  /// AdaGrad: g = dx + wd · x;  cache ← cache + g²;  x ← x − lr · g / (√cache + eps).
  virtual void adagrad_update(View param, ConstView grad, View cache, double lr, double eps,
                              double weight_decay) = 0;
  /// RMSProp: g = dx + wd · x;  cache ← α · cache + (1 − α) · g²;  x ← x − lr · g / (√cache + eps).
  virtual void rmsprop_update(View param, ConstView grad, View cache, double lr, double alpha,
                              double eps, double weight_decay) = 0;
  /// Adam at step t ≥ 1. Coupled (`decoupled` false): g = dx + wd · x. Decoupled (AdamW): g = dx
  /// and first x ← x · (1 − lr · wd). Then m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
  /// m̂ = m/(1−β₁ᵗ);  v̂ = v/(1−β₂ᵗ);  x ← x − lr · m̂ / (√v̂ + eps).
  virtual void adam_update(View param, ConstView grad, View m, View v, double lr, double beta1,
                           double beta2, double eps, std::int64_t t, double weight_decay,
                           bool decoupled) = 0;
};

// --- the registry ---------------------------------------------------------------------------

/// Makes a backend; registered under a name.
using BackendFactory = std::function<std::unique_ptr<Backend>()>;

/// Registers a backend factory under `name` (the reference backend is always registered; the
/// oneDNN library registers "onednn" when it is linked in).
void register_backend(const std::string& name, BackendFactory factory);

/// Names of the registered backends, e.g. {"onednn", "reference"}.
std::vector<std::string> available_backends();

/// The active backend. On first use it is chosen from the `GRADLAB_BACKEND` environment variable
/// (default "reference"); an unknown name there raises an `Error` listing the known ones.
Backend& backend();

/// The backend registered as `name` (created on first use, then kept). Unknown names raise an
/// `Error` that lists the available backends.
Backend& backend_named(const std::string& name);

/// Makes `name` the active backend for the whole program.
void set_backend(const std::string& name);

/// Makes a backend active for the lifetime of the guard, then restores the previous one.
class BackendGuard {
 public:
  /// Activates the backend registered as `name`.
  explicit BackendGuard(const std::string& name);
  /// Restores the backend that was active before.
  ~BackendGuard();
  BackendGuard(const BackendGuard&) = delete;
  BackendGuard& operator=(const BackendGuard&) = delete;

 private:
  Backend* previous_;
};

/// Sets the compute precision of matrix products. `Precision::bf16` is honoured by the oneDNN
/// backend on CPUs with AVX512-BF16 or AMX (elsewhere it computes f32 and says so in its
/// `description()`), and emulated by the reference backend on every CPU; ask a backend's
/// `effective_precision()` what it really computes.
void set_precision(Precision precision);
/// The requested compute precision.
Precision precision();
/// Parses "f32" or "bf16"; anything else raises an `Error`.
Precision parse_precision(const std::string& text);
/// Name of a precision ("f32", "bf16").
const char* precision_name(Precision precision);

/// Sets the number of threads of the one OpenMP runtime shared by oneDNN and OpenBLAS.
void set_num_threads(int threads);
/// The number of threads in use.
int num_threads();

}  // namespace gradlab
