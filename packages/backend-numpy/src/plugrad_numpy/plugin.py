"""Entry point ``numpy`` in the ``plugrad`` group: registers the NumPy backend."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from plugrad.plugins import CONTRACT_VERSION, BackendSpec, hookimpl

from .kernels import DTYPES, KERNELS

# NumPy warns about floating-point events (log(0), 0/0, overflow); PyTorch returns
# inf/nan silently. Silence these warnings for calls made by plugrad's own modules
# only: the user's direct NumPy calls keep NumPy's behaviour, and no per-call
# ``np.errstate`` (about 1 µs) sits on the hot path.
warnings.filterwarnings(
    "ignore", message=r".*encountered in", category=RuntimeWarning, module=r"plugrad(_numpy)?(\.|$)"
)


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
