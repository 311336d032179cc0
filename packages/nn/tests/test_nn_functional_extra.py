"""``F.silu``/``nn.SiLU``, ``F.one_hot``, ``F.pad`` (constant, reflect, replicate, circular) and
``F.normalize``: values against hand-computed references, gradients (first and second order)
with ``plugrad.autograd.gradcheck``/``gradgradcheck`` in float64, and PyTorch's errors. The
PyTorch comparison lives in ``test_nn_oracle_extra.py``."""

from __future__ import annotations

import math
import random
from typing import Any

import plugrad
import pytest
from plugrad import nn
from plugrad.autograd import gradcheck, gradgradcheck
from plugrad.nn import functional as F


def rand64(*shape: int, seed: int = 0) -> plugrad.Tensor:
    rng = random.Random(seed)
    n = math.prod(shape)
    return plugrad.tensor([rng.uniform(-2, 2) for _ in range(n)], dtype=plugrad.float64).reshape(shape).requires_grad_()


# ------------------------------------------------------------------------------ silu
def test_silu_values_and_gradients() -> None:
    vals = [-3.0, -0.5, 0.0, 0.7, 4.0]
    x = plugrad.tensor(vals, dtype=plugrad.float64, requires_grad=True)
    y = F.silu(x)
    assert y.tolist() == pytest.approx([v / (1 + math.exp(-v)) for v in vals], rel=1e-12)
    assert y.grad_fn is not None and y.grad_fn.name() == "SiluBackward0"
    assert gradcheck(F.silu, (rand64(3, 4),)) and gradgradcheck(F.silu, (rand64(3, 4, seed=1),))
    m = nn.SiLU()
    assert repr(m) == "SiLU()" and repr(nn.SiLU(inplace=True)) == "SiLU(inplace=True)"
    assert m(x).tolist() == y.tolist()
    t = plugrad.tensor([1.0, -1.0])
    assert nn.SiLU(inplace=True)(t) is t and t.tolist() == pytest.approx(
        [1 / (1 + math.exp(-1)), -1 / (1 + math.exp(1))]
    )
    with pytest.raises(NotImplementedError, match="\"silu_cpu\" not implemented for 'Long'"):
        F.silu(plugrad.tensor([1, 2]))


# ---------------------------------------------------------------------------- one_hot
def test_one_hot() -> None:
    out = F.one_hot(plugrad.tensor([0, 2, 1]))
    assert out.dtype is plugrad.int64 and out.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert F.one_hot(plugrad.tensor([[0], [2]]), 4).tolist() == [[[1, 0, 0, 0]], [[0, 0, 1, 0]]]
    assert F.one_hot(plugrad.tensor(2), 3).tolist() == [0, 0, 1]
    assert F.one_hot(plugrad.zeros(0, dtype=plugrad.int64), 3).shape == (0, 3)


@pytest.mark.parametrize(
    "call,msg",
    [
        (lambda: F.one_hot(plugrad.tensor([0, 5]), 3), "Class values must be smaller than num_classes."),
        (lambda: F.one_hot(plugrad.tensor([-1, 1])), "Class values must be non-negative."),
        (
            lambda: F.one_hot(plugrad.tensor([0.0, 1.0])),
            "one_hot is only applicable to index tensor of type LongTensor.",
        ),
        (lambda: F.one_hot(plugrad.tensor([1], dtype=plugrad.int32), 3), "only applicable to index tensor"),
        (
            lambda: F.one_hot(plugrad.zeros(0, dtype=plugrad.int64)),
            "Can not infer total number of classes from empty tensor.",
        ),
        (lambda: F.one_hot(plugrad.tensor([1]), 0), "Class values must be smaller than num_classes."),
    ],
)
def test_one_hot_errors(call: Any, msg: str) -> None:
    with pytest.raises(RuntimeError, match=msg.replace(".", r"\.")):
        call()


# ---------------------------------------------------------------------------- pad
def test_constant_pad_values() -> None:
    x = plugrad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert F.pad(x, (1, 2)).tolist() == [[0.0, 1.0, 2.0, 3.0, 0.0, 0.0], [0.0, 4.0, 5.0, 6.0, 0.0, 0.0]]
    assert F.pad(x, (1, 0, 0, 1), value=9).tolist() == [[9.0, 1.0, 2.0, 3.0], [9.0, 4.0, 5.0, 6.0], [9.0] * 4]
    assert F.pad(x, (-1, 1)).tolist() == [[2.0, 3.0, 0.0], [5.0, 6.0, 0.0]]  # negative amounts crop
    assert F.pad(x, [0, 0, -2, 1]).tolist() == [[0.0, 0.0, 0.0]]
    assert F.pad(x, (-3, 1)).tolist() == [[0.0], [0.0]]
    assert F.pad(plugrad.ones(2, 3, dtype=plugrad.int64), (1, 1), value=2.5).tolist() == [[2, 1, 1, 1, 2]] * 2


@pytest.mark.parametrize("amounts", [(1, 2), (0, 0, 2, 1), (-1, 2, 1, -1), (2, 2, 1, 1, 1, 0)])
def test_constant_pad_gradients(amounts: tuple[int, ...]) -> None:
    x = rand64(2, 3, 4, seed=sum(amounts) + 7)
    fn = lambda t: F.pad(t, amounts, value=0.5)  # noqa: E731
    assert gradcheck(fn, (x,)) and gradgradcheck(fn, (x,))
    assert fn(x).grad_fn.name() == "ConstantPadNdBackward0"


def test_other_modes_values() -> None:
    x = plugrad.arange(6.0).reshape(1, 2, 3)
    assert F.pad(x, (1, 2), mode="reflect").tolist() == [
        [[1.0, 0.0, 1.0, 2.0, 1.0, 0.0], [4.0, 3.0, 4.0, 5.0, 4.0, 3.0]]
    ]
    assert F.pad(x, (2, 1), mode="replicate").tolist() == [
        [[0.0, 0.0, 0.0, 1.0, 2.0, 2.0], [3.0, 3.0, 3.0, 4.0, 5.0, 5.0]]
    ]
    assert F.pad(x, (2, 1), mode="circular").tolist() == [
        [[1.0, 2.0, 0.0, 1.0, 2.0, 0.0], [4.0, 5.0, 3.0, 4.0, 5.0, 3.0]]
    ]
    y = F.pad(x, (0, 0, 1, 1), mode="replicate")
    assert y.tolist() == [[[0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [3.0, 4.0, 5.0]]]
    assert F.pad(plugrad.ones(2, 3), (1, 1), mode="reflect").shape == (2, 5)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_other_modes_gradients(mode: str) -> None:
    x = rand64(1, 2, 3, 4, seed=3)
    fn = lambda t: F.pad(t, (2, 1, 1, 2), mode=mode)  # noqa: E731
    assert gradcheck(fn, (x,)) and gradgradcheck(fn, (x,))


@pytest.mark.parametrize(
    "call,exc,msg",
    [
        (lambda: F.pad(plugrad.ones(2, 3), (1,)), RuntimeError, "Padding length must be divisible by 2"),
        (lambda: F.pad(plugrad.ones(2, 3), (1,) * 6), RuntimeError, "padding length 6 and input of dimension 2"),
        (lambda: F.pad(plugrad.ones(2, 3), (-2, -2)), RuntimeError, r"narrow\(\): length must be non-negative\."),
        (
            lambda: F.pad(plugrad.ones(2, 3), (1, 1), mode="bogus"),
            NotImplementedError,
            "Unrecognised padding mode bogus",
        ),
        (
            lambda: F.pad(plugrad.ones(3), (1, 1), mode="reflect"),
            NotImplementedError,
            "Padding size 2 is not supported for 1D input tensor.",
        ),
        (
            lambda: F.pad(plugrad.ones(2, 3), (3, 1), mode="reflect"),
            RuntimeError,
            r"padding \(3, 1\) at dimension 1 of input \[2, 3\]",
        ),
        (lambda: F.pad(plugrad.ones(2, 3), (4, 1), mode="circular"), RuntimeError, "wrapping around more than once"),
        (
            lambda: F.pad(plugrad.ones(1, 2, 3), (2, 1), mode="reflect", value=3),
            RuntimeError,
            "doesn't take in value argument",
        ),
    ],
)
def test_pad_errors(call: Any, exc: type[Exception], msg: str) -> None:
    with pytest.raises(exc, match=msg):
        call()


# -------------------------------------------------------------------------- normalize
def test_normalize() -> None:
    x = plugrad.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=plugrad.float64)
    assert F.normalize(x).tolist() == [[0.6, 0.8], [0.0, 0.0]]
    assert F.normalize(plugrad.tensor([[3.0, 4.0]]), p=1, dim=0).tolist() == [[1.0, 1.0]]
    assert F.normalize(plugrad.tensor([1.0, -3.0]), dim=0, p=1).tolist() == [0.25, -0.75]
    out = plugrad.empty(2, 2, dtype=plugrad.float64)
    assert F.normalize(x, out=out) is out and out.tolist() == [[0.6, 0.8], [0.0, 0.0]]
    for p, dim in ((2.0, 1), (1.0, 0), (3.0, -1)):
        t = rand64(3, 4, seed=int(p) + dim)
        assert gradcheck(lambda a, p=p, dim=dim: F.normalize(a, p=p, dim=dim), (t,))
    assert gradgradcheck(lambda a: F.normalize(a), (rand64(2, 3, seed=9),))
