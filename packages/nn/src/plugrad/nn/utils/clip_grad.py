"""Gradient clipping, in place on ``.grad`` of the given parameters."""

from __future__ import annotations

import math
from collections.abc import Iterable

import plugrad
from plugrad import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Scale all gradients together so that their total norm is at most ``max_norm``.

    The total norm is that of all gradients concatenated into one vector:
    ``(sum_p sum_i |g_pi|^norm_type)^(1/norm_type)`` (the largest ``|g|`` for
    ``norm_type=inf``). Gradients are multiplied by ``min(1, max_norm / (total + 1e-6))``.
    Returns the total norm (before clipping) as a tensor.
    """
    grads = _grads(parameters)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return plugrad.tensor(0.0)
    with plugrad.no_grad():
        if math.isinf(norm_type):
            total = grads[0].abs().amax().to(plugrad.float64)
            for g in grads[1:]:
                total = plugrad.maximum(total, g.abs().amax().to(plugrad.float64))
            total = total.to(grads[0].dtype)
        else:
            acc = plugrad.zeros((), dtype=plugrad.float64, device=grads[0].device)
            for g in grads:
                a = g.abs().to(plugrad.float64)
                acc = acc + ((a * a).sum() if norm_type == 2.0 else (a**norm_type).sum())
            total = (acc.sqrt() if norm_type == 2.0 else acc ** (1.0 / norm_type)).to(grads[0].dtype)
        if error_if_nonfinite and not bool(total.isfinite().all()):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
                "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
                "`error_if_nonfinite=False`"
            )
        coef = plugrad.minimum(max_norm / (total + 1e-6), total.new_full((), 1.0))
        for g in grads:
            g.mul_(coef.to(g.dtype))
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place."""
    clip_value = float(clip_value)
    with plugrad.no_grad():
        for g in _grads(parameters):
            bound = g.new_full((), clip_value)
            g.copy_(plugrad.minimum(plugrad.maximum(g, -bound), bound))
