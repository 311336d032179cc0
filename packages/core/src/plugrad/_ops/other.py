"""Matrix structure ops (PyTorch's "other operations"): ``tril``, ``triu``, ``diag``.

``tril(x, k)`` keeps the elements ``x[..., i, j]`` with ``j - i <= k`` and zeroes the rest;
``triu`` those with ``j - i >= k``. Their gradients are the same masks applied to
``grad``. ``diag`` of a vector builds the square matrix with the vector on diagonal
``k``; of a matrix it reads diagonal ``k``; each is the other's gradient.
"""

from __future__ import annotations

from typing import Any

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.function import Function

__all__ = ["tril", "triu", "diag"]


def _band_mask(be: Any, rows: int, cols: int, k: int, lower: bool) -> Any:
    """Bool ``(rows, cols)``: ``j - i <= k`` (``lower``) or ``j - i >= k``."""
    i64 = be.native_dtype(D.int64)
    i = be.reshape(be.arange(0, rows, 1, i64), (rows, 1))
    j = be.reshape(be.arange(0, cols, 1, i64), (1, cols))
    offset = be.subtract(j, i)
    return be.less_equal(offset, k) if lower else be.greater_equal(offset, k)


class Tril(Function, backward_name="TrilBackward0", builtin=True):
    """``x`` with the elements above diagonal ``k`` set to zero; gradient ``grad.tril(k)``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, k: int, lower: bool) -> Tensor:
        be = x._backend
        rows, cols = x._data.shape[-2:]
        mask = _band_mask(be, rows, cols, k, lower)
        zero = be.zeros((), be.native_dtype(x._dtype))
        ctx.meta = (k, lower)
        return _make(Tensor, be.where(mask, x._data, zero), x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        k, lower = ctx.meta
        return (Tril if lower else Triu).apply(g, k, lower), None, None


class Triu(Tril, backward_name="TriuBackward0", builtin=True):
    pass


def _tri(input: Tensor, diagonal: Any, op: str, lower: bool) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if isinstance(diagonal, bool) or not isinstance(diagonal, int):
        raise TypeError(f"{op}(): argument 'diagonal' (position 1) must be int, not {type(diagonal).__name__}")
    if input._data.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions")
    return (Tril if lower else Triu).apply(input, diagonal, lower)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims: elements with ``j - i <= diagonal`` kept, the rest 0."""
    return _tri(input, diagonal, "tril", True)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims: elements with ``j - i >= diagonal`` kept, the rest 0."""
    return _tri(input, diagonal, "triu", False)


def _diag_positions(be: Any, rows: int, cols: int, k: int) -> tuple[Any, Any, int]:
    """Row and column indices of diagonal ``k`` of a ``(rows, cols)`` matrix, and its length."""
    i64 = be.native_dtype(D.int64)
    r0, c0 = (0, k) if k >= 0 else (-k, 0)
    n = max(0, min(rows - r0, cols - c0))
    return be.arange(r0, r0 + n, 1, i64), be.arange(c0, c0 + n, 1, i64), n


class Diagonal(Function, backward_name="DiagonalBackward0_copy", builtin=True):
    """Diagonal ``k`` of a matrix (a copy); gradient: ``grad`` placed on that diagonal of zeros."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, k: int) -> Tensor:
        be = x._backend
        rows, cols = x._data.shape
        r, c, _n = _diag_positions(be, rows, cols, k)
        ctx.meta = (k, (rows, cols))
        return _make(Tensor, be.getitem(x._data, (r, c)), x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        k, shape = ctx.meta
        return DiagEmbed.apply(g, k, shape), None


class DiagEmbed(Function, backward_name="DiagEmbedBackward0", builtin=True):
    """A matrix of zeros of ``shape`` with the vector ``v`` on diagonal ``k``; gradient: that diagonal of ``grad``."""

    @staticmethod
    def forward(ctx: Any, v: Tensor, k: int, shape: tuple[int, int]) -> Tensor:
        be = v._backend
        out = be.zeros(shape, be.native_dtype(v._dtype))
        r, c, n = _diag_positions(be, shape[0], shape[1], k)
        if n:
            be.setitem(out, (r, c), v._data)
        ctx.k = k
        return _make(Tensor, out, v._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        return Diagonal.apply(g, ctx.k), None, None


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """For a 1-D ``input`` of size ``n``: the ``(n + |k|, n + |k|)`` matrix with ``input`` on diagonal
    ``k = diagonal`` (above the main one for ``k > 0``); for a 2-D ``input``: its diagonal ``k`` as 1-D."""
    if not isinstance(input, Tensor):
        raise TypeError(f"diag(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if isinstance(diagonal, bool) or not isinstance(diagonal, int):
        raise TypeError(f"diag(): argument 'diagonal' (position 2) must be int, not {type(diagonal).__name__}")
    nd = input._data.ndim
    if nd == 1:
        n = input._data.shape[0] + abs(diagonal)
        return DiagEmbed.apply(input, diagonal, (n, n))
    if nd == 2:
        return Diagonal.apply(input, diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {nd}D")
