"""Save on one world size, resume on another; run under ``mpiexec -n N``.

``python checkpoint.py save PATH``: 10 Adam steps with DDP, rank 0 saves model and
optimizer state, then a barrier (nobody leaves before the file is complete).
``python checkpoint.py resume PATH``: every rank loads it and trains 10 more steps; the
result must equal 20 uninterrupted single-process steps on the whole batch (every rank
computes that reference itself).
"""

from __future__ import annotations

import sys
from datetime import timedelta

import plugrad
import plugrad.distributed as dist
from plugrad import nn, optim
from plugrad.nn.parallel import DistributedDataParallel as DDP

mode, path = sys.argv[1], sys.argv[2]
dist.init_process_group("mpi", timeout=timedelta(seconds=60))
R, N = dist.get_rank(), dist.get_world_size()
plugrad.set_default_dtype(plugrad.float64)
B = 12


def make_model(seed: int) -> nn.Module:
    plugrad.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 2))


def batch(step: int) -> tuple[plugrad.Tensor, plugrad.Tensor]:
    plugrad.manual_seed(2000 + step)
    return plugrad.randn(B, 5), plugrad.randn(B, 2)


def train(model: nn.Module, opt: optim.Optimizer, steps: range, shard: bool) -> None:
    n = B // N
    for step in steps:
        x, y = batch(step)
        if shard:
            x, y = x[R * n : (R + 1) * n], y[R * n : (R + 1) * n]
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()


if mode == "save":
    ddp = DDP(make_model(0))
    opt = optim.Adam(ddp.parameters(), lr=0.01)
    train(ddp, opt, range(10), shard=True)
    if R == 0:
        plugrad.save({"model": ddp.module.state_dict(), "optimizer": opt.state_dict(), "step": 10}, path)
    dist.barrier()
    print(f"rank {R} of {N}: saved", flush=True)
else:
    ddp = DDP(make_model(123 + R))  # other weights: the checkpoint must win
    opt = optim.Adam(ddp.parameters(), lr=0.01)
    ckpt = plugrad.load(path)
    ddp.module.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    train(ddp, opt, range(ckpt["step"], 20), shard=True)
    ref = make_model(0)
    ref_opt = optim.Adam(ref.parameters(), lr=0.01)
    train(ref, ref_opt, range(20), shard=False)
    d = max(float((p - q).abs().max()) for p, q in zip(ref.parameters(), ddp.module.parameters()))
    if d > 1e-10:
        raise AssertionError(f"rank {R}: resumed on {N} ranks, differs from 20 single-process steps by {d}")
    print(f"rank {R} of {N}: resumed, max |resumed - uninterrupted| = {d:.2e}", flush=True)
dist.destroy_process_group()
