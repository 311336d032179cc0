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
from typing import Any

__all__ = ["ATTRIBUTES", "SUBMODULES", "lazy_module", "load", "load_submodule", "names"]

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
    "is_autocast_enabled": ("plugrad.amp", "is_autocast_enabled"),
    "get_autocast_dtype": ("plugrad.amp", "get_autocast_dtype"),
    "set_float32_matmul_precision": ("plugrad.backends._flags", "set_float32_matmul_precision"),
    "get_float32_matmul_precision": ("plugrad.backends._flags", "get_float32_matmul_precision"),
    "compile": ("plugrad._compile", "compile"),
    "vmap": ("plugrad.func", "vmap"),
}


def names() -> list[str]:
    """Every name :func:`load` knows, for ``dir(plugrad)``."""
    return sorted({*SUBMODULES, *ATTRIBUTES})


def load(name: str) -> Any:
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


class _LazyModule(ModuleType):
    """A module registered in ``sys.modules`` whose contents are filled on first attribute access."""

    def __getattr__(self, attr: str) -> object:
        filler = self.__dict__.pop("_plugrad_filler", None)
        if filler is not None:
            importlib.import_module(filler).fill(self)
            return getattr(self, attr)
        raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")


def lazy_module(name: str, filler: str) -> ModuleType:
    """Register the module ``name`` (``import name`` works at once); ``filler.fill(module)`` runs on first use.

    Used for ``plugrad.cuda.amp`` and ``plugrad.cpu.amp``, which live in plain modules'
    namespaces, without importing :mod:`plugrad.amp` at ``import plugrad``.
    """
    import sys

    found = sys.modules.get(name)
    if found is not None:
        return found
    mod = _LazyModule(name)
    mod.__dict__["_plugrad_filler"] = filler
    sys.modules[name] = mod
    return mod
