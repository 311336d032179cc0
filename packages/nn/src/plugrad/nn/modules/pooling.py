"""Pooling layers (PyTorch's ``torch.nn.modules.pooling``): max, average and adaptive average pooling."""

from __future__ import annotations

from typing import Any

from plugrad import Tensor

from .. import _functional_conv as FC
from .module import Module

__all__ = [
    "MaxPool1d",
    "MaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
]


class _MaxPoolNd(Module):
    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling over ``(N, C, L)``: ``out[n, c, l] = max_k input[n, c, l*stride + k*dilation - padding]``.

    ``stride`` defaults to ``kernel_size``; ``return_indices=True`` also returns the arg-max positions.
    """

    def forward(self, input: Tensor) -> Any:
        """Window maxima ``(N, C, L_in) -> (N, C, L_out)`` (and their flat indices when ``return_indices``)."""
        return FC.max_pool1d(
            input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices
        )


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling over ``(N, C, H, W)``:
    ``out[n, c, h, w] = max_{i, j} input[n, c, h*sh + i*dh - ph, w*sw + j*dw - pw]``.

    ``stride`` defaults to ``kernel_size``; padding is ``-inf`` and at most half the effective kernel;
    ``ceil_mode`` rounds the output size up; ``return_indices=True`` also returns the flat positions
    ``h * W + w`` of the maxima.
    """

    def forward(self, input: Tensor) -> Any:
        """Window maxima ``(N, C, H, W) -> (N, C, H_out, W_out)`` (and their flat indices when ``return_indices``)."""
        return FC.max_pool2d(
            input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices
        )


def _single(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


class AvgPool1d(Module):
    """1-D average pooling over ``(N, C, L)``; see :class:`AvgPool2d`."""

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, input: Tensor) -> Tensor:
        """Window means ``(N, C, L_in) -> (N, C, L_out)``; ``count_include_pad`` counts the zero padding in the divisor."""
        return FC.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class AvgPool2d(Module):
    """2-D average pooling: each output is the mean of a ``kernel_size`` window of the input.

    The divisor is ``divisor_override`` if set, else the window size clipped to the zero-padded input
    (``count_include_pad=True``) or to the input itself (``False``).
    """

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, input: Tensor) -> Tensor:
        """Window means ``(N, C, H, W) -> (N, C, H_out, W_out)``; divisor ``divisor_override`` when given."""
        return FC.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )


class _AdaptiveAvgPoolNd(Module):
    """Constructor and repr of the adaptive average poolings (``output_size`` is kept as given)."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average pooling of ``(N, C, L)`` to length ``output_size``: output ``i`` averages input
    ``floor(i*L/out) .. ceil((i+1)*L/out) - 1``."""

    def forward(self, input: Tensor) -> Tensor:
        """``(N, C, L) -> (N, C, output_size)``: output ``i`` averages ``input[floor(i L / out) : ceil((i+1) L / out)]``."""
        return FC.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average pooling of ``(N, C, H, W)`` to ``output_size`` (int or pair; ``None`` keeps that size)."""

    def forward(self, input: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, C, *output_size)``: each output averages its adaptive window, per dimension."""
        return FC.adaptive_avg_pool2d(input, self.output_size)
