"""The kernel table: NumPy functions under the array API standard's names.

Kernels always return arrays, also for 0-d results where NumPy would give a NumPy
scalar (plugrad needs real arrays for views and in-place updates): elementwise
ufuncs through a small wrapper (see ``_ufunc``), reductions with ``out=...``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_rng = np.random.default_rng()

DTYPES: dict[str, Any] = {
    "bool": np.dtype(np.bool_),
    "uint8": np.dtype(np.uint8),
    "int8": np.dtype(np.int8),
    "int16": np.dtype(np.int16),
    "int32": np.dtype(np.int32),
    "int64": np.dtype(np.int64),
    "float16": np.dtype(np.float16),
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}

_Array = np.ndarray


def _arr(x: Any) -> _Array:
    return x if type(x) is np.ndarray else np.asarray(x)


def asarray(obj: Any, dtype: Any) -> _Array:
    return np.array(obj, dtype=dtype, copy=True)


def arange(start: Any, stop: Any, step: Any, dtype: Any) -> _Array:
    return np.arange(start, stop, step, dtype=dtype)


def linspace(start: Any, stop: Any, num: int, dtype: Any) -> _Array:
    return np.linspace(start, stop, num, dtype=dtype)


def random_uniform(shape: tuple[int, ...], dtype: Any) -> _Array:
    if dtype == np.float16:
        return _rng.random(shape, dtype=np.float32).astype(np.float16)
    return _rng.random(shape, dtype=dtype)


def random_normal(shape: tuple[int, ...], dtype: Any) -> _Array:
    if dtype == np.float16:
        return _rng.standard_normal(shape, dtype=np.float32).astype(np.float16)
    return _rng.standard_normal(shape, dtype=dtype)


def random_seed(seed: int) -> None:
    global _rng
    _rng = np.random.default_rng(seed)


def _reduction(ufunc: np.ufunc) -> Callable[..., _Array]:
    reduce = ufunc.reduce

    def kernel(x: _Array, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> _Array:
        return reduce(x, axis=axis, keepdims=keepdims, out=...)

    kernel.__name__ = ufunc.__name__
    return kernel


def _int_accumulating(ufunc: np.ufunc) -> Callable[..., _Array]:
    reduce = ufunc.reduce

    def kernel(x: _Array, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> _Array:
        dt = np.int64 if x.dtype.kind in "biu" else None
        return reduce(x, axis=axis, keepdims=keepdims, dtype=dt, out=...)

    kernel.__name__ = ufunc.__name__
    return kernel


def mean(x: _Array, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> _Array:
    return _arr(np.mean(x, axis=axis, keepdims=keepdims))


def _arg(fn: Callable[..., Any]) -> Callable[..., _Array]:
    def kernel(x: _Array, axis: int | None = None, keepdims: bool = False) -> _Array:
        return _arr(fn(x, axis=axis, keepdims=keepdims)).astype(np.int64, copy=False)

    return kernel


def _bool_reduction(fn: Callable[..., Any]) -> Callable[..., _Array]:
    def kernel(x: _Array, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> _Array:
        return _arr(fn(x, axis=axis, keepdims=keepdims))

    return kernel


def cumulative_sum(x: _Array, axis: int) -> _Array:
    dt = np.int64 if x.dtype.kind in "biu" else None
    return np.cumsum(x, axis=axis, dtype=dt)


def cumulative_prod(x: _Array, axis: int) -> _Array:
    dt = np.int64 if x.dtype.kind in "biu" else None
    return np.cumprod(x, axis=axis, dtype=dt)


def matmul(x1: _Array, x2: _Array) -> _Array:
    return np.matmul(x1, x2, out=...)


def reshape(x: _Array, shape: tuple[int, ...], copy: bool | None = None) -> _Array:
    if copy is None:
        return x.reshape(shape)
    try:
        return x.reshape(shape, copy=copy)
    except TypeError:  # NumPy 2.0 has no ``copy`` here: a view by setting the shape, if the layout allows
        if copy:
            return x.copy().reshape(shape)
        y = x.view()
        try:
            y.shape = shape
        except AttributeError:
            raise ValueError("cannot reshape the array without copying") from None
        return y


def permute_dims(x: _Array, axes: tuple[int, ...]) -> _Array:
    return x.transpose(axes)


def concat(arrays: list[_Array], axis: int) -> _Array:
    return np.concatenate(arrays, axis=axis)


def stack(arrays: list[_Array], axis: int) -> _Array:
    return np.stack(arrays, axis=axis)


def flip(x: _Array, axis: tuple[int, ...]) -> _Array:
    return np.flip(x, axis=axis)


def roll(x: _Array, shift: tuple[int, ...], axis: tuple[int, ...]) -> _Array:
    return np.roll(x, shift, axis=axis)


def astype(x: _Array, dtype: Any) -> _Array:
    return x.astype(dtype)


def copy(x: _Array) -> _Array:
    return np.array(x, copy=True, order="C")


def getitem(x: _Array, key: Any) -> _Array:
    r = x[key]
    if type(r) is not np.ndarray:
        # All-integer keys give a NumPy scalar (a copy); index again with a trailing
        # Ellipsis to get the 0-d view plrugrad's semantics need.
        r = x[(*key, Ellipsis)] if isinstance(key, tuple) else x[key, ...]
    return r


def setitem(x: _Array, key: Any, value: Any) -> None:
    x[key] = value


def take_along_axis(x: _Array, indices: _Array, axis: int) -> _Array:
    return np.take_along_axis(x, indices, axis=axis)


def index_add(x: _Array, key: Any, values: Any) -> None:
    np.add.at(x, key, values)


def copy_into(dst: _Array, src: Any) -> None:
    np.copyto(dst, src, casting="unsafe")


def tolist(x: _Array) -> Any:
    return x.tolist()


def to_bytes(x: _Array) -> bytes:
    a = np.ascontiguousarray(x)
    if a.dtype.byteorder == ">":
        a = a.byteswap().view(a.dtype.newbyteorder("<"))
    return a.tobytes()


def from_bytes(buf: bytes, dtype: Any, shape: tuple[int, ...]) -> _Array:
    return np.frombuffer(buf, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)


def from_dlpack(x: Any) -> _Array:
    return np.from_dlpack(x)


def to_dlpack(x: _Array, **kwargs: Any) -> Any:
    return x.__dlpack__(**kwargs)


def argsort(x: _Array, *, axis: int = -1, descending: bool = False, stable: bool = True) -> _Array:
    """Indices that sort ``x`` along ``axis`` (always stable; NaN after every number).

    Descending: a stable ascending sort of the reversed array, reversed again, keeps
    equal elements in input order and puts NaN first.
    """
    if not descending:
        return np.argsort(x, axis=axis, kind="stable").astype(np.int64, copy=False)
    n = x.shape[axis]
    idx = np.argsort(np.flip(x, axis=axis), axis=axis, kind="stable").astype(np.int64, copy=False)
    return (n - 1) - np.flip(idx, axis=axis)


def sort(x: _Array, *, axis: int = -1, descending: bool = False, stable: bool = True) -> _Array:
    if not descending:
        return np.sort(x, axis=axis, kind="stable")
    return np.take_along_axis(x, argsort(x, axis=axis, descending=True), axis=axis)


def to_numpy(x: _Array) -> _Array:
    return x


def _ufunc(name: str) -> Callable[..., _Array]:
    """The ufunc as a kernel that always returns an array (NumPy gives scalars for 0-d).

    A plain wrapper costs less than ``out=...`` (about 70 ns against 250 ns per call on
    small arrays), and the hot path of every plugrad op calls one or two of these.
    """
    uf = getattr(np, name)
    nd = np.ndarray
    asarray = np.asarray
    if uf.nin == 1:

        def unary(x: Any) -> _Array:
            r = uf(x)
            return r if type(r) is nd else asarray(r)

        unary.__name__ = unary.__qualname__ = name
        return unary

    def binary(x1: Any, x2: Any) -> _Array:
        r = uf(x1, x2)
        return r if type(r) is nd else asarray(r)

    binary.__name__ = binary.__qualname__ = name
    return binary


def where(condition: _Array, x1: Any, x2: Any) -> _Array:
    return _arr(np.where(condition, x1, x2))


def clip(x: _Array, min: Any = None, max: Any = None) -> _Array:
    if min is None and max is None:
        return x.copy()
    if min is None:
        return np.minimum(x, max, out=...)
    if max is None:
        return np.maximum(x, min, out=...)
    return np.minimum(np.maximum(x, min), max, out=...)


KERNELS: dict[str, Callable[..., Any]] = {
    "asarray": asarray,
    "zeros": lambda shape, dtype: np.zeros(shape, dtype=dtype),
    "ones": lambda shape, dtype: np.ones(shape, dtype=dtype),
    "full": lambda shape, fill_value, dtype: np.full(shape, fill_value, dtype=dtype),
    "empty": lambda shape, dtype: np.empty(shape, dtype=dtype),
    "arange": arange,
    "linspace": linspace,
    "random_uniform": random_uniform,
    "random_normal": random_normal,
    "random_seed": random_seed,
    "add": _ufunc("add"),
    "subtract": _ufunc("subtract"),
    "multiply": _ufunc("multiply"),
    "divide": _ufunc("true_divide"),
    "pow": _ufunc("power"),
    "floor_divide": _ufunc("floor_divide"),
    "remainder": _ufunc("remainder"),
    "maximum": _ufunc("maximum"),
    "minimum": _ufunc("minimum"),
    "equal": _ufunc("equal"),
    "not_equal": _ufunc("not_equal"),
    "less": _ufunc("less"),
    "less_equal": _ufunc("less_equal"),
    "greater": _ufunc("greater"),
    "greater_equal": _ufunc("greater_equal"),
    "logical_and": _ufunc("logical_and"),
    "logical_or": _ufunc("logical_or"),
    "logical_xor": _ufunc("logical_xor"),
    "negative": _ufunc("negative"),
    "abs": _ufunc("absolute"),
    "sign": _ufunc("sign"),
    "exp": _ufunc("exp"),
    "expm1": _ufunc("expm1"),
    "log": _ufunc("log"),
    "log2": _ufunc("log2"),
    "log10": _ufunc("log10"),
    "log1p": _ufunc("log1p"),
    "sqrt": _ufunc("sqrt"),
    "sin": _ufunc("sin"),
    "cos": _ufunc("cos"),
    "tan": _ufunc("tan"),
    "tanh": _ufunc("tanh"),
    "floor": _ufunc("floor"),
    "ceil": _ufunc("ceil"),
    "round": _ufunc("rint"),
    "trunc": _ufunc("trunc"),
    "isnan": _ufunc("isnan"),
    "isinf": _ufunc("isinf"),
    "isfinite": _ufunc("isfinite"),
    "logical_not": _ufunc("logical_not"),
    "where": where,
    "clip": clip,
    "sum": _int_accumulating(np.add),
    "prod": _int_accumulating(np.multiply),
    "mean": mean,
    "max": _reduction(np.maximum),
    "min": _reduction(np.minimum),
    "argmax": _arg(np.argmax),
    "argmin": _arg(np.argmin),
    "all": _bool_reduction(np.all),
    "any": _bool_reduction(np.any),
    "cumulative_sum": cumulative_sum,
    "cumulative_prod": cumulative_prod,
    "matmul": matmul,
    "reshape": reshape,
    "permute_dims": permute_dims,
    "broadcast_to": np.broadcast_to,
    "concat": concat,
    "stack": stack,
    "flip": flip,
    "roll": roll,
    "tile": np.tile,
    "astype": astype,
    "copy": copy,
    "getitem": getitem,
    "setitem": setitem,
    "take_along_axis": take_along_axis,
    "index_add": index_add,
    "copy_into": copy_into,
    "tolist": tolist,
    "to_bytes": to_bytes,
    "from_bytes": from_bytes,
    "from_dlpack": from_dlpack,
    "to_dlpack": to_dlpack,
    "sort": sort,
    "argsort": argsort,
    "bitwise_and": _ufunc("bitwise_and"),
    "bitwise_or": _ufunc("bitwise_or"),
    "bitwise_xor": _ufunc("bitwise_xor"),
    "bitwise_invert": _ufunc("invert"),
    "to_numpy": to_numpy,
}
