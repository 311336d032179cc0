"""Adamax: Adam with the infinity norm."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import plugrad

from ._common import advance_step, apply_weight_decay, check_adam_args, params_with_grads
from .optimizer import Optimizer

__all__ = ["Adamax"]


def _init_state(p: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
    st["exp_avg"] = plugrad.zeros_like(p)
    st["exp_inf"] = plugrad.zeros_like(p)


class Adamax(Optimizer):
    r"""Adamax (Kingma and Ba, section 7.1): Adam's second moment replaced by an
    exponentially weighted infinity norm.

    For each parameter ``p`` with gradient ``g`` (``-g`` when ``maximize``), at step ``t``::

        g = g + weight_decay * p                    (if weight_decay != 0)
        m = beta1 * m + (1 - beta1) * g
        u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1^t) * m / u

    :param lr: learning rate (default 2e-3).
    :param betas: ``(beta1, beta2)`` (default (0.9, 0.999)).
    :param eps: added to ``|g|`` (default 1e-8).
    :param weight_decay: L2 penalty added to the gradient (default 0).
    :param maximize: maximize the objective.

    State per parameter: ``step`` (a float32 scalar tensor), ``exp_avg`` (``m``) and
    ``exp_inf`` (``u``).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        check_adam_args(lr, betas, eps, weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adamax update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        with self._step_grad_mode():
            for group in self.param_groups:
                self._check_capturable(group)
                lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
                beta1, beta2 = group["betas"]
                for p, g, st in params_with_grads(self, group, _init_state):
                    step = advance_step(st)
                    g = apply_weight_decay(p, g, lr, weight_decay)
                    exp_avg, exp_inf = st["exp_avg"], st["exp_inf"]
                    exp_avg.lerp_(g, 1 - beta1)
                    exp_inf.copy_(plugrad.maximum(exp_inf.mul_(beta2), g.abs() + eps))
                    p.add_(exp_avg / exp_inf, alpha=-lr / (1 - beta1**step))
        return loss
