#pragma once
/// \file modules/data/preprocess.hpp
/// \brief Data preprocessing fitted on the training split only: mean image, per-channel mean,
/// standardisation, PCA and whitening (namespace `gradlab::data`).
///
/// Each transform is a small class with two steps. `fit(train)` computes statistics from the
/// training images X [N, D] (float32, one example per row) and nothing else; `apply(x)` uses
/// those same statistics on any split. Fitting on the validation or test split as well would let
/// information about them leak into training, so the validation numbers would flatter the model:
/// the rule is *fit on train, apply to all*.
///
/// \code
///   data::MeanImage centre;
///   centre.fit(parts.train.images);                       // μ from the training split only
///   Tensor train_x = centre.apply(parts.train.images);   // mean ≈ 0
///   Tensor val_x = centre.apply(parts.validation.images);  // shifted by the same μ
/// \endcode
///
/// The math, with X [N, D], x_i its rows, and all statistics over the N training examples:
/// - mean image: μ = (1/N) Σᵢ xᵢ ∈ ℝᴰ; apply: x − μ.
/// - per-channel mean: for images of C×H×W, μ_c = mean of every pixel of channel c over all
///   examples (one number per channel, as for VGG); apply: subtract μ_c from every pixel of c.
/// - standardisation: μ as above, σ_j = √((1/N) Σᵢ (x_ij − μ_j)²); apply: (x_j − μ_j) / σ_j.
///   Features with σ_j below `min_std` (constant pixels, such as image borders) are only centred.
/// - PCA: covariance Σ = (1/N) (X − μ)ᵀ(X − μ) ∈ ℝᴰˣᴰ, symmetric, so Σ = U Λ Uᵀ with orthonormal
///   eigenvectors U (columns) and eigenvalues λ₁ ≥ … ≥ λ_D ≥ 0 (LAPACK's dsyevd). Keeping the k
///   leading columns U_k: apply: (x − μ) U_k ∈ ℝᵏ, whose covariance on the training data is
///   diag(λ₁ … λ_k) — the features are decorrelated.
/// - whitening: PCA, then each coordinate divided by √(λ + ε): apply: (x − μ) U_k Λ_k^(−1/2),
///   whose training covariance is ≈ the identity. ε keeps directions of tiny variance (mostly
///   noise) from being blown up.
///
/// Transforms never fit themselves implicitly: `apply` before `fit` raises `gradlab::Error`, as
/// does an input with another number of features than the training data.

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/tensor.hpp"
#include "modules/data/data.hpp"

namespace gradlab::data {

/// The interface of every preprocessing step: fit on the training images, apply to any split.
class Transform {
 public:
  virtual ~Transform() = default;

  /// Computes the statistics from the training images `train` (float32 [N, D], N ≥ 1).
  virtual void fit(const Tensor& train) = 0;
  /// Transforms `x` (float32 [M, D] with the D seen by `fit`) with the fitted statistics; returns
  /// a new float32 tensor [M, D'] (D' = D, or k for PCA and whitening). Raises before `fit`.
  virtual Tensor apply(const Tensor& x) const = 0;
  /// A short description, e.g. "PCA(k=50)".
  virtual std::string name() const = 0;

  /// `fit(train)` followed by `apply(train)`.
  Tensor fit_apply(const Tensor& train);
  /// True once `fit` has run.
  bool fitted() const { return features_ > 0; }
  /// D, the number of features seen by `fit` (0 before).
  std::int64_t features() const { return features_; }

 protected:
  /// Checks that `train` is a float32 [N ≥ 1, D ≥ 1] tensor of finite values (a NaN or inf is
  /// named with its example and feature) and marks the transform unfitted until `end_fit`.
  void begin_fit(const Tensor& train, const char* op);
  /// Records D = the features of `train`: the fit succeeded and `apply` may be called.
  void end_fit(const Tensor& train);
  /// Checks that the transform is fitted and that `x` is float32 [M, D] with the fitted D.
  void check_apply(const Tensor& x, const char* op) const;

 private:
  std::int64_t features_ = 0;
};

/// Subtracts the mean image μ = (1/N) Σᵢ xᵢ of the training split (one mean per feature).
class MeanImage : public Transform {
 public:
  void fit(const Tensor& train) override;
  /// x − μ.
  Tensor apply(const Tensor& x) const override;
  std::string name() const override { return "MeanImage"; }
  /// μ, float32 [D].
  const Tensor& mean() const { return mean_; }

 private:
  Tensor mean_;
};

/// Subtracts one mean per colour channel: μ_c = the mean of all pixels of channel c over the
/// training split. For 1-channel images this is a single global mean.
class ChannelMean : public Transform {
 public:
  /// Images are `shape` (C×H×W) flattened channel after channel; D must equal C·H·W.
  explicit ChannelMean(ImageShape shape);
  void fit(const Tensor& train) override;
  /// x − μ_c on every pixel of channel c.
  Tensor apply(const Tensor& x) const override;
  std::string name() const override { return "ChannelMean(" + shape_.to_string() + ")"; }
  /// μ_c for c = 0 … C−1.
  const std::vector<double>& channel_means() const { return channel_means_; }

 private:
  ImageShape shape_;
  std::vector<double> channel_means_;
  Tensor per_feature_;  // μ_c repeated over the H·W pixels of each channel: [D]
};

/// Zero mean and unit variance per feature: (x_j − μ_j) / σ_j with the training split's mean and
/// (population) standard deviation σ_j = √((1/N) Σᵢ (x_ij − μ_j)²).
class Standardize : public Transform {
 public:
  /// Features whose σ is below `min_std` (or exactly 0) are only centred (divided by 1).
  explicit Standardize(double min_std = 1e-6);
  void fit(const Tensor& train) override;
  /// (x − μ) / σ.
  Tensor apply(const Tensor& x) const override;
  std::string name() const override { return "Standardize"; }
  /// μ, float32 [D].
  const Tensor& mean() const { return mean_; }
  /// The divisors used: σ_j, or 1 where σ_j < min_std; float32 [D].
  const Tensor& scale() const { return scale_; }

 private:
  double min_std_;
  Tensor mean_;
  Tensor scale_;
};

/// Principal component analysis: projects centred data on the k eigenvectors of the training
/// covariance with the largest eigenvalues.
class PCA : public Transform {
 public:
  /// Keeps `components` directions (k ≥ 1; must not exceed D at `fit`).
  explicit PCA(std::int64_t components);
  void fit(const Tensor& train) override;
  /// (x − μ) U_k, float32 [M, k].
  Tensor apply(const Tensor& x) const override;
  std::string name() const override { return "PCA(k=" + std::to_string(k_) + ")"; }

  /// k.
  std::int64_t components_kept() const { return k_; }
  /// μ, float32 [D].
  const Tensor& mean() const { return mean_; }
  /// U_k, float32 [D, k]: column c is the eigenvector of the c-th largest eigenvalue, unit
  /// length, its largest-magnitude entry made positive (eigenvectors are defined up to sign).
  const Tensor& components() const { return components_; }
  /// All D eigenvalues λ₁ ≥ … ≥ λ_D of the covariance (tiny negative round-off clamped to 0).
  const std::vector<double>& eigenvalues() const { return eigenvalues_; }
  /// (λ₁ + … + λ_k) / (λ₁ + … + λ_D): the share of the variance the k components keep.
  double explained_variance_ratio() const;

 private:
  std::int64_t k_;
  Tensor mean_;
  Tensor components_;
  std::vector<double> eigenvalues_;
};

/// PCA whitening: (x − μ) U_k Λ_k^(−1/2), i.e. each principal coordinate divided by √(λ + ε), so
/// the training data's covariance becomes ≈ the identity.
class Whitening : public Transform {
 public:
  /// Keeps `components` directions (0 means all D) and adds `epsilon` to each eigenvalue.
  explicit Whitening(std::int64_t components = 0, double epsilon = 1e-5);
  void fit(const Tensor& train) override;
  /// (x − μ) U_k Λ_k^(−1/2), float32 [M, k].
  Tensor apply(const Tensor& x) const override;
  std::string name() const override;
  /// The PCA fitted underneath (mean, eigenvectors, eigenvalues).
  const PCA& pca() const { return pca_; }

 private:
  std::int64_t requested_;
  double epsilon_;
  PCA pca_;
  Tensor projection_;  // U_k with column c divided by √(λ_c + ε): [D, k]
};

}  // namespace gradlab::data
