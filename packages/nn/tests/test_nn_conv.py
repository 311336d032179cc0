"""Convolution, pooling, fold/unfold, interpolation: float64 gradient checks, hand-computed values,
reprs, errors; ``@pytest.mark.oracle`` tests compare with PyTorch (forward, gradients, init)."""

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


def values(t: plugrad.Tensor) -> list:
    return t.detach().tolist()


# ------------------------------------------------------------------ hand-computed values
def test_conv2d_by_hand() -> None:
    x = plugrad.arange(16.0).reshape(1, 1, 4, 4)
    w = plugrad.tensor([[[[1.0, 0.0], [0.0, -1.0]]]])
    # out[i, j] = x[i, j] - x[i+1, j+1] = -5 everywhere
    assert values(F.conv2d(x, w)) == [[[[-5.0] * 3] * 3]]
    out = F.conv2d(x, w, plugrad.tensor([1.0]), stride=2, padding=1)
    # out[p, q] = 1 + x[2p-1, 2q-1] - x[2p, 2q], zero outside the input
    expected = [
        [1 + 0 - 0, 1 + 0 - 2, 1 + 0 - 0],
        [1 + 0 - 8, 1 + 5 - 10, 1 + 7 - 0],
        [1 + 0 - 0, 1 + 13 - 0, 1 + 15 - 0],
    ]
    assert values(out) == [[[[float(v) for v in row] for row in expected]]]


def test_conv1d_dilation_and_groups_by_hand() -> None:
    x = plugrad.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 20.0, 30.0, 40.0, 50.0]]])
    w = plugrad.tensor([[[1.0, 1.0]], [[1.0, -1.0]]])  # group 0: sum of x[l], x[l+2]; group 1: difference
    out = F.conv1d(x, w, dilation=2, groups=2)
    assert values(out) == [[[4.0, 6.0, 8.0], [-20.0, -20.0, -20.0]]]


def test_conv_transpose2d_by_hand() -> None:
    x = plugrad.tensor([[[[1.0, 2.0]]]])
    w = plugrad.tensor([[[[1.0, 10.0]]]])
    # stride 2: out[0, 2*j + q] += x[j] * w[q]
    assert values(F.conv_transpose2d(x, w, stride=2)) == [[[[1.0, 10.0, 2.0, 20.0]]]]
    assert values(F.conv_transpose2d(x, w, stride=2, output_padding=1)) == [
        [[[1.0, 10.0, 2.0, 20.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]]
    ]


def test_max_pool_by_hand_first_max_gets_gradient() -> None:
    x = plugrad.tensor([[[[1.0, 3.0, 2.0, 2.0], [3.0, 0.0, 1.0, 1.0]]]], requires_grad=True)
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    assert values(out) == [[[[3.0, 2.0]]]]
    assert idx.tolist() == [[[[1, 2]]]]  # ties: the first in row-major order
    out.sum().backward()
    assert values(x.grad) == [[[[0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]]
    assert out.grad_fn.name() == "MaxPool2DWithIndicesBackward0"


def test_max_pool_nan_is_the_maximum() -> None:
    nan = float("nan")
    x = plugrad.tensor([[[[1.0, nan, 3.0, 2.0], [0.0, 2.0, 2.0, 2.0]]]], requires_grad=True)
    out = F.max_pool2d(x, 2)
    assert math.isnan(out.tolist()[0][0][0][0]) and out.tolist()[0][0][0][1] == 3.0
    out.sum().backward()
    assert x.grad.tolist() == [[[[0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]]


def test_max_pool_padding_ceil_mode_dilation() -> None:
    x = plugrad.arange(1.0, 8.0).reshape(1, 1, 7)
    assert values(F.max_pool1d(x, 2, 2, padding=1)) == [[[1.0, 3.0, 5.0, 7.0]]]
    assert values(F.max_pool1d(x, 2, 2, ceil_mode=True)) == [[[2.0, 4.0, 6.0, 7.0]]]
    assert values(F.max_pool1d(x, 2, 1, dilation=3)) == [[[4.0, 5.0, 6.0, 7.0]]]


def test_avg_pool_divisors() -> None:
    x = plugrad.ones(1, 1, 3, 3)
    # padded corners: include_pad divides by 4 (window clipped to the padded input), else by the real count
    assert values(F.avg_pool2d(x, 2, 2, padding=1)) == [[[[0.25, 0.5], [0.5, 1.0]]]]
    assert values(F.avg_pool2d(x, 2, 2, padding=1, count_include_pad=False)) == [[[[1.0, 1.0], [1.0, 1.0]]]]
    assert values(F.avg_pool2d(x, 2, 2, ceil_mode=True)) == [[[[1.0, 1.0], [1.0, 1.0]]]]
    assert values(F.avg_pool2d(x * 6, 3, divisor_override=2)) == [[[[27.0]]]]


def test_adaptive_avg_pool_windows() -> None:
    x = plugrad.arange(5.0).reshape(1, 1, 5)
    # windows [0, 2), [1, 4), [3, 5)
    assert values(F.adaptive_avg_pool1d(x, 3)) == [[[0.5, 2.0, 3.5]]]
    assert values(F.adaptive_avg_pool2d(plugrad.arange(4.0).reshape(1, 1, 2, 2), 1)) == [[[[1.5]]]]


def test_unfold_fold_by_hand() -> None:
    x = plugrad.arange(9.0).reshape(1, 1, 3, 3)
    cols = F.unfold(x, 2)
    assert values(cols) == [[[0.0, 1.0, 3.0, 4.0], [1.0, 2.0, 4.0, 5.0], [3.0, 4.0, 6.0, 7.0], [4.0, 5.0, 7.0, 8.0]]]
    # fold(unfold(x)) multiplies each pixel by the number of windows covering it
    counts = [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    assert values(F.fold(cols, (3, 3), 2)) == [
        [[[v * c for v, c in zip(row, crow)] for row, crow in zip(values(x)[0][0], counts)]]
    ]


def test_interpolate_by_hand() -> None:
    x = plugrad.tensor([[[0.0, 1.0, 2.0]]])
    assert values(F.interpolate(x, scale_factor=2)) == [[[0.0, 0.0, 1.0, 1.0, 2.0, 2.0]]]
    assert values(F.interpolate(x, size=5, mode="linear", align_corners=True)) == [[[0.0, 0.5, 1.0, 1.5, 2.0]]]
    y = F.interpolate(plugrad.tensor([[[[0.0, 2.0]]]]), size=(1, 4), mode="bilinear", align_corners=False)
    assert values(y) == [[[[0.0, 0.5, 1.5, 2.0]]]]


def test_grad_fn_names_as_pytorch() -> None:
    x = plugrad.randn(1, 2, 6, 6, requires_grad=True)
    names = {
        "ConvolutionBackward0": F.conv2d(x, plugrad.randn(2, 2, 3, 3)),
        "MaxPool2DWithIndicesBackward0": F.max_pool2d(x, 2),
        "AvgPool2DBackward0": F.avg_pool2d(x, 2),
        "AdaptiveAvgPool2DBackward0": F.adaptive_avg_pool2d(x, 2),
        "Im2ColBackward0": F.unfold(x, 2),
        "Col2ImBackward0": F.fold(F.unfold(x, 2), (6, 6), 2),
        "UpsampleNearest2DBackward0": F.interpolate(x, scale_factor=2),
        "UpsampleBilinear2DBackward0": F.interpolate(x, scale_factor=2, mode="bilinear"),
        "UpsampleNearest1DBackward0": F.interpolate(x[0], scale_factor=2),
        "UpsampleLinear1DBackward0": F.interpolate(x[0], size=3, mode="linear"),
    }
    for name, out in names.items():
        assert out.grad_fn.name() == name


def test_integer_images_nearest_only() -> None:
    x = plugrad.tensor([[[1, 2]]])
    assert F.interpolate(x, scale_factor=2).tolist() == [[[1, 1, 2, 2]]]
    with pytest.raises(RuntimeError, match="not implemented for 'Long'"):
        F.interpolate(x, scale_factor=2, mode="linear")


def test_padding_same_and_modes() -> None:
    x = plugrad.arange(5.0).reshape(1, 1, 5)
    w = plugrad.ones(1, 1, 3)
    assert values(F.conv1d(x, w, padding="same")) == [[[1.0, 3.0, 6.0, 9.0, 7.0]]]
    assert values(F.conv1d(x, w, padding="valid")) == [[[3.0, 6.0, 9.0]]]
    conv = nn.Conv1d(1, 1, 3, padding=1, padding_mode="circular", bias=False)
    with plugrad.no_grad():
        conv.weight.fill_(1.0)
    assert values(conv(x)) == [[[5.0, 3.0, 6.0, 9.0, 7.0]]]
    conv.padding_mode = "replicate"
    assert values(conv(x)) == [[[1.0, 3.0, 6.0, 9.0, 11.0]]]
    conv.padding_mode = "reflect"
    assert values(conv(x)) == [[[2.0, 3.0, 6.0, 9.0, 10.0]]]
    even = nn.Conv1d(1, 1, 4, padding="same", bias=False)  # total padding 3: 1 left, 2 right
    with plugrad.no_grad():
        even.weight.fill_(1.0)
    with pytest.warns(UserWarning, match="even kernel lengths and odd dilation"):  # as PyTorch
        assert values(even(x)) == [[[3.0, 6.0, 10.0, 9.0, 7.0]]]


# ------------------------------------------------------------------- gradient checks
CONV2D_CASES = [
    dict(stride=1, padding=0, dilation=1, groups=1),
    dict(stride=2, padding=1, dilation=1, groups=2),
    dict(stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=1),
    dict(stride=1, padding="same", dilation=2, groups=1),
]


@pytest.mark.parametrize("kw", CONV2D_CASES)
def test_conv2d_gradcheck(kw: dict) -> None:
    x = r(1, 4, 4, 5, seed=1)
    w = r(4, 4 // kw["groups"], 3, 2, seed=2)
    b = r(4, seed=3)
    assert gradcheck(lambda a, c, d: F.conv2d(a, c, d, **kw), (x, w, b))


def test_conv2d_second_order_and_grad_fn() -> None:
    x, w = r(1, 2, 4, 4, seed=1), r(2, 1, 2, 2, seed=2)
    out = F.conv2d(x, w, groups=2, stride=2)
    assert out.grad_fn.name() == "ConvolutionBackward0"
    assert gradgradcheck(lambda a, c: F.conv2d(a, c, groups=2, stride=2, padding=1), (x, w))


def test_conv1d_and_unbatched_gradcheck() -> None:
    x, w, b = r(2, 3, 7, seed=1), r(4, 3, 3, seed=2), r(4, seed=3)
    assert gradcheck(lambda a, c, d: F.conv1d(a, c, d, stride=2, padding=1, dilation=2), (x, w, b))
    assert gradcheck(lambda a, c: F.conv2d(a, c, padding=1), (r(2, 4, 4, seed=4), r(3, 2, 3, 3, seed=5)))


@pytest.mark.parametrize(
    "kw",
    [
        dict(stride=1),
        dict(stride=2, padding=1, output_padding=1, groups=2),
        dict(stride=3, dilation=2, output_padding=(2, 1)),
        dict(stride=1, padding=1, dilation=2, output_padding=1),  # output_padding < dilation, inside the cut
        dict(stride=3, padding=(0, 2), output_padding=(2, 1)),  # output_padding > padding: zero rows
    ],
)
def test_conv_transpose2d_gradcheck(kw: dict) -> None:
    x, w, b = r(1, 4, 2, 2, seed=1), r(4, 1, 2, 2, seed=2), r(kw.get("groups", 1), seed=3)
    assert gradcheck(lambda a, c, d: F.conv_transpose2d(a, c, d, **kw), (x, w, b))
    if kw["stride"] == 2:
        assert gradgradcheck(lambda a, c: F.conv_transpose2d(a, c, **kw), (x, w))


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
def test_conv_padding_modes_gradcheck(padding_mode: str) -> None:
    conv = nn.Conv2d(2, 2, 3, padding=1, padding_mode=padding_mode, dtype=F64)
    assert gradcheck(conv, (r(1, 2, 4, 3, seed=1),))


@pytest.mark.parametrize(
    "args",
    [
        dict(kernel_size=2),
        dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=(2, 3), stride=1, dilation=(1, 2)),
        dict(kernel_size=2, ceil_mode=True),
    ],
)
def test_max_pool2d_gradcheck(args: dict) -> None:
    x = r(1, 2, 5, 6, seed=5)  # distinct values: no ties at the finite-difference step
    assert gradcheck(lambda a: F.max_pool2d(a, **args), (x,))
    if args.get("stride") == 2:
        assert gradgradcheck(lambda a: F.max_pool2d(a, **args), (x,))


@pytest.mark.parametrize(
    "args",
    [
        dict(kernel_size=2),
        dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
        dict(kernel_size=2, ceil_mode=True, divisor_override=3),
    ],
)
def test_avg_pool2d_gradcheck(args: dict) -> None:
    assert gradcheck(lambda a: F.avg_pool2d(a, **args), (r(1, 2, 5, 5, seed=6),))
    assert gradgradcheck(lambda a: F.avg_pool2d(a, **args), (r(1, 1, 5, 5, seed=6),))


def test_pool1d_adaptive_unfold_fold_interpolate_gradcheck() -> None:
    x = r(1, 2, 7, seed=7)
    assert gradcheck(lambda a: F.max_pool1d(a, 3, 2, 1), (x,))
    assert gradcheck(lambda a: F.avg_pool1d(a, 3, 2, 1), (x,))
    assert gradcheck(lambda a: F.adaptive_avg_pool1d(a, 4), (x,))
    x4 = r(1, 1, 5, 6, seed=8)
    assert gradcheck(lambda a: F.adaptive_avg_pool2d(a, (3, 4)), (x4,))
    assert gradcheck(lambda a: F.unfold(a, (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)), (x4,))
    assert gradgradcheck(lambda a: F.unfold(a, 2, stride=2), (x4,))
    cols = r(1, 6, 15, seed=9)
    assert gradcheck(lambda a: F.fold(a, (4, 5), (2, 3), padding=(0, 1), stride=1), (cols,))
    assert gradcheck(lambda a: F.interpolate(a, scale_factor=1.5, mode="bilinear"), (x4,))
    assert gradcheck(lambda a: F.interpolate(a, size=(7, 4), mode="nearest"), (x4,))


# --------------------------------------------------------------------------- modules
def test_module_reprs() -> None:
    assert repr(nn.Conv2d(1, 6, 5)) == "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))"
    assert (
        repr(nn.Conv2d(4, 8, (3, 2), stride=2, padding=1, dilation=2, groups=2, bias=False, padding_mode="reflect"))
        == "Conv2d(4, 8, kernel_size=(3, 2), stride=(2, 2), padding=(1, 1), dilation=(2, 2), groups=2, bias=False, "
        "padding_mode=reflect)"
    )
    assert repr(nn.Conv1d(2, 4, 3, padding="same")) == "Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=same)"
    assert (
        repr(nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1))
        == "ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2), output_padding=(1, 1))"
    )
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(nn.MaxPool1d(3, 1)) == "MaxPool1d(kernel_size=3, stride=1, padding=0, dilation=1, ceil_mode=False)"
    assert repr(nn.AvgPool2d(2)) == "AvgPool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(nn.AvgPool1d(2)) == "AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,))"
    assert repr(nn.AdaptiveAvgPool2d((1, 1))) == "AdaptiveAvgPool2d(output_size=(1, 1))"
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(nn.Upsample(size=(4, 4), mode="bilinear")) == "Upsample(size=(4, 4), mode='bilinear')"
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.Unflatten(1, (2, 5))) == "Unflatten(dim=1, unflattened_size=(2, 5))"
    assert repr(nn.Unfold(2)) == "Unfold(kernel_size=2, dilation=1, padding=0, stride=1)"
    assert repr(nn.Fold((4, 5), 2)) == "Fold(output_size=(4, 5), kernel_size=2, dilation=1, padding=0, stride=1)"


def test_module_paths() -> None:
    from plugrad.nn.modules.conv import Conv1d, Conv2d, ConvTranspose2d
    from plugrad.nn.modules.flatten import Flatten, Unflatten
    from plugrad.nn.modules.fold import Fold, Unfold
    from plugrad.nn.modules.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool1d, MaxPool2d
    from plugrad.nn.modules.upsampling import Upsample

    assert (Conv1d, Conv2d, ConvTranspose2d, MaxPool1d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d) == (
        nn.Conv1d,
        nn.Conv2d,
        nn.ConvTranspose2d,
        nn.MaxPool1d,
        nn.MaxPool2d,
        nn.AvgPool2d,
        nn.AdaptiveAvgPool2d,
    )
    assert (Flatten, Unflatten, Fold, Unfold, Upsample) == (nn.Flatten, nn.Unflatten, nn.Fold, nn.Unfold, nn.Upsample)


def test_conv_init_bounds_and_shapes() -> None:
    plugrad.manual_seed(0)
    conv = nn.Conv2d(3, 8, (3, 5), groups=1)
    bound = 1 / math.sqrt(3 * 3 * 5)  # kaiming_uniform_(a=sqrt(5)) gives U(+-1/sqrt(fan_in)) for weight and bias
    assert tuple(conv.weight.shape) == (8, 3, 3, 5) and tuple(conv.bias.shape) == (8,)
    assert float(conv.weight.abs().max()) <= bound and float(conv.weight.abs().max()) > 0.9 * bound
    assert float(conv.bias.abs().max()) <= bound
    t = nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert tuple(t.weight.shape) == (4, 3, 3, 3)
    assert float(t.weight.abs().max()) <= 1 / math.sqrt(3 * 9)


def test_conv_transpose_output_size_and_lenet_shapes() -> None:
    t = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    x = plugrad.randn(1, 2, 4, 4)
    assert tuple(t(x).shape) == (1, 3, 7, 7)
    assert tuple(t(x, output_size=(8, 8)).shape) == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="requested an output size of"):
        t(x, output_size=(10, 10))
    net = nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.MaxPool2d(2), nn.Flatten()
    )
    assert tuple(net(plugrad.randn(3, 1, 28, 28)).shape) == (3, 256)
    up = nn.Sequential(nn.Unflatten(1, (16, 4, 4)), nn.Upsample(scale_factor=2), nn.AdaptiveAvgPool2d(3))
    assert tuple(up(plugrad.randn(3, 256)).shape) == (3, 16, 3, 3)


def test_empty_and_integer_inputs() -> None:
    assert tuple(F.conv2d(plugrad.zeros(0, 1, 8, 8), plugrad.zeros(2, 1, 3, 3)).shape) == (0, 2, 6, 6)
    assert tuple(F.max_pool2d(plugrad.zeros(0, 1, 8, 8), 2).shape) == (0, 1, 4, 4)
    assert tuple(F.adaptive_avg_pool2d(plugrad.zeros(1, 1, 4, 4), 0).shape) == (1, 1, 0, 0)
    ones = plugrad.ones(1, 1, 3, 3, dtype=plugrad.int64)
    assert F.conv2d(ones, plugrad.ones(1, 1, 2, 2, dtype=plugrad.int64)).tolist() == [[[[4, 4], [4, 4]]]]
    with pytest.raises(RuntimeError, match="stride should not be zero"):
        F.max_pool2d(plugrad.zeros(1, 1, 8, 8), 2, 0)


def test_return_indices_module_and_unbatched() -> None:
    pool = nn.MaxPool2d(2, return_indices=True)
    out, idx = pool(plugrad.randn(3, 4, 4))
    assert tuple(out.shape) == (3, 2, 2) and idx.dtype is plugrad.int64
    assert not idx.requires_grad


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (
            lambda: F.conv2d(plugrad.randn(1, 3, 8, 8), plugrad.randn(6, 1, 5, 5)),
            RuntimeError,
            "Given groups=1, weight of size [6, 1, 5, 5], expected input[1, 3, 8, 8] to have 1 channels, but got 3 "
            "channels instead",
        ),
        (
            lambda: F.conv2d(plugrad.randn(1, 1, 3, 3), plugrad.randn(6, 1, 5, 5)),
            RuntimeError,
            "Calculated padded input size per channel: (3 x 3). Kernel size: (5 x 5). Kernel size can't be greater "
            "than actual input size",
        ),
        (
            lambda: F.conv2d(plugrad.randn(3, 3), plugrad.randn(6, 1, 5, 5)),
            RuntimeError,
            "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [3, 3]",
        ),
        (
            lambda: F.conv2d(plugrad.randn(1, 1, 8, 8), plugrad.randn(6, 1, 5, 5), padding="foo"),
            RuntimeError,
            "Invalid padding string: 'foo'",
        ),
        (
            lambda: F.conv2d(plugrad.randn(1, 1, 8, 8), plugrad.randn(6, 1, 5, 5), padding="same", stride=2),
            RuntimeError,
            "padding='same' is not supported for strided convolutions",
        ),
        (
            lambda: nn.Conv2d(1, 2, 3, padding="foo"),
            ValueError,
            "Invalid padding string 'foo', should be one of {'valid', 'same'}",
        ),
        (
            lambda: nn.Conv2d(1, 2, 3, padding="same", stride=2),
            ValueError,
            "padding='same' is not supported for strided convolutions",
        ),
        (lambda: nn.Conv2d(3, 2, 3, groups=2), ValueError, "in_channels must be divisible by groups"),
        (lambda: nn.Conv2d(1, 2, 3, padding_mode="x"), ValueError, "padding_mode must be one of"),
        (
            lambda: F.max_pool2d(plugrad.randn(1, 1, 4, 4), 2, padding=2),
            RuntimeError,
            "pad should be at most half of effective kernel size, but got pad=2, kernel_size=2 and dilation=1",
        ),
        (
            lambda: F.max_pool2d(plugrad.randn(1, 1, 4, 4), (2, 2, 2)),
            RuntimeError,
            "max_pool2d: kernel_size must either be a single int, or a tuple of two ints",
        ),
        (
            lambda: F.conv2d(plugrad.randn(1, 1, 4, 4), plugrad.randn(1, 1, 2, 2, dtype=F64)),
            RuntimeError,
            "Input type (plugrad.float32) and weight type (plugrad.float64) should be the same",
        ),
        (lambda: F.conv2d([1.0], plugrad.randn(1, 1, 2, 2)), TypeError, "must be Tensor, not list"),
        (lambda: F.unfold(plugrad.randn(1, 1, 2, 2), 3), RuntimeError, "calculated shape of the array of sliding"),
        (lambda: F.fold(plugrad.randn(1, 4, 5), (3, 3), 2), RuntimeError, "expected size of input's dimension 2"),
        (lambda: F.interpolate(plugrad.randn(1, 1, 4), scale_factor=2, mode="bicubic"), NotImplementedError, "bicubic"),
        (
            lambda: nn.ConvTranspose2d(1, 1, 2, padding_mode="reflect"),
            ValueError,
            'Only "zeros" padding mode is supported for ConvTranspose2d',
        ),
    ],
)
def test_errors(call, exc, message) -> None:
    with pytest.raises(exc) as info:
        call()
    assert message in str(info.value)


# ---------------------------------------------------------------------------- oracle
def _both(torch, shape, seed, dtype="float64"):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(*shape, generator=g, dtype=getattr(torch, dtype)).requires_grad_(True)
    p = plugrad.tensor(t.tolist(), dtype=getattr(plugrad, dtype), requires_grad=True)
    return p, t


def _from_torch(t):
    """A PyTorch tensor as a plugrad tensor (DLPack: same shape, dtype and values), for assert_close."""
    return plugrad.from_dlpack(t.detach())


def _check(torch, fn_p, fn_t, inputs, tol=1e-9) -> None:
    out_p, out_t = fn_p(*[i[0] for i in inputs]), fn_t(*[i[1] for i in inputs])
    assert_close(out_p, _from_torch(out_t), rtol=tol, atol=tol, check_dtype=False)
    w = torch.linspace(-1.0, 2.0, out_t.numel(), dtype=out_t.dtype).reshape(out_t.shape)
    (out_t * w).sum().backward()
    (out_p * plugrad.tensor(w.tolist(), dtype=out_p.dtype)).sum().backward()
    for p, t in inputs:
        assert_close(p.grad, _from_torch(t.grad), rtol=tol, atol=tol, check_dtype=False)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.oracle
@pytest.mark.parametrize(
    "kw",
    [
        *CONV2D_CASES,
        dict(stride=3, padding=2, dilation=(1, 3), groups=4),
        dict(stride=1, padding="same", dilation=1, groups=1),
    ],
)
def test_oracle_conv2d(torch, kw) -> None:
    x, w, b = _both(torch, (2, 4, 9, 8), 1), _both(torch, (8, 4 // kw["groups"], 3, 4), 2), _both(torch, (8,), 3)
    _check(
        torch,
        lambda a, c, d: F.conv2d(a, c, d, **kw),
        lambda a, c, d: torch.nn.functional.conv2d(a, c, d, **kw),
        [x, w, b],
    )


@pytest.mark.oracle
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_oracle_conv_modules_copy_weights(torch, mode) -> None:
    for cls_p, cls_t, shape in ((nn.Conv1d, torch.nn.Conv1d, (2, 3, 9)), (nn.Conv2d, torch.nn.Conv2d, (2, 3, 6, 7))):
        tm = cls_t(3, 6, 3, stride=1, padding="same", padding_mode=mode, groups=3, dtype=torch.float64)
        pm = cls_p(3, 6, 3, stride=1, padding="same", padding_mode=mode, groups=3, dtype=F64)
        pm.load_state_dict({k: plugrad.tensor(v.tolist(), dtype=F64) for k, v in tm.state_dict().items()})
        x = _both(torch, shape, 4)
        _check(torch, pm, tm, [x])
        assert repr(pm) == repr(tm)


@pytest.mark.oracle
@pytest.mark.parametrize(
    "kw",
    [
        dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1),
        dict(stride=(3, 1), padding=(0, 2), output_padding=(1, 0), groups=1, dilation=(2, 3)),
        dict(stride=(2, 1), padding=(2, 1), output_padding=(1, 1), groups=2, dilation=(1, 2)),
        dict(stride=3, padding=(0, 1), output_padding=(2, 2), groups=1, dilation=1),
    ],
)
def test_oracle_conv_transpose2d(torch, kw) -> None:
    x, w, b = _both(torch, (2, 4, 5, 4), 1), _both(torch, (4, 3, 3, 2), 2), _both(torch, (3 * kw["groups"],), 3)
    _check(
        torch,
        lambda a, c, d: F.conv_transpose2d(a, c, d, **kw),
        lambda a, c, d: torch.nn.functional.conv_transpose2d(a, c, d, **kw),
        [x, w, b],
    )


@pytest.mark.oracle
@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=2),
        dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1), ceil_mode=True),
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    ],
)
def test_oracle_pools(torch, kw) -> None:
    x = _both(torch, (2, 3, 9, 8), 5)
    _check(torch, lambda a: F.max_pool2d(a, **kw), lambda a: torch.nn.functional.max_pool2d(a, **kw), [x])
    _, i_p = F.max_pool2d(x[0], **kw, return_indices=True)
    _, i_t = torch.nn.functional.max_pool2d(x[1], **kw, return_indices=True)
    assert i_p.tolist() == i_t.tolist()
    kw_avg = {k: v for k, v in kw.items() if k != "dilation"}
    for include in (True, False):
        x = _both(torch, (2, 3, 9, 8), 6)
        _check(
            torch,
            lambda a, include=include: F.avg_pool2d(a, **kw_avg, count_include_pad=include),
            lambda a, include=include: torch.nn.functional.avg_pool2d(a, **kw_avg, count_include_pad=include),
            [x],
        )


@pytest.mark.oracle
def test_oracle_1d_adaptive_fold_interpolate(torch) -> None:
    TF = torch.nn.functional
    x = _both(torch, (2, 3, 11), 7)
    _check(
        torch,
        lambda a: F.max_pool1d(a, 3, 2, 1, ceil_mode=True),
        lambda a: TF.max_pool1d(a, 3, 2, 1, ceil_mode=True),
        [x],
    )
    x = _both(torch, (2, 3, 11), 7)
    _check(torch, lambda a: F.avg_pool1d(a, 4, 3, 2), lambda a: TF.avg_pool1d(a, 4, 3, 2), [x])
    x = _both(torch, (2, 3, 11), 7)
    _check(torch, lambda a: F.adaptive_avg_pool1d(a, 4), lambda a: TF.adaptive_avg_pool1d(a, 4), [x])
    for size in [(3, 5), (7, 4), 1, (None, 2)]:
        x = _both(torch, (2, 3, 9, 8), 8)
        _check(
            torch,
            lambda a, size=size: F.adaptive_avg_pool2d(a, size),
            lambda a, size=size: TF.adaptive_avg_pool2d(a, size),
            [x],
        )
    x = _both(torch, (2, 3, 9, 8), 9)
    _check(torch, lambda a: F.unfold(a, (2, 3), 2, 1, 2), lambda a: TF.unfold(a, (2, 3), 2, 1, 2), [x])
    y = _both(torch, (2, 12, 18), 10)
    _check(
        torch,
        lambda a: F.fold(a, (5, 6), (2, 3), 1, 1, (1, 2)),
        lambda a: TF.fold(a, (5, 6), (2, 3), 1, 1, (1, 2)),
        [y],
    )
    for kw in [
        dict(scale_factor=2),
        dict(size=(5, 13)),
        dict(scale_factor=1.7, mode="bilinear"),
        dict(size=(4, 11), mode="bilinear", align_corners=True),
        dict(size=(12, 3), mode="bilinear", align_corners=False),
        dict(scale_factor=(0.5, 2.5), mode="nearest"),
    ]:
        x = _both(torch, (2, 3, 9, 8), 11)
        _check(torch, lambda a, kw=kw: F.interpolate(a, **kw), lambda a, kw=kw: TF.interpolate(a, **kw), [x])
    x = _both(torch, (2, 3, 5), 12)
    _check(
        torch,
        lambda a: F.interpolate(a, size=9, mode="linear"),
        lambda a: TF.interpolate(a, size=9, mode="linear"),
        [x],
    )


@pytest.mark.oracle
def test_oracle_conv_init_distribution(torch) -> None:
    """Over many draws, weights and biases match PyTorch's distribution: U(-b, b) with b = 1/sqrt(fan_in)."""
    plugrad.manual_seed(0)
    torch.manual_seed(0)
    for p_cls, t_cls, args in (
        (nn.Conv2d, torch.nn.Conv2d, (6, 16, 5)),
        (nn.Conv1d, torch.nn.Conv1d, (4, 8, 3)),
        (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (6, 4, 3)),
    ):
        pw, tw, pb, tb = [], [], [], []
        for _ in range(20):
            pm, tm = p_cls(*args), t_cls(*args)
            pw += pm.weight.detach().reshape(-1).tolist()
            tw += tm.weight.detach().reshape(-1).tolist()
            pb += pm.bias.detach().tolist()
            tb += tm.bias.detach().tolist()
        for p, t in ((pw, tw), (pb, tb)):
            bound = max(abs(v) for v in t)
            assert max(abs(v) for v in p) <= bound * 1.02 and max(abs(v) for v in p) >= bound * 0.9
            mean_p, mean_t = sum(p) / len(p), sum(t) / len(t)
            std_p = math.sqrt(sum((v - mean_p) ** 2 for v in p) / len(p))
            std_t = math.sqrt(sum((v - mean_t) ** 2 for v in t) / len(t))
            assert abs(mean_p) < 4 * std_t / math.sqrt(len(p))
            assert std_p == pytest.approx(std_t, rel=0.1)


@pytest.mark.oracle
def test_oracle_pytorch_checkpoint_of_a_cnn_loads(torch, tmp_path) -> None:
    """A PyTorch .pt state dict of a CNN with every kind of layer here loads into plugrad's twin (same
    keys, buffers included) and gives the same outputs in eval mode."""

    def build(lib):
        nn_ = lib.nn
        return nn_.Sequential(
            nn_.Conv2d(1, 6, 5),
            nn_.BatchNorm2d(6),
            nn_.ReLU(),
            nn_.MaxPool2d(2),
            nn_.Conv2d(6, 16, 5, padding="same", padding_mode="reflect"),
            nn_.GroupNorm(4, 16),
            nn_.AvgPool2d(2, ceil_mode=True),
            nn_.AdaptiveAvgPool2d(3),
            nn_.Flatten(),
            nn_.LayerNorm(144),
            nn_.Linear(144, 10),
        )

    torch.manual_seed(0)
    tm = build(torch)
    x = torch.randn(4, 1, 28, 28)
    tm(x)  # one training step of the batch-norm statistics
    tm.eval()
    path = tmp_path / "cnn.pt"
    torch.save(tm.state_dict(), path)
    pm = build(plugrad)
    pm.load_state_dict(plugrad.load(path))
    pm.eval()
    assert pm[1].num_batches_tracked.item() == 1
    assert_close(pm(plugrad.tensor(x.tolist())), _from_torch(tm(x).detach()), rtol=1e-5, atol=1e-5, check_dtype=False)


@pytest.mark.parametrize(
    "kw", [dict(stride=1), dict(stride=2, padding=1, dilation=2), dict(stride=(1, 3), padding=(2, 0), dilation=(1, 2))]
)
def test_col2im_paths_agree(kw: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """col2im runs as two 0/1 matmuls on small images and as strided adds on large ones: same values."""
    from plugrad.nn import _functional_conv as FC

    cols = r(2, 3 * 6, 40, seed=3, requires_grad=False)
    args = ((5, 9), (2, 3))
    small = F.fold(cols[:, :, : _blocks(args, kw)], *args, **kw)
    monkeypatch.setattr(FC, "_SEPARABLE_MAX", 0)
    large = F.fold(cols[:, :, : _blocks(args, kw)], *args, **kw)
    assert small.reshape(-1).tolist() == pytest.approx(large.reshape(-1).tolist(), abs=1e-12)
    x = r(1, 2, 5, 7, seed=4)
    assert gradcheck(lambda a: F.unfold(a, (2, 3), **kw), (x,))


def _blocks(args: tuple, kw: dict) -> int:
    (h, w), (kh, kw_) = args
    s = kw.get("stride", 1)
    p = kw.get("padding", 0)
    d = kw.get("dilation", 1)
    s, p, d = ((v, v) if isinstance(v, int) else v for v in (s, p, d))
    return ((h + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1) * ((w + 2 * p[1] - d[1] * (kw_ - 1) - 1) // s[1] + 1)
