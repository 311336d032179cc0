"""Autocast reaches the ops on PyTorch's lower-precision list: matmul, linear, convolutions."""

from __future__ import annotations

import plugrad
import plugrad.nn as nn
import plugrad.nn.functional as F
import pytest

needs_bf16 = pytest.mark.skipif(
    not hasattr(plugrad, "bfloat16"), reason="this plugrad has no bfloat16 (the NumPy backend gets it from ml_dtypes)"
)


@needs_bf16
def test_autocast_casts_matmul_linear_and_conv_and_gradients_come_back_in_full_precision() -> None:
    plugrad.manual_seed(0)
    lin, conv = nn.Linear(4, 3), nn.Conv2d(1, 2, 3)
    x, im = plugrad.randn(5, 4), plugrad.randn(1, 1, 5, 5)
    with plugrad.autocast("cpu"):
        y = lin(x)
        assert y.dtype is plugrad.bfloat16
        assert (x @ lin.weight.t()).dtype is plugrad.bfloat16
        assert F.conv2d(im, conv.weight, conv.bias).dtype is plugrad.bfloat16
        assert (x + 1).dtype is plugrad.float32  # elementwise ops are not on the list
    y.float().sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.dtype is plugrad.float32
    # the bfloat16 result is the float32 one to bfloat16's precision (8 bits of mantissa)
    ref = lin(x)
    err = (y.float() - ref).abs().max().item()
    assert err <= 2**-7 * (ref.abs().max().item() + 1)
    assert lin(x).dtype is plugrad.float32  # outside the region nothing is cast


def test_disabled_autocast_casts_nothing() -> None:
    a, b = plugrad.randn(2, 3), plugrad.randn(3, 2)
    with plugrad.autocast("cpu", enabled=False):
        assert (a @ b).dtype is plugrad.float32


@pytest.mark.oracle
@needs_bf16
def test_autocast_dtypes_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    x = plugrad.randn(5, 4)
    w = plugrad.randn(3, 4)
    xt, wt = torch.tensor(x.tolist()), torch.tensor(w.tolist())
    with plugrad.autocast("cpu"), torch.autocast("cpu"):
        ours = [F.linear(x, w), x @ w.t(), F.linear(x, w).relu(), x + 1]
        theirs = [torch.nn.functional.linear(xt, wt), xt @ wt.t(), torch.nn.functional.linear(xt, wt).relu(), xt + 1]
    for o, t in zip(ours, theirs):
        assert str(o.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
