"""The communication-backend contract: records, process groups, work handles, errors.

A communication backend is a plugin (entry-point group ``plugrad``) whose hook
``plugrad_process_group_backends()`` returns :class:`ProcessGroupBackendSpec` records.
``init_process_group(backend=NAME)`` calls the record's ``create`` with a
:class:`ProcessGroupOptions` and gets a :class:`ProcessGroup`: an object that runs
collectives on plugrad tensors and returns :class:`Work` handles. The frontend
(:mod:`plugrad.distributed`) validates arguments, translates global ranks to group
ranks, checks that every rank passes tensors of one shape and dtype, and builds list
collectives and object collectives on top of the few tensor collectives below.
"""

from __future__ import annotations

import enum
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plugrad import Tensor

__all__ = [
    "DistBackendError",
    "DistError",
    "ProcessGroup",
    "ProcessGroupBackendSpec",
    "ProcessGroupOptions",
    "ReduceOp",
    "Work",
]


class DistError(RuntimeError):
    """An error of ``plugrad.distributed`` (PyTorch's ``torch.distributed.DistError``)."""


class DistBackendError(DistError):
    """A communication backend failed: a timeout, a dead peer, a library error."""


class ReduceOp(enum.Enum):
    """How a reduction combines the ranks' values (``dist.ReduceOp.SUM``, ...).

    ``AVG`` is ``SUM`` divided by the group size (for integer tensors truncated toward
    zero, as NCCL does). On ``bool`` tensors ``SUM`` and ``MAX`` are a logical or,
    ``PRODUCT`` and ``MIN`` a logical and (PyTorch's rule); ``AVG`` is an error.
    ``BAND``, ``BOR`` and ``BXOR`` are bitwise, for integer and bool tensors.
    """

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"

    def __repr__(self) -> str:
        return f"<RedOpType.{self.name}: {list(ReduceOp).index(self)}>"

    def __str__(self) -> str:
        return f"ReduceOp.{self.name}"


@dataclass(frozen=True)
class ProcessGroupOptions:
    """What ``init_process_group`` hands a backend's ``create``.

    ``rank`` and ``world_size`` are ``-1`` when the caller left them out (the backend
    then takes them from its launcher, e.g. MPI's ``COMM_WORLD``).
    """

    rank: int = -1
    world_size: int = -1
    timeout: timedelta = timedelta(minutes=30)
    init_method: str | None = None
    group_name: str = ""


@dataclass(frozen=True)
class ProcessGroupBackendSpec:
    """A communication backend, as a plugin offers it through ``plugrad_process_group_backends``.

    :param name: what ``init_process_group(backend=...)`` takes (``"mpi"``, ``"nccl"``).
    :param create: ``create(options: ProcessGroupOptions) -> ProcessGroup``; called on
        every rank by ``init_process_group``. ``None`` when ``unavailable_reason`` is set.
    :param device_types: plugrad device types whose tensors it can communicate.
    :param version: the version of the library underneath (``"MPICH 5.0.2"``).
    :param unavailable_reason: ``None``, or why it cannot run here (shown by
        ``python -m plugrad info`` and in ``init_process_group``'s error).
    """

    name: str
    create: Callable[[ProcessGroupOptions], ProcessGroup] | None
    device_types: tuple[str, ...] = ("cpu",)
    version: str = ""
    unavailable_reason: str | None = None
    description: str = ""


class Work:
    """The handle of a (possibly still running) collective: ``async_op=True`` returns one.

    A backend makes one from ``poll`` (returns ``True`` once the operation is complete,
    may raise the backend's error) and ``finish`` (run once, after completion, on the
    waiting thread: copies results into the caller's tensors, bumps version counters).
    :meth:`wait` polls until done or until the process group's timeout passes, then
    raises :class:`DistBackendError` saying which operation on which rank timed out.
    """

    __slots__ = ("_deadline", "_describe", "_error", "_finish", "_group", "_poll", "_result", "_source", "_state")

    def __init__(
        self,
        poll: Callable[[], bool] | None,
        finish: Callable[[], None] | None = None,
        *,
        group: ProcessGroup | None = None,
        describe: str = "collective",
        result: Sequence[Tensor] = (),
        source: Callable[[], int] | None = None,
    ) -> None:
        self._poll = poll
        self._finish = finish
        self._group = group
        self._describe = describe
        self._result = list(result)
        self._source = source
        self._error: BaseException | None = None
        # 0 running, 1 transport complete, 2 finished
        self._state = 0 if poll is not None else 1
        timeout = group.timeout if group is not None else None
        self._deadline = time.monotonic() + timeout.total_seconds() if timeout is not None else float("inf")

    @classmethod
    def completed(cls, result: Sequence[Tensor] = (), finish: Callable[[], None] | None = None) -> Work:
        """A handle for an operation that already completed (world size 1, empty tensors)."""
        w = cls(None, finish, result=result)
        w._complete()
        return w

    def _complete(self) -> None:
        if self._state == 2:
            return
        self._state = 2
        if self._finish is not None:
            fin, self._finish = self._finish, None
            fin()

    def _test(self) -> bool:
        if self._state != 0:
            return True
        assert self._poll is not None
        try:
            done = self._poll()
        except Exception as exc:
            self._fail(exc)
        if done:
            self._state = 1
        return done

    def _fail(self, exc: BaseException) -> None:
        where = self._group.describe() if self._group is not None else "this rank"
        err = DistBackendError(f"{self._describe} failed on {where}: {type(exc).__name__}: {exc}")
        self._error = err
        self._state = 2
        if self._group is not None:
            self._group.mark_broken(str(err))
        raise err from exc

    def is_completed(self) -> bool:
        """Whether the operation has completed (without blocking; makes progress)."""
        if self._error is not None:
            return True
        if self._test():
            self._complete()
            return True
        return False

    def is_success(self) -> bool:
        """Whether it completed without an error."""
        return self.is_completed() and self._error is None

    def exception(self) -> BaseException | None:
        """The error it ended with, if any."""
        return self._error

    def wait(self, timeout: timedelta | None = None) -> bool:
        """Block until the operation completed; ``True``.

        Raises :class:`DistBackendError` when it did not complete within ``timeout``
        (default: the process group's timeout), naming the operation and the rank: a
        peer died, hangs, or called a different collective. The process group is then
        broken: plugrad aborts the job when the error is not caught (see
        ``docs/distributed.md``).
        """
        if self._error is not None:
            raise self._error
        if self._state == 0:
            deadline = self._deadline
            if timeout is not None:
                deadline = min(deadline, time.monotonic() + timeout.total_seconds())
            # poll hard for 0.5 ms, then yield the core between polls (ranks may share
            # cores) until 5 ms, then sleep with a growing pause: short operations return
            # fast, long waits cost no CPU
            start = time.monotonic()
            pause = 20e-6
            while not self._test():
                now = time.monotonic()
                if now > deadline:
                    self._timed_out(timeout)
                waited = now - start
                if waited < 5e-4:
                    continue
                if waited < 5e-3:
                    os.sched_yield()
                else:
                    time.sleep(pause)
                    pause = min(pause * 2, 1e-3)
        self._complete()
        return True

    def _timed_out(self, timeout: timedelta | None) -> None:
        g = self._group
        limit = timeout if timeout is not None else (g.timeout if g is not None else None)
        where = g.describe() if g is not None else "this rank"
        msg = (
            f"plugrad.distributed: {self._describe} on {where} did not complete within the timeout "
            f"({limit}); another rank probably died, hangs, or called a different collective. "
            "The process group is broken; the job is aborted unless this error is caught."
        )
        err = DistBackendError(msg)
        self._error = err
        if g is not None:
            g.mark_broken(msg)
        print(msg, file=sys.stderr, flush=True)
        raise err

    def result(self) -> list[Tensor]:
        """The output tensors of the operation (after :meth:`wait`)."""
        self.wait()
        return list(self._result)

    def source_rank(self) -> int:
        """For ``irecv`` from any source: the rank the message came from."""
        self.wait()
        if self._source is None:
            raise RuntimeError("source_rank() is only available on the work of a recv")
        return self._source()

    def __repr__(self) -> str:
        state = ("running", "completed", "completed")[self._state] if self._error is None else "failed"
        return f"<plugrad.distributed.Work {self._describe} ({state})>"


@dataclass
class _GroupState:
    broken: str | None = None
    children: list[Any] = field(default_factory=list)


class ProcessGroup:
    """A set of ranks that communicate: what a communication backend implements.

    Subclasses implement the tensor collectives below on plugrad tensors of the ranks'
    group (ranks are *group* ranks here; the frontend translated them). Every method
    returns a :class:`Work` and may return before the transfer finished; in-place
    outputs must hold their final values once ``wait()`` returned. Tensors arrive
    contiguous, of one dtype across ranks, with shapes the frontend checked.

    ``allreduce``, ``broadcast``, ``allgather_into_tensor``, ``barrier`` and
    ``new_subgroup`` are required; the others have fallbacks here built on those (slower,
    correct), which a backend overrides with its library's own operations.
    """

    #: the backend's name, e.g. ``"mpi"``
    backend_name: str = ""
    #: the device type of the helper tensors the frontend sends (object collectives, checks)
    device_type: str = "cpu"

    def __init__(self, rank: int, size: int, timeout: timedelta, group_name: str = "") -> None:
        self._rank = rank
        self._size = size
        self.timeout = timeout
        self.group_name = group_name
        self._state = _GroupState()

    # -- identity ------------------------------------------------------------------
    def rank(self) -> int:
        """This process's rank in the group."""
        return self._rank

    def size(self) -> int:
        """The number of ranks in the group."""
        return self._size

    def name(self) -> str:
        """The backend's name."""
        return self.backend_name

    def describe(self) -> str:
        """A short description for messages: ``"rank R of N (backend 'name')"``."""
        return f"rank {self._rank} of {self._size} (backend {self.backend_name!r})"

    # -- failure -----------------------------------------------------------------
    @property
    def broken(self) -> str | None:
        """Why the group is broken (a timeout or backend error), or ``None``."""
        return self._state.broken

    def mark_broken(self, why: str) -> None:
        """Record ``why`` the group is broken (the first reason is kept); see :attr:`broken`."""
        if self._state.broken is None:
            self._state.broken = why

    def abort(self) -> None:
        """End the whole job now (called for a broken group at exit); backends override."""

    def shutdown(self) -> None:
        """Release the group's resources (``destroy_process_group``)."""

    # -- required ----------------------------------------------------------------
    def allreduce(self, tensor: Tensor, op: ReduceOp) -> Work:
        """Reduce ``tensor`` over the ranks, in place on every rank."""
        raise NotImplementedError

    def broadcast(self, tensor: Tensor, src: int) -> Work:
        """Copy group rank ``src``'s ``tensor`` into every rank's ``tensor``."""
        raise NotImplementedError

    def allgather_into_tensor(self, output: Tensor, input: Tensor) -> Work:
        """``output`` (``size`` times ``input``'s elements) gets every rank's ``input``, in rank order."""
        raise NotImplementedError

    def barrier(self) -> Work:
        """Complete once every rank has entered the barrier."""
        raise NotImplementedError

    def new_subgroup(self, ranks: Sequence[int], timeout: timedelta) -> ProcessGroup | None:
        """A group of the given group ranks (called by every rank; ``None`` on non-members)."""
        raise NotImplementedError

    # -- with fallbacks --------------------------------------------------------------
    def reduce(self, tensor: Tensor, dst: int, op: ReduceOp) -> Work:
        """Reduce into ``tensor`` on rank ``dst`` (other ranks' tensors are left as they were)."""
        import plugrad

        tmp = tensor.clone()
        work = self.allreduce(tmp, op)

        def finish() -> None:
            if self._rank == dst:
                with plugrad.no_grad():
                    tensor.copy_(tmp)

        return _chain(work, finish, self, "reduce")

    def reduce_scatter_tensor(self, output: Tensor, input: Tensor, op: ReduceOp) -> Work:
        """Reduce ``input`` (``size`` chunks along dim 0) and keep chunk ``rank`` in ``output``."""
        import plugrad

        tmp = input.clone()
        work = self.allreduce(tmp, op)

        def finish() -> None:
            n = output.numel()
            with plugrad.no_grad():
                output.copy_(tmp.reshape(-1)[self._rank * n : (self._rank + 1) * n].reshape(output.shape))

        return _chain(work, finish, self, "reduce_scatter_tensor")

    def gather(self, output: Tensor | None, input: Tensor, dst: int) -> Work:
        """On ``dst``, ``output`` (``size`` times ``input``'s elements) gets every rank's ``input``."""
        import plugrad

        tmp = plugrad.empty((self._size * input.numel(),), dtype=input.dtype, device=input.device)
        work = self.allgather_into_tensor(tmp, input.reshape(-1))

        def finish() -> None:
            if output is not None:
                with plugrad.no_grad():
                    output.copy_(tmp.reshape(output.shape))

        return _chain(work, finish, self, "gather")

    def scatter(self, output: Tensor, input: Tensor | None, src: int) -> Work:
        """Chunk ``rank`` of ``src``'s ``input`` (``size`` chunks) into every rank's ``output``."""
        import plugrad

        n = output.numel()
        tmp = (
            input.reshape(-1).clone()
            if input is not None
            else plugrad.empty((self._size * n,), dtype=output.dtype, device=output.device)
        )
        work = self.broadcast(tmp, src)

        def finish() -> None:
            with plugrad.no_grad():
                output.copy_(tmp[self._rank * n : (self._rank + 1) * n].reshape(output.shape))

        return _chain(work, finish, self, "scatter")

    def send(self, tensor: Tensor, dst: int, tag: int) -> Work:
        """Send ``tensor`` to group rank ``dst``."""
        raise NotImplementedError(f"backend {self.backend_name!r} does not support point-to-point send")

    def recv(self, tensor: Tensor, src: int | None, tag: int) -> Work:
        """Receive into ``tensor`` from group rank ``src`` (``None``: from any rank)."""
        raise NotImplementedError(f"backend {self.backend_name!r} does not support point-to-point recv")


def _chain(work: Work, finish: Callable[[], None], group: ProcessGroup, describe: str) -> Work:
    """A handle that completes when ``work`` does, then runs ``finish``."""
    return Work(work.is_completed, finish, group=group, describe=describe)
