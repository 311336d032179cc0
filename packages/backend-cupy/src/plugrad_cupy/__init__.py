"""The CuPy backend of plugrad (device type ``cuda``). Importing this package never imports CuPy."""

from __future__ import annotations

__version__ = "0.1.0"
