// Chapter 05: data preprocessing. Zero-centring, normalising, PCA and whitening on a 2-D cloud
// where every step can be seen, each first by hand with plain ops and then with the library's
// transforms; then what is actually done for images (subtract the mean image or the per-channel
// mean), with the statistics fitted on the training split only.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "modules/data/data.hpp"
#include "modules/train/plots.hpp"
#include "modules/data/preprocess.hpp"
#include "modules/app/cli_flags.hpp"
#include "tutorial.hpp"

using namespace gradlab;
using gradlab::tutorial::Chapter;
using gradlab::tutorial::number;

namespace {

/// Covariance (1/N) Xcᵀ Xc of the rows of x [N, 2] (centred with their own mean), as 4 numbers.
std::vector<double> covariance(const Tensor& x) {
  Tensor centred = x - x.mean(0, true);
  return (matmul(centred.t(), centred) / double(x.size(0))).to_vector();
}

std::string matrix_text(const std::vector<double>& c) {
  return fmt::format("[{:>8} {:>8}; {:>8} {:>8}]", number(c[0], 3), number(c[1], 3),
                     number(c[2], 3), number(c[3], 3));
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  std::vector<double> left = a.to_vector(), right = b.to_vector();
  double worst = 0;
  for (std::size_t i = 0; i < left.size(); ++i)
    worst = std::max(worst, std::abs(left[i] - right[i]));
  return worst;
}

/// Flips the sign of column j of `b` where it disagrees with `a` (eigenvectors have no sign).
Tensor align_signs(const Tensor& a, const Tensor& b) {
  std::vector<double> left = a.to_vector(), right = b.to_vector();
  const std::int64_t n = a.size(0), k = a.size(1);
  for (std::int64_t j = 0; j < k; ++j) {
    double dot = 0;
    for (std::int64_t i = 0; i < n; ++i) dot += left[i * k + j] * right[i * k + j];
    if (dot < 0) {
      for (std::int64_t i = 0; i < n; ++i) right[i * k + j] = -right[i * k + j];
    }
  }
  return from(right, b.shape());
}

void two_d_cloud(Chapter& chapter, double tilt) {
  chapter.step("A correlated 2-D cloud, four ways");
  const std::int64_t n = chapter.quick() ? 300 : 1000;
  chapter.say(fmt::format(
      "We draw {} points z ~ N(0, I) and stretch, tilt and shift them: x = z·A + m with "
      "A = [2 {:g}; 0 0.5], m = (3, −2). Then, each time by hand with plain tensor ops: "
      "subtract the mean (zero-centre); divide each coordinate by its standard deviation "
      "(normalise); rotate onto the eigenvectors of the covariance (PCA: decorrelate); and "
      "divide each rotated coordinate by the square root of its eigenvalue (whiten).",
      n, tilt));
  Tensor x = matmul(randn({n, 2}), from({2.0, tilt, 0.0, 0.5}, {2, 2})) + from({3.0, -2.0}, {2});

  // By hand.
  Tensor mean = x.mean(0, true);
  Tensor centred = x - mean;
  Tensor std_dev = sqrt(pow(centred, 2).mean(0, true));
  Tensor normalised = centred / std_dev;
  std::vector<double> c = covariance(x);
  // Eigen-decomposition of the symmetric 2×2 [a b; b d] in closed form:
  // λ = (a + d)/2 ± √(((a − d)/2)² + b²); the eigenvector of λ is (b, λ − a) normalised.
  const double a = c[0], b = c[1], d = c[3];
  const double middle = (a + d) / 2, radius = std::sqrt((a - d) * (a - d) / 4 + b * b);
  const double lambda1 = middle + radius, lambda2 = middle - radius;
  auto eigenvector = [&](double lambda) {
    double u = b, v = lambda - a, length = std::hypot(u, v);
    return std::pair<double, double>{u / length, v / length};
  };
  auto [u1x, u1y] = eigenvector(lambda1);
  auto [u2x, u2y] = eigenvector(lambda2);
  Tensor rotation = from({u1x, u2x, u1y, u2y}, {2, 2});  // columns = eigenvectors
  Tensor decorrelated = matmul(centred, rotation);
  const double epsilon = 1e-5;
  Tensor whitened =
      decorrelated / from({std::sqrt(lambda1 + epsilon), std::sqrt(lambda2 + epsilon)}, {1, 2});

  std::vector<std::vector<std::string>> rows;
  auto row = [&](const std::string& stage, const Tensor& t) {
    std::vector<double> m = t.mean(0).to_vector();
    rows.push_back({stage, fmt::format("({}, {})", number(m[0], 4), number(m[1], 4)),
                    matrix_text(covariance(t))});
  };
  row("original", x);
  row("zero-centred", centred);
  row("normalised", normalised);
  row("decorrelated (PCA)", decorrelated);
  row("whitened", whitened);
  chapter.table({"stage", "mean", "covariance"}, rows);
  const double correlation = c[1] / std::sqrt(c[0] * c[3]);
  // The long axis's angle to the first coordinate, folded into [0°, 90°] (an axis has no sign).
  double angle = std::abs(std::atan2(u1y, u1x) * 180.0 / std::acos(-1.0));
  if (angle > 90) angle = 180 - angle;
  chapter.say(fmt::format(
      "Eigenvalues of the covariance: λ1 = {}, λ2 = {} (the variances along the cloud's "
      "long and short axes; their ratio is {}). The correlation of x1 and x2 is {}, and PCA "
      "turns the cloud by {:.1f}° to lay its long axis along the first coordinate.",
      number(lambda1), number(lambda2), number(lambda1 / lambda2, 1), number(correlation, 3),
      angle));

  // The library's transforms on the same points.
  data::MeanImage centre;
  data::Standardize standardise;
  data::PCA pca(2);
  data::Whitening whiten(2, epsilon);
  Tensor library_centred = centre.fit_apply(x);
  Tensor library_normalised = standardise.fit_apply(x);
  Tensor library_decorrelated = pca.fit_apply(x);
  Tensor library_whitened = whiten.fit_apply(x);
  double gap =
      std::max({max_abs_difference(centred, library_centred),
                max_abs_difference(normalised, library_normalised),
                max_abs_difference(decorrelated, align_signs(decorrelated, library_decorrelated)),
                max_abs_difference(whitened, align_signs(whitened, library_whitened))});
  chapter.table({"check", "value"},
                {{"library eigenvalues", fmt::format("{}, {}", number(pca.eigenvalues()[0]),
                                                     number(pca.eigenvalues()[1]))},
                 {"max |by hand − library| over the four stages", number(gap, 2)}});

  {
    std::ofstream csv(chapter.path("cloud.csv"));
    csv << "x1,x2,centred1,centred2,normalised1,normalised2,pca1,pca2,white1,white2\n";
    std::vector<std::vector<double>> stages = {x.to_vector(), centred.to_vector(),
                                               normalised.to_vector(), decorrelated.to_vector(),
                                               whitened.to_vector()};
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::size_t s = 0; s < stages.size(); ++s) {
        csv << (s ? "," : "") << stages[s][2 * i] << "," << stages[s][2 * i + 1];
      }
      csv << "\n";
    }
  }
  // One square range for all panels that holds every point of every stage (at least ±8).
  double reach = 8;
  for (const Tensor& stage : {x, centred, normalised, decorrelated, whitened})
    for (double v : stage.to_vector()) reach = std::max(reach, std::ceil(std::abs(v)));
  std::string script =
      "set terminal pngcairo size 1500,1000 font ',10'\nset output 'cloud.png'\nset datafile "
      "separator ','\n"
      "set multiplot layout 2,3 title 'Preprocessing a correlated 2-D cloud'\nset grid\nset size "
      "ratio -1\n" +
      fmt::format("set xrange [-{0}:{0}]\nset yrange [-{0}:{0}]\n", reach) +
      "set xzeroaxis lt -1\nset yzeroaxis lt -1\n";
  const char* titles[] = {"original data", "zero-centred", "normalised (std 1 per axis)",
                          "decorrelated (PCA)", "whitened (covariance = I)"};
  // Each panel's axes in its own units: centring keeps the data's, dividing by a standard
  // deviation makes them standard deviations, PCA measures along the cloud's own axes.
  const char* axes[][2] = {{"x1 (data units)", "x2 (data units)"},
                           {"x1 (data units)", "x2 (data units)"},
                           {"x1 (standard deviations)", "x2 (standard deviations)"},
                           {"long axis (data units)", "short axis (data units)"},
                           {"long axis (standard deviations)", "short axis (standard deviations)"}};
  for (int s = 0; s < 5; ++s) {
    script += fmt::format(
        "set title {}\nset xlabel {}\nset ylabel {}\n"
        "plot 'cloud.csv' using {}:{} with points pt 7 ps 0.4 notitle\n",
        plots::gnuplot_string(titles[s]), plots::gnuplot_string(axes[s][0]),
        plots::gnuplot_string(axes[s][1]), 1 + 2 * s, 2 + 2 * s);
  }
  script += "unset multiplot\n";
  chapter.draw_with_gnuplot(
      "cloud", script, "the cloud: original, zero-centred, normalised, decorrelated, whitened");

  std::vector<double> cn = covariance(normalised), cd = covariance(decorrelated),
                      cw = covariance(whitened);
  std::vector<double> m = centred.mean(0).to_vector();
  chapter.notice(fmt::format(
      "centring moves the cloud, normalising squeezes the axes to equal spread but keeps the "
      "correlation ({}); PCA rotates it away (a diagonal covariance, here a turn of {:.1f}°); "
      "whitening also equalises the spread, leaving a round cloud with the identity as "
      "covariance.",
      number(correlation, 3), angle));
  chapter.claim("zero-centred data has mean 0", std::abs(m[0]) < 1e-5 && std::abs(m[1]) < 1e-5,
                fmt::format("({:.1e}, {:.1e})", m[0], m[1]));
  chapter.claim("normalised data has variance 1 per axis",
                std::abs(cn[0] - 1) < 1e-4 && std::abs(cn[3] - 1) < 1e-4,
                fmt::format("{:.6f}, {:.6f}", cn[0], cn[3]));
  chapter.claim("normalising keeps the correlation (the off-diagonal becomes the correlation)",
                std::abs(cn[1] - correlation) < 1e-4,
                fmt::format("{} vs correlation {}", number(cn[1]), number(correlation)));
  chapter.claim("PCA makes the covariance diagonal", std::abs(cd[1]) < 1e-4 * cd[0],
                fmt::format("off-diagonal {:.1e} vs λ1 {:.3f}", cd[1], cd[0]));
  chapter.claim("whitening makes the covariance ≈ identity",
                std::abs(cw[0] - 1) < 1e-3 && std::abs(cw[3] - 1) < 1e-3 && std::abs(cw[1]) < 1e-3,
                matrix_text(cw));
  chapter.claim("by hand and the library agree", gap < 1e-4, number(gap, 2));
}

void images(Chapter& chapter) {
  chapter.step("Images: the mean image and the per-channel mean");
  const std::string dir =
      chapter.options().data.empty() ? data::default_fashion_mnist_dir : chapter.options().data;
  data::Dataset all = data::load_fashion_mnist(dir, data::Split::train);
  const std::int64_t used = chapter.quick() ? 6000 : all.size();
  const std::int64_t validation_size = used / 12;
  data::TrainValidation parts = data::split_train_validation(
      data::slice(all, 0, used), validation_size, chapter.options().seed);
  chapter.say(fmt::format(
      "For images one rarely goes beyond centring. Two ways: subtract the mean image (one mean per "
      "pixel position, AlexNet's choice; for CIFAR-10 a 32×32×3 array), or subtract one mean per "
      "colour channel (VGG's choice; 3 numbers). We use {} Fashion-MNIST training images and hold "
      "out {} for validation.",
      parts.train.size(), parts.validation.size()));
  data::MeanImage mean_image;
  mean_image.fit(parts.train.images);
  data::ChannelMean channel_mean(parts.train.image_shape);
  channel_mean.fit(parts.train.images);
  std::vector<double> pixels = mean_image.mean().to_vector();
  double average_of_mean_image = 0;
  for (double p : pixels) average_of_mean_image += p / double(pixels.size());
  {
    std::ofstream matrix(chapter.path("mean_image.txt"));
    for (std::int64_t r = 0; r < 28; ++r) {
      for (std::int64_t col = 0; col < 28; ++col)
        matrix << (col ? " " : "") << pixels[r * 28 + col];
      matrix << "\n";
    }
  }
  chapter.draw_with_gnuplot(
      "mean_image",
      "set terminal pngcairo size 560,520\nset output 'mean_image.png'\nset title 'Mean training "
      "image "
      "(Fashion-MNIST)'\nset yrange [27.5:-0.5]\nset xrange [-0.5:27.5]\nset size ratio -1\n"
      "set xlabel 'pixel column (px)'\nset ylabel 'pixel row (px)'\n"
      "set cblabel 'mean brightness (0 = black, 1 = white)'\n"
      "set palette grey\nplot 'mean_image.txt' matrix with image notitle\n",
      "the mean image μ (28×28) of the training split");
  chapter.table(
      {"statistic", "numbers", "value(s)"},
      {{"mean image", std::to_string(mean_image.mean().numel()),
        fmt::format("from {} to {}", number(*std::min_element(pixels.begin(), pixels.end()), 3),
                    number(*std::max_element(pixels.begin(), pixels.end()), 3))},
       {"per-channel mean", std::to_string(channel_mean.channel_means().size()),
        number(channel_mean.channel_means()[0])},
       {"average of the mean image", "1", number(average_of_mean_image)}});
  chapter.say(
      "Fashion-MNIST is grey-scale: it has one channel, so 'per-channel mean' is a single number "
      "(the "
      "average of the mean image). To see the colour case, we dress the same images up as a "
      "3-channel "
      "batch: red = x, green = 0.6·x + 0.2, blue = 1 − x, stored plane after plane like CIFAR-10.");
  const std::int64_t colour_count =
      std::min<std::int64_t>(parts.train.size(), chapter.quick() ? 1000 : 5000);
  std::vector<double> grey = data::slice(parts.train, 0, colour_count).images.to_vector();
  std::vector<double> colour(static_cast<std::size_t>(colour_count * 3 * 784));
  for (std::int64_t i = 0; i < colour_count; ++i) {
    for (std::int64_t p = 0; p < 784; ++p) {
      double v = grey[i * 784 + p];
      colour[(i * 3 + 0) * 784 + p] = v;
      colour[(i * 3 + 1) * 784 + p] = 0.6 * v + 0.2;
      colour[(i * 3 + 2) * 784 + p] = 1.0 - v;
    }
  }
  Tensor colour_images = from(colour, {colour_count, 3 * 784});
  data::ChannelMean colour_channel_mean(data::ImageShape{3, 28, 28});
  colour_channel_mean.fit(colour_images);
  data::MeanImage colour_mean_image;
  colour_mean_image.fit(colour_images);
  std::vector<double> colour_pixels = colour_mean_image.mean().to_vector();
  std::vector<std::vector<std::string>> rows;
  double worst = 0;
  const char* channel_names[] = {"red", "green", "blue"};
  for (int ch = 0; ch < 3; ++ch) {
    double average = 0;
    for (int p = 0; p < 784; ++p) average += colour_pixels[ch * 784 + p] / 784.0;
    worst = std::max(worst, std::abs(average - colour_channel_mean.channel_means()[ch]));
    rows.push_back(
        {channel_names[ch], number(colour_channel_mean.channel_means()[ch]), number(average)});
  }
  chapter.table(
      {"channel", "per-channel mean (3 numbers)", "average of that channel's mean-image plane"},
      rows);
  chapter.notice(
      fmt::format("the mean image keeps {} numbers ({}), the per-channel mean 3; the latter is the "
                  "former averaged over each channel's pixels. Images are rarely normalised, "
                  "decorrelated or whitened: their pixels already share one scale.",
                  colour_mean_image.mean().numel(), "3×28×28"));
  chapter.claim(
      "grey-scale: the one channel mean equals the average of the mean image",
      std::abs(channel_mean.channel_means()[0] - average_of_mean_image) < 1e-5,
      fmt::format("{:.6f} vs {:.6f}", channel_mean.channel_means()[0], average_of_mean_image));
  chapter.claim("3 channels: each channel mean equals its mean-image plane's average", worst < 1e-5,
                number(worst, 2));

  chapter.step("Statistics come from the training split only");
  chapter.say(
      "The mean is computed on the training images and then subtracted, unchanged, from every "
      "split. Computing it on validation or test data as well would let those images influence "
      "the model, and the validation score would be too optimistic. The consequence is visible: "
      "the training data ends up centred exactly, the validation data only approximately.");
  Tensor train_centred = mean_image.apply(parts.train.images);
  Tensor validation_centred = mean_image.apply(parts.validation.images);
  auto stats = [](const Tensor& t) {
    std::vector<double> per_pixel = t.mean(0).to_vector();
    double largest = 0;
    for (double v : per_pixel) largest = std::max(largest, std::abs(v));
    return std::pair<double, double>{t.mean().item(), largest};
  };
  auto [train_mean, train_largest] = stats(train_centred);
  auto [validation_mean, validation_largest] = stats(validation_centred);
  chapter.table(
      {"split, minus the TRAIN mean image", "mean of all pixels", "largest |per-pixel mean|"},
      {{fmt::format("train ({} images)", parts.train.size()), fmt::format("{:.2e}", train_mean),
        fmt::format("{:.2e}", train_largest)},
       {fmt::format("validation ({} images)", parts.validation.size()),
        fmt::format("{:.2e}", validation_mean), fmt::format("{:.2e}", validation_largest)}});
  chapter.notice(
      "the validation images keep a small offset: they are a different sample. That offset "
      "is honest; the model will meet the same kind of offset on new data.");
  chapter.claim("train mean after centring is ~0",
                std::abs(train_mean) < 1e-5 && train_largest < 1e-4,
                fmt::format("{:.1e} (per pixel ≤ {:.1e})", train_mean, train_largest));
  chapter.claim(
      "validation mean after subtracting the TRAIN mean is small but not 0",
      std::abs(validation_mean) < 0.05 && validation_largest > 10 * train_largest &&
          validation_largest > 1e-4,
      fmt::format("{:.1e} (per pixel up to {:.1e})", validation_mean, validation_largest));
}

}  // namespace

int main(int argc, char** argv) {
  double tilt = 0.9;
  return gradlab::tutorial::run_chapter(
      argc, argv,
      {5,
       "data_preprocessing",
       "Data preprocessing",
       {{"--tilt 0",
         "a cloud stretched along the axes but not tilted: the correlation is close to 0, so "
         "normalising already leaves a nearly diagonal covariance and PCA turns the cloud by "
         "only a few degrees, if at all."},
        {"--tilt 3",
         "a strongly tilted cloud: the correlation comes close to 1 and λ2 is tiny, so whitening "
         "divides the short axis by a small number and blows up whatever noise lies along it. "
         "Compare the eigenvalue ratio with the default run's."}}},
      [&tilt](Chapter& chapter) {
        two_d_cloud(chapter, tilt);
        images(chapter);
        chapter.summary(
            "zero-centre → normalise → PCA (diagonal covariance) → whiten (identity covariance), "
            "by hand = library; "
            "for images subtract the mean image or per-channel mean, fitted on the training split "
            "only (val mean ≈ 0 "
            "but not 0).");
      },
      [&tilt](CLI::App& app) {
        app.add_option("--tilt", tilt,
                       "The 2-D cloud's tilt: A = [2 TILT; 0 0.5] (in [-5, 5]; 0: no correlation)")
            ->check(
                gradlab::cli::number_check("in [-5, 5]", [](double v) { return std::abs(v) <= 5; }))
            ->capture_default_str();
      });
}
