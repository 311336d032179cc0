"""Fit y = W x + b by gradient descent on the mean squared error: plugrad's main demo.

The closing topic of the walkthrough plugrad grew from, written the way a PyTorch user
writes it: a model (``nn.Linear(1, 1)``: one weight W and one bias b), a loss
(``nn.MSELoss``) and an optimizer (``optim.SGD``). Each epoch runs

1. the forward pass: predictions ``W x + b`` and their mean squared error,
2. the backward pass: ``loss.backward()`` fills ``W.grad`` and ``b.grad``,
3. the update: ``optimizer.step()`` does ``parameter = parameter - lr * gradient``,

and ``optimizer.zero_grad()`` clears the gradients for the next epoch. The data are
``y = 3 x + 2`` plus Gaussian noise, so the learned W and b should end near 3 and 2.

    python examples/linear_regression.py
    python examples/linear_regression.py --lr 0.05 --epochs 300 --noise 0.5 --plot fit.png
    python examples/linear_regression.py --device cuda        # on the GPU backend
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import plugrad as torch
from plugrad import nn, optim

TRUE_W, TRUE_B = 3.0, 2.0


def make_data(samples: int, noise: float, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``samples`` points with x uniform in [-1, 1] and y = 3 x + 2 + noise * N(0, 1)."""
    x = torch.rand(samples, 1, device=device) * 2 - 1
    y = TRUE_W * x + TRUE_B + noise * torch.randn(samples, 1, device=device)
    return x, y


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fit y = W x + b with nn.Linear, nn.MSELoss and optim.SGD.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or a backend name such as numpy")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate of SGD")
    parser.add_argument("--epochs", type=int, default=200, help="full passes over the data")
    parser.add_argument("--samples", type=int, default=200, help="number of data points")
    parser.add_argument("--noise", type=float, default=0.1, help="standard deviation of the noise added to y")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--log-every", type=int, default=0, help="print the loss every N epochs (0: ten reports)")
    parser.add_argument(
        "--plot", metavar="FILE.png", help="save a figure of the data, the fitted line and the loss curve"
    )
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.samples < 1:
        parser.error("--epochs and --samples must be at least 1")
    if args.lr <= 0:
        parser.error("--lr must be positive")
    try:
        torch.empty(0, device=args.device)
    except (RuntimeError, ValueError) as exc:
        parser.error(f"--device {args.device}: {exc}")
    return args


def require_matplotlib() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("--plot needs matplotlib, which is not installed: pip install matplotlib")
    return plt


def plot(path: str, x: torch.Tensor, y: torch.Tensor, w: float, b: float, losses: list[float]) -> None:
    plt = require_matplotlib()
    xs, ys = x.reshape(-1).tolist(), y.reshape(-1).tolist()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.scatter(xs, ys, s=8, alpha=0.5, label="data")
    ends = [min(xs), max(xs)]
    left.plot(ends, [w * v + b for v in ends], color="C1", label=f"fit: y = {w:.3f} x + {b:.3f}")
    left.plot(ends, [TRUE_W * v + TRUE_B for v in ends], "k--", lw=1, label=f"true: y = {TRUE_W:g} x + {TRUE_B:g}")
    left.set_xlabel("x")
    left.set_ylabel("y")
    left.legend()
    right.plot(range(1, len(losses) + 1), losses)
    right.set_yscale("log")
    right.set_xlabel("epoch")
    right.set_ylabel("MSE loss")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"saved the figure to {path}")


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    if args.plot:
        require_matplotlib()  # fail before training, not after
    torch.manual_seed(args.seed)
    x, y = make_data(args.samples, args.noise, args.device)

    model = nn.Linear(1, 1, device=args.device)
    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr)
    print(model)
    print(f"training on {x.device} with lr={args.lr} for {args.epochs} epochs ({args.samples} samples)")

    every = args.log_every or max(1, args.epochs // 10)
    losses: list[float] = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        prediction = model(x)  # forward pass: W x + b
        loss = loss_fn(prediction, y)  # mean squared error
        optimizer.zero_grad()
        loss.backward()  # gradients of the loss w.r.t. W and b
        optimizer.step()  # W <- W - lr * dW, b <- b - lr * db
        losses.append(loss.item())
        if epoch == 1 or epoch % every == 0 or epoch == args.epochs:
            print(f"epoch {epoch:5d}/{args.epochs}  loss {losses[-1]:.6f}")
    elapsed = time.perf_counter() - start

    w, b = model.weight.item(), model.bias.item()
    print(f"trained in {elapsed:.2f} s")
    print(f"learned W = {w:.4f}   (true W = {TRUE_W})")
    print(f"learned b = {b:.4f}   (true b = {TRUE_B})")
    if args.plot:
        plot(args.plot, x, y, w, b, losses)
    return {"w": w, "b": b, "loss": losses[-1], "seconds": elapsed}


if __name__ == "__main__":
    main()
