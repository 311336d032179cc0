"""``plugrad.utils``: utilities laid out as ``torch.utils`` (``plugrad.utils.data`` for datasets and loaders).

``plugrad.utils.data`` is loaded on first use, so ``import plugrad.utils`` stays cheap.
The package path is extended (``pkgutil.extend_path``) so that other distributions can
ship more ``plugrad.utils`` subpackages, as nn and optim do under ``plugrad``.
"""

from __future__ import annotations

import importlib
from pkgutil import extend_path
from types import ModuleType

__path__ = extend_path(__path__, __name__)

__all__ = ["data"]


def __getattr__(name: str) -> ModuleType:
    if name == "data":
        return importlib.import_module(f"{__name__}.data")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
