// The GEMM floor of the training-step workloads (see floor.hpp).
#include "floor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>

#include "autograd/ops.hpp"
#include "backends/backend.hpp"

#ifdef GRADLAB_HAVE_ONEDNN
#include <dnnl.hpp>
#endif

namespace gradlab::bench {

std::vector<Gemm> step_gemms(const Workload& workload) {
  std::vector<Gemm> gemms;
  const std::int64_t batch = workload.batch;
  for (std::size_t i = 0; i + 1 < workload.sizes.size(); ++i) {
    const std::int64_t in = workload.sizes[i], out = workload.sizes[i + 1];
    gemms.push_back({batch, in, out, false, false});            // Y = X · W
    gemms.push_back({in, batch, out, true, false});             // dW = Xᵀ · dY
    if (i > 0) gemms.push_back({batch, out, in, false, true});  // dX = dY · Wᵀ
  }
  return gemms;
}

namespace {

using Clock = std::chrono::steady_clock;

// Best of five runs of the mean time of `work` over enough calls to fill a slice of time, ms.
double best_ms(const std::function<void()>& work, bool quick) {
  work();
  work();
  const double slice = quick ? 0.01 : 0.05;  // seconds per run
  double best = 1e300;
  for (int run = 0; run < 5; ++run) {
    int calls = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    do {
      work();
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < slice);
    best = std::min(best, 1000.0 * elapsed / calls);
  }
  return best;
}

// The product through a backend's matmul kernel, f32.
double backend_gemm_ms(const std::string& name, const Gemm& g, bool quick) {
  BackendGuard guard(name);
  Precision previous = precision();
  set_precision(Precision::f32);
  Tensor a = g.transpose_a ? randn({g.k, g.m}) : randn({g.m, g.k});
  Tensor b = g.transpose_b ? randn({g.n, g.k}) : randn({g.k, g.n});
  Tensor c = Tensor::empty({g.m, g.n}, DType::float32);
  Backend& kernels = backend();
  const double ms = best_ms(
      [&] { kernels.matmul(a.view(), g.transpose_a, b.view(), g.transpose_b, c.mutable_view()); },
      quick);
  set_precision(previous);
  return ms;
}

#ifdef GRADLAB_HAVE_ONEDNN
// The product as one oneDNN matmul primitive with inputs of type `type` (converted beforehand)
// and an f32 output: the kernel alone, no conversion, no cache lookup.
double onednn_gemm_ms(dnnl::memory::data_type type, const Gemm& g, bool quick) {
  using dnnl::memory;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  auto md = [&](std::int64_t rows, std::int64_t columns, bool transposed, memory::data_type t) {
    return transposed ? memory::desc({rows, columns}, t, memory::dims{1, rows})
                      : memory::desc({rows, columns}, t, memory::dims{columns, 1});
  };
  memory::desc a_md = md(g.m, g.k, g.transpose_a, type);
  memory::desc b_md = md(g.k, g.n, g.transpose_b, type);
  memory::desc c_md = md(g.m, g.n, false, memory::data_type::f32);
  memory a(a_md, engine), b(b_md, engine), c(c_md, engine);
  // Fill A and B with small numbers through f32 copies (reorders convert to bf16).
  for (auto [target, rows, columns] : {std::tuple{&a, g.m, g.k}, std::tuple{&b, g.k, g.n}}) {
    Tensor values = randn({rows * columns});
    memory f32(memory::desc({rows * columns}, memory::data_type::f32, memory::dims{1}), engine,
               const_cast<void*>(values.view().data));
    memory flat(memory::desc({rows * columns}, type, memory::dims{1}), engine,
                target->get_data_handle());
    dnnl::reorder(f32, flat).execute(stream, f32, flat);
  }
  stream.wait();
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), engine);
  dnnl::matmul product(pd);
  return best_ms(
      [&] {
        product.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
        stream.wait();
      },
      quick);
}
#endif

std::string winners(const std::map<std::string, int>& counts) {
  std::string text;
  for (const auto& [name, count] : counts)
    text += fmt::format("{}{} {}", text.empty() ? "" : ", ", name, count);
  return text;
}

// Products of the same shape recur (deep-tanh has ten layers of 500): each is timed once.
double memo_ms(const std::string& kernel, const Gemm& g, const std::function<double()>& time) {
  static std::map<std::string, double> known;
  const std::string key =
      fmt::format("{} {} {} {} {} {}", kernel, g.m, g.k, g.n, g.transpose_a, g.transpose_b);
  auto found = known.find(key);
  if (found == known.end()) found = known.emplace(key, time()).first;
  return found->second;
}

}  // namespace

Floor f32_floor(const Workload& workload, bool quick) {
  Floor floor;
  std::map<std::string, int> won;
  for (const Gemm& g : step_gemms(workload)) {
    double best = memo_ms("openblas", g, [&] { return backend_gemm_ms("reference", g, quick); });
    std::string winner = "openblas";
#ifdef GRADLAB_HAVE_ONEDNN
    const double onednn = memo_ms(
        "onednn", g, [&] { return onednn_gemm_ms(dnnl::memory::data_type::f32, g, quick); });
    if (onednn < best) best = onednn, winner = "onednn";
#endif
    floor.ms += best;
    ++won[winner];
  }
  floor.kernels = winners(won);
  return floor;
}

Floor bf16_floor(const Workload& workload, bool quick) {
  Floor floor;
#ifdef GRADLAB_HAVE_ONEDNN
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  if ((isa & bf16) != bf16) {
    floor.skipped =
        "this CPU has neither AVX512-BF16 nor AMX: oneDNN computes a bf16 request in f32";
    return floor;
  }
  for (const Gemm& g : step_gemms(workload))
    floor.ms += memo_ms("onednn-bf16", g,
                        [&] { return onednn_gemm_ms(dnnl::memory::data_type::bf16, g, quick); });
  floor.kernels = fmt::format("onednn bf16 {}", step_gemms(workload).size());
#else
  (void)workload;
  (void)quick;
  floor.skipped = "built without oneDNN, the only bf16 matrix product here";
#endif
  return floor;
}

}  // namespace gradlab::bench
