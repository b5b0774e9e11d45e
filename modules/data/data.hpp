#pragma once
/// \file modules/data/data.hpp
/// \brief Datasets on disk and in memory: the IDX and CIFAR-10 loaders, splits, shuffling and a
/// mini-batch iterator (namespace `gradlab::data`).
///
/// A `Dataset` is a float32 image matrix `images` [N, D] (one flattened C×H×W image per row,
/// pixels scaled from 0..255 to [0, 1] by x / 255) with int64 class labels `labels` [N], plus
/// what a reader needs to interpret them: the image shape and the class names.
///
/// Three datasets are known by name. Fashion-MNIST (the default; Debian package
/// `dataset-fashion-mnist`) and MNIST are four IDX files each, gzipped or raw; CIFAR-10 is the
/// "binary version" of six batch files of 10,000 records (1 label byte + 3,072 pixel bytes, the
/// R, G and B planes of a 32×32 image, each row-major).
///
/// \code
///   using namespace gradlab;
///   data::Dataset all = data::load_fashion_mnist();                    // 60,000 × 784
///   data::TrainValidation parts = data::split_train_validation(all, 5000, /*seed=*/7);
///   for (int epoch = 0; epoch < 5; ++epoch)
///     for (const data::Batch& batch : data::BatchIterator(parts.train, 256, 1000 + epoch))
///       train_step(batch.images, batch.labels);                      // [256, 784], [256]
/// \endcode
///
/// Every reader checks the bytes before it trusts them: a missing file says where it was expected
/// and what provides it; a bad magic number, a size that disagrees with the file, a short read, a
/// corrupt gzip stream or a label out of range raises `gradlab::Error` naming the file and the
/// byte offset. Sizes are validated before anything is allocated, so a forged header cannot make
/// a loader allocate more than the file can fill. The in-memory entry points `parse_idx` and
/// `parse_cifar10` take the bytes directly (for fuzzers and for tests).

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "autograd/tensor.hpp"

namespace gradlab::data {

// --- datasets -----------------------------------------------------------------------------

/// The shape of one image: channels × height × width (C × H × W). Rows of `Dataset::images` hold
/// the image flattened channel plane after channel plane, each plane row-major.
struct ImageShape {
  std::int64_t channels = 1;  ///< C: 1 for grey-scale, 3 for RGB.
  std::int64_t height = 1;    ///< H: rows of pixels.
  std::int64_t width = 1;     ///< W: pixels per row.

  /// D = C · H · W, the number of features of one flattened image.
  std::int64_t features() const { return channels * height * width; }
  /// "C×H×W", e.g. "1×28×28".
  std::string to_string() const;
};

/// Labelled images in memory.
struct Dataset {
  std::string name;                      ///< For messages, e.g. "Fashion-MNIST train".
  Tensor images;                         ///< float32 [N, D], pixels in [0, 1] (x / 255).
  Tensor labels;                         ///< int64 [N], each in [0, class_names.size()).
  ImageShape image_shape;                ///< C × H × W with C · H · W = D.
  std::vector<std::string> class_names;  ///< Name of class k at index k.
  std::string
      source;  ///< The image file(s) it was read from, for messages ("" if built in memory).

  /// N, the number of examples.
  std::int64_t size() const;
  /// D, the number of features per example.
  std::int64_t features() const;
  /// The number of classes (the length of `class_names`).
  std::int64_t num_classes() const { return static_cast<std::int64_t>(class_names.size()); }
};

/// Checks that `other` (e.g. the test split) holds images of the shape of `reference` (the
/// training split, which preprocessing and the model were fitted on). Raises `gradlab::Error`
/// naming both datasets, their files and both image shapes when they differ.
void check_same_image_shape(const Dataset& reference, const Dataset& other);

/// Which half of a dataset's files to read.
enum class Split {
  train,  ///< The training files (60,000 images for (Fashion-)MNIST, 50,000 for CIFAR-10).
  test,   ///< The test files (10,000 images each).
};

/// "train" or "test".
const char* split_name(Split split);

/// Where the Debian package `dataset-fashion-mnist` installs its files.
inline constexpr const char* default_fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";

/// The largest IDX file (header + values, decompressed) a header may declare by default: 1 GiB.
/// Fashion-MNIST's largest file, the training images, is 47 MB.
inline constexpr std::uint64_t default_max_idx_bytes = std::uint64_t{1} << 30;

/// Limits on what the loaders read (a gzip bomb or a forged header must not exhaust memory).
struct LoadOptions {
  /// The largest IDX file, in bytes after decompression, that a header may declare: a larger
  /// one is refused before anything is decompressed (gradlab_train: `--max-data-size`).
  std::uint64_t max_idx_bytes = default_max_idx_bytes;
};

/// The ten Fashion-MNIST classes: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt,
/// Sneaker, Bag, Ankle boot.
const std::vector<std::string>& fashion_mnist_class_names();
/// The ten CIFAR-10 classes: airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck.
const std::vector<std::string>& cifar10_class_names();

/// Loads Fashion-MNIST from `dir` (files `train-images-idx3-ubyte.gz` and
/// `train-labels-idx1-ubyte.gz`, or `t10k-…` for the test split; each may also be uncompressed,
/// without `.gz`): N × 784 images of 1×28×28, labels 0..9. Raises `gradlab::Error` saying where
/// the files were expected and that `dataset-fashion-mnist` provides them when they are missing.
Dataset load_fashion_mnist(const std::string& dir = default_fashion_mnist_dir,
                           Split split = Split::train, const LoadOptions& options = {});

/// Loads MNIST (handwritten digits, the same IDX file names as Fashion-MNIST) from `dir`.
/// Class names are "0" … "9".
Dataset load_mnist(const std::string& dir, Split split = Split::train,
                   const LoadOptions& options = {});

/// Loads CIFAR-10's binary version from `dir` (the `cifar-10-batches-bin` folder): the train
/// split concatenates `data_batch_1.bin` … `data_batch_5.bin` (50,000 images), the test split
/// is `test_batch.bin` (10,000). Images are 3×32×32 = 3,072 features.
Dataset load_cifar10(const std::string& dir, Split split = Split::train);

/// Loads a labelled image set from one IDX image file ([N, H, W] or [N, D] unsigned bytes) and one
/// IDX label file ([N] unsigned bytes, each below `class_names.size()`), gzipped or raw.
/// `name` is used in messages and stored in the dataset.
Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path,
                      std::vector<std::string> class_names, const std::string& name,
                      const LoadOptions& options = {});

// --- the raw formats ------------------------------------------------------------------------

/// An IDX array of unsigned bytes: its extents and its values. IDX (the MNIST format) is a
/// 4-byte magic number — two zero bytes, a type code (0x08 for unsigned bytes, the only type
/// read here) and the number of dimensions — then each extent as a big-endian 32-bit integer,
/// then the values, row-major.
struct IdxArray {
  std::string name;      ///< Where the bytes came from (a path), for messages.
  Shape dims;            ///< Extents, outermost first.
  bool gzipped = false;  ///< The source was a gzip stream (offsets count decompressed bytes).
  std::size_t data_offset = 0;      ///< Offset of the first value in the (decompressed) bytes.
  std::vector<std::uint8_t> bytes;  ///< The whole (decompressed) file: header then values.

  /// The values, row-major (the bytes after the header).
  std::span<const std::uint8_t> values() const {
    return std::span<const std::uint8_t>(bytes).subspan(data_offset);
  }
};

/// Parses an IDX file held in memory; a gzip stream (first bytes 0x1f 0x8b) is decompressed
/// first. `name` names the source in messages. Raises `gradlab::Error` with the byte offset on a
/// bad magic number, an unsupported type, more than 8 dimensions, a data size that differs from
/// the product of the extents, or a corrupt or truncated gzip stream. Never reads out of bounds.
/// A gzip stream is decompressed only as far as its IDX header declares: a header declaring more
/// than `options.max_idx_bytes` is refused before decompressing, and the first byte beyond the
/// declared size is an error (so a gzip bomb costs at most the declared size in memory).
IdxArray parse_idx(const std::uint8_t* bytes, std::size_t size, const std::string& name,
                   const LoadOptions& options = {});

/// Reads and parses the IDX file at `path` (gzipped or raw), as `parse_idx` does.
IdxArray read_idx(const std::string& path, const LoadOptions& options = {});

/// Decompresses a gzip stream held in memory (several concatenated members are read one after
/// the other). Raises `gradlab::Error` naming `name` and the compressed byte offset when the
/// stream is corrupt or ends early.
std::vector<std::uint8_t> gunzip(const std::uint8_t* bytes, std::size_t size,
                                 const std::string& name);

/// Size in bytes of one CIFAR-10 record: 1 label byte + 3 × 32 × 32 pixel bytes.
inline constexpr std::size_t cifar10_record_size = 1 + 3 * 32 * 32;

/// Parses CIFAR-10 records held in memory (one batch file's bytes) into a dataset named `name`.
/// Raises `gradlab::Error` with the byte offset when the size is not a positive multiple of
/// 3,073 bytes or a label is above 9.
Dataset parse_cifar10(const std::uint8_t* bytes, std::size_t size, const std::string& name);

// --- splits and shuffling -------------------------------------------------------------------

/// A permutation of 0 … n−1 drawn by a Fisher–Yates shuffle from the project's counter-based
/// generator (backends/random.hpp): for i = n−1 down to 1, swap element i with element
/// j = ⌊u · (i + 1)⌋, u uniform in [0, 1) from `random_bits(seed, i)`. The same seed gives the
/// same permutation on every machine.
std::vector<std::int64_t> shuffled_indices(std::int64_t n, std::uint64_t seed);

/// The examples at `indices` (in that order), as a new dataset with copied rows. Raises
/// `gradlab::Error` for an index outside [0, N).
Dataset select(const Dataset& dataset, std::span<const std::int64_t> indices);

/// Examples `begin` … `begin + count − 1` as a new dataset with copied rows.
Dataset slice(const Dataset& dataset, std::int64_t begin, std::int64_t count);

/// The whole dataset in the order of `shuffled_indices(N, seed)`.
Dataset shuffle(const Dataset& dataset, std::uint64_t seed);

/// A training split and a validation split carved from one labelled set.
struct TrainValidation {
  Dataset train;       ///< The first N − validation_size examples (after the optional shuffle).
  Dataset validation;  ///< The last `validation_size` examples.
};

/// Splits `dataset` into N − `validation_size` training and `validation_size` validation
/// examples. With `shuffle_seed`, the examples are first shuffled with `shuffled_indices`, so
/// the validation set is a random sample; without it the last examples are held out. Needs
/// 0 < validation_size < N.
TrainValidation split_train_validation(const Dataset& dataset, std::int64_t validation_size,
                                       std::optional<std::uint64_t> shuffle_seed = std::nullopt);

// --- mini-batches ---------------------------------------------------------------------------

/// One mini-batch: copies of B rows of a dataset.
struct Batch {
  Tensor images;           ///< float32 [B, D], a fresh tensor (not a view of the dataset).
  Tensor labels;           ///< int64 [B].
  std::int64_t index = 0;  ///< Number of this batch in the epoch: 0, 1, …
  std::int64_t first = 0;  ///< Position of the batch's first example in the epoch's order.
};

/// One epoch of mini-batches over a dataset, for a range-for loop:
/// \code
///   for (const data::Batch& batch : data::BatchIterator(train, 128, seed + epoch)) { ... }
/// \endcode
/// Every example appears exactly once per epoch. With a shuffle seed the order is
/// `shuffled_indices(N, seed)` (use a different seed each epoch for a new order); without one it
/// is 0 … N−1. The last batch holds the N mod B remaining examples unless `drop_last` is set.
/// The dataset's tensors are shared (a handle copy), so the iterator stays valid after the
/// `Dataset` variable it was built from goes away.
class BatchIterator {
 public:
  /// Prepares an epoch over `dataset` in batches of `batch_size` (≥ 1).
  BatchIterator(const Dataset& dataset, std::int64_t batch_size,
                std::optional<std::uint64_t> shuffle_seed = std::nullopt, bool drop_last = false);

  /// Number of batches in the epoch: ⌈N / B⌉, or ⌊N / B⌋ with `drop_last`.
  std::int64_t size() const;
  /// The batch with number `index` (0 ≤ index < size()), copied into fresh tensors.
  Batch batch(std::int64_t index) const;

  /// Input iterator over the batches; dereferencing gives the current `Batch`.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;  ///< Single pass.
    using value_type = Batch;                           ///< What `*it` gives.
    using difference_type = std::ptrdiff_t;             ///< Distance type.
    using pointer = const Batch*;                       ///< What `it->` gives.
    using reference = const Batch&;                     ///< What `*it` gives.

    iterator() = default;
    /// The current batch.
    const Batch& operator*() const { return current_; }
    /// The current batch's members.
    const Batch* operator->() const { return &current_; }
    /// Moves to the next batch (copies its rows).
    iterator& operator++();
    /// Two iterators are equal when they point at the same batch number.
    bool operator==(const iterator& other) const { return index_ == other.index_; }

   private:
    friend class BatchIterator;
    iterator(const BatchIterator* owner, std::int64_t index);
    const BatchIterator* owner_ = nullptr;
    std::int64_t index_ = 0;
    Batch current_;
  };

  /// The first batch.
  iterator begin() const { return iterator(this, 0); }
  /// Past the last batch.
  iterator end() const { return iterator(nullptr, size()); }

 private:
  Dataset dataset_;
  std::int64_t batch_size_;
  bool drop_last_;
  std::vector<std::int64_t> order_;  // empty: natural order 0 … N−1
};

}  // namespace gradlab::data
