"""Fetchers: turn what the sampler yields into a batch, in the main process or in a worker.

A map-style fetch with automatic batching is ``collate_fn([dataset[i] for i in indices])``,
or ``collate_fn(dataset.__getitems__(indices))`` where the dataset has that method. When
``collate_fn`` is ``default_collate`` and the dataset is a plain :class:`TensorDataset`
(or a plain :class:`Subset` of one, at any depth), the batch is gathered directly: one
fancy-index per tensor, which gives what ``default_collate`` of the samples would give
(a list of the gathered tensors) without a tensor per sample.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any

from ._collate import default_collate
from .dataset import Subset, TensorDataset

__all__ = ["IterableDatasetFetcher", "MapDatasetFetcher", "gather_fn"]


def _int_indices(indices: Any) -> list[int] | None:
    """``indices`` as a list of Python ints (NumPy integers and one-element integer tensors
    convert through ``__index__``), or ``None`` where one is something else (a float, a
    bool, a slice, a key), which the general path handles as the dataset would."""
    if type(indices) is not list:
        return None
    if all(type(i) is int for i in indices):
        return indices
    out = []
    for i in indices:
        if isinstance(i, bool) or not hasattr(type(i), "__index__"):
            return None
        try:
            out.append(operator.index(i))
        except TypeError:
            return None
    return out


def gather_fn(dataset: Any) -> Callable[[list[int]], Any] | None:
    """The one-gather-per-tensor batch function for ``dataset``, or ``None`` where none applies.

    Only exact :class:`TensorDataset`/:class:`Subset` classes qualify: a subclass may
    override ``__getitem__`` (to transform samples), which a direct gather would skip.
    """
    if type(dataset) is TensorDataset:
        return dataset._plugrad_gather
    if type(dataset) is Subset:
        inner = gather_fn(dataset.dataset)
        if inner is None:
            return None
        idx = dataset.indices

        def gather(indices: list[int]) -> Any:
            mapped = _int_indices([idx[i] for i in indices])
            if mapped is None:
                raise _NoFastPath
            return inner(mapped)

        return gather
    return None


class _NoFastPath(Exception):
    """Internal: this batch's indices are not plain ints; take the general path."""


class MapDatasetFetcher:
    __slots__ = ("auto_collation", "collate_fn", "dataset", "drop_last", "fast")

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable[[Any], Any], drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.fast = gather_fn(dataset) if auto_collation and collate_fn is default_collate else None

    def fetch(self, index: Any) -> Any:
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if self.fast is not None and index:
            ints = _int_indices(index)
            if ints is not None:
                try:
                    return self.fast(ints)
                except _NoFastPath:
                    pass
        getitems = getattr(self.dataset, "__getitems__", None)
        data = getitems(index) if getitems else [self.dataset[i] for i in index]
        return self.collate_fn(data)


class IterableDatasetFetcher:
    __slots__ = ("auto_collation", "collate_fn", "dataset", "dataset_iter", "drop_last", "ended")

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable[[Any], Any], drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.dataset_iter: Iterator[Any] = iter(dataset)
        self.ended = False

    def fetch(self, index: Any) -> Any:
        """The next batch (``index`` is a list of ``None`` as long as the batch) or the next sample."""
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.dataset_iter))
        data = []
        for _ in index:
            try:
                data.append(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                break
        if not data or (self.drop_last and len(data) < len(index)):
            raise StopIteration
        return self.collate_fn(data)


def create_fetcher(
    iterable: bool, dataset: Any, auto_collation: bool, collate_fn: Callable[[Any], Any], drop_last: bool
) -> MapDatasetFetcher | IterableDatasetFetcher:
    cls = IterableDatasetFetcher if iterable else MapDatasetFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)
