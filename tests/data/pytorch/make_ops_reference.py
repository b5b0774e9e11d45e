#!/usr/bin/python3
"""Writes ops_reference.json: PyTorch 1.13's float64 values and gradients for the ops of issue 18.

Run from anywhere with Debian's python3-torch installed:
    /usr/bin/python3 tests/data/pytorch/make_ops_reference.py
The output is committed, so the C++ test (tests/autograd/test_ops_vs_pytorch.cpp) needs no torch.

Each case holds its op, its parameters, its inputs (float64 values, or int64 indices), and what
torch computes: the output and, for differentiable ops, the gradient of every float input of
sum(output * weights) for fixed weights. Inputs come from a seeded generator or are written out
(ties, zeros, NaN, inf: where PyTorch's conventions matter). Non-finite numbers are written as
the strings "nan", "inf", "-inf" (JSON has no literal for them).
"""
import json
import math
import os

import torch

torch.manual_seed(18)
F64 = torch.float64
NAN, INF = float("nan"), float("inf")


def encode(values):
    out = []
    for v in values:
        if isinstance(v, float) and math.isnan(v):
            out.append("nan")
        elif isinstance(v, float) and math.isinf(v):
            out.append("inf" if v > 0 else "-inf")
        else:
            out.append(v)
    return out


def tensor_json(t):
    return {"shape": list(t.shape), "values": encode(t.detach().reshape(-1).tolist())}


def randn(*shape):
    return torch.randn(*shape, dtype=F64)


def literal(values, shape=None):
    t = torch.tensor(values, dtype=F64)
    return t.reshape(shape) if shape is not None else t


cases = []


def case(name, op, inputs, f, params=None, differentiable=True, index=None):
    """Runs f on float64 leaves made from `inputs`, records output and gradients."""
    leaves = [x.clone().requires_grad_(differentiable) for x in inputs]
    out = f(*leaves)
    entry = {"name": name, "op": op, "params": params or {},
             "inputs": [tensor_json(x) for x in inputs]}
    if index is not None:
        entry["index"] = {"shape": list(index.shape), "values": index.reshape(-1).tolist()}
    if out.dtype == torch.bool:
        out = out.to(F64)
    if out.dtype == torch.int64:
        entry["output"] = {"shape": list(out.shape), "values": out.reshape(-1).tolist()}
    else:
        entry["output"] = tensor_json(out)
    if differentiable:
        weights = torch.randn(out.shape, dtype=F64)
        (out * weights).sum().backward()
        entry["weights"] = tensor_json(weights)
        entry["grads"] = [tensor_json(x.grad if x.grad is not None else torch.zeros_like(x))
                          for x in leaves]
    cases.append(entry)


# --- slice and narrow: x[start:end:step] along an axis, Python's clamping -----------------------
x = randn(5, 7, 3)
for axis, start, end, step in [(0, 1, 4, 1), (1, 0, 7, 2), (1, -3, None, 1), (2, None, -1, 1),
                               (1, 2, 100, 3), (0, -100, 2, 1), (1, 5, 2, 1), (-1, 1, 3, 2),
                               (-2, None, None, 3)]:
    sl = [slice(None)] * 3
    sl[axis] = slice(start, end, step)
    case(f"slice axis {axis} [{start}:{end}:{step}]", "slice", [x], lambda t: t[tuple(sl)],
         {"axis": axis, "start": start, "end": end, "step": step})
for axis, start, length in [(0, 1, 3), (1, -4, 2), (2, 0, 3), (-1, 2, 1), (1, 3, 0)]:
    case(f"narrow axis {axis} start {start} length {length}", "narrow", [x],
         lambda t: torch.narrow(t, axis, start, length),
         {"axis": axis, "start": start, "length": length})

# --- index_select, with repeated indices ---------------------------------------------------------
for axis, idx in [(0, [4, 0, 4, 2]), (1, [6, 6, 6]), (2, [2, 0]), (-2, [1, 3, 1, 0, 5]), (0, [])]:
    index = torch.tensor(idx, dtype=torch.int64)
    case(f"index_select axis {axis} {idx}", "index_select", [x],
         lambda t: torch.index_select(t, axis, index), {"axis": axis}, index=index)

# --- cat and stack -------------------------------------------------------------------------------
a, b, c = randn(2, 3), randn(4, 3), randn(1, 3)
case("cat axis 0 of [2,3] [4,3] [1,3]", "cat", [a, b, c], lambda *t: torch.cat(t, 0), {"axis": 0})
a2, b2 = randn(3, 2), randn(3, 5)
case("cat axis -1 of [3,2] [3,5]", "cat", [a2, b2], lambda *t: torch.cat(t, -1), {"axis": -1})
s1, s2, s3 = randn(2, 3), randn(2, 3), randn(2, 3)
for axis in [0, 1, 2, -1]:
    case(f"stack axis {axis}", "stack", [s1, s2, s3], lambda *t: torch.stack(t, axis),
         {"axis": axis})

# --- abs, clamp ----------------------------------------------------------------------------------
special = literal([-2.0, -0.0, 0.0, 0.5, 1.0, 3.0, NAN, INF, -INF, -1.0])
case("abs random", "abs", [randn(4, 5)], torch.abs)
case("abs at 0, NaN, inf", "abs", [special], torch.abs)
for lo, hi in [(0.0, 1.0), (-0.5, None), (None, 0.5), (2.0, 1.0), (-1.0, -1.0)]:
    case(f"clamp [{lo}, {hi}] special", "clamp", [special], lambda t: torch.clamp(t, lo, hi),
         {"min": lo, "max": hi})
case("clamp [-0.3, 0.4] random", "clamp", [randn(6, 4)], lambda t: torch.clamp(t, -0.3, 0.4),
     {"min": -0.3, "max": 0.4})

# --- minimum, maximum (ties split the gradient; NaN gives it to both) --------------------------
ta = literal([1.0, 2.0, NAN, 1.0, INF, -INF, 0.0, 3.0, NAN])
tb = literal([1.0, 1.0, 1.0, NAN, INF, -INF, -0.0, 4.0, NAN])
for name, fn in [("minimum", torch.minimum), ("maximum", torch.maximum)]:
    case(f"{name} ties, NaN, inf", name, [ta, tb], fn)
    case(f"{name} broadcast [4,1] with [3]", name, [randn(4, 1), randn(3)], fn)
    tied = torch.randint(-2, 3, (5, 4)).to(F64)
    case(f"{name} broadcast with many ties", name, [tied, torch.randint(-2, 3, (4,)).to(F64)], fn)

# --- min reduction and argmin --------------------------------------------------------------------
m = randn(4, 6)
case("min all", "min", [m], torch.min)
for axis, keepdim in [(0, False), (1, True), (-1, False)]:
    case(f"min axis {axis} keepdim {keepdim}", "min", [m],
         lambda t: torch.min(t, axis, keepdim)[0], {"axis": axis, "keepdim": keepdim})
tm = literal([[1.0, 0.0, 0.0, 2.0], [NAN, 1.0, NAN, 0.0], [3.0, -INF, 1.0, -INF]])
case("min axis 1 ties and NaN (first winner)", "min", [tm], lambda t: torch.min(t, 1)[0],
     {"axis": 1, "keepdim": False})
# gradlab's min(x) routes to the first smallest element, like torch.min(x, dim) (torch.min(x)
# without dim splits the gradient among ties): compare with the dim form over the flat tensor.
case("min all with ties (first winner)", "min", [literal([[2.0, 0.0], [0.0, 1.0]])],
     lambda t: torch.min(t.reshape(-1), 0)[0])
case("min all with NaN", "min", [literal([1.0, NAN, 0.0, NAN])],
     lambda t: torch.min(t.reshape(-1), 0)[0])
case("argmin rows", "argmin", [literal([[1.0, 0.0, 0.0, 2.0], [3.0, NAN, 1.0, NAN],
                                        [0.0, -0.0, 1.0, 1.0], [5.0, 4.0, -INF, 2.0]])],
     lambda t: torch.argmin(t, 1), differentiable=False)
case("argmin random", "argmin", [randn(5, 7)], lambda t: torch.argmin(t, 1), differentiable=False)

# --- comparisons (masks) and where ---------------------------------------------------------------
ca = literal([[1.0, 2.0, NAN], [INF, 0.0, -1.0]])
cb = literal([2.0, 2.0, NAN])
for name, fn in [("lt", torch.lt), ("le", torch.le), ("gt", torch.gt), ("ge", torch.ge),
                 ("eq", torch.eq), ("ne", torch.ne)]:
    case(f"{name} tensor broadcast", name, [ca, cb], fn, differentiable=False)
    case(f"{name} scalar 2.0", name, [ca], lambda t: fn(t, 2.0), {"scalar": 2.0},
         differentiable=False)
mask = literal([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
case("where broadcast", "where", [mask, randn(2, 3), randn(3)],
     lambda mk, p, q: torch.where(mk != 0, p, q))
case("where NaN in the branch not taken", "where",
     [literal([1.0, 0.0, NAN]), literal([1.0, NAN, 2.0]), literal([NAN, 3.0, 4.0])],
     lambda mk, p, q: torch.where(mk != 0, p, q))

# --- var and std ---------------------------------------------------------------------------------
v = randn(5, 4)
for unbiased in [True, False]:
    case(f"var all unbiased {unbiased}", "var", [v], lambda t: torch.var(t, unbiased=unbiased),
         {"unbiased": unbiased})
    case(f"std all unbiased {unbiased}", "std", [v], lambda t: torch.std(t, unbiased=unbiased),
         {"unbiased": unbiased})
    for axis, keepdim in [(0, False), (1, True), (-1, False), (-2, True)]:
        params = {"axis": axis, "unbiased": unbiased, "keepdim": keepdim}
        case(f"var axis {axis} unbiased {unbiased} keepdim {keepdim}", "var", [v],
             lambda t: torch.var(t, axis, unbiased, keepdim), params)
        case(f"std axis {axis} unbiased {unbiased} keepdim {keepdim}", "std", [v],
             lambda t: torch.std(t, axis, unbiased, keepdim), params)
case("std axis 1 of a constant row (gradient 0)", "std",
     [literal([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])], lambda t: torch.std(t, 1),
     {"axis": 1, "unbiased": True, "keepdim": False})

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "ops_reference.json"), "w") as out:
    json.dump({"generator": "tests/data/pytorch/make_ops_reference.py",
               "torch": torch.__version__, "cases": cases}, out, indent=None)
    out.write("\n")
print(f"wrote {len(cases)} cases with torch {torch.__version__}")
