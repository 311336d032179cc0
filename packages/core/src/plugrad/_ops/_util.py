"""Shared checks for ops: dims, broadcasting, promotion. Errors use PyTorch's wording."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import _dtype as D
from .._dtype import Category as _Category

_FLOATING = _Category.FLOATING
_INTEGER = _Category.INTEGER

if TYPE_CHECKING:
    from .._tensor import Tensor

_Tensor: Any = None


def canon_dim(dim: int, ndim: int) -> int:
    """``dim`` as a non-negative index, with PyTorch's error when out of range."""
    if not isinstance(dim, int) or isinstance(dim, bool):
        if isinstance(dim, bool):  # operator.index(True) is 1: PyTorch refuses bools as dims
            raise TypeError("dim must be an int, got bool")
        try:
            dim = operator_index(dim)
        except TypeError:
            raise TypeError(f"dim must be an int, got {type(dim).__name__}") from None
    n = ndim if ndim > 0 else 1
    if dim < -n or dim >= n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim + n if dim < 0 else dim if ndim > 0 else 0


def operator_index(x: Any) -> int:
    import operator

    return operator.index(x)


def canon_dims(dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...] | None:
    """Normalise ``dim`` (int, sequence or None) to a sorted tuple of distinct dims."""
    if dim is None:
        return None
    if isinstance(dim, int) and not isinstance(dim, bool):
        d = canon_dim(dim, ndim)  # checks the range on 0-d tensors too ([-1, 0])
        return (d,) if ndim > 0 else ()
    if not isinstance(dim, (list, tuple)):
        if not hasattr(dim, "__index__"):
            raise TypeError(f"dim must be an int or a tuple of ints, got {type(dim).__name__}")
        return canon_dims(canon_dim(dim, ndim), ndim)  # type: ignore[arg-type]  # an index-like object
    dims = [canon_dim(d, ndim) for d in dim]
    seen = set()
    for d in dims:
        if d in seen:  # also on 0-d tensors, where 0 and -1 are the same dim
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        seen.add(d)
    if ndim == 0:
        return ()
    return tuple(sorted(dims))


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """The broadcast of ``shapes``; PyTorch's message names the first mismatch."""
    ndim = max(len(s) for s in shapes)
    out = [1] * ndim
    for shape in shapes:
        offset = ndim - len(shape)
        for i, s in enumerate(shape):
            j = offset + i
            if out[j] == 1:
                out[j] = s
            elif s != 1 and s != out[j]:
                if len(shapes) == 2:
                    a, b = shapes
                    sa = a[j - (ndim - len(a))] if j - (ndim - len(a)) >= 0 else 1
                    sb = b[j - (ndim - len(b))] if j - (ndim - len(b)) >= 0 else 1
                    raise RuntimeError(
                        f"The size of tensor a ({sa}) must match the size of tensor b ({sb}) "
                        f"at non-singleton dimension {j}"
                    )
                raise RuntimeError(
                    f"Shape mismatch: objects cannot be broadcast to a single shape: {[list(s) for s in shapes]}"
                )
    return tuple(out)


def result_type(*operands: Any) -> D.dtype:
    """PyTorch's result dtype over tensors and Python scalars (see :mod:`plugrad._dtype`)."""
    T = _Tensor
    dimmed: D.dtype | None = None
    zero_dim: D.dtype | None = None
    scalar_cat = -1
    for o in operands:
        if isinstance(o, T):
            if o._data.ndim:
                dimmed = o._dtype if dimmed is None else D.promote_types(dimmed, o._dtype)
            else:
                zero_dim = o._dtype if zero_dim is None else D.promote_types(zero_dim, o._dtype)
        elif o is not None:
            scalar_cat = max(scalar_cat, D.category_of_scalar(o))
    result = dimmed
    if zero_dim is not None:
        if result is None:
            result = zero_dim
        elif zero_dim.category > result.category:
            result = zero_dim
    if scalar_cat >= 0:
        if result is None:
            result = D.get_default_dtype() if scalar_cat == 2 else (D.int64 if scalar_cat == 1 else D.bool_)
        elif scalar_cat > result.category:
            result = D.get_default_dtype() if scalar_cat == 2 else D.int64
    if result is None:
        raise TypeError("result_type() needs at least one operand")
    return result


_INT_RANGES = {
    "bool": (-(2**63), 2**63 - 1),  # a kernel takes any int64 for a bool (non-zero is true)
    "uint8": (0, 2**8 - 1),
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}


_FLOAT_INT_LIMIT = 2**1024  # ints beyond this do not convert to float64 (a constant: 2**1024 is not folded)


def check_scalar_fits(value: Any, dt: D.dtype) -> None:
    """Refuse a Python number that ``dt`` cannot hold, before a kernel sees it.

    A Python int outside an integer dtype's range, or outside ``int64`` for ``bool``, or a
    NaN/infinity stored into an integer dtype, raises PyTorch's "value cannot be
    converted ... without overflow" instead of a backend's ``OverflowError`` or garbage.
    """
    if type(value) is int and dt.category is _FLOATING and -_FLOAT_INT_LIMIT < value < _FLOAT_INT_LIMIT:
        return  # the common case, first: an int next to a floating tensor
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        rng = _INT_RANGES.get(dt.name)
        if rng is None:  # floating: Python ints convert to float unless beyond its range
            if -_FLOAT_INT_LIMIT < value < _FLOAT_INT_LIMIT:
                return
        elif rng[0] <= value <= rng[1]:
            return
    elif isinstance(value, float):
        if dt.category is not _INTEGER:  # floating dtypes hold inf/nan; bool takes any float (non-zero is true)
            return
        lo, hi = _INT_RANGES[dt.name]
        if lo - 1 < value < hi + 1:  # truncation toward zero stays in range (False for NaN)
            return
    else:
        return
    shown = repr(value) if len(repr(value)) <= 30 else repr(value)[:24] + "...)"
    raise RuntimeError(f"value cannot be converted to type {dt!r} without overflow (got {shown})")


#: No tensor may claim more bytes than this (far beyond any machine; sizes past it are mistakes).
MAX_TENSOR_BYTES = 2**62


def check_alloc(shape: Sequence[int], dt: D.dtype) -> None:
    """Refuse a shape that no machine can allocate, before a backend tries (and overflows).

    Each size must fit in ``int64``; the total must stay below :data:`MAX_TENSOR_BYTES`.
    """
    n = 1
    for s in shape:
        if s > 2**63 - 1:
            raise RuntimeError(f"size {s} in shape {list(shape)} does not fit in int64")
        n *= s
    if n * dt.itemsize > MAX_TENSOR_BYTES:
        raise RuntimeError(
            f"cannot allocate a tensor of shape {list(shape)} and dtype {dt!r}: it would take {n * dt.itemsize} bytes"
        )


def out_of_memory(shape: Sequence[int], dt: D.dtype) -> RuntimeError:
    """PyTorch's kind of error for an allocation the backend could not make (instead of its MemoryError)."""
    n = 1
    for s in shape:
        n *= s
    return RuntimeError(
        f"not enough memory: you tried to allocate {n * dt.itemsize} bytes for a tensor of shape {list(shape)} "
        f"and dtype {dt!r}"
    )


def check_same_backend(a: Tensor, b: Tensor) -> None:
    if a._backend is not b._backend:
        raise RuntimeError(
            f"Expected all tensors to be on the same device, but found at least two devices, {a.device} and {b.device}! "
            f"Move one of them first, e.g. `b.to(a.device)` or `.to('{a.device}')`."
        )


def shape_str(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"
