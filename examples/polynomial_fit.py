"""Fit a cubic polynomial by gradient descent: linear regression on polynomial features.

The data follow ``y = 0.5 x^3 - 2 x^2 + x + 1`` plus noise. The features of each x are
``[x, x^2, ..., x^degree]``, so the model is one ``nn.Linear(degree, 1)``: its weights
are the coefficients and its bias the constant term. The loss is the mean squared
error; SGD with momentum (or Adam) minimises it.

    python examples/polynomial_fit.py
    python examples/polynomial_fit.py --degree 5 --optimizer adam --plot poly.png
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import plugrad as torch
from plugrad import nn, optim

#: Coefficients of the true polynomial, constant term first.
TRUE_COEFFS = [1.0, 1.0, -2.0, 0.5]


def true_poly(x: torch.Tensor) -> torch.Tensor:
    return sum(c * x**k for k, c in enumerate(TRUE_COEFFS))  # type: ignore[return-value]


def features(x: torch.Tensor, degree: int) -> torch.Tensor:
    """``(N, 1) -> (N, degree)``: the columns x, x^2, ..., x^degree."""
    return torch.cat([x**k for k in range(1, degree + 1)], dim=1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fit a polynomial with nn.Linear on polynomial features.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or a backend name")
    parser.add_argument("--degree", type=int, default=3, help="degree of the fitted polynomial")
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd", help="SGD with momentum 0.9, or Adam")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate")
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.05, help="standard deviation of the noise")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="FILE.png", help="save a figure of the data, the fit and the loss curve")
    args = parser.parse_args(argv)
    if args.degree < 1:
        parser.error("--degree must be at least 1")
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.plot:
        require_matplotlib()
    torch.manual_seed(args.seed)
    x = torch.rand(args.samples, 1, device=args.device) * 2 - 1
    y = true_poly(x) + args.noise * torch.randn(args.samples, 1, device=args.device)
    feats = features(x, args.degree)

    model = nn.Linear(args.degree, 1, device=args.device)
    loss_fn = nn.MSELoss()
    if args.optimizer == "sgd":
        optimizer: optim.Optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    else:
        optimizer = optim.Adam(model.parameters(), lr=args.lr)
    print(model)
    print(optimizer)

    losses: list[float] = []
    every = max(1, args.epochs // 10)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        loss = loss_fn(model(feats), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if epoch == 1 or epoch % every == 0:
            print(f"epoch {epoch:5d}/{args.epochs}  loss {losses[-1]:.6f}")
    elapsed = time.perf_counter() - start

    learned = [model.bias.item(), *model.weight.reshape(-1).tolist()]
    print(f"trained in {elapsed:.2f} s")
    print("power   learned     true")
    for k, c in enumerate(learned):
        true = TRUE_COEFFS[k] if k < len(TRUE_COEFFS) else 0.0
        print(f"x^{k:<4d} {c:9.4f} {true:8.4f}")
    if args.plot:
        plt = require_matplotlib()
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        left.scatter(x.reshape(-1).tolist(), y.reshape(-1).tolist(), s=8, alpha=0.5, label="data")
        grid = torch.linspace(-1, 1, 200, device=args.device).reshape(-1, 1)
        with torch.no_grad():
            fit = model(features(grid, args.degree))
        left.plot(grid.reshape(-1).tolist(), fit.reshape(-1).tolist(), color="C1", label="fit")
        left.plot(grid.reshape(-1).tolist(), true_poly(grid).reshape(-1).tolist(), "k--", lw=1, label="true")
        left.legend()
        right.plot(range(1, len(losses) + 1), losses)
        right.set_yscale("log")
        right.set_xlabel("epoch")
        right.set_ylabel("MSE loss")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"saved the figure to {args.plot}")
    return {"coefficients": learned, "loss": losses[-1], "seconds": elapsed}


if __name__ == "__main__":
    main()
