"""Adam and AdamW."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from typing import Any

import plugrad

from ._common import (
    StepScalars,
    StepTable,
    advance_step,
    advance_step_table,
    apply_weight_decay,
    beta1_scheduled,
    check_adam_args,
    cycled_beta1,
    indexed_params_with_grads,
    is_compiling,
    plain_numbers,
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
    through a step table (see :mod:`plugrad.optim._common`), and ``lr`` (and ``betas[0]``
    where OneCycleLR cycles it) is a scalar input, so a scheduler's new values replay
    without recording again: bit-identical to the eager step. Options that are tensors
    run the step eagerly.
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
            scalars = StepScalars(self) if is_compiling() else None
            for gi, group in enumerate(self.param_groups):
                self._check_capturable(group)
                decoupled = group["decoupled_weight_decay"]
                lr = group["lr"]
                beta1, beta2 = group["betas"]
                eps = group["eps"]
                weight_decay = group["weight_decay"]
                amsgrad = group["amsgrad"]
                table = None
                cycled = False  # betas[0] changes from step to step: read as a scalar, its powers in Python
                if scalars is not None and plain_numbers(lr, beta1, beta2):
                    cycled = beta1_scheduled(group)
                    table = _table(0.0 if cycled else beta1, beta2)
                for j, p, g, st in indexed_params_with_grads(self, group, _init_state):
                    tab, bc1_t = table, None
                    if cycled and table is not None:
                        tab, bc1_t = cycled_beta1(scalars, group, gi, j, st, p, table, _table, (beta1, beta2))
                    beta1_read = bc1_t is not None  # (else betas is a guard)
                    if tab is None:
                        step = advance_step(st)
                        g = apply_weight_decay(p, g, lr, weight_decay, decoupled)
                        exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
                        exp_avg.mul_(beta1).add_(g, alpha=1 - beta1)
                        exp_avg_sq.mul_(beta2).add_(g * g, alpha=1 - beta2)
                        denom = _denominator(st, amsgrad)
                        bias_correction1, bias_correction2_sqrt = _bias_corrections(beta1, beta2, step)
                        denom.div_(bias_correction2_sqrt).add_(eps)
                        p.add_(exp_avg / denom, alpha=-lr / bias_correction1)
                        continue
                    # recorded: the same kernels, with the step's numbers and lr (and beta1) as 0-d tensors
                    assert scalars is not None
                    if bc1_t is None:
                        bc1_t, bc2_sqrt_t = advance_step_table(st, tab, ((0, plugrad.float64), (1, p.dtype)), p.device)
                    else:
                        (bc2_sqrt_t,) = advance_step_table(st, tab, ((1, p.dtype),), p.device)
                    lr_t = scalars.option(group, "lr", p)
                    g = apply_weight_decay(p, g, lr_t, weight_decay, decoupled)
                    exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
                    if beta1_read:
                        exp_avg.mul_(scalars.beta1(gi, exp_avg, cast=True)).add_(g * scalars.one_minus_beta1(gi, g))
                    else:
                        exp_avg.mul_(beta1).add_(g, alpha=1 - beta1)
                    exp_avg_sq.mul_(beta2).add_(g * g, alpha=1 - beta2)
                    denom = _denominator(st, amsgrad)
                    denom.div_(bc2_sqrt_t).add_(eps)
                    p.add_(exp_avg / denom * (scalars.negated_option(group, "lr", p) / bc1_t).to(p))
        return loss


def _denominator(st: dict[str, Any], amsgrad: bool) -> Any:
    """``sqrt(v)``, or with amsgrad ``sqrt(v_max)`` after ``v_max = max(v_max, v)`` (a new tensor)."""
    exp_avg_sq = st["exp_avg_sq"]
    if amsgrad:
        max_sq = st["max_exp_avg_sq"]
        max_sq.copy_(plugrad.maximum(max_sq, exp_avg_sq))
        return max_sq.sqrt()
    return exp_avg_sq.sqrt()


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
