"""Shape ops: values against index-mapping references, gradients against central
differences (first and second order), views sharing storage, node names and errors."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from typing import Any

import plugrad
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_helpers import check_op, flatten, leaf, nested, numel, seeds, shapes

SETTINGS = settings(max_examples=20, deadline=None)


def _at(values: Any, idx: Sequence[int]) -> Any:
    for i in idx:
        values = values[i]
    return values


def map_ref(values: Any, out_shape: Sequence[int], src: Callable[[tuple[int, ...]], Sequence[int]]) -> Any:
    """Output element ``idx`` is input element ``src(idx)``."""
    flat = [_at(values, src(idx)) for idx in itertools.product(*(range(s) for s in out_shape))]
    return nested(flat, out_shape) if out_shape else flat[0]


@SETTINGS
@given(shape=shapes(), seed=seeds(), data=st.data())
def test_reshape_family(shape: tuple[int, ...], seed: int, data: Any) -> None:
    x = leaf(random.Random(seed), shape)
    flat = flatten(x.tolist()) if shape else [x.item()]
    n = len(flat)
    check_op(lambda t: t.reshape(-1), [x], expected=flat)
    check_op(lambda t: t.view(n, 1), [x], expected=[[v] for v in flat])
    check_op(lambda t: plugrad.reshape(t, (1, -1)), [x], expected=[flat])
    check_op(lambda t: t.flatten(), [x], expected=flat)
    check_op(lambda t: t.unsqueeze(0).squeeze(0), [x], expected=x.tolist())
    if shape:
        d = data.draw(st.integers(-len(shape) - 1, len(shape)))
        new = list(shape)
        new.insert(d % (len(shape) + 1), 1)
        check_op(lambda t: plugrad.unsqueeze(t, d), [x], expected=nested(flat, new))
        check_op(lambda t: t.unsqueeze(d).squeeze(d), [x], expected=x.tolist())
        check_op(lambda t: t.unflatten(0, (1, shape[0], 1)), [x], expected=nested(flat, (1, shape[0], 1, *shape[1:])))
        s = data.draw(st.integers(0, len(shape) - 1))
        e = data.draw(st.integers(s, len(shape) - 1))
        merged = (*shape[:s], numel(shape[s : e + 1]), *shape[e + 1 :])
        check_op(lambda t: plugrad.flatten(t, s, e), [x], expected=nested(flat, merged))
    squeezed = tuple(v for v in shape if v != 1)
    check_op(lambda t: t.squeeze(), [x], expected=nested(flat, squeezed))


@SETTINGS
@given(shape=shapes(ndim_min=1), seed=seeds(), data=st.data())
def test_permutations(shape: tuple[int, ...], seed: int, data: Any) -> None:
    x = leaf(random.Random(seed), shape)
    vals = x.tolist()
    nd = len(shape)
    perm = data.draw(st.permutations(range(nd)))
    out = tuple(shape[p] for p in perm)

    def src(idx: tuple[int, ...]) -> list[int]:
        s = [0] * nd
        for i, p in enumerate(perm):
            s[p] = idx[i]
        return s

    check_op(lambda t: t.permute(*perm), [x], expected=map_ref(vals, out, src))
    check_op(lambda t: plugrad.permute(t, tuple(perm)), [x], expected=map_ref(vals, out, src))
    a, b = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    sw = list(range(nd))
    sw[a], sw[b] = sw[b], sw[a]
    check_op(
        lambda t: t.transpose(a, b),
        [x],
        expected=map_ref(vals, tuple(shape[p] for p in sw), lambda i: [i[sw.index(d)] for d in range(nd)]),
    )
    check_op(lambda t: plugrad.swapaxes(t, a, b), [x], expected=plugrad.transpose(x, a, b).tolist())
    check_op(lambda t: t.movedim(0, -1), [x], expected=x.permute(*range(1, nd), 0).tolist())
    if nd == 2:
        check_op(lambda t: t.t(), [x], expected=map_ref(vals, shape[::-1], lambda i: i[::-1]))


@SETTINGS
@given(shape=shapes(), seed=seeds(), data=st.data())
def test_expand_repeat_flip_roll(shape: tuple[int, ...], seed: int, data: Any) -> None:
    x = leaf(random.Random(seed), shape)
    vals = x.tolist()
    nd = len(shape)
    lead = data.draw(st.lists(st.integers(1, 3), max_size=2))
    target = (*lead, *(data.draw(st.integers(1, 3)) if s == 1 else s for s in shape))
    off = len(lead)
    src = lambda i: [0 if s == 1 else i[off + d] for d, s in enumerate(shape)]  # noqa: E731
    check_op(lambda t: t.expand(*target), [x], expected=map_ref(vals, target, src))
    check_op(lambda t: plugrad.broadcast_to(t, target), [x], expected=map_ref(vals, target, src))
    check_op(lambda t: t.expand_as(plugrad.zeros(target)), [x], expected=map_ref(vals, target, src))
    reps = (*lead, *(data.draw(st.integers(1, 3)) for _ in shape))
    padded = (1,) * len(lead) + shape
    out = tuple(r * s for r, s in zip(reps, padded))
    check_op(
        lambda t: t.repeat(*reps),
        [x],
        expected=map_ref(vals, out, lambda i: [i[off + d] % s for d, s in enumerate(shape)]),
    )
    if nd:
        dims = data.draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        check_op(
            lambda t: t.flip(dims),
            [x],
            expected=map_ref(vals, shape, lambda i: [s - 1 - i[d] if d in dims else i[d] for d, s in enumerate(shape)]),
        )
        shifts = [data.draw(st.integers(-5, 5)) for _ in dims]
        check_op(
            lambda t: t.roll(shifts, dims),
            [x],
            expected=map_ref(
                vals,
                shape,
                lambda i: [(i[d] - shifts[dims.index(d)]) % s if d in dims else i[d] for d, s in enumerate(shape)],
            ),
        )
        k = data.draw(st.integers(-7, 7))
        flat = flatten(vals)
        check_op(
            lambda t: plugrad.roll(t, k),
            [x],
            expected=nested([flat[(j - k) % len(flat)] for j in range(len(flat))], shape),
        )


@SETTINGS
@given(shape=shapes(ndim_min=1), seed=seeds(), data=st.data())
def test_join_and_split(shape: tuple[int, ...], seed: int, data: Any) -> None:
    rng = random.Random(seed)
    nd = len(shape)
    d = data.draw(st.integers(-nd, nd - 1))
    dd = d % nd
    other = list(shape)
    other[dd] = data.draw(st.integers(1, 3))
    x, y = leaf(rng, shape), leaf(rng, tuple(other))
    out = list(shape)
    out[dd] += other[dd]
    xv, yv = x.tolist(), y.tolist()
    cat_ref = nested(
        [
            _at(xv, i) if i[dd] < shape[dd] else _at(yv, [*i[:dd], i[dd] - shape[dd], *i[dd + 1 :]])
            for i in itertools.product(*(range(s) for s in out))
        ],
        out,
    )
    check_op(lambda a, b: plugrad.cat([a, b], d), [x, y], expected=cat_ref)
    z = leaf(rng, shape)
    sd = data.draw(st.integers(-nd - 1, nd))
    sdd = sd % (nd + 1)
    st_shape = [*shape[:sdd], 2, *shape[sdd:]]
    check_op(
        lambda a, b: plugrad.stack((a, b), sd),
        [x, z],
        expected=nested(
            [
                _at((xv, z.tolist())[i[sdd]], [*i[:sdd], *i[sdd + 1 :]])
                for i in itertools.product(*(range(s) for s in st_shape))
            ],
            st_shape,
        ),
    )
    size = data.draw(st.integers(1, 4))
    pieces = x.split(size, d)
    n = shape[dd]
    assert [p.shape[dd] for p in pieces] == [min(size, n - o) for o in range(0, n, size)]
    check_op(lambda a: a.split(size, d), [x], expected=tuple(p.tolist() for p in pieces))
    assert plugrad.cat(list(pieces), d).tolist() == xv
    chunks = data.draw(st.integers(1, 4))
    check_op(lambda a: a.chunk(chunks, d), [x], expected=tuple(p.tolist() for p in x.chunk(chunks, d)))
    assert plugrad.cat(list(x.chunk(chunks, d)), d).tolist() == xv
    check_op(
        lambda a: a.unbind(d),
        [x],
        expected=tuple(
            map_ref(xv, [s for k, s in enumerate(shape) if k != dd], lambda i, j=j: [*i[:dd], j, *i[dd:]])
            for j in range(n)
        ),
    )
    start = data.draw(st.integers(0, n - 1))
    length = data.draw(st.integers(0, n - start))
    nshape = list(shape)
    nshape[dd] = length
    check_op(
        lambda a: a.narrow(d, start, length),
        [x],
        expected=map_ref(xv, nshape, lambda i: [*i[:dd], i[dd] + start, *i[dd + 1 :]]),
    )


def test_views_share_storage_and_copies_do_not() -> None:
    x = plugrad.arange(12.0).reshape(3, 4).clone()
    for view in (
        x.view(4, 3),
        x.reshape(12),
        x.t(),
        x.transpose(0, 1),
        x.permute(1, 0),
        x.unsqueeze(0),
        x[1],
        x.narrow(1, 1, 2),
        x.split(2)[1],
        x.chunk(2, 1)[0],
        x.unbind(1)[2],
        x.expand(2, 3, 4),
        x.flatten(),
        x.squeeze(),
    ):
        assert view._base is x, view
    for copy in (x.clone(), x.flip(0), x.roll(1), x.repeat(1, 1), plugrad.cat([x, x]), plugrad.stack([x])):
        assert copy._base is None
        copy.zero_()
    assert x.sum().item() == 66.0
    assert x.contiguous() is x and x.flatten(0, 0) is x


def test_view_needs_a_compatible_layout_and_reshape_copies_when_it_must() -> None:
    x = plugrad.arange(12.0).reshape(3, 4).clone().requires_grad_()
    with pytest.raises(RuntimeError, match="view size is not compatible with input tensor's size and stride"):
        x.t().view(-1)
    y = x.t().reshape(-1)  # no view possible: a copy, as PyTorch's reshape
    assert y._base is None and y.grad_fn.name() == "UnsafeViewBackward0"
    assert y.tolist() == [0.0, 4.0, 8.0, 1.0, 5.0, 9.0, 2.0, 6.0, 10.0, 3.0, 7.0, 11.0]
    (g,) = plugrad.autograd.grad((y * plugrad.arange(12.0)).sum(), x)
    assert g.tolist() == [[0.0, 3.0, 6.0, 9.0], [1.0, 4.0, 7.0, 10.0], [2.0, 5.0, 8.0, 11.0]]
    assert x.t().flatten().grad_fn.name() == "UnsafeViewBackward0"
    assert x.view(2, 6)._base is x and x.t().contiguous().reshape(-1).tolist() == y.tolist()
    # the usual idiom: contiguous() copies a transposed tensor, and then view works
    c = x.t().contiguous()
    assert c.grad_fn.name() == "CloneBackward0" and c.is_contiguous() and not x.t().is_contiguous()
    assert c.view(-1).tolist() == y.tolist()
    assert x.contiguous() is x and x.is_contiguous()


def test_node_names() -> None:
    x = plugrad.ones(2, 3, requires_grad=True)
    names = {
        "ViewBackward0": x.view(6),
        "UnsqueezeBackward0": x.unsqueeze(0),
        "SqueezeBackward0": x.unsqueeze(0).squeeze(),
        "SqueezeBackward1": x.unsqueeze(0).squeeze(0),
        "SqueezeBackward2": x.unsqueeze(0).squeeze((0, 1)),
        "TransposeBackward0": x.transpose(0, 1),
        "PermuteBackward0": x.permute(1, 0),
        "TBackward0": x.t(),
        "ExpandBackward0": x.expand(4, 2, 3),
        "RepeatBackward0": x.repeat(2, 1),
        "FlipBackward0": x.flip(0),
        "RollBackward0": x.roll(1),
        "CatBackward0": plugrad.cat([x, x]),
        "StackBackward0": plugrad.stack([x, x]),
        "SplitBackward0": x.split(1)[0],
        "SplitWithSizesBackward0": x.split([1, 1])[0],
        "UnbindBackward0": x.unbind()[0],
        "SliceBackward0": x.narrow(1, 0, 2),
        "CloneBackward0": x.clone(),
        "ToCopyBackward0": x.double(),
    }
    for name, t in names.items():
        assert t.grad_fn.name() == name


@pytest.mark.parametrize(
    "fn,exc,msg",
    [
        (lambda: plugrad.ones(2, 3).view(4, 2), RuntimeError, "shape '[4, 2]' is invalid for input of size 6"),
        (
            lambda: plugrad.ones(2, 3).expand(3, 3),
            RuntimeError,
            "The expanded size of the tensor (3) must match the existing size (2) at non-singleton dimension 0.",
        ),
        (
            lambda: plugrad.cat([plugrad.ones(2, 3), plugrad.ones(2)]),
            RuntimeError,
            "Tensors must have same number of dimensions: got 2 and 1",
        ),
        (
            lambda: plugrad.cat([plugrad.ones(2, 3), plugrad.ones(2, 2)]),
            RuntimeError,
            "Sizes of tensors must match except in dimension 0. Expected size 3 but got size 2 for tensor number 1 in the list.",
        ),
        (lambda: plugrad.cat([]), ValueError, "expected a non-empty list of Tensors"),
        (
            lambda: plugrad.stack([plugrad.ones(2, 3), plugrad.ones(3)]),
            RuntimeError,
            "stack expects each tensor to be equal size, but got [2, 3] at entry 0 and [3] at entry 1",
        ),
        (
            lambda: plugrad.ones(2, 3).split([1, 2]),
            RuntimeError,
            "split_with_sizes expects split_sizes to sum exactly to 2",
        ),
        (
            lambda: plugrad.ones(2, 3).narrow(1, 2, 2),
            RuntimeError,
            "start (2) + length (2) exceeds dimension size (3).",
        ),
        (
            lambda: plugrad.ones(2, 3).repeat(2),
            RuntimeError,
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor",
        ),
        (
            lambda: plugrad.ones(2, 3).roll(1, (0, 1)),
            RuntimeError,
            "shifts and dimensions must align. shifts: 1, dims:2",
        ),
        (lambda: plugrad.ones(2, 3).flip(0, 0), RuntimeError, "dim 0 appears multiple times in the list of dims"),
        (
            lambda: plugrad.ones(2, 3).unsqueeze(3),
            IndexError,
            "Dimension out of range (expected to be in range of [-3, 2], but got 3)",
        ),
        (
            lambda: plugrad.ones(2, 3).unflatten(1, (2, 2)),
            RuntimeError,
            "unflatten: Provided sizes [2, 2] don't multiply up to the size of dim 1 (3) in the input tensor",
        ),
        (lambda: plugrad.ones(3).chunk(0), RuntimeError, "chunk expects `chunks` to be greater than 0, got: 0"),
    ],
)
def test_errors(fn, exc, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc) as info:
        fn()
    assert msg in str(info.value)
