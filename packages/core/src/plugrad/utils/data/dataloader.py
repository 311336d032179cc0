"""``DataLoader``: batches from a dataset, in the main process or in worker processes.

Single-process loading (``num_workers=0``) fetches each batch when it is asked for.
With ``num_workers > 0`` the loader starts that many processes (the start method is the
``multiprocessing_context``, by default the platform's: ``fork`` on Linux before Python
3.14, ``forkserver`` after, ``spawn`` on macOS and Windows), hands out batches of indices
round robin, keeps ``prefetch_factor`` batches per worker in flight, and returns the
batches in sampler order. A worker that raises has its exception re-raised here with
the worker's traceback; a worker that dies (killed, ``os._exit``, a crash) is reported
as a ``RuntimeError`` naming the worker, its pid and exit code or signal, as soon as the
loader waits on it; ``timeout > 0`` bounds every wait.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import os
import pickle
import signal
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

import plugrad

from ._collate import default_collate, default_convert
from ._fetch import create_fetcher
from ._worker import (
    ExceptionWrapper,
    _IterableDatasetStopIteration,
    _ResumeIteration,
    _worker_loop,
    get_worker_info,
)
from .dataset import Dataset, IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, _draw_seed

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]

T_co = TypeVar("T_co", covariant=True)

#: seconds the main process gives workers to finish after it asks them to stop
_SHUTDOWN_GRACE = 2.0


class _InfiniteConstantSampler(Sampler[None]):
    """``None`` forever: the sampler of an iterable dataset (the batch size is all that matters)."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


def _usable_cpus() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


class DataLoader(Generic[T_co]):
    """An iterable over batches of ``dataset``, with PyTorch's arguments and behaviour.

    Args:
        dataset: a map-style :class:`Dataset` (``__getitem__``/``__len__``) or an
            :class:`IterableDataset`.
        batch_size: samples per batch (``None``: no batching, one converted sample per step).
        shuffle: a new random order each epoch (a :class:`RandomSampler`).
        sampler: an iterable of indices (exclusive with ``shuffle``).
        batch_sampler: an iterable of lists of indices (exclusive with ``batch_size``,
            ``shuffle``, ``sampler`` and ``drop_last``).
        num_workers: worker processes (0: load in the main process).
        collate_fn: merges a list of samples into a batch (default :func:`default_collate`;
            :func:`default_convert` without batching).
        pin_memory: accepted; plugrad's CPU tensors need no pinning, so it changes nothing.
        drop_last: drop the last, incomplete batch.
        timeout: seconds to wait for a batch from the workers (0: no limit).
        worker_init_fn: called in each worker with its id, after seeding, before loading.
        multiprocessing_context: a start method name or a ``multiprocessing`` context.
        generator: the generator for :class:`RandomSampler` and for the workers' base seed.
        prefetch_factor: batches in flight per worker (default 2 with workers).
        persistent_workers: keep the workers (and their dataset copies) between epochs.
        pin_memory_device: accepted and ignored, as ``pin_memory``.
        in_order: ``False`` returns each batch as soon as any worker has one.
    """

    dataset: Dataset[T_co]
    batch_size: int | None
    num_workers: int
    pin_memory: bool
    drop_last: bool
    timeout: float
    sampler: Sampler[Any] | Iterable[Any]
    prefetch_factor: int | None
    _iterator: _BaseDataLoaderIter | None
    __initialized = False

    def __init__(
        self,
        dataset: Dataset[T_co],
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler[Any] | Iterable[Any] | None = None,
        batch_sampler: Sampler[list[Any]] | Iterable[list[Any]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[Any], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, int):
            raise TypeError(f"num_workers should be an int, but got num_workers={num_workers!r}")
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing."
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        if isinstance(dataset, IterableDataset):
            self._iterable = True
            if shuffle not in {False, None}:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified "
                    f"batch_sampler option, but got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)
            self._iterable = False

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")

        if sampler is None:
            if self._iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)  # type: ignore[arg-type]
            else:
                sampler = SequentialSampler(dataset)  # type: ignore[arg-type]
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self.__initialized = True
        self._IterableDataset_len_called: int | None = None
        self._iterator = None
        self.check_worker_number_rationality()

    @property
    def multiprocessing_context(self) -> Any:
        return self.__multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, ctx: Any) -> None:
        if ctx is not None:
            if self.num_workers <= 0:
                raise ValueError(
                    "multiprocessing_context can only be used with multi-process loading "
                    f"(num_workers > 0), but got num_workers={self.num_workers}"
                )
            if isinstance(ctx, str):
                methods = multiprocessing.get_all_start_methods()
                if ctx not in methods:
                    raise ValueError(
                        "multiprocessing_context option should specify a valid start method in "
                        f"{methods!r}, but got multiprocessing_context={ctx!r}"
                    )
                ctx = multiprocessing.get_context(ctx)
            if not isinstance(ctx, multiprocessing.context.BaseContext):
                raise TypeError(
                    "multiprocessing_context option should be a valid context object or a string "
                    f"specifying the start method, but got multiprocessing_context={ctx}"
                )
        self.__multiprocessing_context = ctx

    def __setattr__(self, attr: str, val: Any) -> None:
        if self.__initialized and attr in (
            "batch_size",
            "batch_sampler",
            "sampler",
            "drop_last",
            "dataset",
            "persistent_workers",
        ):
            raise ValueError(f"{attr} attribute should not be set after {self.__class__.__name__} is initialized")
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    def _get_iterator(self) -> _BaseDataLoaderIter:
        if self.num_workers == 0:
            return _SingleProcessDataLoaderIter(self)
        self.check_worker_number_rationality()
        return _MultiProcessingDataLoaderIter(self)

    def __iter__(self) -> _BaseDataLoaderIter:
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    def __len__(self) -> int:
        """Batches per epoch: the batch sampler's length, or for an iterable dataset
        ``len(dataset) / batch_size`` rounded as ``drop_last`` says (an estimate: with
        workers it is right only if the dataset splits its stream between them)."""
        if self._iterable:
            length = len(self.dataset)  # type: ignore[arg-type]
            self._IterableDataset_len_called = length
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else math.ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)

    def check_worker_number_rationality(self) -> None:
        """Warn, as PyTorch does, when asked for more workers than this process may use CPUs."""
        if not self.num_workers:
            return
        cpus = _usable_cpus()
        if cpus is None or self.num_workers > cpus:
            suggest = (
                f"Our suggested max number of worker in current system is {cpus}, which is smaller than what "
                "this DataLoader is going to create."
                if cpus is not None
                else "DataLoader is not able to compute a suggested max number of worker in current system."
            )
            warnings.warn(
                f"This DataLoader will create {self.num_workers} worker processes in total. {suggest} "
                "Please be aware that excessive worker creation might get DataLoader running slow or even freeze, "
                "lower the worker number to avoid potential slowness/freeze if necessary.",
                stacklevel=3,
            )


class _BaseDataLoaderIter:
    def __init__(self, loader: DataLoader[Any]) -> None:
        self._dataset = loader.dataset
        self._iterable = loader._iterable
        self._IterableDataset_len_called = loader._IterableDataset_len_called
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        if loader.pin_memory and not plugrad.cuda.is_available():
            warnings.warn(
                "'pin_memory' argument is set as true but no accelerator is found, "
                "then device pinned memory won't be used.",
                stacklevel=3,
            )
        self._timeout = loader.timeout
        self._collate_fn = loader.collate_fn
        self._sampler_iter: Iterator[Any] = iter(self._index_sampler)
        self._base_seed = _draw_seed(loader.generator)
        self._persistent_workers = loader.persistent_workers
        self._num_yielded = 0

    def __iter__(self) -> _BaseDataLoaderIter:
        return self

    def _reset(self, loader: DataLoader[Any], first_iter: bool = False) -> None:
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._IterableDataset_len_called = loader._IterableDataset_len_called

    def _next_index(self) -> Any:
        return next(self._sampler_iter)

    def _next_data(self) -> Any:
        raise NotImplementedError

    def __next__(self) -> Any:
        data = self._next_data()
        self._num_yielded += 1
        if self._iterable and self._IterableDataset_len_called is not None:
            if self._num_yielded > self._IterableDataset_len_called:
                msg = (
                    f"Length of IterableDataset {self._dataset} was reported to be "
                    f"{self._IterableDataset_len_called} (when accessing len(dataloader)), but "
                    f"{self._num_yielded} samples have been fetched. "
                )
                if self._num_workers > 0:
                    msg += (
                        "For multiprocessing data-loading, this could be caused by not properly configuring the "
                        "IterableDataset replica at each worker (see plugrad.utils.data.get_worker_info)."
                    )
                warnings.warn(msg, stacklevel=2)
        return data

    def __len__(self) -> int:
        return len(self._index_sampler)

    def __getstate__(self) -> Any:
        raise NotImplementedError(f"{self.__class__.__name__} cannot be pickled")


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader: DataLoader[Any]) -> None:
        super().__init__(loader)
        self._fetcher = create_fetcher(
            self._iterable, self._dataset, self._auto_collation, self._collate_fn, self._drop_last
        )

    def _next_data(self) -> Any:
        index = self._next_index()
        return self._fetcher.fetch(index)


def _death_message(worker_id: int, proc: Any) -> str:
    proc.join(timeout=1.0)  # reap it, so its exit code is known
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
            desc = signal.strsignal(-code) or name
        except ValueError:
            name, desc = str(-code), f"signal {-code}"
        how = f"is killed by signal: {desc} ({name})"
        if -code == signal.SIGKILL:
            how += "; a worker killed this way has often run out of memory: try fewer workers or smaller batches"
    else:
        how = f"exited unexpectedly with exit code {code}"
    return f"DataLoader worker {worker_id} (pid {proc.pid}) {how}"


class _MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    """Batches from worker processes, in sampler order (or as they come, with ``in_order=False``).

    Bookkeeping: task ids count up from 0 per epoch; ``_task_worker`` maps each
    outstanding task to its worker; each worker answers its tasks in the order given
    (its own pipe), so the next message from a worker is for its oldest outstanding task.
    """

    def __init__(self, loader: DataLoader[Any]) -> None:
        super().__init__(loader)
        self._prefetch_factor = int(loader.prefetch_factor or 0)
        if self._prefetch_factor <= 0:
            raise ValueError("prefetch_factor must be positive when num_workers > 0")
        self._in_order = loader.in_order
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        self._shutdown = False
        self._owner = os.getpid()  # a forked copy of this object (in a worker) must not stop the workers
        self._failure: BaseException | None = None
        self._workers: list[Any] = []
        self._task_conns: list[Any] = []
        self._result_conns: list[Any] = []
        try:
            for i in range(self._num_workers):
                task_r, task_w = ctx.Pipe(duplex=False)
                result_r, result_w = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_worker_loop,
                    args=(
                        self._iterable,
                        self._dataset,
                        task_r,
                        result_w,
                        self._auto_collation,
                        self._collate_fn,
                        self._drop_last,
                        self._base_seed,
                        loader.worker_init_fn,
                        i,
                        self._num_workers,
                    ),
                    name=f"plugrad-data-worker-{i}",
                    daemon=True,
                )
                try:
                    proc.start()
                except (pickle.PicklingError, TypeError, AttributeError) as exc:
                    task_w.close()
                    result_r.close()
                    if hasattr(exc, "add_note"):
                        exc.add_note(
                            f"DataLoader workers started by {ctx.get_start_method()!r} receive the dataset, "
                            "collate_fn and worker_init_fn pickled: a lambda or a locally defined function or "
                            "class cannot be; define them at module level (or use the 'fork' start method)"
                        )
                    raise
                finally:
                    task_r.close()  # the worker has its own copies; ours would hide its death (no EOF)
                    result_w.close()
                self._workers.append(proc)
                self._task_conns.append(task_w)
                self._result_conns.append(result_r)
        except BaseException:
            self._shutdown_workers()
            raise
        self._reset(loader, first_iter=True)

    def _reset(self, loader: DataLoader[Any], first_iter: bool = False) -> None:
        super()._reset(loader, first_iter)
        if self._failure is not None:
            raise self._failure
        self._send_idx = 0
        self._rcvd_idx = 0
        self._task_worker: dict[int, int] = {}
        self._worker_tasks: list[list[int]] = [[] for _ in range(self._num_workers)]
        self._active = [True] * self._num_workers
        self._cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:  # persistent workers: drop what is left of the last epoch
            for w in range(self._num_workers):
                self._send(w, _ResumeIteration())
            for w in range(self._num_workers):
                while True:
                    msg = self._recv(w)
                    if isinstance(msg[0], _ResumeIteration):
                        break
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    # -- talking to the workers --

    def _fail(self, exc: BaseException) -> BaseException:
        self._failure = exc
        self._shutdown_workers(grace=0.0)  # a broken epoch: no batch in progress is wanted
        return exc

    def _check_alive(self, ready: list[Any] | None = None) -> None:
        for w, proc in enumerate(self._workers):
            if (ready is not None and proc.sentinel in ready) or (ready is None and not proc.is_alive()):
                raise self._fail(RuntimeError(_death_message(w, proc)))

    def _send(self, w: int, obj: Any) -> None:
        try:
            self._task_conns[w].send(obj)
        except OSError:
            self._check_alive()
            raise

    def _wait(self, conns: list[Any]) -> list[Any]:
        """Block until one of ``conns`` can be read; a dead worker or the timeout raise instead."""
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        sentinels = [p.sentinel for p in self._workers]
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = multiprocessing.connection.wait(conns + sentinels, timeout=left)
            readable = [c for c in conns if c in ready]
            if readable:
                return readable
            if ready:
                self._check_alive(ready)
            if deadline is not None and time.monotonic() >= deadline:
                raise self._fail(RuntimeError(f"DataLoader timed out after {self._timeout} seconds"))

    def _recv(self, w: int) -> tuple[Any, Any]:
        conn = self._result_conns[w]
        self._wait([conn])
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            self._check_alive()
            raise self._fail(RuntimeError(f"DataLoader worker {w} closed its connection unexpectedly")) from None
        msg: tuple[Any, Any] = pickle.loads(payload)
        return msg

    # -- the epoch --

    def _try_put_index(self) -> None:
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):
            w = next(self._cycle)
            if self._active[w]:
                break
        else:
            return  # every worker's stream has ended
        self._send(w, (self._send_idx, index))
        self._task_worker[self._send_idx] = w
        self._worker_tasks[w].append(self._send_idx)
        self._send_idx += 1

    def _take(self, w: int) -> tuple[int, Any]:
        """The next message of worker ``w``, with its bookkeeping done."""
        task_id, data = self._recv(w)
        expected = self._worker_tasks[w].pop(0)
        if task_id != expected:
            raise self._fail(RuntimeError(f"DataLoader worker {w} answered task {task_id}, expected {expected}"))
        del self._task_worker[task_id]
        if isinstance(data, _IterableDatasetStopIteration):
            self._active[w] = False
            self._worker_tasks[w].clear()  # it skips the rest of its tasks
            self._task_worker = {t: v for t, v in self._task_worker.items() if v != w}
        return task_id, data

    def _next_data(self) -> Any:
        if self._failure is not None:
            raise self._failure
        while True:
            if not self._task_worker:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if self._in_order:
                while self._rcvd_idx not in self._task_worker:
                    self._rcvd_idx += 1  # skipped: its worker's stream had ended
                w = self._task_worker[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                busy = [v for v in range(self._num_workers) if self._worker_tasks[v]]
                conns = [self._result_conns[v] for v in busy]
                w = busy[conns.index(self._wait(conns)[0])]
            _, data = self._take(w)
            self._try_put_index()
            if isinstance(data, _IterableDatasetStopIteration):
                continue
            if isinstance(data, ExceptionWrapper):
                data.reraise()
            return data

    # -- the end --

    def _shutdown_workers(self, grace: float = _SHUTDOWN_GRACE) -> None:
        """Ask the workers to stop, give them ``grace`` seconds, then terminate those still running."""
        if self._shutdown or os.getpid() != self._owner:
            return
        self._shutdown = True
        for conn in self._task_conns:
            try:
                conn.send(None)
            except OSError:
                pass
        for conn in self._result_conns:
            conn.close()  # a worker blocked writing to us gets an error and exits
        deadline = time.monotonic() + grace
        for proc in self._workers:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
        for proc in self._workers:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=1.0)
        for conn in self._task_conns:
            conn.close()

    def __del__(self) -> None:
        try:
            self._shutdown_workers()
        except Exception:
            pass
