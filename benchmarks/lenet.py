"""A LeNet-sized CNN training step: plugrad vs PyTorch (when importable) vs hand-written NumPy im2col.

    python benchmarks/lenet.py                 # batch 64, 1x28x28, one BLAS/intra-op thread
    python benchmarks/lenet.py --threads 2     # let NumPy's BLAS and PyTorch use two threads
    python benchmarks/lenet.py --quick

One step = forward (conv 1->6 5x5, relu, max-pool 2, conv 6->16 5x5, relu, max-pool 2,
linear 256->120->84->10), cross-entropy, backward, SGD update. The three implementations
run interleaved for several rounds and the median per round is reported, so that the
machine's slow spells hit each alike; ratios are plugrad's time over the other's. Thread
counts are pinned (environment variables set before NumPy and PyTorch are imported) so
that the comparison is like for like: on a small shared machine a multi-threaded BLAS
can be many times slower than one thread.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

BATCH, CLASSES = 64, 10


def _pin_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(n)


def numpy_step(np: Any, seed: int = 0) -> Callable[[], float]:
    """LeNet by hand: im2col of stacked shifted views, ``W @ cols`` convolutions, max-pooling of strided views."""
    rng = np.random.default_rng(seed)
    f32 = np.float32

    def u(shape: tuple[int, ...], fan_in: int) -> Any:
        b = 1 / np.sqrt(fan_in)
        return rng.uniform(-b, b, shape).astype(f32)

    params = {
        "c1w": u((6, 25), 25), "c1b": u((6,), 25), "c2w": u((16, 150), 150), "c2b": u((16,), 150),
        "f1w": u((120, 256), 256), "f1b": u((120,), 256), "f2w": u((84, 120), 120), "f2b": u((84,), 120),
        "f3w": u((10, 84), 84), "f3b": u((10,), 84),
    }  # fmt: skip
    x = rng.standard_normal((BATCH, 1, 28, 28)).astype(f32)
    y = rng.integers(0, CLASSES, BATCH)

    def conv(a: Any, w: Any, b: Any, k: int = 5) -> tuple[Any, Any]:
        n, c, h, _ = a.shape
        ho = h - k + 1
        # im2col: the k*k shifted views stacked (C-ordered; measured faster than a gather with an index)
        cols = np.stack([a[:, :, i : i + ho, j : j + ho] for i in range(k) for j in range(k)], 2)
        cols = cols.reshape(n, c * k * k, ho * ho)
        return (w @ cols + b[:, None]).reshape(n, w.shape[0], ho, ho), cols

    def pool(a: Any) -> tuple[Any, Any]:
        views = [a[:, :, i::2, j::2] for i in range(2) for j in range(2)]
        m = np.maximum(np.maximum(views[0], views[1]), np.maximum(views[2], views[3]))
        return m, views

    def unpool(g: Any, views: Any, m: Any) -> Any:
        n, c, h, w = g.shape
        out = np.zeros((n, c, 2 * h, 2 * w), f32)
        remaining = g
        for (i, j), v in zip(((0, 0), (0, 1), (1, 0), (1, 1)), views):  # the first maximum takes the gradient
            hit = v == m
            out[:, :, i::2, j::2] = np.where(hit, remaining, 0)
            remaining = np.where(hit, 0, remaining)
        return out

    def col2im(gcols: Any, shape: tuple[int, ...], k: int = 5) -> Any:
        n, c, h, w = shape
        ho, wo = h - k + 1, w - k + 1
        g = gcols.reshape(n, c, k, k, ho, wo)
        out = np.zeros(shape, f32)
        for i in range(k):  # one strided add per kernel offset (np.add.at would be several times slower)
            for j in range(k):
                out[:, :, i : i + ho, j : j + wo] += g[:, :, i, j]
        return out

    def step() -> float:
        p = params
        z1, cols1 = conv(x, p["c1w"], p["c1b"])
        a1 = np.maximum(z1, 0)
        p1, m1 = pool(a1)
        z2, cols2 = conv(p1, p["c2w"], p["c2b"])
        a2 = np.maximum(z2, 0)
        p2, m2 = pool(a2)
        h0 = p2.reshape(BATCH, 256)
        h1 = np.maximum(h0 @ p["f1w"].T + p["f1b"], 0)
        h2 = np.maximum(h1 @ p["f2w"].T + p["f2b"], 0)
        logits = h2 @ p["f3w"].T + p["f3b"]
        shifted = logits - logits.max(1, keepdims=True)
        e = np.exp(shifted)
        prob = e / e.sum(1, keepdims=True)
        loss = float(-np.log(prob[np.arange(BATCH), y]).mean())
        g = prob
        g[np.arange(BATCH), y] -= 1
        g /= BATCH
        grads = {"f3w": g.T @ h2, "f3b": g.sum(0)}
        g = (g @ p["f3w"]) * (h2 > 0)
        grads |= {"f2w": g.T @ h1, "f2b": g.sum(0)}
        g = (g @ p["f2w"]) * (h1 > 0)
        grads |= {"f1w": g.T @ h0, "f1b": g.sum(0)}
        g = (g @ p["f1w"]).reshape(p2.shape)
        g = unpool(g, m2, p2) * (z2 > 0)
        gm = g.reshape(BATCH, 16, 64)
        grads |= {"c2w": (gm @ cols2.transpose(0, 2, 1)).sum(0), "c2b": gm.sum((0, 2))}
        gcols = p["c2w"].T @ gm
        g = col2im(gcols, p1.shape)
        g = unpool(g, m1, p1) * (z1 > 0)
        gm = g.reshape(BATCH, 6, 576)
        grads |= {"c1w": (gm @ cols1.transpose(0, 2, 1)).sum(0), "c1b": gm.sum((0, 2))}
        for k, v in grads.items():
            p[k] -= 0.01 * v
        return loss

    step.state = (params, x, y)  # type: ignore[attr-defined]  # for checking against PyTorch
    return step


def plugrad_step(seed: int = 0) -> Callable[[], float]:
    import plugrad
    from plugrad import nn, optim

    plugrad.manual_seed(seed)
    model = _lenet(nn)
    opt = optim.SGD(model.parameters(), lr=0.01)
    x = plugrad.randn(BATCH, 1, 28, 28)
    y = plugrad.randint(0, CLASSES, (BATCH,))
    return _make_step(model, opt, x, y, nn.functional.cross_entropy)


def torch_step(torch: Any, seed: int = 0) -> Callable[[], float]:
    torch.manual_seed(seed)
    model = _lenet(torch.nn)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(BATCH, 1, 28, 28)
    y = torch.randint(0, CLASSES, (BATCH,))
    return _make_step(model, opt, x, y, torch.nn.functional.cross_entropy)


def _lenet(nn: Any) -> Any:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, CLASSES),
    )  # fmt: skip


def _make_step(model: Any, opt: Any, x: Any, y: Any, loss_fn: Any) -> Callable[[], float]:
    def step() -> float:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def time_interleaved(steps: dict[str, Callable[[], float]], rounds: int, inner: int) -> dict[str, float]:
    for fn in steps.values():  # warm up (caches, allocator)
        for _ in range(3):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in steps}
    names = list(steps)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(inner):
                steps[name]()
            samples[name].append((time.perf_counter() - t0) / inner)
    return {k: statistics.median(v) for k, v in samples.items()}


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="BLAS / PyTorch intra-op threads (default 1)")
    p.add_argument("--quick", action="store_true", help="fewer rounds")
    args = p.parse_args(argv)
    _pin_threads(args.threads)
    import numpy as np

    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    import plugrad

    steps: dict[str, Callable[[], float]] = {"numpy": numpy_step(np), "plugrad": plugrad_step()}
    if torch is not None:
        steps["torch"] = torch_step(torch)
    rounds, inner = (5, 3) if args.quick else (15, 5)
    print(
        f"LeNet training step, batch {BATCH}, 1x28x28, float32; {args.threads} thread(s); plugrad "
        f"{plugrad.__version__}, numpy {np.__version__}, PyTorch {torch.__version__ if torch else 'not installed'}; "
        f"medians of {rounds} interleaved rounds of {inner} steps"
    )
    med = time_interleaved(steps, rounds, inner)
    for name, t in med.items():
        line = f"  {name:8s} {t * 1e3:8.2f} ms/step"
        if name != "plugrad":
            line += f"   plugrad / {name} = {med['plugrad'] / t:5.2f}x"
        print(line)
    return med


if __name__ == "__main__":
    main(sys.argv[1:])
