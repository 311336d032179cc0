"""bfloat16 in the NumPy backend's dtype table (from ml_dtypes): every kernel returns bfloat16
for bfloat16 inputs, also where NumPy itself would promote to float32."""

from __future__ import annotations

import numpy as np
import pytest
from plugrad_numpy import DTYPES, KERNELS

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)


def test_declared_in_the_dtype_table() -> None:
    assert DTYPES["bfloat16"] == BF16


def test_matmul_stays_bfloat16() -> None:
    a = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=BF16)
    assert np.matmul(a, a).dtype != BF16  # what ml_dtypes does on its own (accumulates in float32)
    out = KERNELS["matmul"](a, a)
    assert out.dtype == BF16 and out.astype(np.float32).tolist() == [[7.0, 10.0], [15.0, 22.0]]


def test_where_with_a_python_float_first_stays_bfloat16() -> None:
    a = np.array([1.5, 2.0], dtype=BF16)
    cond = np.array([True, False])
    assert np.where(cond, 0.0, a).dtype != BF16  # NumPy's promotion with the scalar on the left
    for out in (KERNELS["where"](cond, 0.0, a), KERNELS["where"](cond, a, 0.0), KERNELS["where"](cond, a, a)):
        assert out.dtype == BF16


@pytest.mark.parametrize("kernel", ["random_uniform", "random_normal"])
def test_random_draws_in_bfloat16(kernel: str) -> None:
    out = KERNELS[kernel]((1000,), BF16)
    assert out.dtype == BF16 and out.shape == (1000,)
