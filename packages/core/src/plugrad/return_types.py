"""Named tuples returned by ops with several outputs (``plugrad.return_types.max``, ...).

Each behaves like a tuple (``values, indices = t.max(0)``) and offers its fields by
name (``t.max(0).values``); the repr matches PyTorch's ``torch.return_types.max(...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ._tensor import Tensor

__all__ = ["max", "min", "sort", "topk", "kthvalue", "median"]


def _repr(self: Any) -> str:
    fields = ",\n".join(f"{name}={value!r}" for name, value in zip(self._fields, self))
    return f"plugrad.return_types.{type(self).__name__}(\n{fields})"


class max(NamedTuple):
    """``(values, indices)`` of :func:`plugrad.max` along a dim."""

    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class min(NamedTuple):
    """``(values, indices)`` of :func:`plugrad.min` along a dim."""

    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class sort(NamedTuple):
    """``(values, indices)`` of :func:`plugrad.sort`."""

    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class topk(NamedTuple):
    """``(values, indices)`` of :func:`plugrad.topk`."""

    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class kthvalue(NamedTuple):
    """``(values, indices)`` of :func:`plugrad.kthvalue`."""

    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class median(NamedTuple):
    """``(values, indices)`` of :func:`plugrad.median`."""

    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:
        return _repr(self)
