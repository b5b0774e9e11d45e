#!/usr/bin/python3
"""Writes optim_reference.json: PyTorch's float64 parameter trajectories for every optimiser option
gradlab offers, replayed by tests/modules/test_optim_pytorch.cpp (which does not need torch).

Run from anywhere with Debian's python3-torch (1.13):  /usr/bin/python3 make_optim_reference.py

Two parameters (a [3, 4] matrix and a [4] vector, fixed values) take 12 steps with a fixed
sequence of gradients (set by hand as .grad, so no model is involved). The learning rate follows
StepLR(step_size=4, gamma=0.5), stepped after every optimiser step: it changes twice mid-run,
which tells SGD's momentum in gradient units (PyTorch's) from the lecture's momentum in step units.
Some gradient elements are small (1e-3), so a wrong eps default shows up well above 1e-10.
"""
import json
import os

import torch

STEPS = 12
STEP_SIZE, GAMMA = 4, 0.5
SHAPES = {"weight": [3, 4], "bias": [4]}


def fixed_values():
    g = torch.Generator().manual_seed(18)
    params = {name: torch.randn(shape, generator=g, dtype=torch.float64) for name, shape in SHAPES.items()}
    grads = []
    for step in range(STEPS):
        grads.append({})
        for name, shape in SHAPES.items():
            grad = torch.randn(shape, generator=g, dtype=torch.float64)
            grad.view(-1)[0] *= 1e-3  # a small gradient element, where eps matters
            if step % 5 == 2:
                grad.view(-1)[1] = 0.0  # a zero gradient element
            grads[-1][name] = grad
    return params, grads


CASES = []
for wd in (0.0, 0.1):
    CASES += [
        ("sgd", dict(lr=0.1, weight_decay=wd)),
        ("sgd", dict(lr=0.1, momentum=0.9, weight_decay=wd)),
        ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=wd)),
        ("adagrad", dict(lr=0.1, weight_decay=wd)),
        ("rmsprop", dict(lr=0.01, weight_decay=wd)),
        ("rmsprop", dict(lr=0.01, alpha=0.9, weight_decay=wd)),
        ("adam", dict(lr=0.01, weight_decay=wd)),
        ("adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=wd)),
        ("adamw", dict(lr=0.01, weight_decay=wd)),
    ]
CASES.append(("adamw", dict(lr=0.01)))  # PyTorch's default weight_decay, 1e-2
CASES.append(("sgd", dict(lr=0.1, momentum=0.5)))

MAKERS = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
          "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def run(kind, options, params, grads):
    tensors = {name: value.clone().requires_grad_(True) for name, value in params.items()}
    optimizer = MAKERS[kind](list(tensors.values()), **options)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=STEP_SIZE, gamma=GAMMA)
    lrs, trajectory = [], []
    for step in range(STEPS):
        for name, tensor in tensors.items():
            tensor.grad = grads[step][name].clone()
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
        trajectory.append({name: tensor.detach().reshape(-1).tolist() for name, tensor in tensors.items()})
    return lrs, trajectory


def main():
    params, grads = fixed_values()
    cases = []
    for kind, options in CASES:
        lrs, trajectory = run(kind, options, params, grads)
        written = {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}
        cases.append({"optimizer": kind, "options": written, "lr": lrs, "trajectory": trajectory})
    data = {
        "generator": "tests/data/pytorch/make_optim_reference.py",
        "torch_version": torch.__version__,
        "dtype": "float64",
        "steps": STEPS,
        "schedule": {"step_size": STEP_SIZE, "gamma": GAMMA, "stepped": "after every step"},
        "shapes": SHAPES,
        "initial": {name: value.reshape(-1).tolist() for name, value in params.items()},
        "gradients": [{name: g.reshape(-1).tolist() for name, g in step.items()} for step in grads],
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim_reference.json")
    with open(path, "w") as out:
        json.dump(data, out, indent=1)
        out.write("\n")
    print(f"wrote {len(cases)} cases of {STEPS} steps to {path}")


if __name__ == "__main__":
    main()
