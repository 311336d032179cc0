"""The backend contract: hookspecs, records, kernel catalogue and registry.

A backend is a plugin found through the ``plugrad`` entry-point group; see
``docs/writing-a-backend.md`` and :mod:`plugrad.backends.hookspecs`. Building a kernel
table over any array-API namespace takes a few lines with
:func:`plugrad.backends.array_api.kernels_from_namespace`.
"""

from __future__ import annotations

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
    "check_contract_version",
    "core_version",
    "default_backend",
    "get_backend",
    "get_registry",
    "hookimpl",
    "hookspec",
]
