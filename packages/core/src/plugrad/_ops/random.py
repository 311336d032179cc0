"""In-place random fills: ``uniform_``, ``normal_``, ``bernoulli_``, ``random_``.

Each draws new values from the backend's generator (``random_uniform``/``random_normal``
kernels, seeded by :func:`plugrad.manual_seed`) and writes them into the tensor. Under
autograd (a non-leaf that requires grad) the tensor gets a node of PyTorch's name whose
gradient is zero: the new values do not depend on the old ones.
"""

from __future__ import annotations

import math
from typing import Any

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.function import Function

__all__ = ["uniform_", "normal_", "bernoulli_", "random_"]


class _Refill(Function, backward_name="UniformBackward0", builtin=True):
    """``values`` in place of ``x`` (same shape and dtype); the gradient to ``x`` is zero."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, values: Any) -> Tensor:
        return _make(Tensor, values, x._dtype, x._backend)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        return g * 0, None


class _Normal(_Refill, backward_name="NormalBackward0", builtin=True):
    pass


class _BernoulliTensor(_Refill, backward_name="BernoulliBackward1", builtin=True):
    pass


class _Bernoulli(_Refill, backward_name="BernoulliBackward2", builtin=True):
    pass


class _RandomRange(_Refill, backward_name="RandomBackward0", builtin=True):
    pass


class _RandomTo(_Refill, backward_name="RandomBackward1", builtin=True):
    pass


class _Random(_Refill, backward_name="RandomBackward2", builtin=True):
    pass


def _write(t: Tensor, values: Any, node: type[_Refill]) -> Tensor:
    """Write backend array ``values`` (``t``'s shape, any dtype) into ``t`` in place."""
    be = t._backend
    native = be.native_dtype(t._dtype)
    if values.dtype != native:
        values = be.astype(values, native)

    def fill(x: Tensor) -> Tensor:
        return node.apply(x, values)  # type: ignore[no-any-return]

    return t._inplace_op(fill)


def _float_draw(t: Tensor, kernel: str) -> Any:
    be = t._backend
    dt = t._dtype if t._dtype.category == 2 else D.float64
    return getattr(be, kernel)(tuple(t._data.shape), be.native_dtype(dt))


def _check_number(v: Any, fn: str, arg: str) -> float:
    if isinstance(v, Tensor) and v.numel() == 1:
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{fn}(): argument '{arg}' must be float, not {type(v).__name__}")
    return float(v)


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill ``t`` with samples of the uniform distribution on ``[a, b)``."""
    a, b = _check_number(a, "uniform_", "from"), _check_number(b, "uniform_", "to")
    if t._dtype.category != 2:
        raise NotImplementedError(f"\"check_uniform_bounds\" not implemented for '{D.scalar_type_name(t._dtype)}'")
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a:g} > to={b:g}")
    be = t._backend
    u = _float_draw(t, "random_uniform")
    return _write(t, be.add(be.multiply(u, b - a), a), _Refill)


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill ``t`` with samples of the normal distribution ``N(mean, std**2)``."""
    mean, std = _check_number(mean, "normal_", "mean"), _check_number(std, "normal_", "std")
    if t._dtype.category != 2:
        raise NotImplementedError(f"\"normal_kernel_cpu\" not implemented for '{D.scalar_type_name(t._dtype)}'")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
    be = t._backend
    z = _float_draw(t, "random_normal")
    return _write(t, be.add(be.multiply(z, std), mean), _Normal)


def bernoulli_(t: Tensor, p: Any = 0.5) -> Tensor:
    """Fill ``t`` with 1 (probability ``p``, a number or a broadcasting tensor) or 0."""
    be = t._backend
    u = _float_draw(t, "random_uniform")
    if isinstance(p, Tensor):
        if p._backend is not be:
            from ._util import check_same_backend

            check_same_backend(t, p)
        pd = p._data if p._dtype.category == 2 else be.astype(p._data, be.native_dtype(D.float64))
        if p._dtype is not t._dtype and p._dtype.category == 2 and t._dtype.category == 2:
            pd = be.astype(pd, u.dtype)
        return _write(t, be.less(u, pd), _BernoulliTensor)
    pf = _check_number(p, "bernoulli_", "p")
    if not 0.0 <= pf <= 1.0:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={pf:g}")
    return _write(t, be.less(u, pf), _Bernoulli)


def _int_arg(v: Any, fn: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(
            f"{fn}() received an invalid combination of arguments - got ({type(v).__name__}), but expected one of:\n"
            " * (*, plugrad.Generator generator = None)\n"
            " * (int from, int to, *, plugrad.Generator generator = None)\n"
            " * (int to, *, plugrad.Generator generator = None)"
        )
    return v


def _default_top(dt: D.dtype) -> int:
    """The largest value ``random_()`` draws: the dtype's maximum, or ``2**mantissa`` for floats."""
    if dt is D.bool_:
        return 1
    if dt.category == 2:
        return {"float16": 2**11, "float32": 2**24, "float64": 2**53}[dt.name]
    top: int = {"uint8": 255, "int8": 127, "int16": 2**15 - 1, "int32": 2**31 - 1, "int64": 2**63 - 1}[dt.name]
    return top


def random_(t: Tensor, from_: Any = None, to: Any = None) -> Tensor:
    """Fill ``t`` with integers drawn uniformly from ``[from, to)``: ``random_(to)`` (from 0),
    ``random_(from, to)``, or ``random_()`` (``0`` to the dtype's largest exactly representable integer)."""
    node: type[_Refill]
    if from_ is None and to is None:
        lo, hi, node = 0, _default_top(t._dtype) + 1, _Random
    elif to is None:
        lo, hi, node = 0, _int_arg(from_, "random_"), _RandomTo
    else:
        lo, hi, node = _int_arg(from_, "random_"), _int_arg(to, "random_"), _RandomRange
    if hi <= lo:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={lo} >= to={hi}")
    if node is not _Random and t._dtype.category != 2:
        if lo < _dtype_min(t._dtype):
            raise RuntimeError(f"from is out of bounds for {D.C_TYPE_NAMES[t._dtype.name]}")
        if hi - 1 > _default_top(t._dtype):
            raise RuntimeError(f"to - 1 is out of bounds for {D.C_TYPE_NAMES[t._dtype.name]}")
    be = t._backend
    u = be.random_uniform(
        tuple(t._data.shape), be.native_dtype(D.float64 if D.float64 in be.dtype_to_native else D.float32)
    )
    draws = be.add(be.floor(be.multiply(u, float(hi - lo))), float(lo))
    top = float(hi - 1)
    if int(top) > hi - 1:  # hi - 1 has no exact float (int64 ranges): the float just below it
        top = math.nextafter(top, -math.inf)
    draws = be.where(be.greater(draws, top), be.full((), top, u.dtype), draws)  # u * span may round up to span
    return _write(t, draws, node)


def _dtype_min(dt: D.dtype) -> int:
    if dt is D.bool_ or dt is D.uint8:
        return 0
    bits: int = dt.itemsize * 8
    return -(1 << (bits - 1))
