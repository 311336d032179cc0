"""``plugrad.plugins``: the plugin contract and registry (hookspecs, records, kernel catalogue).

A backend is a plugin found through the ``plugrad`` entry-point group; see
``docs/writing-a-backend.md`` and :mod:`plugrad.backends.hookspecs`. Building a kernel
table over any array-API namespace takes a few lines with
:func:`plugrad.backends.array_api.kernels_from_namespace` (also reachable as
``plugrad.plugins.array_api``).

These names were published as ``plugrad.backends.*`` before ``plugrad.backends`` became
PyTorch's switches (``plugrad.backends.cudnn`` ...); the old spelling still works with a
``DeprecationWarning``.
"""

from __future__ import annotations

from .backends import array_api, hookspecs
from .backends._registry import (
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
from .backends._spec import (
    CAPABILITIES,
    CONTRACT_VERSION,
    KERNELS,
    OPTIONAL_KERNELS,
    REQUIRED_KERNELS,
    BackendSpec,
    KernelOverride,
    check_contract_version,
)
from .backends.hookspecs import hookimpl, hookspec

__all__ = [
    "Backend",
    "BackendError",
    "BackendInfo",
    "BackendSpec",
    "CAPABILITIES",
    "CONTRACT_VERSION",
    "KERNELS",
    "KernelOverride",
    "OPTIONAL_KERNELS",
    "OverrideInfo",
    "PluginWarning",
    "REQUIRED_KERNELS",
    "Registry",
    "array_api",
    "check_contract_version",
    "core_version",
    "default_backend",
    "get_backend",
    "get_registry",
    "hookimpl",
    "hookspec",
    "hookspecs",
]
