"""The kernel table: :func:`plugrad.backends.array_api.kernels_from_namespace` over NumPy, plus fast paths.

Every kernel starts as the generic array-API one (NumPy 2 has the standard's names), so
a contract fix made in the adapter reaches this backend too. A short list of NumPy fast
paths then replaces the kernels where NumPy can do better; each group below says what it
wins, measured in ns per call on a (16,) float32 array (``benchmarks/kernel_timing.py``
prints the table: adapter, fast path). They fall in two reasons:

- **0-d results are arrays.** NumPy functions give NumPy *scalars* for 0-d results, which
  the contract forbids (plugrad needs real arrays for views and in-place updates);
  the fast paths return arrays without an extra call.
- **Speed on the per-op hot path** (elementwise, reductions, matmul, reshape) and
  NumPy's native indexing, random generator and buffers where the adapter goes through
  Python.

SciPy, when installed (``pip install 'plugrad-backend-numpy[scipy]'``), supplies the
special-function kernels NumPy lacks (erf, erfc, erfinv, lgamma, digamma, xlogy);
without it plugrad computes them from other kernels (see ``plugrad._ops._special``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
from plugrad.backends._spec import KERNEL_KINDS
from plugrad.backends.array_api import kernels_from_namespace

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
try:  # bfloat16 is not NumPy's own: ml_dtypes (a dependency of this backend) registers it
    import ml_dtypes

    DTYPES["bfloat16"] = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - an install without ml_dtypes lacks bfloat16, with plugrad's error
    pass

#: dtypes NumPy's generator cannot draw directly: drawn as float32 and rounded
_DRAWN_AS_FLOAT32 = frozenset(d for n, d in DTYPES.items() if n in ("float16", "bfloat16"))

_Array = np.ndarray


def _arr(x: Any) -> _Array:
    return x if type(x) is np.ndarray else np.asarray(x)


# ---------------------------------------------------------------------------- elementwise
#: Kernel name -> NumPy ufunc name where they differ (the rest share the standard's name).
_UFUNC_NAMES = {"round": "rint"}  # np.round is not a ufunc; rint rounds half to even, as the contract says


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
        unary.__plugrad_into__ = uf  # type: ignore[attr-defined]
        return unary

    def binary(x1: Any, x2: Any) -> _Array:
        r = uf(x1, x2)
        return r if type(r) is nd else asarray(r)

    binary.__name__ = binary.__qualname__ = name
    # The same computation, taking ``out=`` (plugrad.compile's replay compiler writes intermediates into
    # reused buffers with it: 4,096 float32 adds 1.27 -> 0.76 us; and calls it directly where the result
    # has a dimension, as the wrapper changes only 0-d results).
    binary.__plugrad_into__ = uf  # type: ignore[attr-defined]
    return binary


def _elementwise() -> dict[str, Callable[..., Any]]:
    """Every elementwise kernel of the catalogue that NumPy has as a ufunc."""
    out = {}
    for name, kind in KERNEL_KINDS.items():
        if kind in ("unary", "predicate", "binary", "comparison"):
            uf = getattr(np, _UFUNC_NAMES.get(name, name), None)
            if isinstance(uf, np.ufunc):
                out[name] = _ufunc(_UFUNC_NAMES.get(name, name))
    return out


def sigmoid(x: _Array) -> _Array:
    """``1 / (1 + exp(-x))`` in three ufunc calls, the last two in place.

    Where ``exp(-x)`` overflows (x below about -88 in float32) the result is the exact 0
    the formula tends to, without a warning (even under ``-W error``).
    """
    with np.errstate(over="ignore"):
        e = np.exp(np.negative(x))
    if type(e) is not np.ndarray:  # 0-d input: NumPy gave a scalar
        return np.asarray(1 / (1 + e))
    e += 1
    return np.reciprocal(e, out=e)


_BFLOAT16 = DTYPES.get("bfloat16")


def where(condition: _Array, x1: Any, x2: Any) -> _Array:
    out = np.where(condition, x1, x2)
    if type(x1) is float and type(x2) is np.ndarray and x2.dtype == _BFLOAT16 and out.dtype != _BFLOAT16:
        # a Python float first with an ml_dtypes bfloat16 array: NumPy promotes to float32 (in no
        # other kernel, and not with the operands the other way round); the contract keeps bfloat16
        out = out.astype(_BFLOAT16)
    return _arr(out)


def clip(x: _Array, min: Any = None, max: Any = None) -> _Array:
    if min is None and max is None:
        return x.copy()
    if min is None:
        return _arr(np.minimum(x, max))
    if max is None:
        return _arr(np.maximum(x, min))
    return _arr(np.minimum(np.maximum(x, min), max))


# ---------------------------------------------------------------------------- reductions
def _reduction(ufunc: np.ufunc) -> Callable[..., _Array]:
    reduce = ufunc.reduce

    def kernel(x: _Array, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> _Array:
        return _arr(reduce(x, axis=axis, keepdims=keepdims))

    kernel.__name__ = ufunc.__name__
    return kernel


def _int_accumulating(ufunc: np.ufunc) -> Callable[..., _Array]:
    reduce = ufunc.reduce

    def kernel(x: _Array, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> _Array:
        dt = np.int64 if x.dtype.kind in "biu" else None
        return _arr(reduce(x, axis=axis, keepdims=keepdims, dtype=dt))

    kernel.__name__ = ufunc.__name__
    return kernel


_add_reduce: Callable[..., Any] = np.add.reduce
_true_divide = np.true_divide
_LEAN_MEAN = (np.dtype(np.float32), np.dtype(np.float64))


def mean(x: _Array, axis: tuple[int, ...] | None = None, keepdims: bool = False) -> _Array:
    """``np.mean``'s result, bit for bit: for float32/float64 the same pairwise sum and one
    division, without ``np.mean``'s Python layer (1,000 float32: about 3.9 us -> 1.7 us)."""
    if x.dtype not in _LEAN_MEAN or x.size == 0:
        return _arr(np.mean(x, axis=axis, keepdims=keepdims))
    if axis is None:
        n = x.size
    else:
        n = 1
        for a in axis:
            n *= x.shape[a]
    return _arr(_true_divide(_add_reduce(x, axis=axis, keepdims=keepdims), n))


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
    out = np.matmul(x1, x2)  # not out=...: NumPy < 2.3 rejects it
    if out.dtype != x1.dtype:  # ml_dtypes' bfloat16 matmul accumulates and returns float32
        out = out.astype(x1.dtype)
    return _arr(out)


# ---------------------------------------------------------------------------- layout
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


def copy(x: _Array) -> _Array:
    return np.array(x, copy=True, order="C")


# ---------------------------------------------------------------------------- indexing
def getitem(x: _Array, key: Any) -> _Array:
    r = x[key]
    if type(r) is not np.ndarray:
        # All-integer keys give a NumPy scalar (a copy); index again with a trailing
        # Ellipsis to get the 0-d view plugrad's semantics need.
        r = x[(*key, Ellipsis)] if isinstance(key, tuple) else x[key, ...]
    return r


def setitem(x: _Array, key: Any, value: Any) -> None:
    x[key] = value


def index_add(x: _Array, key: Any, values: Any) -> None:
    np.add.at(x, key, values)


def copy_into(dst: _Array, src: Any) -> None:
    np.copyto(dst, src, casting="unsafe")


# ---------------------------------------------------------------------------- random
def random_uniform(shape: tuple[int, ...], dtype: Any) -> _Array:
    if dtype in _DRAWN_AS_FLOAT32:
        return _rng.random(shape, dtype=np.float32).astype(dtype)
    return _rng.random(shape, dtype=dtype)


def random_normal(shape: tuple[int, ...], dtype: Any) -> _Array:
    if dtype in _DRAWN_AS_FLOAT32:
        return _rng.standard_normal(shape, dtype=np.float32).astype(dtype)
    return _rng.standard_normal(shape, dtype=dtype)


def random_seed(seed: int) -> None:
    global _rng
    _rng = np.random.default_rng(seed)


# ---------------------------------------------------------------------------- conversion
def to_bytes(x: _Array) -> bytes:
    a = np.ascontiguousarray(x)
    if a.dtype.byteorder == ">":
        a = a.byteswap().view(a.dtype.newbyteorder("<"))
    return a.tobytes()


def from_bytes(buf: bytes, dtype: Any, shape: tuple[int, ...]) -> _Array:
    return np.frombuffer(buf, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)


def to_numpy(x: _Array) -> _Array:
    return x


# ---------------------------------------------------------------------------- SciPy's special functions
#: Kernel name -> the ``scipy.special`` ufunc computing it.
_SCIPY_SPECIAL = {
    "erf": "erf",
    "erfc": "erfc",
    "erfinv": "erfinv",
    "lgamma": "gammaln",
    "digamma": "psi",
    "xlogy": "xlogy",
}


def _unary_special(uf: Any) -> Callable[..., _Array]:
    # SciPy has no float16 loops (it computes in float64): round back to the input's dtype
    def kernel(x: Any) -> _Array:
        r = _arr(uf(x))
        return r if r.dtype == x.dtype else r.astype(x.dtype)

    return kernel


def _binary_special(uf: Any) -> Callable[..., _Array]:
    # SciPy's ufuncs widen a float32 array with a Python scalar to float64; the contract keeps the array's dtype
    def kernel(x1: Any, x2: Any) -> _Array:
        r = _arr(uf(x1, x2))
        dt = x1.dtype if type(x1) is np.ndarray else x2.dtype
        return r if r.dtype == dt else r.astype(dt)

    return kernel


def _scipy_kernels() -> dict[str, Callable[..., Any]]:
    """The special-function kernels from SciPy, or none when SciPy is not installed."""
    try:
        sc = importlib.import_module("scipy.special")  # optional: the [scipy] extra (untyped, hence by name)
    except ImportError:
        return {}
    out: dict[str, Callable[..., Any]] = {}
    for name, fn_name in _SCIPY_SPECIAL.items():
        uf = getattr(sc, fn_name)
        if uf.nin == 1:
            out[name] = _unary_special(uf)
        else:
            out[name] = _binary_special(uf)
    return out


# ---------------------------------------------------------------------------- the table
KERNELS: dict[str, Callable[..., Any]] = kernels_from_namespace(np, to_numpy=to_numpy)

# The NumPy fast paths, each replacing the adapter's kernel of the same name (figures: ns per call on
# a (16,) float32 or (4, 4) array, adapter -> here, from `python benchmarks/kernel_timing.py` on a
# shared 2-core x86-64; matmul keeps out=... only so that 1-D @ 1-D gives a 0-d array).
KERNELS.update(_elementwise())  # ufunc + 0-d guard (0-d: an array, not a scalar): add 640 -> 320, divide 650 -> 310
KERNELS.update(
    {
        # 0-d results as arrays (the adapter's give NumPy scalars); ufunc.reduce(out=...): sum 8500 -> 980, max 9900 -> 890
        "sum": _int_accumulating(np.add),
        "prod": _int_accumulating(np.multiply),
        "max": _reduction(np.maximum),
        "min": _reduction(np.minimum),
        "mean": mean,  # np.add.reduce and one divide: 3900 -> 1700 on 1,000 float32
        "argmax": _arg(np.argmax),  # 8000 -> 1400
        "argmin": _arg(np.argmin),
        "all": _bool_reduction(np.all),
        "any": _bool_reduction(np.any),
        "cumulative_sum": cumulative_sum,
        "cumulative_prod": cumulative_prod,
        "matmul": matmul,  # 1-D @ 1-D gives a 0-d array
        "where": where,  # no scalar wrapping: 1160 -> 710
        # the optional fused kernel (errstate silences exp overflow at x < -88): about 3.5x faster than
        # core composing sigmoid from six kernels (measured under load: 33900 -> 9300)
        "sigmoid": sigmoid,
        # storage basics (issue 17): Tensor.data_ptr()
        "data_ptr": lambda x: int(x.__array_interface__["data"][0]),
        "clip": clip,  # no scalar wrapping: 4000 -> 1150
        # layout: ndarray methods instead of the adapter's checks (reshape is on every view's path)
        "reshape": reshape,  # 650 -> 190
        "permute_dims": lambda x, axes: x.transpose(axes),  # 400 -> 170
        "broadcast_to": np.broadcast_to,  # no tuple() wrapper: on every expand and broadcast gradient
        "astype": lambda x, dtype: x.astype(dtype),  # 660 -> 240
        "copy": copy,  # one C-ordered copy instead of two reshapes: 1600 -> 280
        "tolist": np.ndarray.tolist,  # 280 -> 170
        # native indexing: 0-d views for all-integer keys; NumPy's advanced indexing and np.add.at
        # instead of the adapter's flat positions and one-hot scatter (O(selected * size))
        "getitem": getitem,  # 1470 -> 170
        "setitem": setitem,  # 1200 -> 270
        "index_add": index_add,  # 50000 -> 730
        "copy_into": copy_into,  # 3000 -> 360
        # NumPy's generator instead of Python's random (and its state, for plugrad.Generator)
        "random_uniform": random_uniform,  # 2300 -> 700 for 16 numbers
        "random_normal": random_normal,
        "random_seed": random_seed,
        # buffers instead of per-element struct packing
        "to_bytes": to_bytes,  # 1400 -> 180
        "from_bytes": from_bytes,
    }
)
KERNELS.update(_scipy_kernels())  # the optional special functions NumPy lacks


# ---------------------------------------------------------------------- linalg (issue 17)
# The adapter gives the linalg kernels from numpy.linalg (with LAPACK's info for singular
# input); the triangular solve, which numpy.linalg lacks, comes from SciPy when it is
# installed (a LAPACK trtrs per matrix, reading only the triangle) instead of the adapter's
# masked general solve.


def _scipy_solve_triangular() -> Callable[..., Any] | None:
    try:
        sl = importlib.import_module("scipy.linalg")  # optional: the [scipy] extra
    except ImportError:
        return None

    def linalg_solve_triangular(x1: _Array, x2: _Array, *, upper: bool, unitriangular: bool) -> _Array:
        batch = x1.shape[:-2]
        a = x1.reshape(-1, *x1.shape[-2:])
        b = x2.reshape(-1, *x2.shape[-2:])
        out = np.empty(b.shape, dtype=np.result_type(x1, x2))
        with np.errstate(divide="ignore", invalid="ignore"):
            for i in range(a.shape[0]):
                try:
                    out[i] = sl.solve_triangular(
                        a[i], b[i], lower=not upper, unit_diagonal=unitriangular, check_finite=False
                    )
                except np.linalg.LinAlgError:  # a zero on the diagonal: non-finite values, as PyTorch gives
                    out[i] = np.nan
        return out.reshape(*batch, *x2.shape[-2:])

    return linalg_solve_triangular


if (_trsv := _scipy_solve_triangular()) is not None:
    KERNELS["linalg_solve_triangular"] = _trsv
