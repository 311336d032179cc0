"""``torch.distributed``'s functions: process groups and collectives over plugin backends.

Ranks in arguments (``src``, ``dst``) are global ranks, as in PyTorch; ``group_src`` and
``group_dst`` take ranks within ``group``. Before each collective every rank exchanges a
few integers describing its call (which collective, shape, dtype, root, op) and all
ranks raise the same error naming the ranks and what they passed when they disagree,
instead of hanging or reducing garbage. ``PLUGRAD_DISTRIBUTED_CHECKS=0`` (read by
``init_process_group``) turns the exchange off (its cost: docs/distributed.md).
"""

from __future__ import annotations

import io
import os
import pickle
import warnings
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import plugrad
from plugrad import Tensor

from ._backend import (
    DistBackendError,
    DistError,
    ProcessGroup,
    ProcessGroupBackendSpec,
    ProcessGroupOptions,
    ReduceOp,
    Work,
)

__all__ = [
    "Backend",
    "GroupMember",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_reduce",
    "barrier",
    "broadcast",
    "broadcast_object_list",
    "destroy_process_group",
    "gather",
    "gather_object",
    "get_backend",
    "get_global_rank",
    "get_group_rank",
    "get_process_group_ranks",
    "get_rank",
    "get_world_size",
    "group",
    "init_process_group",
    "irecv",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "is_nccl_available",
    "isend",
    "new_group",
    "recv",
    "reduce",
    "reduce_scatter_tensor",
    "scatter",
    "scatter_object_list",
    "send",
]

#: PyTorch's default process-group timeout
default_pg_timeout = timedelta(minutes=30)
_CHECKS_ENV = "PLUGRAD_DISTRIBUTED_CHECKS"


class _NonMember:
    def __repr__(self) -> str:
        return "GroupMember.NON_GROUP_MEMBER"


class GroupMember:
    """``GroupMember.WORLD`` is the default group; ``NON_GROUP_MEMBER`` what ``new_group`` gives non-members."""

    WORLD: ProcessGroup | None = None
    NON_GROUP_MEMBER: Any = _NonMember()


class _GroupNamespace:
    @property
    def WORLD(self) -> ProcessGroup | None:
        return GroupMember.WORLD


#: ``dist.group.WORLD``
group = _GroupNamespace()


class Backend(str):
    """A communication backend's name (``Backend("MPI") == "mpi"``); :meth:`register_backend` adds one."""

    UNDEFINED = "undefined"
    GLOO = "gloo"
    NCCL = "nccl"
    MPI = "mpi"

    _registered: dict[str, ProcessGroupBackendSpec] = {}

    def __new__(cls, name: str) -> Backend:
        if not isinstance(name, str):
            raise ValueError(f"Backend constructor parameter must be string-ish, got {type(name).__name__}")
        return str.__new__(cls, name.lower())

    @classmethod
    def register_backend(
        cls,
        name: str,
        func: Callable[[ProcessGroupOptions], ProcessGroup],
        extended_api: bool = False,
        devices: str | Sequence[str] | None = None,
    ) -> None:
        """Register a communication backend from code (a plugin's hook is the installed way).

        ``func(options)`` returns a :class:`ProcessGroup`; ``devices`` the device types it serves.
        """
        key = name.lower()
        if key in cls._registered or key in _plugin_backends():
            raise ValueError(f"{name.upper()} c10d backend already exist")
        if isinstance(devices, str):
            devices = (devices,)
        cls._registered[key] = ProcessGroupBackendSpec(key, func, tuple(devices or ("cpu",)), "", None, "registered")


def _plugin_backends() -> dict[str, Any]:
    from plugrad.plugins import get_registry

    return get_registry().process_group_backend_infos()


def _find_backend(name: str) -> ProcessGroupBackendSpec:
    key = name.lower()
    if key in Backend._registered:
        return Backend._registered[key]
    infos = _plugin_backends()
    info = infos.get(key)
    if info is None:
        known = ", ".join(sorted(set(infos) | set(Backend._registered))) or "none"
        hint = " (`pip install plugrad-distributed[mpi]` for 'mpi')" if key == "mpi" else ""
        raise ValueError(f"unknown communication backend {name!r}{hint}; installed: {known}")
    if not info.available:
        raise RuntimeError(f"communication backend {name!r} is not available: {info.reason}")
    rec: ProcessGroupBackendSpec = info.record
    return rec


# -- the process-group state -----------------------------------------------------------------


class _State:
    def __init__(self) -> None:
        self.world: ProcessGroup | None = None
        self.backend: str = ""
        self.checks = True
        #: group -> the global rank of each group rank
        self.ranks: dict[int, list[int]] = {}
        self.groups: list[ProcessGroup] = []


_state = _State()


def is_available() -> bool:
    """Whether ``plugrad.distributed`` can be used (always: backends are plugins)."""
    return True


def is_initialized() -> bool:
    """Whether the default process group has been initialized."""
    return _state.world is not None


def is_mpi_available() -> bool:
    """Whether the ``"mpi"`` backend is installed and usable here."""
    info = _plugin_backends().get("mpi")
    return bool(info is not None and info.available)


def is_nccl_available() -> bool:
    """Whether the ``"nccl"`` backend is installed and usable here."""
    info = _plugin_backends().get("nccl")
    return bool(info is not None and info.available)


def _env_int(name: str) -> int | None:
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else None


def init_process_group(
    backend: str | None = None,
    init_method: str | None = None,
    timeout: timedelta | None = None,
    world_size: int = -1,
    rank: int = -1,
    store: Any = None,
    group_name: str = "",
    pg_options: Any = None,
    device_id: Any = None,
) -> None:
    """Initialize the default process group (every rank calls it).

    :param backend: a communication backend's name: ``"mpi"`` (plugrad-distributed[mpi]),
        ``"nccl"`` (plugrad-backend-cupy, on GPUs) or a plugin's. Default ``"mpi"``.
    :param init_method: accepted for PyTorch compatibility; MPI ranks find each other
        through their launcher (``mpiexec``, ``srun``), as with PyTorch's MPI backend.
    :param timeout: how long a collective may take before it fails with
        :class:`DistBackendError` (default 30 minutes, PyTorch's).
    :param world_size: the number of processes; under MPI taken from the launcher (a
        value that disagrees is an error).
    :param rank: this process's rank; under MPI taken from the launcher.
    """
    if _state.world is not None:
        raise ValueError("trying to initialize the default process group twice!")
    if store is not None:
        raise ValueError("plugrad.distributed has no Store: ranks find each other through the backend's launcher")
    if timeout is not None and not isinstance(timeout, timedelta):
        raise TypeError(f"Expected timeout argument to be of type datetime.timedelta, got {type(timeout).__name__}")
    name = Backend(backend) if backend is not None else Backend.MPI
    if name == "gloo":
        raise ValueError(
            "plugrad has no 'gloo' backend: use backend='mpi' (CPU, `pip install plugrad-distributed[mpi]`) "
            "or 'nccl' (GPUs)"
        )
    spec = _find_backend(name)
    assert spec.create is not None
    options = ProcessGroupOptions(
        rank=rank if rank is not None else -1,
        world_size=world_size if world_size is not None else -1,
        timeout=timeout if timeout is not None else default_pg_timeout,
        init_method=init_method,
        group_name=group_name,
    )
    pg = spec.create(options)
    if not isinstance(pg, ProcessGroup):
        raise TypeError(f"communication backend {name!r} returned {type(pg).__name__}, not a ProcessGroup")
    _state.world = pg
    _state.backend = str(name)
    _state.checks = os.environ.get(_CHECKS_ENV, "1").strip() not in ("0", "false", "off")
    _state.ranks[id(pg)] = list(range(pg.size()))
    _state.groups = [pg]
    GroupMember.WORLD = pg


def destroy_process_group(group: ProcessGroup | None = None) -> None:
    """Destroy ``group`` (default: the default group, and with it every group)."""
    if group is None or group is _state.world:
        for g in reversed(_state.groups):
            g.shutdown()
        _state.__init__()  # type: ignore[misc]
        GroupMember.WORLD = None
        return
    if group is GroupMember.NON_GROUP_MEMBER:
        return
    group.shutdown()
    _state.groups = [g for g in _state.groups if g is not group]
    _state.ranks.pop(id(group), None)


def _world() -> ProcessGroup:
    if _state.world is None:
        raise ValueError("Default process group has not been initialized, please make sure to call init_process_group.")
    return _state.world


def _resolve(group: Any) -> ProcessGroup | None:
    """The process group to use, or ``None`` when this rank is not a member."""
    world = _world()
    if group is None:
        return world
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    if not isinstance(group, ProcessGroup) or id(group) not in _state.ranks:
        raise ValueError(f"Invalid process group specified: {group!r}")
    return group


def _member(group: Any, op: str) -> ProcessGroup | None:
    """``_resolve(group)``; when this rank is not a member, warns (as PyTorch does) that ``op`` does nothing here."""
    pg = _resolve(group)
    if pg is None:
        warnings.warn(
            f"Running {op} on global rank {_world().rank()} which does not belong to the given group.",
            UserWarning,
            stacklevel=3,
        )
    return pg


def get_rank(group: Any = None) -> int:
    """This process's rank in ``group`` (default: the world), ``-1`` if not a member."""
    pg = _resolve(group)
    return -1 if pg is None else pg.rank()


def get_world_size(group: Any = None) -> int:
    """The number of ranks in ``group`` (default: the world), ``-1`` if not a member."""
    pg = _resolve(group)
    return -1 if pg is None else pg.size()


def get_backend(group: Any = None) -> Backend:
    """The backend's name of ``group`` (default: the world)."""
    pg = _resolve(group)
    if pg is None:
        raise ValueError("Invalid process group specified")
    return Backend(pg.name())


def get_process_group_ranks(group: Any) -> list[int]:
    """The global ranks of ``group``'s members, in group-rank order."""
    pg = _resolve(group)
    if pg is None:
        raise ValueError("Invalid process group specified")
    return list(_state.ranks[id(pg)])


def get_global_rank(group: Any, group_rank: int) -> int:
    """The global rank of ``group_rank`` in ``group``."""
    ranks = get_process_group_ranks(group)
    if not 0 <= group_rank < len(ranks):
        raise ValueError(f"Group rank {group_rank} is not part of group {group!r}")
    return ranks[group_rank]


def get_group_rank(group: Any, global_rank: int) -> int:
    """The rank in ``group`` of global rank ``global_rank``."""
    ranks = get_process_group_ranks(group)
    if global_rank not in ranks:
        raise ValueError(f"Global rank {global_rank} is not part of group {group!r}")
    return ranks.index(global_rank)


def new_group(
    ranks: Sequence[int] | None = None,
    timeout: timedelta | None = None,
    backend: str | None = None,
    pg_options: Any = None,
    use_local_synchronization: bool = False,
    group_desc: str | None = None,
) -> Any:
    """A new group of the given global ``ranks`` (all of them by default).

    Every rank of the default group must call it, members or not (as in PyTorch);
    non-members get ``GroupMember.NON_GROUP_MEMBER``.
    """
    world = _world()
    if backend is not None and Backend(backend) != world.name():
        raise ValueError(
            f"new_group(backend={backend!r}): plugrad's groups use the default group's backend ({world.name()!r})"
        )
    n = world.size()
    members = sorted(set(ranks)) if ranks is not None else list(range(n))
    for r in members:
        if not isinstance(r, int) or not 0 <= r < n:
            raise ValueError(f"The new group's rank should be within the world_size set by init_process_group, got {r}")
    if ranks is not None and len(members) != len(list(ranks)):
        raise ValueError(f"new_group(): ranks {list(ranks)} contain duplicates")
    pg = world.new_subgroup(members, timeout if timeout is not None else world.timeout)
    if pg is None:
        return GroupMember.NON_GROUP_MEMBER
    _state.ranks[id(pg)] = members
    _state.groups.append(pg)
    return pg


# -- argument checks -------------------------------------------------------------------------


def _check_tensor(t: Any, param: str = "tensor") -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(
            f"Invalid function argument. Expected parameter `{param}` of type plugrad.Tensor but got {type(t)} instead."
        )
    if not t.is_contiguous():
        raise ValueError("Tensors must be contiguous")
    return t


def _check_list(lst: Any, param: str) -> list[Tensor]:
    if not isinstance(lst, (list, tuple)) or not all(isinstance(t, Tensor) for t in lst):
        raise TypeError(
            f"Invalid function argument. Expected parameter `{param}` of type List[plugrad.Tensor] but got {type(lst)}."
        )
    return [_check_tensor(t, param) for t in lst]


def _check_device(pg: ProcessGroup, *tensors: Tensor) -> None:
    allowed = _device_types(pg)
    for t in tensors:
        if t.device.type not in allowed:
            raise ValueError(
                f"backend {pg.name()!r} cannot communicate tensors on device {t.device.type!r} "
                f"(it serves {', '.join(allowed)}); move the tensor with .to(...)"
            )


def _device_types(pg: ProcessGroup) -> tuple[str, ...]:
    name = pg.name()
    if name in Backend._registered:
        return Backend._registered[name].device_types
    info = _plugin_backends().get(name)
    return tuple(info.device_types) if info is not None and info.device_types else (pg.device_type,)


def _check_op(op: Any, t: Tensor) -> ReduceOp:
    if not isinstance(op, ReduceOp):
        raise TypeError(f"op must be a plugrad.distributed.ReduceOp, got {op!r}")
    kind = str(t.dtype).rsplit(".", 1)[-1]
    if kind == "bool" and op is ReduceOp.AVG:
        raise ValueError("Cannot use ReduceOp.AVG with boolean inputs")
    if kind.startswith("float") and op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR):
        raise ValueError(f"Cannot use {op} with non-integral dtype {t.dtype}")
    return op


def _root(pg: ProcessGroup, what: str, rank: int | None, group_rank: int | None, default: int | None = 0) -> int:
    """The group rank of a root given as a global ``rank`` or a ``group_rank``."""
    if rank is not None and group_rank is not None:
        raise ValueError(f"Can not specify both {what} and group_{what}")
    if group_rank is not None:
        if not 0 <= group_rank < pg.size():
            raise ValueError(f"group_{what} {group_rank} is out of range for a group of size {pg.size()}")
        return group_rank
    if rank is None:
        if default is None:
            raise ValueError(f"{what} must be given")
        rank = _state.ranks[id(pg)][default]
    ranks = _state.ranks[id(pg)]
    if not isinstance(rank, int) or rank not in ranks:
        if pg is _state.world:
            raise ValueError(f"Invalid {what} rank {rank}: the world size is {pg.size()}")
        raise ValueError(f"Global rank {rank} is not part of group {pg!r}")
    return ranks.index(rank)


# -- the cross-rank consistency check ---------------------------------------------------------

_OPS = (
    "all_reduce",
    "broadcast",
    "reduce",
    "all_gather",
    "all_gather_into_tensor",
    "reduce_scatter_tensor",
    "gather",
    "scatter",
    "barrier",
)
_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")
_REDOPS = tuple(ReduceOp)
_META_LEN = 16
_MAX_DIMS = _META_LEN - 5


def _meta(op: str, t: Tensor | None, root: int, redop: ReduceOp | None) -> list[int]:
    row = [_OPS.index(op) + 1, -1, root, _REDOPS.index(redop) if redop is not None else -1, -1]
    if t is not None:
        row[1] = _DTYPES.index(str(t.dtype).rsplit(".", 1)[-1])
        shape = list(t.shape)
        row[4] = len(shape)
        if len(shape) > _MAX_DIMS:  # fold the trailing dims into one (their product)
            tail = 1
            for s in shape[_MAX_DIMS - 1 :]:
                tail *= s
            shape = shape[: _MAX_DIMS - 1] + [tail]
        row += shape
    return row + [0] * (_META_LEN - len(row))


def _describe_meta(row: Sequence[int]) -> str:
    op = _OPS[row[0] - 1] if 1 <= row[0] <= len(_OPS) else f"unknown call {row[0]}"
    parts = [op]
    if row[1] >= 0:
        ndim = row[4]
        shape = list(row[5 : 5 + min(ndim, _MAX_DIMS)])
        if ndim > _MAX_DIMS:
            shape[-1:] = [f"...({shape[-1]} elements)"]  # type: ignore[list-item]
        parts.append(f"shape [{', '.join(map(str, shape))}], dtype {_DTYPES[row[1]]}")
    if op in ("broadcast", "scatter"):
        parts.append(f"src (group rank) {row[2]}")
    elif op in ("reduce", "gather"):
        parts.append(f"dst (group rank) {row[2]}")
    if row[3] >= 0:
        parts.append(f"op {_REDOPS[row[3]]}")
    return ", ".join(parts)


def _consistency_check(
    pg: ProcessGroup, op: str, t: Tensor | None, root: int = -1, redop: ReduceOp | None = None
) -> None:
    """Every rank of ``pg`` exchanges its call's description; any difference raises on all ranks."""
    if pg.broken:
        raise DistBackendError(f"the process group is broken: {pg.broken}")
    if not _state.checks or pg.size() == 1:
        return
    mine = _meta(op, t, root, redop)
    local = plugrad.tensor(mine, dtype=plugrad.int64, device=pg.device_type)
    out = plugrad.empty((pg.size() * _META_LEN,), dtype=plugrad.int64, device=pg.device_type)
    pg.allgather_into_tensor(out, local).wait()
    flat = out.tolist()
    rows = [flat[i * _META_LEN : (i + 1) * _META_LEN] for i in range(pg.size())]
    if all(r == rows[0] for r in rows):
        return
    ranks = _state.ranks.get(id(pg), list(range(pg.size())))
    groups: dict[str, list[int]] = {}
    for r, row in enumerate(rows):
        groups.setdefault(_describe_meta(row), []).append(ranks[r])
    detail = "; ".join(
        f"{'rank' if len(rs) == 1 else 'ranks'} {', '.join(map(str, rs))}: {d}" for d, rs in groups.items()
    )
    raise DistError(f"plugrad.distributed.{op}: the ranks' calls do not match ({detail})")


def _run(work: Work, async_op: bool) -> Work | None:
    if async_op:
        return work
    work.wait()
    return None


def _issue(start: Callable[[], Work], result: list[Tensor], skip: bool, async_op: bool) -> Work | None:
    """Start the backend call (``start()``) unless ``skip`` (nothing to send); the Work yields ``result``."""
    if skip:
        return _run(Work.completed(result), async_op)
    work = start()
    work._result = result
    return _run(work, async_op)


# -- collectives -----------------------------------------------------------------------------


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False) -> Work | None:
    """Reduce ``tensor`` over all ranks of ``group``, in place on every rank (its version counter moves)."""
    _check_tensor(tensor)
    pg = _member(group, "all_reduce")
    if pg is None:
        return None
    _check_device(pg, tensor)
    _check_op(op, tensor)
    _consistency_check(pg, "all_reduce", tensor, -1, op)
    return _issue(lambda: pg.allreduce(tensor, op), [tensor], tensor.numel() == 0, async_op)


def broadcast(
    tensor: Tensor, src: int | None = None, group: Any = None, async_op: bool = False, group_src: int | None = None
) -> Work | None:
    """Copy ``src``'s ``tensor`` into ``tensor`` on every other rank of ``group``."""
    _check_tensor(tensor)
    pg = _member(group, "broadcast")
    if pg is None:
        return None
    _check_device(pg, tensor)
    root = _root(pg, "src", src, group_src)
    _consistency_check(pg, "broadcast", tensor, root)
    return _issue(lambda: pg.broadcast(tensor, root), [tensor], tensor.numel() == 0 or pg.size() == 1, async_op)


def reduce(
    tensor: Tensor,
    dst: int | None = None,
    op: ReduceOp = ReduceOp.SUM,
    group: Any = None,
    async_op: bool = False,
    group_dst: int | None = None,
) -> Work | None:
    """Reduce ``tensor`` over ``group`` into ``tensor`` on ``dst`` (the others keep theirs)."""
    _check_tensor(tensor)
    pg = _member(group, "reduce")
    if pg is None:
        return None
    _check_device(pg, tensor)
    _check_op(op, tensor)
    root = _root(pg, "dst", dst, group_dst)
    _consistency_check(pg, "reduce", tensor, root, op)
    return _issue(lambda: pg.reduce(tensor, root, op), [tensor], tensor.numel() == 0, async_op)


def all_gather_into_tensor(
    output_tensor: Tensor, input_tensor: Tensor, group: Any = None, async_op: bool = False
) -> Work | None:
    """``output_tensor`` gets every rank's ``input_tensor``, concatenated along dim 0 (or stacked).

    ``output_tensor`` has ``world_size`` times ``input_tensor``'s elements: shape
    ``(world_size * n, ...)`` or ``(world_size, n, ...)``.
    """
    _check_tensor(output_tensor, "output_tensor")
    _check_tensor(input_tensor, "input_tensor")
    pg = _member(group, "all_gather_into_tensor")
    if pg is None:
        return None
    _check_device(pg, output_tensor, input_tensor)
    _same_dtype(output_tensor, input_tensor)
    if output_tensor.numel() != input_tensor.numel() * pg.size():
        raise ValueError(
            f"output tensor size must be equal to world_size times input tensor size: output has "
            f"{output_tensor.numel()} elements, input {input_tensor.numel()}, world size {pg.size()}"
        )
    _consistency_check(pg, "all_gather_into_tensor", input_tensor)
    return _issue(
        lambda: pg.allgather_into_tensor(output_tensor, input_tensor),
        [output_tensor],
        input_tensor.numel() == 0,
        async_op,
    )


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: Any = None, async_op: bool = False) -> Work | None:
    """``tensor_list[i]`` gets rank ``i``'s ``tensor`` (written in place), on every rank."""
    outs = _check_list(tensor_list, "tensor_list")
    _check_tensor(tensor)
    pg = _member(group, "all_gather")
    if pg is None:
        return None
    _check_device(pg, tensor, *outs)
    _check_outputs(outs, tensor, pg.size(), "tensor_list")
    _consistency_check(pg, "all_gather", tensor)
    flat = plugrad.empty((pg.size() * tensor.numel(),), dtype=tensor.dtype, device=tensor.device)
    work = pg.allgather_into_tensor(flat, tensor) if tensor.numel() else Work.completed()
    return _run(_then(pg, work, _unpack(flat, outs), "all_gather", outs), async_op)


def reduce_scatter_tensor(
    output: Tensor, input: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Work | None:
    """Reduce ``input`` over ``group`` and keep this rank's chunk (dim 0 split in ``world_size``) in ``output``."""
    _check_tensor(output, "output")
    _check_tensor(input, "input")
    pg = _member(group, "reduce_scatter_tensor")
    if pg is None:
        return None
    _check_device(pg, output, input)
    _same_dtype(output, input)
    _check_op(op, input)
    if input.numel() != output.numel() * pg.size():
        raise ValueError(
            f"input tensor must be the same size as output size times world size: input has {input.numel()} "
            f"elements, output {output.numel()}, world size {pg.size()}"
        )
    _consistency_check(pg, "reduce_scatter_tensor", input, -1, op)
    return _issue(lambda: pg.reduce_scatter_tensor(output, input, op), [output], input.numel() == 0, async_op)


def gather(
    tensor: Tensor,
    gather_list: list[Tensor] | None = None,
    dst: int | None = None,
    group: Any = None,
    async_op: bool = False,
    group_dst: int | None = None,
) -> Work | None:
    """On ``dst``, ``gather_list[i]`` gets rank ``i``'s ``tensor``; other ranks pass no list."""
    _check_tensor(tensor)
    pg = _member(group, "gather")
    if pg is None:
        return None
    root = _root(pg, "dst", dst, group_dst)
    outs = _root_list(pg, root, gather_list, tensor, "gather_list", "destination")
    _check_device(pg, tensor, *outs)
    _consistency_check(pg, "gather", tensor, root)
    flat = (
        plugrad.empty((pg.size() * tensor.numel(),), dtype=tensor.dtype, device=tensor.device)
        if pg.rank() == root
        else None
    )
    work = pg.gather(flat, tensor, root) if tensor.numel() else Work.completed()
    finish = _unpack(flat, outs) if flat is not None else None
    return _run(_then(pg, work, finish, "gather", outs), async_op)


def scatter(
    tensor: Tensor,
    scatter_list: list[Tensor] | None = None,
    src: int | None = None,
    group: Any = None,
    async_op: bool = False,
    group_src: int | None = None,
) -> Work | None:
    """Rank ``i``'s ``tensor`` gets ``scatter_list[i]`` of ``src``; other ranks pass no list."""
    _check_tensor(tensor)
    pg = _member(group, "scatter")
    if pg is None:
        return None
    root = _root(pg, "src", src, group_src)
    ins = _root_list(pg, root, scatter_list, tensor, "scatter_list", "source")
    _check_device(pg, *ins)
    flat = plugrad.cat([t.reshape(-1) for t in ins]) if pg.rank() == root and tensor.numel() else None
    _check_device(pg, tensor)
    _consistency_check(pg, "scatter", tensor, root)
    return _issue(lambda: pg.scatter(tensor, flat, root), [tensor], tensor.numel() == 0, async_op)


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Work | None:
    """Wait until every rank of ``group`` reached the barrier."""
    pg = _member(group, "barrier")
    if pg is None:
        return None
    _consistency_check(pg, "barrier", None)
    if pg.size() == 1:
        return _run(Work.completed(), async_op)
    return _run(pg.barrier(), async_op)


def _same_dtype(a: Tensor, b: Tensor) -> None:
    if a.dtype != b.dtype:
        raise TypeError(f"output and input tensors must have the same dtype, got {a.dtype} and {b.dtype}")


def _check_outputs(outs: list[Tensor], like: Tensor, size: int, param: str) -> None:
    if len(outs) != size:
        raise ValueError(f"`{param}` must have world_size ({size}) tensors, got {len(outs)}")
    for t in outs:
        if t.dtype != like.dtype or t.numel() != like.numel():
            raise ValueError(
                f"every tensor of `{param}` must have the input's dtype and size ({like.dtype}, "
                f"{list(like.shape)}), got {t.dtype}, {list(t.shape)}"
            )


def _root_list(pg: ProcessGroup, root: int, lst: Any, like: Tensor, param: str, role: str) -> list[Tensor]:
    """The ``role`` ("destination"/"source") rank's checked tensor list; the other ranks must pass none (``[]``)."""
    if pg.rank() != root:
        if lst:
            raise ValueError(f"Argument ``{param}`` must NOT be specified on non-{role} ranks.")
        return []
    if lst is None:
        raise ValueError(f"Argument ``{param}`` must be specified on {role} rank.")
    tensors = _check_list(lst, param)
    _check_outputs(tensors, like, pg.size(), param)
    return tensors


def _unpack(flat: Tensor, outs: list[Tensor]) -> Callable[[], None]:
    def finish() -> None:
        n = flat.numel() // max(len(outs), 1)
        with plugrad.no_grad():
            for i, t in enumerate(outs):
                if n:
                    t.copy_(flat[i * n : (i + 1) * n].reshape(t.shape))

    return finish


def _then(pg: ProcessGroup, work: Work, finish: Callable[[], None] | None, what: str, result: list[Tensor]) -> Work:
    w = Work(work.is_completed, finish, group=pg, describe=what, result=result)
    return w


# -- point to point --------------------------------------------------------------------------


def _peer(pg: ProcessGroup, what: str, rank: int | None, group_rank: int | None) -> int | None:
    if rank is None and group_rank is None:
        return None
    r = _root(pg, what, rank, group_rank, default=None)
    return r


def isend(
    tensor: Tensor, dst: int | None = None, group: Any = None, tag: int = 0, group_dst: int | None = None
) -> Work | None:
    """Send ``tensor`` to ``dst`` without waiting; returns the :class:`Work`."""
    _check_tensor(tensor)
    pg = _member(group, "isend")
    if pg is None:
        return None
    _check_device(pg, tensor)
    peer = _peer(pg, "dst", dst, group_dst)
    if peer is None:
        raise ValueError("isend(): dst must be given")
    if peer == pg.rank():
        raise ValueError("Invalid destination rank: should not be the same as the rank of the current process.")
    return pg.send(tensor, peer, tag)


def irecv(
    tensor: Tensor, src: int | None = None, group: Any = None, tag: int = 0, group_src: int | None = None
) -> Work | None:
    """Receive into ``tensor`` from ``src`` (any rank if ``None``) without waiting."""
    _check_tensor(tensor)
    pg = _member(group, "irecv")
    if pg is None:
        return None
    _check_device(pg, tensor)
    peer = _peer(pg, "src", src, group_src)
    if peer is not None and peer == pg.rank():
        raise ValueError("Invalid source rank: should not be the same as the rank of the current process.")
    work = pg.recv(tensor, peer, tag)
    work._result = [tensor]
    return work


def send(tensor: Tensor, dst: int | None = None, group: Any = None, tag: int = 0, group_dst: int | None = None) -> None:
    """Send ``tensor`` to ``dst`` and wait until the buffer may be reused."""
    work = isend(tensor, dst, group, tag, group_dst)
    if work is not None:
        work.wait()


def recv(tensor: Tensor, src: int | None = None, group: Any = None, tag: int = 0, group_src: int | None = None) -> int:
    """Receive into ``tensor`` from ``src`` (any rank if ``None``); returns the sender's global rank."""
    work = irecv(tensor, src, group, tag, group_src)
    if work is None:
        return -1
    work.wait()
    pg = _resolve(group)
    assert pg is not None
    return _state.ranks[id(pg)][work.source_rank()]


# -- objects (pickled; only exchange objects between ranks you trust) ---------------------------


def _to_bytes_tensor(data: bytes, device: str) -> Tensor:
    try:
        import numpy as np
    except ImportError:  # no NumPy: the slow path through a Python list
        return plugrad.tensor(list(data), dtype=plugrad.uint8, device=device)
    t = plugrad.from_numpy(np.frombuffer(bytearray(data), dtype=np.uint8))
    return t if device == "cpu" else t.to(device)


def _from_bytes_tensor(t: Tensor) -> bytes:
    if t.device.type == "cpu":
        try:
            return bytes(t.numpy())
        except (TypeError, RuntimeError):
            pass
    return bytes(t.tolist())


def _pickle(obj: Any) -> bytes:
    buf = io.BytesIO()
    pickle.Pickler(buf).dump(obj)
    return buf.getvalue()


def _all_gather_bytes(pg: ProcessGroup, data: bytes) -> list[bytes]:
    dev = pg.device_type
    n = pg.size()
    size = plugrad.tensor([len(data)], dtype=plugrad.int64, device=dev)
    sizes = plugrad.empty((n,), dtype=plugrad.int64, device=dev)
    pg.allgather_into_tensor(sizes, size).wait()
    lens = [int(s) for s in sizes.tolist()]
    longest = max(lens)
    if longest == 0:
        return [b"" for _ in lens]
    mine = _to_bytes_tensor(data + b"\0" * (longest - len(data)), dev)
    out = plugrad.empty((n * longest,), dtype=plugrad.uint8, device=dev)
    pg.allgather_into_tensor(out, mine).wait()
    raw = _from_bytes_tensor(out)
    return [raw[i * longest : i * longest + lens[i]] for i in range(n)]


def all_gather_object(object_list: list[Any], obj: Any, group: Any = None) -> None:
    """``object_list[i]`` becomes rank ``i``'s ``obj`` (picklable), on every rank."""
    pg = _member(group, "all_gather_object")
    if pg is None:
        return
    if not isinstance(object_list, list) or len(object_list) != pg.size():
        raise ValueError(f"object_list must be a list of world_size ({pg.size()}) elements")
    if pg.broken:
        raise DistBackendError(f"the process group is broken: {pg.broken}")
    for i, b in enumerate(_all_gather_bytes(pg, _pickle(obj))):
        object_list[i] = pickle.loads(b)


def gather_object(
    obj: Any, object_gather_list: list[Any] | None = None, dst: int | None = None, group: Any = None
) -> None:
    """On ``dst``, ``object_gather_list[i]`` becomes rank ``i``'s ``obj``."""
    pg = _member(group, "gather_object")
    if pg is None:
        return
    root = _root(pg, "dst", dst, None)
    if pg.rank() == root and (not isinstance(object_gather_list, list) or len(object_gather_list) != pg.size()):
        raise ValueError(
            f"object_gather_list must be a list of world_size ({pg.size()}) elements on the destination rank"
        )
    got = _all_gather_bytes(pg, _pickle(obj))
    if pg.rank() == root:
        assert object_gather_list is not None
        for i, b in enumerate(got):
            object_gather_list[i] = pickle.loads(b)


def broadcast_object_list(
    object_list: list[Any], src: int | None = None, group: Any = None, device: Any = None, group_src: int | None = None
) -> None:
    """Every rank's ``object_list`` (same length everywhere) becomes ``src``'s, element by element."""
    pg = _member(group, "broadcast_object_list")
    if pg is None:
        return
    root = _root(pg, "src", src, group_src)
    if not isinstance(object_list, list):
        raise TypeError(f"object_list must be a list, got {type(object_list).__name__}")
    if pg.broken:
        raise DistBackendError(f"the process group is broken: {pg.broken}")
    dev = pg.device_type
    n = len(object_list)
    payloads = [_pickle(o) for o in object_list] if pg.rank() == root else [b""] * n
    sizes = plugrad.tensor([len(p) for p in payloads] + [n], dtype=plugrad.int64, device=dev)
    _consistency_check(pg, "broadcast", sizes, root)
    pg.broadcast(sizes, root).wait()
    lens = [int(s) for s in sizes.tolist()]
    total = sum(lens[:-1])
    if total == 0:
        return
    if pg.rank() == root:
        pg.broadcast(_to_bytes_tensor(b"".join(payloads), dev), root).wait()
        return
    data = plugrad.empty((total,), dtype=plugrad.uint8, device=dev)
    pg.broadcast(data, root).wait()
    raw = _from_bytes_tensor(data)
    off = 0
    for i in range(n):
        object_list[i] = pickle.loads(raw[off : off + lens[i]])
        off += lens[i]


def scatter_object_list(
    scatter_object_output_list: list[Any],
    scatter_object_input_list: list[Any] | None = None,
    src: int | None = None,
    group: Any = None,
    group_src: int | None = None,
) -> None:
    """``scatter_object_output_list[0]`` becomes element ``rank`` of ``src``'s input list."""
    pg = _member(group, "scatter_object_list")
    if pg is None:
        return
    if not isinstance(scatter_object_output_list, list) or len(scatter_object_output_list) < 1:
        raise ValueError("Expected argument scatter_object_output_list to be a list of size at least 1.")
    root = _root(pg, "src", src, group_src)
    objs: list[Any] = list(scatter_object_input_list or []) if pg.rank() == root else [None] * pg.size()
    if pg.rank() == root and len(objs) != pg.size():
        raise ValueError(f"scatter_object_input_list must have world_size ({pg.size()}) elements on the source rank")
    broadcast_object_list(objs, group_src=root, group=None if pg is _state.world else pg)
    scatter_object_output_list[0] = objs[pg.rank()]
