"""Fixtures for the plugrad.nn tests."""

from __future__ import annotations

from collections.abc import Callable

import plugrad
import pytest


@pytest.fixture
def f64() -> Callable[..., plugrad.Tensor]:
    def make(values: object, requires_grad: bool = True) -> plugrad.Tensor:
        return plugrad.tensor(values, dtype=plugrad.float64, requires_grad=requires_grad)

    return make
