// Preprocessing: the statistics each transform promises on the training split, and the rule that
// other splits are transformed with the training split's statistics.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>

#include "modules/data/data.hpp"
#include "modules/data/preprocess.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;

namespace {

using Matrix = std::vector<std::vector<double>>;  // rows of doubles, for the tests' own math

Tensor to_tensor(const Matrix& rows) {
  const auto n = static_cast<std::int64_t>(rows.size());
  const auto d = static_cast<std::int64_t>(rows.front().size());
  Tensor t = Tensor::empty({n, d}, DType::float32);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j)
      t.data<float>()[i * d + j] = static_cast<float>(rows[i][j]);
  return t;
}

std::vector<double> column_means(const Tensor& x) {
  const std::int64_t n = x.size(0), d = x.size(1);
  std::vector<double> mean(d, 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) mean[j] += x.data<float>()[i * d + j];
  for (double& m : mean) m /= static_cast<double>(n);
  return mean;
}

/// (1/N) Σᵢ (xᵢ − μ)(xᵢ − μ)ᵀ in double.
Matrix covariance(const Tensor& x) {
  const std::int64_t n = x.size(0), d = x.size(1);
  const std::vector<double> mean = column_means(x);
  Matrix cov(d, std::vector<double>(d, 0.0));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t a = 0; a < d; ++a)
      for (std::int64_t b = 0; b < d; ++b)
        cov[a][b] +=
            (x.data<float>()[i * d + a] - mean[a]) * (x.data<float>()[i * d + b] - mean[b]);
  for (auto& row : cov)
    for (double& v : row) v /= static_cast<double>(n);
  return cov;
}

/// N samples of offset + mixing · z with z ~ N(0, I): correlated Gaussian data.
Matrix correlated_cloud(std::int64_t n, const Matrix& mixing, const std::vector<double>& offset,
                        std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  const std::size_t d = offset.size();
  Matrix rows(n, std::vector<double>(d));
  for (auto& row : rows) {
    std::vector<double> z(mixing.front().size());
    for (double& v : z) v = normal(generator);
    for (std::size_t a = 0; a < d; ++a) {
      row[a] = offset[a];
      for (std::size_t b = 0; b < z.size(); ++b) row[a] += mixing[a][b] * z[b];
    }
  }
  return rows;
}

// The lecture's 2-D picture: variance 3² along the direction at 30°, 0.5² across it, centred at
// (5, −2).
const double angle = M_PI / 6;
const Matrix cloud_mixing = {{3 * std::cos(angle), -0.5 * std::sin(angle)},
                             {3 * std::sin(angle), 0.5 * std::cos(angle)}};
const std::vector<double> cloud_offset = {5, -2};

}  // namespace

TEST_CASE("MeanImage: the training mean becomes 0 and other splits shift by the training mean",
          "[data][preprocess]") {
  const Tensor train =
      to_tensor(correlated_cloud(500, {{1, 0, 0}, {0, 2, 0}, {0, 0, 3}}, {1, 2, 3}, 1));
  const Tensor validation =
      to_tensor(correlated_cloud(200, {{1, 0, 0}, {0, 2, 0}, {0, 0, 3}}, {11, 12, 13}, 2));
  data::MeanImage centre;
  CHECK_FALSE(centre.fitted());
  centre.fit(train);
  CHECK(centre.fitted());
  CHECK(centre.features() == 3);

  const std::vector<double> train_mean = column_means(train);
  const std::vector<double> validation_mean = column_means(validation);
  for (int j = 0; j < 3; ++j)
    CHECK(centre.mean().data<float>()[j] == Approx(train_mean[j]).epsilon(1e-6));

  const std::vector<double> centred_train = column_means(centre.apply(train));
  const std::vector<double> centred_validation = column_means(centre.apply(validation));
  for (int j = 0; j < 3; ++j) {
    CHECK(std::abs(centred_train[j]) < 1e-5);
    // Fitted on train only: the validation split keeps its own offset from the training mean.
    CHECK(centred_validation[j] == Approx(validation_mean[j] - train_mean[j]).epsilon(1e-5));
    CHECK(centred_validation[j] == Approx(10.0).margin(0.5));
  }
}

TEST_CASE("Transforms refuse to apply before fit and to data of another width",
          "[data][preprocess][errors]") {
  const Tensor x = to_tensor({{1, 2, 3}, {4, 5, 6}});
  data::MeanImage centre;
  CHECK_THROWS_WITH(centre.apply(x), Contains("MeanImage::apply: called before fit()"));
  data::PCA pca(1);
  CHECK_THROWS_WITH(pca.apply(x), Contains("PCA::apply: called before fit()"));
  centre.fit(x);
  CHECK_THROWS_WITH(centre.apply(to_tensor({{1, 2}})),
                    Contains("needs float32 [M, 3]") && Contains("[1, 2]"));
  CHECK_THROWS_WITH(centre.fit(Tensor::empty({0, 3})), Contains("N, D ≥ 1"));
  CHECK_THROWS_WITH(data::PCA(0), Contains("≥ 1"));
  CHECK_THROWS_WITH(data::PCA(4).fit(x), Contains("cannot keep 4 components of 3-dimensional"));
  CHECK_THROWS_WITH(data::ChannelMean({3, 2, 2}).fit(x), Contains("3×2×2 have 12 features"));
}

TEST_CASE("ChannelMean subtracts one mean per channel over all pixels and examples",
          "[data][preprocess]") {
  // Two 2-channel 1×2 images: features [c0p0, c0p1, c1p0, c1p1].
  const Tensor train = to_tensor({{1, 3, 10, 30}, {5, 7, 50, 70}});
  data::ChannelMean centre({2, 1, 2});
  centre.fit(train);
  REQUIRE(centre.channel_means().size() == 2);
  CHECK(centre.channel_means()[0] == Approx((1 + 3 + 5 + 7) / 4.0));
  CHECK(centre.channel_means()[1] == Approx((10 + 30 + 50 + 70) / 4.0));
  const Tensor out = centre.apply(to_tensor({{4, 4, 40, 40}}));
  CHECK(out.to_vector() == std::vector<double>{0, 0, 0, 0});
  const std::vector<double> centred = centre.apply(train).to_vector();
  CHECK(centred == std::vector<double>{-3, -1, -30, -10, 1, 3, 10, 30});
}

TEST_CASE("Standardize gives every feature mean 0 and std 1 and only centres constant features",
          "[data][preprocess]") {
  Matrix rows = correlated_cloud(1000, {{2, 0}, {0, 0.1}}, {3, -1}, 3);
  for (auto& row : rows) row.push_back(0.5);  // a constant "border pixel"
  const Tensor train = to_tensor(rows);
  data::Standardize standardize;
  const Tensor out = standardize.fit_apply(train);
  const Matrix cov = covariance(out);
  const std::vector<double> mean = column_means(out);
  for (int j = 0; j < 2; ++j) {
    CHECK(std::abs(mean[j]) < 1e-5);
    CHECK(cov[j][j] == Approx(1.0).epsilon(1e-4));
  }
  CHECK(standardize.scale().data<float>()[2] == 1.0f);
  for (std::int64_t i = 0; i < out.size(0); ++i) REQUIRE(out.data<float>()[i * 3 + 2] == 0.0f);

  // Another split uses the training μ and σ: (x − μ) / σ element by element.
  const Tensor probe = to_tensor({{3 + 2 * 2.0, -1 - 0.1, 0.75}});
  const std::vector<double> y = standardize.apply(probe).to_vector();
  const double mu0 = standardize.mean().data<float>()[0], s0 = standardize.scale().data<float>()[0];
  CHECK(y[0] == Approx((7.0 - mu0) / s0).epsilon(1e-5));
  CHECK(y[0] == Approx(2.0).margin(0.15));  // two training standard deviations above the mean
  CHECK(y[2] == Approx(0.25).epsilon(1e-5));
}

TEST_CASE("PCA of a correlated 2-D cloud finds the 30° axis and decorrelates the data",
          "[data][preprocess][pca]") {
  const Tensor train = to_tensor(correlated_cloud(4000, cloud_mixing, cloud_offset, 4));
  data::PCA pca(2);
  pca.fit(train);

  // Eigenvalues of the sample covariance [[a, b], [b, c]]: (a + c)/2 ± √(((a − c)/2)² + b²).
  const Matrix cov = covariance(train);
  const double half_trace = (cov[0][0] + cov[1][1]) / 2;
  const double radius = std::sqrt(std::pow((cov[0][0] - cov[1][1]) / 2, 2) + cov[0][1] * cov[0][1]);
  REQUIRE(pca.eigenvalues().size() == 2);
  CHECK(pca.eigenvalues()[0] == Approx(half_trace + radius).epsilon(1e-4));
  CHECK(pca.eigenvalues()[1] == Approx(half_trace - radius).epsilon(1e-3));
  CHECK(pca.eigenvalues()[0] == Approx(9.0).epsilon(0.06));   // 3²
  CHECK(pca.eigenvalues()[1] == Approx(0.25).epsilon(0.06));  // 0.5²

  // The first component points along (cos 30°, sin 30°) = (0.866, 0.5), sign made positive.
  const float* u = pca.components().data<float>();  // [D = 2, k = 2]
  CHECK(pca.components().shape() == Shape{2, 2});
  CHECK(u[0] * std::cos(angle) + u[2] * std::sin(angle) > 0.999);
  CHECK(u[0] * u[1] + u[2] * u[3] == Approx(0.0).margin(1e-6));  // orthogonal columns

  // Projected data: mean 0, covariance diag(λ₁, λ₂).
  const Tensor projected = pca.apply(train);
  const Matrix out = covariance(projected);
  const std::vector<double> mean = column_means(projected);
  CHECK(std::abs(mean[0]) < 1e-4);
  CHECK(std::abs(mean[1]) < 1e-4);
  CHECK(out[0][0] == Approx(pca.eigenvalues()[0]).epsilon(1e-4));
  CHECK(out[1][1] == Approx(pca.eigenvalues()[1]).epsilon(1e-3));
  CHECK(std::abs(out[0][1]) / std::sqrt(out[0][0] * out[1][1]) < 1e-4);
  CHECK(pca.explained_variance_ratio() == Approx(1.0));

  data::PCA first(1);
  const Tensor reduced = first.fit_apply(train);
  CHECK(reduced.shape() == Shape{4000, 1});
  CHECK(first.explained_variance_ratio() ==
        Approx(pca.eigenvalues()[0] / (pca.eigenvalues()[0] + pca.eigenvalues()[1])));
  CHECK(first.explained_variance_ratio() > 0.96);
}

TEST_CASE("Whitening gives the training data an identity covariance", "[data][preprocess][pca]") {
  const Matrix mixing = {{2, 0.5, 0}, {1, 1, 0.2}, {0.3, -0.4, 0.1}};
  const Tensor train = to_tensor(correlated_cloud(5000, mixing, {1, 2, 3}, 5));
  data::Whitening whiten(0, 1e-5);
  const Tensor out = whiten.fit_apply(train);
  CHECK(out.shape() == Shape{5000, 3});
  const Matrix cov = covariance(out);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) CHECK(cov[a][b] == Approx(a == b ? 1.0 : 0.0).margin(2e-3));

  // Fitted on train only: a new point is mapped with the training μ, U and λ:
  // yᶜ = Σⱼ (xⱼ − μⱼ) U_jc / √(λ_c + ε).
  const std::vector<double> x = {4, -1, 2};
  const std::vector<double> y = whiten.apply(to_tensor({x})).to_vector();
  const data::PCA& pca = whiten.pca();
  for (int c = 0; c < 3; ++c) {
    double expected = 0;
    for (int j = 0; j < 3; ++j)
      expected += (x[j] - pca.mean().data<float>()[j]) * pca.components().data<float>()[j * 3 + c];
    expected /= std::sqrt(pca.eigenvalues()[c] + 1e-5);
    CHECK(y[c] == Approx(expected).epsilon(1e-4));
  }

  data::Whitening two(2);
  const Tensor reduced = two.fit_apply(train);
  CHECK(reduced.shape() == Shape{5000, 2});
  const Matrix reduced_cov = covariance(reduced);
  CHECK(reduced_cov[0][0] == Approx(1.0).margin(2e-3));
  CHECK(reduced_cov[1][1] == Approx(1.0).margin(2e-3));
  CHECK(reduced_cov[0][1] == Approx(0.0).margin(2e-3));
}

TEST_CASE("PCA on 2000 real Fashion-MNIST images: eigenvalues sum to the total variance",
          "[data][preprocess][pca][fashion-mnist]") {
  const std::string dir = data::default_fashion_mnist_dir;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "train-images-idx3-ubyte.gz")) {
    WARN("skipped: Fashion-MNIST is not installed in "
         << dir << " (Debian package dataset-fashion-mnist)");
    return;
  }
  const data::Dataset sample = data::slice(data::load_fashion_mnist(dir), 0, 2000);
  data::PCA pca(50);
  const Tensor projected = pca.fit_apply(sample.images);
  CHECK(projected.shape() == Shape{2000, 50});
  const std::vector<double>& lambda = pca.eigenvalues();
  REQUIRE(lambda.size() == 784);
  for (std::size_t i = 1; i < lambda.size(); ++i) REQUIRE(lambda[i] <= lambda[i - 1]);

  // trace Σ = Σⱼ σⱼ² = Σ λ: the eigenvalues share out the total variance.
  const std::vector<double> mean = column_means(sample.images);
  double total_variance = 0;
  for (std::int64_t i = 0; i < 2000; ++i)
    for (std::int64_t j = 0; j < 784; ++j)
      total_variance += std::pow(sample.images.data<float>()[i * 784 + j] - mean[j], 2) / 2000.0;
  double eigen_sum = 0;
  for (double l : lambda) eigen_sum += l;
  CHECK(eigen_sum == Approx(total_variance).epsilon(1e-3));
  // A few dozen directions hold most of the variance of clothing images.
  CHECK(pca.explained_variance_ratio() > 0.7);
  CHECK(pca.explained_variance_ratio() < 1.0);

  // Whitened with its 50 components, the sample's covariance is the identity.
  data::Whitening whiten(50, 1e-5);
  const Matrix cov = covariance(whiten.fit_apply(sample.images));
  double worst = 0;
  for (int a = 0; a < 50; ++a)
    for (int b = 0; b < 50; ++b)
      worst = std::max(worst, std::abs(cov[a][b] - (a == b ? 1.0 : 0.0)));
  CHECK(worst < 1e-2);
}
