"""LayerNorm, RMSNorm, GroupNorm, BatchNorm1d/2d: hand-computed values, running statistics, float64
gradient checks (first and second order), reprs and errors; oracle tests compare with PyTorch."""

from __future__ import annotations

import math

import plugrad
import pytest
from plugrad import nn
from plugrad.autograd import gradcheck, gradgradcheck
from plugrad.nn import functional as F
from plugrad.testing import assert_close

F64 = plugrad.float64


def r(*shape: int, seed: int = 0, requires_grad: bool = True) -> plugrad.Tensor:
    plugrad.manual_seed(seed)
    return plugrad.randn(*shape, dtype=F64).requires_grad_(requires_grad)


# ------------------------------------------------------------------------ by hand
def test_layer_norm_by_hand() -> None:
    x = plugrad.tensor([[1.0, 2.0, 3.0, 6.0]])  # mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5
    s = math.sqrt(3.5 + 1e-5)
    assert_close(
        F.layer_norm(x, (4,)).detach().double().reshape(-1),
        plugrad.tensor([[-2 / s, -1 / s, 0.0, 3 / s]], dtype=F64).reshape(-1),
        rtol=0.0,
        atol=1e-6,
    )
    w, b = plugrad.tensor([1.0, 2.0, 3.0, 4.0]), plugrad.tensor([0.5, 0.0, 0.0, -1.0])
    assert_close(
        F.layer_norm(x, 4, w, b).detach().double().reshape(-1),
        plugrad.tensor([[-2 / s + 0.5, -2 / s, 0.0, 12 / s - 1.0]], dtype=F64).reshape(-1),
        rtol=0.0,
        atol=1e-6,
    )
    ln = nn.LayerNorm(4)
    assert_close(
        ln(x).detach().double().reshape(-1),
        plugrad.tensor([[-2 / s, -1 / s, 0.0, 3 / s]], dtype=F64).reshape(-1),
        rtol=0.0,
        atol=1e-6,
    )
    assert ln(x).grad_fn.name() == "NativeLayerNormBackward0"


def test_rms_norm_by_hand() -> None:
    x = plugrad.tensor([[3.0, 4.0]])  # mean square 12.5
    assert_close(
        F.rms_norm(x, (2,), eps=0.0).detach().double().reshape(-1),
        plugrad.tensor([[3 / math.sqrt(12.5), 4 / math.sqrt(12.5)]], dtype=F64).reshape(-1),
        rtol=0.0,
        atol=1e-6,
    )
    assert_close(
        nn.RMSNorm(2, eps=0.5)(x).detach().double().reshape(-1),
        plugrad.tensor([[3 / math.sqrt(13.0), 4 / math.sqrt(13.0)]], dtype=F64).reshape(-1),
        rtol=0.0,
        atol=1e-6,
    )
    # eps=None: the dtype's machine epsilon
    assert_close(
        F.rms_norm(plugrad.zeros(1, 2, dtype=F64), (2,)).detach().double().reshape(-1),
        plugrad.tensor([[0.0, 0.0]], dtype=F64).reshape(-1),
        rtol=0.0,
        atol=1e-6,
    )


def test_group_norm_by_hand() -> None:
    x = plugrad.tensor([[[1.0], [3.0], [10.0], [10.0]]])  # 2 groups: (1, 3) and (10, 10)
    out = F.group_norm(x, 2, eps=0.0 + 1e-12)
    assert_close(
        out.detach().double().reshape(-1),
        plugrad.tensor([[[-1.0], [1.0], [0.0], [0.0]]], dtype=F64).reshape(-1),
        rtol=0.0,
        atol=1e-6,
    )
    gn = nn.GroupNorm(2, 4)
    with plugrad.no_grad():
        gn.weight.copy_(plugrad.tensor([1.0, 2.0, 1.0, 1.0]))
        gn.bias.fill_(1.0)
    assert_close(
        gn(x).detach().double().reshape(-1),
        plugrad.tensor(
            [[[1 - 1 / math.sqrt(1 + 1e-5)], [1 + 2 / math.sqrt(1 + 1e-5)], [1.0], [1.0]]], dtype=F64
        ).reshape(-1),
        rtol=0.0,
        atol=1e-6,
    )


def test_batch_norm_running_stats_by_hand() -> None:
    bn = nn.BatchNorm1d(1, momentum=0.5)
    x = plugrad.tensor([[1.0], [3.0]])  # mean 2, biased var 1, unbiased var 2
    assert_close(
        bn(x).detach().double().reshape(-1),
        plugrad.tensor([[-1 / math.sqrt(1 + 1e-5)], [1 / math.sqrt(1 + 1e-5)]], dtype=F64).reshape(-1),
        rtol=0.0,
        atol=1e-6,
    )
    assert_close(
        bn.running_mean.detach().double().reshape(-1), plugrad.tensor([1.0], dtype=F64).reshape(-1), rtol=0.0, atol=1e-6
    )  # 0.5 * 0 + 0.5 * 2
    assert_close(
        bn.running_var.detach().double().reshape(-1), plugrad.tensor([1.5], dtype=F64).reshape(-1), rtol=0.0, atol=1e-6
    )  # 0.5 * 1 + 0.5 * 2 (unbiased)
    assert bn.num_batches_tracked.item() == 1 and bn.num_batches_tracked.dtype is plugrad.int64
    bn.eval()
    assert_close(
        bn(plugrad.tensor([[1.0]])).detach().double().reshape(-1),
        plugrad.tensor([[0.0]], dtype=F64).reshape(-1),
        rtol=0.0,
        atol=1e-6,
    )
    assert_close(
        bn(plugrad.tensor([[2.5]])).detach().double().reshape(-1),
        plugrad.tensor([[1.5 / math.sqrt(1.5 + 1e-5)]], dtype=F64).reshape(-1),
        rtol=0.0,
        atol=1e-6,
    )
    assert bn.num_batches_tracked.item() == 1  # eval does not count


def test_batch_norm_cumulative_average_momentum_none() -> None:
    bn = nn.BatchNorm1d(1, momentum=None)
    for batch in ([[0.0], [2.0]], [[4.0], [6.0]], [[8.0], [10.0]]):
        bn(plugrad.tensor(batch))
    assert_close(
        bn.running_mean.detach().double().reshape(-1), plugrad.tensor([5.0], dtype=F64).reshape(-1), rtol=0.0, atol=1e-6
    )  # (1 + 5 + 9) / 3
    assert_close(
        bn.running_var.detach().double().reshape(-1), plugrad.tensor([2.0], dtype=F64).reshape(-1), rtol=0.0, atol=1e-6
    )  # each unbiased var is 2
    assert bn.num_batches_tracked.item() == 3


def test_batch_norm_empty_batch_keeps_running_stats() -> None:
    bn = nn.BatchNorm1d(3)
    assert tuple(bn(plugrad.zeros(0, 3)).shape) == (0, 3)
    assert bn.running_mean.tolist() == [0.0, 0.0, 0.0] and bn.running_var.tolist() == [1.0, 1.0, 1.0]


def test_batch_norm_without_tracking_and_without_affine() -> None:
    bn = nn.BatchNorm2d(2, affine=False, track_running_stats=False)
    assert bn.running_mean is None and bn.num_batches_tracked is None and bn.weight is None
    assert [n for n, _ in bn.named_buffers()] == []
    x = r(3, 2, 2, 2, seed=1, requires_grad=False)
    bn.eval()  # no running statistics: batch statistics even in eval
    out = bn(x)
    assert_close(
        out.mean((0, 2, 3)).detach().double().reshape(-1),
        plugrad.tensor([0.0, 0.0], dtype=F64).reshape(-1),
        rtol=0.0,
        atol=1e-12,
    )
    assert_close(
        out.var((0, 2, 3), unbiased=False).detach().double().reshape(-1),
        plugrad.tensor([1.0, 1.0], dtype=F64).reshape(-1),
        rtol=0.0,
        atol=1e-4,
    )
    tracked = nn.BatchNorm2d(2)
    assert sorted(tracked.state_dict()) == ["bias", "num_batches_tracked", "running_mean", "running_var", "weight"]


# ---------------------------------------------------------------------- gradients
def test_layer_norm_gradcheck_first_and_second_order() -> None:
    x, w, b = r(2, 3, 4, seed=1), r(3, 4, seed=2), r(3, 4, seed=3)
    assert gradcheck(lambda a, c, d: F.layer_norm(a, (3, 4), c, d), (x, w, b))
    assert gradgradcheck(lambda a, c, d: F.layer_norm(a, (4,), c[0], d[0]), (x, w, b))
    assert gradcheck(lambda a: F.layer_norm(a, (4,)), (x,))


def test_rms_and_group_norm_gradcheck() -> None:
    x, w = r(3, 5, seed=1), r(5, seed=2)
    assert gradcheck(lambda a, c: F.rms_norm(a, (5,), c, 1e-3), (x, w))
    assert gradgradcheck(lambda a, c: F.rms_norm(a, (5,), c, 1e-3), (x, w))
    x, w, b = r(2, 6, 3, seed=3), r(6, seed=4), r(6, seed=5)
    assert gradcheck(lambda a, c, d: F.group_norm(a, 3, c, d), (x, w, b))
    assert gradgradcheck(lambda a, c, d: F.group_norm(a, 2, c, d), (x, w, b))


@pytest.mark.parametrize("shape", [(4, 3), (3, 3, 2), (2, 3, 2, 2)])
def test_batch_norm_gradcheck_train_and_eval(shape: tuple[int, ...]) -> None:
    x, w, b = r(*shape, seed=1), r(3, seed=2), r(3, seed=3)
    assert gradcheck(lambda a, c, d: F.batch_norm(a, None, None, c, d, training=True), (x, w, b))
    rm, rv = r(3, seed=4, requires_grad=False), r(3, seed=5, requires_grad=False).abs() + 0.5
    assert gradcheck(lambda a, c, d: F.batch_norm(a, rm, rv, c, d, training=False), (x, w, b))
    if len(shape) == 2:
        assert gradgradcheck(lambda a, c, d: F.batch_norm(a, None, None, c, d, training=True), (x, w, b))


# --------------------------------------------------------------------- reprs, init, errors
def test_reprs_and_init() -> None:
    # PyTorch 2.13's format (it names the bias since 2.1)
    assert repr(nn.LayerNorm(10)) == "LayerNorm((10,), eps=1e-05, elementwise_affine=True, bias=True)"
    assert repr(nn.LayerNorm([2, 3], elementwise_affine=False)) == (
        "LayerNorm((2, 3), eps=1e-05, elementwise_affine=False, bias=False)"
    )
    assert repr(nn.RMSNorm(4)) == "RMSNorm((4,), eps=None, elementwise_affine=True)"
    assert repr(nn.GroupNorm(2, 4)) == "GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)"
    assert repr(nn.GroupNorm(2, 4, affine=False)) == "GroupNorm(2, 4, eps=1e-05, affine=False, bias=False)"
    assert repr(nn.BatchNorm2d(6)) == "BatchNorm2d(6, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert repr(nn.BatchNorm1d(3, momentum=None)) == (
        "BatchNorm1d(3, eps=1e-05, momentum=None, affine=True, track_running_stats=True)"
    )
    ln = nn.LayerNorm(3)
    assert ln.weight.tolist() == [1.0, 1.0, 1.0] and ln.bias.tolist() == [0.0, 0.0, 0.0]
    assert nn.LayerNorm(3, bias=False).bias is None
    bn = nn.BatchNorm1d(2)
    assert bn.running_var.tolist() == [1.0, 1.0] and bn.running_mean.tolist() == [0.0, 0.0]
    from plugrad.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d
    from plugrad.nn.modules.normalization import GroupNorm, LayerNorm, RMSNorm

    assert (BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, RMSNorm) == (
        nn.BatchNorm1d,
        nn.BatchNorm2d,
        nn.GroupNorm,
        nn.LayerNorm,
        nn.RMSNorm,
    )


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (
            lambda: nn.BatchNorm1d(3)(plugrad.randn(1, 3)),
            ValueError,
            "Expected more than 1 value per channel when training, got input size plugrad.Size([1, 3])",
        ),
        (
            lambda: F.layer_norm(plugrad.randn(2, 5), (10,)),
            RuntimeError,
            "Given normalized_shape=[10], expected input with shape [*, 10], but got input of size[2, 5]",
        ),
        (
            lambda: F.group_norm(plugrad.randn(2, 5, 3), 2),
            RuntimeError,
            "Expected number of channels in input to be divisible by num_groups, but got input of shape [2, 5, 3] and "
            "num_groups=2",
        ),
        (lambda: nn.BatchNorm2d(3)(plugrad.randn(2, 3, 4)), ValueError, "expected 4D input (got 3D input)"),
        (lambda: nn.BatchNorm1d(3)(plugrad.randn(2, 3, 4, 5)), ValueError, "expected 2D or 3D input (got 4D input)"),
        (lambda: nn.GroupNorm(2, 3), ValueError, "num_channels (3) must be divisible by num_groups (2)"),
        (lambda: nn.LayerNorm(4)(plugrad.randn(2, 3)), RuntimeError, "expected input with shape [*, 4]"),
        (
            lambda: F.batch_norm(plugrad.randn(2, 3), None, None),
            RuntimeError,
            "running_mean must be defined in evaluation mode",
        ),
        (
            lambda: F.group_norm(plugrad.randn(1, 3, 1), 3),
            ValueError,
            "Expected more than 1 value per channel when training, got input size [1, 3, 1]",
        ),
        (lambda: F.layer_norm("x", (2,)), TypeError, "must be Tensor, not str"),
    ],
)
def test_errors(call, exc, message) -> None:
    with pytest.raises(exc) as info:
        call()
    assert message in str(info.value)


# ------------------------------------------------------------------------------ oracle
@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _both(torch, shape, seed):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_(True)
    return plugrad.tensor(t.tolist(), dtype=F64, requires_grad=True), t


def _from_torch(t):
    """A PyTorch tensor as a plugrad tensor (DLPack: same shape, dtype and values), for assert_close."""
    return plugrad.from_dlpack(t.detach())


def _copy(pm, tm) -> None:
    pm.load_state_dict({k: plugrad.tensor(v.tolist(), dtype=v_dtype(v)) for k, v in tm.state_dict().items()})


def v_dtype(v):
    return plugrad.int64 if str(v.dtype) == "torch.int64" else F64


@pytest.mark.oracle
@pytest.mark.parametrize(
    ("make_p", "make_t", "shape"),
    [
        (lambda: nn.LayerNorm((3, 4), dtype=F64), "LayerNorm((3, 4), dtype=torch.float64)", (2, 5, 3, 4)),
        (lambda: nn.LayerNorm(4, bias=False, dtype=F64), "LayerNorm(4, bias=False, dtype=torch.float64)", (3, 4)),
        (lambda: nn.RMSNorm(4, dtype=F64), "RMSNorm(4, dtype=torch.float64)", (2, 3, 4)),
        (lambda: nn.RMSNorm((2, 4), eps=1e-3, dtype=F64), "RMSNorm((2, 4), eps=1e-3, dtype=torch.float64)", (3, 2, 4)),
        (lambda: nn.GroupNorm(3, 6, dtype=F64), "GroupNorm(3, 6, dtype=torch.float64)", (2, 6, 3, 2)),
        (lambda: nn.GroupNorm(1, 4, affine=False), "GroupNorm(1, 4, affine=False, dtype=torch.float64)", (2, 4, 5)),
    ],
)
def test_oracle_norm_modules(torch, make_p, make_t, shape) -> None:
    tm = eval("torch.nn." + make_t, {"torch": torch})
    pm = make_p()
    if pm.weight is not None and pm.weight.dtype is not F64:
        pm.double()
    with torch.no_grad():
        for p in tm.parameters():
            p.normal_()
    _copy(pm, tm)
    assert repr(pm) == repr(tm)
    xp, xt = _both(torch, shape, 3)
    out_p, out_t = pm(xp), tm(xt)
    assert_close(out_p, _from_torch(out_t), rtol=1e-9, atol=1e-9, check_dtype=False)
    w = torch.linspace(-1, 2, out_t.numel(), dtype=torch.float64).reshape(out_t.shape)
    (out_t * w).sum().backward()
    (out_p * plugrad.tensor(w.tolist(), dtype=F64)).sum().backward()
    assert_close(xp.grad, _from_torch(xt.grad), rtol=1e-9, atol=1e-9, check_dtype=False)
    for (_name, p), (_, t) in zip(pm.named_parameters(), tm.named_parameters(), strict=True):
        assert_close(p.grad, _from_torch(t.grad), rtol=1e-9, atol=1e-9, check_dtype=False)


@pytest.mark.oracle
@pytest.mark.parametrize("cls", ["BatchNorm1d", "BatchNorm2d"])
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_oracle_batch_norm_training_and_eval(torch, cls, momentum) -> None:
    shapes = {"BatchNorm1d": [(5, 3), (4, 3, 6)], "BatchNorm2d": [(4, 3, 2, 5)]}[cls]
    tm = getattr(torch.nn, cls)(3, momentum=momentum, dtype=torch.float64)
    pm = getattr(nn, cls)(3, momentum=momentum, dtype=F64)
    with torch.no_grad():
        tm.weight.normal_()
        tm.bias.normal_()
    _copy(pm, tm)
    for step in range(3):
        for shape in shapes:
            xp, xt = _both(torch, shape, 10 + step)
            out_p, out_t = pm(xp), tm(xt)
            assert_close(out_p, _from_torch(out_t), rtol=1e-9, atol=1e-9, check_dtype=False)
            (out_t * out_t).sum().backward()
            (out_p * out_p).sum().backward()
            assert_close(xp.grad, _from_torch(xt.grad), rtol=1e-8, atol=1e-8, check_dtype=False)
    assert_close(pm.weight.grad, _from_torch(tm.weight.grad), rtol=1e-8, atol=1e-8, check_dtype=False)
    assert_close(pm.bias.grad, _from_torch(tm.bias.grad), rtol=1e-8, atol=1e-8, check_dtype=False)
    assert_close(pm.running_mean, _from_torch(tm.running_mean), rtol=1e-9, atol=1e-9, check_dtype=False)
    assert_close(pm.running_var, _from_torch(tm.running_var), rtol=1e-9, atol=1e-9, check_dtype=False)
    assert pm.num_batches_tracked.item() == tm.num_batches_tracked.item()
    pm.eval()
    tm.eval()
    xp, xt = _both(torch, shapes[0], 99)
    out_p, out_t = pm(xp), tm(xt)
    assert_close(out_p, _from_torch(out_t), rtol=1e-9, atol=1e-9, check_dtype=False)
    out_t.sum().backward()
    out_p.sum().backward()
    assert_close(xp.grad, _from_torch(xt.grad), rtol=1e-9, atol=1e-9, check_dtype=False)


@pytest.mark.oracle
def test_oracle_functional_forms(torch) -> None:
    TF = torch.nn.functional
    xp, xt = _both(torch, (3, 4, 5), 1)
    assert_close(
        F.layer_norm(xp, (5,), eps=1e-3),
        _from_torch(TF.layer_norm(xt, (5,), eps=1e-3)),
        rtol=1e-9,
        atol=1e-9,
        check_dtype=False,
    )
    assert_close(F.rms_norm(xp, (4, 5)), _from_torch(TF.rms_norm(xt, (4, 5))), rtol=1e-9, atol=1e-9, check_dtype=False)
    assert_close(F.group_norm(xp, 2), _from_torch(TF.group_norm(xt, 2)), rtol=1e-9, atol=1e-9, check_dtype=False)
    assert_close(
        F.batch_norm(xp, None, None, training=True),
        _from_torch(TF.batch_norm(xt, None, None, training=True)),
        rtol=1e-9,
        atol=1e-9,
        check_dtype=False,
    )
    assert_close(F.instance_norm(xp), _from_torch(TF.instance_norm(xt)), rtol=1e-9, atol=1e-9, check_dtype=False)
