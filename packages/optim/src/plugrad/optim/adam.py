"""Adam and AdamW."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from typing import Any

import plugrad

from ._common import (
    StepTable,
    advance_step,
    advance_step_table,
    apply_weight_decay,
    check_adam_args,
    is_compiling,
    params_with_grads,
    plain_numbers,
    scalar_div,
    step_table,
)
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


def _init_state(p: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
    st["exp_avg"] = plugrad.zeros_like(p)
    st["exp_avg_sq"] = plugrad.zeros_like(p)
    if group["amsgrad"]:
        st["max_exp_avg_sq"] = plugrad.zeros_like(p)


def _bias_corrections(beta1: float, beta2: float, step: float) -> tuple[float, float]:
    """``(1 - beta1**step, sqrt(1 - beta2**step))``: the step's Python numbers (eager and table rows alike)."""
    return 1 - beta1**step, math.sqrt(1 - beta2**step)


def _table(beta1: Any, beta2: Any) -> StepTable | None:
    """The bias corrections by step count, for a step recorded by ``plugrad.compile``."""
    return step_table(
        ("adam", beta1, beta2), functools.partial(_bias_corrections, beta1, beta2), (1.0, 1.0), (beta1, beta2)
    )


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

    State per parameter: ``step`` (a float32 scalar tensor, in eager and compiled steps
    alike, so state dicts are the same), ``exp_avg`` (``m``), ``exp_avg_sq`` (``v``) and,
    with amsgrad, ``max_exp_avg_sq``.

    Under :func:`plugrad.compile` the bias corrections come from the step-count tensor
    through a step table (see :mod:`plugrad.optim._common`), bit-identical to the eager
    step; options that are tensors run the step eagerly.
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
                table = _table(beta1, beta2) if is_compiling() and plain_numbers(lr, beta1, beta2) else None
                for p, g, st in params_with_grads(self, group, _init_state):
                    if table is None:
                        step = advance_step(st)
                    else:
                        bc1_t, bc2_sqrt_t = advance_step_table(
                            st, table, ((0, plugrad.float64), (1, p.dtype)), p.device
                        )
                    g = apply_weight_decay(p, g, lr, weight_decay, decoupled)
                    exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
                    exp_avg.mul_(beta1).add_(g, alpha=1 - beta1)
                    exp_avg_sq.mul_(beta2).add_(g * g, alpha=1 - beta2)
                    if amsgrad:
                        max_sq = st["max_exp_avg_sq"]
                        max_sq.copy_(plugrad.maximum(max_sq, exp_avg_sq))
                        denom = max_sq.sqrt()
                    else:
                        denom = exp_avg_sq.sqrt()
                    if table is None:
                        bias_correction1, bias_correction2_sqrt = _bias_corrections(beta1, beta2, step)
                        denom.div_(bias_correction2_sqrt).add_(eps)
                        p.add_(exp_avg / denom, alpha=-lr / bias_correction1)
                    else:  # the same kernels, with the step's numbers as 0-d tensors
                        denom.div_(bc2_sqrt_t).add_(eps)
                        p.add_(exp_avg / denom * scalar_div(-lr, bc1_t).to(p))
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
