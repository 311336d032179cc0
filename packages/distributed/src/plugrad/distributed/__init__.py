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

from ._api import (
    Backend,
    GroupMember,
    all_gather,
    all_gather_into_tensor,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object_list,
    default_pg_timeout,
    destroy_process_group,
    gather,
    gather_object,
    get_backend,
    get_global_rank,
    get_group_rank,
    get_process_group_ranks,
    get_rank,
    get_world_size,
    group,
    init_process_group,
    irecv,
    is_available,
    is_initialized,
    is_mpi_available,
    is_nccl_available,
    isend,
    new_group,
    recv,
    reduce,
    reduce_scatter_tensor,
    scatter,
    scatter_object_list,
    send,
)
from ._backend import (
    DistBackendError,
    DistError,
    ProcessGroup,
    ProcessGroupBackendSpec,
    ProcessGroupOptions,
    ReduceOp,
    Work,
)

__all__ = [
    "Backend",
    "DistBackendError",
    "DistError",
    "GroupMember",
    "ProcessGroup",
    "ProcessGroupBackendSpec",
    "ProcessGroupOptions",
    "ReduceOp",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_reduce",
    "barrier",
    "broadcast",
    "broadcast_object_list",
    "default_pg_timeout",
    "destroy_process_group",
    "gather",
    "gather_object",
    "get_backend",
    "get_global_rank",
    "get_group_rank",
    "get_process_group_ranks",
    "get_rank",
    "get_world_size",
    "group",
    "init_process_group",
    "irecv",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "is_nccl_available",
    "isend",
    "new_group",
    "recv",
    "reduce",
    "reduce_scatter_tensor",
    "scatter",
    "scatter_object_list",
    "send",
]
