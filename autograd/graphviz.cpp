// Graph export: DOT text for Value and Tensor graphs, and PNG rendering through Graphviz `dot`.

#include "autograd/graphviz.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "autograd/node.hpp"
#include "autograd/tensor.hpp"
#include "autograd/value.hpp"
#include "backends/types.hpp"

extern char** environ;

namespace gradlab {

namespace {

// Record labels give meaning to { } | < > and quotes; a backslash makes them literal.
std::string escape_record_text(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (std::strchr("{}|<>\"\\", c) != nullptr) {
      escaped += '\\';
    }
    escaped += c;
  }
  return escaped;
}

std::string fixed4(double number) {
  char text[64];
  std::snprintf(text, sizeof text, "%.4f", number);
  return text;
}

// "[1.0000, -2.5000]"
std::string number_list(const std::vector<double>& numbers) {
  std::string text = "[";
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    text += (i == 0 ? "" : ", ") + fixed4(numbers[i]);
  }
  return text + "]";
}

// The shared look of both kinds of graph: boxes for values, ellipses for ops.
class DotWriter {
 public:
  // A graph of up to `kLeftToRight` values reads left to right; a longer one (a neuron of eight
  // gates, say) top to bottom, so that its picture stays readable at about 1,200 pixels wide.
  static constexpr std::size_t kLeftToRight = 8;
  DotWriter(const char* graph_name, std::size_t values, const std::string& title) {
    text_ << "digraph " << graph_name << " {\n"
          << "  rankdir=" << (values <= kLeftToRight ? "LR" : "TB") << ";\n"
          << "  size=\"12.5,40\";\n"  // inches: at 96 dpi never wider than 1,200 pixels
          << "  node [fontname=\"Helvetica\", fontsize=11];\n";
    if (!title.empty())
      text_ << "  label=\"" << quote(title) << "\";\n  labelloc=t;\n  fontname=\"Helvetica\";\n"
            << "  fontsize=14;\n";
  }

  // A value box; `fields` are the record's cells, left to right.
  void value_box(std::size_t id, const std::vector<std::string>& fields) {
    text_ << "  v" << id << " [shape=record, label=\"{ ";
    for (std::size_t i = 0; i < fields.size(); ++i) {
      text_ << (i == 0 ? "" : " | ") << escape_record_text(fields[i]);
    }
    text_ << " }\"];\n";
  }

  // The ellipse of the op that made value `id`, and its edge into the value's box.
  void op_ellipse(std::size_t id, const std::string& op) {
    text_ << "  v" << id << "_op [shape=ellipse, label=\"" << quote(op) << "\"];\n"
          << "  v" << id << "_op -> v" << id << ";\n";
  }

  // An edge from input value `input` into the op of value `output`.
  void input_edge(std::size_t input, std::size_t output) {
    text_ << "  v" << input << " -> v" << output << "_op;\n";
  }

  std::string finish() {
    text_ << "}\n";
    return text_.str();
  }

 private:
  // `text` inside a DOT double-quoted string: quotes and backslashes escaped, control characters
  // (a newline above all) shown as spaces.
  static std::string quote(const std::string& text) {
    std::string quoted;
    for (char c : text) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
    }
    return quoted;
  }

  std::ostringstream text_;
};

std::optional<std::string> find_dot_program() {
  const char* path = std::getenv("PATH");
  std::string folders = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= folders.size()) {
    std::size_t end = folders.find(':', start);
    if (end == std::string::npos) end = folders.size();
    std::string folder = folders.substr(start, end - start);
    if (folder.empty()) folder = ".";
    const std::string candidate = folder + "/dot";
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return std::nullopt;
}

// Runs `dot -Tpng <dot_file> -o <png_file>` without a shell (paths may hold any character).
bool render_png(const std::string& dot_file, const std::string& png_file) {
  const std::optional<std::string> dot = find_dot_program();
  if (!dot) {
    return false;
  }
  std::string program = *dot, format = "-Tpng", output_flag = "-o";
  std::string input = dot_file, output = png_file;
  char* arguments[] = {program.data(),     format.data(), input.data(),
                       output_flag.data(), output.data(), nullptr};
  pid_t child = 0;
  if (::posix_spawn(&child, program.c_str(), nullptr, nullptr, arguments, environ) != 0) {
    return false;
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 && std::filesystem::exists(png_file);
}

bool write_dot_and_png(const std::string& dot_text, const std::string& path_without_extension) {
  const std::string dot_file = path_without_extension + ".dot";
  {
    std::ofstream file(dot_file, std::ios::binary | std::ios::trunc);
    if (!file) {
      throw Error("write_graph: cannot create '" + dot_file + "' (" + std::strerror(errno) +
                  "); does the folder exist and is it writable?");
    }
    file << dot_text;
    file.close();
    if (!file) {
      throw Error("write_graph: failed while writing '" + dot_file + "'");
    }
  }
  return render_png(dot_file, path_without_extension + ".png");
}

}  // namespace

std::string to_dot(const Value& root, const std::string& title) {
  const std::vector<Value> order = topological_order(root);
  DotWriter dot("value_graph", order.size(), title);
  std::unordered_map<const ValueNode*, std::size_t> id;
  for (std::size_t i = 0; i < order.size(); ++i) {
    id.emplace(order[i].node(), i);
  }
  for (std::size_t i = 0; i < order.size(); ++i) {
    const Value& value = order[i];
    std::vector<std::string> fields;
    if (!value.label().empty()) fields.push_back(value.label());
    fields.push_back("data " + fixed4(value.data()));
    fields.push_back("grad " + fixed4(value.grad()));
    dot.value_box(i, fields);
    if (!value.is_leaf()) {
      dot.op_ellipse(i, value.op_name());
      for (const Value& child : value.children()) {
        dot.input_edge(id.at(child.node()), i);
      }
    }
  }
  return dot.finish();
}

std::string to_dot(const Tensor& root, const std::string& title) {
  if (!root.defined()) {
    throw Error("to_dot: the tensor is undefined (it holds no data)");
  }
  DotWriter dot("tensor_graph", topological_order(root).size(), title);
  // Depth-first walk with an explicit stack; each tensor gets an id when first seen.
  std::unordered_map<const TensorImpl*, std::size_t> id;
  std::vector<Tensor> stack = {root};
  id.emplace(root.impl().get(), 0);
  while (!stack.empty()) {
    const Tensor tensor = stack.back();
    stack.pop_back();
    const std::size_t tensor_id = id.at(tensor.impl().get());

    std::vector<std::string> fields;
    if (!tensor.label().empty()) fields.push_back(tensor.label());
    fields.push_back(shape_string(tensor.shape()) + " " + dtype_name(tensor.dtype()));
    if (tensor.numel() <= 4) {
      fields.push_back("data " + number_list(tensor.to_vector()));
      const Tensor gradient = tensor.grad();
      if (gradient.defined()) fields.push_back("grad " + number_list(gradient.to_vector()));
    }
    dot.value_box(tensor_id, fields);

    const std::shared_ptr<Node>& node = tensor.impl()->grad_fn;
    if (!node) continue;
    dot.op_ellipse(tensor_id, tensor.op_name());
    for (const Tensor& input : node->inputs) {
      if (!input.defined()) continue;  // an absent optional input (e.g. no bias)
      auto [entry, first_time] = id.emplace(input.impl().get(), id.size());
      dot.input_edge(entry->second, tensor_id);
      if (first_time) stack.push_back(input);
    }
  }
  return dot.finish();
}

bool write_graph(const Value& root, const std::string& path_without_extension,
                 const std::string& title) {
  return write_dot_and_png(to_dot(root, title), path_without_extension);
}

bool write_graph(const Tensor& root, const std::string& path_without_extension,
                 const std::string& title) {
  return write_dot_and_png(to_dot(root, title), path_without_extension);
}

bool dot_program_available() { return find_dot_program().has_value(); }

}  // namespace gradlab
