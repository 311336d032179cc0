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
from test_oracle_ops import B, Case, F, I, N, Pos, Spec, _build, _compare, _draw, _grads, _outputs

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

    # integer bitwise ops and shifts
    add(
        Case(
            "bitwise_ops",
            lambda L, x, y: (x & y, x | y, x ^ y, ~x, L.bitwise_and(x, 3), 6 ^ x),
            (I(*M), I(*V[:0], 4)),
            grad=False,
        )
    )
    add(
        Case("bitwise_uint8", lambda L, x: (~x.to(L.uint8), x.to(L.uint8) & 5, x.to(L.int8) | -3), (N(*M),), grad=False)
    )
    add(Case("bitwise_bool_int", lambda L, x, y: (x & y, y | True, x ^ x), (B(*M), I(*M)), grad=False))
    add(
        Case(
            "shifts",
            lambda L, x, n: (x << n, x >> n, x << 3, x >> 1, 1 << n, x.to(L.int8) << 7),
            (I(*M), N(*M)),
            grad=False,
        )
    )
    add(
        Case(
            "shift_methods",
            lambda L, x, n: (x.bitwise_left_shift(n), L.bitwise_right_shift(x, n)),
            (I(*M), N(*M)),
            grad=False,
        )
    )
    add(Case("bitwise_inplace", lambda L, x, y: _inplace_chain(x.clone(), y), (I(*M), I(*M)), grad=False))

    # comparison and creation helpers
    add(Case("fmod", lambda L, x, y: L.fmod(x, y), (F(*M), Pos(*M)), grad2=False))
    add(Case("fmod_scalar", lambda L, x: x.fmod(-0.7), (F(*M),)))
    add(Case("fmod_int", lambda L, x: (L.fmod(x, 3), L.fmod(x, L.tensor([2, -3, 4, 5]))), (I(*M),), grad=False))
    add(
        Case(
            "isclose",
            lambda L, x, y: (L.isclose(x, x + y * 1e-6), x.isclose(y, rtol=0.5, atol=0.1)),
            (F(*M), F(*M)),
            grad=False,
        )
    )
    add(Case("masked_select", lambda L, x, m: L.masked_select(x, m), (F(*M), B(*M))))
    add(Case("masked_select_bcast", lambda L, x, m: x.masked_select(m), (F(*V[:0], 4), B(*M))))
    add(Case("index_add", lambda L, x, s: x.index_add(0, L.tensor([2, 0, 2]), s, alpha=0.5), (F(*M), F(*M))))
    add(Case("index_add_dim1", lambda L, x, s: L.index_add(x, 1, L.tensor([3, 3]), s), (F(*M), F(3, 2))))
    add(Case("index_fill", lambda L, x: x.index_fill(1, L.tensor([0, 2]), -1.5), (F(*M),)))
    add(Case("index_fill_tensor", lambda L, x, v: L.index_fill(x, 0, L.tensor([1, 1]), v), (F(*M), F())))
    add(Case("tril_triu", lambda L, x: (L.tril(x), x.triu(1), x.tril(-1), L.triu(x, diagonal=-2)), (F(*M),)))
    add(Case("tril_batched", lambda L, x: x.tril(1), (F(*T),)))
    add(Case("diag_vector", lambda L, x: (L.diag(x), x.diag(-2)), (F(*V),)))
    add(Case("diag_matrix", lambda L, x: (L.diag(x), x.diag(1), x.diag(-2)), (F(*M),)))

    # in-place variants through a non-leaf (grad_fn names, values, gradients)
    for name, call in _INPLACE.items():
        add(
            Case(
                f"inplace_{name}", (lambda f: lambda L, x: f(L, x * 1))(call), (Pos(*M),), grad2=name not in ("floor_",)
            )
        )
    add(Case("t_inplace", lambda L, x: (x * 1).t_() * 2, (F(*M),), names=False))
    add(Case("transpose_inplace", lambda L, x: (x * 1).transpose_(0, 2) * 2, (F(*T),), names=False))
    add(Case("inplace_view_exp", lambda L, x: _view_exp(x), (F(*M),), names=False))  # torch::autograd::CopySlices
    return c


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "exp_": lambda L, y: y.exp_(),
    "log_": lambda L, y: y.log_(),
    "sqrt_": lambda L, y: y.sqrt_(),
    "abs_": lambda L, y: y.abs_(),
    "neg_": lambda L, y: y.neg_(),
    "sigmoid_": lambda L, y: y.sigmoid_(),
    "tanh_": lambda L, y: y.tanh_(),
    "relu_": lambda L, y: (y - 1).relu_(),
    "clamp_": lambda L, y: y.clamp_(0.7, 1.5),
    "pow_": lambda L, y: y.pow_(3),
    "pow_half_": lambda L, y: y.pow_(0.5),
    "floor_": lambda L, y: y.floor_(),
    "masked_fill_": lambda L, y: y.masked_fill_(y > 1, 0.0),
    "index_fill_": lambda L, y: y.index_fill_(1, L.tensor([1]), 2.0),
    "index_add_": lambda L, y: y.index_add_(0, L.tensor([0, 0]), L.ones_like(y[:2])),
    "scatter_": lambda L, y: y.scatter_(1, L.tensor([[0], [2], [1]]), 7.0),
    "scatter_add_": lambda L, y: y.scatter_add_(1, L.tensor([[0, 0], [2, 1], [3, 3]]), L.ones_like(y[:, :2])),
    "tril_": lambda L, y: y.tril_(),
    "fmod_": lambda L, y: y.fmod_(0.6),
}


def _inplace_chain(x: Any, y: Any) -> Any:
    x &= y
    x |= 3
    x ^= y
    x <<= 2
    x >>= 1
    return x


def _view_exp(x: Any) -> Any:
    y = x * 2
    y[1:, ::2].exp_()
    return y


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
    (
        "bitwise_edges",
        lambda L: (L.tensor([-128, 127, 1], dtype=L.int8) << 1, L.tensor([-8, 8]) >> 70, L.tensor([5]) << -1),
    ),
    ("bitwise_promotion", lambda L: L.tensor([1, 2], dtype=L.uint8) & L.tensor([3, 3], dtype=L.int8)),
    ("eye", lambda L: (L.eye(3), L.eye(2, 4, dtype=L.int64), L.eye(0), L.eye(2, dtype=L.bool))),
    ("randperm_sorted", lambda L: L.randperm(7).sort().values),
    ("randint_forms", lambda L: (L.randint(1, (3,)), L.randint(4, 5, (2, 2)), L.randint(low=2, high=3, size=(2,)))),
    (
        "allclose_equal",
        lambda L: L.tensor(
            [
                L.allclose(L.ones(2), L.ones(2) + 1e-9),
                L.equal(L.ones(2), L.ones(1, 2)),
                L.equal(L.ones(2), L.ones(2, dtype=L.int64)),
            ]
        ),
    ),
    (
        "isclose_special",
        lambda L: L.isclose(
            L.tensor([1.0, NAN, math.inf, -math.inf]), L.tensor([1.0, NAN, math.inf, math.inf]), equal_nan=True
        ),
    ),
    ("fmod_zero", lambda L: L.fmod(L.tensor([-3.0, 3.0]), 0.0)),
    (
        "index_add_int_alpha",
        lambda L: L.zeros(3, dtype=L.int64).index_add(0, L.tensor([0, 2, 0]), L.ones(3, dtype=L.int64), alpha=1.5),
    ),
    ("index_fill_int", lambda L: L.zeros(3, dtype=L.int64).index_fill(0, L.tensor([1]), 2.7)),
    ("diag_int", lambda L: L.diag(L.tensor([1, 2]), 1)),
    ("inplace_version", lambda L: L.tensor([float(_version_after(L))])),
    (
        "index_fill_repeated_grad",
        lambda L: _grad_of(L, lambda x: x.index_fill(0, L.tensor([1, 1, 0]), x[2]).sum(), [1.0, 2.0, 3.0]),
    ),
    ("random_fill_grad", lambda L: _grad_of(L, lambda x: ((x * 2).uniform_() * 3).sum(), [1.0, 2.0])),
    ("random_fill_node", lambda L: L.tensor([len(_random_nodes(L))])),
]


def _version_after(L: Any) -> int:
    t = L.ones(3)
    t.exp_()
    t.clamp_(0, 2).pow_(2)
    t.t_()
    return int(t._version)


def _random_nodes(L: Any) -> list[str]:
    x = L.ones(3, requires_grad=True)
    names = []
    for f in (
        lambda y: y.uniform_(),
        lambda y: y.normal_(),
        lambda y: y.bernoulli_(),
        lambda y: y.bernoulli_(L.full((3,), 0.5)),
        lambda y: y.random_(),
        lambda y: y.random_(3),
        lambda y: y.random_(1, 3),
    ):
        y = x * 2
        f(y)
        names.append(y.grad_fn.name())
    assert names == [
        "UniformBackward0",
        "NormalBackward0",
        "BernoulliBackward2",
        "BernoulliBackward1",
        "RandomBackward2",
        "RandomBackward1",
        "RandomBackward0",
    ], names
    return names


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
    ("bitwise_float", lambda L: L.ones(2) & L.ones(2)),
    ("bitwise_float_scalar", lambda L: L.tensor([1, 2]) | 1.5),
    ("bitwise_not_float", lambda L: L.ones(2).bitwise_not()),
    ("invert_float", lambda L: ~L.ones(2)),
    ("bitwise_not_int", lambda L: L.bitwise_not(2)),
    ("lshift_float", lambda L: L.ones(2) << 1),
    ("rshift_bool", lambda L: L.tensor([True]) >> True),
    ("iand_float", lambda L: L.tensor([1, 2]).__iand__(L.tensor([1.5, 2.0]))),
    ("ior_bool_long", lambda L: L.tensor([True, False]).bitwise_or_(L.tensor([1, 0]))),
    ("eye_negative", lambda L: L.eye(-1)),
    ("eye_m_negative", lambda L: L.eye(2, -1)),
    ("eye_float", lambda L: L.eye(2.5)),
    ("randperm_negative", lambda L: L.randperm(-1)),
    ("randperm_grad", lambda L: L.randperm(3, requires_grad=True)),
    ("randint_order", lambda L: L.randint(5, 3, (2,))),
    ("randint_grad", lambda L: L.randint(5, (2,), requires_grad=True)),
    ("isclose_dtypes", lambda L: L.isclose(L.tensor([1, 2]), L.tensor([1.0, 3.0]))),
    ("isclose_rtol", lambda L: L.isclose(L.ones(1), L.ones(1), rtol=-1)),
    ("isclose_atol", lambda L: L.isclose(L.ones(1), L.ones(1), atol=-1)),
    ("isclose_number", lambda L: L.isclose(L.ones(1), 1.0)),
    ("allclose_shapes", lambda L: L.allclose(L.ones(2), L.ones(3))),
    ("equal_number", lambda L: L.equal(L.ones(2), 1)),
    ("fmod_int_zero", lambda L: L.fmod(L.tensor([-3, 3]), 0)),
    ("fmod_bool", lambda L: L.fmod(L.tensor([True]), True)),
    ("masked_select_mask", lambda L: L.ones(3).masked_select(L.tensor([1, 0, 1]))),
    ("masked_select_shapes", lambda L: L.ones(2, 3).masked_select(L.tensor([True, False]))),
    ("masked_select_number", lambda L: L.masked_select(L.ones(3), 1)),
    ("index_add_index_dtype", lambda L: L.zeros(3, 4).index_add(0, L.tensor([0.0]), L.ones(1, 4))),
    ("index_add_source_dtype", lambda L: L.zeros(3, 4).index_add(0, L.tensor([0]), L.ones(1, 4, dtype=L.float64))),
    ("index_add_count", lambda L: L.zeros(3, 4).index_add(0, L.tensor([0, 1, 2]), L.ones(2, 4))),
    ("index_add_shape", lambda L: L.zeros(3, 4).index_add(0, L.tensor([0, 1, 2]), L.ones(3, 5))),
    ("index_add_matrix_index", lambda L: L.zeros(3, 4).index_add(0, L.tensor([[0]]), L.ones(1, 4))),
    ("index_add_bounds", lambda L: L.zeros(3, 4).index_add(0, L.tensor([5]), L.ones(1, 4))),
    ("index_fill_bounds", lambda L: L.zeros(3, 4).index_fill(1, L.tensor([0, 4]), 1)),
    ("index_fill_index_dtype", lambda L: L.zeros(3, 4).index_fill(1, L.tensor([0.0]), 1)),
    ("index_fill_matrix_index", lambda L: L.zeros(3, 4).index_fill(1, L.tensor([[0]]), 1)),
    ("index_fill_value_dims", lambda L: L.zeros(3, 4).index_fill(1, L.tensor([0]), L.tensor([2.0]))),
    ("tril_1d", lambda L: L.tril(L.ones(3))),
    ("tril_float_diagonal", lambda L: L.ones(2, 2).tril(1.5)),
    ("diag_0d", lambda L: L.diag(L.tensor(1.0))),
    ("diag_3d", lambda L: L.diag(L.ones(2, 2, 2))),
    ("exp_int", lambda L: L.tensor([1, 2]).exp_()),
    ("pow_int_half", lambda L: L.tensor([4, 2]).pow_(0.5)),
    ("neg_bool", lambda L: L.tensor([True]).neg_()),
    ("exp_leaf", lambda L: L.ones(2, requires_grad=True).exp_()),
    ("t_3d", lambda L: L.ones(2, 3, 4).t_()),
    ("uniform_long", lambda L: L.ones(3, dtype=L.int64).uniform_()),
    ("normal_long", lambda L: L.ones(3, dtype=L.int64).normal_()),
    ("uniform_bounds", lambda L: L.ones(3).uniform_(2, 1)),
    ("normal_std", lambda L: L.ones(3).normal_(0, -1)),
    ("random_order", lambda L: L.ones(3).random_(5, 3)),
    ("random_uint8_range", lambda L: L.zeros(3, dtype=L.uint8).random_(0, 300)),
    ("bernoulli_p", lambda L: L.ones(3).bernoulli_(1.5)),
    ("tensor_dict", lambda L: L.tensor({1: 2})),
    ("tensor_generator", lambda L: L.tensor(x for x in range(3))),
    ("tensor_str", lambda L: L.tensor("ab")),
    ("var_int", lambda L: L.tensor([1, 2]).var()),
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


# ---------------------------------------------------------------------- NumPy interop
INTEROP_CASES: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("float32_scalar_in_list", lambda L, np: L.tensor([np.float32(1.5), 2])),
    ("float64_scalar_in_list", lambda L, np: L.tensor([np.float64(1.5), 2])),
    ("float16_scalar_in_list", lambda L, np: L.tensor([np.float16(3), 1])),
    ("float16_and_float", lambda L, np: L.tensor([np.float16(1), 2.5])),
    ("int32_scalar_in_list", lambda L, np: L.tensor([np.int32(1), 2])),
    ("int32_scalars", lambda L, np: L.tensor([np.int32(1), np.int32(2)])),
    ("mixed_int_scalars", lambda L, np: L.tensor([np.uint8(3), np.int8(1)])),
    ("bool_scalar", lambda L, np: L.tensor([np.bool_(True), False])),
    ("0d_tensor_in_list", lambda L, np: L.tensor([L.tensor(1.5, dtype=L.float64), 2])),
    ("range", lambda L, np: L.tensor(range(5))),
    ("ranges", lambda L, np: L.tensor([range(2), range(2)])),
    ("empty_range", lambda L, np: L.tensor(range(0))),
    ("scalar_float64", lambda L, np: L.tensor(np.float64(1.5))),
    ("scalar_int32", lambda L, np: L.tensor(np.int32(3))),
    ("mul_np_scalar", lambda L, np: (L.ones(2) * np.float32(2), np.float32(2) * L.ones(2), np.float64(2) * L.ones(2))),
    ("int_tensor_np_scalars", lambda L, np: (L.tensor([1, 2]) * np.float64(2), L.tensor([1, 2]) + np.int64(2))),
    ("np_int_plus_int32", lambda L, np: np.int64(2) + L.tensor([1, 2], dtype=L.int32)),
    ("compare_np_scalar", lambda L, np: (L.ones(2) == np.float32(1), L.ones(2) < np.float64(2))),
    ("index_np_array", lambda L, np: L.arange(10).reshape(2, 5)[:, np.array([0, 2])]),
    ("index_np_scalar", lambda L, np: L.arange(4)[np.int64(1)]),
    ("index_np_bool", lambda L, np: L.arange(4)[np.array([True, False, True, False])]),
    ("numpy_roundtrip", lambda L, np: L.tensor(L.tensor([1.5, 2.0]).numpy() * 2)),
    ("asarray_dtype", lambda L, np: L.tensor(np.asarray(L.ones(2), dtype=np.float64))),
]


@pytest.mark.parametrize("name,fn", INTEROP_CASES, ids=[n for n, _ in INTEROP_CASES])
def test_numpy_interop_matches_pytorch(name: str, fn: Callable[[Any, Any], Any]) -> None:
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    expected = fn(torch, np)
    got = fn(plugrad, np)
    _compare(expected, got, Case(name, fn, ()), "value")
    assert repr(got) == repr(expected).replace("torch.", "plugrad.")


# --------------------------------------------------------------------------- warnings
WARNING_CASES: list[tuple[str, Callable[[Any], Any]]] = [
    ("tensor_of_tensor", lambda L: L.tensor(L.ones(2))),
    ("tensor_of_grad_tensor", lambda L: L.tensor(L.ones(2, requires_grad=True))),
    ("as_tensor", lambda L: L.as_tensor(L.ones(2))),
    ("T_2d", lambda L: L.ones(2, 3).T),
    ("var_correction", lambda L: L.ones(3).var(correction=5)),
    ("std_one", lambda L: L.ones(1).std()),
    ("var_empty", lambda L: L.ones(0).var()),
    ("var_mean", lambda L: L.var_mean(L.ones(1))),
    ("std_mean_dim", lambda L: L.std_mean(L.ones(2, 1), 1)),
    ("var_ok", lambda L: L.ones(2, 2).var(0, correction=1.5)),
    ("std_dims", lambda L: L.ones(2, 2).std(dim=(0, 1), correction=4)),
]


def _user_warnings(fn: Callable[[], Any]) -> list[str]:
    import re

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [
        re.sub(r" \(Triggered internally at .*\)$", "", str(w.message)).replace("torch", "plugrad")
        for w in caught
        if issubclass(w.category, UserWarning)
    ]


@pytest.mark.parametrize("name,fn", WARNING_CASES, ids=[n for n, _ in WARNING_CASES])
def test_warnings_match_pytorch(name: str, fn: Callable[[Any], Any]) -> None:
    torch = pytest.importorskip("torch")
    assert _user_warnings(lambda: fn(plugrad)) == _user_warnings(lambda: fn(torch))


# PyTorch gives the ``.T`` deprecation warnings once per process (TORCH_WARN_ONCE), so each
# case asks a fresh interpreter; plugrad leaves repeats to Python's warning filters.
T_CASES = {"T_3d": "L.ones(2, 3, 4).T", "T_1d": "L.ones(3).T", "T_0d": "L.tensor(1.0).T"}


@pytest.mark.parametrize("name", sorted(T_CASES))
def test_T_warnings_match_pytorch(name: str) -> None:
    pytest.importorskip("torch")
    import subprocess
    import sys

    code = (
        "import re, warnings, torch as L\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        f"    {T_CASES[name]}\n"
        "for x in w: print(re.sub(r' \\(Triggered internally at .*\\)$', '', str(x.message)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    expected = [line.replace("torch", "plugrad") for line in out.splitlines() if line]
    assert expected, "PyTorch gave no warning"
    assert _user_warnings(lambda: eval(T_CASES[name], {"L": plugrad})) == expected
