"""``polygamma(n, x)``, the n-th derivative of the digamma function, from required kernels.

For ``n >= 1``::

    ψ⁽ⁿ⁾(x) = (-1)^(n+1) n! ζ(n+1, x),    ζ(s, x) = Σ_{k>=0} (x + k)^(-s)  (Hurwitz zeta)

``ζ(s, x)`` is summed directly for the first ``M`` terms, which moves the argument to
``z = x + M >= 12``, and the tail ``ζ(s, z)`` comes from its Euler-Maclaurin expansion::

    ζ(s, z) ≈ z^(1-s)/(s-1) + z^(-s)/2 + Σ_{j=1..8} B_2j/(2j)! · s(s+1)···(s+2j-2) · z^(-s-2j+1)

with the Bernoulli numbers ``B_2j``; at ``z >= 12`` the first omitted term is below
1e-16 of the sum for the orders used in practice. Negative non-integer ``x`` takes the
same path (the recurrence crosses zero between poles); ``x`` at a pole gives ``inf``
or ``nan`` as the series does. ``n = 0`` is the digamma function itself.
Computation runs in float64 and is cast back to the input's dtype.
"""

from __future__ import annotations

import math
from typing import Any

from .. import _dtype as D

# B_2, B_4, ..., B_16
_BERNOULLI = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510]
_Z_MIN = 12.0
_MAX_SHIFT = 100_000


def _rising(s: int, m: int) -> float:
    out = 1.0
    for i in range(m):
        out *= s + i
    return out


def polygamma(be: Any, x: Any, n: int) -> Any:
    """``ψ⁽ⁿ⁾(x)`` elementwise on a backend array ``x`` (floating)."""
    if n == 0:
        from . import _special

        return _special.digamma(be, x)
    f64 = be.dtype_to_native[D.float64]
    native = x.dtype
    w = be.astype(x, f64) if native != f64 else x
    s = n + 1
    shape = tuple(w.shape)
    if math.prod(shape) == 0:
        return be.zeros(shape, native)
    low = float(be.tolist(be.min(w, None, False)))
    shift = math.ceil(_Z_MIN - low) if low < _Z_MIN else 0
    if shift > _MAX_SHIFT or math.isnan(low):
        if math.isnan(low):
            shift = int(_Z_MIN)
        else:
            raise NotImplementedError(
                f"polygamma({n}, x) is computed for x > {-_MAX_SHIFT + _Z_MIN:g}; got an element {low:g}"
            )
    total = be.zeros(shape, f64)
    for k in range(shift):
        total = be.add(total, be.pow(be.add(w, float(k)), float(-s)))
    z = be.add(w, float(shift))
    tail = be.add(
        be.divide(be.pow(z, float(1 - s)), float(s - 1)),
        be.multiply(be.pow(z, float(-s)), 0.5),
    )
    for j, b2j in enumerate(_BERNOULLI, start=1):
        coef = b2j / math.factorial(2 * j) * _rising(s, 2 * j - 1)
        tail = be.add(tail, be.multiply(be.pow(z, float(-s - 2 * j + 1)), coef))
    zeta = be.add(total, tail)
    out = be.multiply(zeta, float((-1) ** (n + 1) * math.factorial(n)))
    return be.astype(out, native) if native != f64 else out
