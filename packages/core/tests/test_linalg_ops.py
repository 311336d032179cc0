"""plugrad.linalg: values, errors and derivatives (first and second order, reverse and forward).

Gradients are checked by float64 central differences (``gradcheck``/``gradgradcheck``) on
well-conditioned random matrices with batch dims; values against hand-computed results
and identities; the oracle tests compare values and gradients with ``torch.linalg``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import plugrad
import plugrad.autograd.forward_ad as fwAD
import pytest
from plugrad import linalg as LA
from plugrad.autograd import gradcheck, gradgradcheck

F64 = plugrad.float64


def rnd(*shape: int, seed: int = 0) -> plugrad.Tensor:
    g = plugrad.Generator().manual_seed(seed + 17 * len(shape) + sum(shape))
    return plugrad.randn(*shape, dtype=F64, generator=g)


def well(*batch: int, n: int = 3, seed: int = 0) -> plugrad.Tensor:
    """A well-conditioned square matrix: random plus 3 I."""
    return rnd(*batch, n, n, seed=seed) + 3 * plugrad.eye(n, dtype=F64)


def spd(X: plugrad.Tensor) -> plugrad.Tensor:
    return X @ X.mT + X.shape[-1] * plugrad.eye(X.shape[-1], dtype=F64)


def sym(X: plugrad.Tensor) -> plugrad.Tensor:
    return X + X.mT


def fixed_signs_svd(A: plugrad.Tensor) -> tuple[plugrad.Tensor, ...]:
    """The SVD with each singular pair's sign fixed (U's first row positive): a smooth function of A."""
    U, S, Vh = LA.svd(A, full_matrices=False)
    s = U[..., :1, :].sign()
    return U * s, S, Vh * s.mT


def fixed_signs_eigh(A: plugrad.Tensor) -> tuple[plugrad.Tensor, ...]:
    w, V = LA.eigh(sym(A))
    return w, V * V[..., :1, :].sign()


# name -> (function, input shapes or tensors); each input requires grad
CASES: dict[str, tuple[Callable[..., Any], list[plugrad.Tensor]]] = {
    "inv": (LA.inv, [well(2)]),
    "inverse": (plugrad.inverse, [well()]),
    "inv_ex": (lambda A: LA.inv_ex(A).inverse, [well()]),
    "solve": (LA.solve, [well(2), rnd(2, 3, 2)]),
    "solve_vector": (LA.solve, [well(), rnd(3)]),
    "solve_broadcast": (LA.solve, [well(), rnd(2, 3, 1)]),
    "solve_right": (lambda A, B: LA.solve(A, B, left=False), [well(), rnd(2, 3)]),
    "solve_ex": (lambda A, B: LA.solve_ex(A, B).result, [well(2), rnd(3)]),
    "cond": (LA.cond, [rnd(2, 4, 3)]),
    "cond_1": (lambda A: LA.cond(A, 1), [well()]),
    "solve_triangular_upper": (lambda A, B: LA.solve_triangular(A, B, upper=True), [well(n=2), rnd(2, 2)]),
    "solve_triangular_lower_right_unit": (
        lambda A, B: LA.solve_triangular(A, B, upper=False, left=False, unitriangular=True),
        [well(2, n=2), rnd(2, 1, 2)],
    ),
    "triangular_solve": (lambda b, A: plugrad.triangular_solve(b, A, transpose=True).solution, [rnd(3, 2), well()]),
    "det": (LA.det, [well(2)]),
    "det_singular": (LA.det, [plugrad.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=F64)]),
    "slogdet": (lambda A: LA.slogdet(A).logabsdet, [well(2)]),
    "logdet": (lambda A: plugrad.logdet(spd(A)), [rnd(3, 3)]),
    "cholesky": (lambda X: LA.cholesky(spd(X)), [rnd(2, 2, 2)]),
    "cholesky_upper": (lambda X: LA.cholesky(spd(X), upper=True), [rnd(3, 3)]),
    "cholesky_ex": (lambda X: LA.cholesky_ex(spd(X)).L, [rnd(2, 2)]),
    "cholesky_solve": (lambda B, X: plugrad.cholesky_solve(B, LA.cholesky(spd(X))), [rnd(2, 1), rnd(2, 2)]),
    "qr_tall": (lambda A: tuple(LA.qr(A)), [rnd(2, 3, 2)]),
    "qr_wide": (lambda A: tuple(LA.qr(A)), [rnd(2, 3)]),
    "qr_complete_square": (lambda A: tuple(LA.qr(A, mode="complete")), [rnd(3, 3)]),
    "eigh": (fixed_signs_eigh, [rnd(2, 3, 3)]),
    "eigvalsh_upper": (lambda A: LA.eigvalsh(sym(A), UPLO="U"), [rnd(3, 3)]),
    "svd_tall": (fixed_signs_svd, [rnd(2, 4, 3)]),
    "svd_wide": (fixed_signs_svd, [rnd(3, 5)]),
    "svdvals": (LA.svdvals, [rnd(2, 4, 3)]),
    "pinv_tall": (LA.pinv, [rnd(4, 3)]),
    "pinv_wide": (LA.pinv, [rnd(2, 3, 5)]),
    "pinv_hermitian": (lambda A: LA.pinv(spd(A), hermitian=True), [rnd(3, 3)]),
    "pinverse": (plugrad.pinverse, [rnd(3, 4)]),
    "lstsq": (lambda A, B: LA.lstsq(A, B).solution, [rnd(5, 3), rnd(5, 2)]),
    "matrix_norm_fro": (LA.matrix_norm, [rnd(2, 4, 3)]),
    "matrix_norm_nuc": (lambda A: LA.matrix_norm(A, "nuc"), [rnd(4, 3)]),
    "matrix_norm_2": (lambda A: LA.matrix_norm(A, 2), [rnd(4, 3)]),
    "matrix_norm_-2": (lambda A: LA.matrix_norm(A, -2), [rnd(3, 4)]),
    "matrix_norm_1": (lambda A: LA.matrix_norm(A, 1, dim=(0, 2)), [rnd(4, 2, 3)]),
    "matrix_norm_-inf_keepdim": (lambda A: LA.matrix_norm(A, -math.inf, keepdim=True), [rnd(2, 4, 3)]),
    "norm_matrix_inf": (lambda A: LA.norm(A, math.inf), [rnd(3, 4)]),
    "matrix_power_3": (lambda A: LA.matrix_power(A, 3), [well(2)]),
    "matrix_power_-2": (lambda A: plugrad.matrix_power(A, -2), [well()]),
    "cross": (lambda a, b: LA.cross(a, b), [rnd(2, 3), rnd(1, 3)]),
    "cross_dim": (lambda a, b: plugrad.cross(a, b, dim=0), [rnd(3, 2), rnd(3, 2)]),
    "multi_dot": (lambda a, b, c: LA.multi_dot([a, b, c]), [rnd(3), rnd(3, 4), rnd(4, 2)]),
    "vander": (lambda x: LA.vander(x, N=4), [rnd(2, 3)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck_and_gradgradcheck(name: str) -> None:
    fn, inputs = CASES[name]
    args = tuple(t.detach().clone().requires_grad_() for t in inputs)
    assert gradcheck(fn, args)
    assert gradgradcheck(fn, args)


@pytest.mark.parametrize(
    "name",
    [
        "inv",
        "inv_ex",
        "solve",
        "solve_ex",
        "solve_triangular_upper",
        "det",
        "det_singular",
        "slogdet",
        "cholesky",
        "cholesky_ex",
        "eigh",
        "svdvals",
        "pinv_tall",
        "qr_tall",
    ],
)
def test_forward_mode_matches_finite_differences(name: str) -> None:
    fn, inputs = CASES[name]
    primals = [t.detach().clone() for t in inputs]
    tangents = [rnd(*t.shape, seed=5) for t in inputs]
    with fwAD.dual_level():
        out = fn(*[fwAD.make_dual(p, t) for p, t in zip(primals, tangents)])
        outs = out if isinstance(out, tuple) else (out,)
        jvps = [fwAD.unpack_dual(o).tangent for o in outs]
    eps = 1e-6
    plus = fn(*[p + eps * t for p, t in zip(primals, tangents)])
    minus = fn(*[p - eps * t for p, t in zip(primals, tangents)])
    plus = plus if isinstance(plus, tuple) else (plus,)
    minus = minus if isinstance(minus, tuple) else (minus,)
    for j, a, b in zip(jvps, plus, minus):
        assert j is not None
        plugrad.testing.assert_close(j, (a - b) / (2 * eps), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- values
A2 = [[4.0, 1.0], [2.0, 3.0]]


def t64(v: Any) -> plugrad.Tensor:
    return plugrad.tensor(v, dtype=F64)


def test_hand_computed_values() -> None:
    A = t64(A2)
    plugrad.testing.assert_close(LA.inv(A), t64([[0.3, -0.1], [-0.2, 0.4]]))
    plugrad.testing.assert_close(LA.det(A), t64(10.0))
    sign, logabs = LA.slogdet(t64([[0.0, 2.0], [1.0, 0.0]]))
    assert sign.item() == -1.0 and logabs.item() == pytest.approx(math.log(2.0))
    plugrad.testing.assert_close(LA.solve(A, t64([5.0, 5.0])), t64([1.0, 1.0]))
    plugrad.testing.assert_close(LA.cholesky(t64([[4.0, 2.0], [2.0, 3.0]])), t64([[2.0, 0.0], [1.0, math.sqrt(2.0)]]))
    plugrad.testing.assert_close(LA.eigvalsh(t64([[2.0, 1.0], [1.0, 2.0]])), t64([1.0, 3.0]))
    plugrad.testing.assert_close(LA.svdvals(t64([[3.0, 0.0], [0.0, -2.0], [0.0, 0.0]])), t64([3.0, 2.0]))
    plugrad.testing.assert_close(LA.matrix_norm(t64(A2), 1), t64(6.0))  # max column sum
    plugrad.testing.assert_close(LA.matrix_norm(t64(A2), math.inf), t64(5.0))  # max row sum
    plugrad.testing.assert_close(LA.matrix_norm(t64(A2), -1), t64(4.0))
    plugrad.testing.assert_close(LA.matrix_norm(t64(A2)), t64(math.sqrt(30.0)))
    plugrad.testing.assert_close(LA.matrix_power(t64(A2), 2), t64([[18.0, 7.0], [14.0, 11.0]]))
    plugrad.testing.assert_close(LA.matrix_power(t64(A2), 0), plugrad.eye(2, dtype=F64))
    plugrad.testing.assert_close(LA.matrix_power(t64(A2), -1), LA.inv(t64(A2)))
    plugrad.testing.assert_close(LA.cross(t64([1.0, 0.0, 0.0]), t64([0.0, 1.0, 0.0])), t64([0.0, 0.0, 1.0]))
    plugrad.testing.assert_close(LA.vander(t64([1.0, 2.0, 3.0]), N=4)[2], t64([1.0, 3.0, 9.0, 27.0]))
    assert LA.matrix_rank(t64([[1.0, 2.0], [2.0, 4.0]])).item() == 1
    assert LA.matrix_rank(t64(A2)).item() == 2
    assert LA.matrix_rank(t64([[1.0, 0.0], [0.0, 1e-3]]), atol=1e-2).item() == 1
    plugrad.testing.assert_close(LA.pinv(t64([[2.0, 0.0], [0.0, 0.0]])), t64([[0.5, 0.0], [0.0, 0.0]]))


def test_decompositions_reconstruct_their_input() -> None:
    A = rnd(2, 4, 3)
    Q, R = LA.qr(A)
    assert Q.shape == (2, 4, 3) and R.shape == (2, 3, 3)
    plugrad.testing.assert_close(Q @ R, A)
    plugrad.testing.assert_close(R, R.triu())
    Qc, Rc = LA.qr(A, mode="complete")
    assert Qc.shape == (2, 4, 4) and Rc.shape == (2, 4, 3)
    Q0, Rr = LA.qr(A, mode="r")
    assert Q0.numel() == 0 and Rr.shape == (2, 3, 3)
    U, S, Vh = LA.svd(A)
    assert U.shape == (2, 4, 4) and S.shape == (2, 3) and Vh.shape == (2, 3, 3)
    plugrad.testing.assert_close((U[..., :3] * S.unsqueeze(-2)) @ Vh, A)
    S_sym = sym(rnd(3, 3))
    w, V = LA.eigh(S_sym)
    plugrad.testing.assert_close(V @ (w.unsqueeze(-1) * V.mT), S_sym)
    assert (w[1:] >= w[:-1]).all()
    # eigh reads one triangle only
    junk = S_sym.tril() + 100 * plugrad.ones(3, 3, dtype=F64).triu(1)
    plugrad.testing.assert_close(LA.eigvalsh(junk), w)
    plugrad.testing.assert_close(LA.eigvalsh(junk.mT, UPLO="U"), w)
    L = LA.cholesky(spd(rnd(3, 3)))
    plugrad.testing.assert_close(L @ L.mT, spd(rnd(3, 3)))
    plugrad.testing.assert_close(LA.cholesky(spd(rnd(3, 3)), upper=True), L.mT)


def test_lstsq_matches_the_normal_equations_and_reports_what_pytorch_reports() -> None:
    # the seed's regression: y = X w + b, solved in closed form
    X = plugrad.cat([rnd(20, 2), plugrad.ones(20, 1, dtype=F64)], 1)
    y = X @ t64([[2.0], [-1.0], [0.5]]) + 0.01 * rnd(20, 1, seed=3)
    res = LA.lstsq(X, y)
    normal = LA.solve(X.mT @ X, X.mT @ y)
    plugrad.testing.assert_close(res.solution, normal)
    assert res.rank.item() == 3 and res.rank.dtype == plugrad.int64
    assert res.residuals.numel() == 0 and res.singular_values.numel() == 0  # the default driver 'gelsy'
    full = LA.lstsq(X, y, driver="gelsd")
    plugrad.testing.assert_close(full.residuals, ((X @ full.solution - y) ** 2).sum(0))
    plugrad.testing.assert_close(full.singular_values, LA.svdvals(X))
    # rank-deficient: the minimum-norm solution
    D = t64([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    sol = LA.lstsq(D, t64([[2.0], [2.0], [2.0]]))
    plugrad.testing.assert_close(sol.solution, t64([[1.0], [1.0]]))
    assert sol.rank.item() == 1


def test_ex_variants_report_info_without_raising() -> None:
    batch = t64([A2, [[1.0, 2.0], [2.0, 4.0]]])
    inverse, info = LA.inv_ex(batch)
    assert info.tolist() == [0, 2] and info.dtype == plugrad.int32
    plugrad.testing.assert_close(inverse[0], LA.inv(t64(A2)))
    L, info = LA.cholesky_ex(t64([[1.0, 2.0], [2.0, 1.0]]))
    assert info.item() == 2
    with pytest.raises(LA.LinAlgError):
        LA.cholesky_ex(t64([[1.0, 2.0], [2.0, 1.0]]), check_errors=True)


def test_solve_ex_and_cond() -> None:
    S = t64([[1.0, 2.0], [2.0, 4.0]])
    X, info = LA.solve_ex(plugrad.stack([t64(A2), S]), t64([5.0, 5.0]))
    assert info.tolist() == [0, 2] and info.dtype == plugrad.int32
    plugrad.testing.assert_close(X[0], t64([1.0, 1.0]))
    X, info = LA.solve_ex(t64(A2), t64([[5.0, 5.0]]), left=False, check_errors=True)
    plugrad.testing.assert_close(X @ t64(A2), t64([[5.0, 5.0]]))
    with pytest.raises(LA.LinAlgError, match="singular"):
        LA.solve_ex(S, t64([1.0, 1.0]), check_errors=True)
    # hand-computed: A2 has singular values sqrt(15 +- 5 sqrt(5)), inverse [[.3, -.1], [-.2, .4]]
    golden = (3 + math.sqrt(5)) / 2
    expected = {None: golden, 2: golden, -2: 1 / golden, 1: 3.0, -1: 2.0, math.inf: 3.0, -math.inf: 2.0, "nuc": 5.0}
    for p, value in expected.items():
        assert LA.cond(t64(A2), p).item() == pytest.approx(value, rel=1e-12), p
    assert LA.cond(S, "fro").item() == math.inf
    with pytest.raises(RuntimeError, match="linalg.cond got an invalid norm type: 3"):
        LA.cond(t64(A2), 3)


def test_top_level_spellings_and_methods() -> None:
    A = well()
    plugrad.testing.assert_close(plugrad.inverse(A), LA.inv(A))
    plugrad.testing.assert_close(A.inverse(), LA.inv(A))
    plugrad.testing.assert_close(plugrad.det(A), A.det())
    plugrad.testing.assert_close(plugrad.slogdet(A).logabsdet, LA.slogdet(A).logabsdet)
    plugrad.testing.assert_close(plugrad.logdet(spd(A)), LA.slogdet(spd(A)).logabsdet)
    assert math.isnan(plugrad.logdet(t64([[0.0, 1.0], [1.0, 0.0]])).item())
    plugrad.testing.assert_close(A.matrix_power(2), A @ A)
    plugrad.testing.assert_close(A.pinverse(), LA.inv(A))
    out = plugrad.empty(0, dtype=F64)
    plugrad.inverse(A, out=out)
    plugrad.testing.assert_close(out, LA.inv(A))
    with pytest.warns(UserWarning, match="without specifying the dim"):
        plugrad.cross(rnd(2, 3), rnd(2, 3))
    sol, coeff = plugrad.triangular_solve(rnd(3, 2), A)
    plugrad.testing.assert_close(A.triu() @ sol, rnd(3, 2))
    assert coeff is not A
    assert "LinalgInvExBackward0" in repr(LA.inv(A.requires_grad_()).grad_fn)


# ---------------------------------------------------------------------- errors
def _raises(exc: type[BaseException], message: str, fn: Callable[[], Any]) -> None:
    with pytest.raises(exc) as info:
        fn()
    assert str(info.value) == message


def test_errors_with_pytorchs_messages() -> None:
    S = t64([[1.0, 2.0], [2.0, 4.0]])
    batch = plugrad.stack([plugrad.eye(2, dtype=F64), S])
    inv_msg = (
        "The diagonal element 2 is zero, the inversion could not be completed because the input matrix is singular."
    )
    _raises(LA.LinAlgError, "linalg.inv: " + inv_msg, lambda: LA.inv(S))
    _raises(LA.LinAlgError, "linalg.inv: (Batch element 1): " + inv_msg, lambda: LA.inv(batch))
    assert issubclass(LA.LinAlgError, RuntimeError)
    _raises(
        RuntimeError,
        "linalg.inv: A must be batches of square matrices, but they are 2 by 3 matrices",
        lambda: LA.inv(plugrad.ones(2, 3)),
    )
    _raises(
        RuntimeError, "linalg.inv: The input tensor A must have at least 2 dimensions.", lambda: LA.inv(plugrad.ones(3))
    )
    _raises(
        RuntimeError,
        "linalg.inv: Expected a floating point or complex tensor as input. Got Long",
        lambda: LA.inv(plugrad.ones(2, 2, dtype=plugrad.int64)),
    )
    solve_msg = "The solver failed because the input matrix is singular."
    _raises(LA.LinAlgError, "plugrad.linalg.solve: " + solve_msg, lambda: LA.solve(S, t64([1.0, 1.0])))
    _raises(
        LA.LinAlgError,
        "plugrad.linalg.solve: (Batch element 1): " + solve_msg,
        lambda: LA.solve(batch, t64([1.0, 1.0])),
    )
    _raises(
        RuntimeError,
        "linalg.solve: Incompatible shapes of A and B for the equation AX = B (2x2 and 3x1)",
        lambda: LA.solve(plugrad.eye(2, dtype=F64), t64([1.0, 1.0, 1.0])),
    )
    _raises(
        RuntimeError,
        "linalg.solve: Expected A and B to have the same dtype, but found A of type Double and B of type Float instead",
        lambda: LA.solve(S, plugrad.ones(2)),
    )
    chol_msg = (
        "linalg.cholesky: The factorization could not be completed because the input is not positive-definite "
        "(the leading minor of order 2 is not positive-definite)."
    )
    _raises(LA.LinAlgError, chol_msg, lambda: LA.cholesky(t64([[1.0, 2.0], [2.0, 1.0]])))
    _raises(
        RuntimeError,
        "qr received unrecognized mode 'x' but expected one of 'reduced' (default), 'r', or 'complete'",
        lambda: LA.qr(plugrad.ones(2, 3), mode="x"),
    )
    _raises(
        RuntimeError, "Expected UPLO argument to be 'L' or 'U', but got X", lambda: LA.eigh(plugrad.eye(2), UPLO="X")
    )
    _raises(
        RuntimeError,
        "linalg.cross: inputs dimension -1 must have length 3. Got 2 and 2",
        lambda: LA.cross(plugrad.ones(2), plugrad.ones(2)),
    )
    _raises(
        RuntimeError, "linalg.matrix_norm: Order 3 not supported.", lambda: LA.matrix_norm(plugrad.ones(3, 3), ord=3)
    )
    _raises(
        RuntimeError,
        "linalg.inv: Low precision dtypes not supported. Got Half",
        lambda: LA.inv(plugrad.ones(2, 2, dtype=plugrad.float16)),
    )
    _raises(
        LA.LinAlgError,
        "linalg.svd: The algorithm failed to converge because the input matrix contained non-finite values.",
        lambda: LA.svd(t64([[math.nan, 1.0], [1.0, 2.0]])),
    )


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (
            lambda: LA.lstsq(plugrad.ones(3, 2), plugrad.ones(4, 1)),
            "plugrad.linalg.lstsq: input.size(-2) should match other.size(-2)",
        ),
        (
            lambda: LA.lstsq(plugrad.ones(3, 2), plugrad.ones(3, 1), driver="foo"),
            "plugrad.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)",
        ),
        (lambda: LA.multi_dot([plugrad.ones(2, 2)]), "multi_dot(): expected at least 2 tensors but got 1"),
        (
            lambda: LA.multi_dot([plugrad.ones(2, 2), plugrad.ones(3, 2)]),
            "multi_dot(): tensors 0 and 1 with shapes [2, 2] and [3, 2] cannot be multiplied",
        ),
        (
            lambda: LA.multi_dot([plugrad.ones(2, 2), plugrad.ones(2, 2, 2), plugrad.ones(2)]),
            "multi_dot(): tensor 1 must be 2D but got 3D",
        ),
        (lambda: LA.vander(plugrad.ones(3), N=0), "N must be greater than 1."),
        (
            lambda: LA.norm(plugrad.ones(2, 2, 2), 2),
            "linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got 3D.",
        ),
        (
            lambda: LA.matrix_norm(plugrad.ones(3, 3), dim=(0, 0)),
            "linalg.matrix_norm: dims must be different. Got (0, 0)",
        ),
        (
            lambda: LA.solve(plugrad.eye(2), plugrad.ones(2, 3), left=False),
            "linalg.solve: Incompatible shapes of A and B for the equation XA = B (2x2 and 2x3)",
        ),
        (
            lambda: LA.solve_triangular(plugrad.eye(2), plugrad.ones(2), upper=True),
            "linalg.solve_triangular: The input tensor B must have at least 2 dimensions.",
        ),
        (
            lambda: LA.pinv(plugrad.ones(2, 3), hermitian=True),
            "linalg.eigh: A must be batches of square matrices, but they are 2 by 3 matrices",
        ),
        (
            lambda: plugrad.cholesky_solve(plugrad.ones(2, 1), plugrad.ones(2, 3)),
            "A must be batches of square matrices, but they are 2 by 3 matrices",
        ),
    ],
)
def test_more_errors_with_pytorchs_messages(fn: Callable[[], Any], message: str) -> None:
    _raises(RuntimeError, message, fn)


def test_qr_gradients_pytorch_does_not_define_raise() -> None:
    A = rnd(4, 2).requires_grad_()
    _, R = LA.qr(A, mode="r")
    with pytest.raises(RuntimeError, match="depends on Q, which is not computed when mode='r'"):
        R.sum().backward()
    _, R = LA.qr(A, mode="complete")
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete' and nrows > ncols"):
        R.sum().backward()


def test_repeated_eigenvalues_raise_unless_the_loss_ignores_the_basis() -> None:
    A = plugrad.eye(3, dtype=F64).requires_grad_()
    w, V = LA.eigh(A)
    with pytest.raises(RuntimeError, match="repeated eigenvalues"):
        (V * plugrad.arange(9.0, dtype=F64).reshape(3, 3)).sum().backward()
    # a loss that depends only on the eigenspaces (V V^T = I here) or on the eigenvalues is fine
    w, V = LA.eigh(A)
    ((V @ V.mT).sum() + (w * w).sum()).backward()
    assert A.grad is not None
    plugrad.testing.assert_close(A.grad, 2 * plugrad.eye(3, dtype=F64))
    B = plugrad.eye(2, dtype=F64).requires_grad_()
    U, S, Vh = LA.svd(B)
    with pytest.raises(RuntimeError, match="repeated singular values"):
        (U * plugrad.arange(4.0, dtype=F64).reshape(2, 2)).sum().backward()
    # singular values alone: the gradient is U Vh
    (g,) = plugrad.autograd.grad(LA.svdvals(B).sum(), B)
    plugrad.testing.assert_close(g, plugrad.eye(2, dtype=F64))


def test_a_backend_without_the_kernel_gets_an_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    be = plugrad.ones(1)._backend
    monkeypatch.setattr(type(be), "has_kernel", lambda self, name: not name.startswith("linalg_"))
    with pytest.raises(
        RuntimeError, match=r"plugrad backend 'numpy' has no kernel 'linalg_svd' \(optional in the contract\)"
    ):
        LA.svdvals(plugrad.ones(2, 2))


def test_singular_det_has_the_cofactor_gradient() -> None:
    A = t64([[1.0, 2.0], [2.0, 4.0]]).requires_grad_()
    LA.det(A).backward()
    assert A.grad is not None
    plugrad.testing.assert_close(A.grad, t64([[4.0, -2.0], [-2.0, 1.0]]))  # the cofactor matrix


# ---------------------------------------------------------------------- oracle
ORACLE = [
    "inv", "solve", "solve_right", "solve_triangular_upper", "solve_triangular_lower_right_unit", "det", "slogdet",
    "cholesky", "qr_tall", "qr_wide", "eigvalsh_upper", "svdvals", "pinv_tall", "pinv_wide", "lstsq",
    "matrix_norm_nuc", "matrix_norm_2", "matrix_norm_1", "matrix_power_-2", "cross", "multi_dot", "vander",
]  # fmt: skip


@pytest.mark.oracle
@pytest.mark.parametrize("name", ORACLE)
def test_values_and_gradients_match_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    fn, inputs = CASES[name]
    torch_fn = _TORCH_SPELLINGS[name]
    ours = [t.detach().clone().requires_grad_() for t in inputs]
    theirs = [torch.tensor(t.tolist(), dtype=torch.float64, requires_grad=True) for t in inputs]
    out = fn(*ours)
    ref = torch_fn(torch, *theirs)
    outs = out if isinstance(out, tuple) else (out,)
    refs = ref if isinstance(ref, tuple) else (ref,)
    weights = [rnd(*o.shape, seed=11) for o in outs]
    for o, r in zip(outs, refs):
        assert list(o.shape) == list(r.shape)
        plugrad.testing.assert_close(o.detach(), t64(r.detach().tolist()), rtol=1e-9, atol=1e-9)
    grads = plugrad.autograd.grad(sum((o * w).sum() for o, w in zip(outs, weights)), ours)
    tgrads = torch.autograd.grad(
        sum((r * torch.tensor(w.tolist(), dtype=torch.float64)).sum() for r, w in zip(refs, weights)), theirs
    )
    for g, tg in zip(grads, tgrads):
        plugrad.testing.assert_close(g, t64(tg.tolist()), rtol=1e-8, atol=1e-8)


_TORCH_SPELLINGS: dict[str, Callable[..., Any]] = {
    "inv": lambda t, A: t.linalg.inv(A),
    "solve": lambda t, A, B: t.linalg.solve(A, B),
    "solve_right": lambda t, A, B: t.linalg.solve(A, B, left=False),
    "solve_triangular_upper": lambda t, A, B: t.linalg.solve_triangular(A, B, upper=True),
    "solve_triangular_lower_right_unit": lambda t, A, B: t.linalg.solve_triangular(
        A, B, upper=False, left=False, unitriangular=True
    ),
    "det": lambda t, A: t.linalg.det(A),
    "slogdet": lambda t, A: t.linalg.slogdet(A).logabsdet,
    "cholesky": lambda t, X: t.linalg.cholesky(X @ X.mT + X.shape[-1] * t.eye(X.shape[-1], dtype=t.float64)),
    "qr_tall": lambda t, A: tuple(t.linalg.qr(A)),
    "qr_wide": lambda t, A: tuple(t.linalg.qr(A)),
    "eigvalsh_upper": lambda t, A: t.linalg.eigvalsh(A + A.mT, UPLO="U"),
    "svdvals": lambda t, A: t.linalg.svdvals(A),
    "pinv_tall": lambda t, A: t.linalg.pinv(A),
    "pinv_wide": lambda t, A: t.linalg.pinv(A),
    "lstsq": lambda t, A, B: t.linalg.lstsq(A, B).solution,
    "matrix_norm_nuc": lambda t, A: t.linalg.matrix_norm(A, "nuc"),
    "matrix_norm_2": lambda t, A: t.linalg.matrix_norm(A, 2),
    "matrix_norm_1": lambda t, A: t.linalg.matrix_norm(A, 1, dim=(0, 2)),
    "matrix_power_-2": lambda t, A: t.linalg.matrix_power(A, -2),
    "cross": lambda t, a, b: t.linalg.cross(a, b),
    "multi_dot": lambda t, a, b, c: t.linalg.multi_dot([a, b, c]),
    "vander": lambda t, x: t.linalg.vander(x, N=4),
}


@pytest.mark.oracle
def test_eigh_and_svd_gradients_match_pytorch_on_symmetric_inputs() -> None:
    torch = pytest.importorskip("torch")
    X = sym(rnd(3, 3))
    Xt = torch.tensor(X.tolist(), dtype=torch.float64, requires_grad=True)
    Xp = X.clone().requires_grad_()
    w, V = LA.eigh(Xp)
    wt, Vt = torch.linalg.eigh(Xt)
    sp, st = V[..., :1, :].sign().detach(), Vt[..., :1, :].sign().detach()
    W = rnd(3, 3, seed=4)
    ((V * sp * W).sum() + w.sum()).backward()
    ((Vt * st * torch.tensor(W.tolist(), dtype=torch.float64)).sum() + wt.sum()).backward()
    assert Xp.grad is not None and Xt.grad is not None
    plugrad.testing.assert_close(Xp.grad, t64(Xt.grad.tolist()), rtol=1e-8, atol=1e-8)
    A = rnd(4, 3)
    At = torch.tensor(A.tolist(), dtype=torch.float64, requires_grad=True)
    Ap = A.clone().requires_grad_()
    U, S, Vh = LA.svd(Ap, full_matrices=False)
    Ut, St, Vht = torch.linalg.svd(At, full_matrices=False)
    s, st2 = U[:1].sign().detach(), Ut[:1].sign().detach()
    Wu, Wv = rnd(4, 3, seed=6), rnd(3, 3, seed=7)
    ((U * s * Wu).sum() + (Vh * s.mT * Wv).sum() + S.sum()).backward()
    wu, wv = (torch.tensor(w.tolist(), dtype=torch.float64) for w in (Wu, Wv))
    ((Ut * st2 * wu).sum() + (Vht * st2.mT * wv).sum() + St.sum()).backward()
    assert Ap.grad is not None and At.grad is not None
    plugrad.testing.assert_close(Ap.grad, t64(At.grad.tolist()), rtol=1e-8, atol=1e-8)
    # cholesky's gradient is the symmetric one, as PyTorch's
    P = spd(rnd(3, 3))
    Pt = torch.tensor(P.tolist(), dtype=torch.float64, requires_grad=True)
    Pp = P.clone().requires_grad_()
    (LA.cholesky(Pp) * W).sum().backward()
    (torch.linalg.cholesky(Pt) * torch.tensor(W.tolist(), dtype=torch.float64)).sum().backward()
    assert Pp.grad is not None and Pt.grad is not None
    plugrad.testing.assert_close(Pp.grad, t64(Pt.grad.tolist()), rtol=1e-8, atol=1e-8)


def test_the_array_api_adapter_gives_the_linalg_kernels_with_info() -> None:
    xp = pytest.importorskip("array_api_strict")
    from plugrad.backends.array_api import linalg_kernels_from_namespace

    k = linalg_kernels_from_namespace(xp)
    assert set(k) == set(plugrad.backends._spec.LINALG_KERNELS)
    a = xp.asarray([[[4.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [2.0, 4.0]]], dtype=xp.float64)
    inv, info = k["linalg_inv"](a)
    assert [int(info[i]) for i in range(2)] == [0, 2]
    assert [round(float(inv[0, i, j]), 12) for i in range(2) for j in range(2)] == [0.3, -0.1, -0.2, 0.4]
    _, info = k["linalg_cholesky"](xp.asarray([[1.0, 2.0], [2.0, 1.0]], dtype=xp.float64))
    assert int(info) == 2
    tri = xp.asarray([[2.0, 1.0], [99.0, 4.0]], dtype=xp.float64)
    x = k["linalg_solve_triangular"](tri, xp.asarray([[3.0], [4.0]], dtype=xp.float64), upper=True, unitriangular=False)
    assert [float(x[i, 0]) for i in range(2)] == [1.0, 1.0]


@pytest.mark.oracle
@pytest.mark.parametrize("driver", [None, "gels", "gelsd", "gelss"])
def test_lstsq_fields_match_pytorch(driver: str | None) -> None:
    torch = pytest.importorskip("torch")
    A, B = rnd(2, 5, 3), rnd(2, 5, 2)
    ours = LA.lstsq(A, B, driver=driver)
    theirs = torch.linalg.lstsq(
        torch.tensor(A.tolist(), dtype=torch.float64), torch.tensor(B.tolist(), dtype=torch.float64), driver=driver
    )
    for name in ("solution", "residuals", "rank", "singular_values"):
        got, want = getattr(ours, name), getattr(theirs, name)
        assert list(got.shape) == list(want.shape), name
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], name
        if got.numel():
            plugrad.testing.assert_close(got.double(), t64(want.double().tolist()), rtol=1e-9, atol=1e-9)
