"""Per-kernel cost of the NumPy backend: the generic array-API kernel vs the backend's fast path.

    python benchmarks/kernel_timing.py                 # adapter vs plugrad_numpy's table
    python benchmarks/kernel_timing.py --against F.py  # ... and a third table: F.py's KERNELS (e.g. an old kernels.py)

The NumPy backend is ``kernels_from_namespace(numpy)`` plus a named set of fast paths
(``plugrad_numpy/kernels.py``); this prints what each fast path wins, in ns per call on
a (16,) float32 array (a (4, 4) one for matmul and layout kernels), best of interleaved
rounds so that the machine's slow spells hit every table alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import timeit
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from plugrad.backends.array_api import kernels_from_namespace
from plugrad_numpy.kernels import KERNELS

f32 = np.dtype("float32")
x = np.linspace(0.1, 0.9, 16, dtype=f32)
y = np.linspace(0.2, 1.0, 16, dtype=f32)
m44 = np.ones((4, 4), f32)
x0 = np.asarray(np.float32(0.5))
mask = x > 0.5
i64 = np.arange(16, dtype=np.int64)

#: case name -> (kernel, args, kwargs)
CASES: dict[str, tuple[str, tuple[Any, ...], dict[str, Any]]] = {
    "add": ("add", (x, y), {}),
    "add (python scalar)": ("add", (x, 2.0), {}),
    "multiply (0-d)": ("multiply", (x0, x0), {}),
    "divide": ("divide", (x, y), {}),
    "pow": ("pow", (x, y), {}),
    "exp": ("exp", (x,), {}),
    "tanh": ("tanh", (x,), {}),
    "greater": ("greater", (x, y), {}),
    "where": ("where", (mask, x, y), {}),
    "clip": ("clip", (x, 0.2, 0.8), {}),
    "sum": ("sum", (x, None, False), {}),
    "sum (axis)": ("sum", (m44, (0,), False), {}),
    "max": ("max", (x, None, False), {}),
    "mean": ("mean", (x, None, False), {}),
    "argmax": ("argmax", (x, None, False), {}),
    "matmul": ("matmul", (m44, m44), {}),
    "reshape": ("reshape", (m44, (16,)), {}),
    "reshape (copy=False)": ("reshape", (m44, (16,)), {"copy": False}),
    "permute_dims": ("permute_dims", (m44, (1, 0)), {}),
    "astype": ("astype", (x, np.dtype("float64")), {}),
    "copy": ("copy", (m44,), {}),
    "getitem (int)": ("getitem", (m44, (1,)), {}),
    "setitem": ("setitem", (m44.copy(), (1,), 2.0), {}),
    "index_add": ("index_add", (np.zeros(16, f32), (i64,), x), {}),
    "copy_into": ("copy_into", (m44.copy(), m44), {}),
    "sort": ("sort", (x,), {"axis": -1, "descending": False, "stable": True}),
    "tolist": ("tolist", (x,), {}),
    "to_bytes": ("to_bytes", (x,), {}),
    "random_uniform": ("random_uniform", ((16,), f32), {}),
}


def load(path: str) -> dict[str, Callable[..., Any]]:
    spec = importlib.util.spec_from_file_location("kernels_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.KERNELS  # type: ignore[no-any-return]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--against", help="a kernels.py whose KERNELS table is timed too (e.g. from an older commit)")
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    tables = {"adapter": kernels_from_namespace(np), "numpy backend": dict(KERNELS)}
    if args.against:
        tables["against"] = load(args.against)
    warnings.simplefilter("ignore")
    names = list(tables)
    print(f"{'ns per call':22s}" + "".join(f"{n:>15s}" for n in names))
    for case, (kernel, call_args, kwargs) in CASES.items():
        fns = {n: t[kernel] for n, t in tables.items() if kernel in t}
        timers = {n: timeit.Timer(lambda fn=fn, a=call_args, k=kwargs: fn(*a, **k)) for n, fn in fns.items()}
        best = dict.fromkeys(timers, float("inf"))
        for _ in range(args.rounds):
            for n, timer in timers.items():
                best[n] = min(best[n], timer.timeit(2000) / 2000 * 1e9)
        print(f"{case:22s}" + "".join(f"{best[n]:15.0f}" if n in best else f"{'-':>15s}" for n in names))


if __name__ == "__main__":
    main()
