"""The special functions of backend contract 1.2, with fallbacks built from required kernels.

One function per optional kernel (``erf(be, x)``, ``lgamma(be, x)``, ...): it calls the
backend's kernel when the backend has it (``be.has_kernel(name)``) and otherwise computes
the function from required kernels only (arithmetic, ``exp``, ``log``, ``log1p``,
``where``, ...), so every backend gets every function. Arguments and results are backend
arrays of one floating dtype (binary functions: same dtype, broadcasting); float16 and
float32 inputs are computed in float64 where the backend has it and rounded back.

Accuracy of the fallbacks, float64, against SciPy (tests in packages/backend-numpy):
about 1e-15 relative for erf, erfc, lgamma and digamma on ordinary ranges (lgamma and
digamma lose relative accuracy only next to their poles and their negative-axis zeros,
as every method does), erfinv to a few ulp, and the exact identities to 1-2 ulp.

The methods (written for plugrad; the sources name the method, not code):

- erf/erfc: for ``|x| < 1.5`` the everywhere-positive series
  ``erf(x) = 2/sqrt(pi) * exp(-x**2) * sum_n 2**n x**(2n+1) / (1*3*...*(2n+1))``
  (Abramowitz & Stegun 7.1.6), 26 terms; for ``|x| >= 1.5`` Laplace's continued fraction
  ``erfc(x) = exp(-x**2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))`` (A&S 7.1.14)
  evaluated bottom-up from depth 96, with ``exp(-x**2)`` split as ``exp(-h**2) * exp(-(x-h)(x+h))``
  (``h`` = x rounded to 1/16) so that large ``x`` keeps full relative accuracy.
- lgamma: around 1 and 2 the Taylor series ``lgamma(1+z) = (1-gamma) z - log1p(z)
  + sum_k (-1)**k (zeta(k)-1) z**k / k`` (A&S 6.1.33 with the log1p part split off), with
  ``lgamma(2+z) = lgamma(1+z) + log1p(z)`` and ``lgamma(x) = lgamma(1+x) - log(x)`` below 0.5;
  from 2.5 up, Stirling's series (A&S 6.1.41, 8 terms) after shifting the argument to at
  least 7; negative x by the reflection formula with an exactly reduced ``sin(pi x)``.
- digamma: the asymptotic series (A&S 6.3.18, 8 terms) after shifting to at least 10 with
  ``psi(x) = psi(x+1) - 1/x``; near the positive root ``x0 = 1.46163...`` the Taylor series
  ``psi(x) = sum_n (-1)**(n+1) zeta(n+1, x0) (x-x0)**n``; negative x by reflection
  ``psi(x) = psi(1-x) - pi / tan(pi x)``. The zeta values are computed once, at import,
  in Python (Euler-Maclaurin summation of the Hurwitz zeta function).
- erfinv: Winitzki's closed-form approximation (2008, about 2e-3 relative) refined by
  three Halley steps on ``erf(x) - y`` (on ``(1-y) - erfc(x)`` for ``|y| > 1/2``, which keeps
  the tail accurate).
- hypot, logaddexp, logaddexp2, copysign, xlogy: exact identities (scaling by the larger
  magnitude; ``max + log1p(exp(-|x1-x2|))``; ``-0.0`` found through ``1/x2``; SciPy's
  ``xlogy(0, y) = 0`` unless ``y`` is nan).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, getcontext
from fractions import Fraction
from typing import Any

from .. import _dtype as D

__all__ = [
    "FALLBACKS",
    "erf",
    "erfc",
    "erfinv",
    "lgamma",
    "digamma",
    "hypot",
    "logaddexp",
    "logaddexp2",
    "copysign",
    "xlogy",
]

Backend = Any
Array = Any

# ---------------------------------------------------------------------------- constants (computed once, in Python)
_BERNOULLI = [  # B_2, B_4, ..., B_20
    Fraction(1, 6),
    Fraction(-1, 30),
    Fraction(1, 42),
    Fraction(-1, 30),
    Fraction(5, 66),
    Fraction(-691, 2730),
    Fraction(7, 6),
    Fraction(-3617, 510),
    Fraction(43867, 798),
    Fraction(-174611, 330),
]
_EULER_GAMMA = 0.5772156649015329
_SQRT_PI = math.sqrt(math.pi)
_LN2 = math.log(2.0)


def _hurwitz_zeta(s: int, a: float, n: int = 16) -> float:
    """``zeta(s, a) = sum_{k>=0} (k+a)**-s`` for integer ``s >= 2``, by Euler-Maclaurin summation."""
    terms = [(k + a) ** -s for k in range(n)]
    N = n + a
    terms.append(N ** (1 - s) / (s - 1))
    terms.append(N**-s / 2)
    rising = float(s)  # s (s+1) ... (s+2j-2)
    fact = 2.0  # (2j)!
    for j, b in enumerate(_BERNOULLI, start=1):
        terms.append(float(b) / fact * rising * N ** (-s - 2 * j + 1))
        rising *= (s + 2 * j - 1) * (s + 2 * j)
        fact *= (2 * j + 1) * (2 * j + 2)
    return math.fsum(terms)


# lgamma(1+z) - ((1-gamma) z - log1p(z)) = sum_{k>=2} (-1)**k (zeta(k)-1) z**k / k, |z| <= 1/2
_LGAMMA_SERIES = [(-1) ** k * _hurwitz_zeta(k, 2.0) / k for k in range(2, 30)]

# Stirling: lgamma(y) = (y-1/2) log y - y + log(2 pi)/2 + sum_k B_2k / (2k (2k-1) y**(2k-1))
_STIRLING = [float(b) / (2 * k * (2 * k - 1)) for k, b in enumerate(_BERNOULLI[:8], start=1)]
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

# digamma: psi(y) = log y - 1/(2y) - sum_k B_2k / (2k y**(2k))
_DIGAMMA_ASYMPTOTIC = [float(b) / (2 * k) for k, b in enumerate(_BERNOULLI[:8], start=1)]

# the positive root of digamma, its double and the value of psi there (psi'(x0) * (x0 - x0_double))
getcontext().prec = 50
_ROOT_DECIMAL = Decimal("1.4616321449683623412626595423257213284681962040064")
_ROOT = float(_ROOT_DECIMAL)
_ROOT_VALUE = -_hurwitz_zeta(2, _ROOT) * float(_ROOT_DECIMAL - Decimal(_ROOT))
_ROOT_SERIES = [(-1) ** (n + 1) * _hurwitz_zeta(n + 1, _ROOT) for n in range(1, 40)]
_ROOT_RADIUS = 0.5


# ---------------------------------------------------------------------------- helpers
def _widen(be: Backend, *xs: Array) -> tuple[list[Array], Callable[[Array], Array]]:
    """The arrays in float64 where they are narrower floats and the backend has float64; a way back."""
    dt = be.native_to_dtype.get(xs[0].dtype)
    f64 = be.dtype_to_native.get(D.float64)
    if f64 is None or dt is D.float64 or dt is None:
        return list(xs), lambda r: r
    native = xs[0].dtype
    return [be.astype(x, f64) for x in xs], lambda r: be.astype(r, native)


def _horner(be: Backend, z: Array, coeffs: list[float]) -> Array:
    """``sum_i coeffs[i] * z**i`` (coefficients lowest degree first)."""
    r = be.add(be.multiply(z, coeffs[-1]), coeffs[-2])
    for c in reversed(coeffs[:-2]):
        r = be.add(be.multiply(r, z), c)
    return r


#: kernel name -> its fallback on backend arrays (narrow floats widened to float64 and back), for tests
#: that check the fallback on backends that have the kernel
FALLBACKS: dict[str, Callable[..., Array]] = {}


def _kernel_or(name: str, fallback: Callable[..., Array]) -> Callable[..., Array]:
    def widened(be: Backend, *xs: Array) -> Array:
        ys, back = _widen(be, *xs)
        return back(fallback(be, *ys))

    def dispatch(be: Backend, *xs: Array) -> Array:
        if be.has_kernel(name):
            return getattr(be, name)(*xs)
        return widened(be, *xs)

    FALLBACKS[name] = widened
    dispatch.__name__ = dispatch.__qualname__ = name
    dispatch.__doc__ = (
        f"``{name}`` of backend arrays: the backend's ``{name}`` kernel, else the fallback "
        f"``{fallback.__name__}`` built from required kernels (see the module docstring)."
    )
    return dispatch


# ---------------------------------------------------------------------------- erf, erfc
_SERIES_TERMS = 26
_CF_DEPTH = 96
_SPLIT = 1.5


def _erf_erfc_nonneg(be: Backend, a: Array) -> tuple[Array, Array]:
    """``(erf(a), erfc(a))`` for ``a >= 0`` (or nan), each to full relative accuracy."""
    # series on the small arguments: exp(-s**2) * sum_n t_n, t_n = t_{n-1} * 2 s**2 / (2n+1)
    s = be.minimum(a, _SPLIT)
    s2 = be.multiply(s, s)
    two_s2 = be.multiply(s2, 2.0)
    t = s
    total = s
    for n in range(1, _SERIES_TERMS):
        t = be.multiply(t, be.divide(two_s2, float(2 * n + 1)))
        total = be.add(total, t)
    erf_small = be.multiply(be.multiply(be.exp(be.negative(s2)), total), 2.0 / _SQRT_PI)
    # continued fraction on the large ones
    c = be.maximum(a, _SPLIT)
    d = c
    for k in range(_CF_DEPTH, 0, -1):
        d = be.add(c, be.divide(0.5 * k, d))
    h = be.divide(be.floor(be.multiply(c, 16.0)), 16.0)
    gauss = be.multiply(
        be.exp(be.negative(be.multiply(h, h))),
        be.exp(be.negative(be.multiply(be.subtract(c, h), be.add(c, h)))),
    )
    gauss = be.where(be.isinf(c), 0.0, gauss)
    erfc_large = be.divide(gauss, be.multiply(d, _SQRT_PI))
    small = be.less(a, _SPLIT)
    erf_ = be.where(small, erf_small, be.subtract(1.0, erfc_large))
    erfc_ = be.where(small, be.subtract(1.0, erf_small), erfc_large)
    return erf_, erfc_


def _erf_fallback(be: Backend, x: Array) -> Array:
    r, _ = _erf_erfc_nonneg(be, be.abs(x))
    r = be.where(be.less(x, 0.0), be.negative(r), r)
    return be.where(be.equal(x, 0.0), x, r)  # keeps the sign of zero


def _erfc_fallback(be: Backend, x: Array) -> Array:
    _, r = _erf_erfc_nonneg(be, be.abs(x))
    return be.where(be.less(x, 0.0), be.subtract(2.0, r), r)


erf = _kernel_or("erf", _erf_fallback)
erfc = _kernel_or("erfc", _erfc_fallback)


# ---------------------------------------------------------------------------- erfinv
_WINITZKI_A = 0.147


def _erfinv_fallback(be: Backend, y: Array) -> Array:
    a = be.abs(y)
    inside = be.less(a, 1.0)
    ac = be.where(inside, a, 0.5)  # keeps log() finite where the answer is decided below
    # Winitzki: x ~ sqrt(sqrt(t**2 - l/A) - t), l = log(1 - a**2), t = 2/(pi A) + l/2
    lg = be.log(be.multiply(be.subtract(1.0, ac), be.add(1.0, ac)))
    t = be.add(be.multiply(lg, 0.5), 2.0 / (math.pi * _WINITZKI_A))
    x = be.sqrt(be.subtract(be.sqrt(be.subtract(be.multiply(t, t), be.divide(lg, _WINITZKI_A))), t))
    tiny = be.less(ac, 1e-6)
    x = be.where(tiny, be.multiply(ac, _SQRT_PI / 2), x)
    tail = be.greater(ac, 0.5)
    one_minus = be.subtract(1.0, ac)  # exact for a > 1/2
    for _ in range(3):  # Halley on g(x) = erf(x) - a: x -= g / (g' + x g), g' = 2/sqrt(pi) exp(-x**2)
        if be.has_kernel("erf") and be.has_kernel("erfc"):
            e, ec = be.erf(x), be.erfc(x)
        else:
            e, ec = _erf_erfc_nonneg(be, x)
        g = be.where(tail, be.subtract(one_minus, ec), be.subtract(e, ac))
        slope = be.multiply(be.exp(be.negative(be.multiply(x, x))), 2.0 / _SQRT_PI)
        step = be.divide(g, be.add(slope, be.multiply(x, g)))
        x = be.subtract(x, be.where(be.equal(g, 0.0), 0.0, step))
    x = be.where(inside, x, be.where(be.equal(a, 1.0), math.inf, be.multiply(a, math.nan)))
    x = be.where(be.less(y, 0.0), be.negative(x), x)
    return be.where(be.equal(y, 0.0), y, x)


erfinv = _kernel_or("erfinv", _erfinv_fallback)


# ---------------------------------------------------------------------------- lgamma
def _lgamma_nonneg(be: Backend, w: Array) -> Array:
    """``lgamma(w)`` for ``w >= 0`` (and +inf, nan)."""
    below_half = be.less(w, 0.5)
    below_1_5 = be.less(w, 1.5)
    below_2_5 = be.less(w, 2.5)
    z = be.where(below_half, w, be.where(below_1_5, be.subtract(w, 1.0), be.subtract(w, 2.0)))
    z = be.where(below_2_5, z, 0.0)
    series = be.multiply(be.multiply(z, z), _horner(be, z, _LGAMMA_SERIES))
    lp = be.log1p(z)
    near = be.add(be.subtract(be.multiply(z, 1.0 - _EULER_GAMMA), lp), series)  # lgamma(1+z)
    wc = be.where(below_half, w, 1.0)
    near = be.where(below_half, be.subtract(near, be.log(wc)), be.where(below_1_5, near, be.add(near, lp)))
    # Stirling's series at y >= 7: shift y = w + 5 for w < 7, lgamma(w) = lgamma(y) - log(w (w+1) ... (w+4))
    ws = be.maximum(w, 2.5)
    shift = be.less(ws, 7.0)
    p = ws
    for i in range(1, 5):
        p = be.multiply(p, be.add(ws, float(i)))
    y = be.where(shift, be.add(ws, 5.0), ws)
    inv = be.divide(1.0, y)
    tail = be.multiply(inv, _horner(be, be.multiply(inv, inv), _STIRLING))
    far = be.add(be.subtract(be.multiply(be.subtract(y, 0.5), be.log(y)), y), be.add(tail, _HALF_LOG_2PI))
    far = be.where(shift, be.subtract(far, be.log(be.where(shift, p, 1.0))), far)
    far = be.where(be.isinf(ws), ws, far)
    return be.where(below_2_5, near, far)


def _lgamma_fallback(be: Backend, x: Array) -> Array:
    negative = be.less(x, 0.0)
    w = be.where(negative, be.subtract(1.0, x), x)
    r = _lgamma_nonneg(be, w)
    # reflection: lgamma(x) = log(pi / |sin(pi x)|) - lgamma(1 - x), sin(pi x) on an exactly reduced argument
    s = be.remainder(be.where(negative, x, 0.5), 2.0)  # [0, 2)
    s = be.where(be.greater(s, 1.0), be.subtract(s, 2.0), s)  # (-1, 1]
    s = be.where(be.greater(be.abs(s), 0.5), be.subtract(be.sign(s), s), s)  # |s| <= 1/2, same |sin|
    sin = be.abs(be.sin(be.multiply(s, math.pi)))
    reflected = be.subtract(be.log(be.divide(math.pi, sin)), r)
    r = be.where(negative, reflected, r)
    return be.where(be.isinf(x), be.abs(x), r)


lgamma = _kernel_or("lgamma", _lgamma_fallback)


# ---------------------------------------------------------------------------- digamma
def _digamma_nonneg(be: Backend, w: Array) -> Array:
    """``digamma(w)`` for ``w >= 0`` (and +inf, nan); ``-inf`` at ``+0``, ``+inf`` at ``-0``."""
    shift = be.less(w, 10.0)
    y = be.where(shift, be.add(w, 10.0), w)
    acc = be.divide(1.0, w)
    for i in range(1, 10):
        acc = be.add(acc, be.divide(1.0, be.add(w, float(i))))
    inv2 = be.divide(1.0, be.multiply(y, y))
    series = be.multiply(inv2, _horner(be, inv2, _DIGAMMA_ASYMPTOTIC))
    far = be.subtract(be.subtract(be.log(y), be.divide(0.5, y)), series)
    far = be.where(shift, be.subtract(far, acc), far)
    # Taylor series around the positive root
    d = be.subtract(w, _ROOT)
    near_root = be.less(be.abs(d), _ROOT_RADIUS)
    d = be.where(near_root, d, 0.0)
    root = be.add(be.multiply(d, _horner(be, d, _ROOT_SERIES)), _ROOT_VALUE)
    return be.where(near_root, root, far)


def _digamma_fallback(be: Backend, x: Array) -> Array:
    negative = be.less(x, 0.0)
    w = be.where(negative, be.subtract(1.0, x), x)
    r = _digamma_nonneg(be, w)
    # reflection: psi(x) = psi(1 - x) - pi / tan(pi x), tan(pi x) on an exactly reduced argument
    s = be.remainder(be.where(negative, x, 0.25), 1.0)  # [0, 1)
    s = be.where(be.greater(s, 0.5), be.subtract(s, 1.0), s)  # (-1/2, 1/2]
    cot = be.divide(math.pi, be.tan(be.multiply(s, math.pi)))
    cot = be.where(be.equal(s, 0.5), 0.0, cot)  # tan(pi/2) is finite in floating point; pi*cot(pi/2) is 0
    reflected = be.subtract(r, cot)
    reflected = be.where(be.equal(s, 0.0), math.nan, reflected)  # the negative integers (PyTorch: nan)
    return be.where(negative, reflected, r)


digamma = _kernel_or("digamma", _digamma_fallback)


# ---------------------------------------------------------------------------- exact identities
def _hypot_fallback(be: Backend, x1: Array, x2: Array) -> Array:
    a, b = be.abs(x1), be.abs(x2)
    big, small = be.maximum(a, b), be.minimum(a, b)
    safe = be.where(be.equal(big, 0.0), 1.0, big)
    ratio = be.divide(small, safe)
    r = be.multiply(big, be.sqrt(be.add(be.multiply(ratio, ratio), 1.0)))
    r = be.where(be.logical_or(be.isinf(a), be.isinf(b)), math.inf, r)  # inf wins over nan (IEEE hypot)
    return be.where(be.equal(big, 0.0), 0.0, r)


def _logaddexp_fallback(be: Backend, x1: Array, x2: Array, base2: bool = False) -> Array:
    big = be.maximum(x1, x2)
    gap = be.negative(be.abs(be.subtract(x1, x2)))
    if base2:
        r = be.add(big, be.divide(be.log1p(be.exp(be.multiply(gap, _LN2))), _LN2))
        same = be.add(x1, 1.0)
    else:
        r = be.add(big, be.log1p(be.exp(gap)))
        same = be.add(x1, _LN2)
    # equal infinities give inf - inf = nan in the gap: the answer is the infinity itself
    return be.where(be.logical_and(be.equal(x1, x2), be.isinf(x1)), same, r)


def _logaddexp2_fallback(be: Backend, x1: Array, x2: Array) -> Array:
    return _logaddexp_fallback(be, x1, x2, base2=True)


def _copysign_fallback(be: Backend, x1: Array, x2: Array) -> Array:
    # the sign bit of x2: negative numbers, and -0.0 (1 / -0.0 == -inf); a nan's sign bit is not visible here
    negative = be.logical_or(be.less(x2, 0.0), be.logical_and(be.equal(x2, 0.0), be.less(be.divide(1.0, x2), 0.0)))
    a = be.abs(x1)
    return be.where(negative, be.negative(a), a)


def _xlogy_fallback(be: Backend, x1: Array, x2: Array) -> Array:
    r = be.multiply(x1, be.log(x2))
    zero = be.logical_and(be.equal(x1, 0.0), be.logical_not(be.isnan(x2)))
    return be.where(zero, 0.0, r)


hypot = _kernel_or("hypot", _hypot_fallback)
logaddexp = _kernel_or("logaddexp", _logaddexp_fallback)
logaddexp2 = _kernel_or("logaddexp2", _logaddexp2_fallback)
copysign = _kernel_or("copysign", _copysign_fallback)
xlogy = _kernel_or("xlogy", _xlogy_fallback)
