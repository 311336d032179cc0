"""Per-sample gradients: ``vmap(grad(loss), in_dims=(None, 0, 0))`` over a batch.

The classic ``torch.func`` workload: for a small MLP (``in -> hidden -> tanh -> 1``, MSE)
and a batch of 256 examples, the gradient of each example's loss with respect to every
parameter. Timed three ways in the same run:

- ``plugrad.func.vmap(plugrad.func.grad(loss))``;
- the explicit Python loop over examples with ``plugrad.func.grad``;
- ``torch.func.vmap(torch.func.grad(loss))`` when PyTorch is importable (the target).

The results are checked against each other before timing. Not a unit test: timings
depend on the machine (best of ``--repeats``).

    python benchmarks/vmap_grad.py
    python benchmarks/vmap_grad.py --batch 64 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import plugrad
from plugrad.func import PerformanceWarning, grad, vmap


def best(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    t = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--inputs", type=int, default=16)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    plugrad.manual_seed(0)
    params = {
        "w1": plugrad.randn(args.hidden, args.inputs) / args.inputs**0.5,
        "b1": plugrad.zeros(args.hidden),
        "w2": plugrad.randn(1, args.hidden) / args.hidden**0.5,
        "b2": plugrad.zeros(1),
    }
    x = plugrad.randn(args.batch, args.inputs)
    y = plugrad.randn(args.batch, 1)

    def loss(p: dict[str, plugrad.Tensor], xi: plugrad.Tensor, yi: plugrad.Tensor) -> plugrad.Tensor:
        h = (p["w1"] @ xi + p["b1"]).tanh()
        return ((p["w2"] @ h + p["b2"] - yi) ** 2).mean()

    warnings.simplefilter("ignore", PerformanceWarning)
    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))

    def loop() -> list[dict[str, plugrad.Tensor]]:
        g = grad(loss)
        return [g(params, x[i], y[i]) for i in range(args.batch)]

    got = per_sample(params, x, y)
    ref = loop()
    for k in params:
        plugrad.testing.assert_close(got[k], plugrad.stack([r[k] for r in ref]), rtol=1e-5, atol=1e-6)
    times = {
        "plugrad vmap(grad)": best(lambda: per_sample(params, x, y), args.repeats),
        "plugrad loop of grad": best(loop, args.repeats),
    }
    try:
        import torch
        from torch import func as tf
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        tparams = {k: torch.tensor(v.tolist()) for k, v in params.items()}
        tx, ty = torch.tensor(x.tolist()), torch.tensor(y.tolist())

        def tloss(p: dict[str, Any], xi: Any, yi: Any) -> Any:
            h = torch.tanh(p["w1"] @ xi + p["b1"])
            return ((p["w2"] @ h + p["b2"] - yi) ** 2).mean()

        tper = tf.vmap(tf.grad(tloss), in_dims=(None, 0, 0))
        tgot = tper(tparams, tx, ty)
        for k in params:
            plugrad.testing.assert_close(got[k], plugrad.tensor(tgot[k].tolist()), rtol=1e-4, atol=1e-5)
        times["torch.func vmap(grad)"] = best(lambda: tper(tparams, tx, ty), args.repeats)

    base = times.get("torch.func vmap(grad)")
    print(f"per-sample gradients, MLP {args.inputs}-{args.hidden}-1, batch {args.batch} (best of {args.repeats})")
    for name, t in times.items():
        ratio = f"{t / base:8.1f}x torch.func" if base else ""
        print(f"  {name:<24}{t * 1e3:10.2f} ms  {ratio}")
    return times


if __name__ == "__main__":
    main(sys.argv[1:])
