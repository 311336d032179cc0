"""Creation and comparison helpers and index ops users reach for: ``eye``, ``randperm``,
``randint`` overloads, ``generator=``, ``isclose``/``allclose``/``equal``, ``fmod``,
``masked_select``, ``index_add``, ``index_fill``, ``tril``/``triu``/``diag``. Values against
hand-computed or pure-Python references, gradients against float64 central differences."""

from __future__ import annotations

import math
import random
from typing import Any

import plugrad
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_helpers import broadcast_ref, check_op, leaf, nested, seeds, shapes

SETTINGS = settings(max_examples=20, deadline=None)
NAN, INF = math.nan, math.inf


# ------------------------------------------------------------------------ creation
def test_eye() -> None:
    assert plugrad.eye(3).tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    e = plugrad.eye(2, 3, dtype=plugrad.int64)
    assert e.tolist() == [[1, 0, 0], [0, 1, 0]] and e.dtype is plugrad.int64
    assert plugrad.eye(0).shape == (0, 0) and plugrad.eye(3, 0).shape == (3, 0)
    assert plugrad.eye(2, requires_grad=True).requires_grad
    assert plugrad.eye(2, dtype=plugrad.bool).tolist() == [[True, False], [False, True]]
    with pytest.raises(RuntimeError, match="n must be greater or equal to 0, got -1"):
        plugrad.eye(-1)
    with pytest.raises(RuntimeError, match="m must be greater or equal to 0, got -1"):
        plugrad.eye(2, -1)
    with pytest.raises(TypeError, match=r"eye\(\): argument 'n' \(position 1\) must be int, not float"):
        plugrad.eye(2.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, 1, 5, 40])
def test_randperm_is_a_permutation(n: int) -> None:
    p = plugrad.randperm(n)
    assert p.dtype is plugrad.int64 and p.shape == (n,)
    assert sorted(p.tolist()) == list(range(n))


def test_randperm_options_and_seed() -> None:
    assert plugrad.randperm(4, dtype=plugrad.float32).dtype is plugrad.float32
    plugrad.manual_seed(3)
    a = plugrad.randperm(30).tolist()
    plugrad.manual_seed(3)
    assert plugrad.randperm(30).tolist() == a
    assert a != list(range(30))
    with pytest.raises(RuntimeError, match=r"Trying to create tensor with negative dimension -1: \[-1\]"):
        plugrad.randperm(-1)
    with pytest.raises(RuntimeError, match="Only Tensors of floating point and complex dtype can require gradients"):
        plugrad.randperm(3, requires_grad=True)


def test_randint_overloads() -> None:
    for t, lo, hi in (
        (plugrad.randint(5, (200,)), 0, 5),
        (plugrad.randint(3, 5, (200,)), 3, 5),
        (plugrad.randint(5, size=(200,)), 0, 5),
        (plugrad.randint(low=-2, high=2, size=(200,)), -2, 2),
        (plugrad.randint(2, 4, size=(10, 20)), 2, 4),
    ):
        v = t.flatten().tolist()
        assert t.dtype is plugrad.int64 and min(v) >= lo and max(v) < hi and set(v) == set(range(lo, hi))
    assert plugrad.randint(2, (3,), dtype=plugrad.float32).dtype is plugrad.float32
    assert plugrad.randint(0, 2**40, (4,)).dtype is plugrad.int64
    with pytest.raises(TypeError, match=r"randint\(\) received an invalid combination of arguments - got \(int\)"):
        plugrad.randint(5)
    with pytest.raises(RuntimeError, match="random_ expects 'from' to be less than 'to', but got from=5 >= to=3"):
        plugrad.randint(5, 3, (2,))
    with pytest.raises(RuntimeError, match="Only Tensors of floating point"):
        plugrad.randint(5, (2,), requires_grad=True)


@pytest.mark.parametrize(
    "make",
    [
        lambda g: plugrad.rand(2, generator=g),
        lambda g: plugrad.randn(2, generator=g),
        lambda g: plugrad.randint(3, (2,), generator=g),
        lambda g: plugrad.randperm(3, generator=g),
        lambda g: plugrad.zeros(2).uniform_(generator=g),
        lambda g: plugrad.zeros(2).normal_(generator=g),
        lambda g: plugrad.zeros(2).bernoulli_(generator=g),
        lambda g: plugrad.zeros(2).random_(generator=g),
    ],
)
def test_generator_keyword(make: Any) -> None:
    assert make(None).shape == (2,) or make(None).shape == (3,)
    with pytest.raises(TypeError, match=r"argument 'generator' must be plugrad\.Generator, not object"):
        make(object())


# ---------------------------------------------------------------------- comparison
def _isclose_ref(rtol: float, atol: float, equal_nan: bool) -> Any:
    def ref(a: float, b: float) -> bool:
        if a == b:
            return True
        if math.isnan(a) or math.isnan(b):
            return equal_nan and math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return False
        return abs(a - b) <= atol + rtol * abs(b)

    return ref


@SETTINGS
@given(
    sa=st.sampled_from([(), (4,), (3, 4), (1, 4)]),
    sb=st.sampled_from([(), (4,), (3, 1)]),
    rtol=st.sampled_from([0.0, 1e-5, 0.1]),
    atol=st.sampled_from([0.0, 1e-8, 0.5]),
    equal_nan=st.booleans(),
    seed=seeds(),
)
def test_isclose_matches_the_formula(sa: Any, sb: Any, rtol: float, atol: float, equal_nan: bool, seed: int) -> None:
    rng = random.Random(seed)
    pool = [0.0, 1.0, 1.05, -1.0, 2.0, NAN, INF, -INF, 1.0 + 1e-9]
    va = nested([rng.choice(pool) for _ in range(math.prod(sa))], sa)
    vb = nested([rng.choice(pool) for _ in range(math.prod(sb))], sb)
    a = plugrad.tensor(va, dtype=plugrad.float64)
    b = plugrad.tensor(vb, dtype=plugrad.float64)
    got = plugrad.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    assert got.dtype is plugrad.bool
    assert got.tolist() == broadcast_ref(_isclose_ref(rtol, atol, equal_nan), (va, sa), (vb, sb))
    assert a.allclose(b, rtol, atol, equal_nan) is all(_flat(got.tolist()))


def _flat(v: Any) -> list[Any]:
    return [x for item in v for x in _flat(item)] if isinstance(v, list) else [v]


def test_isclose_dtypes_and_errors() -> None:
    assert plugrad.isclose(plugrad.tensor([1, 2]), plugrad.tensor([1, 3])).tolist() == [True, False]
    assert plugrad.isclose(plugrad.tensor([100, 2]), plugrad.tensor([101, 2]), rtol=0.01).tolist() == [True, True]
    assert plugrad.isclose(plugrad.tensor([True]), plugrad.tensor([True])).tolist() == [True]
    assert plugrad.allclose(plugrad.ones(2), plugrad.ones(2)) is True
    with pytest.raises(RuntimeError, match="Long did not match Float"):
        plugrad.isclose(plugrad.tensor([1, 2]), plugrad.tensor([1.0, 3.0]))
    with pytest.raises(RuntimeError, match="rtol must be greater than or equal to zero, but got -1"):
        plugrad.isclose(plugrad.ones(1), plugrad.ones(1), rtol=-1)
    with pytest.raises(RuntimeError, match="atol must be greater than or equal to zero, but got -1"):
        plugrad.isclose(plugrad.ones(1), plugrad.ones(1), atol=-1)
    with pytest.raises(TypeError, match=r"isclose\(\): argument 'other' \(position 2\) must be Tensor, not float"):
        plugrad.isclose(plugrad.ones(1), 1.0)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="must match the size"):
        plugrad.allclose(plugrad.ones(2), plugrad.ones(3))


def test_equal() -> None:
    assert plugrad.equal(plugrad.ones(2), plugrad.ones(2)) is True
    assert plugrad.equal(plugrad.ones(2), plugrad.ones(3)) is False
    assert plugrad.ones(2).equal(plugrad.ones(1, 2)) is False
    assert plugrad.equal(plugrad.ones(2), plugrad.ones(2, dtype=plugrad.int64)) is True
    assert plugrad.equal(plugrad.tensor([NAN]), plugrad.tensor([NAN])) is False
    with pytest.raises(TypeError, match=r"equal\(\): argument 'other' \(position 2\) must be Tensor, not int"):
        plugrad.equal(plugrad.ones(2), 1)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- fmod
def test_fmod_values() -> None:
    assert plugrad.fmod(plugrad.tensor([-3.0, 3.0, -3.5]), 2).tolist() == [-1.0, 1.0, -1.5]
    assert plugrad.fmod(plugrad.tensor([-3, 3]), plugrad.tensor([2, -2])).tolist() == [-1, 1]
    assert plugrad.tensor([5, 3]).fmod(2.5).tolist() == [0.0, 0.5]
    assert all(math.isnan(v) for v in plugrad.fmod(plugrad.tensor([-3.0, 3.0]), 0.0).tolist())
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        plugrad.fmod(plugrad.tensor([-3, 3]), 0)
    with pytest.raises(NotImplementedError, match="\"fmod_cpu\" not implemented for 'Bool'"):
        plugrad.fmod(plugrad.tensor([True]), True)


@SETTINGS
@given(sa=st.sampled_from([(), (4,), (3, 4), (1, 4)]), sb=st.sampled_from([(), (4,), (3, 1)]), seed=seeds())
def test_fmod_matches_math_fmod_and_gradients(sa: Any, sb: Any, seed: int) -> None:
    rng = random.Random(seed)
    x = leaf(rng, sa, -5.0, 5.0)
    y = plugrad.tensor(
        [rng.choice([-1, 1]) * rng.uniform(0.7, 2.0) for _ in range(math.prod(sb))], dtype=plugrad.float64
    )
    y = y.reshape(sb).requires_grad_()
    expected = broadcast_ref(math.fmod, (x.tolist(), sa), (y.tolist(), sb))
    q = broadcast_ref(lambda a, b: abs(a / b - round(a / b)), (x.tolist(), sa), (y.tolist(), sb))
    if min(_flat(q)) < 1e-3 or min(abs(v) for v in _flat(x.tolist())) < 1e-3:
        return  # too close to a jump of fmod for central differences
    check_op(lambda a, b: plugrad.fmod(a, b), [x, y], expected=expected, dtype=plugrad.float64)
    check_op(lambda a: a.fmod(1.5), [x], dtype=plugrad.float64)
    assert plugrad.fmod(x, y).grad_fn.name() == "FmodBackward1" and plugrad.fmod(x, 2).grad_fn.name() == "FmodBackward0"


# ------------------------------------------------------------------ masked_select
@SETTINGS
@given(shape=shapes(ndim_min=1), seed=seeds(), data=st.data())
def test_masked_select(shape: tuple[int, ...], seed: int, data: Any) -> None:
    rng = random.Random(seed)
    x = leaf(rng, shape)
    mask_shape = data.draw(st.sampled_from([shape, shape[1:], (1,) * len(shape)]))
    mvals = [rng.random() < 0.5 for _ in range(math.prod(mask_shape))]
    mask = plugrad.tensor(mvals, dtype=plugrad.bool).reshape(mask_shape)
    pairs = broadcast_ref(lambda v, m: (v, m), (x.tolist(), shape), (mask.tolist(), mask_shape))
    expected = [v for v, m in _flat_pairs(pairs) if m]
    out = plugrad.masked_select(x, mask)
    assert out.tolist() == expected and out.grad_fn.name() == "MaskedSelectBackward0"
    if expected:
        check_op(lambda t: t.masked_select(mask), [x], dtype=plugrad.float64)


def _flat_pairs(v: Any) -> list[Any]:
    return [x for item in v for x in _flat_pairs(item)] if isinstance(v, list) else [v]


def test_masked_select_broadcast_gradient_and_errors() -> None:
    x = plugrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = plugrad.tensor([[True, False, True], [False, False, True]])
    out = x.masked_select(mask)
    assert out.tolist() == [1.0, 3.0, 3.0]
    out.sum().backward()
    assert x.grad is not None and x.grad.tolist() == [1.0, 0.0, 2.0]  # broadcast positions accumulate
    assert plugrad.tensor(3.0).masked_select(plugrad.tensor([True, False])).tolist() == [3.0]
    with pytest.raises(RuntimeError, match="masked_select: expected BoolTensor for mask"):
        x.masked_select(plugrad.tensor([1, 0, 1]))
    with pytest.raises(TypeError, match=r"masked_select\(\): argument 'mask' \(position 2\) must be Tensor, not int"):
        plugrad.masked_select(x, 1)  # type: ignore[arg-type]


# ------------------------------------------------------------- index_add, index_fill
def test_index_add_values_and_gradients() -> None:
    x = plugrad.zeros(3, 4)
    i = plugrad.tensor([0, 2, 0])
    assert x.index_add(0, i, plugrad.ones(3, 4)).tolist() == [[2.0] * 4, [0.0] * 4, [1.0] * 4]
    assert (
        plugrad.index_add(x, 1, plugrad.tensor([1, 1]), plugrad.ones(3, 2), alpha=2).tolist()
        == [[0.0, 4.0, 0.0, 0.0]] * 3
    )
    assert plugrad.zeros(3, dtype=plugrad.int64).index_add(
        0, i, plugrad.ones(3, dtype=plugrad.int64), alpha=1.5
    ).tolist() == [2, 0, 1]
    assert plugrad.tensor(5.0).index_add(0, plugrad.tensor([0]), plugrad.tensor(2.0)).tolist() == 7.0
    rng = random.Random(0)
    a, src = leaf(rng, (4, 3)), leaf(rng, (3, 5))
    idx = plugrad.tensor([2, 0, 2, 1, 2])
    check_op(lambda t, s: t.index_add(1, idx, s, alpha=-0.5), [leaf(rng, (3, 3)), src], dtype=plugrad.float64)
    check_op(lambda t, s: plugrad.index_add(t, 0, plugrad.tensor([3, 3, 0]), s), [a, leaf(rng, (3, 3))])
    assert a.index_add(0, plugrad.tensor([1]), a[:1]).grad_fn.name() == "IndexAddBackward0"


@pytest.mark.parametrize(
    "fn,exc,msg",
    [
        (
            lambda x: x.index_add(0, plugrad.tensor([0.0]), plugrad.ones(1, 4)),
            RuntimeError,
            "Expected dtype int32/int64 for index but got: Float",
        ),
        (
            lambda x: x.index_add(0, plugrad.tensor([0]), plugrad.ones(1, 4, dtype=plugrad.float64)),
            RuntimeError,
            r"self \(Float\) and source \(Double\) must have the same scalar type",
        ),
        (
            lambda x: x.index_add(0, plugrad.tensor([0, 1, 2]), plugrad.ones(2, 4)),
            RuntimeError,
            r"Number of indices \(3\) should be equal to source.size\(dim\): \(2\), for dim: 0",
        ),
        (
            lambda x: x.index_add(0, plugrad.tensor([0, 1, 2]), plugrad.ones(3, 5)),
            RuntimeError,
            r"Got self.shape = \[3, 4\] source.shape = \[3, 5\]",
        ),
        (
            lambda x: x.index_add(0, plugrad.tensor([[0]]), plugrad.ones(1, 4)),
            IndexError,
            "Index is supposed to be a vector",
        ),
        (
            lambda x: x.index_add(0, plugrad.tensor([5]), plugrad.ones(1, 4)),
            RuntimeError,
            "index 5 is out of bounds for dimension 0 with size 3",
        ),
        (
            lambda x: x.index_fill(1, plugrad.tensor([0, 4]), 1),
            IndexError,
            "index 4 is out of bounds for dimension 1 with size 4",
        ),
        (
            lambda x: x.index_fill(1, plugrad.tensor([0.0]), 1),
            IndexError,
            r"index_fill_\(\): Expected dtype int64 for index.",
        ),
        (lambda x: x.index_fill(1, plugrad.tensor([[0]]), 1), RuntimeError, "Index has to be a vector/scalar"),
        (
            lambda x: x.index_fill(1, plugrad.tensor([0]), plugrad.tensor([2.0])),
            RuntimeError,
            "only supports a 0-dimensional value tensor, but got tensor with 1 dimension",
        ),
    ],
)
def test_index_op_errors(fn: Any, exc: type[Exception], msg: str) -> None:
    with pytest.raises(exc, match=msg):
        fn(plugrad.zeros(3, 4))


def test_index_fill_values_and_gradients() -> None:
    x = plugrad.zeros(3, 4)
    assert x.index_fill(1, plugrad.tensor([0, -1]), -1.0).tolist() == [[-1.0, 0.0, 0.0, -1.0]] * 3
    assert x.index_fill(0, plugrad.tensor(1), plugrad.tensor(2.0)).tolist()[1] == [2.0] * 4
    assert plugrad.zeros(3, dtype=plugrad.int64).index_fill(0, plugrad.tensor([1]), 2.7).tolist() == [0, 2, 0]
    assert plugrad.tensor(5.0).index_fill(0, plugrad.tensor([0]), 2.0).tolist() == 2.0
    rng = random.Random(1)
    check_op(lambda t: plugrad.index_fill(t, 1, plugrad.tensor([2, 0]), 0.5), [leaf(rng, (2, 3))])
    v = plugrad.tensor(0.3, dtype=plugrad.float64, requires_grad=True)
    check_op(lambda t, w: t.index_fill(0, plugrad.tensor([1, 1, 0]), w), [leaf(rng, (3, 2)), v])
    assert leaf(rng, (2,)).index_fill(0, plugrad.tensor([0]), v).grad_fn.name() == "IndexFillBackward1"


# ------------------------------------------------------------------ tril, triu, diag
@SETTINGS
@given(shape=shapes(ndim_min=2), k=st.integers(-4, 4), seed=seeds(), lower=st.booleans())
def test_tril_triu(shape: tuple[int, ...], k: int, seed: int, lower: bool) -> None:
    x = leaf(random.Random(seed), shape)
    vals = x.tolist()

    def mask(v: Any, depth: int) -> Any:
        if depth == 2:
            return [
                [e if ((j - i <= k) if lower else (j - i >= k)) else 0.0 for j, e in enumerate(row)]
                for i, row in enumerate(v)
            ]
        return [mask(s, depth - 1) for s in v]

    fn = (lambda t: t.tril(k)) if lower else (lambda t: plugrad.triu(t, diagonal=k))
    check_op(fn, [x], expected=mask(vals, len(shape)), dtype=plugrad.float64)
    assert fn(x).grad_fn.name() == ("TrilBackward0" if lower else "TriuBackward0")


def test_tri_errors_and_in_place() -> None:
    with pytest.raises(RuntimeError, match="tril: input tensor must have at least 2 dimensions"):
        plugrad.tril(plugrad.ones(3))
    with pytest.raises(TypeError, match=r"tril\(\): argument 'diagonal' \(position 1\) must be int, not float"):
        plugrad.ones(2, 2).tril(1.5)  # type: ignore[arg-type]
    b = plugrad.ones(2, 2, dtype=plugrad.bool)
    assert b.tril().tolist() == [[True, False], [True, True]]
    t = plugrad.ones(2, 3)
    assert t.triu_(1) is t and t.tolist() == [[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]


@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3])
def test_diag(k: int) -> None:
    rng = random.Random(k + 10)
    v = leaf(rng, (3,))
    n = 3 + abs(k)
    vals = v.tolist()
    expected = [[vals[i - max(0, -k)] if j - i == k else 0.0 for j in range(n)] for i in range(n)]
    check_op(lambda t: plugrad.diag(t, k), [v], expected=expected, dtype=plugrad.float64)
    m = leaf(rng, (3, 4))
    mv = m.tolist()
    expected_d = [mv[i][i + k] for i in range(3) if 0 <= i + k < 4]
    check_op(lambda t: t.diag(k), [m], expected=expected_d if expected_d else None, dtype=plugrad.float64)
    assert plugrad.diag(plugrad.tensor([1, 2]), 1).tolist() == [[0, 1, 0], [0, 0, 2], [0, 0, 0]]


def test_diag_errors() -> None:
    for t, nd in ((plugrad.tensor(1.0), 0), (plugrad.ones(2, 2, 2), 3)):
        with pytest.raises(RuntimeError, match=f"diag\\(\\): Supports 1D or 2D tensors. Got {nd}D"):
            plugrad.diag(t)
    assert plugrad.diag(plugrad.ones(3, 4), 5).shape == (0,)
