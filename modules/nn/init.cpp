// nn::init: each scheme reduces to "fill with a constant" or "draw from a normal / uniform with
// a scale computed from the fans", done by the active backend's random kernels.

#include "modules/nn/init.hpp"

#include <fmt/format.h>

#include <cmath>

#include "backends/backend.hpp"

namespace gradlab::nn::init {

namespace {

void check_float(const Tensor& tensor, const char* function) {
  if (!tensor.defined())
    throw Error(fmt::format("nn::init::{}: the tensor is undefined", function));
  if (tensor.dtype() == DType::int64)
    throw Error(fmt::format("nn::init::{}: cannot initialise an int64 tensor of shape {}", function,
                            shape_string(tensor.shape())));
}

// The fans of a tensor about to get a fan-scaled initialisation. A fan of 0 (a tensor with an
// empty extent) would make the scale 1/0: refused, naming the function and the shape.
Fans checked_fans(const Tensor& tensor, const char* function) {
  check_float(tensor, function);
  const Fans f = fans(tensor);
  for (const auto& [fan, what] : {std::pair{f.in, "fan_in"}, std::pair{f.out, "fan_out"}}) {
    if (fan < 1)
      throw Error(
          fmt::format("nn::init::{}: {} is {} for a tensor of shape {}; a fan-scaled "
                      "initialisation needs fan_in and fan_out ≥ 1",
                      function, what, fan, shape_string(tensor.shape())));
  }
  return f;
}

}  // namespace

Fans fans(const Tensor& tensor) {
  if (!tensor.defined()) throw Error("nn::init::fans: the tensor is undefined");
  if (tensor.dim() == 1) return {tensor.size(0), tensor.size(0)};
  if (tensor.dim() == 2) return {tensor.size(0), tensor.size(1)};
  throw Error(fmt::format("nn::init::fans: needs a 1-D or 2-D tensor ([in, out]), got shape {}",
                          shape_string(tensor.shape())));
}

void zeros_(Tensor& tensor) { constant_(tensor, 0.0); }

void constant_(Tensor& tensor, double value) {
  check_float(tensor, "constant_");
  if (!std::isfinite(value))
    throw Error(fmt::format("nn::init::constant_: the value must be finite, got {}", value));
  NoGradGuard no_grad;
  backend().fill(tensor.mutable_view(), value);
}

void normal_(Tensor& tensor, double std, double mean) {
  check_float(tensor, "normal_");
  if (!(std >= 0.0) || !std::isfinite(std) || !std::isfinite(mean))
    throw Error(
        fmt::format("nn::init::normal_: needs a finite std ≥ 0 and a finite mean, got std "
                    "{} and mean {}",
                    std, mean));
  NoGradGuard no_grad;
  backend().random_normal(tensor.mutable_view(), mean, std, next_seed());
}

void uniform_(Tensor& tensor, double low, double high) {
  check_float(tensor, "uniform_");
  if (!(low <= high) || !std::isfinite(low) || !std::isfinite(high))
    throw Error(
        fmt::format("nn::init::uniform_: needs finite low ≤ high, got [{}, {})", low, high));
  NoGradGuard no_grad;
  backend().random_uniform(tensor.mutable_view(), low, high, next_seed());
}

void xavier_lecture_(Tensor& tensor) {
  const Fans f = checked_fans(tensor, "xavier_lecture_");
  normal_(tensor, 1.0 / std::sqrt(static_cast<double>(f.in)));
}

void xavier_glorot_normal_(Tensor& tensor) {
  const Fans f = checked_fans(tensor, "xavier_glorot_normal_");
  normal_(tensor, std::sqrt(2.0 / static_cast<double>(f.in + f.out)));
}

void xavier_glorot_uniform_(Tensor& tensor) {
  const Fans f = checked_fans(tensor, "xavier_glorot_uniform_");
  const double bound = std::sqrt(6.0 / static_cast<double>(f.in + f.out));
  uniform_(tensor, -bound, bound);
}

void he_normal_(Tensor& tensor) {
  const Fans f = checked_fans(tensor, "he_normal_");
  normal_(tensor, std::sqrt(2.0 / static_cast<double>(f.in)));
}

void he_uniform_(Tensor& tensor) {
  const Fans f = checked_fans(tensor, "he_uniform_");
  const double bound = std::sqrt(6.0 / static_cast<double>(f.in));
  uniform_(tensor, -bound, bound);
}

std::vector<std::string> scheme_names() {
  return {"zeros",
          "normal",
          "xavier_lecture",
          "xavier",
          "xavier_glorot",
          "xavier_glorot_normal",
          "xavier_glorot_uniform",
          "he",
          "he_normal",
          "he_uniform"};
}

void initialize_(Tensor& tensor, const std::string& scheme) {
  if (scheme == "zeros") return zeros_(tensor);
  if (scheme == "normal") return normal_(tensor);
  if (scheme == "xavier_lecture" || scheme == "xavier") return xavier_lecture_(tensor);
  if (scheme == "xavier_glorot" || scheme == "xavier_glorot_normal")
    return xavier_glorot_normal_(tensor);
  if (scheme == "xavier_glorot_uniform") return xavier_glorot_uniform_(tensor);
  if (scheme == "he" || scheme == "he_normal") return he_normal_(tensor);
  if (scheme == "he_uniform") return he_uniform_(tensor);
  throw Error(fmt::format("nn::init: unknown initialisation '{}'; known: {}", scheme,
                          fmt::join(scheme_names(), ", ")));
}

}  // namespace gradlab::nn::init
