"""Indexing and index-driven ops: ``t[key]`` (basic, advanced, boolean), ``index_select``,
``gather``, ``take_along_dim``, ``scatter``, ``scatter_add``, ``masked_fill``,
``nonzero``; values against references, gradients against central differences,
repeated indices accumulating, errors."""

from __future__ import annotations

import itertools
import random
from typing import Any

import plugrad
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_helpers import check_op, flatten, leaf, nested, seeds, shapes

SETTINGS = settings(max_examples=20, deadline=None)


def _at(values: Any, idx: Any) -> Any:
    for i in idx:
        values = values[i]
    return values


@SETTINGS
@given(shape=shapes(ndim_min=1), seed=seeds(), data=st.data())
def test_basic_indexing(shape: tuple[int, ...], seed: int, data: Any) -> None:
    x = leaf(random.Random(seed), shape)
    vals = x.tolist()
    i = data.draw(st.integers(-shape[0], shape[0] - 1))
    check_op(lambda t: t[i], [x], expected=vals[i])
    start = data.draw(st.integers(-5, 5))
    stop = data.draw(st.integers(-5, 5))
    step = data.draw(st.integers(1, 3))
    check_op(lambda t: t[start:stop:step], [x], expected=vals[start:stop:step] or None)
    assert x[start:stop:step].shape[0] == len(range(*slice(start, stop, step).indices(shape[0])))
    check_op(lambda t: t[None, ..., None], [x], expected=[nested(flatten(vals), (*shape, 1))])
    check_op(
        lambda t: t[..., -1],
        [x],
        expected=nested(
            [_at(vals, (*idx, shape[-1] - 1)) for idx in itertools.product(*(range(s) for s in shape[:-1]))], shape[:-1]
        ),
    )
    if len(shape) >= 2:
        j = data.draw(st.integers(0, shape[1] - 1))
        check_op(lambda t: t[:, j], [x], expected=[row[j] for row in vals])
        check_op(lambda t: t[i, ::2], [x], expected=vals[i][::2])


@SETTINGS
@given(shape=shapes(ndim_min=1), seed=seeds(), data=st.data())
def test_advanced_indexing_accumulates_repeated_indices(shape: tuple[int, ...], seed: int, data: Any) -> None:
    x = leaf(random.Random(seed), shape)
    vals = x.tolist()
    idx = data.draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=6))
    check_op(lambda t: t[idx], [x], expected=[vals[k] for k in idx])
    it = plugrad.tensor(idx)
    check_op(lambda t: t[it], [x], expected=[vals[k] for k in idx])
    # the gradient counts how often each row was picked
    (g,) = plugrad.autograd.grad(x[it].sum(), x)
    counts = [sum(1 for k in idx if k % shape[0] == r) for r in range(shape[0])]
    assert [flatten(row)[0] if isinstance(row, list) else row for row in g.tolist()] == [float(c) for c in counts]
    if len(shape) >= 2:
        cols = data.draw(st.lists(st.integers(0, shape[1] - 1), min_size=len(idx), max_size=len(idx)))
        check_op(lambda t: t[idx, cols], [x], expected=[vals[a][b] for a, b in zip(idx, cols)])
        check_op(lambda t: t[:, cols], [x], expected=[[row[c] for c in cols] for row in vals])


@SETTINGS
@given(shape=shapes(ndim_min=1), seed=seeds())
def test_boolean_masks(shape: tuple[int, ...], seed: int) -> None:
    x = leaf(random.Random(seed), shape)
    flat = flatten(x.tolist())
    check_op(lambda t: t[t > 0], [x], expected=[v for v in flat if v > 0] or None)
    assert x[x > 0].shape == (sum(1 for v in flat if v > 0),)
    rows = x.reshape(shape[0], -1)
    m = rows[:, 0] > 0
    check_op(lambda t: t[m], [x], expected=[r for r, keep in zip(x.tolist(), m.tolist()) if keep] or None)
    check_op(lambda t: t.masked_fill(t > 0, 0.5), [x], expected=nested([0.5 if v > 0 else v for v in flat], shape))
    v = leaf(random.Random(seed + 1), ())
    check_op(
        lambda t, w: t.masked_fill(t < 0, w), [x, v], expected=nested([v.item() if e < 0 else e for e in flat], shape)
    )
    nz = plugrad.nonzero(x > 0)
    expected = [list(i) for i in itertools.product(*(range(s) for s in shape)) if _at(x.tolist(), i) > 0]
    assert nz.tolist() == (expected or []) and nz.dtype is plugrad.int64
    assert [t.tolist() for t in plugrad.where(x > 0)] == [[e[d] for e in expected] for d in range(len(shape))]


@SETTINGS
@given(shape=shapes(ndim_min=1), seed=seeds(), data=st.data())
def test_index_select_gather_take_along_dim(shape: tuple[int, ...], seed: int, data: Any) -> None:
    rng = random.Random(seed)
    x = leaf(rng, shape)
    vals = x.tolist()
    nd = len(shape)
    d = data.draw(st.integers(-nd, nd - 1))
    dd = d % nd
    sel = data.draw(st.lists(st.integers(0, shape[dd] - 1), min_size=1, max_size=5))
    out_shape = list(shape)
    out_shape[dd] = len(sel)

    def pick(idx: tuple[int, ...]) -> Any:
        return _at(vals, [*idx[:dd], sel[idx[dd]], *idx[dd + 1 :]])

    ref = nested([pick(i) for i in itertools.product(*(range(s) for s in out_shape))], out_shape)
    check_op(lambda t: t.index_select(d, plugrad.tensor(sel)), [x], expected=ref)
    # gather with an index as large as the input except along dim (values repeat: gradients accumulate)
    ishape = list(shape)
    ishape[dd] = data.draw(st.integers(1, 4))
    index_vals = [rng.randrange(shape[dd]) for _ in range(int(plugrad.zeros(ishape).numel()))]
    index = plugrad.tensor(index_vals).reshape(ishape)
    iv = index.tolist()
    gref = nested(
        [_at(vals, [*i[:dd], _at(iv, i), *i[dd + 1 :]]) for i in itertools.product(*(range(s) for s in ishape))], ishape
    )
    check_op(lambda t: t.gather(d, index), [x], expected=gref)
    check_op(lambda t: plugrad.take_along_dim(t, index, d), [x], expected=gref)
    check_op(
        lambda t: plugrad.take_along_dim(t, index.reshape(-1)), [x], expected=[flatten(vals)[k] for k in flatten(iv)]
    )


@SETTINGS
@given(shape=shapes(ndim_min=1), seed=seeds(), data=st.data())
def test_scatter_and_scatter_add(shape: tuple[int, ...], seed: int, data: Any) -> None:
    rng = random.Random(seed)
    x = leaf(rng, shape)
    nd = len(shape)
    d = data.draw(st.integers(0, nd - 1))
    # scatter: a permutation prefix per line, so no position is written twice
    ishape = list(shape)
    ishape[d] = data.draw(st.integers(1, shape[d]))
    src = leaf(rng, tuple(ishape))
    index = plugrad.zeros(ishape, dtype=plugrad.int64)
    lines = list(itertools.product(*(range(s) for k, s in enumerate(ishape) if k != d)))
    expected = plugrad.tensor(x.tolist(), dtype=plugrad.float64)
    for line in lines:
        targets = rng.sample(range(shape[d]), ishape[d])
        for j, tgt in enumerate(targets):
            pos = [*line[:d], j, *line[d:]]
            index[tuple(pos)] = tgt
            expected[tuple([*line[:d], tgt, *line[d:]])] = src[tuple(pos)].item()
    check_op(lambda t, s: t.scatter(d, index, s), [x, src], expected=expected.tolist())
    check_op(
        lambda t, s: t.scatter(d, index, 2.5),
        [x, src],
        expected=plugrad.where(plugrad.zeros(shape, dtype=plugrad.int64).scatter(d, index, 1) > 0, 2.5, x).tolist(),
    )
    # scatter_add: repeated targets accumulate
    rindex = plugrad.tensor([rng.randrange(shape[d]) for _ in range(int(index.numel()))]).reshape(ishape)
    acc = plugrad.tensor(x.tolist(), dtype=plugrad.float64)
    for pos in itertools.product(*(range(s) for s in ishape)):
        tgt = list(pos)
        tgt[d] = int(rindex[pos].item())
        acc[tuple(tgt)] = acc[tuple(tgt)].item() + src[pos].item()
    check_op(lambda t, s: t.scatter_add(d, rindex, s), [x, src], expected=acc.tolist())


def test_gradient_shapes_and_node_names() -> None:
    x = plugrad.ones(3, 4, requires_grad=True)
    i = plugrad.tensor([[0, 1], [2, 2], [1, 0]])
    names = {
        "SelectBackward0": x[0],
        "SliceBackward0": x[1:],
        "IndexBackward0": x[[0, 0]],
        "UnsqueezeBackward0": x[None],
        "AliasBackward0": x[...],
        "IndexSelectBackward0": x.index_select(0, plugrad.tensor([0])),
        "GatherBackward0": x.gather(1, i),
        "MaskedFillBackward0": x.masked_fill(x > 0, 0.0),
        "MaskedFillBackward1": x.masked_fill(x > 0, plugrad.tensor(1.0)),
        "ScatterBackward0": x.scatter(1, i, plugrad.zeros(3, 2)),
        "ScatterBackward1": x.scatter(1, i, 1.0),
        "ScatterAddBackward0": x.scatter_add(1, i, plugrad.zeros(3, 2)),
    }
    for name, t in names.items():
        assert t.grad_fn.name() == name


@pytest.mark.parametrize(
    "fn,exc,msg",
    [
        (lambda: plugrad.ones(3)[5], IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
        (lambda: plugrad.ones(2, 3)[0, -4], IndexError, "index -4 is out of bounds for dimension 1 with size 3"),
        (
            lambda: plugrad.ones(3)[plugrad.tensor([0, 3])],
            IndexError,
            "index 3 is out of bounds for dimension 0 with size 3",
        ),
        (lambda: plugrad.ones(3)[0, 0], IndexError, "too many indices for tensor of dimension 1"),
        (
            lambda: plugrad.ones(2, 3)[plugrad.tensor([True, False, True])],
            IndexError,
            "The shape of the mask [3] at index 0 does not match the shape of the indexed tensor [2, 3] at index 0",
        ),
        (
            lambda: plugrad.ones(3)[1.5],
            IndexError,
            "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices (got float)",
        ),
        (
            lambda: plugrad.ones(3)[plugrad.tensor([0.0])],
            IndexError,
            "tensors used as indices must be long, int, byte or bool tensors",
        ),
        (lambda: plugrad.ones(2, 3).index_select(0, plugrad.tensor([5])), IndexError, "index out of range in self"),
        (
            lambda: plugrad.ones(2, 3).index_select(0, plugrad.tensor([[0]])),
            IndexError,
            "index_select(): Index is supposed to be a vector",
        ),
        (
            lambda: plugrad.ones(2, 3).gather(1, plugrad.tensor([0])),
            RuntimeError,
            "Index tensor must have the same number of dimensions as input tensor",
        ),
        (
            lambda: plugrad.ones(2, 3).gather(1, plugrad.tensor([[3]])),
            RuntimeError,
            "index 3 is out of bounds for dimension 1 with size 3",
        ),
        (
            lambda: plugrad.ones(2, 3).gather(1, plugrad.tensor([[0]] * 3)),
            RuntimeError,
            "Size does not match at dimension 0 expected index [3, 1] to be no larger than self [2, 3] apart from dimension 1",
        ),
        (
            lambda: plugrad.ones(3).masked_fill(plugrad.tensor([1, 0, 1]), 0.0),
            RuntimeError,
            "masked_fill_ only supports boolean masks, but got mask with dtype long int",
        ),
        (
            lambda: plugrad.ones(3).masked_fill(plugrad.ones(3) > 0, plugrad.ones(3)),
            RuntimeError,
            "masked_fill_ only supports a 0-dimensional value tensor",
        ),
        (
            lambda: plugrad.ones(3).scatter(0, plugrad.tensor([0]), plugrad.ones(1, dtype=plugrad.float64)),
            RuntimeError,
            "scatter(): Expected self.dtype to be equal to src.dtype",
        ),
    ],
)
def test_errors(fn, exc, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc) as info:
        fn()
    assert msg in str(info.value)
