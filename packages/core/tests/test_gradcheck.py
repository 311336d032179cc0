"""``plugrad.autograd.gradcheck`` / ``gradgradcheck``: pass on correct gradients, fail
(with both Jacobians in the message) on wrong first or second derivatives."""

from __future__ import annotations

import warnings
from typing import Any

import plugrad
import pytest
from plugrad.autograd import GradcheckError, gradcheck, gradgradcheck


def _x(*shape: int) -> plugrad.Tensor:
    plugrad.manual_seed(0)
    return plugrad.randn(*shape, dtype=plugrad.float64, requires_grad=True)


class WrongFirst(plugrad.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: plugrad.Tensor) -> plugrad.Tensor:
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx: Any, g: plugrad.Tensor) -> plugrad.Tensor:
        (x,) = ctx.saved_tensors
        return 3 * g * x  # should be 2 g x


class WrongSecond(plugrad.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: plugrad.Tensor) -> plugrad.Tensor:
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx: Any, g: plugrad.Tensor) -> plugrad.Tensor:
        (x,) = ctx.saved_tensors
        return 3 * g * x * x.detach()  # right value, but half the second derivative is lost


def test_passes_for_correct_gradients() -> None:
    x, y = _x(3, 4), _x(4)
    assert gradcheck(lambda a, b: (a * b).softmax(1), (x, y))
    assert gradcheck(lambda a: (a.exp(), a.sum(0)), x)
    assert gradgradcheck(lambda a, b: (a @ b).tanh(), (x, y))
    assert gradcheck(lambda a: a.cumprod(1), (x,), fast_mode=True)
    assert gradgradcheck(lambda a: a.logsumexp(0), (x,), fast_mode=True)


def test_fails_with_both_jacobians_on_a_wrong_first_derivative() -> None:
    x = _x(3)
    with pytest.raises(GradcheckError) as info:
        gradcheck(WrongFirst.apply, (x,))
    msg = str(info.value)
    assert msg.startswith("Jacobian mismatch for output 0 with respect to input 0,\nnumerical:tensor(")
    assert "\nanalytical:tensor(" in msg
    assert gradcheck(WrongFirst.apply, (x,), raise_exception=False) is False
    with pytest.raises(GradcheckError):
        gradcheck(WrongFirst.apply, (x,), fast_mode=True)
    assert isinstance(info.value, RuntimeError)


def test_gradgradcheck_catches_a_wrong_second_derivative() -> None:
    x = _x(3)
    assert gradcheck(WrongSecond.apply, (x,))
    with pytest.raises(GradcheckError):
        gradgradcheck(WrongSecond.apply, (x,))
    assert gradgradcheck(WrongSecond.apply, (x,), raise_exception=False) is False


def test_non_tensor_arguments_and_integer_inputs_are_passed_through() -> None:
    x = _x(2, 3)
    idx = plugrad.tensor([[0, 2], [1, 1]])
    assert gradcheck(lambda a, i, d: a.gather(d, i), (x, idx, 1))


def test_requires_a_differentiable_input_and_warns_below_double_precision() -> None:
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        gradcheck(lambda a: a * 2, (plugrad.ones(2),))
    x = plugrad.ones(2, requires_grad=True)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        gradcheck(lambda a: a * 2, (x,), eps=1e-3, atol=1e-2)
    assert any("is not a double precision floating point" in str(w.message) for w in rec)
