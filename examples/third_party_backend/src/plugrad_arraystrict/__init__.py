"""plugrad-backend-arraystrict: plugrad tensors on array-api-strict (device name ``arraystrict``)."""

from __future__ import annotations

__version__ = "0.1.0"
