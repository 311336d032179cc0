"""Random draws for samplers and loaders, through plugrad's generators.

Samplers take a ``generator=`` object as PyTorch's do and hand it, untouched, to
``plugrad.randperm``/``randint``/``multinomial``: whatever generator type plugrad's
random functions accept works here (duck typing; no isinstance checks). ``None`` means
the default generator, seeded by ``plugrad.manual_seed``.

Where PyTorch makes a private generator from a seed (``DistributedSampler`` seeds one with
``seed + epoch``; ``RandomSampler`` seeds one from the default generator),
:func:`seeded_generator` builds a ``plugrad.Generator`` when plugrad has that class, and
otherwise a small private generator on Python's ``random.Random`` (same seed, same
permutation, in every process), so that these samplers never touch the default
generator's state.
"""

from __future__ import annotations

import bisect
import math
import random
from typing import Any

import plugrad

__all__ = ["draw_seed", "multinomial", "randint", "randperm", "seeded_generator"]


class _PyGenerator:
    """A seeded stream on ``random.Random``: the stand-in while ``plugrad.Generator`` is absent."""

    __slots__ = ("_initial", "rng")

    def __init__(self, seed: int) -> None:
        self._initial = seed
        self.rng = random.Random(seed)

    def initial_seed(self) -> int:
        return self._initial

    def manual_seed(self, seed: int) -> _PyGenerator:
        self._initial = seed
        self.rng.seed(seed)
        return self


def seeded_generator(seed: int) -> Any:
    """A fresh generator seeded with ``seed``: ``plugrad.Generator`` if plugrad has it."""
    cls = getattr(plugrad, "Generator", None)
    if cls is None:
        return _PyGenerator(seed)
    gen = cls()
    gen.manual_seed(seed)
    return gen


def has_generator_class() -> bool:
    return getattr(plugrad, "Generator", None) is not None


def _kw(generator: Any) -> dict[str, Any]:
    return {} if generator is None else {"generator": generator}


def draw_seed(generator: Any = None) -> int:
    """A non-negative 63-bit integer from ``generator`` (the default generator if ``None``).

    PyTorch draws its loaders' ``base_seed`` this way (``empty((), int64).random_()``).
    """
    if isinstance(generator, _PyGenerator):
        return generator.rng.getrandbits(63)
    t = plugrad.empty((), dtype=plugrad.int64)
    t.random_(**_kw(generator))
    return int(t.item())


def randperm(n: int, generator: Any = None) -> list[int]:
    """A random permutation of ``range(n)`` as a list."""
    if isinstance(generator, _PyGenerator):
        out = list(range(n))
        generator.rng.shuffle(out)
        return out
    perm: list[int] = plugrad.randperm(n, **_kw(generator)).tolist()
    return perm


def randint(high: int, size: int, generator: Any = None) -> list[int]:
    """``size`` integers drawn uniformly from ``[0, high)``."""
    if isinstance(generator, _PyGenerator):
        return [generator.rng.randrange(high) for _ in range(size)]
    if size == 0:
        return []
    out: list[int] = plugrad.randint(high, (size,), dtype=plugrad.int64, **_kw(generator)).tolist()
    return out


def _uniform(size: int, generator: Any) -> list[float]:
    if isinstance(generator, _PyGenerator):
        return [generator.rng.random() for _ in range(size)]
    out: list[float] = plugrad.rand(size, dtype=plugrad.float64, **_kw(generator)).tolist()
    return out


def check_weights(weights: list[float], num_samples: int, replacement: bool) -> None:
    """PyTorch's ``multinomial`` checks, with its messages."""
    for w in weights:
        if math.isinf(w) or math.isnan(w):
            raise RuntimeError("invalid multinomial distribution (encountering probability entry = infinity or NaN)")
        if w < 0:
            raise RuntimeError("invalid multinomial distribution (encountering probability entry < 0)")
    if not weights:
        raise RuntimeError("cannot sample from an empty distribution: weights has no entries")
    if sum(weights) <= 0:
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement:
        if num_samples > len(weights):
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        if num_samples > sum(1 for w in weights if w > 0):
            raise RuntimeError(
                "invalid multinomial distribution (with replacement=False, not enough non-negative category to sample)"
            )


def multinomial(weights: plugrad.Tensor, num_samples: int, replacement: bool, generator: Any = None) -> list[int]:
    """Indices drawn with probability proportional to ``weights`` (a 1-d float64 tensor).

    ``plugrad.multinomial`` when plugrad has it. Otherwise: with replacement, inverse
    transform sampling (a uniform ``u`` times the total weight, located in the running
    sums by bisection); without replacement, each index gets the key ``-log(u) / w``
    (an exponential waiting time of rate ``w``) and the ``num_samples`` smallest keys win,
    which draws the same distribution as repeated weighted draws that remove each winner.
    """
    fn = getattr(plugrad, "multinomial", None)
    if fn is not None and not isinstance(generator, _PyGenerator):
        out: list[int] = fn(weights, num_samples, replacement, **_kw(generator)).tolist()
        return out
    w: list[float] = weights.tolist()
    check_weights(w, num_samples, replacement)
    if replacement:
        cum: list[float] = []
        total = 0.0
        for x in w:
            total += x
            cum.append(total)
        last = max(i for i, x in enumerate(w) if x > 0)  # rounding must never pick a zero-weight tail
        return [min(bisect.bisect_right(cum, u * total), last) for u in _uniform(num_samples, generator)]
    u = _uniform(len(w), generator)
    keys = [(-math.log(ui) / wi if wi > 0 and ui > 0 else math.inf) for ui, wi in zip(u, w)]
    return sorted(range(len(w)), key=keys.__getitem__)[:num_samples]
