#pragma once
/// \file modules/checkpoint.hpp
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
/// NumPy reads every file (`numpy.load`), so a learner can inspect weights in Python.
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

#include <filesystem>

#include "modules/module.hpp"

namespace gradlab::nn {

/// The manifest version written by `save_checkpoint`, and the newest one `load_checkpoint` reads.
inline constexpr int checkpoint_format_version = 1;

/// Writes every parameter and buffer of `module` into the folder `directory` (created, or
/// replaced when it holds an older checkpoint).
void save_checkpoint(const Module& module, const std::filesystem::path& directory);

/// Loads a checkpoint written by `save_checkpoint` into `module`, all or nothing.
void load_checkpoint(Module& module, const std::filesystem::path& directory);

}  // namespace gradlab::nn
