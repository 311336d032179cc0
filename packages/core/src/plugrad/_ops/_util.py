"""Shared checks for ops: dims, broadcasting, promotion. Errors use PyTorch's wording."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import _dtype as D

if TYPE_CHECKING:
    from .._tensor import Tensor

_Tensor: Any = None


def canon_dim(dim: int, ndim: int) -> int:
    """``dim`` as a non-negative index, with PyTorch's error when out of range."""
    if not isinstance(dim, int) or isinstance(dim, bool):
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
        return (canon_dim(dim, ndim),) if ndim > 0 else ()
    dims = [canon_dim(d, ndim) for d in dim]
    if ndim == 0:
        return ()
    seen = set()
    for d in dims:
        if d in seen:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        seen.add(d)
    return tuple(sorted(dims))


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """The broadcast of ``shapes``; PyTorch's message names the first mismatch."""
    ndim = max(len(s) for s in shapes)
    out = [1] * ndim
    for k, shape in enumerate(shapes):
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
                raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single shape: {[list(s) for s in shapes]}")
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


def check_same_backend(a: Tensor, b: Tensor) -> None:
    if a._backend is not b._backend:
        raise RuntimeError(
            f"Expected all tensors to be on the same device, but found at least two devices, {a.device} and {b.device}! "
            f"Move one of them first, e.g. `b.to(a.device)` or `.to('{a.device}')`."
        )


def shape_str(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"
