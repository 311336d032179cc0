"""Reductions (sum, mean, prod, max/min, amax/amin, argmax/argmin, var/std, norms,
logsumexp, all/any), scans (cumsum, cumprod) and the softmax family.

Every differentiable reduction is a small :class:`Function` whose backward formula
sits next to its forward. Formulas are written with tensor ops, so they can be
differentiated again. Shared vocabulary of the formulas:

- ``_unreduce(t, ctx)``: a reduced tensor reshaped so that it broadcasts against the
  input again (the reduced dims put back as size 1);
- ``expand_as`` of that gives an input-shaped gradient.

``dim`` follows PyTorch everywhere: an int or a tuple of ints, negative dims count
from the end, ``dim=()`` or ``dim=None`` reduces over everything (for the ops where
PyTorch does so), and ``keepdim=True`` keeps reduced dims with size 1.
"""

from __future__ import annotations

import builtins
import math
import warnings
from typing import Any

from .. import _dtype as D
from .._dtype import Category as _Category
from .._tensor import Tensor, _make
from ..autograd.function import Function
from ..return_types import max as _max_result
from ..return_types import min as _min_result
from ._util import canon_dim, canon_dims

_FLOATING = _Category.FLOATING

#: kept for older imports: the named tuple ``max(dim=...)`` returns.
MinMaxResult = _max_result


# ------------------------------------------------------------------ shared helpers
_type_name = D.scalar_type_name


def _check_tensor(input: Any, op: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")


def _axes(input: Tensor, dim: Any) -> tuple[int, ...] | None:
    """Canonical reduction axes; ``None`` means all dims (``dim=None`` or ``dim=()``)."""
    if dim is None:
        return None
    axes = canon_dims(dim, input._data.ndim)
    if not axes:
        return None
    return axes


def _reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    """``shape`` with the reduced dims set to 1 (keepdim form)."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _count(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> int:
    n = 1
    for i, s in enumerate(shape):
        if axes is None or i in axes:
            n *= s
    return n


def _unreduce(t: Tensor, in_shape: tuple[int, ...], axes: tuple[int, ...] | None, keepdim: bool) -> Tensor:
    """A reduced tensor (or its gradient) reshaped to broadcast against the input."""
    if keepdim:
        return t
    target = _reduced_shape(in_shape, axes)
    if t._data.shape == target:
        return t
    return t.reshape(target)


def _float_dtype(input: Tensor, dtype: D.dtype | None) -> D.dtype:
    dt = dtype or input._dtype
    return dt if dt.category is _FLOATING else D.get_default_dtype()


def _cast(x: Tensor, dt: D.dtype) -> Any:
    """``x``'s array in dtype ``dt`` (no copy when it already is)."""
    be = x._backend
    return x._data if x._dtype is dt else be.astype(x._data, be.native_dtype(dt))


def _upcast_half(x: Tensor) -> Any:
    """``x``'s array, in float32 when ``x`` is float16 (PyTorch computes softmax and friends so)."""
    if x._dtype is D.float16:
        be = x._backend
        return be.astype(x._data, be.native_dtype(D.float32))
    return x._data


def _new(data: Any, dt: D.dtype, like: Tensor) -> Tensor:
    return _make(Tensor, data, dt, like._backend)


def _check_nonempty(input: Tensor, axes: tuple[int, ...] | None, op: str) -> None:
    """PyTorch's errors for max/min/amax/argmax over nothing."""
    shape = input._data.shape
    if axes is None:
        if input.numel() == 0:
            msg = f"{op}(): Expected reduction dim to be specified for input.numel() == 0."
            if op in ("argmax", "argmin"):
                raise IndexError(msg)
            raise RuntimeError(msg + " Specify the reduction dim with the 'dim' argument.")
        return
    for a in axes:
        if shape and shape[a] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {a} to have non-zero size.")


# ---------------------------------------------------------------------------- sum
class Sum(Function, backward_name="SumBackward0", builtin=True):
    """``sum(x)``: the gradient is ``grad`` broadcast back over the reduced dims."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, axes: tuple[int, ...] | None, keepdim: bool, dtype: D.dtype | None) -> Tensor:
        be = x._backend
        data = x._data
        out_dt = dtype or (x._dtype if x._dtype.category is _FLOATING else D.int64)
        if dtype is not None and dtype is not x._dtype:
            data = be.astype(data, be.native_dtype(dtype))
        ctx.meta = (x._data.shape, axes, keepdim)
        out = be.sum(data, axes, keepdim)
        if dtype is not None and dtype.category is not _FLOATING and out_dt is not D.int64:
            out = be.astype(out, be.native_dtype(out_dt))
        return _make(Tensor, out, out_dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None]:
        in_shape, axes, keepdim = ctx.meta
        return _unreduce(g, in_shape, axes, keepdim).expand(in_shape), None, None, None


class SumDim(Sum, backward_name="SumBackward1", builtin=True):
    pass


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: D.dtype | None = None) -> Tensor:
    """Sum of all elements, or over ``dim`` (int or tuple). Integer and bool inputs sum to ``int64``."""
    _check_tensor(input, "sum")
    if dim is None:
        return Sum.apply(input, None, keepdim, dtype)
    return SumDim.apply(input, _axes(input, dim), keepdim, dtype)


# --------------------------------------------------------------------------- mean
class Mean(Function, backward_name="MeanBackward0", builtin=True):
    """``mean(x) = sum(x) / n``: the gradient is ``grad / n`` broadcast back."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, axes: tuple[int, ...] | None, keepdim: bool, dtype: D.dtype | None) -> Tensor:
        be = x._backend
        out_dt = dtype or x._dtype
        if out_dt.category is not _FLOATING:
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. "
                f"Got: {_type_name(out_dt)}"
            )
        data = _cast(x, out_dt)
        shape = x._data.shape
        n = _count(shape, axes)
        ctx.meta = (shape, axes, keepdim, n)
        if n == 0:
            # the mean of nothing is NaN (0 / 0), without the backend's warning
            out = be.full(_kept(shape, axes, keepdim), math.nan, be.native_dtype(out_dt))
        else:
            out = be.mean(data, axes, keepdim)
        return _make(Tensor, out, out_dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None]:
        in_shape, axes, keepdim, n = ctx.meta
        return _unreduce(g, in_shape, axes, keepdim).expand(in_shape) / n, None, None, None


class MeanDim(Mean, backward_name="MeanBackward1", builtin=True):
    pass


def _kept(shape: tuple[int, ...], axes: tuple[int, ...] | None, keepdim: bool) -> tuple[int, ...]:
    """The output shape of a reduction."""
    if keepdim:
        return _reduced_shape(shape, axes)
    if axes is None:
        return ()
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: D.dtype | None = None) -> Tensor:
    """Arithmetic mean of all elements, or over ``dim``; floating inputs only (as PyTorch)."""
    _check_tensor(input, "mean")
    if dim is None:
        return Mean.apply(input, None, keepdim, dtype)
    return MeanDim.apply(input, _axes(input, dim), keepdim, dtype)


# --------------------------------------------------------------------------- prod
def _prod_of_others(x: Tensor, dim: int) -> Tensor:
    """``prod_{k != i} x_k`` along ``dim`` for every ``i``, exact also where ``x`` has zeros.

    The product of the elements before ``i`` times the product of those after it
    (exclusive cumulative products from both ends).
    """
    n = x._data.shape[dim]
    if n <= 1:
        return x * 0 + 1
    one = x.narrow(dim, 0, 1) * 0 + 1
    before = cat([one, x.narrow(dim, 0, n - 1)], dim).cumprod(dim)
    after = cat([x.narrow(dim, 1, n - 1), one], dim).flip(dim).cumprod(dim).flip(dim)
    return before * after


class Prod(Function, backward_name="ProdBackward0", builtin=True):
    """``prod(x)``; gradient ``grad * prod(x) / x``, or the product of the other elements
    where ``x`` has zeros."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int | None, keepdim: bool, dtype: D.dtype | None) -> Tensor:
        be = x._backend
        out_dt = dtype or (x._dtype if x._dtype.category is _FLOATING else D.int64)
        data = _cast(x, dtype) if dtype is not None else x._data
        axes = None if dim is None else (dim,)
        out = be.prod(data, axes, keepdim)
        if out_dt.category is not _FLOATING and out_dt is not D.int64:
            out = be.astype(out, be.native_dtype(out_dt))
        result = _make(Tensor, out, out_dt, be)
        ctx.meta = (dim, keepdim)
        ctx.save_for_backward(x, result)
        return result

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None]:
        dim, keepdim = ctx.meta
        x, result = ctx.saved_tensors
        shape = x._data.shape
        axes = None if dim is None else (dim,)
        g = _unreduce(g, shape, axes, keepdim)
        if x.numel() == 0:
            return g.expand(shape) * 0, None, None, None
        if not bool((x == 0).any()):
            return g * _unreduce(result, shape, axes, keepdim) / x, None, None, None
        if dim is None:
            others = _prod_of_others(x.reshape(-1), 0).reshape(shape)
        else:
            others = _prod_of_others(x, dim)
        return g * others, None, None, None


class ProdDim(Prod, backward_name="ProdBackward1", builtin=True):
    pass


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: D.dtype | None = None) -> Tensor:
    """Product of all elements, or along one ``dim``. Integer and bool inputs give ``int64``."""
    _check_tensor(input, "prod")
    if dim is None:
        return Prod.apply(input, None, keepdim, dtype)
    if isinstance(dim, (tuple, list)):
        raise TypeError("prod(): argument 'dim' must be int, not tuple")
    d = canon_dim(dim, input._data.ndim)
    if input._data.ndim == 0:
        return ProdDim.apply(input, None, keepdim, dtype)
    return ProdDim.apply(input, d, keepdim, dtype)


# ----------------------------------------------------------------- max, min, amax
def _evenly_distribute(g: Tensor, x: Tensor, value: Tensor, axes: tuple[int, ...] | None) -> Tensor:
    """``grad`` shared evenly among the elements equal to the extreme ``value`` (NaNs count as equal).

    ``g`` and ``value`` are in keepdim form; ``axes`` are the reduced dims (``None``: all).
    """
    mask = x == value
    if x._dtype.category is _FLOATING:
        mask = mask | (x.isnan() & value.isnan())
    dims = tuple(range(x._data.ndim)) if axes is None else axes
    count = mask.sum(dims, keepdim=True) if dims else mask.to(D.int64)
    return g * mask.to(g._dtype) / count.to(g._dtype)


class Amax(Function, backward_name="AmaxBackward0", builtin=True):
    """``amax(x, dim)``: the gradient is shared evenly among tied maxima."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, axes: tuple[int, ...] | None, keepdim: bool, kernel: str) -> Tensor:
        be = x._backend
        out = _make(Tensor, getattr(be, kernel)(x._data, axes, keepdim), x._dtype, be)
        ctx.meta = (axes, keepdim)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None]:
        axes, keepdim = ctx.meta
        x, out = ctx.saved_tensors
        shape = x._data.shape
        gx = _evenly_distribute(_unreduce(g, shape, axes, keepdim), x, _unreduce(out, shape, axes, keepdim), axes)
        return gx, None, None, None


class Amin(Amax, backward_name="AminBackward0", builtin=True):
    pass


class MaxAll(Amax, backward_name="MaxBackward1", builtin=True):
    pass


class MinAll(Amax, backward_name="MinBackward1", builtin=True):
    pass


def _amax_like(input: Tensor, dim: Any, keepdim: bool, op: str, fn: type[Function]) -> Tensor:
    _check_tensor(input, op)
    axes = _axes(input, dim)
    _check_nonempty(input, axes, op)
    if input._dtype is D.bool_:
        be = input._backend
        k = be.any if fn is Amax else be.all
        return _new(k(input._data, axes, keepdim), D.bool_, input)
    return fn.apply(input, axes, keepdim, "max" if fn is Amax else "min")


def amax(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Maximum over ``dim`` (all dims by default); ties share the gradient evenly."""
    return _amax_like(input, dim, keepdim, "amax", Amax)


def amin(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Minimum over ``dim`` (all dims by default); ties share the gradient evenly."""
    return _amax_like(input, dim, keepdim, "amin", Amin)


class MaxDim(Function, backward_name="MaxBackward0", builtin=True):
    """``max(x, dim)`` -> ``(values, indices)``; the gradient goes to the selected index."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int, keepdim: bool, arg: str) -> tuple[Tensor, Tensor]:
        be = x._backend
        if x._data.ndim == 0:
            values = _make(Tensor, be.copy(x._data), x._dtype, be)
            idx = be.zeros((), be.native_dtype(D.int64))
        else:
            data = x._data
            if x._dtype is D.bool_:
                data = be.astype(data, be.native_dtype(D.uint8))
            idx = getattr(be, arg)(data, dim, True)
            values = _make(Tensor, be.take_along_axis(x._data, idx, dim), x._dtype, be)
            if not keepdim:
                shape = tuple(s for i, s in enumerate(x._data.shape) if i != dim)
                idx = be.reshape(idx, shape)
                values._data = be.reshape(values._data, shape)
        indices = _make(Tensor, idx, D.int64, be)
        ctx.mark_non_differentiable(indices)
        ctx.meta = (x._data.shape, dim, keepdim)
        ctx.save_for_backward(indices)
        return values, indices

    @staticmethod
    def backward(ctx: Any, g: Tensor, _gi: Any) -> tuple[Tensor, None, None, None]:
        shape, dim, keepdim = ctx.meta
        (indices,) = ctx.saved_tensors
        if not shape:
            return g, None, None, None
        if not keepdim:
            g = g.unsqueeze(dim)
            indices = indices.unsqueeze(dim)
        from .scatter import scatter_into_zeros

        return scatter_into_zeros(g, dim, indices, shape), None, None, None


class MinDim(MaxDim, backward_name="MinBackward0", builtin=True):
    pass


def _max_min(input: Tensor, dim: Any, keepdim: bool, other: Any, op: str) -> Any:
    _check_tensor(input, op)
    if isinstance(dim, Tensor) and other is None:
        dim, other = None, dim
    if other is not None:
        from . import elementwise as ew

        return ew.maximum(input, other) if op == "max" else ew.minimum(input, other)
    if dim is None:
        if keepdim:
            raise TypeError(f"{op}(): keepdim given without dim")
        _check_nonempty(input, None, op)
        if input._dtype is D.bool_:
            be = input._backend
            return _new((be.any if op == "max" else be.all)(input._data, None, False), D.bool_, input)
        return (MaxAll if op == "max" else MinAll).apply(input, None, False, op)
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")
    d = canon_dim(dim, input._data.ndim)
    _check_nonempty(input, (d,), op)
    values, indices = (MaxDim if op == "max" else MinDim).apply(input, d, keepdim, "arg" + op)
    return (_max_result if op == "max" else _min_result)(values, indices)


def max(input: Tensor, dim: Any = None, keepdim: bool = False, *, other: Tensor | None = None) -> Any:
    """The largest element; with ``dim``, the named tuple ``(values, indices)`` along it;
    with a tensor second argument, :func:`maximum`."""
    return _max_min(input, dim, keepdim, other, "max")


def min(input: Tensor, dim: Any = None, keepdim: bool = False, *, other: Tensor | None = None) -> Any:
    """The smallest element; with ``dim``, the named tuple ``(values, indices)`` along it;
    with a tensor second argument, :func:`minimum`."""
    return _max_min(input, dim, keepdim, other, "min")


def _arg(input: Tensor, dim: int | None, keepdim: bool, op: str) -> Tensor:
    _check_tensor(input, op)
    be = input._backend
    data = input._data
    if input._dtype is D.bool_:
        raise RuntimeError(f"{op}(): does not support bool input")
    k = be.argmax if op == "argmax" else be.argmin
    if dim is None:
        _check_nonempty(input, None, op)
        out = k(be.reshape(data, (-1,)), 0, False)
        if keepdim:
            out = be.reshape(out, (1,) * data.ndim)
        return _new(out, D.int64, input)
    d = canon_dim(dim, data.ndim)
    if data.ndim == 0:
        return _new(be.zeros((), be.native_dtype(D.int64)), D.int64, input)
    _check_nonempty(input, (d,), op)
    return _new(k(data, d, keepdim), D.int64, input)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (of the flattened tensor, or along ``dim``); first on ties."""
    return _arg(input, dim, keepdim, "argmax")


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element (of the flattened tensor, or along ``dim``); first on ties."""
    return _arg(input, dim, keepdim, "argmin")


# ------------------------------------------------------------------------ var/std
class Var(Function, backward_name="VarBackward0", builtin=True):
    """``var(x) = sum((x - mean)^2) / (n - correction)``; gradient ``2 (x - mean) / (n - correction) * grad``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, axes: tuple[int, ...] | None, correction: float, keepdim: bool) -> Tensor:
        be = x._backend
        shape = x._data.shape
        n = _count(shape, axes)
        dof = builtins.max(0, n - correction)
        data = x._data
        if n == 0:
            out = be.full(_kept(shape, axes, keepdim), math.nan, be.native_dtype(x._dtype))
        else:
            centered = be.subtract(data, be.mean(data, axes, True))
            ss = be.sum(be.multiply(centered, centered), axes, keepdim)
            if dof:
                out = be.divide(ss, dof)
            else:
                # 0 / 0 is NaN and x / 0 is inf, as in PyTorch, without a backend warning
                nd = be.native_dtype(x._dtype)
                out = be.where(be.equal(ss, 0), be.full(ss.shape, math.nan, nd), be.full(ss.shape, math.inf, nd))
        ctx.meta = (axes, correction, keepdim, dof)
        ctx.save_for_backward(x)
        return _make(Tensor, out, x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None]:
        axes, _correction, keepdim, dof = ctx.meta
        (x,) = ctx.saved_tensors
        shape = x._data.shape
        centered = x - x.mean(axes if axes is not None else None, keepdim=True)
        return _unreduce(g, shape, axes, keepdim) * centered * (2.0 / dof if dof else math.inf), None, None, None


class Std(Function, backward_name="StdBackward0", builtin=True):
    """``std(x) = sqrt(var(x))``; gradient ``(x - mean) / ((n - correction) std) * grad`` (0 where std is 0)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, axes: tuple[int, ...] | None, correction: float, keepdim: bool) -> Tensor:
        v = Var.forward(ctx, x, axes, correction, keepdim)
        be = x._backend
        out = _make(Tensor, be.sqrt(v._data), x._dtype, be)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None]:
        axes, _correction, keepdim, dof = ctx.meta
        x, out = ctx.saved_tensors
        shape = x._data.shape
        out_k = _unreduce(out, shape, axes, keepdim)
        centered = x - x.mean(axes if axes is not None else None, keepdim=True)
        scale = (_unreduce(g, shape, axes, keepdim) / (out_k * dof if dof else out_k * 0)).masked_fill(out_k == 0, 0)
        return scale * centered, None, None, None


def _correction(unbiased: Any, correction: Any) -> float:
    if correction is not None:
        if unbiased is not None:
            raise TypeError(
                f"received an invalid combination of arguments - got (correction={correction!r}, unbiased={unbiased!r}): "
                "give either correction or unbiased"
            )
        return correction  # type: ignore[no-any-return]
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


def _var_std(
    input: Tensor, dim: Any, unbiased: Any, keepdim: bool, correction: Any, op: str
) -> tuple[Tensor, tuple[int, ...] | None, float]:
    _check_tensor(input, op)
    if isinstance(dim, bool):  # var(x, True): the old ``unbiased`` positional
        unbiased, dim = dim, None
    if input._dtype.category is not _FLOATING:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    axes, c = _axes(input, dim), _correction(unbiased, correction)
    if _count(input._data.shape, axes) - c <= 0:
        warnings.warn(
            f"{op}(): degrees of freedom is <= 0. Correction should be strictly less than the reduction factor "
            "(input numel divided by output numel).",
            UserWarning,
            stacklevel=_caller_level(),
        )
    return input, axes, c


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside plugrad (a warning points at the user's line)."""
    import os
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(root):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def var(
    input: Tensor,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """Variance over ``dim`` (all dims by default) with Bessel's ``correction`` (1 unless ``unbiased=False``)."""
    x, axes, c = _var_std(input, dim, unbiased, keepdim, correction, "var")
    return Var.apply(x, axes, c, keepdim)


def std(
    input: Tensor,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """Standard deviation ``sqrt(var)`` over ``dim``, with ``correction`` as in :func:`var`."""
    x, axes, c = _var_std(input, dim, unbiased, keepdim, correction, "std")
    return Std.apply(x, axes, c, keepdim)


def var_mean(
    input: Tensor,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> tuple[Tensor, Tensor]:
    """``(var(input, dim), mean(input, dim))`` in one call."""
    x, axes, c = _var_std(input, dim, unbiased, keepdim, correction, "var_mean")
    return Var.apply(x, axes, c, keepdim), (Mean if axes is None else MeanDim).apply(x, axes, keepdim, None)


def std_mean(
    input: Tensor,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> tuple[Tensor, Tensor]:
    """``(std(input, dim), mean(input, dim))`` in one call."""
    x, axes, c = _var_std(input, dim, unbiased, keepdim, correction, "std_mean")
    return Std.apply(x, axes, c, keepdim), (Mean if axes is None else MeanDim).apply(x, axes, keepdim, None)


# -------------------------------------------------------------------------- norms
class VectorNorm(Function, backward_name="LinalgVectorNormBackward0", builtin=True):
    """``||x||_p = (sum |x|^p)^(1/p)`` over ``dim``; ``p = inf`` is ``amax |x|``, ``p = 0`` counts non-zeros.

    Gradients: ``p = 2``: ``grad * x / norm``; general ``p``: ``grad * sign(x) |x|^(p-1) / norm^(p-1)``;
    ``p = +-inf``: ``grad * sign(x)`` shared among the tied extremes; ``p = 0``: zero.
    Where the norm is 0 the gradient is 0.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, ord: float, axes: tuple[int, ...] | None, keepdim: bool) -> Tensor:
        be = x._backend
        a = be.abs(x._data)
        if ord == math.inf or ord == -math.inf:
            if x.numel() == 0 and ord == -math.inf:
                raise RuntimeError(
                    "linalg.vector_norm cannot compute the -inf norm on an empty tensor because the operation does not have an identity"
                )
            if x.numel() == 0:
                out = be.zeros(_kept(x._data.shape, axes, keepdim), be.native_dtype(x._dtype))
            else:
                out = (be.max if ord > 0 else be.min)(a, axes, keepdim)
        elif ord == 0:
            out = be.sum(be.astype(be.not_equal(a, 0), be.native_dtype(x._dtype)), axes, keepdim)
        elif ord == 1:
            out = be.sum(a, axes, keepdim)
        elif ord == 2:
            out = be.sqrt(be.sum(be.multiply(a, a), axes, keepdim))
        else:
            out = be.pow(be.sum(be.pow(a, ord), axes, keepdim), 1.0 / ord)
        result = _make(Tensor, out, x._dtype, be)
        ctx.meta = (ord, axes, keepdim)
        ctx.save_for_backward(x, result)
        return result

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None]:
        p, axes, keepdim = ctx.meta
        x, norm = ctx.saved_tensors
        shape = x._data.shape
        g = _unreduce(g, shape, axes, keepdim)
        norm = _unreduce(norm, shape, axes, keepdim)
        if p == 0:
            gx = x * 0 * g
        elif p == 1:
            gx = x.sign() * g
        elif p == 2:
            gx = x * (g / norm).masked_fill(norm == 0, 0)
        elif p == math.inf or p == -math.inf:
            gx = x.sign() * _evenly_distribute(g, x.abs(), norm, axes)
        elif p < 1:
            gx = x.sign() * x.abs().pow(p - 1).masked_fill(x == 0, 0) * g * norm.pow(1 - p)
        elif p < 2:
            gx = x.sign() * x.abs().pow(p - 1) * (g / norm.pow(p - 1)).masked_fill(norm == 0, 0)
        else:
            gx = x * x.abs().pow(p - 2) * (g / norm.pow(p - 1)).masked_fill(norm == 0, 0)
        return gx, None, None, None


def vector_norm(
    x: Tensor, ord: float = 2, dim: Any = None, keepdim: bool = False, *, dtype: D.dtype | None = None
) -> Tensor:
    """The vector ``ord``-norm of ``x`` over ``dim`` (all elements by default), ``plugrad.linalg.vector_norm``."""
    _check_tensor(x, "linalg.vector_norm")
    if x._dtype.category is not _FLOATING:
        raise RuntimeError(
            f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got {_type_name(x._dtype)}"
        )
    if isinstance(ord, bool) or not isinstance(ord, (int, float)):
        raise TypeError(f"linalg.vector_norm(): argument 'ord' must be Number, not {type(ord).__name__}")
    if dtype is not None and dtype is not x._dtype:
        x = x.to(dtype)
    axes = _axes(x, dim)
    if ord < 0 and x.numel() == 0 and ord != -math.inf:
        raise RuntimeError(
            f"linalg.vector_norm cannot compute the {ord} norm on an empty tensor because the operation does not have an identity"
        )
    return VectorNorm.apply(x, float(ord), axes, keepdim)


def norm(input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: D.dtype | None = None) -> Tensor:
    """``torch.norm``: the vector ``p``-norm over ``dim``; ``p="fro"`` (the default) is the 2-norm."""
    _check_tensor(input, "norm")
    if p == "fro" or p is None:
        p = 2
    elif isinstance(p, str):
        raise NotImplementedError(
            f"norm(): p={p!r} (matrix norms) is not supported by plugrad; use p='fro' or a number"
        )
    if input._dtype.category is not _FLOATING:
        raise RuntimeError(
            f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got {_type_name(input._dtype)}"
        )
    return vector_norm(input, p, dim, keepdim, dtype=dtype)


# --------------------------------------------------------------------- logsumexp
class LogSumExp(Function, backward_name="LogsumexpBackward0", builtin=True):
    """``log(sum(exp(x)))`` computed as ``m + log(sum(exp(x - m)))`` with ``m = max(x)``;
    gradient ``grad * exp(x - result)`` (the softmax)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, axes: tuple[int, ...] | None, keepdim: bool) -> Tensor:
        be = x._backend
        data = _upcast_half(x)
        shape = data.shape
        if x.numel() == 0:
            out = be.full(_kept(shape, axes, keepdim), -math.inf, be.native_dtype(x._dtype))
        else:
            m = be.max(data, axes, True)
            m = be.where(be.isfinite(m), m, 0)
            s = be.sum(be.exp(be.subtract(data, m)), axes, True)
            out = be.add(be.log(s), m)
            if not keepdim:
                out = be.reshape(out, _kept(shape, axes, False))
        if x._dtype is D.float16:
            out = be.astype(out, be.native_dtype(D.float16))
        result = _make(Tensor, out, x._dtype, be)
        ctx.meta = (axes, keepdim)
        ctx.save_for_backward(x, result)
        return result

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        axes, keepdim = ctx.meta
        x, result = ctx.saved_tensors
        shape = x._data.shape
        return _unreduce(g, shape, axes, keepdim) * (x - _unreduce(result, shape, axes, keepdim)).exp(), None, None


def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(input), dim))``, numerically stable for large inputs. Integers give floats."""
    _check_tensor(input, "logsumexp")
    if input._dtype.category is not _FLOATING:
        input = input.to(D.get_default_dtype())
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        axes: tuple[int, ...] | None = None
    else:
        axes = _axes(input, dim)
    return LogSumExp.apply(input, axes, keepdim)


# -------------------------------------------------------------------------- scans
class Cumsum(Function, backward_name="CumsumBackward0", builtin=True):
    """Running sum along ``dim``; gradient: the reversed running sum of ``grad``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int, dtype: D.dtype | None) -> Tensor:
        be = x._backend
        out_dt = dtype or (x._dtype if x._dtype.category is _FLOATING else D.int64)
        data = _cast(x, dtype) if dtype is not None else x._data
        if out_dt is D.float16:  # accumulate in float32, as PyTorch does
            data = be.astype(data, be.native_dtype(D.float32))
        out = be.cumulative_sum(data, dim) if data.ndim else be.copy(data)
        if out_dt is not D.int64 and (out_dt.category is not _FLOATING or out_dt is D.float16):
            out = be.astype(out, be.native_dtype(out_dt))
        ctx.dim = dim
        return _make(Tensor, out, out_dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        d = ctx.dim
        if g._data.ndim == 0:
            return g, None, None
        return g.flip(d).cumsum(d).flip(d), None, None


class Cumprod(Function, backward_name="CumprodBackward0", builtin=True):
    """Running product along ``dim``.

    Gradient: ``sum_{j >= i} grad_j * out_j / x_i`` where ``x`` has no zeros; otherwise the
    exact ``sum_{j >= i} grad_j * prod_{k <= j, k != i} x_k`` (quadratic in the dim's size).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int, dtype: D.dtype | None) -> Tensor:
        be = x._backend
        out_dt = dtype or (x._dtype if x._dtype.category is _FLOATING else D.int64)
        data = _cast(x, dtype) if dtype is not None else x._data
        if out_dt is D.float16:  # accumulate in float32, as PyTorch does
            data = be.astype(data, be.native_dtype(D.float32))
        out = be.cumulative_prod(data, dim) if data.ndim else be.copy(data)
        if out_dt is not D.int64 and (out_dt.category is not _FLOATING or out_dt is D.float16):
            out = be.astype(out, be.native_dtype(out_dt))
        result = _make(Tensor, out, out_dt, be)
        ctx.dim = dim
        ctx.save_for_backward(x, result)
        return result

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        d = ctx.dim
        x, out = ctx.saved_tensors
        if x._data.ndim == 0 or x.numel() == 0:
            return g, None, None
        if not bool((x == 0).any()):
            return (g * out).flip(d).cumsum(d).flip(d) / x, None, None
        # exact form: row i holds x with x_i replaced by 1; its running product at j is
        # prod_{k <= j, k != i} x_k, which weighs grad_j for j >= i
        from .._creation import arange
        from .elementwise import where

        n = x._data.shape[d]
        xm = x.movedim(d, -1)  # (..., n)
        gm = g.movedim(d, -1)
        idx = arange(n, device=x._backend)
        eye = idx.unsqueeze(-1) == idx  # (i, k)
        rows = where(eye, 1.0, xm.unsqueeze(-2))  # (..., i, k)
        prods = rows.cumprod(-1)  # (..., i, j)
        before = idx.unsqueeze(-1) > idx  # j < i: no contribution
        gx = (prods * gm.unsqueeze(-2)).masked_fill(before, 0).sum(-1)
        return gx.movedim(-1, d), None, None


def _scan(input: Tensor, dim: int, dtype: D.dtype | None, fn: type[Function], op: str) -> Tensor:
    _check_tensor(input, op)
    d = canon_dim(dim, input._data.ndim)
    return fn.apply(input, d, dtype)


def cumsum(input: Tensor, dim: int, *, dtype: D.dtype | None = None) -> Tensor:
    """Running sum along ``dim``; integer and bool inputs give ``int64``."""
    return _scan(input, dim, dtype, Cumsum, "cumsum")


def cumprod(input: Tensor, dim: int, *, dtype: D.dtype | None = None) -> Tensor:
    """Running product along ``dim``; integer and bool inputs give ``int64``."""
    return _scan(input, dim, dtype, Cumprod, "cumprod")


# ---------------------------------------------------------------------- all / any
def _logical_reduce(input: Tensor, dim: Any, keepdim: bool, op: str) -> Tensor:
    _check_tensor(input, op)
    be = input._backend
    axes = _axes(input, dim)
    out = (be.all if op == "all" else be.any)(input._data, axes, keepdim)
    if input._dtype is D.uint8:
        return _new(be.astype(out, be.native_dtype(D.uint8)), D.uint8, input)
    return _new(out, D.bool_, input)


def all(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Whether every element (over ``dim``) is non-zero; a bool tensor (``uint8`` for ``uint8`` input)."""
    return _logical_reduce(input, dim, keepdim, "all")


def any(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Whether some element (over ``dim``) is non-zero; a bool tensor (``uint8`` for ``uint8`` input)."""
    return _logical_reduce(input, dim, keepdim, "any")


def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:
    """Number of non-zero elements (over ``dim``), ``int64``."""
    _check_tensor(input, "count_nonzero")
    be = input._backend
    nz = be.not_equal(input._data, 0)
    return _new(be.sum(nz, _axes(input, dim), False), D.int64, input)


# ---------------------------------------------------------------------- softmax
class Softmax(Function, backward_name="SoftmaxBackward0", builtin=True):
    """``exp(x - max) / sum(exp(x - max))`` along ``dim``; gradient ``y * (grad - sum(grad * y))``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int) -> Tensor:
        be = x._backend
        data = _upcast_half(x)
        if data.ndim == 0 or x.numel() == 0:
            out = be.exp(be.subtract(data, data)) if data.ndim == 0 else be.copy(data)
        else:
            m = be.max(data, (dim,), True)
            m = be.where(be.isfinite(m), m, 0)
            e = be.exp(be.subtract(data, m))
            out = be.divide(e, be.sum(e, (dim,), True))
        if x._dtype is D.float16:
            out = be.astype(out, be.native_dtype(D.float16))
        result = _make(Tensor, out, x._dtype, be)
        ctx.dim = dim
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        (y,) = ctx.saved_tensors
        d = ctx.dim
        if y._data.ndim == 0:
            return g * 0, None
        gy = g * y
        return gy - y * gy.sum(d, keepdim=True), None


class LogSoftmax(Function, backward_name="LogSoftmaxBackward0", builtin=True):
    """``x - logsumexp(x)`` along ``dim``; gradient ``grad - exp(y) * sum(grad)``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int) -> Tensor:
        be = x._backend
        data = _upcast_half(x)
        if data.ndim == 0 or x.numel() == 0:
            out = be.subtract(data, data)
        else:
            m = be.max(data, (dim,), True)
            m = be.where(be.isfinite(m), m, 0)
            shifted = be.subtract(data, m)
            out = be.subtract(shifted, be.log(be.sum(be.exp(shifted), (dim,), True)))
        if x._dtype is D.float16:
            out = be.astype(out, be.native_dtype(D.float16))
        result = _make(Tensor, out, x._dtype, be)
        ctx.dim = dim
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        (y,) = ctx.saved_tensors
        d = ctx.dim
        if y._data.ndim == 0:
            return g * 0, None
        return g - y.exp() * g.sum(d, keepdim=True), None


def _softmax_input(input: Tensor, dim: Any, dtype: D.dtype | None, op: str) -> tuple[Tensor, int]:
    _check_tensor(input, op)
    if dim is None:
        raise TypeError(f"{op}() missing required argument 'dim'")
    d = canon_dim(dim, input._data.ndim)
    if dtype is not None and dtype is not input._dtype:
        input = input.to(dtype)
    if input._dtype.category is not _FLOATING:
        raise NotImplementedError(f"\"{op}_lastdim_kernel_impl\" not implemented for '{_type_name(input._dtype)}'")
    return input, d


def softmax(input: Tensor, dim: int, dtype: D.dtype | None = None) -> Tensor:
    """``exp(x_i) / sum_j exp(x_j)`` along ``dim`` (stable: the maximum is subtracted first)."""
    x, d = _softmax_input(input, dim, dtype, "softmax")
    return Softmax.apply(x, d)


def log_softmax(input: Tensor, dim: int, dtype: D.dtype | None = None) -> Tensor:
    """``x_i - log(sum_j exp(x_j))`` along ``dim`` (stable at large inputs)."""
    x, d = _softmax_input(input, dim, dtype, "log_softmax")
    return LogSoftmax.apply(x, d)


from .shape import cat  # noqa: E402 - shape imports nothing from here
