"""RAdam: Adam with a rectified adaptive learning rate."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import plugrad

from ._common import advance_step, apply_weight_decay, check_adam_args, params_with_grads
from .optimizer import Optimizer

__all__ = ["RAdam"]


def _init_state(p: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
    st["exp_avg"] = plugrad.zeros_like(p)
    st["exp_avg_sq"] = plugrad.zeros_like(p)


class RAdam(Optimizer):
    r"""RAdam (Liu et al., "On the variance of the adaptive learning rate and beyond").

    For each parameter ``p`` with gradient ``g`` (``-g`` when ``maximize``), at step ``t``::

        g = g + weight_decay * p                  (p = p * (1 - lr * weight_decay) if decoupled_weight_decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        m_hat = m / (1 - beta1^t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        if rho_t > 5:
            r = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
            p = p - lr * m_hat * r * sqrt(1 - beta2^t) / (sqrt(v) + eps)
        else:
            p = p - lr * m_hat                      (the variance estimate is not yet reliable: SGD with momentum)

    :param lr: learning rate (default 1e-3).
    :param betas: ``(beta1, beta2)`` (default (0.9, 0.999)).
    :param eps: added to the denominator (default 1e-8).
    :param weight_decay: weight decay (default 0).
    :param decoupled_weight_decay: decay the parameter directly (RAdamW).
    :param maximize: maximize the objective.

    State per parameter: ``step`` (a float32 scalar tensor), ``exp_avg`` (``m``),
    ``exp_avg_sq`` (``v``).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_adam_args(lr, betas, eps, weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One RAdam update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        with self._step_grad_mode():
            for group in self.param_groups:
                self._check_capturable(group)
                lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
                beta1, beta2 = group["betas"]
                rho_inf = 2 / (1 - beta2) - 1
                for p, g, st in params_with_grads(self, group, _init_state):
                    step = advance_step(st)
                    g = apply_weight_decay(p, g, lr, weight_decay, group["decoupled_weight_decay"])
                    exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
                    exp_avg.lerp_(g, 1 - beta1)
                    exp_avg_sq.mul_(beta2).add_(g * g, alpha=1 - beta2)
                    bias_correction2 = 1 - beta2**step
                    m_hat = exp_avg / (1 - beta1**step)
                    rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
                    if rho_t > 5.0:
                        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                        adaptive = math.sqrt(bias_correction2) / (exp_avg_sq.sqrt() + eps)
                        p.add_(m_hat * lr * adaptive * rect, alpha=-1.0)
                    else:
                        p.add_(m_hat * lr, alpha=-1.0)
        return loss
