"""``plugrad.Size``: the shape of a tensor, a tuple that prints as PyTorch's does."""

from __future__ import annotations

from typing import Any, SupportsIndex, overload

__all__ = ["Size"]


class Size(tuple[int, ...]):
    """A tensor's shape: a tuple of ints, printed as ``plugrad.Size([2, 3])``."""

    __slots__ = ()

    def __new__(cls, sizes: Any = ()) -> Size:
        if type(sizes) is tuple:  # an array's shape: already a tuple of ints
            return tuple.__new__(cls, sizes)
        return tuple.__new__(cls, (int(s) for s in sizes))

    def __repr__(self) -> str:
        return f"plugrad.Size([{', '.join(str(s) for s in self)}])"

    __str__ = __repr__

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds."""
        n = 1
        for s in self:
            n *= s
        return n

    @overload
    def __getitem__(self, key: SupportsIndex) -> int: ...

    @overload
    def __getitem__(self, key: slice) -> Size: ...

    def __getitem__(self, key: SupportsIndex | slice) -> int | Size:
        if isinstance(key, slice):
            return Size(tuple.__getitem__(self, key))
        return tuple.__getitem__(self, key)

    def __add__(self, other: tuple[Any, ...]) -> Size:  # type: ignore[override,unused-ignore]
        return Size(tuple.__add__(self, tuple(other)))
