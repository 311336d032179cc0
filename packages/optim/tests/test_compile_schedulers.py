"""Per-batch learning-rate schedules under ``plugrad.compile``: the options a scheduler changes
(``lr``; ``momentum`` or ``betas[0]`` where OneCycleLR cycles it) are scalar inputs of the
recorded step, so one program replays for every value: bit-identical to the same steps run
eagerly, without recording again when the rate changes and without a ``CompileWarning``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import plugrad
import pytest
from plugrad import optim
from plugrad.compiler import CompileWarning
from plugrad.optim import lr_scheduler
from test_compile_optim import assert_identical, data, make_model, make_step

CALLS = 30

OPTIMIZERS: dict[str, Callable[[list[plugrad.Tensor]], optim.Optimizer]] = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd-momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "sgd-nesterov-wd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "sgd-dampening-maximize": lambda ps: optim.SGD(ps, lr=0.01, momentum=0.5, dampening=0.3, maximize=True),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adam-wd-amsgrad": lambda ps: optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True),
    "adam-decoupled": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.05, decoupled_weight_decay=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "adamw-amsgrad": lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1, amsgrad=True),
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


def _cycles_momentum(opt: optim.Optimizer) -> bool:
    return "momentum" in opt.defaults or "betas" in opt.defaults


SCHEDULERS: dict[str, Callable[[optim.Optimizer], Any]] = {
    # OneCycleLR also cycles the momentum (or betas[0]) where the optimizer has one
    "onecycle": lambda opt: lr_scheduler.OneCycleLR(
        opt, max_lr=0.05, total_steps=CALLS + 5, cycle_momentum=_cycles_momentum(opt)
    ),
    "onecycle-linear-3phase": lambda opt: lr_scheduler.OneCycleLR(
        opt, max_lr=0.03, total_steps=CALLS, anneal_strategy="linear", three_phase=True, cycle_momentum=False
    ),
    "lambda": lambda opt: lr_scheduler.LambdaLR(opt, lambda i: 1.0 / (1.0 + 0.3 * i)),
    "cosine": lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=1e-4),
}


def run_scheduled(
    make_opt: Callable[[list[plugrad.Tensor]], optim.Optimizer],
    make_sched: Callable[[optim.Optimizer], Any],
    calls: int = CALLS,
    dtype: Any = plugrad.float32,
    step: Callable[[list[plugrad.Tensor], optim.Optimizer], Callable[..., Any]] = make_step,
) -> tuple[Any, Any]:
    """``calls`` eager and ``calls`` compiled steps, the scheduler stepped after each; both runs' records."""
    x, y = data(dtype)
    runs = []
    for compiled in (False, True):
        params = make_model(dtype=dtype)
        opt = make_opt(params)
        sched = make_sched(opt)
        fn = step(params, opt)
        if compiled:
            fn = plugrad.compile(fn)
        losses = []
        lrs = []
        for _ in range(calls):
            losses.append(fn(x, y))
            sched.step()
            lrs.append(opt.param_groups[0]["lr"])
        runs.append((params, opt, losses, fn, lrs))
    return runs[0][:4], runs[1][:4] + (runs[0][4], runs[1][4])  # type: ignore[return-value]


def assert_one_program(fn: Any, max_recordings: int = 4) -> None:
    entries = list(fn._cache.values())
    assert len(entries) == 1, entries
    (entry,) = entries
    assert entry.eager is None, entry.eager
    assert len(entry.programs) == 1, f"{len(entry.programs)} programs"
    assert entry.recordings <= max_recordings, entry.recordings


@pytest.mark.parametrize("sched", list(SCHEDULERS))
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_per_batch_schedule_replays_one_program_bit_identically(name: str, sched: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        eager, comp = run_scheduled(OPTIMIZERS[name], SCHEDULERS[sched])
    lrs_eager, lrs_comp = comp[4], comp[5]
    assert lrs_eager == lrs_comp and len(set(lrs_eager)) > CALLS // 4  # the rate did change
    assert_identical(eager, comp[:4])
    assert_one_program(comp[3])


@pytest.mark.parametrize("name", ["sgd-nesterov-wd", "adam-wd-amsgrad", "adamw", "nadam", "radam", "adamax"])
def test_float64_parameters_with_onecycle(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        eager, comp = run_scheduled(OPTIMIZERS[name], SCHEDULERS["onecycle"], dtype=plugrad.float64)
    assert_identical(eager, comp[:4])
    assert_one_program(comp[3])


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")
def test_onecycle_cycles_beta1_and_momentum() -> None:
    # the values the schedules write do change on every step (so the test above exercises them)
    params = make_model()
    adam = optim.Adam(params, lr=0.01)
    s = lr_scheduler.OneCycleLR(adam, max_lr=0.05, total_steps=10)
    b = set()
    for _ in range(5):
        s.step()
        b.add(adam.param_groups[0]["betas"][0])
    assert len(b) == 5
    sgd = optim.SGD(params, lr=0.1, momentum=0.9)
    s = lr_scheduler.OneCycleLR(sgd, max_lr=0.05, total_steps=10)
    m = set()
    for _ in range(5):
        s.step()
        m.add(sgd.param_groups[0]["momentum"])
    assert len(m) == 5


@pytest.mark.parametrize("name", ["adam", "adamw", "adamax", "radam", "nadam", "sgd-momentum"])
def test_two_steps_in_one_compiled_call(name: str) -> None:
    # a second step() of the same parameters in one call: its bias correction is not the one a
    # replay's starting step count gives, so it guards betas (a cycled beta1 records again; the
    # result stays exact)
    def two_steps(params: list[plugrad.Tensor], opt: optim.Optimizer) -> Callable[..., Any]:
        one = make_step(params, opt)

        def step(x: plugrad.Tensor, y: plugrad.Tensor) -> Any:
            a = one(x, y)
            return a, one(x * 0.5, y)

        return step

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)  # a cycled beta1 reaches the recompile limit
        eager, comp = run_scheduled(OPTIMIZERS[name], SCHEDULERS["onecycle"], calls=12, step=two_steps)
    (p1, o1, l1, _), (p2, o2, l2, _) = eager, comp[:4]
    for a, b in zip(l1, l2):
        assert plugrad.equal(a[0], b[0]) and plugrad.equal(a[1], b[1])
    assert_identical((p1, o1, [], None), (p2, o2, [], None))


def test_lr_schedule_without_momentum_cycle_on_adam_family_keeps_step_tables() -> None:
    # betas stays a guard where no scheduler cycles it: changing it records again
    def change(opt: optim.Optimizer, i: int) -> None:
        if i == 6:
            opt.param_groups[0]["betas"] = (0.5, 0.9)

    x, y = data()
    for compiled in (False, True):
        params = make_model()
        opt = optim.Adam(params, lr=0.01)
        sched = lr_scheduler.LambdaLR(opt, lambda i: 0.9**i)
        fn = make_step(params, opt)
        if compiled:
            fn = plugrad.compile(fn)
        out = []
        for i in range(12):
            out.append(fn(x, y))
            sched.step()
            change(opt, i)
        if not compiled:
            ref = (params, out)
    for a, b in zip(ref[1], out):
        assert plugrad.equal(a, b)
    for a, b in zip(ref[0], params):
        assert plugrad.equal(a, b)
    (entry,) = fn._cache.values()
    assert len(entry.programs) == 2 and entry.eager is None


def test_momentum_reaching_zero_records_again() -> None:
    # whether the momentum is zero shapes the step (no buffer update): that stays a guard
    def sched(opt: optim.Optimizer, i: int) -> None:
        opt.param_groups[0]["momentum"] = 0.0 if 5 <= i < 9 else 0.9 - 0.01 * i
        opt.param_groups[0]["lr"] = 0.1 / (1 + i)

    x, y = data()
    results = []
    for compiled in (False, True):
        params = make_model()
        opt = optim.SGD(params, lr=0.1, momentum=0.9)
        fn = make_step(params, opt)
        if compiled:
            fn = plugrad.compile(fn)
        losses = []
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileWarning)
            for i in range(16):
                losses.append(fn(x, y))
                sched(opt, i)
        results.append((params, opt, losses, fn))
    assert_identical(results[0], results[1])
    (entry,) = results[1][3]._cache.values()
    assert entry.eager is None and len(entry.programs) == 2


def test_integer_learning_rate_and_change_of_type() -> None:
    # an int lr replays as well; a float after an int records again (a replay checks the type)
    def sched(opt: optim.Optimizer, i: int) -> None:
        opt.param_groups[0]["lr"] = 1 if i < 6 else 0.5 / (i + 1)

    x, y = data()
    results = []
    for compiled in (False, True):
        params = make_model()
        opt = optim.SGD(params, lr=1, momentum=0.5)
        fn = make_step(params, opt)
        if compiled:
            fn = plugrad.compile(fn)
        losses = []
        for i in range(14):
            losses.append(fn(x, y))
            sched(opt, i)
        results.append((params, opt, losses, fn))
    assert_identical(results[0], results[1])
    (entry,) = results[1][3]._cache.values()
    assert entry.eager is None


def test_eager_steps_with_a_scheduler_do_not_touch_the_compile_machinery() -> None:
    params = make_model()
    opt = optim.Adam(params, lr=0.01)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=10)
    step = make_step(params, opt)
    for _ in range(3):
        step(*data())
        sched.step()
    assert "_option_view" not in opt.__dict__ and "_advanced_in" not in opt.__dict__
    assert math.isfinite(opt.param_groups[0]["lr"])


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda groups: optim.SGD(groups, lr=0.1, momentum=0.9),
        lambda groups: optim.Adam(groups, lr=0.01),
        lambda groups: optim.RAdam(groups, lr=0.01, weight_decay=0.01, decoupled_weight_decay=True),
        lambda groups: optim.NAdam(groups, lr=0.01),
        lambda groups: optim.RMSprop(groups, lr=0.01, momentum=0.3),
    ],
    ids=["sgd", "adam", "radam", "nadam", "rmsprop"],
)
def test_param_groups_with_their_own_schedules(make_opt: Callable[[Any], optim.Optimizer]) -> None:
    # two groups, each with its own max_lr (and momentum cycle); a parameter without a gradient
    x, y = data()
    results = []
    for compiled in (False, True):
        params = make_model()
        frozen = plugrad.zeros(3, requires_grad=True)  # never gets a gradient
        groups = [{"params": params[:2]}, {"params": [frozen, *params[2:]], "lr": 0.02}]
        opt = make_opt(groups)
        sched = lr_scheduler.OneCycleLR(opt, max_lr=[0.05, 0.01], total_steps=CALLS)
        fn = make_step(params, opt)
        if compiled:
            fn = plugrad.compile(fn)
        losses = []
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileWarning)
            for _ in range(CALLS - 1):
                losses.append(fn(x, y))
                sched.step()
        results.append((params, opt, losses, fn))
    assert_identical(results[0], results[1])
    assert_one_program(results[1][3])
    g0, g1 = results[1][1].param_groups
    assert g0["lr"] != g1["lr"]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_random_values_between_calls(name: str) -> None:
    # arbitrary rates (tiny ones that round to subnormals or zero in float32, large ones), momenta and
    # cycled beta1 values set by hand between calls: every replay bit-identical to eager
    import random

    seed = list(OPTIMIZERS).index(name)
    rng = random.Random(seed)
    values = []
    for _ in range(16):
        lr = rng.choice([rng.uniform(0, 0.1), 10 ** rng.uniform(-45, -30), rng.uniform(0.5, 3.0), 0.0, 1e-3])
        values.append((lr, rng.uniform(0.0, 0.99), rng.uniform(0.5, 0.99)))

    def change(opt: optim.Optimizer, i: int) -> None:
        lr, momentum, beta1 = values[i]
        for group in opt.param_groups:
            group["lr"] = lr
            if group.get("momentum"):
                group["momentum"] = momentum or 0.5
            if "betas" in group:
                group["max_momentum"] = 0.99  # marks betas[0] as cycled, as OneCycleLR does
                group["betas"] = (beta1, group["betas"][1])

    x, y = data()
    results = []
    for compiled in (False, True):
        params = make_model(seed)
        opt = OPTIMIZERS[name](params)
        fn = make_step(params, opt)
        if compiled:
            fn = plugrad.compile(fn)
        losses = []
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileWarning)
            warnings.filterwarnings("ignore", category=RuntimeWarning)  # overflow in a large step
            for i in range(len(values)):
                losses.append(fn(x, y))
                change(opt, i)
        results.append((params, opt, losses, fn))
    assert_identical(results[0], results[1])
    assert_one_program(results[1][3], max_recordings=5)
