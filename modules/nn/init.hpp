#pragma once
/// \file modules/nn/init.hpp
/// \brief `nn::init`: the weight initialisations the lecture compares, each with its formula.
///
/// Every function fills a tensor in place (no graph is recorded) from the global generator, so
/// `manual_seed` makes initialisations reproducible and the same on every backend. The names end
/// in '_' like libtorch's `torch::nn::init::*_` functions, marking the in-place write.
///
/// Fans: gradlab's `Linear` computes x · W with W of shape [in, out] (the lecture's convention,
/// PyTorch stores the transpose), so for a 2-D weight fan_in = W.size(0) and fan_out = W.size(1).
/// For a 1-D tensor both fans are its length.
///
/// \code
///   Tensor W = Tensor::empty({784, 50});
///   nn::init::he_normal_(W);           // randn · √(2 / 784)
///   nn::init::initialize_(W, "xavier_glorot_uniform");
/// \endcode
///
/// Why the scale matters (the lecture's 10-layer experiment): with std 0.01 the activations of a
/// deep tanh net shrink towards 0 layer by layer, with std 1 they saturate at ±1; the Xavier
/// scale keeps their variance steady, and ReLU, which zeroes half its inputs, needs He's extra
/// factor 2.

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/tensor.hpp"

namespace gradlab::nn::init {

/// fan_in and fan_out of a weight as gradlab lays it out ([in, out]), see the header comment.
struct Fans {
  std::int64_t in = 0;   ///< Number of inputs feeding each output unit.
  std::int64_t out = 0;  ///< Number of output units each input feeds.
};

/// The fans of `tensor`: [in, out] → {in, out}; [n] → {n, n}. Raises for 0-D or >2-D tensors.
Fans fans(const Tensor& tensor);

/// W = 0. Fine for biases; for weights it is the lecture's cautionary tale: every unit computes
/// the same output and receives the same gradient, so the units never become different.
void zeros_(Tensor& tensor);
/// W = value (e.g. a bias of 0.01 so that ReLU units start active). A NaN or infinite value is
/// refused: it would poison every step that follows.
void constant_(Tensor& tensor, double value);
/// W ~ N(mean, std²). With the default std = 0.01 this is the lecture's "small random numbers",
/// which works for small nets and makes deep ones collapse.
void normal_(Tensor& tensor, double std = 0.01, double mean = 0.0);
/// W ~ U[low, high).
void uniform_(Tensor& tensor, double low, double high);
/// The lecture's Xavier form: W = randn / √fan_in, i.e. Var W = 1 / fan_in
/// (Glorot & Bengio 2010, simplified as in the course notes and LeCun et al. 1998).
void xavier_lecture_(Tensor& tensor);
/// The paper's Xavier/Glorot form, normal: Var W = 2 / (fan_in + fan_out)
/// (Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural networks",
/// AISTATS 2010).
void xavier_glorot_normal_(Tensor& tensor);
/// Xavier/Glorot, uniform: W ~ U[−a, a) with a = √(6 / (fan_in + fan_out)), the same variance
/// 2 / (fan_in + fan_out) as the normal form (a uniform on [−a, a) has variance a²/3).
void xavier_glorot_uniform_(Tensor& tensor);
/// He et al., normal: W = randn · √(2 / fan_in), i.e. Var W = 2 / fan_in — Xavier with the extra
/// factor 2 that compensates for ReLU zeroing half its inputs (He, Zhang, Ren & Sun, "Delving Deep
/// into Rectifiers", ICCV 2015).
void he_normal_(Tensor& tensor);
/// He, uniform: W ~ U[−a, a) with a = √(6 / fan_in), the same variance 2 / fan_in.
/// The five fan-scaled schemes above raise when fan_in or fan_out is 0 (a tensor with an empty
/// extent), naming the scheme and the shape, instead of computing a scale of 1/0.
void he_uniform_(Tensor& tensor);

/// Applies a scheme by name: "zeros", "normal" (std 0.01), "xavier_lecture" (alias "xavier"),
/// "xavier_glorot" (alias "xavier_glorot_normal"), "xavier_glorot_uniform", "he" (alias
/// "he_normal"), "he_uniform". An unknown name raises an `Error` listing the known ones.
void initialize_(Tensor& tensor, const std::string& scheme);

/// The names `initialize_` accepts.
std::vector<std::string> scheme_names();

}  // namespace gradlab::nn::init
