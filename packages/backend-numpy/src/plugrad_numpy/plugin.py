"""Entry point ``numpy`` in the ``plugrad`` group: registers the NumPy backend."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from plugrad.backends import CONTRACT_VERSION, BackendSpec, hookimpl

from .kernels import DTYPES, KERNELS


@hookimpl
def plugrad_backends() -> Sequence[BackendSpec]:
    return [
        BackendSpec(
            name="numpy",
            device_type="cpu",
            contract_version=CONTRACT_VERSION,
            kernels=KERNELS,
            dtypes=DTYPES,
            array_types=(np.ndarray,),
            capabilities=frozenset({"dlpack", "views", "float16", "float64", "shares_memory_with_numpy"}),
            priority=10,
            version=np.__version__,
        )
    ]
