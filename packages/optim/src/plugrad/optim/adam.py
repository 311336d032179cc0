"""Adam and AdamW."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import plugrad

from ._common import advance_step, apply_weight_decay, check_adam_args, params_with_grads
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


def _init_state(p: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
    st["exp_avg"] = plugrad.zeros_like(p)
    st["exp_avg_sq"] = plugrad.zeros_like(p)
    if group["amsgrad"]:
        st["max_exp_avg_sq"] = plugrad.zeros_like(p)


class Adam(Optimizer):
    r"""Adam: adaptive moment estimation.

    For each parameter ``p`` with gradient ``g`` (``-g`` when ``maximize``), at step ``t``::

        g = g + weight_decay * p                    (Adam; AdamW instead does p = p * (1 - lr * weight_decay))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        v_max = max(v_max, v)                       (amsgrad; then v_max replaces v below)
        denom = sqrt(v) / sqrt(1 - beta2^t) + eps
        p = p - lr / (1 - beta1^t) * m / denom

    :param lr: learning rate (default 1e-3).
    :param betas: ``(beta1, beta2)``, decay rates of the moment averages (default (0.9, 0.999)).
    :param eps: added to the denominator (default 1e-8).
    :param weight_decay: L2 penalty added to the gradient (default 0).
    :param amsgrad: use the running maximum of ``v`` (AMSGrad).
    :param maximize: maximize the objective.
    :param decoupled_weight_decay: decay the parameter directly (as :class:`AdamW` does).

    State per parameter: ``step`` (a float32 scalar tensor), ``exp_avg`` (``m``),
    ``exp_avg_sq`` (``v``) and, with amsgrad, ``max_exp_avg_sq``.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_adam_args(lr, betas, eps, weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adam update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        with self._step_grad_mode():
            for group in self.param_groups:
                self._check_capturable(group)
                decoupled = group["decoupled_weight_decay"]
                lr = group["lr"]
                beta1, beta2 = group["betas"]
                eps = group["eps"]
                weight_decay = group["weight_decay"]
                amsgrad = group["amsgrad"]
                for p, g, st in params_with_grads(self, group, _init_state):
                    step = advance_step(st)
                    g = apply_weight_decay(p, g, lr, weight_decay, decoupled)
                    exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
                    exp_avg.mul_(beta1).add_(g, alpha=1 - beta1)
                    exp_avg_sq.mul_(beta2).add_(g * g, alpha=1 - beta2)
                    bias_correction1 = 1 - beta1**step
                    bias_correction2_sqrt = math.sqrt(1 - beta2**step)
                    if amsgrad:
                        max_sq = st["max_exp_avg_sq"]
                        max_sq.copy_(plugrad.maximum(max_sq, exp_avg_sq))
                        denom = max_sq.sqrt()
                    else:
                        denom = exp_avg_sq.sqrt()
                    denom.div_(bias_correction2_sqrt).add_(eps)
                    p.add_(exp_avg / denom, alpha=-lr / bias_correction1)
        return loss


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov and Hutter).

    The update is Adam's (see :class:`Adam`), except that weight decay shrinks the
    parameter directly instead of entering the gradient::

        p = p * (1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        v_max = max(v_max, v)                       (amsgrad)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Defaults as Adam's, but ``weight_decay=1e-2``.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )
