// The backend registry: which backends exist, which one is active, precision and threads.
#include <omp.h>

#include <cstdlib>
#include <map>
#include <mutex>

#include "backends/backend.hpp"

extern "C" void openblas_set_num_threads(int threads);

namespace gradlab {
namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, BackendFactory> factories;
  std::map<std::string, std::unique_ptr<Backend>> instances;
  Backend* active = nullptr;
  Precision precision = Precision::f32;
};

// Backends register themselves when their library is loaded (gradlab_reference always is: the
// core links it), so the registry knows no backend by name.
Registry& registry() {
  static Registry instance;
  return instance;
}

std::string known_names(const Registry& r) {
  std::string names;
  for (const auto& [name, factory] : r.factories) names += (names.empty() ? "" : ", ") + name;
  return names;
}

Backend& instance_locked(Registry& r, const std::string& name) {
  if (auto found = r.instances.find(name); found != r.instances.end()) return *found->second;
  auto factory = r.factories.find(name);
  if (factory == r.factories.end()) {
    std::string hint = name == "onednn" ? " (this program was built without gradlab_onednn)" : "";
    throw Error("unknown backend '" + name + "'" + hint +
                "; available backends: " + known_names(r));
  }
  auto made = factory->second();
  Backend& result = *made;
  r.instances[name] = std::move(made);
  return result;
}

}  // namespace

const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: return "neg";
    case UnaryOp::exp: return "exp";
    case UnaryOp::log: return "log";
    case UnaryOp::sqrt: return "sqrt";
    case UnaryOp::pow: return "pow";
    case UnaryOp::scale: return "scale";
    case UnaryOp::shift: return "shift";
    case UnaryOp::sigmoid: return "sigmoid";
    case UnaryOp::tanh: return "tanh";
    case UnaryOp::relu: return "relu";
    case UnaryOp::leaky_relu: return "leaky_relu";
    case UnaryOp::elu: return "elu";
    case UnaryOp::abs: return "abs";
  }
  return "unknown";
}

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "add";
    case BinaryOp::sub: return "sub";
    case BinaryOp::mul: return "mul";
    case BinaryOp::div: return "div";
    case BinaryOp::maximum: return "maximum";
    case BinaryOp::minimum: return "minimum";
    case BinaryOp::lt: return "lt";
    case BinaryOp::le: return "le";
    case BinaryOp::gt: return "gt";
    case BinaryOp::ge: return "ge";
    case BinaryOp::eq: return "eq";
    case BinaryOp::ne: return "ne";
  }
  return "unknown";
}

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::mean: return "mean";
    case ReduceOp::max: return "max";
    case ReduceOp::min: return "min";
  }
  return "unknown";
}

void register_backend(const std::string& name, BackendFactory factory) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.factories[name] = std::move(factory);
}

std::vector<std::string> available_backends() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& [name, factory] : r.factories) names.push_back(name);
  return names;
}

Backend& backend_named(const std::string& name) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  return instance_locked(r, name);
}

Backend& backend() {
  Registry& r = registry();
  if (r.active != nullptr) return *r.active;
  std::lock_guard lock(r.mutex);
  if (r.active == nullptr) {
    const char* from_environment = std::getenv("GRADLAB_BACKEND");
    std::string name = from_environment && *from_environment ? from_environment : "reference";
    try {
      r.active = &instance_locked(r, name);
    } catch (const Error& error) {
      throw Error(std::string("GRADLAB_BACKEND: ") + error.what());
    }
  }
  return *r.active;
}

void set_backend(const std::string& name) {
  Backend& chosen = backend_named(name);
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.active = &chosen;
}

BackendGuard::BackendGuard(const std::string& name) : previous_(&backend()) { set_backend(name); }

BackendGuard::~BackendGuard() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.active = previous_;
}

void set_precision(Precision precision) { registry().precision = precision; }

Precision precision() { return registry().precision; }

Precision parse_precision(const std::string& text) {
  if (text == "f32" || text == "float32") return Precision::f32;
  if (text == "bf16" || text == "bfloat16") return Precision::bf16;
  throw Error("unknown precision '" + text + "'; expected f32 or bf16");
}

const char* precision_name(Precision precision) {
  return precision == Precision::bf16 ? "bf16" : "f32";
}

void set_num_threads(int threads) {
  if (threads < 1) throw Error("threads must be at least 1, got " + std::to_string(threads));
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace gradlab
