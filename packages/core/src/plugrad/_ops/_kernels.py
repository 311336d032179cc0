"""Calls of the optional kernels of contract 1.1, with Python fallbacks.

``sort``/``argsort`` and the ``bitwise_*`` kernels are optional in the backend contract
(a backend written for contract 1.0 lacks them). Where a backend has them, the helpers
here call them; otherwise they compute the same result in Python on the values the
backend's ``tolist`` reports and build a new array with ``asarray``: correct on every
backend, fast on none.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .. import _dtype as D
from ..backends import Backend
from ._util import broadcast_shapes

__all__ = ["argsort", "sort", "bitwise_binary", "bitwise_invert"]


def _rows(nested: Any, depth: int) -> list[list[Any]]:
    """The innermost lists of ``nested`` (``depth`` levels deep), in C order."""
    if depth == 1:
        return [nested]
    out: list[list[Any]] = []
    for item in nested:
        out.extend(_rows(item, depth - 1))
    return out


def _nest(flat: list[Any], shape: tuple[int, ...]) -> Any:
    if len(shape) == 1:
        return flat
    step = math.prod(shape[1:])
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _sort_key(v: Any) -> tuple[bool, Any]:
    """NaN after every number (``(True, 0)`` sorts last)."""
    if isinstance(v, float) and math.isnan(v):
        return (True, 0.0)
    return (False, v)


def _python_argsort(be: Backend, x: Any, axis: int, descending: bool) -> Any:
    """``argsort`` through Python's stable ``sorted`` (``reverse=True`` stays stable)."""
    nd = x.ndim
    perm = tuple(d for d in range(nd) if d != axis) + (axis,)
    moved = be.permute_dims(x, perm)
    shape = tuple(moved.shape)
    i64 = be.native_dtype(D.int64)
    if math.prod(shape) == 0:
        return be.zeros(tuple(x.shape), i64)
    flat: list[int] = []
    for row in _rows(be.tolist(moved), nd):
        flat.extend(sorted(range(len(row)), key=lambda i: _sort_key(row[i]), reverse=descending))
    out = be.asarray(_nest(flat, shape), i64)
    inverse = tuple(perm.index(d) for d in range(nd))
    return be.copy(be.permute_dims(out, inverse))


def argsort(be: Backend, x: Any, axis: int, descending: bool = False, stable: bool = True) -> Any:
    """The int64 indices sorting ``x`` (at least 1-D, not bool) along ``axis``; NaN sorts last (first descending)."""
    if be.has_kernel("argsort"):
        return be.argsort(x, axis=axis, descending=descending, stable=stable)
    return _python_argsort(be, x, axis, descending)


def sort(be: Backend, x: Any, axis: int, descending: bool = False, stable: bool = True) -> Any:
    """``x`` (at least 1-D, not bool) sorted along ``axis``."""
    if be.has_kernel("sort"):
        return be.sort(x, axis=axis, descending=descending, stable=stable)
    return be.take_along_axis(x, _python_argsort(be, x, axis, descending), axis)


def _wrap(v: int, bits: int, signed: bool) -> int:
    v &= (1 << bits) - 1
    if signed and v >= 1 << (bits - 1):
        v -= 1 << bits
    return v


def _int_format(be: Backend, native: Any) -> tuple[int, bool]:
    dt = be.native_to_dtype[native]
    return dt.itemsize * 8, dt.name != "uint8"


def bitwise_binary(be: Backend, name: str, x: Any, y: Any) -> Any:
    """``bitwise_and``/``bitwise_or``/``bitwise_xor`` of integer or bool arrays (or a Python int on one side)."""
    if be.has_kernel(name):
        return getattr(be, name)(x, y)
    op: Callable[[Any, Any], Any] = {
        "bitwise_and": lambda a, b: a & b,
        "bitwise_or": lambda a, b: a | b,
        "bitwise_xor": lambda a, b: a ^ b,
    }[name]
    arrays = [v for v in (x, y) if not isinstance(v, (bool, int))]
    native = arrays[0].dtype
    shape = broadcast_shapes(*(tuple(a.shape) for a in arrays))
    n = math.prod(shape)

    def values(v: Any) -> list[Any]:
        if isinstance(v, (bool, int)):
            return [v] * n
        flat = be.tolist(be.reshape(be.copy(be.broadcast_to(v, shape)), (-1,)))
        return flat if isinstance(flat, list) else [flat]

    out = [op(a, b) for a, b in zip(values(x), values(y))]
    if not shape:
        return be.asarray(out[0], native)
    if n == 0:
        return be.zeros(shape, native)
    return be.asarray(_nest(out, shape), native)


def bitwise_invert(be: Backend, x: Any) -> Any:
    """``~x`` of an integer or bool array."""
    if be.has_kernel("bitwise_invert"):
        return be.bitwise_invert(x)
    if be.native_to_dtype[x.dtype] is D.bool_:
        return be.logical_not(x)
    bits, signed = _int_format(be, x.dtype)
    return be.asarray(_map(lambda v: _wrap(~v, bits, signed), be.tolist(x)), x.dtype)


def _map(f: Callable[[Any], Any], nested: Any) -> Any:
    if isinstance(nested, list):
        return [_map(f, v) for v in nested]
    return f(nested)
