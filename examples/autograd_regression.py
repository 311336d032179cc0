"""Fit y = Wx + b by gradient descent with plugrad's autograd alone (no nn, no optim).

The closing topic of the walkthrough plugrad grew from: each step runs the forward
pass (predictions and the mean squared error), the backward pass (``loss.backward()``
fills ``W.grad`` and ``b.grad``), then updates the parameters under ``no_grad`` with
``parameter -= learning_rate * gradient`` and zeroes the gradients for the next step.

    python examples/autograd_regression.py --epochs 200 --lr 0.1
"""

from __future__ import annotations

import argparse

import plugrad as torch


def main(argv: list[str] | None = None) -> tuple[float, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    true_w, true_b = 3.0, 2.0
    torch.manual_seed(args.seed)
    x = torch.rand(args.samples, 1, device=args.device) * 2 - 1
    y = true_w * x + true_b + args.noise * torch.randn(args.samples, 1, device=args.device)

    w = torch.zeros(1, requires_grad=True, device=args.device)
    b = torch.zeros(1, requires_grad=True, device=args.device)
    for epoch in range(1, args.epochs + 1):
        loss = ((x * w + b - y) ** 2).mean()  # forward: mean squared error
        loss.backward()  # backward: d loss / d w and d loss / d b
        with torch.no_grad():  # the update is not part of the graph
            w -= args.lr * w.grad
            b -= args.lr * b.grad
        w.grad.zero_()
        b.grad.zero_()
        if epoch == 1 or epoch % max(1, args.epochs // 10) == 0:
            print(f"epoch {epoch:4d}  loss {loss.item():.6f}")
    print(f"learned W = {w.item():.4f}  (true {true_w})")
    print(f"learned b = {b.item():.4f}  (true {true_b})")
    return w.item(), b.item()


if __name__ == "__main__":
    main()
