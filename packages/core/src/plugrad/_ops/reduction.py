"""Reductions: sum and mean (more in the op catalogue)."""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.function import Function
from ._util import canon_dims


class MinMaxResult(NamedTuple):
    values: Tensor
    indices: Tensor


def _restore_dims(g: Tensor, in_shape: tuple[int, ...], axes: tuple[int, ...] | None, keepdim: bool) -> Tensor:
    """Reshape a reduced gradient so that it broadcasts against the input again."""
    if keepdim or axes is None or not in_shape:
        if axes is None and not keepdim:
            return g.reshape((1,) * len(in_shape)) if in_shape else g
        return g
    shape = list(in_shape)
    for a in axes:
        shape[a] = 1
    return g.reshape(tuple(shape))


class Sum(Function, backward_name="SumBackward0", builtin=True):
    """``SumBackward0`` for a full sum, ``SumBackward1`` with ``dim``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, axes: tuple[int, ...] | None, keepdim: bool, dtype: D.dtype | None) -> Tensor:
        be = x._backend
        data = x._data
        out_dt = dtype or (x._dtype if x._dtype.category == 2 else D.int64)
        if dtype is not None and dtype is not x._dtype:
            data = be.astype(data, be.native_dtype(dtype))
        ctx.meta = (x._data.shape, axes, keepdim)
        return _make(Tensor, be.sum(data, axes, keepdim), out_dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None]:
        in_shape, axes, keepdim = ctx.meta
        return _restore_dims(g, in_shape, axes, keepdim).expand(in_shape), None, None, None


class SumDim(Sum, backward_name="SumBackward1", builtin=True):
    pass


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: D.dtype | None = None) -> Tensor:  # noqa: A001
    """Sum of all elements, or over ``dim`` (int or tuple). Integer and bool inputs sum to ``int64``."""
    axes = canon_dims(dim, input._data.ndim)
    if axes is None:
        return Sum.apply(input, None, keepdim, dtype)  # type: ignore[no-any-return]
    return SumDim.apply(input, axes, keepdim, dtype)  # type: ignore[no-any-return]


class Mean(Function, backward_name="MeanBackward0", builtin=True):
    """``MeanBackward0`` for a full mean, ``MeanBackward1`` with ``dim``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, axes: tuple[int, ...] | None, keepdim: bool, dtype: D.dtype | None) -> Tensor:
        be = x._backend
        data = x._data
        out_dt = dtype or x._dtype
        if out_dt.category != 2:
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. "
                f"Got: {_name(x._dtype)}"
            )
        if out_dt is not x._dtype:
            data = be.astype(data, be.native_dtype(out_dt))
        shape = x._data.shape
        n = 1
        for a in axes if axes is not None else range(len(shape)):
            n *= shape[a]
        ctx.meta = (shape, axes, keepdim, n)
        return _make(Tensor, be.mean(data, axes, keepdim), out_dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None]:
        in_shape, axes, keepdim, n = ctx.meta
        return _restore_dims(g, in_shape, axes, keepdim).expand(in_shape) / n, None, None, None


class MeanDim(Mean, backward_name="MeanBackward1", builtin=True):
    pass


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: D.dtype | None = None) -> Tensor:
    """Arithmetic mean of all elements, or over ``dim``; floating inputs only (as PyTorch)."""
    axes = canon_dims(dim, input._data.ndim)
    if axes is None:
        return Mean.apply(input, None, keepdim, dtype)  # type: ignore[no-any-return]
    return MeanDim.apply(input, axes, keepdim, dtype)  # type: ignore[no-any-return]


def _name(dt: D.dtype) -> str:
    from .._tensor import _torch_type_name

    return _torch_type_name(dt)
