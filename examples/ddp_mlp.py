"""The MLP classifier, data-parallel: mini-batches split over N processes with DistributedSampler.

The model and data of ``mlp_classifier.py`` (two moons), trained with Adam on
mini-batches. ``DistributedSampler`` gives each rank its share of every epoch's
shuffled order and ``DistributedDataParallel`` averages the gradients, so a global
batch of ``--batch-size`` samples (``batch-size / N`` per rank) makes the same step on
any number of processes; rank 0 prints the same as one process does (timing aside)::

    python examples/ddp_mlp.py
    mpiexec -n 2 python examples/ddp_mlp.py
    mpiexec -n 4 python examples/ddp_mlp.py --batch-size 80
    mpiexec -n 2 python examples/ddp_mlp.py --device cuda   # NCCL where GPUs are

Needs ``pip install plugrad-distributed[mpi]``; without MPI it runs as one process.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import plugrad as torch
from plugrad import nn, optim
from plugrad.utils.data import DataLoader, DistributedSampler, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ddp_regression import setup
from mlp_classifier import accuracy, make_model, two_moons


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train the two-moons MLP data-parallel (run under mpiexec).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (one GPU per process, NCCL)")
    parser.add_argument("--backend", default=None, help="communication backend (default: nccl for cuda, else mpi)")
    parser.add_argument("--samples", type=int, default=400, help="points in the training set (the test set has half)")
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--hidden", type=int, default=16, help="width of the two hidden layers")
    parser.add_argument("--lr", type=float, default=0.01, help="learning rate of Adam")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=40, help="global batch, split evenly over the ranks")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    dist, rank, world = setup(args.device, args.backend)
    say = print if rank == 0 else (lambda *a, **k: None)
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} must be divisible by the number of processes ({world})")
    torch.manual_seed(args.seed)
    x_train, y_train = two_moons(args.samples, args.noise, args.device)  # the same on every rank
    x_test, y_test = two_moons(max(2, args.samples // 2), args.noise, args.device)
    dataset = TensorDataset(x_train, y_train)
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    loader = DataLoader(dataset, batch_size=args.batch_size // world, sampler=sampler)

    model = make_model(args.hidden, args.device)
    ddp: nn.Module = model
    if dist is not None:
        from plugrad.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(ddp.parameters(), lr=args.lr)
    say(model)

    every = max(1, args.epochs // 10)
    start = time.perf_counter()
    loss_value = float("nan")
    for epoch in range(1, args.epochs + 1):
        sampler.set_epoch(epoch)
        total = torch.zeros((), dtype=torch.float64, device=args.device)
        for xb, yb in loader:
            loss = loss_fn(ddp(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach().double()
        if dist is not None and world > 1:
            dist.all_reduce(total, op=dist.ReduceOp.AVG)
        loss_value = total.item() / len(loader)  # the epoch's mean loss over all ranks
        if epoch == 1 or epoch % every == 0:
            say(
                f"epoch {epoch:5d}/{args.epochs}  loss {loss_value:.4f}  train accuracy {accuracy(model, x_train, y_train):.3f}"
            )
    elapsed = time.perf_counter() - start
    train_acc, test_acc = accuracy(model, x_train, y_train), accuracy(model, x_test, y_test)
    say(f"trained in {elapsed:.2f} s")
    say(f"train accuracy {train_acc:.3f}, test accuracy {test_acc:.3f}")
    if dist is not None:
        dist.destroy_process_group()
    return {"loss": loss_value, "train_accuracy": train_acc, "test_accuracy": test_acc, "seconds": elapsed}


if __name__ == "__main__":
    main()
