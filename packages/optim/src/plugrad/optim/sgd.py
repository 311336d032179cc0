"""Stochastic gradient descent."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._common import StepScalars, is_compiling, plain_numbers
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, with momentum, dampening, weight decay and Nesterov.

    For each parameter ``p`` with gradient ``g`` (``-g`` when ``maximize``), step ``t``::

        g = g + weight_decay * p                      (if weight_decay != 0)
        b = g                                         (t = 1)
        b = momentum * b + (1 - dampening) * g        (t > 1)      (if momentum != 0)
        g = g + momentum * b  if nesterov  else  b                 (if momentum != 0)
        p = p - lr * g

    :param lr: learning rate (default 1e-3).
    :param momentum: momentum factor (default 0).
    :param dampening: dampening of the momentum (default 0).
    :param weight_decay: L2 penalty (default 0).
    :param nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
    :param maximize: maximize the objective instead of minimizing it.

    ``state[p]["momentum_buffer"]`` holds ``b`` when ``momentum != 0``.

    Under :func:`plugrad.compile` ``lr`` and a nonzero ``momentum`` are read as scalar inputs
    (a scheduler's new values replay without recording again), bit-identical to the eager step.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One SGD update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        with self._step_grad_mode():
            # recorded by plugrad.compile: lr and momentum as scalar inputs (one program for every value)
            scalars = StepScalars(self) if is_compiling() else None
            for gi, group in enumerate(self.param_groups):
                lr = group["lr"]
                momentum = group["momentum"]
                dampening = group["dampening"]
                weight_decay = group["weight_decay"]
                nesterov = group["nesterov"]
                maximize = group["maximize"]
                state = self.state
                compiled = scalars is not None and plain_numbers(lr, momentum)
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    if maximize:
                        g = -g
                    if weight_decay != 0:
                        g = g.add(p, alpha=weight_decay)
                    if momentum != 0:
                        st = state[p]
                        buf = st.get("momentum_buffer")
                        if compiled:
                            assert scalars is not None
                            momentum_t = scalars.nonzero_option(gi, group, "momentum", p)
                        if buf is None:
                            buf = st["momentum_buffer"] = g.clone().detach()
                        elif compiled:
                            buf.mul_(momentum_t.to(buf)).add_(g, alpha=1 - dampening)
                        else:
                            buf.mul_(momentum).add_(g, alpha=1 - dampening)
                        if not nesterov:
                            g = buf
                        elif compiled:
                            g = g + buf * momentum_t.to(buf)
                        else:
                            g = g.add(buf, alpha=momentum)
                    if compiled:
                        assert scalars is not None
                        p.add_(g * scalars.negated_option(group, "lr", g, cast=True))
                    else:
                        p.add_(g, alpha=-lr)
        return loss
