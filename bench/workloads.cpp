// The training-step workloads (see workloads.hpp).
#include "workloads.hpp"

#include <cmath>

#include "autograd/ops.hpp"
#include "autograd/profiler.hpp"
#include "backends/backend.hpp"

namespace gradlab::bench {

const std::vector<Workload>& workloads() {
  static const std::vector<Workload> all = {
      {"lecture-2layer", {3072, 50, 10}, "relu", false, 100},
      {"wide-bn", {784, 1024, 1024, 10}, "relu", true, 256},
      {"deep-tanh", {500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500}, "tanh", false, 1000},
  };
  return all;
}

TrainingStep::TrainingStep(const Workload& workload) : workload_(workload) {
  manual_seed(0);
  for (std::size_t i = 0; i + 1 < workload.sizes.size(); ++i) {
    std::int64_t in = workload.sizes[i], out = workload.sizes[i + 1];
    parameters_.push_back((randn({in, out}) * std::sqrt(2.0 / double(in))).requires_grad_(true));
    parameters_.push_back(zeros({out}, {.requires_grad = true}));
    bool hidden = i + 2 < workload.sizes.size();
    if (hidden && workload.batchnorm) {
      parameters_.push_back(ones({out}, {.requires_grad = true}));
      parameters_.push_back(zeros({out}, {.requires_grad = true}));
      running_means_.push_back(zeros({out}));
      running_vars_.push_back(ones({out}));
    }
  }
  for (const Tensor& parameter : parameters_) velocities_.push_back(zeros(parameter.shape()));
  inputs_ = randn({workload.batch, workload.sizes.front()});
  std::vector<std::int64_t> classes(static_cast<std::size_t>(workload.batch));
  for (std::size_t n = 0; n < classes.size(); ++n)
    classes[n] = static_cast<std::int64_t>(n % workload.sizes.back());
  targets_ = labels(classes);
}

double TrainingStep::run() {
  Tensor h = inputs_;
  std::size_t p = 0, bn = 0;
  for (std::size_t i = 0; i + 1 < workload_.sizes.size(); ++i) {
    h = linear(h, parameters_[p], parameters_[p + 1]);
    p += 2;
    if (i + 2 == workload_.sizes.size()) break;  // the last layer gives the scores
    if (workload_.batchnorm) {
      h = batch_norm(h, parameters_[p], parameters_[p + 1], running_means_[bn], running_vars_[bn],
                     true);
      p += 2;
      ++bn;
    }
    h = workload_.activation == "tanh" ? tanh(h) : relu(h);
  }
  Tensor loss = cross_entropy(h, targets_);
  loss.backward();
  NoGradGuard no_graph;
  Profiler::Range update("optimizer");
  for (std::size_t k = 0; k < parameters_.size(); ++k) {
    backend().sgd_update(parameters_[k].mutable_view(), parameters_[k].grad().view(),
                         velocities_[k].mutable_view(), 1e-3, 0.9, false, 0.0);
    parameters_[k].zero_grad();
  }
  return loss.item();
}

}  // namespace gradlab::bench
