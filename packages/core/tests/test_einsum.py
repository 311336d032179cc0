"""einsum and friends (issue 17): values against brute-force Python loops, gradients by
float64 finite differences, PyTorch's errors; oracle tests against torch.einsum."""

from __future__ import annotations

import itertools
import math
from typing import Any

import plugrad
import pytest
from plugrad.autograd import gradcheck, gradgradcheck
from plugrad.testing import assert_close


def _at(nested: Any, idx: tuple[int, ...]) -> float:
    for i in idx:
        nested = nested[i]
    return float(nested)


def brute_einsum(eq: str, *ops: plugrad.Tensor) -> list[Any] | float:
    """Σ over every label assignment, in pure Python (explicit output, letters only, no ellipsis)."""
    lhs, out = eq.split("->")
    terms = lhs.split(",")
    size: dict[str, int] = {}
    for term, op in zip(terms, ops):
        for c, n in zip(term, op.shape):
            size[c] = n
    labels = sorted(size)
    vals = [op.tolist() for op in ops]
    result: dict[tuple[int, ...], float] = {}
    for assign in itertools.product(*(range(size[c]) for c in labels)):
        env = dict(zip(labels, assign))
        p = 1.0
        for term, v in zip(terms, vals):
            p *= _at(v, tuple(env[c] for c in term))
        key = tuple(env[c] for c in out)
        result[key] = result.get(key, 0.0) + p

    def build(prefix: tuple[int, ...], depth: int) -> Any:
        if depth == len(out):
            return result.get(prefix, 0.0)
        return [build((*prefix, i), depth + 1) for i in range(size[out[depth]])]

    return build((), 0)


CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij->ji", [(2, 3)]),
    ("ii->i", [(3, 3)]),
    ("ii->", [(3, 3)]),
    ("iij->ij", [(2, 2, 3)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i->", [(4,), (4,)]),
    ("ij,ij->i", [(2, 3), (2, 3)]),
    ("ijk,jl,kl->il", [(2, 3, 2), (3, 4), (2, 4)]),
    ("abc,cd,db->a", [(2, 3, 2), (2, 2), (2, 3)]),
    ("ij,kl->ikjl", [(2, 1), (3, 2)]),
    ("iji->j", [(2, 3, 2)]),
]


@pytest.mark.parametrize(("eq", "shapes"), CASES)
def test_einsum_matches_brute_force_and_gradcheck(eq: str, shapes: list[tuple[int, ...]]) -> None:
    plugrad.manual_seed(0)
    ops = [plugrad.randn(*s, dtype=plugrad.float64, requires_grad=True) for s in shapes]
    got = plugrad.einsum(eq, *ops)
    want = plugrad.tensor(brute_einsum(eq, *ops), dtype=plugrad.float64)
    assert_close(got, want)
    assert gradcheck(lambda *xs: plugrad.einsum(eq, *xs), tuple(ops))
    assert gradgradcheck(lambda *xs: plugrad.einsum(eq, *xs), tuple(ops))


def test_implicit_output_and_forms() -> None:
    a = plugrad.randn(2, 3, dtype=plugrad.float64)
    b = plugrad.randn(3, 4, dtype=plugrad.float64)
    assert_close(plugrad.einsum("ij,jk", a, b), a @ b)  # j twice: summed; i, k sorted
    assert_close(plugrad.einsum("ji", a), a.t())  # implicit: alphabetical -> (i, j)
    assert_close(plugrad.einsum("ij,jk", [a, b]), a @ b)
    assert_close(plugrad.einsum(a, [0, 1], b, [1, 2], [0, 2]), a @ b)
    assert_close(plugrad.einsum(a, [0, 1], b, [1, 2]), a @ b)
    m = plugrad.randn(3, 3, dtype=plugrad.float64)
    assert_close(plugrad.einsum("ii", m), m[0, 0] + m[1, 1] + m[2, 2])
    assert_close(plugrad.einsum("Ab->bA", a), a.t())  # upper-case labels
    same = plugrad.einsum("ij->ij", a.requires_grad_())
    assert same is not a and same.grad_fn is not None and same.grad_fn.name() == "PermuteBackward0"


def test_ellipsis_broadcasts() -> None:
    a = plugrad.randn(5, 1, 2, 3, dtype=plugrad.float64)
    b = plugrad.randn(4, 3, 2, dtype=plugrad.float64)
    got = plugrad.einsum("...ij,...jk->...ik", a, b)
    assert got.shape == (5, 4, 2, 2)
    assert_close(got, a @ b)
    assert_close(plugrad.einsum("...ij", a), a)
    assert_close(plugrad.einsum("i...->...", b), b.sum(0))
    assert_close(plugrad.einsum(b, [0, Ellipsis], [Ellipsis]), b.sum(0))


def test_friends_values_and_gradients() -> None:
    plugrad.manual_seed(1)
    x = plugrad.randn(2, 3, 4, dtype=plugrad.float64, requires_grad=True)
    d = plugrad.diagonal(x, 1, 0, 2)  # out[j, i] = x[i, j, i + 1]
    assert d.shape == (3, 2)
    assert_close(
        d, plugrad.tensor([[x[i, j, i + 1].item() for i in range(2)] for j in range(3)], dtype=plugrad.float64)
    )
    assert plugrad.diagonal(plugrad.randn(2, 3), 5).shape == (0,)
    assert gradcheck(lambda t: t.diagonal(-1, 2, 1), (x,))
    m = plugrad.randn(3, 3, dtype=plugrad.float64, requires_grad=True)
    assert_close(m.trace(), m[0, 0] + m[1, 1] + m[2, 2])
    assert gradcheck(plugrad.trace, (m,))
    v = plugrad.randn(2, 3, dtype=plugrad.float64, requires_grad=True)
    for off, d1, d2 in [(0, -2, -1), (1, 0, 2), (-2, 2, 0)]:
        e = plugrad.diag_embed(v, off, d1, d2)
        assert_close(plugrad.diagonal(e, off, d1, d2), v)  # the inverse of diagonal
        assert e.abs().sum().item() == pytest.approx(v.abs().sum().item())
        assert gradcheck(lambda t, o=off, a=d1, b=d2: plugrad.diag_embed(t, o, a, b), (v,))
    a = plugrad.randn(2, 3, dtype=plugrad.float64, requires_grad=True)
    b = plugrad.randn(3, 2, 4, dtype=plugrad.float64, requires_grad=True)
    assert_close(plugrad.tensordot(a, b, dims=([0, 1], [1, 0])), plugrad.einsum("ij,jik->k", a, b))
    assert_close(plugrad.tensordot(a, b, 1), plugrad.einsum("ij,jkl->ikl", a, b))
    assert gradcheck(lambda p, q: plugrad.tensordot(p, q, ([1], [0])), (a, b))
    k = plugrad.kron(a, b)
    assert k.shape == (3, 4, 12)
    # out[i0*3 + j0, i1*2 + j1, i2*4 + j2] = a[i1, i2] * b[j0, j1, j2] (a gets a leading 1)
    assert k[2, 3, 5].item() == pytest.approx(a[1, 1].item() * b[2, 1, 1].item())
    assert gradcheck(plugrad.kron, (a, plugrad.randn(2, 2, dtype=plugrad.float64, requires_grad=True)))
    bd = plugrad.block_diag(
        a, plugrad.tensor([[7.0]], dtype=plugrad.float64), plugrad.tensor(5.0, dtype=plugrad.float64)
    )
    assert bd.shape == (4, 5)
    assert bd.tolist()[2] == [0, 0, 0, 7, 0] and bd.tolist()[3][4] == 5
    assert gradcheck(lambda p: plugrad.block_diag(p, p), (a,))


@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"])
def test_cdist(p: float, mode: str) -> None:
    plugrad.manual_seed(2)
    x1 = plugrad.randn(2, 3, 4, dtype=plugrad.float64, requires_grad=True)
    x2 = plugrad.randn(2, 5, 4, dtype=plugrad.float64, requires_grad=True)
    got = plugrad.cdist(x1, x2, p=p, compute_mode=mode)
    a, b = x1.tolist(), x2.tolist()
    for bi, i, j in itertools.product(range(2), range(3), range(5)):
        diff = [abs(u - w) for u, w in zip(a[bi][i], b[bi][j])]
        want = (
            sum(d != 0 for d in diff) if p == 0 else max(diff) if math.isinf(p) else sum(d**p for d in diff) ** (1 / p)
        )
        assert got[bi, i, j].item() == pytest.approx(want, rel=1e-9)
    if p != 0:
        assert gradcheck(lambda u, w: plugrad.cdist(u, w, p=p, compute_mode=mode), (x1, x2))


def test_errors_match_pytorch() -> None:
    a, b = plugrad.randn(2, 3), plugrad.randn(3, 4)
    cases = [
        (("ij,jk->ik", a), "fewer operands were provided than specified in the equation"),
        (("ij", a, a), "more operands were provided than specified in the equation"),
        (("ij->ik", a), "output subscript k does not appear in the equation for any input operand"),
        (("ij->ii", a), "output subscript i appears more than once in the output"),
        (("i1->i", a), "invalid subscript given at index 1 in the equation string, subscripts must be in [a-zA-Z]"),
        (("ijk->i", a), "the number of subscripts in the equation (3) does not match the number of dimensions (2)"),
        (("ii->i", a), "subscript i is repeated for operand 0 but the sizes don't match, 3 != 2"),
        ((".ij->ij", a), "found '.' for operand 0 that is not part of any ellipsis"),
        (("ij,jk", a, plugrad.randn(4, 4)), "subscript j has size 4 for operand 1 which does not broadcast"),
    ]
    for args, msg in cases:
        with pytest.raises(RuntimeError) as e:
            plugrad.einsum(*args)
        assert msg in str(e.value)
    with pytest.raises(ValueError, match="must specify the equation string"):
        plugrad.einsum()
    with pytest.raises(ValueError, match=r"not within the valid range \[0, 52\)"):
        plugrad.einsum(a, [0, 60])
    with pytest.raises(RuntimeError, match="diagonal dimensions cannot be identical 0, 0"):
        plugrad.diagonal(a, 0, 0, 0)
    with pytest.raises(RuntimeError, match="trace: expected a matrix, but got tensor with dim 3"):
        plugrad.trace(plugrad.randn(2, 2, 2))
    with pytest.raises(RuntimeError, match="X1 and X2 must have the same number of columns. X1: 3 X2: 4"):
        plugrad.cdist(a, plugrad.randn(2, 4))
    with pytest.raises(RuntimeError, match="cdist only supports non-negative p values"):
        plugrad.cdist(a, a, p=-1)
    with pytest.raises(RuntimeError, match="contracted dimensions need to match"):
        plugrad.tensordot(a, b, dims=2)


def test_storage_basics() -> None:
    x = plugrad.arange(6.0).reshape(2, 3)
    assert x.detach().data_ptr() == x.data_ptr()
    assert x.data.data_ptr() == x.data_ptr()
    row = x[1]
    assert row.data_ptr() == x.data_ptr() + 3 * x.element_size()
    assert row.storage_offset() == 3 and x.storage_offset() == 0
    assert row.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    assert x.untyped_storage().nbytes() == 6 * x.element_size() == x.untyped_storage().size()
    assert x.is_set_to(x.detach())
    assert not x.is_set_to(x.clone())
    assert x.clone().data_ptr() != x.data_ptr()
    assert not x.is_set_to(x.view(6))  # same start, other shape
    assert plugrad.empty(0).data_ptr() == 0


# ------------------------------------------------------------------------ oracle
ORACLE = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("...ij,...jk", [(5, 1, 2, 3), (4, 3, 2)]),
    ("iij->ji", [(2, 2, 3)]),
    ("bi,bj,bk->ijk", [(3, 2), (3, 2), (3, 2)]),
    ("ii", [(3, 3)]),
    ("i,i", [(4,), (4,)]),
]


@pytest.mark.oracle
@pytest.mark.parametrize(("eq", "shapes"), ORACLE)
def test_einsum_oracle(eq: str, shapes: list[tuple[int, ...]]) -> None:
    torch = pytest.importorskip("torch")
    plugrad.manual_seed(3)
    ops = [plugrad.randn(*s, dtype=plugrad.float64, requires_grad=True) for s in shapes]
    tops = [torch.tensor(o.tolist(), dtype=torch.float64, requires_grad=True) for o in ops]
    got, want = plugrad.einsum(eq, *ops), torch.einsum(eq, *tops)
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, plugrad.tensor(want.tolist(), dtype=plugrad.float64))
    u = plugrad.randn(*got.shape, dtype=plugrad.float64)
    got.backward(u)
    want.backward(torch.tensor(u.tolist(), dtype=torch.float64))
    for o, t in zip(ops, tops):
        assert_close(o.grad, plugrad.tensor(t.grad.tolist(), dtype=plugrad.float64))


@pytest.mark.oracle
def test_friends_oracle() -> None:
    torch = pytest.importorskip("torch")
    plugrad.manual_seed(4)
    x = plugrad.randn(3, 4, 5, dtype=plugrad.float64)
    y = plugrad.randn(3, 30, 5, dtype=plugrad.float64)
    tx, ty = (torch.tensor(t.tolist(), dtype=torch.float64) for t in (x, y))

    def same(p: plugrad.Tensor, t: Any) -> None:
        assert tuple(p.shape) == tuple(t.shape)
        assert_close(p, plugrad.tensor(t.tolist(), dtype=plugrad.float64))

    same(plugrad.diagonal(x, -1, 2, 0), torch.diagonal(tx, -1, 2, 0))
    same(plugrad.diag_embed(x, 2, 0, 3), torch.diag_embed(tx, 2, 0, 3))
    same(plugrad.kron(x, x[0]), torch.kron(tx, tx[0]))
    same(plugrad.tensordot(x, y, ([0, 2], [0, 2])), torch.tensordot(tx, ty, ([0, 2], [0, 2])))
    same(plugrad.cdist(x, y), torch.cdist(tx, ty))
    same(plugrad.cdist(x, y, p=1.5), torch.cdist(tx, ty, p=1.5))
    same(plugrad.block_diag(x[0], x[1, 0]), torch.block_diag(tx[0], tx[1, 0]))
    same(x[0].trace(), tx[0].trace())
