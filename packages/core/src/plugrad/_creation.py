"""Creation functions: ``tensor``, ``zeros``, ``ones``, ``arange``, ``rand``, ...

Every function takes ``dtype=``, ``device=`` and ``requires_grad=`` as PyTorch's do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from . import _dtype as D
from ._device import backend_for_device
from ._ops._util import check_alloc, check_scalar_fits, out_of_memory
from ._tensor import Tensor, _make
from .backends import Backend, default_backend, get_registry

__all__ = [
    "tensor",
    "as_tensor",
    "zeros",
    "ones",
    "full",
    "empty",
    "arange",
    "linspace",
    "rand",
    "randn",
    "randint",
    "manual_seed",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
    "rand_like",
    "randn_like",
    "set_default_device",
    "get_default_device",
]


class _DefaultDevice:
    backend: Backend | None = None


_default_device = _DefaultDevice()


def set_default_device(device: Any) -> None:
    """Make creation functions put new tensors on ``device`` (``None`` restores the default)."""
    _default_device.backend = None if device is None else backend_for_device(device)


def get_default_device() -> Any:
    """The device new tensors are created on."""
    from ._device import device_of_backend

    return device_of_backend(_backend_for(None))


def _backend_for(device: Any) -> Backend:
    if device is None:
        be = _default_device.backend
        return be if be is not None else default_backend()
    return backend_for_device(device)


def _check_dtype(dtype: Any) -> D.dtype | None:
    if dtype is None or isinstance(dtype, D.dtype):
        return dtype
    if dtype is float:
        return D.float64
    if dtype is int:
        return D.int64
    if dtype is bool:
        return D.bool_
    raise TypeError(f"dtype must be a plugrad.dtype, got {dtype!r}")


def _finish(t: Tensor, requires_grad: bool) -> Tensor:
    if requires_grad and t._dtype.category != 2:
        raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
    if requires_grad:
        t.requires_grad_(True)
    return t


def _infer(obj: Any) -> tuple[tuple[int, ...], D.dtype]:
    """Shape and PyTorch's inferred dtype of nested Python sequences of numbers."""
    if isinstance(obj, Tensor):
        return tuple(obj._data.shape), obj._dtype
    if isinstance(obj, (bool, int, float)):
        return (), D.scalar_dtype(obj)
    if not isinstance(obj, (list, tuple)):
        if hasattr(obj, "__float__") and not hasattr(obj, "__len__"):
            return (), D.get_default_dtype()
        raise TypeError(f"Could not infer dtype of {type(obj).__name__}")
    shape: list[int] = []
    level: list[Any] = [obj]
    cat = -1
    depth = 0
    while level:
        first = level[0]
        if isinstance(first, (list, tuple)):
            n = len(first)
            nxt: list[Any] = []
            for item in level:
                if not isinstance(item, (list, tuple)):
                    raise ValueError(f"expected sequence of length {n} at dim {depth} (got {type(item).__name__})")
                if len(item) != n:
                    raise ValueError(f"expected sequence of length {n} at dim {depth} (got {len(item)})")
                nxt.extend(item)
            shape.append(n)
            level = nxt
            depth += 1
            continue
        for item in level:
            if isinstance(item, (list, tuple)):
                raise ValueError(f"expected sequence of length {len(item)} at dim {depth} (got a number)")
            if isinstance(item, Tensor):
                if item._data.ndim:
                    raise ValueError("only one element tensors can be converted to Python scalars")
                cat = max(cat, item._dtype.category)
            elif isinstance(item, bool):
                cat = max(cat, 0)
            elif isinstance(item, int):
                cat = max(cat, 1)
            elif isinstance(item, float):
                cat = max(cat, 2)
            else:
                raise TypeError(f"new(): invalid data type '{type(item).__name__}'")
        break
    dt = D.get_default_dtype() if cat in (-1, 2) else (D.int64 if cat == 1 else D.bool_)
    return tuple(shape), dt


def _plain(obj: Any) -> Any:
    """Nested lists with 0-d tensors replaced by Python numbers."""
    if isinstance(obj, Tensor):
        return obj.tolist()
    if isinstance(obj, (list, tuple)):
        return [_plain(o) for o in obj]
    return obj


def _from_data(obj: Any, dtype: D.dtype | None, backend: Backend, cls: type[Tensor] = Tensor) -> Tensor:
    """A new tensor holding a copy of ``obj`` (numbers, nested sequences, tensors, arrays)."""
    if isinstance(obj, Tensor):
        src = obj if obj._backend is backend else obj.to(backend)
        dt = dtype or src._dtype
        data = backend.astype(src._data, backend.native_dtype(dt)) if dt is not src._dtype else backend.copy(src._data)
        return _make(cls, data, dt, backend)
    if hasattr(obj, "__array_interface__") or hasattr(obj, "__dlpack__") or hasattr(obj, "__cuda_array_interface__"):
        dt = dtype or _foreign_dtype(obj)
        try:
            data = backend.asarray(obj, backend.native_dtype(dt))
        except Exception:
            data = backend.asarray(_foreign_tolist(obj), backend.native_dtype(dt))
        return _make(cls, data, dt, backend)
    shape, inferred = _infer(obj)
    dt = dtype or inferred
    values = _plain(obj) if _has_tensor(obj) else obj
    if dt.category != 2:
        _check_integral(values, dt)
    try:
        data = backend.asarray(values, backend.native_dtype(dt))
    except OverflowError:
        raise RuntimeError(f"value cannot be converted to type {dt.name} without overflow") from None
    return _make(cls, data, dt, backend)


def _has_tensor(obj: Any) -> bool:
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, Tensor):
            return True
        if isinstance(o, (list, tuple)) and o and isinstance(o[0], (list, tuple, Tensor)):
            stack.extend(o)
        elif isinstance(o, (list, tuple)) and any(isinstance(x, Tensor) for x in o):
            return True
    return False


def _check_integral(values: Any, dt: D.dtype) -> None:
    stack = [values]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, float) and dt is not D.bool_ and not math.isfinite(v):
            raise RuntimeError(f"value cannot be converted to type {dt.name} without overflow")


def _foreign_dtype(obj: Any) -> D.dtype:
    name = str(getattr(obj, "dtype", ""))
    name = {"bool_": "bool"}.get(name, name)
    dt = D.BY_NAME.get(name)
    if dt is None:
        raise TypeError(
            f"can't convert array of type {name}. The only supported types are: float64, float32, float16, int64, "
            "int32, int16, int8, uint8, and bool."
        )
    return dt


def _foreign_tolist(obj: Any) -> Any:
    return obj.tolist() if hasattr(obj, "tolist") else list(obj)


def tensor(data: Any, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor copying ``data``; the dtype is inferred as PyTorch does.

    Python ints give ``int64``, floats the default dtype (``float32``), bools ``bool``;
    a mix takes the highest category.
    """
    dt = _check_dtype(dtype)
    backend = _backend_for(device)
    t = _from_data(data, dt, backend)
    return _finish(t, requires_grad)


def as_tensor(data: Any, dtype: D.dtype | None = None, device: Any = None) -> Tensor:
    """``data`` itself when it already is a tensor of that dtype/device, else a new tensor."""
    if isinstance(data, Tensor):
        dt = _check_dtype(dtype)
        if (dt is None or dt is data._dtype) and (device is None or backend_for_device(device) is data._backend):
            return data
        return data.to(device=device, dtype=dt)
    return tensor(data, dtype=dtype, device=device)


def _shape_args(size: tuple[Any, ...]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = s.item()
        if not isinstance(s, int) or isinstance(s, bool):
            raise TypeError(f"expected a sequence of integers for size, got {type(s).__name__}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
        out.append(s)
    return tuple(out)


def _filled(kernel: str, size: tuple[Any, ...], dtype: Any, device: Any, requires_grad: bool, *extra: Any) -> Tensor:
    shape = _shape_args(size)
    dt = _check_dtype(dtype) or D.get_default_dtype()
    be = _backend_for(device)
    check_alloc(shape, dt)
    try:
        data = getattr(be, kernel)(shape, *extra, be.native_dtype(dt))
    except MemoryError:
        raise out_of_memory(shape, dt) from None
    return _finish(_make(Tensor, data, dt, be), requires_grad)


def zeros(*size: Any, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of the given size."""
    return _filled("zeros", size, dtype, device, requires_grad)


def ones(*size: Any, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones of the given size."""
    return _filled("ones", size, dtype, device, requires_grad)


def empty(*size: Any, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor of the given size."""
    return _filled("empty", size, dtype, device, requires_grad)


def full(size: Sequence[int], fill_value: Any, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``; the dtype follows the value when not given."""
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    _check_number(fill_value, "full", "fill_value")
    dt = _check_dtype(dtype) or D.scalar_dtype(fill_value)
    check_scalar_fits(fill_value, dt)
    return _filled("full", (tuple(size),), dt, device, requires_grad, fill_value)


def _check_number(value: Any, fn: str, arg: str) -> None:
    if not isinstance(value, (bool, int, float)):
        raise TypeError(f"{fn}(): argument '{arg}' must be Number, not {type(value).__name__}")


def arange(
    start: Any, end: Any = None, step: Any = 1, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; ``int64`` for integer arguments."""
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    for v, arg in zip(vals, ("start", "end", "step")):
        _check_number(v, "arange", arg)
    start, end, step = vals
    if not all(math.isfinite(v) for v in vals):
        raise RuntimeError(f"unsupported range: {start} -> {end}")
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError(
            "upper bound and larger bound inconsistent with step sign"
        )
    dt = _check_dtype(dtype)
    if dt is None:
        dt = D.int64 if all(isinstance(v, int) for v in vals) else D.get_default_dtype()
    be = _backend_for(device)
    n = max(0, math.ceil((end - start) / step))
    if dt.category == 2:
        data = be.add(be.multiply(be.arange(0, n, 1, be.native_dtype(D.float64)), step), start)
        data = be.astype(data, be.native_dtype(dt))
    else:
        if n:  # the first and last values must fit the integer dtype
            check_scalar_fits(start, dt)
            check_scalar_fits(start + (n - 1) * step, dt)
        data = be.arange(start, end, step, be.native_dtype(dt))
    return _finish(_make(Tensor, data, dt, be), requires_grad)


def linspace(
    start: float, end: float, steps: int, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    if not isinstance(steps, int) or steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    start, end = (v.item() if isinstance(v, Tensor) else v for v in (start, end))
    _check_number(start, "linspace", "start")
    _check_number(end, "linspace", "end")
    dt = _check_dtype(dtype) or D.get_default_dtype()
    be = _backend_for(device)
    if steps == 1:  # just ``start`` (a backend's (end - start) * 0 would be NaN for infinite ends)
        end = start
    data = be.linspace(start, end, steps, be.native_dtype(D.float64))
    if dt is not D.float64:
        data = be.astype(data, be.native_dtype(dt))
    return _finish(_make(Tensor, data, dt, be), requires_grad)


def _random(kind: str, size: tuple[Any, ...], dtype: Any, device: Any, requires_grad: bool, name: str) -> Tensor:
    shape = _shape_args(size)
    dt = _check_dtype(dtype) or D.get_default_dtype()
    if dt.category != 2:
        raise RuntimeError(f'"{name}" not implemented for \'{dt.name.capitalize()}\'')
    be = _backend_for(device)
    check_alloc(shape, dt)
    try:
        data = getattr(be, kind)(shape, be.native_dtype(dt))
    except MemoryError:
        raise out_of_memory(shape, dt) from None
    return _finish(_make(Tensor, data, dt, be), requires_grad)


def rand(*size: Any, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Samples from the uniform distribution on [0, 1)."""
    return _random("random_uniform", size, dtype, device, requires_grad, "check_uniform_bounds")


def randn(*size: Any, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Samples from the standard normal distribution N(0, 1)."""
    return _random("random_normal", size, dtype, device, requires_grad, "normal_kernel_cpu")


def randint(low: int, high: int | None = None, size: Sequence[int] = (), *, dtype: D.dtype | None = None, device: Any = None) -> Tensor:
    """Integers drawn uniformly from ``[low, high)``."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    u = rand(*size, dtype=D.float64, device=device)
    return (u * (high - low) + low).floor().to(_check_dtype(dtype) or D.int64)


def manual_seed(seed: int) -> Any:
    """Seed the random generators of every available backend."""
    if not isinstance(seed, int):
        raise TypeError(f"manual_seed expected an int, got {type(seed).__name__}")
    reg = get_registry()
    reg.ensure_loaded()
    for be in reg.backends.values():
        be.random_seed(seed)
    return None


def _like(t: Tensor, dtype: Any, device: Any) -> tuple[D.dtype, Backend]:
    dt = _check_dtype(dtype) or t._dtype
    be = t._backend if device is None else backend_for_device(device)
    return dt, be


def zeros_like(input: Tensor, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    dt, be = _like(input, dtype, device)
    return _finish(_make(Tensor, be.zeros(input._data.shape, be.native_dtype(dt)), dt, be), requires_grad)


def ones_like(input: Tensor, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    dt, be = _like(input, dtype, device)
    return _finish(_make(Tensor, be.ones(input._data.shape, be.native_dtype(dt)), dt, be), requires_grad)


def empty_like(input: Tensor, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    dt, be = _like(input, dtype, device)
    return _finish(_make(Tensor, be.empty(input._data.shape, be.native_dtype(dt)), dt, be), requires_grad)


def full_like(input: Tensor, fill_value: Any, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    dt, be = _like(input, dtype, device)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    _check_number(fill_value, "full_like", "fill_value")
    check_scalar_fits(fill_value, dt)
    return _finish(_make(Tensor, be.full(input._data.shape, fill_value, be.native_dtype(dt)), dt, be), requires_grad)


def rand_like(input: Tensor, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    dt, be = _like(input, dtype, device)
    return rand(*input._data.shape, dtype=dt, device=be, requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    dt, be = _like(input, dtype, device)
    return randn(*input._data.shape, dtype=dt, device=be, requires_grad=requires_grad)
