"""RMSprop."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import plugrad

from ._common import StepScalars, apply_weight_decay, is_compiling, params_with_grads, plain_numbers
from .optimizer import Optimizer

__all__ = ["RMSprop"]


def _init_state(p: Any, st: dict[str, Any], group: dict[str, Any]) -> None:
    st["square_avg"] = plugrad.zeros_like(p)
    if group["momentum"] > 0:
        st["momentum_buffer"] = plugrad.zeros_like(p)
    if group["centered"]:
        st["grad_avg"] = plugrad.zeros_like(p)


class RMSprop(Optimizer):
    r"""RMSprop: divide the gradient by a running root mean square of recent gradients.

    For each parameter ``p`` with gradient ``g`` (``-g`` when ``maximize``)::

        g = g + weight_decay * p                          (if weight_decay != 0)
        v = alpha * v + (1 - alpha) * g^2
        avg = sqrt(v - gbar^2) + eps, with gbar = alpha * gbar + (1 - alpha) * g   (centered)
        avg = sqrt(v) + eps                                                        (otherwise)
        b = momentum * b + g / avg;  p = p - lr * b       (if momentum > 0)
        p = p - lr * g / avg                              (otherwise)

    :param lr: learning rate (default 1e-2).
    :param alpha: smoothing constant (default 0.99).
    :param eps: added to the denominator (default 1e-8).
    :param weight_decay: L2 penalty (default 0).
    :param momentum: momentum factor (default 0).
    :param centered: normalise by an estimate of the gradient's variance.
    :param maximize: maximize the objective.

    State: ``step``, ``square_avg`` (``v``), ``momentum_buffer`` (``b``, if momentum > 0),
    ``grad_avg`` (``gbar``, if centered).

    Under :func:`plugrad.compile` ``lr`` and a nonzero ``momentum`` are scalar inputs (a
    scheduler's new values replay without recording again), bit-identical to the eager step.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One RMSprop update of every parameter that has a gradient."""
        loss = self._closure_loss(closure)
        with self._step_grad_mode():
            scalars = StepScalars(self) if is_compiling() else None
            for gi, group in enumerate(self.param_groups):
                self._check_capturable(group)
                lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
                weight_decay, momentum = group["weight_decay"], group["momentum"]
                centered = group["centered"]
                compiled = scalars is not None and plain_numbers(lr, momentum)
                for p, g, st in params_with_grads(self, group, _init_state):
                    st["step"] += 1
                    g = apply_weight_decay(p, g, lr, weight_decay)
                    square_avg = st["square_avg"]
                    square_avg.mul_(alpha).add_(g * g, alpha=1 - alpha)
                    if centered:
                        grad_avg = st["grad_avg"]
                        grad_avg.mul_(alpha).add_(g, alpha=1 - alpha)
                        avg = (square_avg - grad_avg * grad_avg).sqrt()
                    else:
                        avg = square_avg.sqrt()
                    avg.add_(eps)
                    if not compiled:
                        if momentum > 0:
                            buf = st["momentum_buffer"]
                            buf.mul_(momentum).add_(g / avg)
                            p.add_(buf, alpha=-lr)
                        else:
                            p.add_(g / avg, alpha=-lr)
                        continue
                    # recorded: lr and the momentum as 0-d tensors (whether the momentum is zero is a guard)
                    assert scalars is not None
                    if momentum > 0:
                        buf = st["momentum_buffer"]
                        buf.mul_(scalars.nonzero_option(gi, group, "momentum", p).to(buf)).add_(g / avg)
                    else:
                        buf = g / avg
                    p.add_(buf * scalars.negated_option(group, "lr", buf, cast=True))
        return loss
