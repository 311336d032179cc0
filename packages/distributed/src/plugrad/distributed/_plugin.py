"""The entry point of plugrad-distributed (group ``plugrad``): offers the ``"mpi"`` backend.

Importing it is cheap: mpi4py (which starts MPI) is imported only when a process group
is created.
"""

from __future__ import annotations

from collections.abc import Sequence

from plugrad.plugins import hookimpl

from ._backend import ProcessGroupBackendSpec


@hookimpl
def plugrad_process_group_backends() -> Sequence[ProcessGroupBackendSpec]:
    """The ``"mpi"`` communication backend (unavailable, with the install hint, without mpi4py)."""
    from . import _mpi

    return [_mpi.spec()]
