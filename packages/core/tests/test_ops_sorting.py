"""Sorting and order statistics: ``sort``, ``argsort``, ``msort``, ``topk``, ``kthvalue``,
``median``. Values and indices against Python's ``sorted``, gradients against float64
central differences (``check_op``), dims, ``keepdim``, NaN, ties, 0-d and empty inputs,
errors, and the Python fallback used on a backend without the optional kernels."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from typing import Any

import plugrad
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_helpers import check_op, leaf, nested, numel, seeds, shapes
from plugrad.backends import BackendSpec, get_backend, get_registry, hookimpl

SETTINGS = settings(max_examples=20, deadline=None)
NAN = math.nan


def _key(v: Any) -> tuple[bool, Any]:
    return (True, 0.0) if isinstance(v, float) and math.isnan(v) else (False, v)


def _lines(values: Any, shape: tuple[int, ...], dim: int) -> list[tuple[list[int], list[Any]]]:
    """(flat positions, values) of each 1-D line along ``dim``."""
    flat = _flat(values)
    nd = len(shape)
    strides = [numel(shape[d + 1 :]) for d in range(nd)]
    out = []
    import itertools

    others = [d for d in range(nd) if d != dim]
    for idx in itertools.product(*(range(shape[d]) for d in others)):
        base = sum(i * strides[d] for d, i in zip(others, idx))
        pos = [base + j * strides[dim] for j in range(shape[dim])]
        out.append((pos, [flat[p] for p in pos]))
    return out


def _flat(v: Any) -> list[Any]:
    if isinstance(v, list):
        return [x for item in v for x in _flat(item)]
    return [v]


def sort_ref(values: Any, shape: tuple[int, ...], dim: int, descending: bool) -> tuple[Any, Any]:
    """Python's stable ``sorted`` per line; NaN after every number (first when descending)."""
    n = numel(shape)
    vals: list[Any] = [None] * n
    idx: list[int] = [0] * n
    for pos, line in _lines(values, shape, dim):
        order = sorted(range(len(line)), key=lambda j: _key(line[j]), reverse=descending)
        for p, j in zip(pos, order):
            vals[p], idx[p] = line[j], j
    return nested(vals, shape), nested(idx, shape)


# ------------------------------------------------------------------------ sort
@SETTINGS
@given(shape=shapes(ndim_min=1), seed=seeds(), descending=st.booleans(), data=st.data())
def test_sort_values_indices_and_gradient(shape: tuple[int, ...], seed: int, descending: bool, data: Any) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = leaf(random.Random(seed), shape)
    ref_v, ref_i = sort_ref(x.tolist(), shape, dim % len(shape), descending)
    out = plugrad.sort(x, dim, descending)
    assert isinstance(out, plugrad.return_types.sort)
    assert out.indices.tolist() == ref_i and out.indices.dtype is plugrad.int64
    check_op(lambda t: t.sort(dim, descending=descending).values, [x], expected=ref_v, dtype=plugrad.float64)
    assert out.values.grad_fn.name() == "SortBackward0" and out.indices.grad_fn is None


def test_sort_is_stable_and_puts_nan_last() -> None:
    x = plugrad.tensor([3.0, 1.0, NAN, 2.0, 1.0, NAN])
    v, i = plugrad.sort(x)
    assert i.tolist() == [1, 4, 3, 0, 2, 5]
    assert v.tolist()[:4] == [1.0, 1.0, 2.0, 3.0] and all(math.isnan(t) for t in v.tolist()[4:])
    v, i = x.sort(descending=True, stable=True)
    assert i.tolist() == [2, 5, 0, 3, 1, 4]
    assert plugrad.argsort(x, descending=True).tolist() == [2, 5, 0, 3, 1, 4]


@pytest.mark.parametrize(
    "dtype", [plugrad.int64, plugrad.int32, plugrad.uint8, plugrad.int8, plugrad.bool, plugrad.float16]
)
def test_sort_keeps_dtype(dtype: plugrad.dtype) -> None:
    vals = [[3, 0, 1], [1, 2, 0]] if dtype is not plugrad.bool else [[True, False, True], [False, False, True]]
    t = plugrad.tensor(vals, dtype=dtype)
    v, i = t.sort(1)
    assert v.dtype is dtype and i.dtype is plugrad.int64
    ref_v, ref_i = sort_ref(vals, (2, 3), 1, False)
    assert v.tolist() == ref_v and i.tolist() == ref_i


def test_sort_0d_and_empty() -> None:
    v, i = plugrad.tensor(2.5).sort()
    assert v.tolist() == 2.5 and i.tolist() == 0 and i.shape == ()
    for dim in (0, 1, -1):
        v, i = plugrad.zeros(0, 3).sort(dim)
        assert v.shape == (0, 3) and i.shape == (0, 3) and i.dtype is plugrad.int64
    x = plugrad.tensor(1.5, dtype=plugrad.float64, requires_grad=True)
    x.sort().values.backward()
    assert x.grad is not None and x.grad.tolist() == 1.0


def test_argsort_and_msort() -> None:
    x = plugrad.tensor([[3, 1, 2], [0, 5, 4]])
    assert x.argsort().tolist() == [[1, 2, 0], [0, 2, 1]]
    assert plugrad.argsort(x, dim=0, descending=True).tolist() == [[0, 1, 1], [1, 0, 0]]
    assert plugrad.msort(x).tolist() == [[0, 1, 2], [3, 5, 4]]
    assert x.msort().tolist() == [[0, 1, 2], [3, 5, 4]]
    assert plugrad.tensor(7).argsort().tolist() == 0


def test_sort_errors() -> None:
    with pytest.raises(TypeError, match=r"sort\(\): argument 'input' \(position 1\) must be Tensor, not list"):
        plugrad.sort([3, 1])
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-1, 0\], but got 1\)"):
        plugrad.tensor([1, 2]).sort(1)
    with pytest.raises(TypeError, match="argument 'dim' must be int, not tuple"):
        plugrad.sort(plugrad.tensor([1, 2]), dim=(0,))


# ------------------------------------------------------------------------ topk
@SETTINGS
@given(shape=shapes(ndim_min=1), seed=seeds(), largest=st.booleans(), data=st.data())
def test_topk_matches_sorted_prefix(shape: tuple[int, ...], seed: int, largest: bool, data: Any) -> None:
    dim = data.draw(st.integers(0, len(shape) - 1))
    k = data.draw(st.integers(0, shape[dim]))
    x = leaf(random.Random(seed), shape)
    sv, si = plugrad.sort(x.detach(), dim, descending=largest)
    out = plugrad.topk(x, k, dim, largest)
    assert isinstance(out, plugrad.return_types.topk)
    assert out.values.tolist() == sv.narrow(dim, 0, k).tolist()
    assert out.indices.tolist() == si.narrow(dim, 0, k).tolist()
    if k:
        check_op(lambda t: t.topk(k, dim, largest=largest).values, [x], dtype=plugrad.float64)


def test_topk_values_and_errors() -> None:
    x = plugrad.tensor([3.0, 1.0, 2.0, 5.0])
    v, i = x.topk(2)
    assert v.tolist() == [5.0, 3.0] and i.tolist() == [3, 0]
    v, i = plugrad.topk(x, 2, largest=False)
    assert v.tolist() == [1.0, 2.0] and i.tolist() == [1, 2]
    assert plugrad.topk(plugrad.tensor([1, 5, 3]), 2).values.tolist() == [5, 3]
    v, i = plugrad.topk(plugrad.tensor(5.0), 1)
    assert v.tolist() == 5.0 and i.tolist() == 0
    for k in (3, -1):
        with pytest.raises(RuntimeError, match="selected index k out of range"):
            plugrad.topk(plugrad.tensor([1.0, 2.0]), k)
    with pytest.raises(TypeError, match=r"topk\(\): argument 'k' \(position 2\) must be int, not float"):
        plugrad.topk(x, 1.5)
    with pytest.raises(RuntimeError, match="topk does not support bool dtypes on CPU"):
        plugrad.topk(plugrad.tensor([True, False]), 1)
    assert x.requires_grad_().topk(1).values.grad_fn.name() == "TopkBackward0"


# -------------------------------------------------------------------- kthvalue
@SETTINGS
@given(shape=shapes(ndim_min=1), seed=seeds(), keepdim=st.booleans(), data=st.data())
def test_kthvalue_values_and_gradient(shape: tuple[int, ...], seed: int, keepdim: bool, data: Any) -> None:
    dim = data.draw(st.integers(0, len(shape) - 1))
    k = data.draw(st.integers(1, shape[dim]))
    x = leaf(random.Random(seed), shape)
    sv, si = plugrad.sort(x.detach(), dim)
    v, i = plugrad.kthvalue(x, k, dim, keepdim)
    ev, ei = sv.narrow(dim, k - 1, 1), si.narrow(dim, k - 1, 1)
    if not keepdim:
        ev, ei = ev.squeeze(dim), ei.squeeze(dim)
    assert v.tolist() == ev.tolist() and i.tolist() == ei.tolist()
    check_op(lambda t: t.kthvalue(k, dim, keepdim=keepdim)[0], [x], dtype=plugrad.float64)


def test_kthvalue_errors() -> None:
    x = plugrad.tensor([1.0, 2.0])
    for k in (0, 3):
        with pytest.raises(RuntimeError, match=r"kthvalue\(\): selected number k out of range for dimension 0"):
            x.kthvalue(k)
    with pytest.raises(IndexError, match=r"kthvalue\(\): Expected reduction dim 1 to have non-zero size\."):
        plugrad.kthvalue(plugrad.zeros(2, 0), 1, 1)
    with pytest.raises(NotImplementedError, match="\"kthvalue_cpu\" not implemented for 'Bool'"):
        plugrad.kthvalue(plugrad.tensor([True]), 1)
    v, i = plugrad.kthvalue(plugrad.tensor([[1.0, 2.0], [3.0, 0.0]]), 1, 0, True)
    assert v.tolist() == [[1.0, 0.0]] and i.tolist() == [[0, 1]]


# ---------------------------------------------------------------------- median
def _lower_median(xs: list[float]) -> float:
    if any(math.isnan(v) for v in xs):
        return NAN
    return sorted(xs)[(len(xs) - 1) // 2]


@SETTINGS
@given(shape=shapes(ndim_min=0), seed=seeds())
def test_median_all_is_the_lower_median(shape: tuple[int, ...], seed: int) -> None:
    x = leaf(random.Random(seed), shape)
    check_op(lambda t: t.median(), [x], expected=_lower_median(_flat(x.tolist())), dtype=plugrad.float64)


@SETTINGS
@given(shape=shapes(ndim_min=1), seed=seeds(), keepdim=st.booleans(), data=st.data())
def test_median_dim(shape: tuple[int, ...], seed: int, keepdim: bool, data: Any) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = leaf(random.Random(seed), shape)
    v, i = plugrad.median(x, dim, keepdim)
    d = dim % len(shape)
    flat_v, flat_i = [], []
    for _pos, line in _lines(x.tolist(), shape, d):
        m = _lower_median(line)
        flat_v.append(m)
        flat_i.append(line.index(m))
    out_shape = (
        [1 if j == d else s for j, s in enumerate(shape)] if keepdim else [s for j, s in enumerate(shape) if j != d]
    )
    assert v.tolist() == nested(flat_v, out_shape) and i.tolist() == nested(flat_i, out_shape)
    check_op(lambda t: plugrad.median(t, dim, keepdim).values, [x], dtype=plugrad.float64)
    assert v.grad_fn.name() == "MedianBackward1"


def test_median_nan_ties_and_dtypes() -> None:
    assert plugrad.tensor([1.0, 2.0, 3.0, 4.0]).median().tolist() == 2.0
    assert plugrad.tensor([3, 1, 2, 4]).median().tolist() == 2
    assert math.isnan(plugrad.tensor([1.0, NAN, 0.0]).median().item())
    assert math.isnan(plugrad.tensor([]).median().item())
    v, i = plugrad.tensor([1.0, NAN, NAN, 0.0]).median(0)
    assert math.isnan(v.item()) and i.tolist() == 1  # the first NaN
    v, i = plugrad.tensor([[2.0, NAN, 1.0], [3.0, 1.0, 2.0]]).median(1)
    assert math.isnan(v.tolist()[0]) and v.tolist()[1] == 2.0 and i.tolist() == [1, 2]
    v, i = plugrad.tensor(5.0).median(0)
    assert v.tolist() == 5.0 and i.tolist() == 0
    v, i = plugrad.zeros(0, 3).median(1)
    assert v.shape == (0,) and i.dtype is plugrad.int64
    # ties: the gradient of median() is shared evenly among the elements equal to it
    a = plugrad.tensor([1.0, 2.0, 2.0, 3.0], requires_grad=True)
    a.median().backward()
    assert a.grad is not None and a.grad.tolist() == [0.0, 0.5, 0.5, 0.0]
    assert a.median().grad_fn.name() == "MedianBackward0"


def test_median_errors() -> None:
    with pytest.raises(NotImplementedError, match="\"median_cpu\" not implemented for 'Bool'"):
        plugrad.tensor([True, False]).median()
    with pytest.raises(IndexError, match=r"median\(\): Expected reduction dim 0 to have non-zero size\."):
        plugrad.zeros(0, 3).median(0)
    with pytest.raises(TypeError, match='median\\(\\) missing 1 required positional arguments: "dim"'):
        plugrad.median(plugrad.tensor([1.0]), keepdim=True)


# ----------------------------------------------- backends without the optional kernels
class ContractOneZero:
    """The NumPy kernels without the kernels contract 1.1 added, declared for contract 1.0."""

    @hookimpl
    def plugrad_backends(self) -> Sequence[BackendSpec]:
        base = get_backend("numpy").spec
        added = {"sort", "argsort", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_invert", "to_numpy"}
        return [
            BackendSpec(
                name="numpy_v10",
                device_type="cpu",
                contract_version="1.0",
                kernels={k: v for k, v in base.kernels.items() if k not in added},
                dtypes=base.dtypes,
                array_types=base.array_types,
                priority=-5,
            )
        ]


@pytest.fixture(scope="module")
def old_backend() -> Iterator[str]:
    reg = get_registry()
    reg.add_plugin(ContractOneZero(), "test-contract-1-0")
    yield "numpy_v10"
    reg.remove_plugin("test-contract-1-0")


@pytest.mark.parametrize("dtype", [plugrad.float64, plugrad.int32, plugrad.uint8, plugrad.bool])
@pytest.mark.parametrize("descending", [False, True])
def test_python_fallback_sorts_as_the_kernels(old_backend: str, dtype: plugrad.dtype, descending: bool) -> None:
    rng = random.Random(5)
    pool: list[Any] = [3.0, -1.0, NAN, 3.0, 0.5] if dtype is plugrad.float64 else [3, 1, 0, 3, 2]
    if dtype is plugrad.bool:
        pool = [True, False]
    vals = [[[rng.choice(pool) for _ in range(4)] for _ in range(3)] for _ in range(2)]
    fast = plugrad.tensor(vals, dtype=dtype)
    slow = plugrad.tensor(vals, dtype=dtype, device=old_backend)
    assert not slow._backend.has_kernel("argsort")
    for dim in (0, 1, 2):
        fv, fi = fast.sort(dim, descending)
        sv, si = slow.sort(dim, descending)
        assert si.tolist() == fi.tolist() and str(sv.tolist()) == str(fv.tolist())
        assert sv._backend is slow._backend
    if dtype is not plugrad.bool:
        assert str(slow.median().tolist()) == str(fast.median().tolist())
        assert slow.topk(2, 1).indices.tolist() == fast.topk(2, 1).indices.tolist()
    assert plugrad.zeros(0, 3, device=old_backend).argsort(1).shape == (0, 3)
