"""NAdam: Adam with Nesterov momentum."""

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
    is_compiling,
    params_with_grads,
    plain_numbers,
    step_table,
)
from .optimizer import Optimizer

__all__ = ["NAdam"]


def _init_state(p: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
    st["mu_product"] = plugrad.tensor(1.0, dtype=plugrad.float32)
    st["exp_avg"] = plugrad.zeros_like(p)
    st["exp_avg_sq"] = plugrad.zeros_like(p)


def _schedule(beta1: float, beta2: float, momentum_decay: float, step: float) -> tuple[float, float, float]:
    """``(mu_t, mu_{t+1}, 1 - beta2**t)``: the step's Python numbers (eager and table rows alike)."""
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
    return mu, mu_next, 1 - beta2**step


def _table(beta1: Any, beta2: Any, momentum_decay: Any) -> StepTable | None:
    """The momentum schedule and bias correction by step count, for a step recorded by ``plugrad.compile``."""
    decay = 0.96**momentum_decay  # 0.96 ** (t * momentum_decay) is about decay ** t
    mu_limit = beta1 * (1.0 - 0.5 * (0.0 if momentum_decay else 1.0))
    return step_table(
        ("nadam", beta1, beta2, momentum_decay),
        functools.partial(_schedule, beta1, beta2, momentum_decay),
        (mu_limit, mu_limit, 1.0),
        (decay, beta2) if momentum_decay else (beta2,),
    )


class NAdam(Optimizer):
    r"""NAdam (Dozat, "Incorporating Nesterov momentum into Adam"), with the momentum
    schedule ``mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))``.

    For each parameter ``p`` with gradient ``g`` (``-g`` when ``maximize``), at step ``t``::

        g = g + weight_decay * p                  (p = p * (1 - lr * weight_decay) if decoupled_weight_decay)
        P_t = mu_1 * ... * mu_t
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        denom = sqrt(v / (1 - beta2^t)) + eps
        p = p - lr * (1 - mu_t) / (1 - P_t) * g / denom - lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m / denom

    :param lr: learning rate (default 2e-3).
    :param betas: ``(beta1, beta2)`` (default (0.9, 0.999)).
    :param eps: added to the denominator (default 1e-8).
    :param weight_decay: weight decay (default 0).
    :param momentum_decay: the momentum schedule's decay (default 4e-3).
    :param decoupled_weight_decay: decay the parameter directly (NAdamW) instead of adding
        to the gradient.
    :param maximize: maximize the objective.

    State per parameter: ``step`` and ``mu_product`` (``P_t``; float32 scalar tensors, as
    PyTorch keeps them), ``exp_avg`` (``m``), ``exp_avg_sq`` (``v``).

    Under :func:`plugrad.compile` the momentum schedule and bias correction come from the
    step-count tensor through a step table (see :mod:`plugrad.optim._common`), ``P_t``
    stays a tensor, and ``lr`` (and ``betas[0]`` where OneCycleLR cycles it) is a scalar
    input: bit-identical to the eager step.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_adam_args(lr, betas, eps, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One NAdam update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        with self._step_grad_mode():
            scalars = StepScalars(self) if is_compiling() else None
            for gi, group in enumerate(self.param_groups):
                self._check_capturable(group)
                lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
                beta1, beta2 = group["betas"]
                momentum_decay = group["momentum_decay"]
                table = None
                cycled = False  # betas[0] changes from step to step: read as a scalar
                if scalars is not None and plain_numbers(lr, beta1, beta2, momentum_decay):
                    cycled = beta1_scheduled(group)
                    # with beta1 = 1 the table holds 1 - 0.5 * 0.96 ** (t * momentum_decay) (times 1.0, exact)
                    table = _table(1.0 if cycled else beta1, beta2, momentum_decay)
                for p, g, st in params_with_grads(self, group, _init_state):
                    mu_product = st["mu_product"]
                    mu: Any  # Python floats in eager steps, 0-d tensors in recorded ones
                    mu_next: Any
                    bias_correction2: Any
                    prod: Any
                    if table is None:
                        step = advance_step(st)
                        mu, mu_next, bias_correction2 = _schedule(beta1, beta2, momentum_decay, step)
                        g = apply_weight_decay(p, g, lr, weight_decay, group["decoupled_weight_decay"])
                        mu_product *= mu
                        prod = mu_product.item()
                        exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
                        exp_avg.lerp_(g, 1 - beta1)
                        exp_avg_sq.mul_(beta2).add_(g * g, alpha=1 - beta2)
                        denom = (exp_avg_sq / bias_correction2).sqrt() + eps
                        p.add_(g / denom, alpha=-lr * (1.0 - mu) / (1.0 - prod))
                        p.add_(exp_avg / denom, alpha=-lr * mu_next / (1.0 - prod * mu_next))
                        continue
                    # recorded: the step's numbers, lr (and beta1) as 0-d tensors
                    assert scalars is not None
                    f64 = plugrad.float64
                    if cycled:
                        want: tuple[tuple[int, Any], ...] = ((0, f64), (1, f64), (2, p.dtype))
                        decay_t, decay_next_t, bias_correction2 = advance_step_table(st, table, want, p.device)
                        beta1_t = scalars.beta1(gi, p)
                        mu, mu_next = beta1_t * decay_t, beta1_t * decay_next_t
                        mu_cast = mu
                        weight: Any = scalars.one_minus_beta1(gi, p)
                    else:
                        want = ((0, f64), (0, mu_product.dtype), (1, f64), (2, p.dtype))
                        mu, mu_cast, mu_next, bias_correction2 = advance_step_table(st, table, want, p.device)
                        weight = 1 - beta1
                    lr_t = scalars.option(group, "lr", p)
                    g = apply_weight_decay(p, g, lr_t, weight_decay, group["decoupled_weight_decay"])
                    mu_product *= mu_cast.to(mu_product)  # (no kernel where they share a device)
                    prod = mu_product.to(mu)  # float64 where mu is
                    exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
                    exp_avg.lerp_(g, weight)
                    exp_avg_sq.mul_(beta2).add_(g * g, alpha=1 - beta2)
                    denom = (exp_avg_sq / bias_correction2).sqrt() + eps
                    neg_lr_t = scalars.negated_option(group, "lr", p)
                    p.add_(g / denom * (neg_lr_t * (1.0 - mu) / (1.0 - prod)).to(p))
                    p.add_(exp_avg / denom * (neg_lr_t * mu_next / (1.0 - prod * mu_next)).to(p))
        return loss
