"""Matrix products."""

from __future__ import annotations

from typing import Any

from .._tensor import Tensor, _make
from ..autograd.function import Function
from .elementwise import prep


class MatMul(Function, backward_name="MmBackward0", builtin=True):
    """The standard's ``matmul`` on 2-D operands (``MmBackward0``)."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor) -> Tensor:
        x, y, dt, be = prep(a, b, "matmul")
        ctx.save_for_backward(a, b)
        return _make(Tensor, be.matmul(x, y), dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = g @ b.mT if na else None
        gb = a.mT @ g if nb else None
        return ga, gb


class BMM(MatMul, backward_name="BmmBackward0", builtin=True):
    pass


class Dot(MatMul, backward_name="DotBackward0", builtin=True):
    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        return g * b, g * a


class MV(MatMul, backward_name="MvBackward0", builtin=True):
    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = g.unsqueeze(-1) * b if na else None
        gb = a.mT @ g if nb else None
        return ga, gb


def _shape_err(a: Tensor, b: Tensor) -> RuntimeError:
    sa = "x".join(map(str, a._data.shape))
    sb = "x".join(map(str, b._data.shape))
    return RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sa} and {sb})")


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with the standard's rules for 1-D operands and batch broadcasting."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        bad = input if not isinstance(input, Tensor) else other
        raise TypeError(f"matmul(): argument 'other' (position 2) must be Tensor, not {type(bad).__name__}")
    na, nb = input._data.ndim, other._data.ndim
    if na == 0 or nb == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {na}D and {nb}D"
        )
    sa, sb = input._data.shape, other._data.shape
    if na == 1 and nb == 1:
        if sa[0] != sb[0]:
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{sa[0]}] and src [{sb[0]}] to have the same number of elements, but got {sa[0]} and {sb[0]} elements respectively"
            )
        return Dot.apply(input, other)  # type: ignore[no-any-return]
    if na == 2 and nb == 1:
        if sa[1] != sb[0]:
            raise RuntimeError(f"size mismatch, got input ({sa[0]}), mat ({sa[0]}x{sa[1]}), vec ({sb[0]})")
        return MV.apply(input, other)  # type: ignore[no-any-return]
    if na == 1:
        if sa[0] != sb[-2]:
            raise RuntimeError(f"size mismatch, got input ({sa[0]}), mat ({sa[0]}x{sb[-2]}), vec ({sb[-1]})" if nb == 2 else _shape_err(input, other).args[0])
        return matmul(input.unsqueeze(0), other).squeeze(-2)
    if nb == 1:
        if sa[-1] != sb[0]:
            raise _shape_err(input, other)
        return matmul(input, other.unsqueeze(-1)).squeeze(-1)
    if sa[-1] != sb[-2]:
        if na == 2 and nb == 2:
            raise _shape_err(input, other)
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{sb[0] if nb > 2 else 1}, {sa[-1]}] "
            f"but got: [{sb[0] if nb > 2 else 1}, {sb[-2]}]."
        )
    if na == 2 and nb == 2:
        return MatMul.apply(input, other)  # type: ignore[no-any-return]
    from ._util import broadcast_shapes

    batch = broadcast_shapes(sa[:-2], sb[:-2])
    a = input if sa[:-2] == batch else input.expand(*batch, *sa[-2:])
    b = other if sb[:-2] == batch else other.expand(*batch, *sb[-2:])
    return BMM.apply(a, b)  # type: ignore[no-any-return]


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Product of two matrices (2-D only)."""
    if input._data.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if mat2._data.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    return matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched product of two 3-D tensors with equal batch size."""
    if input._data.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor")
    if mat2._data.ndim != 3:
        raise RuntimeError(f"batch2 must be a 3D tensor")
    if input._data.shape[0] != mat2._data.shape[0] or input._data.shape[2] != mat2._data.shape[1]:
        b1, b2 = input._data.shape, mat2._data.shape
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{b1[0]}, {b1[2]}] but got: [{b2[0]}, {b2[1]}]."
        )
    return BMM.apply(input, mat2)  # type: ignore[no-any-return]


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix-vector product."""
    if input._data.ndim != 2 or vec._data.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {vec._data.ndim}, {input._data.ndim}, {vec._data.ndim}")
    return matmul(input, vec)


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors."""
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input._data.ndim}D and {other._data.ndim}D tensors")
    return matmul(input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-D tensors."""
    return input.unsqueeze(-1) * vec2.unsqueeze(0)
