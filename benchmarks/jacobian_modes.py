"""What does a full Jacobian cost by forward mode, reverse mode and numeric differences?

The seed says of automatic differentiation: "Forward-mode is similar to numeric
differentiation. It requires one pass per parameter and will not scale to complex
networks." This script measures it. For ``f: R^n -> R^m``, a small MLP

    f(x) = W2 @ tanh(W1 @ x + b1),   hidden width 64,

it times the full ``m x n`` Jacobian three ways, sweeping ``n`` with ``m`` fixed and
``m`` with ``n`` fixed:

- forward mode, ``jacobian(f, x, strategy="forward-mode")``: one pass with dual tensors
  per input (``n`` passes);
- reverse mode, ``jacobian(f, x)``: one forward pass, then one backward pass per output
  (``m`` passes);
- numeric central differences: two plain evaluations of ``f`` per input (``2n``).

It checks that the three agree, prints a table, and (with matplotlib installed) writes
the plot ``docs/img/jacobian_modes.png``. Not a unit test: timings depend on the
machine.

    python benchmarks/jacobian_modes.py            # full sweep, writes the plot
    python benchmarks/jacobian_modes.py --quick    # smaller sweep, no plot unless --plot
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import plugrad
from plugrad.autograd.functional import jacobian

HIDDEN = 64
FIXED = 16  # the size held fixed in each sweep
SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256]
QUICK_SIZES = [1, 4, 16, 64]
PLOT = Path(__file__).resolve().parent.parent / "docs" / "img" / "jacobian_modes.png"


def make_mlp(n: int, m: int) -> Callable[[Any], Any]:
    """A fixed random two-layer MLP from R^n to R^m (float64)."""
    g = plugrad.manual_seed(n * 1000 + m)
    del g
    w1 = plugrad.randn(HIDDEN, n, dtype=plugrad.float64) / n**0.5
    b1 = plugrad.randn(HIDDEN, dtype=plugrad.float64) * 0.1
    w2 = plugrad.randn(m, HIDDEN, dtype=plugrad.float64) / HIDDEN**0.5

    def f(x: Any) -> Any:
        return w2 @ (w1 @ x + b1).tanh()

    return f


def numeric_jacobian(f: Callable[[Any], Any], x: Any, h: float = 1e-6) -> Any:
    """Central differences, one input coordinate at a time: 2n evaluations of f."""
    n = x.numel()
    cols = []
    with plugrad.no_grad():
        for j in range(n):
            e = plugrad.zeros(n, dtype=x.dtype)
            e[j] = h
            cols.append(((f(x + e) - f(x - e)) / (2 * h)).tolist())
    m = len(cols[0])
    return plugrad.tensor([[cols[j][i] for j in range(n)] for i in range(m)], dtype=x.dtype)


METHODS: dict[str, Callable[[Callable[[Any], Any], Any], Any]] = {
    "forward": lambda f, x: jacobian(f, x, strategy="forward-mode"),
    "reverse": lambda f, x: jacobian(f, x),
    "numeric": numeric_jacobian,
}


def seconds(fns: dict[str, Callable[[], Any]], rounds: int, min_time: float) -> dict[str, float]:
    """Best time of one call for each function, over ``rounds`` interleaved rounds.

    Every round runs each function for at least ``min_time``; the methods take turns,
    so that slow spells of a shared machine hit them alike, and the minimum over
    rounds is the least disturbed estimate.
    """
    best = dict.fromkeys(fns, float("inf"))
    for fn in fns.values():
        fn()  # warm up
    for _ in range(rounds):
        for name, fn in fns.items():
            calls, t0 = 0, time.perf_counter()
            while True:
                fn()
                calls += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= min_time:
                    break
            best[name] = min(best[name], elapsed / calls)
    return best


def max_abs_diff(a: Any, b: Any) -> float:
    return float((a - b).abs().max().item()) if a.numel() else 0.0


def sweep(axis: str, sizes: list[int], repeats: int, min_time: float) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        n, m = (size, FIXED) if axis == "n" else (FIXED, size)
        f = make_mlp(n, m)
        x = plugrad.randn(n, dtype=plugrad.float64)
        jacs = {name: method(f, x) for name, method in METHODS.items()}
        for name, jac in jacs.items():
            if tuple(jac.shape) != (m, n):
                raise SystemExit(f"{name} Jacobian has shape {tuple(jac.shape)}, expected {(m, n)}")
        row: dict[str, Any] = {"n": n, "m": m}
        row["fwd-rev"] = max_abs_diff(jacs["forward"], jacs["reverse"])
        row["num-rev"] = max_abs_diff(jacs["numeric"], jacs["reverse"])
        if row["fwd-rev"] > 1e-12 or row["num-rev"] > 1e-6:
            raise SystemExit(f"the Jacobians disagree at n={n}, m={m}: {row}")
        calls = {name: functools.partial(method, f, x) for name, method in METHODS.items()}
        row.update(seconds(calls, repeats, min_time))
        rows.append(row)
        print(
            f"{n:>5} {m:>5} {row['forward'] * 1e3:>11.2f} {row['reverse'] * 1e3:>11.2f} {row['numeric'] * 1e3:>11.2f}"
            f"  {row['forward'] / row['reverse']:>8.2f}   {row['fwd-rev']:.1e} {row['num-rev']:.1e}",
            flush=True,
        )
    return rows


def plot(by_n: list[dict[str, Any]], by_m: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot written", file=sys.stderr)
        return False
    style = {
        "forward": ("forward mode (n passes)", "tab:blue", "o"),
        "reverse": ("reverse mode (m passes)", "tab:orange", "s"),
        "numeric": ("central differences (2n evaluations)", "tab:green", "^"),
    }
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    for ax, rows, axis, fixed in ((axes[0], by_n, "n", "m"), (axes[1], by_m, "m", "n")):
        xs = [r[axis] for r in rows]
        for name, (label, color, marker) in style.items():
            ax.plot(xs, [r[name] * 1e3 for r in rows], marker=marker, color=color, label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(f"{'inputs' if axis == 'n' else 'outputs'} {axis}  ({fixed} = {FIXED} fixed)")
        ax.set_title(f"Jacobian of f: R^n -> R^m, sweeping {axis}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("time per full Jacobian (ms)")
    axes[0].legend(loc="upper left", fontsize=9)
    fig.suptitle(f"plugrad: forward vs reverse mode vs numeric differences (MLP, hidden width {HIDDEN}, float64)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and rounds")
    parser.add_argument("--plot", type=Path, default=None, help=f"where to write the plot (default {PLOT})")
    parser.add_argument("--no-plot", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    repeats, min_time = (3, 0.02) if args.quick else (9, 0.05)
    header = f"{'n':>5} {'m':>5} {'forward ms':>11} {'reverse ms':>11} {'numeric ms':>11}  {'fwd/rev':>8}   max |diff| (fwd, num vs rev)"
    print(f"Jacobian of an MLP R^n -> R^m (hidden {HIDDEN}); {FIXED} fixed; best of {repeats} interleaved rounds")
    print(f"\n-- sweeping n (inputs), m = {FIXED}\n{header}")
    by_n = sweep("n", sizes, repeats, min_time)
    print(f"\n-- sweeping m (outputs), n = {FIXED}\n{header}")
    by_m = sweep("m", sizes, repeats, min_time)
    if not args.no_plot and (args.plot is not None or not args.quick):
        plot(by_n, by_m, args.plot or PLOT)


if __name__ == "__main__":
    main()
