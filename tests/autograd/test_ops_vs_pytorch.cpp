// The ops of issue 18 against PyTorch 1.13, in float64 on the reference backend: values and the
// gradients of sum(output · weights) must equal PyTorch's to 1e-10 relative. The expected numbers
// are in tests/data/pytorch/ops_reference.json, written by make_ops_reference.py next to it
// (torch is needed only to regenerate them): seeded random inputs, and inputs written out where
// PyTorch's conventions matter (ties of min/minimum/maximum/clamp, abs at 0, NaN, ±inf, repeated
// indices, Python's slice clamping, std of a constant row).

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "autograd/tensor.hpp"
#include "backends/backend.hpp"

// A named namespace around everything: a unity build compiles this file together with the
// folder's other tests, whose helpers may have the same names.
namespace ops_vs_pytorch_tests {

using namespace gradlab;
using nlohmann::json;

namespace {

std::filesystem::path reference_file() {
  // CMake compiles this file by absolute path, so __FILE__ is .../tests/autograd/<this file>.
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "data" / "pytorch" /
         "ops_reference.json";
}

double number(const json& value) {
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    if (text == "nan") return std::numeric_limits<double>::quiet_NaN();
    return text == "inf" ? std::numeric_limits<double>::infinity()
                         : -std::numeric_limits<double>::infinity();
  }
  return value.get<double>();
}

Shape shape_of(const json& tensor) {
  return Shape(tensor["shape"].get<std::vector<std::int64_t>>());
}

std::vector<double> values_of(const json& tensor) {
  std::vector<double> values;
  for (const json& v : tensor["values"]) values.push_back(number(v));
  return values;
}

Tensor float64_tensor(const json& tensor, bool requires_grad) {
  return from(values_of(tensor), shape_of(tensor),
              {.dtype = DType::float64, .requires_grad = requires_grad});
}

// Equal to 1e-10 relative (with a floor of 1e-16 for numbers that are 0 in exact arithmetic and
// differ by round-off); NaN equals NaN, infinities must match exactly.
bool close(double actual, double expected) {
  if (std::isnan(expected) || std::isnan(actual)) return std::isnan(expected) && std::isnan(actual);
  if (std::isinf(expected) || std::isinf(actual)) return actual == expected;
  return std::abs(actual - expected) <=
         1e-10 * std::max({std::abs(actual), std::abs(expected), 1e-6});
}

void check_tensor(const Tensor& actual, const json& expected, const std::string& what) {
  INFO(what);
  REQUIRE(actual.defined());
  REQUIRE(shape_string(actual.shape()) == shape_string(shape_of(expected)));
  const std::vector<double> got = actual.to_vector(), want = values_of(expected);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO(what << ": element " << i << " is " << got[i] << ", PyTorch gives " << want[i]);
    CHECK(close(got[i], want[i]));
  }
}

std::optional<std::int64_t> optional_int(const json& params, const char* key) {
  if (!params.contains(key) || params[key].is_null()) return std::nullopt;
  return params[key].get<std::int64_t>();
}

std::optional<double> optional_double(const json& params, const char* key) {
  if (!params.contains(key) || params[key].is_null()) return std::nullopt;
  return params[key].get<double>();
}

// gradlab's call for one case of the file.
Tensor run(const json& c, const std::vector<Tensor>& in) {
  const std::string op = c["op"];
  const json& p = c["params"];
  const auto axis = [&] { return p["axis"].get<std::int64_t>(); };
  const auto flag = [&](const char* key) { return p[key].get<bool>(); };
  if (op == "slice") {
    return slice(in[0], axis(), optional_int(p, "start"), optional_int(p, "end"),
                 p["step"].get<std::int64_t>());
  }
  if (op == "narrow") return narrow(in[0], axis(), p["start"], p["length"]);
  if (op == "index_select") {
    const std::vector<std::int64_t> index = c["index"]["values"];
    return index_select(in[0], axis(),
                        index.empty() ? Tensor::empty({0}, DType::int64) : labels(index));
  }
  if (op == "cat") return cat(in, axis());
  if (op == "stack") return stack(in, axis());
  if (op == "abs") return abs(in[0]);
  if (op == "clamp") return clamp(in[0], optional_double(p, "min"), optional_double(p, "max"));
  if (op == "minimum") return minimum(in[0], in[1]);
  if (op == "maximum") return maximum(in[0], in[1]);
  if (op == "min") return p.contains("axis") ? min(in[0], axis(), flag("keepdim")) : min(in[0]);
  if (op == "argmin") return argmin(in[0]);
  if (op == "where") return where(in[0], in[1], in[2]);
  if (op == "var" || op == "std") {
    const bool is_var = op == "var";
    if (!p.contains("axis"))
      return is_var ? var(in[0], flag("unbiased")) : gradlab::std(in[0], flag("unbiased"));
    return is_var ? var(in[0], axis(), flag("unbiased"), flag("keepdim"))
                  : gradlab::std(in[0], axis(), flag("unbiased"), flag("keepdim"));
  }
  const bool scalar = p.contains("scalar");
  const double s = scalar ? p["scalar"].get<double>() : 0.0;
  if (op == "lt") return scalar ? lt(in[0], s) : lt(in[0], in[1]);
  if (op == "le") return scalar ? le(in[0], s) : le(in[0], in[1]);
  if (op == "gt") return scalar ? gt(in[0], s) : gt(in[0], in[1]);
  if (op == "ge") return scalar ? ge(in[0], s) : ge(in[0], in[1]);
  if (op == "eq") return scalar ? eq(in[0], s) : eq(in[0], in[1]);
  if (op == "ne") return scalar ? ne(in[0], s) : ne(in[0], in[1]);
  FAIL("unknown op " << op);
  return Tensor();
}

json load_cases() {
  std::ifstream file(reference_file());
  REQUIRE(file.good());
  return json::parse(file);
}

}  // namespace

TEST_CASE("the new ops give PyTorch 1.13's float64 values and gradients to 1e-10",
          "[pytorch][slice][index_select][cat][clamp][minimum][var]") {
  BackendGuard guard("reference");
  const json data = load_cases();
  const json& cases = data["cases"];
  REQUIRE(cases.size() >= 80);
  int gradients = 0;
  for (const json& c : cases) {
    const std::string name = c["name"];
    INFO("case: " << name);
    const bool differentiable = c.contains("grads");
    std::vector<Tensor> inputs;
    for (const json& input : c["inputs"]) inputs.push_back(float64_tensor(input, differentiable));
    if (c["op"] == "where") inputs[0].requires_grad_(false);  // the mask
    const Tensor out = run(c, inputs);
    if (out.dtype() == DType::int64) {
      CHECK(out.to_vector() == values_of(c["output"]));
    } else {
      check_tensor(out, c["output"], name + ": value");
    }
    if (!differentiable) continue;
    sum(out * float64_tensor(c["weights"], false)).backward();
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].requires_grad()) continue;
      const Tensor grad = inputs[i].grad().defined()
                              ? inputs[i].grad()
                              : zeros(inputs[i].shape(), {.dtype = DType::float64});
      check_tensor(grad, c["grads"][i], name + ": gradient of input " + std::to_string(i));
      ++gradients;
    }
  }
  CHECK(gradients >= 60);
}

}  // namespace ops_vs_pytorch_tests
