"""The vectorizable float32 exp/log/tanh/sigmoid of fused loops: within one float32 ulp of
the exact value (float64 NumPy as the reference) over the whole float32 range."""

from __future__ import annotations

import numpy as np
import pytest
from plugrad_numba import _vmath


def _values() -> np.ndarray:
    rng = np.random.default_rng(1)
    wide = rng.standard_normal(20000) * np.exp(rng.uniform(-20, 5, 20000))
    special = [0.0, -0.0, 1e-45, -1e-45, 1e-38, 0.0625, -0.0625, 0.5, 1.0, 20.0, 88.7, 89.0, -87.0, -103.0, -104.0]
    special += [3.4e38, -3.4e38, np.inf, -np.inf, np.nan]
    return np.concatenate([wide, np.asarray(special), np.linspace(-30, 30, 5001)]).astype(np.float32)


REFERENCE = {
    "exp_rows": lambda x: np.exp(x),
    "log_rows": lambda x: np.log(np.abs(x)),
    "tanh_rows": np.tanh,
    "sigmoid_rows": lambda x: 1 / (1 + np.exp(-x)),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_within_one_ulp_of_the_exact_value(name: str) -> None:
    x = _values()
    if name == "log_rows":
        x = np.abs(x)
    rows = np.stack([x, np.zeros_like(x)])
    getattr(_vmath, name)(rows, 0, 1, x.shape[0])
    row = rows[1]
    with np.errstate(all="ignore"):
        exact = REFERENCE[name](x.astype(np.float64))
        want = exact.astype(np.float32)
    assert row.dtype == np.float32
    assert np.array_equal(np.isnan(row), np.isnan(want))
    finite = np.isfinite(want) & np.isfinite(row)
    assert np.array_equal(row[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    ulps = np.abs(row[finite].view(np.int32).astype(np.int64) - want[finite].view(np.int32).astype(np.int64))
    assert ulps.max() <= 1, (x[finite][ulps.argmax()], row[finite][ulps.argmax()], want[finite][ulps.argmax()])
    # and zeros keep their sign where the function is odd
    if name == "tanh_rows":
        z = np.array([[-0.0, 0.0]], np.float32)
        _vmath.tanh_rows(z, 0, 0, 2)
        assert np.signbit(z[0]).tolist() == [True, False]


@pytest.mark.parametrize("y", [1.0001, 0.0001, -0.7, 2.5, -3.3, 1e-30])
def test_pow_with_a_constant_exponent_within_one_ulp(y: float) -> None:
    x = np.abs(_values())
    x = np.concatenate([x, -x[:50], np.array([0.0, -0.0, np.inf, -np.inf, np.nan], np.float32)])
    rows = np.stack([x, np.zeros_like(x)])
    yf = float(np.float32(y))  # what NumPy raises a float32 array to
    _vmath.pow_rows(rows, 0, 1, x.shape[0], yf)
    with np.errstate(all="ignore"):
        want = np.power(x, np.float32(y))  # NumPy's float32 kernel
        exact = np.power(x.astype(np.float64), yf).astype(np.float32)
    got = rows[1]
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(got[np.isinf(want)], want[np.isinf(want)])
    finite = np.isfinite(exact) & np.isfinite(got)
    ulps = np.abs(got[finite].view(np.int32).astype(np.int64) - exact[finite].view(np.int32).astype(np.int64))
    assert ulps.max() <= 1
