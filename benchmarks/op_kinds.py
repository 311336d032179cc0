"""Per-op-kind cost: forward + backward of one op, plugrad vs hand-written NumPy vs PyTorch.

Each kind runs as a chain of ``LENGTH`` applications of that op on a tiny float32 tensor
(16 elements; 4x4 for matmul), then one backward pass, so what is measured is the
framework's per-op cost (graph node, dispatch, backward formula), not arithmetic.
Every chain is built so that its values stay finite:

- ``add``/``mul``/``div``/``pow`` use constants close to the identity;
- ``tanh``/``sigmoid``/``sin``/``relu`` map (0.1, 0.9) into itself (sigmoid's fixed point);
- ``exp`` and ``log`` alternate (``exp`` then ``log``), reported per op;
- ``where`` selects between the chain value and itself under a fixed mask;
- ``sum`` reduces a (4, 4) tensor over its first dimension with ``keepdim`` and broadcasts
  it back by adding the original (``sum`` + ``add`` per step, reported per op);
- ``matmul`` multiplies by a fixed orthogonal 4x4 matrix.

The NumPy version is written by hand: the same forward, and the backward formulas
applied in reverse with the saved values, as a person would write them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

try:
    import torch
except ImportError:  # pragma: no cover - optional comparator
    torch = None  # type: ignore[assignment]

import plugrad

LENGTH = 200
F32 = np.float32

# kind -> (forward for tensors (plugrad or torch), forward for numpy returning saved state,
#          numpy backward (g, saved) -> g)
Fwd = Callable[[Any], Any]


def _q() -> np.ndarray:
    a = np.random.default_rng(0).standard_normal((4, 4))
    q, _ = np.linalg.qr(a)
    return q.astype(F32)


Q = _q()
MASK = (np.arange(16) % 2 == 0).reshape(16)


def _np_steps(
    kind: str,
) -> tuple[Callable[[np.ndarray], tuple[np.ndarray, Any]], Callable[[np.ndarray, Any], np.ndarray]]:
    one = F32(1.001)
    if kind == "add":
        return (lambda y: (y + F32(0.001), None)), (lambda g, s: g.copy())
    if kind == "mul":
        return (lambda y: (y * one, None)), (lambda g, s: g * one)
    if kind == "div":
        return (lambda y: (y / one, None)), (lambda g, s: g / one)
    if kind == "pow":

        def pf(y: np.ndarray) -> tuple[np.ndarray, Any]:
            return y ** F32(1.0001), y

        return pf, (lambda g, y: g * F32(1.0001) * y ** F32(0.0001))
    if kind == "exp/log":

        def ef(y: np.ndarray) -> tuple[np.ndarray, Any]:
            e = np.exp(y)
            return np.log(e), e

        return ef, (lambda g, e: (g / e) * e)
    if kind == "sin":

        def sf(y: np.ndarray) -> tuple[np.ndarray, Any]:
            return np.sin(y), y

        return sf, (lambda g, y: g * np.cos(y))
    if kind == "tanh":

        def tf(y: np.ndarray) -> tuple[np.ndarray, Any]:
            r = np.tanh(y)
            return r, r

        return tf, (lambda g, r: g * (1 - r * r))
    if kind == "relu":

        def rf(y: np.ndarray) -> tuple[np.ndarray, Any]:
            r = np.maximum(y, 0)
            return r, r

        return rf, (lambda g, r: g * (r > 0))
    if kind == "sigmoid":

        def gf(y: np.ndarray) -> tuple[np.ndarray, Any]:
            r = 1 / (1 + np.exp(-y))
            return r, r

        return gf, (lambda g, r: g * r * (1 - r))
    if kind == "where":
        return (lambda y: (np.where(MASK, y, y * 0), None)), (lambda g, s: np.where(MASK, g, 0))
    if kind == "sum":

        def uf(y: np.ndarray) -> tuple[np.ndarray, Any]:
            return y.sum(0, keepdims=True) * F32(0.25) + y * F32(0.0), None

        return uf, (lambda g, s: np.broadcast_to(g.sum(0, keepdims=True) * F32(0.25), g.shape) + g * F32(0.0))
    if kind == "matmul":
        return (lambda y: (y @ Q, None)), (lambda g, s: g @ Q.T)
    raise KeyError(kind)


def _t_step(kind: str, lib: Any) -> Fwd:
    if kind == "add":
        return lambda y: y + 0.001
    if kind == "mul":
        return lambda y: y * 1.001
    if kind == "div":
        return lambda y: y / 1.001
    if kind == "pow":
        return lambda y: y**1.0001
    if kind == "exp/log":
        return lambda y: y.exp().log()
    if kind == "sin":
        return lambda y: y.sin()
    if kind == "tanh":
        return lambda y: y.tanh()
    if kind == "relu":
        return lambda y: y.relu()
    if kind == "sigmoid":
        return lambda y: y.sigmoid()
    if kind == "where":
        mask = lib.tensor(MASK)
        return lambda y: lib.where(mask, y, y * 0)
    if kind == "sum":
        return lambda y: y.sum(0, keepdim=True) * 0.25 + y * 0.0
    if kind == "matmul":
        q = lib.tensor(Q)
        return lambda y: y @ q
    raise KeyError(kind)


# ops per step of the chain, for the per-op figure
OPS_PER_STEP = {"exp/log": 2, "where": 2, "sum": 4}
KINDS = ["add", "mul", "div", "pow", "exp/log", "sin", "tanh", "relu", "sigmoid", "where", "sum", "matmul"]


def _x0(kind: str) -> np.ndarray:
    if kind in ("sum", "matmul"):
        return np.linspace(0.1, 0.9, 16).astype(F32).reshape(4, 4)
    return np.linspace(0.1, 0.9, 16).astype(F32)


class OpKind:
    """A benchmark workload (see benchmarks/workloads.py): one kind of op, chained."""

    unit = "op"

    def __init__(self, kind: str, length: int = LENGTH) -> None:
        self.kind = kind
        self.length = length
        self.name = f"op kind {kind}"
        self.per = length * OPS_PER_STEP.get(kind, 1)
        self.targets = {"torch": 0.8}

    def impls(self) -> list[str]:
        return ["numpy", "plugrad"] + (["torch"] if torch is not None else [])

    def setup_numpy(self) -> Callable[[], Any]:
        fwd, bwd = _np_steps(self.kind)
        x0, n = _x0(self.kind), self.length

        def step() -> Any:
            y = x0
            saved = []
            for _ in range(n):
                y, s = fwd(y)
                saved.append(s)
            g = np.ones_like(y)
            for s in reversed(saved):
                g = bwd(g, s)
            return g

        return step

    def _setup(self, lib: Any) -> Callable[[], Any]:
        f = _t_step(self.kind, lib)
        x = lib.tensor(_x0(self.kind), requires_grad=True)
        n = self.length

        def step() -> Any:
            y = x
            for _ in range(n):
                y = f(y)
            y.backward(lib.ones_like(y))
            x.grad = None
            return y

        return step

    def setup_plugrad(self) -> Callable[[], Any]:
        return self._setup(plugrad)

    def setup_torch(self) -> Callable[[], Any]:
        return self._setup(torch)


def workloads() -> list[OpKind]:
    return [OpKind(k) for k in KINDS]
