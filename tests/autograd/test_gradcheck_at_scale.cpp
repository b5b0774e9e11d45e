// gradcheck at scale, with tests that can fail: (a) every differentiable tensor op, at shapes up to
// [64, 256] and inputs of std 1 and 3, over 20 seeds, must pass (no false failures); (b) wrong
// backwards written as custom Functions must all be reported wrong or uncomfortable, densely at
// small shapes and by direction at large ones; (c) a wrong |x| checked only near its kink must
// never pass. The counts are printed so a run shows what was tried.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "autograd/function.hpp"
#include "autograd/gradcheck.hpp"
#include "gradcheck_seeds.hpp"
#include "autograd/ops.hpp"
#include "backends/backend.hpp"

// A named namespace around everything: a unity build compiles this file together with the
// folder's other tests, whose helpers may have the same names.
namespace gradcheck_at_scale_tests {

using namespace gradlab;

namespace {

constexpr int kSeeds = testing::kGradcheckSeeds;

constexpr TensorOptions f64{.dtype = DType::float64};

// Options for a check at scale: inputs above 1024 elements are checked on 16 random elements
// and 4 random directions (the defaults: above 4096, 100 and 4; this keeps the suite within its
// time budget).
GradcheckOptions scale_options(const std::string& name, std::uint64_t seed) {
  GradcheckOptions options;
  options.name = name;
  options.seed = seed;
  options.auto_sparse_above = 1024;
  options.auto_sparse_count = 16;
  return options;
}

GradcheckOptions named(const std::string& name) {
  GradcheckOptions options;
  options.name = name;
  return options;
}

Tensor normal64(const Shape& shape, double std) {
  return (randn(shape, f64) * std).requires_grad_(true);
}

// Inputs mapped into (0, ∞) for log, sqrt, fractional powers and denominators: |x| + 0.2.
Tensor positive64(const Shape& shape, double std) {
  std::vector<double> values = (randn(shape, f64) * std).to_vector();
  for (double& value : values) value = std::abs(value) + 0.2;
  return from(values, shape, {.dtype = DType::float64, .requires_grad = true});
}

Tensor random_labels(std::int64_t rows, std::int64_t classes, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int64_t> pick(0, classes - 1);
  std::vector<std::int64_t> values(static_cast<std::size_t>(rows));
  for (auto& value : values) value = pick(rng);
  return labels(values);
}

// One op of the library: how to build its inputs for a shape [rows, cols] and an input std, and
// the function gradcheck differentiates.
struct OpCase {
  std::string name;
  std::function<std::vector<Tensor>(std::int64_t rows, std::int64_t cols, double std,
                                    std::uint64_t seed)>
      inputs;
  std::function<Tensor(const std::vector<Tensor>&)> f;
};

std::vector<OpCase> library_ops() {
  auto one = [](auto make) {
    return [make](std::int64_t r, std::int64_t c, double s, std::uint64_t) {
      return std::vector<Tensor>{make(Shape{r, c}, s)};
    };
  };
  auto two = [](auto make_a, auto make_b) {
    return [make_a, make_b](std::int64_t r, std::int64_t c, double s, std::uint64_t) {
      return std::vector<Tensor>{make_a(Shape{r, c}, s), make_b(Shape{r, c}, s)};
    };
  };
  auto normal = [](const Shape& shape, double s) { return normal64(shape, s); };
  auto positive = [](const Shape& shape, double s) { return positive64(shape, s); };
  std::vector<OpCase> ops = {
      {"add (broadcast row)",
       [](std::int64_t r, std::int64_t c, double s, std::uint64_t) {
         return std::vector<Tensor>{normal64({r, c}, s), normal64({c}, s)};
       },
       [](auto& in) { return in[0] + in[1]; }},
      {"sub", two(normal, normal), [](auto& in) { return in[0] - in[1]; }},
      {"mul", two(normal, normal), [](auto& in) { return in[0] * in[1]; }},
      {"div", two(normal, positive), [](auto& in) { return in[0] / in[1]; }},
      {"maximum", two(normal, normal), [](auto& in) { return maximum(in[0], in[1]); }},
      {"neg", one(normal), [](auto& in) { return -in[0]; }},
      {"scale and shift", one(normal), [](auto& in) { return scale(shift(in[0], 0.5), -3.0); }},
      {"exp", one(normal), [](auto& in) { return exp(in[0]); }},
      {"log", one(positive), [](auto& in) { return log(in[0]); }},
      {"pow 3", one(normal), [](auto& in) { return pow(in[0], 3.0); }},
      {"pow 1.5", one(positive), [](auto& in) { return pow(in[0], 1.5); }},
      {"sqrt", one(positive), [](auto& in) { return sqrt(in[0]); }},
      {"sigmoid", one(normal), [](auto& in) { return sigmoid(in[0]); }},
      {"tanh", one(normal), [](auto& in) { return tanh(in[0]); }},
      {"relu", one(normal), [](auto& in) { return relu(in[0]); }},
      {"leaky_relu", one(normal), [](auto& in) { return leaky_relu(in[0], 0.1); }},
      {"elu", one(normal), [](auto& in) { return elu(in[0], 1.0); }},
      {"prelu per feature",
       [](std::int64_t r, std::int64_t c, double s, std::uint64_t) {
         return std::vector<Tensor>{normal64({r, c}, s), normal64({c}, 0.3)};
       },
       [](auto& in) { return prelu(in[0], in[1]); }},
      {"maxout 4", one(normal), [](auto& in) { return maxout(in[0], 4); }},
      {"softmax", one(normal), [](auto& in) { return softmax(in[0]); }},
      {"log_softmax", one(normal), [](auto& in) { return log_softmax(in[0]); }},
      {"sum", one(normal), [](auto& in) { return sum(in[0]); }},
      {"sum axis 1", one(normal), [](auto& in) { return sum(in[0], 1); }},
      {"mean", one(normal), [](auto& in) { return mean(in[0]); }},
      {"mean axis 0", one(normal), [](auto& in) { return mean(in[0], 0, true); }},
      {"max", one(normal), [](auto& in) { return max(in[0]); }},
      {"max axis 1", one(normal), [](auto& in) { return max(in[0], 1); }},
      {"min axis 0", one(normal), [](auto& in) { return min(in[0], 0); }},
      {"minimum", two(normal, normal), [](auto& in) { return minimum(in[0], in[1]); }},
      {"abs", one(normal), [](auto& in) { return abs(in[0]); }},
      {"clamp", one(normal), [](auto& in) { return clamp(in[0], -0.5, 0.8); }},
      {"slice step 2 and narrow", one(normal),
       [](auto& in) { return narrow(slice(in[0], 1, 1, std::nullopt, 2), 0, -2, 2); }},
      {"index_select repeated", one(normal),
       [](auto& in) {
         return index_select(in[0], 1, labels({0, 2, 2, 1, 0}));
       }},
      {"cat and stack", two(normal, normal),
       [](auto& in) {
         return stack({cat({in[0], in[1]}, 1), cat({in[1], in[0]}, 1)}, 1);
       }},
      {"where", two(normal, normal),
       [](auto& in) { return where(gt(in[0], in[1]), in[0] * in[1], in[1]); }},
      {"var axis 0", one(normal), [](auto& in) { return var(in[0], 0); }},
      {"std axis 1 biased", one(normal), [](auto& in) { return gradlab::std(in[0], 1, false); }},
      {"transpose and reshape", one(normal),
       [](auto& in) { return reshape(transpose(in[0]), {-1}) * 2.0; }},
      {"broadcast_to and sum_to",
       [](std::int64_t r, std::int64_t c, double s, std::uint64_t) {
         return std::vector<Tensor>{normal64({c}, s), normal64({r, c}, s)};
       },
       [](auto& in) {
         return sum_to(broadcast_to(in[0], in[1].shape()) * in[1], {1, in[1].shape()[1]});
       }},
      {"matmul",
       [](std::int64_t r, std::int64_t c, double s, std::uint64_t) {
         return std::vector<Tensor>{normal64({r, c}, s), normal64({c, 16}, s)};
       },
       [](auto& in) { return matmul(in[0], in[1]); }},
      {"linear",
       [](std::int64_t r, std::int64_t c, double s, std::uint64_t) {
         return std::vector<Tensor>{normal64({r, c}, s), normal64({c, 16}, s), normal64({16}, s)};
       },
       [](auto& in) { return linear(in[0], in[1], in[2]); }},
      {"batch_norm train",
       [](std::int64_t r, std::int64_t c, double s, std::uint64_t) {
         return std::vector<Tensor>{normal64({r, c}, s), positive64({c}, 1.0), normal64({c}, 1.0)};
       },
       [](auto& in) { return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true); }},
      {"dropout (fixed mask)", one(normal), [](auto& in) { return dropout(in[0], 0.5, true, 42); }},
      {"cross_entropy",
       [](std::int64_t r, std::int64_t c, double s, std::uint64_t seed) {
         return std::vector<Tensor>{normal64({r, c}, s), random_labels(r, c, seed)};
       },
       [](auto& in) { return cross_entropy(in[0], in[1]); }},
      {"svm_loss",
       [](std::int64_t r, std::int64_t c, double s, std::uint64_t seed) {
         return std::vector<Tensor>{normal64({r, c}, s), random_labels(r, c, seed)};
       },
       [](auto& in) { return svm_loss(in[0], in[1]); }},
  };
  return ops;
}

// Shapes cycle with the seed: dense checks at the small ones, sparse + directional at [64, 256].
const std::vector<std::pair<std::int64_t, std::int64_t>> kShapes = {
    {3, 4}, {8, 16}, {64, 256}, {24, 96}};

}  // namespace

TEST_CASE("gradcheck passes every library op at shapes up to [64, 256], std 1 and 3, over 20 seeds",
          "[gradcheck][scale]") {
  BackendGuard reference("reference");
  int checks = 0, false_failures = 0, printed = 0;
  for (const OpCase& op : library_ops()) {
    for (double std : {1.0, 3.0}) {
      for (int seed = 0; seed < kSeeds; ++seed) {
        const auto [rows, cols] = kShapes[static_cast<std::size_t>(seed) % kShapes.size()];
        manual_seed(1000 + seed);
        std::vector<Tensor> inputs = op.inputs(rows, cols, std, 77 + seed);
        GradcheckResult result = gradcheck(op.f, inputs, scale_options(op.name, 5000 + seed));
        ++checks;
        if (!result.passed) {
          ++false_failures;
          if (printed++ < 5)
            std::cout << "std " << std << ", seed " << seed << "\n" << result.report();
        }
      }
    }
  }
  std::cout << "gradcheck at scale: " << false_failures << " false failures of " << checks
            << " checks of correct ops\n";
  CHECK(checks >= 20);
  CHECK(false_failures == 0);
}

// --- mutation suite ----------------------------------------------------------------------------

namespace {

enum class Mutation { scaled, sign_flipped, upstream_dropped, transposed, one_zeroed };

const char* mutation_name(Mutation m) {
  switch (m) {
    case Mutation::scaled: return "scaled by 1.001";
    case Mutation::sign_flipped: return "sign flipped";
    case Mutation::upstream_dropped: return "upstream dropped";
    case Mutation::transposed: return "transposed";
    case Mutation::one_zeroed: return "one element zeroed";
  }
  return "?";
}

// Applies a mutation to a correct gradient. "Upstream dropped" is done by the caller (it computes
// the gradient with an upstream of ones); "one element zeroed" zeroes the element with the
// largest |gradient| (a single element whose gradient is negligible cannot be seen by any check).
Tensor mutate(const Tensor& gradient, Mutation mutation) {
  switch (mutation) {
    case Mutation::scaled: return gradient * 1.001;
    case Mutation::sign_flipped: return -gradient;
    case Mutation::transposed: return transpose(gradient);  // square inputs only
    case Mutation::one_zeroed: {
      std::vector<double> values = gradient.to_vector();
      auto largest = std::max_element(values.begin(), values.end(),
                                      [](double a, double b) { return std::abs(a) < std::abs(b); });
      *largest = 0;
      return from(values, gradient.shape(), {.dtype = gradient.dtype()});
    }
    case Mutation::upstream_dropped: return gradient;
  }
  return gradient;
}

// The op under test, chosen by ctx.values["op"].
enum class MutatedOp { tanh_op, sigmoid_op, mul_op, matmul_op, softmax_op, cross_entropy_op };

const char* op_name(MutatedOp op) {
  switch (op) {
    case MutatedOp::tanh_op: return "tanh";
    case MutatedOp::sigmoid_op: return "sigmoid";
    case MutatedOp::mul_op: return "mul";
    case MutatedOp::matmul_op: return "matmul";
    case MutatedOp::softmax_op: return "softmax";
    case MutatedOp::cross_entropy_op: return "cross_entropy";
  }
  return "?";
}

Tensor one_hot(const Tensor& label_tensor, const Shape& shape) {
  std::vector<double> values(static_cast<std::size_t>(shape[0] * shape[1]), 0.0);
  std::vector<double> label_values = label_tensor.to_vector();
  for (std::size_t row = 0; row < label_values.size(); ++row) {
    values[row * static_cast<std::size_t>(shape[1]) + static_cast<std::size_t>(label_values[row])] =
        1.0;
  }
  return from(values, shape, {.dtype = DType::float64});
}

// A custom op whose forward is correct and whose backward for input a is mutated. Input b is the
// second operand (mul, matmul), or labels as doubles (cross-entropy), or unused.
struct Mutated : Function<Mutated> {
  static constexpr const char* name = "mutated";
  static Tensor forward(FunctionContext& ctx, const Tensor& a, const Tensor& b, double op,
                        double mutation) {
    ctx.values["op"] = op;
    ctx.values["mutation"] = mutation;
    ctx.save_for_backward({a, b});
    switch (static_cast<MutatedOp>(op)) {
      case MutatedOp::tanh_op: return tanh(a);
      case MutatedOp::sigmoid_op: return sigmoid(a);
      case MutatedOp::mul_op: return a * b;
      case MutatedOp::matmul_op: return matmul(a, b);
      case MutatedOp::softmax_op: return softmax(a);
      case MutatedOp::cross_entropy_op: {
        // mean over rows of −log softmax at the label
        Tensor picked = sum(log_softmax(a) * one_hot(b, a.shape()));
        return picked * (-1.0 / static_cast<double>(a.shape()[0]));
      }
    }
    return a;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& upstream_in) {
    const Tensor& a = ctx.saved(0);
    const Tensor& b = ctx.saved(1);
    const auto mutation = static_cast<Mutation>(ctx.values["mutation"]);
    const Tensor upstream = mutation == Mutation::upstream_dropped
                                ? ones(upstream_in.shape(), {.dtype = DType::float64})
                                : upstream_in;
    Tensor da, db;
    switch (static_cast<MutatedOp>(ctx.values["op"])) {
      case MutatedOp::tanh_op: {
        Tensor y = tanh(a);
        da = upstream * (1.0 - y * y);
        break;
      }
      case MutatedOp::sigmoid_op: {
        Tensor y = sigmoid(a);
        da = upstream * y * (1.0 - y);
        break;
      }
      case MutatedOp::mul_op:
        da = upstream * b;
        db = upstream * a;
        break;
      case MutatedOp::matmul_op:
        da = matmul(upstream, mutation == Mutation::transposed ? b : transpose(b));
        db = matmul(transpose(a), upstream);
        break;
      case MutatedOp::softmax_op: {
        Tensor y = softmax(a);
        da = y * (upstream - sum(upstream * y, -1, true));
        break;
      }
      case MutatedOp::cross_entropy_op:
        da = (softmax(a) - one_hot(b, a.shape())) *
             (upstream.item() / static_cast<double>(a.shape()[0]));
        break;
    }
    const bool transposed_in_formula =
        static_cast<MutatedOp>(ctx.values["op"]) == MutatedOp::matmul_op;
    if (!(mutation == Mutation::transposed && transposed_in_formula)) da = mutate(da, mutation);
    return {da, db};
  }
};

struct MutationRun {
  int checks = 0, caught = 0;
};

void run_mutation(MutatedOp op, Mutation mutation, std::int64_t n, int seed, MutationRun& run,
                  std::vector<std::string>& misses) {
  manual_seed(300 + seed);
  // Square [n, n] inputs, so that a transposed gradient has the right shape.
  Tensor a = (randn({n, n}, f64) * (seed % 2 == 0 ? 1.0 : 3.0)).requires_grad_(true);
  Tensor b = randn({n, n}, f64);
  if (op == MutatedOp::cross_entropy_op) {
    std::vector<double> classes = random_labels(n, n, 900 + seed).to_vector();
    b = from(classes, {n}, {.dtype = DType::float64});
  }
  GradcheckOptions options =
      scale_options(std::string(op_name(op)) + ", " + mutation_name(mutation), 40 + seed);
  options.input_names = {"a", "b"};
  const double op_code = static_cast<double>(op), mutation_code = static_cast<double>(mutation);
  GradcheckResult result = gradcheck(
      [&](const std::vector<Tensor>& in) {
        return Mutated::apply(in[0], in[1], op_code, mutation_code);
      },
      {a, b}, options);
  const GradcheckVerdict verdict = result.inputs[0].verdict;
  ++run.checks;
  if (verdict == GradcheckVerdict::wrong || verdict == GradcheckVerdict::uncomfortable) {
    ++run.caught;
  } else {
    misses.push_back(result.report());
  }
}

}  // namespace

TEST_CASE(
    "gradcheck reports every planted backward bug wrong or uncomfortable, dense and directional",
    "[gradcheck][scale][mutation]") {
  BackendGuard reference("reference");
  // A correct backward first: the Mutated op itself passes when nothing is mutated.
  {
    manual_seed(5);
    Tensor a = randn({6, 6}, {.dtype = DType::float64, .requires_grad = true});
    Tensor b = randn({6, 6}, f64);
    for (MutatedOp op : {MutatedOp::tanh_op, MutatedOp::matmul_op, MutatedOp::softmax_op}) {
      GradcheckResult result = gradcheck(
          [op](const auto& in) {
            return Mutated::apply(in[0], in[1], static_cast<double>(op), -1.0);
          },
          {a, b});
      INFO(result.report());
      CHECK(result.passed);
    }
  }
  MutationRun dense, directional;
  std::vector<std::string> misses;
  const int seeds = kSeeds >= 20 ? 3 : 1;
  for (MutatedOp op : {MutatedOp::tanh_op, MutatedOp::sigmoid_op, MutatedOp::mul_op,
                       MutatedOp::matmul_op, MutatedOp::softmax_op, MutatedOp::cross_entropy_op}) {
    for (Mutation mutation : {Mutation::scaled, Mutation::sign_flipped, Mutation::upstream_dropped,
                              Mutation::transposed, Mutation::one_zeroed}) {
      for (int seed = 0; seed < seeds; ++seed) {
        run_mutation(op, mutation, 8, seed, dense, misses);  // 64 elements: every one checked
        run_mutation(op, mutation, 128, seed, directional,
                     misses);  // 16384: 16 elements + 4 directions
      }
    }
  }
  for (std::size_t i = 0; i < std::min<std::size_t>(misses.size(), 5); ++i) std::cout << misses[i];
  std::cout << "gradcheck mutation suite: caught " << dense.caught << " of " << dense.checks
            << " dense, " << directional.caught << " of " << directional.checks << " directional\n";
  CHECK(dense.caught == dense.checks);
  CHECK(directional.caught == directional.checks);
}

// --- kinks ---------------------------------------------------------------------------------

namespace {

// |x| with a backward of k·sign(x) (k = 1 is right, k = 5 is wrong; sign(0) = 0).
struct Abs : Function<Abs> {
  static constexpr const char* name = "abs";
  static Tensor forward(FunctionContext& ctx, const Tensor& x, double k) {
    ctx.values["k"] = k;
    ctx.save_for_backward({x});
    return relu(x) + relu(-x);
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& upstream) {
    std::vector<double> sign = ctx.saved(0).to_vector();
    for (double& s : sign) s = s > 0 ? ctx.values["k"] : s < 0 ? -ctx.values["k"] : 0.0;
    return {upstream * from(sign, ctx.saved(0).shape(), {.dtype = DType::float64})};
  }
};

GradcheckResult check_abs(std::vector<double> points, double k) {
  Tensor x = from(points, {static_cast<std::int64_t>(points.size())},
                  {.dtype = DType::float64, .requires_grad = true});
  GradcheckOptions options;
  options.name = k == 1 ? "abs" : "abs with 5·sign(x)";
  options.input_names = {"x"};
  return gradcheck([k](const auto& in) { return Abs::apply(in[0], k); }, {x}, options);
}

}  // namespace

TEST_CASE("gradcheck never passes a wrong |x| checked at its kink", "[gradcheck][kink]") {
  GradcheckResult near = check_abs({0.0, 1e-7, -1e-7, 2e-6}, 5.0);
  std::cout << near.report();
  CHECK_FALSE(near.passed);
  CHECK(near.inputs[0].verdict == GradcheckVerdict::wrong);  // the one-sided slopes see the 5
  CHECK(near.inputs[0].one_sided == 3);

  GradcheckResult at = check_abs({0.0, 0.0, 0.0}, 5.0);  // nothing but the kink itself
  std::cout << at.report();
  CHECK_FALSE(at.passed);
  CHECK(at.inconclusive);
  CHECK(at.inputs[0].verdict == GradcheckVerdict::inconclusive);
  CHECK_THAT(at.report(),
             Catch::Contains("INCONCLUSIVE") && Catch::Contains("move the test points away"));

  // The right |x| passes at the same points: the one-sided slopes agree with sign(x).
  GradcheckResult right = check_abs({0.0, 1e-7, -1e-7, 2e-6}, 1.0);
  INFO(right.report());
  CHECK(right.passed);
  CHECK(right.inputs[0].unchecked == 1);
  // ... but not at the kink alone.
  CHECK(check_abs({0.0, 0.0}, 1.0).inconclusive);
}

TEST_CASE("gradcheck calls an op computed in float32 inside inconclusive or failed, never passed",
          "[gradcheck]") {
  manual_seed(3);
  Tensor x = randn({6, 7}, {.dtype = DType::float64, .requires_grad = true});
  GradcheckResult result = gradcheck(
      [](const auto& in) { return tanh(in[0].to(DType::float32)).to(DType::float64); }, {x});
  std::cout << result.report();
  CHECK_FALSE(result.passed);
  CHECK(result.inconclusive);
  CHECK_THAT(result.report(), Catch::Contains("float32"));
}

TEST_CASE("gradcheck's report names the place, the input value and the noise", "[gradcheck]") {
  Tensor x = from({0.5, -1.0, 2.0, 0.25, 1.5, -0.75}, {2, 3},
                  {.dtype = DType::float64, .requires_grad = true});
  GradcheckResult result = gradcheck([](const auto& in) { return Abs::apply(in[0], 5.0); }, {x},
                                     {.name = "abs5", .input_names = {"x"}});
  const GradcheckInput& input = result.inputs[0];
  CHECK(input.verdict == GradcheckVerdict::wrong);
  CHECK(input.worst_position.size() == 2);
  CHECK(input.worst_place == "[" + std::to_string(input.worst_position[0]) + ", " +
                                 std::to_string(input.worst_position[1]) + "]");
  CHECK(input.value == x.at(input.worst_index));
  CHECK(input.noise > 0);
  CHECK(input.noise < 1e-6);
  CHECK_THAT(result.report(), Catch::Contains(input.worst_place) && Catch::Contains("wrong"));
  nlohmann::json json = nlohmann::json::parse(result.to_json());
  CHECK(json["inputs"][0]["worst_place"] == input.worst_place);
  CHECK(json["inputs"][0]["worst_position"].size() == 2);
  CHECK(json["inputs"][0]["noise"].get<double>() == input.noise);
}

// --- the cases of issue 14 ---------------------------------------------------------------------

namespace {

// softplus(x) = log(1 + eˣ) written naively, with the right backward σ(x). Near x = −18 its
// output (1.5e-8) carries the round-off of the 1 inside: a test of the noise estimate.
struct NaiveSoftplus : Function<NaiveSoftplus> {
  static constexpr const char* name = "softplus";
  static Tensor forward(FunctionContext& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return log(exp(x) + 1.0);
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& upstream) {
    return {upstream * sigmoid(ctx.saved(0))};
  }
};

}  // namespace

TEST_CASE("gradcheck passes the correct ops issue 14 saw failing, with the default options",
          "[gradcheck][scale]") {
  BackendGuard reference("reference");
  const int seeds = kSeeds >= 20 ? 4 : 1;
  int checks = 0, false_failures = 0;
  auto expect_pass = [&](const GradcheckResult& result) {
    ++checks;
    if (!result.passed && false_failures++ < 3) std::cout << result.report();
  };
  for (int seed = 0; seed < seeds; ++seed) {
    manual_seed(400 + seed);  // tanh on randn({32, 64}) failed 20 of 20 seeds before
    expect_pass(gradcheck([](const auto& in) { return tanh(in[0]); }, {normal64({32, 64}, 1.0)},
                          named("tanh")));
    for (double std : {3.0, 5.0}) {  // 50 × 40, std 3–5: tiny gradients of tanh and softplus
      Tensor x = normal64({50, 40}, std);
      expect_pass(gradcheck([](const auto& in) { return tanh(in[0]); }, {x}, named("tanh")));
      expect_pass(gradcheck([](const auto& in) { return NaiveSoftplus::apply(in[0]); }, {x},
                            named("softplus")));
    }
    Tensor near_minus_ten = (randn({8, 8}, f64) * 0.5 - 10.0).requires_grad_(true);
    expect_pass(gradcheck([](const auto& in) { return NaiveSoftplus::apply(in[0]); },
                          {near_minus_ten}, named("softplus near -10")));
  }
  std::cout << "issue 14's cases: " << false_failures << " false failures of " << checks << "\n";
  CHECK(false_failures == 0);
}

}  // namespace gradcheck_at_scale_tests
