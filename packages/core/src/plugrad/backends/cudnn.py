"""``plugrad.backends.cudnn``: PyTorch's cuDNN switches.

plugrad does not use cuDNN (its CUDA backend calls CuPy), so :func:`is_available` is
``False`` and :func:`version` is ``None``; the flags are accepted, checked (booleans
only, PyTorch's error otherwise) and kept, so ``plugrad.backends.cudnn.benchmark = True``
at the top of a program works on any machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._flags import make_flag_module, temporary_flags

__all__ = ["enabled", "benchmark", "benchmark_limit", "deterministic", "allow_tf32", "is_available", "version", "flags"]

_FLAGS = {
    "enabled": "set_enabled_cudnn",
    "benchmark": "set_benchmark_cudnn",
    "deterministic": "set_deterministic_cudnn",
    "allow_tf32": "set_allow_tf32_cudnn",
}

#: Whether cuDNN may be used (PyTorch's default: ``True``).
enabled: bool = True
#: Whether cuDNN may time several convolution algorithms and keep the fastest (default ``False``).
benchmark: bool = False
#: How many algorithms ``benchmark`` may try (PyTorch's default: 10).
benchmark_limit: int = 10
#: Whether cuDNN must pick deterministic algorithms (default ``False``).
deterministic: bool = False
#: Whether convolutions may use TensorFloat-32 (default ``True``).
allow_tf32: bool = True


def is_available() -> bool:
    """Whether cuDNN can be used: always ``False`` in plugrad."""
    return False


def version() -> int | None:
    """cuDNN's version, or ``None`` when it is not available (always, in plugrad)."""
    return None


def is_acceptable(tensor: Any) -> bool:
    """Whether cuDNN would handle ``tensor``: never in plugrad."""
    return False


@contextmanager
def flags(
    enabled: bool | None = False,
    benchmark: bool | None = False,
    benchmark_limit: int | None = 10,
    deterministic: bool | None = False,
    allow_tf32: bool | None = True,
) -> Iterator[None]:
    """Set the cuDNN flags inside a ``with`` block and restore them after."""
    import sys

    with temporary_flags(
        sys.modules[__name__],
        enabled=enabled,
        benchmark=benchmark,
        benchmark_limit=benchmark_limit,
        deterministic=deterministic,
        allow_tf32=allow_tf32,
    ):
        yield


make_flag_module(__name__)
