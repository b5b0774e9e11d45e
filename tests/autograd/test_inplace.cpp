// In-place ops and version counters (autograd/inplace.cpp), and 0-d tensors: the values, the
// version each write raises, the error a stale saved tensor raises in backward, PyTorch's rule
// for leaves that require grad, on every backend. (That an optimiser step raises the version is
// checked in tests/modules/test_optim.cpp.)
#include <catch2/catch.hpp>

#include "autograd/function.hpp"
#include "autograd/ops.hpp"
#include "backends/backend.hpp"

using namespace gradlab;

namespace inplace_tests {

std::vector<double> values(const Tensor& t) { return t.to_vector(); }

// x², saving x for its backward.
struct Square : Function<Square> {
  static constexpr const char* name = "square";
  static Tensor forward(FunctionContext& ctx, const Tensor& x) {
    ctx.save_for_backward({x});
    return x * x;
  }
  static std::vector<Tensor> backward(FunctionContext& ctx, const Tensor& upstream) {
    return {upstream * ctx.saved(0) * 2.0};
  }
};

TEST_CASE("in-place ops compute their values and raise the version, on every backend",
          "[inplace]") {
  for (const std::string& name : available_backends()) {
    BackendGuard guard(name);
    INFO("backend " << name);
    Tensor x = from({1, -2, 3, -4}, {2, 2});
    CHECK(x.version() == 0);
    x.add_(from({10, 20}));  // broadcasts over the rows
    CHECK(values(x) == std::vector<double>{11, 18, 13, 16});
    CHECK(x.version() == 1);
    x.sub_(1.0).mul_(2.0);
    CHECK(values(x) == std::vector<double>{20, 34, 24, 30});
    CHECK(x.version() == 3);
    x.div_(from({2, 4}));
    CHECK(values(x) == std::vector<double>{10, 8.5, 12, 7.5});
    x.add_(from({1, 1, 1, 1}, {2, 2}), -2.0).sub_(from({1}), 0.5);
    CHECK(values(x) == std::vector<double>{7.5, 6, 9.5, 5});
    x.mul_(from({-1, 1})).clamp_(-8.0, 5.5);
    CHECK(values(x) == std::vector<double>{-7.5, 5.5, -8, 5});
    x.div_(2.0).add_(1.0);
    CHECK(values(x) == std::vector<double>{-2.75, 3.75, -3, 3.5});
    x.copy_(from({7, 8}));
    CHECK(values(x) == std::vector<double>{7, 8, 7, 8});
    x.fill_(0.25);
    CHECK(values(x) == std::vector<double>{0.25, 0.25, 0.25, 0.25});
    const std::uint64_t before = x.version();
    x.zero_();
    CHECK(values(x) == std::vector<double>{0, 0, 0, 0});
    CHECK(x.version() == before + 1);
  }
}

TEST_CASE("handles that share a storage share its version", "[inplace]") {
  Tensor x = from({1, 2, 3, 4});
  Tensor d = x.detach();
  Tensor r = x.reshape({2, 2});
  r.mul_(10.0);
  CHECK(x.version() == 1);
  CHECK(d.version() == 1);
  CHECK(values(d) == std::vector<double>{10, 20, 30, 40});
  CHECK(x.clone().version() == 0);  // a copy has storage of its own
}

TEST_CASE("an in-place op cannot change the shape or the dtype", "[inplace]") {
  Tensor x = zeros({2});
  CHECK_THROWS_WITH(x.add_(zeros({3, 2})),
                    Catch::Contains("add_: the result has shape [3, 2] but the tensor has shape "
                                    "[2]; an in-place op cannot change the shape"));
  CHECK_THROWS_WITH(x.copy_(zeros({3})),
                    Catch::Contains("copy_: a source of shape [3] does not broadcast to the "
                                    "tensor's shape [2]"));
  CHECK(x.version() == 0);  // a refused write changes nothing
  Tensor d = zeros({2}, {.dtype = DType::float64});
  d.copy_(from({1.5, 2.5}));  // copy_ converts, as PyTorch's
  CHECK(values(d) == std::vector<double>{1.5, 2.5});
}

TEST_CASE("a tensor saved for backward and changed in place makes backward raise", "[inplace]") {
  Tensor w = from({1, 2, 3, 4, 5, 6}, {2, 3}, {.requires_grad = true});
  Tensor x = from({1, 1, 1, 1, 1, 1}, {2, 3});
  x.set_label("x");
  Tensor loss = (x * w).sum();  // mul saves x (to give w its gradient) and w
  x.add_(1.0);
  CHECK_THROWS_WITH(loss.backward(),
                    Catch::Equals("`x` (shape [2, 3]), saved by `mul` for the backward pass, was "
                                  "modified in place by `add_` after it was saved: version 1, "
                                  "expected 0 (compute a new tensor instead, e.g. x = x + y, or "
                                  "call backward() before changing it)"));
  // Without a label the message gives the shape alone.
  Tensor y = from({1, 2});
  Tensor other = (y * from({1, 1}, {2}, {.requires_grad = true})).sum();
  y.mul_(3.0).sub_(1.0);
  CHECK_THROWS_WITH(other.backward(),
                    Catch::StartsWith("a tensor of shape [2], saved by `mul` for the backward "
                                      "pass, was modified in place by `sub_` after it was saved: "
                                      "version 2, expected 0"));
}

TEST_CASE("ops that save nothing do not mind, and a fresh graph sees the new version",
          "[inplace]") {
  Tensor w = from({1, 2}, {2}, {.requires_grad = true});
  Tensor x = from({3, 4});
  Tensor loss = (x + w).sum();  // add saves no input
  x.fill_(0.0);
  loss.backward();
  CHECK(values(w.grad()) == std::vector<double>{1, 1});
  Tensor again = (x * w).sum();  // saved at version 1 now
  again.backward();
  CHECK(values(w.grad()) == std::vector<double>{1, 1});  // 1 + x = 1 + 0
}

TEST_CASE("a custom Function's saved tensors are checked too", "[inplace]") {
  Tensor w = from({3}, {1}, {.requires_grad = true});
  Tensor y = Square::apply(w).sum();
  {
    NoGradGuard no_grad;
    w.zero_();
  }
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("saved by `square`") &&
                                      Catch::Contains("modified in place by `zero_`"));
}

TEST_CASE("in place on a leaf that requires grad needs a NoGradGuard, as in PyTorch", "[inplace]") {
  Tensor w = from({1, 2}, {2}, {.requires_grad = true});
  CHECK_THROWS_WITH(w.add_(1.0),
                    Catch::Contains("add_: a leaf tensor that requires grad (shape [2]) cannot "
                                    "be changed in place while gradients are recorded; wrap the "
                                    "write in a NoGradGuard"));
  CHECK(w.version() == 0);
  Tensor h = w * w;
  CHECK_THROWS_WITH(h.zero_(), Catch::Contains("zero_: the tensor (shape [2]) is part of a graph "
                                               "(made by `mul`)"));
  Tensor plain = zeros({2});
  CHECK_THROWS_WITH(plain.add_(w), Catch::Contains("the other operand requires grad"));
  {
    NoGradGuard no_grad;  // a parameter reset
    w.fill_(0.5);
    plain.add_(w);
  }
  CHECK(values(w) == std::vector<double>{0.5, 0.5});
  CHECK(w.version() == 1);
  CHECK(w.requires_grad());
  CHECK(values(plain) == std::vector<double>{0.5, 0.5});
}

TEST_CASE("the mutable data accessors raise the version; const_data does not", "[inplace]") {
  Tensor x = from({1, 2});
  const float* read = x.const_data<float>();
  CHECK(read[1] == 2.0f);
  CHECK(x.version() == 0);
  x.data<float>()[0] = 5.0f;
  CHECK(x.version() == 1);
  static_cast<float*>(x.raw_data())[1] = 6.0f;
  CHECK(x.version() == 2);
  CHECK(values(x) == std::vector<double>{5, 6});
  CHECK(x.at(0) + x.at(1) == 11.0);  // reading through at() and to_vector() leaves it alone
  CHECK(x.version() == 2);
  Tensor w = from({1, 1}, {2}, {.requires_grad = true});
  Tensor loss = (x * w).sum();
  x.data<float>()[0] = 7.0f;
  CHECK_THROWS_WITH(loss.backward(),
                    Catch::Contains("modified in place by `a write through data<T>() or "
                                    "raw_data()`"));
}

TEST_CASE("scalar() makes a 0-d tensor; item() reads any one-element tensor", "[inplace]") {
  Tensor s = scalar(2.5);
  CHECK(s.dim() == 0);
  CHECK(s.shape() == Shape{});
  CHECK(s.numel() == 1);
  CHECK(s.dtype() == DType::float32);
  CHECK(s.item() == 2.5);
  CHECK(scalar(0.1, DType::float64).item() == 0.1);
  CHECK(from({1.0}).shape() == Shape{1});  // unchanged: from() is 1-D
  CHECK(from({}).shape() == Shape{0});
  CHECK(from({4.0}, {1, 1}).item() == 4.0);
  CHECK_THROWS_WITH(from({}).item(), Catch::Contains("expected a tensor with one element"));
  CHECK_THROWS_WITH(from({1, 2}).item(), Catch::Contains("got shape [2]"));
  // A 0-d seed for a 0-d result, as backward() requires an exactly matching shape.
  Tensor x = from({1, 2, 3}, {3}, {.requires_grad = true});
  x.sum().backward(scalar(2.0));
  CHECK(values(x.grad()) == std::vector<double>{2, 2, 2});
}

}  // namespace inplace_tests
