"""Attack on plugrad.nn: hostile arguments to layers, activations, losses and the Module API,
and the numerics of the losses at float32 extremes.

What must hold (as for core, see ``packages/core/tests/attack``): a failure is a
``TypeError``/``ValueError``/``RuntimeError``/``IndexError`` with a message (``KeyError``
and ``AttributeError`` only where PyTorch raises them: a parameter or module name with a
dot, a missing ``ModuleDict`` key, a missing attribute), never NumPy's, never a bare
``AssertionError``; the tensors involved and the module's parameters are unchanged after a
failed call; successful losses and layers match a Python reference.
``cross_entropy`` and ``binary_cross_entropy_with_logits`` stay finite (values and
gradients) for logits up to +-1e4 in float32.

``PLUGRAD_ATTACK=1`` (``nox -s attack``) draws many more examples.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable, Sequence
from typing import Any

import plugrad
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plugrad import nn
from plugrad.nn import functional as F
from plugrad.testing import assert_close

ATTACK = os.environ.get("PLUGRAD_ATTACK", "").strip() not in ("", "0")
SETTINGS = settings(
    max_examples=400 if ATTACK else 12,
    deadline=None,
    derandomize=not ATTACK,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ALLOWED = (TypeError, ValueError, RuntimeError, IndexError)


def check_error(exc: BaseException, context: str, also: tuple[type[BaseException], ...] = ()) -> None:
    assert not isinstance(exc, AssertionError), f"bare AssertionError in {context}: {exc!r}"
    assert isinstance(exc, ALLOWED + also), (
        f"undocumented {type(exc).__module__}.{type(exc).__name__} in {context}: {exc!r}"
    )
    assert type(exc).__module__.split(".")[0] not in ("numpy", "cupy"), (
        f"a backend exception leaked in {context}: {exc!r}"
    )
    assert str(exc).strip(), f"{type(exc).__name__} without a message in {context}"


def snapshot(tensors: Sequence[plugrad.Tensor]) -> list[Any]:
    return [(id(t), tuple(t.shape), t.dtype, repr(t.detach().tolist()), t._version, t.requires_grad) for t in tensors]


class Draw:
    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def choice(self, seq: Sequence[Any]) -> Any:
        return self.data.draw(st.sampled_from(list(seq)))

    def randint(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))

    def random(self) -> float:
        return self.data.draw(st.floats(0, 1, exclude_max=True))


SPECIAL = (math.nan, math.inf, -math.inf, 1e30, -1e30)
HOSTILE: tuple[Any, ...] = (None, "x", 1.5, True, [1.0, 2.0], (), {}, object(), -1, 0, 2**70, math.nan)


def tensor(
    r: Draw, shape: Sequence[int], dtype: Any = None, special: bool = True, rg: bool | None = None
) -> plugrad.Tensor:
    dtype = dtype or r.choice((plugrad.float32, plugrad.float32, plugrad.float64))
    n = math.prod(shape)
    if dtype.is_floating_point:
        vals = [r.choice(SPECIAL) if special and r.random() < 0.05 else round(r.random() * 4 - 2, 3) for _ in range(n)]
    elif dtype == plugrad.bool:
        vals = [r.random() < 0.5 for _ in range(n)]
    else:
        vals = [r.randint(-2, 4) for _ in range(n)]
    t = plugrad.tensor(vals, dtype=dtype).reshape(tuple(shape)) if n else plugrad.zeros(tuple(shape), dtype=dtype)
    t = t.detach()
    if (rg if rg is not None else (dtype.is_floating_point and r.random() < 0.5)) and dtype.is_floating_point:
        t.requires_grad_(True)
    return t


def shape_near(r: Draw, shape: Sequence[int]) -> tuple[int, ...]:
    """``shape`` itself most of the time, otherwise a neighbour: one size off, a dim more or less, empty, 0-d."""
    u = r.random()
    s = list(shape)
    if u < 0.6:
        return tuple(s)
    if u < 0.7 and s:
        i = r.randint(0, len(s) - 1)
        s[i] = max(0, s[i] + r.choice((-1, 1, 2)))
        return tuple(s)
    if u < 0.8:
        return tuple(s[1:]) if s else (1,)
    if u < 0.9:
        return (*s, 1)
    return r.choice(((), (0,), (0, *s[1:])))


def anything(r: Draw, shape: Sequence[int]) -> Any:
    u = r.random()
    if u < 0.7:
        return tensor(r, shape_near(r, shape))
    if u < 0.8:
        return tensor(r, shape, dtype=r.choice((plugrad.int64, plugrad.bool, plugrad.float64)))
    return r.choice(HOSTILE)


# ------------------------------------------------------------------ references
def _flat(t: plugrad.Tensor) -> list[float]:
    v = t.detach().tolist()
    out: list[float] = []
    stack = [v]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(float(item))
    return out


def _pointwise_loss(kind: str, x: float, y: float, p: float) -> float:
    d = x - y
    if kind == "mse_loss":
        return d * d
    if kind == "l1_loss":
        return abs(d)
    if kind == "huber_loss":
        return 0.5 * d * d if abs(d) < p else p * (abs(d) - 0.5 * p)
    return 0.5 * d * d / p if abs(d) < p else abs(d) - 0.5 * p  # smooth_l1_loss


def _f32(v: float) -> float:
    """``v`` rounded to float32 (beyond its range: infinity), as float32 arithmetic stores it."""
    try:
        return float(struct.unpack("<f", struct.pack("<f", v))[0])
    except OverflowError:
        return math.copysign(math.inf, v)


def _reduced(values: list[float], reduction: str) -> list[float]:
    if reduction == "none":
        return values
    s = math.fsum(values) if all(math.isfinite(v) for v in values) else sum(values)
    return [s if reduction == "sum" else (s / len(values) if values else math.nan)]


# ------------------------------------------------------------------ the calls
Call = Callable[[Draw], tuple[Callable[[], Any], list[plugrad.Tensor], Callable[[Any], None] | None]]


def _pointwise(kind: str) -> Call:
    def make(r: Draw) -> tuple[Callable[[], Any], list[plugrad.Tensor], Callable[[Any], None] | None]:
        shape = r.choice(((3,), (2, 3), (), (0,), (2, 1, 2)))
        x = tensor(r, shape)
        y = anything(r, shape)
        reduction = r.choice(("mean", "sum", "none", "mean", "avg", 3))
        kw: dict[str, Any] = {"reduction": reduction}
        p = 1.0
        if kind == "huber_loss":
            p = r.choice((1.0, 0.5, 0.0, -1.0, math.nan))
            kw["delta"] = p
        elif kind == "smooth_l1_loss":
            p = r.choice((1.0, 0.5, 0.0, -1.0))
            kw["beta"] = p

        def check(out: Any) -> None:
            if not isinstance(y, plugrad.Tensor) or y.shape != x.shape or y.dtype != x.dtype or p <= 0:
                return
            rnd = _f32 if x.dtype == plugrad.float32 else float
            want = [
                rnd(v)
                for v in _reduced([rnd(_pointwise_loss(kind, a, b, p)) for a, b in zip(_flat(x), _flat(y))], reduction)
            ]
            assert_close(
                _flat(out), want, rtol=2e-5, atol=2e-5, equal_nan=True, msg=lambda m: f"{m}\n{kind} {reduction}"
            )

        return (lambda: getattr(F, kind)(x, y, **kw)), [x, *([y] if isinstance(y, plugrad.Tensor) else [])], check

    return make


def _linear(r: Draw) -> tuple[Callable[[], Any], list[plugrad.Tensor], Callable[[Any], None] | None]:
    fin, fout = r.choice((0, 1, 3)), r.choice((1, 2))
    plugrad.manual_seed(r.randint(0, 1000))
    layer = nn.Linear(fin, fout, bias=r.random() < 0.7)
    x = anything(r, r.choice(((2, fin), (fin,), (2, 2, fin))))

    def check(out: Any) -> None:
        assert isinstance(x, plugrad.Tensor)
        w = layer.weight.detach().tolist()
        b = layer.bias.detach().tolist() if layer.bias is not None else [0.0] * fout
        rows = x.detach().reshape(-1, fin).tolist() if fin else [[]] * (x.numel() // max(fin, 1) if fin else 0)
        if fin == 0:
            return
        want = [sum(xi * wi for xi, wi in zip(row, w[o])) + b[o] for row in rows for o in range(fout)]
        assert out.shape == (*x.shape[:-1], fout)
        assert_close(_flat(out), want, rtol=1e-4, atol=1e-4, equal_nan=True)

    return (lambda: layer(x)), [*layer.parameters(), *([x] if isinstance(x, plugrad.Tensor) else [])], check


def _activation(r: Draw) -> tuple[Callable[[], Any], list[plugrad.Tensor], Callable[[Any], None] | None]:
    x = anything(r, r.choice(((3,), (2, 3), ())))
    name, kw = r.choice(
        (
            ("relu", {}),
            ("sigmoid", {}),
            ("tanh", {}),
            ("leaky_relu", {"negative_slope": r.choice((0.01, -1.0, "a", None))}),
            ("gelu", {"approximate": r.choice(("none", "tanh", "bad", None))}),
            ("softmax", {"dim": r.choice((0, -1, 1, 5, None, 1.5))}),
            ("log_softmax", {"dim": r.choice((0, -1, 2, None))}),
            ("dropout", {"p": r.choice((0.0, 0.5, 1.0, 1.5, -0.1, math.nan)), "training": r.choice((True, False))}),
        )
    )
    refs: dict[str, Callable[[float], float]] = {
        "relu": lambda v: max(v, 0.0) if not math.isnan(v) else v,
        "sigmoid": lambda v: v if math.isnan(v) else 1 / (1 + math.exp(-v)) if -700 < v < 700 else float(v > 0),
        "tanh": math.tanh,
    }

    def check(out: Any) -> None:
        if name in refs and isinstance(x, plugrad.Tensor) and x.dtype.is_floating_point:
            assert_close(_flat(out), [refs[name](v) for v in _flat(x)], rtol=2e-5, atol=2e-5, equal_nan=True)

    return (lambda: getattr(F, name)(x, **kw)), ([x] if isinstance(x, plugrad.Tensor) else []), check


def _classification(kind: str) -> Call:
    def make(r: Draw) -> tuple[Callable[[], Any], list[plugrad.Tensor], Callable[[Any], None] | None]:
        n, c = r.choice((2, 3, 0)), r.choice((3, 1))
        x = tensor(r, shape_near(r, (n, c)))
        u = r.random()
        if u < 0.6:
            target: Any = plugrad.tensor([r.randint(-1, c) for _ in range(n)], dtype=plugrad.int64)
        elif u < 0.75:
            target = plugrad.tensor([r.choice((-100, 0)) for _ in range(n)], dtype=plugrad.int64)
        elif u < 0.9:
            target = tensor(r, (n, c), special=False).softmax(-1).detach() if n else plugrad.zeros(0, c)
        else:
            target = anything(r, (n,))
        kw: dict[str, Any] = {"reduction": r.choice(("mean", "sum", "none", "bogus"))}
        if r.random() < 0.3:
            kw["weight"] = r.choice((plugrad.ones(c), plugrad.ones(c + 1), plugrad.tensor([2.0] * c), "w"))
        if kind == "cross_entropy" and r.random() < 0.3:
            kw["label_smoothing"] = r.choice((0.0, 0.1, 1.0, 1.5, -0.1))
        if r.random() < 0.2:
            kw["ignore_index"] = r.choice((-100, 0, 5))
        tensors = [x, *([target] if isinstance(target, plugrad.Tensor) else [])]

        def check(out: Any) -> None:
            # the common case against a hand-written reference: class indices, no extras
            if set(kw) != {"reduction"} or not isinstance(target, plugrad.Tensor) or target.dtype != plugrad.int64:
                return
            if x.shape != (n, c) or kind != "cross_entropy" or not n:
                return
            rows, ts = x.detach().tolist(), target.tolist()
            losses = []
            for row, t in zip(rows, ts):
                if t == -100:
                    continue
                m = max(row)
                if not math.isfinite(m):
                    return
                losses.append(m + math.log(math.fsum(math.exp(v - m) for v in row)) - row[t])
            if kw["reduction"] == "none" or not losses:
                return
            want = math.fsum(losses) / (len(losses) if kw["reduction"] == "mean" else 1)
            assert_close(out.item(), want, rtol=1e-4, atol=1e-4, equal_nan=True)

        return (lambda: getattr(F, kind)(x, target, **kw)), tensors, check

    return make


def _binary(kind: str) -> Call:
    def make(r: Draw) -> tuple[Callable[[], Any], list[plugrad.Tensor], Callable[[Any], None] | None]:
        shape = r.choice(((3,), (2, 2), ()))
        x = tensor(r, shape)
        if kind == "binary_cross_entropy":
            x = x.detach().sigmoid() if r.random() < 0.7 else x
        y = anything(r, shape)
        if isinstance(y, plugrad.Tensor) and y.dtype.is_floating_point and r.random() < 0.7:
            y = (y.detach() > 0).to(y.dtype)
        kw: dict[str, Any] = {"reduction": r.choice(("mean", "sum", "none"))}
        if kind == "binary_cross_entropy_with_logits" and r.random() < 0.3:
            kw["pos_weight"] = r.choice((plugrad.ones(shape[-1] if shape else 1) * 2, plugrad.ones(7), 2.0))
        if r.random() < 0.2:
            kw["weight"] = r.choice((plugrad.ones(shape) if shape else plugrad.tensor(1.0), plugrad.ones(9)))
        return (lambda: getattr(F, kind)(x, y, **kw)), [x, *([y] if isinstance(y, plugrad.Tensor) else [])], None

    return make


def _module_api(r: Draw) -> tuple[Callable[[], Any], list[plugrad.Tensor], Callable[[Any], None] | None]:
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    params = list(model.parameters())
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    u = r.choice(range(9))
    if u == 0:
        bad = dict(sd)
        key = r.choice(sorted(bad))
        change = r.choice(("drop", "shape", "dtype", "list", "extra", "none"))
        if change == "drop":
            del bad[key]
        elif change == "shape":
            bad[key] = plugrad.zeros(5, 5)
        elif change == "dtype":
            bad[key] = bad[key].to(plugrad.int64)
        elif change == "list":
            bad[key] = bad[key].tolist()
        elif change == "extra":
            bad["2.extra"] = plugrad.zeros(1)
        else:
            bad[key] = None
        strict = r.choice((True, False))
        return (lambda: model.load_state_dict(bad, strict=strict)), params, None
    if u == 1:
        return (lambda: model.load_state_dict(r.choice(([1, 2], "state", None, {1: 2})))), params, None
    if u == 2:
        name = r.choice(("a.b", "", "weight", 5, "ok"))
        value = r.choice((nn.Parameter(plugrad.ones(2)), plugrad.ones(2), None, 3))
        return (lambda: model[0].register_parameter(name, value)), params, None
    if u == 3:
        return (lambda: nn.Sequential(*r.choice(((1, 2), (nn.ReLU(), "x"), (None,))))), params, None
    if u == 4:
        idx = r.choice((0, 2, 3, -4, 1.5, "0", slice(0, 9)))
        return (lambda: model[idx]), params, None
    if u == 5:
        return (lambda: model.to(r.choice(("tpu", 7, plugrad.float64, "cuda:5", None)))), params, None
    if u == 6:
        return (
            (
                lambda: model(
                    r.choice((plugrad.ones(4, 5), [1.0, 2.0, 3.0], None, plugrad.ones(3, dtype=plugrad.int64)))
                )
            ),
            params,
            None,
        )
    if u == 7:
        return (lambda: nn.Linear(r.choice((-1, 1.5, "3", None, 2**70)), 2)), params, None
    return (lambda: nn.ModuleDict({"a": nn.ReLU()})[r.choice(("b", 0, None))]), params, None


CALLS: dict[str, Call] = {
    "mse_loss": _pointwise("mse_loss"),
    "l1_loss": _pointwise("l1_loss"),
    "huber_loss": _pointwise("huber_loss"),
    "smooth_l1_loss": _pointwise("smooth_l1_loss"),
    "linear": _linear,
    "activations": _activation,
    "cross_entropy": _classification("cross_entropy"),
    "nll_loss": _classification("nll_loss"),
    "binary_cross_entropy": _binary("binary_cross_entropy"),
    "binary_cross_entropy_with_logits": _binary("binary_cross_entropy_with_logits"),
    "module_api": _module_api,
}
#: Where PyTorch itself raises these (names with dots, missing ModuleDict keys).
PYTORCH_ALSO = {"module_api": (KeyError,)}


@pytest.mark.filterwarnings("ignore::UserWarning")  # PyTorch's broadcast and implicit-dim warnings, on purpose
@pytest.mark.parametrize("name", list(CALLS))
@SETTINGS
@given(data=st.data())
def test_hostile_arguments_to_nn(name: str, data: st.DataObject) -> None:
    call, involved, check = CALLS[name](Draw(data))
    before = snapshot(involved)
    try:
        out = call()
    except Exception as exc:
        check_error(exc, name, PYTORCH_ALSO.get(name, ()))
        assert snapshot(involved) == before, f"{name}: a failed call changed its inputs or the model's parameters"
        return
    if check is not None:
        check(out)
    if name != "module_api":
        assert snapshot(involved) == before, f"{name}: changed its inputs"


# ------------------------------------------------------------------ numerics at the extremes
def _ref_ce(row: list[float], t: int) -> float:
    m = max(row)
    return m + math.log(math.fsum(math.exp(v - m) for v in row)) - row[t]


def _ref_bce_logits(x: float, y: float) -> float:
    # max(x, 0) - x y + log(1 + exp(-|x|)), the stable form
    return max(x, 0.0) - x * y + math.log1p(math.exp(-abs(x)))


LOGITS = st.one_of(st.floats(-1e4, 1e4, width=32), st.sampled_from([1e4, -1e4, 0.0, 9999.0, -9998.5, 88.8, -104.0]))


@settings(max_examples=1500 if ATTACK else 40, deadline=None, derandomize=not ATTACK, database=None)
@given(rows=st.lists(st.lists(LOGITS, min_size=3, max_size=3), min_size=1, max_size=4), data=st.data())
def test_losses_stay_finite_for_logits_up_to_1e4_in_float32(rows: list[list[float]], data: st.DataObject) -> None:
    x = plugrad.tensor(rows, dtype=plugrad.float32, requires_grad=True)
    targets = [data.draw(st.integers(0, 2)) for _ in rows]
    ce = F.cross_entropy(x, plugrad.tensor(targets), reduction="sum")
    want = math.fsum(_ref_ce(r, t) for r, t in zip(rows, targets))
    assert math.isfinite(ce.item()), (rows, targets, ce.item(), want)
    assert_close(ce.item(), want, rtol=1e-5, atol=1e-5, msg=lambda m: f"{m}\n{rows} {targets}")
    ce.backward()
    assert x.grad is not None and bool(x.grad.isfinite().all())

    z = plugrad.tensor([v for r in rows for v in r], dtype=plugrad.float32, requires_grad=True)
    y = [float(data.draw(st.sampled_from([0.0, 1.0, 0.25]))) for _ in range(z.numel())]
    bce = F.binary_cross_entropy_with_logits(z, plugrad.tensor(y), reduction="none")
    want_b = [_ref_bce_logits(float(a), b) for a, b in zip(_flat(z), y)]
    got = _flat(bce)
    assert all(math.isfinite(g) for g in got)
    assert_close(got, want_b, rtol=1e-5, atol=1e-5, equal_nan=True)
    bce.sum().backward()
    assert z.grad is not None and bool(z.grad.isfinite().all())
    pw = F.binary_cross_entropy_with_logits(z.detach(), plugrad.tensor(y), pos_weight=plugrad.tensor(3.0))
    assert math.isfinite(pw.item())


# ------------------------------------------------------------------ fixed regressions
def test_init_refuses_impossible_distributions() -> None:
    """``uniform_(a > b)`` filled from the wrong interval and ``normal_(std < 0)`` flipped signs silently."""
    t = plugrad.zeros(4)
    with pytest.raises(RuntimeError, match=r"uniform_ expects to return a \[from, to\) range, but found from=2 > to=1"):
        nn.init.uniform_(t, 2, 1)
    with pytest.raises(RuntimeError, match=r"normal expects std >= 0\.0, but found std -1"):
        nn.init.normal_(t, 0, -1)
    with pytest.raises(RuntimeError, match="normal expects std"):
        nn.init.normal_(t, 0, math.nan)
    assert t.tolist() == [0.0] * 4
    assert all(1 <= v < 2 for v in nn.init.uniform_(t, 1, 2).tolist())
    assert nn.init.normal_(t, 5.0, 0.0).tolist() == [5.0] * 4


def test_a_failed_load_state_dict_leaves_the_module_as_it_was() -> None:
    """Before, every entry before the bad one was already copied in (as PyTorch does)."""
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    versions = [p._version for p in model.parameters()]
    new = {k: v + 1 for k, v in before.items()}
    for broken in (
        {k: v for k, v in new.items() if k != "2.bias"},  # missing key
        {**new, "2.weight": plugrad.zeros(5, 5)},  # size mismatch
        {**new, "2.weight": [[1.0, 2.0]]},  # not a tensor
        {**new, "extra": plugrad.zeros(1)},  # unexpected key
    ):
        with pytest.raises(RuntimeError, match="Error\\(s\\) in loading state_dict for Sequential"):
            model.load_state_dict(broken)
        assert all(model.state_dict()[k].tolist() == v.tolist() for k, v in before.items())
        assert [p._version for p in model.parameters()] == versions
    model.load_state_dict(new)
    assert all(model.state_dict()[k].tolist() == v.tolist() for k, v in new.items())
    model.load_state_dict({k: v.double() for k, v in before.items()})  # converted on the way in
    assert model[0].weight.dtype == plugrad.float32


def test_functional_calls_name_a_non_tensor_argument() -> None:
    """``F.sigmoid``/``F.tanh`` of a non-tensor, and a ``weight`` that is no tensor, raised AttributeError."""
    for fn in (F.sigmoid, F.tanh):
        with pytest.raises(TypeError, match=r"argument 'input' \(position 1\) must be Tensor, not list"):
            fn([1.0])  # type: ignore[arg-type]
    for loss in (F.cross_entropy, F.nll_loss):
        with pytest.raises(TypeError, match=r"argument 'weight' \(position 3\) must be Tensor, not str"):
            loss(plugrad.zeros(2, 3), plugrad.tensor([0, 1]), weight="w")  # type: ignore[arg-type]
