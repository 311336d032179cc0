"""``Parameter``: a tensor that a :class:`~plugrad.nn.Module` registers as a learnable weight."""

from __future__ import annotations

from typing import Any

import plugrad
from plugrad import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A tensor that is a module parameter.

    Assigned as an attribute of a :class:`~plugrad.nn.Module`, it is registered in the
    module's parameters (``parameters()``, ``state_dict()``). ``Parameter(data)`` shares
    ``data``'s values (no copy) and is a leaf with ``requires_grad=True`` unless
    ``requires_grad=False`` is given. ``Parameter()`` is an empty float tensor.
    """

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            data = plugrad.empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): argument 'data' (position 1) must be Tensor, not {type(data).__name__}")
        p = cls._make(data._data, data._dtype, data._backend)  # type: ignore[call-arg]
        if requires_grad:
            p.requires_grad_(True)
        return p  # type: ignore[return-value]

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]  # type: ignore[no-any-return]
        with plugrad.no_grad():
            result = Parameter(self.detach().clone(), self.requires_grad)
        if self.grad is not None:
            result.grad = self.grad.detach().clone()
        memo[id(self)] = result
        return result
