"""Oracle: GradScaler's dynamic loss scaling and skipped steps against PyTorch's, step by step, on the CPU."""

from __future__ import annotations

import plugrad
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle


def test_grad_scaler_matches_pytorch_step_by_step():
    w0 = [[0.5, -1.0, 0.25], [1.5, 0.75, -0.5]]
    xs = [[[0.1 * (i + j + k) for k in range(3)] for j in range(4)] for i in range(8)]
    kw = {"init_scale": 2.0**10, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 3}

    tw = torch.tensor(w0, requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.1, momentum=0.9)
    tscaler = torch.amp.GradScaler("cpu", **kw)
    pw = plugrad.tensor(w0, requires_grad=True)
    popt = plugrad.optim.SGD([pw], lr=0.1, momentum=0.9)
    pscaler = plugrad.amp.GradScaler("cpu", **kw)

    for step, x in enumerate(xs):
        for w, opt, scaler, lib in ((tw, topt, tscaler, torch), (pw, popt, pscaler, plugrad)):
            opt.zero_grad()
            loss = (lib.tensor(x) @ w.t()).pow(2).mean()
            scaler.scale(loss).backward()
            if step in (4, 5):  # overflows: both skip the step and back off
                with lib.no_grad():
                    w.grad[0, 0] = float("inf") if step == 4 else float("nan")
            scaler.unscale_(opt)
            scaler.step(opt)
            scaler.update()
        assert pscaler.get_scale() == tscaler.get_scale(), step
        assert pw.reshape(-1).tolist() == pytest.approx(tw.reshape(-1).tolist(), rel=1e-5, abs=1e-6), step
    assert pscaler.state_dict() == tscaler.state_dict()
