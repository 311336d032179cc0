"""plugrad.distributed: ``torch.distributed``'s API over communication backends that are plugins.

::

    import plugrad.distributed as dist

    dist.init_process_group(backend="mpi")  # under `mpiexec -n 4 python train.py`
    t = plugrad.ones(3) * dist.get_rank()
    dist.all_reduce(t)  # in place, on every rank

Backends: ``"mpi"`` (this package, ``pip install plugrad-distributed[mpi]``), ``"nccl"``
(plugrad-backend-cupy, GPUs), or any plugin's (``plugrad_process_group_backends`` hook).
The package imports without MPI; asking for a process group says what to install.
See ``docs/distributed.md``.
"""

from __future__ import annotations

from . import _api, _backend
from ._api import *  # noqa: F403
from ._api import default_pg_timeout as default_pg_timeout
from ._backend import *  # noqa: F403

# The names come from the modules that define them (their ``__all__``), sorted.
__all__ = ["default_pg_timeout"]
__all__ += _api.__all__
__all__ += _backend.__all__
__all__.sort()
