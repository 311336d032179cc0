"""Reductions, scans and the softmax family: values against pure-Python references,
gradients against central differences (first and second order), dims as int, negative
int or tuple, ``keepdim``, 0-d and empty inputs, dtypes and errors."""

from __future__ import annotations

import math
import random
from typing import Any

import plugrad
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from op_helpers import check_op, flatten, leaf, reduce_ref, scan_ref, seeds, shapes

SETTINGS = settings(max_examples=20, deadline=None)


@st.composite
def shape_and_dims(draw: Any, allow_none: bool = True, single: bool = False) -> tuple[tuple[int, ...], Any, bool]:
    """A shape, a dim spec valid for it (None, an int maybe negative, or a tuple), and keepdim."""
    shape = draw(shapes(ndim_min=0 if allow_none and not single else 1))
    nd = len(shape)
    keep = draw(st.booleans())
    if nd == 0:
        return shape, (None if allow_none and not single else 0), False
    choices = ["int"] + ([] if single else ["tuple"]) + (["none"] if allow_none else [])
    kind = draw(st.sampled_from(choices))
    if kind == "none":
        return shape, None, False
    if kind == "int":
        d = draw(st.integers(0, nd - 1))
        return shape, (d - nd if draw(st.booleans()) else d), keep
    dims = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
    return shape, tuple(d - nd if draw(st.booleans()) else d for d in dims), keep


def _dims(dim: Any) -> list[int] | None:
    if dim is None:
        return None
    return [dim] if isinstance(dim, int) else list(dim)


def _kw(dim: Any, keep: bool) -> dict[str, Any]:
    return {} if dim is None else {"dim": dim, "keepdim": keep}


def _var(xs: list[float], correction: float = 1) -> float:
    m = sum(xs) / len(xs)
    dof = len(xs) - correction
    return sum((x - m) ** 2 for x in xs) / dof if dof > 0 else math.nan


REDUCTIONS = {
    "sum": (lambda x, kw: x.sum(**kw), lambda xs: sum(xs)),
    "mean": (lambda x, kw: plugrad.mean(x, **kw), lambda xs: sum(xs) / len(xs)),
    "amax": (lambda x, kw: plugrad.amax(x, **kw), max),
    "amin": (lambda x, kw: x.amin(**kw), min),
    "var": (lambda x, kw: x.var(**kw), _var),
    "std": (lambda x, kw: plugrad.std(x, **kw), lambda xs: math.sqrt(_var(xs))),
    "var0": (lambda x, kw: x.var(**kw, correction=0), lambda xs: _var(xs, 0)),
    "norm": (lambda x, kw: x.norm(**kw), lambda xs: math.sqrt(sum(v * v for v in xs))),
    "norm1": (lambda x, kw: plugrad.linalg.vector_norm(x, 1, **kw), lambda xs: sum(abs(v) for v in xs)),
    "norm3": (lambda x, kw: plugrad.linalg.vector_norm(x, 3, **kw), lambda xs: sum(abs(v) ** 3 for v in xs) ** (1 / 3)),
    "norm_inf": (lambda x, kw: plugrad.linalg.vector_norm(x, math.inf, **kw), lambda xs: max(abs(v) for v in xs)),
    "logsumexp": (
        lambda x, kw: plugrad.logsumexp(x, kw.get("dim", tuple(range(x.ndim))), kw.get("keepdim", False)),
        lambda xs: math.log(sum(math.exp(v) for v in xs)),
    ),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SETTINGS
@given(sd=shape_and_dims(), seed=seeds())
def test_reductions(name: str, sd: tuple[tuple[int, ...], Any, bool], seed: int) -> None:
    shape, dim, keep = sd
    fn, ref = REDUCTIONS[name]
    if name in ("var", "std"):
        assume(x_numel(shape) // max(1, x_numel(_out_shape(shape, dim))) > 1)  # at least 2 per group
    x = distinct(random.Random(seed), shape)
    kw = _kw(dim, keep)
    expected = reduce_ref(x.tolist(), shape, _dims(dim), keep, ref)
    check_op(lambda t: fn(t, kw), [x], expected=expected, dtype=plugrad.float64, seed=seed)


def distinct(rng: random.Random, shape: tuple[int, ...]) -> plugrad.Tensor:
    """Values with distinct magnitudes of random sign, away from 0: no ties, no kinks."""
    n = x_numel(shape)
    mags = rng.sample(range(1, 10 * n + 10), n)
    vals = [(0.1 + m / (5 * n + 5)) * rng.choice((-1.0, 1.0)) for m in mags]
    return plugrad.tensor(vals, dtype=plugrad.float64).reshape(shape).requires_grad_()


def _out_shape(shape: tuple[int, ...], dim: Any) -> tuple[int, ...]:
    if dim is None:
        return ()
    ds = {d % len(shape) for d in ([dim] if isinstance(dim, int) else dim)} if shape else set()
    return tuple(s for i, s in enumerate(shape) if i not in ds)


def x_numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


@SETTINGS
@given(sd=shape_and_dims(allow_none=True), seed=seeds())
def test_prod(sd: tuple[tuple[int, ...], Any, bool], seed: int) -> None:
    shape, dim, keep = sd
    if isinstance(dim, tuple):
        dim = dim[0]
    x = leaf(random.Random(seed), shape, 0.5, 1.5)
    expected = reduce_ref(x.tolist(), shape, _dims(dim), keep, math.prod)
    check_op(lambda t: t.prod(**_kw(dim, keep)), [x], expected=expected, seed=seed)


@pytest.mark.parametrize("zeros", [[0], [0, 2], [1, 3]])
def test_prod_gradient_with_zeros(zeros: list[int]) -> None:
    vals = [0.5, -1.5, 2.0, 0.75]
    for z in zeros:
        vals[z] = 0.0
    x = plugrad.tensor(vals, dtype=plugrad.float64, requires_grad=True)
    (g,) = plugrad.autograd.grad(x.prod(), x)
    expected = [math.prod(v for j, v in enumerate(vals) if j != i) for i in range(4)]
    assert g.tolist() == pytest.approx(expected)
    m = plugrad.tensor([vals, [1.0, 2.0, 3.0, 4.0]], dtype=plugrad.float64, requires_grad=True)
    check_op(lambda t: t.prod(1), [m], expected=[math.prod(vals), 24.0])
    check_op(lambda t: t.prod(), [m], expected=math.prod(vals) * 24.0)


@SETTINGS
@given(sd=shape_and_dims(allow_none=False, single=True), seed=seeds())
def test_scans_and_softmax(sd: tuple[tuple[int, ...], Any, bool], seed: int) -> None:
    shape, dim, _ = sd
    rng = random.Random(seed)
    x = leaf(rng, shape, -2, 2)
    vals = x.tolist()

    def cumsum(line: list[float]) -> list[float]:
        out, acc = [], 0.0
        for v in line:
            acc += v
            out.append(acc)
        return out

    def cumprod(line: list[float]) -> list[float]:
        out, acc = [], 1.0
        for v in line:
            acc *= v
            out.append(acc)
        return out

    def softmax(line: list[float]) -> list[float]:
        m = max(line)
        e = [math.exp(v - m) for v in line]
        return [v / sum(e) for v in e]

    def log_softmax(line: list[float]) -> list[float]:
        m = max(line)
        lse = m + math.log(sum(math.exp(v - m) for v in line))
        return [v - lse for v in line]

    check_op(lambda t: t.cumsum(dim), [x], expected=scan_ref(vals, shape, dim, cumsum), seed=seed)
    check_op(lambda t: plugrad.cumprod(t, dim), [x], expected=scan_ref(vals, shape, dim, cumprod), seed=seed)
    check_op(lambda t: plugrad.softmax(t, dim), [x], expected=scan_ref(vals, shape, dim, softmax), seed=seed)
    check_op(lambda t: t.log_softmax(dim), [x], expected=scan_ref(vals, shape, dim, log_softmax), seed=seed)


def test_cumprod_gradient_with_zeros() -> None:
    x = plugrad.tensor(
        [[2.0, 0.0, 3.0, 0.0, 1.5], [0.0, 1.0, 2.0, 3.0, 4.0]], dtype=plugrad.float64, requires_grad=True
    )
    check_op(lambda t: t.cumprod(1), [x], expected=[[2.0, 0.0, 0.0, 0.0, 0.0], [0.0] * 5])
    # d cumprod_j / d x_1 at the zero: prod of the others up to j
    (g,) = plugrad.autograd.grad(x.cumprod(1)[0].sum(), x)
    assert g.tolist()[0] == [1.0, 2.0 + 6.0, 0.0, 0.0, 0.0]


@SETTINGS
@given(shape=shapes(ndim_min=1), seed=seeds(), keep=st.booleans(), data=st.data())
def test_max_min_with_dim(shape: tuple[int, ...], seed: int, keep: bool, data: Any) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = random.Random(seed)
    vals = rng.sample(range(1000), x_numel(shape))  # distinct values: no ties
    x = plugrad.tensor([v / 100 for v in vals], dtype=plugrad.float64).reshape(shape).requires_grad_()
    for op, pick in (("max", max), ("min", min)):
        res = getattr(x, op)(dim, keepdim=keep)
        assert res.indices.dtype is plugrad.int64 and res.indices.grad_fn is None
        assert res.values.grad_fn.name() == ("MaxBackward0" if op == "max" else "MinBackward0")
        expected = reduce_ref(x.tolist(), shape, [dim], keep, pick)
        check_op(lambda t, o=op: getattr(plugrad, o)(t, dim, keep).values, [x], expected=expected, seed=seed)
        idx = reduce_ref(x.tolist(), shape, [dim], keep, lambda g, p=pick: g.index(p(g)))
        assert res.indices.tolist() == idx
        values, indices = res  # a named tuple unpacks
        assert values is res[0] and indices is res[1]


def test_max_gradient_goes_to_the_index_and_amax_shares_ties() -> None:
    x = plugrad.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    x.max(1).values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]  # the first maximum, as argmax picks
    x.grad = None
    x.amax(1).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.5, 0.5, 0.0]]
    x.grad = None
    x.max().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]]
    assert x.max().grad_fn.name() == "MaxBackward1"
    assert x.amax().grad_fn.name() == "AmaxBackward0"


def test_argmax_argmin_all_any_and_integer_reductions() -> None:
    x = plugrad.tensor([[1.0, 5.0, 5.0], [7.0, -2.0, 0.0]])
    assert repr(x.argmax()) == "tensor(3)"
    assert repr(x.argmax(1)) == "tensor([1, 0])"
    assert repr(x.argmin(0, keepdim=True)) == "tensor([[0, 1, 1]])"
    assert repr(plugrad.argmax(x, keepdim=True)) == "tensor([[3]])"
    assert repr(x.all()) == "tensor(False)"
    assert repr(x.any(1)) == "tensor([True, True])"
    assert repr(plugrad.all(x, (0, 1))) == "tensor(False)"
    i = plugrad.tensor([[1, 2], [3, 4]])
    assert repr(i.sum()) == "tensor(10)"
    assert repr(i.sum(0)) == "tensor([4, 6])"
    assert repr(i.prod(1)) == "tensor([ 2, 12])"
    assert repr(i.cumsum(1)) == "tensor([[1, 3],\n        [3, 7]])"
    assert repr(i.max(0)) == "plugrad.return_types.max(\nvalues=tensor([3, 4]),\nindices=tensor([1, 1]))"
    assert repr(i.amax()) == "tensor(4)"
    i32 = plugrad.tensor([1, 2], dtype=plugrad.int32)
    assert i32.sum().dtype is plugrad.int64 and i32.cumsum(0).dtype is plugrad.int64
    assert repr(i32.sum(dtype=plugrad.int32)) == "tensor(3, dtype=plugrad.int32)"
    b = plugrad.tensor([True, False, True])
    assert repr(b.sum()) == "tensor(2)"
    assert repr(b.max()) == "tensor(True)"
    assert repr(plugrad.count_nonzero(i - 1)) == "tensor(3)"
    assert repr(plugrad.logsumexp(i, 1)) == "tensor([2.3133, 4.3133])"


def test_stable_at_large_inputs() -> None:
    x = plugrad.tensor([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -999.0]])
    assert plugrad.softmax(x, 1).tolist()[0] == pytest.approx([0.24472847, 0.66524096, 0.09003057], rel=1e-5)
    assert plugrad.logsumexp(x, 1).tolist() == pytest.approx([1001.40760596, -998.59239404], rel=1e-6)
    ls = plugrad.log_softmax(x, 1)
    assert all(math.isfinite(v) for v in flatten(ls.tolist()))
    assert plugrad.logsumexp(plugrad.tensor([-math.inf, -math.inf]), 0).item() == -math.inf


def test_empty_and_zero_dim() -> None:
    e = plugrad.zeros(0, 3, dtype=plugrad.float64, requires_grad=True)
    assert e.sum().item() == 0.0 and e.prod().item() == 1.0 and math.isnan(e.mean().item())
    assert e.sum(0).tolist() == [0.0, 0.0, 0.0]
    assert plugrad.logsumexp(e, 0).tolist() == [-math.inf] * 3
    assert e.amax(1).shape == (0,) and e.norm().item() == 0.0
    (g,) = plugrad.autograd.grad(e.sum() + e.amax(1).sum(), e)
    assert g.shape == (0, 3)
    z = plugrad.tensor(1.5, dtype=plugrad.float64, requires_grad=True)
    check_op(
        lambda t: t.sum(0) * t.mean() + t.amax() + t.softmax(0) + t.logsumexp(0) + t.cumsum(0),
        [z],
        expected=1.5 * 1.5 + 1.5 + 1.0 + 1.5 + 1.5,
    )
    assert z.max(0).values.item() == 1.5 and z.max(0).indices.item() == 0


@pytest.mark.parametrize(
    "fn,exc,msg",
    [
        (
            lambda: plugrad.ones(2, 3).sum(2),
            IndexError,
            "Dimension out of range (expected to be in range of [-2, 1], but got 2)",
        ),
        (lambda: plugrad.ones(2, 3).sum((0, -2)), RuntimeError, "dim 0 appears multiple times in the list of dims"),
        (lambda: plugrad.tensor([1, 2]).mean(), RuntimeError, "mean(): could not infer output dtype."),
        (
            lambda: plugrad.tensor([1, 2]).var(),
            RuntimeError,
            "std and var only support floating point and complex dtypes",
        ),
        (lambda: plugrad.tensor([1, 2]).softmax(0), NotImplementedError, "not implemented for 'Long'"),
        (
            lambda: plugrad.ones(0, 3).max(),
            RuntimeError,
            "max(): Expected reduction dim to be specified for input.numel() == 0.",
        ),
        (lambda: plugrad.ones(0, 3).max(0), IndexError, "max(): Expected reduction dim 0 to have non-zero size."),
        (
            lambda: plugrad.ones(0).argmax(),
            IndexError,
            "argmax(): Expected reduction dim to be specified for input.numel() == 0.",
        ),
        (lambda: plugrad.ones(3).prod((0,)), TypeError, "must be int"),
        (
            lambda: plugrad.tensor([1, 2]).norm(),
            RuntimeError,
            "Expected a floating point or complex tensor as input. Got Long",
        ),
    ],
)
def test_errors(fn, exc, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc) as info:
        fn()
    assert msg in str(info.value)
