"""Adamax: Adam with the infinity norm."""

from __future__ import annotations

import functools
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

__all__ = ["Adamax"]


def _init_state(p: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
    st["exp_avg"] = plugrad.zeros_like(p)
    st["exp_inf"] = plugrad.zeros_like(p)


def _bias_correction(beta1: float, step: float) -> tuple[float]:
    """``(1 - beta1**step,)``: the step's Python number (eager and table rows alike)."""
    return (1 - beta1**step,)


def _table(beta1: Any) -> StepTable | None:
    """The bias correction by step count, for a step recorded by ``plugrad.compile``."""
    return step_table(("adamax", beta1), functools.partial(_bias_correction, beta1), (1.0,), (beta1,))


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

    Under :func:`plugrad.compile` the bias correction comes from the step-count tensor
    through a step table (see :mod:`plugrad.optim._common`), and ``lr`` (and ``betas[0]``
    where OneCycleLR cycles it) is a scalar input: bit-identical to the eager step.
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
            scalars = StepScalars(self) if is_compiling() else None
            for gi, group in enumerate(self.param_groups):
                self._check_capturable(group)
                lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
                beta1, beta2 = group["betas"]
                compiled = scalars is not None and plain_numbers(lr, beta1)
                cycled = compiled and beta1_scheduled(group)  # betas[0] changes from step to step
                table = _table(beta1) if compiled and not cycled else None
                for j, p, g, st in indexed_params_with_grads(self, group, _init_state):
                    tab, bc1_t = table, None
                    if cycled:
                        tab, bc1_t = cycled_beta1(scalars, group, gi, j, st, p, table, _table, (beta1,))
                    if tab is None and bc1_t is None:
                        step = advance_step(st)
                        g = apply_weight_decay(p, g, lr, weight_decay)
                        exp_avg, exp_inf = st["exp_avg"], st["exp_inf"]
                        exp_avg.lerp_(g, 1 - beta1)
                        exp_inf.copy_(plugrad.maximum(exp_inf.mul_(beta2), g.abs() + eps))
                        (bias_correction1,) = _bias_correction(beta1, step)
                        p.add_(exp_avg / exp_inf, alpha=-lr / bias_correction1)
                        continue
                    # recorded: the same kernels, with the step's number and lr (and beta1) as 0-d tensors
                    assert scalars is not None
                    if bc1_t is None:
                        assert tab is not None
                        (bc1_t,) = advance_step_table(st, tab, ((0, plugrad.float64),), p.device)
                        weight: Any = 1 - beta1
                    else:
                        step_t = st["step"]
                        step_t += 1
                        weight = scalars.one_minus_beta1(gi, g)
                    lr_t = scalars.option(group, "lr", p)
                    g = apply_weight_decay(p, g, lr_t, weight_decay)
                    exp_avg, exp_inf = st["exp_avg"], st["exp_inf"]
                    exp_avg.lerp_(g, weight)
                    exp_inf.copy_(plugrad.maximum(exp_inf.mul_(beta2), g.abs() + eps))
                    p.add_(exp_avg / exp_inf * (scalars.negated_option(group, "lr", p) / bc1_t).to(p))
        return loss
