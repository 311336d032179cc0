"""Subpackages reachable as attributes of ``plugrad``, imported on first use (PEP 562).

``import plugrad`` stays light: ``plugrad.nn``, ``plugrad.optim``, ``plugrad.utils``,
``plugrad.distributed`` ... are imported the first time a program touches them, as
``import torch; torch.nn.Linear(...)`` expects. Some of them ship in their own
distribution; when that distribution is not installed, the ``AttributeError`` says which
one to ``pip install``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["ATTRIBUTES", "SUBMODULES", "load", "load_submodule", "names"]

#: Attribute name -> the distribution that ships ``plugrad.<name>`` (``None``: plugrad-core).
SUBMODULES: dict[str, str | None] = {
    "nn": "plugrad-nn",
    "optim": "plugrad-optim",
    "distributed": "plugrad-distributed",
    "utils": None,
    "autograd": None,
    "amp": None,
    "backends": None,
    "compiler": None,
    "cpu": None,
    "cuda": None,
    "func": None,
    "linalg": None,
    "onnx": None,
    "plugins": None,
    "return_types": None,
    "serialization": None,
    "special": None,
    "testing": None,
    "types": None,
}


#: Attribute name -> (module, name in it): functions and classes of ``plugrad`` that live in
#: modules kept out of ``import plugrad``'s path.
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "autocast": ("plugrad.amp", "autocast"),
    "set_float32_matmul_precision": ("plugrad.backends._flags", "set_float32_matmul_precision"),
    "get_float32_matmul_precision": ("plugrad.backends._flags", "get_float32_matmul_precision"),
    "compile": ("plugrad._compile", "compile"),
}


def names() -> list[str]:
    """Every name :func:`load` knows, for ``dir(plugrad)``."""
    return sorted({*SUBMODULES, *ATTRIBUTES})


def load(name: str) -> object:
    """``plugrad.<name>`` for a lazily loaded subpackage or attribute (``AttributeError`` otherwise)."""
    target = ATTRIBUTES.get(name)
    if target is None:
        return load_submodule(name)
    import sys

    value = getattr(importlib.import_module(target[0]), target[1])
    setattr(sys.modules["plugrad"], name, value)  # later lookups skip __getattr__
    return value


def load_submodule(name: str) -> ModuleType:
    """Import and return ``plugrad.<name>``; ``AttributeError`` when it is unknown or not installed.

    A subpackage that is installed but fails inside (one of its own dependencies is
    missing) raises that error unchanged, so the real cause is not hidden.
    """
    if name not in SUBMODULES:
        raise AttributeError(f"module 'plugrad' has no attribute '{name}'")
    full = f"plugrad.{name}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name != full:
            raise
        dist = SUBMODULES[name]
        if dist is None:
            raise AttributeError(
                f"module 'plugrad' has no attribute '{name}' ({full} is not part of this plugrad-core installation)"
            ) from None
        raise AttributeError(
            f"module 'plugrad' has no attribute '{name}': {full} ships in the distribution {dist!r}, "
            f"which is not installed; install it with `pip install {dist}`"
        ) from None
