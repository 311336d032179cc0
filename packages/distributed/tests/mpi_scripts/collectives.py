"""Every collective against a NumPy reference, for every dtype; run under ``mpiexec -n N``.

Each rank makes its inputs from its rank (seeded), computes what every rank holds with
NumPy, runs the collective and compares. A failed comparison raises, which ends the MPI
job with that rank's traceback and a non-zero exit; a clean run prints ``OK rank R``.
"""

from __future__ import annotations

import os
from datetime import timedelta

import numpy as np
import plugrad
import plugrad.distributed as dist
from plugrad.distributed import ReduceOp

dist.init_process_group(backend="mpi", timeout=timedelta(seconds=float(os.environ.get("PG_TIMEOUT", "60"))))
R, N = dist.get_rank(), dist.get_world_size()
DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
SHAPES = [(5,), (2, 3), (), (0,), (3, 0, 2)]
checked = 0


def data(rank: int, dt: str, shape: tuple[int, ...], salt: int = 0) -> np.ndarray:
    rng = np.random.default_rng(1000 * rank + 17 * DTYPES.index(dt) + salt)
    if dt == "bool":
        return rng.random(shape) < 0.5
    low = 0 if dt == "uint8" else -4
    return rng.integers(low, 6, size=shape).astype(dt)


def t_of(a: np.ndarray) -> plugrad.Tensor:
    return plugrad.tensor(a.tolist(), dtype=getattr(plugrad, a.dtype.name)).reshape(a.shape)


def same(t: plugrad.Tensor, ref: np.ndarray, what: str) -> None:
    global checked
    got = np.asarray(t.numpy())
    ref = np.asarray(ref)
    if got.dtype != ref.dtype or got.shape != ref.shape or not np.array_equal(got, ref):
        raise AssertionError(f"rank {R}: {what}: got {got!r} ({got.dtype}), expected {ref!r} ({ref.dtype})")
    checked += 1


def reference(stack: np.ndarray, op: ReduceOp, dt: str) -> np.ndarray:
    if dt == "bool":
        fn = {
            ReduceOp.SUM: np.logical_or.reduce,
            ReduceOp.MAX: np.logical_or.reduce,
            ReduceOp.PRODUCT: np.logical_and.reduce,
            ReduceOp.MIN: np.logical_and.reduce,
            ReduceOp.BAND: np.bitwise_and.reduce,
            ReduceOp.BOR: np.bitwise_or.reduce,
            ReduceOp.BXOR: np.bitwise_xor.reduce,
        }[op]
        return fn(stack, axis=0)
    if op is ReduceOp.AVG:
        s = np.sum(stack, axis=0, dtype=dt)
        if dt.startswith("float"):
            return (s / np.array(N, dtype=dt)).astype(dt)
        return (np.sign(s) * (np.abs(s) // N)).astype(dt)
    fn = {
        ReduceOp.SUM: lambda a: np.sum(a, axis=0, dtype=dt),
        ReduceOp.PRODUCT: lambda a: np.prod(a, axis=0, dtype=dt),
        ReduceOp.MIN: lambda a: np.min(a, axis=0),
        ReduceOp.MAX: lambda a: np.max(a, axis=0),
        ReduceOp.BAND: lambda a: np.bitwise_and.reduce(a, axis=0),
        ReduceOp.BOR: lambda a: np.bitwise_or.reduce(a, axis=0),
        ReduceOp.BXOR: lambda a: np.bitwise_xor.reduce(a, axis=0),
    }[op]
    return np.asarray(fn(stack)).astype(dt)


def ops_for(dt: str) -> list[ReduceOp]:
    ops = [ReduceOp.SUM, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX]
    if dt != "bool":
        ops.append(ReduceOp.AVG)
    if not dt.startswith("float"):
        ops += [ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR]
    return ops


for dt in DTYPES:
    for shape in SHAPES:
        mine = data(R, dt, shape)
        stack = np.stack([data(r, dt, shape) for r in range(N)]) if N else None
        tag = f"{dt} {shape}"
        # all_reduce, every op; in place, version counter moves
        for op in ops_for(dt):
            t = t_of(mine)
            v0 = t._version
            assert dist.all_reduce(t, op=op) is None
            same(t, reference(stack, op, dt), f"all_reduce {op} {tag}")
            if t.numel() and t._version <= v0:
                raise AssertionError(f"all_reduce did not bump the version counter ({tag})")
        # async all_reduce
        t = t_of(mine)
        work = dist.all_reduce(t, async_op=True)
        assert work is not None and work.wait() and work.is_completed()
        same(t, reference(stack, ReduceOp.SUM, dt), f"async all_reduce {tag}")
        same(work.result()[0], reference(stack, ReduceOp.SUM, dt), f"work.result {tag}")
        # broadcast from the last rank
        t = t_of(mine)
        dist.broadcast(t, src=N - 1)
        same(t, stack[N - 1], f"broadcast {tag}")
        # reduce to rank 1 % N: only dst changes
        dst = 1 % N
        t = t_of(mine)
        dist.reduce(t, dst=dst, op=ReduceOp.MAX)
        same(t, reference(stack, ReduceOp.MAX, dt) if R == dst else mine, f"reduce {tag}")
        # all_gather (list) and all_gather_into_tensor (concatenated and stacked)
        outs = [plugrad.zeros(shape, dtype=getattr(plugrad, dt)) for _ in range(N)]
        dist.all_gather(outs, t_of(mine))
        for r in range(N):
            same(outs[r], stack[r], f"all_gather[{r}] {tag}")
        out = plugrad.zeros((N, *shape), dtype=getattr(plugrad, dt))
        dist.all_gather_into_tensor(out, t_of(mine))
        same(out, stack, f"all_gather_into_tensor {tag}")
        # gather to rank 0, scatter from the last rank
        gl = [plugrad.zeros(shape, dtype=getattr(plugrad, dt)) for _ in range(N)] if R == 0 else None
        dist.gather(t_of(mine), gl, dst=0)
        if R == 0:
            for r in range(N):
                same(gl[r], stack[r], f"gather[{r}] {tag}")
        t = plugrad.zeros(shape, dtype=getattr(plugrad, dt))
        sl = [t_of(data(N - 1, dt, shape, salt=r + 1)) for r in range(N)] if R == N - 1 else None
        dist.scatter(t, sl, src=N - 1)
        same(t, data(N - 1, dt, shape, salt=R + 1), f"scatter {tag}")
    # reduce_scatter_tensor: input (N*4,) -> output (4,)
    big = data(R, dt, (N * 4,), salt=99)
    bstack = np.stack([data(r, dt, (N * 4,), salt=99) for r in range(N)])
    for op in [ReduceOp.SUM, ReduceOp.MAX] + ([ReduceOp.AVG] if dt != "bool" else []):
        out = plugrad.zeros((4,), dtype=getattr(plugrad, dt))
        dist.reduce_scatter_tensor(out, t_of(big), op=op)
        same(out, reference(bstack, op, dt)[R * 4 : (R + 1) * 4], f"reduce_scatter_tensor {op} {dt}")
    # point to point: a ring, isend to the next rank, irecv from the previous
    if N > 1:
        nxt, prv = (R + 1) % N, (R - 1) % N
        t = plugrad.zeros((3,), dtype=getattr(plugrad, dt))
        rw = dist.irecv(t, src=prv)
        sw = dist.isend(t_of(data(R, dt, (3,), salt=5)), dst=nxt)
        sw.wait()
        rw.wait()
        same(t, data(prv, dt, (3,), salt=5), f"isend/irecv {dt}")
        if R == 0:
            dist.send(t_of(data(0, dt, (2,), salt=6)), dst=N - 1)
        if R == N - 1:
            t = plugrad.zeros((2,), dtype=getattr(plugrad, dt))
            assert dist.recv(t) == 0
            same(t, data(0, dt, (2,), salt=6), f"send/recv any source {dt}")

# objects
objs = [{"rank": R}, "x" * R, None] if R == 0 else [None, None, None]
dist.broadcast_object_list(objs, src=0)
assert objs == [{"rank": 0}, "", None], objs
gathered: list = [None] * N
dist.all_gather_object(gathered, {"r": R, "pad": "y" * (R * 7)})
assert gathered == [{"r": r, "pad": "y" * (r * 7)} for r in range(N)], gathered
go = [None] * N if R == 1 % N else None
dist.gather_object(R * 10, go, dst=1 % N)
if R == 1 % N:
    assert go == [r * 10 for r in range(N)], go
so: list = [None]
dist.scatter_object_list(so, [f"for {r}" for r in range(N)] if R == 0 else None, src=0)
assert so == [f"for {R}"], so
dist.barrier()

# groups: the even ranks
evens = list(range(0, N, 2))
g = dist.new_group(evens)
if R in evens:
    assert dist.get_world_size(g) == len(evens) and dist.get_rank(g) == evens.index(R)
    t = plugrad.tensor([float(R)])
    dist.all_reduce(t, group=g)
    same(t, np.array([float(sum(evens))], dtype="float32"), "all_reduce in new_group")
    t = plugrad.tensor([float(R)])
    dist.broadcast(t, src=evens[-1], group=g)
    same(t, np.array([float(evens[-1])], dtype="float32"), "broadcast in new_group (global src)")
    assert dist.get_process_group_ranks(g) == evens
else:
    assert g is dist.GroupMember.NON_GROUP_MEMBER and dist.get_rank(g) == -1

# mismatched shapes: every rank raises the same error naming ranks and shapes; the group stays usable
if N > 1:
    t = plugrad.zeros((4,) if R == 0 else (5,))
    try:
        dist.all_reduce(t)
    except dist.DistError as exc:
        msg = str(exc)
        assert "rank 0: all_reduce, shape [4], dtype float32" in msg, msg
        others = ", ".join(str(r) for r in range(1, N))
        assert f"{'rank' if N == 2 else 'ranks'} {others}: all_reduce, shape [5], dtype float32" in msg, msg
        if R == 0:
            print("mismatch error:", msg, flush=True)
    else:
        raise AssertionError("mismatched shapes did not raise")
    # and a different collective on one rank
    try:
        if R == 0:
            dist.broadcast(plugrad.zeros(3), src=0)
        else:
            dist.all_reduce(plugrad.zeros(3))
    except dist.DistError as exc:
        assert "rank 0: broadcast" in str(exc) and "all_reduce" in str(exc), str(exc)
    else:
        raise AssertionError("different collectives did not raise")
    t = plugrad.ones(2)
    dist.all_reduce(t)
    same(t, np.full(2, N, dtype="float32"), "all_reduce after a mismatch")

dist.barrier()
dist.destroy_process_group()
print(f"OK rank {R} of {N}: {checked} comparisons", flush=True)
