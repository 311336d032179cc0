"""``plugrad.nn.utils.parametrize``: a tensor of a module computed from others, as ``torch.nn.utils.parametrize``.

``register_parametrization(module, "weight", P)`` moves ``module.weight`` to
``module.parametrizations.weight.original`` and makes ``module.weight`` a property that
returns ``P(original)`` (a chain ``Pn(...P1(original))`` when several are registered).
Assigning ``module.weight = value`` stores ``right_inverse(value)`` in ``original`` when the
parametrizations define ``right_inverse``. Inside ``with cached():`` each parametrized
tensor is computed once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import plugrad
from plugrad import Tensor

from ..modules.container import ModuleDict, ModuleList
from ..modules.module import Module
from ..parameter import Parameter

__all__ = [
    "ParametrizationList",
    "cached",
    "is_parametrized",
    "register_parametrization",
    "remove_parametrizations",
    "type_before_parametrizations",
]

_cache_enabled = 0
_cache: dict[tuple[int, str], Tensor] = {}


@contextmanager
def cached() -> Iterator[None]:
    """Compute each parametrized tensor at most once inside the block (for weights reused many times)."""
    global _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache.clear()


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor and its unparametrized ``original``."""

    def __init__(self, modules: list[Module], original: Tensor, unsafe: bool = False) -> None:
        super().__init__(modules)
        self.unsafe = unsafe
        with plugrad.no_grad():
            new = original
            for m in reversed(modules):
                if hasattr(m, "right_inverse"):
                    new = m.right_inverse(new)
        if isinstance(original, Parameter):
            self.original = Parameter(new.detach(), original.requires_grad)
        else:
            self.register_buffer("original", new.detach())

    def right_inverse(self, value: Tensor) -> None:
        """Set ``original`` so that the chain gives ``value`` (through each ``right_inverse``)."""
        with plugrad.no_grad():
            for m in reversed(list(self)):
                if not hasattr(m, "right_inverse"):
                    raise RuntimeError(f"parametrization {type(m).__name__} does not implement right_inverse.")
                value = m.right_inverse(value)
            if not self.unsafe and tuple(value.shape) != tuple(self.original.shape):
                raise ValueError(
                    f"right_inverse returned a tensor of shape {tuple(value.shape)}, expected "
                    f"{tuple(self.original.shape)}"
                )
            self.original.copy_(value)

    def forward(self) -> Tensor:
        """The parametrized tensor: ``original`` passed through each parametrization in order."""
        x = self.original
        for m in self:
            x = m(x)
        return x


def _property(name: str) -> property:
    def get(self: Module) -> Tensor:
        plist = self.parametrizations[name]
        if _cache_enabled:
            key = (id(plist), name)
            found = _cache.get(key)
            if found is None:
                found = _cache[key] = plist()
            return found
        return plist()  # type: ignore[no-any-return]

    def set_(self: Module, value: Tensor) -> None:
        self.parametrizations[name].right_inverse(value)

    return property(get, set_, doc=f"The parametrized tensor {name!r}.")


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` has a parametrization (on ``tensor_name``, when given)."""
    plists = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(plists, ModuleDict):
        return False
    return tensor_name is None or tensor_name in plists


def type_before_parametrizations(module: Module) -> type:
    """The module's class before parametrizations swapped it for a subclass."""
    return module.__class__.__dict__.get("_plugrad_original_class", type(module))  # type: ignore[no-any-return]


def register_parametrization(
    module: Module, tensor_name: str, parametrization: Module, *, unsafe: bool = False
) -> Module:
    """Make ``module.<tensor_name>`` be ``parametrization(original)``; returns ``module``.

    Without ``unsafe``, the parametrization must keep the tensor's shape and dtype.
    """
    if not isinstance(parametrization, Module):
        raise TypeError(f"parametrization must be an nn.Module, got {type(parametrization).__name__}")
    if is_parametrized(module, tensor_name):
        plist = module.parametrizations[tensor_name]
        current = plist()
        if not unsafe:
            out = parametrization(current)
            if tuple(out.shape) != tuple(current.shape) or out.dtype is not current.dtype:
                raise ValueError(
                    "Registering a parametrization may not change the shape or dtype of the tensor, unless "
                    f"`unsafe` flag is enabled. Expected {tuple(current.shape)}, {current.dtype}; got "
                    f"{tuple(out.shape)}, {out.dtype}"
                )
        plist.append(parametrization)
        return module
    if tensor_name not in module._parameters and tensor_name not in module._buffers:
        raise ValueError(
            f"Module '{module}' does not have a parameter, a buffer, or a parametrized element with name '{tensor_name}'"
        )
    original = getattr(module, tensor_name)
    if not unsafe:
        out = parametrization(original)
        if not isinstance(out, Tensor):
            raise ValueError(f"A parametrization must return a tensor. Got {type(out).__name__}.")
        if tuple(out.shape) != tuple(original.shape) or out.dtype is not original.dtype:
            raise ValueError(
                "Registering a parametrization may not change the shape or dtype of the tensor, unless `unsafe` "
                f"flag is enabled. Expected {tuple(original.shape)}, {original.dtype}; got {tuple(out.shape)}, "
                f"{out.dtype}"
            )
    delattr(module, tensor_name)
    plist = ParametrizationList([parametrization], original, unsafe=unsafe)
    if not is_parametrized(module):
        cls = type(module)
        subclass = type(f"Parametrized{cls.__name__}", (cls,), {"_plugrad_original_class": cls})
        module.__class__ = subclass
        module.parametrizations = ModuleDict()
    module.parametrizations[tensor_name] = plist
    setattr(type(module), tensor_name, _property(tensor_name))
    return module


def remove_parametrizations(module: Module, tensor_name: str, leave_parametrized: bool = True) -> Module:
    """Undo :func:`register_parametrization` on ``tensor_name``.

    The tensor becomes a plain parameter (or buffer) again holding the parametrized value
    (``leave_parametrized=True``) or the original one.
    """
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    plist: Any = module.parametrizations[tensor_name]
    original = plist.original
    with plugrad.no_grad():
        value = plist() if leave_parametrized else original
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    if isinstance(original, Parameter):
        module.register_parameter(tensor_name, Parameter(value.detach(), original.requires_grad))
    else:
        module.register_buffer(tensor_name, value.detach())
    if not module.parametrizations._modules:
        del module.parametrizations
        module.__class__ = type_before_parametrizations(module)
    return module
