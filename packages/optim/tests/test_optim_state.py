"""Optimizer state dicts (layout, round trips through plugrad.save) and learning-rate schedulers."""

from __future__ import annotations

import math
import warnings

import plugrad
import pytest
from plugrad import optim
from plugrad.optim import lr_scheduler


def make_params(seed=0):
    plugrad.manual_seed(seed)
    return [plugrad.randn(3, 2, requires_grad=True), plugrad.randn(2, requires_grad=True)]


def loss_of(params, k):
    w, b = params
    x = plugrad.tensor([[1.0, 2.0], [0.5, -1.0], [k * 0.1, 1.0]])
    return ((x @ w.t() + b.sum()) ** 2).mean()


def train(opt, params, steps, start=0):
    for k in range(start, start + steps):
        opt.zero_grad()
        loss_of(params, k).backward()
        opt.step()


OPTIMIZERS = [
    lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=0.01),
    lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
]


def test_state_dict_layout():
    a, b = plugrad.ones(2, requires_grad=True), plugrad.ones(1, requires_grad=True)
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = plugrad.ones(2), plugrad.ones(1)
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert list(sd["state"]) == [0, 1]
    assert list(sd["state"][0]) == ["step", "exp_avg", "exp_avg_sq"]
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][1]["params"] == [1]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert list(sd["param_groups"][0])[-1] == "params"


@pytest.mark.parametrize("make", OPTIMIZERS, ids=["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_training_continues_identically_after_a_checkpoint(tmp_path, make):
    # reference: 6 uninterrupted steps
    ref = make_params()
    opt = make(ref)
    train(opt, ref, 6)
    # 3 steps, save everything, rebuild from the file, 3 more steps
    params = make_params()
    opt = make(params)
    train(opt, params, 3)
    plugrad.save({"params": [p.detach() for p in params], "optimizer": opt.state_dict(), "step": 3}, tmp_path / "ck.st")
    ck = plugrad.load(tmp_path / "ck.st")
    resumed = [p.clone().requires_grad_(True) for p in ck["params"]]
    opt2 = make(resumed)
    opt2.load_state_dict(ck["optimizer"])
    train(opt2, resumed, 3, start=ck["step"])
    for r, p in zip(ref, resumed):
        assert p.tolist() == r.tolist()  # bit for bit


def test_load_state_dict_copies_and_casts():
    p = plugrad.ones(2, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = plugrad.ones(2)
    opt.step()
    q = plugrad.ones(2, dtype=plugrad.float64, requires_grad=True)
    opt2 = optim.SGD([q], lr=0.5, momentum=0.5)
    opt2.load_state_dict(opt.state_dict())
    buf = opt2.state[q]["momentum_buffer"]
    assert buf.dtype is plugrad.float64 and buf.tolist() == [1.0, 1.0]
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.param_groups[0]["params"][0] is q
    opt.state[p]["momentum_buffer"].add_(1)
    assert buf.tolist() == [1.0, 1.0]  # not shared with the source


def test_load_state_dict_errors():
    a, b = plugrad.ones(1, requires_grad=True), plugrad.ones(1, requires_grad=True)
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)


# ------------------------------------------------------------------ schedulers
def lrs(scheduler_factory, epochs, lr=1.0, groups=1):
    params = [{"params": [plugrad.ones(1, requires_grad=True)]} for _ in range(groups)]
    opt = optim.SGD(params, lr=lr)
    sched = scheduler_factory(opt)
    seen = [sched.get_last_lr()[0]]
    for _ in range(epochs):
        opt.step()
        sched.step()
        seen.append(sched.get_last_lr()[0])
        assert opt.param_groups[0]["lr"] == seen[-1]
    return seen


def test_step_lr():
    assert lrs(lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5), 6) == [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125]


def test_multi_step_lr():
    out = lrs(lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.1), 6)
    assert out == pytest.approx([1, 1, 0.1, 0.1, 0.1, 0.001, 0.001])  # a repeated milestone applies twice


def test_exponential_lr():
    assert lrs(lambda o: lr_scheduler.ExponentialLR(o, gamma=0.5), 3) == [1, 0.5, 0.25, 0.125]


def test_cosine_annealing_lr_matches_the_closed_form():
    out = lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.1), 8)
    closed = [0.1 + 0.9 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(9)]
    assert out == pytest.approx(closed, abs=1e-12)  # a full period: down to eta_min and back up


def test_lambda_lr():
    assert lrs(lambda o: lr_scheduler.LambdaLR(o, lambda e: 1 / (e + 1)), 3, lr=0.6) == pytest.approx(
        [0.6, 0.3, 0.2, 0.15]
    )
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        lrs(lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), 1, groups=2)


def test_scheduler_sets_initial_lr_and_state_dict():
    p = plugrad.ones(1, requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    assert opt.param_groups[0]["initial_lr"] == 1.0 and sched.base_lrs == [1.0]
    opt.step()
    sched.step()
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 1 and sd["_last_lr"] == [0.5]
    opt2 = optim.SGD([p], lr=1.0)
    sched2 = lr_scheduler.StepLR(opt2, step_size=1, gamma=0.5)
    sched2.load_state_dict(sd)
    assert sched2.last_epoch == 1 and sched2.get_last_lr() == [0.5]
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(optim.SGD([p], lr=1.0), step_size=1, last_epoch=3)


def test_scheduler_state_round_trips_through_a_file(tmp_path):
    p = plugrad.ones(1, requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = lr_scheduler.MultiStepLR(opt, milestones=[1, 3])
    opt.step()
    sched.step()
    plugrad.save(sched.state_dict(), tmp_path / "s.st")
    sched2 = lr_scheduler.MultiStepLR(optim.SGD([p], lr=1.0), milestones=[])
    sched2.load_state_dict(plugrad.load(tmp_path / "s.st"))
    assert sched2.milestones == {1: 1, 3: 1} and sched2.last_epoch == 1


def test_scheduler_before_optimizer_warns():
    opt = optim.SGD([plugrad.ones(1, requires_grad=True)], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt2 = optim.SGD([plugrad.ones(1, requires_grad=True)], lr=1.0)
    sched2 = lr_scheduler.StepLR(opt2, step_size=1)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched2.step()


def test_reduce_lr_on_plateau():
    opt = optim.SGD([plugrad.ones(1, requires_grad=True)], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5, cooldown=1, min_lr=0.2)
    seen = []
    for metric in [5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]:
        sched.step(metric)
        seen.append(opt.param_groups[0]["lr"])
    # the 2nd epoch without improvement (more than patience=1) halves the rate, then one
    # cooldown epoch does not count; the rate never goes below min_lr=0.2
    assert seen == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2]
    assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]


def test_reduce_lr_on_plateau_exact_sequence_and_modes():
    opt = optim.SGD([plugrad.ones(1, requires_grad=True)], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.1, threshold=0.1, threshold_mode="abs")
    out = []
    for metric in [1.0, 1.05, 1.2, 1.2]:
        sched.step(metric)
        out.append(opt.param_groups[0]["lr"])
    # 1.0 improves on -inf; 1.05 is not better by 0.1 -> reduce; 1.2 is better; 1.2 again -> reduce
    assert out == pytest.approx([1.0, 0.1, 0.1, 0.01])
    with pytest.raises(ValueError, match=r"Factor should be < 1.0."):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown!"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="avg")
    with pytest.raises(ValueError, match="threshold mode x is unknown!"):
        lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="x")
