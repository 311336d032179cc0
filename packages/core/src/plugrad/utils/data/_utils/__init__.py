"""PyTorch's private module path ``torch.utils.data._utils``, kept for programs that import from it.

``_utils.collate`` (``collate``, ``default_collate``, ``default_collate_fn_map``,
``default_convert``, the per-type ``collate_*_fn``) and ``_utils.worker``
(``get_worker_info``, ``WorkerInfo``) name the same objects as ``plugrad.utils.data``.
"""

from __future__ import annotations

from . import collate, worker

__all__ = ["collate", "worker"]
