"""Entry point ``arraystrict`` of group ``plugrad``: the array-api-strict backend.

array-api-strict implements exactly the Python array API standard, so the kernel table
comes from ``plugrad.backends.array_api.kernels_from_namespace``; this module only says
what the backend is (name, device type, dtypes, capabilities, contract version) and
reports itself unavailable, with the reason, when array-api-strict is missing.
"""

from __future__ import annotations

from collections.abc import Sequence

from plugrad.backends.array_api import dtypes_from_namespace, kernels_from_namespace
from plugrad.plugins import CONTRACT_VERSION, BackendSpec, hookimpl

NAME = "arraystrict"


def _to_numpy(x: object) -> object:
    """The optional ``to_numpy`` kernel: array-api-strict arrays are NumPy's underneath (it depends on NumPy)."""
    import numpy as np

    return np.from_dlpack(x)


@hookimpl
def plugrad_backends() -> Sequence[BackendSpec]:
    try:
        import array_api_strict as xp
    except ImportError as exc:
        return [
            BackendSpec(NAME, "cpu", CONTRACT_VERSION, unavailable_reason=f"array-api-strict not installed ({exc})")
        ]
    return [
        BackendSpec(
            name=NAME,
            device_type="cpu",
            contract_version=CONTRACT_VERSION,
            kernels=kernels_from_namespace(xp, to_numpy=_to_numpy),
            dtypes=dtypes_from_namespace(xp),  # no float16 in array-api-strict
            array_types=(type(xp.asarray(0)),),
            capabilities=frozenset({"dlpack", "views"}),
            priority=0,  # below plugrad-backend-numpy: "cpu" keeps meaning numpy when both are installed
            version=f"array-api-strict {xp.__version__}",
        )
    ]
