"""The lean ``mean`` kernel gives ``np.mean``'s result bit for bit (dtype, shape and bytes)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from plugrad_numpy.kernels import mean


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("shape", [(1000,), (7, 13), (3, 5, 17), (1,), (), (0, 3), (2, 0)])
def test_mean_matches_numpy_bit_for_bit(dtype, shape):
    rng = np.random.default_rng(sum(shape) + len(shape))
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    axes = [None] + [c for r in range(1, len(shape) + 1) for c in itertools.combinations(range(len(shape)), r)]
    for axis, keepdims in itertools.product(axes, (False, True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the mean of nothing is nan, with a warning
            want = np.asarray(np.mean(x, axis=axis, keepdims=keepdims))
            got = mean(x, axis, keepdims)
        assert type(got) is np.ndarray
        assert got.dtype == want.dtype and got.shape == want.shape, (axis, keepdims)
        assert got.tobytes() == want.tobytes(), (axis, keepdims)
