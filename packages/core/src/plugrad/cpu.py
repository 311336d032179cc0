"""``plugrad.cpu``: the CPU as a device, as ``torch.cpu``."""

from __future__ import annotations

import os

from ._lazy import lazy_module as _lazy_module

__all__ = ["is_available", "device_count", "current_device", "synchronize", "amp"]


def is_available() -> bool:
    """Whether the CPU can be used: always ``True``."""
    return True


def device_count() -> int:
    """The number of CPU devices: always 1."""
    return 1


def current_device() -> str:
    """The current CPU device, ``"cpu"``."""
    return "cpu"


def synchronize(device: object = None) -> None:
    """Wait for CPU work to finish: plugrad's CPU kernels are synchronous, so this returns at once."""


def _cpu_count() -> int:
    return os.cpu_count() or 1


#: ``plugrad.cpu.amp.autocast``: PyTorch's deprecated spelling of ``plugrad.amp.autocast("cpu")``.
amp = _lazy_module(__name__ + ".amp", "plugrad.amp._legacy")
amp.__doc__ = "Deprecated spelling: use plugrad.amp.autocast('cpu')."
