#pragma once
/// \file autograd/graphviz.hpp
/// \brief Pictures of computational graphs: Graphviz DOT text, and PNG files when `dot` exists.
///
/// Any graph of scalar `Value`s or of `Tensor`s can be drawn. Each value is a box showing its
/// label, its data and its gradient (for tensors: shape, dtype, and the numbers when there are at
/// most 4); each op is an ellipse between the boxes of its inputs and the box of its output, so
/// the picture reads left to right like the forward pass (micrograd's `draw_dot` style).
///
/// \code
///   using namespace gradlab;
///   Value x(-2.0, "x"), y(5.0, "y"), z(-4.0, "z");
///   Value f = ((x + y) * z).set_label("f");
///   f.backward();
///   bool png = write_graph(f, "f_graph");   // writes f_graph.dot, and f_graph.png if it can
/// \endcode
///
/// The graph is walked with an explicit stack, so deep graphs are fine (though a picture of a
/// million nodes is not something Graphviz will enjoy).

#include <string>

namespace gradlab {

class Value;
class Tensor;

/// The graph that computed `root`, as Graphviz DOT text: one record box per value
/// ("label | data 2.0000 | grad -4.0000"), one ellipse per op, edges input → op → output. A
/// non-empty `title` is drawn above the graph (the graph's `label`).
std::string to_dot(const Value& root, const std::string& title = "");

/// The graph that computed `root`, as Graphviz DOT text: one record box per tensor (label, shape,
/// dtype, and data and gradient when the tensor has at most 4 elements), one ellipse per recorded
/// op (`Tensor::op_name()`), edges input → op → output, and `title` (when not empty) above it.
std::string to_dot(const Tensor& root, const std::string& title = "");

/// Writes `to_dot(root)` to `<path_without_extension>.dot` and, when the Graphviz `dot` program
/// is installed, renders `<path_without_extension>.png`. Returns whether the PNG was made (false
/// when `dot` is missing or failed). Raises gradlab::Error naming the path when the `.dot` file
/// cannot be written (missing or read-only folder). `title` as for `to_dot`.
bool write_graph(const Value& root, const std::string& path_without_extension,
                 const std::string& title = "");

/// The same for a tensor graph.
bool write_graph(const Tensor& root, const std::string& path_without_extension,
                 const std::string& title = "");

/// True when the Graphviz `dot` program can be found on the PATH (so PNGs can be rendered).
bool dot_program_available();

}  // namespace gradlab
