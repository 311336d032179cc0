"""``plugrad.device``: where a tensor lives, named as PyTorch names devices.

``"cpu"`` is the default CPU backend and ``"cuda"`` (``"cuda:0"``) the default GPU one;
any backend's own name is also a device (``plugrad.device("numpy")``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backends import Backend

__all__ = ["device", "device_of_backend", "backend_for_device"]


class device:  # noqa: N801 - PyTorch's name
    """A device: a ``type`` (``'cpu'``, ``'cuda'``, or a backend name) and an optional ``index``."""

    __slots__ = ("type", "index")

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002 - PyTorch's name
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, int) and not isinstance(type, bool):
            self.type, self.index = "cuda", type
            return
        if not isinstance(type, str):
            raise TypeError(f"device() received an invalid combination of arguments - got ({type!r})")
        name = type.strip()
        if ":" in name:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: {name}")
            name, _, idx = name.partition(":")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(idx)
        if not name or not (name.replace("_", "a").isalnum()):
            raise RuntimeError(f"Invalid device string: '{type}'")
        if index is not None and index < 0:
            raise RuntimeError(f"Device index must not be negative, got {index}")
        self.type = name
        self.index = index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, TypeError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __enter__(self) -> device:
        from . import _creation

        self._prev = _creation.get_default_device()  # type: ignore[attr-defined]
        _creation.set_default_device(self)
        return self

    def __exit__(self, *exc: object) -> None:
        from . import _creation

        _creation.set_default_device(self._prev)  # type: ignore[attr-defined]


def device_of_backend(backend: Backend) -> device:
    """The device a tensor of ``backend`` reports: its device type if it is that type's default."""
    cached = _DEVICE_CACHE.get(backend)
    if cached is None:
        from .backends import get_registry

        reg = get_registry()
        try:
            is_default = reg.for_device_type(backend.device_type) is backend
        except Exception:
            is_default = False
        if is_default:
            cached = device(backend.device_type, 0 if backend.device_type == "cuda" else None)
        else:
            cached = device(backend.name)
        _DEVICE_CACHE[backend] = cached
    return cached


_DEVICE_CACHE: dict[Any, device] = {}


def backend_for_device(dev: Any) -> Backend:
    """The backend a device (or device string, or backend name) stands for."""
    from .backends import Backend, get_registry

    if isinstance(dev, Backend):
        return dev
    d = device(dev)
    reg = get_registry()
    reg.ensure_loaded()
    if d.type in reg.backends or d.type in reg.infos:
        return reg.get(d.type)
    if d.type == "cpu" and reg._default is not None and reg._default.device_type == "cpu":
        return reg._default
    if d.type == "cpu":
        try:
            default = reg.default()
            if default.device_type == "cpu":
                return default
        except Exception:
            pass
    if d.type == "cuda" and d.index not in (None, 0):
        raise RuntimeError(f"CUDA error: invalid device ordinal (plugrad's CUDA backends use device 0, got {d})")
    return reg.for_device_type(d.type)
