"""Elementwise ops: values against :mod:`math`, gradients against central differences
(first and second order) over the broadcasting pairs, dtypes, printing and errors."""

from __future__ import annotations

import math
import random

import plugrad
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_helpers import BROADCAST_PAIRS, UNARY_SHAPES, broadcast_ref, check_op, flatten, leaf, seeds

SETTINGS = settings(max_examples=25, deadline=None)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _sign(x: float) -> float:
    return float((x > 0) - (x < 0))


def _round_half_even(x: float) -> float:
    return float(round(x))


# name -> (reference, domain (lo, hi), kinks to keep away from)
UNARY = {
    "neg": (lambda x: -x, (-2, 2), ()),
    "abs": (abs, (-2, 2), (0,)),
    "sign": (_sign, (-2, 2), (0,)),
    "exp": (math.exp, (-2, 2), ()),
    "expm1": (math.expm1, (-2, 2), ()),
    "log": (math.log, (0.2, 3), ()),
    "log2": (math.log2, (0.2, 3), ()),
    "log10": (math.log10, (0.2, 3), ()),
    "log1p": (math.log1p, (-0.8, 3), ()),
    "sqrt": (math.sqrt, (0.2, 3), ()),
    "rsqrt": (lambda x: 1 / math.sqrt(x), (0.2, 3), ()),
    "reciprocal": (lambda x: 1 / x, (0.2, 3), ()),
    "square": (lambda x: x * x, (-2, 2), ()),
    "sin": (math.sin, (-3, 3), ()),
    "cos": (math.cos, (-3, 3), ()),
    "tan": (math.tan, (-1.2, 1.2), ()),
    "tanh": (math.tanh, (-3, 3), ()),
    "sigmoid": (_sigmoid, (-4, 4), ()),
    "relu": (lambda x: max(x, 0.0), (-2, 2), (0,)),
    "floor": (lambda x: float(math.floor(x)), (-3, 3), (-2, -1, 0, 1, 2)),
    "ceil": (lambda x: float(math.ceil(x)), (-3, 3), (-2, -1, 0, 1, 2)),
    "round": (_round_half_even, (-3, 3), (-2.5, -1.5, -0.5, 0.5, 1.5, 2.5)),
    "trunc": (lambda x: float(math.trunc(x)), (-3, 3), (-2, -1, 0, 1, 2)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(shape=st.sampled_from(UNARY_SHAPES), seed=seeds())
def test_unary(name: str, shape: tuple[int, ...], seed: int) -> None:
    ref, (lo, hi), kinks = UNARY[name]
    x = leaf(random.Random(seed), shape, lo, hi, avoid=kinks)
    expected = broadcast_ref(ref, (x.tolist(), shape))
    check_op(getattr(plugrad, name), [x], expected=expected, dtype=plugrad.float64, seed=seed)
    # the method form computes the same
    assert getattr(x, name)().tolist() == getattr(plugrad, name)(x).tolist()


BINARY = {
    "add": (lambda a, b: a + b, plugrad.add, (-2, 2)),
    "sub": (lambda a, b: a - b, plugrad.sub, (-2, 2)),
    "mul": (lambda a, b: a * b, plugrad.mul, (-2, 2)),
    "div": (lambda a, b: a / b, plugrad.div, (0.5, 2)),
    "pow": (lambda a, b: a**b, plugrad.pow, (0.5, 2)),
    "maximum": (max, plugrad.maximum, (-2, 2)),
    "minimum": (min, plugrad.minimum, (-2, 2)),
    "op_add": (lambda a, b: a + b, lambda a, b: a + b, (-2, 2)),
    "op_sub": (lambda a, b: a - b, lambda a, b: a - b, (-2, 2)),
    "op_mul": (lambda a, b: a * b, lambda a, b: a * b, (-2, 2)),
    "op_div": (lambda a, b: a / b, lambda a, b: a / b, (0.5, 2)),
    "op_pow": (lambda a, b: a**b, lambda a, b: a**b, (0.5, 2)),
    "sub_alpha": (lambda a, b: a - 2 * b, lambda a, b: plugrad.sub(a, b, alpha=2), (-2, 2)),
    "add_alpha": (lambda a, b: a + 0.5 * b, lambda a, b: a.add(b, alpha=0.5), (-2, 2)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=[f"{a}-{b}" for a, b in BROADCAST_PAIRS])
def test_binary_broadcasting(name: str, shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    ref, fn, (lo, hi) = BINARY[name]
    rng = random.Random(hash((name, shapes)) & 0xFFFF)
    a, b = leaf(rng, shapes[0], lo, hi), leaf(rng, shapes[1], lo, hi)
    if name in ("maximum", "minimum"):
        b = (b.detach() + 0.01).requires_grad_()  # no exact ties
    expected = broadcast_ref(ref, (a.tolist(), shapes[0]), (b.tolist(), shapes[1]))
    check_op(fn, [a, b], expected=expected, dtype=plugrad.float64)


@pytest.mark.parametrize(
    "name,fn,ref,lo,hi",
    [
        ("radd", lambda x: 2.5 + x, lambda x: 2.5 + x, -2, 2),
        ("rsub", lambda x: 2 - x, lambda x: 2 - x, -2, 2),
        ("rmul", lambda x: 3 * x, lambda x: 3 * x, -2, 2),
        ("rdiv", lambda x: 2 / x, lambda x: 2 / x, 0.5, 2),
        ("rpow", lambda x: 2**x, lambda x: 2**x, -2, 2),
        ("pow3", lambda x: x**3, lambda x: x**3, -2, 2),
        ("pow_half", lambda x: x**0.5, math.sqrt, 0.5, 2),
        ("pow_neg", lambda x: x**-2, lambda x: x**-2, 0.5, 2),
        ("mod", lambda x: x % 1.5, lambda x: x % 1.5, -2, 2),
        ("rmod", lambda x: 5.0 % x, lambda x: 5.0 % x, 0.7, 2),
        ("clamp", lambda x: x.clamp(-0.5, 0.7), lambda x: min(max(x, -0.5), 0.7), -2, 2),
        ("clamp_min", lambda x: plugrad.clamp(x, min=0.1), lambda x: max(x, 0.1), -2, 2),
        ("clamp_max", lambda x: plugrad.clip(x, max=0.1), lambda x: min(x, 0.1), -2, 2),
        ("clamp_crossed", lambda x: x.clamp(1.0, -1.0), lambda x: -1.0, -2, 2),
        ("clamp_min_fn", lambda x: x.clamp_min(0.0), lambda x: max(x, 0.0), -2, 2),
        # inside one rounding cell: a central difference across a jump of 0.01 is not a derivative
        ("round2", lambda x: plugrad.round(x, decimals=2), lambda x: round(x, 2), 1.226, 1.234),
        ("lerp", lambda x: plugrad.lerp(x, x * 3, 0.25), lambda x: x + 0.25 * (3 * x - x), -2, 2),
        ("where_scalar", lambda x: plugrad.where(x > 0, x, 0.5), lambda x: x if x > 0 else 0.5, -2, 2),
        ("masked_fill", lambda x: x.masked_fill(x < 0, -1.0), lambda x: -1.0 if x < 0 else x, -2, 2),
    ],
)
@SETTINGS
@given(shape=st.sampled_from(UNARY_SHAPES), seed=seeds())
def test_scalar_forms(name: str, fn, ref, lo: float, hi: float, shape: tuple[int, ...], seed: int) -> None:  # type: ignore[no-untyped-def]
    avoid = (-0.5, 0.7, 0.1, 0.0, -1.0, 1.0, 1.5, -1.5, 0.005, -0.005, 2.5, 5 / 3)
    x = leaf(random.Random(seed), shape, lo, hi, avoid=avoid)
    check_op(
        fn, [x], expected=broadcast_ref(ref, (x.tolist(), shape)), dtype=plugrad.float64, seed=seed, ref_atol=1e-12
    )


@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=[f"{a}-{b}" for a, b in BROADCAST_PAIRS])
def test_ternary_ops_broadcast(shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    rng = random.Random(7)
    sa, sb = shapes
    x, y = leaf(rng, sa), leaf(rng, sb, avoid=(0,))
    ref = broadcast_ref(lambda a, b: a if b > 0 else b, (x.tolist(), sa), (y.tolist(), sb))
    check_op(lambda a, b: plugrad.where(b > 0, a, b), [x, y], expected=ref)
    lo, hi = leaf(rng, sb, -1, 0), leaf(rng, sb, 0.2, 1)
    x = leaf(rng, sa, avoid=flatten(lo.tolist()) + flatten(hi.tolist()))
    ref = broadcast_ref(lambda a, lb, ub: min(max(a, lb), ub), (x.tolist(), sa), (lo.tolist(), sb), (hi.tolist(), sb))
    check_op(lambda a, lb, ub: a.clamp(lb, ub), [x, lo, hi], expected=ref)
    w = leaf(rng, sb)
    ref = broadcast_ref(lambda a, b, c: a + c * (b - a), (x.tolist(), sa), (y.tolist(), sb), (w.tolist(), sb))
    check_op(lambda a, b, c: plugrad.lerp(a, b, c), [x, y, w], expected=ref)


def test_pow_gradients_at_zero_follow_pytorch() -> None:
    x = plugrad.tensor([0.0, 0.0, 2.0], dtype=plugrad.float64, requires_grad=True)
    e = plugrad.tensor([0.0, 2.0, 0.0], dtype=plugrad.float64, requires_grad=True)
    (x**e).sum().backward()
    # d/dx x^e = e x^(e-1): 0 where e == 0 (even at x == 0); d/de x^e = x^e log x: 0 at x == 0, e >= 0
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    assert e.grad.tolist() == [0.0, 0.0, math.log(2.0)]
    x2 = plugrad.tensor([0.0, 1.0], dtype=plugrad.float64, requires_grad=True)
    (x2**0).sum().backward()
    assert x2.grad.tolist() == [0.0, 0.0]
    b = plugrad.tensor([1.0, -1.0], dtype=plugrad.float64, requires_grad=True)
    (0.0**b).sum().backward()
    assert b.grad.tolist()[0] == 0.0


def test_clamp_gradient_at_the_bounds_passes_through() -> None:
    # PyTorch: the gradient flows where min <= x <= max, bounds included
    x = plugrad.tensor([-1.0, 0.0, 0.5, 1.0, 2.0], requires_grad=True)
    x.clamp(0.0, 1.0).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    lo = plugrad.tensor([0.0], requires_grad=True)
    hi = plugrad.tensor([1.0], requires_grad=True)
    x.grad = None
    x.clamp(lo, hi).sum().backward()
    assert (x.grad.tolist(), lo.grad.tolist(), hi.grad.tolist()) == ([0.0, 1.0, 1.0, 1.0, 0.0], [1.0], [1.0])


def test_maximum_ties_share_the_gradient() -> None:
    a = plugrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = plugrad.tensor([1.0, 1.0, 4.0], requires_grad=True)
    plugrad.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 1.0, 0.0] and b.grad.tolist() == [0.5, 0.0, 1.0]


def test_zero_gradient_ops_keep_a_node() -> None:
    x = plugrad.tensor([1.5, -0.3], requires_grad=True)
    for fn, node in [
        (plugrad.floor, "FloorBackward0"),
        (plugrad.round, "RoundBackward0"),
        (plugrad.sign, "SignBackward0"),
    ]:
        y = fn(x)
        assert y.grad_fn.name() == node
        (g,) = plugrad.autograd.grad(y.sum(), x)
        assert g.tolist() == [0.0, 0.0]


# ----------------------------------------------------------------- dtypes, printing
def test_comparisons_give_bool_without_grad_fn() -> None:
    x = plugrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for r in (x < 2, x <= 2, x > 2, x >= 2, x == 2, x != 2, plugrad.eq(x, 2), x.lt(plugrad.tensor(2))):
        assert r.dtype is plugrad.bool and r.grad_fn is None and not r.requires_grad
    assert repr(x > 1.5) == "tensor([False,  True,  True])"
    assert repr(plugrad.logical_and(x > 1, x < 3)) == "tensor([False,  True, False])"
    assert repr(plugrad.isnan(x / 0 * 0)) == "tensor([True, True, True])"
    assert plugrad.argmax(x).grad_fn is None


def test_integer_results_keep_integer_dtypes() -> None:
    i = plugrad.tensor([1, -2, 3])
    assert repr(i + i) == "tensor([ 2, -4,  6])"
    assert repr(i * 2) == "tensor([ 2, -4,  6])"
    assert repr(i // 2) == "tensor([ 0, -1,  1])"
    assert repr(i % 2) == "tensor([1, 0, 1])"
    assert repr(-i) == "tensor([-1,  2, -3])"
    assert repr(abs(i)) == "tensor([1, 2, 3])"
    assert repr(i.sign()) == "tensor([ 1, -1,  1])"
    assert repr(i.clamp(0, 2)) == "tensor([1, 0, 2])"
    assert repr(i / 2) == "tensor([ 0.5000, -1.0000,  1.5000])"
    assert repr(i + 1.5) == "tensor([ 2.5000, -0.5000,  4.5000])"
    assert repr(i.exp().dtype) == "plugrad.float32"
    i32 = plugrad.tensor([1, 2], dtype=plugrad.int32)
    assert repr(i32 * 3) == "tensor([3, 6], dtype=plugrad.int32)"
    assert (i32 + i[:2]).dtype is plugrad.int64
    assert (i32 + 1).dtype is plugrad.int32
    b = plugrad.tensor([True, False])
    assert repr(b + b) == "tensor([ True, False])"
    assert repr(b * 3) == "tensor([3, 0])"
    assert repr(b.square()) == "tensor([1, 0])"
    assert repr(b.sign()) == "tensor([ True, False])"
    assert repr(b & plugrad.tensor([True, True])) == "tensor([ True, False])"
    assert repr(~b) == "tensor([False,  True])"
    assert repr(plugrad.where(i > 0, 1, 0)) == "tensor([1, 0, 1])"
    assert repr(plugrad.div(i, 2, rounding_mode="trunc")) == "tensor([ 0, -1,  1])"
    assert repr(plugrad.div(i, 2, rounding_mode="floor")) == "tensor([ 0, -1,  1])"


@pytest.mark.parametrize(
    "fn,exc,msg",
    [
        (
            lambda: plugrad.ones(2, 3) + plugrad.ones(2, 4),
            RuntimeError,
            "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1",
        ),
        (lambda: plugrad.tensor([1, 2]) ** -1, RuntimeError, "Integers to negative integer powers are not allowed."),
        (
            lambda: -plugrad.tensor([True]),
            RuntimeError,
            "Negation, the `-` operator, on a bool tensor is not supported.",
        ),
        (
            lambda: plugrad.tensor([True]) - plugrad.tensor([True]),
            RuntimeError,
            "Subtraction, the `-` operator, with two bool tensors",
        ),
        (lambda: plugrad.abs(plugrad.tensor([True])), NotImplementedError, "not implemented for 'Bool'"),
        (lambda: plugrad.relu(plugrad.tensor([True])), RuntimeError, "Boolean inputs not supported for relu"),
        (lambda: plugrad.clamp(plugrad.ones(2)), RuntimeError, "At least one of 'min' or 'max' must not be None"),
        (
            lambda: plugrad.maximum(plugrad.ones(2), 1),
            TypeError,
            "maximum(): argument 'other' (position 2) must be Tensor, not int",
        ),
        (
            lambda: plugrad.where(plugrad.tensor([1, 0]), 1.0, 0.0),
            RuntimeError,
            "where expected condition to be a boolean tensor",
        ),
        (lambda: plugrad.div(plugrad.ones(2), 2, rounding_mode="up"), RuntimeError, "rounding_mode"),
        (
            lambda: plugrad.lerp(plugrad.tensor([1, 2]), plugrad.tensor([1, 2]), 0.5),
            NotImplementedError,
            "not implemented for 'Long'",
        ),
        (
            lambda: plugrad.ones(2) & plugrad.ones(2),
            NotImplementedError,
            "\"bitwise_and_cpu\" not implemented for 'Float'",
        ),
    ],
)
def test_errors(fn, exc, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc) as info:
        fn()
    assert msg in str(info.value)
