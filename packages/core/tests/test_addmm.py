"""plugrad.addmm: beta * input + alpha * (mat1 @ mat2), the op behind nn.functional.linear."""

from __future__ import annotations

import plugrad
import pytest
from plugrad.autograd import gradcheck, gradgradcheck


def _t(*shape: int, seed: int) -> plugrad.Tensor:
    g = plugrad.Generator().manual_seed(seed)
    return plugrad.randn(*shape, dtype=plugrad.float64, generator=g).requires_grad_()


@pytest.mark.parametrize("bias_shape", [(3,), (1, 3), (2, 3), (), (1,)])
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1)])
def test_addmm_values_and_derivatives(bias_shape: tuple[int, ...], beta: float, alpha: float) -> None:
    bias, a, b = _t(*bias_shape, seed=1), _t(2, 4, seed=2), _t(4, 3, seed=3)
    out = plugrad.addmm(bias, a, b, beta=beta, alpha=alpha)
    ref = [
        [
            beta * bias.expand(2, 3)[i, j].item() + alpha * sum(a[i, k].item() * b[k, j].item() for k in range(4))
            for j in range(3)
        ]
        for i in range(2)
    ]
    assert out.shape == (2, 3)
    assert all(abs(x - y) < 1e-12 for r, q in zip(out.tolist(), ref) for x, y in zip(r, q))
    fn = lambda c, x, y: plugrad.addmm(c, x, y, beta=beta, alpha=alpha)  # noqa: E731
    assert gradcheck(fn, (bias, a, b))
    assert gradgradcheck(fn, (bias, a, b))
    assert type(out.grad_fn).__name__ == "AddmmBackward0"


def test_addmm_errors_follow_pytorch() -> None:
    a, b = plugrad.ones(2, 4), plugrad.ones(4, 3)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x4 and 5x3\)"):
        plugrad.addmm(plugrad.zeros(3), a, plugrad.ones(5, 3))
    with pytest.raises(RuntimeError, match="self and mat2 must have the same dtype, but got Double and Float"):
        plugrad.addmm(plugrad.zeros(3, dtype=plugrad.float64), a, b)
    with pytest.raises(RuntimeError, match=r"The expanded size of the tensor \(3\) must match the existing size \(4\)"):
        plugrad.addmm(plugrad.zeros(4), a, b)
    out = plugrad.empty(2, 3)
    assert plugrad.addmm(plugrad.zeros(3), a, b, out=out) is out and out.tolist() == [[4.0] * 3] * 2
    assert plugrad.zeros(3).addmm(a, b).tolist() == [[4.0] * 3] * 2


@pytest.mark.oracle
def test_addmm_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    bias, a, b = _t(3, seed=4), _t(5, 2, seed=5), _t(2, 3, seed=6)
    ours = plugrad.addmm(bias, a, b, beta=0.25, alpha=-1.5)
    tt = [torch.tensor(v.tolist(), dtype=torch.float64, requires_grad=True) for v in (bias, a, b)]
    ref = torch.addmm(*tt, beta=0.25, alpha=-1.5)
    torch.testing.assert_close(torch.tensor(ours.tolist(), dtype=torch.float64), ref.detach())
    g = _t(5, 3, seed=7).detach()
    for x, y in zip(
        plugrad.autograd.grad(ours, [bias, a, b], g),
        torch.autograd.grad(ref, tt, torch.tensor(g.tolist(), dtype=torch.float64)),
    ):
        torch.testing.assert_close(torch.tensor(x.tolist(), dtype=torch.float64), y)
