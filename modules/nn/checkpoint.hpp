#pragma once
/// \file modules/nn/checkpoint.hpp
/// \brief Saving and loading a module's parameters and buffers: `.npy` files + `manifest.json`.
///
/// A checkpoint is a folder with one `.npy` file per parameter and buffer, named after its dotted
/// name ("0.weight.npy", "1.running_mean.npy"), and a `manifest.json`:
/// \code{.json}
///   {"format_version": 1,
///    "parameters": [{"name": "0.weight", "file": "0.weight.npy", "shape": [784, 50], "dtype":
///    "float32"}, ...], "buffers":    [{"name": "1.running_mean", "file": "1.running_mean.npy",
///    "shape": [50], "dtype": "float32"}, ...]}
/// \endcode
/// NumPy reads every file (`numpy.load`), so a learner can inspect weights in Python. The
/// manifest also records the module's `to_string()` as a list of lines under "architecture", so a
/// person reading the folder sees what network it came from (`load` does not use it).
///
/// The manifest is parsed by `parse_checkpoint_manifest`, an in-memory entry point that checks
/// every key and value (it is fuzzed, see tests/fuzz/); `load_checkpoint` uses it, then matches
/// the entries against the module.
///
/// Guarantees:
/// - *save* writes into a fresh temporary folder beside the target and renames it into place
///   at the end; a failure half-way leaves no partial checkpoint (and an older checkpoint at the
///   target stays intact until the new one is complete). It refuses to replace a folder that is
///   not a gradlab checkpoint.
/// - *load* is all or nothing: the manifest and every file are read and checked against the
///   module (names, shapes, dtypes, file contents) before any parameter is touched. Errors name
///   the parameter and both shapes, e.g.
///   "checkpoint ck: parameter '0.weight': the checkpoint has shape [784, 60], the module [784,
///   50]". A `format_version` newer than this build understands is refused.
/// - load copies the bytes into the existing tensors, so handles held elsewhere (optimisers,
///   layer members) stay valid, and a save → load round trip is bit-exact.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "modules/nn/module.hpp"

namespace gradlab::nn {

/// The manifest version written by `save_checkpoint`, and the newest one `load_checkpoint` reads.
inline constexpr int checkpoint_format_version = 1;

/// One tensor listed in a checkpoint manifest.
struct ManifestEntry {
  std::string name;              ///< Dotted name in the module, e.g. "0.weight".
  std::string file;              ///< Its `.npy` file: a plain file name inside the folder.
  Shape shape;                   ///< Extents, e.g. [784, 50]; [] for a scalar.
  DType dtype = DType::float32;  ///< Element type.

  /// Entries are equal when every field is.
  bool operator==(const ManifestEntry&) const = default;
};

/// The contents of a checkpoint's `manifest.json`, validated.
struct CheckpointManifest {
  std::int64_t format_version = checkpoint_format_version;  ///< 1 ≤ version ≤ the current one.
  std::vector<ManifestEntry> parameters;                    ///< Learnable tensors, in order.
  std::vector<ManifestEntry> buffers;                       ///< Saved state, in order.
  std::vector<std::string> architecture;  ///< `Module::to_string()` line by line (may be empty).

  /// Manifests are equal when every field is.
  bool operator==(const CheckpointManifest&) const = default;
};

/// Parses and validates the text of a `manifest.json`; `source` names it in error messages, e.g.
/// "checkpoint runs/ck: manifest.json". Raises `gradlab::Error` (and nothing else) for any text
/// that is not a manifest this build can load:
/// - not JSON, not a JSON object, or values nested more than 16 levels deep;
/// - no integer "format_version", a version below 1, or one newer than
///   `checkpoint_format_version` ("format_version 2 is newer than this gradlab understands (1)");
/// - a missing "parameters" or "buffers" list, or a key this version does not know;
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
/// format_version, parameters, buffers, architecture). `parse_checkpoint_manifest` of the result
/// gives back an equal manifest.
std::string format_checkpoint_manifest(const CheckpointManifest& manifest);

/// Checks, without changing anything, that `save_checkpoint` may write at `directory`: nothing
/// exists there yet, or an empty folder, or a gradlab checkpoint — its manifest.json parses as
/// ours and the folder holds nothing but manifest.json and the files the manifest lists. Raises
/// `gradlab::Error` naming the folder and what it holds otherwise (a file, a device, a folder of
/// other files, a manifest that is not ours), and for the working folder or a folder containing
/// it, which is never replaced. Programs call it before their work starts.
void check_checkpoint_target(const std::filesystem::path& directory);

/// Writes every parameter and buffer of `module` into the folder `directory` (created, or
/// replaced when it holds an older checkpoint; see `check_checkpoint_target`).
void save_checkpoint(const Module& module, const std::filesystem::path& directory);

/// Loads a checkpoint written by `save_checkpoint` into `module`, all or nothing.
void load_checkpoint(Module& module, const std::filesystem::path& directory);

}  // namespace gradlab::nn
