"""The one helper every op test uses: :func:`check_op`.

``check_op(fn, inputs, expected=...)`` checks, for a differentiable op:

1. the forward value against an independent reference (nested Python lists computed
   with :mod:`math` or by hand), with its shape and dtype;
2. the first derivative: for random ``u`` (output-shaped) and ``v`` (input-shaped),
   the vector-Jacobian product from autograd, ``<vjp(u), v>``, against the central
   difference ``<(f(x + h v) - f(x - h v)) / 2h, u>`` in float64;
3. the second derivative (``create_graph=True``): the gradient of
   ``phi(x) = <vjp_x(u), w>`` along ``v`` against the central difference of ``phi``.

Random directions (rather than full Jacobians) keep each check to a handful of
evaluations, as in HIPS autograd's ``check_grads``. The pure-Python reference helpers
(:func:`broadcast_ref`, :func:`reduce_ref`, ...) never call plugrad.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from typing import Any

import plugrad
from hypothesis import strategies as st
from plugrad.testing import assert_close

#: The broadcasting pairs every binary op is checked on (both orders), plus 0-d and empty.
SHAPES: list[tuple[int, ...]] = [(), (4,), (3, 4), (1, 4)]
BROADCAST_PAIRS: list[tuple[tuple[int, ...], tuple[int, ...]]] = [(a, b) for a in SHAPES for b in SHAPES] + [
    ((0,), ()),
    ((0, 4), (4,)),
    ((2, 0, 4), (1, 4)),
]
UNARY_SHAPES: list[tuple[int, ...]] = [(), (4,), (3, 4), (1, 4), (2, 3, 4), (0,), (0, 3)]


def shapes(ndim_min: int = 0) -> st.SearchStrategy[tuple[int, ...]]:
    """Hypothesis: small shapes (up to 3 dims of size 0..4), at least ``ndim_min`` dims."""
    return st.lists(st.integers(1, 4), min_size=ndim_min, max_size=3).map(tuple)


def seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**31 - 1)


# ------------------------------------------------------------------ random values
def numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def nested(flat: list[Any], shape: Sequence[int]) -> Any:
    """Flat values (C order) as nested lists of ``shape``."""
    if not shape:
        return flat[0]
    step = numel(shape[1:])
    return [nested(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def flatten(values: Any) -> list[Any]:
    if isinstance(values, list):
        out: list[Any] = []
        for v in values:
            out.extend(flatten(v))
        return out
    return [values]


def rand_values(rng: random.Random, shape: Sequence[int], lo: float = -2.0, hi: float = 2.0) -> list[float]:
    return [rng.uniform(lo, hi) for _ in range(numel(shape))]


def leaf(
    rng: random.Random, shape: Sequence[int], lo: float = -2.0, hi: float = 2.0, *, avoid: Sequence[float] = ()
) -> plugrad.Tensor:
    """A float64 leaf requiring grad with values uniform in ``[lo, hi]``, kept ``0.05``
    away from the points in ``avoid`` (kinks and discontinuities of the op under test)."""
    flat = []
    for _ in range(numel(shape)):
        while True:
            v = rng.uniform(lo, hi)
            if all(abs(v - a) > 0.05 for a in avoid):
                break
        flat.append(v)
    return plugrad.tensor(flat, dtype=plugrad.float64).reshape(tuple(shape)).requires_grad_()


# ------------------------------------------------------------- pure-Python refs
def broadcast_shape(*shapes_: Sequence[int]) -> tuple[int, ...]:
    nd = max((len(s) for s in shapes_), default=0)
    out = []
    for i in range(nd):
        sizes = {s[i - nd + len(s)] for s in shapes_ if i - nd + len(s) >= 0} - {1}
        assert len(sizes) <= 1
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _at(values: Any, shape: Sequence[int], idx: Sequence[int]) -> Any:
    """``values[idx]`` where ``idx`` indexes the broadcast shape (right-aligned)."""
    off = len(idx) - len(shape)
    v = values
    for d, s in enumerate(shape):
        v = v[0 if s == 1 else idx[off + d]]
    return v


def broadcast_ref(fn: Callable[..., Any], *args: tuple[Any, Sequence[int]]) -> Any:
    """``fn`` applied elementwise over broadcast ``(values, shape)`` arguments, as nested lists."""
    out_shape = broadcast_shape(*(s for _, s in args))
    flat = [fn(*(_at(v, s, idx) for v, s in args)) for idx in itertools.product(*(range(n) for n in out_shape))]
    return nested(flat, out_shape) if out_shape else flat[0]


def reduce_ref(
    values: Any, shape: Sequence[int], dims: Sequence[int] | None, keepdim: bool, fn: Callable[[list[Any]], Any]
) -> Any:
    """``fn`` over the elements along ``dims`` (all dims for ``None``), as nested lists."""
    nd = len(shape)
    dims = list(range(nd)) if dims is None else sorted(d % nd for d in dims) if nd else []
    kept = [d for d in range(nd) if d not in dims]
    out_flat = []
    for kidx in itertools.product(*(range(shape[d]) for d in kept)):
        group = []
        for ridx in itertools.product(*(range(shape[d]) for d in dims)):
            full = [0] * nd
            for d, i in zip(kept, kidx):
                full[d] = i
            for d, i in zip(dims, ridx):
                full[d] = i
            group.append(_at(values, shape, full))
        out_flat.append(fn(group))
    out_shape = [1 if d in dims else shape[d] for d in range(nd)] if keepdim else [shape[d] for d in kept]
    return nested(out_flat, out_shape) if out_shape else out_flat[0]


def scan_ref(values: Any, shape: Sequence[int], dim: int, fn: Callable[[list[Any]], list[Any]]) -> Any:
    """``fn`` maps each 1-D line along ``dim`` to a line of the same length."""
    nd = len(shape)
    dim %= nd
    out = [0.0] * numel(shape)
    strides = [numel(shape[d + 1 :]) for d in range(nd)]
    others = [d for d in range(nd) if d != dim]
    for oidx in itertools.product(*(range(shape[d]) for d in others)):
        positions = []
        for i in range(shape[dim]):
            full = [0] * nd
            for d, j in zip(others, oidx):
                full[d] = j
            full[dim] = i
            positions.append(full)
        line = fn([_at(values, shape, p) for p in positions])
        for p, v in zip(positions, line):
            out[sum(a * b for a, b in zip(p, strides))] = v
    return nested(out, shape)


# --------------------------------------------------------------------- checking
def _as_list(out: Any) -> list[plugrad.Tensor]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _random_like(rng: random.Random, t: plugrad.Tensor) -> plugrad.Tensor:
    return plugrad.tensor(rand_values(rng, tuple(t.shape), -1.0, 1.0), dtype=plugrad.float64).reshape(tuple(t.shape))


def _inner(ts: Sequence[plugrad.Tensor], us: Sequence[plugrad.Tensor]) -> plugrad.Tensor:
    total = plugrad.zeros((), dtype=plugrad.float64)
    for t, u in zip(ts, us):
        total = total + (t.double() * u).sum()
    return total


def _shifted(inputs: Sequence[Any], diff: list[int], vs: list[plugrad.Tensor], h: float) -> list[Any]:
    out = list(inputs)
    for k, i in enumerate(diff):
        out[i] = (inputs[i].detach() + h * vs[k]).requires_grad_()
    return out


def check_op(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    *,
    expected: Any = None,
    dtype: plugrad.dtype | None = None,
    seed: int = 0,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    ref_atol: float = 1e-9,
    second_order: bool = True,
) -> None:
    """Check ``fn(*inputs)``: forward against ``expected``, gradients against float64 central differences.

    :param inputs: tensors (those with ``requires_grad`` are differentiated; make them
        float64) and any other arguments.
    :param expected: the reference value as (nested) Python numbers, or ``None`` to skip.
    :param dtype: the expected dtype of the (first) output.
    """
    rng = random.Random(seed)
    outs = _as_list(fn(*inputs))
    if expected is not None:
        exp = expected if isinstance(expected, (tuple,)) else (expected,)
        for o, e in zip(outs, exp):
            assert_close(
                flatten(o.tolist()),
                flatten(e),
                rtol=1e-7,
                atol=ref_atol,
                equal_nan=True,
                check_dtype=False,
                msg=lambda m: f"forward: {m}",
            )
            shape = []
            v = e
            while isinstance(v, list):
                shape.append(len(v))
                v = v[0] if v else None
            if all(s > 0 for s in shape):
                assert tuple(o.shape) == tuple(shape), f"shape {tuple(o.shape)}, expected {tuple(shape)}"
    if dtype is not None:
        assert outs[0].dtype is dtype, f"dtype {outs[0].dtype}, expected {dtype}"
    diff = [i for i, x in enumerate(inputs) if isinstance(x, plugrad.Tensor) and x.requires_grad]
    douts = [o for o in outs if o.dtype.is_floating_point]
    if not diff or not douts:
        return
    us = [_random_like(rng, o) for o in douts]
    vs = [_random_like(rng, inputs[i]) for i in diff]
    leaves = [inputs[i] for i in diff]

    def vjp(args: Sequence[Any], create_graph: bool) -> list[plugrad.Tensor]:
        os_ = [o for o in _as_list(fn(*args)) if o.dtype.is_floating_point]
        pairs = [(o, u) for o, u in zip(os_, us) if o.requires_grad]
        if not pairs:
            return [plugrad.zeros_like(args[i]) for i in diff]
        gs = plugrad.autograd.grad(
            [o for o, _ in pairs],
            [args[i] for i in diff],
            [u.to(o.dtype) for o, u in pairs],
            create_graph=create_graph,
            allow_unused=True,
        )
        return [g if g is not None else plugrad.zeros_like(args[i]) for g, i in zip(gs, diff)]

    # first order: <vjp(u), v> == d/dh <f(x + h v), u>
    analytic = float(_inner(vjp(inputs, False), vs))
    plus = [o for o in _as_list(fn(*_shifted(inputs, diff, vs, eps))) if o.dtype.is_floating_point]
    minus = [o for o in _as_list(fn(*_shifted(inputs, diff, vs, -eps))) if o.dtype.is_floating_point]
    numeric = (float(_inner(plus, us)) - float(_inner(minus, us))) / (2 * eps)
    assert abs(analytic - numeric) <= atol + rtol * abs(numeric), (
        f"first derivative along a random direction: autograd {analytic!r}, central differences {numeric!r}"
    )
    for g, x in zip(vjp(inputs, False), leaves):
        assert tuple(g.shape) == tuple(x.shape) and g.dtype is x.dtype, "gradient shape/dtype differs from the input's"
    if not second_order:
        return
    # second order: phi(x) = <vjp_x(u), w>; <grad phi, v> == d/dh phi(x + h v)
    ws = [_random_like(rng, inputs[i]) for i in diff]
    grads = vjp(inputs, True)
    phi = _inner(grads, ws)
    if phi.requires_grad:
        g2 = plugrad.autograd.grad(phi, leaves, allow_unused=True)
        analytic2 = float(_inner([g if g is not None else plugrad.zeros_like(x) for g, x in zip(g2, leaves)], vs))
    else:
        analytic2 = 0.0
    phi_plus = float(_inner(vjp(_shifted(inputs, diff, vs, eps), False), ws))
    phi_minus = float(_inner(vjp(_shifted(inputs, diff, vs, -eps), False), ws))
    numeric2 = (phi_plus - phi_minus) / (2 * eps)
    assert abs(analytic2 - numeric2) <= 10 * atol + rtol * abs(numeric2), (
        f"second derivative along random directions: autograd {analytic2!r}, central differences {numeric2!r}"
    )
