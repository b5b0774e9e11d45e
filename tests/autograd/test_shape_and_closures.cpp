// The two small containers that keep an op free of malloc: Shape (extents inline up to rank 6,
// on the heap beyond) and BackwardFunction (closures inline up to 48 bytes, in a cached block
// beyond). Both must behave exactly like the std::vector and std::function they replaced.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <vector>

#include "autograd/node.hpp"
#include "autograd/ops.hpp"

using namespace gradlab;

TEST_CASE("Shape behaves like a vector of extents at every rank", "[shape]") {
  SECTION("construction and comparison") {
    CHECK(Shape{}.empty());
    CHECK(Shape{3, 4}.size() == 2);
    CHECK(Shape(3, 7) == Shape{7, 7, 7});
    const std::vector<std::int64_t> extents{2, 5, 1};
    CHECK(Shape(extents) == Shape{2, 5, 1});
    CHECK(Shape(extents.begin(), extents.end()) == Shape{2, 5, 1});
    CHECK(Shape{1, 2} != Shape{1, 2, 1});
    CHECK(Shape{1, 2} < Shape{1, 3});
    CHECK(Shape{1, 2} < Shape{1, 2, 0});
    const Shape square{4, 5};
    std::span<const std::int64_t> as_span = square;  // the form kernels take
    CHECK(as_span.size() == 2);
    CHECK(as_span[1] == 5);
  }

  SECTION("ranks above the inline six spill to the heap and survive copies and moves") {
    for (std::size_t rank : {0u, 1u, 5u, 6u, 7u, 12u, 40u}) {
      Shape shape;
      for (std::size_t i = 0; i < rank; ++i) shape.push_back(static_cast<std::int64_t>(i + 1));
      REQUIRE(shape.size() == rank);
      CHECK(std::accumulate(shape.begin(), shape.end(), std::int64_t{0}) ==
            static_cast<std::int64_t>(rank * (rank + 1) / 2));

      Shape copy = shape;
      CHECK(copy == shape);
      if (rank > 0) {
        copy.back() = -1;
        CHECK(copy != shape);  // the copy owns its own extents
      }
      Shape moved = std::move(copy);
      CHECK(moved.size() == rank);
      CHECK(copy.empty());  // NOLINT: a moved-from shape is the scalar shape
      copy = moved;         // and can be assigned again
      CHECK(copy == moved);
      Shape small{9};
      small = shape;  // inline ← heap
      CHECK(small == shape);
      shape = Shape{1};  // heap ← inline
      CHECK(shape == Shape{1});
    }
  }

  SECTION("insert, erase, resize and the other vector operations") {
    Shape shape{2, 3};
    shape.insert(shape.begin(), 1);
    CHECK(shape == Shape{1, 2, 3});
    shape.insert(shape.end(), 4);
    CHECK(shape == Shape{1, 2, 3, 4});
    shape.erase(shape.begin() + 1);
    CHECK(shape == Shape{1, 3, 4});
    shape.erase(shape.begin(), shape.begin() + 2);
    CHECK(shape == Shape{4});
    shape.resize(8, 2);  // past the inline rank
    CHECK(shape == Shape{4, 2, 2, 2, 2, 2, 2, 2});
    shape.insert(shape.begin() + 1, 5);
    CHECK(shape[1] == 5);
    CHECK(shape.size() == 9);
    shape.pop_back();
    CHECK(shape.front() == 4);
    CHECK(shape.back() == 2);
    CHECK(std::vector<std::int64_t>(shape.rbegin(), shape.rend()).front() == 2);
    shape.clear();
    CHECK(shape.empty());
    CHECK(shape_numel(shape) == 1);
    CHECK(shape_string(Shape{3, 0, 2}) == "[3, 0, 2]");
  }

  SECTION("usable as a map key") {
    std::map<Shape, int> seen{{Shape{2, 2}, 1}, {Shape{2}, 2}, {Shape{1, 2, 3, 4, 5, 6, 7}, 3}};
    CHECK(seen.at(Shape{2}) == 2);
    CHECK(seen.at(Shape{1, 2, 3, 4, 5, 6, 7}) == 3);
  }
}

TEST_CASE("Tensors of rank above six work end to end", "[shape]") {
  Tensor x = randn({1, 2, 1, 2, 1, 2, 3}, {.dtype = DType::float64, .requires_grad = true});
  Tensor y = (tanh(x) * 2.0).sum();
  y.backward();
  REQUIRE(x.grad().shape() == x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const double t = std::tanh(x.at(i));
    CHECK(x.grad().at(i) == Approx(2.0 * (1.0 - t * t)));
  }
}

namespace {

// Runs `function` on a one-input sink and returns what it delivered for that input.
Tensor run(const BackwardFunction& function, const Tensor& input, const Tensor& upstream) {
  std::vector<Tensor> inputs{input};
  GradientSink sink(inputs, "test");
  function(upstream, sink);
  return inputs[0].impl()->pending ? Tensor(inputs[0].impl()->pending) : Tensor();
}

}  // namespace

TEST_CASE("BackwardFunction calls, moves and frees closures of every size", "[closure]") {
  Tensor input = zeros({2}, {.requires_grad = true});
  Tensor upstream = ones({2});

  SECTION("a small closure (stored inline)") {
    double factor = 3.0;
    BackwardFunction f = [factor](const Tensor& g, GradientSink& grads) {
      grads.add(0, g * factor);
    };
    CHECK(bool(f));
    CHECK(run(f, input, upstream).to_vector() == std::vector<double>{3.0, 3.0});
  }

  SECTION("a large closure (stored in a block) keeps its captures through moves") {
    std::array<double, 32> table{};  // 256 bytes: far above the inline size
    table[31] = 5.0;
    BackwardFunction f = [table](const Tensor& g, GradientSink& grads) {
      grads.add(0, g * table[31]);
    };
    BackwardFunction moved = std::move(f);
    CHECK_FALSE(bool(f));  // NOLINT: moved-from is empty
    BackwardFunction assigned;
    assigned = std::move(moved);
    CHECK(run(assigned, input, upstream).to_vector() == std::vector<double>{5.0, 5.0});
  }

  SECTION("captured objects are destroyed exactly once, inline or not") {
    auto token = std::make_shared<int>(7);
    {
      BackwardFunction small = [token](const Tensor&, GradientSink&) {};
      std::array<std::shared_ptr<int>, 8> many;
      many.fill(token);
      BackwardFunction large = [many = std::move(many)](const Tensor&, GradientSink&) {};
      CHECK(token.use_count() == 10);
      BackwardFunction moved_small = std::move(small);
      BackwardFunction moved_large = std::move(large);
      CHECK(token.use_count() == 10);
      moved_large = std::move(moved_small);  // frees the large one
      CHECK(token.use_count() == 2);
    }
    CHECK(token.use_count() == 1);
  }

  SECTION("calling an empty function is a clear error") {
    BackwardFunction empty;
    CHECK_FALSE(bool(empty));
    CHECK_THROWS_WITH(run(empty, input, upstream), Catch::Contains("no backward function"));
  }
}
