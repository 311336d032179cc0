"""DataLoader throughput: one epoch over a TensorDataset of 60,000 x 784 float32, batches of 64, shuffled.

    python benchmarks/dataloader.py            # 7 interleaved rounds
    python benchmarks/dataloader.py --quick    # 3 rounds

Configurations: ``num_workers=0``, ``num_workers=2`` (workers started for each epoch,
PyTorch's default) and ``num_workers=2, persistent_workers=True``. Implementations:
plugrad's DataLoader, PyTorch's (when importable) on the same data, and a hand-written
NumPy loop (``rng.permutation`` then ``X[perm[i:i + 64]]``), which is the floor for
single-process loading and the same reference for every row. Each round runs one epoch
of every implementation in a rotating order; the medians are reported, with plugrad's
ratio to PyTorch (target: at most 1.5x). ``benchmarks/run.py`` runs this too.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import plugrad
from plugrad.utils.data import DataLoader, TensorDataset

try:
    import torch
    import torch.utils.data as tdata
except ImportError:  # pragma: no cover - depends on the machine
    torch = None  # type: ignore[assignment]

N, D, BATCH = 60_000, 784, 64
TARGET = 1.5
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("num_workers=0", {"num_workers": 0}),
    ("num_workers=2", {"num_workers": 2}),
    ("num_workers=2, persistent", {"num_workers": 2, "persistent_workers": True}),
]


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, D), dtype=np.float32), rng.integers(0, 10, N)


def _epoch(loader: Any) -> Callable[[], int]:
    def run() -> int:
        n = 0
        for _x, y in loader:
            n += len(y)
        if n != N:
            raise RuntimeError(f"an epoch gave {n} samples, expected {N}")
        return n

    return run


def _numpy_epoch(x: np.ndarray, y: np.ndarray) -> Callable[[], int]:
    rng = np.random.default_rng(1)

    def run() -> int:
        perm = rng.permutation(N)
        n = 0
        for i in range(0, N, BATCH):
            idx = perm[i : i + BATCH]
            _xb, yb = x[idx], y[idx]
            n += len(yb)
        return n

    return run


def run(rounds: int = 7) -> dict[str, dict[str, float]]:
    """Median seconds per epoch for each configuration and implementation; prints a table."""
    x, y = _data()
    ds = TensorDataset(plugrad.from_numpy(x), plugrad.from_numpy(y))
    tds = tdata.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)) if torch is not None else None
    print(f"DataLoader epoch: TensorDataset {N} x {D} float32, batch {BATCH}, shuffle=True; medians of {rounds} rounds")
    header = f"  {'configuration':28s} {'numpy loop':>11s} {'plugrad':>9s} {'torch':>9s}  plugrad/torch"
    print(header)
    results: dict[str, dict[str, float]] = {}
    for label, kwargs in CONFIGS:
        impls: dict[str, Callable[[], int]] = {
            "numpy": _numpy_epoch(x, y),
            "plugrad": _epoch(DataLoader(ds, batch_size=BATCH, shuffle=True, **kwargs)),
        }
        if tds is not None:
            impls["torch"] = _epoch(tdata.DataLoader(tds, batch_size=BATCH, shuffle=True, **kwargs))
        for fn in impls.values():  # warm-up (and the persistent workers' start)
            fn()
        samples: dict[str, list[float]] = {k: [] for k in impls}
        order = list(impls)
        for r in range(rounds):
            for name in order[r % len(order) :] + order[: r % len(order)]:
                gc.collect()
                t0 = time.perf_counter()
                impls[name]()
                samples[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in samples.items()}
        del impls
        gc.collect()
        tt = f"{med['torch']:8.3f}s" if "torch" in med else "        -"
        ratio = ""
        if "torch" in med:
            q = med["plugrad"] / med["torch"]
            med["ratio_vs_torch"] = q
            ratio = f"{q:8.2f}x  {'MET' if q <= TARGET else 'NOT MET'} (<= {TARGET}x)"
        print(f"  {label:28s} {med['numpy']:10.3f}s {med['plugrad']:8.3f}s {tt}  {ratio}")
        results[label] = med
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    args = p.parse_args(argv)
    print(f"plugrad {plugrad.__version__}, numpy {np.__version__}, PyTorch {torch.__version__ if torch else 'absent'}")
    run(3 if args.quick else 7)
    return 0


if __name__ == "__main__":
    sys.exit(main())
