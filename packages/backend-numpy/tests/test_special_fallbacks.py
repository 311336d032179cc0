"""Core's special-function fallbacks (``plugrad._ops._special``) on the NumPy backend.

The fallbacks are built from required kernels only; here they run on NumPy arrays and are
compared with hand values (always) and with SciPy over dense grids (skipped without SciPy).
SciPy itself is off by a few 1e-13 relative next to the zeros of lgamma (at 1 and 2) and on
the negative axis, where the fallback is the more accurate one (checked with mpmath while
writing these); the grids there are compared with an absolute tolerance as well.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from plugrad._ops import _special
from plugrad.plugins import get_backend

EULER = 0.5772156649015329


@pytest.fixture(scope="module")
def be() -> Any:
    return get_backend("numpy")


def fallback(be: Any, name: str, *xs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _special.FALLBACKS[name](be, *(np.asarray(x, dtype=np.float64) for x in xs))


@pytest.mark.parametrize(
    "name,x,expected",
    [
        ("erf", 1.0, 0.8427007929497149),
        ("erf", -0.5, -0.5204998778130465),
        ("erf", 0.0, 0.0),
        ("erf", math.inf, 1.0),
        ("erfc", 1.0, 0.15729920705028513),
        ("erfc", 5.0, 1.5374597944280349e-12),
        ("erfc", -math.inf, 2.0),
        ("erfinv", 0.8427007929497149, 1.0),
        ("erfinv", 0.5, 0.4769362762044699),
        ("erfinv", 1.0, math.inf),
        ("erfinv", -1.0, -math.inf),
        ("lgamma", 0.5, math.log(math.sqrt(math.pi))),
        ("lgamma", 1.0, 0.0),
        ("lgamma", 2.0, 0.0),
        ("lgamma", 3.0, math.log(2.0)),
        ("lgamma", 11.0, math.log(3628800.0)),
        ("lgamma", -0.5, math.log(2 * math.sqrt(math.pi))),
        ("lgamma", 0.0, math.inf),
        ("lgamma", -3.0, math.inf),
        ("digamma", 1.0, -EULER),
        ("digamma", 0.5, -EULER - 2 * math.log(2.0)),
        ("digamma", 2.0, 1.0 - EULER),
        ("digamma", 0.25, -EULER - math.pi / 2 - 3 * math.log(2.0)),
        ("digamma", -0.5, -EULER - 2 * math.log(2.0) + 2.0),
        ("digamma", 0.0, -math.inf),
        ("digamma", -0.0, math.inf),
    ],
)
def test_hand_values(be: Any, name: str, x: float, expected: float) -> None:
    got = float(fallback(be, name, x))
    if math.isinf(expected) or expected == 0.0:
        assert got == expected
    else:
        assert math.isclose(got, expected, rel_tol=5e-15), (got, expected)


def test_nan_and_poles(be: Any) -> None:
    nan = math.nan
    for name in ("erf", "erfc", "erfinv", "lgamma", "digamma"):
        assert math.isnan(float(fallback(be, name, nan))), name
    assert math.isnan(float(fallback(be, "erfinv", 1.5)))
    assert math.isnan(float(fallback(be, "digamma", -2.0)))  # PyTorch: nan at the negative integers
    assert float(fallback(be, "xlogy", 0.0, 0.0)) == 0.0 and float(fallback(be, "xlogy", 0.0, -1.0)) == 0.0
    assert math.isnan(float(fallback(be, "xlogy", 0.0, nan)))
    assert float(fallback(be, "hypot", math.inf, nan)) == math.inf
    assert float(fallback(be, "logaddexp", -math.inf, -math.inf)) == -math.inf
    assert float(fallback(be, "logaddexp2", math.inf, math.inf)) == math.inf
    assert math.copysign(1.0, float(fallback(be, "copysign", 2.0, -0.0))) == -1.0


def test_float32_is_computed_in_float64_and_rounded(be: Any) -> None:
    x = np.asarray([0.3, 1.7, 4.5], dtype=np.float32)
    y = _special.FALLBACKS["lgamma"](be, x)
    assert y.dtype == np.float32
    assert np.array_equal(y, np.asarray([math.lgamma(float(v)) for v in x], dtype=np.float64).astype(np.float32))


def test_dispatch_uses_the_kernel_when_present(be: Any) -> None:
    x = np.asarray([0.5, 1.5])
    for name in ("hypot", "logaddexp", "copysign"):  # NumPy always has these
        assert be.has_kernel(name)
        assert np.array_equal(getattr(_special, name)(be, x, x), getattr(be, name)(x, x))


# ---------------------------------------------------------------------------- against SciPy
@pytest.fixture(scope="module")
def sc() -> Any:
    return pytest.importorskip(
        "scipy.special", reason="SciPy is not installed: pip install 'plugrad-backend-numpy[scipy]'"
    )


_RNG = np.random.default_rng(20261205)
_GRIDS = {
    "erf": (np.concatenate([_RNG.uniform(-6, 6, 4000), np.logspace(-300, 1, 200)]), 2e-15, 0.0),
    # SciPy's erfc is off by up to 6e-14 relative in the tail (the fallback by 6e-15, against mpmath)
    "erfc": (np.concatenate([_RNG.uniform(-6, 26, 4000), np.linspace(0, 26, 500)]), 1e-13, 0.0),
    "erfinv": (np.concatenate([_RNG.uniform(-1, 1, 4000), 1 - np.logspace(-16, -1, 200)]), 5e-15, 0.0),
    "lgamma": (np.concatenate([_RNG.uniform(0, 40, 4000), np.logspace(-300, 300, 300)]), 1e-14, 1e-15),
    "digamma": (np.concatenate([_RNG.uniform(0, 40, 4000), np.logspace(-300, 300, 300)]), 1e-14, 1e-15),
    "lgamma-negative": (_RNG.uniform(-30, 0, 2000), 1e-12, 1e-13),
    "digamma-negative": (_RNG.uniform(-30, 0, 2000), 1e-12, 1e-13),
}
_SCIPY = {"erf": "erf", "erfc": "erfc", "erfinv": "erfinv", "lgamma": "gammaln", "digamma": "psi"}


@pytest.mark.parametrize("case", sorted(_GRIDS))
def test_unary_against_scipy(be: Any, sc: Any, case: str) -> None:
    name = case.split("-")[0]
    x, rtol, atol = _GRIDS[case]
    want = getattr(sc, _SCIPY[name])(x)
    got = fallback(be, name, x)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize(
    "name,ref", [("hypot", "hypot"), ("logaddexp", "logaddexp"), ("logaddexp2", "logaddexp2"), ("copysign", "copysign")]
)
def test_binary_against_numpy(be: Any, name: str, ref: str) -> None:
    a = np.concatenate([_RNG.normal(0, 30, 3000), [0.0, -0.0, np.inf, -np.inf, 1e300, 1e-300]])
    b = _RNG.permutation(a)
    want = getattr(np, ref)(a, b)
    # logaddexp2 rounds as NumPy's does only to a few ulp where the two terms nearly cancel
    np.testing.assert_allclose(fallback(be, name, a, b), want, rtol=1e-14, atol=1e-15)


def test_xlogy_against_scipy(be: Any, sc: Any) -> None:
    a = np.concatenate([_RNG.normal(0, 3, 2000), [0.0, 0.0, 0.0, -0.0, 2.0]])
    b = np.concatenate([_RNG.uniform(-1, 5, 2000), [0.0, -1.0, np.nan, 0.0, np.inf]])
    np.testing.assert_allclose(fallback(be, "xlogy", a, b), sc.xlogy(a, b), rtol=1e-15)
