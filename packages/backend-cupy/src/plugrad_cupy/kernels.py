"""The kernel table: CuPy functions under the array API standard's names.

:func:`make_kernels` takes the ``cupy`` module (and ``cupyx``) as arguments, so the same
table can be checked on machines without a GPU over a NumPy stand-in (see the tests).
CuPy returns 0-d arrays (never scalars) from elementwise functions and integer indexing,
which is what plugrad needs for views and in-place updates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DTYPE_NAMES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")

_SIGMOID_SOURCE = "y = x >= 0 ? (T)1 / ((T)1 + exp(-x)) : exp(x) / ((T)1 + exp(x))"


def make_dtypes(cp: Any) -> dict[str, Any]:
    """plugrad dtype name -> CuPy dtype."""
    return {name: cp.dtype(name) for name in DTYPE_NAMES}


def make_kernels(cp: Any, cupyx: Any) -> dict[str, Callable[..., Any]]:
    """Every kernel of the plugrad contract on ``cp`` (the ``cupy`` module)."""
    state = {"rng": cp.random.RandomState()}
    int64 = cp.dtype("int64")
    float32 = cp.dtype("float32")

    def random_uniform(shape: tuple[int, ...], dtype: Any) -> Any:
        if cp.dtype(dtype) == cp.dtype("float16"):
            return state["rng"].random_sample(shape, dtype=float32).astype(dtype)
        return state["rng"].random_sample(shape, dtype=dtype)

    def random_normal(shape: tuple[int, ...], dtype: Any) -> Any:
        if cp.dtype(dtype) == cp.dtype("float16"):
            return state["rng"].standard_normal(shape, dtype=float32).astype(dtype)
        return state["rng"].standard_normal(shape, dtype=dtype)

    def random_seed(seed: int) -> None:
        state["rng"] = cp.random.RandomState(seed)

    def accumulating(fn: Callable[..., Any]) -> Callable[..., Any]:
        def kernel(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
            dt = int64 if x.dtype.kind in "biu" else None
            return fn(x, axis=axis, keepdims=keepdims, dtype=dt)

        return kernel

    def arg(fn: Callable[..., Any]) -> Callable[..., Any]:
        def kernel(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
            r = fn(x, axis=axis)
            if keepdims:
                r = cp.expand_dims(r, axis) if axis is not None else r.reshape((1,) * x.ndim)
            return r.astype(int64, copy=False)

        return kernel

    def scan(fn: Callable[..., Any]) -> Callable[..., Any]:
        def kernel(x: Any, axis: int) -> Any:
            dt = int64 if x.dtype.kind in "biu" else None
            return fn(x, axis=axis, dtype=dt)

        return kernel

    def clip(x: Any, min: Any = None, max: Any = None) -> Any:
        if min is None and max is None:
            return x.copy()
        if min is None:
            return cp.minimum(x, max)
        if max is None:
            return cp.maximum(x, min)
        return cp.minimum(cp.maximum(x, min), max)

    def getitem(x: Any, key: Any) -> Any:
        return x[key]

    def setitem(x: Any, key: Any, value: Any) -> None:
        x[key] = value

    def index_add(x: Any, key: Any, values: Any) -> None:
        cupyx.scatter_add(x, key, values)

    def copy_into(dst: Any, src: Any) -> None:
        cp.copyto(dst, src, casting="unsafe")

    def to_bytes(x: Any) -> bytes:
        host = cp.asnumpy(x)
        if host.dtype.byteorder == ">":
            host = host.byteswap().view(host.dtype.newbyteorder("<"))
        return bytes(host.tobytes(order="C"))

    def from_bytes(buf: bytes, dtype: Any, shape: tuple[int, ...]) -> Any:
        dt = cp.dtype(dtype)
        return cp.frombuffer(buf, dtype=dt.newbyteorder("<")).astype(dt).reshape(shape)

    def argsort(x: Any, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Any:
        # CuPy's sorts are stable and put NaN last; descending: sort the reversed array, reverse back
        if not descending:
            return cp.argsort(x, axis=axis).astype(int64, copy=False)
        n = x.shape[axis]
        idx = cp.argsort(cp.flip(x, axis=axis), axis=axis).astype(int64, copy=False)
        return (n - 1) - cp.flip(idx, axis=axis)

    def sort(x: Any, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Any:
        if not descending:
            return cp.sort(x, axis=axis)
        return cp.take_along_axis(x, argsort(x, axis=axis, descending=True), axis=axis)

    def to_numpy(x: Any) -> Any:
        return cp.asnumpy(x)  # a copy in host memory

    sigmoid_kernel = cp.ElementwiseKernel("T x", "T y", _SIGMOID_SOURCE, "plugrad_sigmoid")

    def sigmoid(x: Any) -> Any:
        # one fused launch instead of exp/negative/abs/add/divide/where; half precision computes in float32
        if x.dtype == cp.dtype("float16"):
            return sigmoid_kernel(x.astype(float32)).astype(x.dtype)
        return sigmoid_kernel(x)

    kernels: dict[str, Callable[..., Any]] = {
        "asarray": lambda obj, dtype: cp.array(obj, dtype=dtype, copy=True),
        "zeros": lambda shape, dtype: cp.zeros(shape, dtype=dtype),
        "ones": lambda shape, dtype: cp.ones(shape, dtype=dtype),
        "full": lambda shape, fill_value, dtype: cp.full(shape, fill_value, dtype=dtype),
        "empty": lambda shape, dtype: cp.empty(shape, dtype=dtype),
        "arange": lambda start, stop, step, dtype: cp.arange(start, stop, step, dtype=dtype),
        "linspace": lambda start, stop, num, dtype: cp.linspace(start, stop, num, dtype=dtype),
        "random_uniform": random_uniform,
        "random_normal": random_normal,
        "random_seed": random_seed,
        "where": cp.where,
        "clip": clip,
        "sum": accumulating(cp.sum),
        "prod": accumulating(cp.prod),
        "mean": lambda x, axis=None, keepdims=False: cp.mean(x, axis=axis, keepdims=keepdims),
        "max": lambda x, axis=None, keepdims=False: cp.max(x, axis=axis, keepdims=keepdims),
        "min": lambda x, axis=None, keepdims=False: cp.min(x, axis=axis, keepdims=keepdims),
        "argmax": arg(cp.argmax),
        "argmin": arg(cp.argmin),
        "all": lambda x, axis=None, keepdims=False: cp.all(x, axis=axis, keepdims=keepdims),
        "any": lambda x, axis=None, keepdims=False: cp.any(x, axis=axis, keepdims=keepdims),
        "cumulative_sum": scan(cp.cumsum),
        "cumulative_prod": scan(cp.cumprod),
        "matmul": cp.matmul,
        "reshape": lambda x, shape: x.reshape(shape),
        "permute_dims": lambda x, axes: x.transpose(axes),
        "broadcast_to": cp.broadcast_to,
        "concat": lambda arrays, axis: cp.concatenate(arrays, axis=axis),
        "stack": lambda arrays, axis: cp.stack(arrays, axis=axis),
        "flip": lambda x, axis: cp.flip(x, axis=axis),
        "roll": lambda x, shift, axis: cp.roll(x, shift, axis=axis),
        "tile": cp.tile,
        "astype": lambda x, dtype: x.astype(dtype),
        "copy": lambda x: cp.array(x, copy=True, order="C"),
        "getitem": getitem,
        "setitem": setitem,
        "take_along_axis": lambda x, indices, axis: cp.take_along_axis(x, indices, axis=axis),
        "index_add": index_add,
        "copy_into": copy_into,
        "tolist": lambda x: x.tolist(),
        "to_bytes": to_bytes,
        "from_bytes": from_bytes,
        "from_dlpack": cp.from_dlpack,
        "to_dlpack": lambda x, **kwargs: x.__dlpack__(**kwargs),
        "sigmoid": sigmoid,
        "sort": sort,
        "argsort": argsort,
        "bitwise_and": cp.bitwise_and,
        "bitwise_or": cp.bitwise_or,
        "bitwise_xor": cp.bitwise_xor,
        "bitwise_invert": cp.invert,
        "to_numpy": to_numpy,
        "round": cp.rint,
        "divide": cp.true_divide,
        "pow": cp.power,
        "abs": cp.absolute,
    }
    for name in (
        "add", "subtract", "multiply", "floor_divide", "remainder", "maximum", "minimum", "equal", "not_equal",
        "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or", "logical_xor", "negative",
        "sign", "exp", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin", "cos", "tan", "tanh", "floor",
        "ceil", "trunc", "isnan", "isinf", "isfinite", "logical_not",
    ):  # fmt: skip
        kernels[name] = getattr(cp, name)
    return kernels
