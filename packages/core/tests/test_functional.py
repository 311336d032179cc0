"""``plugrad.autograd.functional``: values against hand-derived derivatives and float64
central differences, result nesting and errors as PyTorch has them, forward and reverse
strategies agreeing."""

from __future__ import annotations

import math
import re
from typing import Any

import plugrad as torch
import pytest
from plugrad.autograd import functional as AF
from plugrad.testing import assert_close

F64 = torch.float64
# float64 central differences with step 1e-6: accurate to ~1e-9 on these smooth functions
STEP = 1e-6
TOL = 1e-6


def rand(*shape: int, low: float = -1.0, high: float = 1.0) -> Any:
    return torch.rand(*shape, dtype=F64) * (high - low) + low


def numeric_jacobian(f: Any, x: Any) -> list[list[float]]:
    """Rows: output elements; columns: input elements (both flattened)."""
    n = x.numel()
    cols = []
    for j in range(n):
        e = torch.zeros(n, dtype=F64)
        e[j] = STEP
        e = e.view(x.shape)
        cols.append(((f(x + e) - f(x - e)) / (2 * STEP)).reshape(-1).tolist())
    return [list(r) for r in zip(*cols)]


def mlp(x: Any) -> Any:
    w = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]], dtype=F64)
    return (w @ x).tanh() * x[:2]


# ---------------------------------------------------------------------- jacobian
@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_jacobian_matches_central_differences(strategy: str) -> None:
    x = rand(3)
    jac = AF.jacobian(mlp, x, strategy=strategy)
    assert jac.shape == (2, 3) and jac.dtype == F64 and not jac.requires_grad
    assert_close(jac.tolist(), numeric_jacobian(mlp, x), rtol=TOL, atol=TOL)


def test_jacobian_analytic() -> None:
    # f(x) = x^2 elementwise: J = diag(2x); g(a, b) = (a*b, a.sum() + b)
    x = torch.tensor([1.0, -2.0, 3.0], dtype=F64)
    assert AF.jacobian(lambda v: v * v, x).tolist() == [[2.0, 0, 0], [0, -4.0, 0], [0, 0, 6.0]]
    a, b = torch.tensor([1.0, 2.0], dtype=F64), torch.tensor([3.0, 4.0], dtype=F64)
    for strategy in ("reverse-mode", "forward-mode"):
        (ja, jb), (ka, kb) = AF.jacobian(lambda u, v: (u * v, u.sum() + v), (a, b), strategy=strategy)
        assert ja.tolist() == [[3.0, 0.0], [0.0, 4.0]] and jb.tolist() == [[1.0, 0.0], [0.0, 2.0]]
        assert ka.tolist() == [[1.0, 1.0], [1.0, 1.0]] and kb.tolist() == [[1.0, 0.0], [0.0, 1.0]]


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_jacobian_nesting_and_shapes(strategy: str) -> None:
    x, y = rand(2, 3), rand(4)
    one_one = AF.jacobian(lambda a: a.sum(dim=1), x, strategy=strategy)
    assert isinstance(one_one, torch.Tensor) and one_one.shape == (2, 2, 3)
    tuple_in = AF.jacobian(lambda a, b: a.sum() * b, (x, y), strategy=strategy)
    assert isinstance(tuple_in, tuple) and [j.shape for j in tuple_in] == [(4, 2, 3), (4, 4)]
    tuple_out = AF.jacobian(lambda a: (a * 2, a.sum()), x, strategy=strategy)
    assert isinstance(tuple_out, tuple) and [j.shape for j in tuple_out] == [(2, 3, 2, 3), (2, 3)]
    both = AF.jacobian(lambda a, b: (a.sum() * b, b.sum()), (x, y), strategy=strategy)
    assert [[j.shape for j in row] for row in both] == [[(4, 2, 3), (4, 4)], [(2, 3), (4,)]]
    single_tuple = AF.jacobian(lambda a: (a * 3,), (y,), strategy=strategy)
    assert isinstance(single_tuple, tuple) and isinstance(single_tuple[0], tuple)
    assert single_tuple[0][0].tolist() == [[3.0 if i == j else 0.0 for j in range(4)] for i in range(4)]


def test_forward_and_reverse_strategies_agree() -> None:
    x, w = rand(4), rand(3, 4)

    def f(a: Any, b: Any) -> Any:
        h = (b @ a).sigmoid()
        return h * h.sum(), (a.exp() / (1 + a * a)).mean()

    rev = AF.jacobian(f, (x, w))
    fwd = AF.jacobian(f, (x, w), strategy="forward-mode", vectorize=True)
    for r_row, f_row in zip(rev, fwd):
        for r, g in zip(r_row, f_row):
            assert r.shape == g.shape
            assert_close(r, g, rtol=1e-12, atol=1e-12)


def test_jacobian_independent_output_gives_zeros_or_raises_when_strict() -> None:
    x, y = rand(2), rand(3)
    _ja, jb = AF.jacobian(lambda a, b: a * 2, (x, y))
    assert jb.tolist() == [[0.0] * 3] * 2
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function is independent of input 1"):
        AF.jacobian(lambda a, b: a * 2, (x, y), strict=True)
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function does not require gradients"):
        AF.jacobian(lambda a: torch.ones(2), x, strict=True)
    assert AF.jacobian(lambda a: torch.ones(2, dtype=F64), x, strategy="forward-mode").tolist() == [[0.0, 0.0]] * 2


def test_jacobian_with_create_graph_is_differentiable() -> None:
    # J of x^3 is diag(3x^2); d/dx of its trace is 6x
    x = torch.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    jac = AF.jacobian(lambda v: v**3, x, create_graph=True)
    assert jac.requires_grad
    (g,) = torch.autograd.grad(jac[0, 0] + jac[1, 1], x)
    assert g.tolist() == [6.0, 12.0]
    assert not AF.jacobian(lambda v: v**3, x).requires_grad


def test_jacobian_errors() -> None:
    x = rand(2)
    with pytest.raises(AssertionError, match='Expected strategy to be either "forward-mode" or "reverse-mode"'):
        AF.jacobian(lambda a: a, x, strategy="sideways")
    with pytest.raises(
        NotImplementedError, match='`create_graph=True` and `strategy="forward-mode"` are not supported'
    ):
        AF.jacobian(lambda a: a, x, create_graph=True, strategy="forward-mode")
    with pytest.raises(RuntimeError, match='`strict=True` and `strategy="forward-mode"` are not supported together'):
        AF.jacobian(lambda a: a, x, strict=True, strategy="forward-mode")
    with pytest.raises(RuntimeError, match="`strict=True` and `vectorized=True` are not supported together"):
        AF.jacobian(lambda a: a * 1, x, strict=True, vectorize=True)
    with pytest.raises(
        TypeError,
        match="The inputs given to jacobian must be either a Tensor or a tuple of Tensors but the "
        "value at index 1 has type <class 'int'>",
    ):
        AF.jacobian(lambda a, b: a, (x, 3))
    with pytest.raises(TypeError, match="but the given inputs has type <class 'list'>"):
        AF.jacobian(lambda a: a, [x])
    with pytest.raises(TypeError, match="The outputs of the user-provided function given to jacobian must be"):
        AF.jacobian(lambda a: 3.0, x)


# --------------------------------------------------------------------- vjp and jvp
def test_vjp_and_jvp_match_the_jacobian() -> None:
    x, v_out, v_in = rand(3), rand(2), rand(3)
    jac = AF.jacobian(mlp, x)
    out, vj = AF.vjp(mlp, x, v_out)
    out2, jv = AF.jvp(mlp, x, v_in)
    assert_close(out, mlp(x), rtol=1e-15, atol=1e-15)
    assert_close(out2, mlp(x), rtol=1e-15, atol=1e-15)
    assert_close(
        vj.tolist(),
        [sum(v_out[i].item() * jac[i, j].item() for i in range(2)) for j in range(3)],
        rtol=1e-12,
        atol=1e-12,
    )
    assert_close(
        jv.tolist(),
        [sum(jac[i, j].item() * v_in[j].item() for j in range(3)) for i in range(2)],
        rtol=1e-12,
        atol=1e-12,
    )
    num = [(a - b) / (2 * STEP) for a, b in zip(mlp(x + STEP * v_in).tolist(), mlp(x - STEP * v_in).tolist())]
    assert_close(jv.tolist(), num, rtol=TOL, atol=TOL)


def test_vjp_jvp_nesting() -> None:
    a, b = rand(2), rand(2)
    out, vj = AF.vjp(lambda u, w: (u * w).sum(), (a, b))  # v may be omitted for one scalar output
    assert isinstance(out, torch.Tensor) and isinstance(vj, tuple)
    assert_close(vj[0], b, rtol=1e-15, atol=1e-15)
    assert_close(vj[1], a, rtol=1e-15, atol=1e-15)
    out, jv = AF.jvp(lambda u, w: (u * w, u + w), (a, b), (torch.ones(2, dtype=F64), torch.zeros(2, dtype=F64)))
    assert isinstance(out, tuple) and isinstance(jv, tuple)
    assert_close(jv[0], b, rtol=1e-15, atol=1e-15)
    assert jv[1].tolist() == [1.0, 1.0]
    out, jv = AF.jvp(lambda u: u.exp(), torch.tensor([0.0], dtype=F64))  # v may be omitted for one scalar input
    assert jv.tolist() == [1.0]


def test_vjp_jvp_create_graph() -> None:
    x = torch.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    v = torch.ones(2, dtype=F64)
    out, vj = AF.vjp(lambda a: a**3, x, v, create_graph=True)  # vj = 3x^2
    assert vj.requires_grad and out.requires_grad
    assert torch.autograd.grad(vj.sum(), x)[0].tolist() == [6.0, 12.0]
    out, jv = AF.jvp(lambda a: a**3, x, v, create_graph=True)  # jv = 3x^2 v
    assert jv.requires_grad
    assert torch.autograd.grad(jv.sum(), x)[0].tolist() == [6.0, 12.0]
    out, jv = AF.jvp(lambda a: a**3, x, v)
    assert not jv.requires_grad and not out.requires_grad


def test_vjp_jvp_errors() -> None:
    x = rand(3)
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "The vector v can only be None if the user-provided function returns a single Tensor with a single element."
        ),
    ):
        AF.vjp(lambda a: a * 2, x)
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "The vector v can only be None if the input to the user-provided function is a single Tensor with a single element."
        ),
    ):
        AF.jvp(lambda a: a * 2, x)
    with pytest.raises(
        RuntimeError, match=r"v has invalid size: should be plugrad.Size\(\[3\]\) but got plugrad.Size\(\[2\]\)."
    ):
        AF.vjp(lambda a: a * 2, x, rand(2))
    with pytest.raises(RuntimeError, match=r"Entry 1 in v has invalid size"):
        AF.jvp(lambda a, b: a * b, (x, x), (rand(3), rand(2)))
    with pytest.raises(RuntimeError, match=re.escape("v is a tuple of invalid length: should be 2 but got 1.")):
        AF.jvp(lambda a, b: a * b, (x, x), (rand(3),))
    with pytest.raises(RuntimeError, match=re.escape("The given v should contain a single Tensor.")):
        AF.vjp(lambda a: a * 2, x, (rand(3), rand(3)))
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function does not require gradients"):
        AF.jvp(lambda a: torch.ones(3), x, rand(3), strict=True)
    with pytest.raises(RuntimeError, match="The output of the user-provided function is independent of input 1"):
        AF.vjp(lambda a, b: (a * 2).sum(), (x, x), strict=True)


# ----------------------------------------------------------------------- hessian
def rosen(x: Any) -> Any:
    return ((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2).sum()


def rosen_hessian(v: list[float]) -> list[list[float]]:
    n = len(v)
    h = [[0.0] * n for _ in range(n)]
    for i in range(n - 1):
        a, b = v[i], v[i + 1]
        h[i][i] += 2 - 400 * (b - a * a) + 800 * a * a
        h[i][i + 1] += -400 * a
        h[i + 1][i] += -400 * a
        h[i + 1][i + 1] += 200
    return h


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_hessian_analytic(strategy: str) -> None:
    x = torch.tensor([0.5, -1.0, 1.5, 2.0], dtype=F64)
    h = AF.hessian(rosen, x, outer_jacobian_strategy=strategy)
    assert h.shape == (4, 4)
    assert_close(h.tolist(), rosen_hessian(x.tolist()), rtol=1e-12, atol=1e-12)


def test_hessian_of_two_inputs() -> None:
    # f = sum(2 x^2 + 3 y^2) + sum(x * y): H = [[4I, I], [I, 6I]]
    x, y = rand(2), rand(2)
    for strategy in ("reverse-mode", "forward-mode"):
        (hxx, hxy), (hyx, hyy) = AF.hessian(
            lambda a, b: (2 * a**2 + 3 * b**2).sum() + (a * b).sum(), (x, y), outer_jacobian_strategy=strategy
        )
        assert hxx.tolist() == [[4.0, 0.0], [0.0, 4.0]] and hyy.tolist() == [[6.0, 0.0], [0.0, 6.0]]
        assert hxy.tolist() == [[1.0, 0.0], [0.0, 1.0]] and hyx.tolist() == hxy.tolist()


def test_hessian_errors() -> None:
    x = rand(3)
    with pytest.raises(
        RuntimeError, match="The Tensor returned by the function given to hessian should contain a single element"
    ):
        AF.hessian(lambda a: a * 2, x)
    with pytest.raises(RuntimeError, match="The function given to hessian should return a single Tensor"):
        AF.hessian(lambda a: (a.sum(),), x)
    with pytest.raises(
        AssertionError, match=re.escape('Expected strategy to be either "forward-mode" or "reverse-mode".')
    ):
        AF.hessian(lambda a: a.sum(), x, outer_jacobian_strategy="both")
    with pytest.raises(
        RuntimeError, match="jacobian of the user-provided function with respect to input 0 is independent"
    ):
        AF.hessian(lambda a: a.sum(), x, strict=True)
    assert AF.hessian(lambda a: a.sum() * 2, x).tolist() == [[0.0] * 3] * 3


# ------------------------------------------------------------------- vhp and hvp
@pytest.mark.parametrize("product", ["hvp", "vhp"])
def test_hessian_vector_products(product: str) -> None:
    x = torch.tensor([0.5, -1.0, 1.5, 2.0], dtype=F64)
    v = torch.tensor([1.0, 2.0, -1.0, 0.5], dtype=F64)
    out, hv = getattr(AF, product)(rosen, x, v)
    h = rosen_hessian(x.tolist())
    expected = [sum(h[i][j] * v[j].item() for j in range(4)) for i in range(4)]  # H is symmetric
    assert_close(out, rosen(x), rtol=1e-15, atol=1e-15)
    assert_close(hv.tolist(), expected, rtol=1e-12, atol=1e-12)
    assert not hv.requires_grad


def test_hvp_vhp_tuples_and_create_graph() -> None:
    # f = sum(x^2 y): H = [[2 diag(y), 2 diag(x)], [2 diag(x), 0]]
    x = torch.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    y = torch.tensor([3.0, -1.0], dtype=F64, requires_grad=True)
    vx, vy = torch.tensor([1.0, 0.0], dtype=F64), torch.tensor([0.0, 1.0], dtype=F64)
    for product in (AF.hvp, AF.vhp):
        _out, (hx, hy) = product(lambda a, b: (a * a * b).sum(), (x, y), (vx, vy), create_graph=True)
        assert hx.tolist() == [6.0, 4.0] and hy.tolist() == [2.0, 0.0]
        assert hx.requires_grad
        (gy,) = torch.autograd.grad(hx.sum(), y, retain_graph=True)  # d/dy of (2 y0 vx0 + 2 x1 vy1)
        assert gy.tolist() == [2.0, 0.0]


def test_hvp_vhp_errors() -> None:
    x = rand(3)
    for name, product in (("hvp", AF.hvp), ("vhp", AF.vhp)):
        with pytest.raises(RuntimeError, match=f"The function given to {name} should return a single Tensor"):
            product(lambda a: (a.sum(),), x, rand(3))
        with pytest.raises(
            RuntimeError, match=f"The Tensor returned by the function given to {name} should contain a single element"
        ):
            product(lambda a: a * 2, x, rand(3))
        with pytest.raises(
            RuntimeError, match="The vector v can only be None if the input to the user-provided function"
        ):
            product(lambda a: a.sum(), x)
        with pytest.raises(
            RuntimeError, match="jacobian of the user-provided function with respect to input 0 is independent"
        ):
            product(lambda a: a.sum(), x, rand(3), strict=True)
    _, hv = AF.hvp(lambda a: a.sum(), x, rand(3))  # linear: zero Hessian
    assert hv.tolist() == [0.0, 0.0, 0.0]


def test_functional_results_do_not_depend_on_grad_mode() -> None:
    x, v = rand(3), rand(3)
    with torch.no_grad():
        _, vj = AF.vjp(lambda a: (a.sin() * a).sum(), x)
        _, hv = AF.hvp(lambda a: (a.sin() * a).sum(), x, v)
        jac = AF.jacobian(lambda a: a.exp(), x)
    xs = x.tolist()
    assert_close(vj.tolist(), [math.sin(a) + a * math.cos(a) for a in xs], rtol=1e-12, atol=1e-12)
    assert_close(
        hv.tolist(), [(2 * math.cos(a) - a * math.sin(a)) * w for a, w in zip(xs, v.tolist())], rtol=1e-12, atol=1e-12
    )
    assert_close(
        jac.tolist(),
        [[math.exp(a) if i == j else 0.0 for j, _ in enumerate(xs)] for i, a in enumerate(xs)],
        rtol=1e-12,
        atol=1e-12,
    )


# -------------------------------------------------------------------- PyTorch oracle
@pytest.mark.oracle
def test_against_pytorch() -> None:
    torch_ = pytest.importorskip("torch")
    TF = torch_.autograd.functional
    x = rand(4)
    v = rand(4)

    def both(lib: Any, a: Any) -> Any:
        return ((a[:-1] - a[1:]) ** 2).exp().sum() * a.tanh().mean()

    xt = torch_.tensor(x.tolist(), dtype=torch_.float64)
    vt = torch_.tensor(v.tolist(), dtype=torch_.float64)
    f_ours = lambda a: both(torch, a)  # noqa: E731
    f_torch = lambda a: both(torch_, a)  # noqa: E731
    assert_close(AF.hessian(f_ours, x).tolist(), TF.hessian(f_torch, xt).tolist(), rtol=1e-12, atol=1e-12)
    assert_close(AF.hvp(f_ours, x, v)[1].tolist(), TF.hvp(f_torch, xt, vt)[1].tolist(), rtol=1e-12, atol=1e-12)
    assert_close(AF.vhp(f_ours, x, v)[1].tolist(), TF.vhp(f_torch, xt, vt)[1].tolist(), rtol=1e-12, atol=1e-12)
    assert_close(AF.jvp(f_ours, x, v)[1].tolist(), TF.jvp(f_torch, xt, vt)[1].tolist(), rtol=1e-12, atol=1e-12)
    g = lambda a: a.exp() * a.sum()  # noqa: E731
    assert_close(
        AF.jacobian(g, x, strategy="forward-mode").tolist(), TF.jacobian(g, xt).tolist(), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_jacobian_with_empty_tensors(strategy: str) -> None:
    x, y = torch.zeros(0, dtype=F64), torch.ones(2, dtype=F64)
    assert AF.jacobian(lambda a: a.sum() + 1, x, strategy=strategy).shape == (0,)
    assert AF.jacobian(lambda a: a * 2, x, strategy=strategy).shape == (0, 0)
    (jxa, jxb), (jya, jyb) = AF.jacobian(lambda a, b: (a * 2, b.sum()), (x, y), strategy=strategy)
    assert [jxa.shape, jxb.shape, jya.shape] == [(0, 0), (0, 2), (0,)]
    assert jyb.tolist() == [1.0, 1.0]


class CubeNoJvp(torch.autograd.Function):
    """x^3 with a differentiable backward but no jvp: forward mode cannot pass through it."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (x,) = ctx.saved_tensors
        return g * 3 * x * x


def test_jvp_and_hvp_fall_back_to_reverse_mode_for_functions_without_jvp() -> None:
    x = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    v = torch.tensor([1.0, 2.0, -1.0], dtype=F64)
    out, jv = AF.jvp(lambda a: CubeNoJvp.apply(a) * 2, x, v)  # 6 x^2 v
    assert out.tolist() == [2.0, -16.0, 0.25]
    assert jv.tolist() == [6.0 * a * a * b for a, b in zip(x.tolist(), v.tolist())]
    out, hv = AF.hvp(lambda a: CubeNoJvp.apply(a).sum(), x, v)  # H = diag(6x)
    assert out.item() == -6.875
    assert hv.tolist() == [6.0 * a * b for a, b in zip(x.tolist(), v.tolist())]
    # create_graph: d/dx sum(6 x^2 v) = 12 x v
    xg = x.clone().requires_grad_()
    _, jv = AF.jvp(lambda a: CubeNoJvp.apply(a) * 2, xg, v, create_graph=True)
    assert torch.autograd.grad(jv.sum(), xg)[0].tolist() == [12.0 * a * b for a, b in zip(x.tolist(), v.tolist())]
    with pytest.raises(RuntimeError, match="The output of the user-provided function is independent of input 1"):
        AF.jvp(lambda a, b: CubeNoJvp.apply(a), (x, x), (v, v), strict=True)
    with pytest.raises(NotImplementedError, match="You must implement the jvp function"):
        AF.jacobian(CubeNoJvp.apply, x, strategy="forward-mode")  # as in PyTorch
