// Chapter 11: saving, loading and transfer learning.
//
// Training is expensive, so a trained net is kept: its parameters go to disk (a manifest plus one
// .npy file per tensor) and come back bit for bit. A net trained on one task is also a good start
// for another: its hidden layers compute features that are useful beyond the labels they were
// trained on. With little data for the new task we freeze everything and retrain only the
// classifier; with more data we let the higher layers, or all of them, move as well.
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
#include "tutorial.hpp"

using namespace gradlab;
using gradlab::tutorial::Chapter;
using gradlab::tutorial::number;

namespace {

/// 784 → 100 → 50 → 10 with ReLU and He initialisation; layers 0, 2, 4 are the Linear ones.
nn::Sequential make_net(std::uint64_t seed) {
  manual_seed(seed);
  return nn::MLP({784, 100, 50, 10}, {.activation = "relu", .init = "he"});
}

/// The "new task": the same images with the classes renamed by c → (3c + 1) mod 10, so the
/// pretrained classifier is useless for it while the features it rests on stay meaningful.
data::Dataset relabel(data::Dataset set) {
  std::vector<double> labels = set.labels.to_vector();
  for (double& c : labels) c = double((3 * std::int64_t(c) + 1) % 10);
  set.labels = from(labels, {std::int64_t(labels.size())}, {.dtype = DType::int64});
  std::vector<std::string> names(10);
  for (std::size_t c = 0; c < 10; ++c) names[(3 * c + 1) % 10] = set.class_names[c];
  set.class_names = names;
  return set;
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

int main(int argc, char** argv) {
  return tutorial::run_chapter(
      argc, argv, {11, "transfer_learning", "Saving, loading and transfer learning"},
      [](Chapter& chapter) {
        const bool quick = chapter.quick();
        const std::uint64_t seed = chapter.options().seed;
        const std::string dir = chapter.options().data.empty() ? data::default_fashion_mnist_dir
                                                               : chapter.options().data;

        chapter.step("Train a net on the original task");
        const data::Dataset all = data::load_fashion_mnist(dir);
        const std::int64_t source_size = quick ? 3000 : 20000, val_size = quick ? 1000 : 2000;
        const std::int64_t small_size = 100, medium_size = quick ? 1500 : 5000;
        std::vector<std::int64_t> order = data::shuffled_indices(all.size(), seed);
        auto take = [&](std::int64_t begin, std::int64_t count) {
          return data::select(
              all, std::vector<std::int64_t>(order.begin() + begin, order.begin() + begin + count));
        };
        data::Dataset source = take(0, source_size);
        data::Dataset source_val = take(source_size, val_size);
        data::Dataset target_pool = take(source_size + val_size, medium_size);
        data::Dataset target_val = take(source_size + val_size + medium_size, val_size);
        data::MeanImage centre;
        source.images = centre.fit_apply(source.images);
        for (data::Dataset* set : {&source_val, &target_pool, &target_val})
          set->images = centre.apply(set->images);

        nn::Sequential net = make_net(seed);
        const std::int64_t epochs = quick ? 3 : 5;
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
            "The net is 784 → 100 → 50 → 10 (ReLU, He init), trained with SGD + momentum for {} "
            "epochs on "
            "{} centred Fashion-MNIST images. Validation accuracy on the original 10 classes:",
            epochs, source.size()));
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
            "net.save(\"{}\") writes a manifest (names, shapes, dtypes) and one NumPy .npy file "
            "per "
            "tensor — numpy.load reads them, so the weights can be inspected in Python:",
            checkpoint.string()));
        chapter.table({"file", "bytes"}, files);
        chapter.picture("pretrained/manifest.json",
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
        chapter.say(
            "The new task uses images the net has never seen, with the classes renamed (class c "
            "becomes "
            "(3c + 1) mod 10): the old classifier is now wrong, but what the hidden layers learned "
            "about "
            "shapes, edges and textures still applies. For each strategy we start again from the "
            "checkpoint, put fresh random weights into the last Linear layer, and train on "
            "the new task's small set (100 images) or medium set.");
        const data::Dataset new_val = relabel(target_val);
        const data::Dataset small_set = relabel(data::slice(target_pool, 0, small_size));
        const data::Dataset medium_set = relabel(target_pool);

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
            if (s.pretrained) model.load(checkpoint);
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
        chapter.claim(
            "with 100 images, the retrained classifier on frozen features beats training from "
            "scratch",
            small_acc[1] > small_acc[0],
            fmt::format("{:.3f} vs {:.3f}", small_acc[1], small_acc[0]));
        const double best_medium = *std::max_element(medium_acc.begin() + 1, medium_acc.end());
        chapter.notice(fmt::format(
            "with 100 images the frozen features carry the new task ({:.3f} against {:.3f} from "
            "scratch). "
            "With {} images training from scratch reaches {:.3f} and the best transfer strategy "
            "{:.3f}: "
            "the more data, the more layers it pays to let move — and the smaller the head start "
            "of "
            "pretraining. (Original task, for reference: {:.3f}.)",
            small_acc[1], small_acc[0], medium_set.size(), medium_acc[0], best_medium, source_acc));

        chapter.summary(fmt::format(
            "save → load identical; 100 new images: frozen features + new classifier {:.3f} vs "
            "scratch "
            "{:.3f}; {} images: finetune all {:.3f}, higher layers {:.3f}, scratch {:.3f}",
            small_acc[1], small_acc[0], medium_set.size(), medium_acc[3], medium_acc[2],
            medium_acc[0]));
      });
}
