// Chapter 02: the forward/backward API. A gate (or a whole layer) is an object with two methods:
// forward computes the output and keeps what it will need later; backward receives the gradient
// of the loss with respect to its output and returns the gradients with respect to its inputs.
// We write such gates by hand, first on plain numbers, then as gradlab custom ops (`Function`),
// check them numerically with `gradcheck`, and watch gradcheck catch a wrong backward and flag a
// kink. Last, why a tensor that backward still needs must not be changed in place, and how the
// version counter catches it.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "autograd/function.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/graphviz.hpp"
#include "autograd/ops.hpp"
#include "backends/backend.hpp"
#include "modules/app/cli_flags.hpp"
#include "tutorial.hpp"

using namespace gradlab;
using gradlab::tutorial::Chapter;
using gradlab::tutorial::number;

namespace {

// --- gates on plain numbers: the API in its barest form -------------------------------------

/// z = x + y. Backward: the upstream gradient goes unchanged to both inputs.
struct AddGate {
  double forward(double x, double y) { return x + y; }
  std::pair<double, double> backward(double dz) const { return {dz, dz}; }
};

/// z = x · y. Forward keeps x and y, because backward needs each to scale the other's gradient.
struct MultiplyGate {
  double x = 0, y = 0;
  double forward(double x_in, double y_in) {
    x = x_in;
    y = y_in;
    return x * y;
  }
  std::pair<double, double> backward(double dz) const { return {y * dz, x * dz}; }
};

// --- the same ideas as gradlab custom ops ----------------------------------------------------

/// Elementwise multiply gate as a custom op: z = x ⊙ y, dx = dz ⊙ y, dy = dz ⊙ x.
struct Multiply : Function<Multiply> {
  static constexpr const char* name = "my_multiply";
  static Tensor forward(FunctionContext& ctx, const Tensor& x, const Tensor& y) {
    ctx.save_for_backward({x, y});
    return x * y;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& dz) {
    return {dz * ctx.saved(1), dz * ctx.saved(0)};
  }
};

/// A fully connected layer y = x·W + b, x [N, D], W [D, M], b [M], written like a Torch layer:
///   dx = dy · Wᵀ   (each input gets every output's gradient, weighted by the connecting weight)
///   dW = xᵀ · dy   (each weight gets its input times its output's gradient, summed over the batch)
///   db = Σₙ dy     (the bias was broadcast to every row, so its gradient sums the rows)
struct LinearLayer : Function<LinearLayer> {
  static constexpr const char* name = "my_linear";
  static Tensor forward(FunctionContext& ctx, const Tensor& x, const Tensor& weight,
                        const Tensor& bias) {
    ctx.save_for_backward({x, weight});
    return matmul(x, weight) + bias;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& dy) {
    const Tensor& x = ctx.saved(0);
    const Tensor& weight = ctx.saved(1);
    return {matmul(dy, weight.t()), matmul(x.t(), dy), dy.sum(0)};
  }
};

/// A sigmoid layer whose backward uses only its own output: dx = dy ⊙ y ⊙ (1 − y).
struct SigmoidLayer : Function<SigmoidLayer> {
  static constexpr const char* name = "my_sigmoid";
  static Tensor forward(FunctionContext& ctx, const Tensor& x) {
    Tensor y = 1.0 / (1.0 + exp(-x));
    ctx.save_for_backward({y});
    return y;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& dy) {
    const Tensor& y = ctx.saved(0);
    return {dy * y * (1.0 - y)};
  }
};

/// The same layer with a classic bug: the bias gradient is averaged over the batch instead of
/// summed (as if the loss were divided by N for the bias only).
struct BuggyLinearLayer : Function<BuggyLinearLayer> {
  static constexpr const char* name = "buggy_linear";
  static Tensor forward(FunctionContext& ctx, const Tensor& x, const Tensor& weight,
                        const Tensor& bias) {
    ctx.save_for_backward({x, weight});
    return matmul(x, weight) + bias;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& dy) {
    const Tensor& x = ctx.saved(0);
    const Tensor& weight = ctx.saved(1);
    return {matmul(dy, weight.t()), matmul(x.t(), dy), dy.mean(0)};  // BUG: should be dy.sum(0)
  }
};

/// A second classic bug: the transpose forgotten in dx = dy · Wᵀ. The shapes no longer fit.
struct TransposeForgottenLayer : Function<TransposeForgottenLayer> {
  static constexpr const char* name = "transpose_forgotten_linear";
  static Tensor forward(FunctionContext& ctx, const Tensor& x, const Tensor& weight,
                        const Tensor& bias) {
    ctx.save_for_backward({x, weight});
    return matmul(x, weight) + bias;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& dy) {
    const Tensor& x = ctx.saved(0);
    const Tensor& weight = ctx.saved(1);
    return {matmul(dy, weight), matmul(x.t(), dy), dy.sum(0)};  // BUG: weight instead of weightᵀ
  }
};

double max_abs_difference(const Tensor& a, const Tensor& b) {
  std::vector<double> left = a.to_vector(), right = b.to_vector();
  if (left.size() != right.size()) return INFINITY;
  double worst = 0;
  for (std::size_t i = 0; i < left.size(); ++i)
    worst = std::max(worst, std::abs(left[i] - right[i]));
  return worst;
}

void print_report(const GradcheckResult& result) {
  std::string text = result.report();
  std::string indented;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    indented += "   " + text.substr(start, end - start) + "\n";
    start = end + 1;
  }
  std::cout << indented;
}

const GradcheckInput& input_named(const GradcheckResult& result, const std::string& name) {
  for (const GradcheckInput& input : result.inputs) {
    if (input.name == name) return input;
  }
  throw Error("gradcheck report has no input named " + name);
}

void scalar_gates(Chapter& chapter) {
  chapter.step("A gate is an object with forward() and backward()");
  chapter.say(
      "A graph object runs forward() on its gates in order, then backward() on the same gates in "
      "reverse order. Each gate only knows its own little formula. Here are an add gate and a "
      "multiply gate on plain numbers (a dozen lines of C++ at the top of this file) wired into "
      "f = (x + y) · z.");
  AddGate add;
  MultiplyGate multiply;
  double x = -2, y = 5, z = -4;
  double q = add.forward(x, y);
  double f = multiply.forward(q, z);
  auto [dq, dz] = multiply.backward(1.0);
  auto [dx, dy] = add.backward(dq);
  chapter.table(
      {"call", "receives", "returns"},
      {{"add.forward(x, y)", "-2, 5", number(q, 1)},
       {"multiply.forward(q, z)", "3, -4", number(f, 1)},
       {"multiply.backward(df/df)", "1", fmt::format("df/dq = {:g}, df/dz = {:g}", dq, dz)},
       {"add.backward(df/dq)", number(dq, 1), fmt::format("df/dx = {:g}, df/dy = {:g}", dx, dy)}});
  chapter.notice(
      "the multiply gate had to remember its inputs q and z during forward: its backward "
      "needs them (dq = z · df, dz = q · df). "
      "What a layer stores for backward is most of its memory cost in training.");
  chapter.claim("hand-written gates give df/dx, df/dy, df/dz = −4, −4, 3",
                dx == -4 && dy == -4 && dz == 3, fmt::format("{:g}, {:g}, {:g}", dx, dy, dz));
}

void custom_multiply(Chapter& chapter) {
  chapter.step("The multiply gate as a gradlab custom op, checked by gradcheck");
  chapter.say(
      "In gradlab a custom op is a struct with a static forward(ctx, inputs...) and a static "
      "backward(ctx, upstream); ctx.save_for_backward keeps what backward needs. gradcheck then "
      "nudges every input element by ±h (h = 1e-5, in float64), measures how the output moves, "
      "and compares that numeric slope with our backward's answer.");
  TensorOptions f64{.dtype = DType::float64, .requires_grad = true};
  Tensor x = randn({3, 4}, f64), y = randn({3, 4}, f64);
  GradcheckResult result =
      gradcheck([](const std::vector<Tensor>& in) { return Multiply::apply(in[0], in[1]); }, {x, y},
                {.name = "my_multiply", .input_names = {"x", "y"}});
  print_report(result);
  Tensor ours = Multiply::apply(x, y), library = mul(x, y);
  chapter.claim("gradcheck passes the hand-written multiply", result.passed,
                fmt::format("max rel error {:.1e} / {:.1e}", result.inputs[0].max_relative_error,
                            result.inputs[1].max_relative_error));
  chapter.claim("its forward equals the library's mul", max_abs_difference(ours, library) == 0.0,
                number(max_abs_difference(ours, library)));
}

void custom_layers(Chapter& chapter) {
  chapter.step("A whole layer: Linear and Sigmoid, written with forward and backward");
  chapter.say(
      "A layer is just a bigger gate. For y = x·W + b the backward is three matrix formulas: "
      "dx = dy·Wᵀ, dW = xᵀ·dy and db = the sum of dy over the batch rows. The sigmoid layer "
      "keeps its output y and returns dy ⊙ y ⊙ (1 − y).");
  TensorOptions f64{.dtype = DType::float64, .requires_grad = true};
  const std::int64_t batch = 4, inputs = 5, outputs = 3;
  Tensor x = randn({batch, inputs}, f64), weight = randn({inputs, outputs}, f64),
         bias = randn({outputs}, f64);
  chapter.say(fmt::format("Shapes: x [{}, {}], W [{}, {}], b [{}].", batch, inputs, inputs, outputs,
                          outputs));
  GradcheckResult linear_check = gradcheck(
      [](const std::vector<Tensor>& in) { return LinearLayer::apply(in[0], in[1], in[2]); },
      {x, weight, bias}, {.name = "my_linear", .input_names = {"x", "W", "b"}});
  print_report(linear_check);
  GradcheckResult sigmoid_check =
      gradcheck([](const std::vector<Tensor>& in) { return SigmoidLayer::apply(in[0]); }, {x},
                {.name = "my_sigmoid", .input_names = {"x"}});
  print_report(sigmoid_check);

  chapter.say(
      "Now the hand-written layers inside a bigger graph: loss = cross-entropy(sigmoid(x·W + b)·V, "
      "labels), once with our two layers and once with the library's `linear` and `sigmoid`. "
      "Backprop flows through custom nodes exactly as through built-in ones.");
  Tensor head = randn({outputs, 2}, f64);
  Tensor targets = labels({0, 1, 1, 0});
  auto gradients_of = [&](bool hand_written) {
    for (Tensor* t : {&x, &weight, &bias, &head}) t->zero_grad();
    Tensor hidden = hand_written ? SigmoidLayer::apply(LinearLayer::apply(x, weight, bias))
                                 : sigmoid(linear(x, weight, bias));
    Tensor loss = cross_entropy(matmul(hidden, head), targets);
    loss.backward();
    return std::vector<Tensor>{loss.detach().clone(), x.grad().clone(), weight.grad().clone(),
                               bias.grad().clone(), head.grad().clone()};
  };
  std::vector<Tensor> ours = gradients_of(true), library = gradients_of(false);
  std::vector<std::vector<std::string>> rows;
  const char* names[] = {"loss", "dL/dx", "dL/dW", "dL/db", "dL/dV"};
  double worst = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    double gap = max_abs_difference(ours[i], library[i]);
    worst = std::max(worst, gap);
    rows.push_back({names[i], shape_string(ours[i].shape()), number(ours[i].at(0), 6),
                    number(library[i].at(0), 6), number(gap, 2)});
  }
  chapter.table({"quantity", "shape", "hand-written [0]", "library [0]", "max |difference|"}, rows);
  {
    for (Tensor* t : {&x, &weight, &bias, &head}) t->zero_grad();
    x.set_label("x");
    weight.set_label("W");
    bias.set_label("b");
    head.set_label("V");
    Tensor loss = cross_entropy(
        matmul(SigmoidLayer::apply(LinearLayer::apply(x, weight, bias)), head), targets);
    loss.set_label("loss");
    loss.backward();
    bool png = write_graph(loss, chapter.path("graph_custom_layers"),
                           "The tensor graph of loss, with our my_linear and my_sigmoid nodes");
    chapter.picture(chapter.path(std::string("graph_custom_layers") + (png ? ".png" : ".dot")),
                    "the tensor graph with our my_linear and my_sigmoid nodes");
  }
  chapter.notice(
      "the library's kernels are not magic: they compute the same three formulas, only "
      "faster (one fused kernel on the active backend).");
  chapter.claim(
      "gradcheck passes the hand-written Linear layer", linear_check.passed,
      fmt::format("x {:.1e}, W {:.1e}, b {:.1e}", linear_check.inputs[0].max_relative_error,
                  linear_check.inputs[1].max_relative_error,
                  linear_check.inputs[2].max_relative_error));
  chapter.claim("gradcheck passes the hand-written Sigmoid layer", sigmoid_check.passed,
                fmt::format("{:.1e}", sigmoid_check.inputs[0].max_relative_error));
  chapter.claim("hand-written layers and the library give the same loss and gradients",
                worst < 1e-12, number(worst));
}

/// Returns whether gradcheck caught the bug (it cannot with one example).
bool wrong_backward(Chapter& chapter, std::int64_t batch) {
  chapter.step("A wrong backward, and how gradcheck catches it");
  chapter.say(
      "The layer below has one wrong line: it averages the bias gradient over the batch instead of "
      "summing it. Training would still run and the loss might even go down a little, which is "
      "what makes such bugs dangerous. Given a batch of more than one example, gradcheck points "
      "straight at it.");
  TensorOptions f64{.dtype = DType::float64, .requires_grad = true};
  Tensor x = randn({batch, 5}, f64), weight = randn({5, 3}, f64), bias = randn({3}, f64);
  chapter.say(fmt::format("The batch holds N = {} example{}.", batch, batch == 1 ? "" : "s"));
  GradcheckResult result = gradcheck(
      [](const std::vector<Tensor>& in) { return BuggyLinearLayer::apply(in[0], in[1], in[2]); },
      {x, weight, bias}, {.name = "buggy_linear", .input_names = {"x", "W", "b"}});
  print_report(result);
  const GradcheckInput& b = input_named(result, "b");
  const GradcheckInput& x_check = input_named(result, "x");
  const GradcheckInput& w_check = input_named(result, "W");
  if (batch == 1) {
    // The mean over one example is the sum: the wrong line computes the right number.
    chapter.notice(fmt::format(
        "with one example the mean over the batch is the sum, so the wrong line gives the right "
        "gradient (backward {:.6f}, finite difference {:.6f}) and gradcheck has nothing to "
        "catch. A check on a batch of one cannot see bugs in how a layer treats the batch.",
        b.analytic, b.numeric));
    chapter.claim("with N = 1 the buggy layer is correct and gradcheck passes it", result.passed,
                  result.passed ? "passed" : "failed");
  } else {
    chapter.notice(fmt::format(
        "b stands out: at its worst element backward says {:.6f}, the finite difference says "
        "{:.6f} "
        "— a ratio of {:.2f}, i.e. 1/N for a batch of N = {}. x and W agree within the round-off "
        "gradcheck estimates for each element, so their relative error above the noise is (near) "
        "0.",
        b.analytic, b.numeric, b.analytic / b.numeric, batch));
    chapter.claim("gradcheck FAILED the buggy layer", !result.passed,
                  result.passed ? "passed" : "failed");
    chapter.claim(fmt::format("the wrong b gradient is 1/N = 1/{} of the right one", batch),
                  std::abs(b.analytic * double(batch) - b.numeric) <= 1e-6 * std::abs(b.numeric),
                  fmt::format("ratio {:.4f}", b.analytic / b.numeric));
    chapter.claim(
        "gradcheck pins the bug on b: 'wrong' for b, round-off level (< 1e-6) for x and W",
        b.verdict == GradcheckVerdict::wrong && x_check.max_relative_error < 1e-6 &&
            w_check.max_relative_error < 1e-6,
        fmt::format("b: {} ({:.2f}), x: {:.1e}, W: {:.1e}", verdict_name(b.verdict),
                    b.max_relative_error, x_check.max_relative_error, w_check.max_relative_error));
  }

  chapter.say(
      "A forgotten transpose (dx = dy·W instead of dy·Wᵀ) is a different kind of bug: the shapes "
      "no "
      "longer fit, and gradlab stops at once with an error that names the op and the shapes:");
  std::string message;
  try {
    gradcheck(
        [](const std::vector<Tensor>& in) {
          return TransposeForgottenLayer::apply(in[0], in[1], in[2]);
        },
        {x, weight, bias}, {.name = "transpose_forgotten_linear", .input_names = {"x", "W", "b"}});
  } catch (const Error& error) {
    message = error.what();
  }
  std::cout << "   error: " << message << "\n";
  chapter.claim("the forgotten transpose raises an error naming the shapes", !message.empty(),
                message.empty() ? "no error" : "gradlab::Error");
  return !result.passed;
}

/// Returns how many points gradcheck flagged as kinks.
std::int64_t kinks(Chapter& chapter, double h) {
  chapter.step("Kinks: where the numeric gradient cannot be trusted");
  chapter.say(
      "ReLU has a kink at 0: its slope is 0 on the left and 1 on the right. A central difference "
      "straddling the kink measures the average, 0.5, while backward says 0 (gradlab's choice at "
      "exactly 0). That is not a bug in backward; the numeric estimate is what fails. gradcheck "
      "notices that the left and right slopes disagree and counts such elements as kinks. It "
      "checks "
      "them with the one-sided slope on the side away from the kink; a point exactly at the kink "
      "only needs a value between the two slopes and counts as 'could not check'. If that is more "
      "than half of the points, the check is inconclusive, never passed.");
  chapter.say(fmt::format("The step of the finite differences here is h = {:g}.", h));
  const std::vector<double> points = {-1.5, -0.3, 0.0, 0.0, 2e-6, 0.4, 1.2};
  Tensor x = from(points, {7}, {.dtype = DType::float64, .requires_grad = true});
  std::vector<std::vector<std::string>> rows;
  Tensor y = relu(x);
  y.sum().backward();
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    double value = x.at(i);
    double numeric = (std::max(0.0, value + h) - std::max(0.0, value - h)) / (2 * h);
    double left = (std::max(0.0, value) - std::max(0.0, value - h)) / h;
    double right = (std::max(0.0, value + h) - std::max(0.0, value)) / h;
    rows.push_back({number(value, 6), number(x.grad().at(i), 1), number(numeric, 4),
                    number(left, 2), number(right, 2),
                    std::abs(left - right) > 1e-6 ? "kink" : ""});
  }
  chapter.table({"x", "backward", "central diff", "left slope", "right slope", ""}, rows);
  GradcheckResult result = gradcheck([](const std::vector<Tensor>& in) { return relu(in[0]); }, {x},
                                     {.step = h, .name = "relu", .input_names = {"x"}});
  print_report(result);
  // The points whose finite difference straddles the kink: closer to 0 than h.
  const auto near_kink =
      std::count_if(points.begin(), points.end(), [h](double v) { return std::abs(v) < h; });
  chapter.notice(fmt::format(
      "{} of the 7 points lie within h = {:g} of the kink{}. The course notes' advice: check with "
      "few data points, and watch for kinks.",
      near_kink, h,
      2e-6 < h ? ": x = 2e-6 is not exactly 0, yet its finite difference straddles the kink and "
                 "lies too"
               : "; x = 2e-6 is farther than h from 0, so its finite difference is honest"));
  chapter.claim(
      fmt::format(
          "gradcheck flags the kinks of ReLU ({} elements within h of 0) instead of failing",
          near_kink),
      result.inputs[0].kink_elements == near_kink && result.passed,
      fmt::format("{} kink elements, verdict {}, passed {}", result.inputs[0].kink_elements,
                  verdict_name(result.inputs[0].verdict), result.passed));
  return result.inputs[0].kink_elements;
}

// --- in-place writes and the version counter ------------------------------------------------

void in_place_writes(Chapter& chapter) {
  chapter.step("Writing into a tensor that backward still needs");
  chapter.say(
      "Every backward above read values that its forward kept: the multiply gate's backward "
      "multiplies the upstream gradient by the other input. gradlab's ops keep such inputs by "
      "reference (a handle to the same memory, made with detach()), not as a copy: copying every "
      "input of every op would double the memory a training step needs. The price: if you "
      "overwrite a kept input in place (add_, mul_, zero_, ...) before calling backward, its "
      "backward would read the new values and return a wrong gradient without a word. So each "
      "tensor's memory carries a version counter that every in-place write raises by one; an op "
      "remembers the version of what it kept, and backward compares.");
  TensorOptions f64{.dtype = DType::float64};
  Tensor w = from({1, 2, 3, 4, 5, 6}, {2, 3}, {.dtype = DType::float64, .requires_grad = true});
  Tensor x = from({1, 1, 1, 1, 1, 1}, {2, 3}, f64);
  x.set_label("x");
  Tensor loss = (x * w).sum();  // mul keeps x: d loss / d w = x
  const std::uint64_t saved_at = x.version();
  x.add_(1.0);  // x is now 2 everywhere
  std::cout << "   loss = sum(x * w) recorded with x at version " << saved_at
            << "; after x.add_(1) x is at version " << x.version() << "\n";
  std::string message;
  try {
    loss.backward();
  } catch (const Error& error) {
    message = error.what();
  }
  std::cout << "   loss.backward(): " << (message.empty() ? "no error" : message) << "\n";
  chapter.claim("backward refuses, naming the op that kept x and the op that changed it",
                message.find("saved by `mul`") != std::string::npos &&
                    message.find("by `add_`") != std::string::npos,
                message.empty() ? "no error" : "gradlab::Error");
  chapter.claim("and no gradient reached w", !w.grad().defined(),
                w.grad().defined() ? "w has a gradient" : "w.grad() undefined");

  Tensor fresh = (x * w).sum();  // a new graph keeps x at its new version
  fresh.backward();
  const double worst = max_abs_difference(w.grad(), x);
  chapter.say(
      "A graph recorded after the write keeps x at its new version, and its backward runs: "
      "d loss / d w is the new x.");
  chapter.claim("the new graph's d loss / d w equals the new x (2 everywhere)", worst == 0.0,
                number(worst));

  chapter.say(
      "The same rule guards the parameters: an optimiser step is an in-place write too, so "
      "backward through a graph recorded before the step raises if it needs the old values. "
      "Writing into a leaf "
      "that requires a gradient is refused while gradients are recorded (the write would not be "
      "part of any graph); to reset a parameter, write under a NoGradGuard, as PyTorch's "
      "torch.no_grad().");
  std::string refused;
  try {
    w.fill_(0.0);
  } catch (const Error& error) {
    refused = error.what();
  }
  std::cout << "   w.fill_(0): " << (refused.empty() ? "no error" : refused) << "\n";
  {
    NoGradGuard no_grad;
    w.fill_(0.0);
  }
  std::cout << "   under NoGradGuard: w = " << w << ", version " << w.version() << "\n";
  chapter.claim("fill_ on w is refused while recording and allowed under NoGradGuard",
                !refused.empty() && w.sum().item() == 0.0 && w.version() == 1,
                fmt::format("refused: {}, sum after reset {}", !refused.empty(), w.sum().item()));
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t batch = 4;
  double h = 1e-5;
  return gradlab::tutorial::run_chapter(
      argc, argv,
      {2,
       "forward_backward_api",
       "The forward/backward API and gradient checking",
       {{"--batch 1",
         "the layer whose bias gradient is averaged instead of summed passes gradcheck: over one "
         "example the mean is the sum. Check layers on batches of several examples."},
        {"--batch 32",
         "the wrong bias gradient is now 1/32 of the right one: the bigger the batch, the smaller "
         "the gradient the bug hands to b, and the more the bug looks like a tiny learning rate."},
        {"--h 1e-7",
         "with a smaller finite-difference step x = 2e-6 is no longer within h of ReLU's kink: "
         "the kink count drops from 3 to 2 and that point is checked like any other."}}},
      [&batch, &h](Chapter& chapter) {
        // Gradient checks need float64, which only the reference backend computes (oneDNN has no
        // f64), so this chapter's tensors live there whatever --backend says.
        BackendGuard float64_backend("reference");
        chapter.say(
            "(This chapter computes in float64 on the reference backend: gradient checks need "
            "double "
            "precision, and oneDNN has no float64.)");
        scalar_gates(chapter);
        custom_multiply(chapter);
        custom_layers(chapter);
        const bool caught = wrong_backward(chapter, batch);
        const std::int64_t kink_points = kinks(chapter, h);
        in_place_writes(chapter);
        chapter.summary(fmt::format(
            "gates and layers are forward + backward; hand-written Multiply, Linear and Sigmoid "
            "pass gradcheck and match the library; a bias gradient averaged instead of summed {}; "
            "ReLU's kink is flagged ({} points within h = {:g}), not failed; a tensor changed in "
            "place after an op kept it makes backward refuse.",
            caught ? fmt::format("is caught ('wrong') on a batch of {}", batch)
                   : "goes unseen on a batch of 1 (there the mean is the sum)",
            kink_points, h));
      },
      [&batch, &h](CLI::App& app) {
        app.add_option("--batch", batch,
                       "Examples in the batch of the layer with the wrong backward (1 to 256)")
            ->check(gradlab::cli::whole_number_check(256))
            ->check(gradlab::cli::positive)
            ->capture_default_str();
        app.add_option("--h", h, "Finite-difference step of the kink check (in [1e-9, 1e-2])")
            ->check(gradlab::cli::number_check("in [1e-9, 1e-2]",
                                               [](double v) { return v >= 1e-9 && v <= 1e-2; }))
            ->capture_default_str();
      });
}
