"""``alpha`` given as a one-element tensor means its number, as PyTorch's Scalar arguments do
(an optimizer with a tensor learning rate calls ``p.add_(grad, alpha=-lr)``)."""

from __future__ import annotations

import plugrad
import pytest


@pytest.mark.parametrize("alpha", [plugrad.tensor(3.0), plugrad.tensor([3.0]), plugrad.tensor(3)])
def test_tensor_alpha_is_its_number(alpha):
    x, y = plugrad.ones(2), plugrad.full((2,), 2.0)
    want_add, want_sub = plugrad.full((2,), 7.0), plugrad.full((2,), -5.0)
    assert plugrad.equal(plugrad.add(x, y, alpha=alpha), want_add)
    assert plugrad.equal(plugrad.sub(x, y, alpha=alpha), want_sub)
    assert plugrad.equal(x.clone().add_(y, alpha=alpha), want_add)
    assert plugrad.equal(x.clone().sub_(y, alpha=alpha), want_sub)


def test_a_tensor_alpha_of_several_elements_is_refused():
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted to Scalar"):
        plugrad.ones(2).add_(plugrad.ones(2), alpha=plugrad.ones(2))


def test_sgd_with_a_tensor_learning_rate_steps():
    p = plugrad.ones(2, requires_grad=True)
    opt = plugrad.optim.SGD([p], lr=plugrad.tensor(0.5)) if hasattr(plugrad, "optim") else None
    if opt is None:
        pytest.skip("plugrad-optim is not installed")
    p.grad = plugrad.ones(2)
    opt.step()
    assert plugrad.equal(p.detach(), plugrad.full((2,), 0.5))
