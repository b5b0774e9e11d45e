// Chapter 01: computational graphs and backpropagation, one number at a time.
//
// Every quantity here is a scalar `Value` (autograd/value.hpp): each op stores its local
// gradients when it computes its output, and `backward()` walks the graph from the end,
// multiplying each local gradient by the gradient arriving from above. The chapter prints that
// product at every node, so the learner can follow the chain rule with a pencil.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "autograd/graphviz.hpp"
#include "autograd/value.hpp"
#include "modules/app/cli_flags.hpp"
#include "tutorial.hpp"

using gradlab::Value;
using gradlab::tutorial::Chapter;
using gradlab::tutorial::number;

namespace {

/// How a node is called in the tables: its label, else its op and value.
std::string name_of(const Value& value) {
  if (!value.label().empty()) return value.label();
  return fmt::format("({} → {})", value.op_name(), number(value.data(), 3));
}

/// The forward pass, one row per node in the order it was computed.
void print_forward(Chapter& chapter, const Value& root) {
  std::vector<std::vector<std::string>> rows;
  for (const Value& node : gradlab::topological_order(root)) {
    std::string inputs;
    for (const Value& child : node.children())
      inputs += (inputs.empty() ? "" : ", ") + name_of(child);
    rows.push_back(
        {name_of(node), node.is_leaf() ? "input" : node.op_name(), inputs, number(node.data())});
  }
  chapter.table({"node", "gate", "inputs", "value"}, rows);
}

/// The backward pass, one row per edge: the gate's local gradient times the gradient arriving at
/// the gate from above gives what flows into that input. Nodes are listed from the output back.
void print_backward(Chapter& chapter, const Value& root) {
  std::vector<Value> order = gradlab::topological_order(root);
  std::vector<std::vector<std::string>> rows;
  for (auto node = order.rbegin(); node != order.rend(); ++node) {
    std::vector<Value> children = node->children();
    std::vector<double> local = node->local_gradients();
    for (std::size_t i = 0; i < children.size(); ++i) {
      double upstream = node->upstream_gradient();
      rows.push_back({fmt::format("{} [{}]", name_of(*node), node->op_name()), name_of(children[i]),
                      number(local[i]), number(upstream), number(local[i] * upstream)});
    }
  }
  chapter.table({"gate [op]", "→ input", "local gradient", "× upstream", "= contribution"}, rows);
}

/// Central difference (f(v + h) − f(v − h)) / 2h of a graph rebuilt by `build` with input `index`
/// nudged: an independent check of a gradient that uses no backpropagation at all.
double numeric_gradient(const std::function<Value(const std::vector<double>&)>& build,
                        std::vector<double> inputs, std::size_t index, double h = 1e-6) {
  double original = inputs[index];
  inputs[index] = original + h;
  double plus = build(inputs).data();
  inputs[index] = original - h;
  double minus = build(inputs).data();
  return (plus - minus) / (2 * h);
}

/// Writes the graph picture and records it.
void draw(Chapter& chapter, const Value& root, const std::string& file, const std::string& what) {
  bool png = gradlab::write_graph(root, chapter.path(file), what);
  chapter.picture(chapter.path(file + (png ? ".png" : ".dot")), what);
}

bool close(double a, double b, double tolerance) { return std::abs(a - b) <= tolerance; }

/// The lecture quotes its numbers rounded to two decimals; a claim compares after rounding.
bool rounds_to(double value, double printed) {
  return std::abs(std::round(value * 100) / 100 - printed) < 1e-9;
}

/// The inputs of f = (x + y) · z: the lecture's −2, 5, −4 unless --x, --y, --z say otherwise.
struct Inputs {
  double x = -2.0, y = 5.0, z = -4.0;
  bool lecture() const { return x == -2.0 && y == 5.0 && z == -4.0; }
};

void simple_expression(Chapter& chapter, const Inputs& in) {
  chapter.step("The smallest graph: f = (x + y) · z");
  chapter.say(fmt::format(
      "We make three input nodes x = {:g}, y = {:g}, z = {:g}{} and two gates: an add gate "
      "computes q = x + y, a multiply gate computes f = q · z. Each gate, while it computes its "
      "output, also writes down how its output would move if one input moved a little: its local "
      "gradient. For q = x + y that is 1 for both inputs; for f = q · z it is z for q and q for z.",
      in.x, in.y, in.z, in.lecture() ? " (the lecture's values)" : ""));
  Value x(in.x, "x"), y(in.y, "y"), z(in.z, "z");
  Value q = (x + y).set_label("q");
  Value f = (q * z).set_label("f");
  print_forward(chapter, f);

  chapter.step("Backward: local gradient × upstream gradient, at every node");
  chapter.say(
      "backward() starts at f with df/df = 1 and visits the gates from the last to the first. "
      "Each gate multiplies its local gradient by the gradient that arrived at its output "
      "(the upstream gradient) and passes the product down to that input. No gate needs to know "
      "anything about the rest of the graph.");
  f.backward();
  print_backward(chapter, f);
  std::cout << fmt::format("  f = {:g}:  df/dx = {:g}, df/dy = {:g}, df/dz = {:g}\n", f.data(),
                           x.grad(), y.grad(), z.grad());
  chapter.notice(fmt::format(
      "df/dz = q = {:g}: the multiply gate hands each input the *other* input times the upstream "
      "gradient. df/dx = df/dq · dq/dx = z · 1 = {:g}: the add gate passes {:g} on to x and y "
      "alike.",
      z.grad(), x.grad(), q.grad()));

  auto build = [](const std::vector<double>& v) {
    return (Value(v[0]) + Value(v[1])) * Value(v[2]);
  };
  std::vector<double> at = {in.x, in.y, in.z};
  std::vector<std::vector<std::string>> rows;
  const char* names[] = {"x", "y", "z"};
  const Value* leaves[] = {&x, &y, &z};
  for (std::size_t i = 0; i < 3; ++i) {
    double numeric = numeric_gradient(build, at, i);
    rows.push_back({names[i], number(leaves[i]->grad()), number(numeric, 6)});
  }
  chapter.say("The same gradients by nudging each input by ±1e-6 and re-running the forward pass:");
  chapter.table({"input", "backprop", "finite difference"}, rows);

  // With the lecture's inputs the lecture's numbers; with others, the rules they come from.
  const double sum = in.x + in.y;
  chapter.claim(
      fmt::format("f({:g}, {:g}, {:g}) = (x + y) · z = {:g}", in.x, in.y, in.z, sum * in.z),
      f.data() == sum * in.z && (!in.lecture() || f.data() == -12.0),
      fmt::format("{:g}", f.data()));
  chapter.claim(fmt::format("df/dx = z = {:g}", in.z), x.grad() == in.z,
                fmt::format("{:g}", x.grad()));
  chapter.claim(fmt::format("df/dy = z = {:g}", in.z), y.grad() == in.z,
                fmt::format("{:g}", y.grad()));
  chapter.claim(fmt::format("df/dz = x + y = {:g}", sum), z.grad() == sum,
                fmt::format("{:g}", z.grad()));
  // A central difference of this function is exact up to round-off, which grows with |f| / h.
  const double tolerance =
      1e-6 * std::max(1.0, std::abs(sum * in.z) + std::abs(sum) + std::abs(in.z));
  chapter.claim("finite differences agree with backprop",
                close(numeric_gradient(build, at, 0), in.z, tolerance) &&
                    close(numeric_gradient(build, at, 2), sum, tolerance),
                fmt::format("dx ≈ {:.8f}, dz ≈ {:.8f}", numeric_gradient(build, at, 0),
                            numeric_gradient(build, at, 2)));
  draw(chapter, f, "graph_f", "f = (x + y) · z with data and gradients in every box");
}

struct NeuronGradients {
  double output;
  std::vector<double> dw;
  std::vector<double> dx;
};

void sigmoid_neuron(Chapter& chapter) {
  chapter.step("A 2-D neuron built from primitive gates");
  chapter.say(
      "A neuron with weights w = [2, −3] and bias w2 = −3 sees the input x = [−1, −2] and "
      "squashes its weighted sum with the sigmoid σ(s) = 1 / (1 + e^(−s)). We build σ out of "
      "the smallest gates that exist: multiply by −1, exp, add 1, and take 1 / (·). Eight gates "
      "in all; backprop does not care that together they form a well-known function.");
  Value w0(2.0, "w0"), w1(-3.0, "w1"), w2(-3.0, "w2");
  Value x0(-1.0, "x0"), x1(-2.0, "x1");
  Value product0 = (w0 * x0).set_label("w0·x0");
  Value product1 = (w1 * x1).set_label("w1·x1");
  Value weighted = (product0 + product1).set_label("w0·x0 + w1·x1");
  Value s = (weighted + w2).set_label("s");
  Value negated = (s * -1.0).set_label("−s");
  Value exponential = gradlab::exp(negated).set_label("e^(−s)");
  Value denominator = (exponential + 1.0).set_label("1 + e^(−s)");
  Value f = (1.0 / denominator).set_label("f");
  print_forward(chapter, f);
  f.backward();
  chapter.say("Backward through all eight gates:");
  print_backward(chapter, f);
  NeuronGradients primitive{f.data(), {w0.grad(), w1.grad(), w2.grad()}, {x0.grad(), x1.grad()}};
  std::cout << fmt::format(
      "  f = {:.2f};  df/dw = [{:.2f}, {:.2f}, {:.2f}];  df/dx = [{:.2f}, {:.2f}]\n",
      primitive.output, primitive.dw[0], primitive.dw[1], primitive.dw[2], primitive.dx[0],
      primitive.dx[1]);
  chapter.notice(fmt::format(
      "the 1/(·) gate gets upstream 1 and passes −1/d² = {} down; the +1 gate passes it on "
      "unchanged; the exp gate multiplies it by its own output e^(−s) = {}. Every row is one "
      "multiplication, nothing more.",
      number(denominator.upstream_gradient()), number(exponential.data())));
  draw(chapter, f, "graph_neuron_primitive", "the sigmoid neuron from eight primitive gates");

  chapter.step("The same neuron with one sigmoid gate");
  chapter.say(
      "We may group gates as we like, as long as we know the group's local gradient. For the "
      "sigmoid it is remarkably simple: σ′(s) = (1 − σ(s)) · σ(s), computed from the output "
      "alone. One sigmoid gate replaces the last four primitive gates.");
  Value v0(2.0, "w0"), v1(-3.0, "w1"), v2(-3.0, "w2");
  Value u0(-1.0, "x0"), u1(-2.0, "x1");
  Value p0 = (v0 * u0).set_label("w0·x0");
  Value p1 = (v1 * u1).set_label("w1·x1");
  Value gate_input = ((p0 + p1).set_label("w0·x0 + w1·x1") + v2).set_label("s");
  Value g = gradlab::sigmoid(gate_input).set_label("f");
  g.backward();
  print_backward(chapter, g);
  double sigma = g.data();
  double by_formula = (1 - sigma) * sigma;
  chapter.table({"quantity", "value"},
                {{"σ(s) = f", number(sigma)},
                 {"(1 − σ)·σ from the formula", number(by_formula)},
                 {"local gradient stored by the sigmoid gate", number(g.local_gradients()[0])}});
  NeuronGradients grouped{g.data(), {v0.grad(), v1.grad(), v2.grad()}, {u0.grad(), u1.grad()}};
  std::vector<std::vector<std::string>> rows;
  const char* names[] = {"w0", "w1", "w2", "x0", "x1"};
  for (std::size_t i = 0; i < 5; ++i) {
    double a = i < 3 ? primitive.dw[i] : primitive.dx[i - 3];
    double b = i < 3 ? grouped.dw[i] : grouped.dx[i - 3];
    rows.push_back({names[i], number(a, 6), number(b, 6), number(std::abs(a - b), 2)});
  }
  chapter.table({"gradient", "8 primitive gates", "1 sigmoid gate", "difference"}, rows);
  chapter.notice(
      "the two graphs give the same gradients; the grouped one needs fewer nodes, and its "
      "local gradient reuses the output it already computed.");
  draw(chapter, g, "graph_neuron_sigmoid_gate", "the sigmoid neuron with one sigmoid gate");

  chapter.claim("neuron output ≈ 0.73", rounds_to(primitive.output, 0.73),
                number(primitive.output));
  chapter.claim(
      "df/dw ≈ [−0.20, −0.39, 0.20]",
      rounds_to(primitive.dw[0], -0.20) && rounds_to(primitive.dw[1], -0.39) &&
          rounds_to(primitive.dw[2], 0.20),
      fmt::format("[{:.4f}, {:.4f}, {:.4f}]", primitive.dw[0], primitive.dw[1], primitive.dw[2]));
  chapter.claim("df/dx ≈ [0.39, −0.59]",
                rounds_to(primitive.dx[0], 0.39) && rounds_to(primitive.dx[1], -0.59),
                fmt::format("[{:.4f}, {:.4f}]", primitive.dx[0], primitive.dx[1]));
  chapter.claim("sigmoid gate's local gradient = (1 − σ)σ",
                close(g.local_gradients()[0], by_formula, 1e-15),
                number(g.local_gradients()[0], 6));
  double largest_gap = 0;
  for (std::size_t i = 0; i < 3; ++i)
    largest_gap = std::max(largest_gap, std::abs(primitive.dw[i] - grouped.dw[i]));
  for (std::size_t i = 0; i < 2; ++i)
    largest_gap = std::max(largest_gap, std::abs(primitive.dx[i] - grouped.dx[i]));
  chapter.claim("primitive gates and the sigmoid gate agree", largest_gap < 1e-12,
                number(largest_gap));
}

void gate_patterns(Chapter& chapter) {
  chapter.step("Patterns in the backward flow: add distributes, mul swaps, max routes");
  chapter.say(
      "Take f = 2 · (x · y + max(z, w)) at x = 3, y = −4, z = 2, w = −1. Three gates show three "
      "habits: the add gate hands its upstream gradient unchanged to every input; the multiply "
      "gate gives each input the other input's value times the upstream; the max gate sends the "
      "whole upstream gradient to the input that won and nothing to the other.");
  Value x(3.0, "x"), y(-4.0, "y"), z(2.0, "z"), w(-1.0, "w");
  Value product = (x * y).set_label("x·y");
  Value larger = gradlab::max(z, w).set_label("max(z, w)");
  Value total = (product + larger).set_label("sum");
  Value f = (total * 2.0).set_label("f");
  f.backward();
  print_backward(chapter, f);
  double upstream = total.upstream_gradient();
  chapter.table({"gate", "upstream", "to its inputs", "the habit"},
                {{"add: x·y + max(z, w)", number(upstream, 1),
                  fmt::format("{} and {}", number(product.upstream_gradient(), 1),
                              number(larger.upstream_gradient(), 1)),
                  "distributes: both inputs get the upstream"},
                 {"mul: x · y", number(product.upstream_gradient(), 1),
                  fmt::format("x: {}, y: {}", number(x.grad(), 1), number(y.grad(), 1)),
                  "swaps: x gets y·upstream, y gets x·upstream"},
                 {"max(z, w)", number(larger.upstream_gradient(), 1),
                  fmt::format("z: {}, w: {}", number(z.grad(), 1), number(w.grad(), 1)),
                  "routes: the winner z gets it all, w gets 0"}});
  chapter.claim("add distributes: both inputs receive the upstream 2",
                product.upstream_gradient() == 2.0 && larger.upstream_gradient() == 2.0,
                fmt::format("{:g}, {:g}", product.upstream_gradient(), larger.upstream_gradient()));
  chapter.claim("mul swaps: df/dx = y·2 = −8, df/dy = x·2 = 6", x.grad() == -8.0 && y.grad() == 6.0,
                fmt::format("{:g}, {:g}", x.grad(), y.grad()));
  chapter.claim("max routes: df/dz = 2, df/dw = 0", z.grad() == 2.0 && w.grad() == 0.0,
                fmt::format("{:g}, {:g}", z.grad(), w.grad()));
  draw(chapter, f, "graph_patterns", "add, mul and max gates with their gradients");
}

void forks(Chapter& chapter) {
  chapter.step("Gradients add where a value forks");
  chapter.say(
      "When one value feeds two gates, a change in it moves the output along both paths, so its "
      "gradient is the sum of what comes back along each. Here x = 3 and y = −4 feed both "
      "a = x · y and b = x + y, and f = a · b. Below, every contribution that arrives at x and y, "
      "then their sums.");
  Value x(3.0, "x"), y(-4.0, "y");
  Value a = (x * y).set_label("a = x·y");
  Value b = (x + y).set_label("b = x + y");
  Value f = (a * b).set_label("f");
  f.backward();
  print_backward(chapter, f);

  std::vector<std::vector<std::string>> rows;
  std::string x_paths;
  bool sums_match = true;
  for (const Value* leaf : {&x, &y}) {
    double sum = 0;
    std::string parts;
    for (const Value* gate : {&a, &b}) {
      std::vector<Value> children = gate->children();
      std::vector<double> local = gate->local_gradients();
      for (std::size_t i = 0; i < children.size(); ++i) {
        if (children[i].node() != leaf->node()) continue;
        double contribution = local[i] * gate->upstream_gradient();
        sum += contribution;
        parts += fmt::format("{}{} (via {})", parts.empty() ? "" : " + ",
                             contribution < 0 ? fmt::format("({:g})", contribution)
                                              : fmt::format("{:g}", contribution),
                             gate->label());
      }
    }
    sums_match = sums_match && sum == leaf->grad();
    rows.push_back({leaf->label(), parts, number(sum, 1), number(leaf->grad(), 1)});
    if (leaf == &x) x_paths = parts;
  }
  chapter.table({"input", "contributions", "sum", "grad after backward"}, rows);
  auto build = [](const std::vector<double>& v) {
    Value p(v[0]), q(v[1]);
    return (p * q) * (p + q);
  };
  double numeric = numeric_gradient(build, {3.0, -4.0}, 0);
  chapter.notice(fmt::format(
      "x's gradient is the sum over both paths, {} = {:g}, and the finite difference "
      "agrees: {}. Keeping only one path (overwriting instead of adding) is a classic bug.",
      x_paths, x.grad(), number(numeric, 6)));
  chapter.claim("the gradient at a fork is the sum of its branches", sums_match,
                fmt::format("df/dx = {:g}, df/dy = {:g}", x.grad(), y.grad()));
  chapter.claim("df/dx matches the finite difference", close(x.grad(), numeric, 1e-6),
                fmt::format("{:g} vs {:.6f}", x.grad(), numeric));
  draw(chapter, f, "graph_fork", "x and y each feed two gates; their gradients add up");
}

}  // namespace

int main(int argc, char** argv) {
  Inputs inputs;
  return gradlab::tutorial::run_chapter(
      argc, argv,
      {1,
       "computational_graph",
       "Computational graphs and backpropagation",
       {{"--x 3 --y -1 --z 2",
         "f = (3 − 1) · 2 = 4. Look at the backward table: x and y both receive z = 2 (the add "
         "gate copies its upstream gradient to each input) and z receives q = x + y = 2."},
        {"--z 0",
         "f = 0 and df/dx = df/dy = 0: a zero upstream gradient from the multiply gate stops "
         "every gradient below it, however large x and y are, while df/dz = x + y is unchanged."},
        {"--x 1e5 --y 1e5",
         "big inputs: the finite-difference column still agrees with backprop, but with fewer "
         "exact digits, since the round-off of f(v ± h) grows with |f| while h stays 1e-6."}}},
      [&inputs](Chapter& chapter) {
        simple_expression(chapter, inputs);
        sigmoid_neuron(chapter);
        gate_patterns(chapter);
        forks(chapter);
        if (!gradlab::dot_program_available()) {
          chapter.say("(Graphviz `dot` was not found: the graphs were written as .dot text only.)");
        }
        chapter.summary(fmt::format(
            "f = (x+y)·z at ({:g}, {:g}, {:g}) gives {:g} with gradients {:g}, {:g}, {:g}; the "
            "sigmoid neuron gives 0.73, dw = [−0.20, −0.39, 0.20], dx = [0.39, −0.59]; every "
            "gradient is local × upstream, summed at forks.",
            inputs.x, inputs.y, inputs.z, (inputs.x + inputs.y) * inputs.z, inputs.z, inputs.z,
            inputs.x + inputs.y));
      },
      [&inputs](CLI::App& app) {
        const auto range = gradlab::cli::number_check("in [-1e6, 1e6]",
                                                      [](double v) { return std::abs(v) <= 1e6; });
        app.add_option("--x", inputs.x, "x of f = (x + y) · z (the lecture: -2)")
            ->check(range)
            ->capture_default_str();
        app.add_option("--y", inputs.y, "y of f = (x + y) · z (the lecture: 5)")
            ->check(range)
            ->capture_default_str();
        app.add_option("--z", inputs.z, "z of f = (x + y) · z (the lecture: -4)")
            ->check(range)
            ->capture_default_str();
      });
}
