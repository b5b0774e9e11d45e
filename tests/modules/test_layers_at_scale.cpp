// Every layer of modules/nn/layers.hpp gradchecked (input and parameters) at shapes up to [64,
// 256],
// inputs of std 1 and 3, over 20 seeds: gradcheck must not fail a correct layer. The counts are
// printed. (The ops they are made of, and planted bugs, are in tests/autograd.)
#include <catch2/catch.hpp>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "autograd/gradcheck.hpp"
#include "gradcheck_seeds.hpp"
#include "autograd/ops.hpp"
#include "backends/backend.hpp"
#include "modules/nn/nn.hpp"

// A named namespace around everything: a unity build compiles this file together with the
// folder's other tests, whose helpers may have the same names.
namespace layers_at_scale_tests {

using namespace gradlab;

namespace {

constexpr int kSeeds = testing::kGradcheckSeeds;

constexpr TensorOptions f64{.dtype = DType::float64};

// A layer made for `features` input columns, and the parameters gradcheck checks.
struct LayerCase {
  std::string name;
  std::function<std::shared_ptr<nn::Module>(std::int64_t features)> make;
  std::function<std::vector<Tensor*>(nn::Module&)> parameters;
};

nn::LinearOptions linear64() {
  nn::LinearOptions options;
  options.dtype = DType::float64;
  return options;
}
nn::PReLUOptions prelu64() {
  nn::PReLUOptions options;
  options.init = 0.3;
  options.dtype = DType::float64;
  return options;
}
nn::BatchNormOptions batchnorm64() {
  nn::BatchNormOptions options;
  options.dtype = DType::float64;
  return options;
}

template <class Layer>
std::vector<Tensor*> weight_and_bias(nn::Module& module) {
  auto& layer = static_cast<Layer&>(module);
  return {&layer.weight, &layer.bias};
}

std::vector<LayerCase> layers() {
  auto none = [](nn::Module&) { return std::vector<Tensor*>{}; };
  return {
      {"Linear", [](std::int64_t n) { return std::make_shared<nn::Linear>(n, 16, linear64()); },
       weight_and_bias<nn::Linear>},
      {"Sigmoid", [](std::int64_t) { return std::make_shared<nn::Sigmoid>(); }, none},
      {"Tanh", [](std::int64_t) { return std::make_shared<nn::Tanh>(); }, none},
      {"ReLU", [](std::int64_t) { return std::make_shared<nn::ReLU>(); }, none},
      {"LeakyReLU", [](std::int64_t) { return std::make_shared<nn::LeakyReLU>(0.1); }, none},
      {"ELU", [](std::int64_t) { return std::make_shared<nn::ELU>(0.7); }, none},
      {"PReLU", [](std::int64_t n) { return std::make_shared<nn::PReLU>(n, prelu64()); },
       [](nn::Module& m) { return std::vector<Tensor*>{&static_cast<nn::PReLU&>(m).weight}; }},
      {"Maxout", [](std::int64_t n) { return std::make_shared<nn::Maxout>(n, 8, 2, linear64()); },
       weight_and_bias<nn::Maxout>},
      {"BatchNorm1d",
       [](std::int64_t n) {
         auto layer = std::make_shared<nn::BatchNorm1d>(n, batchnorm64());
         NoGradGuard no_grad;  // γ, β away from their defaults so that every term matters
         nn::init::uniform_(layer->weight, 0.5, 1.5);
         nn::init::uniform_(layer->bias, -0.5, 0.5);
         return layer;
       },
       weight_and_bias<nn::BatchNorm1d>},
  };
}

const std::vector<std::pair<std::int64_t, std::int64_t>> kShapes = {
    {3, 4}, {8, 16}, {64, 256}, {24, 96}};

}  // namespace

TEST_CASE("gradcheck passes every layer at shapes up to [64, 256], std 1 and 3, over 20 seeds",
          "[gradcheck][scale]") {
  BackendGuard reference("reference");
  int checks = 0, false_failures = 0;
  for (const LayerCase& layer_case : layers()) {
    for (double std : {1.0, 3.0}) {
      for (int seed = 0; seed < kSeeds; ++seed) {
        const auto [rows, cols] = kShapes[static_cast<std::size_t>(seed) % kShapes.size()];
        manual_seed(2000 + seed);
        std::shared_ptr<nn::Module> layer = layer_case.make(cols);
        std::vector<Tensor*> members = layer_case.parameters(*layer);
        std::vector<Tensor> inputs{(randn({rows, cols}, f64) * std).requires_grad_(true)};
        std::vector<Tensor> originals;
        for (Tensor* member : members) {
          originals.push_back(*member);
          inputs.push_back(*member);
        }
        GradcheckOptions options;
        options.name = layer_case.name;
        options.seed = 6000 + seed;
        options.auto_sparse_above = 1024;  // 16 elements + 4 directions above 1024 elements
        options.auto_sparse_count = 16;
        // gradcheck perturbs float64 copies: plug them into the layer for each evaluation.
        GradcheckResult result = gradcheck(
            [&](const std::vector<Tensor>& in) {
              for (std::size_t i = 0; i < members.size(); ++i) *members[i] = in[i + 1];
              return (*layer)(in[0]);
            },
            inputs, options);
        for (std::size_t i = 0; i < members.size(); ++i) *members[i] = originals[i];
        ++checks;
        if (!result.passed && false_failures++ < 3) {
          std::cout << "std " << std << ", seed " << seed << "\n" << result.report();
        }
      }
    }
  }
  std::cout << "gradcheck of layers at scale: " << false_failures << " false failures of " << checks
            << " checks\n";
  CHECK(false_failures == 0);
}

}  // namespace layers_at_scale_tests
