"""``plugrad.device``: where a tensor lives, named as PyTorch names devices.

``"cpu"`` is the CPU backend with the highest priority and ``"cuda"`` (``"cuda:0"``) the
GPU one with the highest priority; any backend's own name is also a device
(``plugrad.device("numpy")``). ``PLUGRAD_BACKEND=NAME`` makes backend ``NAME`` the default
for new tensors without rebinding ``"cpu"``: tensors on it print ``device='NAME'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backends import Backend

__all__ = ["device", "device_of_backend", "backend_for_device"]


class device:
    """A device: a ``type`` (``'cpu'``, ``'cuda'``, or a backend name) and an optional ``index``."""

    __slots__ = ("_prev", "index", "type")
    type: str
    index: int | None

    def __init__(self, type: Any, index: int | None = None) -> None:
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
                raise RuntimeError(
                    f"type (string) must not include an index because index was passed explicitly: {name}"
                )
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
        return bool(self.type == other.type and self.index == other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __enter__(self) -> device:
        from . import _creation

        self._prev = _creation._default_device.backend
        _creation.set_default_device(self)
        return self

    def __exit__(self, *exc: object) -> None:
        from . import _creation

        _creation._default_device.backend = self._prev


def device_of_backend(backend: Backend) -> device:
    """The device a tensor of ``backend`` reports.

    The backend that ``"cpu"`` (or ``"cuda"``, or its device type) stands for reports that
    device type (``cuda`` with index 0, as PyTorch does); any other backend reports its
    own name (``device(type='arraystrict')``).
    """
    from .backends import get_registry

    reg = get_registry()
    key = (backend, reg.generation)
    cached = _DEVICE_CACHE.get(key)
    if cached is None:
        try:
            is_default = _backend_for_type(reg, backend.device_type) is backend
        except Exception:
            is_default = False
        if is_default:
            cached = device(backend.device_type, 0 if backend.device_type == "cuda" else None)
        else:
            cached = device(backend.name)
        if len(_DEVICE_CACHE) > 64:
            _DEVICE_CACHE.clear()
        _DEVICE_CACHE[key] = cached
    return cached


_DEVICE_CACHE: dict[Any, device] = {}


def _backend_for_type(reg: Any, device_type: str) -> Backend:
    """The backend a bare device type stands for: the available backend of that type with the highest priority.

    ``PLUGRAD_BACKEND`` does not change it: ``"cpu"`` keeps meaning the CPU backend (as a
    PyTorch user expects), while ``PLUGRAD_BACKEND`` only picks where new tensors go by default.
    """
    return reg.for_device_type(device_type)  # type: ignore[no-any-return]


def backend_for_device(dev: Any) -> Backend:
    """The backend a device (or device string, or backend name) stands for.

    ``"cpu"`` is the available CPU backend with the highest priority (NumPy's, when
    installed), ``"cuda"``/``"cuda:0"`` the GPU backend with the highest priority, whatever
    ``PLUGRAD_BACKEND`` says (it only sets the default for new tensors); a backend's name
    is that backend. Raises
    :class:`plugrad.backends.BackendError` (a ``RuntimeError``) saying why when none fits.
    """
    from .backends import Backend, get_registry

    if isinstance(dev, Backend):
        return dev
    d = device(dev)
    reg = get_registry()
    reg.ensure_loaded()
    if d.type in reg.infos or d.type in reg.skipped_entry_points:
        if d.index not in (None, 0):
            raise RuntimeError(f"backend {d.type!r} has a single device (index 0), got {d}")
        return reg.get(d.type)
    if d.type == "cuda" and d.index not in (None, 0):
        raise RuntimeError(f"CUDA error: invalid device ordinal (plugrad's CUDA backends use device 0, got {d})")
    return _backend_for_type(reg, d.type)
