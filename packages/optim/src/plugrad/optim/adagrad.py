"""Adagrad."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import plugrad

from ._common import StepScalars, is_compiling, plain_numbers
from .optimizer import Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad: per-element learning rates from the sum of all past squared gradients.

    For each parameter ``p`` with gradient ``g`` (``-g`` when ``maximize``), at step ``t``::

        g = g + weight_decay * p                    (if weight_decay != 0)
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g^2
        p = p - clr * g / (sqrt(s) + eps)

    :param lr: learning rate (default 1e-2).
    :param lr_decay: learning-rate decay (default 0).
    :param weight_decay: L2 penalty (default 0).
    :param initial_accumulator_value: starting value of ``s`` (default 0).
    :param eps: added to the denominator (default 1e-10).
    :param maximize: maximize the objective.

    State (created at construction, as PyTorch does): ``step`` and ``sum`` (``s``).

    Under :func:`plugrad.compile` the step's learning rate ``clr`` is computed from the
    step-count tensor with tensor ops (with ``lr_decay == 0`` it is ``lr`` itself), and
    ``lr`` is a scalar input (a scheduler's new rates replay without recording again):
    bit-identical to the eager step.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state[p]
                st["step"] = plugrad.tensor(0.0, dtype=plugrad.float32)
                st["sum"] = plugrad.full_like(p, group["initial_accumulator_value"])

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adagrad update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        with self._step_grad_mode():
            scalars = StepScalars(self) if is_compiling() else None
            for group in self.param_groups:
                lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
                weight_decay, maximize = group["weight_decay"], group["maximize"]
                compiling = scalars is not None and plain_numbers(lr, lr_decay)
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    st = self.state[p]
                    if not st:
                        st["step"] = plugrad.tensor(0.0, dtype=plugrad.float32)
                        st["sum"] = plugrad.full_like(p, group["initial_accumulator_value"])
                    step_t = st["step"]
                    step_t += 1
                    if not compiling:
                        step = step_t.item()
                    if maximize:
                        g = -g
                    if weight_decay != 0:
                        g = g.add(p, alpha=weight_decay)
                    state_sum = st["sum"]
                    state_sum.add_(g * g)
                    std = state_sum.sqrt().add_(eps)
                    if not compiling:
                        clr = lr / (1 + (step - 1) * lr_decay)
                        p.add_(g / std, alpha=-clr)
                        continue
                    # recorded: the same kernels, with lr and clr as 0-d tensors
                    assert scalars is not None
                    lr_t = scalars.option(group, "lr", p)
                    if lr_decay == 0:  # (step - 1) * 0 is 0 for every count: clr is lr / 1
                        clr_t = lr_t / (1 + 0.0 * lr_decay)
                    else:
                        clr_t = lr_t / (1 + (step_t.to(plugrad.float64).to(p.device) - 1) * lr_decay)
                    p.add_(g / std * (-clr_t).to(p))
        return loss
