"""A second backend with another backend's kernels, for tests that mix devices."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from ..backends import CONTRACT_VERSION, BackendSpec, get_backend, get_registry, hookimpl


class _Twin:
    def __init__(self, name: str, base: str, priority: int) -> None:
        self.name = name
        self.base = base
        self.priority = priority

    @hookimpl
    def plugrad_backends(self) -> Sequence[BackendSpec]:
        spec = get_backend(self.base).spec
        return [
            BackendSpec(
                name=self.name,
                device_type=spec.device_type,
                contract_version=CONTRACT_VERSION,
                kernels=spec.kernels,
                dtypes=spec.dtypes,
                capabilities=spec.capabilities,
                array_types=spec.array_types,
                priority=self.priority,
            )
        ]


@contextlib.contextmanager
def twin_backend(name: str, base: str = "numpy", priority: int = -1) -> Iterator[str]:
    """Register, for the ``with`` block, a backend ``name`` that reuses ``base``'s kernels.

    Tensors on it are on another device than tensors on ``base``, so mixing the two must
    raise plugrad's "move one with ``.to(...)``" error: a way to test device handling
    without a second array library. A low ``priority`` keeps ``base`` the default.
    """
    reg = get_registry()
    plugin = f"plugrad-testing-twin-{name}"
    reg.add_plugin(_Twin(name, base, priority), plugin)
    try:
        yield name
    finally:
        reg.remove_plugin(plugin)
