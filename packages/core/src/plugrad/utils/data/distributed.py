"""``DistributedSampler``: each of ``num_replicas`` processes loads its own share of a dataset."""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterator
from typing import Any, TypeVar

import plugrad

from .sampler import Sampler

__all__ = ["DistributedSampler"]

T_co = TypeVar("T_co", covariant=True)


def _process_group() -> Any:
    """``plugrad.distributed`` when it is installed, available and initialised; errors as PyTorch's otherwise."""
    try:
        dist = importlib.import_module("plugrad.distributed")
    except ImportError:
        raise RuntimeError(
            "Requires distributed package to be available (install plugrad-distributed, "
            "or pass num_replicas and rank explicitly)"
        ) from None
    is_available = getattr(dist, "is_available", None)
    if is_available is None or not is_available():
        raise RuntimeError("Requires distributed package to be available")
    if not dist.is_initialized():
        raise ValueError("Default process group has not been initialized, please make sure to call init_process_group.")
    return dist


class DistributedSampler(Sampler[T_co]):
    """The indices of ``dataset`` that replica ``rank`` of ``num_replicas`` loads.

    All replicas build the same list: ``range(len(dataset))``, shuffled with the seed
    ``seed + epoch`` when ``shuffle``; then, without ``drop_last``, padded to a multiple
    of ``num_replicas`` by repeating its beginning (as often as needed), or with
    ``drop_last`` cut to the largest such multiple. Replica ``rank`` takes every
    ``num_replicas``-th index from position ``rank``, so each gets ``num_samples``
    indices and together they cover the dataset. Call :meth:`set_epoch` before each
    epoch for a new order; ``seed`` must be the same in every process.

    ``num_replicas`` and ``rank`` default to the world size and rank of the initialised
    ``plugrad.distributed`` process group.
    """

    def __init__(
        self,
        dataset: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None:
            num_replicas = int(_process_group().get_world_size())
        if rank is None:
            rank = int(_process_group().get_rank())
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or num_replicas <= 0:
            raise ValueError(f"num_replicas should be a positive integer value, but got num_replicas={num_replicas}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[T_co]:
        n = len(self.dataset)
        if self.shuffle:
            gen = plugrad.Generator().manual_seed(self.seed + self.epoch)
            indices: list[Any] = plugrad.randperm(n, generator=gen).tolist()
        else:
            indices = list(range(n))
        if self.drop_last:
            indices = indices[: self.total_size]
        else:
            pad = self.total_size - len(indices)
            if pad > 0 and not indices:
                raise ValueError("DistributedSampler: cannot pad an empty dataset to give every replica a sample")
            indices += (indices * math.ceil(pad / max(len(indices), 1)))[:pad]
        mine = indices[self.rank : self.total_size : self.num_replicas]
        return iter(mine)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order the next pass gives (with ``shuffle``: seed ``seed + epoch``)."""
        self.epoch = epoch
