// Seeded shuffling, train/validation splits and the mini-batch iterator. Example i of the test
// dataset has every pixel equal to i, so each row can be traced to where it came from.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <set>

#include "data_files.hpp"
#include "modules/data/data.hpp"

using namespace gradlab;
using Catch::Matchers::Contains;
using gradlab::testing::traceable_dataset;

namespace {

/// The example numbers of a dataset's rows (pixel 0 of row r is the number of the example).
std::vector<std::int64_t> example_ids(const Tensor& images) {
  std::vector<std::int64_t> ids;
  const std::int64_t features = images.size(1);
  for (std::int64_t r = 0; r < images.size(0); ++r)
    ids.push_back(static_cast<std::int64_t>(images.data<float>()[r * features]));
  return ids;
}

}  // namespace

TEST_CASE("shuffled_indices is a permutation fixed by its seed", "[data][shuffle]") {
  const std::vector<std::int64_t> a = data::shuffled_indices(1000, 42);
  const std::vector<std::int64_t> b = data::shuffled_indices(1000, 42);
  const std::vector<std::int64_t> c = data::shuffled_indices(1000, 43);
  CHECK(a == b);
  CHECK(a != c);
  std::vector<std::int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  CHECK(sorted == identity);
  // A shuffle that moved nothing much would leave many elements in place; a uniform one fixes
  // one element on average.
  std::int64_t fixed_points = 0;
  for (std::int64_t i = 0; i < 1000; ++i) fixed_points += a[i] == i;
  CHECK(fixed_points < 10);
  CHECK(data::shuffled_indices(0, 1).empty());
  CHECK(data::shuffled_indices(1, 1) == std::vector<std::int64_t>{0});
}

TEST_CASE("shuffle reorders rows and labels together", "[data][shuffle]") {
  const data::Dataset dataset = traceable_dataset(50, 4);
  const data::Dataset shuffled = data::shuffle(dataset, 7);
  const std::vector<std::int64_t> order = data::shuffled_indices(50, 7);
  CHECK(example_ids(shuffled.images) == order);
  for (std::int64_t r = 0; r < 50; ++r)
    CHECK(shuffled.labels.data<std::int64_t>()[r] == order[r] % 10);
  CHECK(shuffled.class_names == dataset.class_names);
}

TEST_CASE("split_train_validation holds out the requested number of examples each once",
          "[data][split]") {
  const data::Dataset dataset = traceable_dataset(100, 3);

  SECTION("without a seed the last examples are the validation set") {
    const data::TrainValidation parts = data::split_train_validation(dataset, 20);
    CHECK(parts.train.size() == 80);
    CHECK(parts.validation.size() == 20);
    CHECK(example_ids(parts.train.images).front() == 0);
    CHECK(example_ids(parts.train.images).back() == 79);
    CHECK(example_ids(parts.validation.images).front() == 80);
    CHECK(example_ids(parts.validation.images).back() == 99);
  }
  SECTION("with a seed the split is a random one, the same for the same seed") {
    const data::TrainValidation parts = data::split_train_validation(dataset, 20, 5);
    const data::TrainValidation again = data::split_train_validation(dataset, 20, 5);
    CHECK(example_ids(parts.validation.images) == example_ids(again.validation.images));
    std::set<std::int64_t> seen;
    for (std::int64_t id : example_ids(parts.train.images)) seen.insert(id);
    for (std::int64_t id : example_ids(parts.validation.images)) CHECK(seen.insert(id).second);
    CHECK(seen.size() == 100);
    const std::vector<std::int64_t> validation = example_ids(parts.validation.images);
    CHECK(*std::max_element(validation.begin(), validation.end()) -
              *std::min_element(validation.begin(), validation.end()) >
          50);  // drawn from all over, not the last block
  }
  SECTION("sizes that leave a split empty are refused") {
    CHECK_THROWS_WITH(data::split_train_validation(dataset, 0), Contains("0 < size < 100"));
    CHECK_THROWS_WITH(data::split_train_validation(dataset, 100), Contains("100 examples"));
  }
}

TEST_CASE("select and slice copy the requested rows and check the indices", "[data][split]") {
  const data::Dataset dataset = traceable_dataset(10, 2);
  const std::vector<std::int64_t> picks = {3, 3, 9, 0};
  CHECK(example_ids(data::select(dataset, picks).images) == picks);
  CHECK(example_ids(data::slice(dataset, 4, 3).images) == std::vector<std::int64_t>{4, 5, 6});
  CHECK(data::slice(dataset, 10, 0).size() == 0);
  const std::vector<std::int64_t> bad = {2, 10};
  CHECK_THROWS_WITH(data::select(dataset, bad), Contains("index 10 (position 1)"));
  CHECK_THROWS_WITH(data::slice(dataset, 8, 3), Contains("outside the 10 examples"));
}

TEST_CASE("BatchIterator covers every example exactly once per epoch", "[data][batches]") {
  const data::Dataset dataset = traceable_dataset(10, 3);

  SECTION("in order: batches of 4, 4 and the remaining 2") {
    std::vector<std::int64_t> sizes, ids, indices;
    for (const data::Batch& batch : data::BatchIterator(dataset, 4)) {
      sizes.push_back(batch.images.size(0));
      indices.push_back(batch.index);
      CHECK(batch.images.shape() == Shape{batch.labels.size(0), 3});
      for (std::int64_t id : example_ids(batch.images)) ids.push_back(id);
    }
    CHECK(sizes == std::vector<std::int64_t>{4, 4, 2});
    CHECK(indices == std::vector<std::int64_t>{0, 1, 2});
    CHECK(ids == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  }
  SECTION("shuffled by a seed: the order of shuffled_indices, labels following their rows") {
    std::vector<std::int64_t> ids;
    for (const data::Batch& batch : data::BatchIterator(dataset, 3, 11)) {
      const std::vector<std::int64_t> rows = example_ids(batch.images);
      for (std::size_t r = 0; r < rows.size(); ++r)
        CHECK(batch.labels.data<std::int64_t>()[r] == rows[r] % 10);
      ids.insert(ids.end(), rows.begin(), rows.end());
    }
    CHECK(ids == data::shuffled_indices(10, 11));
  }
  SECTION("drop_last leaves out the incomplete last batch") {
    data::BatchIterator batches(dataset, 4, std::nullopt, /*drop_last=*/true);
    CHECK(batches.size() == 2);
    std::int64_t seen = 0;
    for (const data::Batch& batch : batches) seen += batch.images.size(0);
    CHECK(seen == 8);
  }
  SECTION("a batch is a fresh copy: writing to it leaves the dataset alone") {
    data::BatchIterator batches(dataset, 5);
    const data::Batch first = batches.batch(0);
    first.images.data<float>()[0] = 123.0f;
    CHECK(dataset.images.data<float>()[0] == 0.0f);
  }
  SECTION("a batch size below 1 is refused") {
    CHECK_THROWS_WITH(data::BatchIterator(dataset, 0), Contains("batch size 0"));
  }
}
