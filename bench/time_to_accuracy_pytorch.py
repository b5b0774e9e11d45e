#!/usr/bin/env python3
"""PyTorch's side of bench/time_to_accuracy.sh: the Fashion-MNIST wide-bn recipe of
`gradlab_train` in PyTorch on the CPU, with the same data handling and the same hyperparameters.

Recipe: 784-1024-1024-10, BatchNorm + ReLU after each hidden Linear, He (Kaiming normal) weights
and zero biases, SGD momentum 0.9, lr 0.05, L2 0.5·1e-4·ΣW² on the weights only (weight decay
1e-4 on the weight matrices), batch 256, 5 epochs. Data: the training file split into 55,000
training and 5,000 validation examples (shuffled), pixels scaled to [0, 1], the training part's
mean image subtracted from every split. Prints one JSON line: training seconds (the epochs' steps,
evaluation excluded, as gradlab_train counts them) and test accuracy.
"""
import argparse
import gzip
import json
import struct
import time

import numpy as np
import torch


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    _, _, _, dims = struct.unpack(">BBBB", data[:4])
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    images = read_idx(f"{args.data}/train-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    labels = read_idx(f"{args.data}/train-labels-idx1-ubyte.gz").astype(np.int64)
    test_x = read_idx(f"{args.data}/t10k-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    test_y = read_idx(f"{args.data}/t10k-labels-idx1-ubyte.gz").astype(np.int64)
    order = rng.permutation(len(images))
    val, train = order[:5000], order[5000:]
    mean = images[train].mean(axis=0)
    x = torch.tensor(images[train] - mean, dtype=torch.float32)
    y = torch.tensor(labels[train])
    tx = torch.tensor(test_x - mean, dtype=torch.float32)
    ty = torch.tensor(test_y)

    layers, sizes = [], [784, 1024, 1024, 10]
    for i in range(3):
        linear = torch.nn.Linear(sizes[i], sizes[i + 1])
        torch.nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        torch.nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < 2:
            layers += [torch.nn.BatchNorm1d(sizes[i + 1]), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers)
    weights = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.SGD([{"params": weights, "weight_decay": 1e-4},
                                 {"params": others, "weight_decay": 0.0}], lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    batch, seconds = 256, 0.0
    for _ in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x))
        start = time.perf_counter()
        for b in range(0, len(x) - batch + 1, batch):
            index = perm[b:b + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
        seconds += time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        accuracy = (model(tx).argmax(dim=1) == ty).float().mean().item()
    print(json.dumps({"torch": torch.__version__, "threads": args.threads,
                      "training_seconds": seconds, "test_accuracy": accuracy}))


if __name__ == "__main__":
    main()
