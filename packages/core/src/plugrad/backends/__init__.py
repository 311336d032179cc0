"""The backend contract: hookspecs, records, kernel catalogue and registry."""

from __future__ import annotations

from ._registry import (
    Backend,
    BackendError,
    BackendInfo,
    PluginWarning,
    default_backend,
    get_backend,
    get_registry,
)
from ._spec import CONTRACT_VERSION, KERNELS, OPTIONAL_KERNELS, REQUIRED_KERNELS, BackendSpec, KernelOverride
from .hookspecs import hookimpl, hookspec

__all__ = [
    "Backend",
    "BackendError",
    "BackendInfo",
    "BackendSpec",
    "CONTRACT_VERSION",
    "KERNELS",
    "KernelOverride",
    "OPTIONAL_KERNELS",
    "PluginWarning",
    "REQUIRED_KERNELS",
    "default_backend",
    "get_backend",
    "get_registry",
    "hookimpl",
    "hookspec",
]
