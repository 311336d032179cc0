"""plugrad.Generator, generator= on every random function, and the sampling functions
(multinomial, bernoulli, normal, poisson, exponential_).

Distribution checks use fixed seeds and tolerances derived from the sample size: a
sample mean of ``N`` draws with variance ``v`` is within ``Z * sqrt(v / N)`` of the true
mean, with ``Z = 5`` (a false failure once in about two million runs for an unseeded
draw; with the fixed seeds the outcome is deterministic anyway).
"""

from __future__ import annotations

import math
from typing import Any

import plugrad
import pytest
from plugrad._generator import DEFAULT_SEED, _PythonStream

Z = 5.0


def _mean_ok(sample: plugrad.Tensor, mean: float, var: float) -> None:
    n = sample.numel()
    got = sample.double().mean().item()
    tol = Z * math.sqrt(var / n)
    assert abs(got - mean) <= tol, f"sample mean {got} not within {tol} of {mean} (n={n})"


def _var_ok(sample: plugrad.Tensor, var: float, fourth_central: float) -> None:
    """The sample variance of ``n`` draws has variance about ``(mu4 - var**2) / n``."""
    n = sample.numel()
    got = sample.double().var().item()
    tol = Z * math.sqrt((fourth_central - var * var) / n)
    assert abs(got - var) <= tol, f"sample variance {got} not within {tol} of {var} (n={n})"


# ------------------------------------------------------------------ the Generator object
def test_fresh_generator_is_deterministic_and_cpu() -> None:
    g1, g2 = plugrad.Generator(), plugrad.Generator(device="cpu")
    assert g1.initial_seed() == DEFAULT_SEED == 67280421310721
    assert g1.device == plugrad.device("cpu")
    assert plugrad.equal(plugrad.rand(5, generator=g1), plugrad.rand(5, generator=g2))


def test_manual_seed_returns_self_and_repeats_the_sequence() -> None:
    g = plugrad.Generator()
    assert g.manual_seed(7) is g
    a = plugrad.randn(10, generator=g)
    g.manual_seed(7)
    assert plugrad.equal(a, plugrad.randn(10, generator=g))
    assert g.initial_seed() == 7


def test_seed_ranges_as_pytorch() -> None:
    g = plugrad.Generator()
    assert g.manual_seed(-1).initial_seed() == 2**64 - 1
    assert g.manual_seed(2**64 - 1).initial_seed() == 2**64 - 1
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        g.manual_seed(2**64)
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        g.manual_seed(-(2**63) - 1)
    with pytest.raises(RuntimeError, match="manual_seed expected a long, but got float"):
        g.manual_seed(1.5)  # type: ignore[arg-type]
    s = g.seed()
    assert 0 <= s < 2**64 and g.initial_seed() == s


def test_generators_are_independent_of_each_other_and_of_the_default() -> None:
    ref = plugrad.rand(6, generator=plugrad.Generator().manual_seed(1))
    g, other = plugrad.Generator().manual_seed(1), plugrad.Generator().manual_seed(1)
    first = plugrad.rand(3, generator=g)
    plugrad.rand(100, generator=other)  # another generator's draws
    plugrad.rand(100)  # the default generator's draws
    plugrad.manual_seed(123)  # reseeding the default
    second = plugrad.rand(3, generator=g)
    assert plugrad.equal(plugrad.cat([first, second]), ref)


def test_manual_seed_matches_a_generator_with_that_seed() -> None:
    plugrad.manual_seed(5)
    a = plugrad.rand(4)
    assert plugrad.equal(a, plugrad.rand(4, generator=plugrad.Generator().manual_seed(5)))


def test_state_round_trip_and_errors() -> None:
    g = plugrad.Generator().manual_seed(3)
    plugrad.randn(5, generator=g)
    state = g.get_state()
    assert state.dtype is plugrad.uint8 and state.dim() == 1
    a = plugrad.randn(5, generator=g)
    assert g.set_state(state) is g
    assert plugrad.equal(a, plugrad.randn(5, generator=g))
    # a state carries over to another generator
    h = plugrad.Generator().set_state(state)
    assert plugrad.equal(a, plugrad.randn(5, generator=h))
    with pytest.raises(TypeError, match="expected a plugrad.ByteTensor, but got int"):
        g.set_state(5)
    with pytest.raises(TypeError, match="RNG state must be a plugrad.ByteTensor"):
        g.set_state(plugrad.zeros(3))
    with pytest.raises(RuntimeError, match="invalid RNG state"):
        g.set_state(plugrad.zeros(3, dtype=plugrad.uint8))


def test_default_generator_and_module_functions() -> None:
    assert plugrad.manual_seed(11) is plugrad.default_generator
    assert plugrad.initial_seed() == 11 == plugrad.default_generator.initial_seed()
    state = plugrad.get_rng_state()
    a = plugrad.rand(3)
    plugrad.set_rng_state(state)
    assert plugrad.equal(a, plugrad.rand(3))
    plugrad.default_generator.manual_seed(11)
    assert plugrad.equal(plugrad.rand(3), plugrad.rand(3, generator=plugrad.Generator().manual_seed(11)))
    s = plugrad.seed()
    assert plugrad.initial_seed() == s


def test_generator_argument_is_checked() -> None:
    with pytest.raises(TypeError, match="rand\\(\\): argument 'generator' must be plugrad.Generator, not int"):
        plugrad.rand(2, generator=5)


_DRAWS: dict[str, Any] = {
    "rand": lambda g: plugrad.rand(3, generator=g),
    "randn": lambda g: plugrad.randn(3, generator=g),
    "randint": lambda g: plugrad.randint(0, 100, (3,), generator=g),
    "randperm": lambda g: plugrad.randperm(10, generator=g),
    "rand_like": lambda g: plugrad.rand_like(plugrad.zeros(3), generator=g),
    "randn_like": lambda g: plugrad.randn_like(plugrad.zeros(3), generator=g),
    "randint_like": lambda g: plugrad.randint_like(plugrad.zeros(3), 5, 50, generator=g),
    "normal_tt": lambda g: plugrad.normal(plugrad.zeros(3), plugrad.ones(3), generator=g),
    "normal_tf": lambda g: plugrad.normal(plugrad.zeros(3), 2.0, generator=g),
    "normal_ft": lambda g: plugrad.normal(1.0, plugrad.ones(3), generator=g),
    "normal_ffs": lambda g: plugrad.normal(0.0, 1.0, (3,), generator=g),
    "bernoulli": lambda g: plugrad.bernoulli(plugrad.full((20,), 0.5), generator=g),
    "bernoulli_p": lambda g: plugrad.bernoulli(plugrad.zeros(20), 0.5, generator=g),
    "multinomial": lambda g: plugrad.multinomial(plugrad.ones(10), 5, generator=g),
    "multinomial_r": lambda g: plugrad.ones(10).multinomial(5, True, generator=g),
    "poisson": lambda g: plugrad.poisson(plugrad.full((5,), 3.0), generator=g),
    "uniform_": lambda g: plugrad.zeros(3).uniform_(-1, 1, generator=g),
    "normal_": lambda g: plugrad.zeros(3).normal_(generator=g),
    "bernoulli_": lambda g: plugrad.zeros(20).bernoulli_(0.5, generator=g),
    "random_": lambda g: plugrad.zeros(3).random_(0, 1000, generator=g),
    "exponential_": lambda g: plugrad.zeros(3).exponential_(generator=g),
}


@pytest.mark.parametrize("name", sorted(_DRAWS))
def test_every_random_function_draws_from_its_generator(name: str) -> None:
    draw = _DRAWS[name]
    a = draw(plugrad.Generator().manual_seed(42))
    plugrad.manual_seed(0)
    b = draw(plugrad.Generator().manual_seed(42))
    assert plugrad.equal(a, b)
    # a different seed gives different values (the chance of equal draws is negligible here)
    assert not plugrad.equal(a, draw(plugrad.Generator().manual_seed(43)))


def test_python_stream_for_backends_without_the_kernel() -> None:
    be = plugrad.zeros(1)._backend
    f64 = be.native_dtype(plugrad.float64)
    s1, s2 = _PythonStream(be, 9), _PythonStream(be, 9)
    a = s1.uniform((1000,), f64)
    assert be.tolist(a) == be.tolist(s2.uniform((1000,), f64))
    state = s1.get_state()
    n1 = be.tolist(s1.normal((4,), f64))
    s1.set_state(state)
    assert be.tolist(s1.normal((4,), f64)) == n1
    vals = be.tolist(a)
    assert all(0.0 <= v < 1.0 for v in vals)
    assert abs(sum(vals) / len(vals) - 0.5) <= Z * math.sqrt(1 / 12 / len(vals))
    with pytest.raises(ValueError, match="expected an RNG state of"):
        s1.set_state(b"xx")


# ------------------------------------------------------------------ multinomial
def test_multinomial_with_replacement_frequencies() -> None:
    g = plugrad.Generator().manual_seed(0)
    p = [0.1, 0.2, 0.0, 0.3, 0.4]
    n = 20000
    draws = plugrad.multinomial(plugrad.tensor(p) * 3.0, n, replacement=True, generator=g)  # unnormalised weights
    assert draws.shape == (n,) and draws.dtype is plugrad.int64
    counts = [(draws == i).sum().item() for i in range(len(p))]
    assert counts[2] == 0  # a zero-probability category is never drawn
    for c, pi in zip(counts, p):
        assert abs(c - n * pi) <= Z * math.sqrt(n * pi * (1 - pi))


def test_multinomial_without_replacement() -> None:
    g = plugrad.Generator().manual_seed(1)
    p = plugrad.tensor([0.5, 0.3, 0.2, 0.0])
    rows = 6000
    draws = plugrad.multinomial(p.expand(rows, 4), 3, generator=g)
    assert draws.shape == (rows, 3)
    for r in draws[:50].tolist():
        assert sorted(r) == [0, 1, 2]  # all distinct; the zero-probability category last of all
    first = draws[:, 0]
    for i, pi in enumerate([0.5, 0.3, 0.2]):
        c = (first == i).sum().item()
        assert abs(c - rows * pi) <= Z * math.sqrt(rows * pi * (1 - pi))
    # the second draw follows p renormalised without the first: P(second = 1 | first = 0) = 0.3 / 0.5
    mask = first == 0
    m = mask.sum().item()
    c = ((draws[:, 1] == 1) & mask).sum().item()
    assert abs(c - m * 0.6) <= Z * math.sqrt(m * 0.6 * 0.4)
    # all of a row's categories, drawn without replacement, are a permutation
    perm = plugrad.multinomial(plugrad.ones(7), 7, generator=g)
    assert sorted(perm.tolist()) == list(range(7))


def test_multinomial_edge_cases() -> None:
    assert plugrad.multinomial(plugrad.tensor([0.0, 1.0, 0.0]), 1).tolist() == [1]
    assert plugrad.multinomial(plugrad.tensor([0.0, 1.0, 0.0]), 4, True).tolist() == [1, 1, 1, 1]
    assert plugrad.multinomial(plugrad.ones(0, 3), 2).shape == (0, 2)
    out = plugrad.multinomial(plugrad.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=plugrad.float16), 1)
    assert out.tolist() == [[0], [1]] and out.dtype is plugrad.int64


@pytest.mark.parametrize(
    ("args", "err", "msg"),
    [
        (
            (plugrad.tensor([0.0, 0.0]), 1),
            RuntimeError,
            r"invalid multinomial distribution \(sum of probabilities <= 0\)",
        ),
        (
            (plugrad.tensor([1.0, 1.0]), 3),
            RuntimeError,
            "cannot sample n_sample > prob_dist.size\\(-1\\) samples without",
        ),
        (
            (plugrad.tensor([1.0, -1.0]), 1),
            RuntimeError,
            "probability tensor contains either `inf`, `nan` or element < 0",
        ),
        ((plugrad.tensor([1.0, math.inf]), 1), RuntimeError, "probability tensor contains either `inf`, `nan`"),
        ((plugrad.tensor([1.0, math.nan]), 1), RuntimeError, "probability tensor contains either `inf`, `nan`"),
        ((plugrad.ones(1, 1, 1), 1), RuntimeError, "prob_dist must be 1 or 2 dim"),
        ((plugrad.tensor(1.0), 1), RuntimeError, "prob_dist must be 1 or 2 dim"),
        (
            (plugrad.tensor([1, 2]), 1),
            RuntimeError,
            "multinomial only supports floating-point dtypes for input, got: Long",
        ),
        ((plugrad.tensor([1.0, 2.0]), 0), RuntimeError, "cannot sample n_sample <= 0 samples"),
        (
            (plugrad.tensor([1.0, 2.0]), 2.0),
            TypeError,
            "argument 'num_samples' \\(position 2\\) must be int, not float",
        ),
        ((plugrad.tensor([[1.0, 2.0], [0.0, 0.0]]), 1), RuntimeError, "invalid multinomial distribution"),
        (([0.5, 0.5], 1), TypeError, "argument 'input' \\(position 1\\) must be Tensor, not list"),
    ],
)
def test_multinomial_errors(args: tuple[Any, ...], err: type[Exception], msg: str) -> None:
    with pytest.raises(err, match=msg):
        plugrad.multinomial(*args)


# ------------------------------------------------------------------ bernoulli, normal, poisson, exponential
def test_bernoulli_frequencies_and_errors() -> None:
    g = plugrad.Generator().manual_seed(2)
    n = 20000
    p = plugrad.cat([plugrad.full((n,), 0.2), plugrad.full((n,), 0.9)])
    d = plugrad.bernoulli(p, generator=g)
    assert d.dtype is plugrad.float32 and set(d.tolist()) <= {0.0, 1.0}
    _mean_ok(d[:n], 0.2, 0.2 * 0.8)
    _mean_ok(d[n:], 0.9, 0.9 * 0.1)
    _mean_ok(plugrad.bernoulli(plugrad.zeros(n), 0.3, generator=g), 0.3, 0.3 * 0.7)
    assert plugrad.bernoulli(plugrad.tensor([0.0, 1.0])).tolist() == [0.0, 1.0]
    with pytest.raises(RuntimeError, match="Expected p_in >= 0 && p_in <= 1 to be true"):
        plugrad.bernoulli(plugrad.tensor([0.5, 2.0]))
    with pytest.raises(RuntimeError, match="Expected p_in >= 0 && p_in <= 1 to be true"):
        plugrad.bernoulli(plugrad.tensor([0.5, math.nan]))
    with pytest.raises(NotImplementedError, match="\"bernoulli_tensor_cpu_p_\" not implemented for 'Long'"):
        plugrad.bernoulli(plugrad.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="bernoulli_ expects p to be in \\[0, 1\\], but got p=1.5"):
        plugrad.bernoulli(plugrad.zeros(2), 1.5)


def test_normal_overloads_moments() -> None:
    g = plugrad.Generator().manual_seed(3)
    n = 20000
    a = plugrad.normal(plugrad.full((n,), 2.0), plugrad.full((n,), 3.0), generator=g)
    _mean_ok(a, 2.0, 9.0)
    _var_ok(a, 9.0, 3 * 81.0)  # the fourth central moment of a normal is 3 sigma**4
    b = plugrad.normal(plugrad.full((n,), -1.0), 0.5, generator=g)
    _mean_ok(b, -1.0, 0.25)
    _var_ok(b, 0.25, 3 * 0.0625)
    c = plugrad.normal(4.0, plugrad.full((n,), 2.0), generator=g)
    _mean_ok(c, 4.0, 4.0)
    d = plugrad.normal(1.0, 2.0, (n,), generator=g, dtype=plugrad.float64)
    assert d.dtype is plugrad.float64 and d.shape == (n,)
    _mean_ok(d, 1.0, 4.0)
    assert plugrad.normal(plugrad.zeros(2, 1), plugrad.ones(3)).shape == (2, 3)
    assert plugrad.normal(plugrad.zeros(2), plugrad.ones(2, dtype=plugrad.float64)).dtype is plugrad.float32
    assert plugrad.normal(plugrad.full((3,), 5.0), 0.0).tolist() == [5.0, 5.0, 5.0]
    assert plugrad.normal(0.0, 1.0, (2,), requires_grad=True).requires_grad


def test_normal_errors() -> None:
    with pytest.raises(RuntimeError, match="The size of tensor a \\(4\\) must match the size of tensor b \\(2\\)"):
        plugrad.normal(plugrad.zeros(4), plugrad.ones(2, 2))
    with pytest.raises(RuntimeError, match="normal expects std >= 0.0, but found std -1"):
        plugrad.normal(plugrad.zeros(2), -1.0)
    with pytest.raises(RuntimeError, match="normal expects std >= 0.0, but found std nan"):
        plugrad.normal(plugrad.zeros(2), math.nan)
    with pytest.raises(RuntimeError, match="normal expects all elements of std >= 0.0"):
        plugrad.normal(0.0, plugrad.tensor([-1.0, 1.0]))
    with pytest.raises(
        TypeError, match="normal\\(\\) received an invalid combination of arguments - got \\(int, int\\)"
    ):
        plugrad.normal(0, 1)
    with pytest.raises(NotImplementedError, match="\"normal_kernel_cpu\" not implemented for 'Long'"):
        plugrad.normal(plugrad.tensor([1, 2]), 1.0)


@pytest.mark.parametrize("lam", [0.5, 4.0, 30.0, 1000.0])
def test_poisson_moments(lam: float) -> None:
    g = plugrad.Generator().manual_seed(4)
    n = 20000
    d = plugrad.poisson(plugrad.full((n,), lam), generator=g)
    assert d.dtype is plugrad.float32
    assert plugrad.equal(d, d.floor()) and bool((d >= 0).all())
    _mean_ok(d, lam, lam)
    _var_ok(d, lam, lam * (1 + 3 * lam))  # Poisson: mu4 = lam (1 + 3 lam)


def test_poisson_edges_and_errors() -> None:
    out = plugrad.poisson(plugrad.tensor([0.0, math.inf], dtype=plugrad.float64))
    assert out.tolist() == [0.0, math.inf] and out.dtype is plugrad.float64
    with pytest.raises(RuntimeError, match="invalid Poisson rate, expected rate to be non-negative"):
        plugrad.poisson(plugrad.tensor([1.0, -1.0]))
    with pytest.raises(RuntimeError, match="invalid Poisson rate"):
        plugrad.poisson(plugrad.tensor([math.nan]))
    with pytest.raises(NotImplementedError, match="\"poisson_cpu\" not implemented for 'Long'"):
        plugrad.poisson(plugrad.tensor([1, 2]))


def test_exponential_() -> None:
    g = plugrad.Generator().manual_seed(5)
    n = 20000
    d = plugrad.empty(n, dtype=plugrad.float64).exponential_(4.0, generator=g)
    assert bool((d >= 0).all())
    _mean_ok(d, 0.25, 1 / 16)
    with pytest.raises(RuntimeError, match="exponential_ expects lambda > 0.0, but found lambda=-1"):
        plugrad.zeros(3).exponential_(-1)
    with pytest.raises(RuntimeError, match="dtype must be a floating point but you specified Long"):
        plugrad.zeros(3, dtype=plugrad.int64).exponential_()


# ------------------------------------------------------------------ graph nodes
@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda a, s: plugrad.bernoulli(a), "BernoulliBackward0"),
        (lambda a, s: plugrad.normal(a, 1.0), "NormalBackward1"),
        (lambda a, s: plugrad.normal(0.0, s), "NormalBackward2"),
        (lambda a, s: plugrad.normal(a, s), "NormalBackward3"),
        (lambda a, s: plugrad.poisson(a), "PoissonBackward0"),
        (lambda a, s: a.clone().exponential_(), "ExponentialBackward0"),
    ],
)
def test_sampling_nodes_have_zero_gradients(make: Any, name: str) -> None:
    a = plugrad.tensor([0.2, 0.5], requires_grad=True)
    s = plugrad.tensor([1.0, 2.0], requires_grad=True)
    out = make(a, s)
    assert type(out.grad_fn).__name__ == name
    assert repr(out.grad_fn).startswith(f"<{name} object at 0x")
    out.sum().backward()
    for t in (a, s):
        assert t.grad is None or t.grad.tolist() == [0.0, 0.0]
