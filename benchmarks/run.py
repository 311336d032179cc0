"""Run plugrad's benchmarks against hand-written NumPy and PyTorch in one process.

    python benchmarks/run.py               # everything
    python benchmarks/run.py --quick       # fewer rounds
    python benchmarks/run.py --only "op chain"

Implementations of a workload run interleaved (numpy, plugrad, torch, numpy, ...) for
several rounds and the median per round is reported, so that the machine's slow
spells hit every implementation alike. Ratios are plugrad's time over the other's.
Peak memory growth of one MLP step is measured in fresh subprocesses.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import op_kinds
import plugrad
import workloads as W


def blas_info() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:
        return "unknown"


def time_impls(work: W.Workload, rounds: int, min_time: float) -> dict[str, float]:
    """Median seconds per unit of work, for each implementation, interleaved."""
    steps = {impl: getattr(work, f"setup_{impl}")() for impl in work.impls()}
    inner: dict[str, int] = {}
    for impl, fn in steps.items():  # warm up and pick an inner count per impl
        fn()
        n, t = 1, 0.0
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            t = time.perf_counter() - t0
            if t >= min_time or n >= 1 << 16:
                break
            n *= 2
        inner[impl] = n
    samples: dict[str, list[float]] = {impl: [] for impl in steps}
    order = list(steps)
    for r in range(rounds):
        for impl in order[r % len(order) :] + order[: r % len(order)]:
            fn, n = steps[impl], inner[impl]
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[impl].append((time.perf_counter() - t0) / n)
    return {impl: statistics.median(v) for impl, v in samples.items()}


_MEM_CHILD = r"""
import gc, resource, sys
sys.path.insert(0, {bench_dir!r})
import op_kinds
import workloads as W
impl = {impl!r}
work = W.MLPStep(batch={batch})
step = getattr(work, "setup_" + impl)()
gc.collect()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
before = rss()
step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(max(0, peak - before))
"""


def memory_growth(impl: str, batch: int) -> float | None:
    """Peak RSS growth (bytes) of one MLP step in a fresh process."""
    code = _MEM_CHILD.format(bench_dir=str(Path(__file__).parent), impl=impl, batch=batch)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    except subprocess.CalledProcessError as exc:
        print(f"  memory child for {impl} failed: {exc.stderr.strip().splitlines()[-1:]}")
        return None
    return float(out.stdout.strip().splitlines()[-1])


def fmt_time(sec: float) -> str:
    if sec < 1e-3:
        return f"{sec * 1e6:8.2f} µs"
    if sec < 1:
        return f"{sec * 1e3:8.2f} ms"
    return f"{sec:8.2f} s "


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds (a rough look)")
    p.add_argument("--only", help="run only workloads whose name contains this")
    p.add_argument("--json", type=Path, default=Path("bench-results/latest.json"))
    args = p.parse_args(argv)
    rounds = 3 if args.quick else 7
    min_time = 0.05 if args.quick else 0.2

    print(f"plugrad {plugrad.__version__}, numpy {np.__version__} ({blas_info()}), python {platform.python_version()}")
    print(f"PyTorch: {W.torch.__version__ if W.torch is not None else 'not installed (ratios vs PyTorch skipped)'}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; medians of {rounds} interleaved rounds\n")

    all_work: list[W.Workload] = [
        W.RegressionStep(),
        W.OpChain(200, 16, "op chain (200 ops, 16 elements)", {"torch": 0.5}),
        W.OpChain(20000, 4, "deep chain (20,000 ops, 4 elements)", {"numpy": 2.0}),
    ]
    if W.pnn is not None:
        all_work += [W.MLPStep(), W.OptimizerStep()]
    all_work += op_kinds.workloads()  # one row per kind of op: the worst case is what users meet
    results: dict[str, Any] = {"blas": blas_info(), "workloads": {}}
    failed: list[str] = []
    for work in all_work:
        if args.only and args.only not in work.name:
            continue
        med = time_impls(work, rounds, min_time)
        per = work.per
        print(f"{work.name}  (time per {work.unit})")
        for impl, t in med.items():
            ratios = "".join(f"   {t / med[o]:5.2f}x {o}" for o in med if o != impl and impl == "plugrad")
            print(f"  {impl:8s} {fmt_time(t / per)}{ratios}")
        entry = {impl: t / per for impl, t in med.items()}
        for other, limit in work.targets.items():
            if other in med:
                ratio = med["plugrad"] / med[other]
                ok = ratio <= limit
                print(f"  target plugrad <= {limit}x {other}: {ratio:.2f}x  {'MET' if ok else 'NOT MET'}")
                entry[f"ratio_vs_{other}"] = ratio
                if not ok:
                    failed.append(f"{work.name} vs {other}")
        results["workloads"][work.name] = entry
        print()

    if W.pnn is not None and (not args.only or "memory" in args.only):
        batch = 2048
        print(f"peak memory growth of one MLP step, batch {batch}")
        mem: dict[str, float] = {}
        for impl in ["numpy", "plugrad"] + (["torch"] if W.torch is not None else []):
            m = memory_growth(impl, batch)
            if m is not None:
                mem[impl] = m
                print(f"  {impl:8s} {m / 1e6:8.1f} MB")
        if "numpy" in mem and "plugrad" in mem:
            ratio = mem["plugrad"] / mem["numpy"]
            ok = ratio <= 1.2
            print(f"  target plugrad <= 1.2x numpy: {ratio:.2f}x  {'MET' if ok else 'NOT MET'}")
            if not ok:
                failed.append("memory")
        results["memory_bytes"] = mem

    kinds = {k: v for k, v in results["workloads"].items() if k.startswith("op kind ")}
    if kinds:
        print("per-op cost by kind (forward + backward, per op)")
        print(f"  {'kind':10s} {'numpy':>11s} {'plugrad':>11s} {'torch':>11s}  plugrad/torch  plugrad/numpy")
        for k, v in kinds.items():
            tv = fmt_time(v["torch"]) if "torch" in v else "          -"
            rt = f"{v['plugrad'] / v['torch']:12.2f}x" if "torch" in v else "            -"
            print(
                f"  {k[8:]:10s} {fmt_time(v['numpy'])} {fmt_time(v['plugrad'])} {tv} {rt} {v['plugrad'] / v['numpy']:13.2f}x"
            )
        if all("torch" in v for v in kinds.values()):
            worst = max(kinds, key=lambda k: kinds[k]["plugrad"] / kinds[k]["torch"])
            print(f"  worst kind vs torch: {worst[8:]} {kinds[worst]['plugrad'] / kinds[worst]['torch']:.2f}x")
        print()

    if not args.only or "dataloader" in args.only:  # plugrad.utils.data (benchmarks/dataloader.py)
        import dataloader

        results["dataloader"] = dataloader.run(rounds)
        failed += [
            f"dataloader {k} vs torch"
            for k, v in results["dataloader"].items()
            if v.get("ratio_vs_torch", 0) > dataloader.TARGET
        ]
        print()

    # the char-level GPT's training step (benchmarks/gpt.py)
    if W.pnn is not None and (not args.only or "gpt" in args.only):
        import gpt

        results["gpt"] = gpt.run(rounds)
        if results["gpt"].get("ratio_vs_torch", 0) > gpt.TARGET:
            failed.append("gpt step vs torch")
        print()

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"\nresults written to {args.json}")
    if failed:
        print("targets not met: " + ", ".join(failed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
