"""In-place variants (``exp_``, ``clamp_``, ``pow_``, ``masked_fill_``, ``index_add_``,
``scatter_``, ``t_``, ``uniform_``, ...): each gives the out-of-place op's values in the
same tensor object, bumps the version counter, refuses leaves that require grad, writes
through views into their base, records PyTorch's node and differentiates correctly
(float64 central differences through a non-leaf), and carries forward-mode tangents."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import plugrad
import pytest
from op_helpers import check_op

# name -> (in-place call, out-of-place reference, input domain)
UNARY: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any], str]] = {
    "exp_": (lambda t: t.exp_(), lambda t: t.exp(), "any"),
    "expm1_": (lambda t: t.expm1_(), lambda t: t.expm1(), "any"),
    "log_": (lambda t: t.log_(), lambda t: t.log(), "positive"),
    "log2_": (lambda t: t.log2_(), lambda t: t.log2(), "positive"),
    "log10_": (lambda t: t.log10_(), lambda t: t.log10(), "positive"),
    "log1p_": (lambda t: t.log1p_(), lambda t: t.log1p(), "positive"),
    "sqrt_": (lambda t: t.sqrt_(), lambda t: t.sqrt(), "positive"),
    "rsqrt_": (lambda t: t.rsqrt_(), lambda t: t.rsqrt(), "positive"),
    "reciprocal_": (lambda t: t.reciprocal_(), lambda t: t.reciprocal(), "positive"),
    "square_": (lambda t: t.square_(), lambda t: t.square(), "any"),
    "abs_": (lambda t: t.abs_(), lambda t: t.abs(), "nonzero"),
    "absolute_": (lambda t: t.absolute_(), lambda t: t.abs(), "nonzero"),
    "neg_": (lambda t: t.neg_(), lambda t: -t, "any"),
    "negative_": (lambda t: t.negative_(), lambda t: -t, "any"),
    "sin_": (lambda t: t.sin_(), lambda t: t.sin(), "any"),
    "cos_": (lambda t: t.cos_(), lambda t: t.cos(), "any"),
    "tan_": (lambda t: t.tan_(), lambda t: t.tan(), "small"),
    "tanh_": (lambda t: t.tanh_(), lambda t: t.tanh(), "any"),
    "sigmoid_": (lambda t: t.sigmoid_(), lambda t: t.sigmoid(), "any"),
    "relu_": (lambda t: t.relu_(), lambda t: t.relu(), "nonzero"),
    "clamp_": (lambda t: t.clamp_(-0.5, 0.7), lambda t: t.clamp(-0.5, 0.7), "any"),
    "clip_": (lambda t: t.clip_(min=0.2), lambda t: t.clamp(min=0.2), "any"),
    "clamp_min_": (lambda t: t.clamp_min_(0.1), lambda t: t.clamp_min(0.1), "any"),
    "clamp_max_": (lambda t: t.clamp_max_(0.1), lambda t: t.clamp_max(0.1), "any"),
    "pow_": (lambda t: t.pow_(3), lambda t: t**3, "any"),
    "pow_tensor_": (
        lambda t: t.pow_(plugrad.tensor([1.0, 2.0, 0.5], dtype=plugrad.float64)),
        lambda t: t ** plugrad.tensor([1.0, 2.0, 0.5], dtype=plugrad.float64),
        "positive",
    ),
    "fmod_": (lambda t: t.fmod_(0.75), lambda t: t.fmod(0.75), "any"),
    "remainder_": (lambda t: t.remainder_(0.75), lambda t: t.remainder(0.75), "any"),
    "lerp_": (
        lambda t: t.lerp_(plugrad.ones(3, dtype=plugrad.float64), 0.3),
        lambda t: t.lerp(plugrad.ones(3, dtype=plugrad.float64), 0.3),
        "any",
    ),
    "masked_fill_": (
        lambda t: t.masked_fill_(plugrad.tensor([True, False, True]), 2.0),
        lambda t: t.masked_fill(plugrad.tensor([True, False, True]), 2.0),
        "any",
    ),
    "index_fill_": (
        lambda t: t.index_fill_(0, plugrad.tensor([1]), -1.0),
        lambda t: t.index_fill(0, plugrad.tensor([1]), -1.0),
        "any",
    ),
    "index_add_": (
        lambda t: t.index_add_(0, plugrad.tensor([2, 2]), plugrad.ones(2, dtype=plugrad.float64), alpha=2),
        lambda t: t.index_add(0, plugrad.tensor([2, 2]), plugrad.ones(2, dtype=plugrad.float64), alpha=2),
        "any",
    ),
    "scatter_": (
        lambda t: t.scatter_(0, plugrad.tensor([0]), 5.0),
        lambda t: t.scatter(0, plugrad.tensor([0]), 5.0),
        "any",
    ),
    "scatter_add_": (
        lambda t: t.scatter_add_(0, plugrad.tensor([1, 1]), plugrad.ones(2, dtype=plugrad.float64)),
        lambda t: t.scatter_add(0, plugrad.tensor([1, 1]), plugrad.ones(2, dtype=plugrad.float64)),
        "any",
    ),
    "floor_": (lambda t: t.floor_(), lambda t: t.floor(), "any"),
    "round_": (lambda t: t.round_(decimals=1), lambda t: t.round(decimals=1), "any"),
}


def _values(domain: str, rng: random.Random) -> list[float]:
    lo, hi = {"positive": (0.3, 2.0), "small": (-1.0, 1.0)}.get(domain, (-2.0, 2.0))
    vals = [rng.uniform(lo, hi) for _ in range(3)]
    if domain == "nonzero":
        vals = [v if abs(v) > 0.1 else 0.5 for v in vals]
    return vals


@pytest.mark.parametrize("name", sorted(UNARY))
def test_values_version_and_identity(name: str) -> None:
    inplace, ref, domain = UNARY[name]
    vals = _values(domain, random.Random(name))
    t = plugrad.tensor(vals, dtype=plugrad.float64)
    expected = ref(plugrad.tensor(vals, dtype=plugrad.float64)).tolist()
    v0 = t._version
    out = inplace(t)
    assert out is t and t.tolist() == expected and t._version > v0


@pytest.mark.parametrize("name", sorted(UNARY))
def test_gradients_through_a_non_leaf(name: str) -> None:
    inplace, ref, domain = UNARY[name]
    x = plugrad.tensor(_values(domain, random.Random(name)), dtype=plugrad.float64, requires_grad=True)

    def fn(a: Any) -> Any:
        y = a * 1.0  # a non-leaf, as in-place ops on leaves that require grad are refused
        return inplace(y)

    check_op(fn, [x], expected=ref(x.detach()).tolist(), second_order=name not in ("floor_",))
    y = x * 1.0
    node = ref(x * 1.0).grad_fn
    inplace(y)
    assert y.grad_fn is not None and node is not None and y.grad_fn.name() == node.name()


def test_leaf_views_and_saved_tensors() -> None:
    x = plugrad.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        x.exp_()
    with plugrad.no_grad():
        x.mul_(2).exp_()  # allowed without grad, the tensor stays a leaf
    assert x.is_leaf and x.requires_grad and math.isclose(x.tolist()[0], math.exp(2), rel_tol=1e-6)
    base = plugrad.zeros(2, 3)
    base[1].exp_()  # through a view into its base
    assert base.tolist() == [[0.0] * 3, [1.0] * 3]
    a = plugrad.tensor([0.5, 1.0], dtype=plugrad.float64, requires_grad=True)
    b = a * 1
    c = b.sigmoid()  # saves its result...
    b.relu_()  # ...which is not b, so this is fine
    y = b.exp()  # saves its result
    y.tanh_()  # overwrites it
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    (c.sum() + b.sum()).backward()
    assert a.grad is not None


def test_through_view_of_non_leaf_is_differentiable() -> None:
    x = plugrad.tensor([0.3, -0.7, 1.2], dtype=plugrad.float64, requires_grad=True)

    def fn(a: Any) -> Any:
        y = a * 2
        y[1:].exp_()
        return y

    check_op(fn, [x], expected=[0.6, math.exp(-1.4), math.exp(2.4)])


def test_dtype_rules() -> None:
    for fn in (lambda t: t.exp_(), lambda t: t.sqrt_(), lambda t: t.pow_(0.5), lambda t: t.sigmoid_()):
        with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
            fn(plugrad.tensor([4, 2]))
    assert plugrad.tensor([-1, 2]).relu_().tolist() == [0, 2]
    assert plugrad.tensor([-1, 2]).abs_().tolist() == [1, 2]
    assert plugrad.tensor([4, 2]).pow_(2).tolist() == [16, 4]
    with pytest.raises(RuntimeError, match="Negation, the `-` operator, on a bool tensor is not supported"):
        plugrad.tensor([True]).neg_()
    with pytest.raises(RuntimeError, match=r"output with shape \[3\] doesn't match the broadcast shape \[2, 3\]"):
        plugrad.ones(3).pow_(plugrad.ones(2, 3))


def test_forward_mode_tangent_follows_the_in_place_op() -> None:
    import plugrad.autograd.forward_ad as fwAD

    x = plugrad.tensor([0.2, 0.5], dtype=plugrad.float64)
    v = plugrad.tensor([1.0, -2.0], dtype=plugrad.float64)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, v)
        y = d * 1.0
        y.sin_()
        tangent = fwAD.unpack_dual(y).tangent
    assert tangent is not None
    assert all(math.isclose(a, b) for a, b in zip(tangent.tolist(), [math.cos(0.2) * 1.0, math.cos(0.5) * -2.0]))


# ------------------------------------------------------------------------ in-place views
def test_t_and_transpose_in_place() -> None:
    t = plugrad.arange(6.0).reshape(2, 3)
    v0 = t._version
    assert t.t_() is t and t.shape == (3, 2) and t.tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert t._version == v0 + 1
    u = plugrad.arange(24.0).reshape(2, 3, 4)
    u.transpose_(0, 2)
    assert u.shape == (4, 3, 2) and u[3, 2, 1].item() == 23.0
    with pytest.raises(RuntimeError, match=r"t_\(\) expects a tensor with <= 2 dimensions, but self is 3D"):
        u.t_()
    x = plugrad.tensor([[1.0, 2.0, 3.0]], dtype=plugrad.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        x.t_()
    check_op(lambda a: (a * 1).t_() * plugrad.tensor([[1.0], [2.0], [3.0]], dtype=plugrad.float64), [x])


# --------------------------------------------------------------------------- random fills
def test_uniform_and_normal() -> None:
    plugrad.manual_seed(0)
    u = plugrad.empty(4000, dtype=plugrad.float64).uniform_(2.0, 5.0)
    vals = u.tolist()
    assert min(vals) >= 2.0 and max(vals) < 5.0
    mean = sum(vals) / len(vals)
    assert abs(mean - 3.5) < 0.1  # standard error 0.87/sqrt(4000) = 0.014
    n = plugrad.empty(4000).normal_(1.0, 2.0).tolist()
    m = sum(n) / len(n)
    sd = math.sqrt(sum((v - m) ** 2 for v in n) / (len(n) - 1))
    assert abs(m - 1.0) < 0.2 and abs(sd - 2.0) < 0.2
    plugrad.manual_seed(5)
    a = plugrad.empty(5).uniform_().tolist()
    plugrad.manual_seed(5)
    assert plugrad.empty(5).uniform_().tolist() == a
    assert plugrad.zeros(3).uniform_(**{"from": 1.0, "to": 2.0}).min().item() >= 1.0


def test_bernoulli_and_random() -> None:
    b = plugrad.empty(2000).bernoulli_(0.25).tolist()
    assert set(b) <= {0.0, 1.0} and abs(sum(b) / len(b) - 0.25) < 0.06
    p = plugrad.tensor([0.0, 1.0, 1.0, 0.0])
    assert plugrad.zeros(4).bernoulli_(p).tolist() == [0.0, 1.0, 1.0, 0.0]
    assert set(plugrad.zeros(50, dtype=plugrad.int64).bernoulli_().tolist()) <= {0, 1}
    r = plugrad.zeros(500, dtype=plugrad.int64).random_(3, 7).tolist()
    assert set(r) == {3, 4, 5, 6}
    assert set(plugrad.zeros(300).random_(4).tolist()) == {0.0, 1.0, 2.0, 3.0}
    assert set(plugrad.zeros(100, dtype=plugrad.bool).random_().tolist()) <= {True, False}
    top = plugrad.zeros(300).random_().max().item()
    assert 0 <= top <= 2**24 and top == int(top)
    assert plugrad.zeros(10, dtype=plugrad.int64).random_().min().item() >= 0


@pytest.mark.parametrize(
    "fn,exc,msg",
    [
        (
            lambda: plugrad.ones(3, dtype=plugrad.int64).uniform_(),
            NotImplementedError,
            "\"check_uniform_bounds\" not implemented for 'Long'",
        ),
        (
            lambda: plugrad.ones(3, dtype=plugrad.int64).normal_(),
            NotImplementedError,
            "\"normal_kernel_cpu\" not implemented for 'Long'",
        ),
        (
            lambda: plugrad.ones(3).uniform_(2, 1),
            RuntimeError,
            r"uniform_ expects to return a \[from, to\) range, but found from=2 > to=1",
        ),
        (lambda: plugrad.ones(3).normal_(0, -1), RuntimeError, "normal expects std >= 0.0, but found std -1"),
        (
            lambda: plugrad.ones(3).random_(5, 3),
            RuntimeError,
            "random_ expects 'from' to be less than 'to', but got from=5 >= to=3",
        ),
        (
            lambda: plugrad.ones(3).bernoulli_(1.5),
            RuntimeError,
            r"bernoulli_ expects p to be in \[0, 1\], but got p=1.5",
        ),
        (
            lambda: plugrad.zeros(3, dtype=plugrad.uint8).random_(0, 300),
            RuntimeError,
            "to - 1 is out of bounds for unsigned char",
        ),
        (
            lambda: plugrad.zeros(3).random_(0.5, 3),
            TypeError,
            r"random_\(\) received an invalid combination of arguments",
        ),
    ],
)
def test_random_fill_errors(fn: Callable[[], Any], exc: type[Exception], msg: str) -> None:
    with pytest.raises(exc, match=msg):
        fn()


@pytest.mark.parametrize(
    "call,node",
    [
        (lambda y: y.uniform_(0, 2), "UniformBackward0"),
        (lambda y: y.normal_(1, 2), "NormalBackward0"),
        (lambda y: y.bernoulli_(0.3), "BernoulliBackward2"),
        (lambda y: y.bernoulli_(plugrad.full((3,), 0.5)), "BernoulliBackward1"),
        (lambda y: y.random_(5), "RandomBackward1"),
        (lambda y: y.random_(1, 5), "RandomBackward0"),
        (lambda y: y.random_(), "RandomBackward2"),
    ],
)
def test_random_fill_under_autograd_has_zero_gradient(call: Callable[[Any], Any], node: str) -> None:
    x = plugrad.ones(3, requires_grad=True)
    y = x * 2
    call(y)
    assert y.grad_fn is not None and y.grad_fn.name() == node
    (y * 3).sum().backward()
    assert x.grad is not None and x.grad.tolist() == [0.0, 0.0, 0.0]
    with plugrad.no_grad():
        x.uniform_()
    assert x.is_leaf and x.requires_grad


def test_nn_init_pattern_on_a_parameter() -> None:
    w = plugrad.empty(3, 4, requires_grad=True)
    with plugrad.no_grad():
        w.normal_(0.0, 0.02)
        w[0].zero_()
    rows = w.tolist()
    assert rows[0] == [0.0] * 4 and all(abs(v) < 0.2 for v in rows[1])
