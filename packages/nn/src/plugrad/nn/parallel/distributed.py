"""``DistributedDataParallel``: one model replica per process, gradients averaged in buckets.

How a training step goes (the same scheme as PyTorch's DDP):

1. At construction every rank checks that the ranks' models have the same parameter
   shapes, and rank 0's parameters and buffers are broadcast to all ranks.
2. The parameters (those that require grad) are split into buckets of about
   ``bucket_cap_mb`` megabytes, in *reverse* registration order (roughly the order in
   which backward produces their gradients); the first bucket is capped at 1 MB so that
   communication starts early.
3. During ``backward`` a post-accumulate-grad hook on each parameter marks it ready;
   once all of a bucket's parameters are ready, its gradients are flattened into one
   buffer and a non-blocking all-reduce (``ReduceOp.AVG``) starts, while backward goes
   on computing the next layers' gradients. Buckets are launched in bucket order on
   every rank (a collective must be called in one order everywhere).
4. When the last bucket was launched (still inside backward), every all-reduce is
   waited for and the averaged gradients are copied back into ``param.grad``. The
   autograd engine has no ``queue_callback``; the last parameter's hook does this.

``no_sync()`` skips the reduction (gradients accumulate locally); the next backward
outside it averages the accumulated gradients. ``find_unused_parameters=True`` walks the
graph from the forward's outputs and marks parameters it does not reach as ready (with
zero gradients), so buckets complete; a parameter no rank used keeps ``grad`` ``None``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import plugrad
from plugrad import Tensor

from ..modules.module import Module

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_MB = 1.0
_INSTALL_HINT = "pip install plugrad-distributed[mpi]"


def _dist() -> Any:
    try:
        import plugrad.distributed as dist
    except ImportError:
        raise ImportError(
            f"DistributedDataParallel needs plugrad.distributed, which is not installed: {_INSTALL_HINT}"
        ) from None
    return dist


class _Bucket:
    __slots__ = ("dtype", "index", "numels", "offsets", "params", "pending", "total", "work", "flat")

    def __init__(self, index: int, params: list[Any]) -> None:
        self.index = index
        self.params = params
        self.numels = [p.numel() for p in params]
        self.offsets = []
        off = 0
        for n in self.numels:
            self.offsets.append(off)
            off += n
        self.total = off
        self.dtype = params[0].dtype
        self.pending = len(params)
        self.work: Any = None
        self.flat: Tensor | None = None


class DistributedDataParallel(Module):
    """Data parallelism: ``module`` replicated on every rank, gradients averaged across ranks.

    ::

        dist.init_process_group("mpi")
        model = DistributedDataParallel(Net())
        loss_fn(model(x_of_this_rank), y_of_this_rank).backward()  # grads are averaged
        opt.step()

    :param module: the model; its parameters and buffers are overwritten with rank 0's.
    :param device_ids, output_device, dim: accepted for PyTorch compatibility (one device
        per process: the model's own).
    :param broadcast_buffers: broadcast rank 0's buffers before each forward in training.
    :param process_group: the group to average over (default: the world).
    :param bucket_cap_mb: the size of a gradient bucket in megabytes (default 25).
    :param find_unused_parameters: find the parameters a forward did not use, so that
        their buckets still complete.
    :param gradient_as_bucket_view, static_graph, check_reduction: accepted, no effect.

    ``state_dict()`` keys carry the prefix ``module.`` as in PyTorch; save
    ``model.module.state_dict()`` for a checkpoint that loads without DDP.
    """

    def __init__(
        self,
        module: Module,
        device_ids: Any = None,
        output_device: Any = None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        process_group: Any = None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
    ) -> None:
        super().__init__()
        dist = _dist()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel expects an nn.Module, got {type(module).__name__}")
        if not dist.is_initialized():
            raise ValueError(
                "Default process group has not been initialized, please make sure to call init_process_group."
            )
        if bucket_cap_mb is not None and not bucket_cap_mb > 0:
            raise ValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.bucket_cap_mb = 25.0 if bucket_cap_mb is None else float(bucket_cap_mb)
        self.process_group = process_group if process_group is not None else dist.group.WORLD
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        pg = self.process_group
        if pg is dist.GroupMember.NON_GROUP_MEMBER:
            raise ValueError("DistributedDataParallel: this rank is not a member of process_group")
        self._pg = pg
        self._world = dist.get_world_size(pg)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError(
                "DistributedDataParallel is not needed when a module doesn't have any parameter that requires a gradient."
            )
        self._param_names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._index = {id(p): i for i, p in enumerate(self._params)}
        self._verify_same_model(dist)
        self._sync_states(dist, [p.detach() for p in module.parameters()] + self._buffers_list())
        self._set_buckets(self._make_buckets(list(reversed(self._params))))
        #: the order in which the first synchronised backward delivered gradients
        self._arrival: list[int] | None = []
        self._next_bucket = 0
        self._syncing = False  # the current backward averages gradients
        self._started = False  # a gradient hook fired since the last forward
        self._locally_used: set[int] = set()
        self._used_work: Any = None
        self._used_flags: Tensor | None = None
        #: communication of the last synchronised backward: ``launch`` seconds spent starting
        #: all-reduces, ``wait`` seconds spent waiting for them after backward's last gradient,
        #: ``done_early`` how many buckets' all-reduces had completed by then
        self.comm_stats: dict[str, float] = {"launch": 0.0, "wait": 0.0, "done_early": 0.0}
        self._hooks = [p.register_post_accumulate_grad_hook(self._make_hook(p)) for p in self._params]

    # -- construction ------------------------------------------------------------------
    def _buffers_list(self) -> list[Tensor]:
        return [b for b in self.module.buffers() if b is not None]

    def _verify_same_model(self, dist: Any) -> None:
        mine = [(n, list(p.shape), str(p.dtype)) for n, p in zip(self._param_names, self._params)]
        everyone: list[Any] = [None] * self._world
        dist.all_gather_object(everyone, mine, group=self._pg)
        for r, theirs in enumerate(everyone):
            if theirs != everyone[0]:
                diff = next(
                    (f"{a} vs {b}" for a, b in zip(everyone[0], theirs) if a != b),
                    f"{len(everyone[0])} parameters vs {len(theirs)}",
                )
                raise RuntimeError(f"DDP expects same model across all ranks, but rank 0 and rank {r} differ: {diff}")

    def _sync_states(self, dist: Any, tensors: list[Tensor]) -> None:
        """Broadcast rank 0's values of ``tensors`` (one flat buffer per dtype and device)."""
        if self._world == 1 or not tensors:
            return
        groups: dict[tuple[str, str], list[Tensor]] = {}
        for t in tensors:
            groups.setdefault((str(t.dtype), str(t.device)), []).append(t)
        src = dist.get_global_rank(self._pg, 0)
        for ts in groups.values():
            with plugrad.no_grad():
                flat = plugrad.cat([t.detach().reshape(-1) for t in ts])
                dist.broadcast(flat, src=src, group=self._pg)
                off = 0
                for t in ts:
                    n = t.numel()
                    t.copy_(flat[off : off + n].reshape(t.shape))
                    off += n

    def _set_buckets(self, buckets: list[_Bucket]) -> None:
        self._buckets = buckets
        self._bucket_of = {}
        for b in buckets:
            for k, p in enumerate(b.params):
                self._bucket_of[id(p)] = (b, k)

    def _make_buckets(self, order: list[Any]) -> list[_Bucket]:
        """Buckets of about ``bucket_cap_mb`` (the first at most 1 MB), filled in ``order``."""
        buckets: list[_Bucket] = []
        current: dict[tuple[str, str], list[Any]] = {}
        sizes: dict[tuple[str, str], int] = {}
        cap = min(_FIRST_BUCKET_MB, self.bucket_cap_mb)
        for p in order:
            key = (str(p.dtype), str(p.device))
            current.setdefault(key, []).append(p)
            sizes[key] = sizes.get(key, 0) + p.numel() * p.element_size()
            if sizes[key] >= cap * 1024 * 1024:
                buckets.append(_Bucket(len(buckets), current.pop(key)))
                sizes[key] = 0
                cap = self.bucket_cap_mb
        for ps in current.values():
            buckets.append(_Bucket(len(buckets), ps))
        return buckets

    # -- forward -------------------------------------------------------------------------
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """Call the wrapped module (broadcasting rank 0's buffers first when ``broadcast_buffers``) and
        prepare the gradient all-reduce that the following backward performs.
        """
        if self._syncing and self._started:  # a backward ran, but some parameters got no gradient
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a new one. "
                "This error indicates that your module has parameters that were not used in producing loss. "
                "You can enable unused parameter detection by passing the keyword argument "
                "`find_unused_parameters=True` to `torch.nn.parallel.DistributedDataParallel`, and by making sure "
                "all `forward` function outputs participate in calculating loss. Parameters that did not receive "
                f"gradient on this rank: {self._not_ready()}"
            )
        if self.broadcast_buffers and self.training and self._world > 1:
            bufs = self._buffers_list()
            if bufs:
                self._sync_states(_dist(), bufs)
        out = self.module(*inputs, **kwargs)
        if plugrad.is_grad_enabled() and self.require_backward_grad_sync:
            self._prepare_for_backward(out)
        else:
            self._syncing = False
        return out

    def _not_ready(self) -> str:
        names = [
            self._param_names[self._index[id(p)]]
            for b in self._buckets
            for k, p in enumerate(b.params)
            if b.work is None and id(p) not in self._ready_ids
        ]
        return ", ".join(names) or "(none)"

    def _prepare_for_backward(self, out: Any) -> None:
        self._syncing = True
        self._started = False
        self._next_bucket = 0
        self._ready_ids: set[int] = set()
        self.comm_stats = {"launch": 0.0, "wait": 0.0, "done_early": 0.0}
        for b in self._buckets:
            b.pending = len(b.params)
            b.work = None
            b.flat = None
        self._used_work = None
        if self.find_unused_parameters:
            used = _reachable_leaves(out)
            self._locally_used = {id(p) for p in self._params if id(p) in used}
            # which parameters some rank used: one small all-reduce, waited for at the end
            flags = plugrad.tensor(
                [1 if id(p) in self._locally_used else 0 for p in self._params],
                dtype=plugrad.uint8,
                device=self._params[0].device,
            )
            self._used_flags = flags
            self._used_work = self._pg.allreduce(flags, _dist().ReduceOp.MAX)
            for p in self._params:
                if id(p) not in self._locally_used:
                    self._mark_ready(p)

    # -- backward --------------------------------------------------------------------------
    def _make_hook(self, p: Any) -> Any:
        def hook(_param: Tensor) -> None:
            if self._syncing and id(p) not in self._ready_ids:
                self._started = True
                if self._arrival is not None:
                    self._arrival.append(self._index[id(p)])
                self._mark_ready(p)

        return hook

    def _mark_ready(self, p: Any) -> None:
        self._ready_ids.add(id(p))
        b, _ = self._bucket_of[id(p)]
        b.pending -= 1
        # give the running all-reduces a chance to progress (MPI progresses inside its calls)
        for q in self._buckets[: self._next_bucket]:
            if q.work is not None:
                q.work.is_completed()
        if b.pending == 0:
            while self._next_bucket < len(self._buckets) and self._buckets[self._next_bucket].pending == 0:
                self._launch(self._buckets[self._next_bucket])
                self._next_bucket += 1
            if self._next_bucket == len(self._buckets):
                self._finalize()

    def _launch(self, b: _Bucket) -> None:
        t0 = time.perf_counter()
        with plugrad.no_grad():
            parts = []
            for p, n in zip(b.params, b.numels):
                g = p.grad
                parts.append(
                    g.detach().reshape(-1) if g is not None else plugrad.zeros((n,), dtype=p.dtype, device=p.device)
                )
            b.flat = plugrad.cat(parts) if len(parts) > 1 else parts[0].clone()
        b.work = self._pg.allreduce(b.flat, _dist().ReduceOp.AVG)
        self.comm_stats["launch"] += time.perf_counter() - t0

    def _finalize(self) -> None:
        t0 = time.perf_counter()
        # how many all-reduces finished while backward was still running (overlap at work)
        self.comm_stats["done_early"] = float(sum(1 for b in self._buckets if b.work.is_completed()))
        for b in self._buckets:
            b.work.wait()
        globally_used = None
        if self._used_work is not None:
            self._used_work.wait()
            assert self._used_flags is not None
            globally_used = self._used_flags.tolist()
        self.comm_stats["wait"] = time.perf_counter() - t0
        with plugrad.no_grad():
            for b in self._buckets:
                assert b.flat is not None
                for p, off, n in zip(b.params, b.offsets, b.numels):
                    avg = b.flat[off : off + n].reshape(p.shape)
                    if p.grad is not None:
                        p.grad.copy_(avg)
                    elif globally_used is None or globally_used[self._index[id(p)]]:
                        p.grad = avg.clone()
                b.flat = None
                b.work = None
        self._syncing = False
        if self._arrival is not None:
            self._rebuild_buckets()

    def _rebuild_buckets(self) -> None:
        """After the first synchronised backward: buckets in the order gradients arrived.

        The autograd engine does not deliver gradients in exact reverse registration
        order (a bias's gradient may come last, after every earlier layer), and a bucket
        launches only once all its gradients are there. PyTorch rebuilds its buckets the
        same way. Rank 0's order is broadcast, so that every rank has the same buckets.
        """
        arrival, self._arrival = self._arrival, None
        assert arrival is not None
        dist = _dist()
        order: list[Any] = [arrival]
        dist.broadcast_object_list(order, src=dist.get_global_rank(self._pg, 0), group=self._pg)
        seen = set(order[0])
        rest = [i for i in reversed(range(len(self._params))) if i not in seen]  # unused: at the end
        self._set_buckets(self._make_buckets([self._params[i] for i in [*order[0], *rest]]))

    # -- PyTorch's API ----------------------------------------------------------------------
    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Within this context backward does not average gradients; they accumulate locally.

        The first forward-backward outside it averages the accumulated gradients.
        """
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def extra_repr(self) -> str:
        return ""


def _tensors_in(obj: Any) -> Iterator[Tensor]:
    """The tensors of a forward's output (nested tuples, lists and dicts)."""
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, Tensor):
            yield o
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
        elif isinstance(o, dict):
            stack.extend(o.values())


def _reachable_leaves(out: Any) -> set[int]:
    """The ids of the leaf tensors the graph of ``out`` reaches (iterative walk)."""
    seen: set[int] = set()
    leaves: set[int] = set()
    stack = [t.grad_fn for t in _tensors_in(out) if t.grad_fn is not None]
    for t in _tensors_in(out):
        if t.grad_fn is None and t.requires_grad:
            leaves.add(id(t))
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        var = getattr(node, "variable", None)
        if var is not None:
            leaves.add(id(var))
        for nxt, _ in node.next_functions:
            if nxt is not None and id(nxt) not in seen:
                stack.append(nxt)
    return leaves
