"""Matrix products: ``matmul`` (``@``) in every case PyTorch accepts, ``mm``, ``bmm``,
``mv``, ``dot``, ``outer``.

Like PyTorch, the operands must share one dtype (no promotion). ``matmul`` reduces
every case to three kernels-backed functions, with the usual gradients
(``C = A B``: ``dA = dC B^T``, ``dB = A^T dC``):

- 1-D · 1-D: :class:`Dot` (``DotBackward0``);
- 2-D · 1-D: :class:`MV` (``MvBackward0``); 1-D · 2-D: ``(v[None] @ M)[0]``;
- 2-D · 2-D: :class:`MM` (``MmBackward0``); N-D · 2-D folds the batch into the rows;
- batched: batch dims broadcast (``expand``, whose backward sums), then :class:`BMM`.
"""

from __future__ import annotations

from typing import Any

from .. import _dtype as D
from .._autocast_state import ACTIVE as _AUTOCAST_ACTIVE
from .._autocast_state import autocast_inputs
from .._tensor import Tensor, _make
from ..autograd.function import Function
from ._raw import formula_values, tensors_from
from ._util import broadcast_shapes, check_same_backend

_C_TYPE_NAMES = D.C_TYPE_NAMES


class MM(Function, backward_name="MmBackward0", builtin=True):
    """``A @ B`` for matrices; ``dA = dC @ B^T``, ``dB = A^T @ dC``."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor) -> Tensor:
        ctx.save_for_backward(
            a if b._requires_grad else None, b if a._requires_grad else None
        )  # only what backward reads
        return _make(Tensor, a._backend.matmul(a._data, b._data), a._dtype, a._backend)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b, gv = formula_values(ctx, g)  # arrays when no graph is built (see _ops/_raw.py)
        na, nb = ctx.needs_input_grad
        return tensors_from(g, gv @ b.mT if na else None, a.mT @ gv if nb else None)


MatMul = MM  # older name


class BMM(MM, backward_name="BmmBackward0", builtin=True):
    """Batched ``A @ B`` over equal leading dims (``matmul`` expands them first)."""


class Dot(MM, backward_name="DotBackward0", builtin=True):
    """``sum(a * b)`` of two vectors (the kernel's ``matmul``); ``da = g b``, ``db = g a``."""

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b, gv = formula_values(ctx, g)
        na, nb = ctx.needs_input_grad
        return tensors_from(g, gv * b if na else None, gv * a if nb else None)


class MV(MM, backward_name="MvBackward0", builtin=True):
    """``M @ v`` (the kernel's ``matmul``); ``dM = outer(g, v)``, ``dv = M^T @ g``."""

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        m, v, gv = formula_values(ctx, g)
        na, nb = ctx.needs_input_grad
        return tensors_from(g, gv.unsqueeze(-1) * v if na else None, m.mT @ gv if nb else None)


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _mm_error(sa: tuple[int, ...], sb: tuple[int, ...]) -> RuntimeError:
    return RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({_dims(sa)} and {_dims(sb)})")


def _check_pair(a: Any, b: Any, op: str, dot: bool = False) -> None:
    for pos, (name, t) in enumerate((("input", a), ("other", b)), 1):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): argument '{name}' (position {pos}) must be Tensor, not {type(t).__name__}")
    if a._backend is not b._backend:
        check_same_backend(a, b)
    if a._dtype is D.bool_ or b._dtype is D.bool_:
        kernel = "dot" if dot else "addmm_impl_cpu_"
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")
    if a._dtype is not b._dtype:
        if dot:
            raise RuntimeError(
                f"dot : expected both vectors to have same dtype, but found {_legacy(a._dtype)} and {_legacy(b._dtype)}"
            )
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {_C_TYPE_NAMES[a._dtype.name]} != {_C_TYPE_NAMES[b._dtype.name]}"
        )


def _legacy(dt: D.dtype) -> str:
    from .._tensor import _torch_type_name

    return _torch_type_name(dt)


def _bmm_error(batch: int, k: int, kb: int) -> RuntimeError:
    return RuntimeError(
        f"Expected size for first two dimensions of batch2 tensor to be: [{batch}, {k}] but got: [{batch}, {kb}]."
    )


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with PyTorch's rules for 1-D operands and batch broadcasting.

    Inside an enabled ``plugrad.autocast`` region the operands are cast to its dtype first
    (matmul is on PyTorch's lower-precision list).
    """
    if _AUTOCAST_ACTIVE[0]:
        input, other = autocast_inputs(input, other)
    na = input._data.ndim if isinstance(input, Tensor) else -1
    nb = other._data.ndim if isinstance(other, Tensor) else -1
    _check_pair(input, other, "matmul", dot=(na == 1 and nb == 1))
    if na == 0 or nb == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {na}D and {nb}D")
    sa, sb = input._data.shape, other._data.shape
    if na == 1 and nb == 1:
        if sa[0] != sb[0]:
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{sa[0]}] and src [{sb[0]}] to have the same number of "
                f"elements, but got {sa[0]} and {sb[0]} elements respectively"
            )
        return Dot.apply(input, other)
    if na == 2 and nb == 1:
        if sa[1] != sb[0]:
            raise RuntimeError(f"size mismatch, got input ({sa[0]}), mat ({_dims(sa)}), vec ({sb[0]})")
        return MV.apply(input, other)
    if na == 1 and nb == 2:
        if sa[0] != sb[0]:
            raise _mm_error((1, sa[0]), sb)
        return MM.apply(input.unsqueeze(0), other).squeeze(0)
    if na == 2 and nb == 2:
        if sa[1] != sb[0]:
            raise _mm_error(sa, sb)
        return MM.apply(input, other)
    if na >= 3 and nb <= 2:
        # fold the batch into the rows: (..., n, k) @ (k, m) is one (B n, k) @ (k, m) product
        from .shape import UnsafeReshape

        k = sa[-1]
        rows = 1
        for s in sa[:-1]:
            rows *= s
        folded = input.reshape(rows, k)
        if nb == 1:
            if sb[0] != k:
                raise RuntimeError(f"size mismatch, got input ({rows}), mat ({rows}x{k}), vec ({sb[0]})")
            return UnsafeReshape.apply(MV.apply(folded, other), tuple(sa[:-1]))
        if sb[0] != k:
            raise _mm_error((rows, k), sb)
        return UnsafeReshape.apply(MM.apply(folded, other), (*sa[:-1], sb[1]))
    # batched: (..., n, k) @ (..., k, m) with broadcast batch dims
    a = input.unsqueeze(0) if na == 1 else input
    sa2 = a._data.shape
    batch = broadcast_shapes(sa2[:-2], sb[:-2])
    nbatch = 1
    for s in batch:
        nbatch *= s
    if sa2[-1] != sb[-2]:
        raise _bmm_error(nbatch, sa2[-1], sb[-2])
    a = a if sa2[:-2] == batch else a.expand(*batch, *sa2[-2:])
    b = other if sb[:-2] == batch else other.expand(*batch, *sb[-2:])
    out = BMM.apply(a, b)
    if na == 1:
        return out.squeeze(-2)
    from .shape import UnsafeReshape

    # PyTorch's batched matmul ends in a view of the bmm result (UnsafeViewBackward0)
    return UnsafeReshape.apply(out, out._data.shape)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Product of two matrices (2-D only, one dtype)."""
    _check_pair(input, mat2, "mm")
    if input._data.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if mat2._data.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    if input._data.shape[1] != mat2._data.shape[0]:
        raise _mm_error(input._data.shape, mat2._data.shape)
    return MM.apply(input, mat2)


class Addmm(Function, backward_name="AddmmBackward0", builtin=True):
    """``beta * bias + alpha * (a @ b)`` for matrices ``a (n, m)``, ``b (m, p)`` and a ``bias``
    that broadcasts to ``(n, p)``. Gradients: ``d bias = beta * g`` (summed back to the bias's
    shape by the engine), ``da = alpha * g @ b^T``, ``db = alpha * a^T @ g`` (computed as
    ``(g^T @ a)^T``, so that a ``weight.t()`` operand's gradient comes back contiguous)."""

    @staticmethod
    def forward(ctx: Any, bias: Tensor, a: Tensor, b: Tensor, beta: Any, alpha: Any) -> Tensor:
        be = a._backend
        prod = be.matmul(a._data, b._data)
        if alpha != 1:
            prod = be.multiply(prod, alpha)
        term = bias._data if beta == 1 else be.multiply(bias._data, beta)
        ctx.save_for_backward(a if b._requires_grad else None, b if a._requires_grad else None)
        ctx.scales = (beta, alpha)
        ctx.bias_shape = tuple(bias._data.shape)
        return _make(Tensor, be.add(prod, term) if beta != 0 else prod, a._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b, gv = formula_values(ctx, g)  # arrays when no graph is built (_ops/_raw.py)
        beta, alpha = ctx.scales
        nbias, na, nb = ctx.needs_input_grad[:3]
        gs = gv if alpha == 1 else gv * alpha
        gbias = (gv if beta == 1 else gv * beta) if nbias else None
        if gbias is not None and gv is not g:  # on arrays: sum to the bias's shape here, one kernel
            gbias = _sum_to(gbias, ctx.bias_shape)
        grads = tensors_from(g, gbias, gs @ b.mT if na else None, (gs.mT @ a).mT if nb else None)
        return (*grads, None, None)


def _sum_to(v: Any, shape: tuple[int, ...]) -> Any:
    """A 2-D gradient on arrays summed back to a bias's broadcastable ``shape`` (``()``, ``(p,)``,
    ``(1, p)``, ``(n, 1)``, ``(n, p)``); what the engine's ``sum_to_size`` does for tensors."""
    be, a = v.be, v.a
    full = tuple(a.shape)
    if full == shape:
        return v
    lead = len(full) - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and full[i + lead] != 1)
    out = be.sum(a, axes, True)
    return type(v)(be.reshape(out, shape), be)


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)``: a matrix product plus a bias broadcast to its shape
    (``nn.functional.linear`` is ``addmm(bias, x, weight.t())``, as in PyTorch)."""
    _check_pair(mat1, mat2, "addmm")
    if not isinstance(input, Tensor):
        raise TypeError(f"addmm(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if mat1._data.ndim != 2:
        raise RuntimeError("mat1 must be a matrix, got " + f"{mat1._data.ndim}-D tensor")
    if mat2._data.ndim != 2:
        raise RuntimeError("mat2 must be a matrix, got " + f"{mat2._data.ndim}-D tensor")
    (n, k), (k2, p) = mat1._data.shape, mat2._data.shape
    if k != k2:
        raise _mm_error(mat1._data.shape, mat2._data.shape)
    if input._dtype is not mat1._dtype:
        raise RuntimeError(
            f"self and mat2 must have the same dtype, but got {D.scalar_type_name(input._dtype)} and "
            f"{D.scalar_type_name(mat2._dtype)}"
        )
    if input._backend is not mat1._backend:
        check_same_backend(mat1, input)
    shape = tuple(input._data.shape)
    try:
        if broadcast_shapes(shape, (n, p)) != (n, p):
            raise RuntimeError
    except RuntimeError:
        raise RuntimeError(
            f"The expanded size of the tensor ({p}) must match the existing size ({shape[-1] if shape else 1}) at "
            f"non-singleton dimension {len(shape) - 1}.  Target sizes: [{n}, {p}].  Tensor sizes: {list(shape)}"
        ) from None
    return Addmm.apply(input, mat1, mat2, beta, alpha)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched product of two 3-D tensors with the same batch size (no broadcasting)."""
    _check_pair(input, mat2, "bmm")
    if input._data.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2._data.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    b1, b2 = input._data.shape, mat2._data.shape
    if b1[0] != b2[0] or b1[2] != b2[1]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{b1[0]}, {b1[2]}] but got: [{b2[0]}, {b2[1]}]."
        )
    return BMM.apply(input, mat2)


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix-vector product ``input @ vec``."""
    _check_pair(input, vec, "mv")
    if input._data.ndim != 2 or vec._data.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {input._data.ndim}, {vec._data.ndim}")
    return matmul(input, vec)


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors of one dtype."""
    _check_pair(input, other, "dot", dot=True)
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input._data.ndim}D and {other._data.ndim}D tensors")
    return matmul(input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product ``input[:, None] * vec2[None, :]`` of two 1-D tensors (dtypes promote)."""
    for pos, (name, t) in enumerate((("input", input), ("vec2", vec2)), 1):
        if not isinstance(t, Tensor):
            raise TypeError(f"outer(): argument '{name}' (position {pos}) must be Tensor, not {type(t).__name__}")
    if input._backend is not vec2._backend:
        check_same_backend(input, vec2)
    for name, t in (("self", input), ("vec2", vec2)):
        if t._data.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t._data.ndim}-D")
    return input.unsqueeze(-1) * vec2.unsqueeze(0)
