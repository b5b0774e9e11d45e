// Checkpoints: save = write everything into a temporary folder, then rename it into place;
// load = read and check everything into memory, then copy into the module.

#include "modules/nn/checkpoint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>

#include "modules/io/npy.hpp"

namespace gradlab::nn {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

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

// Writes each tensor to `folder` as "<name>.npy" and returns the manifest entries.
std::vector<ManifestEntry> write_tensors(const std::vector<NamedTensor>& tensors,
                                         const fs::path& folder) {
  std::vector<ManifestEntry> entries;
  for (const auto& [name, tensor] : tensors) {
    ManifestEntry entry{name, name + ".npy", tensor.shape(), tensor.dtype()};
    npy::write(folder / entry.file, tensor);
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

}  // namespace

void save_checkpoint(const Module& module, const fs::path& directory) {
  const fs::path target = normalised_target(directory);
  const std::string where = fmt::format("checkpoint {}", target.string());
  std::error_code error;
  fs::create_directories(target.parent_path(), error);
  if (error)
    throw Error(fmt::format("{}: cannot create the parent folder: {}", where, error.message()));
  check_checkpoint_target(target);
  const bool replacing = fs::exists(target);

  const fs::path temporary = unused_sibling(target, "tmp");
  if (!fs::create_directory(temporary, error) || error)
    throw Error(fmt::format("{}: cannot create the temporary folder {}: {}", where,
                            temporary.string(), error.message()));
  try {
    CheckpointManifest manifest;
    manifest.parameters = write_tensors(module.named_parameters(), temporary);
    manifest.buffers = write_tensors(module.named_buffers(), temporary);
    manifest.architecture = lines_of(module.to_string());
    {
      std::ofstream out(temporary / manifest_name, std::ios::trunc);
      out << format_checkpoint_manifest(manifest);
      out.close();
      if (!out)
        throw Error(fmt::format("{}: cannot write {} into the temporary folder {}", where,
                                manifest_name, temporary.string()));
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

  for (const auto& [key, value] : document.items())
    if (key != "format_version" && key != "parameters" && key != "buffers" && key != "architecture")
      throw Error(
          fmt::format("{}: unknown key '{}' (format_version {} has format_version, "
                      "parameters, buffers, architecture)",
                      source, key, *number));
  manifest.parameters = parse_entries(document, "parameters", source);
  manifest.buffers = parse_entries(document, "buffers", source);
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
  document["architecture"] = manifest.architecture;
  // Invalid UTF-8 (which a parsed manifest never holds) is replaced rather than thrown about.
  return document.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

// --- load -------------------------------------------------------------------------------------

namespace {

// Checks every module tensor of one kind against the manifest and reads its file.
void read_all(const std::vector<NamedTensor>& tensors, const std::vector<ManifestEntry>& list,
              const char* singular, const fs::path& folder, const std::string& where,
              std::vector<std::pair<Tensor, Tensor>>& loaded) {
  std::map<std::string, const ManifestEntry*> entries;
  for (const ManifestEntry& entry : list) entries.emplace(entry.name, &entry);
  for (const auto& [name, tensor] : tensors) {
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
  for (const auto* list : {&manifest.parameters, &manifest.buffers})
    for (const ManifestEntry& entry : *list) listed.insert(entry.file);
  std::vector<std::string> extra;
  for (const std::string& name : names)
    if (listed.count(name) == 0) extra.push_back(name);
  if (!extra.empty() || foreign_kind)
    refuse(fmt::format("its {} does not list {}", manifest_name,
                       extra.empty() ? std::string("what is not a plain file") : listing(extra)));
}

void load_checkpoint(Module& module, const fs::path& directory) {
  const fs::path folder = normalised_target(directory);
  const std::string where = fmt::format("checkpoint {}", folder.string());
  if (!fs::is_directory(folder)) throw Error(fmt::format("{}: no such folder", where));
  const fs::path manifest_path = folder / manifest_name;
  if (!fs::is_regular_file(manifest_path))
    throw Error(fmt::format("{}: {} is missing (not a gradlab checkpoint?)", where, manifest_name));
  const CheckpointManifest manifest = parse_checkpoint_manifest(
      read_manifest_text(manifest_path, where), fmt::format("{}: {}", where, manifest_name));

  // Everything is read and checked before the first byte of the module changes.
  std::vector<std::pair<Tensor, Tensor>> loaded;  // (module tensor, checkpoint data)
  read_all(module.named_parameters(), manifest.parameters, "parameter", folder, where, loaded);
  read_all(module.named_buffers(), manifest.buffers, "buffer", folder, where, loaded);

  for (const auto& [tensor, data] : loaded) {
    const auto bytes = static_cast<std::size_t>(tensor.numel()) * dtype_size(tensor.dtype());
    if (bytes > 0) std::memcpy(tensor.raw_data(), data.raw_data(), bytes);
  }
}

}  // namespace gradlab::nn
