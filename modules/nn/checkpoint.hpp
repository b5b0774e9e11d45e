#pragma once
/// \file modules/nn/checkpoint.hpp
/// \brief Saving and loading a module's parameters and buffers (and a run's training state): `.npy`
/// files + `manifest.json`.
///
/// A checkpoint is a folder with one `.npy` file per parameter and buffer, named after its dotted
/// name ("0.weight.npy", "1.running_mean.npy"), and a `manifest.json` (format version 2, or 3
/// with a training state, below):
/// \code{.json}
///   {"format_version": 2,
///    "parameters": [{"name": "0.weight", "file": "0.weight.npy", "shape": [784, 50],
///                    "dtype": "float32"}, ...],
///    "buffers":    [{"name": "1.running_mean", "file": "1.running_mean.npy", "shape": [50],
///                    "dtype": "float32"}, ...],
///    "layers":     [{"name": "", "type": "Sequential", "settings": {}},
///                   {"name": "0", "type": "Linear",
///                    "settings": {"in_features": 784, "out_features": 50, "bias": true}},
///                   {"name": "1", "type": "BatchNorm1d",
///                    "settings": {"num_features": 50, "eps": 1e-05, "momentum": 0.1}},
///                   {"name": "2", "type": "ReLU", "settings": {}}, ...],
///    "architecture": ["Sequential(", "  (0): Linear(in_features=784, ...", ...]}
/// \endcode
/// Format version 3 adds an optional "training" object: what a run needs to continue
/// (`gradlab_train --resume`), as scalars and as tensors written like the others:
/// \code{.json}
///    "training": {"settings": {"optimizer_type": "SGD", "optimizer_lr": 0.05, "epoch": 2,
///                              "iteration": 78, "random_state": "12345", "run_hidden": "50"},
///                 "tensors": [{"name": "optimizer.velocity.0",
///                              "file": "training.optimizer.velocity.0.npy",
///                              "shape": [784, 50], "dtype": "float32"}, ...]}
/// \endcode
/// (`TrainingState`, `save_checkpoint` with a state, `load_training_state`; the trainer's keys
/// are listed at `train::add_training_state`). A checkpoint without one is still written as
/// version 2.
///
/// NumPy reads every file (`numpy.load`), so a learner can inspect weights in Python. "layers"
/// is the architecture as data: every module of the tree in pre-order (the saved module itself
/// first, with the name ""), its `type_name()` and its `settings()`. "architecture" is the
/// module's `to_string()` line by line, for a person reading the folder (load does not use it).
/// Version 1 manifests (gradlab 0.2; no "layers") still load: their architecture cannot be
/// compared, so only names, shapes and dtypes are checked.
///
/// The manifest is parsed by `parse_checkpoint_manifest`, an in-memory entry point that checks
/// every key and value (it is fuzzed, see tests/fuzz/); `load_checkpoint` uses it, then matches
/// the layers and the entries against the module.
///
/// Guarantees:
/// - *save* writes into a fresh temporary folder beside the target, `<target>.tmp-<16 hex>`,
///   and swaps it into place at the end; a failure half-way leaves no partial checkpoint (an
///   older checkpoint at the target stays intact). It refuses to replace a folder that is not a
///   gradlab checkpoint.
/// - *crash safety*: at every instant, even when the process is killed, the target holds either
///   the old or the new checkpoint, complete. Every `.npy` file and the manifest are fsynced
///   before the temporary folder is fsynced, and that before the swap; the swap is one
///   `renameat2(RENAME_EXCHANGE)` (the old checkpoint then sits under the temporary name and is
///   deleted), followed by an fsync of the parent folder. *Fallback*: where the filesystem
///   refuses RENAME_EXCHANGE (EINVAL, ENOSYS, EOPNOTSUPP: some network and FUSE filesystems),
///   the old checkpoint is renamed to `<target>.old-<16 hex>` and the new one to the target,
///   two renames with a moment between them when the target name is missing. A process killed
///   in that moment leaves both complete folders; `recover_checkpoint`, which `load_checkpoint`
///   and `save_checkpoint` call first, renames the most recently written complete one (the new
///   checkpoint: its manifest is written last) back to the target name.
/// - *stale temporaries* (`<target>.tmp-*`, `<target>.old-*` left by a killed save, exactly that
///   pattern for this target) are deleted by the next successful save of the same target, which
///   returns their names (`SaveReport`; `gradlab_train` prints them). A save interrupted by
///   SIGINT leaves its temporary folder until then. One save per target at a time: a save
///   deletes the temporaries of a concurrent save of the same target.
/// - *load* is all or nothing: the manifest and every file are read and checked against the
///   module (layers, names, shapes, dtypes, file contents) before any parameter is touched.
///   Errors name the layer or parameter and both sides, e.g.
///   "checkpoint ck: layer 1 is ReLU() in the checkpoint, Sigmoid() in the module" or
///   "checkpoint ck: parameter '0.weight': the checkpoint has shape [784, 60], the module [784,
///   50]". A `format_version` newer than this build understands is refused. `LoadOptions`
///   leaves named parameters and layers out (a new classifier head) or allows a different
///   activation.
/// - load copies the bytes into the existing tensors, so handles held elsewhere (optimisers,
///   layer members) stay valid, and a save → load round trip is bit-exact.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modules/nn/module.hpp"

namespace gradlab::nn {

/// The newest manifest version `load_checkpoint` reads. `save_checkpoint` writes version 3 when
/// the checkpoint carries a `TrainingState`, and version 2 otherwise (so a checkpoint without
/// one still loads in a gradlab that reads version 2).
inline constexpr int checkpoint_format_version = 3;

/// One module of a tree as a checkpoint records it (the manifest's "layers").
struct LayerSpec {
  std::string name;                    ///< Dotted path in the tree, e.g. "2"; "" for the root.
  std::string type;                    ///< `Module::type_name()`, e.g. "Linear".
  std::vector<LayerSetting> settings;  ///< `Module::settings()`, in order.

  /// Layers are equal when every field is (settings in the same order).
  bool operator==(const LayerSpec&) const = default;
};

/// Every module of the tree of `module` in pre-order (the module itself first, named ""), each
/// with its type and settings: what `save_checkpoint` records and `load_checkpoint` compares.
std::vector<LayerSpec> describe_layers(const Module& module);

/// A layer as messages print it: "Linear(in_features=784, out_features=50, bias=true)",
/// "ReLU()".
std::string layer_string(const LayerSpec& layer);

/// One tensor listed in a checkpoint manifest.
struct ManifestEntry {
  std::string name;              ///< Dotted name in the module, e.g. "0.weight".
  std::string file;              ///< Its `.npy` file: a plain file name inside the folder.
  Shape shape;                   ///< Extents, e.g. [784, 50]; [] for a scalar.
  DType dtype = DType::float32;  ///< Element type.

  /// Entries are equal when every field is.
  bool operator==(const ManifestEntry&) const = default;
};

/// What a run needs besides the module's tensors to continue (format version 3, "training"):
/// named scalars and named tensors. Their meaning is the trainer's and the program's business
/// (see `train::add_training_state`); the checkpoint stores and checks their form only.
struct TrainingState {
  /// Scalars: a key of letters, digits and '_' to a flag, whole number, real number or word
  /// (e.g. {"epoch", 2}, {"optimizer_type", "SGD"}), each key once.
  std::vector<LayerSetting> settings;
  /// Tensors with dotted names (e.g. "optimizer.velocity.0", "history.loss"), each name once;
  /// saved as `training.NAME.npy`.
  std::vector<NamedTensor> tensors;
};

/// The "training" object of a version 3 manifest: the scalars, and the tensors' entries.
struct TrainingManifest {
  std::vector<LayerSetting> settings;  ///< `TrainingState::settings`, in order.
  std::vector<ManifestEntry> tensors;  ///< One entry per `TrainingState::tensors` element.

  /// Equal when both fields are.
  bool operator==(const TrainingManifest&) const = default;
};

/// The contents of a checkpoint's `manifest.json`, validated.
struct CheckpointManifest {
  std::int64_t format_version = checkpoint_format_version;  ///< 1 ≤ version ≤ the current one.
  std::vector<ManifestEntry> parameters;                    ///< Learnable tensors, in order.
  std::vector<ManifestEntry> buffers;                       ///< Saved state, in order.
  std::vector<LayerSpec> layers;             ///< The architecture as data (empty in version 1).
  std::vector<std::string> architecture;     ///< `Module::to_string()` line by line (may be empty).
  std::optional<TrainingManifest> training;  ///< Version 3 only, and optional there.

  /// Manifests are equal when every field is.
  bool operator==(const CheckpointManifest&) const = default;
};

/// Parses and validates the text of a `manifest.json`; `source` names it in error messages, e.g.
/// "checkpoint runs/ck: manifest.json". Raises `gradlab::Error` (and nothing else) for any text
/// that is not a manifest this build can load:
/// - not JSON, not a JSON object, or values nested more than 16 levels deep;
/// - no integer "format_version", a version below 1, or one newer than
///   `checkpoint_format_version` ("format_version 2 is newer than this gradlab understands (1)");
/// - a missing "parameters" or "buffers" list, or a key this version does not know (version 2
///   requires "layers"; version 1 has none);
/// - a "layers" entry that is not an object with exactly "name", "type" and "settings"; a name
///   that is neither "" nor a dotted name, or listed twice; a type that is not a word of
///   letters, digits and '_'; settings that are not an object of such words to a boolean,
///   integer (fitting 64 bits), number or string;
/// - (version 3) a "training" that is not an object with exactly "settings" (such an object of
///   words) and "tensors" (a list of entries as below); a tensor name listed twice;
/// - an entry that is not an object with exactly "name", "file", "shape" and "dtype"; a name that
///   is not a dotted path of letters, digits and '_'; a name listed twice in one list; a "file"
///   that is not a plain file name (no '/', '\\', ".." or NUL: a crafted manifest cannot make
///   `load` read outside the folder); a shape that is not a list of at most 64 non-negative
///   integers whose byte size fits in 63 bits; an unknown dtype.
/// \code
///   nn::CheckpointManifest m = nn::parse_checkpoint_manifest(
///       R"({"format_version": 1, "buffers": [],
///           "parameters": [{"name": "weight", "file": "weight.npy", "shape": [3, 2],
///                           "dtype": "float32"}]})",
///       "example");
///   // m.parameters[0].shape == Shape{3, 2}
/// \endcode
CheckpointManifest parse_checkpoint_manifest(std::string_view text, const std::string& source);

/// The JSON text of `manifest` as `save_checkpoint` writes it (indented by 2, keys in the order
/// format_version, parameters, buffers, layers (version 2 and later), architecture, training
/// (version 3, when present)).
/// `parse_checkpoint_manifest` of the result gives back an equal manifest.
std::string format_checkpoint_manifest(const CheckpointManifest& manifest);

/// Checks, without changing anything, that `save_checkpoint` may write at `directory`: nothing
/// exists there yet, or an empty folder, or a gradlab checkpoint — its manifest.json parses as
/// ours and the folder holds nothing but manifest.json and the files the manifest lists. Raises
/// `gradlab::Error` naming the folder and what it holds otherwise (a file, a device, a folder of
/// other files, a manifest that is not ours), and for the working folder or a folder containing
/// it, which is never replaced. Programs call it before their work starts.
void check_checkpoint_target(const std::filesystem::path& directory);

/// What `save_checkpoint` did besides writing the checkpoint.
struct SaveReport {
  /// Where the checkpoint was restored from before saving, when an interrupted earlier save had
  /// left the target name missing (see `recover_checkpoint`).
  std::optional<std::filesystem::path> recovered_from;
  /// Stale temporary folders of earlier, interrupted saves of this target that were deleted.
  std::vector<std::filesystem::path> removed;
};

/// Writes every parameter and buffer of `module` into the folder `directory` (created, or
/// replaced when it holds an older checkpoint; see `check_checkpoint_target`), crash-safely (see
/// the top of this file), and deletes stale temporaries of earlier saves of the same target.
/// Writes a version 2 manifest.
SaveReport save_checkpoint(const Module& module, const std::filesystem::path& directory);

/// As above, and also `training` (a version 3 manifest with "training"; its tensors as
/// `training.NAME.npy` files, listed, so the folder stays a checkpoint that
/// `check_checkpoint_target` accepts). Raises `gradlab::Error` for a key that is not a word, a
/// name that is not dotted, an undefined tensor, or a key or name given twice, before writing.
SaveReport save_checkpoint(const Module& module, const std::filesystem::path& directory,
                           const TrainingState& training);

/// The training state saved with the checkpoint at `directory` (every tensor read and checked
/// against the manifest's shape and dtype), or nothing when the checkpoint has none (versions
/// 1 and 2, or a version 3 saved without one). A missing `directory` is first recovered from an
/// interrupted save. Raises `gradlab::Error` naming the folder for a missing folder or manifest,
/// an invalid manifest, or a tensor file that does not match its entry.
std::optional<TrainingState> load_training_state(const std::filesystem::path& directory);

/// When `directory` does not exist but an interrupted save left a complete checkpoint beside it
/// (`<directory>.tmp-<16 hex>` or `<directory>.old-<16 hex>`: its manifest parses, and it holds
/// exactly the files the manifest lists, each a valid `.npy` of the listed shape and dtype),
/// renames the most recently written one (by the manifest's modification time) to `directory`
/// and returns where it came from; otherwise changes nothing and returns nothing. Raises
/// `gradlab::Error` naming both folders when the rename fails.
std::optional<std::filesystem::path> recover_checkpoint(const std::filesystem::path& directory);

/// How `load_checkpoint` matches a checkpoint to a module. The default is strict: the same
/// layers with the same settings, and every parameter and buffer on both sides.
struct LoadOptions {
  /// Names left out of the load: a layer's dotted name ("4") excludes the layer and everything
  /// below it ("4.weight", "4.bias"); a tensor's full name ("4.bias") excludes that tensor. An
  /// excluded tensor keeps the module's values, need not be in the checkpoint, and is not
  /// compared; an excluded layer is skipped when the layers are compared (a new classifier head
  /// of another size). A name that matches nothing on either side is an error (a typo).
  std::vector<std::string> exclude;
  /// Loads weights into different activations: a layer that is ReLU, Sigmoid, Tanh, LeakyReLU,
  /// ELU or PReLU on both sides may differ in type and settings (parameters are still checked:
  /// PReLU's slopes are not in a ReLU). `gradlab_train --allow-activation-change`.
  bool allow_activation_change = false;
};

/// Loads a checkpoint written by `save_checkpoint` into `module`, all or nothing. A missing
/// `directory` is first recovered from an interrupted save (`recover_checkpoint`). Every
/// parameter and buffer is checked (name, shape, dtype, file), then the layers (version 2
/// manifests): same names and types in the same order, same settings.
void load_checkpoint(Module& module, const std::filesystem::path& directory,
                     const LoadOptions& options = {});

}  // namespace gradlab::nn
