"""Numerical-gradient helpers for the plugrad.nn tests (float64 central differences)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import plugrad
import pytest


def numerical_grads(
    fn: Callable[[], plugrad.Tensor], inputs: Sequence[plugrad.Tensor], eps: float = 1e-6
) -> list[list[float]]:
    """Central differences of the scalar ``fn()`` with respect to each element of each input (float64)."""
    out: list[list[float]] = []
    for x in inputs:
        grads = []
        flat = x.detach().reshape(-1)
        for i in range(flat.numel()):
            old = flat[i].item()
            with plugrad.no_grad():
                flat[i] = old + eps
            hi = fn().item()
            with plugrad.no_grad():
                flat[i] = old - eps
            lo = fn().item()
            with plugrad.no_grad():
                flat[i] = old
            grads.append((hi - lo) / (2 * eps))
        out.append(grads)
    return out


def check_grads(
    fn: Callable[[], plugrad.Tensor], inputs: Sequence[plugrad.Tensor], atol: float = 1e-6, rtol: float = 1e-5
) -> None:
    """Compare ``backward()`` gradients of the scalar ``fn()`` with central differences."""
    for x in inputs:
        x.grad = None
    fn().backward()
    analytic = [x.grad.reshape(-1).tolist() if x.grad is not None else [0.0] * x.numel() for x in inputs]
    numeric = numerical_grads(fn, inputs)
    for a, n in zip(analytic, numeric):
        assert a == pytest.approx(n, abs=atol, rel=rtol)
