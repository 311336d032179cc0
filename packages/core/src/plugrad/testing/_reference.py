"""Pure-Python references for the conformance suite: nested lists, broadcasting, closeness.

Nothing here imports an array library: expected values are computed with :mod:`math`
on the values a backend hands back through its ``tolist`` kernel.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from itertools import product
from typing import Any

Shape = tuple[int, ...]

#: (rtol, atol) per dtype name, as ``torch.testing.assert_close`` uses them.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-3, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
}


def numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def flatten(nested: Any) -> list[Any]:
    """The leaves of nested lists in C order (a bare scalar gives a one-element list)."""
    if not isinstance(nested, list):
        return [nested]
    out: list[Any] = []
    stack = [iter(nested)]
    while stack:
        try:
            item = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        if isinstance(item, list):
            stack.append(iter(item))
        else:
            out.append(item)
    return out


def shape_of(nested: Any) -> Shape:
    shape: list[int] = []
    while isinstance(nested, list):
        shape.append(len(nested))
        if not nested:
            break
        nested = nested[0]
    return tuple(shape)


def unflatten(flat: Sequence[Any], shape: Sequence[int]) -> Any:
    """Nested lists of ``shape`` from C-ordered ``flat`` (a bare scalar for ``()``)."""
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    step = numel(shape[1:])
    return [unflatten(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def strides(shape: Sequence[int]) -> list[int]:
    out = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        out[i] = out[i + 1] * shape[i + 1]
    return out


def broadcast_shape(*shapes: Sequence[int]) -> Shape:
    nd = max((len(s) for s in shapes), default=0)
    out = [1] * nd
    for s in shapes:
        for i, v in enumerate(s):
            j = nd - len(s) + i
            if out[j] == 1:
                out[j] = v
            elif v not in (1, out[j]):
                raise ValueError(f"shapes {shapes} do not broadcast")
    return tuple(out)


def broadcast_flat(flat: Sequence[Any], shape: Sequence[int], to: Sequence[int]) -> list[Any]:
    """``flat`` (of ``shape``) broadcast to shape ``to``, flattened."""
    st = strides(shape)
    off = len(to) - len(shape)
    out = []
    for idx in product(*(range(n) for n in to)):
        k = 0
        for i, s in enumerate(shape):
            if s != 1:
                k += idx[off + i] * st[i]
        out.append(flat[k])
    return out


def elementwise(f: Callable[..., Any], *args: tuple[Sequence[Any], Sequence[int]]) -> tuple[list[Any], Shape]:
    """Apply ``f`` elementwise to ``(flat, shape)`` operands with broadcasting."""
    to = broadcast_shape(*(s for _, s in args))
    cols = [broadcast_flat(v, s, to) for v, s in args]
    return [f(*vals) for vals in zip(*cols)], to


def reduce(
    flat: Sequence[Any], shape: Sequence[int], axes: Sequence[int] | None, keepdims: bool, f: Callable[[list[Any]], Any]
) -> Any:
    """``f`` over the ``axes`` of ``flat`` (all axes for ``None``) as nested lists."""
    nd = len(shape)
    ax = set(range(nd)) if axes is None else {a % nd for a in axes} if nd else set()
    kept = [i for i in range(nd) if i not in ax]
    out_shape = [shape[i] for i in kept]
    st = strides(shape)
    groups: dict[tuple[int, ...], list[Any]] = {idx: [] for idx in product(*(range(shape[i]) for i in kept))}
    for idx in product(*(range(n) for n in shape)):
        key = tuple(idx[i] for i in kept)
        groups[key].append(flat[sum(i * s for i, s in zip(idx, st))])
    values = [f(groups[k]) for k in product(*(range(shape[i]) for i in kept))]
    if keepdims:
        out_shape = [1 if i in ax else shape[i] for i in range(nd)]
    return unflatten(values, out_shape)


def is_close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    """``a`` and ``b`` (numbers) agree: NaN matches NaN, infinities match exactly."""
    if isinstance(b, bool) or isinstance(a, bool):
        return bool(a) == bool(b) and type(a) is type(b)
    if isinstance(b, int) and isinstance(a, int):
        return a == b
    fa, fb = float(a), float(b)
    if math.isnan(fb) or math.isnan(fa):
        return math.isnan(fa) and math.isnan(fb)
    if math.isinf(fb) or math.isinf(fa):
        return fa == fb
    return abs(fa - fb) <= atol + rtol * abs(fb)


def mismatches(actual: Any, expected: Any, rtol: float, atol: float, limit: int = 5) -> list[str]:
    """Human-readable differences between two nested lists (shape first)."""
    sa, se = shape_of(actual), shape_of(expected)
    if sa != se:
        return [f"shape {list(sa)} != expected {list(se)}"]
    fa, fe = flatten(actual), flatten(expected)
    bad = []
    for i, (x, y) in enumerate(zip(fa, fe)):
        if not is_close(x, y, rtol, atol):
            bad.append(f"element {i}: got {x!r}, expected {y!r}")
            if len(bad) >= limit:
                break
    return bad


# ----------------------------------------------------------------- math references
def sign(x: float) -> float:
    if isinstance(x, float) and math.isnan(x):
        return x
    return type(x)((x > 0) - (x < 0))


def safe(f: Callable[[float], float]) -> Callable[[float], float]:
    """``f`` with IEEE results where :mod:`math` raises (domain -> NaN, overflow -> inf)."""

    def g(x: float) -> float:
        try:
            return f(x)
        except OverflowError:
            return math.inf
        except ValueError:
            return math.nan

    return g


def log_ieee(base_log: Callable[[float], float]) -> Callable[[float], float]:
    def g(x: float) -> float:
        if math.isnan(x) or x < 0:
            return math.nan
        if x == 0:
            return -math.inf
        if math.isinf(x):
            return math.inf
        return base_log(x)

    return g


def log1p_ieee(x: float) -> float:
    if math.isnan(x) or x < -1:
        return math.nan
    if x == -1:
        return -math.inf
    return math.log1p(x) if not math.isinf(x) else math.inf


def sqrt_ieee(x: float) -> float:
    if math.isnan(x) or x < 0:
        return math.nan
    return math.sqrt(x)


def divide(a: float, b: float) -> float:
    a, b = float(a), float(b)
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def power(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool):
        return a**b
    a, b = float(a), float(b)
    try:
        return math.pow(a, b)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def maximum(a: Any, b: Any) -> Any:
    if (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return math.nan
    return a if a >= b else b


def minimum(a: Any, b: Any) -> Any:
    if (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return math.nan
    return a if a <= b else b


def round_half_even(x: float) -> float:
    if math.isnan(x) or math.isinf(x):
        return x
    return float(round(x))


def to_dtype_value(v: Any, dtype: str) -> Any:
    """A Python number as stored in ``dtype`` (float32/float16 rounding, int truncation, bool)."""
    if dtype == "bool":
        return bool(v)
    if dtype in ("int8", "int16", "int32", "int64", "uint8"):
        return int(v)
    code = {"float32": "<f", "float16": "<e"}.get(dtype)
    if code is None:
        return float(v)
    try:
        return struct.unpack(code, struct.pack(code, float(v)))[0]
    except OverflowError:  # beyond the dtype's range: IEEE rounding gives infinity
        return math.copysign(math.inf, v)


STRUCT_CODES = {
    "bool": "?",
    "uint8": "B",
    "int8": "b",
    "int16": "h",
    "int32": "i",
    "int64": "q",
    "float16": "e",
    "float32": "f",
    "float64": "d",
}
