"""The NumPy backend of plugrad (device type ``cpu``)."""

from __future__ import annotations

from .kernels import KERNELS, DTYPES

__all__ = ["KERNELS", "DTYPES"]
__version__ = "0.1.0"
