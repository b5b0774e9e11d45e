// Checkpoints: save = write everything into a temporary folder, then rename it into place;
// load = read and check everything into memory, then copy into the module.

#include "modules/checkpoint.hpp"

#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "modules/npy.hpp"

namespace gradlab::nn {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* manifest_name = "manifest.json";

// The absolute target folder, without a trailing slash ("ck/" → ".../ck").
fs::path normalised_target(const fs::path& directory) {
  if (directory.empty()) throw Error("checkpoint: the folder name is empty");
  fs::path target = fs::absolute(directory).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();
  return target;
}

// A sibling of `target` that does not exist yet: "<target>.<tag>-<random hex>".
fs::path unused_sibling(const fs::path& target, const char* tag) {
  static std::mt19937_64 generator{std::random_device{}()};
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path candidate = target.parent_path() /
                         fmt::format("{}.{}-{:016x}", target.filename().string(), tag, generator());
    if (!fs::exists(candidate)) return candidate;
  }
  throw Error(fmt::format("checkpoint {}: cannot find an unused temporary name beside it",
                          target.string()));
}

json describe(const std::vector<NamedTensor>& tensors, const fs::path& folder) {
  json list = json::array();
  for (const auto& [name, tensor] : tensors) {
    const std::string file = name + ".npy";
    npy::write(folder / file, tensor);
    list.push_back({{"name", name},
                    {"file", file},
                    {"shape", tensor.shape()},
                    {"dtype", dtype_name(tensor.dtype())}});
  }
  return list;
}

}  // namespace

void save_checkpoint(const Module& module, const fs::path& directory) {
  const fs::path target = normalised_target(directory);
  const std::string where = fmt::format("checkpoint {}", target.string());
  std::error_code error;
  fs::create_directories(target.parent_path(), error);
  if (error)
    throw Error(fmt::format("{}: cannot create the parent folder: {}", where, error.message()));
  const bool replacing = fs::exists(target);
  if (replacing) {
    if (!fs::is_directory(target))
      throw Error(fmt::format("{}: a file of that name exists and is not a folder", where));
    if (!fs::is_empty(target) && !fs::exists(target / manifest_name))
      throw Error(fmt::format(
          "{}: refusing to replace a non-empty folder that is not a gradlab checkpoint (no {})",
          where, manifest_name));
  }

  const fs::path temporary = unused_sibling(target, "tmp");
  if (!fs::create_directory(temporary, error) || error)
    throw Error(fmt::format("{}: cannot create the temporary folder {}: {}", where,
                            temporary.string(), error.message()));
  try {
    json manifest;
    manifest["format_version"] = checkpoint_format_version;
    manifest["parameters"] = describe(module.named_parameters(), temporary);
    manifest["buffers"] = describe(module.named_buffers(), temporary);
    {
      std::ofstream out(temporary / manifest_name, std::ios::trunc);
      out << manifest.dump(2) << "\n";
      out.close();
      if (!out) throw Error(fmt::format("{}: cannot write {}", where, manifest_name));
    }
    if (replacing) {
      // Move the old checkpoint aside, put the new one in place, then delete the old one; if
      // the second rename fails the old checkpoint goes back.
      const fs::path old = unused_sibling(target, "old");
      fs::rename(target, old);
      try {
        fs::rename(temporary, target);
      } catch (...) {
        fs::rename(old, target, error);
        throw;
      }
      fs::remove_all(old, error);
    } else {
      fs::rename(temporary, target);
    }
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(temporary, error);
    throw Error(fmt::format("{}: {}", where, e.what()));
  } catch (...) {
    fs::remove_all(temporary, error);
    throw;
  }
}

namespace {

// One manifest entry, validated.
struct Entry {
  std::string file;
  Shape shape;
  DType dtype = DType::float32;
};

DType parse_dtype(const std::string& text, const std::string& context) {
  for (DType dtype : {DType::float32, DType::float64, DType::int64})
    if (text == dtype_name(dtype)) return dtype;
  throw Error(fmt::format("{}: unknown dtype '{}'", context, text));
}

// Reads the "parameters" or "buffers" list of the manifest into name → entry.
std::map<std::string, Entry> read_entries(const json& manifest, const char* kind,
                                          const std::string& where) {
  const std::string context = fmt::format("{}: {}", where, manifest_name);
  if (!manifest.contains(kind) || !manifest[kind].is_array())
    throw Error(fmt::format("{}: '{}' must be a list", context, kind));
  std::map<std::string, Entry> entries;
  for (const json& item : manifest[kind]) {
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string() ||
        !item.contains("file") || !item["file"].is_string() || !item.contains("shape") ||
        !item["shape"].is_array() || !item.contains("dtype") || !item["dtype"].is_string())
      throw Error(fmt::format(
          "{}: every entry of '{}' needs a string name, file and dtype and a shape list; got {}",
          context, kind, item.dump()));
    const std::string name = item["name"].get<std::string>();
    const std::string entry_context = fmt::format("{}: {} '{}'", context, kind, name);
    Entry entry;
    entry.file = item["file"].get<std::string>();
    // The file must sit in the checkpoint folder: no paths, so a crafted manifest cannot make
    // load read elsewhere.
    if (entry.file.empty() || entry.file == "." || entry.file == ".." ||
        entry.file.find_first_of("/\\") != std::string::npos ||
        entry.file.find('\0') != std::string::npos)
      throw Error(
          fmt::format("{}: file '{}' must be a plain file name inside the checkpoint folder",
                      entry_context, entry.file));
    for (const json& extent : item["shape"]) {
      if (!extent.is_number_integer() || extent.get<std::int64_t>() < 0)
        throw Error(fmt::format("{}: shape {} must list non-negative integers", entry_context,
                                item["shape"].dump()));
      entry.shape.push_back(extent.get<std::int64_t>());
    }
    entry.dtype = parse_dtype(item["dtype"].get<std::string>(), entry_context);
    if (!entries.emplace(name, std::move(entry)).second)
      throw Error(fmt::format("{}: '{}' lists '{}' twice", context, kind, name));
  }
  return entries;
}

// Checks every module tensor of one kind against the manifest and reads its file.
void read_all(const std::vector<NamedTensor>& tensors, std::map<std::string, Entry> entries,
              const char* kind, const char* singular, const fs::path& folder,
              const std::string& where, std::vector<std::pair<Tensor, Tensor>>& loaded) {
  for (const auto& [name, tensor] : tensors) {
    const std::string context = fmt::format("{}: {} '{}'", where, singular, name);
    const auto found = entries.find(name);
    if (found == entries.end())
      throw Error(fmt::format("{} (shape {} in the module) is missing from the checkpoint", context,
                              shape_string(tensor.shape())));
    const Entry& entry = found->second;
    if (entry.shape != tensor.shape())
      throw Error(fmt::format("{}: the checkpoint has shape {}, the module {}", context,
                              shape_string(entry.shape), shape_string(tensor.shape())));
    if (entry.dtype != tensor.dtype())
      throw Error(fmt::format("{}: the checkpoint has dtype {}, the module {}", context,
                              dtype_name(entry.dtype), dtype_name(tensor.dtype())));
    Tensor data;
    try {
      data = npy::read(folder / entry.file);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", context, e.what()));
    }
    if (data.shape() != tensor.shape() || data.dtype() != tensor.dtype())
      throw Error(fmt::format("{}: file {} holds shape {} ({}), the module has shape {} ({})",
                              context, entry.file, shape_string(data.shape()),
                              dtype_name(data.dtype()), shape_string(tensor.shape()),
                              dtype_name(tensor.dtype())));
    loaded.emplace_back(tensor, data);
    entries.erase(found);
  }
  if (!entries.empty())
    throw Error(fmt::format(
        "{}: the checkpoint has {} '{}' (shape {}) that the module does not have", where, singular,
        entries.begin()->first, shape_string(entries.begin()->second.shape)));
  (void)kind;
}

}  // namespace

void load_checkpoint(Module& module, const fs::path& directory) {
  const fs::path folder = normalised_target(directory);
  const std::string where = fmt::format("checkpoint {}", folder.string());
  if (!fs::is_directory(folder)) throw Error(fmt::format("{}: no such folder", where));
  const fs::path manifest_path = folder / manifest_name;
  if (!fs::is_regular_file(manifest_path))
    throw Error(fmt::format("{}: {} is missing (not a gradlab checkpoint?)", where, manifest_name));

  json manifest;
  try {
    std::ifstream in(manifest_path);
    manifest = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: {} is not valid JSON: {}", where, manifest_name, e.what()));
  }
  if (!manifest.is_object() || !manifest.contains("format_version") ||
      !manifest["format_version"].is_number_integer())
    throw Error(fmt::format("{}: {} has no integer 'format_version'", where, manifest_name));
  const auto version = manifest["format_version"].get<std::int64_t>();
  if (version > checkpoint_format_version)
    throw Error(
        fmt::format("{}: format_version {} is newer than this gradlab understands ({}); "
                    "load it with a newer gradlab",
                    where, version, checkpoint_format_version));
  if (version < 1) throw Error(fmt::format("{}: format_version {} is invalid", where, version));

  // Everything is read and checked before the first byte of the module changes.
  std::vector<std::pair<Tensor, Tensor>> loaded;  // (module tensor, checkpoint data)
  read_all(module.named_parameters(), read_entries(manifest, "parameters", where), "parameters",
           "parameter", folder, where, loaded);
  read_all(module.named_buffers(), read_entries(manifest, "buffers", where), "buffers", "buffer",
           folder, where, loaded);

  for (const auto& [tensor, data] : loaded) {
    const auto bytes = static_cast<std::size_t>(tensor.numel()) * dtype_size(tensor.dtype());
    if (bytes > 0) std::memcpy(tensor.raw_data(), data.raw_data(), bytes);
  }
}

}  // namespace gradlab::nn
