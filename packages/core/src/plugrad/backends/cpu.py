"""``plugrad.backends.cpu``: what the CPU offers."""

from __future__ import annotations

import functools

__all__ = ["get_cpu_capability"]


@functools.cache
def get_cpu_capability() -> str:
    """The widest vector instruction set of this CPU, named as PyTorch names it.

    ``"AVX512"`` or ``"AVX2"`` on x86-64 (read from ``/proc/cpuinfo`` where it exists),
    ``"DEFAULT"`` elsewhere or when it cannot be told.
    """
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "DEFAULT"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
                        return "AVX512"
                    if "avx2" in flags:
                        return "AVX2"
                    break
    except OSError:
        pass
    return "DEFAULT"
