"""Sampling against PyTorch: error messages, result dtypes and shapes, graph nodes, the
Generator's seeds. (The numbers themselves differ: PyTorch draws with mt19937/Philox,
plugrad with its backend's generator; distributions are checked in test_random_sampling.py.)"""

from __future__ import annotations

import math
from typing import Any

import plugrad
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle


def _error(fn: Any) -> tuple[str, str] | None:
    try:
        fn()
    except Exception as e:
        # PyTorch's internal-assert messages end in a request to report them to PyTorch: not ours to copy
        text = str(e).split("  (Could this error message be improved?")[0]
        return type(e).__name__, text.replace("torch.", "plugrad.")
    return None


ERRORS = {
    "multinomial zero": lambda L: L.multinomial(L.tensor([0.0, 0.0]), 1),
    "multinomial too many": lambda L: L.multinomial(L.tensor([1.0, 1.0]), 3),
    "multinomial negative": lambda L: L.multinomial(L.tensor([1.0, -1.0]), 1),
    "multinomial inf": lambda L: L.multinomial(L.tensor([1.0, math.inf]), 1),
    "multinomial nan": lambda L: L.multinomial(L.tensor([1.0, math.nan]), 1),
    "multinomial 3-d": lambda L: L.multinomial(L.ones(1, 1, 1), 1),
    "multinomial 0-d": lambda L: L.multinomial(L.tensor(1.0), 1),
    "multinomial long": lambda L: L.multinomial(L.tensor([1, 2]), 1),
    "multinomial n=0": lambda L: L.multinomial(L.tensor([1.0, 2.0]), 0),
    "multinomial float n": lambda L: L.multinomial(L.tensor([1.0, 2.0]), 2.0),
    "multinomial bad row": lambda L: L.multinomial(L.tensor([[1.0, 2.0], [0.0, 0.0]]), 1),
    "multinomial method": lambda L: L.tensor([0.0, 0.0]).multinomial(1, True),
    "bernoulli p>1": lambda L: L.bernoulli(L.tensor([0.5, 2.0])),
    "bernoulli long": lambda L: L.bernoulli(L.tensor([0, 1])),
    "bernoulli float p": lambda L: L.bernoulli(L.zeros(2), 1.5),
    "normal std<0": lambda L: L.normal(L.zeros(2), -1.0),
    "normal std nan": lambda L: L.normal(L.zeros(2), math.nan),
    "normal std tensor<0": lambda L: L.normal(0.0, L.tensor([-1.0, 1.0])),
    "normal broadcast": lambda L: L.normal(L.zeros(4), L.ones(2, 2)),
    "normal long mean": lambda L: L.normal(L.tensor([1, 2]), 1.0),
    "poisson negative": lambda L: L.poisson(L.tensor([1.0, -1.0])),
    "poisson nan": lambda L: L.poisson(L.tensor([math.nan])),
    "poisson long": lambda L: L.poisson(L.tensor([1, 2])),
    "exponential lambda": lambda L: L.zeros(3).exponential_(-1),
    "exponential zero": lambda L: L.zeros(3).exponential_(0),
    "exponential long": lambda L: L.zeros(3, dtype=L.long).exponential_(),
    "uniform from>to": lambda L: L.zeros(3).uniform_(2, 1),
    "seed overflow": lambda L: L.Generator().manual_seed(2**64),
    "seed float": lambda L: L.Generator().manual_seed(1.5),
    "state not bytes": lambda L: L.Generator().set_state(L.zeros(3)),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_match(case: str) -> None:
    want = _error(lambda: ERRORS[case](torch))
    got = _error(lambda: ERRORS[case](plugrad))
    assert want is not None
    assert got == want


def test_state_size_error_names_the_problem() -> None:
    with pytest.raises(RuntimeError, match="size"):
        torch.Generator().set_state(torch.zeros(3, dtype=torch.uint8))
    with pytest.raises(RuntimeError, match="invalid RNG state"):
        plugrad.Generator().set_state(plugrad.zeros(3, dtype=plugrad.uint8))


SHAPES = {
    "multinomial 1-d": lambda L, g: L.multinomial(L.tensor([0.2, 0.3, 0.5]), 2, generator=g),
    "multinomial 2-d": lambda L, g: L.multinomial(L.ones(4, 6), 3, True, generator=g),
    "multinomial empty rows": lambda L, g: L.multinomial(L.ones(0, 3), 2, generator=g),
    "multinomial half": lambda L, g: L.multinomial(L.ones(2, 3, dtype=L.float16), 1, generator=g),
    "bernoulli": lambda L, g: L.bernoulli(L.full((2, 3), 0.5, dtype=L.float64), generator=g),
    "bernoulli p": lambda L, g: L.bernoulli(L.zeros(3, dtype=L.long), 0.5, generator=g),
    "normal tt": lambda L, g: L.normal(L.zeros(2, 1), L.ones(3, dtype=L.float64), generator=g),
    "normal tf": lambda L, g: L.normal(L.zeros(2, 2, dtype=L.float16), 2.0, generator=g),
    "normal ft": lambda L, g: L.normal(1.0, L.ones(5), generator=g),
    "normal ffs": lambda L, g: L.normal(0.0, 1.0, (2, 3), generator=g, dtype=L.float64),
    "poisson": lambda L, g: L.poisson(L.full((3,), 4.0, dtype=L.float64), generator=g),
    "randperm": lambda L, g: L.randperm(6, generator=g, dtype=L.int32),
    "randint_like": lambda L, g: L.randint_like(L.zeros(2, 2), 3, 9, generator=g),
    "rand_like": lambda L, g: L.rand_like(L.zeros(2, dtype=L.float64), generator=g),
}


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_shapes_and_dtypes_match(case: str) -> None:
    t = SHAPES[case](torch, torch.Generator().manual_seed(0))
    p = SHAPES[case](plugrad, plugrad.Generator().manual_seed(0))
    assert tuple(p.shape) == tuple(t.shape)
    assert str(p.dtype).split(".")[1] == str(t.dtype).split(".")[1]


NODES = {
    "bernoulli": lambda L, a, s: L.bernoulli(a),
    "normal tf": lambda L, a, s: L.normal(a, 1.0),
    "normal ft": lambda L, a, s: L.normal(0.0, s),
    "normal tt": lambda L, a, s: L.normal(a, s),
    "poisson": lambda L, a, s: L.poisson(a),
    "exponential_": lambda L, a, s: a.clone().exponential_(),
    "uniform_": lambda L, a, s: a.clone().uniform_(),
    "normal_": lambda L, a, s: a.clone().normal_(),
    "bernoulli_": lambda L, a, s: a.clone().bernoulli_(),
    "bernoulli_ tensor": lambda L, a, s: a.clone().bernoulli_(a.detach()),
    "random_": lambda L, a, s: a.clone().random_(),
    "random_ to": lambda L, a, s: a.clone().random_(3),
    "random_ range": lambda L, a, s: a.clone().random_(1, 3),
}


@pytest.mark.parametrize("case", sorted(NODES))
def test_graph_nodes_and_gradients_match(case: str) -> None:
    res = []
    for lib in (torch, plugrad):
        a = lib.tensor([0.2, 0.5], requires_grad=True)
        s = lib.tensor([1.0, 2.0], requires_grad=True)
        out = NODES[case](lib, a, s)
        nodes = [type(out.grad_fn).__name__] + [type(n).__name__ for n, _ in out.grad_fn.next_functions if n]
        grads = lib.autograd.grad(out.sum(), [a, s], allow_unused=True)
        res.append((nodes, [None if g is None else g.tolist() for g in grads]))
    assert res[0] == res[1]


def test_generator_seeds_match() -> None:
    assert plugrad.Generator().initial_seed() == torch.Generator().initial_seed()
    for seed in (0, 7, -1, 2**63, 2**64 - 1, -(2**63)):
        assert (
            plugrad.Generator().manual_seed(seed).initial_seed() == torch.Generator().manual_seed(seed).initial_seed()
        )
    assert str(plugrad.Generator().device) == str(torch.Generator().device)
    assert plugrad.manual_seed(3).initial_seed() == torch.manual_seed(3).initial_seed()
    assert plugrad.initial_seed() == torch.initial_seed() == 3
