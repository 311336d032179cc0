"""Memory, depth, size, threads and numerics of plugrad's autograd (core only).

- Graphs of every kind are freed by reference counting alone: the garbage collector is
  off while each graph is built, run backward through and dropped, and weak references to
  its tensors and nodes must be dead afterwards. A deliberate reference cycle shows the
  method notices a leak.
- ``retain_graph`` and ``create_graph`` do not grow memory once their outputs are dropped
  (``tracemalloc`` across many iterations).
- A long chain and a wide fan-in backpropagate in time linear in their size (CPU time of
  two sizes; the ratio is checked loosely, it is a property, not a speed limit).
- Threads training separate models at once get the same bits as one after another;
  grad mode set in one thread never shows in another.
- softmax, log_softmax and logsumexp stay finite for float32 inputs up to +-1e4 (values
  and gradients against a float64 Python reference); ``detect_anomaly`` finds an injected
  NaN and names the forward line that made the node.
"""

from __future__ import annotations

import gc
import math
import random
import threading
import time
import tracemalloc
import weakref
from collections.abc import Callable
from typing import Any

import plugrad
import pytest
from attack_util import FIGURES, count, size, slow_only
from hypothesis import given, settings
from hypothesis import strategies as st
from plugrad.autograd import Function


# ---------------------------------------------------------------------------- freeing
class Square(Function):
    @staticmethod
    def forward(ctx: Any, x: plugrad.Tensor) -> plugrad.Tensor:
        y = x * x
        ctx.save_for_backward(x, y)  # input and output both saved
        return y

    @staticmethod
    def backward(ctx: Any, g: plugrad.Tensor) -> plugrad.Tensor:
        x, _ = ctx.saved_tensors
        return 2 * x * g


def _graphs() -> dict[str, Callable[[plugrad.Tensor], tuple[plugrad.Tensor, list[Any]]]]:
    """Graph builders: x -> (scalar loss, intermediates whose death is checked)."""

    def elementwise(x: plugrad.Tensor) -> tuple[plugrad.Tensor, list[Any]]:
        a = x * 2 + 1
        b = a.exp().tanh().sigmoid()  # ops that save their outputs
        c = (b - a).abs().sqrt() / (a * a + 1)
        return c.sum(), [a, b, c]

    def views_and_inplace(x: plugrad.Tensor) -> tuple[plugrad.Tensor, list[Any]]:
        a = x * 1
        v = a[1:, :2]
        v.mul_(3)  # CopySlices on the base
        w = a.t().reshape(-1)
        w2 = a.permute(1, 0).contiguous().view(-1)
        return (w * w2).sum() + a.sum(), [a, v, w, w2]

    def indexing(x: plugrad.Tensor) -> tuple[plugrad.Tensor, list[Any]]:
        a = x.clone()
        a[0] = a[1] * 2
        b = a[plugrad.tensor([2, 0, 2])]
        c = b.gather(1, plugrad.tensor([[0, 1], [1, 1], [3, 0]]))
        return c.sum() + b.masked_fill(b > 0, 0.0).sum(), [a, b, c]

    def linear_algebra(x: plugrad.Tensor) -> tuple[plugrad.Tensor, list[Any]]:
        w = x.t() @ x
        y = (x @ w).softmax(dim=1)
        z = plugrad.log_softmax(x @ w, dim=0).logsumexp(dim=1)
        return (y.sum() + z.mean()) * x.norm(), [w, y, z]

    def custom_and_hooks(x: plugrad.Tensor) -> tuple[plugrad.Tensor, list[Any]]:
        a = Square.apply(x)
        a.retain_grad()
        a.register_hook(lambda g: g * 1)
        b = a.cumsum(1).amax(dim=0)
        return b.sum(), [a, b]

    def stack_and_split(x: plugrad.Tensor) -> tuple[plugrad.Tensor, list[Any]]:
        parts = list(x.unbind(0))
        s = plugrad.stack([p * (i + 1) for i, p in enumerate(parts)])
        c = plugrad.cat(list(s.split(2, dim=1)), dim=0)
        return c.var(), [s, c, *parts]

    return {
        f.__name__: f
        for f in (elementwise, views_and_inplace, indexing, linear_algebra, custom_and_hooks, stack_and_split)
    }


GRAPHS = _graphs()


def _dead(refs: list[weakref.ref[Any]]) -> list[str]:
    return [repr(r())[:80] for r in refs if r() is not None]


def _node_refs(out: plugrad.Tensor) -> list[weakref.ref[Any]]:
    """Weak references to every node of ``out``'s graph (no strong reference survives the call)."""
    seen: dict[int, Any] = {id(out.grad_fn): out.grad_fn}
    stack = [out.grad_fn]
    while stack:
        for nxt, _ in stack.pop().next_functions:
            if nxt is not None and id(nxt) not in seen:
                seen[id(nxt)] = nxt
                stack.append(nxt)
    return [weakref.ref(n) for n in seen.values()]


@pytest.mark.parametrize("graph", list(GRAPHS))
@pytest.mark.parametrize("mode", ["backward", "retain_graph", "create_graph"])
def test_graphs_are_freed_by_reference_counting_alone(graph: str, mode: str) -> None:
    gc.collect()
    gc.disable()
    try:
        x = plugrad.randn(3, 4, dtype=plugrad.float64, requires_grad=True)
        loss, parts = GRAPHS[graph](x)
        refs = [weakref.ref(t) for t in (loss, *parts)] + _node_refs(loss)
        if mode == "backward":
            loss.backward()
        elif mode == "retain_graph":
            loss.backward(retain_graph=True)
            loss.backward()
        else:
            (g,) = plugrad.autograd.grad(loss, [x], create_graph=True)
            (
                (g * g).sum() + (x * x).sum()
            ).backward()  # second order through the first (g is constant for linear graphs)
            refs.append(weakref.ref(g))
            del g
        assert x.grad is not None
        refs += [weakref.ref(x), weakref.ref(x.grad)]
        del loss, parts, x
        alive = _dead(refs)
        assert not alive, f"still alive with the garbage collector off: {alive}"
    finally:
        gc.enable()
    count("memory: graphs freed by reference counting (gc off)")


def test_the_freeing_check_notices_a_cycle() -> None:
    """Negative control: a tensor kept alive by a reference cycle is reported as alive."""
    gc.collect()
    gc.disable()
    try:
        x = plugrad.ones(2, requires_grad=True)
        y = x * 2
        holder: dict[str, Any] = {"y": y}
        holder["self"] = holder  # a cycle only the collector could break
        ref = weakref.ref(y)
        del y, x
        assert ref() is not None
        del holder
        assert ref() is not None
    finally:
        gc.enable()
        gc.collect()
    assert ref() is None


def _growth(step: Callable[[], None], n: int) -> int:
    for _ in range(20):  # warm caches (kernels, slots, interned names)
        step()
    gc.collect()
    tracemalloc.start()
    step()
    base, _ = tracemalloc.get_traced_memory()
    for _ in range(n):
        step()
    gc.collect()
    end, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return end - base


def test_retain_graph_and_create_graph_do_not_grow_memory() -> None:
    x = plugrad.randn(32, 32, requires_grad=True)
    w = plugrad.randn(32, 32, requires_grad=True)

    def retain() -> None:
        y = ((x @ w).tanh() * x).sum()
        y.backward(retain_graph=True)
        y.backward(retain_graph=True)
        x.grad = None
        w.grad = None

    def create() -> None:
        y = ((x @ w).sigmoid() ** 2).sum()
        (gx,) = plugrad.autograd.grad(y, [x], create_graph=True)
        (gx * gx).sum().backward()
        x.grad = None
        w.grad = None

    def create_backward() -> None:
        y = ((x @ w).exp().mean()) ** 2
        y.backward(create_graph=True)  # .grad holds a graph that refers back to x ...
        x.grad = None  # ... until it is dropped
        w.grad = None

    n = size(200, 3000)
    for name, step in (("retain_graph", retain), ("create_graph", create), ("backward(create_graph)", create_backward)):
        gc.disable()
        try:
            grown = _growth(step, n)
        finally:
            gc.enable()
        FIGURES[f"memory: growth over {n} {name} steps (bytes, gc off)"] = grown
        assert grown < 64 * 1024, f"{name}: {grown} bytes more after {n} steps"


# ---------------------------------------------------------------------------- depth and size
def _cpu(fn: Callable[[], Any], repeat: int = 2) -> float:
    best = math.inf
    for _ in range(repeat):
        gc.collect()
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _chain(n: int) -> Callable[[], None]:
    def run() -> None:
        x = plugrad.tensor(1.5, requires_grad=True)
        y = x
        for _ in range(n):
            y = y * 1.0
        y.backward()
        assert x.grad is not None and x.grad.item() == 1.0

    return run


def _fan_in(n: int) -> Callable[[], None]:
    def run() -> None:
        leaves = [plugrad.tensor(float(i), requires_grad=True) for i in range(n)]
        out = plugrad.stack([w * 2.0 for w in leaves]).sum()  # n nodes into one
        out.backward()
        assert leaves[-1].grad is not None and leaves[-1].grad.item() == 2.0

    return run


def _linear(name: str, make: Callable[[int], Callable[[], None]], n: int) -> None:
    small, large = _cpu(make(n // 2)), _cpu(make(n))
    ratio = large / small
    FIGURES[f"depth: {name} {n // 2:,} / {n:,} nodes (CPU s)"] = f"{small:.2f} / {large:.2f} (ratio {ratio:.2f})"
    assert ratio < 3.0, f"{name}: doubling the size multiplied the time by {ratio:.2f}"


def test_a_long_chain_backpropagates_in_linear_time() -> None:
    _linear("chain", _chain, 100_000)


def test_a_wide_fan_in_backpropagates() -> None:
    t = _cpu(_fan_in(100_000), repeat=1)
    FIGURES["depth: fan-in of 100,000 nodes (CPU s)"] = round(t, 2)


@slow_only
def test_a_million_op_chain_backpropagates_in_linear_time() -> None:
    _linear("chain", _chain, 1_000_000)


@slow_only
def test_a_wide_fan_in_backpropagates_in_linear_time() -> None:
    _linear("fan-in", _fan_in, 200_000)


# ---------------------------------------------------------------------------- threads
def _train(seed: int, steps: int, out: dict[int, list[float]]) -> None:
    """Fit y = 3x - 2 by gradient descent; every number comes from ``seed`` (no shared RNG)."""
    rng = random.Random(seed)
    xs = plugrad.tensor([[rng.uniform(-1, 1)] for _ in range(64)])
    ys = xs * 3.0 - 2.0 + plugrad.tensor([[rng.gauss(0, 0.1)] for _ in range(64)])
    w = plugrad.tensor([[rng.uniform(-1, 1)]], requires_grad=True)
    b = plugrad.tensor([rng.uniform(-1, 1)], requires_grad=True)
    for _ in range(steps):
        loss = ((xs @ w + b - ys) ** 2).mean()
        loss.backward()
        with plugrad.no_grad():
            w -= 0.1 * w.grad
            b -= 0.1 * b.grad
        w.grad = None
        b.grad = None
    out[seed] = [w.item(), b.item(), loss.item()]


def test_threads_training_separate_models_match_sequential_runs_bit_for_bit() -> None:
    seeds, steps = list(range(6)), size(150, 1000)
    sequential: dict[int, list[float]] = {}
    for s in seeds:
        _train(s, steps, sequential)
    concurrent: dict[int, list[float]] = {}
    threads = [threading.Thread(target=_train, args=(s, steps, concurrent)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert concurrent == sequential  # exact: the same floats, bit for bit
    assert all(abs(v[0] - 3.0) < 0.2 for v in sequential.values())
    count("threads: models trained concurrently", len(seeds))


def test_grad_mode_set_in_one_thread_never_leaks_into_another() -> None:
    entered, checked = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def holder(mode: Callable[[], Any], key: str) -> None:
        with mode():
            seen[key] = plugrad.is_grad_enabled()
            entered.set()
            checked.wait(10)
        entered.clear()

    x = plugrad.ones(2, requires_grad=True)
    for key, mode in (
        ("no_grad", plugrad.no_grad),
        ("inference_mode", plugrad.inference_mode),
        ("set_grad_enabled(False)", lambda: plugrad.set_grad_enabled(False)),
    ):
        checked.clear()
        t = threading.Thread(target=holder, args=(mode, key))
        t.start()
        assert entered.wait(10)
        # the other thread sits inside the mode: this thread must not see it
        assert plugrad.is_grad_enabled() and not plugrad.is_inference_mode_enabled()
        assert (x * 2).requires_grad
        checked.set()
        t.join()
        assert seen[key] is False

    # and the other way round: a mode here does not reach a new thread
    with plugrad.no_grad():
        out: dict[str, bool] = {}
        t = threading.Thread(target=lambda: out.setdefault("enabled", plugrad.is_grad_enabled()))
        t.start()
        t.join()
        assert out["enabled"] is True and not plugrad.is_grad_enabled()


def test_grad_modes_toggled_from_many_threads_stay_consistent() -> None:
    errors: list[str] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        x = plugrad.ones(3, requires_grad=True)
        for _ in range(size(300, 3000)):
            want = rng.random() < 0.5
            with plugrad.set_grad_enabled(want):
                y = x * 2
                if y.requires_grad is not want or plugrad.is_grad_enabled() is not want:
                    errors.append(f"thread {seed}: wanted {want}, saw {plugrad.is_grad_enabled()}")
                    return

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


# ---------------------------------------------------------------------------- numerics
def _ref_logsumexp(row: list[float]) -> float:
    m = max(row)
    return m + math.log(math.fsum(math.exp(v - m) for v in row))


EXTREME = st.lists(
    st.one_of(st.floats(-1e4, 1e4, width=32), st.sampled_from([1e4, -1e4, 0.0, 9999.0, -9999.5])),
    min_size=1,
    max_size=6,
)


@settings(max_examples=size(60, 2000), deadline=None, derandomize=True)
@given(rows=st.lists(EXTREME, min_size=1, max_size=4).filter(lambda r: len({len(x) for x in r}) == 1))
def test_softmax_family_stays_finite_up_to_1e4_in_float32(rows: list[list[float]]) -> None:
    x = plugrad.tensor(rows, dtype=plugrad.float32, requires_grad=True)
    sm = plugrad.softmax(x, dim=1)
    lsm = plugrad.log_softmax(x, dim=1)
    lse = plugrad.logsumexp(x, dim=1)
    for t in (sm, lsm, lse):
        assert bool(t.isfinite().all()), (rows, t)
    for i, row in enumerate(rows):
        ref = _ref_logsumexp(row)
        assert math.isclose(lse[i].item(), ref, rel_tol=1e-6, abs_tol=2e-3), (row, lse[i].item(), ref)
        for j, v in enumerate(row):
            assert math.isclose(lsm[i, j].item(), v - ref, rel_tol=1e-6, abs_tol=2e-3)
            assert math.isclose(sm[i, j].item(), math.exp(v - ref), rel_tol=1e-5, abs_tol=1e-6)
    (sm[:, 0].sum() + lsm.sum() + lse.sum()).backward()
    assert x.grad is not None and bool(x.grad.isfinite().all())
    count("numerics: softmax/log_softmax/logsumexp inputs")


def test_detect_anomaly_finds_an_injected_nan_and_names_its_origin() -> None:
    class Poison(Function):
        @staticmethod
        def forward(ctx: Any, x: plugrad.Tensor) -> plugrad.Tensor:
            return x * 1

        @staticmethod
        def backward(ctx: Any, g: plugrad.Tensor) -> plugrad.Tensor:
            return g * float("nan")  # the injected NaN

    x = plugrad.ones(3, requires_grad=True)
    with plugrad.autograd.detect_anomaly():
        y = Poison.apply(x * 2)  # THE-ORIGIN-LINE
        loss = (y.exp() * 3).sum()
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    message = str(info.value)
    assert "Function 'PoisonBackward' returned nan values in its 0th output" in message, message
    assert "THE-ORIGIN-LINE" in message and __file__.rsplit("/", 1)[-1] in message, message
    # without anomaly mode the NaN flows quietly, as in PyTorch
    x2 = plugrad.ones(3, requires_grad=True)
    (Poison.apply(x2 * 2).exp() * 3).sum().backward()
    assert x2.grad is not None and all(math.isnan(v) for v in x2.grad.tolist())


def test_detect_anomaly_names_a_builtin_op_that_makes_nan() -> None:
    x = plugrad.tensor([0.0, 1.0], requires_grad=True)
    with plugrad.autograd.detect_anomaly():
        y = x.sqrt() * 0  # SQRT-ORIGIN: d sqrt(x)/dx at 0 is inf, times 0 is NaN
        with pytest.raises(RuntimeError, match=r"Function '(MulBackward0|SqrtBackward0)' returned nan values") as info:
            y.sum().backward()
    assert "SQRT-ORIGIN" in str(info.value)


# ---------------------------------------------------------------------------- fixed regressions
SAVED_TOO_MUCH: dict[str, tuple[Callable[[plugrad.Tensor, plugrad.Tensor], plugrad.Tensor], list[float]]] = {
    # op(v, c) with v a view of the tensor written in place, c a constant 1.5: the gradient
    # that reaches row 1 of x (row 1 itself, plus row 0's value computed from it)
    "mul by a number": (lambda v, c: v * 2, [3.0] * 4),
    "mul by a constant tensor": (lambda v, c: v * c, [2.5] * 4),
    "div by a number": (lambda v, c: v / 2, [1.5] * 4),
    "div by a constant tensor": (lambda v, c: v / c, [1 + 1 / 1.5] * 4),
    "remainder": (lambda v, c: v % c, [2.0] * 4),
    "lerp": (lambda v, c: plugrad.lerp(v, c, 0.25), [1.75] * 4),
    "matmul": (lambda v, c: (v.reshape(2, 2) @ c.reshape(2, 2)).reshape(4), [4.0] * 4),
    "dot": (lambda v, c: v.dot(c) * c, [1 + 6 * 1.5] * 4),
}


@pytest.mark.parametrize("op", list(SAVED_TOO_MUCH))
def test_ops_save_only_what_their_backward_reads(op: str) -> None:
    """``a[0] = op(a[1], const)`` then backward: valid in PyTorch, which saves only what the
    gradient needs. These ops saved their view input too and then refused the in-place
    write ("modified by an inplace operation"), and kept the view alive meanwhile."""
    f, want = SAVED_TOO_MUCH[op]
    x = plugrad.tensor([[0.5, -1.0, 2.0, 0.25], [1.5, -0.5, 0.75, 2.5]], dtype=plugrad.float64, requires_grad=True)
    a = x.clone()
    a[0] = f(a[1], plugrad.full((4,), 1.5, dtype=plugrad.float64))
    a.sum().backward()
    assert x.grad is not None
    assert x.grad[0].tolist() == [0.0] * 4
    assert all(math.isclose(g, w) for g, w in zip(x.grad[1].tolist(), want)), (x.grad[1].tolist(), want)


def test_a_hook_may_not_change_the_kind_size_or_dtype_of_a_gradient() -> None:
    """Before, a hook returning a string failed with an AttributeError deep in the engine,
    and one returning a wrong shape silently gave the leaf a gradient of that shape."""
    cases: list[tuple[Callable[[plugrad.Tensor], Any], type[Exception], str]] = [
        (lambda g: plugrad.ones(3), RuntimeError, r"hook '<lambda>' has changed the size of value"),
        (lambda g: "grad", TypeError, r"expected Tensor, but hook returned 'str'"),
        (lambda g: g.double(), RuntimeError, r"has changed the type of value"),
    ]
    for hook, exc, match in cases:
        x = plugrad.ones(2, requires_grad=True)
        x.register_hook(hook)
        with pytest.raises(exc, match=match):
            (x * 2).sum().backward()
        assert x.grad is None
    x = plugrad.ones(2, requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (x * 2).sum().backward()
    assert x.grad is not None and x.grad.tolist() == [20.0, 20.0]
