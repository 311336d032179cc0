"""The kernel table: :func:`plugrad.backends.array_api.kernels_from_namespace` over CuPy, plus fast paths.

The generic array-API kernels come first (so a contract fix in the adapter reaches this
backend too: e.g. ``reshape(x, shape, copy=False)``, which CuPy's ``reshape`` cannot be
asked for, raises there when no view is possible); the CuPy fast paths listed in
:func:`make_kernels` then replace the kernels where CuPy does better on the device.

:func:`make_kernels` takes the ``cupy`` module (and ``cupyx``) as arguments, so the same
table can be checked on machines without a GPU over a NumPy stand-in (see the tests).
CuPy returns 0-d arrays (never scalars) from elementwise functions and integer indexing,
which is what plugrad needs for views and in-place updates.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from plugrad.backends._spec import KERNEL_KINDS
from plugrad.backends.array_api import kernels_from_namespace

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

    def arg(fn: Callable[..., Any]) -> Callable[..., Any]:
        def kernel(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
            r = fn(x, axis=axis)
            if keepdims:
                r = cp.expand_dims(r, axis) if axis is not None else r.reshape((1,) * x.ndim)
            return r.astype(int64, copy=False)

        return kernel

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

    def to_numpy(x: Any) -> Any:
        return cp.asnumpy(x)  # a copy in host memory

    sigmoid_kernel = cp.ElementwiseKernel("T x", "T y", _SIGMOID_SOURCE, "plugrad_sigmoid")

    def sigmoid(x: Any) -> Any:
        # one fused launch instead of exp/negative/abs/add/divide/where; half precision computes in float32
        if x.dtype == cp.dtype("float16"):
            return sigmoid_kernel(x.astype(float32)).astype(x.dtype)
        return sigmoid_kernel(x)

    def copy(x: Any) -> Any:
        return cp.array(x, copy=True, order="C")

    kernels = kernels_from_namespace(cp, to_numpy=to_numpy)
    # CuPy fast paths over the adapter's kernels (each: what it wins)
    kernels.update(elementwise(cp))  # CuPy's ufuncs take Python scalars and give 0-d arrays: no wrapper, no allocation
    kernels.update(
        {
            # the device's generator instead of Python's random (which would draw on the host, element by element)
            "random_uniform": random_uniform,
            "random_normal": random_normal,
            "random_seed": random_seed,
            # native indexing and cupyx.scatter_add instead of the adapter's flat positions and one-hot scatter
            "getitem": getitem,
            "setitem": setitem,
            "index_add": index_add,
            "copy_into": copy_into,  # one cupy.copyto (cast and broadcast) instead of three calls
            # CuPy's asarray takes no copy=; array(copy=True) is one call without the adapter's retry
            "asarray": lambda obj, dtype: cp.array(obj, dtype=dtype, copy=True),
            "copy": copy,  # one C-ordered copy instead of two reshapes
            # CuPy's argmax/argmin take no keepdims before v13.4: reshape here
            "argmax": arg(cp.argmax),
            "argmin": arg(cp.argmin),
            # one host transfer instead of per-element Python scalars
            "tolist": lambda x: x.tolist(),
            "to_bytes": to_bytes,
            "from_bytes": from_bytes,
            "sigmoid": sigmoid,  # one fused launch instead of exp/negative/abs/add/divide/where
            # storage basics (issue 17): Tensor.data_ptr()
            "data_ptr": lambda x: int(x.data.ptr),
        }
    )
    kernels.update(special_kernels(cupyx))  # erf, erfc, erfinv, lgamma, digamma, xlogy from cupyx.scipy.special
    kernels.update(linalg_kernels(cp, cupyx, kernels))  # linalg (issue 17)
    return kernels


#: Kernel name -> CuPy function name where they differ (the rest share the standard's name).
_CUPY_NAMES = {"round": "rint", "divide": "true_divide", "pow": "power", "abs": "absolute", "bitwise_invert": "invert"}

#: Kernel name -> its function in ``cupyx.scipy.special``.
_SPECIAL = {
    "erf": "erf",
    "erfc": "erfc",
    "erfinv": "erfinv",
    "lgamma": "gammaln",
    "digamma": "digamma",
    "xlogy": "xlogy",
}


def elementwise(cp: Any) -> dict[str, Callable[..., Any]]:
    """Every elementwise kernel of the catalogue that CuPy has, as CuPy's own function."""
    out = {}
    for name, kind in KERNEL_KINDS.items():
        if kind in ("unary", "predicate", "binary", "comparison"):
            fn = getattr(cp, _CUPY_NAMES.get(name, name), None)
            if fn is not None:
                out[name] = fn
    return out


def special_kernels(cupyx: Any) -> dict[str, Callable[..., Any]]:
    """The special functions from ``cupyx.scipy.special`` (none when it cannot be imported)."""
    sp = getattr(getattr(cupyx, "scipy", None), "special", None)
    if sp is None and getattr(cupyx, "__name__", None) == "cupyx":
        try:
            sp = importlib.import_module("cupyx.scipy.special")
        except ImportError:
            return {}
    if sp is None:
        return {}
    return {name: getattr(sp, fn) for name, fn in _SPECIAL.items() if hasattr(sp, fn)}


# ---------------------------------------------------------------------- linalg (issue 17)
def linalg_kernels(cp: Any, cupyx: Any, adapter: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The contract's info-reporting linalg kernels over cupy.linalg.

    CuPy does not raise for singular input (unless ``cupyx.errstate(linalg='raise')``): it
    returns non-finite values. The matrices whose result is not finite get LAPACK's info
    from the adapter's helpers (error path only); a raised error is the adapter kernel's
    business; the other kernels come from the adapter.
    """
    import contextlib

    from plugrad.backends.array_api import failing_minor, zero_pivot

    if "linalg_inv" not in adapter:
        return {}
    errstate = getattr(cupyx, "errstate", None)

    def with_info(name: str, locate: Callable[[Any, Any], int]) -> Callable[..., Any]:
        base = adapter[name]

        def kernel(*arrays: Any) -> tuple[Any, Any]:
            with errstate(linalg="ignore") if errstate is not None else contextlib.nullcontext():
                r, info = base(*arrays)
            bad = ~cp.isfinite(r).all(axis=(-2, -1)) & (info == 0)
            if bool(bad.any()):
                mats = arrays[0].reshape(-1, *arrays[0].shape[-2:])
                flat = info.reshape(-1)
                for i in cp.flatnonzero(bad.reshape(-1)).tolist():
                    flat[i] = locate(cp, mats[i])
            return r, info

        return kernel

    out: dict[str, Callable[..., Any]] = {
        "linalg_inv": with_info("linalg_inv", zero_pivot),
        "linalg_solve": with_info("linalg_solve", zero_pivot),
        "linalg_cholesky": with_info("linalg_cholesky", failing_minor),
    }
    try:
        trsm = importlib.import_module("cupyx.scipy.linalg").solve_triangular
    except (ImportError, AttributeError):  # the adapter's masked general solve stays
        return out

    def linalg_solve_triangular(x1: Any, x2: Any, *, upper: bool, unitriangular: bool) -> Any:
        a = x1.reshape(-1, *x1.shape[-2:])
        b = x2.reshape(-1, *x2.shape[-2:])
        res = cp.stack([trsm(a[i], b[i], lower=not upper, unit_diagonal=unitriangular) for i in range(a.shape[0])])
        return res.reshape(x2.shape)

    out["linalg_solve_triangular"] = linalg_solve_triangular
    return out
