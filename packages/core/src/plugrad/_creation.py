"""Creation functions: ``tensor``, ``zeros``, ``ones``, ``arange``, ``rand``, ...

Every function takes ``dtype=``, ``device=`` and ``requires_grad=`` as PyTorch's do.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

from . import _dtype as D
from . import _generator as _gen
from ._device import backend_for_device
from ._generator import check_generator
from ._ops._util import check_alloc, check_scalar_fits, out_of_memory
from ._size import Size
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
    "randperm",
    "eye",
    "manual_seed",
    "seed",
    "initial_seed",
    "get_rng_state",
    "set_rng_state",
    "randint_like",
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


def _is_sequence(obj: Any) -> bool:
    """Whether ``obj`` is read as a sequence of elements (lists, tuples, ranges, any ``len``/``[]`` object)."""
    if isinstance(obj, (list, tuple)):
        return True
    if isinstance(obj, (str, bytes, bytearray, dict, Tensor)):
        return False
    return hasattr(obj, "__len__") and hasattr(obj, "__getitem__")


def _foreign_scalar(obj: Any) -> bool:
    """A 0-d number of another library (``numpy.float32(1.5)``, a 0-d array): ``shape == ()`` and ``item()``."""
    return (
        type(obj) not in (bool, int, float)
        and not isinstance(obj, Tensor)
        and getattr(obj, "shape", None) == ()
        and callable(getattr(obj, "item", None))
    )


def _leaf_dtype(item: Any) -> D.dtype:
    """The dtype PyTorch infers for one element of a nested sequence."""
    if isinstance(item, Tensor):
        if item._data.ndim:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return item._dtype
    if _foreign_scalar(item) and hasattr(item, "dtype"):
        return _foreign_dtype(item)
    if isinstance(item, bool):
        return D.bool_
    if isinstance(item, int):
        return D.int64
    if isinstance(item, float):
        return D.get_default_dtype()
    raise TypeError(f"new(): invalid data type '{type(item).__name__}'")


def _infer(obj: Any) -> tuple[tuple[int, ...], D.dtype, bool]:
    """Shape and PyTorch's inferred dtype of nested sequences of numbers, and whether the values
    need :func:`_plain` (anything but lists/tuples of Python numbers).

    The dtype is the promotion of the elements' dtypes: Python bools, ints and floats count as
    ``bool``, ``int64`` and the default float dtype; 0-d tensors and other libraries' scalars
    (``numpy.float64(1.5)``) as their own dtype.
    """
    if isinstance(obj, Tensor):
        return tuple(obj._data.shape), obj._dtype, False
    if isinstance(obj, (bool, int, float)):
        return (), D.scalar_dtype(obj), False
    if not _is_sequence(obj):
        if hasattr(obj, "__float__") and not hasattr(obj, "__len__"):
            return (), D.get_default_dtype(), True
        if isinstance(obj, (str, bytes)):
            raise TypeError(f"new(): invalid data type '{type(obj).__name__}'")
        raise RuntimeError(f"Could not infer dtype of {type(obj).__name__}")
    shape: list[int] = []
    level: list[Any] = [obj]
    dt: D.dtype | None = None
    depth = 0
    plain = not isinstance(obj, (list, tuple))
    while level:
        first = level[0]
        if _is_sequence(first):
            n = len(first)
            nxt: list[Any] = []
            for item in level:
                if not _is_sequence(item):
                    raise ValueError(f"expected sequence of length {n} at dim {depth} (got {type(item).__name__})")
                if len(item) != n:
                    raise ValueError(f"expected sequence of length {n} at dim {depth} (got {len(item)})")
                plain = plain or not isinstance(item, (list, tuple))
                nxt.extend(item)
            shape.append(n)
            level = nxt
            depth += 1
            continue
        seen: set[type] = set()
        for item in level:
            t = type(item)
            if t is float or t is int or t is bool:  # the common case, without per-element promotion
                seen.add(t)
                continue
            if _is_sequence(item):
                raise ValueError(f"expected sequence of length {len(item)} at dim {depth} (got a number)")
            plain = True
            item_dt = _leaf_dtype(item)
            dt = item_dt if dt is None else D.promote_types(dt, item_dt)
        for t in seen:
            item_dt = D.get_default_dtype() if t is float else D.int64 if t is int else D.bool_
            dt = item_dt if dt is None else D.promote_types(dt, item_dt)
        break
    return tuple(shape), dt or D.get_default_dtype(), plain


def _plain(obj: Any) -> Any:
    """Nested lists of Python numbers: sequences as lists, 0-d tensors and other libraries' scalars as numbers."""
    if isinstance(obj, Tensor):
        return obj.tolist()
    if _foreign_scalar(obj):
        return obj.item()
    if _is_sequence(obj):
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
        dt = dtype or _foreign_dtype(obj, backend)
        try:
            data = backend.asarray(obj, backend.native_dtype(dt))
        except Exception:
            data = backend.asarray(_foreign_tolist(obj), backend.native_dtype(dt))
        return _make(cls, data, dt, backend)
    _shape, inferred, needs_plain = _infer(obj)
    dt = dtype or inferred
    values = _plain(obj) if needs_plain else obj
    if dt.category != 2:
        _check_integral(values, dt)
    try:
        data = backend.asarray(values, backend.native_dtype(dt))
    except OverflowError:
        raise RuntimeError(f"value cannot be converted to type {dt.name} without overflow") from None
    return _make(cls, data, dt, backend)


def _check_integral(values: Any, dt: D.dtype) -> None:
    stack = [values]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, float) and dt is not D.bool_ and not math.isfinite(v):
            raise RuntimeError(f"value cannot be converted to type {dt.name} without overflow")


def _foreign_dtype(obj: Any, backend: Backend | None = None) -> D.dtype:
    """The plugrad dtype of another library's array: the backend's dtype table first (its own
    arrays, whatever their dtype objects print as), else the dtype's name (NumPy's)."""
    native = getattr(obj, "dtype", None)
    if backend is not None:
        try:
            found = backend.native_to_dtype.get(native)
        except TypeError:  # an unhashable dtype object
            found = None
        if found is not None:
            return found
    name = str(native if native is not None else "")
    name = {"bool_": "bool"}.get(name, name)
    dt = D.BY_NAME.get(name)
    if dt is None:
        where = f" (backend {backend.name!r} maps none of its dtypes to it)" if backend is not None else ""
        raise TypeError(
            f"can't convert array of type {name}{where}. The only supported types are: float64, float32, float16, "
            "int64, int32, int16, int8, uint8, and bool."
        )
    return dt


def _foreign_tolist(obj: Any) -> Any:
    return obj.tolist() if hasattr(obj, "tolist") else list(obj)


_COPY_CONSTRUCT_WARNING = (
    "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
    "sourceTensor.detach().clone().requires_grad_(True), rather than plugrad.tensor(sourceTensor)."
)


def tensor(data: Any, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor copying ``data``; the dtype is inferred as PyTorch does.

    Python ints give ``int64``, floats the default dtype (``float32``), bools ``bool``;
    a mix takes the highest category.
    """
    dt = _check_dtype(dtype)
    backend = _backend_for(device)
    if isinstance(data, Tensor):
        warnings.warn(_COPY_CONSTRUCT_WARNING, UserWarning, stacklevel=2)
    t = _from_data(data, dt, backend)
    return _finish(t, requires_grad)


def as_tensor(data: Any, dtype: D.dtype | None = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory where it can (PyTorch's ``as_tensor``).

    A tensor of that dtype and device is returned as is. An array of a backend's own
    library (a ``numpy.ndarray`` on the NumPy backend, a CuPy array on the CuPy one, any
    instance of the backend's ``array_types``) is wrapped without a copy when ``dtype`` is
    ``None`` or its own dtype; ``device=None`` picks the backend whose array it is. Anything
    else is copied as :func:`tensor` copies it.
    """
    dt = _check_dtype(dtype)
    if isinstance(data, Tensor):
        if (dt is None or dt is data._dtype) and (device is None or backend_for_device(device) is data._backend):
            return data
        return data.to(device=device, dtype=dt)
    be = _owning_backend(data, device)
    if be is not None:
        try:
            own = be.native_to_dtype.get(data.dtype)
        except TypeError:
            own = None
        if own is not None and (dt is None or dt is own):
            return _make(Tensor, data, own, be)
    return tensor(data, dtype=dtype, device=device)


def _owning_backend(data: Any, device: Any) -> Backend | None:
    """The backend whose own array ``data`` is: the one ``device`` names, or (``None``) the default or any."""
    if not hasattr(data, "dtype") or not hasattr(data, "shape"):
        return None
    if device is not None:
        be = backend_for_device(device)
        return be if be.spec.array_types and isinstance(data, be.spec.array_types) else None
    default = _backend_for(None)
    candidates = [default, *(b for b in get_registry().backends.values() if b is not default)]
    for be in candidates:
        if be.spec.array_types and isinstance(data, be.spec.array_types):
            return be
    return None


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


def full(
    size: Sequence[int],
    fill_value: Any,
    *,
    dtype: D.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
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
    start: Any,
    end: Any = None,
    step: Any = 1,
    *,
    dtype: D.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
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
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    dt = _check_dtype(dtype)
    if dt is None:
        dt = D.int64 if all(isinstance(v, int) for v in vals) else D.get_default_dtype()
    be = _backend_for(device)
    count = (end - start) / step
    if not count < 2**62:  # also catches an infinite count (a tiny step over a huge range)
        raise RuntimeError(f"arange: the range {start} -> {end} with step {step} has too many elements ({count:g})")
    n = max(0, math.ceil(count))
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
    start: float,
    end: float,
    steps: int,
    *,
    dtype: D.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
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


def _random(
    kind: str, size: tuple[Any, ...], dtype: Any, device: Any, requires_grad: bool, name: str, generator: Any, fn: str
) -> Tensor:
    shape = _shape_args(size)
    dt = _check_dtype(dtype) or D.get_default_dtype()
    if dt.category != 2:
        raise RuntimeError(f"\"{name}\" not implemented for '{dt.name.capitalize()}'")
    be = _backend_for(device)
    check_alloc(shape, dt)
    draw = _gen.uniform if kind == "random_uniform" else _gen.normal
    try:
        data = draw(be, shape, be.native_dtype(dt), generator, fn)
    except MemoryError:
        raise out_of_memory(shape, dt) from None
    return _finish(_make(Tensor, data, dt, be), requires_grad)


def rand(
    *size: Any, generator: Any = None, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """Samples from the uniform distribution on [0, 1) (drawn from ``generator``, a :class:`plugrad.Generator`)."""
    g = check_generator(generator, "rand")
    return _random("random_uniform", size, dtype, device, requires_grad, "check_uniform_bounds", g, "rand")


def randn(
    *size: Any, generator: Any = None, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """Samples from the standard normal distribution N(0, 1) (drawn from ``generator``, a :class:`plugrad.Generator`)."""
    g = check_generator(generator, "randn")
    return _random("random_normal", size, dtype, device, requires_grad, "normal_kernel_cpu", g, "randn")


_RANDINT_USAGE = (
    "randint() received an invalid combination of arguments - got ({got}), but expected one of:\n"
    " * (int high, tuple of ints size, *, plugrad.Generator generator, plugrad.dtype dtype = None, "
    "plugrad.device device = None, bool requires_grad = False)\n"
    " * (int low, int high, tuple of ints size, *, plugrad.Generator generator, plugrad.dtype dtype = None, "
    "plugrad.device device = None, bool requires_grad = False)"
)


def randint(
    *args: Any,
    size: Any = None,
    low: Any = None,
    high: Any = None,
    generator: Any = None,
    dtype: D.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Integers drawn uniformly from ``[low, high)``: ``randint(high, size)`` or ``randint(low, high, size)``
    (``low`` defaults to 0; each argument may also be passed by keyword). ``int64`` unless ``dtype`` says otherwise."""
    check_generator(generator, "randint")
    got = ", ".join(type(a).__name__ for a in args) + "".join(
        f", {k}={type(v).__name__}" for k, v in (("size", size), ("low", low), ("high", high)) if v is not None
    )
    positional = list(args)
    if size is None and positional and isinstance(positional[-1], (tuple, list, Size)):
        size = positional.pop()
    if high is None and positional:
        high = positional.pop()
    if low is None and positional:
        low = positional.pop()
    if low is None:
        low = 0
    if positional or high is None or size is None or not isinstance(size, (tuple, list, Size)):
        raise TypeError(_RANDINT_USAGE.format(got=got.lstrip(", ")))
    low, high = (v.item() if isinstance(v, Tensor) else v for v in (low, high))
    for v, arg in ((low, "low"), (high, "high")):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"randint(): argument '{arg}' must be int, not {type(v).__name__}")
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    dt = _check_dtype(dtype) or D.int64
    u = rand(*size, dtype=D.float64, device=device, generator=generator)
    out = (u * (high - low) + low).floor().to(dt)
    return _finish(out, requires_grad)


def randperm(
    n: int,
    *,
    generator: Any = None,
    dtype: D.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """A random permutation of ``0, ..., n - 1`` (``int64`` unless ``dtype`` says otherwise)."""
    from ._ops import _kernels

    g = check_generator(generator, "randperm")
    if isinstance(n, Tensor):
        n = n.item()
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"randperm(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    dt = _check_dtype(dtype) or D.int64
    be = _backend_for(device)
    keys = _gen.uniform(
        be, (n,), be.native_dtype(D.float64 if D.float64 in be.dtype_to_native else D.float32), g, "randperm"
    )
    perm = _kernels.argsort(be, keys, 0) if n else be.zeros((0,), be.native_dtype(D.int64))
    if dt is not D.int64:
        perm = be.astype(perm, be.native_dtype(dt))
    return _finish(_make(Tensor, perm, dt, be), requires_grad)


def eye(
    n: int, m: int | None = None, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """The ``n x m`` matrix (``m = n`` by default) with ones on the main diagonal and zeros elsewhere."""
    for v, arg, pos in ((n, "n", 1), (m, "m", 2)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise TypeError(f"eye(): argument '{arg}' (position {pos}) must be int, not {type(v).__name__}")
    if n < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {n}")
    if m is None:
        m = n
    if m < 0:
        raise RuntimeError(f"m must be greater or equal to 0, got {m}")
    dt = _check_dtype(dtype) or D.get_default_dtype()
    be = _backend_for(device)
    check_alloc((n, m), dt)
    i64 = be.native_dtype(D.int64)
    rows = be.reshape(be.arange(0, n, 1, i64), (n, 1))
    cols = be.reshape(be.arange(0, m, 1, i64), (1, m))
    data = be.astype(be.equal(rows, cols), be.native_dtype(dt))
    return _finish(_make(Tensor, data, dt, be), requires_grad)


def manual_seed(seed: int) -> _gen.Generator:
    """Seed the default random generators of every available backend; returns ``plugrad.default_generator``.

    ``seed`` is any integer in ``[-2**63, 2**64)`` (negative ones count modulo ``2**64``)."""
    s = _gen.normalize_seed(seed)
    reg = get_registry()
    reg.ensure_loaded()
    for be in reg.backends.values():
        be.random_seed(s)
    _gen.default_generator._initial_seed = s
    return _gen.default_generator


def seed() -> int:
    """Seed the default generators from a non-deterministic source; returns the seed."""
    s = _gen._nondeterministic_seed()
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed of the default CPU generator (``plugrad.default_generator.initial_seed()``)."""
    return _gen.default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The state of the default CPU generator, a ``uint8`` tensor."""
    return _gen.default_generator.get_state()  # type: ignore[no-any-return]


def set_rng_state(new_state: Tensor) -> None:
    """Restore the default CPU generator's state from :func:`get_rng_state`."""
    _gen.default_generator.set_state(new_state)


def _like(t: Tensor, dtype: Any, device: Any) -> tuple[D.dtype, Backend]:
    dt = _check_dtype(dtype) or t._dtype
    be = t._backend if device is None else backend_for_device(device)
    return dt, be


def zeros_like(
    input: Tensor, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """A tensor of zeros with ``input``'s shape, and its dtype and device unless given."""
    dt, be = _like(input, dtype, device)
    return _finish(_make(Tensor, be.zeros(input._data.shape, be.native_dtype(dt)), dt, be), requires_grad)


def ones_like(
    input: Tensor, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """A tensor of ones with ``input``'s shape, and its dtype and device unless given."""
    dt, be = _like(input, dtype, device)
    return _finish(_make(Tensor, be.ones(input._data.shape, be.native_dtype(dt)), dt, be), requires_grad)


def empty_like(
    input: Tensor, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """An uninitialised tensor with ``input``'s shape, and its dtype and device unless given."""
    dt, be = _like(input, dtype, device)
    return _finish(_make(Tensor, be.empty(input._data.shape, be.native_dtype(dt)), dt, be), requires_grad)


def full_like(
    input: Tensor, fill_value: Any, *, dtype: D.dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """A tensor with ``input``'s shape filled with ``fill_value``, and ``input``'s dtype and device unless given."""
    dt, be = _like(input, dtype, device)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    _check_number(fill_value, "full_like", "fill_value")
    check_scalar_fits(fill_value, dt)
    return _finish(_make(Tensor, be.full(input._data.shape, fill_value, be.native_dtype(dt)), dt, be), requires_grad)


def rand_like(
    input: Tensor,
    *,
    generator: Any = None,
    dtype: D.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``rand`` with ``input``'s shape (and its dtype and device unless given)."""
    dt, be = _like(input, dtype, device)
    return rand(*input._data.shape, generator=generator, dtype=dt, device=be, requires_grad=requires_grad)


def randn_like(
    input: Tensor,
    *,
    generator: Any = None,
    dtype: D.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``randn`` with ``input``'s shape (and its dtype and device unless given)."""
    dt, be = _like(input, dtype, device)
    return randn(*input._data.shape, generator=generator, dtype=dt, device=be, requires_grad=requires_grad)


def randint_like(
    input: Tensor,
    low: Any = 0,
    high: Any = None,
    *,
    generator: Any = None,
    dtype: D.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``randint`` with ``input``'s shape: ``randint_like(input, high)`` or ``randint_like(input, low, high)``."""
    if high is None:
        low, high = 0, low
    dt, be = _like(input, dtype, device)
    return randint(
        low, high, tuple(input._data.shape), generator=generator, dtype=dt, device=be, requires_grad=requires_grad
    )
