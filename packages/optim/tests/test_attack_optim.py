"""Attack on plugrad.optim: hostile optimizer arguments, parameter groups, gradients and
state dicts; flat memory over long training runs; threads.

What must hold: a failure is a ``TypeError``/``ValueError``/``RuntimeError``/``IndexError``
(``KeyError`` only where PyTorch raises it: a parameter group without ``"params"``) with a
message, never a backend's exception; the parameters and the optimizer's state are
unchanged after a failed ``step`` or ``load_state_dict``; a step with NaN or infinite
gradients does not crash (the parameters become NaN/inf, as in PyTorch).

Long runs: 10,000 steps of the main demo (``y = W x + b`` by SGD on the mean squared
error) and of a small MLP (Adam) keep the process's resident memory flat (sampled from
``/proc/self/statm``), with the garbage collector off. The models here are written with
plugrad tensors (this package is tested without plugrad-nn); with plugrad-nn installed
(``nox -s attack``) the same runs use ``nn.Linear``/``nn.MSELoss`` too.

``PLUGRAD_ATTACK=1`` (``nox -s attack``) draws many more examples.
"""

from __future__ import annotations

import copy
import gc
import math
import os
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any

import plugrad
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plugrad import optim

ATTACK = os.environ.get("PLUGRAD_ATTACK", "").strip() not in ("", "0")
SETTINGS = settings(
    max_examples=500 if ATTACK else 15,
    deadline=None,
    derandomize=not ATTACK,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ALLOWED = (TypeError, ValueError, RuntimeError, IndexError)
OPTIMIZERS: dict[str, Any] = {
    "SGD": optim.SGD,
    "Adam": optim.Adam,
    "AdamW": optim.AdamW,
    "RMSprop": optim.RMSprop,
    "Adagrad": optim.Adagrad,
}


def check_error(exc: BaseException, context: str, also: tuple[type[BaseException], ...] = ()) -> None:
    assert not isinstance(exc, AssertionError), f"bare AssertionError in {context}: {exc!r}"
    assert isinstance(exc, ALLOWED + also), (
        f"undocumented {type(exc).__module__}.{type(exc).__name__} in {context}: {exc!r}"
    )
    assert type(exc).__module__.split(".")[0] not in ("numpy", "cupy"), (
        f"a backend exception leaked in {context}: {exc!r}"
    )
    assert str(exc).strip(), f"{type(exc).__name__} without a message in {context}"


def snapshot(params: Sequence[plugrad.Tensor], opt: Any = None) -> Any:
    out: list[Any] = [(tuple(p.shape), p.dtype, repr(p.detach().tolist()), p._version) for p in params]
    if opt is not None:
        state = {
            id(k): {n: repr(v.tolist()) if isinstance(v, plugrad.Tensor) else repr(v) for n, v in s.items()}
            for k, s in opt.state.items()
        }
        groups = [{k: repr(v) for k, v in g.items() if k != "params"} for g in opt.param_groups]
        out.append((state, groups))
    return out


class Draw:
    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def choice(self, seq: Sequence[Any]) -> Any:
        return self.data.draw(st.sampled_from(list(seq)))

    def random(self) -> float:
        return self.data.draw(st.floats(0, 1, exclude_max=True))


HOSTILE_NUMBERS = (-1.0, 0.0, math.nan, math.inf, "0.1", None, True, 2**70, -1e-12, [0.1])


def _params(r: Draw) -> list[plugrad.Tensor]:
    return [
        plugrad.tensor([0.5, -1.0], requires_grad=True),
        plugrad.tensor(
            [[1.0, 2.0], [3.0, 4.0]], dtype=r.choice((plugrad.float32, plugrad.float64)), requires_grad=True
        ),
    ]


def _kwargs(r: Draw, name: str) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    options = {
        "SGD": ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"),
        "Adam": ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"),
        "AdamW": ("lr", "betas", "eps", "weight_decay", "amsgrad"),
        "RMSprop": ("lr", "alpha", "eps", "weight_decay", "momentum", "centered"),
        "Adagrad": ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"),
    }[name]
    for opt in options:
        if r.random() < 0.35:
            if opt == "betas":
                kw[opt] = r.choice(((0.9, 0.999), (1.0, 0.9), (0.9,), (-0.1, 0.5), "ab", (math.nan, 0.9)))
            elif opt in ("nesterov", "maximize", "amsgrad", "centered"):
                kw[opt] = r.choice((True, False, "yes"))
            else:
                kw[opt] = r.choice((0.1, 0.9, *HOSTILE_NUMBERS))
    if name == "SGD" and "lr" not in kw and r.random() < 0.5:
        kw["lr"] = 0.1
    return kw


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@SETTINGS
@given(data=st.data())
def test_hostile_optimizer_arguments_and_gradients(name: str, data: st.DataObject) -> None:
    r = Draw(data)
    params = _params(r)
    kw = _kwargs(r, name)
    try:
        opt = OPTIMIZERS[name](params, **kw)
    except Exception as exc:
        check_error(exc, f"{name}({kw})")
        return
    grads = [
        r.choice(
            (
                None,
                plugrad.ones(p.shape, dtype=p.dtype),
                plugrad.full(p.shape, math.nan, dtype=p.dtype),
                plugrad.full(p.shape, math.inf, dtype=p.dtype),
                plugrad.zeros(p.shape, dtype=p.dtype),
            )
        )
        for p in params
    ]
    for p, g in zip(params, grads):
        p.grad = g
    before = snapshot(params, opt)
    try:
        opt.step()
    except Exception as exc:
        check_error(exc, f"{name}({kw}).step()")
        assert snapshot(params, opt) == before, f"{name}({kw}): a failed step changed the parameters or state"
        return
    for p, g in zip(params, grads):
        if g is None:
            continue
        values = [v for row in ([p.tolist()] if p.dim() == 1 else p.tolist()) for v in row]
        safe = {(float, 0.1), (float, 0.9), (tuple, (0.9, 0.999)), (bool, True), (bool, False)}
        sane = all((type(v), v) in safe for v in kw.values())  # no overflow, no 0/0 (eps=0 with a zero gradient)
        if bool(g.isfinite().all()) and sane:
            assert all(math.isfinite(v) for v in values), (name, kw, values)


def _steps(opt: Any, params: Sequence[plugrad.Tensor], n: int = 2) -> None:
    for _ in range(n):
        for p in params:
            p.grad = plugrad.ones(p.shape, dtype=p.dtype)
        opt.step()


def _hostile_state(r: Draw, sd: dict[str, Any]) -> tuple[str, Any]:
    sd = copy.deepcopy(sd)
    kind = r.choice(
        (
            "groups count",
            "group size",
            "lr string",
            "lr nan",
            "state shape",
            "state dtype",
            "state list",
            "state unknown param",
            "no state key",
            "not a dict",
            "params junk",
            "betas junk",
            "step junk",
        )
    )
    if kind == "groups count":
        sd["param_groups"] = sd["param_groups"] * 2
    elif kind == "group size":
        sd["param_groups"][0]["params"] = sd["param_groups"][0]["params"][:1]
    elif kind == "lr string":
        sd["param_groups"][0]["lr"] = "0.1"
    elif kind == "lr nan":
        sd["param_groups"][0]["lr"] = math.nan
    elif kind in ("state shape", "state dtype", "state list", "step junk") and sd["state"]:
        key = r.choice(sorted(sd["state"]))
        st_ = sd["state"][key]
        name = r.choice(sorted(k for k in st_ if k != "step") or ["step"])
        if kind == "state shape":
            st_[name] = plugrad.ones(7)
        elif kind == "state dtype":
            st_[name] = (
                plugrad.ones(st_[name].shape, dtype=plugrad.int64) if isinstance(st_[name], plugrad.Tensor) else 1
            )
        elif kind == "state list":
            st_[name] = [1.0, 2.0]
        else:
            st_["step"] = r.choice(("x", -5, plugrad.ones(3)))
    elif kind == "state unknown param":
        sd["state"][99] = {"momentum_buffer": plugrad.ones(2)}
    elif kind == "no state key":
        del sd["state"]
    elif kind == "not a dict":
        return kind, r.choice(([1], "sd", None))
    elif kind == "params junk":
        sd["param_groups"][0]["params"] = ["a", None]
    elif kind == "betas junk" and "betas" in sd["param_groups"][0]:
        sd["param_groups"][0]["betas"] = "xy"
    return kind, sd


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@SETTINGS
@given(data=st.data())
def test_hostile_state_dicts(name: str, data: st.DataObject) -> None:
    r = Draw(data)
    params = _params(r)
    kw = {"lr": 0.1, "momentum": 0.9} if name in ("SGD", "RMSprop") else {"lr": 0.1}
    opt = OPTIMIZERS[name](params, **kw)
    _steps(opt, params)
    kind, hostile = _hostile_state(r, opt.state_dict())
    before = snapshot(params, opt)
    try:
        opt.load_state_dict(hostile)
    except Exception as exc:
        check_error(exc, f"{name}.load_state_dict ({kind})")
        assert snapshot(params, opt) == before, f"{name} ({kind}): a failed load changed the optimizer"
        return
    # accepted: the next step must work, or fail cleanly without touching the parameters
    for p in params:
        p.grad = plugrad.ones(p.shape, dtype=p.dtype)
    before = snapshot(params)
    try:
        opt.step()
    except Exception as exc:
        check_error(exc, f"{name}.step() after loading ({kind})")
        assert snapshot(params) == before, f"{name} ({kind}): a failed step after a load changed the parameters"


def test_a_parameter_group_without_params_is_a_key_error_as_in_pytorch() -> None:
    with pytest.raises(KeyError, match="params"):
        optim.SGD([{"lr": 0.1}], lr=0.1)


# ------------------------------------------------------------------ long runs: flat memory
def _rss() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _flat_rss(step: Callable[[], None], n: int, label: str) -> None:
    """Run ``step`` ``n`` times with the collector off; RSS may not grow after the first tenth."""
    if _rss() is None:
        pytest.skip("no /proc/self/statm here to sample the resident memory")
    gc.collect()
    gc.disable()
    try:
        warm = max(n // 10, 100)
        samples = []
        for i in range(n):
            step()
            if i + 1 >= warm and (i + 1) % max(n // 20, 1) == 0:
                samples.append(_rss())
    finally:
        gc.enable()
    grown = max(samples) - samples[0]  # type: ignore[operator]
    print(
        f"\n{label}: {n} steps, RSS {samples[0] / 2**20:.1f} MiB after warm-up, {max(samples) / 2**20:.1f} MiB at most (+{grown / 2**10:.0f} KiB)"
    )  # type: ignore[operator]
    assert grown < 2**20, f"{label}: resident memory grew by {grown} bytes over {n} steps"


N_STEPS = 10_000


def test_the_demo_trains_10000_steps_in_flat_memory() -> None:
    """``y = W x + b`` by SGD on the mean squared error (the demo's math, written with tensors)."""
    plugrad.manual_seed(0)
    x = plugrad.rand(200, 1) * 2 - 1
    y = 3 * x + 2 + 0.1 * plugrad.randn(200, 1)
    w = plugrad.randn(1, 1, requires_grad=True)
    b = plugrad.zeros(1, requires_grad=True)
    opt = optim.SGD([w, b], lr=0.1)

    def step() -> None:
        opt.zero_grad()
        loss = ((x @ w.t() + b - y) ** 2).mean()
        loss.backward()
        opt.step()

    _flat_rss(step, N_STEPS, "demo (tensors + SGD)")
    assert abs(w.item() - 3) < 0.05 and abs(b.item() - 2) < 0.05


def test_a_small_mlp_trains_in_flat_memory() -> None:
    plugrad.manual_seed(1)
    sizes = [(8, 32), (32, 32), (32, 1)]
    ws = [(plugrad.randn(o, i) * (1 / i) ** 0.5).requires_grad_() for i, o in sizes]
    bs = [plugrad.zeros(o, requires_grad=True) for _, o in sizes]
    opt = optim.Adam([*ws, *bs], lr=1e-3)
    X, Y = plugrad.randn(64, 8), plugrad.randn(64, 1)

    def step() -> None:
        opt.zero_grad()
        h = X
        for k, (w, b) in enumerate(zip(ws, bs)):
            h = h @ w.t() + b
            if k < len(ws) - 1:
                h = h.relu() if k == 0 else h.tanh()
        ((h - Y) ** 2).mean().backward()
        opt.step()

    _flat_rss(step, N_STEPS if ATTACK else 2_500, "MLP 8-32-32-1 (tensors + Adam)")


def test_the_nn_demo_and_mlp_train_10000_steps_in_flat_memory() -> None:
    nn = pytest.importorskip(
        "plugrad.nn", reason="plugrad-nn is not installed here (the optim session tests without it)"
    )
    plugrad.manual_seed(0)
    x = plugrad.rand(200, 1) * 2 - 1
    y = 3 * x + 2 + 0.1 * plugrad.randn(200, 1)
    model, crit = nn.Linear(1, 1), nn.MSELoss()
    opt = optim.SGD(model.parameters(), lr=0.1)

    def demo() -> None:
        opt.zero_grad()
        crit(model(x), y).backward()
        opt.step()

    _flat_rss(demo, N_STEPS, "demo (nn.Linear + nn.MSELoss + SGD)")
    assert abs(model.weight.item() - 3) < 0.05
    mlp = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    opt2 = optim.Adam(mlp.parameters(), lr=1e-3)
    X, Y = plugrad.randn(64, 8), plugrad.randn(64, 1)

    def mlp_step() -> None:
        opt2.zero_grad()
        crit(mlp(X), Y).backward()
        opt2.step()

    _flat_rss(mlp_step, N_STEPS if ATTACK else 2_500, "MLP (nn.Sequential + Adam)")


# ------------------------------------------------------------------ threads
def _train(seed: int, steps: int, name: str, out: dict[int, list[float]]) -> None:
    rng = random.Random(seed)
    xs = plugrad.tensor([[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(32)])
    ys = xs @ plugrad.tensor([[2.0], [-1.0]]) + 0.5
    w = plugrad.tensor([[rng.gauss(0, 1) for _ in range(2)]], requires_grad=True)
    b = plugrad.tensor([0.0], requires_grad=True)
    opt = OPTIMIZERS[name]([w, b], lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        ((xs @ w.t() + b - ys) ** 2).mean().backward()
        opt.step()
    out[seed] = [*w.detach().reshape(-1).tolist(), b.item()]


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_optimizers_in_threads_match_sequential_runs_bit_for_bit(name: str) -> None:
    seeds, steps = list(range(5)), 1000 if ATTACK else 100
    sequential: dict[int, list[float]] = {}
    for s in seeds:
        _train(s, steps, name, sequential)
    concurrent: dict[int, list[float]] = {}
    threads = [threading.Thread(target=_train, args=(s, steps, name, concurrent)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert concurrent == sequential


# ------------------------------------------------------------------ fixed regressions
def test_options_of_the_wrong_kind_are_refused_when_given_not_at_the_next_step() -> None:
    """``SGD(momentum=True)`` or ``Adam(weight_decay=True)`` was accepted, and the first
    ``step()`` then failed halfway ("Boolean alpha ...") with the state already changed."""
    p = plugrad.ones(2, requires_grad=True)
    for make, match in (
        (lambda: optim.SGD([p], lr=0.1, momentum=True), "option 'momentum' must be a number, got True"),
        (lambda: optim.Adam([p], weight_decay=True), "option 'weight_decay' must be a number"),
        (lambda: optim.Adam([p], betas=(0.9, 0.999, 0.5)), "option 'betas' must be a pair of numbers"),
        (lambda: optim.SGD([{"params": [p], "lr": "fast"}], lr=0.1), "option 'lr' must be a number"),
        (lambda: optim.Adam([p], amsgrad="yes"), "option 'amsgrad' must be a bool"),
    ):
        with pytest.raises(TypeError, match=match):
            make()
    assert optim.SGD([p], lr=plugrad.tensor(0.1)).param_groups[0]["lr"].item() == pytest.approx(0.1)


def test_a_loaded_state_that_does_not_fit_is_refused_before_anything_changes() -> None:
    """A momentum buffer or moving average of another shape was loaded, and the next step
    failed (or broadcast silently); a step stored as a number broke Adam's next step."""
    p = plugrad.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    _steps(opt, [p])
    good = opt.state_dict()
    before = snapshot([p], opt)
    for change, match in (
        (
            lambda sd: sd["state"][0].__setitem__("exp_avg", plugrad.ones(5)),
            r"has shape \[5\], but the parameter has shape \[2\]",
        ),
        (lambda sd: sd["state"][0].__setitem__("exp_avg", [0.0, 0.0]), "must be a tensor, got list"),
        (lambda sd: sd["state"][0].__setitem__("step", -3), "must be a count >= 0"),
        (lambda sd: sd["param_groups"][0].__setitem__("lr", "0.1"), "option 'lr' must be a number"),
    ):
        bad = copy.deepcopy(good)
        change(bad)
        with pytest.raises((ValueError, TypeError), match=match):
            opt.load_state_dict(bad)
        assert snapshot([p], opt) == before
    old_style = copy.deepcopy(good)
    old_style["state"][0]["step"] = 2  # a plain number, as older state dicts hold it
    opt.load_state_dict(old_style)
    _steps(opt, [p], 1)
    assert opt.state[p]["step"].item() == 3.0
