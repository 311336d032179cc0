"""Zero-copy exchange with other array libraries: DLPack and NumPy.

Core never imports NumPy: :func:`from_numpy` hands the array to the CPU backend's
``from_dlpack`` kernel, which shares its memory (DLPack is zero-copy), so on the NumPy
backend the tensor and the array are one buffer; ``Tensor.numpy()`` returns the
backend's own array (the same buffer) on that backend.
"""

from __future__ import annotations

import warnings
from typing import Any

from . import _dtype as D
from ._device import backend_for_device
from ._tensor import Tensor, _make
from .backends import Backend, BackendError, get_registry

__all__ = ["from_dlpack", "from_numpy"]

#: DLPack ``DLDeviceType`` codes -> plugrad device types
_DLPACK_DEVICE_TYPES = {1: "cpu", 2: "cuda", 3: "cpu", 13: "cuda"}  # kDLCPU, kDLCUDA, kDLCUDAHost, kDLCUDAManaged

_NUMPY_TYPES = "float64, float32, float16, int64, int32, int16, int8, uint8, and bool"


def _dlpack_backend(device_type: str) -> Backend:
    """The backend of ``device_type`` that receives DLPack arrays: the one ``"cpu"``/``"cuda"`` names if it can."""
    from ._device import _backend_for_type

    reg = get_registry()
    be = _backend_for_type(reg, device_type)
    if be.has_kernel("from_dlpack"):
        return be
    others = [b for b in reg.backends.values() if b.device_type == device_type and b.has_kernel("from_dlpack")]
    if not others:
        raise BackendError(
            f"no plugrad backend for device {device_type!r} can import DLPack arrays "
            f"(backend {be.name!r} has no from_dlpack kernel); copy the data with plugrad.tensor(...) instead"
        )
    return max(others, key=lambda b: b.spec.priority)


def _wrap(data: Any, be: Backend, what: str) -> Tensor:
    dt = be.native_to_dtype.get(data.dtype)
    if dt is None:
        raise TypeError(f"{what}: backend {be.name!r} has no plugrad dtype for {data.dtype!r}")
    return _make(Tensor, data, dt, be)


def from_dlpack(ext_tensor: Any, *, device: Any = None) -> Tensor:
    """A tensor sharing memory with ``ext_tensor``, any object with ``__dlpack__`` and ``__dlpack_device__``.

    Without ``device`` the tensor lives on the backend that the object's device type
    names (``"cpu"`` or ``"cuda"``); ``device="mybackend"`` puts it on that backend, through
    its ``from_dlpack`` kernel (the zero-copy way to wrap an array of the backend's own
    library, or of any library whose memory the backend can see). Writes through either
    side are seen by the other. A plugrad tensor on that backend gives a detached tensor
    on the same memory.
    """
    if isinstance(ext_tensor, Tensor) and (device is None or backend_for_device(device) is ext_tensor._backend):
        return ext_tensor.detach()
    if not hasattr(ext_tensor, "__dlpack__") or not hasattr(ext_tensor, "__dlpack_device__"):
        raise TypeError(
            f"from_dlpack() expects an object implementing __dlpack__ and __dlpack_device__, got {type(ext_tensor).__name__}"
        )
    if device is not None:
        target = backend_for_device(device)
        if not target.has_kernel("from_dlpack"):
            raise BackendError(
                f"from_dlpack(): backend {target.name!r} has no from_dlpack kernel, so it cannot share memory; "
                f"copy the data with plugrad.tensor(..., device={target.name!r}) instead"
            )
        source = ext_tensor._data if isinstance(ext_tensor, Tensor) else ext_tensor
        return _wrap(target.from_dlpack(source), target, "from_dlpack()")
    code, index = ext_tensor.__dlpack_device__()
    device_type = _DLPACK_DEVICE_TYPES.get(int(code))
    if device_type is None:
        raise RuntimeError(f"from_dlpack(): plugrad has no backend for DLPack device type {int(code)}")
    if device_type == "cuda" and int(index) != 0:
        raise RuntimeError(f"from_dlpack(): plugrad's CUDA backends use device 0, the array is on cuda:{int(index)}")
    be = _dlpack_backend(device_type)
    return _wrap(be.from_dlpack(ext_tensor), be, "from_dlpack()")


def _is_ndarray(obj: Any) -> bool:
    return any(c.__name__ == "ndarray" and c.__module__ == "numpy" for c in type(obj).__mro__)


def from_numpy(ndarray: Any) -> Tensor:
    """A CPU tensor sharing memory with the NumPy array ``ndarray``.

    Changes to the tensor are seen in the array and vice versa. The array is handed to
    the default CPU backend's ``from_dlpack`` kernel (zero-copy), so plugrad itself never
    imports NumPy.
    """
    if not _is_ndarray(ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    dt = ndarray.dtype
    name = {"bool": "bool"}.get(dt.name, dt.name)
    if name not in D.BY_NAME:
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{dt.name}. The only supported types are: {_NUMPY_TYPES}."
        )
    if dt.byteorder == ">" or (dt.byteorder == "<" and not _little_endian()):
        raise ValueError(
            "given numpy array has byte order different from the native byte order. "
            "Conversion between byte orders is currently not supported."
        )
    if not ndarray.flags.writeable:
        warnings.warn(
            "The given NumPy array is not writable, and plugrad does not support non-writable tensors. This means "
            "writing to this tensor will result in undefined behavior. You may want to copy the array to protect "
            "its data or make it writable before converting it to a tensor.",
            UserWarning,
            stacklevel=2,
        )
    be = _dlpack_backend("cpu")
    try:
        data = be.from_dlpack(ndarray)
    except (BufferError, ValueError, TypeError) as exc:
        raise ValueError(
            f"from_numpy(): backend {be.name!r} cannot share this array's memory ({exc}); copy it with plugrad.tensor(array)"
        ) from None
    return _wrap(data, be, "from_numpy()")


def _little_endian() -> bool:
    import sys

    return sys.byteorder == "little"


def foreign_index_keys(t: Tensor, key: tuple[Any, ...]) -> tuple[Any, ...]:
    """``key`` with other libraries' arrays (``numpy.array([0, 2])``) as tensors on ``t``'s backend, so they
    index as integer or boolean tensors do. 0-d foreign numbers (``numpy.int64(1)``) index through
    ``__index__`` already and stay as they are."""
    if all(type(k) in (int, slice) or k is None or k is Ellipsis or isinstance(k, Tensor) for k in key):
        return key
    from ._creation import _from_data

    def convert(k: Any) -> Any:
        if isinstance(k, Tensor) or not getattr(k, "ndim", 0):
            return k
        if hasattr(k, "__array_interface__") or hasattr(k, "__dlpack__") or hasattr(k, "__cuda_array_interface__"):
            return _from_data(k, None, t._backend)
        return k

    return tuple(convert(k) for k in key)
