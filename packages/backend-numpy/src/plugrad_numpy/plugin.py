"""Entry point ``numpy`` in the ``plugrad`` group: registers the NumPy backend."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from plugrad.plugins import CONTRACT_VERSION, BackendSpec, hookimpl

from ._random import random_generator
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
            kernels={**KERNELS, "random_generator": random_generator},
            dtypes=DTYPES,
            array_types=(np.ndarray,),
            capabilities=frozenset({"dlpack", "views", "shares_memory_with_numpy"}),  # dtypes: the DTYPES table
            priority=10,
            version=f"numpy {np.__version__}",  # "<library> <version>", as every backend reports it
        )
    ]
