"""RAdam: Adam with a rectified adaptive learning rate."""

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

__all__ = ["RAdam"]


def _init_state(p: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
    st["exp_avg"] = plugrad.zeros_like(p)
    st["exp_avg_sq"] = plugrad.zeros_like(p)


def _rectification(
    beta1: float, beta2: float, step: float, power1: float | None = None, power2: float | None = None
) -> tuple[float, float, float | None]:
    """``(1 - beta1**t, 1 - beta2**t, r)`` with ``r`` the rectification, ``None`` while ``rho_t <= 5``:
    the step's Python numbers (eager and table rows alike; ``power1``/``power2`` stand for
    ``beta1**t``/``beta2**t`` where given)."""
    rho_inf = 2 / (1 - beta2) - 1
    bias_correction2 = 1 - (beta2**step if power2 is None else power2)
    rho_t = rho_inf - 2 * step * (beta2**step if power2 is None else power2) / bias_correction2
    rect = None
    if rho_t > 5.0:
        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return 1 - (beta1**step if power1 is None else power1), bias_correction2, rect


def _row(
    beta1: float, beta2: float, step: float, power1: float | None = None, power2: float | None = None
) -> tuple[float, ...]:
    """A step-table row: ``(1 - beta1**t, sqrt(1 - beta2**t), r or 1, 1 if rectified else 0)``."""
    bias_correction1, bias_correction2, rect = _rectification(beta1, beta2, step, power1, power2)
    return bias_correction1, math.sqrt(bias_correction2), 1.0 if rect is None else rect, 0.0 if rect is None else 1.0


def _table(beta1: Any, beta2: Any) -> StepTable | None:
    """The step's numbers by step count, for a step recorded by ``plugrad.compile``."""
    limit = _row(beta1, beta2, 1.0, 0.0, 0.0)
    return step_table(("radam", beta1, beta2), functools.partial(_row, beta1, beta2), limit, (beta1, beta2))


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

    Under :func:`plugrad.compile` the step's numbers come from the step-count tensor
    through a step table (see :mod:`plugrad.optim._common`) and the choice between the
    two updates is a ``where`` on a looked-up flag; ``lr`` (and ``betas[0]`` where OneCycleLR
    cycles it) is a scalar input: bit-identical to the eager step.
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
            scalars = StepScalars(self) if is_compiling() else None
            for gi, group in enumerate(self.param_groups):
                self._check_capturable(group)
                lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
                beta1, beta2 = group["betas"]
                table = None
                cycled = False  # betas[0] changes from step to step: read as a scalar, its powers in Python
                if scalars is not None and plain_numbers(lr, beta1, beta2):
                    cycled = beta1_scheduled(group)
                    table = _table(0.0 if cycled else beta1, beta2)
                for j, p, g, st in indexed_params_with_grads(self, group, _init_state):
                    tab, bc1_t = table, None
                    if cycled and table is not None:
                        tab, bc1_t = cycled_beta1(scalars, group, gi, j, st, p, table, _table, (beta1, beta2))
                    if tab is None:
                        step = advance_step(st)
                        g = apply_weight_decay(p, g, lr, weight_decay, group["decoupled_weight_decay"])
                        exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
                        exp_avg.lerp_(g, 1 - beta1)
                        exp_avg_sq.mul_(beta2).add_(g * g, alpha=1 - beta2)
                        bias_correction1, bias_correction2, rect = _rectification(beta1, beta2, step)
                        m_hat = exp_avg / bias_correction1
                        if rect is not None:
                            adaptive = math.sqrt(bias_correction2) / (exp_avg_sq.sqrt() + eps)
                            p.add_(m_hat * lr * adaptive * rect, alpha=-1.0)
                        else:
                            p.add_(m_hat * lr, alpha=-1.0)
                        continue
                    # recorded: both updates, the step's one chosen by a flag tensor (the same kernels for
                    # it), with the step's numbers and lr (and beta1) as 0-d tensors
                    assert scalars is not None
                    dt = p.dtype
                    if bc1_t is None:
                        want: tuple[tuple[int, Any], ...] = ((0, dt), (1, dt), (2, dt), (3, plugrad.bool))
                        bc1_t, bc2_sqrt_t, rect_t, rectified_t = advance_step_table(st, tab, want, p.device)
                        weight: Any = 1 - beta1
                    else:
                        want = ((1, dt), (2, dt), (3, plugrad.bool))
                        bc2_sqrt_t, rect_t, rectified_t = advance_step_table(st, tab, want, p.device)
                        bc1_t = bc1_t.to(p)
                        weight = scalars.one_minus_beta1(gi, p)
                    lr_t = scalars.option(group, "lr", p)
                    g = apply_weight_decay(p, g, lr_t, weight_decay, group["decoupled_weight_decay"])
                    exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
                    exp_avg.lerp_(g, weight)
                    exp_avg_sq.mul_(beta2).add_(g * g, alpha=1 - beta2)
                    m_hat_lr = exp_avg / bc1_t * scalars.option(group, "lr", p, cast=True)
                    adaptive_t = (exp_avg_sq.sqrt() + eps).reciprocal() * bc2_sqrt_t  # as eager's float / tensor
                    p.add_(plugrad.where(rectified_t, m_hat_lr * adaptive_t * rect_t, m_hat_lr), alpha=-1.0)
        return loss
