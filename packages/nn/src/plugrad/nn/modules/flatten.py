"""``Flatten`` and ``Unflatten`` (PyTorch's ``torch.nn.modules.flatten``)."""

from __future__ import annotations

from typing import Any

from plugrad import Tensor

from .linear import Flatten
from .module import Module

__all__ = ["Flatten", "Unflatten"]


class Unflatten(Module):
    """Expand dimension ``dim`` into ``unflattened_size``: ``(N, 10) -> (N, 2, 5)`` with
    ``Unflatten(1, (2, 5))``; one entry of ``unflattened_size`` may be ``-1``."""

    def __init__(self, dim: int | str, unflattened_size: Any) -> None:
        super().__init__()
        if isinstance(dim, str):
            raise NotImplementedError("Unflatten: named dimensions are not supported by plugrad")
        if not isinstance(unflattened_size, (tuple, list)) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in unflattened_size
        ):
            raise TypeError(f"unflattened_size must be tuple of ints, but found type {type(unflattened_size).__name__}")
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size) if isinstance(unflattened_size, list) else unflattened_size

    def forward(self, input: Tensor) -> Tensor:
        """``input.unflatten(dim, unflattened_size)``: dimension ``dim`` split into ``unflattened_size``."""
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
