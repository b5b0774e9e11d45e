// gradlab_train (`./gradlab train`): trains a fully connected net on Fashion-MNIST (or MNIST, or
// CIFAR-10) from the command line, with the Trainer's monitoring, logs and plots.
//
//   gradlab_train --hidden 1024,1024 --batchnorm --activation relu --optimizer momentum
//                 --lr 0.05 --reg 1e-4 --batch 256 --epochs 5 --backend onednn --threads 2
//
// Resuming: --save writes the run's training state into the checkpoint (and --save-every-epoch
// after every epoch); --resume DIR continues that run with the flags recorded there (see
// docs/reliability.md, "Resuming training").
//
// Data: the training file is split into a training part and a validation part of --val examples
// (shuffled with the seed); pixels are scaled to [0, 1] by the loader, then the mean image of the
// training part is subtracted from every split (fitted on the training part only).

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "backends/backend.hpp"
#include "modules/app/cli.hpp"
#include "modules/app/cli_flags.hpp"
#include "modules/data/data.hpp"
#include "modules/nn/init.hpp"
#include "modules/nn/nn.hpp"
#include "modules/optim/optim.hpp"
#include "modules/train/plots.hpp"
#include "modules/data/preprocess.hpp"
#include "modules/train/progress.hpp"
#include "modules/train/trainer.hpp"

namespace {

using namespace gradlab;

// Exit statuses (the table of every program is in docs/reliability.md). 1 is any error before
// or during training; CLI11 uses 100-114 for flags it refuses itself.
constexpr int exit_diverged = 2;       // training diverged; logs written, no checkpoint
constexpr int exit_output_failed = 3;  // an output (logs, plots, checkpoint) could not be written

// Everything the command line sets, besides the shared flags.
struct TrainOptions {
  std::uint64_t max_data_size = data::default_max_idx_bytes;  // largest IDX file read, in bytes
  std::string hidden = "1024,1024";
  std::string activation = "relu";
  bool batchnorm = false;
  double dropout = 0.0;
  std::string init = "he";
  std::string optimizer = "momentum";
  std::optional<double> lr;
  double momentum = 0.9;
  std::optional<double> weight_decay;  // default: 0, AdamW 1e-2 (PyTorch's defaults)
  double reg = 1e-4;
  double lr_decay = 1.0;
  std::string loss = "cross_entropy";
  std::int64_t epochs = 5;
  std::int64_t batch = 256;
  std::int64_t validation = 5000;
  std::string dataset = "fashion-mnist";
  std::string save;
  std::string load;
  std::vector<std::string> load_except;
  bool allow_activation_change = false;
  std::int64_t freeze = 0;
  std::int64_t train_eval = 10000;
  std::int64_t ratio_every = 50;
  std::string progress = "auto";
  bool no_plots = false;
  bool save_best_on_divergence = false;
  std::string resume;
  bool save_every_epoch = false;
};

// One flag that defines a run, as a checkpoint's training state records it ("run_<key>"), so
// `--resume` can take it from there.
struct RunFlag {
  const char* key;   // "hidden": saved as "run_hidden"
  const char* flag;  // "--hidden"
  bool defines;      // false: a new value on --resume is taken (--epochs, --data)
  std::function<nn::SettingValue(const TrainOptions&, const cli::CommonOptions&)> get;
  std::function<void(TrainOptions&, cli::CommonOptions&, const nn::SettingValue&)> set;
};

double default_lr(const std::string& optimizer);
double weight_decay_of(const TrainOptions& o);

template <class T>
T setting_as(const nn::SettingValue& value, const char* flag) {
  if constexpr (std::is_same_v<T, double>) {
    if (const auto* whole = std::get_if<std::int64_t>(&value)) return static_cast<double>(*whole);
  }
  if (const auto* typed = std::get_if<T>(&value)) return *typed;
  throw Error(fmt::format("the checkpoint's {} has the wrong type", flag));
}

// The flags that define a run; --resume takes them from the checkpoint.
const std::vector<RunFlag>& run_flags() {
  using O = TrainOptions;
  using C = cli::CommonOptions;
  using V = nn::SettingValue;
  static const std::vector<RunFlag> flags{
      {"dataset", "--dataset", true, [](const O& o, const C&) { return V(o.dataset); },
       [](O& o, C&, const V& v) { o.dataset = setting_as<std::string>(v, "--dataset"); }},
      {"hidden", "--hidden", true, [](const O& o, const C&) { return V(o.hidden); },
       [](O& o, C&, const V& v) { o.hidden = setting_as<std::string>(v, "--hidden"); }},
      {"activation", "--activation", true, [](const O& o, const C&) { return V(o.activation); },
       [](O& o, C&, const V& v) { o.activation = setting_as<std::string>(v, "--activation"); }},
      {"batchnorm", "--batchnorm", true, [](const O& o, const C&) { return V(o.batchnorm); },
       [](O& o, C&, const V& v) { o.batchnorm = setting_as<bool>(v, "--batchnorm"); }},
      {"dropout", "--dropout", true, [](const O& o, const C&) { return V(o.dropout); },
       [](O& o, C&, const V& v) { o.dropout = setting_as<double>(v, "--dropout"); }},
      {"init", "--init", true, [](const O& o, const C&) { return V(o.init); },
       [](O& o, C&, const V& v) { o.init = setting_as<std::string>(v, "--init"); }},
      {"optimizer", "--optimizer", true, [](const O& o, const C&) { return V(o.optimizer); },
       [](O& o, C&, const V& v) { o.optimizer = setting_as<std::string>(v, "--optimizer"); }},
      {"lr", "--lr", true,
       [](const O& o, const C&) { return V(o.lr.value_or(default_lr(o.optimizer))); },
       [](O& o, C&, const V& v) { o.lr = setting_as<double>(v, "--lr"); }},
      {"momentum", "--momentum", true, [](const O& o, const C&) { return V(o.momentum); },
       [](O& o, C&, const V& v) { o.momentum = setting_as<double>(v, "--momentum"); }},
      {"weight_decay", "--weight-decay", true,
       [](const O& o, const C&) { return V(weight_decay_of(o)); },
       [](O& o, C&, const V& v) { o.weight_decay = setting_as<double>(v, "--weight-decay"); }},
      {"reg", "--reg", true, [](const O& o, const C&) { return V(o.reg); },
       [](O& o, C&, const V& v) { o.reg = setting_as<double>(v, "--reg"); }},
      {"lr_decay", "--lr-decay", true, [](const O& o, const C&) { return V(o.lr_decay); },
       [](O& o, C&, const V& v) { o.lr_decay = setting_as<double>(v, "--lr-decay"); }},
      {"loss", "--loss", true, [](const O& o, const C&) { return V(o.loss); },
       [](O& o, C&, const V& v) { o.loss = setting_as<std::string>(v, "--loss"); }},
      {"batch", "--batch", true, [](const O& o, const C&) { return V(o.batch); },
       [](O& o, C&, const V& v) { o.batch = setting_as<std::int64_t>(v, "--batch"); }},
      {"val", "--val", true, [](const O& o, const C&) { return V(o.validation); },
       [](O& o, C&, const V& v) { o.validation = setting_as<std::int64_t>(v, "--val"); }},
      {"seed", "--seed", true, [](const O&, const C& c) { return V(std::to_string(c.seed)); },
       [](O&, C& c, const V& v) { c.seed = std::stoull(setting_as<std::string>(v, "--seed")); }},
      {"train_eval", "--train-eval", true, [](const O& o, const C&) { return V(o.train_eval); },
       [](O& o, C&, const V& v) { o.train_eval = setting_as<std::int64_t>(v, "--train-eval"); }},
      {"ratio_every", "--ratio-every", true, [](const O& o, const C&) { return V(o.ratio_every); },
       [](O& o, C&, const V& v) { o.ratio_every = setting_as<std::int64_t>(v, "--ratio-every"); }},
      {"freeze", "--freeze", true, [](const O& o, const C&) { return V(o.freeze); },
       [](O& o, C&, const V& v) { o.freeze = setting_as<std::int64_t>(v, "--freeze"); }},
      {"quick", "--quick", true, [](const O&, const C& c) { return V(c.quick); },
       [](O&, C& c, const V& v) { c.quick = setting_as<bool>(v, "--quick"); }},
      {"epochs", "--epochs", false, [](const O& o, const C&) { return V(o.epochs); },
       [](O& o, C&, const V& v) { o.epochs = setting_as<std::int64_t>(v, "--epochs"); }},
      {"data", "--data", false, [](const O&, const C& c) { return V(c.data); },
       [](O&, C& c, const V& v) { c.data = setting_as<std::string>(v, "--data"); }},
  };
  return flags;
}

std::string setting_text(const nn::SettingValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>)
          return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>)
          return "'" + v + "'";
        else
          return fmt::format("{}", v);
      },
      value);
}

// --resume DIR: every flag that defines the run is taken from the checkpoint; one also given on
// the command line with another value is an error naming both. --epochs and --data given on
// the command line win (the new total; the data may have moved).
void apply_run_flags(const CLI::App& app, const nn::TrainingState& training,
                     const std::string& resume, TrainOptions& o, cli::CommonOptions& common) {
  for (const RunFlag& flag : run_flags()) {
    const std::string key = std::string("run_") + flag.key;
    const auto found =
        std::find_if(training.settings.begin(), training.settings.end(),
                     [&](const nn::LayerSetting& setting) { return setting.key == key; });
    if (found == training.settings.end())
      throw Error(
          fmt::format("--resume {}: the checkpoint does not record {} (it was not saved "
                      "by gradlab_train)",
                      resume, flag.flag));
    const bool given = app.count(flag.flag) > 0;
    if (given && !flag.defines) continue;
    if (given) {
      const nn::SettingValue mine = flag.get(o, common);
      if (!(setting_text(mine) == setting_text(found->value)))
        throw Error(fmt::format(
            "--resume {}: {} {} conflicts with the run's {} {} recorded in the checkpoint (a "
            "resumed run keeps the settings it started with; leave {} out)",
            resume, flag.flag, setting_text(mine), flag.flag, setting_text(found->value),
            flag.flag));
    }
    flag.set(o, common, found->value);
  }
}

// The run's flags as training-state settings ("run_<key>").
void add_run_flags(nn::TrainingState& training, const TrainOptions& o,
                   const cli::CommonOptions& common) {
  for (const RunFlag& flag : run_flags())
    training.settings.push_back({std::string("run_") + flag.key, flag.get(o, common)});
}

// "1024,1024" → {1024, 1024}; "" or "none" → {} (a linear classifier).
std::vector<std::int64_t> parse_hidden(const std::string& text) {
  std::vector<std::int64_t> sizes;
  if (text.empty() || text == "none") return sizes;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    std::size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || value < 1)
      throw Error(fmt::format(
          "--hidden: expected positive layer sizes separated by commas (e.g. 1024,1024), "
          "got '{}'",
          text));
    sizes.push_back(value);
  }
  return sizes;
}

// The default learning rate of each optimiser (what works for these nets on Fashion-MNIST).
double default_lr(const std::string& optimizer) {
  if (optimizer == "sgd") return 0.1;
  if (optimizer == "momentum" || optimizer == "nesterov") return 0.05;
  if (optimizer == "adagrad") return 0.01;
  return 1e-3;  // rmsprop, adam, adamw
}

// --weight-decay, or PyTorch's default for the optimiser (AdamW 1e-2, the others 0).
double weight_decay_of(const TrainOptions& o) {
  return o.weight_decay.value_or(o.optimizer == "adamw" ? 1e-2 : 0.0);
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& o,
                                                 std::vector<Tensor> parameters, double lr) {
  const double wd = weight_decay_of(o);
  if (o.optimizer == "sgd")
    return std::make_unique<optim::SGD>(std::move(parameters),
                                        optim::SGDOptions{.lr = lr, .weight_decay = wd});
  if (o.optimizer == "momentum")
    return std::make_unique<optim::SGD>(
        std::move(parameters),
        optim::SGDOptions{.lr = lr, .momentum = o.momentum, .weight_decay = wd});
  if (o.optimizer == "nesterov")
    return std::make_unique<optim::SGD>(
        std::move(parameters),
        optim::SGDOptions{.lr = lr, .momentum = o.momentum, .nesterov = true, .weight_decay = wd});
  if (o.optimizer == "adagrad")
    return std::make_unique<optim::AdaGrad>(std::move(parameters),
                                            optim::AdaGradOptions{.lr = lr, .weight_decay = wd});
  if (o.optimizer == "rmsprop")
    return std::make_unique<optim::RMSProp>(std::move(parameters),
                                            optim::RMSPropOptions{.lr = lr, .weight_decay = wd});
  if (o.optimizer == "adamw")
    return std::make_unique<optim::AdamW>(std::move(parameters),
                                          optim::AdamWOptions{.lr = lr, .weight_decay = wd});
  return std::make_unique<optim::Adam>(std::move(parameters),
                                       optim::AdamOptions{.lr = lr, .weight_decay = wd});
}

data::Dataset load_dataset(const std::string& name, const std::string& dir, data::Split split,
                           std::uint64_t max_data_size) {
  const data::LoadOptions options{.max_idx_bytes = max_data_size};
  if (name == "mnist") return data::load_mnist(dir, split, options);
  if (name == "cifar10") return data::load_cifar10(dir, split);
  return data::load_fashion_mnist(dir.empty() ? data::default_fashion_mnist_dir : dir, split,
                                  options);
}

// Fails fast, before any data is loaded, when `folder` cannot be created and written into: a run
// should not end after minutes of training on "cannot write". `what` (the flag and its value)
// starts the message. The check creates what is missing and removes it again, leaving nothing.
void check_writable_folder(const std::string& what, const std::filesystem::path& folder) {
  namespace fs = std::filesystem;
  fs::path existing = folder;
  fs::path first_missing;  // the outermost part of `folder` that does not exist yet
  std::error_code error;
  while (!existing.empty() && !fs::exists(existing, error)) {
    first_missing = existing;
    existing = existing.parent_path();
  }
  if (!existing.empty() && !fs::is_directory(existing, error))
    throw Error(fmt::format("{}: '{}' is a file, not a folder", what, existing.string()));
  fs::create_directories(folder, error);
  if (error)
    throw Error(fmt::format("{}: cannot create the folder '{}': {}", what, folder.string(),
                            error.message()));
  const fs::path probe = folder / fmt::format(".gradlab-write-test-{}", ::getpid());
  const bool writable = static_cast<bool>(std::ofstream(probe));
  fs::remove(probe, error);
  if (!first_missing.empty()) fs::remove_all(first_missing, error);
  if (!writable)
    throw Error(fmt::format("{}: cannot write into the folder '{}'", what, folder.string()));
}

// Folders as absolute, normalised paths without symbolic links, for comparing two flags.
std::filesystem::path comparable(const std::filesystem::path& path) {
  std::error_code error;
  std::filesystem::path result = std::filesystem::weakly_canonical(path, error);
  if (error) result = std::filesystem::absolute(path).lexically_normal();
  if (!result.has_filename()) result = result.parent_path();
  return result;
}

// True when `inner` is `outer` or lies inside it.
bool is_within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  const std::filesystem::path a = comparable(inner);
  const std::filesystem::path b = comparable(outer);
  return std::mismatch(b.begin(), b.end(), a.begin(), a.end()).first == b.end();
}

// Checks --save before any data is loaded: what is there may be replaced (nothing, an empty
// folder, or a gradlab checkpoint and nothing else), its parent can be written, and it does not
// hold the --out folder (replacing the checkpoint would delete the logs).
void check_save_target(const std::string& save, const std::string& out) {
  const std::string what = "--save " + save;
  if (is_within(out, save))
    throw Error(fmt::format(
        "{}: the checkpoint folder would contain the --out folder '{}'; replacing the checkpoint "
        "deletes what is inside it, so give --out and --save different folders",
        what, out));
  try {
    nn::check_checkpoint_target(save);
  } catch (const Error& error) {
    throw Error(fmt::format("{}: {}", what, error.what()));
  }
  const std::filesystem::path parent = std::filesystem::path(save).parent_path();
  check_writable_folder(what, parent.empty() ? std::filesystem::path(".") : parent);
}

// The flat index of the first NaN/inf element of each parameter or buffer, or "" when all are
// finite: "'0.weight' (element 3)".
std::string first_non_finite_tensor(const nn::Module& net) {
  std::vector<nn::NamedTensor> tensors = net.named_parameters();
  for (auto& named : net.named_buffers()) tensors.push_back(named);
  for (const auto& [name, tensor] : tensors)
    if (const std::int64_t element = optim::first_non_finite(tensor); element >= 0)
      return fmt::format("'{}' (element {})", name, element);
  return {};
}

// Freezes the first `count` Linear layers of `net` together with the layers that follow each of
// them up to the next Linear (its BatchNorm, activation, dropout): those blocks become a fixed
// feature extractor and only the layers above are trained.
void freeze_first_layers(nn::Sequential& net, std::int64_t count) {
  std::int64_t linear_seen = 0;
  std::int64_t linear_total = 0;
  for (std::size_t i = 0; i < net.size(); ++i)
    linear_total += net[i].type_name() == "Linear" ? 1 : 0;
  if (count >= linear_total)
    throw Error(
        fmt::format("--freeze {}: the net has {} Linear layers, so at most {} can be frozen (the "
                    "classifier must keep learning)",
                    count, linear_total, linear_total - 1));
  for (std::size_t i = 0; i < net.size(); ++i) {
    if (net[i].type_name() == "Linear") ++linear_seen;
    if (linear_seen > count) break;
    net[i].freeze();
  }
}

int run(int argc, char** argv) {
  cli::CommonOptions common;
  TrainOptions o;
  CLI::App app{
      "gradlab train: trains a fully connected net (Linear [→ BatchNorm] → activation [→ Dropout] "
      "per hidden "
      "layer, then a Linear classifier) on Fashion-MNIST with mini-batch gradient descent, and "
      "reports the test "
      "accuracy. Preprocessing: pixels scaled to [0, 1], minus the mean image of the training "
      "part. Logs "
      "(history.csv, epochs.csv, update_ratios.csv, summary.json) and plots (loss, accuracy, "
      "update/weight "
      "ratios, activation histograms; PNG when gnuplot is installed, CSV always) go to --out.",
      "gradlab_train"};
  cli::add_common_flags(app, common);
  app.add_option("--data", common.data,
                 "Dataset folder (default for fashion-mnist: /usr/share/datasets/fashion-mnist, "
                 "from the Debian "
                 "package dataset-fashion-mnist)");
  common.out = "runs/train";
  app.add_option("--out", common.out, "Output folder for the logs and plots")
      ->capture_default_str();
  app.add_option("--max-data-size", o.max_data_size,
                 "Largest dataset file (IDX, in bytes after decompression) a header may declare; "
                 "a larger one is refused before it is decompressed (a gzip bomb guard)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--dataset", o.dataset,
                 "Which dataset --data holds: fashion-mnist | mnist | cifar10")
      ->check(CLI::IsMember({"fashion-mnist", "mnist", "cifar10"}))
      ->capture_default_str();
  app.add_option("--hidden", o.hidden,
                 "Hidden layer sizes, comma-separated (e.g. 1024,1024 or 50; 'none' for a linear "
                 "classifier)")
      ->capture_default_str();
  app.add_option("--activation", o.activation,
                 "Hidden activation: relu | tanh | sigmoid | leaky_relu | elu | prelu")
      ->check(CLI::IsMember({"relu", "tanh", "sigmoid", "leaky_relu", "elu", "prelu"}))
      ->capture_default_str();
  app.add_flag("--batchnorm", o.batchnorm,
               "Insert BatchNorm1d between each hidden Linear and its activation");
  app.add_option("--dropout", o.dropout,
                 "Dropout probability after each hidden activation, in [0, 1) (0 = none)")
      ->check(cli::unit_interval)
      ->capture_default_str();
  app.add_option("--init", o.init,
                 "Weight initialisation: he | xavier | xavier_glorot | xavier_glorot_uniform | "
                 "he_uniform | normal | "
                 "zeros")
      ->check(CLI::IsMember(nn::init::scheme_names()))
      ->capture_default_str();
  app.add_option("--optimizer", o.optimizer,
                 "Update rule: sgd | momentum | nesterov | adagrad | rmsprop | adam | adamw")
      ->check(CLI::IsMember({"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}))
      ->capture_default_str();
  app.add_option("--lr", o.lr,
                 "Learning rate (default: 0.1 sgd, 0.05 momentum/nesterov, 0.01 adagrad, 0.001 "
                 "rmsprop/adam/adamw)")
      ->check(cli::positive);
  app.add_option("--weight-decay", o.weight_decay,
                 "Weight decay wd of the optimiser, as PyTorch's weight_decay: added to the "
                 "gradient (g + wd·θ), or for adamw decoupled (θ ← θ − lr·wd·θ); default 0, "
                 "adamw 0.01")
      ->check(cli::non_negative);
  app.add_option("--momentum", o.momentum, "Momentum μ of --optimizer momentum/nesterov, in [0, 1)")
      ->check(cli::unit_interval)
      ->capture_default_str();
  app.add_option("--reg", o.reg,
                 "L2 regularisation strength λ (loss + ½λΣ‖W‖² over weight matrices)")
      ->check(cli::non_negative)
      ->capture_default_str();
  app.add_option("--lr-decay", o.lr_decay,
                 "Learning rate multiplier per epoch, in (0, 1] (1 = constant)")
      ->check(cli::number_check("in (0, 1]", [](double v) { return v > 0 && v <= 1; }))
      ->capture_default_str();
  app.add_option("--loss", o.loss, "Loss: cross_entropy (softmax) | svm (multiclass hinge)")
      ->check(CLI::IsMember({"cross_entropy", "svm"}))
      ->capture_default_str();
  app.add_option("--epochs", o.epochs,
                 "Passes over the training part (0: only evaluate, e.g. with --load)")
      ->check(cli::non_negative)
      ->capture_default_str();
  app.add_option("--batch", o.batch, "Mini-batch size")
      ->check(cli::positive)
      ->capture_default_str();
  app.add_option("--val", o.validation, "Validation examples held out of the training file")
      ->check(cli::positive)
      ->capture_default_str();
  app.add_option("--save", o.save,
                 "Save the trained (best-validation) model to this checkpoint folder (new, empty, "
                 "or an older gradlab checkpoint, which is replaced; nothing is saved when "
                 "training diverges), with the run's training state (optimiser state, epoch, "
                 "random generator, flags) so that --resume can continue it");
  CLI::Option* load_flag = app.add_option(
      "--load", o.load,
      "Load a checkpoint folder (same architecture: its layers and settings are checked) before "
      "training");
  app.add_option("--load-except", o.load_except,
                 "With --load: leave this layer (e.g. 4: its weight and bias) or tensor (4.bias) "
                 "out of the load, keeping its fresh initialisation; repeatable (a new classifier "
                 "head)")
      ->needs(load_flag)
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--allow-activation-change", o.allow_activation_change,
               "With --load: load the weights even when the checkpoint was trained with another "
               "--activation (otherwise an error)")
      ->needs(load_flag);
  app.add_option("--freeze", o.freeze,
                 "Freeze the first N Linear layers with their BatchNorm/activation (finetuning "
                 "after --load)")
      ->check(cli::non_negative)
      ->capture_default_str();
  app.add_option(
         "--train-eval", o.train_eval,
         "Training accuracy is measured on a fixed subset of this many training examples (0 = all)")
      ->check(cli::non_negative)
      ->capture_default_str();
  app.add_option("--ratio-every", o.ratio_every,
                 "Record update/weight ratios every N iterations (0 = never)")
      ->check(cli::non_negative)
      ->capture_default_str();
  app.add_option("--progress", o.progress, "Progress display on stderr: auto | bar | lines | none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}))
      ->capture_default_str();
  app.add_flag("--no-plots", o.no_plots, "Write no plots (the CSV/JSON logs are still written)");
  app.add_flag("--quick", common.quick,
               "Small run for CI: 10,000 training examples and at most 1 epoch");
  app.add_flag("--save-best-on-divergence", o.save_best_on_divergence,
               "When training diverges, still --save the parameters of the best validation epoch "
               "(if one finished); without it a diverged run saves nothing");
  CLI::Option* resume_flag = app.add_option(
      "--resume", o.resume,
      "Continue the run saved in this checkpoint folder (by --save or --save-every-epoch): the "
      "flags that define the run (architecture, optimiser, --lr, --batch, --reg, --seed, "
      "--lr-decay, "
      "data options...) are taken from it, and one given again with another value is an error; "
      "--epochs is the new total. The optimiser's state, the epoch and iteration, the random "
      "generator and the best epoch continue, so the losses equal those of a run that never "
      "stopped; the logs in --out hold the whole run");
  resume_flag->excludes(load_flag);
  app.add_flag("--save-every-epoch", o.save_every_epoch,
               "With --save: also write the checkpoint (with the training state) after every "
               "epoch, so that a killed run can be continued with --resume");
  cli::strict_values(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  // --resume: the run's flags come from the checkpoint's training state, before anything else.
  std::optional<nn::TrainingState> resumed;
  if (!o.resume.empty()) {
    if (const auto recovered = nn::recover_checkpoint(o.resume))
      std::cout << fmt::format("recovered {} from {}, left by an interrupted save\n", o.resume,
                               recovered->string());
    if (!std::filesystem::is_directory(o.resume))
      throw Error(fmt::format("--resume {}: no such checkpoint folder", o.resume));
    resumed = nn::load_training_state(o.resume);
    if (!resumed)
      throw Error(fmt::format(
          "--resume {}: the checkpoint holds no training state (saved by a gradlab before 0.3, "
          "not by gradlab_train, by a run that trained no epoch or by a diverged run), so there "
          "is no run to continue; --load it to start a new run from its weights",
          o.resume));
    apply_run_flags(app, *resumed, o.resume, o, common);
  }
  if (o.save_every_epoch && o.save.empty())
    throw Error("--save-every-epoch needs --save (the checkpoint folder to write)");
  const std::vector<std::int64_t> hidden = parse_hidden(o.hidden);
  // The folders are checked before the data is loaded: a wrong path fails in a second, not at the
  // end.
  if (!o.load.empty()) {
    // An interrupted save may have left the checkpoint under a temporary name only.
    if (const auto recovered = nn::recover_checkpoint(o.load))
      std::cout << fmt::format("recovered {} from {}, left by an interrupted save\n", o.load,
                               recovered->string());
    if (!std::filesystem::is_directory(o.load))
      throw Error(fmt::format("--load {}: no such checkpoint folder", o.load));
  }
  if (!o.save.empty()) check_save_target(o.save, common.out);
  check_writable_folder("--out " + common.out, common.out);
  cli::apply(common);
  std::cout << cli::runtime_banner() << "\n";

  // --- data ------------------------------------------------------------------------------
  const auto start = std::chrono::steady_clock::now();
  data::TrainValidation parts;
  data::Dataset test;
  {
    data::Dataset all = load_dataset(o.dataset, common.data, data::Split::train, o.max_data_size);
    if (common.quick && all.size() > 10000 + o.validation)
      all = data::slice(all, 0, 10000 + o.validation);
    if (o.validation >= all.size())
      throw Error(fmt::format("--val {}: the training file has only {} examples", o.validation,
                              all.size()));
    parts = data::split_train_validation(all, o.validation, common.seed);
    test = load_dataset(o.dataset, common.data, data::Split::test, o.max_data_size);
    data::check_same_image_shape(all, test);
  }
  data::MeanImage centre;
  centre.fit(parts.train.images);
  parts.train.images = centre.apply(parts.train.images);
  parts.validation.images = centre.apply(parts.validation.images);
  test.images = centre.apply(test.images);
  std::cout << fmt::format(
      "data: {} — {} training, {} validation, {} test examples of {} ({} classes); "
      "pixels / 255, minus the training mean image\n",
      o.dataset, parts.train.size(), parts.validation.size(), test.size(),
      parts.train.image_shape.to_string(), parts.train.num_classes());

  // --- model and optimiser -------------------------------------------------------------------
  std::vector<std::int64_t> dims{parts.train.features()};
  dims.insert(dims.end(), hidden.begin(), hidden.end());
  dims.push_back(parts.train.num_classes());
  nn::Sequential net = nn::MLP(
      dims,
      {.activation = o.activation, .batchnorm = o.batchnorm, .dropout = o.dropout, .init = o.init});
  if (!o.load.empty()) {
    net.load(o.load, nn::LoadOptions{.exclude = o.load_except,
                                     .allow_activation_change = o.allow_activation_change});
    std::cout << "loaded " << o.load;
    for (const std::string& name : o.load_except) std::cout << " (without " << name << ")";
    std::cout << "\n";
  }
  if (resumed) {
    net.load(o.resume);  // the architecture is checked: the flags came from the same checkpoint
    std::cout << "resuming the run saved in " << o.resume << "\n";
  }
  if (o.freeze > 0) freeze_first_layers(net, o.freeze);
  std::cout << net.to_string();
  const double lr = o.lr.value_or(default_lr(o.optimizer));
  std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(o, net.parameters(), lr);
  std::cout << fmt::format(
      "optimizer {} (lr {:g}{}{}), loss {}, reg {:g}, batch {}, {} epochs{}\n", o.optimizer, lr,
      o.optimizer == "momentum" || o.optimizer == "nesterov" ? fmt::format(", μ {:g}", o.momentum)
                                                             : std::string(),
      weight_decay_of(o) != 0.0 ? fmt::format(", weight decay {:g}", weight_decay_of(o))
                                : std::string(),
      o.loss, o.reg, o.batch, common.quick ? std::min<std::int64_t>(o.epochs, 1) : o.epochs,
      o.lr_decay != 1.0 ? fmt::format(", lr × {:g} per epoch", o.lr_decay) : std::string());

  // --- training ----------------------------------------------------------------------------
  // The training state a checkpoint carries: the trainer's and optimiser's, and the run's flags.
  const auto training_state = [&](const train::TrainerState& state, bool model_holds_best) {
    nn::TrainingState training;
    train::add_training_state(training, state, optimizer->state(), net, model_holds_best);
    add_run_flags(training, o, common);
    return training;
  };
  train::Trainer* running = nullptr;
  std::function<void(const train::EpochRecord&)> on_epoch;
  bool epoch_save_failed = false;
  if (o.save_every_epoch)
    on_epoch = [&](const train::EpochRecord& record) {
      // The model holds this epoch's parameters; the best epoch's go into the state. A failed
      // save is reported and training goes on (the final save is tried again; status 3).
      try {
        nn::save_checkpoint(net, o.save, training_state(running->state(), false));
        if (train::parse_progress_style(o.progress) != train::ProgressStyle::none)
          std::cerr << fmt::format("saved epoch {} to {}\n", record.epoch, o.save);
      } catch (const std::exception& error) {
        std::cerr << fmt::format("gradlab_train: error: saving epoch {}: {}\n", record.epoch,
                                 error.what());
        epoch_save_failed = true;
      }
    };
  train::Trainer trainer(net, *optimizer,
                         {.epochs = common.quick ? std::min<std::int64_t>(o.epochs, 1) : o.epochs,
                          .batch_size = o.batch,
                          .loss = o.loss,
                          .reg = o.reg,
                          .lr_decay = o.lr_decay,
                          .seed = common.seed,
                          .train_eval_size = o.train_eval,
                          .ratio_every = o.ratio_every,
                          .out_dir = {},
                          .progress = train::parse_progress_style(o.progress),
                          .progress_stream = &std::cerr,
                          .on_epoch = on_epoch});
  running = &trainer;
  if (resumed) {
    const train::TrainerState state = train::restore_training_state(*resumed, net, *optimizer);
    if (state.epoch > o.epochs)
      throw Error(
          fmt::format("--resume {}: the run has done {} epochs; --epochs {} is the new "
                      "total, so it must be at least {}",
                      o.resume, state.epoch, o.epochs, state.epoch));
    std::cout << fmt::format("continuing after epoch {} (iteration {}) up to epoch {}\n",
                             state.epoch, state.iteration, o.epochs);
    trainer.resume(state);
  }
  cli::ProfileFlags profile(common);  // --profile, --profile-trace FILE
  train::History history = trainer.fit(parts.train, parts.validation);
  profile.finish(std::cout);
  const double test_accuracy = trainer.evaluate(test);

  std::cout << "\n";
  const bool diverged = history.diverged();
  if (history.stopped_early())
    std::cout << (diverged ? "diverged, stopped early: " : "stopped early: ") << history.diagnosis
              << "\n";
  if (history.restored_best)
    std::cout << fmt::format(
        "restored the parameters of epoch {} (best validation accuracy {:.2f}%)\n",
        history.best_epoch, 100.0 * history.best_val_accuracy);
  if (!history.loss.empty())
    std::cout << fmt::format("loss  {:.3f} {} {:.3f}\n", history.loss.front(),
                             plots::sparkline(history.loss, 60), history.loss.back());
  std::cout << fmt::format("test accuracy: {:.2f}%\n", 100.0 * test_accuracy);
  std::cout << fmt::format(
      "training time: {:.2f} s ({} iterations; evaluation excluded), total {:.2f} s\n",
      history.training_seconds, history.iterations(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());

  // --- outputs -----------------------------------------------------------------------------
  // Each output is tried even when another failed; the failures are named at the end.
  std::vector<std::string> failed;
  std::vector<std::string> written;
  const std::filesystem::path out(common.out);
  const nlohmann::json extra{{"test_accuracy", test_accuracy},
                             {"backend", common.backend},
                             {"threads", num_threads()},
                             {"model", o.hidden}};
  try {
    trainer.write_logs(out.string(), history, extra.dump());
    std::cout << "logs: " << (out / "history.csv").string()
              << ", epochs.csv, update_ratios.csv, summary.json\n";
    written.push_back("logs");
  } catch (const std::exception& error) {
    std::cerr << "gradlab_train: error: " << error.what() << "\n";
    failed.push_back("logs");
  }
  if (o.no_plots) {
  } else if (history.loss.empty()) {
    std::cout << "plots: no training plots — no iteration ran (--epochs 0), so there is no loss, "
                 "accuracy or update ratio to draw\n";
  } else {
    net.eval();
    const std::int64_t probe = std::min<std::int64_t>(1000, test.size());
    // One plot that cannot be written does not stop the others.
    const std::vector<std::function<plots::PlotResult()>> plot_calls{
        [&] {
          // The y label names the loss that was trained (the picture rules of plots.hpp).
          plots::PlotSettings loss_axis;
          loss_axis.y_label = o.loss == "svm" ? "loss (multiclass hinge + L2, score units)"
                                              : "loss (cross-entropy + L2, nats)";
          return plots::loss_curve(history.loss, out / "loss.png", loss_axis);
        },
        [&] { return plots::accuracy_curves(history.epochs, out / "accuracy.png"); },
        [&] {
          return plots::update_ratio_curves(history.update_ratios, out / "update_ratios.png");
        },
        [&] {
          return plots::activation_histograms(
              plots::collect_activations(net, data::slice(test, 0, probe).images),
              out / "activations.png");
        }};
    std::string drawn;
    std::string note;
    bool plot_failed = false;
    for (const auto& plot : plot_calls) {
      try {
        const plots::PlotResult result = plot();
        if (result.drawn)
          drawn += (drawn.empty() ? "" : ", ") + result.png.filename().string();
        else if (note.empty())
          note = result.note;
      } catch (const std::exception& error) {
        std::cerr << "gradlab_train: error: " << error.what() << "\n";
        plot_failed = true;
      }
    }
    if (!drawn.empty())
      std::cout << "plots: " << out.string() << "/{" << drawn
                << "} (with .csv and .gp beside them)\n";
    if (!note.empty()) std::cout << "plots: " << note << "\n";
    (plot_failed ? failed : written).push_back("plots");
  }
  if (!o.save.empty()) {
    // A diverged model is saved only on request, and only the best epoch's finite parameters.
    const std::string broken = first_non_finite_tensor(net);
    std::string refusal;
    if (diverged && !o.save_best_on_divergence)
      refusal = "the run diverged (--save-best-on-divergence saves the best epoch's parameters)";
    else if (diverged && !history.restored_best)
      refusal =
          "the run diverged before an epoch finished, so there are no finite best-epoch "
          "parameters to save";
    else if (!broken.empty())
      refusal = fmt::format("the model is not finite: {} is NaN or infinite", broken);
    if (!refusal.empty()) {
      std::cout << fmt::format("checkpoint not saved: {}; {} is left as it was\n", refusal, o.save);
      if (!diverged) failed.push_back("checkpoint");
    } else {
      try {
        // A run that trained at least one epoch carries its training state, so --resume can
        // continue it; a diverged one saved on request, or one that trained no epoch (--epochs
        // 0: the initialisation or a --load evaluated), does not: there is nothing to continue.
        const train::TrainerState state = trainer.state();
        const nn::SaveReport report =
            diverged || state.epoch == 0
                ? nn::save_checkpoint(net, o.save)
                : nn::save_checkpoint(net, o.save, training_state(state, history.restored_best));
        if (report.recovered_from)
          std::cout << fmt::format("recovered {} from {}, left by an interrupted save\n", o.save,
                                   report.recovered_from->string());
        for (const auto& path : report.removed)
          std::cout << "removed " << path.string()
                    << ", a temporary folder left by an interrupted save\n";
        written.push_back("checkpoint");
        std::cout << "saved the model to " << o.save
                  << (diverged ? fmt::format(" (the parameters of epoch {})", history.best_epoch)
                               : std::string())
                  << "\n";
      } catch (const std::exception& error) {
        std::cerr << "gradlab_train: error: " << error.what() << "\n";
        failed.push_back("checkpoint");
      }
    }
  }
  if (epoch_save_failed) failed.push_back("checkpoint after an epoch");
  if (!failed.empty()) {
    const auto joined = [](const std::vector<std::string>& names) {
      std::string text;
      for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
      return text;
    };
    std::cerr << fmt::format("gradlab_train: error: could not write: {} (see above){}\n",
                             joined(failed),
                             written.empty() ? std::string() : "; written: " + joined(written));
    return exit_output_failed;
  }
  if (diverged) {
    std::cerr << "gradlab_train: error: training diverged: " << history.diagnosis << "\n";
    return exit_diverged;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "gradlab_train: error: " << error.what() << "\n";
    return 1;
  }
}
