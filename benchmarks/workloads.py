"""Benchmark workloads, each written three times: hand-written NumPy, plugrad, PyTorch.

Every workload is a class with a ``setup_<impl>()`` method returning a zero-argument
callable that runs one unit of work (one training step, one forward+backward pass).
The runner times the callables interleaved; nothing here measures time itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

try:  # PyTorch is an optional reference
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
except ImportError:  # pragma: no cover - depends on the machine
    torch = None  # type: ignore[assignment]

import plugrad

try:
    import plugrad.nn as pnn
    import plugrad.optim as poptim
except ImportError:  # pragma: no cover - nn/optim not installed
    pnn = None  # type: ignore[assignment]
    poptim = None  # type: ignore[assignment]

F32 = np.float32
Step = Callable[[], Any]


class Workload:
    name = ""
    unit = "step"
    per = 1  # report time per `per` units (e.g. per op)
    targets: dict[str, float] = {}  # impl -> max ratio of plugrad to that impl

    def impls(self) -> list[str]:
        out = ["numpy", "plugrad"]
        if torch is not None:
            out.append("torch")
        return out


# --------------------------------------------------------------------- regression
class RegressionStep(Workload):
    """One full-batch gradient-descent step of ``y = Wx + b`` (1000 samples, MSE, SGD)."""

    name = "regression step"
    targets = {"torch": 0.5}

    def __init__(self, n: int = 1000, lr: float = 0.1) -> None:
        rng = np.random.default_rng(0)
        self.x = rng.uniform(-1, 1, (n, 1)).astype(F32)
        self.y = (3 * self.x + 2 + 0.1 * rng.standard_normal((n, 1))).astype(F32)
        self.lr = lr

    def setup_numpy(self) -> Step:
        x, y, lr = self.x, self.y, self.lr
        w = np.zeros((1, 1), F32)
        b = np.zeros(1, F32)
        n = x.shape[0]

        def step() -> float:
            pred = x @ w.T + b
            diff = pred - y
            loss = (diff * diff).mean()
            g = diff * (2.0 / n)
            w[...] -= lr * (g.T @ x)
            b[...] -= lr * g.sum(0)
            return float(loss)

        return step

    def setup_plugrad(self) -> Step:
        x, y = plugrad.tensor(self.x), plugrad.tensor(self.y)
        if pnn is None:
            w = plugrad.zeros(1, 1, requires_grad=True)
            b = plugrad.zeros(1, requires_grad=True)

            def step_core() -> Any:
                loss = ((x @ w.T + b - y) ** 2).mean()
                loss.backward()
                with plugrad.no_grad():
                    w.sub_(self.lr * w.grad)
                    b.sub_(self.lr * b.grad)
                w.grad = None
                b.grad = None
                return loss

            return step_core
        model = pnn.Linear(1, 1)
        crit = pnn.MSELoss()
        opt = poptim.SGD(model.parameters(), lr=self.lr)

        def step() -> Any:
            opt.zero_grad()
            loss = crit(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step

    def setup_torch(self) -> Step:
        x, y = torch.from_numpy(self.x), torch.from_numpy(self.y)
        model = torch.nn.Linear(1, 1)
        crit = torch.nn.MSELoss()
        opt = torch.optim.SGD(model.parameters(), lr=self.lr)

        def step() -> Any:
            opt.zero_grad()
            loss = crit(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step


# ----------------------------------------------------------------------- op chains
class OpChain(Workload):
    """``length`` cheap elementwise ops on ``size`` elements, forward and backward."""

    unit = "op"

    def __init__(self, length: int, size: int, name: str, targets: dict[str, float]) -> None:
        self.length = length
        self.size = size
        self.name = name
        self.per = length
        self.targets = targets
        self.x0 = np.linspace(0.1, 0.9, size).astype(F32)

    # the chain alternates y * 1.001 and y + 0.001: cheap ops whose cost is overhead
    def setup_numpy(self) -> Step:
        x0, n = self.x0, self.length

        def step() -> Any:
            y = x0
            for i in range(n):
                y = y * F32(1.001) if i % 2 == 0 else y + F32(0.001)
            g = np.ones_like(y)
            for i in reversed(range(n)):
                if i % 2 == 0:
                    g = g * F32(1.001)
                else:
                    g = g.copy()  # add passes the gradient through (a node still hands it on)
            return g

        return step

    def setup_plugrad(self) -> Step:
        x = plugrad.tensor(self.x0, requires_grad=True)
        n = self.length

        def step() -> Any:
            y = x
            for i in range(n):
                y = y * 1.001 if i % 2 == 0 else y + 0.001
            y.backward(plugrad.ones_like(y))
            x.grad = None
            return y

        return step

    def setup_torch(self) -> Step:
        x = torch.tensor(self.x0, requires_grad=True)
        n = self.length

        def step() -> Any:
            y = x
            for i in range(n):
                y = y * 1.001 if i % 2 == 0 else y + 0.001
            y.backward(torch.ones_like(y))
            x.grad = None
            return y

        return step


# ---------------------------------------------------------------------------- MLP
class MLPStep(Workload):
    """One SGD step of a 784-1024-1024-10 ReLU MLP with cross-entropy, float32."""

    name = "MLP step"
    targets = {"numpy": 1.05}

    def __init__(self, batch: int = 256, sizes: tuple[int, ...] = (784, 1024, 1024, 10), lr: float = 0.01) -> None:
        rng = np.random.default_rng(0)
        self.sizes = sizes
        self.x = rng.standard_normal((batch, sizes[0])).astype(F32)
        self.labels = rng.integers(0, sizes[-1], batch)
        self.params = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1 / np.sqrt(fan_in)
            self.params.append(
                (
                    rng.uniform(-bound, bound, (fan_out, fan_in)).astype(F32),
                    rng.uniform(-bound, bound, fan_out).astype(F32),
                )
            )
        self.lr = lr

    def setup_numpy(self) -> Step:
        params = [(w.copy(), b.copy()) for w, b in self.params]
        x, labels, lr = self.x, self.labels, self.lr
        n = x.shape[0]
        rows = np.arange(n)

        def step() -> float:
            acts = [x]
            h = x
            for i, (w, b) in enumerate(params):
                h = h @ w.T
                h += b
                if i < len(params) - 1:
                    np.maximum(h, 0, out=h)
                acts.append(h)
            logits = acts[-1]
            m = logits.max(1, keepdims=True)
            e = np.exp(logits - m)
            s = e.sum(1, keepdims=True)
            loss = float((np.log(s) + m).mean() - logits[rows, labels].mean())
            g = e / s
            g[rows, labels] -= 1
            g /= n
            for i in reversed(range(len(params))):
                w, b = params[i]
                a = acts[i]
                gw = g.T @ a
                gb = g.sum(0)
                if i > 0:
                    g = g @ w
                    g *= acts[i] > 0
                w -= lr * gw
                b -= lr * gb
            return loss

        return step

    def _plugrad_model(self) -> tuple[Any, list[Any]]:
        layers: list[Any] = []
        for i, (w, b) in enumerate(self.params):
            lin = pnn.Linear(w.shape[1], w.shape[0])
            with plugrad.no_grad():
                lin.weight.copy_(plugrad.tensor(w))
                lin.bias.copy_(plugrad.tensor(b))
            layers.append(lin)
            if i < len(self.params) - 1:
                layers.append(pnn.ReLU())
        model = pnn.Sequential(*layers)
        return model, list(model.parameters())

    def setup_plugrad(self) -> Step:
        model, params = self._plugrad_model()
        crit = pnn.CrossEntropyLoss()
        opt = poptim.SGD(params, lr=self.lr)
        x = plugrad.tensor(self.x)
        y = plugrad.tensor(self.labels)

        def step() -> Any:
            opt.zero_grad()
            loss = crit(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step

    def setup_torch(self) -> Step:
        layers: list[Any] = []
        for i, (w, b) in enumerate(self.params):
            lin = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if i < len(self.params) - 1:
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers)
        crit = torch.nn.CrossEntropyLoss()
        opt = torch.optim.SGD(model.parameters(), lr=self.lr)
        x = torch.from_numpy(self.x)
        y = torch.from_numpy(self.labels)

        def step() -> Any:
            opt.zero_grad()
            loss = crit(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step


# ------------------------------------------------------------------ optimizer step
class OptimizerStep(Workload):
    """``SGD.step()`` alone for a model of 100 small parameters (the per-parameter overhead)."""

    name = "optimizer step (100 params)"
    targets = {"torch": 1.0}

    def __init__(self, count: int = 100, size: int = 8) -> None:
        rng = np.random.default_rng(0)
        self.values = [rng.standard_normal(size).astype(F32) for _ in range(count)]
        self.grads = [rng.standard_normal(size).astype(F32) for _ in range(count)]

    def setup_numpy(self) -> Step:
        ps = [v.copy() for v in self.values]
        gs = self.grads

        def step() -> None:
            for p, g in zip(ps, gs):
                p -= 1e-3 * g

        return step

    def setup_plugrad(self) -> Step:
        ps = [pnn.Parameter(plugrad.tensor(v)) for v in self.values]
        for p, g in zip(ps, self.grads):
            p.grad = plugrad.tensor(g)
        opt = poptim.SGD(ps, lr=1e-3)
        return opt.step

    def setup_torch(self) -> Step:
        ps = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in self.values]
        for p, g in zip(ps, self.grads):
            p.grad = torch.from_numpy(g.copy())
        opt = torch.optim.SGD(ps, lr=1e-3, foreach=False)
        return opt.step
