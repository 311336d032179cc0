"""``plugrad.compile(..., backend="numba")`` end to end: discovery through entry points,
compiled against eager (forward, backward, in-place ops, a training loop), the on-disk
cache, numba's compile time, and the plugin's record when numba cannot be imported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import plugrad as torch
import plugrad_numba
import pytest
from plugrad_numba import plugin


def test_the_plugin_is_found_through_entry_points() -> None:
    from plugrad.plugins import get_registry

    info = get_registry().compiler_infos()["numba"]
    assert info.available, info.reason
    assert info.backends == ("numpy",)
    assert "numba" in torch.compiler.list_backends()
    out = subprocess.run([sys.executable, "-m", "plugrad", "info"], capture_output=True, text=True, check=True).stdout
    assert any(line.split()[:1] == ["numba"] and "plugrad-compile-numba" in line for line in out.splitlines()), out


def test_unavailable_when_numba_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    (spec,) = plugin.plugrad_compilers()
    assert spec.name == "numba" and spec.compile is None
    assert spec.unavailable_reason and "numba cannot be imported" in spec.unavailable_reason


def _compare(fn: Any, *args: Any, calls: int = 4, rtol: float = 2e-6, atol: float = 1e-6) -> None:
    """Eager and compiled calls of ``fn`` give the same results, gradients included."""
    compiled = torch.compile(fn, backend="numba")
    for i in range(calls):
        for a in args:
            if isinstance(a, torch.Tensor) and a.requires_grad:
                a.grad = None
        want = fn(*args)
        want_grads = [None if a.grad is None else a.grad.detach().clone() for a in args if isinstance(a, torch.Tensor)]
        for a in args:
            if isinstance(a, torch.Tensor) and a.requires_grad:
                a.grad = None
        got = compiled(*args)
        got_grads = [None if a.grad is None else a.grad.detach().clone() for a in args if isinstance(a, torch.Tensor)]
        for w, g in zip(want if isinstance(want, tuple) else (want,), got if isinstance(got, tuple) else (got,)):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(
                g.detach().numpy(), w.detach().numpy(), rtol=rtol, atol=atol, err_msg=f"call {i}"
            )
        for w, g in zip(want_grads, got_grads):
            assert (w is None) == (g is None)
            if w is not None:
                assert g.dtype == w.dtype
                np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=rtol, atol=atol, err_msg=f"grad, call {i}")


def test_an_elementwise_chain_forward_and_backward_is_fused() -> None:
    x = torch.linspace(-1, 1, 16).requires_grad_()
    w = torch.linspace(0.5, 1.5, 16).requires_grad_()

    def step(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        y = x
        for _ in range(5):
            y = torch.sigmoid(torch.tanh(y * w + 0.1)).relu().exp() * 0.5 - 0.25
        y.sum().backward()
        return y

    before = plugrad_numba.stats.groups
    _compare(step, x, w)
    assert plugrad_numba.stats.groups > before, "the numba compiler fused nothing"


def test_broadcasting_and_float64() -> None:
    x = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(3, 4).requires_grad_()
    b = torch.linspace(0, 1, 4, dtype=torch.float64).requires_grad_()
    c = torch.linspace(1, 2, 3, dtype=torch.float64).reshape(3, 1)

    def step(x: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(x * c + b).exp() / (1.0 + torch.sigmoid(x - b) * c)
        y.mean().backward()
        return y

    _compare(step, x, b, c, rtol=1e-12, atol=1e-12)


def test_in_place_ops() -> None:
    x = torch.linspace(-1, 1, 8)
    y = torch.linspace(0, 2, 8)

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.tanh(x * 2.0 + 1.0)
        before = z * 3.0  # read before the in-place writes
        z.mul_(y).add_(0.5)
        z.clamp_(min=-0.5, max=1.5)
        after = torch.exp(z) + before
        return after, z

    _compare(step, x, y)


def test_a_training_step_matches_eager() -> None:
    """nn.Linear + tanh + MSE + SGD for 10 steps: parameters and losses agree with eager to 1e-6."""
    import plugrad.nn as nn
    import plugrad.optim as optim

    def make() -> tuple[Any, Any]:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            opt.zero_grad()
            loss = nn.functional.mse_loss(torch.tanh(model(x)), y)
            loss.backward()
            opt.step()
            return loss

        return model, step

    x = torch.linspace(-1, 1, 30).reshape(10, 3)
    y = torch.linspace(0, 0.5, 10).reshape(10, 1)
    model_e, step_e = make()
    model_c, step_c = make()
    compiled = torch.compile(step_c, backend="numba")
    for i in range(10):
        le, lc = step_e(x, y), compiled(x, y)
        assert abs(le.item() - lc.item()) <= 1e-6, (i, le.item(), lc.item())
        for pe, pc in zip(model_e.parameters(), model_c.parameters()):
            assert pc.dtype == pe.dtype
            np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), rtol=0, atol=1e-6, err_msg=f"step {i}")


def test_a_step_without_elementwise_groups_runs() -> None:
    a = torch.linspace(-1, 1, 12).reshape(3, 4)
    b = torch.linspace(0, 1, 8).reshape(4, 2)
    _compare(lambda a, b: (a @ b).sum(), a, b)


def test_numba_compile_time_is_counted_apart() -> None:
    """A kernel never seen before (a constant no other test uses) is compiled on its first replay
    and its time counted; a second function with the same kernel compiles nothing."""
    const = 0.123456 + os.getpid() % 1000 / 1e7  # a new source in every test process
    x = torch.linspace(-1, 1, 32)

    def step(x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.exp(x * const) * const) * const

    before = plugrad_numba.stats.compile_seconds, plugrad_numba.stats.kernels_compiled, plugrad_numba.stats.cache_loads
    _compare(step, x)
    after = plugrad_numba.stats.compile_seconds, plugrad_numba.stats.kernels_compiled, plugrad_numba.stats.cache_loads
    assert after[0] > before[0] and after[1] + after[2] > before[1] + before[2]
    assert plugrad_numba.compile_seconds() == plugrad_numba.stats.compile_seconds
    mid = plugrad_numba.stats.kernels_compiled
    _compare(step, x)  # the same source again: the same kernel, nothing compiled
    assert plugrad_numba.stats.kernels_compiled == mid


def test_a_new_process_loads_kernels_from_the_disk_cache(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import plugrad as torch, plugrad_numba
        x = torch.linspace(-1, 1, 16).requires_grad_()
        def step(x):
            y = torch.sigmoid(torch.tanh(x * 1.25 + 0.5)) * x
            y.sum().backward()
            return y
        f = torch.compile(step, backend="numba")
        for _ in range(4):
            x.grad = None
            f(x)
        s = plugrad_numba.stats
        print(s.groups, s.kernels_compiled, s.cache_loads)
        """
    )
    env = {**os.environ, "PLUGRAD_NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    first = [int(v) for v in runs[0].stdout.split()]
    second = [int(v) for v in runs[1].stdout.split()]
    assert first[0] > 0 and first[1] > 0, first
    assert second[0] == first[0] and second[1] == 0 and second[2] > 0, (first, second)
    assert list(tmp_path.glob("fused_*.py"))
