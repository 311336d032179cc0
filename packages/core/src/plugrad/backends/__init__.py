"""``plugrad.backends``: PyTorch's switches, as ``torch.backends`` lays them out.

- :mod:`plugrad.backends.cudnn`: ``enabled``, ``benchmark``, ``deterministic``,
  ``allow_tf32``, ``is_available()``, ``version()``;
- :mod:`plugrad.backends.cuda`: ``matmul.allow_tf32``,
  ``matmul.allow_fp16_reduced_precision_reduction``, the attention-kernel switches;
- :mod:`plugrad.backends.mps`, :mod:`plugrad.backends.mkldnn`,
  :mod:`plugrad.backends.opt_einsum`, :mod:`plugrad.backends.cpu`.

The flags are accepted and checked on every machine, so a program that sets
``plugrad.backends.cudnn.benchmark = True`` runs on a CPU.

The kernel-plugin registry that used to be published here (``hookimpl``, ``BackendSpec``,
``get_registry`` ...) lives in :mod:`plugrad.plugins`. Reading one of those names from
``plugrad.backends`` still works and emits a ``DeprecationWarning`` naming the new home.
The implementation modules (``plugrad.backends.hookspecs``, ``array_api``, ``_registry``,
``_spec``) stay where they are.
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING, Any

from . import cpu, cuda, cudnn, mkldnn, mps, opt_einsum

__all__ = ["cpu", "cuda", "cudnn", "mkldnn", "mps", "opt_einsum"]

if TYPE_CHECKING:  # the moved names, for type checkers; at run time __getattr__ serves them, with a warning
    from ..plugins import *  # noqa: F403

#: Names of :mod:`plugrad.plugins` that are submodules here, not moved names.
_SUBMODULES = frozenset({"array_api", "hookspecs"})


def _moved_names() -> list[str]:
    """The registry names that moved to :mod:`plugrad.plugins` (its ``__all__`` is the source)."""
    from .. import plugins

    return [n for n in plugins.__all__ if n not in _SUBMODULES]


def _caller_is_plugrad() -> bool:
    """Whether the code reading the name is plugrad's own (which is not warned)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name.startswith("importlib") or name == __name__):
            return bool(name == "plugrad" or name.startswith("plugrad."))
        frame = frame.f_back  # type: ignore[assignment]
    return False


def __getattr__(name: str) -> Any:
    if name.startswith("_") or name in _SUBMODULES or name not in _moved_names():
        raise AttributeError(f"module 'plugrad.backends' has no attribute '{name}'")
    if not _caller_is_plugrad():
        warnings.warn(
            f"plugrad.backends.{name} is deprecated: the plugin registry moved to plugrad.plugins; "
            f"use plugrad.plugins.{name} (plugrad.backends now holds PyTorch's switches, as torch.backends)",
            DeprecationWarning,
            stacklevel=2,
        )
    from .. import plugins

    return getattr(plugins, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_moved_names()))
