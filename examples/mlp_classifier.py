"""Classify a generated two-class dataset (two moons, or two circles) with a small MLP.

The points are made with plugrad itself; a two-hidden-layer perceptron
(``nn.Sequential`` of ``nn.Linear`` and ``nn.ReLU``) outputs two logits per point,
``nn.CrossEntropyLoss`` scores them against the labels and ``optim.Adam`` trains it on
the whole dataset each epoch. Accuracy is reported on a held-out test split; with
``--plot FILE.png`` the decision boundary is drawn over the data.

    python examples/mlp_classifier.py
    python examples/mlp_classifier.py --dataset circles --hidden 32 --plot boundary.png
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

import plugrad as torch
from plugrad import nn, optim


def two_moons(n: int, noise: float, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles; class 0 on top, class 1 below, shifted right."""
    half = n // 2
    t0 = torch.rand(half, device=device) * math.pi
    t1 = torch.rand(n - half, device=device) * math.pi
    upper = torch.stack([t0.cos(), t0.sin()], dim=1)
    lower = torch.stack([1 - t1.cos(), 0.5 - t1.sin()], dim=1)
    x = torch.cat([upper, lower]) + noise * torch.randn(n, 2, device=device)
    y = torch.cat(
        [torch.zeros(half, dtype=torch.int64, device=device), torch.ones(n - half, dtype=torch.int64, device=device)]
    )
    return x, y


def two_circles(n: int, noise: float, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A circle of radius 1 (class 0) around one of radius 0.5 (class 1)."""
    half = n // 2
    t = torch.rand(n, device=device) * (2 * math.pi)
    radius = torch.cat([torch.ones(half, device=device), torch.full((n - half,), 0.5, device=device)])
    x = torch.stack([radius * t.cos(), radius * t.sin()], dim=1) + noise * torch.randn(n, 2, device=device)
    y = torch.cat(
        [torch.zeros(half, dtype=torch.int64, device=device), torch.ones(n - half, dtype=torch.int64, device=device)]
    )
    return x, y


def make_model(hidden: int, device: str) -> nn.Module:
    return nn.Sequential(
        nn.Linear(2, hidden, device=device),
        nn.ReLU(),
        nn.Linear(hidden, hidden, device=device),
        nn.ReLU(),
        nn.Linear(hidden, 2, device=device),
    )


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train a small MLP on a generated two-class dataset.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or a backend name")
    parser.add_argument("--dataset", choices=["moons", "circles"], default="moons")
    parser.add_argument("--samples", type=int, default=400, help="points in the training set (the test set has half)")
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--hidden", type=int, default=16, help="width of the two hidden layers")
    parser.add_argument("--lr", type=float, default=0.01, help="learning rate of Adam")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="FILE.png", help="save the decision boundary over the data")
    args = parser.parse_args(argv)
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


def plot_boundary(path: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: str) -> None:
    plt = require_matplotlib()
    lo = (x.amin(dim=0) - 0.5).tolist()
    hi = (x.amax(dim=0) + 0.5).tolist()
    steps = 200
    gx = torch.linspace(lo[0], hi[0], steps, device=device)
    gy = torch.linspace(lo[1], hi[1], steps, device=device)
    grid = torch.stack([gx.reshape(1, -1).expand(steps, steps), gy.reshape(-1, 1).expand(steps, steps)], dim=2).reshape(
        -1, 2
    )
    with torch.no_grad():
        prob = model(grid).softmax(dim=1)[:, 1].reshape(steps, steps)
    fig, ax = plt.subplots(figsize=(6, 5))
    contour = ax.contourf(gx.tolist(), gy.tolist(), prob.tolist(), levels=20, cmap="RdBu_r", alpha=0.6)
    ax.contour(gx.tolist(), gy.tolist(), prob.tolist(), levels=[0.5], colors="k", linewidths=1)
    pts, labels = x.tolist(), y.tolist()
    for cls, colour in ((0, "C0"), (1, "C3")):
        sel = [p for p, c in zip(pts, labels) if c == cls]
        ax.scatter(
            [p[0] for p in sel],
            [p[1] for p in sel],
            s=10,
            c=colour,
            edgecolors="k",
            linewidths=0.3,
            label=f"class {cls}",
        )
    fig.colorbar(contour, ax=ax, label="P(class 1)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"saved the decision boundary to {path}")


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    if args.plot:
        require_matplotlib()
    torch.manual_seed(args.seed)
    make = two_moons if args.dataset == "moons" else two_circles
    x_train, y_train = make(args.samples, args.noise, args.device)
    x_test, y_test = make(max(2, args.samples // 2), args.noise, args.device)

    model = make_model(args.hidden, args.device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    print(model)

    every = max(1, args.epochs // 10)
    start = time.perf_counter()
    loss_value = float("nan")
    for epoch in range(1, args.epochs + 1):
        loss = loss_fn(model(x_train), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_value = loss.item()
        if epoch == 1 or epoch % every == 0:
            print(
                f"epoch {epoch:5d}/{args.epochs}  loss {loss_value:.4f}  train accuracy {accuracy(model, x_train, y_train):.3f}"
            )
    elapsed = time.perf_counter() - start
    train_acc, test_acc = accuracy(model, x_train, y_train), accuracy(model, x_test, y_test)
    print(f"trained in {elapsed:.2f} s")
    print(f"train accuracy {train_acc:.3f}, test accuracy {test_acc:.3f}")
    if args.plot:
        plot_boundary(args.plot, model, x_train, y_train, args.device)
    return {"loss": loss_value, "train_accuracy": train_acc, "test_accuracy": test_acc, "seconds": elapsed}


if __name__ == "__main__":
    main()
