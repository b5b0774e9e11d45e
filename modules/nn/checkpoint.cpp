// Checkpoints: save = write everything into a temporary folder, flush it to disk, then swap it
// into place; load = read and check everything into memory, then copy into the module.

#include "modules/nn/checkpoint.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>  // renameat2, RENAME_EXCHANGE, RENAME_NOREPLACE (glibc, _GNU_SOURCE)
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <type_traits>

#include "modules/io/npy.hpp"

namespace gradlab::nn {

namespace fs = std::filesystem;
// Ordered objects throughout: a parsed manifest keeps the order of its keys (a layer's settings
// round-trip in the order they were written).
using json = nlohmann::ordered_json;
using nlohmann::ordered_json;

namespace {

constexpr const char* manifest_name = "manifest.json";

// The absolute target folder, without a trailing slash ("ck/" → ".../ck").
// Every list of files a manifest holds: parameters, buffers, and the training state's tensors.
std::vector<const std::vector<ManifestEntry>*> entry_lists(const CheckpointManifest& manifest) {
  std::vector<const std::vector<ManifestEntry>*> lists{&manifest.parameters, &manifest.buffers};
  if (manifest.training) lists.push_back(&manifest.training->tensors);
  return lists;
}

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

// Flushes the file or folder at `path` to disk (fsync); raises an Error naming it. fsync on a
// descriptor opened after the writer closed the file flushes the same data (the page cache is
// the inode's), and reports a write-back error nobody has seen yet.
void sync_path(const fs::path& path, bool folder, const std::string& where) {
  const int descriptor =
      ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (folder ? O_DIRECTORY : 0));  // NOLINT
  if (descriptor < 0)
    throw Error(fmt::format("{}: cannot open {} to flush it to disk: {}", where, path.string(),
                            std::strerror(errno)));
  const int result = ::fsync(descriptor);
  const int saved = errno;
  ::close(descriptor);
  if (result != 0)
    throw Error(fmt::format("{}: cannot flush {} to disk (fsync): {}", where, path.string(),
                            std::strerror(saved)));
}

// Writes each tensor to `folder` as "<name>.npy", flushes it to disk, and returns the manifest
// entries.
std::vector<ManifestEntry> write_tensors(const std::vector<NamedTensor>& tensors,
                                         const fs::path& folder, const std::string& where) {
  std::vector<ManifestEntry> entries;
  for (const auto& [name, tensor] : tensors) {
    ManifestEntry entry{name, name + ".npy", tensor.shape(), tensor.dtype()};
    npy::write(folder / entry.file, tensor);
    sync_path(folder / entry.file, false, where);
    entries.push_back(std::move(entry));
  }
  return entries;
}

// The lines of `text` (a trailing newline does not start an empty line).
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t begin = 0;
  while (begin < text.size()) {
    const std::size_t end = std::min(text.find('\n', begin), text.size());
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return lines;
}

// True for "<stem>.tmp-<16 hex>" and "<stem>.old-<16 hex>", the names `unused_sibling` gives.
bool is_temporary_name(const std::string& name, const std::string& stem) {
  constexpr std::size_t tag_size = 5;  // ".tmp-", ".old-"
  constexpr std::size_t hex_size = 16;
  if (name.size() != stem.size() + tag_size + hex_size || name.compare(0, stem.size(), stem) != 0)
    return false;
  const std::string tag = name.substr(stem.size(), tag_size);
  if (tag != ".tmp-" && tag != ".old-") return false;
  return std::all_of(name.end() - hex_size, name.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The folders beside `target` that interrupted saves of it leave (never symbolic links).
std::vector<fs::path> temporaries_of(const fs::path& target) {
  std::vector<fs::path> found;
  std::error_code error;
  const std::string stem = target.filename().string();
  for (fs::directory_iterator it(target.parent_path(), error), end; !error && it != end;
       it.increment(error)) {
    const fs::file_status status = it->symlink_status(error);
    if (!error && fs::is_directory(status) &&
        is_temporary_name(it->path().filename().string(), stem))
      found.push_back(it->path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// EINVAL, ENOSYS, EOPNOTSUPP: the filesystem (or kernel) does not do renameat2's flags.
bool flags_unsupported(int error) {
  return error == EINVAL || error == ENOSYS || error == EOPNOTSUPP;
}

// Renames `from` to `to`; raises an Error naming both.
void rename_or_throw(const fs::path& from, const fs::path& to, const std::string& where) {
  if (std::rename(from.c_str(), to.c_str()) != 0)
    throw Error(fmt::format("{}: cannot rename {} to {}: {}", where, from.string(), to.string(),
                            std::strerror(errno)));
}

std::string read_manifest_text(const fs::path& path, const std::string& where);
bool is_complete_checkpoint(const fs::path& folder);

}  // namespace

std::optional<fs::path> recover_checkpoint(const fs::path& directory) {
  const fs::path target = normalised_target(directory);
  std::error_code error;
  if (fs::exists(fs::symlink_status(target, error))) return std::nullopt;
  // The most recently written complete one: in the moment of the two-rename fallback when the
  // target name is missing, that is the new checkpoint (its manifest was written last).
  std::optional<fs::path> best;
  fs::file_time_type best_time{};
  for (const fs::path& candidate : temporaries_of(target)) {
    if (!is_complete_checkpoint(candidate)) continue;
    const fs::file_time_type time = fs::last_write_time(candidate / manifest_name, error);
    if (error) continue;
    if (!best || time > best_time) {
      best = candidate;
      best_time = time;
    }
  }
  if (!best) return std::nullopt;
  const std::string where = fmt::format("checkpoint {}", target.string());
  rename_or_throw(*best, target, where);
  sync_path(target.parent_path(), true, where);
  return best;
}

namespace {

bool is_word_key(const std::string& text);
bool is_dotted(const std::string& name);

// Refuses a training state the manifest could not hold, before anything is written.
void check_training_state(const TrainingState& training, const std::string& where) {
  std::set<std::string> keys;
  for (const LayerSetting& setting : training.settings) {
    if (!is_word_key(setting.key))
      throw Error(fmt::format("{}: training setting '{}' is not a word of letters, digits and '_'",
                              where, setting.key));
    if (!keys.insert(setting.key).second)
      throw Error(fmt::format("{}: training setting '{}' is given twice", where, setting.key));
  }
  std::set<std::string> names;
  for (const auto& [name, tensor] : training.tensors) {
    if (!is_dotted(name))
      throw Error(fmt::format(
          "{}: training tensor '{}' is not a dotted name of letters, digits and '_'", where, name));
    if (!tensor.defined())
      throw Error(fmt::format("{}: training tensor '{}' is undefined", where, name));
    if (!names.insert(name).second)
      throw Error(fmt::format("{}: training tensor '{}' is given twice", where, name));
  }
}

SaveReport save_impl(const Module& module, const fs::path& directory,
                     const TrainingState* training);

}  // namespace

SaveReport save_checkpoint(const Module& module, const fs::path& directory) {
  return save_impl(module, directory, nullptr);
}

SaveReport save_checkpoint(const Module& module, const fs::path& directory,
                           const TrainingState& training) {
  return save_impl(module, directory, &training);
}

namespace {

SaveReport save_impl(const Module& module, const fs::path& directory,
                     const TrainingState* training) {
  const fs::path target = normalised_target(directory);
  const std::string where = fmt::format("checkpoint {}", target.string());
  if (training != nullptr) check_training_state(*training, where);
  std::error_code error;
  fs::create_directories(target.parent_path(), error);
  if (error)
    throw Error(fmt::format("{}: cannot create the parent folder: {}", where, error.message()));
  SaveReport report;
  report.recovered_from = recover_checkpoint(target);
  check_checkpoint_target(target);
  const std::vector<fs::path> stale = temporaries_of(target);  // before ours exists
  const bool replacing = fs::exists(target);
  const fs::path parent = target.parent_path();

  const fs::path temporary = unused_sibling(target, "tmp");
  if (!fs::create_directory(temporary, error) || error)
    throw Error(fmt::format("{}: cannot create the temporary folder {}: {}", where,
                            temporary.string(), error.message()));
  try {
    // 1. Every file written and flushed, the manifest last; then the folder itself.
    CheckpointManifest manifest;
    manifest.parameters = write_tensors(module.named_parameters(), temporary, where);
    manifest.buffers = write_tensors(module.named_buffers(), temporary, where);
    manifest.layers = describe_layers(module);
    manifest.architecture = lines_of(module.to_string());
    manifest.format_version = 2;
    if (training != nullptr) {
      manifest.format_version = 3;
      TrainingManifest saved{training->settings, {}};
      for (const auto& [name, tensor] : training->tensors) {
        ManifestEntry entry{name, "training." + name + ".npy", tensor.shape(), tensor.dtype()};
        npy::write(temporary / entry.file, tensor);
        sync_path(temporary / entry.file, false, where);
        saved.tensors.push_back(std::move(entry));
      }
      manifest.training = std::move(saved);
    }
    {
      std::ofstream out(temporary / manifest_name, std::ios::trunc);
      out << format_checkpoint_manifest(manifest);
      out.close();
      if (!out)
        throw Error(fmt::format("{}: cannot write {} into the temporary folder {}", where,
                                manifest_name, temporary.string()));
    }
    sync_path(temporary / manifest_name, false, where);
    sync_path(temporary, true, where);
    // 2. Into place in one step, then the parent folder flushed.
    if (replacing) {
      fs::path old = temporary;  // after the exchange, the old checkpoint is under this name
      if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) !=
          0) {
        const int saved = errno;
        if (!flags_unsupported(saved))
          throw Error(fmt::format("{}: cannot exchange {} with {}: {}", where, temporary.string(),
                                  target.string(), std::strerror(saved)));
        // The fallback: two renames, the target name missing between them; a process killed
        // there leaves both folders complete, and recover_checkpoint puts the new one back.
        old = unused_sibling(target, "old");
        rename_or_throw(target, old, where);
        if (std::rename(temporary.c_str(), target.c_str()) != 0) {
          const int failed = errno;
          std::rename(old.c_str(), target.c_str());
          throw Error(fmt::format("{}: cannot rename {} to {}: {}", where, temporary.string(),
                                  target.string(), std::strerror(failed)));
        }
      }
      sync_path(parent, true, where);
      // 3. The old checkpoint goes (a crash here leaves it as a stale temporary).
      fs::remove_all(old, error);
    } else {
      if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) !=
          0) {
        const int saved = errno;
        if (!flags_unsupported(saved))
          throw Error(fmt::format("{}: cannot rename {} to {}: {}", where, temporary.string(),
                                  target.string(), std::strerror(saved)));
        rename_or_throw(temporary, target, where);
      }
      sync_path(parent, true, where);
    }
  } catch (const fs::filesystem_error& e) {
    if (fs::exists(temporary, error)) fs::remove_all(temporary, error);
    throw Error(fmt::format("{}: {}", where, e.what()));
  } catch (...) {
    if (fs::exists(temporary, error)) fs::remove_all(temporary, error);
    throw;
  }
  // 4. The new checkpoint is in place: stale temporaries of earlier saves go.
  for (const fs::path& path : stale) {
    std::error_code removal;
    fs::remove_all(path, removal);
    if (!removal) report.removed.push_back(path);
  }
  if (!report.removed.empty()) sync_path(parent, true, where);
  return report;
}

}  // namespace

// --- the manifest ---------------------------------------------------------------------------

namespace {

constexpr std::size_t max_dimensions = 64;  // as the .npy reader

// "a string", "an array", ... for messages about a value of the wrong type.
std::string kind_of(const json& value) {
  const std::string type = value.type_name();
  const bool vowel = type.find_first_of("aeiou") == 0;
  return (vowel ? "an " : "a ") + type;
}

// The value of a JSON integer as int64, or nothing when it is not an integer or does not fit.
// (nlohmann keeps integers above INT64_MAX as unsigned; `get<std::int64_t>` would wrap them.)
std::optional<std::int64_t> as_int64(const json& value) {
  if (value.is_number_unsigned()) {
    const auto unsigned_value = value.get<std::uint64_t>();
    if (unsigned_value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(unsigned_value);
  }
  if (value.is_number_integer()) return value.get<std::int64_t>();
  return std::nullopt;
}

// A module's dotted name: segments of letters, digits and '_' joined by '.'.
bool is_dotted_name(const std::string& name) {
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  char previous = '\0';
  for (char c : name) {
    const bool plain =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!plain && !(c == '.' && previous != '.')) return false;
    previous = c;
  }
  return true;
}

// `text` with control characters written as \xNN, for messages (a NUL byte would otherwise end
// the message, a newline break it).
std::string printable(const std::string& text) {
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f)
      out += fmt::format("\\x{:02x}", byte);
    else
      out += c;
  }
  return out;
}

DType parse_dtype(const std::string& text, const std::string& context) {
  for (DType dtype : {DType::float32, DType::float64, DType::int64})
    if (text == dtype_name(dtype)) return dtype;
  throw Error(fmt::format("{}: unknown dtype '{}' (gradlab saves float32, float64 or int64)",
                          context, text));
}

Shape parse_shape(const json& value, DType dtype, const std::string& context) {
  if (!value.is_array())
    throw Error(
        fmt::format("{}: 'shape' must be a list of extents, got {}", context, kind_of(value)));
  if (value.size() > max_dimensions)
    throw Error(fmt::format("{}: 'shape' has {} extents, more than {}", context, value.size(),
                            max_dimensions));
  Shape shape;
  // The byte size numel · element size must fit in int64 (zero extents are skipped, so that
  // [0, 2^62, 2^62] is refused too: an element count downstream would overflow).
  constexpr auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t bytes = dtype_size(dtype);
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::optional<std::int64_t> extent = as_int64(value[i]);
    if (!extent || *extent < 0)
      throw Error(
          fmt::format("{}: extent {} of 'shape' must be a non-negative integer below "
                      "2^63, got {}",
                      context, i, value[i].is_number() ? value[i].dump() : kind_of(value[i])));
    const auto size = static_cast<std::uint64_t>(*extent);
    if (size > 0 && bytes > limit / size)
      throw Error(fmt::format("{}: 'shape' describes more than 2^63 bytes", context));
    if (size > 0) bytes *= size;
    shape.push_back(*extent);
  }
  return shape;
}

// The "parameters" or "buffers" list of a manifest.
std::vector<ManifestEntry> parse_entries(const json& manifest, const char* kind,
                                         const std::string& source) {
  const auto list = manifest.find(kind);
  if (list == manifest.end())
    throw Error(fmt::format("{}: the list '{}' is missing", source, kind));
  if (!list->is_array())
    throw Error(fmt::format("{}: '{}' must be a list, got {}", source, kind, kind_of(*list)));
  std::vector<ManifestEntry> entries;
  std::set<std::string> names;
  for (std::size_t index = 0; index < list->size(); ++index) {
    const json& item = (*list)[index];
    std::string context = fmt::format("{}: {}[{}]", source, kind, index);
    if (!item.is_object())
      throw Error(
          fmt::format("{}: an entry must be an object with name, file, shape and dtype, "
                      "got {}",
                      context, kind_of(item)));
    for (const auto& [key, value] : item.items())
      if (key != "name" && key != "file" && key != "shape" && key != "dtype")
        throw Error(fmt::format("{}: unknown key '{}' (an entry has name, file, shape, dtype)",
                                context, key));
    for (const char* key : {"name", "file", "shape", "dtype"})
      if (!item.contains(key))
        throw Error(fmt::format("{}: the key '{}' is missing", context, key));
    for (const char* key : {"name", "file", "dtype"})
      if (!item[key].is_string())
        throw Error(
            fmt::format("{}: '{}' must be a string, got {}", context, key, kind_of(item[key])));

    ManifestEntry entry;
    entry.name = item["name"].get<std::string>();
    if (!is_dotted_name(entry.name))
      throw Error(fmt::format("{}: name '{}' is not a dotted name of letters, digits and '_'",
                              context, entry.name));
    context = fmt::format("{}: {} '{}'", source, kind, entry.name);
    entry.file = item["file"].get<std::string>();
    // The file must sit in the checkpoint folder: no paths, so a crafted manifest cannot make
    // load read elsewhere.
    if (entry.file.empty() || entry.file == "." || entry.file == ".." ||
        entry.file.find_first_of("/\\") != std::string::npos ||
        entry.file.find('\0') != std::string::npos)
      throw Error(
          fmt::format("{}: file '{}' must be a plain file name inside the checkpoint folder",
                      context, printable(entry.file)));
    entry.dtype = parse_dtype(item["dtype"].get<std::string>(), context);
    entry.shape = parse_shape(item["shape"], entry.dtype, context);
    if (!names.insert(entry.name).second)
      throw Error(fmt::format("{}: '{}' lists '{}' twice", source, kind, entry.name));
    entries.push_back(std::move(entry));
  }
  return entries;
}

// A word: letters, digits and '_' (a layer type, a setting's key).
bool is_word(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

SettingValue parse_setting(const json& value, const std::string& context) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number_integer()) {
    const std::optional<std::int64_t> number = as_int64(value);
    if (!number)
      throw Error(fmt::format("{}: the integer {} does not fit in 64 bits", context, value.dump()));
    return *number;
  }
  if (value.is_number_float()) return value.get<double>();
  if (value.is_string()) return value.get<std::string>();
  throw Error(fmt::format("{}: must be a boolean, an integer, a number or a string, got {}",
                          context, kind_of(value)));
}

// The "layers" list of a version 2 manifest.
std::vector<LayerSpec> parse_layers(const json& manifest, const std::string& source) {
  const auto list = manifest.find("layers");
  if (list == manifest.end())
    throw Error(fmt::format(
        "{}: the list 'layers' is missing (format_version 2 records the architecture)", source));
  if (!list->is_array())
    throw Error(fmt::format("{}: 'layers' must be a list, got {}", source, kind_of(*list)));
  std::vector<LayerSpec> layers;
  std::set<std::string> names;
  for (std::size_t index = 0; index < list->size(); ++index) {
    const json& item = (*list)[index];
    const std::string context = fmt::format("{}: layers[{}]", source, index);
    if (!item.is_object())
      throw Error(fmt::format("{}: a layer must be an object with name, type and settings, got {}",
                              context, kind_of(item)));
    for (const auto& [key, value] : item.items())
      if (key != "name" && key != "type" && key != "settings")
        throw Error(fmt::format("{}: unknown key '{}' (a layer has name, type, settings)", context,
                                printable(key)));
    for (const char* key : {"name", "type", "settings"})
      if (!item.contains(key))
        throw Error(fmt::format("{}: the key '{}' is missing", context, key));
    for (const char* key : {"name", "type"})
      if (!item[key].is_string())
        throw Error(
            fmt::format("{}: '{}' must be a string, got {}", context, key, kind_of(item[key])));
    LayerSpec layer;
    layer.name = item["name"].get<std::string>();
    if (!layer.name.empty() && !is_dotted_name(layer.name))
      throw Error(fmt::format(
          "{}: name '{}' is neither \"\" (the saved module) nor a dotted name of letters, "
          "digits and '_'",
          context, printable(layer.name)));
    if (!names.insert(layer.name).second)
      throw Error(fmt::format("{}: 'layers' lists the layer '{}' twice", source, layer.name));
    layer.type = item["type"].get<std::string>();
    if (!is_word(layer.type))
      throw Error(fmt::format("{}: type '{}' is not a word of letters, digits and '_'", context,
                              printable(layer.type)));
    const json& settings = item["settings"];
    if (!settings.is_object())
      throw Error(
          fmt::format("{}: 'settings' must be an object, got {}", context, kind_of(settings)));
    for (const auto& [key, value] : settings.items()) {
      if (!is_word(key))
        throw Error(fmt::format("{}: setting '{}' is not a word of letters, digits and '_'",
                                context, printable(key)));
      layer.settings.push_back(
          {key, parse_setting(value, fmt::format("{}: setting '{}'", context, key))});
    }
    layers.push_back(std::move(layer));
  }
  return layers;
}

// The "training" object of a version 3 manifest.
TrainingManifest parse_training(const json& value, const std::string& source) {
  const std::string context = fmt::format("{}: training", source);
  if (!value.is_object())
    throw Error(fmt::format("{}: must be an object with settings and tensors, got {}", context,
                            kind_of(value)));
  for (const auto& [key, item] : value.items())
    if (key != "settings" && key != "tensors")
      throw Error(fmt::format("{}: unknown key '{}' (training has settings, tensors)", context,
                              printable(key)));
  if (!value.contains("settings"))
    throw Error(fmt::format("{}: the key 'settings' is missing", context));
  TrainingManifest training;
  const json& settings = value["settings"];
  if (!settings.is_object())
    throw Error(
        fmt::format("{}: 'settings' must be an object, got {}", context, kind_of(settings)));
  for (const auto& [key, item] : settings.items()) {
    if (!is_word(key))
      throw Error(fmt::format("{}: setting '{}' is not a word of letters, digits and '_'", context,
                              printable(key)));
    training.settings.push_back(
        {key, parse_setting(item, fmt::format("{}: setting '{}'", context, key))});
  }
  training.tensors = parse_entries(value, "tensors", context);
  return training;
}

ordered_json setting_json(const SettingValue& value) {
  return std::visit([](const auto& v) { return ordered_json(v); }, value);
}

ordered_json layers_json(const std::vector<LayerSpec>& layers) {
  ordered_json list = ordered_json::array();
  for (const LayerSpec& layer : layers) {
    ordered_json settings = ordered_json::object();
    for (const LayerSetting& setting : layer.settings)
      settings[setting.key] = setting_json(setting.value);
    list.push_back({{"name", layer.name}, {"type", layer.type}, {"settings", settings}});
  }
  return list;
}

ordered_json entries_json(const std::vector<ManifestEntry>& entries) {
  ordered_json list = ordered_json::array();
  for (const ManifestEntry& entry : entries)
    list.push_back({{"name", entry.name},
                    {"file", entry.file},
                    {"shape", entry.shape},
                    {"dtype", dtype_name(entry.dtype)}});
  return list;
}

}  // namespace

CheckpointManifest parse_checkpoint_manifest(std::string_view text, const std::string& source) {
  // A manifest nests 4 levels deep (object, list, entry, shape). The limit keeps a forged file
  // of a few megabytes of "[[[[..." from costing gigabytes of nested values.
  constexpr int max_depth = 16;
  const json::parser_callback_t limit_depth = [&](int depth, json::parse_event_t, json&) {
    if (depth > max_depth)
      throw Error(fmt::format("{} nests values deeper than {} levels", source, max_depth));
    return true;
  };
  json document;
  try {
    document = json::parse(text.begin(), text.end(), limit_depth);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{} is not valid JSON: {}", source, e.what()));
  }
  if (!document.is_object())
    throw Error(fmt::format("{} must hold a JSON object, not {}", source, kind_of(document)));

  // The version first: a newer manifest may use keys this build does not know.
  CheckpointManifest manifest;
  const auto version = document.find("format_version");
  const std::optional<std::int64_t> number =
      version == document.end() ? std::nullopt : as_int64(*version);
  if (!number) throw Error(fmt::format("{} has no integer 'format_version'", source));
  if (*number > checkpoint_format_version)
    throw Error(
        fmt::format("{}: format_version {} is newer than this gradlab understands ({}); "
                    "load it with a newer gradlab",
                    source, *number, checkpoint_format_version));
  if (*number < 1)
    throw Error(
        fmt::format("{}: format_version {} is invalid (versions start at 1)", source, *number));
  manifest.format_version = *number;

  const bool has_layers = *number >= 2;
  const bool has_training = *number >= 3;
  for (const auto& [key, value] : document.items())
    if (key != "format_version" && key != "parameters" && key != "buffers" &&
        key != "architecture" && !(has_layers && key == "layers") &&
        !(has_training && key == "training"))
      throw Error(
          fmt::format("{}: unknown key '{}' (format_version {} has format_version, "
                      "parameters, buffers, {}architecture{})",
                      source, printable(key), *number, has_layers ? "layers, " : "",
                      has_training ? ", training" : ""));
  manifest.parameters = parse_entries(document, "parameters", source);
  manifest.buffers = parse_entries(document, "buffers", source);
  if (has_layers) manifest.layers = parse_layers(document, source);
  if (const auto training = document.find("training"); training != document.end())
    manifest.training = parse_training(*training, source);
  if (const auto architecture = document.find("architecture"); architecture != document.end()) {
    if (!architecture->is_array())
      throw Error(fmt::format("{}: 'architecture' must be a list of lines, got {}", source,
                              kind_of(*architecture)));
    for (const json& line : *architecture) {
      if (!line.is_string())
        throw Error(fmt::format("{}: 'architecture' must be a list of lines, one is {}", source,
                                kind_of(line)));
      manifest.architecture.push_back(line.get<std::string>());
    }
  }
  return manifest;
}

std::string format_checkpoint_manifest(const CheckpointManifest& manifest) {
  ordered_json document;
  document["format_version"] = manifest.format_version;
  document["parameters"] = entries_json(manifest.parameters);
  document["buffers"] = entries_json(manifest.buffers);
  if (manifest.format_version >= 2) document["layers"] = layers_json(manifest.layers);
  document["architecture"] = manifest.architecture;
  if (manifest.format_version >= 3 && manifest.training) {
    ordered_json settings = ordered_json::object();
    for (const LayerSetting& setting : manifest.training->settings)
      settings[setting.key] = setting_json(setting.value);
    document["training"] = {{"settings", settings},
                            {"tensors", entries_json(manifest.training->tensors)}};
  }
  // Invalid UTF-8 (which a parsed manifest never holds) is replaced rather than thrown about.
  return document.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

// --- layers -----------------------------------------------------------------------------------

namespace {

void describe_into(const Module& module, const std::string& name, std::vector<LayerSpec>& out) {
  out.push_back({name, module.type_name(), module.settings()});
  for (const auto& [child_name, child] : module.named_children())
    describe_into(*child, name.empty() ? child_name : name + "." + child_name, out);
}

std::string value_string(const SettingValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, bool>)
          return v ? "true" : "false";
        else if constexpr (std::is_same_v<V, std::string>)
          return "'" + printable(v) + "'";
        else
          return fmt::format("{}", v);
      },
      value);
}

}  // namespace

std::vector<LayerSpec> describe_layers(const Module& module) {
  std::vector<LayerSpec> layers;
  describe_into(module, "", layers);
  return layers;
}

std::string layer_string(const LayerSpec& layer) {
  std::string text = layer.type + "(";
  for (std::size_t i = 0; i < layer.settings.size(); ++i)
    text +=
        (i > 0 ? ", " : "") + layer.settings[i].key + "=" + value_string(layer.settings[i].value);
  return text + ")";
}

// --- load -------------------------------------------------------------------------------------

namespace {

// True when `name` (a layer's or a tensor's) is one of `exclude` or lies below one of them.
bool is_excluded(const std::string& name, const std::vector<std::string>& exclude) {
  return std::any_of(exclude.begin(), exclude.end(), [&](const std::string& prefix) {
    return name == prefix || (name.size() > prefix.size() && name[prefix.size()] == '.' &&
                              name.compare(0, prefix.size(), prefix) == 0);
  });
}

// Checks every module tensor of one kind against the manifest and reads its file; excluded
// names are skipped on both sides.
void read_all(const std::vector<NamedTensor>& tensors, const std::vector<ManifestEntry>& list,
              const char* singular, const fs::path& folder, const std::string& where,
              const std::vector<std::string>& exclude,
              std::vector<std::pair<Tensor, Tensor>>& loaded) {
  std::map<std::string, const ManifestEntry*> entries;
  for (const ManifestEntry& entry : list)
    if (!is_excluded(entry.name, exclude)) entries.emplace(entry.name, &entry);
  for (const auto& [name, tensor] : tensors) {
    if (is_excluded(name, exclude)) continue;
    const std::string context = fmt::format("{}: {} '{}'", where, singular, name);
    const auto found = entries.find(name);
    if (found == entries.end())
      throw Error(fmt::format("{} (shape {} in the module) is missing from the checkpoint", context,
                              shape_string(tensor.shape())));
    const ManifestEntry& entry = *found->second;
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
        entries.begin()->first, shape_string(entries.begin()->second->shape)));
}

// The whole manifest file as text; a manifest larger than 64 MiB (about half a million
// entries) is refused before reading.
std::string read_manifest_text(const fs::path& path, const std::string& where) {
  std::error_code error;
  const std::uintmax_t size = fs::file_size(path, error);
  if (error)
    throw Error(
        fmt::format("{}: cannot read the size of {}: {}", where, manifest_name, error.message()));
  constexpr std::uintmax_t limit = 64u << 20;
  if (size > limit)
    throw Error(fmt::format("{}: {} has {} bytes, more than the {} a manifest may have", where,
                            manifest_name, size, limit));
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  if (!in || static_cast<std::uintmax_t>(in.gcount()) != size)
    throw Error(fmt::format("{}: cannot read {}", where, manifest_name));
  return text;
}

}  // namespace

namespace {

// A folder an interrupted save left that holds a whole checkpoint: the manifest parses, the
// folder holds exactly the manifest and the files it lists, and each is a valid .npy of the
// listed shape and dtype (headers and file sizes are checked; the data is not read).
bool is_complete_checkpoint(const fs::path& folder) {
  try {
    const CheckpointManifest manifest = parse_checkpoint_manifest(
        read_manifest_text(folder / manifest_name, folder.string()), folder.string());
    std::set<std::string> listed{manifest_name};
    for (const std::vector<ManifestEntry>* list : entry_lists(manifest))
      for (const ManifestEntry& entry : *list) {
        listed.insert(entry.file);
        const npy::Header header = npy::read_header(folder / entry.file);
        if (header.shape != entry.shape || header.dtype != entry.dtype) return false;
      }
    std::set<std::string> present;
    for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
      if (!entry.is_regular_file() || entry.is_symlink()) return false;
      present.insert(entry.path().filename().string());
    }
    return present == listed;
  } catch (const Error&) {
    return false;
  } catch (const fs::filesystem_error&) {
    return false;
  }
}

// The activations LoadOptions::allow_activation_change lets differ.
bool is_activation(const std::string& type) {
  return type == "ReLU" || type == "Sigmoid" || type == "Tanh" || type == "LeakyReLU" ||
         type == "ELU" || type == "PReLU";
}

std::string layer_label(const std::string& name) {
  return name.empty() ? "the saved module itself" : "layer " + name;
}

// "out_features 10 vs 20, bias true vs (none)": the settings in which two layers differ.
std::string setting_differences(const LayerSpec& saved, const LayerSpec& here) {
  std::string text;
  const auto find = [](const LayerSpec& layer, const std::string& key) -> const SettingValue* {
    for (const LayerSetting& setting : layer.settings)
      if (setting.key == key) return &setting.value;
    return nullptr;
  };
  const auto add = [&](const std::string& key) {
    const SettingValue* a = find(saved, key);
    const SettingValue* b = find(here, key);
    if (a != nullptr && b != nullptr && *a == *b) return;
    text += fmt::format("{}{} {} vs {}", text.empty() ? "" : ", ", key,
                        a != nullptr ? value_string(*a) : "(none)",
                        b != nullptr ? value_string(*b) : "(none)");
  };
  for (const LayerSetting& setting : saved.settings) add(setting.key);
  for (const LayerSetting& setting : here.settings)
    if (find(saved, setting.key) == nullptr) add(setting.key);
  return text;
}

// Compares the checkpoint's layers with the module's, skipping excluded ones; raises an Error
// naming the first difference.
void compare_layers(const std::vector<LayerSpec>& saved_all, const std::vector<LayerSpec>& here_all,
                    const LoadOptions& options, const std::string& where) {
  std::vector<const LayerSpec*> saved;
  std::vector<const LayerSpec*> here;
  for (const LayerSpec& layer : saved_all)
    if (!is_excluded(layer.name, options.exclude)) saved.push_back(&layer);
  for (const LayerSpec& layer : here_all)
    if (!is_excluded(layer.name, options.exclude)) here.push_back(&layer);
  const auto hint = [&](const std::string& name) {
    return name.empty() ? std::string()
                        : fmt::format(
                              "; to load the rest, exclude it (LoadOptions::exclude, "
                              "gradlab_train --load-except {})",
                              name);
  };
  for (std::size_t i = 0; i < std::min(saved.size(), here.size()); ++i) {
    const LayerSpec& a = *saved[i];
    const LayerSpec& b = *here[i];
    if (a.name != b.name)
      throw Error(fmt::format(
          "{}: the layers differ: {} ({}) in the checkpoint stands where the module has {} ({})",
          where, layer_label(a.name), layer_string(a), layer_label(b.name), layer_string(b)));
    const std::string differences = a.type == b.type ? setting_differences(a, b) : "";
    if (a.type == b.type && differences.empty()) continue;
    const bool activations = is_activation(a.type) && is_activation(b.type);
    if (activations && options.allow_activation_change) continue;
    throw Error(fmt::format("{}: {} is {} in the checkpoint, {} in the module{}{}", where,
                            layer_label(a.name), layer_string(a), layer_string(b),
                            differences.empty() ? "" : fmt::format(" ({})", differences),
                            activations ? "; to load the weights into a different activation, set "
                                          "LoadOptions::allow_activation_change (gradlab_train "
                                          "--allow-activation-change)"
                                        : hint(a.name)));
  }
  if (saved.size() != here.size()) {
    const auto count = [](const std::vector<const LayerSpec*>& layers) {
      return std::count_if(layers.begin(), layers.end(),
                           [](const LayerSpec* layer) { return !layer->name.empty(); });
    };
    const bool more_saved = saved.size() > here.size();
    const LayerSpec& extra = *(more_saved ? saved : here)[std::min(saved.size(), here.size())];
    throw Error(
        fmt::format("{}: the checkpoint has {} layers, the module {}: {} ({}) is only in the {}{}",
                    where, count(saved), count(here), layer_label(extra.name), layer_string(extra),
                    more_saved ? "checkpoint" : "module", hint(extra.name)));
  }
}

// Every exclusion must name something: a layer, parameter or buffer of the module or the
// checkpoint (a typo would otherwise load everything silently).
void check_exclusions(const Module& module, const CheckpointManifest& manifest,
                      const std::vector<LayerSpec>& layers, const LoadOptions& options,
                      const std::string& where) {
  std::vector<std::string> names;
  for (const LayerSpec& layer : layers) names.push_back(layer.name);
  for (const LayerSpec& layer : manifest.layers) names.push_back(layer.name);
  for (const auto& list : {module.named_parameters(), module.named_buffers()})
    for (const auto& entry : list) names.push_back(entry.first);
  for (const auto* list : {&manifest.parameters, &manifest.buffers})
    for (const ManifestEntry& entry : *list) names.push_back(entry.name);
  for (const std::string& exclusion : options.exclude) {
    const bool used = std::any_of(names.begin(), names.end(), [&](const std::string& name) {
      return is_excluded(name, {exclusion});
    });
    if (!used)
      throw Error(fmt::format(
          "{}: the exclusion '{}' names no layer, parameter or buffer of the checkpoint or the "
          "module",
          where, exclusion));
  }
}

// "a.txt, src/, b.npy" (folders end in '/'): the first few names, for messages.
std::string listing(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  std::string text;
  constexpr std::size_t shown = 6;
  for (std::size_t i = 0; i < names.size() && i < shown; ++i)
    text += (i > 0 ? ", " : "") + printable(names[i]);
  if (names.size() > shown) text += fmt::format(" and {} more", names.size() - shown);
  return text;
}

}  // namespace

void check_checkpoint_target(const fs::path& directory) {
  const fs::path target = normalised_target(directory);
  const std::string where = fmt::format("checkpoint {}", target.string());
  std::error_code error;
  const fs::file_status status = fs::symlink_status(target, error);
  if (!fs::exists(status)) return;
  // Replacing moves the folder away: the working folder (or one above it) would vanish from under
  // the program and the user, whatever it holds.
  const fs::path here = fs::weakly_canonical(fs::current_path(), error);
  const fs::path real = fs::weakly_canonical(target, error);
  const auto [mismatch, rest] = std::mismatch(real.begin(), real.end(), here.begin(), here.end());
  if (mismatch == real.end())
    throw Error(
        fmt::format("{}: is the working folder{}; gradlab never replaces it — save "
                    "into a new folder",
                    where, real == here ? "" : fmt::format(" ({}) or contains it", here.string())));
  if (fs::is_symlink(status))
    throw Error(
        fmt::format("{}: is a symbolic link, not a folder; gradlab replaces only a "
                    "checkpoint folder",
                    where));
  if (!fs::is_directory(status))
    throw Error(fmt::format("{}: a {} of that name exists and is not a folder", where,
                            fs::is_regular_file(status) ? "file" : "device or special file"));
  std::vector<std::string> names;
  bool foreign_kind = false;
  for (const fs::directory_entry& entry : fs::directory_iterator(target)) {
    const bool plain = entry.is_regular_file() && !entry.is_symlink();
    foreign_kind = foreign_kind || !plain;
    names.push_back(entry.path().filename().string() + (entry.is_directory() ? "/" : ""));
  }
  if (names.empty()) return;
  const auto refuse = [&](const std::string& reason) {
    throw Error(
        fmt::format("{}: refusing to replace a non-empty folder that is not a gradlab "
                    "checkpoint ({}); it holds {}",
                    where, reason, listing(names)));
  };
  if (std::find(names.begin(), names.end(), manifest_name) == names.end())
    refuse(fmt::format("no {}", manifest_name));
  CheckpointManifest manifest;
  try {
    manifest =
        parse_checkpoint_manifest(read_manifest_text(target / manifest_name, where), manifest_name);
  } catch (const Error& e) {
    refuse(e.what());
  }
  std::set<std::string> listed{manifest_name};
  for (const std::vector<ManifestEntry>* list : entry_lists(manifest))
    for (const ManifestEntry& entry : *list) listed.insert(entry.file);
  std::vector<std::string> extra;
  for (const std::string& name : names)
    if (listed.count(name) == 0) extra.push_back(name);
  if (!extra.empty() || foreign_kind)
    refuse(fmt::format("its {} does not list {}", manifest_name,
                       extra.empty() ? std::string("what is not a plain file") : listing(extra)));
}

namespace {

// The manifest of the checkpoint folder `folder` (absolute, see normalised_target), parsed; an
// interrupted save's folder is recovered first. `where` ("checkpoint <folder>") starts messages.
CheckpointManifest read_checkpoint_manifest(const fs::path& folder, const std::string& where) {
  std::error_code error;
  if (!fs::exists(fs::symlink_status(folder, error))) recover_checkpoint(folder);
  if (!fs::is_directory(folder)) throw Error(fmt::format("{}: no such folder", where));
  const fs::path manifest_path = folder / manifest_name;
  if (!fs::is_regular_file(manifest_path))
    throw Error(fmt::format("{}: {} is missing (not a gradlab checkpoint?)", where, manifest_name));
  return parse_checkpoint_manifest(read_manifest_text(manifest_path, where),
                                   fmt::format("{}: {}", where, manifest_name));
}

}  // namespace

void load_checkpoint(Module& module, const fs::path& directory, const LoadOptions& options) {
  const fs::path folder = normalised_target(directory);
  const std::string where = fmt::format("checkpoint {}", folder.string());
  for (const std::string& exclusion : options.exclude)
    if (!is_dotted_name(exclusion))
      throw Error(fmt::format(
          "{}: cannot exclude '{}': not the dotted name of a layer or tensor (e.g. 4 or 4.bias)",
          where, printable(exclusion)));
  const CheckpointManifest manifest = read_checkpoint_manifest(folder, where);

  // Everything is read and checked before the first byte of the module changes: every tensor
  // (names, shapes and dtypes name the parameter), then the layers and their settings (version
  // 1 manifests have none to compare), which catch what tensors cannot show: an activation.
  const std::vector<LayerSpec> layers = describe_layers(module);
  check_exclusions(module, manifest, layers, options, where);
  std::vector<std::pair<Tensor, Tensor>> loaded;  // (module tensor, checkpoint data)
  read_all(module.named_parameters(), manifest.parameters, "parameter", folder, where,
           options.exclude, loaded);
  read_all(module.named_buffers(), manifest.buffers, "buffer", folder, where, options.exclude,
           loaded);
  if (manifest.format_version >= 2) compare_layers(manifest.layers, layers, options, where);

  for (const auto& [tensor, data] : loaded) {
    const auto bytes = static_cast<std::size_t>(tensor.numel()) * dtype_size(tensor.dtype());
    if (bytes > 0) std::memcpy(tensor.raw_data(), data.raw_data(), bytes);
  }
}

std::optional<TrainingState> load_training_state(const fs::path& directory) {
  const fs::path folder = normalised_target(directory);
  const std::string where = fmt::format("checkpoint {}", folder.string());
  const CheckpointManifest manifest = read_checkpoint_manifest(folder, where);
  if (!manifest.training) return std::nullopt;
  TrainingState state;
  state.settings = manifest.training->settings;
  for (const ManifestEntry& entry : manifest.training->tensors) {
    const std::string context = fmt::format("{}: training tensor '{}'", where, entry.name);
    Tensor data;
    try {
      data = npy::read(folder / entry.file);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", context, e.what()));
    }
    if (data.shape() != entry.shape || data.dtype() != entry.dtype)
      throw Error(fmt::format("{}: file {} holds shape {} ({}), the manifest lists {} ({})",
                              context, entry.file, shape_string(data.shape()),
                              dtype_name(data.dtype()), shape_string(entry.shape),
                              dtype_name(entry.dtype)));
    state.tensors.emplace_back(entry.name, data);
  }
  return state;
}

namespace {

bool is_word_key(const std::string& text) { return is_word(text); }
bool is_dotted(const std::string& name) { return is_dotted_name(name); }

}  // namespace

}  // namespace gradlab::nn
