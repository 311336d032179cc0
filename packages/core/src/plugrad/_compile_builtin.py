"""Core's own compiler plugin: ``"replay"`` (see :mod:`plugrad._compile._replay`).

It sits outside :mod:`plugrad._compile` so the registry can load it without the recorder
(which needs ``Tensor``; the registry stays below the op layer)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .backends.hookspecs import hookimpl


@hookimpl
def plugrad_compilers() -> Sequence[Any]:
    from ._compile._replay import compile_program
    from ._compile.program import CompilerSpec

    return [
        CompilerSpec(
            name="replay",
            compile=compile_program,
            description="straight-line Python over the recorded kernel calls, dead values freed (any backend)",
        )
    ]
