"""Entry point ``cupy`` in the ``plugrad`` group: registers the CuPy backend (device type ``cuda``)
and the ``"cupy_fuse"`` compiler of ``plugrad.compile`` (elementwise fusion through ``cupy.fuse``).

Without CuPy, or without a usable CUDA device, both are still returned, with
``unavailable_reason`` set, so ``python -m plugrad info`` says why and nothing else breaks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plugrad.plugins import CONTRACT_VERSION, BackendSpec, hookimpl

NAME = "cupy"


def probe() -> tuple[Any, Any, str | None]:
    """``(cupy, cupyx, None)`` when CuPy runs here, else ``(None, None, reason)``."""
    try:
        import cupy as cp
        import cupyx
    except ImportError as exc:
        return None, None, f"cupy not installed ({exc}); pip install 'plugrad-backend-cupy[cuda12]'"
    except Exception as exc:  # a broken CUDA install raises all sorts at import
        return None, None, f"cupy failed to import: {type(exc).__name__}: {exc}"
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return None, None, f"no CUDA device: {type(exc).__name__}: {exc}"
    if count < 1:
        return None, None, "no CUDA device: the CUDA runtime reports 0 devices"
    try:
        (cp.arange(2) + 1).sum().item()  # the driver, the runtime and kernel compilation all work
    except Exception as exc:
        return None, None, f"no usable CUDA device: {type(exc).__name__}: {exc}"
    return cp, cupyx, None


@hookimpl
def plugrad_backends() -> Sequence[BackendSpec]:
    cp, cupyx, reason = probe()
    if reason is not None:
        return [BackendSpec(NAME, "cuda", CONTRACT_VERSION, unavailable_reason=reason)]
    from .kernels import make_dtypes, make_kernels

    return [
        BackendSpec(
            name=NAME,
            device_type="cuda",
            contract_version=CONTRACT_VERSION,
            kernels=make_kernels(cp, cupyx),
            dtypes=make_dtypes(cp),
            array_types=(cp.ndarray,),
            capabilities=frozenset({"dlpack", "views"}),
            priority=10,
            version=f"cupy {cp.__version__}",
        )
    ]


COMPILER_DESCRIPTION = "fuses runs of elementwise kernels (forward and backward) into one cupy.fuse kernel each"


@hookimpl
def plugrad_compilers() -> Sequence[Any]:
    from plugrad.compiler import CompilerSpec

    cp, _, reason = probe()
    if reason is not None:
        return [
            CompilerSpec(
                name="cupy_fuse", backends=(NAME,), description=COMPILER_DESCRIPTION, unavailable_reason=reason
            )
        ]
    from ._fusion import compile_program

    return [
        CompilerSpec(
            name="cupy_fuse",
            compile=compile_program,
            backends=(NAME,),
            version=getattr(cp, "__version__", "") or "",
            description=COMPILER_DESCRIPTION,
        )
    ]
