"""In-place safety, views, hooks, custom Function contract, anomaly detection, threads."""

from __future__ import annotations

import threading

import plugrad as torch
import pytest
from plugrad.autograd import Function, once_differentiable
from plugrad.testing import assert_close


def num_grad(f, x: list[float], eps: float = 1e-6) -> list[float]:  # type: ignore[no-untyped-def]
    """Central differences of a scalar function of a float64 vector."""
    out = []
    for i in range(len(x)):
        hi = list(x)
        lo = list(x)
        hi[i] += eps
        lo[i] -= eps
        out.append(
            (f(torch.tensor(hi, dtype=torch.float64)).item() - f(torch.tensor(lo, dtype=torch.float64)).item())
            / (2 * eps)
        )
    return out


# ------------------------------------------------------------------------ in place
def test_leaf_requiring_grad_cannot_change_in_place() -> None:
    x = torch.tensor([1.0], requires_grad=True)
    with pytest.raises(
        RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation."
    ):
        x.add_(1)
    with pytest.raises(
        RuntimeError, match="a view of a leaf Variable that requires grad is being used in an in-place operation."
    ):
        x[0] = 5.0
    with torch.no_grad():
        x.add_(1)
    assert x.tolist() == [2.0]


def test_modified_saved_tensor_is_detected() -> None:
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = a * 1
    c = b * b  # saves b
    b.add_(1)
    with pytest.raises(
        RuntimeError,
        match=r"one of the variables needed for gradient computation has been modified by an inplace operation: "
        r"\[plugrad.FloatTensor \[2\]\], which is output 0 of AddBackward0, is at version 1; expected version 0 instead",
    ):
        c.sum().backward()


def test_modified_saved_output_is_detected() -> None:
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    e = a.exp()  # ExpBackward0 saves its output
    e.mul_(2)
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0 instead"):
        e.sum().backward()


def test_in_place_on_non_leaf_gives_correct_gradient() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        y = x * 2
        y.mul_(x)  # y = 2x^2
        y.add_(3)
        return y.sum()

    x = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    f(x).backward()
    assert_close(x.grad.tolist(), num_grad(f, [1.0, -2.0, 0.5]), rtol=1e-6, atol=1e-6)


def test_in_place_through_a_view_updates_the_base_history() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        b = x * 1
        v = b[1:3]
        v.mul_(x[0:2])  # writes into b through the view
        return (b * b).sum()

    vals = [1.0, 2.0, 3.0, -1.0]
    x = torch.tensor(vals, dtype=torch.float64, requires_grad=True)
    f(x).backward()
    assert_close(x.grad.tolist(), num_grad(f, vals), rtol=1e-6, atol=1e-6)


def test_setitem_with_a_tensor_that_requires_grad() -> None:
    def f(w):  # type: ignore[no-untyped-def]
        y = torch.zeros(2, 3, dtype=torch.float64)
        y[0] = w * 2
        y[1, 1:] = w[:2]
        return (y * y).sum()

    vals = [1.0, 2.0, 3.0]
    w = torch.tensor(vals, dtype=torch.float64, requires_grad=True)
    f(w).backward()
    assert_close(w.grad.tolist(), num_grad(f, vals), rtol=1e-6, atol=1e-6)


def test_views_share_storage_and_version() -> None:
    x = torch.zeros(2, 3)
    v = x[0]
    r = x.reshape(6)
    t = x.t()
    v[1] = 5.0
    assert x.tolist()[0][1] == 5.0 and r.tolist()[1] == 5.0 and t.tolist()[1][0] == 5.0
    assert x._version == v._version == r._version == 1


def test_view_of_leaf_in_place_is_an_error() -> None:
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(
        RuntimeError, match="a view of a leaf Variable that requires grad is being used in an in-place operation."
    ):
        x[0:2].mul_(2)


def test_augmented_assignment_under_no_grad() -> None:
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    with torch.no_grad():
        w -= 0.5 * torch.tensor([2.0, 2.0])
        w *= 2
        w /= 4
        w += 1
    assert w.tolist() == [1.0, 1.5] and w.requires_grad and w.is_leaf


def test_in_place_result_type_errors() -> None:
    i = torch.tensor([1, 2])
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        i /= 2
    with pytest.raises(RuntimeError, match=r"output with shape \[2\] doesn't match the broadcast shape \[2, 2\]"):
        torch.ones(2).add_(torch.ones(2, 2))


def test_copy_fill_zero() -> None:
    x = torch.zeros(2, 2)
    x.copy_(torch.tensor([1.0, 2.0]))
    assert x.tolist() == [[1.0, 2.0], [1.0, 2.0]]
    x.fill_(3)
    assert x.tolist() == [[3.0, 3.0], [3.0, 3.0]]
    x.zero_()
    assert x.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    y = torch.zeros(2)
    y.copy_(w * 3)
    y.sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


# ----------------------------------------------------------------------------- hooks
def test_tensor_hook_sees_and_replaces_gradient() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    h = x.register_hook(lambda g: g * 10)
    (y * y).sum().backward()
    assert seen == [[4.0, 8.0]]
    assert x.grad.tolist() == [80.0, 160.0]
    h.remove()
    x.grad = None
    (x * 1).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_post_accumulate_grad_hook() -> None:
    x = torch.tensor([1.0], requires_grad=True)
    calls = []
    x.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.tolist()))
    (x * 3).sum().backward()
    assert calls == [[3.0]]


def test_node_hooks() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    pre, post = [], []
    y.grad_fn.register_prehook(lambda go: pre.append(go[0].tolist()))
    y.grad_fn.register_hook(lambda gi, go: post.append((gi[0].tolist(), go[0].tolist())))
    y.sum().backward()
    assert pre == [[1.0, 1.0]] and post == [([3.0, 3.0], [1.0, 1.0])]


# --------------------------------------------------------------- custom Functions
class _SplitSaved(Function):
    @staticmethod
    def forward(ctx, x, scale):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x * scale, x * x

    @staticmethod
    def backward(ctx, ga, gb):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        assert ctx.needs_input_grad == (True, False)
        return ga * ctx.scale + gb * 2 * x, None


def test_custom_function_with_two_outputs_and_a_number_argument() -> None:
    x = torch.tensor([1.0, 3.0], requires_grad=True)
    a, b = _SplitSaved.apply(x, 5.0)
    assert a.grad_fn is b.grad_fn and a.grad_fn.name() == "_SplitSavedBackward"
    (a.sum() + b.sum()).backward()
    assert x.grad.tolist() == [5 + 2, 5 + 6]
    # one output unused: its gradient is materialised as zeros
    x.grad = None
    a, b = _SplitSaved.apply(x, 5.0)
    a.sum().backward()
    assert x.grad.tolist() == [5.0, 5.0]


class _ArgMaxish(Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        idx = (x > 0).long()
        ctx.mark_non_differentiable(idx)
        return x * 2, idx

    @staticmethod
    def backward(ctx, g, gidx):  # type: ignore[no-untyped-def]
        return g * 2


class _AddOneInPlace(Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        x.add_(1)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        return g


class _NoMaterialize(Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        ctx.set_materialize_grads(False)
        return x * 1, x * 2

    @staticmethod
    def backward(ctx, ga, gb):  # type: ignore[no-untyped-def]
        assert gb is None
        return ga


class _WrongCount(Function):
    @staticmethod
    def forward(ctx, x, y):  # type: ignore[no-untyped-def]
        return x + y

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        return g


class _Once(Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    @once_differentiable
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        return 2 * x * g


def test_non_differentiable_outputs_dirty_inputs_and_materialize() -> None:
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    y, idx = _ArgMaxish.apply(x)
    assert not idx.requires_grad and idx.grad_fn is None and y.requires_grad
    z = x * 1
    out = _AddOneInPlace.apply(z)
    assert out is z and z.grad_fn.name() == "_AddOneInPlaceBackward"
    assert z.tolist() == [0.0, 3.0]
    z.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    x.grad = None
    a, _ = _NoMaterialize.apply(x)
    a.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_custom_function_wrong_gradient_count() -> None:
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(
        RuntimeError,
        match=r"function _WrongCountBackward returned an incorrect number of gradients \(expected 2, got 1\)",
    ):
        _WrongCount.apply(x, x).sum().backward()


def test_once_differentiable_refuses_double_backward() -> None:
    x = torch.tensor([3.0], requires_grad=True)
    y = _Once.apply(x)
    (g,) = torch.autograd.grad((y * y).sum(), x, create_graph=True)  # the gradient reaching _Once requires grad
    assert g.tolist() == [2 * 9.0 * 2 * 3.0]
    with pytest.raises(RuntimeError, match="marked with @once_differentiable"):
        g.sum().backward()


def test_legacy_function_instances_are_refused() -> None:
    with pytest.raises(RuntimeError, match="Legacy autograd function with non-static forward method is deprecated"):
        _Once()


# ------------------------------------------------------------------ modes, anomaly
def test_inference_mode() -> None:
    x = torch.tensor([1.0], requires_grad=True)
    with torch.inference_mode():
        assert torch.is_inference_mode_enabled() and not torch.is_grad_enabled()
        y = x * 2
    assert not y.requires_grad and torch.is_grad_enabled()

    @torch.inference_mode()
    def f(t):  # type: ignore[no-untyped-def]
        return t * 2

    assert not f(x).requires_grad


def test_detect_anomaly_names_the_forward_op() -> None:
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with torch.autograd.detect_anomaly():
        y = x.sqrt()  # d sqrt(x) at 0 is inf; times 0 gives nan
        with pytest.raises(
            RuntimeError, match=r"Function 'SqrtBackward0' returned nan values in its 0th output"
        ) as info:
            (y * 0).sum().backward()
    assert "x.sqrt()" in str(info.value)


def test_threads_training_separate_models_match_sequential_runs() -> None:
    def train(seed: float, out: list[list[float]]) -> None:
        w = torch.tensor([seed, -seed], requires_grad=True)
        for _ in range(50):
            loss = ((w * torch.tensor([1.0, 2.0]) - 1) ** 2).sum()
            loss.backward()
            with torch.no_grad():
                w -= 0.05 * w.grad
            w.grad = None
        out.append(w.tolist())

    sequential: list[list[float]] = []
    for s in (0.5, 1.5, 2.5, 3.5):
        train(s, sequential)
    parallel: dict[float, list[list[float]]] = {s: [] for s in (0.5, 1.5, 2.5, 3.5)}
    threads = [threading.Thread(target=train, args=(s, parallel[s])) for s in parallel]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [parallel[s][0] for s in (0.5, 1.5, 2.5, 3.5)] == sequential


def test_writing_into_an_expanded_tensor_is_refused_as_in_pytorch() -> None:
    x = torch.zeros(1)
    msg = "more than one element of the written-to tensor refers to a single memory location"
    with pytest.raises(RuntimeError, match=msg):
        x.expand(3).add_(1)
    with pytest.raises(RuntimeError, match=msg):
        x.expand(3)[0] = 2.0
    with pytest.raises(RuntimeError, match=msg):
        x.expand(3).copy_(torch.ones(3))
    y = torch.zeros(3)
    y.expand(1, 3).add_(1)  # only a size-1 dimension added: a plain view, writable
    assert y.tolist() == [1.0, 1.0, 1.0]
