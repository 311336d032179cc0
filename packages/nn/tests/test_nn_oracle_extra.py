"""``F.silu``/``nn.SiLU``, ``F.one_hot``, ``F.pad`` and ``F.normalize`` against PyTorch:
values, dtypes, ``grad_fn`` names, first and second derivatives, and error messages."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import plugrad
import pytest
from plugrad import nn
from plugrad.nn import functional as F
from plugrad.testing import assert_close

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle

TF = torch.nn.functional


def _pair(shape: tuple[int, ...], seed: int) -> tuple[Any, Any]:
    rng = random.Random(seed)
    vals = [rng.uniform(-2, 2) for _ in range(_numel(shape))]
    p = plugrad.tensor(vals, dtype=plugrad.float64).reshape(shape).requires_grad_()
    t = torch.tensor(vals, dtype=torch.float64).reshape(shape).requires_grad_()
    return p, t


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _from_torch(t: Any) -> Any:
    """A PyTorch tensor as a plugrad tensor (DLPack: same shape, dtype and values), for assert_close."""
    return plugrad.from_dlpack(t.detach())


CASES: list[tuple[str, Callable[[Any, Any, Any], Any], tuple[int, ...], bool]] = [
    ("silu", lambda L, F_, x: F_.silu(x), (3, 4), True),
    ("silu_module", lambda L, F_, x: (nn.SiLU() if L is plugrad else torch.nn.SiLU())(x), (5,), True),
    ("pad_last", lambda L, F_, x: F_.pad(x, (1, 2)), (2, 3), True),
    ("pad_two_dims_value", lambda L, F_, x: F_.pad(x, (1, 0, 0, 1), value=5.0), (2, 3), True),
    ("pad_crop", lambda L, F_, x: F_.pad(x, (-1, 1, 2, -1)), (2, 3, 4), True),
    ("pad_three_dims", lambda L, F_, x: F_.pad(x, [1, 1, 0, 2, 1, 0]), (2, 3, 4), True),
    ("pad_reflect", lambda L, F_, x: F_.pad(x, (2, 1), mode="reflect"), (1, 2, 4), False),
    ("pad_reflect_2d", lambda L, F_, x: F_.pad(x, (1, 2, 2, 1), mode="reflect"), (1, 2, 3, 4), False),
    ("pad_replicate", lambda L, F_, x: F_.pad(x, (2, 3), mode="replicate"), (2, 3), False),
    ("pad_circular", lambda L, F_, x: F_.pad(x, (1, 2, 2, 0), mode="circular"), (1, 2, 3, 4), False),
    ("normalize", lambda L, F_, x: F_.normalize(x), (3, 4), True),
    ("normalize_p1_dim0", lambda L, F_, x: F_.normalize(x, p=1.0, dim=0), (3, 4), True),
    ("normalize_eps", lambda L, F_, x: F_.normalize(x * 1e-14, eps=1e-12), (2, 3), True),
]


@pytest.mark.parametrize("name,fn,shape,names", CASES, ids=[c[0] for c in CASES])
def test_matches_pytorch(name: str, fn: Callable[[Any, Any, Any], Any], shape: tuple[int, ...], names: bool) -> None:
    p, t = _pair(shape, hash(name) % 1000)
    po, to = fn(plugrad, F, p), fn(torch, TF, t)
    assert_close(po, _from_torch(to), rtol=1e-9, atol=1e-9)
    if names:
        assert po.grad_fn.name() == to.grad_fn.name()
    rng = random.Random(3)
    w = [rng.uniform(-1, 1) for _ in range(po.numel())]
    pw = plugrad.tensor(w, dtype=plugrad.float64).reshape(tuple(po.shape))
    tw = torch.tensor(w, dtype=torch.float64).reshape(tuple(to.shape))
    (pg,) = plugrad.autograd.grad((po * pw).sum(), p, create_graph=True)
    (tg,) = torch.autograd.grad((to * tw).sum(), t, create_graph=True)
    assert_close(pg, _from_torch(tg), rtol=1e-9, atol=1e-9)
    if tg.requires_grad:
        (tg2,) = torch.autograd.grad((tg * tg).sum(), t, allow_unused=True)
        if tg2 is not None and not pg.requires_grad:  # plugrad knows the gradient is constant: PyTorch's is 0
            assert tg2.abs().max().item() == 0.0
        elif tg2 is not None:
            (pg2,) = plugrad.autograd.grad((pg * pg).sum(), p)
            assert_close(pg2, _from_torch(tg2), rtol=1e-9, atol=1e-9)


ONE_HOT = [
    ("basic", lambda L, F_: F_.one_hot(L.tensor([0, 2, 1]))),
    ("classes", lambda L, F_: F_.one_hot(L.tensor([[0], [2]]), 4)),
    ("scalar", lambda L, F_: F_.one_hot(L.tensor(2), 3)),
    ("empty", lambda L, F_: F_.one_hot(L.zeros(0, dtype=L.int64), 3)),
]


@pytest.mark.parametrize("name,fn", ONE_HOT, ids=[n for n, _ in ONE_HOT])
def test_one_hot_matches_pytorch(name: str, fn: Callable[[Any, Any], Any]) -> None:
    po, to = fn(plugrad, F), fn(torch, TF)
    assert repr(po) == repr(to).replace("torch.", "plugrad.")


ERRORS = [
    ("one_hot_big", lambda L, F_: F_.one_hot(L.tensor([0, 5]), 3)),
    ("one_hot_negative", lambda L, F_: F_.one_hot(L.tensor([-1, 1]))),
    ("one_hot_float", lambda L, F_: F_.one_hot(L.tensor([0.0, 1.0]))),
    ("one_hot_empty", lambda L, F_: F_.one_hot(L.zeros(0, dtype=L.int64))),
    ("silu_int", lambda L, F_: F_.silu(L.tensor([1, 2]))),
    ("pad_odd", lambda L, F_: F_.pad(L.ones(2, 3), (1,))),
    ("pad_long", lambda L, F_: F_.pad(L.ones(2, 3), (1,) * 6)),
    ("pad_negative", lambda L, F_: F_.pad(L.ones(2, 3), (-2, -2))),
    ("pad_mode", lambda L, F_: F_.pad(L.ones(2, 3), (1, 1), mode="bogus")),
    ("pad_reflect_1d", lambda L, F_: F_.pad(L.ones(3), (1, 1), mode="reflect")),
    ("pad_reflect_big", lambda L, F_: F_.pad(L.ones(2, 3), (3, 1), mode="reflect")),
    ("pad_circular_big", lambda L, F_: F_.pad(L.ones(2, 3), (4, 1), mode="circular")),
    ("pad_reflect_value", lambda L, F_: F_.pad(L.ones(1, 2, 3), (2, 1), mode="reflect", value=3)),
]


@pytest.mark.parametrize("name,fn", ERRORS, ids=[n for n, _ in ERRORS])
def test_errors_match_pytorch(name: str, fn: Callable[[Any, Any], Any]) -> None:
    with pytest.raises(Exception) as texc:
        fn(torch, TF)
    with pytest.raises(Exception) as pexc:
        fn(plugrad, F)
    assert isinstance(pexc.value, type(texc.value))
    assert str(pexc.value) == str(texc.value).replace("torch", "plugrad")
