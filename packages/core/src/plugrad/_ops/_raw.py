"""Backend arrays seen through the formula vocabulary, for backward without graph objects.

A derivative formula (a catalogue row's, or a hand-written ``backward``) is written once
with tensor syntax. When no graph is being built for the gradient (grad mode off, no
forward-mode tangents) and every value it reads has the gradient's dtype, it runs on
:class:`_Raw` wrappers of the backend's arrays instead: each operator is one kernel
call, and no tensor, node or version counter is made. :func:`formula_values` decides
which evaluation applies and :func:`tensors_from` turns the results back into tensors.
"""

from __future__ import annotations

from typing import Any

from .._tensor import Tensor, _make
from ..autograd.function import _forward_ad_active
from ..autograd.grad_mode import _state as _grad_state

__all__ = ["formula_values", "tensors_from"]


class _Raw:
    """A backend array seen through the formula vocabulary (see catalogue's docstring).

    Formulas run on these in the usual backward (grad mode off): each operator is one
    kernel call, with no tensor, graph node or dtype bookkeeping. ``mask`` marks the
    bool result of a comparison, which promotes to the other operand's dtype as a bool
    tensor does in PyTorch.
    """

    __slots__ = ("a", "be", "mask")

    def __init__(self, a: Any, be: Any, mask: bool = False) -> None:
        self.a = a
        self.be = be
        self.mask = mask

    def _operands(self, other: Any) -> tuple[Any, Any]:
        if type(other) is not _Raw:
            return self.a, other
        x, y = self.a, other.a
        if self.mask is not other.mask:  # a mask meets values: it takes their dtype
            be = self.be
            if self.mask:
                x = be.astype(x, y.dtype)
            else:
                y = be.astype(y, x.dtype)
        return x, y

    def _bin(self, other: Any, kernel: str) -> _Raw:
        x, y = self._operands(other)
        return _Raw(getattr(self.be, kernel)(x, y), self.be)

    def _rbin(self, other: Any, kernel: str) -> _Raw:
        return _Raw(getattr(self.be, kernel)(other, self.a), self.be)

    def _cmp(self, other: Any, kernel: str) -> _Raw:
        x, y = self._operands(other)
        return _Raw(getattr(self.be, kernel)(x, y), self.be, True)

    def __add__(self, o: Any) -> _Raw:
        return self._bin(o, "add")

    def __radd__(self, o: Any) -> _Raw:
        return self._rbin(o, "add")

    def __sub__(self, o: Any) -> _Raw:
        return self._bin(o, "subtract")

    def __rsub__(self, o: Any) -> _Raw:
        return self._rbin(o, "subtract")

    def __mul__(self, o: Any) -> _Raw:
        return self._bin(o, "multiply")

    def __rmul__(self, o: Any) -> _Raw:
        return self._rbin(o, "multiply")

    def __truediv__(self, o: Any) -> _Raw:
        return self._bin(o, "divide")

    def __rtruediv__(self, o: Any) -> _Raw:
        return self._rbin(o, "divide")

    def __pow__(self, o: Any) -> _Raw:
        return self._bin(o, "pow")

    def __rpow__(self, o: Any) -> _Raw:
        return self._rbin(o, "pow")

    def __neg__(self) -> _Raw:
        return _Raw(self.be.negative(self.a), self.be)

    def __gt__(self, o: Any) -> _Raw:
        return self._cmp(o, "greater")

    def __ge__(self, o: Any) -> _Raw:
        return self._cmp(o, "greater_equal")

    def __lt__(self, o: Any) -> _Raw:
        return self._cmp(o, "less")

    def __le__(self, o: Any) -> _Raw:
        return self._cmp(o, "less_equal")

    def __eq__(self, o: Any) -> _Raw:  # type: ignore[override]
        return self._cmp(o, "equal")

    def __ne__(self, o: Any) -> _Raw:  # type: ignore[override]
        return self._cmp(o, "not_equal")

    def __or__(self, o: Any) -> _Raw:
        return _Raw(self.be.logical_or(self.a, o.a), self.be, True)

    def __and__(self, o: Any) -> _Raw:
        return _Raw(self.be.logical_and(self.a, o.a), self.be, True)

    __hash__ = None  # type: ignore[assignment]

    def where(self, mask: _Raw, other: Any) -> _Raw:
        """``self`` where ``mask`` holds, else ``other`` (PyTorch's ``Tensor.where``)."""
        o = other.a if type(other) is _Raw else other
        return _Raw(self.be.where(mask.a, self.a, o), self.be)

    def _k(self, name: str) -> _Raw:
        return _Raw(getattr(self.be, name)(self.a), self.be)

    def abs(self) -> _Raw:
        return self._k("abs")

    def cos(self) -> _Raw:
        return self._k("cos")

    def sin(self) -> _Raw:
        return self._k("sin")

    def exp(self) -> _Raw:
        return self._k("exp")

    def log(self) -> _Raw:
        return self._k("log")

    def sign(self) -> _Raw:
        return self._k("sign")

    def sqrt(self) -> _Raw:
        return self._k("sqrt")

    def cosh(self) -> _Raw:
        from .catalogue import _cosh

        return _Raw(_cosh(self.be, self.a), self.be)

    def sinh(self) -> _Raw:
        from .catalogue import _sinh

        return _Raw(_sinh(self.be, self.a), self.be)

    def digamma(self) -> _Raw:
        from . import _special

        return _Raw(_special.digamma(self.be, self.a), self.be)

    def polygamma(self, n: int) -> _Raw:
        from ._polygamma import polygamma

        return _Raw(polygamma(self.be, self.a, n), self.be)

    def __matmul__(self, o: _Raw) -> _Raw:
        return _Raw(self.be.matmul(self.a, o.a), self.be)

    @property
    def mT(self) -> _Raw:
        """The last two dimensions swapped (PyTorch's ``Tensor.mT``)."""
        n = len(self.a.shape)
        axes = (*range(n - 2), n - 1, n - 2)
        return _Raw(self.be.permute_dims(self.a, axes), self.be)

    def unsqueeze(self, dim: int) -> _Raw:
        shape = list(self.a.shape)
        shape.insert(dim if dim >= 0 else len(shape) + 1 + dim, 1)
        return _Raw(self.be.reshape(self.a, tuple(shape)), self.be)


def formula_values(ctx: Any, g: Tensor, masks: tuple[int, ...] = ()) -> tuple[Any, ...]:
    """The saved tensors and ``g``, as arrays (:class:`_Raw`) where that is exact, else tensors.

    Arrays are used when no graph is being built and every saved value has ``g``'s dtype
    (positions in ``masks`` hold bool masks instead). The formula then runs on arrays;
    :func:`tensors_from` wraps what it returns.
    """
    if not _grad_state.enabled and not _forward_ad_active[0]:
        arrays = ctx._saved_arrays(g._dtype, masks)
        if arrays is not None:
            be = g._backend
            out = (
                [None if a is None else _Raw(a, be, i in masks) for i, a in enumerate(arrays)]
                if masks
                else [None if a is None else _Raw(a, be) for a in arrays]
            )
            out.append(_Raw(g._data, be))
            return tuple(out)
    return (*ctx.saved_tensors, g)


def tensors_from(g: Tensor, *values: Any) -> tuple[Any, ...]:
    """Formula results as tensors of ``g``'s dtype and backend (``None`` and tensors pass through).

    A result that is ``g``'s own array comes back as ``g`` itself, so the engine sees the
    aliasing (it never takes a shared buffer as a fresh gradient).
    """
    out: list[Any] = []
    for v in values:
        if type(v) is _Raw:
            v = g if v.a is g._data else _make(Tensor, v.a, g._dtype, g._backend)
        out.append(v)
    return tuple(out)
