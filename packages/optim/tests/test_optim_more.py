"""Adamax, NAdam, RAdam, LBFGS and the added schedulers without PyTorch: first steps
computed by hand from the published update rules, convergence on quadratics with a
known minimiser, option handling, state dicts."""

from __future__ import annotations

import math
import struct

import plugrad
import pytest
from plugrad import optim
from plugrad.optim import lr_scheduler


def _one_step(opt_cls, p0: float, g: float, **kwargs) -> float:
    p = plugrad.tensor([p0], dtype=plugrad.float64, requires_grad=True)
    opt = opt_cls([p], **kwargs)
    p.grad = plugrad.tensor([g], dtype=plugrad.float64)
    opt.step()
    return p.item()


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def test_adamax_first_step_by_hand() -> None:
    lr, b1, eps = 0.1, 0.9, 1e-8
    m, u = (1 - b1) * 2.0, 2.0 + eps  # u = max(b2 * 0, |g| + eps)
    assert _one_step(optim.Adamax, 1.0, 2.0, lr=lr) == pytest.approx(1.0 - lr / (1 - b1) * m / u, rel=1e-14)


def test_nadam_first_step_by_hand() -> None:
    lr, b1, b2, eps, md = 0.1, 0.9, 0.999, 1e-8, 4e-3
    g = 2.0
    mu1 = b1 * (1 - 0.5 * 0.96 ** (1 * md))
    mu2 = b1 * (1 - 0.5 * 0.96 ** (2 * md))
    prod = _f32(mu1)  # the running product is a float32 scalar, as in PyTorch
    m, v = (1 - b1) * g, (1 - b2) * g * g
    denom = math.sqrt(v / (1 - b2)) + eps
    want = 1.0 - lr * (1 - mu1) / (1 - prod) * g / denom - lr * mu2 / (1 - prod * mu2) * m / denom
    assert _one_step(optim.NAdam, 1.0, g, lr=lr) == pytest.approx(want, rel=1e-14)


def test_radam_first_steps_by_hand() -> None:
    # step 1: rho_1 = rho_inf - 2 b2 / (1 - b2) = 1 <= 5, so p -= lr * m_hat with m_hat = g
    assert _one_step(optim.RAdam, 1.0, 2.0, lr=0.1) == pytest.approx(1.0 - 0.1 * 2.0, rel=1e-14)
    # with beta2 = 0.5, rho_inf = 3 and rho_t < 3 always: RAdam is SGD with (bias-corrected) momentum
    p = plugrad.tensor([0.0], dtype=plugrad.float64, requires_grad=True)
    opt = optim.RAdam([p], lr=0.1, betas=(0.5, 0.5))
    m, x = 0.0, 0.0
    for t, g in enumerate([1.0, -2.0, 0.5], start=1):
        p.grad = plugrad.tensor([g], dtype=plugrad.float64)
        opt.step()
        m = 0.5 * m + 0.5 * g
        x -= 0.1 * m / (1 - 0.5**t)
        assert p.item() == pytest.approx(x, rel=1e-14)


def test_decoupled_weight_decay_shrinks_the_parameter_first() -> None:
    # RAdam step 1 with decoupled decay: p * (1 - lr * wd) - lr * g
    got = _one_step(optim.RAdam, 2.0, 1.0, lr=0.1, weight_decay=0.5, decoupled_weight_decay=True)
    assert got == pytest.approx(2.0 * (1 - 0.05) - 0.1 * 1.0, rel=1e-14)
    coupled = _one_step(optim.RAdam, 2.0, 1.0, lr=0.1, weight_decay=0.5)
    assert coupled == pytest.approx(2.0 - 0.1 * (1.0 + 0.5 * 2.0), rel=1e-14)


def _quadratic(x: plugrad.Tensor, diag: list[float], target: list[float]) -> plugrad.Tensor:
    """0.5 * sum(a_i (x_i - c_i)^2): minimised at c, Hessian diag(a)."""
    a = plugrad.tensor(diag, dtype=x.dtype)
    c = plugrad.tensor(target, dtype=x.dtype)
    return 0.5 * (a * (x - c) ** 2).sum()


@pytest.mark.parametrize("name", ["Adamax", "NAdam", "RAdam"])
def test_new_adaptive_optimizers_converge_on_a_quadratic(name: str) -> None:
    diag, target = [1.0, 4.0, 0.5], [1.0, -2.0, 3.0]
    x = plugrad.zeros(3, dtype=plugrad.float64, requires_grad=True)
    opt = getattr(optim, name)([x], lr=0.05)
    for _ in range(2000):
        opt.zero_grad()
        _quadratic(x, diag, target).backward()
        opt.step()
    assert x.tolist() == pytest.approx(target, abs=1e-3)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_solves_a_quadratic(line_search_fn: str | None) -> None:
    diag, target = [1.0, 10.0, 100.0, 0.3], [1.0, -2.0, 0.5, 4.0]
    x = plugrad.zeros(4, dtype=plugrad.float64, requires_grad=True)
    opt = optim.LBFGS([x], line_search_fn=line_search_fn, max_iter=100, tolerance_grad=1e-10, tolerance_change=1e-14)
    calls = [0]

    def closure() -> plugrad.Tensor:
        calls[0] += 1
        opt.zero_grad()
        loss = _quadratic(x, diag, target)
        loss.backward()
        return loss

    opt.step(closure)
    # it stops once the loss changes by less than tolerance_change = 1e-14, so the final loss is of that
    # order and |x_i - c_i| is about sqrt(2 * 1e-14 / min(a)) = 2.6e-7 at most
    assert x.tolist() == pytest.approx(target, abs=1e-6)
    assert _quadratic(x, diag, target).item() < 1e-12
    st = opt.state[x]
    assert st["func_evals"] == calls[0]
    # a quadratic in 4 variables: far fewer iterations than max_iter
    assert st["n_iter"] < 40


def test_lbfgs_first_iteration_by_hand() -> None:
    # f = 0.5 * 4 * (x - 1)^2 from x = 0: g = -4, first step t = min(1, 1/|g|_1) * lr = 0.25 lr along d = -g
    x = plugrad.zeros(1, dtype=plugrad.float64, requires_grad=True)
    opt = optim.LBFGS([x], lr=0.5, max_iter=1)

    def closure() -> plugrad.Tensor:
        opt.zero_grad()
        loss = _quadratic(x, [4.0], [1.0])
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(2.0)
    assert x.item() == pytest.approx(0.25 * 0.5 * 4.0, rel=1e-14)


def test_lbfgs_options_and_state_dict() -> None:
    x = plugrad.ones(2, 2, requires_grad=True)
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        optim.LBFGS([{"params": [x]}, {"params": [plugrad.ones(1, requires_grad=True)]}])
    with pytest.raises(ValueError, match="line_search_fn must be None or 'strong_wolfe'"):
        optim.LBFGS([x], line_search_fn="armijo")
    opt = optim.LBFGS([x], history_size=3)
    assert opt.defaults["max_eval"] == 25
    with pytest.raises(TypeError, match="requires a closure"):
        opt.step(None)  # type: ignore[arg-type]

    def closure() -> plugrad.Tensor:
        opt.zero_grad()
        loss = ((x - 3.0) ** 4).sum()
        loss.backward()
        return loss

    opt.step(closure)
    sd = opt.state_dict()
    y = plugrad.ones(2, 2, requires_grad=True)
    other = optim.LBFGS([y], history_size=3)
    other.load_state_dict(sd)
    with plugrad.no_grad():
        y.copy_(x)
    opt.step(closure)

    def closure_y() -> plugrad.Tensor:
        other.zero_grad()
        loss = ((y - 3.0) ** 4).sum()
        loss.backward()
        return loss

    other.step(closure_y)
    assert y.tolist() == x.tolist()  # the loaded state continues exactly as the original
    bad = opt.state_dict()
    bad["state"][0]["d"] = plugrad.zeros(3)
    with pytest.raises(ValueError, match="'d' must be a 1-d floating tensor of 4 elements"):
        other.load_state_dict(bad)


def test_lbfgs_returns_at_once_when_the_gradient_is_zero() -> None:
    x = plugrad.ones(3, requires_grad=True)
    opt = optim.LBFGS([x])

    def closure() -> plugrad.Tensor:
        opt.zero_grad()
        loss = ((x - 1.0) ** 2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 0.0
    assert opt.state[x]["n_iter"] == 0 and opt.state[x]["func_evals"] == 1


def test_foreach_and_fused_are_accepted() -> None:
    for cls in (optim.SGD, optim.Adam, optim.AdamW, optim.Adagrad):
        p = plugrad.ones(2, requires_grad=True)
        q = plugrad.ones(2, requires_grad=True)
        a, b = cls([p], lr=0.1, fused=True), cls([q], lr=0.1, foreach=True)
        p.grad, q.grad = plugrad.full((2,), 0.5), plugrad.full((2,), 0.5)
        a.step()
        b.step()
        assert p.tolist() == q.tolist() != [1.0, 1.0]


def _lrs(sched: lr_scheduler.LRScheduler, opt: optim.Optimizer, n: int) -> list[float]:
    out = []
    for _ in range(n):
        out.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return out


def _sgd(lr: float = 1.0, **kw: float) -> optim.SGD:
    return optim.SGD([plugrad.ones(1, requires_grad=True)], lr=lr, **kw)


def test_closed_forms_of_simple_schedulers() -> None:
    opt = _sgd()
    assert _lrs(lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=3), opt, 5) == [0.5, 0.5, 0.5, 1.0, 1.0]
    opt = _sgd()
    got = _lrs(lr_scheduler.LinearLR(opt, start_factor=0.2, end_factor=1.0, total_iters=4), opt, 6)
    assert got == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])
    opt = _sgd()
    got = _lrs(lr_scheduler.PolynomialLR(opt, total_iters=4, power=2.0), opt, 6)
    assert got == pytest.approx([(1 - min(t, 4) / 4) ** 2 for t in range(6)])
    opt = _sgd()
    got = _lrs(lr_scheduler.MultiplicativeLR(opt, lambda e: 0.5), opt, 4)
    assert got == pytest.approx([1.0, 0.5, 0.25, 0.125])


def test_warm_restarts_follow_the_sgdr_formula() -> None:
    opt = _sgd()
    got = _lrs(lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2), opt, 8)
    # periods of 2 then 4 then 8 epochs: T_cur = 0,1 | 0,1,2,3 | 0,1
    t_cur, t_i = [0, 1, 0, 1, 2, 3, 0, 1], [2, 2, 4, 4, 4, 4, 8, 8]
    assert got == pytest.approx([(1 + math.cos(math.pi * c / i)) / 2 for c, i in zip(t_cur, t_i)])


def test_one_cycle_shape_and_momentum() -> None:
    opt = _sgd(momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=12, pct_start=0.5, anneal_strategy="linear")
    lrs, moms = [], []
    for _ in range(12):
        lrs.append(sched.get_last_lr()[0])
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        if len(lrs) < 12:
            sched.step()
    # linear from max_lr / 25 up to max_lr at step 0.5 * 12 - 1 = 5, then down to (max_lr / 25) / 1e4 at step 11
    low, top, end = 1.0 / 25, 1.0, 1.0 / 25 / 1e4
    assert lrs[:6] == pytest.approx([low + (top - low) * t / 5 for t in range(6)])
    assert lrs[5:] == pytest.approx([top + (end - top) * t / 6 for t in range(7)])
    # momentum moves the other way: from 0.95 down to 0.85 at the peak, back to 0.95
    assert moms[:6] == pytest.approx([0.95 - 0.1 * t / 5 for t in range(6)])
    assert moms[-1] == pytest.approx(0.95)


def test_sequential_and_chained() -> None:
    opt = _sgd()
    seq = lr_scheduler.SequentialLR(
        opt, [lr_scheduler.ConstantLR(opt, 0.1, 10), lr_scheduler.ExponentialLR(opt, 0.5)], milestones=[2]
    )
    assert _lrs(seq, opt, 5) == pytest.approx([0.1, 0.1, 1.0, 0.5, 0.25])
    opt = _sgd()
    chain = lr_scheduler.ChainedScheduler([lr_scheduler.ConstantLR(opt, 0.5, 2), lr_scheduler.ExponentialLR(opt, 0.5)])
    assert _lrs(chain, opt, 4) == pytest.approx([0.5, 0.25, 0.25, 0.125])
    sd = chain.state_dict()
    assert len(sd["_schedulers"]) == 2 and "optimizer" not in sd
