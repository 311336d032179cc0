"""DDP on N ranks equals one process with the whole batch; run under ``mpiexec -n N``.

Every rank also computes the single-process reference itself (same seed, whole batch
B), so the comparison needs no second job. Checks, in float64:

- 50 SGD (momentum) steps then 50 Adam steps: DDP with per-rank batch B/N gives the
  reference's parameters;
- gradient accumulation with ``no_sync`` (two micro-batches per rank);
- parameters and buffers broadcast from rank 0 at construction (other ranks start
  from other seeds);
- ``find_unused_parameters``: a head no rank uses keeps ``grad`` None, a head only
  rank 0 uses gets rank 0's gradient divided by N on every rank;
- ``state_dict`` keys prefixed ``module.``.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

import plugrad
import plugrad.distributed as dist
from plugrad import nn, optim
from plugrad.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi", timeout=timedelta(seconds=60))
R, N = dist.get_rank(), dist.get_world_size()
plugrad.set_default_dtype(plugrad.float64)
B = 12
TOL = 1e-10


def make_model(seed: int) -> nn.Module:
    plugrad.manual_seed(seed)
    m = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))
    m.register_buffer("scale", plugrad.full((2,), float(seed + 1)))
    return m


def data(step: int) -> tuple[plugrad.Tensor, plugrad.Tensor]:
    g = plugrad.manual_seed(1000 + step)
    del g
    x = plugrad.randn(B, 5)
    y = plugrad.randn(B, 2)
    return x, y


def mine(t: plugrad.Tensor) -> plugrad.Tensor:
    n = B // N
    return t[R * n : (R + 1) * n]


def loss_of(model: nn.Module, x: plugrad.Tensor, y: plugrad.Tensor) -> plugrad.Tensor:
    inner = model.module if isinstance(model, DDP) else model
    return nn.functional.mse_loss(model(x) * inner.scale, y)


def max_diff(a: nn.Module, b: nn.Module) -> float:
    return max(float((p - q).abs().max()) for p, q in zip(a.parameters(), b.parameters()))


ref = make_model(0)
ddp = DDP(make_model(0 if R == 0 else R * 7 + 3), bucket_cap_mb=0.0005)  # tiny buckets: several all-reduces per step
assert len(ddp._buckets) > 1, len(ddp._buckets)
assert list(ddp.state_dict()) == ["module." + k for k in ref.state_dict()], list(ddp.state_dict())
assert max_diff(ref, ddp.module) == 0.0, "parameters not broadcast from rank 0"
assert plugrad.equal(ddp.module.scale, ref.scale), "buffers not broadcast from rank 0"

for name, make_opt, steps in [
    ("SGD", lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9), 50),
    ("Adam", lambda ps: optim.Adam(ps, lr=0.01), 50),
]:
    o_ref, o_ddp = make_opt(ref.parameters()), make_opt(ddp.parameters())
    for step in range(steps):
        x, y = data(step)
        o_ref.zero_grad()
        loss_of(ref, x, y).backward()
        o_ref.step()
        o_ddp.zero_grad()
        loss_of(ddp, mine(x), mine(y)).backward()
        o_ddp.step()
    d = max_diff(ref, ddp.module)
    if d > TOL:
        raise AssertionError(f"rank {R}: after {steps} {name} steps DDP differs from one process by {d}")
    if R == 0:
        print(f"{name}: {steps} steps, max |DDP - single| = {d:.2e}", flush=True)

# no_sync: two micro-batches per rank, the first without synchronisation
o_ref, o_ddp = optim.SGD(ref.parameters(), lr=0.05), optim.SGD(ddp.parameters(), lr=0.05)
for step in range(20):
    x, y = data(500 + step)
    o_ref.zero_grad()
    loss_of(ref, x, y).backward()
    o_ref.step()
    o_ddp.zero_grad()
    xs, ys = mine(x), mine(y)
    h = xs.shape[0] // 2
    with ddp.no_sync():
        (loss_of(ddp, xs[:h], ys[:h]) * 0.5).backward()
    (loss_of(ddp, xs[h:], ys[h:]) * 0.5).backward()
    o_ddp.step()
d = max_diff(ref, ddp.module)
if d > TOL:
    raise AssertionError(f"rank {R}: no_sync accumulation differs from one process by {d}")
if R == 0:
    print(f"no_sync: 20 steps, max |DDP - single| = {d:.2e}", flush=True)


# find_unused_parameters
class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(3, 4)
        self.a = nn.Linear(4, 1)
        self.b = nn.Linear(4, 1)
        self.never = nn.Linear(4, 1)

    def forward(self, x: plugrad.Tensor, use_b: bool) -> plugrad.Tensor:
        h = self.body(x)
        out = self.a(h)
        return out + self.b(h) if use_b else out


plugrad.manual_seed(5)
net = DDP(TwoHeads(), find_unused_parameters=True)
plugrad.manual_seed(6)
x = plugrad.randn(4, 3)
net(x, use_b=(R == 0)).sum().backward()
assert net.module.never.weight.grad is None, "a parameter no rank used got a gradient"
# reference for head b: rank 0's gradient divided by N
h = net.module.body(x).detach()
want_b = h.sum(0, keepdim=True) / N
got_b = net.module.b.weight.grad
assert got_b is not None and float((got_b - want_b).abs().max()) < TOL, (got_b, want_b)
want_a = h.sum(0, keepdim=True)  # every rank used a with the same x
assert float((net.module.a.weight.grad - want_a).abs().max()) < TOL

# without find_unused_parameters, an unused parameter is an error at the next forward
plugrad.manual_seed(5)
strict = DDP(TwoHeads())
strict(x, use_b=False).sum().backward()
try:
    strict(x, use_b=False)
except RuntimeError as exc:
    assert "find_unused_parameters=True" in str(exc) and "b.weight" in str(exc), str(exc)
else:
    raise AssertionError("an unused parameter without find_unused_parameters did not raise")

# buckets rebuilt in the order gradients arrived in the first backward, the same on every rank
assert ddp._arrival is None
assert sorted(id(p) for b in ddp._buckets for p in b.params) == sorted(id(p) for p in ddp.module.parameters())
order: list = [[ddp._index[id(p)] for b in ddp._buckets for p in b.params]]
everyone: list = [None] * N
dist.all_gather_object(everyone, order[0])
assert all(o == everyone[0] for o in everyone), everyone


# overlap: a bucket launched before a slow stretch of backward (a sleep standing in for
# GIL-free compute) completes during it, moved by the MPI backend's progress thread
class Slow(plugrad.autograd.Function):
    @staticmethod
    def forward(ctx: object, x: plugrad.Tensor) -> plugrad.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: object, g: plugrad.Tensor) -> plugrad.Tensor:
        time.sleep(0.05)
        return g


class Deep(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(64, 256)
        self.b = nn.Linear(256, 512)

    def forward(self, x: plugrad.Tensor) -> plugrad.Tensor:
        return self.b(Slow.apply(self.a(x)).relu())


deep = DDP(Deep(), bucket_cap_mb=0.25)
xin = plugrad.randn(8, 64)
early = []
for _ in range(6):
    dist.barrier()
    deep(xin).sum().backward()
    early.append(deep.comm_stats["done_early"])
if os.environ.get("PLUGRAD_MPI_PROGRESS_US", "100") != "0":
    assert max(early[1:]) >= 1, f"no all-reduce completed during backward: {early}"
if R == 0:
    print(f"overlap: buckets completed during backward per step {early} of {len(deep._buckets)}", flush=True)

dist.destroy_process_group()
print(f"OK rank {R} of {N}", flush=True)
