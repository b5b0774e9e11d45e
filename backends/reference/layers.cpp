// Reference kernels: batch normalisation (train, inference, backward), maxout and the dropout
// mask.
#include <algorithm>
#include <xtensor/xtensor.hpp>

#include "backends/random.hpp"
#include "backends/reference/reference_backend.hpp"
#include "backends/reference/support.hpp"

namespace gradlab {

using namespace reference;

namespace {

/// Checks x [N, C] with N ≥ 1 and, for each named vector that is present, dtype and shape [C].
void check_batch_norm(const char* kernel, ConstView x,
                      std::initializer_list<std::pair<const char*, ConstView>> vectors) {
  require_rank(kernel, "x", x, 2);
  if (x.shape[0] == 0)
    fail(kernel, "needs at least one row, got x of shape " + shape_string(x.shape));
  const Shape vector_shape{x.shape[1]};
  for (const auto& [name, vector] : vectors) {
    if (!vector) continue;
    require_dtype(kernel, name, vector, x.dtype);
    require_shape(kernel, name, vector, vector_shape);
  }
}

/// The per-column parameter γ or β as a [C] vector; an absent one (a batch norm without affine
/// parameters) counts as `fallback` everywhere: γ = 1, β = 0.
template <class T>
xt::xtensor<T, 1> parameter_or(ConstView parameter, T fallback, std::int64_t columns) {
  if (parameter) return flat<T>(parameter);
  auto constant = xt::xtensor<T, 1>::from_shape({static_cast<std::size_t>(columns)});
  constant.fill(fallback);
  return constant;
}

}  // namespace

void ReferenceBackend::batch_norm_train(ConstView x, ConstView gamma, ConstView beta, double eps,
                                        View y, View mean, View variance) {
  const char* kernel = "batch_norm_train";
  require_present(kernel, "mean", mean);
  require_present(kernel, "variance", variance);
  check_batch_norm(kernel, x,
                   {{"gamma", gamma}, {"beta", beta}, {"mean", mean}, {"variance", variance}});
  require_dtype(kernel, "y", y, x.dtype);
  require_shape(kernel, "y", y, x.shape);
  // Row by row: x[n] is row n of x [N, C]; μ, σ², γ, β are vectors [C] (elementwise products).
  dispatch_float(x.dtype, kernel, [&]<class T>(T) {
    const RowsColumns extents = rows_columns(kernel, "x", x);
    const std::int64_t rows = extents.rows, columns = extents.columns;
    const auto x_row = [&](std::int64_t n) { return row(x.as<T>() + n * columns, columns); };
    auto mu = flat<T>(mean);
    auto sigma2 = flat<T>(variance);
    mu.fill(0);  // μ = (1/N) Σ_n x[n]
    for (std::int64_t n = 0; n < rows; ++n) mu += x_row(n);
    mu /= static_cast<T>(rows);
    sigma2.fill(0);  // σ² = (1/N) Σ_n (x[n] − μ)², the biased variance
    for (std::int64_t n = 0; n < rows; ++n) sigma2 += xt::square(x_row(n) - mu);
    sigma2 /= static_cast<T>(rows);
    // y[n] = γ x̂[n] + β with x̂[n] = (x[n] − μ)/√(σ² + eps)
    const xt::xtensor<T, 1> scale =
        parameter_or<T>(gamma, 1, columns) / xt::sqrt(sigma2 + static_cast<T>(eps));
    const xt::xtensor<T, 1> shift = parameter_or<T>(beta, 0, columns);
    for (std::int64_t n = 0; n < rows; ++n) {
      auto output = row(y.as<T>() + n * columns, columns);
      xt::noalias(output) = scale * (x_row(n) - mu) + shift;
    }
  });
}

void ReferenceBackend::batch_norm_inference(ConstView x, ConstView gamma, ConstView beta,
                                            ConstView running_mean, ConstView running_variance,
                                            double eps, View y) {
  const char* kernel = "batch_norm_inference";
  require_present(kernel, "running_mean", running_mean);
  require_present(kernel, "running_variance", running_variance);
  check_batch_norm(kernel, x,
                   {{"gamma", gamma},
                    {"beta", beta},
                    {"running_mean", running_mean},
                    {"running_variance", running_variance}});
  require_dtype(kernel, "y", y, x.dtype);
  require_shape(kernel, "y", y, x.shape);
  dispatch_float(x.dtype, kernel, [&]<class T>(T) {
    const RowsColumns extents = rows_columns(kernel, "x", x);
    const std::int64_t rows = extents.rows, columns = extents.columns;
    // y[n] = γ (x[n] − μ_run)/√(σ²_run + eps) + β
    const xt::xtensor<T, 1> scale = parameter_or<T>(gamma, 1, columns) /
                                    xt::sqrt(flat<T>(running_variance) + static_cast<T>(eps));
    const xt::xtensor<T, 1> shift = parameter_or<T>(beta, 0, columns);
    const auto mu = flat<T>(running_mean);
    for (std::int64_t n = 0; n < rows; ++n) {
      auto output = row(y.as<T>() + n * columns, columns);
      xt::noalias(output) = scale * (row(x.as<T>() + n * columns, columns) - mu) + shift;
    }
  });
}

void ReferenceBackend::batch_norm_backward(ConstView x, ConstView dy, ConstView gamma,
                                           ConstView mean, ConstView variance, double eps, View dx,
                                           View dgamma, View dbeta) {
  const char* kernel = "batch_norm_backward";
  require_present(kernel, "mean", mean);
  require_present(kernel, "variance", variance);
  check_batch_norm(kernel, x, {{"gamma", gamma}, {"mean", mean}, {"variance", variance}});
  require_dtype(kernel, "dy", dy, x.dtype);
  require_shape(kernel, "dy", dy, x.shape);
  if (dx) {
    require_dtype(kernel, "dx", dx, x.dtype);
    require_shape(kernel, "dx", dx, x.shape);
  }
  if (dgamma) check_batch_norm(kernel, x, {{"dgamma", dgamma}});
  if (dbeta) check_batch_norm(kernel, x, {{"dbeta", dbeta}});
  dispatch_float(x.dtype, kernel, [&]<class T>(T) {
    const RowsColumns extents = rows_columns(kernel, "x", x);
    const std::int64_t rows = extents.rows, columns = extents.columns;
    const auto x_row = [&](std::int64_t n) { return row(x.as<T>() + n * columns, columns); };
    const auto dy_row = [&](std::int64_t n) { return row(dy.as<T>() + n * columns, columns); };
    const auto mu = flat<T>(mean);
    const xt::xtensor<T, 1> inverse_std = T(1) / xt::sqrt(flat<T>(variance) + static_cast<T>(eps));
    // x̂[n] = (x[n] − μ)/√(σ² + eps);  dβ = Σ_n dy[n];  dγ = Σ_n dy[n] ⊙ x̂[n]
    const auto x_hat = [&](std::int64_t n) { return (x_row(n) - mu) * inverse_std; };
    xt::xtensor<T, 1> sum_dy = xt::zeros<T>({columns});
    xt::xtensor<T, 1> sum_dy_x_hat = xt::zeros<T>({columns});
    for (std::int64_t n = 0; n < rows; ++n) {
      sum_dy += dy_row(n);
      sum_dy_x_hat += dy_row(n) * x_hat(n);
    }
    if (dbeta) xt::noalias(flat<T>(dbeta)) = sum_dy;
    if (dgamma) xt::noalias(flat<T>(dgamma)) = sum_dy_x_hat;
    if (dx) {  // dx[n] = γ/√(σ² + eps) · (dy[n] − dβ/N − x̂[n] ⊙ dγ/N)
      const T count = static_cast<T>(rows);
      const xt::xtensor<T, 1> scale = parameter_or<T>(gamma, 1, columns) * inverse_std;
      const xt::xtensor<T, 1> mean_dy = sum_dy / count;
      const xt::xtensor<T, 1> mean_dy_x_hat = sum_dy_x_hat / count;
      for (std::int64_t n = 0; n < rows; ++n) {
        auto gradient = row(dx.as<T>() + n * columns, columns);
        xt::noalias(gradient) = scale * (dy_row(n) - mean_dy - x_hat(n) * mean_dy_x_hat);
      }
    }
  });
}

void ReferenceBackend::maxout(ConstView x, std::int64_t pieces, View y, View argmax) {
  const char* kernel = "maxout";
  require_rank(kernel, "x", x, 2);
  if (pieces < 1 || x.shape[1] % pieces != 0) {
    fail(kernel, "x of shape " + shape_string(x.shape) + " cannot be split into groups of " +
                     std::to_string(pieces) + " pieces");
  }
  const Shape output_shape{x.shape[0], x.shape[1] / pieces};
  require_dtype(kernel, "y", y, x.dtype);
  require_shape(kernel, "y", y, output_shape);
  require_dtype(kernel, "argmax", argmax, DType::int64);
  require_shape(kernel, "argmax", argmax, output_shape);
  dispatch_float(x.dtype, kernel, [&]<class T>(T) {
    // x [N, M·pieces] is, element for element, [N·M groups, pieces]: y[g] = max_k x[g, k].
    for (std::int64_t group = 0; group < y.numel(); ++group) {
      const T* first = x.as<T>() + group * pieces;
      const T* winner = std::max_element(first, first + pieces);  // the first maximum
      y.as<T>()[group] = *winner;
      argmax.as<std::int64_t>()[group] = winner - first;
    }
  });
}

void ReferenceBackend::maxout_backward(ConstView dy, ConstView argmax, std::int64_t pieces,
                                       View dx) {
  const char* kernel = "maxout_backward";
  require_rank(kernel, "dx", dx, 2);
  if (pieces < 1 || dx.shape[1] % pieces != 0) {
    fail(kernel, "dx of shape " + shape_string(dx.shape) + " cannot be split into groups of " +
                     std::to_string(pieces) + " pieces");
  }
  const Shape output_shape{dx.shape[0], dx.shape[1] / pieces};
  require_dtype(kernel, "dy", dy, dx.dtype);
  require_shape(kernel, "dy", dy, output_shape);
  require_dtype(kernel, "argmax", argmax, DType::int64);
  require_shape(kernel, "argmax", argmax, output_shape);
  dispatch_float(dx.dtype, kernel, [&]<class T>(T) {
    flat<T>(dx).fill(T(0));
    for (std::int64_t group = 0; group < dy.numel(); ++group) {
      const std::int64_t k = argmax.as<std::int64_t>()[group];
      if (k < 0 || k >= pieces) {
        fail(kernel, "argmax " + std::to_string(k) + " of group " + std::to_string(group) +
                         " is outside [0, " + std::to_string(pieces) + ")");
      }
      dx.as<T>()[group * pieces + k] = dy.as<T>()[group];  // the winner takes the gradient
    }
  });
}

void ReferenceBackend::dropout_mask(View mask, double p, std::uint64_t seed) {
  require_present("dropout_mask", "mask", mask);
  random::fill_dropout_mask(mask, p, seed);
}

}  // namespace gradlab
