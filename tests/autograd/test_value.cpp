// Specification of the scalar nodes `Value` (autograd/value.hpp): the lecture's worked examples,
// every op's derivative against central differences, the engine's accumulation rules, graphs a
// million nodes deep, and micrograd's two-moons demo trained to ≥ 95 % accuracy.

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "autograd/value.hpp"
#include "backends/dtype.hpp"

using gradlab::Value;

TEST_CASE("f = (x + y) * z at x = -2, y = 5, z = -4 is -12 with gradients -4, -4, 3", "[value]") {
  Value x(-2.0, "x"), y(5.0, "y"), z(-4.0, "z");
  Value q = x + y;
  Value f = q * z;
  REQUIRE(f.data() == -12.0);
  f.backward();
  CHECK(f.grad() == 1.0);
  CHECK(q.grad() == -4.0);  // multiplication swaps: ∂f/∂q = z
  CHECK(z.grad() == 3.0);   // ∂f/∂z = q
  CHECK(x.grad() == -4.0);  // addition distributes: ∂f/∂x = ∂f/∂q · 1
  CHECK(y.grad() == -4.0);
}

// The lecture's 2-D neuron σ(w0·x0 + w1·x1 + w2), written gate by gate as on the slide.
TEST_CASE("the sigmoid neuron built from gates outputs 0.73 with the lecture's gradients",
          "[value]") {
  Value w0(2.0), w1(-3.0), w2(-3.0), x0(-1.0), x1(-2.0);
  Value out = 1.0 / (1.0 + exp(-(w0 * x0 + w1 * x1 + w2)));
  CHECK(out.data() == Approx(0.7310585786));
  out.backward();
  CHECK(w0.grad() == Approx(-0.196612).epsilon(1e-5));
  CHECK(w1.grad() == Approx(-0.393224).epsilon(1e-5));
  CHECK(w2.grad() == Approx(0.196612).epsilon(1e-5));
  CHECK(x0.grad() == Approx(0.393224).epsilon(1e-5));
  CHECK(x1.grad() == Approx(-0.589836).epsilon(1e-5));
  // Rounded as the lecture prints them.
  CHECK(std::round(w0.grad() * 100) / 100 == Approx(-0.20));
  CHECK(std::round(x1.grad() * 100) / 100 == Approx(-0.59));
}

TEST_CASE("the sigmoid op gives the same neuron output and gradients as its gates", "[value]") {
  auto gradients = [](bool use_sigmoid_op) {
    Value w0(2.0), w1(-3.0), w2(-3.0), x0(-1.0), x1(-2.0);
    Value z = w0 * x0 + w1 * x1 + w2;
    Value out = use_sigmoid_op ? sigmoid(z) : 1.0 / (1.0 + exp(-z));
    out.backward();
    return std::vector<double>{out.data(), w0.grad(), w1.grad(), w2.grad(), x0.grad(), x1.grad()};
  };
  const std::vector<double> by_gates = gradients(false);
  const std::vector<double> by_op = gradients(true);
  REQUIRE(by_op.size() == by_gates.size());
  for (std::size_t i = 0; i < by_op.size(); ++i) {
    CHECK(by_op[i] == Approx(by_gates[i]).epsilon(1e-12));
  }
  CHECK(by_op[0] == Approx(0.7310585786));
}

TEST_CASE("a node used twice receives both contributions: b = a + a, c = b + b gives a.grad 4",
          "[value]") {
  Value a(3.0, "a");
  Value b = a + a;
  Value c = b + b;
  c.backward();
  CHECK(c.data() == 12.0);
  CHECK(b.grad() == 2.0);
  CHECK(a.grad() == 4.0);
  // The fork is one node in the graph, listed once.
  CHECK(topological_order(c).size() == 3);
}

TEST_CASE("x * x is differentiated as x²: both factors are the same node", "[value]") {
  Value x(3.0);
  Value y = x * x;
  y.backward();
  CHECK(x.grad() == 6.0);
}

TEST_CASE("calling backward twice adds each pass's gradients: every grad doubles", "[value]") {
  Value x(-2.0), y(5.0), z(-4.0);
  Value q = x + y;
  Value f = q * z;
  f.backward();
  f.backward();
  CHECK(f.grad() == 2.0);
  CHECK(q.grad() == -8.0);
  CHECK(x.grad() == -8.0);
  CHECK(y.grad() == -8.0);
  CHECK(z.grad() == 6.0);
  // Each pass on its own delivered the one-pass gradient: nothing compounds across passes.
  CHECK(x.upstream_gradient() == -4.0);
  CHECK(q.upstream_gradient() == -4.0);

  SECTION("zero_grad clears every node of the graph, so the next pass starts over") {
    f.zero_grad();
    for (const Value& node : topological_order(f)) {
      CHECK(node.grad() == 0.0);
    }
    f.backward();
    CHECK(x.grad() == -4.0);
    CHECK(z.grad() == 3.0);
  }
}

// backward() walks the live nodes from the newest back, skipping those the root does not depend
// on; these cases pin down what that walk must not disturb.
TEST_CASE("backward leaves values the root does not depend on untouched", "[value]") {
  Value a(2.0), b(3.0);
  Value unrelated_before = a * 10.0;  // made from `a`, but not part of f's graph
  Value f = a * b;
  Value unrelated_after = b + 1.0;  // made after f: newer than the root
  Value g = unrelated_before + unrelated_after;
  g.backward();  // a pass from another root: every node above gets an upstream gradient of its own
  a.zero_grad();
  b.zero_grad();
  f.backward();
  CHECK(a.grad() == 3.0);
  CHECK(b.grad() == 2.0);
  CHECK(a.upstream_gradient() == 3.0);  // this pass's
  // Not reached by f's pass: they keep what g's pass gave them.
  CHECK(unrelated_before.grad() == 1.0);
  CHECK(unrelated_before.upstream_gradient() == 1.0);
  CHECK(unrelated_after.grad() == 1.0);
}

TEST_CASE("a graph whose inputs were made on another thread gets the same gradients", "[value]") {
  // Nodes made on another thread live in that thread's arena, so backward cannot walk them in
  // this thread's order of creation and sorts the graph instead.
  std::vector<Value> made_elsewhere;
  std::thread maker([&] {
    made_elsewhere = {Value(-2.0), Value(5.0)};
    made_elsewhere.push_back(made_elsewhere[0] * made_elsewhere[1]);  // x·y, made there too
  });
  maker.join();
  const Value& x = made_elsewhere[0];
  const Value& y = made_elsewhere[1];
  Value z(-4.0);
  Value f = (x + y) * z + made_elsewhere[2];  // f = (x + y)·z + x·y
  f.backward();
  CHECK(f.data() == -22.0);
  CHECK(x.grad() == -4.0 + 5.0);  // z + y
  CHECK(y.grad() == -4.0 - 2.0);  // z + x
  CHECK(z.grad() == 3.0);
  CHECK(made_elsewhere[2].grad() == 1.0);
}

TEST_CASE("a 1,000,000-node chain back-propagates and is destroyed without recursion",
          "[value][deep]") {
  constexpr int length = 1'000'000;
  Value x0(1.0, "x0");
  SECTION("x = x + 1 repeated") {
    Value x = x0;
    for (int i = 0; i < length; ++i) {
      x = x + 1.0;
    }
    CHECK(x.data() == 1.0 + length);
    x.backward();
    CHECK(x0.grad() == 1.0);
  }
  SECTION("x = x * 1.0000001 repeated") {
    Value x = x0;
    for (int i = 0; i < length; ++i) {
      x = x * 1.0000001;
    }
    const double expected = std::pow(1.0000001, length);  // ≈ e^0.1
    CHECK(x.data() == Approx(expected).epsilon(1e-9));
    x.backward();
    CHECK(x0.grad() == Approx(expected).epsilon(1e-9));  // d/dx0 of x0 · cᴺ is cᴺ
  }
  SECTION("a chain of two-input nodes, each fed by a fresh leaf") {
    Value x = x0;
    for (int i = 0; i < length; ++i) {
      x = x + Value(1.0);
    }
    x.backward();
    CHECK(x0.grad() == 1.0);
    CHECK(topological_order(x).size() == 2 * length + 1);
  }
  // Leaving each section destroys the chain; reaching this line means it did not overflow.
  CHECK(x0.data() == 1.0);
}

TEST_CASE("a graph is freed when its last handle goes, intermediate nodes included", "[value]") {
  const std::int64_t before = gradlab::value_nodes_alive();
  {
    Value a(2.0), b(3.0);
    Value c = tanh(a * b + a);
    c.backward();
    CHECK(gradlab::value_nodes_alive() == before + 5);  // a, b, a·b, a·b + a, tanh
    Value chain = c;
    for (int i = 0; i < 100'000; ++i) {
      chain = chain * 1.0;
    }
    CHECK(gradlab::value_nodes_alive() == before + 5 + 100'000);
  }
  CHECK(gradlab::value_nodes_alive() == before);
}

// --- every op against central differences ----------------------------------------------------

namespace {

struct ScalarCase {
  std::string name;
  std::function<Value(const Value&, const Value&)> op;  // both inputs always passed
  std::vector<std::pair<double, double>> points;        // (a, b), away from kinks
};

// (f(a + h) − f(a − h)) / 2h, relative to the magnitude of the gradients.
void check_against_central_differences(const ScalarCase& test) {
  constexpr double h = 1e-6;
  for (auto [a_value, b_value] : test.points) {
    INFO(test.name << " at a = " << a_value << ", b = " << b_value);
    Value a(a_value), b(b_value);
    Value out = test.op(a, b);
    out.backward();
    auto f = [&](double a_at, double b_at) { return test.op(Value(a_at), Value(b_at)).data(); };
    const double numeric_a = (f(a_value + h, b_value) - f(a_value - h, b_value)) / (2 * h);
    const double numeric_b = (f(a_value, b_value + h) - f(a_value, b_value - h)) / (2 * h);
    CHECK(a.grad() == Approx(numeric_a).epsilon(1e-6).margin(1e-8));
    CHECK(b.grad() == Approx(numeric_b).epsilon(1e-6).margin(1e-8));
  }
}

}  // namespace

TEST_CASE("every op's derivative matches central differences", "[value][gradcheck]") {
  const std::vector<std::pair<double, double>> anywhere = {{0.7, -1.3}, {-2.1, 0.4}, {1.5, 2.5}};
  const std::vector<std::pair<double, double>> positive = {{0.7, 1.3}, {2.1, 0.4}, {1.5, 2.5}};
  const std::vector<ScalarCase> cases = {
      {"a + b", [](const Value& a, const Value& b) { return a + b; }, anywhere},
      {"a - b", [](const Value& a, const Value& b) { return a - b; }, anywhere},
      {"a * b", [](const Value& a, const Value& b) { return a * b; }, anywhere},
      {"a / b", [](const Value& a, const Value& b) { return a / b; }, anywhere},
      {"-a", [](const Value& a, const Value& b) { return -a + 0.0 * b; }, anywhere},
      {"a + 2", [](const Value& a, const Value& b) { return (a + 2.0) * b; }, anywhere},
      {"2 + a", [](const Value& a, const Value& b) { return (2.0 + a) * b; }, anywhere},
      {"a - 2", [](const Value& a, const Value& b) { return (a - 2.0) * b; }, anywhere},
      {"1 - a", [](const Value& a, const Value& b) { return (1.0 - a) * b; }, anywhere},
      {"a * 3", [](const Value& a, const Value& b) { return (a * 3.0) * b; }, anywhere},
      {"2 * a", [](const Value& a, const Value& b) { return (2.0 * a) * b; }, anywhere},
      {"a / 3", [](const Value& a, const Value& b) { return (a / 3.0) * b; }, anywhere},
      {"3 / a", [](const Value& a, const Value& b) { return (3.0 / a) * b; }, anywhere},
      {"a ^ 2", [](const Value& a, const Value& b) { return pow(a, 2.0) * b; }, anywhere},
      {"a ^ 3", [](const Value& a, const Value& b) { return pow(a, 3.0) * b; }, anywhere},
      {"a ^ -1", [](const Value& a, const Value& b) { return pow(a, -1.0) * b; }, anywhere},
      {"a ^ 0.5", [](const Value& a, const Value& b) { return pow(a, 0.5) * b; }, positive},
      {"exp", [](const Value& a, const Value& b) { return exp(a) * b; }, anywhere},
      {"log", [](const Value& a, const Value& b) { return log(a) * b; }, positive},
      {"tanh", [](const Value& a, const Value& b) { return tanh(a) * b; }, anywhere},
      {"sigmoid", [](const Value& a, const Value& b) { return sigmoid(a) * b; }, anywhere},
      {"relu", [](const Value& a, const Value& b) { return relu(a) * b; }, anywhere},
      {"max", [](const Value& a, const Value& b) { return max(a, b); }, anywhere},
      {"a composite: tanh(a·b + a²) / (1 + e^b)",
       [](const Value& a, const Value& b) { return tanh(a * b + pow(a, 2.0)) / (1.0 + exp(b)); },
       anywhere},
  };
  for (const ScalarCase& test : cases) {
    check_against_central_differences(test);
  }
}

TEST_CASE("mixed arithmetic with plain numbers: 2 * a, a / 3, 1 - a", "[value]") {
  Value a(6.0, "a");
  Value twice = 2.0 * a;
  Value third = a / 3.0;
  Value complement = 1.0 - a;
  CHECK(twice.data() == 12.0);
  CHECK(third.data() == 2.0);
  CHECK(complement.data() == -5.0);
  CHECK(twice.op_name() == "2 *");
  CHECK(third.op_name() == "/ 3");
  CHECK(complement.op_name() == "1 -");
  Value total = twice + third + complement;  // 2a + a/3 + 1 − a, d/da = 2 + 1/3 − 1
  total.backward();
  CHECK(a.grad() == Approx(2.0 + 1.0 / 3.0 - 1.0));
  // A plain number is no node: `a` is the only leaf of the graph.
  int leaves = 0;
  for (const Value& node : topological_order(total)) {
    leaves += node.is_leaf() ? 1 : 0;
  }
  CHECK(leaves == 1);
}

TEST_CASE("max routes the whole upstream gradient to the winner", "[value]") {
  Value a(2.0), b(5.0);
  Value m = max(a, b) * 3.0;
  m.backward();
  CHECK(m.data() == 15.0);
  CHECK(a.grad() == 0.0);
  CHECK(b.grad() == 3.0);

  SECTION("on a tie the first input wins") {
    Value c(4.0), d(4.0);
    Value tie = max(c, d);
    tie.backward();
    CHECK(c.grad() == 1.0);
    CHECK(d.grad() == 0.0);
  }
}

TEST_CASE("relu passes the gradient for positive inputs and blocks it otherwise", "[value]") {
  Value positive(1.5), negative(-0.5), zero(0.0);
  Value sum = relu(positive) + relu(negative) + relu(zero);
  sum.backward();
  CHECK(sum.data() == 1.5);
  CHECK(positive.grad() == 1.0);
  CHECK(negative.grad() == 0.0);
  CHECK(zero.grad() == 0.0);
}

TEST_CASE("every node can be inspected: op, local gradients, upstream gradient", "[value]") {
  Value x(-2.0, "x"), y(5.0, "y"), z(-4.0, "z");
  Value q = (x + y).set_label("q");
  Value f = (q * z).set_label("f");
  f.backward();
  const std::vector<Value> order = topological_order(f);
  REQUIRE(order.size() == 5);
  CHECK(order.back().node() == f.node());  // the root comes last
  // Children come before their parents.
  auto position = [&](const Value& v) {
    for (std::size_t i = 0; i < order.size(); ++i) {
      if (order[i].node() == v.node()) return i;
    }
    FAIL("node not in the topological order");
    return order.size();
  };
  CHECK(position(x) < position(q));
  CHECK(position(y) < position(q));
  CHECK(position(q) < position(f));
  CHECK(position(z) < position(f));

  CHECK(f.op_name() == "*");
  CHECK(q.op_name() == "+");
  CHECK(x.op_name() == "leaf");
  CHECK(f.children().size() == 2);
  CHECK(f.children()[0].node() == q.node());
  CHECK(f.local_gradients() == std::vector<double>{-4.0, 3.0});  // ∂(q·z)/∂q = z, ∂/∂z = q
  CHECK(q.local_gradients() == std::vector<double>{1.0, 1.0});
  CHECK(x.local_gradients().empty());
  // local gradient × upstream gradient = the contribution each child received.
  CHECK(f.upstream_gradient() == 1.0);
  CHECK(q.upstream_gradient() == -4.0);
  CHECK(q.local_gradients()[0] * q.upstream_gradient() == x.grad());
  CHECK(f.local_gradients()[1] * f.upstream_gradient() == z.grad());
}

TEST_CASE("a handle shares its node: the copy sees updates and gradients", "[value]") {
  Value a(1.0, "a");
  Value alias = a;
  alias.set_data(4.0);
  CHECK(a.data() == 4.0);
  Value b = a * a;
  b.backward();
  CHECK(alias.grad() == 8.0);
  CHECK(alias.node() == a.node());
}

TEST_CASE("bad inputs raise errors that name the op and the value", "[value]") {
  using Catch::Matchers::Contains;
  Value zero(0.0), negative(-2.0), one(1.0);
  CHECK_THROWS_AS(one / zero, gradlab::Error);
  CHECK_THROWS_AS(log(negative), gradlab::Error);
  CHECK_THROWS_AS(pow(negative, 0.5), gradlab::Error);
  CHECK_THROWS_WITH(one / zero, Contains("division by zero"));
  CHECK_THROWS_WITH(one / 0.0, Contains("division by zero"));
  CHECK_THROWS_WITH(1.0 / zero, Contains("division by zero"));
  CHECK_THROWS_WITH(log(negative), Contains("log") && Contains("-2"));
  CHECK_THROWS_WITH(log(zero), Contains("not positive"));
  CHECK_THROWS_WITH(pow(negative, 0.5), Contains("pow"));
  CHECK_THROWS_WITH(pow(zero, -1.0), Contains("infinite"));
  CHECK(pow(negative, 2.0).data() == 4.0);  // integer exponents of negatives are fine
}

TEST_CASE("printing a value shows its label, data and grad", "[value]") {
  Value a(2.5, "a");
  std::ostringstream text;
  text << a;
  CHECK(text.str() == "Value(a, data=2.5, grad=0)");
}

// --- micrograd's demo: a 2-16-16-1 MLP of Values learns the two moons -------------------------

namespace {

// Two interleaving half circles with Gaussian noise σ = 0.1; labels −1 (upper) and +1 (lower).
// Deterministic: a fixed-seed mt19937_64 (its output is specified by the standard) and our own
// Box–Muller transform.
struct Moons {
  std::vector<std::array<double, 2>> points;
  std::vector<double> labels;
};

Moons make_moons(int count, std::uint64_t seed) {
  std::mt19937_64 engine(seed);
  auto uniform = [&] { return static_cast<double>(engine() >> 11) * 0x1.0p-53; };
  auto normal = [&] {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  };
  Moons moons;
  const int upper = count / 2;
  for (int i = 0; i < count; ++i) {
    const bool is_upper = i < upper;
    const int k = is_upper ? i : i - upper;
    const int n = is_upper ? upper : count - upper;
    const double t = std::numbers::pi * k / std::max(n - 1, 1);
    const double x = is_upper ? std::cos(t) : 1.0 - std::cos(t);
    const double y = is_upper ? std::sin(t) : 0.5 - std::sin(t);
    moons.points.push_back({x + 0.1 * normal(), y + 0.1 * normal()});
    moons.labels.push_back(is_upper ? -1.0 : 1.0);
  }
  return moons;
}

// A fully connected net of scalar neurons: ReLU on hidden layers, linear output.
struct ScalarMlp {
  struct Layer {
    std::vector<std::vector<Value>> weights;  // [out][in]
    std::vector<Value> biases;
    bool relu = true;
  };
  std::vector<Layer> layers;

  ScalarMlp(const std::vector<int>& sizes, std::uint64_t seed) {
    std::mt19937_64 engine(seed);
    auto uniform = [&] { return static_cast<double>(engine() >> 11) * 0x1.0p-53 * 2.0 - 1.0; };
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
      Layer layer;
      layer.relu = l + 2 < sizes.size();
      for (int o = 0; o < sizes[l + 1]; ++o) {
        std::vector<Value> row;
        for (int i = 0; i < sizes[l]; ++i) row.emplace_back(uniform());
        layer.weights.push_back(std::move(row));
        layer.biases.emplace_back(0.0);
      }
      layers.push_back(std::move(layer));
    }
  }

  Value operator()(const std::array<double, 2>& point) const {
    std::vector<Value> activations = {Value(point[0]), Value(point[1])};
    for (const Layer& layer : layers) {
      std::vector<Value> next;
      for (std::size_t o = 0; o < layer.weights.size(); ++o) {
        Value sum = layer.biases[o];
        for (std::size_t i = 0; i < activations.size(); ++i) {
          sum = sum + layer.weights[o][i] * activations[i];
        }
        next.push_back(layer.relu ? relu(sum) : sum);
      }
      activations = std::move(next);
    }
    return activations[0];
  }

  std::vector<Value> parameters() const {
    std::vector<Value> result;
    for (const Layer& layer : layers) {
      for (const auto& row : layer.weights) result.insert(result.end(), row.begin(), row.end());
      result.insert(result.end(), layer.biases.begin(), layer.biases.end());
    }
    return result;
  }
};

}  // namespace

TEST_CASE("micrograd's demo: a 2-16-16-1 MLP of Values separates two moons (accuracy >= 0.95)",
          "[value][moons]") {
  const Moons moons = make_moons(100, 7);
  ScalarMlp model({2, 16, 16, 1}, 1337);
  const std::vector<Value> parameters = model.parameters();
  REQUIRE(parameters.size() == 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1);

  for (int step = 0; step < 100; ++step) {
    // SVM max-margin loss, mean over the batch, plus L2 regularisation 1e-4 · Σw².
    Value data_loss(0.0);
    for (std::size_t i = 0; i < moons.points.size(); ++i) {
      data_loss = data_loss + relu(1.0 - moons.labels[i] * model(moons.points[i]));
    }
    Value penalty(0.0);
    for (const Value& p : parameters) penalty = penalty + p * p;
    Value loss = data_loss / static_cast<double>(moons.points.size()) + 1e-4 * penalty;

    for (const Value& p : parameters) p.set_grad(0.0);
    loss.backward();
    const double learning_rate = 1.0 - 0.9 * step / 100.0;
    for (const Value& p : parameters) p.set_data(p.data() - learning_rate * p.grad());
  }
  int correct = 0;
  for (std::size_t i = 0; i < moons.points.size(); ++i) {
    correct += (model(moons.points[i]).data() > 0) == (moons.labels[i] > 0) ? 1 : 0;
  }
  const double accuracy = correct / static_cast<double>(moons.points.size());
  INFO("accuracy after 100 steps: " << accuracy);
  CHECK(accuracy >= 0.95);
}
