"""Linear, containers, activations, dropout, init, gradient clipping."""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict

import plugrad
import pytest
from _nn_helpers import check_grads
from plugrad import nn
from plugrad.nn import functional as F


# ------------------------------------------------------------------ Linear
def test_linear_forward_hand_computed():
    lin = nn.Linear(2, 2)
    with plugrad.no_grad():
        lin.weight.copy_(plugrad.tensor([[1.0, 2.0], [3.0, -1.0]]))
        lin.bias.copy_(plugrad.tensor([0.5, -0.5]))
    x = plugrad.tensor([[1.0, 1.0], [2.0, 0.0]])
    # row 1: [1+2+0.5, 3-1-0.5]; row 2: [2+0+0.5, 6-0-0.5]
    assert lin(x).tolist() == [[3.5, 1.5], [2.5, 5.5]]
    assert lin(plugrad.tensor([1.0, 1.0])).tolist() == [3.5, 1.5]  # 1-D input
    assert lin(plugrad.ones(3, 4, 2)).shape == (3, 4, 2)  # batch dims


def test_linear_without_bias_and_repr():
    lin = nn.Linear(3, 1, bias=False)
    assert lin.bias is None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    assert repr(lin) == "Linear(in_features=3, out_features=1, bias=False)"
    assert repr(nn.Linear(1, 1)) == "Linear(in_features=1, out_features=1, bias=True)"
    assert nn.Linear(2, 2, dtype=plugrad.float64).weight.dtype is plugrad.float64


def test_linear_default_init_bounds():
    plugrad.manual_seed(0)
    lin = nn.Linear(16, 300)
    bound = 1 / math.sqrt(16)  # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    w = lin.weight.reshape(-1).tolist()
    assert max(abs(v) for v in w) <= bound
    assert max(abs(v) for v in w) > 0.95 * bound  # 4800 samples reach the edges
    assert abs(sum(w) / len(w)) < 0.02
    var = sum(v * v for v in w) / len(w)
    assert var == pytest.approx(bound**2 / 3, rel=0.1)  # variance of U(-a, a) is a^2 / 3
    b = lin.bias.tolist()
    assert max(abs(v) for v in b) <= bound


def test_linear_errors():
    lin = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(4x2 and 3x2\)"):
        lin(plugrad.ones(4, 2))
    with pytest.raises(RuntimeError, match="mat1 and mat2 must have the same dtype, but got Double and Float"):
        lin(plugrad.ones(4, 3, dtype=plugrad.float64))
    with pytest.raises(ValueError, match="non-negative int"):
        nn.Linear(-1, 2)


def test_linear_function_is_one_node_and_matches_the_composed_gradients(f64):
    x = f64([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    w = f64([[0.1, 0.2, 0.3], [-0.4, 0.5, -0.6]])
    b = f64([0.7, -0.8])
    y = F.linear(x, w, b)
    assert y.grad_fn.name() == "AddmmBackward0"
    # PyTorch's graph: addmm(bias, x, weight.t()), so the edges are the bias, the input and TBackward0 of the weight
    (nb, _), (nx, _), (nt, _) = y.grad_fn.next_functions
    assert [type(n).__name__ for n in (nb, nx, nt)] == ["AccumulateGrad", "AccumulateGrad", "TBackward0"]
    assert nb.variable is b and nx.variable is x and nt.next_functions[0][0].variable is w
    g = f64([[1.0, -2.0], [0.5, 3.0]], requires_grad=False)
    gx, gw, gb = plugrad.autograd.grad(y, (x, w, b), g)
    composed = x @ w.t() + b
    cx, cw, cb = plugrad.autograd.grad(composed, (x, w, b), g)
    assert y.reshape(-1).tolist() == pytest.approx(composed.reshape(-1).tolist(), abs=1e-15)
    for a, c in ((gx, cx), (gw, cw), (gb, cb)):
        assert a.reshape(-1).tolist() == pytest.approx(c.reshape(-1).tolist(), abs=1e-14)
    check_grads(lambda: (F.linear(x, w, b) * g).sum(), [x, w, b])


def test_linear_gradients_batched_and_second_order(f64):
    x = f64([[[0.5, -1.0], [2.0, 1.0]], [[0.0, 0.3], [-0.2, 0.9]]])
    w = f64([[0.1, -0.2], [0.3, 0.4], [0.5, -0.6]])
    check_grads(lambda: (F.linear(x, w) ** 2).sum(), [x, w])
    # d/dw of sum(d loss / dx) (create_graph through the Function's backward)
    (gx,) = plugrad.autograd.grad((F.linear(x, w) ** 2).sum(), x, create_graph=True)
    gx.sum().backward()
    assert w.grad is not None and w.grad.shape == w.shape


def test_linear_second_order_against_numerical(f64):
    x = f64([[0.5, -1.0], [2.0, 1.0]])
    w = f64([[0.1, -0.2], [0.3, 0.4]])

    def grad_norm():
        (gx,) = plugrad.autograd.grad((F.linear(x, w) ** 2).sum(), x, create_graph=True)
        return (gx * gx).sum()

    check_grads(grad_norm, [w], atol=1e-5)


# ------------------------------------------------------------------ containers
def test_sequential_indexing_slicing_len_append():
    a, b, c = nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c
    assert list(seq) == [a, b, c]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c] and list(sub._modules) == ["1", "2"]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and isinstance(seq[3], nn.Sigmoid)
    with pytest.raises(IndexError, match="index 7 is out of range"):
        seq[7]
    del seq[0]
    assert list(seq._modules) == ["0", "1", "2"] and seq[0] is b
    seq.insert(0, a)
    assert seq[0] is a and seq[1] is b
    seq[1] = nn.Tanh()
    assert isinstance(seq[1], nn.Tanh)
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(1, 1)), ("act", nn.ReLU())]))
    assert list(named._modules) == ["fc", "act"] and isinstance(named.fc, nn.Linear)
    x = plugrad.tensor([[2.0]])
    assert named(x).tolist() == named.act(named.fc(x)).tolist()


def test_sequential_forward_chains():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    x = plugrad.randn(4, 2)
    assert seq(x).tolist() == seq[2](seq[1](seq[0](x))).tolist()


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    assert len(layers) == 5 and isinstance(layers[-1], nn.Tanh)
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and len(layers) == 6
    assert repr(nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU()])) == (
        "ModuleList(\n  (0-1): 2 x Linear(in_features=2, out_features=2, bias=True)\n  (2): ReLU()\n)"
    )
    assert repr(nn.ModuleList()) == "ModuleList()"

    d = nn.ModuleDict({"enc": nn.Linear(2, 2), "act": nn.ReLU()})
    assert list(d) == ["enc", "act"] and "enc" in d and len(d) == 2
    d["dec"] = nn.Linear(2, 1)
    assert list(d.keys()) == ["enc", "act", "dec"]
    assert [n for n, _ in d.named_parameters()] == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    assert isinstance(d.pop("act"), nn.ReLU) and len(d) == 2


def test_flatten_and_identity():
    x = plugrad.ones(2, 3, 4)
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert nn.Identity(5, foo=1)(x) is x


# ------------------------------------------------------------------ activations
def test_activation_values():
    x = plugrad.tensor([-2.0, 0.0, 3.0])
    assert nn.ReLU()(x).tolist() == [0.0, 0.0, 3.0]
    assert nn.LeakyReLU(0.1)(x).tolist() == pytest.approx([-0.2, 0.0, 3.0])
    assert nn.Sigmoid()(x).tolist() == pytest.approx([1 / (1 + math.exp(2)), 0.5, 1 / (1 + math.exp(-3))], rel=1e-6)
    assert nn.Tanh()(x).tolist() == pytest.approx([math.tanh(-2), 0.0, math.tanh(3)], rel=1e-6)
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"


def test_gelu_exact_and_tanh_against_math():
    xs = [-6.0, -3.0, -1.0, -0.1, 0.0, 0.5, 1.0, 2.5, 7.0]
    x = plugrad.tensor(xs, dtype=plugrad.float64)
    exact = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in xs]
    assert F.gelu(x).tolist() == pytest.approx(exact, abs=1e-14)
    approx = [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))) for v in xs]
    assert nn.GELU("tanh")(x).tolist() == pytest.approx(approx, abs=1e-14)
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        F.gelu(x, approximate="fast")


def test_erf_accuracy_and_gradient(f64):
    xs = [i / 8 for i in range(-48, 49)] + [1e-8, -1e-8, 12.0, -30.0]
    x = plugrad.tensor(xs, dtype=plugrad.float64)
    assert F.erf(x).tolist() == pytest.approx([math.erf(v) for v in xs], abs=1e-14)
    x32 = plugrad.tensor(xs)
    assert F.erf(x32).tolist() == pytest.approx([math.erf(v) for v in xs], abs=5e-7)
    assert math.isnan(F.erf(plugrad.tensor([float("nan")])).item())
    t = f64([-1.5, -0.2, 0.0, 0.7, 2.0])
    check_grads(lambda: F.erf(t).sum(), [t])
    check_grads(lambda: F.gelu(t).sum(), [t])
    check_grads(lambda: F.gelu(t, approximate="tanh").sum(), [t])


@pytest.mark.parametrize("fn", [F.relu, F.sigmoid, F.tanh, lambda v: F.leaky_relu(v, 0.2)])
def test_activation_gradients(f64, fn):
    t = f64([-1.5, -0.2, 0.3, 2.0])
    w = plugrad.tensor([1.0, 2.0, 3.0, 4.0], dtype=plugrad.float64)
    check_grads(lambda: (fn(t) * w).sum(), [t])


def test_softmax_and_log_softmax():
    x = plugrad.tensor([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0]], dtype=plugrad.float64)
    e = [math.exp(1), math.exp(2), math.exp(3)]
    s = sum(e)
    out = nn.Softmax(dim=1)(x).tolist()
    assert out[0] == pytest.approx([v / s for v in e], rel=1e-12)
    assert out[1] == pytest.approx([0.5, 0.5, 0.0], abs=1e-12)  # no overflow
    ls = nn.LogSoftmax(dim=1)(x).tolist()
    assert ls[0] == pytest.approx([math.log(v / s) for v in e], rel=1e-12)
    assert ls[1][:2] == pytest.approx([-math.log(2)] * 2) and ls[1][2] == pytest.approx(-2000 - math.log(2))
    assert F.softmax(x, dim=0).sum(0).tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_softmax_implicit_dim_warns():
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = F.softmax(plugrad.ones(2, 4))
    assert out.tolist() == [[0.25] * 4] * 2


def test_softmax_gradients(f64):
    x = f64([[0.5, -1.0, 2.0], [0.1, 0.2, -0.3]])
    w = plugrad.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], dtype=plugrad.float64)
    check_grads(lambda: (F.softmax(x, dim=1) * w).sum(), [x])
    check_grads(lambda: (F.log_softmax(x, dim=0) * w).sum(), [x])


def test_dropout_train_and_eval():
    plugrad.manual_seed(0)
    drop = nn.Dropout(p=0.25)
    x = plugrad.ones(20000)
    y = drop(x)
    assert all(v == 0.0 or v == pytest.approx(1 / 0.75) for v in y.tolist())
    zeros = sum(1 for v in y.tolist() if v == 0.0)
    assert zeros / 20000 == pytest.approx(0.25, abs=0.02)
    assert y.mean().item() == pytest.approx(1.0, abs=0.03)  # scaled to keep the expectation
    drop.eval()
    assert drop(x) is x
    assert F.dropout(x, 1.0).sum().item() == 0.0
    with pytest.raises(ValueError, match=r"dropout probability has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


def test_dropout_gradient_uses_the_same_mask():
    plugrad.manual_seed(1)
    x = plugrad.ones(100, requires_grad=True)
    y = F.dropout(x, 0.5)
    y.sum().backward()
    assert x.grad.tolist() == y.detach().tolist()


# ------------------------------------------------------------------ init
def test_calculate_gain():
    assert nn.init.calculate_gain("linear") == 1
    assert nn.init.calculate_gain("sigmoid") == 1
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert nn.init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert nn.init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert nn.init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        nn.init.calculate_gain("foo")
    with pytest.raises(ValueError, match="negative_slope x not a valid number"):
        nn.init.calculate_gain("leaky_relu", "x")  # type: ignore[arg-type]


def test_fans_and_errors():
    assert nn.init._calculate_fan_in_and_fan_out(plugrad.empty(3, 5)) == (5, 3)
    assert nn.init._calculate_fan_in_and_fan_out(plugrad.empty(4, 2, 3, 3)) == (18, 36)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(plugrad.empty(3))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        nn.init.kaiming_uniform_(plugrad.empty(3, 3), mode="fan_avg")


@pytest.mark.parametrize(
    "init, bound",
    [
        (lambda t: nn.init.xavier_uniform_(t), math.sqrt(6 / (40 + 60))),
        (lambda t: nn.init.xavier_uniform_(t, gain=2.0), 2 * math.sqrt(6 / (40 + 60))),
        (lambda t: nn.init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2) * math.sqrt(3 / 40)),
        (lambda t: nn.init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(2) * math.sqrt(3 / 60)),
        (lambda t: nn.init.uniform_(t, -0.3, 0.3), 0.3),
    ],
)
def test_uniform_inits_stay_in_bounds_and_have_the_right_variance(init, bound):
    plugrad.manual_seed(0)
    t = plugrad.empty(60, 40)
    assert init(t) is t
    v = t.reshape(-1).tolist()
    assert max(abs(x) for x in v) <= bound and max(abs(x) for x in v) > 0.95 * bound
    assert sum(x * x for x in v) / len(v) == pytest.approx(bound**2 / 3, rel=0.08)


@pytest.mark.parametrize(
    "init, std",
    [
        (lambda t: nn.init.xavier_normal_(t), math.sqrt(2 / (40 + 60))),
        (lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu"), math.sqrt(2 / 40)),
        (lambda t: nn.init.normal_(t, 1.0, 0.5), 0.5),
    ],
)
def test_normal_inits_have_the_right_std(init, std):
    plugrad.manual_seed(0)
    t = init(plugrad.empty(60, 40))
    v = t.reshape(-1).tolist()
    mean = sum(v) / len(v)
    assert (sum((x - mean) ** 2 for x in v) / len(v)) ** 0.5 == pytest.approx(std, rel=0.05)


def test_constant_inits_and_no_grad():
    p = nn.Parameter(plugrad.empty(2, 2))
    nn.init.constant_(p, 0.5)
    assert p.tolist() == [[0.5, 0.5], [0.5, 0.5]] and p.grad_fn is None and p.requires_grad
    assert nn.init.zeros_(p).sum().item() == 0.0
    assert nn.init.ones_(p).sum().item() == 4.0
    assert nn.init.eye_(plugrad.empty(2, 3)).tolist() == [[1, 0, 0], [0, 1, 0]]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        nn.init.kaiming_uniform_(plugrad.empty(0, 3))
    assert "zero-element" in str(w[0].message)


# ------------------------------------------------------------------ gradient clipping
def _with_grads(*grads):
    params = []
    for g in grads:
        p = nn.Parameter(plugrad.zeros(len(g)))
        p.grad = plugrad.tensor(g)
        params.append(p)
    return params


def test_clip_grad_norm():
    params = _with_grads([3.0, 0.0], [0.0, 4.0])  # total 2-norm 5
    total = nn.utils.clip_grad_norm_(params, max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    coef = 1.0 / (5.0 + 1e-6)
    assert params[0].grad.tolist() == pytest.approx([3 * coef, 0.0])
    assert params[1].grad.tolist() == pytest.approx([0.0, 4 * coef])
    small = _with_grads([0.3, 0.4])
    assert nn.utils.clip_grad_norm_(small, 1.0).item() == pytest.approx(0.5)
    assert small[0].grad.tolist() == pytest.approx([0.3, 0.4])  # never scaled up


def test_clip_grad_norm_other_norms_and_errors():
    params = _with_grads([3.0, -7.0], [1.0])
    assert nn.utils.clip_grad_norm_(params, 100.0, norm_type=float("inf")).item() == pytest.approx(7.0)
    assert nn.utils.clip_grad_norm_(params, 100.0, norm_type=1).item() == pytest.approx(11.0)
    bad = _with_grads([float("inf"), 1.0])
    with pytest.raises(
        RuntimeError, match=r"The total norm of order 2.0 for gradients from `parameters` is non-finite"
    ):
        nn.utils.clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([nn.Parameter(plugrad.ones(1))], 1.0).item() == 0.0


def test_clip_grad_value():
    params = _with_grads([3.0, -0.5, -7.0])
    nn.utils.clip_grad_value_(params, 1.0)
    assert params[0].grad.tolist() == [1.0, -0.5, -1.0]
