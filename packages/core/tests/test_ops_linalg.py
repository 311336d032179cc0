"""Matrix products in every case ``matmul`` accepts: values against naive loops,
gradients (with batch broadcasting) against central differences, node names, errors."""

from __future__ import annotations

import itertools
import random
from typing import Any

import plugrad
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_helpers import broadcast_shape, check_op, leaf, nested, numel, seeds


def _at(values: Any, idx: tuple[int, ...]) -> Any:
    for i in idx:
        values = values[i]
    return values


def matmul_ref(a: Any, sa: tuple[int, ...], b: Any, sb: tuple[int, ...]) -> Any:
    """PyTorch's matmul semantics with plain loops: promote 1-D operands, broadcast batches."""
    a1, b1 = len(sa) == 1, len(sb) == 1
    if a1:
        a, sa = [a], (1, sa[0])
    if b1:
        b, sb = [[v] for v in b], (sb[0], 1)
    batch = broadcast_shape(sa[:-2], sb[:-2])
    n, k, m = sa[-2], sa[-1], sb[-1]
    flat = []
    for bidx in itertools.product(*(range(s) for s in batch)):
        ia = tuple(0 if s == 1 else i for s, i in zip(sa[:-2], bidx[len(batch) - len(sa) + 2 :]))
        ib = tuple(0 if s == 1 else i for s, i in zip(sb[:-2], bidx[len(batch) - len(sb) + 2 :]))
        ma, mb = _at(a, ia), _at(b, ib)
        for r in range(n):
            for c in range(m):
                flat.append(sum(ma[r][t] * mb[t][c] for t in range(k)))
    shape = [*batch, n, m]
    if b1:
        shape.pop()
    if a1:
        shape.pop(-2 if not b1 else -1)
    return nested(flat, shape) if shape else flat[0]


CASES = [
    ((4,), (4,), "DotBackward0"),
    ((3, 4), (4,), "MvBackward0"),
    ((4,), (4, 5), None),
    ((3, 4), (4, 5), "MmBackward0"),
    ((2, 3, 4), (2, 4, 5), "UnsafeViewBackward0"),
    ((2, 3, 4), (4, 5), "UnsafeViewBackward0"),
    ((3, 4), (2, 4, 5), None),
    ((2, 1, 3, 4), (5, 4, 2), "UnsafeViewBackward0"),
    ((1, 3, 4), (2, 4, 5), "UnsafeViewBackward0"),
    ((4,), (2, 4, 5), None),
    ((2, 3, 4), (4,), "UnsafeViewBackward0"),
    ((2, 2, 3, 4), (4,), "UnsafeViewBackward0"),
    ((0, 4), (4, 2), "MmBackward0"),
    ((3, 0), (0, 2), "MmBackward0"),
]


@pytest.mark.parametrize("sa,sb,node", CASES, ids=[f"{a}@{b}" for a, b, _ in CASES])
def test_matmul_cases(sa: tuple[int, ...], sb: tuple[int, ...], node: str | None) -> None:
    rng = random.Random(numel(sa) * 31 + numel(sb))
    a, b = leaf(rng, sa), leaf(rng, sb)
    expected = matmul_ref(a.tolist(), sa, b.tolist(), sb)
    check_op(lambda x, y: x @ y, [a, b], expected=expected, dtype=plugrad.float64)
    check_op(plugrad.matmul, [a, b], expected=expected)
    if node is not None:
        assert (a @ b).grad_fn.name() == node


@settings(max_examples=25, deadline=None)
@given(
    batch_a=st.lists(st.sampled_from([1, 2, 3]), max_size=2),
    batch_b=st.lists(st.sampled_from([1, 2, 3]), max_size=2),
    nkm=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    seed=seeds(),
)
def test_batched_matmul_broadcasting_gradients(
    batch_a: list[int], batch_b: list[int], nkm: tuple[int, int, int], seed: int
) -> None:
    # make the two batch shapes broadcastable: where both have a dim, they agree or one is 1
    la, lb = len(batch_a), len(batch_b)
    for i in range(1, min(la, lb) + 1):
        if batch_a[-i] != batch_b[-i] and 1 not in (batch_a[-i], batch_b[-i]):
            batch_b[-i] = 1
    n, k, m = nkm
    sa, sb = (*batch_a, n, k), (*batch_b, k, m)
    rng = random.Random(seed)
    a, b = leaf(rng, sa), leaf(rng, sb)
    check_op(lambda x, y: x @ y, [a, b], expected=matmul_ref(a.tolist(), sa, b.tolist(), sb), seed=seed)


def test_mm_bmm_mv_dot_outer() -> None:
    rng = random.Random(3)
    a, b, v, w = leaf(rng, (3, 4)), leaf(rng, (4, 2)), leaf(rng, (4,)), leaf(rng, (3,))
    check_op(plugrad.mm, [a, b], expected=matmul_ref(a.tolist(), (3, 4), b.tolist(), (4, 2)))
    check_op(lambda x, y: x.mv(y), [a, v], expected=matmul_ref(a.tolist(), (3, 4), v.tolist(), (4,)))
    v2 = leaf(rng, (4,))
    check_op(plugrad.dot, [v, v2], expected=sum(x * y for x, y in zip(v.tolist(), v2.tolist())))
    check_op(lambda x: x @ x, [v], expected=sum(x * x for x in v.tolist()))
    check_op(plugrad.outer, [w, v], expected=[[x * y for y in v.tolist()] for x in w.tolist()])
    p, q = leaf(rng, (2, 3, 4)), leaf(rng, (2, 4, 2))
    check_op(lambda x, y: x.bmm(y), [p, q], expected=matmul_ref(p.tolist(), (2, 3, 4), q.tolist(), (2, 4, 2)))
    assert plugrad.bmm(p, q).grad_fn.name() == "BmmBackward0"
    check_op(
        lambda x: (x.t(), x.T, x.mT),
        [a],
        expected=(
            [list(r) for r in zip(*a.tolist())],
            [list(r) for r in zip(*a.tolist())],
            [list(r) for r in zip(*a.tolist())],
        ),
    )


def test_integer_matmul_keeps_dtype() -> None:
    a = plugrad.tensor([[1, 2], [3, 4]])
    assert repr(a @ a) == "tensor([[ 7, 10],\n        [15, 22]])"
    assert repr(plugrad.dot(a[0], a[1])) == "tensor(11)"


@pytest.mark.parametrize(
    "fn,msg",
    [
        (lambda: plugrad.ones(2, 3) @ plugrad.ones(4, 5), "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"),
        (lambda: plugrad.ones(4) @ plugrad.ones(2, 3), "mat1 and mat2 shapes cannot be multiplied (1x4 and 2x3)"),
        (lambda: plugrad.ones(2, 2, 3) @ plugrad.ones(4, 5), "mat1 and mat2 shapes cannot be multiplied (4x3 and 4x5)"),
        (lambda: plugrad.ones(2, 3) @ plugrad.ones(4), "size mismatch, got input (2), mat (2x3), vec (4)"),
        (lambda: plugrad.ones(3) @ plugrad.ones(4), "inconsistent tensor size, expected tensor [3] and src [4]"),
        (
            lambda: plugrad.ones(2, 2, 3) @ plugrad.ones(2, 4, 5),
            "Expected size for first two dimensions of batch2 tensor to be: [2, 3] but got: [2, 4].",
        ),
        (
            lambda: plugrad.ones(3, 2, 3) @ plugrad.ones(2, 3, 5),
            "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0",
        ),
        (
            lambda: plugrad.ones(2, 3) @ plugrad.ones(3, 2, dtype=plugrad.float64),
            "expected m1 and m2 to have the same dtype, but got: float != double",
        ),
        (
            lambda: plugrad.dot(plugrad.ones(3), plugrad.ones(3, dtype=plugrad.int64)),
            "dot : expected both vectors to have same dtype, but found Float and Long",
        ),
        (
            lambda: plugrad.matmul(plugrad.tensor(1.0), plugrad.ones(3)),
            "both arguments to matmul need to be at least 1D, but they are 0D and 1D",
        ),
        (lambda: plugrad.mm(plugrad.ones(3), plugrad.ones(3, 3)), "self must be a matrix"),
        (lambda: plugrad.bmm(plugrad.ones(2, 3), plugrad.ones(2, 3)), "batch1 must be a 3D tensor"),
        (lambda: plugrad.ones(3).mT, "tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor."),
    ],
)
def test_errors(fn, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError) as info:
        fn()
    assert msg in str(info.value)
