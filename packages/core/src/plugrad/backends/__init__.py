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
    from ._registry import (
        Backend,
        BackendError,
        BackendInfo,
        OverrideInfo,
        PluginWarning,
        Registry,
        core_version,
        default_backend,
        get_backend,
        get_registry,
    )
    from ._spec import (
        CAPABILITIES,
        CONTRACT_VERSION,
        KERNELS,
        OPTIONAL_KERNELS,
        REQUIRED_KERNELS,
        BackendSpec,
        KernelOverride,
        check_contract_version,
    )
    from .hookspecs import hookimpl, hookspec

    __all__ += [
        "Backend",
        "BackendError",
        "BackendInfo",
        "OverrideInfo",
        "PluginWarning",
        "Registry",
        "core_version",
        "default_backend",
        "get_backend",
        "get_registry",
        "CAPABILITIES",
        "CONTRACT_VERSION",
        "KERNELS",
        "OPTIONAL_KERNELS",
        "REQUIRED_KERNELS",
        "BackendSpec",
        "KernelOverride",
        "check_contract_version",
        "hookimpl",
        "hookspec",
    ]


#: Registry names that moved to :mod:`plugrad.plugins` -> the private module defining them.
_MOVED: dict[str, str] = {
    **dict.fromkeys(
        (
            "Backend",
            "BackendError",
            "BackendInfo",
            "OverrideInfo",
            "PluginWarning",
            "Registry",
            "core_version",
            "default_backend",
            "get_backend",
            "get_registry",
        ),
        "plugrad.backends._registry",
    ),
    **dict.fromkeys(
        (
            "CAPABILITIES",
            "CONTRACT_VERSION",
            "KERNELS",
            "OPTIONAL_KERNELS",
            "REQUIRED_KERNELS",
            "BackendSpec",
            "KernelOverride",
            "check_contract_version",
        ),
        "plugrad.backends._spec",
    ),
    "hookimpl": "plugrad.backends.hookspecs",
    "hookspec": "plugrad.backends.hookspecs",
}


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
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module 'plugrad.backends' has no attribute '{name}'")
    if not _caller_is_plugrad():
        warnings.warn(
            f"plugrad.backends.{name} is deprecated: the plugin registry moved to plugrad.plugins; "
            f"use plugrad.plugins.{name} (plugrad.backends now holds PyTorch's switches, as torch.backends)",
            DeprecationWarning,
            stacklevel=2,
        )
    return getattr(sys.modules[module] if module in sys.modules else __import__(module, fromlist=["_"]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MOVED))
