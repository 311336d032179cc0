"""Index-driven ops: ``index_select``, ``gather``, ``take_along_dim``, ``scatter``,
``scatter_add``, ``masked_fill``.

They are built on two kernels, ``getitem`` with integer arrays (NumPy's advanced
indexing) and ``index_add`` (``x[key] += values`` accumulating repeated indices), so a
backend needs nothing special for them. For an index tensor ``index`` along ``dim``
the key is an open grid: ``index`` itself at ``dim`` and ``arange(n_d)`` (shaped to
broadcast) at every other dim ``d``. Gradients, written with these same ops:

- ``gather``: ``grad_input = zeros.scatter_add(dim, index, grad)``;
- ``scatter``: ``grad_input = grad.scatter(dim, index, 0)``, ``grad_src = grad.gather(dim, index)``;
- ``scatter_add``: ``grad_input = grad``, ``grad_src = grad.gather(dim, index)``;
- ``index_select``: ``grad_input = zeros.index_add(dim, index, grad)``;
- ``masked_fill``: ``grad_input = grad.masked_fill(mask, 0)``, ``grad_value = sum(grad[mask])``.
"""

from __future__ import annotations

from typing import Any

from .. import _dtype as D
from .._dtype import Category as _Category
from .._tensor import Tensor, _make
from ..autograd.function import Function
from ._util import broadcast_shapes, canon_dim, check_same_backend, shape_str

_FLOATING = _Category.FLOATING
_INTEGER = _Category.INTEGER

_C_TYPE_NAMES = D.C_TYPE_NAMES


def _check_tensor(t: Any, op: str, name: str, pos: int) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}(): argument '{name}' (position {pos}) must be Tensor, not {type(t).__name__}")


def _same_backend(first: Tensor, *others: Any) -> None:
    for t in others:
        if isinstance(t, Tensor) and t._backend is not first._backend:
            from ._util import check_same_backend

            check_same_backend(first, t)


def _index_bounds(be: Any, idx: Any, size: int, dim: int, allow_negative: bool, msg: str | None = None) -> None:
    """Raise PyTorch's error when an index array has a value outside ``[-size, size)`` / ``[0, size)``."""
    if _numel(tuple(idx.shape)) == 0:
        return
    # One yes/no read back (not the extremes themselves), so a compiled step replays for every in-bounds batch.
    outside = be.logical_or(be.less(idx, -size if allow_negative else 0), be.greater_equal(idx, size))
    if not be.tolist(be.any(outside, None, False)):
        return
    lo = be.tolist(be.min(idx, None, False))
    hi = be.tolist(be.max(idx, None, False))
    if msg is not None:
        raise IndexError(msg)
    bad = hi if hi >= size else lo
    raise RuntimeError(f"index {bad} is out of bounds for dimension {dim} with size {size}")


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _grid_key(be: Any, index: Any, dim: int) -> tuple[Any, ...]:
    """The advanced-indexing key selecting ``x[i_0, ..., index[i], ..., i_n]`` for every position ``i`` of ``index``."""
    shape = tuple(index.shape)
    nd = len(shape)
    key: list[Any] = []
    i64 = be.native_dtype(D.int64)
    for d in range(nd):
        if d == dim:
            key.append(index)
        else:
            r = be.arange(0, shape[d], 1, i64)
            key.append(be.reshape(r, tuple(shape[d] if k == d else 1 for k in range(nd))))
    return tuple(key)


def _as_index(index: Tensor, op: str) -> Any:
    if index._dtype is not D.int64:
        if index._dtype.category is not _INTEGER:
            raise RuntimeError(f"{op}(): Expected dtype int64 for index")
        be = index._backend
        return be.astype(index._data, be.native_dtype(D.int64))
    return index._data


def _check_gather_shapes(x: Tensor, dim: int, index: Tensor, op: str, other: Tensor | None = None) -> None:
    xs, ish = x._data.shape, index._data.shape
    if len(ish) != len(xs) and not (len(xs) == 0 and len(ish) <= 1) and not (len(ish) == 0 and len(xs) <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    if _numel(ish) == 0:
        return
    for d, (a, b) in enumerate(zip(ish, xs)):
        if d != dim and a > b:
            raise RuntimeError(
                f"Size does not match at dimension {d} expected index {shape_str(ish)} to be no larger than "
                f"self {shape_str(xs)} apart from dimension {dim}"
            )
    if other is not None:
        os_ = other._data.shape
        for a, b in zip(ish, os_):
            if a > b:
                raise RuntimeError(
                    f"Expected index {shape_str(ish)} to be no larger than self {shape_str(xs)} apart from dimension "
                    f"{dim} and to be no larger size than src {shape_str(os_)}"
                )


# --------------------------------------------------------------------------- gather
class Gather(Function, backward_name="GatherBackward0", builtin=True):
    """``out[i] = x[i_0, ..., index[i], ..., i_n]`` (``index`` replaces the coordinate at ``dim``)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int, index: Tensor) -> Tensor:
        be = x._backend
        idx = _as_index(index, "gather")
        ctx.meta = (x._data.shape, dim)
        ctx.save_for_backward(index)
        if x._data.ndim == 0:
            return _make(Tensor, be.reshape(be.copy(x._data), idx.shape), x._dtype, be)
        return _make(Tensor, be.getitem(x._data, _grid_key(be, idx, dim)), x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        shape, dim = ctx.meta
        (index,) = ctx.saved_tensors
        return scatter_into_zeros(g, dim, index, shape), None, None


class ScatterIntoZeros(Function, backward_name="ScatterAddBackward0", builtin=True):
    """``zeros(shape).scatter_add(dim, index, src)``: the gradient of :class:`Gather`."""

    @staticmethod
    def forward(ctx: Any, src: Tensor, dim: int, index: Tensor, shape: tuple[int, ...]) -> Tensor:
        be = src._backend
        idx = _as_index(index, "scatter_add")
        out = be.zeros(shape, be.native_dtype(src._dtype))
        ctx.dim = dim
        ctx.save_for_backward(index)
        if not shape:
            be.copy_into(out, be.sum(src._data, None, False))
        elif _numel(idx.shape):
            data = src._data
            if tuple(data.shape) != tuple(idx.shape):
                data = be.getitem(data, tuple(slice(0, s) for s in idx.shape))
            be.index_add(out, _grid_key(be, idx, dim), data)
        return _make(Tensor, out, src._dtype, be)

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Tensor, None, None, None]:
        (index,) = ctx.saved_tensors
        return Gather.apply(gg, ctx.dim, index), None, None, None


def scatter_into_zeros(src: Tensor, dim: int, index: Tensor, shape: tuple[int, ...]) -> Tensor:
    """A tensor of zeros of ``shape`` with ``src`` added at ``index`` along ``dim`` (repeats accumulate)."""
    return ScatterIntoZeros.apply(src, dim, index, tuple(shape))


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """Values of ``input`` along ``dim`` at ``index``: ``out[i][j] = input[index[i][j]][j]`` for ``dim=0``.

    ``index`` has ``input``'s number of dims and may be smaller in the others.
    """
    _check_tensor(input, "gather", "input", 1)
    _check_tensor(index, "gather", "index", 3)
    _same_backend(input, index)
    if index._dtype not in (D.int64, D.int32):
        raise RuntimeError("gather(): Expected dtype int32/int64 for index")
    if index._backend is not input._backend:
        check_same_backend(input, index)
    n = input._data.ndim
    d = canon_dim(dim, n)
    _check_gather_shapes(input, d, index, "gather")
    size = input._data.shape[d] if n else 1
    _index_bounds(input._backend, index._data, size, d, False)
    return Gather.apply(input, d, index)


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """``gather`` after broadcasting ``input`` and ``indices`` in every dim but ``dim``;
    with ``dim=None`` both are flattened first."""
    _check_tensor(input, "take_along_dim", "input", 1)
    _check_tensor(indices, "take_along_dim", "indices", 2)
    _same_backend(input, indices)
    if indices._dtype.category is not _INTEGER:
        raise RuntimeError(
            f"torch.take_along_dim(): dtype of indices should be int but got {indices._dtype.name}".replace(
                "torch", "plugrad"
            )
        )
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1).long())
    n = input._data.ndim
    if indices._data.ndim != n:
        raise RuntimeError(
            f"torch.take_along_dim(): input and indices should have the same number of dimensions, but got {n} dimensions for input, and {indices._data.ndim} dimensions for indices".replace(
                "torch", "plugrad"
            )
        )
    d = canon_dim(dim, n)
    xs, ish = list(input._data.shape), list(indices._data.shape)
    xs_b, is_b = list(xs), list(ish)
    xs_b[d] = is_b[d] = 1
    common = broadcast_shapes(xs_b, is_b)
    x_target = list(common)
    x_target[d] = xs[d]
    i_target = list(common)
    i_target[d] = ish[d]
    x = input if tuple(x_target) == tuple(xs) else input.broadcast_to(x_target)
    idx = indices if tuple(i_target) == tuple(ish) else indices.broadcast_to(i_target)
    return gather(x, d, idx.long())


# -------------------------------------------------------------------------- scatter
class Scatter(Function, backward_name="ScatterBackward0", builtin=True):
    """``input`` with ``src`` written at ``index`` along ``dim`` (a copy)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int, index: Tensor, src: Any) -> Tensor:
        be = x._backend
        idx = _as_index(index, "scatter")
        out = be.copy(x._data)
        ctx.dim = dim
        ctx.src_shape = src._data.shape if isinstance(src, Tensor) else None
        ctx.save_for_backward(index)
        if _numel(idx.shape):
            if isinstance(src, Tensor):
                v = src._data if src._dtype is x._dtype else be.astype(src._data, be.native_dtype(x._dtype))
                if tuple(v.shape) != tuple(idx.shape):
                    v = be.getitem(v, tuple(slice(0, s) for s in idx.shape))
            else:
                v = src
            key = _grid_key(be, idx, dim) if x._data.ndim else ()
            be.setitem(out, key, v)
        return _make(Tensor, out, x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, None, None, Any]:
        (index,) = ctx.saved_tensors
        dim = ctx.dim
        gx = scatter(g, dim, index, 0) if ctx.needs_input_grad[0] else None
        gs = None
        if ctx.src_shape is not None and ctx.needs_input_grad[3]:
            gs = _pad_to(Gather.apply(g, dim, index), ctx.src_shape)
        return gx, None, None, gs


class ScatterValue(Scatter, backward_name="ScatterBackward1", builtin=True):
    pass


class ScatterAdd(Function, backward_name="ScatterAddBackward0", builtin=True):
    """``input`` with ``src`` added at ``index`` along ``dim`` (repeated indices accumulate)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
        be = x._backend
        idx = _as_index(index, "scatter_add")
        out = be.copy(x._data)
        ctx.dim = dim
        ctx.src_shape = src._data.shape
        ctx.save_for_backward(index)
        if _numel(idx.shape):
            v = src._data if src._dtype is x._dtype else be.astype(src._data, be.native_dtype(x._dtype))
            if tuple(v.shape) != tuple(idx.shape):
                v = be.getitem(v, tuple(slice(0, s) for s in idx.shape))
            be.index_add(out, _grid_key(be, idx, dim) if x._data.ndim else (), v)
        return _make(Tensor, out, x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, None, None, Any]:
        (index,) = ctx.saved_tensors
        gs = _pad_to(Gather.apply(g, ctx.dim, index), ctx.src_shape) if ctx.needs_input_grad[3] else None
        return g, None, None, gs


def _pad_to(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``t`` in the leading corner of a zero tensor of ``shape`` (differentiable)."""
    if t._data.shape == tuple(shape):
        return t
    from .indexing import IndexPutZeros

    return IndexPutZeros.apply(t, tuple(shape), tuple(slice(0, s) for s in t._data.shape), True)


def _scatter_checks(input: Tensor, dim: int, index: Tensor, src: Any, op: str) -> int:
    _check_tensor(input, op, "input", 1)
    _check_tensor(index, op, "index", 3)
    _same_backend(input, index, src)
    if index._dtype is not D.int64:
        raise RuntimeError(f"{op}(): Expected dtype int64 for index")
    n = input._data.ndim
    d = canon_dim(dim, n)
    if isinstance(src, Tensor):
        if src._dtype is not input._dtype:
            raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype")
        if src._data.ndim != index._data.ndim and _numel(index._data.shape):
            raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    _check_gather_shapes(input, d, index, op, src if isinstance(src, Tensor) else None)
    _index_bounds(input._backend, index._data, input._data.shape[d] if n else 1, d, False)
    return d


def scatter(
    input: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None, reduce: str | None = None
) -> Tensor:
    """A copy of ``input`` with ``src`` (a tensor, or a number ``value``) written at ``index`` along ``dim``:
    ``out[index[i][j]][j] = src[i][j]`` for ``dim=0``. Where ``index`` repeats, which write wins is unspecified."""
    if reduce is not None:
        raise NotImplementedError("scatter(reduce=...) is not supported by plugrad; use scatter_add for 'add'")
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter() missing 1 required argument: 'src' or 'value'")
    d = _scatter_checks(input, dim, index, src, "scatter")
    if isinstance(src, Tensor):
        return Scatter.apply(input, d, index, src)
    if isinstance(src, bool) or not isinstance(src, (int, float)):
        if not isinstance(src, bool):
            raise TypeError(f"scatter(): argument 'value' must be Number, not {type(src).__name__}")
    from ._util import check_scalar_fits

    check_scalar_fits(src, input._dtype)
    return ScatterValue.apply(input, d, index, src)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim`` (repeated indices accumulate)."""
    _check_tensor(src, "scatter_add", "src", 4)
    d = _scatter_checks(input, dim, index, src, "scatter_add")
    return ScatterAdd.apply(input, d, index, src)


# --------------------------------------------------------------------- index_select
def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of ``input`` at positions ``index`` (1-D) along ``dim``, in that order (a copy)."""
    _check_tensor(input, "index_select", "input", 1)
    _check_tensor(index, "index_select", "index", 3)
    _same_backend(input, index)
    if index._dtype not in (D.int64, D.int32):
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    if index._data.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    n = input._data.ndim
    d = canon_dim(dim, n)
    be = input._backend
    idx = _as_index(index, "index_select")
    if index._data.ndim == 0:
        idx = be.reshape(idx, (1,))
    size = input._data.shape[d] if n else 1
    _index_bounds(be, idx, size, d, False, "index out of range in self")
    from .indexing import IndexSelect

    if n == 0:
        return IndexSelect.apply(input, (idx,), False).reshape(())
    return IndexSelect.apply(input, (*(slice(None),) * d, idx), False)


# ---------------------------------------------------------------------- masked_fill
class MaskedFill(Function, backward_name="MaskedFillBackward0", builtin=True):
    """``value`` where ``mask`` is true, else ``input`` (``mask`` broadcasts)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, mask: Tensor, value: Any) -> Tensor:
        be = x._backend
        native = be.native_dtype(x._dtype)
        if isinstance(value, Tensor):
            v = value._data if value._dtype is x._dtype else be.astype(value._data, native)
        else:
            v = be.full((), value, native)  # a number converts as PyTorch's fill does (2.5 -> 2 for ints)
        ctx.save_for_backward(mask)
        return _make(Tensor, be.where(mask._data, v, x._data), x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, None, Any]:
        (mask,) = ctx.saved_tensors
        from .elementwise import where

        gx = where(mask, 0.0, g) if ctx.needs_input_grad[0] else None
        gv = where(mask, g, 0.0) if ctx.needs_input_grad[2] else None
        return gx, None, gv


class MaskedFillTensor(MaskedFill, backward_name="MaskedFillBackward1", builtin=True):
    pass


def masked_fill(input: Tensor, mask: Tensor, value: Any) -> Tensor:
    """``value`` (a number or a 0-d tensor) where ``mask`` (bool, broadcasting) is true, else ``input``."""
    _check_tensor(input, "masked_fill", "input", 1)
    _check_tensor(mask, "masked_fill", "mask", 2)
    if mask._dtype is not D.bool_:
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype {_C_TYPE_NAMES[mask._dtype.name]}"
        )
    if mask._backend is not input._backend:
        from ._util import check_same_backend

        check_same_backend(input, mask)
    broadcast_shapes(mask._data.shape, input._data.shape)
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError(
                f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with {value._data.ndim} dimension(s)."
            )
        return MaskedFillTensor.apply(input, mask, value)
    if not isinstance(value, (bool, int, float)):
        raise TypeError(f"masked_fill(): argument 'value' must be Number, not {type(value).__name__}")
    from ._util import check_scalar_fits

    check_scalar_fits(value, input._dtype)
    return MaskedFill.apply(input, mask, value)


# -------------------------------------------------------------------------- nonzero
def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    """Indices of the non-zero elements: an ``(n, ndim)`` int64 tensor, or with ``as_tuple``
    one 1-D tensor per dim (``where(condition)``)."""
    _check_tensor(input, "nonzero", "input", 1)
    be = input._backend
    i64 = be.native_dtype(D.int64)
    data = input._data
    shape = tuple(data.shape)
    mask = data if input._dtype is D.bool_ else be.not_equal(data, 0)
    if not shape:
        hit = bool(be.tolist(mask))
        if as_tuple:
            return (_make(Tensor, be.zeros((1 if hit else 0,), i64), D.int64, be),)
        return _make(Tensor, be.zeros((1 if hit else 0, 0), i64), D.int64, be)
    cols = []
    for d in range(len(shape)):
        r = be.reshape(be.arange(0, shape[d], 1, i64), tuple(shape[d] if k == d else 1 for k in range(len(shape))))
        cols.append(be.getitem(be.broadcast_to(r, shape), mask))
    if as_tuple:
        return tuple(_make(Tensor, c, D.int64, be) for c in cols)
    return _make(Tensor, be.stack(cols, 1), D.int64, be)


# ------------------------------------------------------------ index_add, index_fill
def _index_vector(input: Tensor, index: Tensor, op: str, dim: int) -> Any:
    """``index`` as a 1-D int64 backend array, checked against ``input``'s size along ``dim``."""
    if index._dtype not in (D.int64, D.int32):
        raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index but got: {D.scalar_type_name(index._dtype)}")
    if index._data.ndim > 1:
        raise IndexError(
            f"{op}(): Index is supposed to be a vector, but got dim: {index._data.ndim} with type: "
            f"{D.scalar_type_name(index._dtype)} and size: {list(index._data.shape)}"
        )
    be = input._backend
    idx = _as_index(index, op)
    if index._data.ndim == 0:
        idx = be.reshape(idx, (1,))
    size = input._data.shape[dim] if input._data.ndim else 1
    _index_bounds(be, idx, size, dim, False)
    return idx


def _dim_key(ndim: int, dim: int, idx: Any) -> tuple[Any, ...]:
    return (*(slice(None),) * dim, idx) if ndim else ()


class IndexAdd(Function, backward_name="IndexAddBackward0", builtin=True):
    """``input`` with ``alpha * source`` added at ``index`` along ``dim`` (repeated indices accumulate).

    Gradients: ``grad_input = grad``, ``grad_source = alpha * grad.index_select(dim, index)``.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int, index: Tensor, source: Tensor, idx: Any, alpha: Any) -> Tensor:
        be = x._backend
        out = be.copy(x._data)
        v = source._data if alpha == 1 else be.multiply(source._data, alpha)
        if x._data.ndim == 0:
            v = be.reshape(v, (1,)) if v.ndim == 0 else v
            acc = be.reshape(out, (1,))
            be.index_add(acc, (idx,), v)
            out = be.reshape(acc, ())
        elif _numel(tuple(idx.shape)):
            if source._data.ndim == 0:
                v = be.reshape(v, (1,))
            be.index_add(out, _dim_key(x._data.ndim, dim, idx), v)
        ctx.meta = (dim, alpha, tuple(source._data.shape))
        ctx.save_for_backward(index)
        return _make(Tensor, out, x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, None, None, Any, None, None]:
        dim, alpha, src_shape = ctx.meta
        (index,) = ctx.saved_tensors
        gs = None
        if ctx.needs_input_grad[3]:
            gs = index_select(g, dim, index).reshape(src_shape)
            if alpha != 1:
                gs = gs * alpha
        return g, None, None, gs, None, None


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
    """A copy of ``input`` with ``alpha * source`` added at the positions ``index`` (1-D) along ``dim``:
    ``out[index[i]] += alpha * source[i]`` for ``dim=0``; repeated indices accumulate."""
    _check_tensor(input, "index_add", "input", 1)
    _check_tensor(index, "index_add", "index", 3)
    _check_tensor(source, "index_add", "source", 4)
    _same_backend(input, index, source)
    n = input._data.ndim
    d = canon_dim(dim, n)
    idx = _index_vector(input, index, "index_add_", d)
    if source._dtype is not input._dtype:
        raise RuntimeError(
            f"index_add_(): self ({D.scalar_type_name(input._dtype)}) and source "
            f"({D.scalar_type_name(source._dtype)}) must have the same scalar type"
        )
    ss, xs = tuple(source._data.shape), tuple(input._data.shape)
    n_idx = int(idx.shape[0])
    src_len = ss[d] if ss else 1
    if n_idx != src_len:
        raise RuntimeError(
            f"index_add_(): Number of indices ({n_idx}) should be equal to source.size(dim): ({src_len}), for dim: {d}"
        )
    if (
        len(ss) > 0
        and len(xs) > 0
        and (len(ss) != len(xs) or any(a != b for k, (a, b) in enumerate(zip(ss, xs)) if k != d))
    ):
        raise RuntimeError(
            "source tensor shape must match self tensor shape, excluding the specified dimension. "
            f"Got self.shape = {list(xs)} source.shape = {list(ss)}"
        )
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"index_add(): argument 'alpha' must be Number, not {type(alpha).__name__}")
    if input._dtype.category is not _FLOATING:
        alpha = int(alpha)  # PyTorch truncates a float alpha for integer tensors
    return IndexAdd.apply(input, d, index, source, idx, alpha)


class IndexFill(Function, backward_name="IndexFillBackward0", builtin=True):
    """``input`` with ``value`` written at the positions ``index`` along ``dim``.

    Gradients: ``grad_input = grad.index_fill(dim, index, 0)``; for a tensor ``value``, the sum
    of ``grad`` over the filled positions, ``(grad - grad.index_fill(dim, index, 0)).sum()``.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int, index: Tensor, value: Any, idx: Any) -> Tensor:
        be = x._backend
        native = be.native_dtype(x._dtype)
        out = be.copy(x._data)
        if isinstance(value, Tensor):
            v = value._data if value._dtype is x._dtype else be.astype(value._data, native)
        else:
            v = be.full((), value, native)  # converts as PyTorch's fill does (2.7 -> 2 for ints)
        if x._data.ndim == 0:
            if _numel(tuple(idx.shape)):
                be.copy_into(out, v)
        elif _numel(tuple(idx.shape)):
            be.setitem(out, _dim_key(x._data.ndim, dim, idx), v)
        ctx.dim = dim
        ctx.save_for_backward(index)
        return _make(Tensor, out, x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, None, None, Any, None]:
        (index,) = ctx.saved_tensors
        outside = index_fill(g, ctx.dim, index, 0)
        # the value's gradient: grad summed over the filled positions (each counted once, however often indexed)
        gv = (g - outside).sum() if ctx.needs_input_grad[3] else None
        return (outside if ctx.needs_input_grad[0] else None), None, None, gv, None


class IndexFillTensor(IndexFill, backward_name="IndexFillBackward1", builtin=True):
    pass


def index_fill(input: Tensor, dim: int, index: Tensor, value: Any) -> Tensor:
    """A copy of ``input`` with ``value`` (a number or 0-d tensor) at the positions ``index`` along ``dim``."""
    _check_tensor(input, "index_fill", "input", 1)
    _check_tensor(index, "index_fill", "index", 3)
    _same_backend(input, index, value)
    n = input._data.ndim
    d = canon_dim(dim, n)
    if index._dtype is not D.int64:
        raise IndexError("index_fill_(): Expected dtype int64 for index.")
    if index._data.ndim > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    be = input._backend
    idx = be.reshape(index._data, (-1,))
    size = input._data.shape[d] if n else 1
    try:
        _index_bounds(be, idx, size, d, True, None)
    except RuntimeError as exc:
        raise IndexError(str(exc)) from None
    if _numel(tuple(idx.shape)):
        idx = be.where(be.less(idx, 0), be.add(idx, size), idx)
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError(
                f"index_fill_ only supports a 0-dimensional value tensor, but got tensor with {value._data.ndim} dimension(s)."
            )
        return IndexFillTensor.apply(input, d, index, value, idx)
    if not isinstance(value, (bool, int, float)):
        raise TypeError(f"index_fill(): argument 'value' must be Number, not {type(value).__name__}")
    from ._util import check_scalar_fits

    check_scalar_fits(value, input._dtype)
    return IndexFill.apply(input, d, index, value, idx)


# -------------------------------------------------------------------- masked_select
class MaskedSelect(Function, backward_name="MaskedSelectBackward0", builtin=True):
    """The elements of ``input`` where ``mask`` is true (both broadcast), as a 1-D tensor.

    Gradient: ``grad`` put back at the selected positions of a zero tensor (summed over broadcasting).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, mask: Tensor) -> Tensor:
        be = x._backend
        shape = broadcast_shapes(x._data.shape, mask._data.shape)
        data = x._data if tuple(x._data.shape) == shape else be.broadcast_to(x._data, shape)
        m = mask._data if tuple(mask._data.shape) == shape else be.broadcast_to(mask._data, shape)
        if not shape:
            data, m = be.reshape(data, (1,)), be.reshape(m, (1,))
        ctx.meta = shape
        ctx.save_for_backward(mask)
        return _make(Tensor, be.getitem(data, (m,)), x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        from .indexing import IndexPutZeros

        shape = ctx.meta
        (mask,) = ctx.saved_tensors
        m = mask.expand(shape) if tuple(mask._data.shape) != shape else mask
        if not shape:
            return IndexPutZeros.apply(g, (1,), (m.reshape(1)._data,), False).reshape(()), None
        return IndexPutZeros.apply(g, shape, (m._data,), False), None  # the engine sums broadcast dims back


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements of ``input`` where the bool ``mask`` is true (broadcasting both), as a new 1-D tensor."""
    _check_tensor(input, "masked_select", "input", 1)
    _check_tensor(mask, "masked_select", "mask", 2)
    _same_backend(input, mask)
    if mask._dtype is not D.bool_:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    broadcast_shapes(mask._data.shape, input._data.shape)
    return MaskedSelect.apply(input, mask)
