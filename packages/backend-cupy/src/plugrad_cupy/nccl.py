"""Entry point ``nccl`` in the ``plugrad`` group: the ``"nccl"`` communication backend over ``cupy.cuda.nccl``.

``init_process_group(backend="nccl")`` under ``mpiexec`` (or ``srun``) gives one NCCL
communicator over the ranks' GPUs. The ranks agree on NCCL's unique id through MPI
when mpi4py is installed, else through ``init_method="file:///shared/path"`` (rank 0
writes the id there, the others read it) with ``rank`` and ``world_size`` given.
Each rank uses GPU ``local_rank % device_count`` (the launcher's local rank), or the
only visible one when ``CUDA_VISIBLE_DEVICES`` gives each rank its own.

Operations are queued on a communication stream that first waits for the work already
queued on the current stream (so the tensor's producers finished); the returned work
completes when an event recorded after the operation has passed, and ``wait()`` makes
the current stream wait for it. A work that does not complete within the process
group's timeout aborts the communicator (``ncclCommAbort``) and raises.

Importing this module never imports CuPy; the hook reports the backend unavailable,
with the reason, where CuPy, NCCL or a GPU is missing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from plugrad.plugins import hookimpl

NAME = "nccl"
_LOCAL_RANK_VARS = ("LOCAL_RANK", "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "PMI_LOCAL_RANK")


def probe() -> tuple[Any, Any, str | None]:
    """``(cupy, cupy.cuda.nccl, None)`` when NCCL runs here, else ``(None, None, reason)``."""
    from .plugin import probe as probe_cupy

    cp, _, reason = probe_cupy()
    if reason is not None:
        return None, None, reason
    try:
        from cupy.cuda import nccl

        if not nccl.available:
            return None, None, "CuPy was built without NCCL (cupy.cuda.nccl.available is False)"
        nccl.get_version()
    except Exception as exc:
        return None, None, f"NCCL is not usable through CuPy: {type(exc).__name__}: {exc}"
    return cp, nccl, None


@hookimpl
def plugrad_process_group_backends() -> Sequence[Any]:
    """The ``"nccl"`` backend (needs plugrad-distributed for process groups)."""
    try:
        from plugrad.distributed import ProcessGroupBackendSpec
    except ImportError:
        return []  # without plugrad.distributed nobody can ask for a process group
    cp, nccl, reason = probe()
    if reason is not None:
        return [ProcessGroupBackendSpec(NAME, None, ("cuda",), "", reason, "NCCL through cupy.cuda.nccl")]
    v = nccl.get_version()
    version = f"NCCL {v // 10000}.{v // 100 % 100}.{v % 100}, cupy {cp.__version__}"
    return [ProcessGroupBackendSpec(NAME, create, ("cuda",), version, None, "NCCL through cupy.cuda.nccl")]


def _local_rank() -> int | None:
    for var in _LOCAL_RANK_VARS:
        v = os.environ.get(var)
        if v not in (None, ""):
            return int(v)
    return None


def _bootstrap(options: Any) -> tuple[int, int, tuple[int, ...]]:
    """(rank, world size, NCCL unique id) agreed by every rank."""
    from cupy.cuda import nccl

    init = options.init_method or ""
    if init.startswith("file://"):
        rank, size = options.rank, options.world_size
        if rank < 0 or size < 1:
            raise ValueError("init_process_group(backend='nccl', init_method='file://...') needs rank and world_size")
        path = init[len("file://") :]
        if rank == 0:
            uid = nccl.get_unique_id()
            tmp = f"{path}.tmp{os.getpid()}"
            with open(tmp, "w") as f:
                f.write(",".join(map(str, uid)))
            os.replace(tmp, path)  # readers never see half a file
            return rank, size, tuple(uid)
        deadline = time.monotonic() + options.timeout.total_seconds()
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise RuntimeError(f"nccl bootstrap: rank 0 did not write {path} within {options.timeout}")
            time.sleep(0.05)
        with open(path) as f:
            return rank, size, tuple(int(x) for x in f.read().split(","))
    try:
        from mpi4py import MPI
    except ImportError:
        if options.world_size in (-1, 1) and options.rank in (-1, 0):
            return 0, 1, tuple(nccl.get_unique_id())
        raise RuntimeError(
            "the 'nccl' backend needs a way for the ranks to agree on NCCL's id: run under mpiexec with mpi4py "
            "installed (pip install plugrad-distributed[mpi]) or pass init_method='file:///a/shared/path'"
        ) from None
    world = MPI.COMM_WORLD
    rank, size = world.Get_rank(), world.Get_size()
    if options.world_size not in (-1, size) or options.rank not in (-1, rank):
        raise ValueError(
            f"init_process_group(backend='nccl'): rank {options.rank}/world_size {options.world_size} disagree with "
            f"MPI's rank {rank} of {size}; leave them out under mpiexec"
        )
    uid = world.bcast(tuple(nccl.get_unique_id()) if rank == 0 else None, root=0)
    return rank, size, tuple(uid)


def create(options: Any) -> Any:
    """``init_process_group(backend="nccl")``."""
    cp, _, reason = probe()
    if reason is not None:
        raise RuntimeError(f"the 'nccl' backend is not available: {reason}")
    count = cp.cuda.runtime.getDeviceCount()
    local = _local_rank()
    if count > 1 and local is not None:
        cp.cuda.Device(local % count).use()
    rank, size, uid = _bootstrap(options)
    return _make_group(rank, size, uid, options.timeout, options.group_name, list(range(size)))


def _make_group(rank: int, size: int, uid: tuple[int, ...], timeout: timedelta, name: str, world: list[int]) -> Any:
    import cupy as cp
    from cupy.cuda import nccl
    from plugrad.distributed import DistBackendError, ProcessGroup, ReduceOp, Work

    dtypes = {
        "uint8": nccl.NCCL_UINT8,
        "int8": nccl.NCCL_INT8,
        "int32": nccl.NCCL_INT32,
        "int64": nccl.NCCL_INT64,
        "float16": nccl.NCCL_FLOAT16,
        "float32": nccl.NCCL_FLOAT32,
        "float64": nccl.NCCL_FLOAT64,
        "bool": nccl.NCCL_UINT8,  # 0/1 bytes; SUM and MAX are or, PRODUCT and MIN and
    }
    ops = {
        ReduceOp.SUM: nccl.NCCL_SUM,
        ReduceOp.PRODUCT: nccl.NCCL_PROD,
        ReduceOp.MIN: nccl.NCCL_MIN,
        ReduceOp.MAX: nccl.NCCL_MAX,
    }
    bool_ops = {ReduceOp.SUM: nccl.NCCL_MAX, ReduceOp.PRODUCT: nccl.NCCL_MIN, ReduceOp.MIN: nccl.NCCL_MIN}
    bool_ops[ReduceOp.MAX] = nccl.NCCL_MAX

    class NCCLProcessGroup(ProcessGroup):
        backend_name = NAME
        device_type = "cuda"

        def __init__(self, rank: int, size: int, uid: tuple[int, ...], timeout: timedelta, world: list[int]) -> None:
            super().__init__(rank, size, timeout, name)
            self.world_ranks = world
            self.comm = nccl.NcclCommunicator(size, uid, rank)
            self.stream = cp.cuda.Stream(non_blocking=True)

        def describe(self) -> str:
            return f"rank {self.world_ranks[self._rank]} (group rank {self._rank} of {self._size}, backend 'nccl')"

        # -- helpers --------------------------------------------------------------------
        @staticmethod
        def _arr(t: Any) -> Any:
            return cp.from_dlpack(t.detach()).reshape(-1)

        @staticmethod
        def _dtype(t: Any) -> int:
            kind = str(t.dtype).rsplit(".", 1)[-1]
            if kind not in dtypes:
                raise TypeError(f"the 'nccl' backend cannot communicate {t.dtype} tensors (NCCL has no such type)")
            return int(dtypes[kind])

        @staticmethod
        def _op(t: Any, op: Any) -> int:
            table = bool_ops if str(t.dtype) == "plugrad.bool" else ops
            if op is ReduceOp.AVG:
                return int(nccl.NCCL_SUM)  # divided after the sum (NCCL_AVG needs NCCL >= 2.10 and floats)
            if op not in table:
                raise ValueError(f"the 'nccl' backend does not support {op}")
            return int(table[op])

        def _launch(self, run: Any, outputs: Sequence[Any], keep: Any, what: str, avg: Any = None) -> Any:
            ready = cp.cuda.get_current_stream().record()
            self.stream.wait_event(ready)  # the producers of the input finished
            with self.stream:
                run(self.stream.ptr)
                if avg is not None:  # AVG: the sum divided (integers truncated toward zero, as NCCL does)
                    if avg.dtype.kind == "f":
                        avg /= self._size
                    else:
                        avg[...] = cp.sign(avg) * (cp.abs(avg) // self._size)
            done = self.stream.record()

            def poll() -> bool:
                _ = keep
                return bool(done.done)

            def finish() -> None:
                cp.cuda.get_current_stream().wait_event(done)
                for t in outputs:
                    bump = getattr(t, "_bump", None)
                    if bump is not None:
                        bump()

            work = Work(poll, finish, group=self, describe=what)
            return _AbortOnTimeout(work, self)

        # -- collectives ----------------------------------------------------------------
        def allreduce(self, tensor: Any, op: Any) -> Any:
            a = self._arr(tensor)
            dt, o = self._dtype(tensor), self._op(tensor, op)
            avg = a if op is ReduceOp.AVG else None
            return self._launch(
                lambda s: self.comm.allReduce(a.data.ptr, a.data.ptr, a.size, dt, o, s), [tensor], a, "all_reduce", avg
            )

        def broadcast(self, tensor: Any, src: int) -> Any:
            a = self._arr(tensor)
            dt = self._dtype(tensor)
            return self._launch(lambda s: self.comm.bcast(a.data.ptr, a.size, dt, src, s), [tensor], a, "broadcast")

        def reduce(self, tensor: Any, dst: int, op: Any) -> Any:
            a = self._arr(tensor)
            dt, o = self._dtype(tensor), self._op(tensor, op)
            avg = a if op is ReduceOp.AVG and self._rank == dst else None
            return self._launch(
                lambda s: self.comm.reduce(a.data.ptr, a.data.ptr, a.size, dt, o, dst, s), [tensor], a, "reduce", avg
            )

        def allgather_into_tensor(self, output: Any, input: Any) -> Any:
            o, i = self._arr(output), self._arr(input)
            dt = self._dtype(input)
            return self._launch(
                lambda s: self.comm.allGather(i.data.ptr, o.data.ptr, i.size, dt, s),
                [output],
                (o, i),
                "all_gather_into_tensor",
            )

        def reduce_scatter_tensor(self, output: Any, input: Any, op: Any) -> Any:
            o, i = self._arr(output), self._arr(input)
            dt, r = self._dtype(input), self._op(input, op)
            avg = o if op is ReduceOp.AVG else None
            return self._launch(
                lambda s: self.comm.reduceScatter(i.data.ptr, o.data.ptr, o.size, dt, r, s),
                [output],
                (o, i),
                "reduce_scatter_tensor",
                avg,
            )

        def barrier(self) -> Any:
            one = cp.zeros(1, dtype=cp.uint8)
            return self._launch(
                lambda s: self.comm.allReduce(
                    one.data.ptr, one.data.ptr, 1, int(nccl.NCCL_UINT8), int(nccl.NCCL_SUM), s
                ),
                [],
                one,
                "barrier",
            )

        def send(self, tensor: Any, dst: int, tag: int) -> Any:
            a = self._arr(tensor)
            dt = self._dtype(tensor)
            return self._launch(lambda s: self.comm.send(a.data.ptr, a.size, dt, dst, s), [], a, f"send to {dst}")

        def recv(self, tensor: Any, src: int | None, tag: int) -> Any:
            if src is None:
                raise ValueError("the 'nccl' backend cannot receive from any source: give src")
            a = self._arr(tensor)
            dt = self._dtype(tensor)
            work = self._launch(
                lambda s: self.comm.recv(a.data.ptr, a.size, dt, src, s), [tensor], a, f"recv from {src}"
            )
            work._source = lambda: src
            return work

        def new_subgroup(self, ranks: Sequence[int], timeout: timedelta) -> Any:
            import plugrad

            # the subgroup's first rank makes the id; the parent communicator carries it to everyone
            uid_t = plugrad.zeros((128,), dtype=plugrad.int64, device="cuda")
            if self._rank == ranks[0]:
                uid_t.copy_(plugrad.tensor(list(nccl.get_unique_id()), dtype=plugrad.int64).to("cuda"))
            self.broadcast(uid_t, ranks[0]).wait()
            if self._rank not in ranks:
                return None
            uid = tuple(int(x) for x in uid_t.tolist())
            return NCCLProcessGroup(
                list(ranks).index(self._rank), len(ranks), uid, timeout, [self.world_ranks[r] for r in ranks]
            )

        def abort(self) -> None:
            try:
                self.comm.abort()
            except Exception:  # already torn down
                pass

        def shutdown(self) -> None:
            if not self.broken:
                self.comm.destroy()

    class _AbortOnTimeout(Work):
        """A work that aborts the NCCL communicator when it times out (ops on a dead peer never end)."""

        def __init__(self, inner: Any, group: Any) -> None:
            super().__init__(inner.is_completed, None, group=group, describe=inner._describe)
            self._inner = inner

        def wait(self, timeout: timedelta | None = None) -> bool:
            try:
                return super().wait(timeout)
            except DistBackendError:
                assert self._group is not None
                self._group.abort()
                raise

    return NCCLProcessGroup(rank, size, uid, timeout, world)
