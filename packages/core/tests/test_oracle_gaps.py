"""Everyday PyTorch usage filled in after review, against PyTorch: sorting and order
statistics, integer bitwise ops, creation and comparison helpers, in-place variants,
NumPy interop and PyTorch's warnings.

The cases run through the machinery of ``test_oracle_ops`` (same random inputs for both
libraries; values, dtypes, shapes, ``grad_fn`` names, first and second derivatives).
Run with ``nox -s oracle`` or ``pytest -m oracle`` where PyTorch is installed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import plugrad
import pytest
from test_oracle_ops import B, Case, F, I, N, Spec, _build, _compare, _draw, _grads, _outputs

pytestmark = pytest.mark.oracle

NAN = math.nan


def _cases() -> list[Case]:
    c: list[Case] = []
    add = c.append
    M, V, T = (3, 4), (5,), (2, 3, 4)
    # sorting and order statistics (random floats: no ties, so indices agree)
    add(Case("sort", lambda L, x: L.sort(x), (F(*M),)))
    add(Case("sort_dim0_desc", lambda L, x: x.sort(0, descending=True), (F(*M),)))
    add(Case("sort_stable_kw", lambda L, x: L.sort(x, stable=True, dim=-2), (F(*T),)))
    add(Case("sort_int", lambda L, x: L.sort(x, stable=True, dim=1, descending=True), (I(*M),), grad=False))
    add(Case("sort_bool", lambda L, x: L.sort(x, stable=True), (B(*V),), grad=False))
    add(Case("sort_0d", lambda L, x: x.sort(), (F(),)))
    add(Case("argsort", lambda L, x: (L.argsort(x), x.argsort(0, True)), (F(*M),), grad=False))
    add(Case("argsort_stable", lambda L, x: L.argsort(x, stable=True, descending=True), (N(3, 7),), grad=False))
    add(Case("msort", lambda L, x: L.msort(x), (F(*M),)))
    add(Case("topk", lambda L, x: L.topk(x, 2), (F(*M),)))
    add(Case("topk_smallest_dim0", lambda L, x: x.topk(2, 0, largest=False), (F(*M),)))
    add(Case("topk_3d", lambda L, x: x.topk(3, dim=1), (F(*T),)))
    add(Case("topk_int", lambda L, x: x.topk(1), (F(*V),)))
    add(Case("kthvalue", lambda L, x: L.kthvalue(x, 2), (F(*M),)))
    add(Case("kthvalue_keepdim", lambda L, x: x.kthvalue(3, 0, keepdim=True), (F(*M),)))
    add(Case("median", lambda L, x: L.median(x), (F(*M),)))
    add(Case("median_odd", lambda L, x: x.median(), (F(*V),)))
    add(Case("median_dim", lambda L, x: L.median(x, 1), (F(*M),)))
    add(Case("median_dim_keepdim", lambda L, x: x.median(0, keepdim=True), (F(*M),)))
    add(Case("median_int", lambda L, x: (x.median(), x.median(1).values), (Spec("n", (3, 5)),), grad=False))
    add(Case("sort_then_sum", lambda L, x: (x.sort(1).values * L.arange(4.0)).sum(), (F(*M),)))
    return c


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_forward_matches_pytorch(case: Case) -> None:
    torch = pytest.importorskip("torch")
    for seed in (0, 1):
        values = _draw(case, seed)
        tin = _build(torch, case, values, torch.float32, case.grad)
        pin = _build(plugrad, case, values, plugrad.float32, case.grad)
        tr, pr = case.fn(torch, *tin), case.fn(plugrad, *pin)
        _compare(tr, pr, case, "forward")
        if case.names:
            for k, (t, p) in enumerate(zip(_outputs(tr), _outputs(pr))):
                tn = t.grad_fn.name() if t.grad_fn is not None else None
                pn = p.grad_fn.name() if p.grad_fn is not None else None
                assert tn == pn, f"{case.name} output {k}: grad_fn {tn} vs {pn}"


GRAD_CASES = [c for c in CASES if c.grad and any(s.is_float for s in c.inputs)]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.name for c in GRAD_CASES])
def test_gradients_match_pytorch(case: Case) -> None:
    pytest.importorskip("torch")
    import torch

    values = _draw(case, 3)
    tg1, tg2 = _grads(torch, case, values, 7, case.grad2)
    pg1, pg2 = _grads(plugrad, case, values, 7, case.grad2)
    _compare(tuple(tg1), tuple(pg1), case, "first derivative")
    if case.grad2:
        _compare(tuple(tg2), tuple(pg2), case, "second derivative")


# ------------------------------------------------------------------ exact values
VALUE_CASES: list[tuple[str, Callable[[Any], Any]]] = [
    ("sort_nan_ties", lambda L: L.sort(L.tensor([3.0, 1.0, NAN, 2.0, 1.0]), stable=True)),
    ("sort_nan_desc", lambda L: L.sort(L.tensor([3.0, 1.0, NAN, 2.0, 1.0]), descending=True, stable=True)),
    ("median_nan_dim", lambda L: L.tensor([[1.0, NAN, NAN, 0.0], [4.0, 1.0, 3.0, 2.0]]).median(1)),
    ("median_nan", lambda L: L.tensor([1.0, NAN, 0.0]).median()),
    ("median_even", lambda L: L.tensor([4.0, 1.0, 3.0, 2.0]).median()),
    ("median_empty", lambda L: L.tensor([]).median()),
    ("topk_nan", lambda L: L.tensor([1.0, NAN, 3.0]).topk(2)),
    ("topk_empty", lambda L: L.tensor([]).topk(0)),
    ("sort_empty", lambda L: L.zeros(0, 3).sort(1)),
    ("median_ties_grad", lambda L: _grad_of(L, lambda x: x.median(), [1.0, 2.0, 2.0, 3.0])),
    ("kthvalue_0d", lambda L: L.kthvalue(L.tensor(5.0), 1)),
]


def _grad_of(L: Any, fn: Callable[[Any], Any], values: list[float]) -> Any:
    x = L.tensor(values, dtype=L.float64, requires_grad=True)
    fn(x).backward()
    return x.grad


@pytest.mark.parametrize("name,fn", VALUE_CASES, ids=[n for n, _ in VALUE_CASES])
def test_values_match_pytorch(name: str, fn: Callable[[Any], Any]) -> None:
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = fn(torch)
        got = fn(plugrad)
    case = Case(name, fn, ())
    _compare(expected, got, case, "value")
    assert repr(got) == repr(expected).replace("torch.", "plugrad.").replace("torch", "plugrad")


# ----------------------------------------------------------------------- errors
ERROR_CASES: list[tuple[str, Callable[[Any], Any]]] = [
    ("sort_list", lambda L: L.sort([3, 1])),
    ("sort_dim", lambda L: L.tensor([1, 2]).sort(1)),
    ("topk_k_big", lambda L: L.topk(L.tensor([1.0, 2.0]), 3)),
    ("topk_k_negative", lambda L: L.topk(L.tensor([1.0, 2.0]), -1)),
    ("topk_k_float", lambda L: L.topk(L.tensor([1.0, 2.0]), 1.5)),
    ("topk_bool", lambda L: L.topk(L.tensor([True, False]), 1)),
    ("kthvalue_k0", lambda L: L.kthvalue(L.tensor([1.0, 2.0]), 0)),
    ("kthvalue_k_big", lambda L: L.tensor([1.0, 2.0]).kthvalue(3)),
    ("kthvalue_empty_dim", lambda L: L.kthvalue(L.zeros(2, 0), 1, 1)),
    ("kthvalue_bool", lambda L: L.kthvalue(L.tensor([True, False]), 1)),
    ("median_bool", lambda L: L.median(L.tensor([True, False]))),
    ("median_bool_dim", lambda L: L.median(L.tensor([True, False]), 0)),
    ("median_empty_dim", lambda L: L.zeros(0, 3).median(0)),
]


@pytest.mark.parametrize("name,fn", ERROR_CASES, ids=[n for n, _ in ERROR_CASES])
def test_errors_match_pytorch(name: str, fn: Callable[[Any], Any]) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as texc:
        fn(torch)
    with pytest.raises(Exception) as pexc:
        fn(plugrad)
    tmsg = str(texc.value).replace("torch", "plugrad")
    assert isinstance(pexc.value, type(texc.value)), (
        f"{name}: {type(pexc.value).__name__} vs {type(texc.value).__name__}"
    )
    assert str(pexc.value) == tmsg, f"{name}:\n plugrad: {pexc.value}\n torch:   {tmsg}"
