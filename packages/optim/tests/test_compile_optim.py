"""Optimizers under ``plugrad.compile``: a compiled training step replays (no fallback to
eager) and gives bit-identical losses, parameters, gradients and optimizer state to the
same steps run eagerly; a scheduler between compiled calls changes the result exactly as
in eager mode. The model is written with plain tensors (this package is tested without
plugrad-nn); with plugrad-nn installed, one test runs an ``nn.Sequential`` as well.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import plugrad
import pytest
from plugrad import optim
from plugrad.compiler import CompileWarning
from plugrad.optim import _common, lr_scheduler

STEPS = 8


def make_model(seed: int = 0, dtype: Any = plugrad.float32) -> list[plugrad.Tensor]:
    """The parameters of Linear(4, 8) -> Tanh -> Linear(8, 2), initialised as nn.Linear does."""
    plugrad.manual_seed(seed)
    b1, b2 = 1 / math.sqrt(4), 1 / math.sqrt(8)
    shapes = [((8, 4), b1), ((8,), b1), ((2, 8), b2), ((2,), b2)]
    return [((plugrad.rand(*s, dtype=dtype) * 2 - 1) * b).requires_grad_() for s, b in shapes]


def forward(params: list[plugrad.Tensor], x: plugrad.Tensor) -> plugrad.Tensor:
    w1, b1, w2, b2 = params
    return plugrad.tanh(x @ w1.t() + b1) @ w2.t() + b2


def data(dtype: Any = plugrad.float32) -> tuple[plugrad.Tensor, plugrad.Tensor]:
    plugrad.manual_seed(123)
    return plugrad.randn(16, 4, dtype=dtype), plugrad.randn(16, 2, dtype=dtype)


def make_step(params: list[plugrad.Tensor], opt: optim.Optimizer) -> Callable[..., plugrad.Tensor]:
    def step(x: plugrad.Tensor, y: plugrad.Tensor) -> plugrad.Tensor:
        opt.zero_grad()
        loss = ((forward(params, x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return step


CONVERTED: dict[str, Callable[[list[plugrad.Tensor]], optim.Optimizer]] = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd-momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "sgd-dampening": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01),
    "sgd-nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "sgd-maximize": lambda ps: optim.SGD(ps, lr=0.01, momentum=0.5, maximize=True),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adam-wd-amsgrad": lambda ps: optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True),
    "adam-maximize": lambda ps: optim.Adam(ps, lr=0.01, maximize=True),
    "adam-beta0": lambda ps: optim.Adam(ps, lr=0.01, betas=(0.0, 0.5)),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "adamw-amsgrad": lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1, amsgrad=True),
    "adam-decoupled": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.05, decoupled_weight_decay=True),
    "adamax": lambda ps: optim.Adamax(ps, lr=0.01, weight_decay=0.01),
    "nadam": lambda ps: optim.NAdam(ps, lr=0.01),
    "nadam-decoupled": lambda ps: optim.NAdam(ps, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    "nadam-no-decay": lambda ps: optim.NAdam(ps, lr=0.01, momentum_decay=0.0),
    "radam": lambda ps: optim.RAdam(ps, lr=0.01),
    "radam-decoupled": lambda ps: optim.RAdam(
        ps, lr=0.01, betas=(0.5, 0.9), weight_decay=0.1, decoupled_weight_decay=True
    ),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01),
    "rmsprop-centered-momentum": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True, weight_decay=0.01),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1),
    "adagrad-decay": lambda ps: optim.Adagrad(
        ps, lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1
    ),
}


def assert_state_equal(a: optim.Optimizer, b: optim.Optimizer) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert list(sa["state"]) == list(sb["state"])
    for k in sa["state"]:
        ea, eb = sa["state"][k], sb["state"][k]
        assert list(ea) == list(eb)
        for name in ea:
            va, vb = ea[name], eb[name]
            if isinstance(va, plugrad.Tensor):
                assert isinstance(vb, plugrad.Tensor) and va.dtype == vb.dtype, (k, name)
                assert plugrad.equal(va, vb), (k, name, va, vb)
            else:
                assert va == vb, (k, name)


def run_both(
    make_opt: Callable[[list[plugrad.Tensor]], optim.Optimizer],
    steps: int = STEPS,
    dtype: Any = plugrad.float32,
    between: Callable[[optim.Optimizer, int], None] | None = None,
) -> tuple[Any, Any]:
    """``steps`` eager steps and ``steps`` compiled ones on two identical models; both runs' records."""
    x, y = data(dtype)
    runs = []
    for compiled in (False, True):
        params = make_model(dtype=dtype)
        opt = make_opt(params)
        fn = make_step(params, opt)
        if compiled:
            fn = plugrad.compile(fn)
        losses = []
        for i in range(steps):
            losses.append(fn(x, y))
            if between is not None:
                between(opt, i)
        runs.append((params, opt, losses, fn))
    return runs[0], runs[1]


def assert_identical(eager: Any, comp: Any) -> None:
    (p1, o1, l1, _), (p2, o2, l2, _) = eager, comp
    for i, (a, b) in enumerate(zip(l1, l2)):
        assert plugrad.equal(a, b), f"loss {i}: {a.item()!r} != {b.item()!r}"
    for a, b in zip(p1, p2):
        assert plugrad.equal(a, b)
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            assert plugrad.equal(a.grad, b.grad)
    assert_state_equal(o1, o2)


def assert_replayed(fn: Any) -> None:
    entries = list(fn._cache.values())
    assert entries, "nothing was recorded"
    for e in entries:
        assert e.eager is None, e.eager
        assert e.programs, "no program replays"


@pytest.mark.parametrize("name", list(CONVERTED))
def test_compiled_step_is_bit_identical_and_replays(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        eager, comp = run_both(CONVERTED[name])
    assert_identical(eager, comp)
    assert_replayed(comp[3])


@pytest.mark.parametrize(
    "name", ["sgd-nesterov", "adam-wd-amsgrad", "adamw", "nadam", "radam", "adamax", "adagrad-decay"]
)
def test_float64_parameters(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        eager, comp = run_both(CONVERTED[name], dtype=plugrad.float64)
    assert_identical(eager, comp)
    assert_replayed(comp[3])


def test_many_steps_cross_the_early_steps_of_radam_and_keep_matching() -> None:
    # RAdam switches from the un-rectified to the rectified update after a few steps; NAdam's
    # momentum schedule and the bias corrections keep changing: 40 replays stay bit-identical
    for make in (CONVERTED["radam"], CONVERTED["nadam"], CONVERTED["adam"]):
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileWarning)
            eager, comp = run_both(make, steps=40)
        assert_identical(eager, comp)
        assert_replayed(comp[3])


def test_scheduler_between_compiled_calls_matches_eager() -> None:
    # the learning rate is a scalar input of the recorded step: a new rate replays the same
    # program (test_compile_schedulers.py has per-batch schedules)
    def sched(opt: optim.Optimizer, i: int) -> None:
        s = opt.__dict__.setdefault("_test_sched", lr_scheduler.StepLR(opt, step_size=5, gamma=0.5))
        s.step()

    for name in ("adam", "sgd-momentum", "adagrad-decay", "nadam", "radam", "rmsprop"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileWarning)
            eager, comp = run_both(CONVERTED[name], steps=14, between=sched)
        assert_identical(eager, comp)
        assert (
            eager[1].param_groups[0]["lr"]
            == comp[1].param_groups[0]["lr"]
            != CONVERTED[name]([plugrad.zeros(1)]).defaults["lr"]
        )
        assert_replayed(comp[3])
        # one program for every learning rate
        entry = next(iter(comp[3]._cache.values()))
        assert len(entry.programs) == 1 and entry.recordings <= 4


def test_changed_betas_record_again() -> None:
    def change(opt: optim.Optimizer, i: int) -> None:
        if i == 4:
            opt.param_groups[0]["betas"] = (0.5, 0.9)
            opt.param_groups[0]["eps"] = 1e-3

    eager, comp = run_both(CONVERTED["adam"], steps=10, between=change)
    assert_identical(eager, comp)


def test_load_state_dict_then_continue_compiled() -> None:
    x, y = data()
    # reference: 10 eager steps
    ref = make_model()
    ref_opt = optim.Adam(ref, lr=0.01, amsgrad=True)
    ref_step = make_step(ref, ref_opt)
    ref_losses = [ref_step(x, y) for _ in range(10)]
    # 4 compiled steps, checkpoint, a fresh optimizer loads it and continues compiled
    params = make_model()
    opt = optim.Adam(params, lr=0.01, amsgrad=True)
    f = plugrad.compile(make_step(params, opt))
    losses = [f(x, y) for _ in range(4)]
    sd = opt.state_dict()
    assert all(
        type(st["step"]) is plugrad.Tensor and st["step"].dtype == plugrad.float32 for st in sd["state"].values()
    )
    opt2 = optim.Adam(params, lr=0.01, amsgrad=True)
    opt2.load_state_dict(sd)
    g = plugrad.compile(make_step(params, opt2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        losses += [g(x, y) for _ in range(6)]
    assert all(plugrad.equal(a, b) for a, b in zip(ref_losses, losses))
    assert all(plugrad.equal(a, b) for a, b in zip(ref, params))
    assert_state_equal(ref_opt, opt2)
    assert_replayed(g)


def test_load_state_dict_into_the_compiled_optimizer_records_again() -> None:
    x, y = data()
    params = make_model()
    opt = optim.Adam(params, lr=0.01)
    f = plugrad.compile(make_step(params, opt))
    for _ in range(4):
        f(x, y)
    sd = copy.deepcopy(opt.state_dict())  # state_dict() holds the live state tensors
    snapshot = [p.detach().clone() for p in params]
    for _ in range(3):
        f(x, y)
    # rewind: the parameters and the optimizer go back 3 steps; the compiled step must use the
    # loaded state tensors (new objects), not the ones it recorded
    with plugrad.no_grad():
        for p, s in zip(params, snapshot):
            p.copy_(s)
    opt.load_state_dict(sd)
    after = [f(x, y) for _ in range(3)]
    ref = make_model()
    ref_opt = optim.Adam(ref, lr=0.01)
    ref_step = make_step(ref, ref_opt)
    ref_losses = [ref_step(x, y) for _ in range(7)]
    assert all(plugrad.equal(a, b) for a, b in zip(ref_losses[4:], after))
    assert_state_equal(ref_opt, opt)


def test_state_dict_matches_eager_layout() -> None:
    eager, comp = run_both(CONVERTED["nadam"], steps=4)
    for o in (eager[1], comp[1]):
        st = o.state_dict()["state"][0]
        assert list(st) == ["step", "mu_product", "exp_avg", "exp_avg_sq"]
        assert st["step"].dtype == plugrad.float32 and st["step"].item() == 4.0


def test_beta_too_close_to_one_falls_back_to_eager_correctly() -> None:
    # the bias corrections would need a table of millions of steps: the step reads its count
    # into Python as in eager mode, so the compiled function runs eagerly, with a warning
    make = lambda ps: optim.Adam(ps, lr=0.01, betas=(0.9, 1 - 1e-6))  # noqa: E731
    with pytest.warns(CompileWarning, match="read into Python"):
        eager, comp = run_both(make)
    assert_identical(eager, comp)
    assert all(e.eager is not None for e in comp[3]._cache.values())


def test_lbfgs_under_compile_runs_eagerly_and_matches() -> None:
    x, y = data()
    runs = []
    for compiled in (False, True):
        params = make_model()
        opt = optim.LBFGS(params, lr=0.5, max_iter=4)

        def closure(params: list[plugrad.Tensor] = params, opt: optim.Optimizer = opt) -> plugrad.Tensor:
            opt.zero_grad()
            loss = ((forward(params, x) - y) ** 2).mean()
            loss.backward()
            return loss

        def step(opt: optim.Optimizer = opt, closure: Any = closure) -> Any:
            return opt.step(closure)

        fn = plugrad.compile(step) if compiled else step
        if compiled:
            with pytest.warns(CompileWarning):
                losses = [fn() for _ in range(3)]
        else:
            losses = [fn() for _ in range(3)]
        runs.append((params, losses))
    (p1, l1), (p2, l2) = runs
    assert all(plugrad.equal(a, b) for a, b in zip(l1, l2))
    assert all(plugrad.equal(a, b) for a, b in zip(p1, p2))


def test_step_tables_end_where_the_values_settle() -> None:
    from plugrad.optim.adam import _bias_corrections, _table

    t = _table(0.9, 0.999)
    assert t is not None and 30_000 < t.last < 60_000
    for k in (1, 2, 3, 1000, t.last - 1, t.last):
        assert (t.columns[0][k], t.columns[1][k]) == _bias_corrections(0.9, 0.999, float(k))
    for k in range(t.last, t.last + 2000):
        assert _bias_corrections(0.9, 0.999, float(k)) == (1.0, 1.0)
    # no table for a base outside [0, 1), for rows that never settle, or for rows that raise
    assert _common.step_table(("test-base", 1), lambda k: (1.0,), (1.0,), (1.0,)) is None
    assert _common.step_table(("test-never",), lambda k: (k,), (0.0,), ()) is None
    assert _common.step_table(("test-raises",), lambda k: (1 / (k - k),), (0.0,), ()) is None
    # a step count past the table's end reads its last row
    step = plugrad.tensor(float(t.last + 12345))
    (v,) = t.lookup(step, ((0, plugrad.float64),), step.device)
    assert v.item() == 1.0


def test_eager_steps_do_not_touch_the_compile_machinery() -> None:
    # outside plugrad.compile the step reads its count into Python as it always did
    params = make_model()
    opt = optim.Adam(params, lr=0.01)
    make_step(params, opt)(*data())
    assert opt.state[params[0]]["step"].item() == 1.0


def test_nn_sequential_model_when_plugrad_nn_is_installed() -> None:
    nn = pytest.importorskip(
        "plugrad.nn", reason="plugrad-nn is not installed here (the optim session tests without it)"
    )
    import plugrad.nn.functional as F

    x, y = data()
    runs = []
    for compiled in (False, True):
        plugrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
        opt = optim.AdamW(model.parameters(), lr=0.01, amsgrad=True)

        def step(x: plugrad.Tensor, y: plugrad.Tensor, model: Any = model, opt: Any = opt) -> plugrad.Tensor:
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = plugrad.compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileWarning)
            losses = [fn(x, y) for _ in range(STEPS)]
        runs.append((list(model.parameters()), opt, losses, fn))
    assert_identical(*runs)
    assert_replayed(runs[1][3])


@pytest.mark.parametrize("change", ["clear", "replace-buffer", "replace-step", "add-group"])
def test_state_replaced_between_compiled_calls_records_again(change: str) -> None:
    # the replay must update the tensors the step would find now, not the recorded ones
    def between(opt: optim.Optimizer, i: int) -> None:
        if i != 3:
            return
        p = opt.param_groups[0]["params"][0]
        if change == "clear":
            opt.state.clear()
        elif change == "replace-buffer":
            opt.state[p]["exp_avg"] = plugrad.zeros_like(p)
        elif change == "replace-step":
            opt.state[p]["step"] = plugrad.tensor(1.0)
        else:
            opt.add_param_group({"params": [plugrad.zeros(2, requires_grad=True)]})

    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        eager, comp = run_both(CONVERTED["adam-wd-amsgrad"], steps=9, between=between)
    assert_identical(eager, comp)
    assert_replayed(comp[3])
    assert len(next(iter(comp[3]._cache.values())).programs) == 2


def test_steps_past_the_end_of_the_step_table() -> None:
    # with small betas the table ends after about 80 counts: later steps read its last row
    make = lambda ps: optim.Adam(ps, lr=0.01, betas=(0.5, 0.6))  # noqa: E731
    from plugrad.optim.adam import _table

    table = _table(0.5, 0.6)
    assert table is not None and table.last < 100
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        eager, comp = run_both(make, steps=table.last + 20)
    assert_identical(eager, comp)
    assert_replayed(comp[3])


def _random_configs(n: int) -> list[tuple[str, Callable[[list[plugrad.Tensor]], optim.Optimizer]]]:
    import random

    rng = random.Random(12)
    out: list[tuple[str, Callable[[list[plugrad.Tensor]], optim.Optimizer]]] = []
    for _ in range(n):
        kind = rng.choice(["Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adagrad"])
        kw: dict[str, Any] = {"lr": rng.choice([1e-3, 0.05, rng.random() * 0.1]), "maximize": rng.random() < 0.3}
        kw["weight_decay"] = rng.choice([0, 0.01, rng.random() * 0.1])
        if kind != "Adagrad":
            kw["betas"] = (
                rng.choice([0.0, 0.8, 0.9, rng.random() * 0.99]),
                rng.choice([0.9, 0.999, rng.random() * 0.999]),
            )
        if kind in ("Adam", "AdamW"):
            kw["amsgrad"] = rng.random() < 0.5
        if kind in ("Adam", "NAdam", "RAdam"):
            kw["decoupled_weight_decay"] = rng.random() < 0.5
        if kind == "NAdam":
            kw["momentum_decay"] = rng.choice([0.0, 4e-3, rng.random() * 0.05])
        if kind == "Adagrad":
            kw["lr_decay"] = rng.choice([0, 0.01, rng.random()])
        cls = getattr(optim, kind)
        out.append((f"{kind}({kw})", lambda ps, cls=cls, kw=kw: cls(ps, **kw)))
    return out


@pytest.mark.parametrize("config", _random_configs(10), ids=lambda c: c[0])
def test_random_hyperparameters(config: tuple[str, Callable[[list[plugrad.Tensor]], optim.Optimizer]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        eager, comp = run_both(config[1], steps=12)
    assert_identical(eager, comp)
    assert_replayed(comp[3])


@pytest.mark.parametrize(
    "name", ["sgd-nesterov", "adamw-amsgrad", "adamax", "nadam", "radam", "rmsprop", "adagrad-decay"]
)
def test_fullgraph_records_without_a_break(name: str) -> None:
    x, y = data()
    params = make_model()
    f = plugrad.compile(make_step(params, CONVERTED[name](params)), fullgraph=True)
    for _ in range(4):
        f(x, y)
    assert_replayed(f)
