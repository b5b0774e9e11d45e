// Specification of graph export (autograd/graphviz.hpp): the DOT text names every node with its
// data and gradient, and write_graph produces a .dot file and, with Graphviz, a PNG.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "temp_folder.hpp"
#include "autograd/graphviz.hpp"
#include "autograd/node.hpp"
#include "autograd/ops.hpp"
#include "autograd/tensor.hpp"
#include "autograd/value.hpp"
#include "backends/types.hpp"

using gradlab::testing::TempFolder;

using Catch::Matchers::Contains;
using gradlab::Value;

namespace {

std::size_t count_occurrences(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("to_dot of a Value graph has a box per value and an ellipse per op", "[graphviz]") {
  Value x(-2.0, "x"), y(5.0, "y"), z(-4.0, "z");
  Value q = (x + y).set_label("q");
  Value f = (q * z).set_label("f");
  f.backward();
  const std::string dot = to_dot(f);

  CHECK_THAT(dot, Contains("digraph"));
  CHECK(count_occurrences(dot, "shape=record") == 5);   // x, y, z, q, f
  CHECK(count_occurrences(dot, "shape=ellipse") == 2);  // +, *
  CHECK(count_occurrences(dot, "->") == 2 + 4);         // op → output, and input → op
  CHECK_THAT(dot, Contains("{ x | data -2.0000 | grad -4.0000 }"));
  CHECK_THAT(dot, Contains("{ y | data 5.0000 | grad -4.0000 }"));
  CHECK_THAT(dot, Contains("{ z | data -4.0000 | grad 3.0000 }"));
  CHECK_THAT(dot, Contains("{ q | data 3.0000 | grad -4.0000 }"));
  CHECK_THAT(dot, Contains("{ f | data -12.0000 | grad 1.0000 }"));
  CHECK_THAT(dot, Contains("label=\"+\""));
  CHECK_THAT(dot, Contains("label=\"*\""));
}

TEST_CASE("to_dot lists a node used twice once, with two edges into its consumer", "[graphviz]") {
  Value a(3.0, "a");
  Value b = a * a;
  const std::string dot = to_dot(b);
  CHECK(count_occurrences(dot, "shape=record") == 2);
  CHECK(count_occurrences(dot, "v0 -> v1_op;") == 2);
}

TEST_CASE("to_dot names ops with plain numbers and escapes labels that Graphviz would misread",
          "[graphviz]") {
  Value a(2.0, "a|b {c}");
  Value out = 1.0 / (a + 1.0);
  const std::string dot = to_dot(out);
  CHECK_THAT(dot, Contains("a\\|b \\{c\\}"));
  CHECK_THAT(dot, Contains("label=\"+ 1\""));
  CHECK_THAT(dot, Contains("label=\"1 /\""));
  CHECK_THAT(dot, Contains("data 0.3333"));
}

TEST_CASE("write_graph writes the .dot file, and the PNG when Graphviz is installed",
          "[graphviz]") {
  TempFolder folder{"gradlab-graphviz-test"};
  Value x(-2.0, "x"), y(5.0, "y"), z(-4.0, "z");
  Value f = (x + y) * z;
  f.backward();
  const std::filesystem::path base = folder.path / "f_graph";
  const bool made_png = write_graph(f, base.string());

  CHECK(read_file(base.string() + ".dot") == to_dot(f));
  CHECK(made_png == gradlab::dot_program_available());
  if (gradlab::dot_program_available()) {
    const std::string png = read_file(base.string() + ".png");
    REQUIRE(png.size() > 8);
    CHECK(png.substr(1, 3) == "PNG");  // the PNG signature: \x89 P N G
  }
}

TEST_CASE("write_graph without Graphviz writes the .dot file and reports no PNG", "[graphviz]") {
  TempFolder folder{"gradlab-graphviz-test"};
  const char* saved = std::getenv("PATH");
  const std::string saved_path = saved != nullptr ? saved : "";
  ::setenv("PATH", folder.path.c_str(), 1);  // a PATH on which no `dot` can be found
  const bool made_png = write_graph(Value(1.0) * 2.0, (folder.path / "g").string());
  const bool dot_found = gradlab::dot_program_available();
  ::setenv("PATH", saved_path.c_str(), 1);

  CHECK_FALSE(dot_found);
  CHECK_FALSE(made_png);
  CHECK(std::filesystem::exists(folder.path / "g.dot"));
  CHECK_FALSE(std::filesystem::exists(folder.path / "g.png"));
}

TEST_CASE("write_graph into a missing folder raises an error naming the path", "[graphviz]") {
  const std::string path = "/nonexistent-gradlab-folder/graph";
  CHECK_THROWS_AS(write_graph(Value(1.0), path), gradlab::Error);
  CHECK_THROWS_WITH(write_graph(Value(1.0), path),
                    Contains("/nonexistent-gradlab-folder/graph.dot"));
}

// --- tensor graphs ------------------------------------------------------------------------

TEST_CASE("to_dot of a Tensor graph shows op, shape, dtype, and the numbers of small tensors",
          "[graphviz][tensor]") {
  using namespace gradlab;
  Tensor x = from({1.0, 2.0}, {2}, {.requires_grad = true});
  x.set_label("x");
  Tensor w = from({3.0, 4.0}, {2}, {.requires_grad = true});
  w.set_label("w");
  Tensor product = x * w;
  Tensor y = product.sum();
  y.set_label("y");
  y.backward();
  const std::string dot = to_dot(y);

  CHECK(count_occurrences(dot, "shape=record") == 4);   // x, w, x·w, y
  CHECK(count_occurrences(dot, "shape=ellipse") == 2);  // the product and the sum
  CHECK_THAT(dot, Contains("{ x | [2] float32 | data [1.0000, 2.0000] | grad [3.0000, 4.0000] }"));
  CHECK_THAT(dot, Contains("{ w | [2] float32 | data [3.0000, 4.0000] | grad [1.0000, 2.0000] }"));
  CHECK_THAT(dot, Contains("data [11.0000]"));
  CHECK_THAT(dot, Contains("label=\"" + product.op_name() + "\""));
  CHECK_THAT(dot, Contains("label=\"" + y.op_name() + "\""));
  CHECK(product.op_name() != y.op_name());
}

TEST_CASE("to_dot of a Tensor graph omits the numbers of tensors with more than 4 elements",
          "[graphviz][tensor]") {
  using namespace gradlab;
  Tensor big = ones({3, 3}, {.requires_grad = true});
  big.set_label("big");
  Tensor total = big.sum();
  const std::string dot = to_dot(total);
  CHECK_THAT(dot, Contains("{ big | [3, 3] float32 }"));
  CHECK(count_occurrences(dot, "shape=record") == 2);
}

TEST_CASE("write_graph renders a Tensor graph too", "[graphviz][tensor]") {
  using namespace gradlab;
  TempFolder folder{"gradlab-graphviz-test"};
  Tensor x = from({0.5, -1.0, 2.0}, {3}, {.requires_grad = true});
  Tensor loss = tanh(x).sum();
  const std::filesystem::path base = folder.path / "tensor_graph";
  const bool made_png = write_graph(loss, base.string());
  CHECK(read_file(base.string() + ".dot") == to_dot(loss));
  CHECK(made_png == dot_program_available());
}
