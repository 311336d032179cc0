"""Convolution layers: ``Conv1d``, ``Conv2d``, ``ConvTranspose2d`` (PyTorch's ``torch.nn.modules.conv``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plugrad
from plugrad import Tensor

from .. import _functional_conv as FC
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Conv1d", "Conv2d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value: Any, n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    if isinstance(value, int):
        return (value,) * n
    items = tuple(value)
    if len(items) == 1 and n > 1:
        items = items * n
    if len(items) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    return items


class _ConvNd(Module):
    """Shared constructor, initialisation and repr of the convolution layers.

    ``weight``: ``(out_channels, in_channels/groups, *kernel_size)`` (transposed:
    ``(in_channels, out_channels/groups, *kernel_size)``), initialised with
    ``kaiming_uniform_(a=sqrt(5))``, i.e. ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with
    ``fan_in = weight.size(1) * prod(kernel_size)``; ``bias`` ``(out_channels,)`` from the same bound.
    """

    _nd = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        dilation: Any,
        transposed: bool,
        output_padding: Any,
        groups: int,
        bias: bool,
        padding_mode: str,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        nd = self._nd
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{type(self).__name__}(): {name} must be a positive int, got {value!r}")
        if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        kernel = _ntuple(kernel_size, nd, "kernel_size")
        strides = _ntuple(stride, nd, "stride")
        dilations = _ntuple(dilation, nd, "dilation")
        if min(kernel) <= 0:
            raise ValueError(f"kernel_size must be positive, got {kernel}")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in strides):
                raise ValueError("padding='same' is not supported for strided convolutions")
            pads: Any = padding
        else:
            pads = _ntuple(padding, nd, "padding")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                "padding_mode must be one of {'zeros', 'reflect', 'replicate', 'circular'}, but got "
                f"padding_mode='{padding_mode}'"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel
        self.stride = strides
        self.padding = pads
        self.dilation = dilations
        self.transposed = transposed
        self.output_padding = _ntuple(output_padding, nd, "output_padding")
        self.groups = groups
        self.padding_mode = padding_mode
        # F.pad amounts for padding_mode != 'zeros': last dim first, (left, right) each
        if isinstance(pads, str):
            amounts: list[int] = [0, 0] * nd
            if pads == "same":
                for d, k, i in zip(dilations, kernel, range(nd - 1, -1, -1), strict=True):
                    total = d * (k - 1)
                    left = total // 2
                    amounts[2 * i] = left
                    amounts[2 * i + 1] = total - left
            self._reversed_padding_repeated_twice = amounts
        else:
            self._reversed_padding_repeated_twice = [p for p in reversed(pads) for _ in range(2)]
        if transposed:
            shape = (in_channels, out_channels // groups, *kernel)
        else:
            shape = (out_channels, in_channels // groups, *kernel)
        self.weight = Parameter(plugrad.empty(*shape, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(plugrad.empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``kaiming_uniform_(weight, a=sqrt(5))``; bias ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        nd = len(self.kernel_size)
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        fn = FC.conv1d if self._nd == 1 else FC.conv2d
        if self.padding_mode != "zeros":
            padded = plugrad.nn.functional.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return fn(padded, weight, bias, self.stride, 0, self.dilation, self.groups)
        return fn(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(input, self.weight, self.bias)


class _Conv(_ConvNd):
    """The (non-transposed) convolutions' constructor, with PyTorch's ``Conv1d``/``Conv2d`` signature."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            False,
            0,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )


class Conv1d(_Conv):
    """1-D convolution over ``(N, C_in, L)``: ``out[n, o] = bias[o] + sum_c weight[o, c] * input[n, c]``
    (cross-correlation ``*``). Output length ``floor((L + 2p - d(k-1) - 1) / s) + 1``.

    ``padding``: int, 1-tuple, ``'valid'`` or ``'same'``; ``padding_mode``: ``'zeros'``, ``'reflect'``,
    ``'replicate'`` or ``'circular'``.
    """

    _nd = 1


class Conv2d(_Conv):
    """2-D convolution over ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``):
    ``out[n, o] = bias[o] + sum_c weight[o, c] * input[n, c]`` (``*`` is 2-D cross-correlation).

    ``H_out = floor((H + 2*padding[0] - dilation[0]*(kernel_size[0]-1) - 1) / stride[0]) + 1`` (same for W).
    ``padding``: int, pair, ``'valid'`` or ``'same'``; ``padding_mode``: ``'zeros'``, ``'reflect'``,
    ``'replicate'`` or ``'circular'``; ``groups`` splits the channels into independent convolutions.
    """


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution (the gradient of :class:`Conv2d` with respect to its input).

    ``H_out = (H - 1)*stride[0] - 2*padding[0] + dilation[0]*(kernel_size[0]-1) + output_padding[0] + 1``;
    ``forward(input, output_size=None)`` may name the wanted output size instead of ``output_padding``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of ints, got {padding!r}")
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            True,
            output_padding,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def _output_padding(self, input: Tensor, output_size: Sequence[int] | None) -> tuple[int, ...]:
        if output_size is None:
            return self.output_padding
        size = list(output_size)[-2:]
        if len(size) != 2:
            raise ValueError(
                f"ConvTranspose2D: for {input.ndim}D input, output_size must have 2 or 4 elements (got "
                f"{len(list(output_size))})"
            )
        pads = []
        for i in range(2):
            minimum = (
                (input.shape[-2 + i] - 1) * self.stride[i]
                - 2 * self.padding[i]
                + self.dilation[i] * (self.kernel_size[i] - 1)
                + 1
            )
            maximum = minimum + self.stride[i] - 1
            if not minimum <= size[i] <= maximum:
                raise ValueError(
                    f"requested an output size of {size}, but valid sizes range from {minimum} to {maximum} "
                    f"(for an input of {list(input.shape[-2:])})"
                )
            pads.append(size[i] - minimum)
        return tuple(pads)

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:  # type: ignore[override]
        """Transposed convolution ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)`` with
        ``H_out = (H - 1) stride - 2 padding + dilation (kernel - 1) + output_padding + 1``; ``output_size`` picks output_padding.
        """
        op = self._output_padding(input, output_size)
        return FC.conv_transpose2d(
            input, self.weight, self.bias, self.stride, self.padding, op, self.groups, self.dilation
        )
