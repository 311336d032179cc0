"""MLP training steps per second on each plugrad device (and PyTorch where installed).

    python benchmarks/mlp_devices.py [--devices numpy,cupy] [--json out.json]

A 2-layer MLP (784 -> 256 -> 10, batch 256, softmax cross-entropy written with tensor
ops) trained with plain SGD: forward, backward, update. Each device warms up, then the
median of 5 rounds of 20 steps is reported; CUDA timings synchronise before reading the
clock. Not a test: figures for notes (see benchmarks/gpu_check.sh).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import plugrad

BATCH, IN, HIDDEN, OUT = 256, 784, 256, 10


def _sync(device: str) -> None:
    if device in ("cuda", "cupy"):
        import cupy

        cupy.cuda.Device(0).synchronize()


def plugrad_steps(device: str, steps: int) -> float:
    plugrad.manual_seed(0)
    x = plugrad.randn(BATCH, IN, device=device)
    y = plugrad.randint(0, OUT, (BATCH,), device=device)
    onehot = plugrad.zeros(BATCH, OUT, device=device)
    onehot[plugrad.arange(BATCH, device=device), y] = 1.0
    w1 = (plugrad.randn(IN, HIDDEN, device=device) * 0.05).requires_grad_()
    w2 = (plugrad.randn(HIDDEN, OUT, device=device) * 0.05).requires_grad_()
    params = [w1, w2]

    def step() -> None:
        logits = (x @ w1).relu() @ w2
        logp = logits - logits.exp().sum(1, keepdim=True).log()
        loss = -(logp * onehot).sum() / BATCH
        loss.backward()
        with plugrad.no_grad():
            for p in params:
                p -= 0.1 * p.grad
                p.grad = None

    for _ in range(3):
        step()
    _sync(device)
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        rounds.append((time.perf_counter() - t0) / steps)
    return statistics.median(rounds)


def torch_steps(device: str, steps: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if device == "cuda" and not torch.cuda.is_available():
        return None
    torch.manual_seed(0)
    x = torch.randn(BATCH, IN, device=device)
    y = torch.randint(0, OUT, (BATCH,), device=device)
    w1 = (torch.randn(IN, HIDDEN, device=device) * 0.05).requires_grad_()
    w2 = (torch.randn(HIDDEN, OUT, device=device) * 0.05).requires_grad_()

    def step() -> None:
        loss = torch.nn.functional.cross_entropy((x @ w1).relu() @ w2, y)
        loss.backward()
        with torch.no_grad():
            for p in (w1, w2):
                p -= 0.1 * p.grad
                p.grad = None

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(3):
        step()
    sync()
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        rounds.append((time.perf_counter() - t0) / steps)
    return statistics.median(rounds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", default="numpy,cupy", help="plugrad devices/backends, comma-separated")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    results: dict[str, Any] = {}
    for dev in args.devices.split(","):
        try:
            results[f"plugrad:{dev}"] = plugrad_steps(dev, args.steps)
        except RuntimeError as exc:
            results[f"plugrad:{dev}"] = f"unavailable: {exc}"
    for dev in ("cpu", "cuda"):
        results[f"torch:{dev}"] = torch_steps(dev, args.steps) or "unavailable"
    for name, v in results.items():
        print(f"{name:16s} " + (f"{v * 1e3:8.2f} ms/step" if isinstance(v, float) else str(v)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
