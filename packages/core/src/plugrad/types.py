"""``plugrad.types``: the type aliases PyTorch programs import from ``torch.types``."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from ._device import device as _device_cls
from ._dtype import dtype as _dtype_cls
from ._size import Size
from ._tensor import Tensor

__all__ = [
    "Device",
    "Number",
    "_TensorOrTensors",
    "_bool",
    "_complex",
    "_device",
    "_dtype",
    "_float",
    "_int",
    "_size",
]

_int = builtins.int
_float = builtins.float
_bool = builtins.bool
_complex = builtins.complex
_dtype = _dtype_cls
_device = _device_cls
_size = Size | list[builtins.int] | tuple[builtins.int, ...]
_TensorOrTensors = Tensor | Sequence[Tensor]

#: A Python number a tensor op accepts as a scalar.
Number = builtins.int | builtins.float | builtins.bool
#: Anything that names a device: a :class:`plugrad.device`, a string, an index, or ``None``.
Device = _device_cls | builtins.str | builtins.int | None
