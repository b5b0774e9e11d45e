// Preprocessing transforms: statistics in double precision from the training split, application
// through tensor ops (so it runs on the active backend), and one symmetric eigensolver (LAPACK).
#include "modules/data/preprocess.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>

#include <omp.h>

#include "autograd/ops.hpp"

// LAPACK's divide-and-conquer symmetric eigensolver, from the OpenBLAS that the core links. Debian
// ships no LAPACKE header for the OpenMP build, so the Fortran symbol is declared here: every
// argument by pointer, column-major storage, and the hidden lengths of the two character
// arguments that gfortran appends.
extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda,
                        double* w, double* work, const int* lwork, int* iwork, const int* liwork,
                        int* info, std::size_t jobz_length, std::size_t uplo_length);
// OpenBLAS's own thread count (its OpenMP build also sets OpenMP's count for the calling thread).
extern "C" int openblas_get_num_threads(void);
extern "C" void openblas_set_num_threads(int threads);

namespace gradlab::data {
namespace {

/// Per-feature mean μ_j = (1/N) Σᵢ x_ij, accumulated in double.
std::vector<double> feature_means(const Tensor& x) {
  const std::int64_t n = x.size(0), d = x.size(1);
  const float* data = x.const_data<float>();
  std::vector<double> mean(static_cast<std::size_t>(d), 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) mean[j] += data[i * d + j];
  for (double& m : mean) m /= static_cast<double>(n);
  return mean;
}

/// A 1-D float32 tensor holding `values`.
Tensor vector_tensor(const std::vector<double>& values) {
  Tensor result = Tensor::empty({static_cast<std::int64_t>(values.size())}, DType::float32);
  float* out = result.data<float>();
  for (std::size_t i = 0; i < values.size(); ++i) out[i] = static_cast<float>(values[i]);
  return result;
}

/// Eigen-decomposition of the symmetric n × n matrix `matrix` (row-major, which for a symmetric
/// matrix is also column-major): on return `matrix` holds the eigenvectors — eigenvector c in
/// the n consecutive entries starting at c · n — and the result holds the eigenvalues, ascending.
///
/// LAPACK runs on one thread here: the eigensolver spends its time in thousands of small
/// matrix–vector products, and splitting each across threads costs more in synchronisation than
/// it gains (measured for D = 784 on a busy 2-core machine: 20 s with 2 threads, 0.5 s with 1).
/// Both OpenBLAS's and OpenMP's thread counts are restored afterwards.
std::vector<double> symmetric_eigen(std::vector<double>& matrix, int n) {
  struct SingleThreadedBlas {
    int blas_threads = openblas_get_num_threads();
    int omp_threads = omp_get_max_threads();
    SingleThreadedBlas() { openblas_set_num_threads(1); }
    ~SingleThreadedBlas() {
      openblas_set_num_threads(blas_threads);
      omp_set_num_threads(omp_threads);
    }
  } single_threaded;
  std::vector<double> eigenvalues(static_cast<std::size_t>(n));
  const char jobz = 'V', uplo = 'L';
  int info = 0;
  // Workspace query first (lwork = liwork = −1), then the real call.
  int lwork = -1, liwork = -1, iwork_size = 0;
  double work_size = 0;
  dsyevd_(&jobz, &uplo, &n, matrix.data(), &n, eigenvalues.data(), &work_size, &lwork, &iwork_size,
          &liwork, &info, 1, 1);
  if (info != 0)
    throw Error(fmt::format("PCA: LAPACK dsyevd workspace query failed (info {})", info));
  lwork = static_cast<int>(work_size);
  liwork = iwork_size;
  std::vector<double> work(static_cast<std::size_t>(std::max(lwork, 1)));
  std::vector<int> iwork(static_cast<std::size_t>(std::max(liwork, 1)));
  dsyevd_(&jobz, &uplo, &n, matrix.data(), &n, eigenvalues.data(), work.data(), &lwork,
          iwork.data(), &liwork, &info, 1, 1);
  if (info != 0)
    throw Error(
        fmt::format("PCA: LAPACK dsyevd failed on the {}×{} covariance (info {})", n, n, info));
  return eigenvalues;
}

}  // namespace

// --- Transform ----------------------------------------------------------------------------

Tensor Transform::fit_apply(const Tensor& train) {
  fit(train);
  return apply(train);
}

void Transform::begin_fit(const Tensor& train, const char* op) {
  features_ = 0;  // unfitted until end_fit: a fit that fails half-way leaves nothing to apply
  if (!train.defined() || train.dtype() != DType::float32 || train.dim() != 2 ||
      train.size(0) < 1 || train.size(1) < 1)
    throw Error(fmt::format(
        "{}::fit: needs float32 training images [N, D] with N, D ≥ 1; got {}", op,
        train.defined()
            ? fmt::format("{} {}", dtype_name(train.dtype()), shape_string(train.shape()))
            : std::string("an undefined tensor")));
  // Statistics fitted on a NaN or inf would poison every split they are applied to, silently.
  const float* values = train.const_data<float>();
  const std::int64_t columns = train.size(1);
  for (std::int64_t i = 0; i < train.numel(); ++i) {
    if (!std::isfinite(values[i]))
      throw Error(
          fmt::format("{}::fit: the training images hold {} at example {}, feature {} (of {}); "
                      "fit on finite data",
                      op, values[i], i / columns, i % columns, shape_string(train.shape())));
  }
}

void Transform::end_fit(const Tensor& train) { features_ = train.size(1); }

void Transform::check_apply(const Tensor& x, const char* op) const {
  if (!fitted())
    throw Error(fmt::format("{}::apply: called before fit(); fit on the training split first", op));
  if (!x.defined() || x.dtype() != DType::float32 || x.dim() != 2 || x.size(1) != features_)
    throw Error(fmt::format(
        "{}::apply: needs float32 [M, {}] (the D seen by fit); got {}", op, features_,
        x.defined() ? fmt::format("{} {}", dtype_name(x.dtype()), shape_string(x.shape()))
                    : std::string("an undefined tensor")));
}

// --- MeanImage ----------------------------------------------------------------------------

void MeanImage::fit(const Tensor& train) {
  begin_fit(train, "MeanImage");
  mean_ = vector_tensor(feature_means(train));
  end_fit(train);
}

Tensor MeanImage::apply(const Tensor& x) const {
  check_apply(x, "MeanImage");
  return x - mean_;
}

// --- ChannelMean --------------------------------------------------------------------------

ChannelMean::ChannelMean(ImageShape shape) : shape_(shape) {
  if (shape.channels < 1 || shape.height < 1 || shape.width < 1)
    throw Error(fmt::format("ChannelMean: image shape {} has an empty extent", shape.to_string()));
}

void ChannelMean::fit(const Tensor& train) {
  begin_fit(train, "ChannelMean");
  if (train.size(1) != shape_.features())
    throw Error(fmt::format(
        "ChannelMean::fit: images of {} have {} features, the training "
        "images {} have {}",
        shape_.to_string(), shape_.features(), shape_string(train.shape()), train.size(1)));
  // μ_c = (1 / (N·H·W)) Σ over examples and pixels of channel c: the mean of the per-feature
  // means of that channel's features.
  const std::vector<double> means = feature_means(train);
  const std::int64_t plane = shape_.height * shape_.width;
  channel_means_.assign(static_cast<std::size_t>(shape_.channels), 0.0);
  for (std::int64_t c = 0; c < shape_.channels; ++c) {
    for (std::int64_t p = 0; p < plane; ++p) channel_means_[c] += means[c * plane + p];
    channel_means_[c] /= static_cast<double>(plane);
  }
  std::vector<double> repeated(means.size());
  for (std::size_t j = 0; j < repeated.size(); ++j)
    repeated[j] = channel_means_[j / static_cast<std::size_t>(plane)];
  per_feature_ = vector_tensor(repeated);
  end_fit(train);
}

Tensor ChannelMean::apply(const Tensor& x) const {
  check_apply(x, "ChannelMean");
  return x - per_feature_;
}

// --- Standardize --------------------------------------------------------------------------

Standardize::Standardize(double min_std) : min_std_(min_std) {
  if (!(min_std >= 0)) throw Error(fmt::format("Standardize: min_std {} must be ≥ 0", min_std));
}

void Standardize::fit(const Tensor& train) {
  begin_fit(train, "Standardize");
  const std::vector<double> mean = feature_means(train);
  // σ_j² = (1/N) Σᵢ (x_ij − μ_j)², a second pass (more accurate than E[x²] − μ²).
  const std::int64_t n = train.size(0), d = train.size(1);
  const float* data = train.const_data<float>();
  std::vector<double> scale(mean.size(), 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) {
      const double centred = data[i * d + j] - mean[j];
      scale[j] += centred * centred;
    }
  for (double& s : scale) {
    s = std::sqrt(s / static_cast<double>(n));
    if (s < min_std_ || s == 0) s = 1.0;  // never divide by 0
  }
  mean_ = vector_tensor(mean);
  scale_ = vector_tensor(scale);
  end_fit(train);
}

Tensor Standardize::apply(const Tensor& x) const {
  check_apply(x, "Standardize");
  return (x - mean_) / scale_;
}

// --- PCA ----------------------------------------------------------------------------------

PCA::PCA(std::int64_t components) : k_(components) {
  if (components < 1)
    throw Error(fmt::format("PCA: the number of components must be ≥ 1, got {}", components));
}

void PCA::fit(const Tensor& train) {
  begin_fit(train, "PCA");
  const std::int64_t n = train.size(0), d = train.size(1);
  if (k_ > d)
    throw Error(fmt::format("PCA::fit: cannot keep {} components of {}-dimensional data {}", k_, d,
                            shape_string(train.shape())));
  if (d > 46340)  // d² must fit in LAPACK's 32-bit int
    throw Error(
        fmt::format("PCA::fit: {} features is more than LAPACK's 32-bit indexing allows", d));
  mean_ = vector_tensor(feature_means(train));

  // Σ = (1/N) X̃ᵀ X̃ with X̃ = X − μ: one matrix product through the active backend.
  const Tensor centred = train - mean_;
  const Tensor gram = matmul(transpose(centred), centred);
  const float* gram_data = gram.const_data<float>();
  std::vector<double> covariance(static_cast<std::size_t>(d * d));
  for (std::int64_t r = 0; r < d; ++r)
    for (std::int64_t c = 0; c < d; ++c)  // symmetrise the float round-off
      covariance[r * d + c] = 0.5 * (double{gram_data[r * d + c]} + double{gram_data[c * d + r]}) /
                              static_cast<double>(n);

  const std::vector<double> ascending = symmetric_eigen(covariance, static_cast<int>(d));
  eigenvalues_.assign(ascending.rbegin(), ascending.rend());
  for (double& lambda : eigenvalues_) lambda = std::max(lambda, 0.0);

  // Column c of U_k is the eigenvector of the c-th largest eigenvalue, i.e. LAPACK's vector
  // d − 1 − c, with its sign fixed so that its largest-magnitude entry is positive.
  components_ = Tensor::empty({d, k_}, DType::float32);
  float* u = components_.data<float>();
  for (std::int64_t c = 0; c < k_; ++c) {
    const double* vector = covariance.data() + (d - 1 - c) * d;
    std::int64_t largest = 0;
    for (std::int64_t j = 1; j < d; ++j)
      if (std::abs(vector[j]) > std::abs(vector[largest])) largest = j;
    const double sign = vector[largest] < 0 ? -1.0 : 1.0;
    for (std::int64_t j = 0; j < d; ++j) u[j * k_ + c] = static_cast<float>(sign * vector[j]);
  }
  end_fit(train);
}

Tensor PCA::apply(const Tensor& x) const {
  check_apply(x, "PCA");
  return matmul(x - mean_, components_);
}

double PCA::explained_variance_ratio() const {
  if (!fitted()) throw Error("PCA::explained_variance_ratio: called before fit()");
  double kept = 0, total = 0;
  for (std::size_t i = 0; i < eigenvalues_.size(); ++i) {
    total += eigenvalues_[i];
    if (static_cast<std::int64_t>(i) < k_) kept += eigenvalues_[i];
  }
  return total > 0 ? kept / total : 1.0;
}

// --- Whitening ----------------------------------------------------------------------------

Whitening::Whitening(std::int64_t components, double epsilon)
    : requested_(components), epsilon_(epsilon), pca_(components > 0 ? components : 1) {
  if (components < 0)
    throw Error(fmt::format("Whitening: the number of components must be ≥ 0 (0 = all), got {}",
                            components));
  if (!(epsilon >= 0)) throw Error(fmt::format("Whitening: epsilon {} must be ≥ 0", epsilon));
}

std::string Whitening::name() const {
  return fmt::format("Whitening(k={}, eps={})",
                     requested_ > 0 ? std::to_string(requested_) : std::string("all"), epsilon_);
}

void Whitening::fit(const Tensor& train) {
  begin_fit(train, "Whitening");
  pca_ = PCA(requested_ > 0 ? requested_ : train.size(1));
  pca_.fit(train);
  // Divide column c of U_k by √(λ_c + ε) once, so apply is one product.
  const std::int64_t d = train.size(1), k = pca_.components_kept();
  if (epsilon_ == 0)
    for (std::int64_t c = 0; c < k; ++c)
      if (pca_.eigenvalues()[c] == 0)
        throw Error(
            fmt::format("Whitening::fit: eigenvalue {} is 0 and epsilon is 0: the "
                        "division by √λ is undefined; use epsilon > 0",
                        c));
  projection_ = pca_.components().clone();
  float* p = projection_.data<float>();
  for (std::int64_t j = 0; j < d; ++j)
    for (std::int64_t c = 0; c < k; ++c)
      p[j * k + c] = static_cast<float>(p[j * k + c] / std::sqrt(pca_.eigenvalues()[c] + epsilon_));
  end_fit(train);
}

Tensor Whitening::apply(const Tensor& x) const {
  check_apply(x, "Whitening");
  return matmul(x - pca_.mean(), projection_);
}

}  // namespace gradlab::data
