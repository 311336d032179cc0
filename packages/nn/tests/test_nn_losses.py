"""Losses against hand-computed values and float64 central differences."""

from __future__ import annotations

import math
import warnings

import plugrad
import pytest
from _nn_helpers import check_grads
from plugrad import nn
from plugrad.nn import functional as F


def t64(values, requires_grad=False):
    return plugrad.tensor(values, dtype=plugrad.float64, requires_grad=requires_grad)


X = [1.0, 2.0, 3.0]
Y = [1.5, 2.0, 1.0]  # differences -0.5, 0, 2


@pytest.mark.parametrize(
    "loss, none",
    [
        (nn.MSELoss, [0.25, 0.0, 4.0]),
        (nn.L1Loss, [0.5, 0.0, 2.0]),
        (nn.HuberLoss, [0.125, 0.0, 1.5]),  # 0.5 d^2 below delta=1, delta (|d| - delta/2) above
        (nn.SmoothL1Loss, [0.125, 0.0, 1.5]),
    ],
)
def test_regression_losses_hand_computed(loss, none):
    x, y = t64(X), t64(Y)
    assert loss(reduction="none")(x, y).tolist() == pytest.approx(none)
    assert loss(reduction="sum")(x, y).item() == pytest.approx(sum(none))
    assert loss()(x, y).item() == pytest.approx(sum(none) / 3)


def test_huber_delta_and_smooth_l1_beta():
    x, y = t64(X), t64(Y)
    # delta = 0.4: |d| = 0.5 -> 0.4 (0.5 - 0.2) = 0.12 ; 2 -> 0.4 (2 - 0.2) = 0.72
    assert nn.HuberLoss(reduction="none", delta=0.4)(x, y).tolist() == pytest.approx([0.12, 0.0, 0.72])
    # beta = 4: all below -> 0.5 d^2 / 4
    assert nn.SmoothL1Loss(reduction="none", beta=4.0)(x, y).tolist() == pytest.approx([0.03125, 0.0, 0.5])


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_loss_gradients(name, reduction):
    fn = getattr(F, name)
    x = t64([0.3, -1.2, 2.5, 0.05], requires_grad=True)
    y = t64([0.1, 0.4, 0.9, -0.6], requires_grad=True)
    w = t64([1.0, -2.0, 0.5, 3.0])
    check_grads(lambda: (fn(x, y, reduction=reduction) * (w if reduction == "none" else 1.0)).sum(), [x, y])


@pytest.mark.parametrize(("name", "kw"), [("huber_loss", {"delta": 0.4}), ("smooth_l1_loss", {"beta": 4.0})])
def test_huber_and_smooth_l1_gradients_away_from_one(name, kw):
    # both branches: |d| = 0.2, 1.6, 1.6, 0.65 against delta 0.4; all inside beta 4
    x = t64([0.3, -1.2, 2.5, 0.05], requires_grad=True)
    y = t64([0.1, 0.4, 0.9, -0.6], requires_grad=True)
    check_grads(lambda: getattr(F, name)(x, y, **kw), [x, y])
    check_grads(lambda: (getattr(F, name)(x, y, reduction="none", **kw) * t64([1.0, -2.0, 0.5, 3.0])).sum(), [x, y])


def test_mse_loss_second_order():
    x = t64([0.3, -1.2], requires_grad=True)
    y = t64([0.1, 0.4])
    (g,) = plugrad.autograd.grad(F.mse_loss(x, y), x, create_graph=True)
    (gg,) = plugrad.autograd.grad(g.sum(), x)
    assert gg.tolist() == pytest.approx([1.0, 1.0])  # d/dx of 2 (x - y) / n, n = 2


def test_mse_broadcast_warning_and_bad_reduction():
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(plugrad.ones(3, 1), plugrad.ones(3))
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        F.mse_loss(plugrad.ones(3), plugrad.ones(3), reduction="foo")
    with pytest.raises(RuntimeError, match="The size of tensor a"), pytest.warns(UserWarning):
        F.mse_loss(plugrad.ones(3), plugrad.ones(4))


def _lse(row):
    m = max(row)
    return m + math.log(sum(math.exp(v - m) for v in row))


LOGITS = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0], [2.0, 2.0, -3.0]]
TARGET = [2, 0, 1]


def _ce(row, c):
    return _lse(row) - row[c]


def test_cross_entropy_class_indices_hand_computed():
    x, t = t64(LOGITS), plugrad.tensor(TARGET)
    per = [_ce(r, c) for r, c in zip(LOGITS, TARGET)]
    assert nn.CrossEntropyLoss(reduction="none")(x, t).tolist() == pytest.approx(per)
    assert nn.CrossEntropyLoss()(x, t).item() == pytest.approx(sum(per) / 3)
    assert nn.CrossEntropyLoss(reduction="sum")(x, t).item() == pytest.approx(sum(per))
    assert per[0] == pytest.approx(math.log(1 + math.exp(-1) + math.exp(-2)))
    # one sample without batch dimension
    assert F.cross_entropy(t64(LOGITS[0]), plugrad.tensor(2)).item() == pytest.approx(per[0])


def test_cross_entropy_weight_and_ignore_index():
    x, t = t64(LOGITS), plugrad.tensor(TARGET)
    w = [0.2, 1.0, 3.0]
    per = [w[c] * _ce(r, c) for r, c in zip(LOGITS, TARGET)]
    assert F.cross_entropy(x, t, weight=t64(w)).item() == pytest.approx(sum(per) / (3.0 + 0.2 + 1.0))
    assert F.cross_entropy(x, t, weight=t64(w), reduction="none").tolist() == pytest.approx(per)
    ignored = plugrad.tensor([2, -100, 1])
    assert F.cross_entropy(x, ignored).item() == pytest.approx((_ce(LOGITS[0], 2) + _ce(LOGITS[2], 1)) / 2)
    assert F.cross_entropy(x, ignored, reduction="none").tolist()[1] == 0.0
    # an ignore_index that is a real class
    assert F.cross_entropy(x, t, ignore_index=0).item() == pytest.approx((per[0] / 3.0 + _ce(LOGITS[2], 1)) / 2)


def test_cross_entropy_label_smoothing():
    x, t = t64(LOGITS), plugrad.tensor(TARGET)
    eps, c = 0.1, 3
    per = [(1 - eps) * _ce(r, k) + eps / c * sum(_lse(r) - v for v in r) for r, k in zip(LOGITS, TARGET)]
    assert F.cross_entropy(x, t, label_smoothing=eps).item() == pytest.approx(sum(per) / 3)
    assert F.cross_entropy(x, t, label_smoothing=eps, reduction="none").tolist() == pytest.approx(per)
    with pytest.raises(RuntimeError, match=r"label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, t, label_smoothing=1.5)


def test_cross_entropy_probabilities():
    x = t64(LOGITS)
    p = [[0.1, 0.2, 0.7], [1.0, 0.0, 0.0], [0.3, 0.3, 0.4]]
    per = [sum(q * (_lse(r) - v) for q, v in zip(pr, r)) for pr, r in zip(p, LOGITS)]
    assert F.cross_entropy(x, t64(p), reduction="none").tolist() == pytest.approx(per)
    assert F.cross_entropy(x, t64(p)).item() == pytest.approx(sum(per) / 3)
    w = [1.0, 2.0, 0.5]
    per_w = [sum(wc * q * (_lse(r) - v) for wc, q, v in zip(w, pr, r)) for pr, r in zip(p, LOGITS)]
    assert F.cross_entropy(x, t64(p), weight=t64(w)).item() == pytest.approx(sum(per_w) / 3)  # divides by N


def test_cross_entropy_spatial_targets():
    # (N, C, d) logits with (N, d) targets equal the per-position 2-D losses
    x = t64([[[1.0, 0.0], [2.0, -1.0]]])  # N=1, C=2, d=2
    t = plugrad.tensor([[1, 0]])
    rows = [[1.0, 2.0], [0.0, -1.0]]
    out = F.cross_entropy(x, t, reduction="none")
    assert out.shape == (1, 2)
    assert out.reshape(-1).tolist() == pytest.approx([_ce(rows[0], 1), _ce(rows[1], 0)])


@pytest.mark.parametrize("kw", [{}, {"weight": [0.5, 2.0, 1.0]}, {"label_smoothing": 0.2}, {"ignore_index": 0}])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradients(kw, reduction):
    x = t64(LOGITS, requires_grad=True)
    t = plugrad.tensor(TARGET)
    kw = {k: (t64(v) if k == "weight" else v) for k, v in kw.items()}
    w = t64([1.0, -0.5, 2.0])
    check_grads(
        lambda: (F.cross_entropy(x, t, reduction=reduction, **kw) * (w if reduction == "none" else 1.0)).sum(), [x]
    )


def test_cross_entropy_probability_gradients():
    x = t64(LOGITS, requires_grad=True)
    p = t64([[0.1, 0.2, 0.7], [1.0, 0.0, 0.0], [0.3, 0.3, 0.4]], requires_grad=True)
    check_grads(lambda: F.cross_entropy(x, p, label_smoothing=0.1), [x, p])


def test_nll_loss_hand_computed():
    logp = t64([[-1.0, -2.0, -0.5], [-0.3, -0.7, -3.0]])
    t = plugrad.tensor([2, 0])
    assert F.nll_loss(logp, t).item() == pytest.approx(0.4)
    assert F.nll_loss(logp, t, reduction="none").tolist() == pytest.approx([0.5, 0.3])
    assert nn.NLLLoss(weight=t64([1.0, 2.0, 3.0]))(logp, t).item() == pytest.approx((1.5 + 0.3) / 4)
    assert F.nll_loss(logp, t).grad_fn is None
    logp.requires_grad_(True)
    out = F.nll_loss(logp, t)
    assert out.grad_fn.name() == "NllLossBackward0"
    out.backward()
    assert logp.grad.tolist() == [[0.0, 0.0, -0.5], [-0.5, 0.0, 0.0]]


def test_nll_loss_errors():
    logp = plugrad.zeros(3, 4)
    # PyTorch 2.13's wording for a floating or int32 target
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got Float"):
        F.nll_loss(logp, plugrad.zeros(3))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got Int"):
        F.nll_loss(logp, plugrad.tensor([0, 1, 2], dtype=plugrad.int32))
    # float class labels (a common mistake) take the class-index path and get the same error
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got Float"):
        F.cross_entropy(plugrad.zeros(4, 3), plugrad.tensor([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)"):
        F.nll_loss(logp, plugrad.tensor([0, 1]))
    with pytest.raises(IndexError, match=r"Target 5 is out of bounds."):
        F.nll_loss(logp, plugrad.tensor([0, 5, 1]))
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 4 classes"):
        F.nll_loss(logp, plugrad.tensor([0, 1, 1]), weight=plugrad.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a backend may warn about 0 / 0
        assert math.isnan(F.nll_loss(logp, plugrad.tensor([-100, -100, -100])).item())  # nothing left to average


def test_bce_hand_computed_and_clamped():
    x, y = t64([0.9, 0.2, 0.5]), t64([1.0, 0.0, 1.0])
    per = [-math.log(0.9), -math.log(0.8), math.log(2)]
    assert nn.BCELoss(reduction="none")(x, y).tolist() == pytest.approx(per)
    assert nn.BCELoss()(x, y).item() == pytest.approx(sum(per) / 3)
    assert nn.BCELoss(weight=t64([2.0, 1.0, 0.0]), reduction="sum")(x, y).item() == pytest.approx(2 * per[0] + per[1])
    edge = F.binary_cross_entropy(t64([0.0, 1.0]), t64([1.0, 0.0]), reduction="none")
    assert edge.tolist() == [100.0, 100.0]  # log clamped at -100


def test_bce_gradients_and_edges():
    x = t64([0.9, 0.2, 0.5, 0.03], requires_grad=True)
    y = t64([1.0, 0.0, 0.3, 0.6], requires_grad=True)
    check_grads(lambda: F.binary_cross_entropy(x, y), [x, y])
    z = t64([0.0, 1.0], requires_grad=True)
    F.binary_cross_entropy(z, t64([1.0, 0.0]), reduction="sum").backward()
    assert all(math.isfinite(v) for v in z.grad.tolist())  # (x - y) / max(x (1 - x), 1e-12)


def test_bce_errors():
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(plugrad.tensor([1.5]), plugrad.tensor([1.0]))
    with pytest.raises(ValueError, match="Using a target size"):
        F.binary_cross_entropy(plugrad.tensor([0.5, 0.5]), plugrad.tensor([[1.0, 0.0]]))


def _log_sigmoid(v):
    return -math.log1p(math.exp(-v)) if v >= 0 else v - math.log1p(math.exp(v))


def test_bce_with_logits_hand_computed_and_stable():
    xs, ys = [100.0, -100.0, 0.0, 2.0, -30.0], [0.0, 1.0, 1.0, 0.25, 0.0]
    per = [-(y * _log_sigmoid(x) + (1 - y) * _log_sigmoid(-x)) for x, y in zip(xs, ys)]
    out = nn.BCEWithLogitsLoss(reduction="none")(t64(xs), t64(ys)).tolist()
    assert out == pytest.approx(per)
    assert out[0] == pytest.approx(100.0) and out[2] == pytest.approx(math.log(2))
    big = F.binary_cross_entropy_with_logits(plugrad.tensor([1e4, -1e4]), plugrad.tensor([0.0, 1.0]), reduction="none")
    assert big.tolist() == [1e4, 1e4]  # float32, no overflow
    pw = [2.0, 2.0, 2.0, 3.0, 1.0]
    per_pw = [-(p * y * _log_sigmoid(x) + (1 - y) * _log_sigmoid(-x)) for x, y, p in zip(xs, ys, pw)]
    assert F.binary_cross_entropy_with_logits(
        t64(xs), t64(ys), pos_weight=t64(pw), reduction="none"
    ).tolist() == pytest.approx(per_pw)
    w = [1.0, 0.5, 2.0, 1.0, 0.0]
    assert nn.BCEWithLogitsLoss(weight=t64(w), reduction="sum")(t64(xs), t64(ys)).item() == pytest.approx(
        sum(a * b for a, b in zip(w, per))
    )


def test_bce_with_logits_gradients():
    x = t64([0.0, 3.0, -2.0, 0.4], requires_grad=True)
    y = t64([1.0, 0.2, 0.0, 0.7], requires_grad=True)
    pw = t64([2.0, 0.5, 1.0, 3.0], requires_grad=True)
    check_grads(lambda: F.binary_cross_entropy_with_logits(x, y), [x, y])
    check_grads(lambda: F.binary_cross_entropy_with_logits(x, y, pos_weight=pw.detach(), reduction="sum"), [x, y])
    # as in PyTorch, pos_weight and weight have no derivative
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'pos_weight'"):
        F.binary_cross_entropy_with_logits(x, y, pos_weight=pw)
    # at logit 0 with target 0 the slope is sigmoid(0) - 0 = 0.5, not a subgradient's 0
    z = t64([0.0], requires_grad=True)
    F.binary_cross_entropy_with_logits(z, t64([0.0])).backward()
    assert z.grad.tolist() == [0.5]


def test_loss_modules_reprs_and_legacy_arguments():
    assert repr(nn.MSELoss()) == "MSELoss()"
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    with pytest.warns(UserWarning, match="reduction='sum'"):
        loss = nn.MSELoss(size_average=False)
    assert loss.reduction == "sum"
    ce = nn.CrossEntropyLoss(weight=plugrad.ones(3))
    assert "weight" in dict(ce.named_buffers())
