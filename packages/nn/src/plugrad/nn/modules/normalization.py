"""``LayerNorm``, ``RMSNorm``, ``GroupNorm`` (PyTorch's ``torch.nn.modules.normalization``)."""

from __future__ import annotations

from typing import Any

import plugrad
from plugrad import Tensor

from .. import _functional_norm as FN
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["LayerNorm", "RMSNorm", "GroupNorm"]


def _shape(normalized_shape: Any) -> tuple[int, ...]:
    if isinstance(normalized_shape, int) and not isinstance(normalized_shape, bool):
        return (normalized_shape,)
    return tuple(normalized_shape)


def _register_affine(module: Module, shape: tuple[int, ...], affine: bool, bias: bool, device: Any, dtype: Any) -> None:
    """``module.weight`` and (unless ``bias=False``) ``module.bias`` of ``shape`` when ``affine``; the
    missing ones are registered as ``None``. Values are set by :func:`_reset_affine`."""
    if affine:
        module.weight = Parameter(plugrad.empty(*shape, device=device, dtype=dtype))
        if bias:
            module.bias = Parameter(plugrad.empty(*shape, device=device, dtype=dtype))
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def _reset_affine(module: Module, affine: bool) -> None:
    """``weight`` to ones and ``bias`` (if any) to zeros, when ``affine``."""
    if affine:
        init.ones_(module.weight)
        if module.bias is not None:
            init.zeros_(module.bias)


class LayerNorm(Module):
    """``y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias`` over the last ``len(normalized_shape)`` dims
    (biased variance). ``weight`` starts at ones and ``bias`` at zeros (``elementwise_affine``; ``bias=False``
    drops the bias)."""

    def __init__(
        self,
        normalized_shape: Any,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _register_affine(self, self.normalized_shape, elementwise_affine, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set ``weight`` to ones and ``bias`` to zeros (when ``elementwise_affine``)."""
        _reset_affine(self, self.elementwise_affine)

    def forward(self, input: Tensor) -> Tensor:
        """``(x - E[x]) / sqrt(Var[x] + eps) * weight + bias`` over the last ``len(normalized_shape)`` dims (biased var)."""
        return FN.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        # PyTorch 2.x's format (since 2.1 it names the bias)
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
            f"bias={self.bias is not None}"
        )


class RMSNorm(Module):
    """``y = x / sqrt(mean(x^2) + eps) * weight`` over the last ``len(normalized_shape)`` dims;
    ``eps=None`` takes the input dtype's machine epsilon. ``weight`` starts at ones."""

    def __init__(
        self,
        normalized_shape: Any,
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(plugrad.empty(*self.normalized_shape, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set ``weight`` to ones (when ``elementwise_affine``)."""
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        """``x / sqrt(mean(x^2) + eps) * weight`` over the last ``len(normalized_shape)`` dims."""
        return FN.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Normalise ``(N, C, *)`` over groups of ``C / num_groups`` channels (and all spatial positions) per
    sample, then ``* weight[c] + bias[c]`` (``affine``; ones and zeros initially; ``bias=False`` drops the bias)."""

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _register_affine(self, (num_channels,), affine, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set ``weight`` to ones and ``bias`` to zeros (when ``affine``)."""
        _reset_affine(self, self.affine)

    def forward(self, input: Tensor) -> Tensor:
        """``(x - E[x]) / sqrt(Var[x] + eps)`` per sample over each group of ``C / num_groups`` channels, then
        per-channel ``* weight + bias``: ``(N, C, *) -> (N, C, *)``.
        """
        return FN.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, bias={self.bias is not None}"
