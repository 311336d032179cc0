"""``plugrad.nn.parallel``: :class:`DistributedDataParallel`.

Importing this package does not import ``plugrad.distributed`` (a separate
distribution, ``plugrad-distributed``); constructing a ``DistributedDataParallel`` does,
and says what to install when it is missing.
"""

from __future__ import annotations

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
