"""``plugrad.linalg``'s decompositions and solvers, with their derivatives.

Each op that calls a backend's linalg kernel is a ``Function`` whose forward runs the
kernel (the optional ``linalg_*`` kernels of contract 1.3, named after the array API's
linalg extension) and whose backward is written with tensor ops (matmul, transpose and
these very ops), so that ``create_graph=True`` gives second derivatives. The other ops
(``lstsq``, ``matrix_norm``, ``matrix_power``, ``cross``, ``vander``, ...) are compositions
of these and of plugrad's other ops, differentiable through them.

Derivatives (``g``: the output's gradient, ``^T``: transpose of the last two dims):

- ``inv``: ``X = A^-1``, ``gA = -X^T g X^T``;
- ``solve`` (``A X = B``): ``gB = A^-T g``, ``gA = -gB X^T``;
- ``solve_triangular``: as ``solve``, ``gA`` kept on ``A``'s triangle (off the diagonal
  when ``unitriangular``);
- ``det``: ``g det(A) A^-T`` (through the SVD's cofactors when ``A`` is singular);
  ``slogdet``: ``g_logabsdet A^-T``;
- ``cholesky`` (``A = L L^T``): ``gA = sym(L^-T Phi(L^T gL) L^-1)``, ``Phi`` the lower
  triangle with the diagonal halved, ``sym(X) = (X + X^T)/2``;
- ``qr`` (``m >= n``): ``gA = (gQ + Q copyltu(M)) R^-T``, ``M = R gR^T - gQ^T Q``;
  ``m < n`` splits ``A = [X | Y]``;
- ``eigh`` (``A = V diag(L) V^T``): ``gA = V (diag(gL) + F o skew(V^T gV)) V^T``,
  ``F_ij = 1/(L_j - L_i)``, ``skew(X) = (X - X^T)/2``;
- ``svd``: PyTorch's formula (``E_ij = S_j^2 - S_i^2``), plus the terms for the
  complement of ``U`` (``m > n``) or ``V`` (``m < n``);
- ``pinv`` (constant rank): ``gA = -P^T g P^T + (I - A P) g^T P P^T + P^T P g^T (I - P A)``.

Repeated eigenvalues (``eigh``) or singular values (``svd``) make ``F`` infinite. The
gradient is then defined only for losses that do not depend on the choice of basis of
the repeated eigenspace, where the matching entries of ``skew(V^T gV)`` vanish; those
entries are dropped. Where they do not vanish, backward raises a ``RuntimeError``
saying so (PyTorch returns NaN or inf there).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from .. import _dtype as D
from .. import return_types
from .._tensor import Tensor, _make
from ..autograd.function import Function
from ._util import broadcast_shapes as _broadcast_shapes

__all__ = [
    "LinAlgError",
    "inv",
    "inv_ex",
    "inverse",
    "solve",
    "solve_ex",
    "cond",
    "solve_triangular",
    "det",
    "slogdet",
    "linalg_slogdet",
    "logdet",
    "cholesky",
    "cholesky_ex",
    "cholesky_solve",
    "triangular_solve",
    "qr",
    "eigh",
    "eigvalsh",
    "svd",
    "svdvals",
    "pinv",
    "pinverse",
    "lstsq",
    "matrix_norm",
    "matrix_rank",
    "matrix_power",
    "cross",
    "linalg_cross",
    "multi_dot",
    "vander",
]


class LinAlgError(RuntimeError):
    """A matrix is singular or not positive-definite (PyTorch's ``torch.linalg.LinAlgError``)."""


# ---------------------------------------------------------------------- checks
def _pg() -> Any:
    import plugrad

    return plugrad


def _kernel(A: Tensor, name: str, op: str) -> Any:
    be = A._backend
    if not be.has_kernel(name):
        raise RuntimeError(
            f"plugrad backend {be.name!r} has no kernel {name!r} (optional in the contract): {op} needs it; "
            "use a backend whose array library has the array API's linalg extension (the NumPy backend has it)"
        )
    return getattr(be, name)


def _call(A: Tensor, name: str, op: str, *args: Any, **kwargs: Any) -> Any:
    """Kernel ``name`` on ``args``; a library's error (a decomposition that did not converge) becomes a
    :class:`LinAlgError` naming the op, never the library's traceback."""
    kernel = _kernel(A, name, op)
    try:
        return kernel(*args, **kwargs)
    except Exception as exc:  # the backend library's own error class, whatever it is
        if not bool(A.detach().isfinite().all()):
            raise LinAlgError(
                f"{op}: The algorithm failed to converge because the input matrix contained non-finite values."
            ) from None
        raise LinAlgError(f"{op}: the backend's {name} kernel failed: {type(exc).__name__}: {exc}") from None


def _check(A: Any, op: str, *, square: bool = True, name: str = "A") -> None:
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor {name} must have at least 2 dimensions.")
    if not A._dtype.is_floating_point:
        raise RuntimeError(
            f"{op}: Expected a floating point or complex tensor as input. Got {D.scalar_type_name(A._dtype)}"
        )
    if A._dtype.itemsize < 4:
        raise RuntimeError(f"{op}: Low precision dtypes not supported. Got {D.scalar_type_name(A._dtype)}")
    if square and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(
            f"{op}: {name} must be batches of square matrices, but they are {A.shape[-2]} by {A.shape[-1]} matrices"
        )


def _same_dtype(A: Tensor, B: Tensor, op: str) -> None:
    if A._dtype is not B._dtype:
        raise RuntimeError(
            f"{op}: Expected A and B to have the same dtype, but found A of type {D.scalar_type_name(A._dtype)} "
            f"and B of type {D.scalar_type_name(B._dtype)} instead"
        )
    if A._backend is not B._backend:
        raise RuntimeError(f"{op}: Expected A and B on the same device, but found {A.device} and {B.device}")


def _first_failure(A: Tensor, info: Any) -> tuple[int, int] | None:
    """``(batch element, info)`` of the first failing matrix, or ``None``."""
    values = A._backend.tolist(info)
    flat: list[int] = []

    def walk(v: Any) -> None:
        if isinstance(v, list):
            for w in v:
                walk(w)
        else:
            flat.append(int(v))

    walk(values)
    for i, v in enumerate(flat):
        if v != 0:
            return i, v
    return None


def _raise_info(A: Tensor, info: Any, op: str, message: str) -> None:
    """Raise :class:`LinAlgError` (``message`` formatted with ``{info}``) for the first failing matrix."""
    failure = _first_failure(A, info)
    if failure is None:
        return
    batch, code = failure
    where = f"(Batch element {batch}): " if A.ndim > 2 else ""
    raise LinAlgError(f"{op}: {where}{message.format(info=code)}")


_INV_MSG = (
    "The diagonal element {info} is zero, the inversion could not be completed because the input matrix is singular."
)
_SOLVE_MSG = "The solver failed because the input matrix is singular."
_CHOL_MSG = (
    "The factorization could not be completed because the input is not positive-definite "
    "(the leading minor of order {info} is not positive-definite)."
)


def _new(A: Tensor, data: Any, dtype: D.dtype | None = None) -> Tensor:
    return _make(Tensor, data, dtype or A._dtype, A._backend)


def _info_tensor(A: Tensor, info: Any) -> Tensor:
    be = A._backend
    return _make(Tensor, be.astype(info, be.native_dtype(D.int32)), D.int32, be)


def _eye_like(A: Tensor, n: int | None = None) -> Tensor:
    k = A.shape[-1] if n is None else n
    eye: Tensor = _pg().eye(k, dtype=A.dtype, device=A.device)
    return eye


def _broadcast_batch(A: Tensor, B: Tensor) -> tuple[Tensor, Tensor]:
    """``A`` and ``B`` expanded to their common batch dims (``expand`` sums in backward)."""
    batch = _broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2]))
    if tuple(A.shape[:-2]) != batch:
        A = A.expand(*batch, *A.shape[-2:])
    if tuple(B.shape[:-2]) != batch:
        B = B.expand(*batch, *B.shape[-2:])
    return A, B


# ---------------------------------------------------------------------- inverse and solves
def _factor(ctx: Any, A: Tensor, check: bool, kernel: str, op: str, msg: str) -> Any:
    """The forward of an ``*_ex`` factorisation (inverse, Cholesky): the kernel's result, saved for
    backward; with ``check`` PyTorch's error for a nonzero info code, else ``(result, info)``."""
    data, info = _call(A, kernel, op, A._data)
    if check:
        _raise_info(A, info, op, msg)
    out = _new(A, data)
    ctx.save_for_backward(out)
    if check:
        return out
    info_t = _info_tensor(A, info)
    ctx.mark_non_differentiable(info_t)
    return out, info_t


class Inv(Function, backward_name="LinalgInvExBackward0", builtin=True):
    """``A^-1``; ``gA = -X^T g X^T``."""

    @staticmethod
    def forward(ctx: Any, A: Tensor, check: bool) -> Any:
        return _factor(ctx, A, check, "linalg_inv", "linalg.inv", _INV_MSG)

    @staticmethod
    def backward(ctx: Any, g: Tensor, *_: Any) -> tuple[Any, None]:
        (X,) = ctx.saved_tensors
        Xt = X.mT
        return -(Xt @ g @ Xt), None


def inv(A: Tensor) -> Tensor:
    """The inverse ``A^-1`` of each square matrix (``LinAlgError`` if one is singular)."""
    _check(A, "linalg.inv")
    return Inv.apply(A, True)


def inverse(input: Tensor) -> Tensor:
    """``torch.inverse``: :func:`inv`."""
    return inv(input)


def inv_ex(A: Tensor, *, check_errors: bool = False) -> return_types.linalg_inv_ex:
    """``(inverse, info)``: ``info`` (int32, batch shape) is 0 for an invertible matrix, else the 1-based
    index of the zero pivot (the inverse's values are then unspecified)."""
    _check(A, "linalg.inv_ex")
    if check_errors:
        X = Inv.apply(A, True)
        return return_types.linalg_inv_ex(X, _pg().zeros(A.shape[:-2], dtype=D.int32, device=A.device))
    X, info = Inv.apply(A, False)
    return return_types.linalg_inv_ex(X, info)


class Solve(Function, backward_name="LinalgSolveExBackward0", builtin=True):
    """``X`` with ``A X = B`` (``B`` a batch of matrices with ``A``'s batch dims); ``gB = A^-T g``,
    ``gA = -gB X^T``."""

    @staticmethod
    def forward(ctx: Any, A: Tensor, B: Tensor) -> Tensor:
        data, info = _call(A, "linalg_solve", "linalg.solve", A._data, B._data)
        _raise_info(A, info, "plugrad.linalg.solve", _SOLVE_MSG)
        X = _new(A, data)
        ctx.save_for_backward(A, X)
        return X

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        A, X = ctx.saved_tensors
        gB = Solve.apply(A.mT, g)
        gA = -(gB @ X.mT) if ctx.needs_input_grad[0] else None
        return gA, gB


def _is_vector_rhs(A: Tensor, B: Tensor) -> bool:
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


class SolveEx(Solve, backward_name="LinalgSolveExBackward0", builtin=True):
    """:class:`Solve` returning ``(X, info)`` instead of raising for a singular ``A``."""

    @staticmethod
    def forward(ctx: Any, A: Tensor, B: Tensor) -> Any:
        data, info = _call(A, "linalg_solve", "linalg.solve_ex", A._data, B._data)
        X = _new(A, data)
        ctx.save_for_backward(A, X)
        info_t = _info_tensor(A, info)
        ctx.mark_non_differentiable(info_t)
        return X, info_t

    @staticmethod
    def backward(ctx: Any, g: Tensor, *_: Any) -> tuple[Any, Any]:
        return Solve.backward(ctx, g)


def _solve(A: Tensor, B: Tensor, left: bool, op: str, cls: type[Solve]) -> Any:
    """``cls.apply`` on ``A`` and ``B`` shaped as PyTorch's solve rules say; ``(X, info or None)``."""
    _check(A, op)
    if not isinstance(B, Tensor):
        raise TypeError(f"{op}(): argument 'B' must be Tensor, not {type(B).__name__}")
    _same_dtype(A, B, op)
    vector = _is_vector_rhs(A, B)
    Bm = B.unsqueeze(-1) if vector else B
    if not left:
        if vector:
            raise RuntimeError(f"{op}: Vector broadcasting of the left hand side is not supported for left=False.")
        if Bm.shape[-1] != A.shape[-2]:
            raise RuntimeError(
                f"{op}: Incompatible shapes of A and B for the equation XA = B "
                f"({A.shape[-2]}x{A.shape[-1]} and {Bm.shape[-2]}x{Bm.shape[-1]})"
            )
        X, info = _solve(A.mT, Bm.mT, True, op, cls)
        return X.mT, info
    if Bm.shape[-2] != A.shape[-1]:
        raise RuntimeError(
            f"{op}: Incompatible shapes of A and B for the equation AX = B "
            f"({A.shape[-2]}x{A.shape[-1]} and {Bm.shape[-2]}x{Bm.shape[-1]})"
        )
    A2, B2 = _broadcast_batch(A, Bm)
    out = cls.apply(A2, B2)
    X, info = (out, None) if isinstance(out, Tensor) else out
    return (X.squeeze(-1) if vector else X), info


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """``X`` with ``A X = B`` (``left=False``: ``X A = B``); ``B`` is a vector (``(n,)`` or ``A``'s
    shape without the last dim) or a batch of matrices; batch dims broadcast."""
    X: Tensor = _solve(A, B, left, "linalg.solve", Solve)[0]
    return X


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False) -> return_types.linalg_solve_ex:
    """``(result, info)``: :func:`solve` with ``info`` (int32, batch shape) 0 where ``A`` is invertible and
    the 1-based index of the zero pivot where it is not (the result's values are then unspecified)."""
    if check_errors:
        X = solve(A, B, left=left)
        batch = _broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2]) if B.ndim > 2 else ())
        return return_types.linalg_solve_ex(X, _pg().zeros(batch, dtype=D.int32, device=A.device))
    X, info = _solve(A, B, left, "linalg.solve_ex", SolveEx)
    return return_types.linalg_solve_ex(X, info)


def cond(A: Tensor, p: Any = None) -> Tensor:
    """The condition number ``norm(A, p) * norm(inv(A), p)``; for ``p`` None, 2 or -2 from the
    singular values (``s_max / s_min``, or its inverse for -2), for any shape; the other orders
    (``'fro'``, ``'nuc'``, ``1``, ``-1``, ``inf``, ``-inf``) need square matrices and give ``inf``
    for a singular one."""
    if p is None or p in (2, -2):
        _check(A, "linalg.cond", square=False)
        s = svdvals(A)
        r: Tensor = s[..., 0] / s[..., -1] if p != -2 else s[..., -1] / s[..., 0]
        return r
    if p not in _MATRIX_ORDS:
        raise RuntimeError(f"linalg.cond got an invalid norm type: {p}")
    _check(A, "linalg.cond")
    X, info = Inv.apply(A, False)
    r = matrix_norm(A, p) * matrix_norm(X, p)
    out: Tensor = _pg().where(info > 0, _pg().full_like(r, math.inf), r)
    return out


class SolveTriangular(Function, backward_name="LinalgSolveTriangularBackward0", builtin=True):
    """``X`` with ``A X = B`` for triangular ``A``; ``gB = A^-T g`` (the other triangle),
    ``gA = -gB X^T`` on ``A``'s triangle."""

    @staticmethod
    def forward(ctx: Any, A: Tensor, B: Tensor, upper: bool, unitriangular: bool) -> Tensor:
        flags = {"upper": upper, "unitriangular": unitriangular}
        X = _new(A, _call(A, "linalg_solve_triangular", "linalg.solve_triangular", A._data, B._data, **flags))
        ctx.save_for_backward(A, X)
        ctx.flags = (upper, unitriangular)
        return X

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any, None, None]:
        A, X = ctx.saved_tensors
        upper, unit = ctx.flags
        gB = SolveTriangular.apply(A.mT, g, not upper, unit)
        gA = None
        if ctx.needs_input_grad[0]:
            full = -(gB @ X.mT)
            off = 1 if unit else 0
            gA = full.triu(off) if upper else full.tril(-off)
        return gA, gB, None, None


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Tensor:
    """``X`` with ``A X = B`` (``left=False``: ``X A = B``) for triangular ``A``: only its upper
    (``upper=True``) or lower triangle is read, its diagonal taken as ones if ``unitriangular``.
    ``B`` is a batch of matrices; batch dims broadcast."""
    _check(A, "linalg.solve_triangular")
    if not isinstance(B, Tensor):
        raise TypeError(f"linalg.solve_triangular(): argument 'B' must be Tensor, not {type(B).__name__}")
    if B.ndim < 2:
        raise RuntimeError("linalg.solve_triangular: The input tensor B must have at least 2 dimensions.")
    _same_dtype(A, B, "linalg.solve_triangular")
    if not left:
        return solve_triangular(A.mT, B.mT, upper=not upper, unitriangular=unitriangular).mT
    if B.shape[-2] != A.shape[-1]:
        raise RuntimeError(
            f"linalg.solve_triangular: Incompatible shapes of A and B for the equation AX = B "
            f"({A.shape[-2]}x{A.shape[-1]} and {B.shape[-2]}x{B.shape[-1]})"
        )
    A2, B2 = _broadcast_batch(A, B)
    return SolveTriangular.apply(A2, B2, upper, unitriangular)


def triangular_solve(
    b: Tensor, A: Tensor, upper: bool = True, transpose: bool = False, unitriangular: bool = False
) -> return_types.triangular_solve:
    """``torch.triangular_solve`` (deprecated in PyTorch): ``(solution, cloned_coefficient)`` with
    ``op(A) X = b``, ``op`` the transpose if ``transpose``."""
    coeff = A.mT if transpose else A
    X = solve_triangular(coeff, b, upper=upper != transpose, unitriangular=unitriangular)
    return return_types.triangular_solve(X, A.clone())


def cholesky_solve(B: Tensor, L: Tensor, upper: bool = False) -> Tensor:
    """``X`` with ``A X = B`` given ``A``'s Cholesky factor (``A = L L^T``, or ``U^T U`` if ``upper``)."""
    _check(L, "cholesky_solve", square=False, name="L")
    if L.shape[-1] != L.shape[-2]:
        raise RuntimeError(
            f"A must be batches of square matrices, but they are {L.shape[-2]} by {L.shape[-1]} matrices"
        )
    if upper:
        Y = solve_triangular(L.mT, B, upper=False)
        return solve_triangular(L, Y, upper=True)
    Y = solve_triangular(L, B, upper=False)
    return solve_triangular(L.mT, Y, upper=True)


# ---------------------------------------------------------------------- determinants
def _cofactor_by_svd(A: Tensor) -> Tensor:
    """``det(A) A^-T`` (the cofactor matrix), valid for singular ``A``: ``det(U) det(V) U diag(prod_{j != i} s_j) V^T``."""
    U, S, Vh = svd(A)
    n = S.shape[-1]
    others = S.unsqueeze(-2).expand(*S.shape[:-1], n, n)
    others = _pg().where(_eye_like(A, n).bool(), _pg().ones_like(others), others)
    d = (det(U) * det(Vh)).unsqueeze(-1)
    result: Tensor = (U * (d * others.prod(-1)).unsqueeze(-2)) @ Vh
    return result


class Det(Function, backward_name="LinalgDetBackward0", builtin=True):
    """``det(A)``; ``gA = g det(A) A^-T``."""

    @staticmethod
    def forward(ctx: Any, A: Tensor) -> Tensor:
        d = _new(A, _call(A, "linalg_det", "linalg.det", A._data))
        ctx.save_for_backward(A, d)
        return d

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        A, d = ctx.saved_tensors
        try:
            cof = d.unsqueeze(-1).unsqueeze(-1) * Inv.apply(A, True).mT
        except LinAlgError:
            cof = _cofactor_by_svd(A)
        result: Tensor = g.unsqueeze(-1).unsqueeze(-1) * cof
        return result


def det(A: Tensor) -> Tensor:
    """The determinant of each square matrix."""
    _check(A, "linalg.det")
    return Det.apply(A)


class Slogdet(Function, backward_name="LinalgSlogdetBackward0", builtin=True):
    """``(sign, log|det A|)``; ``gA = g_logabsdet A^-T`` (sign is not differentiable)."""

    @staticmethod
    def forward(ctx: Any, A: Tensor) -> Any:
        sign, logabs = _call(A, "linalg_slogdet", "linalg.slogdet", A._data)
        s, la = _new(A, sign), _new(A, logabs)
        ctx.mark_non_differentiable(s)
        ctx.save_for_backward(A)
        return s, la

    @staticmethod
    def backward(ctx: Any, _gs: Any, g: Tensor) -> Tensor:
        (A,) = ctx.saved_tensors
        return g.unsqueeze(-1).unsqueeze(-1) * Inv.apply(A, True).mT


def linalg_slogdet(A: Tensor) -> return_types.linalg_slogdet:
    """``(sign, logabsdet)`` with ``det(A) = sign * exp(logabsdet)``; ``(0, -inf)`` for a singular matrix."""
    _check(A, "linalg.slogdet")
    sign, logabs = Slogdet.apply(A)
    return return_types.linalg_slogdet(sign, logabs)


def slogdet(input: Tensor) -> return_types.slogdet:
    """``torch.slogdet``: :func:`plugrad.linalg.slogdet`."""
    sign, logabs = linalg_slogdet(input)
    return return_types.slogdet(sign, logabs)


def logdet(input: Tensor) -> Tensor:
    """``log(det(A))``: NaN where the determinant is negative, ``-inf`` where it is zero."""
    _check(input, "logdet")
    sign, logabs = Slogdet.apply(input)
    return logabs + sign.log()


# ---------------------------------------------------------------------- Cholesky
def _phi(X: Tensor) -> Tensor:
    """The lower triangle of ``X`` with its diagonal halved."""
    return X.tril() - 0.5 * X * _eye_like(X)


class Cholesky(Function, backward_name="LinalgCholeskyExBackward0", builtin=True):
    """Lower ``L`` with ``A = L L^T``; ``gA = sym(L^-T Phi(L^T gL) L^-1)``."""

    @staticmethod
    def forward(ctx: Any, A: Tensor, check: bool) -> Any:
        return _factor(ctx, A, check, "linalg_cholesky", "linalg.cholesky", _CHOL_MSG)

    @staticmethod
    def backward(ctx: Any, g: Tensor, *_: Any) -> tuple[Any, None]:
        (L,) = ctx.saved_tensors
        P = _phi(L.mT @ g.tril())
        Y = SolveTriangular.apply(L.mT, P, True, False)  # L^-T P
        gA = SolveTriangular.apply(L.mT, Y.mT, True, False).mT  # L^-T P L^-1
        return 0.5 * (gA + gA.mT), None


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The Cholesky factor of each symmetric positive-definite matrix (its lower triangle is read):
    lower ``L`` with ``A = L L^T``, or ``U = L^T`` if ``upper``."""
    _check(A, "linalg.cholesky")
    L = Cholesky.apply(A, True)
    return L.mT if upper else L


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False) -> return_types.linalg_cholesky_ex:
    """``(L, info)``: ``info`` (int32, batch shape) is 0 for a positive-definite matrix, else the order of
    the first leading minor that is not (``L``'s values are then unspecified)."""
    _check(A, "linalg.cholesky_ex")
    if check_errors:
        L = cholesky(A, upper=upper)
        return return_types.linalg_cholesky_ex(L, _pg().zeros(A.shape[:-2], dtype=D.int32, device=A.device))
    L, info = Cholesky.apply(A, False)
    return return_types.linalg_cholesky_ex(L.mT if upper else L, info)


# ---------------------------------------------------------------------- QR
def _copyltu(M: Tensor) -> Tensor:
    low = M.tril(-1)
    return low + low.mT + M * _eye_like(M)


def _qr_backward_tall(Q: Tensor, R: Tensor, gQ: Tensor, gR: Tensor) -> Tensor:
    """``gA`` for ``A = Q R`` with ``m >= n`` (``Q`` m x n, ``R`` n x n)."""
    M = _copyltu(R @ gR.mT - gQ.mT @ Q)
    b = gQ + Q @ M
    return SolveTriangular.apply(R, b.mT, True, False).mT  # b R^-T


class QR(Function, backward_name="LinalgQrBackward0", builtin=True):
    """``A = Q R``; see the module docstring for the gradient."""

    @staticmethod
    def forward(ctx: Any, A: Tensor, mode: str) -> Any:
        q, r = _call(A, "linalg_qr", "linalg.qr", A._data, mode="complete" if mode == "complete" else "reduced")
        Q, R = _new(A, q), _new(A, r)
        ctx.save_for_backward(A, Q, R)
        ctx.mode = mode
        return Q, R

    @staticmethod
    def backward(ctx: Any, gQ: Tensor | None, gR: Tensor | None) -> tuple[Any, None]:
        A, Q, R = ctx.saved_tensors
        m, n = A.shape[-2], A.shape[-1]
        if ctx.mode == "r":
            raise RuntimeError(
                "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please use "
                "linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr."
            )
        if ctx.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
        gQ = gQ if gQ is not None else Q * 0
        gR = gR if gR is not None else R * 0
        if m >= n:
            return _qr_backward_tall(Q, R, gQ, gR), None
        # m < n: A = [X | Y], R = [U | V] with X = Q U (square) and Y = Q V, so V = Q^T Y
        Y = A[..., m:]
        gU, gV = gR[..., :m], gR[..., m:]
        gX = _qr_backward_tall(Q, R[..., :m], gQ + Y @ gV.mT, gU)
        return _pg().cat([gX, Q @ gV], -1), None


def qr(A: Tensor, mode: str = "reduced") -> return_types.linalg_qr:
    """``(Q, R)`` with ``A = Q R``, ``Q`` with orthonormal columns, ``R`` upper triangular.
    ``mode``: ``'reduced'`` (``k = min(m, n)`` columns of ``Q``), ``'complete'`` (``Q`` square) or
    ``'r'`` (``Q`` empty; not differentiable)."""
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(
            f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', or 'complete'"
        )
    _check(A, "linalg.qr", square=False)
    Q, R = QR.apply(A, mode)
    if mode == "r":
        Q = _pg().empty(0, dtype=A.dtype, device=A.device)
    return return_types.linalg_qr(Q, R)


# ---------------------------------------------------------------------- eigh and svd
def _gauge_mask(E: Tensor, skew: Tensor, op: str, what: str) -> Tensor:
    """``1/E`` off the diagonal, 0 on it and on degenerate pairs (``E`` ~ 0); raises if the loss
    depends on the basis of a degenerate subspace (``skew`` not ~ 0 there)."""
    eye = _eye_like(E).bool()
    scale = float(E.detach().abs().amax()) if E.numel() else 0.0
    eps = _finfo_eps(E.dtype)
    tol = max(scale, 1e-300) * eps * E.shape[-1] * 4
    degenerate = (E.detach().abs() <= tol) & ~eye
    if bool(degenerate.any()):
        gscale = float(skew.detach().abs().amax())
        bad = degenerate & (skew.detach().abs() > max(gscale, 1e-300) * math.sqrt(eps))
        if bool(bad.any()):
            raise RuntimeError(
                f"{op}: the gradient is not defined: the input has repeated {what} and the loss depends on "
                "the choice of basis of their subspace (the gradient would be infinite or NaN); differentiate "
                f"only functions that do not depend on that choice (e.g. the {what} themselves)"
            )
    safe = _pg().where(degenerate | eye, _pg().ones_like(E), E)
    result: Tensor = _pg().where(degenerate | eye, _pg().zeros_like(E), 1.0 / safe)
    return result


def _symmetric_from(A: Tensor, UPLO: str) -> Tensor:
    if UPLO == "L":
        return A.tril() + A.tril(-1).mT
    return A.triu() + A.triu(1).mT


class Eigh(Function, backward_name="LinalgEighBackward0", builtin=True):
    """``A = V diag(L) V^T``; ``gA = V (diag(gL) + F o skew(V^T gV)) V^T``, ``F_ij = 1/(L_j - L_i)``."""

    @staticmethod
    def forward(ctx: Any, A: Tensor, UPLO: str) -> Any:
        S = _symmetric_from(A, UPLO)
        w, v = _call(A, "linalg_eigh", "linalg.eigh", S._data)
        L, V = _new(A, w), _new(A, v)
        ctx.save_for_backward(L, V)
        return L, V

    @staticmethod
    def backward(ctx: Any, gL: Tensor | None, gV: Tensor | None) -> tuple[Any, None]:
        L, V = ctx.saved_tensors
        inner = None
        if gV is not None:
            VtgV = V.mT @ gV
            skew = 0.5 * (VtgV - VtgV.mT)
            E = L.unsqueeze(-2) - L.unsqueeze(-1)
            inner = skew * _gauge_mask(E, skew, "linalg.eigh", "eigenvalues")
        if gL is not None:
            d = gL.unsqueeze(-1) * _eye_like(V)
            inner = d if inner is None else inner + d
        if inner is None:
            return V * 0, None
        return V @ inner @ V.mT, None


def _check_uplo(UPLO: str) -> None:
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")


def eigh(A: Tensor, UPLO: str = "L") -> return_types.linalg_eigh:
    """``(eigenvalues, eigenvectors)`` of each symmetric matrix (only its lower triangle is read, or its
    upper one with ``UPLO='U'``): eigenvalues ascending, eigenvectors as orthonormal columns."""
    _check_uplo(UPLO)
    _check(A, "linalg.eigh")
    L, V = Eigh.apply(A, UPLO)
    return return_types.linalg_eigh(L, V)


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues of each symmetric matrix, ascending (see :func:`eigh`)."""
    _check_uplo(UPLO)
    _check(A, "linalg.eigvalsh")
    L, _ = Eigh.apply(A, UPLO)
    return L


class SVD(Function, backward_name="LinalgSvdBackward0", builtin=True):
    """``A = U diag(S) Vh``; PyTorch's gradient (see the module docstring)."""

    @staticmethod
    def forward(ctx: Any, A: Tensor, full_matrices: bool) -> Any:
        u, s, vh = _call(A, "linalg_svd", "linalg.svd", A._data, full_matrices=full_matrices)
        U, S, Vh = _new(A, u), _new(A, s), _new(A, vh)
        ctx.save_for_backward(U, S, Vh)
        return U, S, Vh

    @staticmethod
    def backward(ctx: Any, gU: Tensor | None, gS: Tensor | None, gVh: Tensor | None) -> tuple[Any, None]:
        U, S, Vh = ctx.saved_tensors
        m, n = U.shape[-2], Vh.shape[-1]
        k = S.shape[-1]
        # full_matrices: the columns beyond k are not determined by A; like PyTorch, they get no gradient
        U, Vh = U[..., :k], Vh[..., :k, :]
        gU = gU[..., :k] if gU is not None else None
        gVh = gVh[..., :k, :] if gVh is not None else None
        if gU is None and gVh is None:
            if gS is None:
                return U @ Vh * 0, None
            return (U * gS.unsqueeze(-2)) @ Vh, None
        S2 = S * S
        E = S2.unsqueeze(-2) - S2.unsqueeze(-1)  # E_ij = S_j^2 - S_i^2
        zero = _pg().zeros_like(E)
        UhgU = U.mT @ gU if gU is not None else zero
        gV = gVh.mT if gVh is not None else None
        VhgV = Vh @ gV if gV is not None else zero
        skU, skV = UhgU - UhgU.mT, VhgV - VhgV.mT
        F = _gauge_mask(E, skU * S.unsqueeze(-2) + S.unsqueeze(-1) * skV, "linalg.svd", "singular values")
        inner = (skU * S.unsqueeze(-2) + S.unsqueeze(-1) * skV) * F
        if gS is not None:
            inner = inner + gS.unsqueeze(-1) * _eye_like(E)
        if m > n and gU is not None:
            gUS = gU / S.unsqueeze(-2)
            return (U @ inner + gUS - U @ (U.mT @ gUS)) @ Vh, None
        if m < n and gV is not None:
            gVS = (gV / S.unsqueeze(-2)).mT
            return U @ (inner @ Vh + gVS - (gVS @ Vh.mT) @ Vh), None
        return U @ inner @ Vh, None


def svd(A: Tensor, full_matrices: bool = True, *, driver: str | None = None) -> return_types.linalg_svd:
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``, ``S`` descending. ``full_matrices=False``: ``U`` m x k and
    ``Vh`` k x n (``k = min(m, n)``); else square. ``driver`` (cuSOLVER's choice in PyTorch) is ignored."""
    _check(A, "linalg.svd", square=False)
    U, S, Vh = SVD.apply(A, full_matrices)
    return return_types.linalg_svd(U, S, Vh)


def svdvals(A: Tensor, *, driver: str | None = None) -> Tensor:
    """The singular values of each matrix, descending; gradient ``U diag(gS) Vh``."""
    _check(A, "linalg.svdvals", square=False)
    _, S, _ = SVD.apply(A, False)
    return S


# ---------------------------------------------------------------------- pinv, lstsq, rank
def _finfo_eps(dt: D.dtype) -> float:
    return float(_pg().finfo(dt).eps)


class Pinv(Function, backward_name="LinalgPinvBackward0", builtin=True):
    """``P = A^+`` through the SVD (or ``eigh`` if ``hermitian``) with singular values at most
    ``max(atol, rtol * s_max)`` dropped; gradient for constant rank (module docstring)."""

    @staticmethod
    def forward(ctx: Any, A: Tensor, atol: Any, rtol: Any, hermitian: bool) -> Tensor:
        if hermitian:
            L, V = eigh(A)
            s, U, Vh = L, V, V.mT
            mag = L.abs()
        else:
            U, s, Vh = svd(A, full_matrices=False)
            mag = s
        tol = _tolerance(mag, atol, rtol)
        keep = mag > tol
        inv_s = _pg().where(keep, 1.0 / _pg().where(keep, s, _pg().ones_like(s)), _pg().zeros_like(s))
        P = (Vh.mT * inv_s.unsqueeze(-2)) @ U.mT
        ctx.save_for_backward(A, P)
        result: Tensor = P
        return result

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, None, None, None]:
        A, P = ctx.saved_tensors
        gt, Pt = g.mT, P.mT
        t1 = -(Pt @ g @ Pt)
        PPt = P @ Pt
        t2 = gt @ PPt - A @ (P @ (gt @ PPt))  # (I - A P) g^T P P^T
        PtP = Pt @ P
        t3 = PtP @ gt - (PtP @ gt @ P) @ A  # P^T P g^T (I - P A)
        return t1 + t2 + t3, None, None, None


def _tolerance(mag: Tensor, atol: Any, rtol: Any) -> Tensor:
    """``max(atol, rtol * s_max)`` per matrix, shaped ``(..., 1)`` against ``mag`` (``(..., k)``)."""
    smax = mag.amax(-1, keepdim=True) if mag.shape[-1] else _pg().zeros_like(mag[..., :1])

    def col(v: Any) -> Any:
        return v.to(mag.dtype).unsqueeze(-1) if isinstance(v, Tensor) else float(v)

    result: Tensor = _pg().maximum(smax * col(rtol), _pg().zeros_like(smax) + col(atol))
    return result


def pinv(A: Tensor, *, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Tensor:
    """The pseudo-inverse; singular values at most ``max(atol, rtol * s_max)`` count as zero. Default:
    ``rtol = eps * max(m, n)`` when neither is given, ``rtol = 0`` when only ``atol`` is."""
    _check(A, "linalg.eigh" if hermitian else "linalg.pinv", square=hermitian)
    a, r = _resolve_tol(A, atol, rtol)
    return Pinv.apply(A, a, r, hermitian)


def _resolve_tol(A: Tensor, atol: Any, rtol: Any) -> tuple[Any, Any]:
    if rtol is None:
        rtol = 0.0 if atol is not None else _finfo_eps(A.dtype) * max(A.shape[-2], A.shape[-1])
    return (0.0 if atol is None else atol), rtol


def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """``torch.pinverse``: :func:`pinv` with ``rtol=rcond``."""
    return pinv(input, rtol=rcond)


def lstsq(A: Tensor, B: Tensor, rcond: float | None = None, *, driver: str | None = None) -> return_types.linalg_lstsq:
    """The least-squares solution of ``A X = B`` (minimum norm when ``A`` is rank-deficient):
    ``(solution, residuals, rank, singular_values)``.

    plugrad computes ``solution = pinv(A, rtol=rcond) @ B`` through the SVD for every driver, with
    ``rcond`` defaulting to ``eps * max(m, n)``; the gradient is ``pinv``'s. The other fields follow
    what PyTorch returns on CPU: ``rank`` (int64) for every driver but ``'gels'``; ``singular_values``
    for ``'gelsd'`` and ``'gelss'``; ``residuals`` (the squared residual norm of each column) when
    ``m > n`` and the driver is not ``'gelsy'`` (the default), for ``'gelsd'``/``'gelss'`` only if every
    matrix has full rank (``'gels'`` assumes it: PyTorch's gels gives no meaningful solution otherwise,
    plugrad still gives the minimum-norm one). Where a
    field is not computed it is an empty tensor.
    """
    if driver is None:
        driver = "gelsy"
    if driver not in ("gels", "gelsy", "gelsd", "gelss"):
        raise RuntimeError(
            "torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)".replace(
                "torch.", "plugrad."
            )
        )
    _check(A, "linalg.lstsq", square=False)
    if not isinstance(B, Tensor):
        raise TypeError(f"linalg.lstsq(): argument 'B' must be Tensor, not {type(B).__name__}")
    _same_dtype(A, B, "linalg.lstsq")
    vector = B.ndim == A.ndim - 1
    Bm = B.unsqueeze(-1) if vector else B
    m, n = A.shape[-2], A.shape[-1]
    if Bm.shape[-2] != m:
        raise RuntimeError("plugrad.linalg.lstsq: input.size(-2) should match other.size(-2)")
    rtol = _finfo_eps(A.dtype) * max(m, n) if rcond is None or rcond < 0 else rcond
    X = pinv(A, rtol=rtol) @ Bm
    empty = _pg().empty(0, dtype=A.dtype, device=A.device)
    with _pg().no_grad():
        S = svdvals(A)
        rank_t = (S > _tolerance(S, 0.0, rtol)).sum(-1)
    rank = rank_t if driver != "gels" else _pg().empty(0, dtype=D.int64, device=A.device)
    singular = S if driver in ("gelsd", "gelss") else empty
    residuals = empty
    if driver != "gelsy" and m > n and (driver == "gels" or bool((rank_t == n).all())):
        residuals = ((A @ X - Bm) ** 2).sum(-2)
    return return_types.linalg_lstsq(X.squeeze(-1) if vector else X, residuals, rank, singular)


def matrix_rank(A: Tensor, *, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Tensor:
    """The number of singular values (``|eigenvalues|`` if ``hermitian``) above ``max(atol, rtol * s_max)``
    (int64); the tolerances default as in :func:`pinv`."""
    _check(A, "linalg.matrix_rank", square=hermitian)
    a, r = _resolve_tol(A, atol, rtol)
    with _pg().no_grad():
        s = eigvalsh(A).abs() if hermitian else svdvals(A)
        if s.shape[-1] == 0:
            result: Tensor = _pg().zeros(A.shape[:-2], dtype=D.int64, device=A.device)
            return result
        return (s > _tolerance(s, a, r)).sum(-1)


# ---------------------------------------------------------------------- norms
_MATRIX_ORDS = ("fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf)


def matrix_norm(
    A: Tensor, ord: Any = "fro", dim: tuple[int, int] = (-2, -1), keepdim: bool = False, *, dtype: D.dtype | None = None
) -> Tensor:
    """A matrix norm over the two dims ``dim``: ``'fro'`` (``sqrt(sum a^2)``), ``'nuc'`` (sum of singular
    values), ``2``/``-2`` (largest/smallest singular value), ``1``/``-1`` (max/min column sum of ``|a|``),
    ``inf``/``-inf`` (max/min row sum of ``|a|``)."""
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg.matrix_norm(): argument 'A' must be Tensor, not {type(A).__name__}")
    if ord not in _MATRIX_ORDS:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    if dtype is not None:
        A = A.to(dtype)
    if not A.dtype.is_floating_point:
        raise RuntimeError(
            f"linalg.matrix_norm: Expected a floating point or complex tensor as input. Got {D.scalar_type_name(A._dtype)}"
        )
    d0, d1 = (d % A.ndim for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    if ord == "fro":
        r = (A * A).sum((d0, d1), keepdim=keepdim).sqrt()
        return r
    if ord in ("nuc", 2, -2):
        M = A.movedim((d0, d1), (-2, -1))
        s = svdvals(M)
        r = s.sum(-1) if ord == "nuc" else (s.amax(-1) if ord == 2 else s.amin(-1))
    else:
        # 1: max over columns of the column sums; inf: max over rows of the row sums
        sum_dim, red_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = A.abs().sum(sum_dim, keepdim=True)
        r = sums.amax(red_dim, keepdim=True) if ord in (1, math.inf) else sums.amin(red_dim, keepdim=True)
        return r if keepdim else r.squeeze((d0, d1))
    if keepdim:
        r = r.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1))
    return r


# ---------------------------------------------------------------------- composites
def matrix_power(A: Tensor, n: int) -> Tensor:
    """``A^n`` by repeated squaring; ``n = 0`` gives the identity, ``n < 0`` powers of ``inv(A)``."""
    _check(A, "linalg.matrix_power")
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"linalg_matrix_power(): argument 'n' (position 2) must be int, not {type(n).__name__}")
    if n == 0:
        return _eye_like(A).expand(*A.shape).clone()
    base = inv(A) if n < 0 else A
    k = abs(n)
    result: Tensor | None = None
    while k:
        if k & 1:
            result = base if result is None else result @ base
        k >>= 1
        if k:
            base = base @ base
    assert result is not None  # k >= 1 at the start
    return result


def linalg_cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (``input`` and ``other`` broadcast):
    ``c_i = a_{i+1} b_{i+2} - a_{i+2} b_{i+1}`` (indices mod 3)."""
    for name, t in (("input", input), ("other", other)):
        if not isinstance(t, Tensor):
            raise TypeError(f"linalg.cross(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[dim]} and {other.shape[dim]}"
        )
    a, b = input, other
    return a.roll(-1, dim) * b.roll(-2, dim) - a.roll(-2, dim) * b.roll(-1, dim)


def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """``torch.cross``: :func:`plugrad.linalg.cross`; ``dim=None`` takes the first dim of size 3 (with
    PyTorch's deprecation warning)."""
    if dim is None:
        warnings.warn(
            "Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass the dim "
            "explicitly or simply use torch.linalg.cross.\nThe default value of dim will change to agree with "
            "that of linalg.cross in a future release.".replace("torch.", "plugrad."),
            UserWarning,
            stacklevel=2,
        )
        dim = next((i for i, s in enumerate(input.shape) if s == 3), -1)
    return linalg_cross(input, other, dim=dim)


def multi_dot(tensors: Any) -> Tensor:
    """The product of a sequence of matrices (the first may be a vector, as may the last), multiplied in
    the order that costs the fewest scalar multiplications (dynamic programming over the chain)."""
    ts = list(tensors)
    if len(ts) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(ts)}")
    first_vec, last_vec = ts[0].ndim == 1, ts[-1].ndim == 1
    if first_vec:
        ts[0] = ts[0].unsqueeze(0)
    if last_vec:
        ts[-1] = ts[-1].unsqueeze(-1)
    for i, t in enumerate(ts):
        if t.ndim != 2:
            raise RuntimeError(
                f"multi_dot(): tensor {i} must be 2D but got {t.ndim}D"
                if 0 < i < len(ts) - 1
                else f"multi_dot(): the {'first' if i == 0 else 'last'} tensor must be 1D or 2D but got {t.ndim}D"
            )
    for i in range(len(ts) - 1):
        if ts[i].shape[1] != ts[i + 1].shape[0]:
            raise RuntimeError(
                f"multi_dot(): tensors {i} and {i + 1} with shapes {list(ts[i].shape)} and "
                f"{list(ts[i + 1].shape)} cannot be multiplied"
            )
    dims = [ts[0].shape[0]] + [t.shape[1] for t in ts]
    k = len(ts)
    cost = [[0] * k for _ in range(k)]
    split = [[0] * k for _ in range(k)]
    for length in range(1, k):
        for i in range(k - length):
            j = i + length
            cost[i][j] = math.inf  # type: ignore[call-overload]
            for s in range(i, j):
                c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, s

    def product(i: int, j: int) -> Tensor:
        if i == j:
            result: Tensor = ts[i]
            return result
        s = split[i][j]
        return product(i, s) @ product(s + 1, j)

    r = product(0, k - 1)
    if first_vec:
        r = r.squeeze(0)
    if last_vec:
        r = r.squeeze(-1)
    return r


def vander(x: Tensor, *, N: int | None = None) -> Tensor:
    """The Vandermonde matrix ``V[..., i, j] = x[..., i] ** j`` for ``j < N`` (``N`` defaults to
    ``x.shape[-1]``), built by cumulative products (differentiable at ``x = 0``)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"linalg.vander(): argument 'x' must be Tensor, not {type(x).__name__}")
    if x.ndim < 1:
        raise RuntimeError("N must be greater than 1.")  # PyTorch's message for a 0-d x
    n = x.shape[-1] if N is None else N
    if n < 1:
        raise RuntimeError("N must be greater than 1.")
    ones: Tensor = _pg().ones_like(x).unsqueeze(-1)
    if n == 1:
        return ones
    powers = x.unsqueeze(-1).expand(*x.shape, n - 1).cumprod(-1)
    result: Tensor = _pg().cat([ones, powers], -1)
    return result
