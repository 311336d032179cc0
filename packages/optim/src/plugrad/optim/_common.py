"""Pieces shared by the adaptive optimizers (Adam, Adamax, NAdam, RAdam, RMSprop, Adagrad).

Each optimizer keeps its own update rule in its own module; what lives here is the
bookkeeping around it: argument checks, per-parameter state creation, the step counter
and the L2 / decoupled weight decay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import plugrad

if TYPE_CHECKING:
    from plugrad import Tensor

    from .optimizer import Optimizer


def check_adam_args(lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    """Check the arguments of the Adam family with PyTorch's messages (``ValueError``)."""
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def params_with_grads(
    optimizer: Optimizer, group: dict[str, Any], init_state: Callable[[Tensor, dict[str, Any], dict[str, Any]], None]
) -> Iterator[tuple[Tensor, Tensor, dict[str, Any]]]:
    """Yield ``(p, g, state)`` for each parameter of ``group`` that has a gradient.

    A parameter's empty state gets ``step`` (a float32 scalar tensor, as PyTorch keeps it)
    and then whatever ``init_state(p, state, group)`` adds. ``g`` is ``-p.grad`` when the group
    maximizes.
    """
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        st = optimizer.state[p]
        if not st:
            st["step"] = plugrad.tensor(0.0, dtype=plugrad.float32)
            init_state(p, st, group)
        if group["maximize"]:
            g = -g
        yield p, g, st


def advance_step(state: dict[str, Any]) -> float:
    """Add one to the state's ``step`` tensor (in place) and return the new count."""
    step_t = state["step"]
    step_t += 1
    return step_t.item()


def apply_weight_decay(p: Tensor, g: Tensor, lr: float, weight_decay: float, decoupled: bool = False) -> Tensor:
    """Weight decay: ``g + weight_decay * p`` (L2), or with ``decoupled`` shrink ``p`` in
    place, ``p = p * (1 - lr * weight_decay)``, and return ``g`` unchanged."""
    if weight_decay != 0:
        if decoupled:
            p.mul_(1 - lr * weight_decay)
        else:
            g = g.add(p, alpha=weight_decay)
    return g
