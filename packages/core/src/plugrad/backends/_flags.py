"""Process-wide switches behind ``plugrad.set_float32_matmul_precision`` and ``plugrad.backends.*``.

They are flags that PyTorch programs set at their top. plugrad records and returns them
exactly as PyTorch does; kernels that can use reduced precision (none on the CPU today)
read them from here.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["FlagModule", "get_float32_matmul_precision", "set_float32_matmul_precision"]

_PRECISIONS = ("highest", "high", "medium")


class _State:
    float32_matmul_precision: str = "highest"


STATE = _State()


def set_float32_matmul_precision(precision: str) -> None:
    """Set the internal precision of float32 matrix multiplications, as ``torch.set_float32_matmul_precision``.

    ``"highest"`` (the default) computes in float32; ``"high"`` allows TensorFloat-32 (or
    two bfloat16 passes) and ``"medium"`` bfloat16 where a backend supports it. plugrad's CPU
    backends always compute in full float32; the value is kept for kernels that can use it
    and is mirrored by ``plugrad.backends.cuda.matmul.allow_tf32``. An unknown string is
    ignored with PyTorch's warning; a non-string raises ``RuntimeError``.
    """
    if not isinstance(precision, str):
        raise RuntimeError(f"set_float32_matmul_precision expects a str, but got {type(precision).__name__}")
    if precision not in _PRECISIONS:
        import warnings

        warnings.warn(
            f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
            "setFloat32MatmulPrecision call has no effect.",
            UserWarning,
            stacklevel=2,
        )
        return
    STATE.float32_matmul_precision = precision


def get_float32_matmul_precision() -> str:
    """The value set by :func:`set_float32_matmul_precision` (``"highest"`` by default)."""
    return STATE.float32_matmul_precision


def check_bool(setter: str, value: object) -> bool:
    """PyTorch's check for boolean flags: ``RuntimeError`` naming the setter and the type."""
    if not isinstance(value, bool):
        raise RuntimeError(f"{setter} expects a bool, but got {type(value).__name__}")
    return value


class FlagModule(types.ModuleType):
    """A module whose boolean flags are checked on assignment (``cudnn.benchmark = "yes"`` raises).

    A flag module lists its flags in ``_FLAGS`` (name -> PyTorch's setter name for errors).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        flags: dict[str, str] = self.__dict__.get("_FLAGS", {})
        if name in flags:
            value = check_bool(flags[name], value)
        super().__setattr__(name, value)


def make_flag_module(name: str) -> None:
    """Turn the module ``name`` into a :class:`FlagModule` (called at the end of each flag module)."""
    sys.modules[name].__class__ = FlagModule


@contextmanager
def temporary_flags(module: types.ModuleType, **values: Any) -> Iterator[None]:
    """Set some flags of ``module`` for the duration of a ``with`` block (``None`` leaves one alone)."""
    old = {k: getattr(module, k) for k, v in values.items() if v is not None}
    try:
        for k, v in values.items():
            if v is not None:
                setattr(module, k, v)
        yield
    finally:
        for k, v in old.items():
            setattr(module, k, v)
