# numba jits these functions: its decorators and intrinsics have no types for mypy to check
# mypy: disable-error-code="untyped-decorator,call-arg,var-annotated,no-any-return,import-untyped"
"""``exp``, ``log``, ``tanh`` and ``sigmoid`` of float32 values, as arithmetic a loop can vectorize.

Numba calls the C library for ``np.exp`` and friends, one element at a time: that call
keeps LLVM from vectorizing a fused loop, and a chain of 200 ``tanh`` on 16 elements then
costs about 10 ns per element and op. These functions are plain float64 arithmetic
(range reduction, a polynomial, the exponent set through the float's bits), with no call
and no branch, so LLVM inlines them and runs a loop over float32 arrays 8 or 16
elements at a time.

They compute in float64 for a float32 result, within about 3e-10 relative before the final
rounding to float32, so the float32 result is at most one ulp from the exact value (and
is the correctly rounded one except within 3e-10 of a rounding boundary) -- as close as
NumPy's own float32 functions, or closer. Infinities, NaN, zeros and
the saturating ranges give what NumPy gives. Fused loops use them for float32 values only
(float64 keeps the C library's functions).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = [
    "select",
    "exp_f64",
    "log_f64",
    "tanh_f64",
    "sigmoid_f64",
    "exp_rows",
    "log_rows",
    "tanh_rows",
    "sigmoid_rows",
    "pow_rows",
]

_OPTS: dict[str, Any] = {"cache": True, "error_model": "numpy", "fastmath": False}


@intrinsic
def _bits(typingctx: Any, x: Any) -> Any:
    """The int64 with the bits of float64 ``x``."""
    if x != types.float64:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _float(typingctx: Any, i: Any) -> Any:
    """The float64 with the bits of int64 ``i``."""
    if i != types.int64:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


_INV_LN2 = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts: k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10
_LN2 = 0.6931471805599453
_SQRT2 = 1.4142135623730951


@njit(**_OPTS)
def exp_f64(x: float) -> float:
    """``exp(x)`` for ``x`` a float32 value (as float64): within 3e-10 relative on [-150, 200]
    (a float32 result is then at most one ulp off, and correctly rounded but within 3e-10 of a
    rounding boundary), saturated beyond (the float32 result is 0 or inf there, and so are
    ``1 / (1 + exp(x))`` and friends); NaN stays NaN."""
    x = np.float64(x)
    x = -150.0 if x < -150.0 else x
    x = 200.0 if x > 200.0 else x
    k = np.floor(x * _INV_LN2 + 0.5)
    k = k if k == k else 0.0  # NaN: any exponent (the polynomial is NaN), but no undefined conversion
    r = (x - k * _LN2_HI) - k * _LN2_LO  # |r| <= ln(2)/2
    # Taylor to degree 8 (the remainder is below 3e-10 relative for |r| <= 0.347), evaluated
    # by Estrin's scheme: a shorter chain of dependent operations than Horner's
    r2 = r * r
    r4 = r2 * r2
    q01 = 1.0 + r
    q23 = 0.5 + r * (1.0 / 6.0)
    q45 = (1.0 / 24.0) + r * (1.0 / 120.0)
    q67 = (1.0 / 720.0) + r * (1.0 / 5040.0)
    p = (q01 + q23 * r2) + ((q45 + q67 * r2) + r4 * (1.0 / 40320.0)) * r4
    return p * _float((np.int64(k) + 1023) << 52)


@njit(**_OPTS)
def log_f64(x: float) -> float:
    """``log(x)`` for ``x`` a float32 value (as float64; float32 subnormals are normal there):
    within 1e-10 relative; ``log(0) = -inf``, negative or NaN gives NaN, ``log(inf) = inf``."""
    x = np.float64(x)
    pos = x if x > 0.0 else 1.0
    b = _bits(pos)
    e = np.float64((b >> 52) - 1023)
    m = _float((b & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # in [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e = e + 1.0 if big else e
    f = m - 1.0  # in [-0.293, 0.415]
    s = f / (2.0 + f)  # |s| <= 0.172; log(1 + f) = 2 atanh(s) = 2 (s + s**3/3 + s**5/5 + ...)
    z = s * s  # <= 0.0295: terms to z**5 leave below 1e-10 relative
    z2 = z * z
    p = ((1.0 / 3.0) + z * (1.0 / 5.0)) + z2 * (((1.0 / 7.0) + z * (1.0 / 9.0)) + z2 * (1.0 / 11.0))
    r = e * _LN2_HI + (e * _LN2_LO + 2.0 * s * (1.0 + z * p))
    r = r if x > 0.0 else (-np.inf if x == 0.0 else np.nan)
    return x if x == np.inf else r


@njit(**_OPTS)
def tanh_f64(x: float) -> float:
    """``tanh(x)`` for ``x`` a float32 value (as float64): a Taylor polynomial near 0, else
    ``1 - 2 / (exp(2|x|) + 1)`` with the sign of ``x``; ``-0.0`` and NaN kept."""
    x = np.float64(x)
    a = abs(x)
    z = x * x
    # |x| < 1/16: Taylor to x**9 (the next term is below 1e-14 relative)
    p = ((1.0 / 3.0) - z * (2.0 / 15.0)) + (z * z) * ((17.0 / 315.0) - z * (62.0 / 2835.0))
    small = x * (1.0 - z * p)  # not x - x * z * p: that makes -0.0 into +0.0
    c = 20.0 if a > 20.0 else a  # tanh(20) rounds to 1 in float64
    t = 1.0 - 2.0 / (exp_f64(2.0 * c) + 1.0)
    big = t if x >= 0.0 else -t
    big = big if x == x else x
    return small if a < 0.0625 else big


@njit(**_OPTS)
def sigmoid_f64(x: float) -> float:
    """``1 / (1 + exp(-x))`` for ``x`` a float32 value (as float64)."""
    return 1.0 / (1.0 + exp_f64(-np.float64(x)))


# Branches as functions: ``x if c else y`` written into a fused loop makes blocks for numba's
# front end, whose time grows faster than linearly with them (a 400-member chain of where
# took 40 s to compile); as a call it is one statement (which LLVM inlines as a select in
# short loops; fused loops use it past _fusion.MAX_BRANCHES where members).
@njit(**_OPTS)
def select(c: Any, x: Any, y: Any) -> Any:
    """``x if c else y``."""
    return x if c else y


# Row kernels: ``s[dst, :m] = f(s[src, :m])`` on float32 rows of a fused loop's scratch ``s``
# (``src`` may be ``dst``); the scratch and row numbers, not row views, are passed: a view
# costs two atomic reference-count updates, as much as the row's arithmetic on 16 elements. One
# call per row keeps each loop small, so LLVM inlines the function and vectorizes it,
# however long the fused group is (inlined into one long loop, it stops doing either).
@njit(**_OPTS)
def exp_rows(s: Any, src: int, dst: int, m: int) -> None:
    for j in range(m):
        s[dst, j] = np.float32(exp_f64(s[src, j]))


@njit(**_OPTS)
def log_rows(s: Any, src: int, dst: int, m: int) -> None:
    for j in range(m):
        s[dst, j] = np.float32(log_f64(s[src, j]))


@njit(**_OPTS)
def tanh_rows(s: Any, src: int, dst: int, m: int) -> None:
    for j in range(m):
        s[dst, j] = np.float32(tanh_f64(s[src, j]))


@njit(**_OPTS)
def sigmoid_rows(s: Any, src: int, dst: int, m: int) -> None:
    for j in range(m):
        s[dst, j] = np.float32(sigmoid_f64(s[src, j]))


@njit(**_OPTS)
def pow_rows(s: Any, src: int, dst: int, m: int, y: float) -> None:
    """``s[dst] = s[src] ** y`` for a constant exponent ``y`` that is neither 0 nor a whole number:
    ``exp(y * log(x))``, which also gives NumPy's NaN for a negative ``x``, 0 or inf for a zero
    one, and inf or 0 for an infinite one (``-inf`` counts as ``inf``, as in C's ``pow``)."""
    for j in range(m):
        x = np.float64(s[src, j])
        a = np.inf if x == -np.inf else x
        s[dst, j] = np.float32(exp_f64(y * log_f64(a)))
