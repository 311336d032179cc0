"""Sorting and order statistics: ``sort``, ``argsort``, ``msort``, ``topk``, ``kthvalue``, ``median``.

All of them sort with the contract's ``argsort`` kernel (NaN after every number, first
when descending; see :mod:`._kernels` for the fallback on backends without it) and
read the values with ``take_along_axis``. Gradients flow through the gathered values,
as in PyTorch:

- ``sort``, ``topk``, ``kthvalue``, ``median(dim)``: the gradient of each selected value
  goes back to the position it came from, ``grad_input = zeros.scatter_add(dim, indices, grad)``;
- ``median()`` (whole tensor): the gradient is shared evenly among the elements equal to
  the median (NaNs count as equal when the median is NaN).

``median`` is the *lower* median (for an even count ``n``, the element at sorted
position ``(n - 1) // 2``), and NaN when a line holds a NaN, as PyTorch's.
"""

from __future__ import annotations

from typing import Any

from .. import _dtype as D
from .. import return_types
from .._dtype import Category as _Category
from .._tensor import Tensor, _make
from ..autograd.function import Function
from . import _kernels as K
from ._util import canon_dim

_FLOATING = _Category.FLOATING
_INTEGER = _Category.INTEGER

__all__ = ["sort", "argsort", "msort", "topk", "kthvalue", "median"]


def _check_tensor(input: Any, op: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")


def _check_int(v: Any, op: str, name: str, pos: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, Tensor) and v._dtype.category is _INTEGER and v.numel() == 1:
            return int(v.item())
        raise TypeError(f"{op}(): argument '{name}' (position {pos}) must be int, not {type(v).__name__}")
    return v


def _dim(input: Tensor, dim: Any, op: str) -> int:
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")
    return canon_dim(dim, input._data.ndim)


def _sortable(x: Tensor) -> Any:
    """``x``'s array as the sort kernels take it (bool as uint8)."""
    be = x._backend
    if x._dtype is D.bool_:
        return be.astype(x._data, be.native_dtype(D.uint8))
    return x._data


def _take(be: Any, data: Any, idx: Any, dim: int) -> Any:
    return be.take_along_axis(data, idx, dim)


def _narrow_key(ndim: int, dim: int, start: int, stop: int) -> tuple[Any, ...]:
    return tuple(slice(start, stop) if d == dim else slice(None) for d in range(ndim))


def _drop_dim(be: Any, data: Any, dim: int) -> Any:
    shape = tuple(s for i, s in enumerate(data.shape) if i != dim)
    return be.reshape(data, shape)


def _selection_backward(g: Tensor, indices: Tensor, dim: int, shape: tuple[int, ...], keepdim: bool) -> Tensor:
    """``zeros(shape).scatter_add(dim, indices, g)``: each selected value's gradient goes home."""
    from .scatter import scatter_into_zeros

    if not shape:
        return g.reshape(())
    if not keepdim:
        g = g.unsqueeze(dim)
        indices = indices.unsqueeze(dim)
    return scatter_into_zeros(g, dim, indices, shape)


# --------------------------------------------------------------------------- sort
class _Selection(Function, builtin=True):
    """Base of the ops that pick values along ``dim`` (sort, topk, kthvalue, median):
    outputs ``(values, indices)``; the gradient goes back to the picked positions."""

    @staticmethod
    def outputs(ctx: Any, x: Tensor, vals: Any, idx: Any, dim: int, keepdim: bool) -> tuple[Tensor, Tensor]:
        be = x._backend
        values = _make(Tensor, vals, x._dtype, be)
        indices = _make(Tensor, idx, D.int64, be)
        ctx.mark_non_differentiable(indices)
        ctx.meta = (tuple(x._data.shape), dim, keepdim)
        ctx.save_for_backward(indices)
        return values, indices

    @staticmethod
    def backward(ctx: Any, g: Tensor, _gi: Any) -> tuple[Tensor, None, None, None]:
        shape, dim, keepdim = ctx.meta
        (indices,) = ctx.saved_tensors
        return _selection_backward(g, indices, dim, shape, keepdim), None, None, None


class Sort(_Selection, backward_name="SortBackward0", builtin=True):
    """``(values, indices)`` of ``x`` sorted along ``dim``; the gradient is scattered back by ``indices``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int, descending: bool, stable: bool) -> tuple[Tensor, Tensor]:
        be = x._backend
        i64 = be.native_dtype(D.int64)
        if x._data.ndim == 0:
            vals, idx = be.copy(x._data), be.zeros((), i64)
        else:
            idx = K.argsort(be, _sortable(x), dim, descending, stable)
            vals = _take(be, x._data, idx, dim)
        return _Selection.outputs(ctx, x, vals, idx, dim, True)


class SortStable(Sort, backward_name="SortBackward1", builtin=True):
    """``sort`` called with ``stable=`` (PyTorch's other overload, another node name)."""


_NOT_GIVEN: Any = object()


def sort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool | None = _NOT_GIVEN) -> Any:
    """``input`` sorted along ``dim`` (ascending unless ``descending``), as the named tuple
    ``plugrad.return_types.sort(values, indices)`` with ``values = input.gather(dim, indices)``.

    NaN sorts after every number (first when descending). plugrad's sort is always
    stable: equal elements keep their order (PyTorch guarantees it with ``stable=True``).
    """
    _check_tensor(input, "sort")
    d = _dim(input, dim, "sort")
    fn = Sort if stable is _NOT_GIVEN else SortStable
    values, indices = fn.apply(input, d, bool(descending), bool(stable) if stable is not _NOT_GIVEN else False)
    return return_types.sort(values, indices)


def argsort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim``: ``sort(input, dim, descending).indices``."""
    _check_tensor(input, "argsort")
    d = _dim(input, dim, "argsort")
    be = input._backend
    if input._data.ndim == 0:
        return _make(Tensor, be.zeros((), be.native_dtype(D.int64)), D.int64, be)
    return _make(Tensor, K.argsort(be, _sortable(input), d, bool(descending), bool(stable)), D.int64, be)


def msort(input: Tensor) -> Tensor:
    """``input`` sorted along its first dim: ``sort(input, dim=0).values``."""
    _check_tensor(input, "msort")
    return sort(input, 0).values  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- topk
class Topk(_Selection, backward_name="TopkBackward0", builtin=True):
    """The ``k`` largest (or smallest) values along ``dim``, sorted, with their indices."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, k: int, dim: int, largest: bool) -> tuple[Tensor, Tensor]:
        be = x._backend
        i64 = be.native_dtype(D.int64)
        if x._data.ndim == 0:
            vals = be.reshape(be.copy(x._data), ()) if k else be.zeros((0,), x._data.dtype)
            idx = be.zeros((), i64) if k else be.zeros((0,), i64)
        else:
            order = K.argsort(be, _sortable(x), dim, largest, True)
            idx = be.copy(be.getitem(order, _narrow_key(x._data.ndim, dim, 0, k)))
            vals = _take(be, x._data, idx, dim)
        return _Selection.outputs(ctx, x, vals, idx, dim, True)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    """The ``k`` largest elements along ``dim`` (the smallest with ``largest=False``), as
    ``plugrad.return_types.topk(values, indices)``; plugrad always returns them sorted."""
    _check_tensor(input, "topk")
    k = _check_int(k, "topk", "k", 2)
    d = _dim(input, dim, "topk")
    if input._dtype is D.bool_:
        raise RuntimeError("topk does not support bool dtypes on CPU")
    size = input._data.shape[d] if input._data.ndim else 1
    if k < 0 or k > size:
        raise RuntimeError("selected index k out of range")
    values, indices = Topk.apply(input, k, d, bool(largest))
    return return_types.topk(values, indices)


# ----------------------------------------------------------------------- kthvalue
class Kthvalue(_Selection, backward_name="KthvalueBackward0", builtin=True):
    """The ``k``-th smallest value along ``dim`` (``k`` from 1) and its index.

    ``k`` is an int (the same for every line) or, for :func:`median`, an int64 array of
    zero-based sorted positions in keepdim form (one per line).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, pos: Any, dim: int, keepdim: bool) -> tuple[Tensor, Tensor]:
        be = x._backend
        i64 = be.native_dtype(D.int64)
        if x._data.ndim == 0:
            vals, idx = be.copy(x._data), be.zeros((), i64)
        else:
            order = K.argsort(be, _sortable(x), dim, False, True)
            if isinstance(pos, int):
                idx = be.copy(be.getitem(order, _narrow_key(x._data.ndim, dim, pos, pos + 1)))
            else:
                idx = _take(be, order, pos, dim)
            vals = _take(be, x._data, idx, dim)
            if not keepdim:
                idx, vals = _drop_dim(be, idx, dim), _drop_dim(be, vals, dim)
        return _Selection.outputs(ctx, x, vals, idx, dim, keepdim)


class MedianDim(Kthvalue, backward_name="MedianBackward1", builtin=True):
    pass


def _check_nonempty_dim(input: Tensor, d: int, op: str) -> None:
    shape = input._data.shape
    if shape and shape[d] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """The ``k``-th smallest element along ``dim`` (``k`` counts from 1) and its index, as
    ``plugrad.return_types.kthvalue(values, indices)``."""
    _check_tensor(input, "kthvalue")
    k = _check_int(k, "kthvalue", "k", 2)
    d = _dim(input, dim, "kthvalue")
    if input._dtype is D.bool_:
        raise NotImplementedError("\"kthvalue_cpu\" not implemented for 'Bool'")
    _check_nonempty_dim(input, d, "kthvalue")
    size = input._data.shape[d] if input._data.ndim else 1
    if k < 1 or k > size:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    values, indices = Kthvalue.apply(input, k - 1, d, bool(keepdim))
    return return_types.kthvalue(values, indices)


# ------------------------------------------------------------------------- median
class MedianAll(Function, backward_name="MedianBackward0", builtin=True):
    """The lower median of all elements; the gradient is shared evenly among the elements equal to it."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        import math

        be = x._backend
        n = x.numel()
        native = be.native_dtype(x._dtype)
        if n == 0:
            out = be.full((), math.nan, native)
        else:
            flat = be.reshape(x._data, (n,))
            if x._dtype.category is _FLOATING and bool(be.tolist(be.any(be.isnan(flat), None, False))):
                out = be.full((), math.nan, native)
            else:
                out = be.copy(be.getitem(K.sort(be, flat, 0), ((n - 1) // 2,)))
        result = _make(Tensor, out, x._dtype, be)
        ctx.save_for_backward(x, result)
        return result

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        from .reduction import _evenly_distribute

        x, result = ctx.saved_tensors
        if x.numel() == 0:
            gx: Tensor = x * 0
            return gx
        gx = _evenly_distribute(g, x, result, None)
        return gx


def median(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """The lower median: of all elements (a 0-d tensor), or along ``dim`` as
    ``plugrad.return_types.median(values, indices)``. A line holding NaN has median NaN
    (its index is that of the first NaN)."""
    _check_tensor(input, "median")
    if input._dtype is D.bool_:
        raise NotImplementedError(
            "\"median_cpu\" not implemented for 'Bool'" if dim is None else "\"median_out\" not implemented for 'Bool'"
        )
    if dim is None:
        if keepdim:
            raise TypeError('median() missing 1 required positional arguments: "dim"')
        if input.numel() == 0 and input._dtype.category is not _FLOATING:
            raise RuntimeError("median() of an empty integer tensor: there is no value to return")
        return MedianAll.apply(input)
    d = _dim(input, dim, "median")
    _check_nonempty_dim(input, d, "median")
    be = input._backend
    data = input._data
    if data.ndim == 0:
        pos: Any = 0
    else:
        n = data.shape[d]
        lower = (n - 1) // 2
        if input._dtype.category is _FLOATING and input.numel():
            # sorted position of the median: (n - 1) // 2, or the first NaN (NaNs sort last, stably)
            nans = be.sum(be.isnan(data), (d,), True)
            pos = be.where(be.greater(nans, 0), be.subtract(n, nans), be.full(tuple(nans.shape), lower, nans.dtype))
            pos = be.astype(pos, be.native_dtype(D.int64))
        else:
            pos = lower
    values, indices = MedianDim.apply(input, pos, d, bool(keepdim))
    return return_types.median(values, indices)
