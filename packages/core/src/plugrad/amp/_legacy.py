"""``plugrad.cuda.amp`` and ``plugrad.cpu.amp``: PyTorch's older spellings, deprecated as in PyTorch."""

from __future__ import annotations

import types
import warnings
from typing import Any

from .. import _dtype as D
from .autocast_mode import autocast as _autocast
from .grad_scaler import GradScaler as _GradScaler

__all__ = ["fill"]


def _cuda_autocast(enabled: bool = True, dtype: D.dtype = D.float16, cache_enabled: bool = True) -> _autocast:
    warnings.warn(
        "`plugrad.cuda.amp.autocast(args...)` is deprecated. Please use `plugrad.amp.autocast('cuda', args...)` instead.",
        FutureWarning,
        stacklevel=2,
    )
    return _autocast("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


def _cpu_autocast(enabled: bool = True, dtype: D.dtype | None = None, cache_enabled: bool = True) -> _autocast:
    warnings.warn(
        "`plugrad.cpu.amp.autocast(args...)` is deprecated. Please use `plugrad.amp.autocast('cpu', args...)` instead.",
        FutureWarning,
        stacklevel=2,
    )
    return _autocast("cpu", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


def _cuda_grad_scaler(
    init_scale: float = 2.0**16,
    growth_factor: float = 2.0,
    backoff_factor: float = 0.5,
    growth_interval: int = 2000,
    enabled: bool = True,
) -> _GradScaler:
    warnings.warn(
        "`plugrad.cuda.amp.GradScaler(args...)` is deprecated. Please use `plugrad.amp.GradScaler('cuda', args...)` instead.",
        FutureWarning,
        stacklevel=2,
    )
    return _GradScaler("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


def fill(mod: types.ModuleType) -> None:
    """Fill the lazily registered ``plugrad.cuda.amp`` or ``plugrad.cpu.amp`` module."""
    if mod.__name__ == "plugrad.cuda.amp":
        attrs: dict[str, Any] = {"autocast": _cuda_autocast, "GradScaler": _cuda_grad_scaler}
        mod.__doc__ = "Deprecated spellings: use plugrad.amp.autocast('cuda') and plugrad.amp.GradScaler('cuda')."
    else:
        attrs = {"autocast": _cpu_autocast, "GradScaler": _GradScaler}
        mod.__doc__ = "Deprecated spelling: use plugrad.amp.autocast('cpu')."
    for k, v in attrs.items():
        setattr(mod, k, v)
    mod.__all__ = sorted(attrs)  # type: ignore[attr-defined]
