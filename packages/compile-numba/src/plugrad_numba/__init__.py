"""plugrad-compile-numba: the ``"numba"`` compiler of ``plugrad.compile``.

``plugrad.compile(fn, backend="numba")`` records a step of ``fn`` (forward, backward,
optimizer) as a program of NumPy kernel calls; this compiler fuses each group of
elementwise calls (``add``, ``multiply``, ``tanh``, ``sigmoid``, comparisons, ``where``,
``astype``, ...) over one shape into a single numba-jitted loop, keeps only the results
read outside the group, and replays the rest of the program as plugrad's default compiler
does. Kernels are cached by numba on disk, so a new process compiles nothing it compiled
before.

- :data:`stats`: counters of this process, among them ``stats.compile_seconds``, numba's
  own compile time (reported apart from plugrad's recording by benchmarks; also
  :func:`compile_seconds`); :func:`reset_stats` zeroes them.
- :data:`config`: group sizes and the cost model (see :class:`Config`).
- :func:`compile_program`: the compiler itself (what ``backend="numba"`` calls);
  :func:`fuse`: the rewritten program, for inspection.

Numerical results agree with eager NumPy within float tolerance (numba's ``exp``, ``tanh``
and friends may differ in the last bits); every result has exactly the dtype the NumPy
kernel gives. Unlike NumPy, a fused loop never warns about overflow or invalid values.
"""

from __future__ import annotations

from ._compiler import FUSED, compile_program, fuse
from ._fusion import Config, config
from ._jit import Stats, cache_dir, compile_seconds, reset_stats, stats

__all__ = [
    "compile_program",
    "fuse",
    "FUSED",
    "Config",
    "config",
    "Stats",
    "stats",
    "compile_seconds",
    "reset_stats",
    "cache_dir",
    "__version__",
]

__version__ = "0.1.0"
