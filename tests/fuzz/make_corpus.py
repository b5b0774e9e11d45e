#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Plain python3 (no NumPy needed): the .npy files are written byte by byte following NumPy's
format description, the gzip files with mtime 0 so that the output is the same on every run.

    python3 tests/fuzz/make_corpus.py          # rewrites every seed file

File names say what a seed is: "valid_*" files must be accepted by their parser, "bad_*" files
are near misses that must be refused with a gradlab::Error (tests/data/test_fuzz_corpus.cpp
checks both). libFuzzer mutates all of them; the near misses start it next to each check.
"""

import gzip
import json
import pathlib
import struct

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    (folder / name).write_bytes(data)


# --- IDX: 4-byte magic (0, 0, type 0x08 = unsigned byte, dimension count), big-endian extents --

def idx(extents, values, type_code=0x08):
    header = bytes([0, 0, type_code, len(extents)]) + b"".join(struct.pack(">I", e) for e in extents)
    return header + bytes(values)


def write_idx_corpus():
    images = idx([2, 3, 3], range(0, 18 * 14, 14))  # two 3×3 images, pixels 0, 14, ..., 238
    labels = idx([2], [7, 2])
    vectors = idx([2, 4], [0, 255, 1, 254, 2, 253, 3, 252])  # [N, D] images
    write("idx", "valid_images_2x3x3.idx", images)
    write("idx", "valid_images_2x3x3.idx.gz", gzip.compress(images, mtime=0))
    write("idx", "valid_labels_2.idx", labels)
    write("idx", "valid_labels_2.idx.gz", gzip.compress(labels, mtime=0))
    write("idx", "valid_vectors_2x4.idx", vectors)
    write("idx", "bad_truncated_images.idx", images[:-1])
    write("idx", "bad_float_type.idx", idx([2], [0] * 8, type_code=0x0D))
    write("idx", "bad_truncated.idx.gz", gzip.compress(images, mtime=0)[:-6])


# --- CIFAR-10: records of 1 label byte + 3 × 32 × 32 pixel bytes -------------------------------

def cifar_record(label, seed):
    return bytes([label]) + bytes((seed + 7 * i) % 256 for i in range(3072))


def write_cifar10_corpus():
    write("cifar10", "valid_one_record.bin", cifar_record(0, 1))
    write("cifar10", "valid_two_records.bin", cifar_record(3, 5) + cifar_record(9, 200))
    write("cifar10", "bad_label_10.bin", cifar_record(10, 3))
    write("cifar10", "bad_short_record.bin", cifar_record(1, 4)[:-1])


# --- .npy: magic, version, header length, padded dict header, raw little-endian data -----------

def npy(descr, shape, payload, fortran_order=False, version=(1, 0)):
    # Python's tuple syntax, as NumPy writes it: (), (3,), (2, 3)
    shape_text = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran_order}, 'shape': {shape_text}, }}"
    length_bytes = 2 if version[0] == 1 else 4
    unpadded = 6 + 2 + length_bytes + len(header) + 1
    header += " " * ((64 - unpadded % 64) % 64) + "\n"
    length = struct.pack("<H" if length_bytes == 2 else "<I", len(header))
    return b"\x93NUMPY" + bytes(version) + length + header.encode("latin-1") + payload


def write_npy_corpus():
    write("npy", "valid_f32_scalar.npy", npy("<f4", (), struct.pack("<f", 1.5)))
    write("npy", "valid_f32_vector_3.npy", npy("<f4", (3,), struct.pack("<3f", 0.25, -2, 1e30)))
    write("npy", "valid_f64_matrix_2x3.npy", npy("<f8", (2, 3), struct.pack("<6d", *range(6))))
    write("npy", "valid_i64_vector_2.npy", npy("<i8", (2,), struct.pack("<2q", -1, 2**62)))
    write("npy", "valid_f32_empty_0x4.npy", npy("<f4", (0, 4), b""))
    write("npy", "valid_f32_fortran_vector_2.npy",
          npy("<f4", (2,), struct.pack("<2f", 3, 4), fortran_order=True))
    write("npy", "valid_f32_version_2.npy", npy("<f4", (1,), struct.pack("<f", 7), version=(2, 0)))
    write("npy", "bad_big_endian.npy", npy(">f4", (1,), struct.pack(">f", 1)))
    write("npy", "bad_fortran_matrix.npy", npy("<f4", (1, 1), struct.pack("<f", 1), fortran_order=True))
    write("npy", "bad_truncated_data.npy", npy("<f8", (2, 3), struct.pack("<5d", *range(5))))


# --- checkpoint manifests ---------------------------------------------------------------------

def entry(name, shape, dtype="float32"):
    return {"name": name, "file": name + ".npy", "shape": shape, "dtype": dtype}


def manifest(parameters, buffers, version=1, **extra):
    document = {"format_version": version, "parameters": parameters, "buffers": buffers}
    document.update(extra)
    return json.dumps(document, indent=2) + "\n"


def layer(name, type_, **settings):
    return {"name": name, "type": type_, "settings": settings}


def write_manifest_corpus():
    parameters = [entry("0.weight", [4, 5]), entry("0.bias", [5]), entry("2.weight", [5, 3])]
    buffers = [entry("1.running_mean", [5]), entry("1.running_var", [5])]
    write("manifest", "valid_mlp.json",
          manifest(parameters, buffers,
                   architecture=["Sequential(", "  (0): Linear(in_features=4, out_features=5)",
                                 ")", "Total: 43 parameters (43 trainable)"]))
    write("manifest", "valid_empty.json", manifest([], []))
    write("manifest", "valid_f64_scalar_and_int64_counter.json",
          manifest([entry("scale", [], "float64")], [entry("steps", [1], "int64")]))
    write("manifest", "bad_newer_version.json", manifest(parameters, buffers, version=4))
    write("manifest", "bad_version_zero.json", manifest(parameters, buffers, version=0))
    write("manifest", "bad_unknown_key.json", manifest(parameters, buffers, optimizer="adam"))
    write("manifest", "bad_missing_buffers.json",
          json.dumps({"format_version": 1, "parameters": parameters}))
    write("manifest", "bad_path_traversal.json",
          manifest([dict(entry("0.weight", [4, 5]), file="../0.weight.npy")], []))
    write("manifest", "bad_negative_extent.json", manifest([entry("0.weight", [4, -5])], []))
    write("manifest", "bad_unknown_dtype.json", manifest([entry("0.weight", [4], "float16")], []))
    write("manifest", "bad_duplicate_name.json",
          manifest([entry("0.weight", [4]), entry("0.weight", [4])], []))
    write("manifest", "bad_not_json.json", manifest(parameters, buffers)[:-20])
    write("manifest", "bad_nested_too_deep.json",
          '{"format_version": 1, "buffers": [], "parameters": ' + "[" * 20 + "]" * 20 + "}")
    # Version 2 records the architecture as data: every module with its type and settings.
    layers = [layer("", "Sequential"),
              layer("0", "Linear", in_features=4, out_features=5, bias=True),
              layer("1", "BatchNorm1d", num_features=5, eps=1e-05, momentum=0.1),
              layer("2", "LeakyReLU", negative_slope=0.01),
              layer("3", "Linear", in_features=5, out_features=3, bias=True),
              layer("4", "Custom", mode="fan_in")]
    write("manifest", "valid_v2_mlp.json",
          manifest(parameters, buffers, version=2, layers=layers,
                   architecture=["Sequential(", ")", "Total: 43 parameters (43 trainable)"]))
    write("manifest", "valid_v2_empty.json", manifest([], [], version=2, layers=[]))
    write("manifest", "bad_v2_missing_layers.json", manifest(parameters, buffers, version=2))
    write("manifest", "bad_v1_with_layers.json", manifest(parameters, buffers, layers=layers))
    write("manifest", "bad_v2_duplicate_layer.json",
          manifest(parameters, buffers, version=2, layers=[layers[1], layers[1]]))
    write("manifest", "bad_v2_setting_list.json",
          manifest(parameters, buffers, version=2,
                   layers=[layer("0", "Linear", in_features=[4])]))
    write("manifest", "bad_v2_setting_too_big.json",
          manifest(parameters, buffers, version=2,
                   layers=[layer("0", "Linear", in_features=18446744073709551615)]))
    write("manifest", "bad_v2_layer_unknown_key.json",
          manifest(parameters, buffers, version=2,
                   layers=[dict(layer("0", "ReLU"), shape=[4])]))
    # Version 3 may carry a training state: scalars and the entries of its tensors' files.
    training = {"settings": {"epoch": 2, "iteration": 78, "base_lr": 0.05,
                             "random_state": "12345", "optimizer_type": "SGD",
                             "optimizer_momentum": 0.9, "run_hidden": "50", "run_batchnorm": False},
                "tensors": [dict(entry("optimizer.velocity.0", [4, 5]),
                                 file="training.optimizer.velocity.0.npy"),
                            dict(entry("history.loss", [78], "float64"),
                                 file="training.history.loss.npy"),
                            dict(entry("optimizer.step", [3], "int64"),
                                 file="training.optimizer.step.npy")]}
    write("manifest", "valid_v3_training.json",
          manifest(parameters, buffers, version=3, layers=layers, training=training))
    write("manifest", "valid_v3_without_training.json",
          manifest(parameters, buffers, version=3, layers=layers))
    write("manifest", "bad_v2_with_training.json",
          manifest(parameters, buffers, version=2, layers=layers, training=training))
    write("manifest", "bad_v3_training_unknown_key.json",
          manifest(parameters, buffers, version=3, layers=layers,
                   training=dict(training, history=[])))
    write("manifest", "bad_v3_training_missing_tensors.json",
          manifest(parameters, buffers, version=3, layers=layers,
                   training={"settings": {}}))
    write("manifest", "bad_v3_training_setting_object.json",
          manifest(parameters, buffers, version=3, layers=layers,
                   training={"settings": {"epoch": {"n": 2}}, "tensors": []}))
    write("manifest", "bad_v3_training_duplicate_tensor.json",
          manifest(parameters, buffers, version=3, layers=layers,
                   training={"settings": {}, "tensors": [training["tensors"][0]] * 2}))
    write("manifest", "bad_v3_training_path_traversal.json",
          manifest(parameters, buffers, version=3, layers=layers,
                   training={"settings": {},
                             "tensors": [dict(training["tensors"][0], file="../x.npy")]}))


if __name__ == "__main__":
    write_idx_corpus()
    write_cifar10_corpus()
    write_npy_corpus()
    write_manifest_corpus()
    for folder in sorted(CORPUS.iterdir()):
        print(f"{folder.name}: {len(list(folder.iterdir()))} seed files")
