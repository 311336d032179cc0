"""Forward-mode rules (Jacobian-vector products) of the built-in ops: one row per op.

A rule is ``rule(args, tangents, out) -> output tangent`` (a tuple for several outputs):

- ``args``: the arguments the op's ``Function.apply`` received;
- ``tangents``: one entry per argument, the argument's tangent, or ``None`` (a tensor
  without tangent, or a non-tensor), at least one of them a tensor;
- ``out``: the op's output.

Rules are written with tensor ops, so tangents are differentiable in reverse mode. A
rule may return a tangent that broadcasts to the output's shape or has another floating
dtype; :mod:`plugrad.autograd.forward_ad` expands and casts it. Subclasses share their
base's rule (``SumDim`` uses ``Sum``'s). A built-in op without a row here gets its
tangent from its backward (the double-vjp trick in ``forward_ad``), which is exact but
slower.

Three shapes of rule cover most ops:

- *linear* in the first argument, the rest being parameters (views, reductions, copies,
  indexing): the tangent is the op applied to the tangent;
- *bilinear* (matrix products): ``op(ta, b) + op(a, tb)``;
- *elementwise unary*: the backward formula of the op's table row, since the Jacobian of
  an elementwise op is diagonal (``J·t = J^T·t``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._ops import _derive, catalogue
from .._ops import elementwise as ew
from .._ops import indexing as ix
from .._ops import linalg as la
from .._ops import reduction as red
from .._ops import scatter as sc
from .._ops import shape as sh
from .._tensor import Tensor
from . import function as fn

Rule = Callable[[tuple[Any, ...], tuple[Any, ...], Any], Any]


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _linear(cls: type[fn.Function]) -> Rule:
    """``J·t = op(t, *params)`` for ops linear in their first (only tensor) argument."""

    def rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
        return cls.apply(tangents[0], *args[1:])

    return rule


def _bilinear(cls: type[fn.Function]) -> Rule:
    """``J·(ta, tb) = op(ta, b) + op(a, tb)`` for products of two tensors."""

    def rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
        a, b = args
        ta, tb = tangents
        return _add(cls.apply(ta, b) if ta is not None else None, cls.apply(a, tb) if tb is not None else None)

    return rule


def _add_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    return _add(*tangents)


def _sub_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    ta, tb = tangents
    return _add(ta, -tb if tb is not None else None)


def _rsub_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    # RSub(a, b) = b - a with a number b
    return -tangents[0]


def _mul_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    a, b = args
    ta, tb = tangents
    return _add(ta * b if ta is not None else None, a * tb if tb is not None else None)


def _div_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    # d(a/b) = da/b - (a/b) db/b
    _a, b = args
    ta, tb = tangents
    return _add(ta / b if ta is not None else None, -tb * out / b if tb is not None else None)


def _pow_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    # d(a**b) = b a**(b-1) da + a**b log(a) db; the same special cases at 0 as PowBackward
    a, b = args
    ta, tb = tangents
    da = db = None
    if ta is not None:
        if not isinstance(b, Tensor):
            da = ta * 0 if b == 0 else ta * b * a ** (b - 1)
        else:
            da = ew.where((b == 0) & (a == 0), 0.0, ta * b * a ** (b - 1))
    if tb is not None:
        base = a if isinstance(a, Tensor) else ew.as_tensor_like(a, b, b._dtype)
        db = ew.where(base == 0, 0.0, tb * out * base.log())
    return _add(da, db)


def _max_min_rule(less: bool) -> Rule:
    def rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
        # the winner's tangent; ties take the mean, as the backward splits them evenly
        a, b = args
        ta, tb = tangents
        wins = (a < b) if less else (a > b)
        wa = wins.to(out.dtype) + (a == b).to(out.dtype) * 0.5
        return _add(ta * wa if ta is not None else None, tb * (1 - wa) if tb is not None else None)

    return rule


def _remainder_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    # a % b = a - floor(a/b) b
    a, b = args
    ta, tb = tangents
    return _add(ta, -tb * (a / b).floor() if tb is not None else None)


def _where_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    cond = args[0]
    ta, tb = tangents[1], tangents[2]
    return ew.where(cond, ta if ta is not None else 0.0, tb if tb is not None else 0.0)


def _copy_to_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    # dst.copy_(src): the new values are src's, so is the tangent
    ts = tangents[0]
    return sh.CopyTo.apply(ts, args[1]) if ts is not None else None


def _index_put_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    # x with value written at key: linear in (x, value)
    _x, key, _value = args
    tx, tv = tangents[0], tangents[2]
    if tx is None:
        from .._creation import zeros_like

        tx = zeros_like(out)
    return ix.IndexPut.apply(tx, key, tv if tv is not None else 0)


def _join_rule(cls: type[fn.Function]) -> Rule:
    """``cat``/``stack`` (``dim, dtype, *tensors``): the tangents joined, zeros for inputs without one."""

    def rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
        from .._creation import zeros_like

        parts = [t if t is not None else zeros_like(x) for x, t in zip(args[2:], tangents[2:])]
        return cls.apply(args[0], args[1], *parts)

    return rule


def _softmax_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    # y = softmax(x): dy = y * (dx - sum(y dx))
    t, dim = tangents[0], args[1]
    if out.dim() == 0:
        return t * 0
    yt = out * t
    return yt - out * yt.sum(dim, keepdim=True)


def _log_softmax_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    # y = x - logsumexp(x): dy = dx - sum(softmax(x) dx)
    t, dim = tangents[0], args[1]
    if out.dim() == 0:
        return t * 0
    return t - (out.exp() * t).sum(dim, keepdim=True)


def _logsumexp_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    # d logsumexp(x) = sum(softmax(x) dx) over the reduced axes
    x, axes, keepdim = args
    t = tangents[0]
    softmax = (x - red._unreduce(out, tuple(x.shape), axes, keepdim)).exp()
    return (softmax * t).sum(axes, keepdim=keepdim)


def _masked_fill_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    # input where the mask is false, the (constant or tensor) value where it is true
    _x, mask, _value = args
    tx, tv = tangents[0], tangents[2]
    return ew.where(mask, tv if tv is not None else 0.0, tx if tx is not None else 0.0)


def _identity_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
    return tangents[0]


def _unary_rule(derivative: Callable[..., Tensor]) -> Rule:
    """A catalogue row's ``grad`` applied to the tangent (an elementwise Jacobian is diagonal)."""

    def rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
        return derivative(args[0], out, tangents[0], *args[1:])

    return rule


def _binary_rule(grad_a: Callable[..., Tensor], grad_b: Callable[..., Tensor]) -> Rule:
    """``∂f/∂a · ta + ∂f/∂b · tb`` from a binary catalogue row's two formulas."""

    def rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
        a, b = (v if isinstance(v, Tensor) else ew.as_tensor_like(v, out, out.dtype) for v in args)
        ta, tb = tangents
        return _add(
            grad_a(a, b, out, ta) if ta is not None else None, grad_b(a, b, out, tb) if tb is not None else None
        )

    return rule


RULES: dict[type, Rule] = {
    ew.Add: _add_rule,
    ew.Sub: _sub_rule,
    ew.RSub: _rsub_rule,
    ew.Mul: _mul_rule,
    ew.Div: _div_rule,
    ew.Pow: _pow_rule,  # also PowTensor, RPow
    ew.Maximum: _max_min_rule(False),
    ew.Minimum: _max_min_rule(True),
    ew.Remainder: _remainder_rule,
    ew.Where: _where_rule,
    la.MatMul: _bilinear(la.MatMul),
    la.BMM: _bilinear(la.BMM),
    la.Dot: _bilinear(la.Dot),
    la.MV: _bilinear(la.MV),
    sh.CopyTo: _copy_to_rule,
    ix.IndexPut: _index_put_rule,
    sh.Cat: _join_rule(sh.Cat),
    sh.Stack: _join_rule(sh.Stack),
    red.Softmax: _softmax_rule,
    red.LogSoftmax: _log_softmax_rule,
    red.LogSumExp: _logsumexp_rule,
    sc.MaskedFill: _masked_fill_rule,  # also MaskedFillTensor
    fn._DelayedError: _identity_rule,
}

# linear ops: the first argument is the only tensor, the rest are parameters
for _cls in (
    sh.Reshape,
    sh.Permute,
    sh.Expand,
    sh.SumToSize,
    sh.Clone,
    sh.ToCopy,
    red.Sum,
    red.Mean,
    ix.Index,
    ix.IndexPutZeros,
    sh.Split,
    sh.Unbind,
    sh.Flip,
    sh.Roll,
    sh.Repeat,
    red.Cumsum,
    sc.Gather,
    sc.ScatterIntoZeros,
):
    _family = [_cls]
    while _family:  # each subclass (SumDim, Slice, ...) applies itself, so tangents get its node name
        _k = _family.pop()
        RULES[_k] = _linear(_k)
        _family.extend(_k.__subclasses__())

# view()/reshape() hand Reshape the primal's reshaped array; the tangent is reshaped afresh
RULES[sh.Reshape] = lambda args, tangents, out: sh.Reshape.apply(tangents[0], args[1])

# the catalogue's rows (subclasses, such as a row's scalar-operand node, inherit the rule below)
for _name, _urow in catalogue.UNARY.items():
    if _urow.grad is not None:
        RULES[_derive.FUNCTION_CLASSES[_name]] = _unary_rule(_urow.grad)
for _name, _brow in catalogue.BINARY.items():
    if _brow.grad is not None:
        RULES[_derive.FUNCTION_CLASSES[_name]] = _binary_rule(*_brow.grad)


# ---------------------------------------------------------------------- linalg (issue 17)
# Direct rules for the linalg Functions whose tangent is one or two solves, instead of the
# double-vjp fallback (two backward passes through the op): with X = inv(A), dX = -X dA X;
# solve: dX = A^-1 (dB - dA X); det: d det = det tr(A^-1 dA); slogdet: d logabsdet =
# tr(A^-1 dA); cholesky: dL = L Phi(L^-1 dA L^-T); eigh (E_ij = L_j - L_i, dS = V^T dA V):
# dL = diag(dS), dV = V (dS / E) off the diagonal. qr, svd and pinv use the fallback.
def _linalg_rules() -> None:
    from .._ops import linalg_ops as lo

    def inv_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
        X = out if isinstance(out, Tensor) else out[0]
        t = -(X @ tangents[0] @ X)
        return t if isinstance(out, Tensor) else (t, None)

    def solve_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
        A, _ = args
        tA, tB = tangents
        X = out if isinstance(out, Tensor) else out[0]
        rhs = _add(tB, -(tA @ X) if tA is not None else None)
        t = lo.Solve.apply(A, rhs)
        return t if isinstance(out, Tensor) else (t, None)

    def solve_triangular_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
        A, _, upper, unit = args
        tA, tB = tangents[0], tangents[1]
        if tA is not None:
            off = 1 if unit else 0
            tA = tA.triu(off) if upper else tA.tril(-off)
        rhs = _add(tB, -(tA @ out) if tA is not None else None)
        return lo.SolveTriangular.apply(A, rhs, upper, unit)

    def trace_of_solve(A: Tensor, tA: Tensor) -> Tensor:
        return (lo.Inv.apply(A, True).mT * tA).sum((-2, -1))

    def det_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
        A, tA = args[0], tangents[0]
        try:
            return out * trace_of_solve(A, tA)
        except lo.LinAlgError:  # singular: the cofactor matrix through the SVD
            return (lo._cofactor_by_svd(A) * tA).sum((-2, -1))

    def slogdet_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
        return None, trace_of_solve(args[0], tangents[0])

    def cholesky_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
        L = out if isinstance(out, Tensor) else out[0]
        tA = lo._symmetric_from(tangents[0], "L")
        Y = lo.SolveTriangular.apply(L, tA, False, False)  # L^-1 dA
        Z = lo.SolveTriangular.apply(L, Y.mT, False, False).mT  # L^-1 dA L^-T
        t = L @ lo._phi(Z)
        return t if isinstance(out, Tensor) else (t, None)

    def eigh_rule(args: tuple[Any, ...], tangents: tuple[Any, ...], out: Any) -> Any:
        L, V = out
        dS = V.mT @ lo._symmetric_from(tangents[0], args[1]) @ V
        E = L.unsqueeze(-2) - L.unsqueeze(-1)
        F = lo._gauge_mask(E, dS, "linalg.eigh", "eigenvalues")
        return dS.diagonal(0, -2, -1), V @ (dS * F)

    RULES[lo.Inv] = inv_rule
    RULES[lo.Solve] = solve_rule
    RULES[lo.SolveTriangular] = solve_triangular_rule
    RULES[lo.Det] = det_rule
    RULES[lo.Slogdet] = slogdet_rule
    RULES[lo.Cholesky] = cholesky_rule
    RULES[lo.Eigh] = eigh_rule


_linalg_rules()
