"""plugrad.nn against PyTorch: layers (copying weights), activations, losses and their gradients."""

from __future__ import annotations

import math

import plugrad
import pytest
from plugrad import nn
from plugrad.nn import functional as F
from plugrad.testing import assert_close

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle

TF = torch.nn.functional


def both(values, dtype="float64", requires_grad=True):
    """The same values as a plugrad tensor and a torch tensor."""
    p = plugrad.tensor(values, dtype=getattr(plugrad, dtype), requires_grad=requires_grad)
    t = torch.tensor(values, dtype=getattr(torch, dtype), requires_grad=requires_grad)
    return p, t


def flat(x):
    v = x.detach().reshape(-1).tolist()
    return v


def from_torch(t):
    """A PyTorch tensor as a plugrad tensor (DLPack: same shape, dtype and values), for assert_close."""
    return plugrad.from_dlpack(t.detach())


def compare(fn_p, fn_t, inputs, tol=1e-10):
    """Forward values and gradients of every input that requires grad."""
    ps = [i[0] for i in inputs]
    ts = [i[1] for i in inputs]
    out_p, out_t = fn_p(*ps), fn_t(*ts)
    assert_close(out_p, from_torch(out_t), rtol=tol, atol=tol, equal_nan=True)
    weights = torch.linspace(0.5, 1.5, out_t.numel(), dtype=out_t.dtype).reshape(out_t.shape)
    (out_p * plugrad.tensor(weights.tolist(), dtype=out_p.dtype)).sum().backward()
    (out_t * weights).sum().backward()
    for p, t in zip(ps, ts):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            assert_close(p.grad, from_torch(t.grad), rtol=tol, atol=tol, equal_nan=True)


def rand(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).tolist()


# ------------------------------------------------------------------ layers
def copy_weights(p_module, t_module):
    with torch.no_grad():
        for (n1, p), (n2, t) in zip(p_module.named_parameters(), t_module.named_parameters()):
            assert n1 == n2
            t.copy_(torch.tensor(p.tolist(), dtype=t.dtype))


def test_mlp_forward_and_gradients_with_copied_weights():
    pm = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    tm = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)
    ).double()
    copy_weights(pm, tm)
    assert repr(pm) == repr(tm)
    assert list(pm.state_dict()) == list(tm.state_dict())
    x = rand(7, 3)
    xp, xt = both(x)
    out_p, out_t = pm(xp), tm(xt)
    assert_close(out_p, from_torch(out_t), rtol=1e-10, atol=1e-10)
    assert out_p.grad_fn.name() == out_t.grad_fn.name()  # AddmmBackward0
    out_p.square().sum().backward()
    out_t.square().sum().backward()
    assert_close(xp.grad, from_torch(xt.grad), rtol=1e-10, atol=1e-10)
    for (_, p), (_, t) in zip(pm.named_parameters(), tm.named_parameters()):
        assert_close(p.grad, from_torch(t.grad), rtol=1e-10, atol=1e-10)


def test_linear_batched_and_vector_inputs():
    pl, tl = nn.Linear(4, 3).double(), torch.nn.Linear(4, 3).double()
    copy_weights(pl, tl)
    for shape in ((4,), (2, 5, 4)):
        xp, xt = both(torch.randn(*shape, dtype=torch.float64).tolist())
        compare(pl, tl, [(xp, xt)])


def test_linear_init_distribution_matches():
    plugrad.manual_seed(0)
    torch.manual_seed(0)
    p = nn.Linear(50, 400).weight.reshape(-1).tolist()
    t = torch.nn.Linear(50, 400).weight.reshape(-1).tolist()
    assert max(map(abs, p)) <= 1 / math.sqrt(50) and max(map(abs, t)) <= 1 / math.sqrt(50)
    var_p = sum(v * v for v in p) / len(p)
    var_t = sum(v * v for v in t) / len(t)
    assert var_p == pytest.approx(var_t, rel=0.05)


@pytest.mark.parametrize(
    "p_mod, t_mod",
    [
        (nn.ReLU(), torch.nn.ReLU()),
        (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
        (nn.Sigmoid(), torch.nn.Sigmoid()),
        (nn.Tanh(), torch.nn.Tanh()),
        (nn.GELU(), torch.nn.GELU()),
        (nn.GELU("tanh"), torch.nn.GELU("tanh")),
        (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
        (nn.LogSoftmax(dim=0), torch.nn.LogSoftmax(dim=0)),
        (nn.Flatten(), torch.nn.Flatten()),
        (nn.Identity(), torch.nn.Identity()),
    ],
    ids=lambda m: repr(m),
)
def test_activations(p_mod, t_mod):
    assert repr(p_mod) == repr(t_mod)
    x = [[-3.0, -0.5, 0.0, 0.25, 4.0], [1.0, -1.5, 2.5, -8.0, 0.75]]
    compare(p_mod, t_mod, [both(x)], tol=1e-12)


def test_gelu_float32():
    x = torch.linspace(-8, 8, 101).tolist()
    xp, xt = both(x, "float32", requires_grad=False)
    assert flat(F.gelu(xp)) == pytest.approx(flat(TF.gelu(xt)), abs=2e-6)


def test_module_reprs_match():
    pm = nn.Sequential(
        nn.Linear(2, 4, bias=False), nn.Dropout(0.1), nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4), nn.ReLU()])
    )
    tm = torch.nn.Sequential(
        torch.nn.Linear(2, 4, bias=False),
        torch.nn.Dropout(0.1),
        torch.nn.ModuleList([torch.nn.Linear(4, 4), torch.nn.Linear(4, 4), torch.nn.ReLU()]),
    )
    assert repr(pm) == repr(tm)
    for pl, tl in ((nn.MSELoss(), torch.nn.MSELoss()), (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss())):
        assert repr(pl) == repr(tl)


def test_load_state_dict_errors_match():
    pm, tm = nn.Linear(2, 3), torch.nn.Linear(2, 3)
    with pytest.raises(RuntimeError) as pe:
        pm.load_state_dict({"weight": plugrad.zeros(3, 4), "extra": plugrad.zeros(1)})
    with pytest.raises(RuntimeError) as te:
        tm.load_state_dict({"weight": torch.zeros(3, 4), "extra": torch.zeros(1)})
    assert str(pe.value) == str(te.value).replace("torch.Size", "plugrad.Size")


def test_init_helpers_match():
    for name, param in [
        ("linear", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.3),
        ("selu", None),
    ]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    for shape in [(3, 5), (4, 2, 3, 3)]:
        assert nn.init._calculate_fan_in_and_fan_out(
            plugrad.empty(*shape)
        ) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


def test_clip_grad_norm_matches():
    grads = [rand(3, 4, seed=1), rand(5, seed=2)]
    for norm_type in (2.0, 1.0, 3.0, float("inf")):
        ps = [plugrad.zeros(3, 4, dtype=plugrad.float64), plugrad.zeros(5, dtype=plugrad.float64)]
        ts = [torch.zeros(3, 4, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)]
        for p, t, g in zip(ps, ts, grads):
            p.requires_grad_(True)
            t.requires_grad_(True)
            p.grad = plugrad.tensor(g, dtype=plugrad.float64)
            t.grad = torch.tensor(g, dtype=torch.float64)
        total_p = nn.utils.clip_grad_norm_(ps, 0.5, norm_type=norm_type)
        total_t = torch.nn.utils.clip_grad_norm_(ts, 0.5, norm_type=norm_type)
        assert total_p.item() == pytest.approx(total_t.item(), rel=1e-12)
        for p, t in zip(ps, ts):
            assert_close(p.grad, from_torch(t.grad), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ losses
REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "name, kwargs",
    [("mse_loss", {}), ("l1_loss", {}), ("huber_loss", {"delta": 0.7}), ("smooth_l1_loss", {"beta": 0.5})],
)
def test_regression_losses(name, kwargs, reduction):
    x, y = both(rand(4, 3, seed=1)), both(rand(4, 3, seed=2))
    compare(
        lambda a, b: getattr(F, name)(a, b, reduction=reduction, **kwargs),
        lambda a, b: getattr(TF, name)(a, b, reduction=reduction, **kwargs),
        [x, y],
    )


CE_CASES = [
    {},
    {"weight": [0.3, 1.0, 2.0, 0.5]},
    {"ignore_index": 1},
    {"label_smoothing": 0.15},
    {"weight": [0.3, 1.0, 2.0, 0.5], "label_smoothing": 0.2, "ignore_index": 3},
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kwargs", CE_CASES, ids=lambda k: ",".join(k) or "plain")
def test_cross_entropy_class_indices(kwargs, reduction):
    logits = both(rand(6, 4, seed=3))
    target = [0, 1, 3, 2, 1, 3]
    kp = {k: (plugrad.tensor(v, dtype=plugrad.float64) if k == "weight" else v) for k, v in kwargs.items()}
    kt = {k: (torch.tensor(v, dtype=torch.float64) if k == "weight" else v) for k, v in kwargs.items()}
    compare(
        lambda a: F.cross_entropy(a, plugrad.tensor(target), reduction=reduction, **kp),
        lambda a: TF.cross_entropy(a, torch.tensor(target), reduction=reduction, **kt),
        [logits],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_spatial_and_unbatched(reduction):
    logits = both(rand(2, 3, 4, seed=4))
    target = [[0, 2, 1, 1], [2, 2, 0, 1]]
    compare(
        lambda a: F.cross_entropy(a, plugrad.tensor(target), reduction=reduction, label_smoothing=0.1),
        lambda a: TF.cross_entropy(a, torch.tensor(target), reduction=reduction, label_smoothing=0.1),
        [logits],
    )
    one = both(rand(5, seed=5))
    compare(
        lambda a: F.cross_entropy(a, plugrad.tensor(3), reduction=reduction),
        lambda a: TF.cross_entropy(a, torch.tensor(3), reduction=reduction),
        [one],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kwargs", [{}, {"weight": [0.3, 1.0, 2.0]}, {"label_smoothing": 0.25}])
def test_cross_entropy_probabilities(kwargs, reduction):
    logits = both(rand(5, 3, seed=6))
    probs = torch.softmax(torch.tensor(rand(5, 3, seed=7), dtype=torch.float64), dim=1).tolist()
    kp = {k: (plugrad.tensor(v, dtype=plugrad.float64) if k == "weight" else v) for k, v in kwargs.items()}
    kt = {k: (torch.tensor(v, dtype=torch.float64) if k == "weight" else v) for k, v in kwargs.items()}
    compare(
        lambda a, b: F.cross_entropy(a, b, reduction=reduction, **kp),
        lambda a, b: TF.cross_entropy(a, b, reduction=reduction, **kt),
        [logits, both(probs)],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction):
    logp = both(torch.log_softmax(torch.tensor(rand(6, 4, seed=8)), 1).tolist())
    target = [0, 3, 3, 1, 2, -100]
    w = [1.0, 0.5, 2.0, 0.25]
    compare(
        lambda a: F.nll_loss(
            a, plugrad.tensor(target), weight=plugrad.tensor(w, dtype=plugrad.float64), reduction=reduction
        ),
        lambda a: TF.nll_loss(
            a, torch.tensor(target), weight=torch.tensor(w, dtype=torch.float64), reduction=reduction
        ),
        [logp],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction):
    x = both(torch.rand(4, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64).tolist())
    y = both(torch.rand(4, 3, generator=torch.Generator().manual_seed(10), dtype=torch.float64).tolist())
    w = rand(4, 3, seed=11)
    compare(
        lambda a, b: F.binary_cross_entropy(a, b, weight=plugrad.tensor(w, dtype=plugrad.float64), reduction=reduction),
        lambda a, b: TF.binary_cross_entropy(a, b, weight=torch.tensor(w, dtype=torch.float64), reduction=reduction),
        [x, y],
    )
    edge = [1.0, 0.0, 0.0, 1.0]
    compare(
        lambda a: F.binary_cross_entropy(a, plugrad.tensor(edge, dtype=plugrad.float64), reduction=reduction),
        lambda a: TF.binary_cross_entropy(a, torch.tensor(edge, dtype=torch.float64), reduction=reduction),
        [both([0.0, 1.0, 0.0, 1.0])],
        tol=1e-8,  # PyTorch's 1e-12 floor on x (1 - x) is a float32 constant
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_pos_weight", [False, True])
def test_binary_cross_entropy_with_logits(reduction, with_pos_weight):
    logits = [[-200.0, -3.0, 0.0], [0.5, 40.0, 200.0]]
    target = [[0.0, 1.0, 1.0], [0.3, 0.0, 1.0]]
    pw = [2.0, 0.5, 1.5]
    x, y = both(logits), both(target)
    pwp, pwt = both(pw, requires_grad=False) if with_pos_weight else (None, None)
    inputs = [x, y] + ([(pwp, pwt)] if with_pos_weight else [])
    compare(
        lambda a, b, *c: F.binary_cross_entropy_with_logits(a, b, reduction=reduction, pos_weight=c[0] if c else None),
        lambda a, b, *c: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction, pos_weight=c[0] if c else None),
        inputs,
    )


def test_loss_errors_match():
    cases = [
        (lambda m: m.nn.functional.nll_loss(m.zeros(3, 4), m.tensor([0, 1])), ValueError),
        (lambda m: m.nn.functional.cross_entropy(m.zeros(3, 4), m.tensor([0, 1, 2]), reduction="avg"), ValueError),
        (lambda m: m.nn.functional.binary_cross_entropy(m.tensor([1.5]), m.tensor([1.0])), RuntimeError),
        (lambda m: m.nn.functional.gelu(m.zeros(1), approximate="x"), RuntimeError),
        (lambda m: m.nn.Dropout(2.0), ValueError),
    ]
    for case, exc in cases:
        with pytest.raises(exc) as pe:
            case(plugrad)
        with pytest.raises(exc) as te:
            case(torch)
        assert str(pe.value) == str(te.value)
