"""What runs inside a DataLoader worker process, and what it sends back.

Each worker gets two one-way pipes: tasks ``(task_id, indices)`` arrive on one, and the
results go back, pickled by the worker itself, on the other; a thread in the worker
writes them, so the worker computes the next batch while the last one is in transit
(up to ``prefetch_factor`` batches ahead). Pickling in the worker means a batch that
cannot be pickled becomes an error sent to the main process, never a lost message.

Seeding follows PyTorch: worker ``i`` seeds Python's ``random`` and plugrad's default
generators with ``base_seed + i`` (``base_seed`` is drawn by the main process from the
loader's generator each time an iterator is made) and, where NumPy is already loaded,
NumPy's global generator with four 32-bit words mixed from ``(base_seed, i)``.
"""

from __future__ import annotations

import os
import pickle
import queue
import random
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import plugrad

from ._fetch import create_fetcher

__all__ = ["ExceptionWrapper", "WorkerInfo", "get_worker_info"]

#: how often (seconds) an idle worker checks that the process that started it still lives
_WATCHDOG_INTERVAL = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    """About the DataLoader worker process this code runs in: ``id`` (``0 .. num_workers - 1``),
    ``num_workers``, the ``seed`` it was seeded with, and its own copy of the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: Any
    worker_method: str = "multiprocessing"


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The :class:`WorkerInfo` of the current DataLoader worker; ``None`` in the main process.

    Use it in an ``IterableDataset.__iter__`` or a ``worker_init_fn`` to give each worker
    its own share of the data, or to seed other libraries with ``info.seed``.
    """
    return _worker_info


class _KeyErrorMessage(str):
    """A str whose repr is itself, so that a re-raised KeyError prints its traceback text readably."""

    def __repr__(self) -> str:
        return str(self)


class ExceptionWrapper:
    """An exception caught in a worker: its type and formatted traceback, picklable."""

    def __init__(self, exc_info: Any = None, where: str = "in background") -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        exc_type = exc_info[0]
        try:  # the type must survive the trip (a class defined in a function would not)
            pickle.loads(pickle.dumps(exc_type))
        except Exception:
            exc_type = RuntimeError
        self.exc_type: type[BaseException] = exc_type
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self) -> None:
        """Raise the exception again here, its message saying where it happened and the original traceback."""
        msg: str = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exc


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    worker_id: int


@dataclass(frozen=True)
class _ResumeIteration:
    """Sent to persistent workers at the start of each epoch after the first; echoed back."""


def _generate_state(base_seed: int, worker_id: int) -> list[int]:
    """Four 32-bit words for NumPy's legacy global seed, hashed from ``(worker_id, base_seed)``.

    The mixing is NumPy's ``SeedSequence`` (multiply-xorshift hashes of each entropy word,
    every word mixed into every other, then a final hash), as PyTorch uses it, so nearby
    seeds give unrelated NumPy streams.
    """
    mask = 0xFFFFFFFF
    mult_a, mult_b = 0x931E8875, 0x58F38DED
    shift = 16
    const_a = 0x43B0D7E5

    def hash_a(value: int) -> int:
        nonlocal const_a
        value = (value ^ const_a) & mask
        const_a = (const_a * mult_a) & mask
        value = (value * const_a) & mask
        return (value ^ (value >> shift)) & mask

    def mix(x: int, y: int) -> int:
        r = ((0xCA01F9DD * x) - (0x4973F715 * y)) & mask
        return (r ^ (r >> shift)) & mask

    pool = [hash_a(v) for v in (worker_id, base_seed & mask, base_seed >> 32, 0)]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                pool[dst] = mix(pool[dst], hash_a(pool[src]))
    const_b = 0x8B51F9DD
    state = []
    for v in pool:
        v = (v ^ const_b) & mask
        const_b = (const_b * mult_b) & mask
        v = (v * const_b) & mask
        state.append((v ^ (v >> shift)) & mask)
    return state


def seed_worker(base_seed: int, worker_id: int) -> int:
    seed = base_seed + worker_id
    random.seed(seed)
    plugrad.manual_seed(seed)
    np = sys.modules.get("numpy")  # seeded only where it is loaded (the NumPy backend loads it)
    if np is not None:
        np.random.seed(_generate_state(base_seed, worker_id))
    return seed


class _Sender:
    """A thread that writes pickled results to the main process, so the worker goes on computing."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="plugrad-data-sender", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            payload = self.queue.get()
            if payload is None:
                return
            try:
                self.conn.send_bytes(payload)
            except OSError:  # the main process closed its end: it wants nothing more
                return

    def put(self, obj: Any, worker_id: int) -> None:
        try:
            payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            err = ExceptionWrapper(where=f"while sending a batch from DataLoader worker process {worker_id}")
            payload = pickle.dumps((obj[0], err), protocol=pickle.HIGHEST_PROTOCOL)
        self.queue.put(payload)


def _worker_loop(
    iterable: bool,
    dataset: Any,
    task_conn: Connection,
    result_conn: Connection,
    auto_collation: bool,
    collate_fn: Any,
    drop_last: bool,
    base_seed: int,
    init_fn: Any,
    worker_id: int,
    num_workers: int,
) -> None:
    """The body of worker ``worker_id``: fetch what is asked, send it back, until told to stop (``None``)."""
    global _worker_info
    # Ctrl-C reaches the whole process group; the main process handles it and stops the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    sender = _Sender(result_conn)
    where = f"in DataLoader worker process {worker_id}"
    init_error: ExceptionWrapper | None = None
    fetcher: Any = None
    try:
        seed = seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        if init_fn is not None:
            init_fn(worker_id)
        fetcher = create_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
    except Exception:
        init_error = ExceptionWrapper(where=where)
    ended = False
    while True:
        try:
            if not task_conn.poll(_WATCHDOG_INTERVAL):
                if os.getppid() != parent:  # the main process is gone
                    break
                continue
            task = task_conn.recv()
        except (EOFError, OSError):
            break
        if task is None:
            break
        if isinstance(task, _ResumeIteration):
            ended = False
            if init_error is None:
                try:
                    fetcher = create_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
                except Exception:
                    init_error = ExceptionWrapper(where=where)
            sender.put((task, None), worker_id)
            continue
        if ended:
            continue  # this worker's stream is exhausted; the main process skips its tasks
        task_id, index = task
        data: Any
        if init_error is not None:
            data, init_error = init_error, None
        else:
            try:
                data = fetcher.fetch(index)
            except StopIteration:
                if not iterable:
                    data = ExceptionWrapper(where=where)
                else:
                    data = _IterableDatasetStopIteration(worker_id)
                    ended = True
            except Exception:
                data = ExceptionWrapper(where=where)
        sender.put((task_id, data), worker_id)
        del data, task, index
