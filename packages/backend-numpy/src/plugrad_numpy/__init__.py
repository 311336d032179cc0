"""The NumPy backend of plugrad (device type ``cpu``)."""

from __future__ import annotations

from .kernels import DTYPES, KERNELS

__all__ = ["KERNELS", "DTYPES"]
__version__ = "0.1.0"
