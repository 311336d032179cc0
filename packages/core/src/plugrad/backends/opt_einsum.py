"""``plugrad.backends.opt_einsum``: PyTorch's switch for contraction-order optimisation in einsum."""

from __future__ import annotations

import importlib.util
from typing import Any

from ._flags import make_flag_module

__all__ = ["enabled", "strategy", "is_available", "get_opt_einsum"]

_FLAGS = {"enabled": "set_enabled_opt_einsum"}

#: Whether einsum may use opt_einsum to order contractions (PyTorch's default: ``True``).
enabled: bool = True
#: The opt_einsum strategy (``"auto"``, ``"greedy"`` or ``"optimal"``); ``None`` when unavailable, as PyTorch.
strategy: str | None = "auto" if importlib.util.find_spec("opt_einsum") is not None else None


def is_available() -> bool:
    """Whether the ``opt_einsum`` package is installed."""
    return importlib.util.find_spec("opt_einsum") is not None


def get_opt_einsum() -> Any:
    """The ``opt_einsum`` module when installed, else ``None``."""
    if not is_available():
        return None
    return importlib.import_module("opt_einsum")


make_flag_module(__name__)
