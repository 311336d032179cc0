"""Core's own compiler plugin: ``"replay"`` (see :mod:`plugrad._compile._replay`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..backends.hookspecs import hookimpl


@hookimpl
def plugrad_compilers() -> Sequence[Any]:
    from ..compiler import CompilerSpec
    from ._replay import compile_program

    return [
        CompilerSpec(
            name="replay",
            compile=compile_program,
            description="straight-line Python over the recorded kernel calls, dead values freed (any backend)",
        )
    ]
