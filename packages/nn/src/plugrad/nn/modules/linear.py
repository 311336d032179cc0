"""``Linear``, ``Identity``, ``Flatten``."""

from __future__ import annotations

import math
from typing import Any

import plugrad
from plugrad import Tensor

from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Linear", "Identity", "Flatten"]


class Linear(Module):
    """Affine map ``y = x W^T + b``.

    :param in_features: size of each input sample (last dimension).
    :param out_features: size of each output sample.
    :param bias: whether to learn an additive bias ``b``.

    Shapes: input ``(*, in_features)``, output ``(*, out_features)``.
    ``weight`` is ``(out_features, in_features)``, initialised as PyTorch does with
    ``kaiming_uniform_(a=sqrt(5))``, that is ``U(-1/sqrt(in_features), 1/sqrt(in_features))``;
    ``bias`` is ``(out_features,)`` from the same distribution.
    """

    in_features: int
    out_features: int
    weight: Parameter

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Linear(): {name} must be a non-negative int, got {value!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(plugrad.empty(out_features, in_features, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(plugrad.empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw new initial values (``kaiming_uniform_(a=sqrt(5))``, bias ``U(+-1/sqrt(fan_in))``)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        """``y = x W^T + b`` over the last dimension: ``(*, in_features) -> (*, out_features)``."""
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input unchanged (a placeholder; any constructor arguments are ignored)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        """Return ``input`` itself (the same tensor object)."""
        return input


class Flatten(Module):
    """Flatten dimensions ``start_dim`` to ``end_dim`` into one: ``(N, C, H, W) -> (N, C*H*W)`` by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        """``input.flatten(start_dim, end_dim)``: e.g. ``(N, C, H, W) -> (N, C*H*W)`` with the defaults."""
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
