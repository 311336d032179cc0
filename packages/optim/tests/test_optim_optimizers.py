"""Optimizers step by step against values computed by hand from their update rules."""

from __future__ import annotations

import math

import plugrad
import pytest
from plugrad import optim
from plugrad.testing import assert_close


def run(make_opt, p0, grads):
    """Apply the gradients ``grads`` one step each; return the parameter after every step."""
    p = plugrad.tensor(p0, dtype=plugrad.float64, requires_grad=True)
    opt = make_opt([p])
    out = []
    for g in grads:
        p.grad = plugrad.tensor(g, dtype=plugrad.float64)
        opt.step()
        out.append(p.tolist())
    return out


# ------------------------------------------------------------------ SGD
def test_sgd_plain():
    # p <- p - lr g
    assert_close(
        run(lambda ps: optim.SGD(ps, lr=0.1), [1.0, -2.0], [[0.5, 1.0], [0.5, -3.0]]),
        [[0.95, -2.1], [0.9, -1.8]],
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        # b1 = g; b_t = 0.9 b + g; p -= 0.1 b:  b = 0.5, 0.95, 1.355
        ({"momentum": 0.9}, [[0.95], [0.855], [0.7195]]),
        # b2 = 0.9 * 0.5 + (1 - 0.5) * 0.5 = 0.7;  b3 = 0.63 + 0.25 = 0.88
        ({"momentum": 0.9, "dampening": 0.5}, [[0.95], [0.88], [0.792]]),
        # nesterov: step with g + 0.9 b: 0.95, 1.355, 1.7195
        ({"momentum": 0.9, "nesterov": True}, [[0.905], [0.7695], [0.59755]]),
        # weight decay: g + 0.1 p = 0.6, then 0.5 + 0.094 = 0.594, then 0.5 + 0.08806 = 0.58806
        ({"weight_decay": 0.1}, [[0.94], [0.8806], [0.821794]]),
        # maximize: p += lr g
        ({"maximize": True}, [[1.05], [1.1], [1.15]]),
    ],
)
def test_sgd_options(kwargs, expected):
    assert_close(run(lambda ps: optim.SGD(ps, lr=0.1, **kwargs), [1.0], [[0.5]] * 3), expected, rtol=1e-12, atol=1e-12)


def test_sgd_momentum_buffer_state():
    p = plugrad.tensor([1.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = plugrad.tensor([0.5])
    opt.step()
    assert list(opt.state[p]) == ["momentum_buffer"]
    assert opt.state[p]["momentum_buffer"].tolist() == [0.5]
    q = plugrad.tensor([1.0], requires_grad=True)
    plain = optim.SGD([q], lr=0.1)
    q.grad = plugrad.tensor([0.5])
    plain.step()
    assert len(plain.state) == 0  # no buffers without momentum


def test_sgd_skips_parameters_without_gradients():
    a = plugrad.tensor([1.0], requires_grad=True)
    b = plugrad.tensor([1.0], requires_grad=True)
    opt = optim.SGD([a, b], lr=0.5)
    a.grad = plugrad.tensor([1.0])
    opt.step()
    assert a.tolist() == [0.5] and b.tolist() == [1.0]


# ------------------------------------------------------------------ Adam family
def adam_reference(p, grads, lr, b1, b2, eps, wd=0.0, decoupled=False, amsgrad=False, maximize=False):
    """The docstring's update rule, step by step on Python floats."""
    m = v = vmax = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if wd:
            if decoupled:
                p = p * (1 - lr * wd)
            else:
                g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = max(vmax, v)
        denom = math.sqrt(vmax if amsgrad else v) / math.sqrt(1 - b2**t) + eps
        p = p - lr / (1 - b1**t) * m / denom
        out.append([p])
    return out


GRADS = [0.5, -1.0, 0.1, 0.1, 2.0]


def test_adam_first_steps_written_out():
    # t=1: m = 0.05, v = 0.00025, denom = sqrt(0.00025 / 0.001) + 1e-8 = 0.50000001,
    #      p = 1 - (0.1 / 0.1) * 0.05 / 0.50000001
    p1 = 1 - 0.05 / 0.50000001
    # t=2: m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 = 0.00124975,
    #      denom = sqrt(0.00124975 / 0.001999) + 1e-8
    p2 = p1 - (0.1 / 0.19) * -0.055 / (math.sqrt(0.00124975 / 0.001999) + 1e-8)
    assert_close(run(lambda ps: optim.Adam(ps, lr=0.1), [1.0], [[0.5], [-1.0]]), [[p1], [p2]], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"weight_decay": 0.1},
        {"amsgrad": True},
        {"amsgrad": True, "betas": (0.9, 0.5)},
        {"maximize": True},
        {"betas": (0.5, 0.9), "eps": 1e-3},
    ],
)
def test_adam_against_the_rule(kwargs):
    b1, b2 = kwargs.get("betas", (0.9, 0.999))
    expected = adam_reference(
        1.0,
        GRADS,
        0.1,
        b1,
        b2,
        kwargs.get("eps", 1e-8),
        kwargs.get("weight_decay", 0.0),
        amsgrad=kwargs.get("amsgrad", False),
        maximize=kwargs.get("maximize", False),
    )
    assert_close(
        run(lambda ps: optim.Adam(ps, lr=0.1, **kwargs), [1.0], [[g] for g in GRADS]), expected, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adamw_decoupled_weight_decay(amsgrad):
    expected = adam_reference(1.0, GRADS, 0.1, 0.9, 0.999, 1e-8, wd=0.5, decoupled=True, amsgrad=amsgrad)
    assert_close(
        run(lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.5, amsgrad=amsgrad), [1.0], [[g] for g in GRADS]),
        expected,
        rtol=1e-12,
        atol=1e-12,
    )
    assert optim.AdamW([plugrad.ones(1, requires_grad=True)]).defaults["weight_decay"] == 1e-2


def test_amsgrad_differs_when_v_shrinks():
    a = run(lambda ps: optim.Adam(ps, lr=0.1, betas=(0.9, 0.5), amsgrad=True), [1.0], [[g] for g in GRADS])
    b = run(lambda ps: optim.Adam(ps, lr=0.1, betas=(0.9, 0.5)), [1.0], [[g] for g in GRADS])
    assert a[-1] != pytest.approx(b[-1], abs=1e-6)


def test_adam_state_layout():
    p = plugrad.ones(2, requires_grad=True)
    opt = optim.Adam([p], amsgrad=True)
    p.grad = plugrad.ones(2)
    opt.step()
    opt.step()
    st = opt.state[p]
    assert list(st) == ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
    assert st["step"].item() == 2.0 and st["step"].dtype is plugrad.float32 and st["step"].ndim == 0


# ------------------------------------------------------------------ RMSprop, Adagrad
def rmsprop_reference(p, grads, lr, alpha, eps, wd=0.0, momentum=0.0, centered=False, maximize=False):
    v = gbar = b = 0.0
    out = []
    for g in grads:
        g = -g if maximize else g
        g = g + wd * p
        v = alpha * v + (1 - alpha) * g * g
        if centered:
            gbar = alpha * gbar + (1 - alpha) * g
            avg = math.sqrt(v - gbar * gbar) + eps
        else:
            avg = math.sqrt(v) + eps
        if momentum > 0:
            b = momentum * b + g / avg
            p = p - lr * b
        else:
            p = p - lr * g / avg
        out.append([p])
    return out


def test_rmsprop_first_step_written_out():
    # v = 0.01 * 0.25 = 0.0025, avg = 0.05 + 1e-8, p = 1 - 0.01 * 0.5 / avg
    assert_close(
        run(lambda ps: optim.RMSprop(ps), [1.0], [[0.5]]), [[1 - 0.01 * 0.5 / (0.05 + 1e-8)]], rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"momentum": 0.9},
        {"centered": True},
        {"centered": True, "momentum": 0.5},
        {"weight_decay": 0.2},
        {"maximize": True},
    ],
)
def test_rmsprop_against_the_rule(kwargs):
    expected = rmsprop_reference(
        1.0,
        GRADS,
        0.01,
        0.9,
        1e-8,
        kwargs.get("weight_decay", 0.0),
        kwargs.get("momentum", 0.0),
        kwargs.get("centered", False),
        kwargs.get("maximize", False),
    )
    assert_close(
        run(lambda ps: optim.RMSprop(ps, lr=0.01, alpha=0.9, **kwargs), [1.0], [[g] for g in GRADS]),
        expected,
        rtol=1e-12,
        atol=1e-12,
    )


def test_adagrad_against_the_rule():
    # s = 0.1 + g^2, clr = lr / (1 + (t - 1) lr_decay), p -= clr g / (sqrt(s) + eps)
    p, s, out = 1.0, 0.1, []
    for t, g in enumerate(GRADS, start=1):
        g = g + 0.05 * p
        s += g * g
        p -= 0.1 / (1 + (t - 1) * 0.5) * g / (math.sqrt(s) + 1e-10)
        out.append([p])
    opt_run = run(
        lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.5, weight_decay=0.05, initial_accumulator_value=0.1),
        [1.0],
        [[g] for g in GRADS],
    )
    assert_close(opt_run, out, rtol=1e-12, atol=1e-12)
    # first step by hand: s = 0.25, p = 1 - 0.01 * 0.5 / (0.5 + eps)
    assert_close(
        run(lambda ps: optim.Adagrad(ps, lr=0.01), [1.0], [[0.5]]),
        [[1 - 0.01 * 0.5 / (0.5 + 1e-10)]],
        rtol=1e-12,
        atol=1e-12,
    )


def test_adagrad_state_exists_before_the_first_step():
    p = plugrad.ones(3, requires_grad=True)
    opt = optim.Adagrad([p], initial_accumulator_value=0.5)
    assert opt.state[p]["sum"].tolist() == [0.5] * 3 and opt.state[p]["step"].item() == 0.0


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda ps: optim.SGD(ps, lr=-0.1), "Invalid learning rate: -0.1"),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=-1), "Invalid momentum value: -1"),
        (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
        (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
        (lambda ps: optim.Adam(ps, lr=-1), "Invalid learning rate: -1"),
        (lambda ps: optim.Adam(ps, eps=-1), "Invalid epsilon value: -1"),
        (lambda ps: optim.Adam(ps, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
        (lambda ps: optim.AdamW(ps, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
        (lambda ps: optim.AdamW(ps, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
        (lambda ps: optim.RMSprop(ps, alpha=-0.5), "Invalid alpha value: -0.5"),
        (lambda ps: optim.RMSprop(ps, momentum=-0.5), "Invalid momentum value: -0.5"),
        (lambda ps: optim.Adagrad(ps, lr_decay=-1), "Invalid lr_decay value: -1"),
        (lambda ps: optim.Adagrad(ps, initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    ],
)
def test_bad_options(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make([plugrad.ones(1, requires_grad=True)])


def test_bad_parameter_lists():
    p = plugrad.ones(1, requires_grad=True)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match=r"should be an iterable of Tensors or dicts, but got plugrad.FloatTensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors, but one of the params is int"):
        optim.SGD([1], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


# ------------------------------------------------------------------ groups, zero_grad, closure
def test_param_groups_with_their_own_options():
    a = plugrad.tensor([1.0], requires_grad=True)
    b = plugrad.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[0]["momentum"] == 0
    a.grad, b.grad = plugrad.tensor([1.0]), plugrad.tensor([1.0])
    opt.step()
    assert a.tolist() == pytest.approx([0.9]) and b.tolist() == [0.5]
    c = plugrad.tensor([1.0], requires_grad=True)
    opt.add_param_group({"params": [c], "lr": 0.25})
    assert opt.param_groups[2]["momentum"] == 0 and opt.param_groups[2]["nesterov"] is False
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_zero_grad():
    p = plugrad.ones(2, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * 3).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None


def test_step_with_closure():
    p = plugrad.tensor([2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()  # gradient 2 p
        loss.backward()
        return loss

    with plugrad.no_grad():  # the closure still gets grad mode
        loss = opt.step(closure)
    assert loss.item() == 4.0 and p.tolist() == [1.0]  # 2 - 0.25 * 4


def test_repr():
    opt = optim.SGD([plugrad.ones(1, requires_grad=True)], lr=0.1, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n    dampening: 0\n    differentiable: False\n")
    assert "    lr: 0.1\n" in text and "    momentum: 0.9\n" in text and text.endswith(")")


def test_training_reduces_a_quadratic():
    for make in (
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: optim.Adam(ps, lr=0.1),
        lambda ps: optim.AdamW(ps, lr=0.1),
        lambda ps: optim.RMSprop(ps, lr=0.05),
        lambda ps: optim.Adagrad(ps, lr=1.0),
    ):
        p = plugrad.tensor([3.0, -2.0], requires_grad=True)
        opt = make([p])
        for _ in range(200):
            opt.zero_grad()
            ((p - 1) ** 2).sum().backward()
            opt.step()
        assert p.tolist() == pytest.approx([1.0, 1.0], abs=0.05)
