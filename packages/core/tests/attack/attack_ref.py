"""Python references for the API attack: what a call must return, or that it must fail.

A reference takes the call's inputs as :class:`Val` (flat values, shape, dtype name) or
plain Python values and returns

- :class:`Expect` (the result's values, shape and dtype),
- :data:`ERROR` (the call is invalid in PyTorch: plugrad must raise), or
- :data:`UNKNOWN` (the reference does not cover this combination).

Everything is computed with Python numbers: PyTorch's promotion lattice written out
by hand, integer results wrapped to their width, float32 rounding through ``struct``.
Nothing here calls plugrad.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from typing import Any

from plugrad.testing import _reference as R

INTS = ("uint8", "int8", "int16", "int32", "int64")
FLOATS = ("float16", "float32", "float64")
BITS = {"uint8": 8, "int8": 8, "int16": 16, "int32": 32, "int64": 64}
ITEMSIZE = {
    "bool": 1,
    "uint8": 1,
    "int8": 1,
    "int16": 2,
    "int32": 4,
    "int64": 8,
    "float16": 2,
    "float32": 4,
    "float64": 8,
}


@dataclass(frozen=True)
class Val:
    """A tensor as the reference sees it."""

    flat: tuple[Any, ...]
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class Expect:
    flat: tuple[Any, ...]
    shape: tuple[int, ...]
    dtype: str


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


ERROR = _Marker("ERROR")
UNKNOWN = _Marker("UNKNOWN")


# ------------------------------------------------------------------ dtypes
def category(dt: str) -> int:
    return 0 if dt == "bool" else 1 if dt in INTS else 2


def promote(a: str, b: str) -> str:
    """PyTorch's ``promote_types`` for the real dtypes."""
    if a == b:
        return a
    ca, cb = category(a), category(b)
    if ca != cb:
        hi, lo = (a, b) if ca > cb else (b, a)
        return hi
    if ca == 1:
        if "uint8" in (a, b):
            other = b if a == "uint8" else a
            return "int16" if other == "int8" else other
        return a if BITS[a] > BITS[b] else b
    return a if ITEMSIZE[a] > ITEMSIZE[b] else b


def scalar_category(v: Any) -> int:
    return 0 if isinstance(v, bool) else 1 if isinstance(v, int) else 2


def result_type(*ops: Any) -> str:
    """Promotion over tensors with dims, 0-d tensors and Python scalars (default float32)."""
    dimmed = [o.dtype for o in ops if isinstance(o, Val) and o.shape]
    zero = [o.dtype for o in ops if isinstance(o, Val) and not o.shape]
    scalars = [scalar_category(o) for o in ops if not isinstance(o, Val)]
    result: str | None = None
    for dt in dimmed:
        result = dt if result is None else promote(result, dt)
    if zero:
        z = zero[0]
        for dt in zero[1:]:
            z = promote(z, dt)
        if result is None or category(z) > category(result):
            result = z if result is None else promote(result, z)
    if scalars:
        c = max(scalars)
        if result is None or c > category(result):
            result = ("bool", "int64", "float32")[c]
    assert result is not None
    return result


def cast(v: Any, dt: str) -> Any:
    """A Python number stored as ``dt``: wrap integers, round floats."""
    if dt == "bool":
        return bool(v)
    if dt in INTS:
        if isinstance(v, float):
            if not math.isfinite(v):
                return None  # undefined in C; callers treat this as "unknown"
            v = int(v)
        bits = BITS[dt]
        v = int(v) & ((1 << bits) - 1)
        if dt != "uint8" and v >= 1 << (bits - 1):
            v -= 1 << bits
        return v
    return R.to_dtype_value(float(v), dt)


def fits(v: int, dt: str) -> bool:
    if dt == "uint8":
        return 0 <= v < 256
    bits = BITS[dt]
    return -(1 << (bits - 1)) <= v < (1 << (bits - 1))


# ------------------------------------------------------------------ helpers
def numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def canon_dim(dim: Any, ndim: int) -> int | None:
    """PyTorch's dim wrapping (0-d tensors take dims -1 and 0); ``None`` when invalid."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        return None
    n = max(ndim, 1)
    if not -n <= dim < n:
        return None
    return dim % n


def at(v: Val, idx: tuple[int, ...]) -> Any:
    k = 0
    for i, s in zip(idx, R.strides(v.shape)):
        k += i * s
    return v.flat[k]


def gather_indices(
    v: Val, shape: tuple[int, ...], source: Callable[[tuple[int, ...]], tuple[int, ...]], dtype: str | None = None
) -> Expect:
    """A result of ``shape`` whose element at ``idx`` is ``v`` at ``source(idx)``."""
    flat = tuple(at(v, source(idx)) for idx in product(*(range(n) for n in shape)))
    return Expect(flat, shape, dtype or v.dtype)


# ------------------------------------------------------------------ elementwise
UNARY_FLOAT: dict[str, Callable[[float], Any]] = {
    "exp": R.safe(math.exp),
    "expm1": R.safe(math.expm1),
    "log": R.log_ieee(math.log),
    "log2": R.log_ieee(math.log2),
    "log10": R.log_ieee(math.log10),
    "log1p": R.log1p_ieee,
    "sqrt": R.sqrt_ieee,
    "sin": R.safe(math.sin),
    "cos": R.safe(math.cos),
    "tanh": R.safe(math.tanh),
    "abs": abs,
    "neg": lambda x: -x,
    "square": lambda x: x * x,
    "reciprocal": lambda x: R.divide(1.0, x),
    "sigmoid": lambda x: 1.0 / (1.0 + R.safe(math.exp)(-x)) if not math.isnan(x) else x,
    "relu": lambda x: x if (math.isnan(x) or x > 0) else 0.0,
    "floor": lambda x: float(math.floor(x)) if math.isfinite(x) else x,
    "ceil": lambda x: float(math.ceil(x)) if math.isfinite(x) else x,
    "trunc": lambda x: float(math.trunc(x)) if math.isfinite(x) else x,
    "sign": R.sign,
}
PREDICATES: dict[str, Callable[[float], bool]] = {
    "isnan": lambda x: isinstance(x, float) and math.isnan(x),
    "isinf": lambda x: isinstance(x, float) and math.isinf(x),
    "isfinite": lambda x: not (isinstance(x, float) and not math.isfinite(x)),
}


def unary(name: str, x: Val) -> Any:
    if name in PREDICATES:
        return Expect(tuple(PREDICATES[name](float(v) if x.dtype in FLOATS else v) for v in x.flat), x.shape, "bool")
    if x.dtype not in ("float32", "float64"):
        return UNKNOWN
    f = UNARY_FLOAT[name]
    return Expect(tuple(cast(f(float(v)), x.dtype) for v in x.flat), x.shape, x.dtype)


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def f(a: Any, b: Any) -> bool:
        if (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
            return op is _ne
        return op(a, b)

    return f


def _ne(a: Any, b: Any) -> bool:
    return a != b


BINARY: dict[str, tuple[Callable[[Any, Any], Any], bool]] = {  # name -> (f, result is bool)
    "add": (lambda a, b: a + b, False),
    "sub": (lambda a, b: a - b, False),
    "mul": (lambda a, b: a * b, False),
    "div": (R.divide, False),
    "maximum": (R.maximum, False),
    "minimum": (R.minimum, False),
    "eq": (_cmp(lambda a, b: a == b), True),
    "ne": (_cmp(_ne), True),
    "lt": (_cmp(lambda a, b: a < b), True),
    "le": (_cmp(lambda a, b: a <= b), True),
    "gt": (_cmp(lambda a, b: a > b), True),
    "ge": (_cmp(lambda a, b: a >= b), True),
}


def _py(v: Any, dt: str) -> Any:
    """``v`` (already stored as ``dt``) as the Python number arithmetic in ``dt`` uses."""
    return float(v) if dt in FLOATS else int(v)


def binary(name: str, a: Val, b: Any, reflected: bool = False) -> Any:
    """``name(a, b)`` (``name(b, a)`` when ``reflected``), ``b`` a Val or a Python scalar."""
    if isinstance(b, Val):
        if "bool" in (a.dtype, b.dtype):
            return UNKNOWN
        try:
            shape = R.broadcast_shape(a.shape, b.shape)
        except ValueError:
            return ERROR
    else:
        if isinstance(b, bool) or not isinstance(b, (int, float)) or a.dtype == "bool":
            return UNKNOWN
        if name in ("maximum", "minimum"):
            return ERROR  # PyTorch: maximum(Tensor, Number) is a TypeError
        shape = a.shape
    f, is_bool = BINARY[name]
    dt = result_type(a, b)
    compute = dt
    if name == "div" and dt not in FLOATS:
        compute = "float32"
    if not isinstance(b, Val):
        if isinstance(b, int) and compute in INTS and not fits(b, compute):
            return ERROR  # plugrad: a Python int that does not fit the integer dtype is an error
        if isinstance(b, float) and not math.isfinite(b) and compute in INTS:
            return UNKNOWN
    if compute == "float16":
        return UNKNOWN

    def conv(v: Val) -> tuple[list[Any], tuple[int, ...]]:
        return [_py(cast(x, compute), compute) for x in v.flat], v.shape

    ca = conv(a)
    cb = conv(b) if isinstance(b, Val) else ([_py(cast(b, compute), compute)], ())
    if reflected:
        ca, cb = cb, ca
    values, out_shape = R.elementwise(f, ca, cb)
    assert tuple(out_shape) == shape or reflected
    out_dt = "bool" if is_bool else compute
    return Expect(tuple(v if is_bool else cast(v, out_dt) for v in values), tuple(out_shape), out_dt)


# ------------------------------------------------------------------ reductions
def _dims(dim: Any, ndim: int) -> tuple[int, ...] | _Marker | None:
    """Reduction dims: ``None`` for all; ERROR when invalid; UNKNOWN for odd kinds."""
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        out = []
        for d in dim:
            c = canon_dim(d, ndim)
            if c is None:
                return ERROR if isinstance(d, int) and not isinstance(d, bool) else UNKNOWN
            if c in out:
                return ERROR
            out.append(c)
        return tuple(out) if ndim and out else None
    if isinstance(dim, bool):
        return ERROR
    if not isinstance(dim, int):
        return UNKNOWN
    c = canon_dim(dim, ndim)
    if c is None:
        return ERROR
    return (c,) if ndim else None


def reduction(name: str, x: Val, dim: Any = None, keepdim: bool = False) -> Any:
    if not isinstance(keepdim, bool):
        return UNKNOWN
    if name == "prod" and isinstance(dim, (list, tuple)):
        return ERROR  # PyTorch's prod takes one dim
    axes = _dims(dim, len(x.shape))
    if axes is ERROR or axes is UNKNOWN:
        return axes
    assert axes is None or isinstance(axes, tuple)
    if x.dtype == "bool" or x.dtype == "float16":
        return UNKNOWN
    floating = x.dtype in FLOATS
    if name == "mean" and not floating:
        return ERROR
    nd = len(x.shape)
    reduced = set(range(nd)) if axes is None else set(axes)
    if name in ("amax", "amin") and any(x.shape[i] == 0 for i in reduced):
        return ERROR
    if name in ("sum", "prod"):
        out_dt = x.dtype if floating else "int64"
    else:
        out_dt = x.dtype
    vals = [float(v) if floating else int(v) for v in x.flat]

    def f(group: list[Any]) -> Any:
        if name == "sum":
            return (
                math.fsum(group)
                if floating and all(math.isfinite(g) for g in group)
                else sum(group, 0.0 if floating else 0)
            )
        if name == "prod":
            p: Any = 1.0 if floating else 1
            for g in group:
                p *= g
            return p
        if name == "mean":
            return (
                (math.fsum(group) if all(math.isfinite(g) for g in group) else sum(group)) / len(group)
                if group
                else math.nan
            )
        pick = R.maximum if name == "amax" else R.minimum
        acc = group[0]
        for g in group[1:]:
            acc = pick(acc, g)
        return acc

    nested = R.reduce(vals, x.shape, None if axes is None else list(axes), keepdim and nd > 0, f)
    flat = R.flatten(nested) if (keepdim and nd > 0) or (axes is not None and len(axes) < nd) else [nested]
    if axes is None and keepdim and nd > 0:
        shape: tuple[int, ...] = (1,) * nd
    elif keepdim:
        shape = tuple(1 if i in reduced else s for i, s in enumerate(x.shape))
    else:
        shape = tuple(s for i, s in enumerate(x.shape) if i not in reduced)
    if numel(shape) != len(flat):  # an empty result: R.reduce gives [] with the right shape
        flat = []
    return Expect(tuple(cast(v, out_dt) for v in flat), shape, out_dt)


# ------------------------------------------------------------------ shapes
def reshape(x: Val, shape: Any) -> Any:
    if not isinstance(shape, (list, tuple)):
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        else:
            return UNKNOWN
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in shape):
        return UNKNOWN
    if sum(1 for s in shape if s == -1) > 1 or any(s < -1 for s in shape):
        return ERROR
    known = numel(tuple(s for s in shape if s != -1))
    n = numel(x.shape)
    if -1 in shape:
        if known == 0:
            return ERROR
        if n % known:
            return ERROR
        shape = tuple(n // known if s == -1 else s for s in shape)
    elif known != n:
        return ERROR
    return Expect(x.flat, tuple(shape), x.dtype)


def permute(x: Val, dims: Any) -> Any:
    if not isinstance(dims, (list, tuple)) or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
        return UNKNOWN
    nd = len(x.shape)
    if len(dims) != nd:
        return ERROR
    canon = [canon_dim(d, nd) for d in dims]
    if any(c is None for c in canon) or len(set(canon)) != nd:
        return ERROR
    perm = [int(c) for c in canon]  # type: ignore[arg-type]
    shape = tuple(x.shape[p] for p in perm)

    def source(idx: tuple[int, ...]) -> tuple[int, ...]:
        src = [0] * nd
        for i, p in enumerate(perm):
            src[p] = idx[i]
        return tuple(src)

    return gather_indices(x, shape, source)


def transpose(x: Val, d0: Any, d1: Any) -> Any:
    nd = len(x.shape)
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in (d0, d1)):
        return UNKNOWN
    a, b = canon_dim(d0, nd), canon_dim(d1, nd)
    if a is None or b is None:
        return ERROR
    if nd == 0:
        return Expect(x.flat, x.shape, x.dtype)
    perm = list(range(nd))
    perm[a], perm[b] = perm[b], perm[a]
    return permute(x, tuple(perm))


def flip(x: Val, dims: Any) -> Any:
    if not isinstance(dims, (list, tuple)) or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
        return UNKNOWN
    nd = len(x.shape)
    canon = [canon_dim(d, nd) for d in dims]
    if any(c is None for c in canon) or len(set(canon)) != len(canon):
        return ERROR
    axes = {int(c) for c in canon} if nd else set()  # type: ignore[arg-type]
    return gather_indices(
        x, x.shape, lambda idx: tuple(x.shape[i] - 1 - v if i in axes else v for i, v in enumerate(idx))
    )


def unsqueeze(x: Val, dim: Any) -> Any:
    if isinstance(dim, bool) or not isinstance(dim, int):
        return UNKNOWN
    nd = len(x.shape) + 1
    if not -nd <= dim < nd:
        return ERROR
    d = dim % nd
    return Expect(x.flat, x.shape[:d] + (1,) + x.shape[d:], x.dtype)


def squeeze(x: Val, dim: Any) -> Any:
    if isinstance(dim, bool) or not isinstance(dim, int):
        return UNKNOWN
    c = canon_dim(dim, len(x.shape))
    if c is None:
        return ERROR
    if x.shape and x.shape[c] == 1:
        return Expect(x.flat, x.shape[:c] + x.shape[c + 1 :], x.dtype)
    return Expect(x.flat, x.shape, x.dtype)


def flatten(x: Val, start: Any, end: Any) -> Any:
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in (start, end)):
        return UNKNOWN
    nd = len(x.shape)
    a, b = canon_dim(start, nd), canon_dim(end, nd)
    if a is None or b is None:
        return ERROR
    if nd == 0:
        return Expect(x.flat, (1,), x.dtype)
    if a > b:
        return ERROR
    shape = x.shape[:a] + (numel(x.shape[a : b + 1]),) + x.shape[b + 1 :]
    return Expect(x.flat, shape, x.dtype)


def narrow(x: Val, dim: Any, start: Any, length: Any) -> Any:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (dim, start, length)):
        return UNKNOWN
    nd = len(x.shape)
    if nd == 0:
        return ERROR
    d = canon_dim(dim, nd)
    if d is None:
        return ERROR
    size = x.shape[d]
    if not -size <= start <= size:
        return ERROR
    start = start + size if start < 0 else start
    if length < 0 or start + length > size:
        return ERROR
    shape = x.shape[:d] + (length,) + x.shape[d + 1 :]
    return gather_indices(x, shape, lambda idx: idx[:d] + (idx[d] + start,) + idx[d + 1 :])


def select(x: Val, dim: Any, index: Any) -> Any:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (dim, index)):
        return UNKNOWN
    nd = len(x.shape)
    if nd == 0:
        return ERROR
    d = canon_dim(dim, nd)
    if d is None:
        return ERROR
    size = x.shape[d]
    if not -size <= index < size:
        return ERROR
    i = index % size
    shape = x.shape[:d] + x.shape[d + 1 :]
    return gather_indices(x, shape, lambda idx: idx[:d] + (i,) + idx[d:])


def cat(tensors: list[Any], dim: Any) -> Any:
    if not tensors or not all(isinstance(t, Val) for t in tensors) or isinstance(dim, bool) or not isinstance(dim, int):
        return UNKNOWN
    if len({t.dtype for t in tensors}) > 1:
        return UNKNOWN  # promotion across cat: not covered
    legacy_empty = [t for t in tensors if t.shape == (0,)]
    rest = [t for t in tensors if t.shape != (0,)]
    if not rest:
        return UNKNOWN
    nd = len(rest[0].shape)
    if nd == 0 or any(len(t.shape) != nd for t in rest):
        return ERROR
    d = canon_dim(dim, nd)
    if d is None:
        return ERROR
    for t in rest:
        if t.shape[:d] + t.shape[d + 1 :] != rest[0].shape[:d] + rest[0].shape[d + 1 :]:
            return ERROR
    del legacy_empty
    shape = rest[0].shape[:d] + (sum(t.shape[d] for t in rest),) + rest[0].shape[d + 1 :]
    flat = []
    for idx in product(*(range(n) for n in shape)):
        k = idx[d]
        for t in rest:
            if k < t.shape[d]:
                flat.append(at(t, idx[:d] + (k,) + idx[d + 1 :]))
                break
            k -= t.shape[d]
    return Expect(tuple(flat), shape, rest[0].dtype)


def stack(tensors: list[Any], dim: Any) -> Any:
    if not tensors or not all(isinstance(t, Val) for t in tensors) or isinstance(dim, bool) or not isinstance(dim, int):
        return UNKNOWN
    if len({t.dtype for t in tensors}) > 1:
        return UNKNOWN
    if len({t.shape for t in tensors}) > 1:
        return ERROR
    nd = len(tensors[0].shape) + 1
    if not -nd <= dim < nd:
        return ERROR
    d = dim % nd
    return cat([Val(t.flat, t.shape[:d] + (1,) + t.shape[d:], t.dtype) for t in tensors], d)


def getitem(x: Val, key: Any) -> Any:
    """Basic indexing: ints, slices (positive steps), ``None`` and one ``...``."""
    parts = key if isinstance(key, tuple) else (key,)
    for p in parts:
        if not (p is None or p is Ellipsis or isinstance(p, slice) or (isinstance(p, int) and not isinstance(p, bool))):
            return UNKNOWN
        if isinstance(p, slice) and not all(
            v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in (p.start, p.stop, p.step)
        ):
            return UNKNOWN
    if sum(1 for p in parts if p is Ellipsis) > 1:
        return UNKNOWN
    used = sum(1 for p in parts if p is not None and p is not Ellipsis)
    nd = len(x.shape)
    if used > nd:
        return ERROR
    if Ellipsis in parts:
        i = parts.index(Ellipsis)
        parts = parts[:i] + (slice(None),) * (nd - used) + parts[i + 1 :]
    else:
        parts = parts + (slice(None),) * (nd - used)
    out_shape: list[int] = []
    plan: list[Any] = []  # per source dim: an int, or a list of indices
    dim = 0
    for p in parts:
        if p is None:
            out_shape.append(1)
            continue
        size = x.shape[dim]
        if isinstance(p, int):
            if not -size <= p < size:
                return ERROR
            plan.append(p % size)
        else:
            if p.step is not None and p.step <= 0:
                return ERROR
            idx = list(range(*p.indices(size)))
            plan.append(idx)
            out_shape.append(len(idx))
        dim += 1
    flat = []
    choices = [p if isinstance(p, list) else [p] for p in plan]
    for idx in product(*choices):
        flat.append(at(x, tuple(idx)))
    return Expect(tuple(flat), tuple(out_shape), x.dtype)
