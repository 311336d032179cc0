"""``torch.utils.data._utils.worker``'s public names (see ``plugrad.utils.data._worker``)."""

from __future__ import annotations

from .._worker import WorkerInfo, get_worker_info

__all__ = ["WorkerInfo", "get_worker_info"]
