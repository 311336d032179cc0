"""Comparison helpers: ``isclose``, ``allclose``, ``equal``.

``isclose(a, b)`` is ``|a - b| <= atol + rtol * |b|`` elementwise, with equal values
(infinities included) always close and NaNs close to each other only with
``equal_nan=True``, as PyTorch (and NumPy) define it. None of these is differentiable.
"""

from __future__ import annotations

from typing import Any

from .. import _dtype as D
from .._dtype import Category as _Category
from .._tensor import Tensor, _make
from ._util import broadcast_shapes, check_same_backend

_FLOATING = _Category.FLOATING
_INTEGER = _Category.INTEGER

__all__ = ["isclose", "allclose", "equal"]


def _two(input: Any, other: Any, op: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if not isinstance(other, Tensor):
        raise TypeError(f"{op}(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
    if other._backend is not input._backend:
        check_same_backend(input, other)


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """Elementwise ``|input - other| <= atol + rtol * |other|`` (broadcasting), as a bool tensor.

    Equal elements are close (also infinities of one sign); NaNs are close to each other
    only with ``equal_nan``. Both tensors must have the same dtype.
    """
    _two(input, other, "isclose")
    if input._dtype is not other._dtype:
        raise RuntimeError(f"{D.scalar_type_name(input._dtype)} did not match {D.scalar_type_name(other._dtype)}")
    if rtol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {atol}")
    broadcast_shapes(input._data.shape, other._data.shape)
    be = input._backend
    a, b = input._data, other._data
    same = be.equal(a, b)
    if input._dtype is D.bool_ or (input._dtype.category is _INTEGER and rtol == 0 and atol == 0):
        return _make(Tensor, same, D.bool_, be)
    if input._dtype.category is not _FLOATING:  # integers: the formula in float64, as exact as the values allow
        f64 = be.native_dtype(D.float64) if D.float64 in be.dtype_to_native else be.native_dtype(D.float32)
        a, b = be.astype(a, f64), be.astype(b, f64)
    diff = be.abs(be.subtract(a, b))
    tol = be.add(be.multiply(be.abs(b), rtol), atol)
    close = be.logical_or(same, be.logical_and(be.isfinite(diff), be.less_equal(diff, tol)))
    if equal_nan:
        close = be.logical_or(close, be.logical_and(be.isnan(a), be.isnan(b)))
    return _make(Tensor, close, D.bool_, be)


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """Whether every element of ``input`` is close to ``other``'s (see :func:`isclose`); a Python bool."""
    _two(input, other, "allclose")
    close = isclose(input, other, rtol, atol, equal_nan)
    be = close._backend
    return bool(be.tolist(be.all(close._data, None, False)))


def equal(input: Tensor, other: Tensor) -> bool:
    """Whether the two tensors have the same shape and equal elements (NaN is never equal); a Python bool."""
    _two(input, other, "equal")
    if tuple(input._data.shape) != tuple(other._data.shape):
        return False
    from .elementwise import eq

    same = eq(input, other)
    be = same._backend
    return bool(be.tolist(be.all(same._data, None, False)))
