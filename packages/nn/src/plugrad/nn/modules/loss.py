"""Loss modules: each stores its options and calls the function of the same name in
:mod:`plugrad.nn.functional`. ``reduction`` is ``"mean"`` (default), ``"sum"`` or ``"none"``."""

from __future__ import annotations

from plugrad import Tensor

from .. import functional as F
from .module import Module

__all__ = [
    "MSELoss",
    "L1Loss",
    "HuberLoss",
    "SmoothL1Loss",
    "CrossEntropyLoss",
    "NLLLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
]


class _Loss(Module):
    reduction: str

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            self.reduction = F.legacy_get_string(size_average, reduce)
        else:
            self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.weight: Tensor | None


class MSELoss(_Loss):
    """Mean squared error: ``l_i = (x_i - y_i)^2``, then the mean (or sum, or none)."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """``(input - target)^2`` elementwise, then reduced by ``reduction`` (``'mean'``, ``'sum'`` or ``'none'``)."""
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error: ``l_i = |x_i - y_i|``."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """``|input - target|`` elementwise, then reduced by ``reduction`` (``'mean'``, ``'sum'`` or ``'none'``)."""
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, with ``d = x - y``."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """``0.5 d^2`` if ``|d| < delta`` else ``delta (|d| - 0.5 delta)``, ``d = input - target``; then ``reduction``."""
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``."""

    def __init__(
        self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean", beta: float = 1.0
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """``0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``, ``d = input - target``; then ``reduction``."""
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class NLLLoss(_WeightedLoss):
    """Negative log likelihood of class indices: ``l_i = -weight[t_i] * input[i, t_i]`` (input: log-probabilities)."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """``-weight[t] * input[n, t]`` for log-probabilities ``(N, C, *)`` and indices ``t = target[n]``; then
        ``reduction`` (``'mean'`` divides by the summed weights of the targets not ignored).
        """
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Cross entropy of logits and class indices or class probabilities (``log_softmax`` + ``nll_loss``)."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        ignore_index: int = -100,
        reduce: bool | None = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """``nll_loss(log_softmax(input, 1), target)`` for logits ``(N, C, *)`` or ``(C,)`` and class indices
        (or class probabilities of ``input``'s shape), with ``weight``, ``ignore_index`` and ``label_smoothing``.
        """
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class BCELoss(_WeightedLoss):
    """Binary cross entropy of probabilities: ``l_i = -w_i (y_i log x_i + (1 - y_i) log(1 - x_i))``."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """``-w (y log x + (1 - y) log(1 - x))`` for probabilities ``x = input`` and ``y = target`` (logs clamped
        at -100); then ``reduction``.
        """
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross entropy in one numerically stable step (``pos_weight`` weighs positives)."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        pos_weight: Tensor | None = None,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.weight: Tensor | None
        self.pos_weight: Tensor | None

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """``-w (p y log s(x) + (1 - y) log(1 - s(x)))`` with ``s`` the sigmoid and ``p = pos_weight``, computed
        stably from the logits ``x = input``; then ``reduction``.
        """
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, pos_weight=self.pos_weight, reduction=self.reduction
        )
