"""``plugrad.compile``: a placeholder that returns its input until a compiler plugin takes over.

PyTorch programs call ``model = torch.compile(model)``. Until plugrad's compilers are in
place, :func:`compile` gives back the function or module unchanged (so the program runs,
eagerly) and says so once per process.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["compile"]

_noted = False


def compile(
    model: Callable[..., Any] | None = None,
    *,
    fullgraph: bool = False,
    dynamic: bool | None = None,
    backend: str | Callable[..., Any] = "inductor",
    mode: str | None = None,
    options: dict[str, Any] | None = None,
    disable: bool = False,
) -> Any:
    """Return ``model`` unchanged (or, without ``model``, a decorator that does), noting once that nothing was compiled."""
    global _noted
    if model is None:

        def decorator(fn: Callable[..., Any]) -> Any:
            return compile(
                fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode, options=options, disable=disable
            )

        return decorator
    if not callable(model):
        raise RuntimeError(f"compile(): expected a callable or an nn.Module, got {type(model).__name__}")
    if not disable and not _noted:
        _noted = True
        warnings.warn(
            "plugrad.compile: compilation is not available yet in this plugrad; the model runs eagerly, unchanged",
            UserWarning,
            stacklevel=2,
        )
    return model
