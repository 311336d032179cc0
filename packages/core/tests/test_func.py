"""plugrad.func (issue 17): transforms against hand-computed derivatives, float64 finite
differences and autograd.functional; compositions; vmap against explicit loops;
functional_call; oracle tests against torch.func."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import plugrad
import pytest
from plugrad.autograd import functional as AF
from plugrad.func import (
    PerformanceWarning,
    functional_call,
    grad,
    grad_and_value,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    vjp,
    vmap,
)
from plugrad.testing import assert_close

F64 = plugrad.float64


def _x(*shape: int, seed: int = 0) -> plugrad.Tensor:
    plugrad.manual_seed(seed)
    return plugrad.randn(*shape, dtype=F64)


def _fd_jacobian(f: Callable[[plugrad.Tensor], plugrad.Tensor], x: plugrad.Tensor, h: float = 1e-6) -> plugrad.Tensor:
    """Central differences, column by column, in float64."""
    flat = x.reshape(-1)
    cols = []
    for i in range(flat.numel()):
        e = (plugrad.arange(flat.numel()) == i).to(F64).reshape(x.shape)
        cols.append(((f(x + h * e) - f(x - h * e)) / (2 * h)).reshape(-1))
    out_shape = tuple(f(x).shape)
    return plugrad.stack(cols, dim=-1).reshape(*out_shape, *x.shape)


def f_scalar(x: plugrad.Tensor) -> plugrad.Tensor:
    return (x.sin() * x.exp()).sum() + (x * x).prod()


def f_vec(x: plugrad.Tensor) -> plugrad.Tensor:
    return plugrad.stack([x.sin().sum(), (x * x).sum(), x.prod()]) * x[0]


def test_grad_matches_hand_and_fd() -> None:
    x = _x(4)
    assert_close(grad(lambda t: (t**3).sum())(x), 3 * x * x)
    assert_close(grad(f_scalar)(x), _fd_jacobian(f_scalar, x), rtol=1e-6, atol=1e-7)
    assert not grad(f_scalar)(x).requires_grad  # outermost level: detached


def test_grad_argnums_has_aux_and_value() -> None:
    x, y = _x(3), _x(3, seed=1)

    def f(a: plugrad.Tensor, b: plugrad.Tensor) -> tuple[plugrad.Tensor, dict[str, plugrad.Tensor]]:
        return (a * b * b).sum(), {"a": a * 2}

    ga, gb = grad(lambda a, b: f(a, b)[0], argnums=(0, 1))(x, y)
    assert_close(ga, y * y)
    assert_close(gb, 2 * x * y)
    g, aux = grad(f, argnums=1, has_aux=True)(x, y)
    assert_close(g, 2 * x * y)
    assert_close(aux["a"], x * 2)
    g, (value, aux) = grad_and_value(f, has_aux=True)(x, y)
    assert_close(value, (x * y * y).sum())
    g, value = grad_and_value(lambda a: (a * a).sum())(x)
    assert_close(g, 2 * x) and assert_close(value, (x * x).sum())
    with pytest.raises(RuntimeError, match="Expected f\\(\\*args\\) to return a scalar Tensor"):
        grad(lambda a: a * 2)(x)
    with pytest.raises(RuntimeError, match="argnums"):
        grad(f_scalar, argnums=3)(x)


def test_higher_order_and_closures() -> None:
    x = _x(3)
    assert_close(grad(lambda t: grad(lambda u: (u**4).sum())(t).sum())(x), 12 * x * x)
    # d/dx (f'(x) * x) with f = x^3: (3x^2 x)' = 9 x^2 -- the inner grad's result stays differentiable
    assert_close(grad(lambda t: (grad(lambda u: (u**3).sum())(t) * t).sum())(x), 9 * x * x)
    # a closure over the outer variable: d/dx [d/dy (x y^2)]_{y=x} = d/dx 2 x x = 4x
    assert_close(grad(lambda t: grad(lambda y: (t * y * y).sum())(t).sum())(x), 4 * x)
    s = plugrad.tensor(1.3, dtype=F64)
    assert grad(grad(grad(lambda t: t.sin())))(s).item() == pytest.approx(-plugrad.cos(s).item())


def test_vjp_jvp_against_autograd_functional() -> None:
    x, v, u = _x(4), _x(4, seed=1), _x(3, seed=2)
    out, fn = vjp(f_vec, x)
    assert_close(out, f_vec(x))
    (g,) = fn(u)
    assert_close(g, AF.vjp(f_vec, x, u)[1])
    out2, t = jvp(f_vec, (x,), (v,))
    assert_close(out2, f_vec(x))
    assert_close(t, AF.jvp(f_vec, x, v)[1])
    assert_close(t, _fd_jacobian(f_vec, x) @ v, rtol=1e-6, atol=1e-7)
    _, fn2, aux = vjp(lambda a: (a.sin(), a.cos()), x, has_aux=True)
    assert_close(aux, x.cos())
    _, t2, aux2 = jvp(lambda a: (a.exp(), 7), (x,), (v,), has_aux=True)
    assert_close(t2, x.exp() * v) and aux2 == 7


@pytest.mark.parametrize("jac", [jacrev, jacfwd])
def test_jacobians(jac: Callable[..., Any]) -> None:
    x, y = _x(4), _x(2, 4, seed=1)
    want = _fd_jacobian(f_vec, x)
    assert_close(jac(f_vec)(x), want, rtol=1e-6, atol=1e-7)
    j = jac(lambda a: a @ y.t())(x)  # (2,) output of a (4,) input: the matrix itself
    assert_close(j, y)
    j2 = jac(lambda a: a * y, argnums=0)(x)
    assert j2.shape == (2, 4, 4)
    ja, jb = jac(lambda a, b: (a * b).sum(-1), argnums=(0, 1))(x, y)
    assert ja.shape == (2, 4) and jb.shape == (2, 2, 4)
    assert_close(ja, y)
    j3, aux = jac(lambda a: (a * 2, a.sum()), has_aux=True)(x)
    assert_close(j3, 2 * plugrad.eye(4, dtype=F64)) and assert_close(aux, x.sum())


def test_hessian_and_compositions() -> None:
    x = _x(3)
    w = _x(3, 3, seed=5)

    def quad(a: plugrad.Tensor) -> plugrad.Tensor:
        return a @ w @ a + a.sin().sum()

    want = w + w.t() - plugrad.diag(x.sin())
    assert_close(hessian(quad)(x), want)
    assert_close(jacfwd(jacrev(quad))(x), want)
    assert_close(jacrev(jacrev(quad))(x), want)
    assert_close(jacrev(jacfwd(quad))(x), want)
    assert_close(AF.hessian(quad, x), want)
    # vmap of grad: per-example gradients
    xs = _x(5, 3, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerformanceWarning)
        per = vmap(grad(quad))(xs)
    for i in range(5):
        assert_close(per[i], grad(quad)(xs[i]))


LOOP_CASES: list[tuple[Callable[..., Any], Any, Any, list[tuple[int, ...] | None]]] = [
    (lambda a: a.sin() * 2, 0, 0, [(5, 3)]),
    (lambda a: a.sum(0), 1, 0, [(3, 5, 2)]),
    (lambda a, b: a @ b, (0, None), 0, [(5, 2, 3), (3, 4)]),
    (lambda a, b: a @ b, (None, 1), 1, [(2, 3), (3, 5, 4)]),
    (lambda a, b: (a * b, a + b), (0, 0), (0, 1), [(5, 3), (5, 3)]),
    (lambda a, b: a.reshape(-1) * b, (2, -1), -1, [(2, 3, 5), (6, 5)]),
    (lambda a: a.softmax(-1), -1, 0, [(3, 5)]),
]


@pytest.mark.parametrize(("f", "in_dims", "out_dims", "shapes"), LOOP_CASES)
def test_vmap_matches_explicit_loop(f: Callable[..., Any], in_dims: Any, out_dims: Any, shapes: Any) -> None:
    args = [_x(*s, seed=i) for i, s in enumerate(shapes)]
    dims = in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(args)
    size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerformanceWarning)
        got = vmap(f, in_dims=in_dims, out_dims=out_dims)(*args)
    outs = [f(*[a.select(d, b) if d is not None else a for a, d in zip(args, dims)]) for b in range(size)]
    if isinstance(got, tuple):
        ods = out_dims if isinstance(out_dims, tuple) else (out_dims,) * len(got)
        for k, g in enumerate(got):
            assert_close(g, plugrad.stack([o[k] for o in outs], dim=ods[k]))
    else:
        assert_close(got, plugrad.stack(outs, dim=out_dims))


# functions whose every op has a batching rule: vmap runs them once on the batch (no warning)
# (tensor OP batched falls back to the loop: plugrad's Tensor operators raise TypeError for an
# operand type they do not know instead of returning NotImplemented, so Batched's reflected
# operators never run; these cases check the loop's answer through the same test)
SLOW = {"w - a", "w @ a"}
FAST_CASES: list[tuple[Callable[..., Any], Any, list[tuple[int, ...]]]] = [
    (lambda a, w: a * w, (0, None), [(5, 3), (2, 3)]),  # (3,) per example against (2, 3): aligned
    (lambda a, w: w - a, (1, None), [(3, 5), (4, 2, 3)]),
    (lambda a, b: a / (b.abs() + 1), (0, 1), [(5, 3), (2, 5, 1)]),  # both batched, ranks differ
    (lambda a, w: a @ w, (0, None), [(5, 3), (3, 2)]),
    (lambda a, w: a @ w, (0, None), [(5, 3), (3,)]),
    (lambda a, w: a @ w, (0, None), [(5, 2, 3), (3, 4)]),
    (lambda a, w: w @ a, (0, None), [(5, 3), (2, 3)]),
    (lambda a, w: w @ a, (0, None), [(5, 3), (3,)]),
    (lambda a, w: w @ a, (0, None), [(5, 3, 2), (4, 3)]),
    (lambda a, w: w @ a, (0, None), [(5, 3, 2), (3,)]),
    (lambda a, b: a @ b, (0, 0), [(5, 3), (5, 3)]),
    (lambda a, b: a @ b, (0, 0), [(5, 3), (5, 3, 2)]),
    (lambda a, b: a @ b, (0, 0), [(5, 2, 3), (5, 3)]),
    (lambda a, b: a @ b, (0, 2), [(5, 2, 3), (3, 4, 5)]),
    (lambda a: a.sum(-1, keepdim=True) + a.mean(0), 0, [(4, 2, 3)]),
    (lambda a: a.sum() * a.mean((0, -1)), 1, [(2, 4, 3)]),
    (lambda a: a.softmax(-1).log() + a.log_softmax(0), 0, [(4, 2, 3)]),
    (lambda a: a.reshape(-1).unsqueeze(0).t() * 2, 0, [(4, 2, 3)]),
    (lambda a: a.transpose(0, -1).tanh().sigmoid().exp(), 2, [(2, 3, 4)]),
    (lambda a, w: (a.relu() ** 2 + 1).sqrt() - a * (w > 0), (0, None), [(4, 3), (3,)]),
    (lambda a, w: (a.maximum(w).clamp(-0.5, 0.5) == a).sum(), (0, None), [(4, 3), (3,)]),
    (lambda a: a.amax(-1) + a.amin() + a.logsumexp((0, 1)) + a.var(0).sum() + a.std(), 0, [(4, 2, 3)]),
    (lambda a: a.prod(1).cumsum(0) * a.cumprod(-1)[:, 0] + a.argmax(1), 1, [(2, 4, 3)]),
    (lambda a: a.permute(2, 0, 1).movedim(0, -1).flip(0).select(1, 1).narrow(0, 1, 1), 0, [(4, 2, 3, 2)]),
    (lambda a: a.unsqueeze(1).squeeze().expand(2, 3, 4)[..., 1:3, None] + a[0, :2].squeeze(0), 2, [(3, 4, 5)]),
    (lambda a: a[1, ::2] * a.detach().clone().double().to(a.dtype)[0, 1:3], 0, [(4, 3, 4)]),
]


@pytest.mark.parametrize(("f", "in_dims", "shapes"), FAST_CASES)
def test_vmap_fast_path_matches_loop(f: Callable[..., Any], in_dims: Any, shapes: Any) -> None:
    args = [_x(*s, seed=i + 10) for i, s in enumerate(shapes)]
    dims = in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(args)
    size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
    slow = any(k in inspect.getsource(f) for k in SLOW)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if slow else "error", PerformanceWarning)  # fast: never the loop
        got = vmap(f, in_dims=in_dims)(*args)
        got_last = vmap(f, in_dims=in_dims, out_dims=-1)(*args)
    want = plugrad.stack(
        [f(*[a.select(d, b) if d is not None else a for a, d in zip(args, dims)]) for b in range(size)]
    )
    assert_close(got, want.to(got.dtype))
    assert_close(got_last, want.movedim(0, -1).to(got.dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if slow else "error", PerformanceWarning)
        chunked = vmap(f, in_dims=in_dims, out_dims=-1, chunk_size=2)(*args)
    assert_close(chunked, want.movedim(0, -1).to(got.dtype))


def test_vmap_grad_fast_path_per_sample_gradients() -> None:
    w1, b1, w2 = _x(6, 3), _x(6, seed=1), _x(1, 6, seed=2)
    xs, ys = _x(8, 3, seed=3), _x(8, 1, seed=4)

    def loss(p: dict[str, plugrad.Tensor], x: plugrad.Tensor, y: plugrad.Tensor) -> plugrad.Tensor:
        # x @ w.t(): a tensor @ batched operand has no rule (plugrad's Tensor operators raise
        # TypeError for other types instead of returning NotImplemented), batched @ tensor has
        return (((x @ p["w1"].t() + p["b1"]).tanh() @ p["w2"].t() - y) ** 2).mean()

    params = {"w1": w1, "b1": b1, "w2": w2}
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerformanceWarning)
        per = vmap(grad(loss), in_dims=(None, 0, 0))(params, xs, ys)
        gx, value = vmap(grad_and_value(loss, argnums=1), in_dims=(None, 0, 0))(params, xs, ys)
        hx = vmap(grad(lambda p, x, y: grad(loss, argnums=1)(p, x, y).sum(), argnums=1), in_dims=(None, 0, 0))(
            params, xs, ys
        )
    for i in range(8):
        g = grad(loss)(params, xs[i], ys[i])
        for k in params:
            assert_close(per[k][i], g[k])
        assert_close(gx[i], grad(loss, argnums=1)(params, xs[i], ys[i]))
        assert_close(value[i], loss(params, xs[i], ys[i]))
        assert_close(hx[i], grad(lambda x, y=ys[i]: grad(loss, argnums=1)(params, x, y).sum())(xs[i]))
    assert not per["w1"].requires_grad


def test_vmap_grad_shared_weights_matvec_first_and_second_order() -> None:
    # W @ x with W an input of grad (expanded to the batch: one GEMM forward, outer products back)
    w1, w2 = _x(5, 3), _x(1, 5, seed=1)
    xs, ys = _x(6, 3, seed=2), _x(6, 1, seed=3)

    def loss(p: dict[str, plugrad.Tensor], x: plugrad.Tensor, y: plugrad.Tensor) -> plugrad.Tensor:
        return ((p["w2"] @ (p["w1"] @ x).tanh() - y) ** 2).mean()

    def mixed(p: dict[str, plugrad.Tensor], x: plugrad.Tensor, y: plugrad.Tensor) -> plugrad.Tensor:
        g = grad(loss)(p, x, y)  # inner grad with a graph: the exact per-example backward
        return (g["w1"] * g["w1"]).sum() + g["w2"].sum()

    params = {"w1": w1, "w2": w2}
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerformanceWarning)
        per = vmap(grad(loss), in_dims=(None, 0, 0))(params, xs, ys)
        second = vmap(grad(mixed, argnums=(0, 1)), in_dims=(None, 0, 0))(params, xs, ys)
        only_x = vmap(grad(mixed, argnums=1), in_dims=(None, 0, 0))(params, xs, ys)
    for i in range(6):
        g = grad(loss)(params, xs[i], ys[i])
        assert_close(per["w1"][i], g["w1"]) and assert_close(per["w2"][i], g["w2"])
        gp, gx = grad(mixed, argnums=(0, 1))(params, xs[i], ys[i])
        assert_close(second[0]["w1"][i], gp["w1"]) and assert_close(second[0]["w2"][i], gp["w2"])
        assert_close(second[1][i], gx) and assert_close(only_x[i], gx)


def test_vmap_nested_structures_and_errors() -> None:
    xs, w = _x(4, 3), _x(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerformanceWarning)
        got = vmap(lambda d: d["a"] * d["b"], in_dims=({"a": 0, "b": None},))({"a": xs, "b": w})
        assert_close(got, xs * w)
        # nested vmap: an outer product
        outer = vmap(vmap(lambda a, b: a * b, in_dims=(None, 0)), in_dims=(0, None))(w, xs[0])
        assert_close(outer, w.unsqueeze(1) * xs[0].unsqueeze(0))
        assert_close(plugrad.vmap(lambda a: a * 2, chunk_size=2)(xs), xs * 2)
        assert plugrad.vmap is vmap
        with pytest.raises(ValueError, match="Expected all tensors to have the same size in the mapped dimension"):
            vmap(lambda a, b: a + b)(xs, _x(3, 3))
        with pytest.raises(ValueError, match="expected in_dim to satisfy"):
            vmap(lambda a: a, in_dims=2)(xs)
        with pytest.raises(RuntimeError, match="randomness error mode"):
            vmap(lambda a: a + plugrad.randn(3))(xs)
        same = vmap(lambda a: a * 0 + plugrad.randn(3), randomness="same")(xs)
        assert_close(same[0], same[3])
        same_chunked = vmap(lambda a: a * 0 + plugrad.randn(3), randomness="same", chunk_size=3)(xs)
        assert_close(same_chunked[0], same_chunked[3])  # chunks 0-2 and 3
        diff = vmap(lambda a: a * 0 + plugrad.randn(3), randomness="different")(xs)
        assert not plugrad.equal(diff[0], diff[3])


def test_vmap_warns_once() -> None:
    def distinct_fn(a: plugrad.Tensor) -> plugrad.Tensor:
        return plugrad.stack([a, a])  # a plugrad function given a batched value: the loop

    with pytest.warns(PerformanceWarning, match="distinct_fn"):
        vmap(distinct_fn)(_x(2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerformanceWarning)
        vmap(distinct_fn)(_x(2, 2))


def test_functional_call() -> None:
    nn = pytest.importorskip("plugrad.nn")
    plugrad.manual_seed(0)
    m = nn.Linear(3, 2).double()
    x = _x(4, 3)
    w = plugrad.zeros(2, 3, dtype=F64)
    b = plugrad.ones(2, dtype=F64)
    out = functional_call(m, {"weight": w, "bias": b}, (x,))
    assert_close(out, plugrad.ones(4, 2, dtype=F64))
    assert m.weight is not w and m.weight.abs().sum().item() > 0  # restored
    out2 = functional_call(m, ({"weight": w}, {"bias": b}), x)
    assert_close(out2, out)
    with pytest.raises(RuntimeError, match="Missing key"):
        functional_call(m, {"weight": w}, (x,), strict=True)
    # per-sample gradients of a module's parameters, the classic use
    params = {k: v.detach() for k, v in m.named_parameters()}

    def loss(p: dict[str, plugrad.Tensor], xi: plugrad.Tensor) -> plugrad.Tensor:
        return functional_call(m, p, (xi.unsqueeze(0),)).pow(2).sum()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerformanceWarning)
        per = vmap(grad(loss), in_dims=(None, 0))(params, x)
    assert per["weight"].shape == (4, 2, 3)
    for i in range(4):
        g = grad(loss)(params, x[i])
        assert_close(per["weight"][i], g["weight"]) and assert_close(per["bias"][i], g["bias"])


# ------------------------------------------------------------------------ oracle
@pytest.mark.oracle
def test_func_oracle() -> None:
    torch = pytest.importorskip("torch")
    tf = torch.func
    x = _x(4)
    tx = torch.tensor(x.tolist(), dtype=torch.float64)

    def pf(a: Any, lib: Any) -> Any:
        return lib.stack([a.sin().sum(), (a * a).sum() * a[1], a.exp().prod()])

    def same(p: plugrad.Tensor, t: Any) -> None:
        assert tuple(p.shape) == tuple(t.shape)
        assert_close(p, plugrad.tensor(t.tolist(), dtype=F64))

    same(jacrev(lambda a: pf(a, plugrad))(x), tf.jacrev(lambda a: pf(a, torch))(tx))
    same(jacfwd(lambda a: pf(a, plugrad))(x), tf.jacfwd(lambda a: pf(a, torch))(tx))
    same(hessian(lambda a: pf(a, plugrad)[1])(x), tf.hessian(lambda a: pf(a, torch)[1])(tx))
    same(grad(lambda a: pf(a, plugrad).sum())(x), tf.grad(lambda a: pf(a, torch).sum())(tx))
    xs = _x(6, 4, seed=3)
    txs = torch.tensor(xs.tolist(), dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerformanceWarning)
        got = vmap(grad(lambda a, b: (pf(a, plugrad) * b[:3]).sum()), in_dims=(0, None))(xs, x)
    want = tf.vmap(tf.grad(lambda a, b: (pf(a, torch) * b[:3]).sum()), in_dims=(0, None))(txs, tx)
    same(got, want)


@pytest.mark.oracle
@pytest.mark.parametrize(("f", "in_dims", "shapes"), FAST_CASES)
def test_vmap_oracle(f: Callable[..., Any], in_dims: Any, shapes: Any) -> None:
    torch = pytest.importorskip("torch")
    args = [_x(*s, seed=i + 20) for i, s in enumerate(shapes)]
    targs = [torch.tensor(a.tolist(), dtype=torch.float64) for a in args]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerformanceWarning)
        got = vmap(f, in_dims=in_dims)(*args)
    want = torch.vmap(f, in_dims=in_dims)(*targs)
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, plugrad.tensor(want.tolist(), dtype=got.dtype))


def test_vmap_of_a_catalogue_function_batches_without_the_loop() -> None:
    import warnings

    x = plugrad.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the per-example loop would warn
        out = plugrad.vmap(plugrad.sin)(x)
        out2 = plugrad.vmap(lambda t: plugrad.exp(plugrad.tanh(t)))(x)
    assert out.tolist() == x.sin().tolist()
    assert out2.tolist() == x.tanh().exp().tolist()
    with pytest.raises(TypeError, match="sin\\(\\): argument 'input' \\(position 1\\) must be Tensor, not list"):
        plugrad.sin([1.0])
