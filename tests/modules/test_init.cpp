// nn::init: each scheme's sample statistics match its formula; fans follow the [in, out] layout.
#include <catch2/catch.hpp>
#include <cmath>

#include "modules/nn/nn.hpp"

using namespace gradlab;

namespace {

struct Moments {
  double mean = 0;
  double std = 0;
  double min = 0;
  double max = 0;
};

Moments moments(const Tensor& t) {
  const std::vector<double> v = t.to_vector();
  Moments m{0, 0, v[0], v[0]};
  for (double x : v) {
    m.mean += x;
    m.min = std::min(m.min, x);
    m.max = std::max(m.max, x);
  }
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.std += (x - m.mean) * (x - m.mean);
  m.std = std::sqrt(m.std / static_cast<double>(v.size()));
  return m;
}

// A [400, 100] weight: 40,000 samples estimate a std to within about 0.4 % (1/√(2n)).
Tensor sample(void (*scheme)(Tensor&)) {
  Tensor w = Tensor::empty({400, 100});
  scheme(w);
  return w;
}

}  // namespace

TEST_CASE("fans of a (in, out) weight are {in, out}, of a vector its length twice") {
  CHECK(nn::init::fans(Tensor::empty({784, 50})).in == 784);
  CHECK(nn::init::fans(Tensor::empty({784, 50})).out == 50);
  CHECK(nn::init::fans(Tensor::empty({7})).in == 7);
  CHECK_THROWS_WITH(nn::init::fans(Tensor::empty({2, 3, 4})),
                    Catch::Contains("needs a 1-D or 2-D tensor ([in, out]), got shape [2, 3, 4]"));
}

TEST_CASE("zeros and constant fill every element") {
  Tensor w = Tensor::empty({3, 2});
  nn::init::zeros_(w);
  CHECK(w.to_vector() == std::vector<double>(6, 0.0));
  nn::init::constant_(w, 0.01);
  for (double v : w.to_vector()) CHECK(v == Approx(0.01));
}

TEST_CASE("normal defaults to the lecture's small random numbers, std 0.01") {
  manual_seed(1);
  const Moments m = moments(sample([](Tensor& w) { nn::init::normal_(w); }));
  CHECK(m.mean == Approx(0.0).margin(2e-4));
  CHECK(m.std == Approx(0.01).epsilon(0.02));
}

TEST_CASE("xavier_lecture has std 1/sqrt(fan_in)") {
  manual_seed(2);
  const Moments m = moments(sample(nn::init::xavier_lecture_));
  CHECK(m.std == Approx(1.0 / std::sqrt(400.0)).epsilon(0.02));
}

TEST_CASE("xavier_glorot normal and uniform have variance 2/(fan_in + fan_out)") {
  manual_seed(3);
  const double expected = std::sqrt(2.0 / 500.0);
  CHECK(moments(sample(nn::init::xavier_glorot_normal_)).std == Approx(expected).epsilon(0.02));
  const Moments uniform = moments(sample(nn::init::xavier_glorot_uniform_));
  CHECK(uniform.std == Approx(expected).epsilon(0.02));
  // bounded by a = √(6/500)
  CHECK(uniform.max <= std::sqrt(6.0 / 500.0));
  CHECK(uniform.min >= -std::sqrt(6.0 / 500.0));
}

TEST_CASE("he normal and uniform have variance 2/fan_in") {
  manual_seed(4);
  const double expected = std::sqrt(2.0 / 400.0);
  CHECK(moments(sample(nn::init::he_normal_)).std == Approx(expected).epsilon(0.02));
  const Moments uniform = moments(sample(nn::init::he_uniform_));
  CHECK(uniform.std == Approx(expected).epsilon(0.02));
  CHECK(uniform.max <= std::sqrt(6.0 / 400.0));
}

TEST_CASE("initialize_ applies a scheme by name and lists the names it knows") {
  manual_seed(5);
  Tensor w = Tensor::empty({400, 100});
  nn::init::initialize_(w, "he");
  CHECK(moments(w).std == Approx(std::sqrt(2.0 / 400.0)).epsilon(0.02));
  CHECK_THROWS_WITH(
      nn::init::initialize_(w, "kaiming"),
      Catch::Contains("unknown initialisation 'kaiming'; known: zeros, normal, xavier_lecture"));
}

TEST_CASE("the same seed gives the same initialisation") {
  manual_seed(9);
  nn::Linear a(5, 4);
  manual_seed(9);
  nn::Linear b(5, 4);
  CHECK(a.weight.to_vector() == b.weight.to_vector());
}

TEST_CASE(
    "the lecture's deep tanh net: std 0.01 collapses activations, xavier_lecture keeps them") {
  // 10 layers of 500 tanh units on a 1000 × 500 unit-Gaussian input (the lecture's experiment).
  manual_seed(12);
  Tensor x = randn({1000, 500});
  auto last_layer_std = [&](const std::string& init) {
    nn::Sequential net = nn::MLP({500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500},
                                 {.activation = "tanh", .init = init});
    NoGradGuard no_grad;
    // the output of the 10th tanh: drop the final Linear by running the layers one by one
    Tensor h = x;
    for (std::size_t i = 0; i + 1 < net.size(); ++i) h = net[i](h);
    return moments(h).std;
  };
  // each layer multiplies the std by about 0.01 · √500 ≈ 0.22: 0.22¹⁰ ≈ 3e-7
  CHECK(last_layer_std("normal") < 1e-5);
  const double xavier = last_layer_std("xavier_lecture");
  CHECK(xavier > 0.1);
  CHECK(xavier < 0.9);
}

TEST_CASE("init refuses int64 tensors and bad ranges") {
  Tensor l = labels({1, 2});
  CHECK_THROWS_WITH(nn::init::zeros_(l),
                    Catch::Contains("cannot initialise an int64 tensor of shape [2]"));
  Tensor w = Tensor::empty({2, 2});
  CHECK_THROWS_WITH(nn::init::uniform_(w, 1.0, -1.0), Catch::Contains("needs finite low ≤ high"));
  CHECK_THROWS_WITH(nn::init::normal_(w, -1.0), Catch::Contains("needs a finite std ≥ 0"));
}
