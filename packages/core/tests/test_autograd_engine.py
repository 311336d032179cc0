"""The backward engine and the autograd API: behaviour and errors as PyTorch has them."""

from __future__ import annotations

import gc
import sys
import threading
import warnings
import weakref

import plugrad as torch
import pytest
from plugrad.autograd import Function
from plugrad.testing import assert_close


def test_gradients_accumulate_across_backward_calls() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [3 + 2, 3 + 4]


def test_non_scalar_backward_needs_gradient() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        y.backward()
    y.backward(torch.tensor([1.0, 10.0]))
    assert x.grad.tolist() == [2.0, 20.0]


def test_second_backward_through_freed_graph_raises() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_backward_on_tensor_without_grad() -> None:
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad and does not have a grad_fn"):
        torch.tensor(1.0).backward()


def test_only_floating_tensors_require_grad() -> None:
    # PyTorch words the three paths differently; so does plugrad
    with pytest.raises(RuntimeError, match="^Only Tensors of floating point and complex dtype can require gradients$"):
        torch.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="^only Tensors of floating point dtype can require gradients$"):
        torch.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="^only Tensors of floating point and complex dtype can require gradients$"):
        torch.tensor([1, 2]).requires_grad = True


def test_requires_grad_false_on_non_leaf_raises() -> None:
    y = torch.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf variables"):
        y.requires_grad = False


def test_leaf_rules() -> None:
    a = torch.tensor([1.0])
    b = torch.tensor([1.0], requires_grad=True)
    c = b * 2
    d = a * 2
    assert a.is_leaf and b.is_leaf and not c.is_leaf and d.is_leaf
    assert c.grad_fn is not None and d.grad_fn is None
    assert b.detach().is_leaf


def test_non_leaf_grad_warns_and_is_none() -> None:
    y = torch.tensor([1.0], requires_grad=True) * 2
    with pytest.warns(UserWarning, match="is not a leaf Tensor is being accessed"):
        assert y.grad is None


def test_retain_grad_keeps_non_leaf_gradient() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    assert y.retains_grad
    (y * y).sum().backward()
    assert y.grad.tolist() == [6.0, 12.0]
    assert x.grad.tolist() == [18.0, 36.0]


def test_broadcast_gradients_are_reduced_to_input_shapes() -> None:
    pairs = [((), (4,)), ((4,), (3, 4)), ((3, 4), (1, 4)), ((1, 4), (3, 1))]
    for sa, sb in pairs:
        a = torch.ones(*sa, requires_grad=True)
        b = torch.ones(*sb, requires_grad=True)
        out = a * b
        out.sum().backward()
        assert tuple(a.grad.shape) == sa and tuple(b.grad.shape) == sb
        n = out.numel()
        assert_close(a.grad.sum().item(), float(n))
        assert_close(b.grad.sum().item(), float(n))


def test_two_leaves_never_share_one_gradient_tensor() -> None:
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    assert a.grad is not b.grad
    a.grad.mul_(10)
    assert b.grad.tolist() == [1.0, 1.0]


def test_user_gradient_is_not_aliased_into_grad() -> None:
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    g = torch.tensor([5.0, 6.0])
    (a + 0).backward(g)
    a.grad.zero_()
    assert g.tolist() == [5.0, 6.0]


def test_chain_of_100000_ops_backpropagates_at_default_recursion_limit() -> None:
    assert sys.getrecursionlimit() <= 10000
    x = torch.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.tolist() == [1.0]


def test_second_derivative_with_create_graph() -> None:
    x = torch.tensor([2.0, -1.0], requires_grad=True)
    y = (x**3).sum()
    (g,) = torch.autograd.grad(y, x, create_graph=True)
    assert_close(g, torch.tensor([12.0, 3.0]))  # 3x^2
    (h,) = torch.autograd.grad(g.sum(), x)
    assert_close(h, torch.tensor([12.0, -6.0]))  # 6x


def test_autograd_grad_does_not_touch_dot_grad() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    (gx,) = torch.autograd.grad((x * w).sum(), [x])
    assert gx.tolist() == [3.0, 4.0]
    assert x.grad is None and w.grad is None


def test_autograd_grad_unused_input() -> None:
    x = torch.tensor([1.0], requires_grad=True)
    z = torch.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        torch.autograd.grad((x * 2).sum(), [x, z])
    gx, gz = torch.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gx.tolist() == [2.0] and gz is None


def test_autograd_grad_of_non_leaf() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    (gh,) = torch.autograd.grad((h * h).sum(), h)
    assert gh.tolist() == [4.0, 8.0]


def test_backward_inputs_restricts_accumulation() -> None:
    x = torch.tensor([1.0], requires_grad=True)
    w = torch.tensor([3.0], requires_grad=True)
    (x * w).sum().backward(inputs=[w])
    assert w.grad.tolist() == [1.0] and x.grad is None


def test_detach_shares_storage() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad
    d[0] = 10.0
    assert x.tolist()[0] == 10.0


def test_detach_in_place() -> None:
    x = torch.tensor([1.0], requires_grad=True)
    y = x * 2
    y.detach_()
    assert y.is_leaf and not y.requires_grad and y.grad_fn is None


def test_grad_mode_context_decorator_and_nesting() -> None:
    x = torch.tensor([1.0], requires_grad=True)
    with torch.no_grad():
        assert not torch.is_grad_enabled()
        assert not (x * 2).requires_grad
        with torch.enable_grad():
            assert (x * 2).requires_grad
        with torch.set_grad_enabled(True):
            assert (x * 2).requires_grad
    assert torch.is_grad_enabled()

    @torch.no_grad()
    def f(t):  # type: ignore[no-untyped-def]
        return t * 2

    @torch.enable_grad()
    def g(t):  # type: ignore[no-untyped-def]
        return t * 2

    assert not f(x).requires_grad
    with torch.no_grad():
        assert g(x).requires_grad
    torch.set_grad_enabled(False)
    assert not torch.is_grad_enabled()
    torch.set_grad_enabled(True)
    assert torch.is_grad_enabled()


def test_no_grad_decorates_generators() -> None:
    @torch.no_grad()
    def gen():  # type: ignore[no-untyped-def]
        yield torch.is_grad_enabled()
        yield torch.is_grad_enabled()

    assert list(gen()) == [False, False]
    assert torch.is_grad_enabled()


def test_grad_mode_is_thread_local() -> None:
    seen: list[bool] = []
    entered = threading.Event()
    release = threading.Event()

    def other() -> None:
        entered.wait()
        seen.append(torch.is_grad_enabled())
        release.set()

    t = threading.Thread(target=other)
    t.start()
    with torch.no_grad():
        entered.set()
        release.wait(5)
    t.join()
    assert seen == [True]


def test_graph_is_freed_by_reference_counting() -> None:
    gc.disable()
    try:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (x.exp() * 2).sum()  # exp saves its own output: a potential cycle
        node = weakref.ref(y.grad_fn)
        y.backward(create_graph=True)
        x.grad = None
        del y
        assert node() is None
    finally:
        gc.enable()


class _Cube(Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        return 3 * x * x * g


class _BadShape(Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return x * 2

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        return torch.ones(2)


def test_custom_function_node_name_and_gradient() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = _Cube.apply(x)
    assert y.grad_fn.name() == "_CubeBackward"
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 12.0]


def test_custom_function_invalid_gradient_shape() -> None:
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(
        RuntimeError,
        match=r"Function _BadShapeBackward returned an invalid gradient at index 0 - got \[2\] but expected shape compatible with \[3\]",
    ):
        _BadShape.apply(x).sum().backward()


def test_next_functions_and_accumulate_grad() -> None:
    a = torch.tensor([1.0], requires_grad=True)
    b = torch.tensor([2.0])
    y = a * b
    (acc, nr), (none, _) = y.grad_fn.next_functions
    assert acc.name() == "AccumulateGrad" and acc.variable is a and nr == 0
    assert none is None


def test_variable_returns_a_tensor() -> None:
    v = torch.autograd.Variable(torch.tensor([1.0]), requires_grad=True)
    assert isinstance(v, torch.Tensor) and v.requires_grad


def test_no_node_when_grad_is_off() -> None:
    x = torch.tensor([1.0], requires_grad=True)
    with torch.no_grad():
        y = x * 2 + 1
    assert y.grad_fn is None and not y.requires_grad


def test_warnings_free_on_leaf_grad_access() -> None:
    x = torch.tensor([1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.grad is None


def test_create_graph_graphs_are_freed_without_the_garbage_collector() -> None:
    gc.disable()
    try:
        x = torch.tensor([0.5, 1.5], requires_grad=True)
        y = (x.tanh() * x.sigmoid()).sum()
        (g,) = torch.autograd.grad(y, x, create_graph=True)
        nodes = [weakref.ref(y.grad_fn), weakref.ref(g.grad_fn)]
        (h,) = torch.autograd.grad(g.sum(), x, create_graph=True)
        nodes.append(weakref.ref(h.grad_fn))
        del y, g, h
        assert all(n() is None for n in nodes)
    finally:
        gc.enable()
