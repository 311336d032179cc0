"""Entry point ``numba`` in the ``plugrad`` group: registers the ``"numba"`` compiler.

Importing this module is cheap (numba is imported by the hook, when plugrad first lists
its compilers); where numba cannot be imported the compiler is listed as unavailable,
with numba's error as the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plugrad.plugins import hookimpl

DESCRIPTION = "fuses chains of elementwise kernels (forward and backward) into numba-jitted loops, cached on disk"


@hookimpl
def plugrad_compilers() -> Sequence[Any]:
    from plugrad.compiler import CompilerSpec

    try:
        import numba
    except Exception as exc:  # not installed, or broken (a NumPy it does not support)
        return [
            CompilerSpec(
                name="numba",
                backends=("numpy",),
                description=DESCRIPTION,
                unavailable_reason=f"numba cannot be imported ({type(exc).__name__}: {exc})",
            )
        ]
    from ._compiler import compile_program

    return [
        CompilerSpec(
            name="numba",
            compile=compile_program,
            backends=("numpy",),
            version=numba.__version__,
            description=DESCRIPTION,
        )
    ]
