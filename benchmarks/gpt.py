"""The character-level GPT's training step (examples/char_gpt.py, default config): plugrad vs PyTorch CPU eager.

    python benchmarks/gpt.py                # 7 interleaved rounds
    python benchmarks/gpt.py --quick        # 3 rounds
    python benchmarks/gpt.py --profile      # and where plugrad's step spends its time (cProfile)

Both sides run the same program: examples/char_gpt.py is loaded once as it is (plugrad
imported under the name ``torch``) and once with its three framework import lines
swapped for PyTorch's. Each gets the same configuration (2 layers, 4 heads, width 64,
context 64, batch 32; AdamW) and the same batch of characters. One timing unit is a
full training step (forward, cross entropy, ``zero_grad``, backward, ``AdamW.step``).
Rounds run the implementations in rotating order; the median per step is reported with
plugrad's ratio to PyTorch (target: at most 1.3x). ``benchmarks/run.py`` runs this too.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import os
import pstats
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "char_gpt.py"
TARGET = 1.3
PLUGRAD_IMPORTS = (
    "import plugrad as torch\nfrom plugrad import nn, optim\nfrom plugrad.nn import functional as F\n",
    "import torch\nfrom torch import nn, optim\nfrom torch.nn import functional as F\n",
)


def load_example(framework: str) -> ModuleType:
    """examples/char_gpt.py as a module, importing ``framework`` ("plugrad" or "torch")."""
    source = EXAMPLE.read_text(encoding="utf-8")
    if PLUGRAD_IMPORTS[0] not in source:
        raise RuntimeError(f"{EXAMPLE}: the framework import block changed; update benchmarks/gpt.py")
    if framework == "torch":
        source = source.replace(*PLUGRAD_IMPORTS)
    module = ModuleType(f"char_gpt_{framework}")
    module.__file__ = str(EXAMPLE)
    sys.modules[module.__name__] = module  # dataclass/typing lookups find the module
    exec(compile(source, str(EXAMPLE), "exec"), module.__dict__)
    return module


def setup(framework: str) -> tuple[Any, Any]:
    """A step function for ``framework`` on a fixed batch, and the example module."""
    ex = load_example(framework)
    args = ex.parse_args([])
    ex.torch.manual_seed(0)
    text, chars = ex.load_text(ex.DATA)
    stoi = {c: i for i, c in enumerate(chars)}
    data = ex.torch.tensor([stoi[c] for c in text], dtype=ex.torch.long)
    model, optimizer = ex.build(args, len(chars))
    x, y = ex.get_batch(data, args.block_size, args.batch_size, args.device)

    def step() -> float:
        return ex.train_step(model, optimizer, x, y)  # type: ignore[no-any-return]

    return step, ex


def time_steps(step: Any, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def run(rounds: int = 7, steps_per_round: int = 5) -> dict[str, Any]:
    impls: dict[str, Any] = {"plugrad": setup("plugrad")[0]}
    if importlib.util.find_spec("torch") is not None:
        impls["torch"] = setup("torch")[0]
        import torch

        if os.environ.get("OMP_NUM_THREADS"):
            torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        threads = torch.get_num_threads()
    else:
        threads = None
    for step in impls.values():  # warm up (first calls build caches)
        time_steps(step, 2)
    samples: dict[str, list[float]] = {k: [] for k in impls}
    order = list(impls)
    for r in range(rounds):
        for name in order[r % len(order) :] + order[: r % len(order)]:
            samples[name].append(time_steps(impls[name], steps_per_round))
    med = {k: statistics.median(v) for k, v in samples.items()}
    print("char-level GPT training step (examples/char_gpt.py defaults; time per step)")
    if threads is not None:
        print(f"  PyTorch intra-op threads: {threads}")
    for name, t in med.items():
        print(f"  {name:8s} {t * 1e3:9.2f} ms   (rounds: {', '.join(f'{s * 1e3:.1f}' for s in samples[name])})")
    result: dict[str, Any] = {k: v for k, v in med.items()}
    if "torch" in med:
        ratio = med["plugrad"] / med["torch"]
        result["ratio_vs_torch"] = ratio
        print(f"  target plugrad <= {TARGET}x torch: {ratio:.2f}x  {'MET' if ratio <= TARGET else 'NOT MET'}")
    return result


def profile(steps: int = 10, top: int = 25) -> None:
    """cProfile plugrad's step: the top functions, then time grouped by where it is spent."""
    step, _ = setup("plugrad")
    time_steps(step, 2)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    print(out.getvalue())
    groups: dict[str, float] = defaultdict(float)
    for (filename, _line, func), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "plugrad_numpy" in filename and "kernels" in filename:
            key = f"backend kernel {func}"
        elif "plugrad_numpy" in filename:
            key = "backend (other)"
        elif "numpy" in filename or filename.startswith("~") or filename == "<built-in>":
            key = "numpy / builtins"
        elif "/autograd/" in filename:
            key = "core autograd (graph, engine)"
        elif "/plugrad/optim/" in filename:
            key = "optim"
        elif "/plugrad/nn/" in filename:
            key = "nn (layers, functional)"
        elif "/plugrad/" in filename:
            key = "core ops and tensor"
        else:
            key = "other"
        groups[key] += tottime
    total = sum(groups.values())
    print(f"where plugrad's step spends its time ({steps} steps, {1e3 * total / steps:.1f} ms per step profiled)")
    for key, t in sorted(groups.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {key:40s} {1e3 * t / steps:8.2f} ms  {100 * t / total:5.1f} %")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    p.add_argument("--profile", action="store_true", help="also profile plugrad's step")
    p.add_argument(
        "--threads",
        type=int,
        help="BLAS/OpenMP threads for both sides (set before NumPy and PyTorch load; default: their own)",
    )
    args = p.parse_args(argv)
    if args.threads is not None:
        if "numpy" in sys.modules or "torch" in sys.modules:
            print("--threads: NumPy or PyTorch is already loaded; the setting may not apply", file=sys.stderr)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    run(3 if args.quick else 7)
    if args.profile:
        print()
        profile()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
