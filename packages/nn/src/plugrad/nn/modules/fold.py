"""``Fold`` and ``Unfold`` (PyTorch's ``torch.nn.modules.fold``): col2im and im2col as layers."""

from __future__ import annotations

from typing import Any

from plugrad import Tensor

from .. import _functional_conv as FC
from .module import Module

__all__ = ["Fold", "Unfold"]


class Fold(Module):
    """Sum sliding blocks ``(N, C*prod(kernel_size), L)`` into an image ``(N, C, *output_size)``
    (col2im; overlapping values add up). The adjoint of :class:`Unfold`."""

    def __init__(
        self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
    ) -> None:
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        """Sum blocks ``(N, C*prod(kernel_size), L)`` back into an image ``(N, C, *output_size)`` (col2im)."""
        return FC.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )


class Unfold(Module):
    """Extract sliding blocks: ``(N, C, H, W) -> (N, C*prod(kernel_size), L)`` (im2col)."""

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        """Extract sliding blocks ``(N, C, H, W) -> (N, C*prod(kernel_size), L)``, ``L`` the number of blocks (im2col)."""
        return FC.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, stride={self.stride}"
