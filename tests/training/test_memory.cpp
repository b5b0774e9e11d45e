// Memory over long training: each step's graph is freed when the step ends, so 2,000 steps need
// no more memory than 100. Resident memory is read from /proc/self/statm.

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>

#include "autograd/ops.hpp"
#include "backends/backend.hpp"
#include "modules/nn/layers.hpp"
#include "modules/optim/optim.hpp"
#include "synthetic.hpp"

using namespace gradlab;

namespace {

// The resident set of this process in bytes: the second field of /proc/self/statm, in pages.
std::int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t total_pages = 0, resident_pages = 0;
  statm >> total_pages >> resident_pages;
  REQUIRE(statm);
  return resident_pages * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
}

double mebibytes(std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

}  // namespace

TEST_CASE("2,000 training steps of a small MLP keep resident memory within 5 percent of step 100",
          "[memory]") {
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps freed memory in quarantine (up to 256 MiB) to catch use after free,
  // so resident memory grows by design there; that build checks for leaks with LeakSanitizer.
  WARN("skipped under AddressSanitizer: its quarantine makes resident memory grow by design");
  return;
#endif
  BackendGuard backend("reference");
  const data::Dataset data = testing::blobs(512, 64, 10, 0.5, 3);
  manual_seed(5);
  nn::Sequential net(nn::Linear(64, 128, "he"), nn::BatchNorm1d(128), nn::ReLU(),
                     nn::Linear(128, 10));
  optim::SGD optimizer(net.parameters(), {.lr = 0.05, .momentum = 0.9});

  constexpr int steps = 2000;
  constexpr std::int64_t batch = 32;
  std::int64_t resident_at_100 = 0, resident_at_end = 0;
  double first_loss = 0.0, last_loss = 0.0;
  for (int step = 1; step <= steps; ++step) {
    std::weak_ptr<TensorImpl> scores_of_this_step;
    {
      const data::Dataset examples = data::slice(data, (step * batch) % 512, batch);
      Tensor scores = net(examples.images);
      Tensor loss = cross_entropy(scores, examples.labels);
      scores_of_this_step = scores.impl();
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      (step == 1 ? first_loss : last_loss) = loss.item();
    }
    // Nothing outside the step (module, optimiser) holds on to the step's graph.
    if (!scores_of_this_step.expired()) FAIL("step " << step << ": its graph outlived the step");
    if (step == 100) resident_at_100 = resident_bytes();
  }
  resident_at_end = resident_bytes();

  std::printf(
      "resident memory: %.2f MiB after step 100, %.2f MiB after step %d (%+.2f%%)\n",
      mebibytes(resident_at_100), mebibytes(resident_at_end), steps,
      100.0 * (static_cast<double>(resident_at_end) / static_cast<double>(resident_at_100) - 1.0));
  INFO("after step 100: " << mebibytes(resident_at_100) << " MiB; after step " << steps << ": "
                          << mebibytes(resident_at_end) << " MiB");
  CHECK(static_cast<double>(resident_at_end) <= 1.05 * static_cast<double>(resident_at_100));
  CHECK(last_loss < 0.5 * first_loss);  // it really trained
}
