"""``plugrad.compile(module)``: the module's compiled stand-in, as ``torch.compile`` returns one.

:class:`OptimizedModule` holds the original module as its child ``_orig_mod`` (so its
``state_dict`` keys start with ``_orig_mod.``, as PyTorch's do, and ``parameters()`` are
the original's), calls the compiled ``_orig_mod(...)`` (forward hooks included) and hands
every other attribute to the original module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugrad import _compile

from .modules.module import Module

__all__ = ["OptimizedModule"]


class OptimizedModule(Module):
    """A module whose calls go through ``plugrad.compile`` (what ``plugrad.compile(module)`` returns)."""

    _orig_mod: Module

    def __init__(self, mod: Module, compile_fn: Callable[[Callable[..., Any]], Any]) -> None:
        super().__init__()
        self._orig_mod = mod
        object.__setattr__(self, "_compiled_call", compile_fn(mod.__call__))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiled_call(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_hooks or self._forward_pre_hooks:
            return self._call_with_hooks(args, kwargs)
        return self._compiled_call(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name == "_orig_mod":
            return self._modules["_orig_mod"]
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["_orig_mod"], name)


def _wrap(model: Any, compile_fn: Callable[[Callable[..., Any]], Any]) -> Module | None:
    if not isinstance(model, Module):
        return None
    return OptimizedModule(model, compile_fn)


_compile.module_wrapper[0] = _wrap
