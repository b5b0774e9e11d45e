#!/usr/bin/env python3
"""The PyTorch peer of gradlab's training-step benchmarks.

Runs the same three training steps as bench/bench_training.cpp (forward + backward + SGD with
momentum 0.9) in PyTorch on the CPU, float32 and bfloat16 autocast, with the same number of
threads, and prints one JSON object: {"torch": version, "threads": n, "results": [{"workload",
"precision", "ms_per_step"}, ...]}. `./gradlab bench --vs-pytorch` adds these as a column.
"""
import argparse
import json
import sys
import time

try:
    import torch
except ImportError:
    print(json.dumps({"error": "PyTorch is not installed (Debian package python3-torch)"}))
    sys.exit(0)

# name: (layer sizes, activation, batch norm after each hidden Linear, batch size)
WORKLOADS = {
    "lecture-2layer": ([3072, 50, 10], torch.nn.ReLU, False, 100),
    "wide-bn": ([784, 1024, 1024, 10], torch.nn.ReLU, True, 256),
    "deep-tanh": ([500] * 11, torch.nn.Tanh, False, 1000),
}


def make_model(sizes, activation, batchnorm):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            if batchnorm:
                layers.append(torch.nn.BatchNorm1d(sizes[i + 1]))
            layers.append(activation())
    return torch.nn.Sequential(*layers)


def time_step(name, precision, min_seconds):
    sizes, activation, batchnorm, batch = WORKLOADS[name]
    torch.manual_seed(0)
    model = make_model(sizes, activation, batchnorm)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch, sizes[0])
    y = torch.randint(0, sizes[-1], (batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        if precision == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn(model(x), y)
        else:
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    steps, start = 0, time.perf_counter()
    while True:
        step()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and steps >= 5:
            return 1000.0 * elapsed / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for name in args.workloads.split(","):
        for precision in ("f32", "bf16"):
            results.append({"workload": name, "precision": precision,
                            "ms_per_step": time_step(name, precision, args.min_seconds)})
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "results": results}))


if __name__ == "__main__":
    main()
