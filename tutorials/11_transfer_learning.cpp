// Chapter 11: saving, loading and transfer learning.
//
// Training is expensive, so a trained net is kept: its parameters go to disk (a manifest plus one
// .npy file per tensor) and come back bit for bit. A net trained on one task is also a good start
// for another: its hidden layers compute features that are useful beyond the labels they were
// trained on. Here the net learns five of Fashion-MNIST's classes (clothes) and is then moved to
// the other five (shoes, bags and shirts) with 100 or a few thousand examples: frozen features
// with a new classifier, the higher layers finetuned, or everything finetuned, each against
// training from scratch. What pays off depends on how much data the new task has; the chapter
// reports what this run measured.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "modules/data/data.hpp"
#include "modules/nn/nn.hpp"
#include "modules/optim/optim.hpp"
#include "modules/data/preprocess.hpp"
#include "modules/train/trainer.hpp"
#include "modules/app/cli_flags.hpp"
#include "tutorial.hpp"

using namespace gradlab;
using gradlab::tutorial::Chapter;
using gradlab::tutorial::number;

namespace {

/// 784 → 100 → 50 → 5 with ReLU and He initialisation; layers 0, 2, 4 are the Linear ones.
nn::Sequential make_net(std::uint64_t seed) {
  manual_seed(seed);
  return nn::MLP({784, 100, 50, 5}, {.activation = "relu", .init = "he"});
}

/// The examples of `set` whose class is in [first, first + 5), in `set`'s order, relabelled
/// 0..4 (the two tasks: classes 0–4 and classes 5–9 of Fashion-MNIST).
data::Dataset five_classes(const data::Dataset& set, std::int64_t first) {
  const std::vector<double> labels = set.labels.to_vector();
  std::vector<std::int64_t> kept;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= double(first) && labels[i] < double(first + 5))
      kept.push_back(std::int64_t(i));
  }
  data::Dataset subset = data::select(set, kept);
  std::vector<double> shifted = subset.labels.to_vector();
  for (double& c : shifted) c -= double(first);
  subset.labels = from(shifted, {std::int64_t(shifted.size())}, {.dtype = DType::int64});
  subset.class_names = std::vector<std::string>(set.class_names.begin() + first,
                                                set.class_names.begin() + first + 5);
  return subset;
}

/// "a, b and c" for a list of names.
std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    text += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  }
  return text;
}

/// Every parameter's values, in order, to check later which ones moved.
std::vector<std::vector<double>> snapshot(const nn::Module& net) {
  std::vector<std::vector<double>> values;
  for (const Tensor& p : net.parameters()) values.push_back(p.to_vector());
  return values;
}

/// Largest |a − b| over all parameters of two snapshots.
double largest_change(const std::vector<std::vector<double>>& a,
                      const std::vector<std::vector<double>>& b, std::size_t first,
                      std::size_t last) {
  double worst = 0;
  for (std::size_t t = first; t < last; ++t)
    for (std::size_t i = 0; i < a[t].size(); ++i)
      worst = std::max(worst, std::abs(a[t][i] - b[t][i]));
  return worst;
}

/// Trainable parameters only (what the optimiser must hold after freezing).
std::vector<Tensor> trainable(const nn::Module& net) {
  std::vector<Tensor> out;
  for (const Tensor& p : net.parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

}  // namespace

/// The chapter's own flags.
struct Settings {
  std::int64_t small = 100;          // --small
  std::int64_t pretrain_epochs = 0;  // --pretrain-epochs (0: the default)
};

int main(int argc, char** argv) {
  Settings settings;
  return tutorial::run_chapter(
      argc, argv,
      {11,
       "transfer_learning",
       "Saving, loading and transfer learning",
       {{"--small 20",
         "only 20 images (four per class) for the small version of the new task: every "
         "strategy loses accuracy, and the notice reports how much the best use of the "
         "pretrained net gains over training from scratch with so little data."},
        {"--small 1000",
         "a 'small' set ten times bigger, close to the medium one: compare the two columns. Do "
         "the strategies rank the same way, and how much does the pretrained start still gain "
         "over training from scratch?"},
        {"--pretrain-epochs 1",
         "a source net trained for a single epoch: its features are less developed. Compare the "
         "original task's accuracy and the transfer gains with the default run's."}}},
      [&settings](Chapter& chapter) {
        const bool quick = chapter.quick();
        const std::uint64_t seed = chapter.options().seed;
        const std::string dir = chapter.options().data.empty() ? data::default_fashion_mnist_dir
                                                               : chapter.options().data;

        chapter.step("Train a net on the original task: five classes");
        const data::Dataset all = data::shuffle(data::load_fashion_mnist(dir), seed);
        const data::Dataset clothes = five_classes(all, 0), others = five_classes(all, 5);
        const std::int64_t source_size = quick ? 3000 : 20000, val_size = quick ? 1000 : 2000;
        const std::int64_t small_size = settings.small, medium_size = quick ? 1500 : 5000;
        data::Dataset source = data::slice(clothes, 0, source_size);
        data::Dataset source_val = data::slice(clothes, source_size, source_size + val_size);
        data::Dataset target_pool = data::slice(others, 0, medium_size);
        data::Dataset target_val = data::slice(others, medium_size, medium_size + val_size);
        data::MeanImage centre;
        source.images = centre.fit_apply(source.images);
        for (data::Dataset* set : {&source_val, &target_pool, &target_val})
          set->images = centre.apply(set->images);

        nn::Sequential net = make_net(seed);
        const std::int64_t epochs =
            settings.pretrain_epochs > 0 ? settings.pretrain_epochs : (quick ? 3 : 5);
        optim::SGD sgd(net.parameters(), {.lr = 0.05, .momentum = 0.9});
        train::Trainer trainer(net, sgd,
                               {.epochs = epochs,
                                .batch_size = 128,
                                .reg = 1e-4,
                                .seed = seed,
                                .ratio_every = 0,
                                .progress = train::ProgressStyle::none});
        train::History history = trainer.fit(source, source_val);
        const double source_acc = trainer.evaluate(source_val);
        chapter.say(fmt::format(
            "The original task: {}, five of Fashion-MNIST's ten classes. The net is 784 → 100 → 50 "
            "→ 5 (ReLU, He init), trained with SGD + momentum for {} epochs on {} centred images "
            "of these classes:",
            joined(source.class_names), epochs, source.size()));
        chapter.table({"epoch", "mean loss", "train acc", "val acc"}, [&] {
          std::vector<std::vector<std::string>> rows;
          for (const auto& e : history.epochs)
            rows.push_back({std::to_string(e.epoch), number(e.mean_loss),
                            number(e.train_accuracy, 3), number(e.val_accuracy, 3)});
          return rows;
        }());

        chapter.step("Save it, and load it into a fresh net");
        const std::filesystem::path checkpoint = chapter.path("pretrained");
        net.save(checkpoint);
        std::vector<std::vector<std::string>> files;
        for (const auto& entry : std::filesystem::directory_iterator(checkpoint))
          files.push_back({entry.path().filename().string(),
                           std::to_string(std::filesystem::file_size(entry.path()))});
        std::sort(files.begin(), files.end());
        chapter.say(fmt::format(
            "net.save(\"{}\") writes a manifest (names, shapes, dtypes, and the layers with "
            "their settings, which load checks) and one NumPy .npy file per "
            "tensor — numpy.load reads them, so the weights can be inspected in Python:",
            checkpoint.string()));
        chapter.table({"file", "bytes"}, files);
        chapter.picture((checkpoint / "manifest.json").string(),
                        "the checkpoint's manifest (+ one .npy per tensor)");

        nn::Sequential fresh = make_net(seed + 100);  // different random weights
        Tensor probe_images = data::slice(source_val, 0, 200).images;
        double before_load = 0, after_load = 0;
        {
          NoGradGuard no_grad;
          Tensor expected = net(probe_images);
          before_load =
              largest_change({fresh(probe_images).to_vector()}, {expected.to_vector()}, 0, 1);
          fresh.load(checkpoint);
          after_load =
              largest_change({fresh(probe_images).to_vector()}, {expected.to_vector()}, 0, 1);
        }
        chapter.table({"fresh net vs trained net", "max |difference| of the scores"},
                      {{"before load (own random weights)", number(before_load)},
                       {"after load", number(after_load)}});
        chapter.claim("a loaded net gives identical outputs to the saved one", after_load == 0.0,
                      fmt::format("max difference {}", number(after_load)));

        chapter.step("A new task with little or medium data");
        chapter.say(fmt::format(
            "The new task is the other five classes: {}. The net has never seen any of them, and "
            "its classifier is meaningless for them; what its hidden layers learned about shapes, "
            "edges and textures may or may not carry over. For each strategy we start again from "
            "the checkpoint, put fresh random weights into the last Linear layer, and train on the "
            "new task's small set ({} images) or medium set ({} images).",
            joined(target_pool.class_names), small_size, target_pool.size()));
        const data::Dataset& new_val = target_val;
        const data::Dataset small_set = data::slice(target_pool, 0, small_size);
        const data::Dataset& medium_set = target_pool;

        struct Strategy {
          std::string name;
          bool pretrained;
          // Index into parameters(): 0 = all, 2 = from layer 2, 4 = the classifier only.
          std::size_t first_trainable;
        };
        const std::vector<Strategy> strategies = {{"from scratch (no transfer)", false, 0},
                                                  {"freeze all, retrain classifier", true, 4},
                                                  {"finetune the two higher layers", true, 2},
                                                  {"finetune everything", true, 0}};
        std::vector<std::vector<std::string>> rows;
        std::vector<double> small_acc, medium_acc;
        double frozen_change = -1;
        for (const Strategy& s : strategies) {
          std::vector<std::string> row{s.name};
          for (const data::Dataset* set : {&small_set, &medium_set}) {
            nn::Sequential model = make_net(seed + 7);
            // The classifier (layer 4) is left out of the load: it gets new weights below,
            // drawn the same way for every strategy (the head of a task with another number of
            // classes would load the same way, whatever its size).
            if (s.pretrained) model.load(checkpoint, {.exclude = {"4"}});
            nn::init::he_normal_(model.at<nn::Linear>(4).weight);
            {
              NoGradGuard no_grad;
              Tensor& b = model.at<nn::Linear>(4).bias;
              std::fill(b.data<float>(), b.data<float>() + b.numel(), 0.0f);
            }
            model.freeze();
            std::vector<Tensor> params = model.parameters();
            for (std::size_t i = s.first_trainable; i < params.size(); ++i)
              params[i].requires_grad_(true);
            const auto before = snapshot(model);
            const std::int64_t steps_per_epoch = std::max<std::int64_t>(1, set->size() / 50);
            optim::SGD opt(trainable(model),
                           {.lr = s.first_trainable == 4 ? 0.05 : 0.01, .momentum = 0.9});
            train::Trainer t(
                model, opt,
                {.epochs = std::max<std::int64_t>(5, (quick ? 150 : 300) / steps_per_epoch),
                 .batch_size = 50,
                 .reg = 1e-4,
                 .seed = seed,
                 .ratio_every = 0,
                 .keep_best = false,
                 .progress = train::ProgressStyle::none});
            t.fit(*set);
            const double acc = t.evaluate(new_val);
            (set == &small_set ? small_acc : medium_acc).push_back(acc);
            row.push_back(number(acc, 3));
            if (s.first_trainable > 0) {
              const double moved = largest_change(before, snapshot(model), 0, s.first_trainable);
              frozen_change = std::max(frozen_change, moved);
            }
          }
          rows.push_back(row);
        }
        chapter.table({"strategy", fmt::format("val acc, {} images", small_size),
                       fmt::format("val acc, {} images", medium_set.size())},
                      rows);
        chapter.claim("frozen parameters did not change during retraining", frozen_change == 0.0,
                      fmt::format("largest change {}", number(frozen_change)));
        // What this run measured: the best strategy for each amount of data.
        const auto best_of = [&](const std::vector<double>& acc) {
          return std::size_t(std::max_element(acc.begin(), acc.end()) - acc.begin());
        };
        const std::size_t best_small = best_of(small_acc), best_medium = best_of(medium_acc);
        const auto moving_layers = [&](std::size_t k) {
          return strategies[k].pretrained ? (strategies[k].first_trainable == 4   ? 1
                                             : strategies[k].first_trainable == 2 ? 2
                                                                                  : 3)
                                          : 3;
        };
        std::string lesson;
        if (best_small == best_medium) {
          lesson = fmt::format("the same strategy won with both amounts of data here");
        } else if (moving_layers(best_medium) > moving_layers(best_small)) {
          lesson = "with more data it paid to let more layers move, as the lecture advises";
        } else {
          lesson = "here more data did not favour letting more layers move";
        }
        const double transfer_gain_small =
            small_acc[best_of(std::vector<double>(small_acc.begin() + 1, small_acc.end())) + 1] -
            small_acc[0];
        const double transfer_gain_medium =
            medium_acc[best_of(std::vector<double>(medium_acc.begin() + 1, medium_acc.end())) + 1] -
            medium_acc[0];
        chapter.notice(fmt::format(
            "with {} images the best was '{}' ({:.3f}); with {} images '{}' ({:.3f}): {}. The best "
            "use of the pretrained net scored {:+.3f} against training from scratch with {} "
            "images and {:+.3f} with {}: {}. (Original task, for reference: {:.3f}.)",
            small_size, strategies[best_small].name, small_acc[best_small], medium_set.size(),
            strategies[best_medium].name, medium_acc[best_medium], lesson, transfer_gain_small,
            small_size, transfer_gain_medium, medium_set.size(),
            transfer_gain_small > transfer_gain_medium
                ? "pretraining helped more where data was scarce"
                : "in this run pretraining did not help more where data was scarce",
            source_acc));

        chapter.summary(fmt::format(
            "save → load identical; clothes → shoes, bags and shirts: {} images: freeze all "
            "{:.3f}, higher layers {:.3f}, finetune all {:.3f}, scratch {:.3f}; {} images: freeze "
            "all {:.3f}, higher layers {:.3f}, finetune all {:.3f}, scratch {:.3f}",
            small_size, small_acc[1], small_acc[2], small_acc[3], small_acc[0], medium_set.size(),
            medium_acc[1], medium_acc[2], medium_acc[3], medium_acc[0]));
      },
      [&settings](CLI::App& app) {
        gradlab::cli::whole_number_in(
            app.add_option("--small", settings.small,
                           "Images in the new task's small set (10 to 1000)"),
            10, 1000)
            ->capture_default_str();
        gradlab::cli::whole_number_in(
            app.add_option("--pretrain-epochs", settings.pretrain_epochs,
                           "Epochs of training on the original task (1 to 20; default 5, 3 with "
                           "--quick)"),
            1, 20);
      });
}
