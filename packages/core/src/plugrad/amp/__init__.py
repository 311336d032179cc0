"""``plugrad.amp``: automatic mixed precision, as ``torch.amp``.

- :class:`autocast` (``plugrad.autocast``): a context manager and decorator that lets
  matrix products run in a lower precision (``float16`` on CUDA, ``bfloat16`` on the CPU);
- :class:`GradScaler`: dynamic loss scaling, so that small float16 gradients do not
  underflow; it works on every device.

On the CPU, autocast needs a backend with ``bfloat16`` (or ``float16`` when asked for);
where the default backend has neither it is a documented no-op, said once per process
by a ``UserWarning`` (``docs/pytorch-habits.md``).
"""

from __future__ import annotations

from .autocast_mode import (
    autocast,
    autocast_inputs,
    get_autocast_dtype,
    is_autocast_available,
    is_autocast_enabled,
)
from .grad_scaler import GradScaler, OptState

__all__ = [
    "GradScaler",
    "OptState",
    "autocast",
    "autocast_inputs",
    "get_autocast_dtype",
    "is_autocast_available",
    "is_autocast_enabled",
]
