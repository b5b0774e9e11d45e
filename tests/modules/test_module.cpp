// nn::Module bookkeeping: names, counts, modes, freezing, printing; Sequential and the MLP builder.
#include <catch2/catch.hpp>
#include <string>

#include "autograd/ops.hpp"
#include "modules/nn/nn.hpp"

using namespace gradlab;

namespace {

std::vector<std::string> names_of(const std::vector<nn::NamedTensor>& tensors) {
  std::vector<std::string> names;
  for (const auto& entry : tensors) names.push_back(entry.first);
  return names;
}

// A user-defined module with a child, to check dotted names through nesting.
class TwoLayerNet : public nn::Module {
 public:
  TwoLayerNet() : nn::Module("TwoLayerNet") {
    layers = std::make_shared<nn::Sequential>(nn::Linear(4, 3), nn::ReLU(), nn::Linear(3, 2));
    register_module("layers", layers);
    scale = register_parameter("scale", ones({1}));
  }
  Tensor forward(const Tensor& x) override { return (*layers)(x)*scale; }
  std::shared_ptr<nn::Sequential> layers;
  Tensor scale;
};

}  // namespace

TEST_CASE("named_parameters lists own parameters first, then children with dotted names") {
  TwoLayerNet net;
  CHECK(names_of(net.named_parameters()) ==
        std::vector<std::string>{"scale", "layers.0.weight", "layers.0.bias", "layers.2.weight",
                                 "layers.2.bias"});
  CHECK(net.parameters().size() == 5);
  // 4·3 + 3 + 3·2 + 2 + 1 = 24
  CHECK(net.parameter_count() == 24);
  for (const Tensor& p : net.parameters()) CHECK(p.requires_grad());
}

TEST_CASE("parameters() are the same tensors as the layer members, not copies") {
  nn::Linear layer(3, 2);
  REQUIRE(layer.parameters().size() == 2);
  CHECK(layer.parameters()[0].impl() == layer.weight.impl());
  CHECK(layer.parameters()[1].impl() == layer.bias.impl());
}

TEST_CASE("named_buffers lists BatchNorm's running averages with dotted names") {
  nn::Sequential net(nn::Linear(4, 3), nn::BatchNorm1d(3), nn::ReLU());
  CHECK(names_of(net.named_buffers()) ==
        std::vector<std::string>{"1.running_mean", "1.running_var"});
  CHECK(names_of(net.named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"});
}

TEST_CASE("train() and eval() switch the whole tree, and new modules start in training mode") {
  TwoLayerNet net;
  CHECK(net.is_training());
  net.eval();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(net.layers->is_training());
  CHECK_FALSE((*net.layers)[1].is_training());
  net.train();
  CHECK((*net.layers)[2].is_training());
}

TEST_CASE("freeze() stops gradients into a module's parameters, unfreeze() restores them") {
  nn::Sequential net(nn::Linear(4, 3), nn::Tanh(), nn::Linear(3, 2));
  net[0].freeze();
  CHECK(net.trainable_parameter_count() == 3 * 2 + 2);
  Tensor x = randn({5, 4});
  net(x).sum().backward();
  auto& first = net.at<nn::Linear>(0);
  auto& last = net.at<nn::Linear>(2);
  CHECK_FALSE(first.weight.grad().defined());
  CHECK_FALSE(first.bias.grad().defined());
  CHECK(last.weight.grad().defined());
  net.unfreeze();
  CHECK(net.trainable_parameter_count() == net.parameter_count());
}

TEST_CASE("zero_grad() clears every parameter's gradient") {
  nn::Linear layer(3, 2);
  layer(randn({4, 3})).sum().backward();
  REQUIRE(layer.weight.grad().defined());
  layer.zero_grad();
  const Tensor g = layer.weight.grad();
  // Cleared: either undefined or all zeros.
  if (g.defined()) {
    for (double v : g.to_vector()) CHECK(v == 0.0);
  }
}

TEST_CASE("to_string() prints the architecture with shapes, counts and a total") {
  nn::Sequential net(nn::Linear(3072, 50), nn::ReLU(), nn::Linear(50, 10));
  net[2].freeze();
  const std::string text = net.to_string();
  INFO(text);
  CHECK(text ==
        "Sequential(\n"
        "  (0): Linear(in_features=3072, out_features=50, bias=true)  weight [3072, 50], bias "
        "[50]: 153,650 parameters\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=50, out_features=10, bias=true)  weight [50, 10] (frozen), bias "
        "[10] (frozen): 510 parameters\n"
        ")\n"
        "Total: 154,160 parameters (153,650 trainable)\n");
}

TEST_CASE("to_string() shows each layer's settings") {
  nn::Sequential net(nn::BatchNorm1d(5, {.momentum = 0.2}), nn::LeakyReLU(0.1), nn::ELU(0.5),
                     nn::Dropout(0.25), nn::PReLU(5), nn::Maxout(5, 2, 3));
  const std::string text = net.to_string();
  INFO(text);
  CHECK(text.find("BatchNorm1d(5, eps=1e-05, momentum=0.2)  weight [5], bias [5]: 10 parameters") !=
        std::string::npos);
  CHECK(text.find("LeakyReLU(negative_slope=0.1)") != std::string::npos);
  CHECK(text.find("ELU(alpha=0.5)") != std::string::npos);
  CHECK(text.find("Dropout(p=0.25)") != std::string::npos);
  CHECK(text.find("PReLU(num_parameters=5)  weight [5]: 5 parameters") != std::string::npos);
  CHECK(text.find("Maxout(in_features=5, out_features=2, pieces=3)  weight [5, 6], bias [6]: 36 "
                  "parameters") != std::string::npos);
}

TEST_CASE("Sequential applies its layers in order") {
  nn::Sequential net(nn::Linear(2, 2), nn::ReLU());
  auto& linear = net.at<nn::Linear>(0);
  {
    NoGradGuard no_grad;
    linear.weight.data<float>()[0] = 1;  // W = [[1, 2], [3, 4]], b = [−10, 1]
    linear.weight.data<float>()[1] = 2;
    linear.weight.data<float>()[2] = 3;
    linear.weight.data<float>()[3] = 4;
    linear.bias.data<float>()[0] = -10;
    linear.bias.data<float>()[1] = 1;
  }
  // x · W + b = [1·1 + 1·3 − 10, 1·2 + 1·4 + 1] = [−6, 7]; ReLU → [0, 7]
  Tensor y = net(from({1, 1}, {1, 2}));
  CHECK(y.to_vector() == std::vector<double>{0, 7});
}

TEST_CASE("Sequential names a wrong layer index or type") {
  nn::Sequential net(nn::Linear(2, 2), nn::ReLU());
  CHECK_THROWS_WITH(net[2], Catch::Contains("index 2 out of range for 2 layers"));
  CHECK_THROWS_WITH(net.at<nn::Linear>(1), Catch::Contains("layer 1 is a ReLU"));
}

TEST_CASE("a loss module has no one-input forward and says so") {
  nn::CrossEntropyLoss loss;
  nn::Module& as_module = loss;
  CHECK_THROWS_WITH(as_module.forward(randn({2, 3})),
                    Catch::Contains("CrossEntropyLoss: this module has no one-input forward"));
}

TEST_CASE(
    "MLP builds Linear → BatchNorm1d → activation → Dropout per hidden layer, then a Linear") {
  nn::Sequential net =
      nn::MLP({784, 1024, 1024, 10},
              {.activation = "relu", .batchnorm = true, .dropout = 0.5, .init = "he"});
  REQUIRE(net.size() == 9);
  const std::vector<std::string> expected{"Linear",  "BatchNorm1d", "ReLU",
                                          "Dropout", "Linear",      "BatchNorm1d",
                                          "ReLU",    "Dropout",     "Linear"};
  for (std::size_t i = 0; i < expected.size(); ++i) CHECK(net[i].type_name() == expected[i]);
  CHECK(net.at<nn::Linear>(8).weight.shape() == Shape{1024, 10});
  // 784·1024 + 1024 + 2·1024 + 1024·1024 + 1024 + 2·1024 + 1024·10 + 10
  CHECK(net.parameter_count() == 784 * 1024 + 1024 + 2048 + 1024 * 1024 + 1024 + 2048 + 10240 + 10);
  CHECK(net(randn({8, 784})).shape() == Shape{8, 10});
}

TEST_CASE("MLP makes the lecture's 10-layer tanh net without extras") {
  nn::Sequential net = nn::MLP({500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 10},
                               {.activation = "tanh", .init = "xavier_lecture"});
  CHECK(net.size() == 19);  // 10 Linear + 9 Tanh
  CHECK(net[1].type_name() == "Tanh");
  CHECK(net[18].type_name() == "Linear");
}

TEST_CASE("MLP with PReLU gives one slope per hidden feature") {
  nn::Sequential net = nn::MLP({4, 6, 2}, {.activation = "prelu"});
  CHECK(net.at<nn::PReLU>(1).weight.shape() == Shape{6});
}

TEST_CASE("MLP rejects bad settings with a clear message") {
  CHECK_THROWS_WITH(nn::MLP({10}),
                    Catch::Contains("MLP: needs at least an input and an output size"));
  CHECK_THROWS_WITH(nn::MLP({10, 0, 2}),
                    Catch::Contains("every size must be positive, got [10, 0, 2]"));
  CHECK_THROWS_WITH(nn::MLP({10, 2}, {.activation = "swish"}),
                    Catch::Contains("unknown activation 'swish'"));
  CHECK_THROWS_WITH(nn::MLP({10, 5, 2}, {.dropout = 1.0}),
                    Catch::Contains("dropout must lie in [0, 1)"));
  CHECK_THROWS_WITH(nn::MLP({10, 5, 2}, {.init = "lecun"}),
                    Catch::Contains("unknown initialisation 'lecun'"));
}

TEST_CASE("registering a duplicate or malformed name is refused") {
  class Bad : public nn::Module {
   public:
    explicit Bad(const std::string& second) : nn::Module("Bad") {
      register_parameter("w", ones({2}));
      register_parameter(second, ones({2}));
    }
  };
  CHECK_THROWS_WITH(Bad("w"), Catch::Contains("Bad: the name 'w' is already registered"));
  CHECK_THROWS_WITH(Bad("a.b"),
                    Catch::Contains("name 'a.b' may only contain letters, digits and '_'"));
}
