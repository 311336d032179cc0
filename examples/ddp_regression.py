"""The regression demo, data-parallel: fit y = W x + b on N processes with DistributedDataParallel.

The same model, loss and optimizer as ``linear_regression.py``; every process makes the
same data (same seed), keeps its shard of the samples, and ``DistributedDataParallel``
averages the gradients across processes during ``backward``, so each step equals the
single-process step on the whole data. Rank 0 prints, and prints what one process
prints (the timing line aside)::

    python examples/ddp_regression.py                      # one process
    mpiexec -n 2 python examples/ddp_regression.py         # two, same output
    mpiexec -n 3 python examples/ddp_regression.py --samples 200
    mpiexec -n 2 python examples/ddp_regression.py --device cuda   # NCCL where GPUs are

Shards may be uneven (200 samples on 3 ranks): each rank scales its mean loss by
``N * n_rank / n_total``, so that the average of the ranks' gradients is the gradient of
the mean over all samples. Needs ``pip install plugrad-distributed[mpi]``; without MPI it
runs as one process.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import plugrad as torch
from plugrad import nn, optim

sys.path.insert(0, str(Path(__file__).resolve().parent))
from linear_regression import TRUE_B, TRUE_W, make_data


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fit y = W x + b data-parallel with DistributedDataParallel (run under mpiexec).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (one GPU per process, NCCL)")
    parser.add_argument("--backend", default=None, help="communication backend (default: nccl for cuda, else mpi)")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate of SGD")
    parser.add_argument("--epochs", type=int, default=200, help="full passes over the data")
    parser.add_argument("--samples", type=int, default=200, help="number of data points (all ranks together)")
    parser.add_argument("--noise", type=float, default=0.1, help="standard deviation of the noise added to y")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--log-every", type=int, default=0, help="print the loss every N epochs (0: ten reports)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.samples < 1:
        parser.error("--epochs and --samples must be at least 1")
    if args.lr <= 0:
        parser.error("--lr must be positive")
    return args


def setup(device: str, backend: str | None) -> tuple[object, int, int]:
    """(the distributed module or None, rank, world size); one process without plugrad-distributed."""
    try:
        import plugrad.distributed as dist
    except ImportError:
        return None, 0, 1
    name = backend or ("nccl" if device.startswith("cuda") and dist.is_nccl_available() else "mpi")
    if name == "mpi" and not dist.is_mpi_available():
        print("plugrad.distributed: no MPI (pip install plugrad-distributed[mpi]); one process", file=sys.stderr)
        return None, 0, 1
    dist.init_process_group(backend=name)
    return dist, dist.get_rank(), dist.get_world_size()


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    dist, rank, world = setup(args.device, args.backend)
    say = print if rank == 0 else (lambda *a, **k: None)
    torch.manual_seed(args.seed)
    x, y = make_data(args.samples, args.noise, args.device)  # the same on every rank
    lo, hi = rank * args.samples // world, (rank + 1) * args.samples // world
    x, y = x[lo:hi], y[lo:hi]
    scale = world * (hi - lo) / args.samples  # mean over all samples = average over ranks of scaled means

    model = nn.Linear(1, 1, device=args.device)
    ddp: nn.Module = model
    if dist is not None:
        from plugrad.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model)
    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(ddp.parameters(), lr=args.lr)
    say(model)
    say(f"training on {x.device} with lr={args.lr} for {args.epochs} epochs ({args.samples} samples)")
    if world > 1:
        print(f"(rank {rank} of {world}: samples {lo}..{hi - 1})", file=sys.stderr)

    every = args.log_every or max(1, args.epochs // 10)
    losses: list[float] = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        prediction = ddp(x)
        loss = loss_fn(prediction, y) * scale
        optimizer.zero_grad()
        loss.backward()  # DDP averages the gradients over the ranks here
        optimizer.step()
        # the loss over all samples, summed in float64 so that any world size prints the same digits
        total = (prediction.detach() - y).double().pow(2).sum()
        if dist is not None and world > 1:
            dist.all_reduce(total)
        losses.append(total.item() / args.samples)
        if epoch == 1 or epoch % every == 0 or epoch == args.epochs:
            say(f"epoch {epoch:5d}/{args.epochs}  loss {losses[-1]:.6f}")
    elapsed = time.perf_counter() - start

    w, b = model.weight.item(), model.bias.item()
    say(f"trained in {elapsed:.2f} s")
    say(f"learned W = {w:.4f}   (true W = {TRUE_W})")
    say(f"learned b = {b:.4f}   (true b = {TRUE_B})")
    if dist is not None:
        dist.destroy_process_group()
    return {"w": w, "b": b, "loss": losses[-1], "seconds": elapsed}


if __name__ == "__main__":
    main()
