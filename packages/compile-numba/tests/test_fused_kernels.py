"""Every fusable kernel, fused, against the reference interpreter (values within float
tolerance, dtypes and shapes exactly), on programs built by hand."""

from __future__ import annotations

import numpy as np
import plugrad_numba
import pytest
from conftest import Builder, check
from plugrad.compiler import ELEMENTWISE_KERNELS, Call, Program, Ref
from plugrad_numba._fusion import plan
from plugrad_numba._ops import OPS
from plugrad_numpy.kernels import KERNELS

pytestmark = pytest.mark.usefixtures("fuse_all")

RNG = np.random.default_rng(0)

# unary kernels and an input inside their domain
UNARY_POSITIVE = ["log", "log2", "log10", "sqrt", "acosh"]
UNARY_UNIT = ["asin", "acos", "atanh"]
UNARY_ANY = [
    "negative", "abs", "sign", "exp", "expm1", "log1p", "square", "reciprocal", "sin", "cos", "tan", "tanh",
    "sinh", "cosh", "atan", "asinh", "floor", "ceil", "trunc", "round", "erf", "erfc", "sigmoid",
]  # fmt: skip
BINARY = [
    "add",
    "subtract",
    "multiply",
    "divide",
    "pow",
    "maximum",
    "minimum",
    "atan2",
    "hypot",
    "copysign",
    "logaddexp",
]
COMPARE = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]


def test_the_table_covers_the_contract() -> None:
    """Every kernel the table fuses is an elementwise kernel of the contract, and every
    elementwise kernel the NumPy backend has is in the table but the two left out on purpose."""
    assert set(OPS) <= ELEMENTWISE_KERNELS
    assert {n for n in ELEMENTWISE_KERNELS - set(OPS) if n in KERNELS} == {"floor_divide", "remainder"}


def _available(names: list[str]) -> list[str]:
    return [n for n in names if n in KERNELS]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_chain(dtype: type) -> None:
    """Each unary kernel on its own input, then all results added up (one group per dtype)."""
    b = Builder()
    x = b.input(RNG.uniform(-2.5, 2.5, (3, 5)).astype(dtype))
    pos = b.input(RNG.uniform(1.1, 4.0, (3, 5)).astype(dtype))
    unit = b.input(RNG.uniform(-0.9, 0.9, (3, 5)).astype(dtype))
    outs = []
    for name in _available(UNARY_ANY):
        outs.append(b(name, x))
    for name in _available(UNARY_POSITIVE):
        outs.append(b(name, pos))
    for name in _available(UNARY_UNIT):
        outs.append(b(name, unit))
    total = outs[0]
    for o in outs[1:]:
        total = b("add", total, o)
    check(b, total, *outs[::3], rtol=2e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_with_broadcasting_and_constants(dtype: type) -> None:
    b = Builder()
    x = b.input(RNG.uniform(0.5, 2.0, (3, 4)).astype(dtype))
    row = b.input(RNG.uniform(0.5, 2.0, (4,)).astype(dtype))
    col = b.input(RNG.uniform(0.5, 2.0, (3, 1)).astype(dtype))
    scalar = b.input(np.asarray(1.5, dtype=dtype))
    outs = []
    for name in _available(BINARY):
        a = b(name, x, row)
        c = b(name, col, a)
        d = b(name, c, scalar)
        e = b(name, d, 0.75)  # a Python float: NumPy 2's weak scalar
        outs.append(b(name, 2, e) if name != "pow" else e)  # a Python int first
    check(b, *outs, rtol=2e-5 if dtype == np.float32 else 1e-12)


def test_mixed_float_dtypes_promote_as_numpy() -> None:
    """float32 with float64 arrays, and NumPy float scalars (strongly typed): NumPy's result dtypes."""
    b = Builder()
    x = b.input(RNG.uniform(0.5, 2.0, (6,)).astype(np.float32))
    y = b.input(RNG.uniform(0.5, 2.0, (6,)))
    s = b("multiply", x, y)  # float64
    t = b("add", x, np.float64(0.1))  # float64 (a NumPy scalar is not weak)
    u = b("add", x, np.float32(0.1))  # float32
    v = b("tanh", b("multiply", u, 1e-3))
    w = b("astype", b("add", s, t), np.float32)
    check(b, s, t, u, v, w)


def test_comparisons_logic_predicates_where_clip_astype() -> None:
    b = Builder()
    data = RNG.uniform(-2, 2, (4, 4)).astype(np.float32)
    data[0, 0], data[0, 1], data[0, 2], data[1, 0] = np.nan, np.inf, -np.inf, 0.0
    x = b.input(data)
    y = b.input(RNG.uniform(-2, 2, (4,)).astype(np.float32))
    mask = b.input(RNG.uniform(0, 1, (4, 4)) > 0.5)
    outs = []
    for name in COMPARE:
        outs.append(b(name, x, y))
        outs.append(b(name, x, 0.5))
        outs.append(b(name, mask, True))
    a = b("logical_and", outs[0], mask)
    o = b("logical_or", outs[1], a)
    xo = b("logical_xor", o, x)  # a float operand: its truth value
    n = b("logical_not", xo)
    preds = [b(name, x) for name in ("isnan", "isinf", "isfinite")]
    w1 = b("where", n, x, y)
    w2 = b("where", mask, x, 0.0)
    w3 = b("where", preds[0], 1.0, x)
    c1 = b("clip", x, -1.0, 1.0)
    c2 = b("clip", x, None, 0.5)
    c3 = b("clip", x, min=y)
    f = b("astype", mask, np.float32)
    g = b("astype", x, np.bool_)
    h = b("astype", b("multiply", x, 2.0), np.float64)
    check(b, *outs, a, o, xo, n, *preds, w1, w2, w3, c1, c2, c3, f, g, h)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(dtype: type) -> None:
    """NaN, infinities, zeros of both signs and overflow through the functions with their own
    float32 implementations and the NaN-propagating maximum/minimum."""
    values = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 88.0, 89.0, -104.0, 1e30, -1e30, 3.0], dtype)
    b = Builder()
    x = b.input(values)
    outs = [b(name, x) for name in ("exp", "log", "tanh", "sigmoid")]
    outs.append(b("log", b("abs", x)))
    outs.append(b("maximum", x, 0.0))
    outs.append(b("minimum", 0.0, x))
    outs.append(b("multiply", b("exp", x), 0.5))
    # atol: NumPy's float32 sigmoid is 0 below -88.7 (its exp overflows), the fused one the
    # subnormal value down to -103.3
    check(b, *outs, rtol=2e-6 if dtype == np.float32 else 1e-12, atol=1e-38)


def test_zero_dimensional_and_size_one_shapes() -> None:
    b = Builder()
    x = b.input(np.asarray(0.3, np.float32))
    y = b.input(np.full((1, 1), 2.0, np.float32))
    a = b("tanh", b("multiply", x, 3.0))
    c = b("add", b("exp", a), 1.0)
    d = b("multiply", b("sigmoid", y), y)
    e = b("subtract", d, 1.0)
    check(b, c, a, e)


def test_many_outputs_of_two_dtypes_and_a_long_chain() -> None:
    """Results of float32 and bool in one group come back as separate arrays of the right dtype."""
    b = Builder()
    x = b.input(RNG.uniform(-1, 1, (2, 3, 8)).astype(np.float32))
    y = x
    outs = []
    for i in range(60):
        y = b(["tanh", "sigmoid", "exp", "negative"][i % 4], y)
        if i % 7 == 0:
            outs.append(y)
            outs.append(b("greater", y, 0.0))
    runner = check(b, y, *outs)
    assert runner.__plugrad_numba__["groups"] == 1


def test_large_arrays_use_blocks() -> None:
    """More elements than one block (and than the stacking limit), with broadcasting in the
    blocked dimension."""
    b = Builder()
    x = b.input(RNG.uniform(-1, 1, (3, 1000)).astype(np.float32))
    col = b.input(RNG.uniform(-1, 1, (3, 1)).astype(np.float32))
    row = b.input(RNG.uniform(-1, 1, (1000,)).astype(np.float32))
    a = b("tanh", b("add", x, col))
    c = b("multiply", b("exp", a), row)
    d = b("greater", c, 0.0)
    check(b, a, c, d)


def test_strided_and_broadcast_views_as_inputs() -> None:
    b = Builder()
    base = b.input(RNG.uniform(-1, 1, (6, 8)).astype(np.float32))
    t = b("permute_dims", base, (1, 0))  # a transposed view
    e = b("broadcast_to", b.input(np.float32(2.0) * np.ones((1, 6), np.float32)), (8, 6))  # stride 0
    a = b("multiply", b("tanh", t), e)
    c = b("add", a, t)
    check(b, c)


def test_mutation_closes_the_group() -> None:
    """An in-place write between elementwise calls: the calls after it read the new values,
    those before it the old ones (nothing moves across the write)."""
    b = Builder()
    x = b.input(RNG.uniform(-1, 1, (8,)).astype(np.float32))
    y = b.input(RNG.uniform(-1, 1, (8,)).astype(np.float32))
    a = b("tanh", b("multiply", x, 2.0))  # reads x before the write
    b.mutate("copy_into", x, y)  # x <- y
    c = b("exp", b("add", x, 1.0))  # reads the new x
    d = b("add", a, c)
    program = b.program(d)
    from plugrad._compile._replay import live_calls

    p = plan(program, live_calls(program))
    kinds = [type(item).__name__ for item in p.items]
    assert kinds.index("Call") > kinds.index("Group"), kinds  # a group ran before the write
    check(b, d)


def test_a_call_reading_a_result_closes_the_group_and_pure_calls_are_passed() -> None:
    b = Builder()
    x = b.input(RNG.uniform(-1, 1, (4, 4)).astype(np.float32))
    a = b("tanh", b("multiply", x, 2.0))
    ones = b("ones", (4, 4), np.dtype(np.float32))  # pure, reads nothing of the group: the group goes on
    s = b("sum", a, (0,), True)  # reads a result: the group closes before it
    c = b("multiply", b("add", a, s), ones)
    d = b("sigmoid", c)
    runner = check(b, d, a)
    assert runner.__plugrad_numba__["groups"] == 2


def test_an_overridden_kernel_is_not_fused() -> None:
    """A call whose callable is not the NumPy backend's kernel (another plugin's override) stays a call."""
    b = Builder()
    x = b.input(np.linspace(-1, 1, 8).astype(np.float32))
    a = b("tanh", x)
    c = b("exp", a)
    program = b.program(c)
    program.calls[1] = Call(lambda v: np.exp(v), "exp", program.calls[1].args, {}, program.calls[1].out)
    rewritten, groups, _, _ = plugrad_numba.fuse(program)
    assert groups == []
    assert [c.name for c in rewritten.calls] == ["tanh", "exp"]


def test_a_program_without_elementwise_groups_still_runs() -> None:
    b = Builder()
    x = b.input(RNG.uniform(-1, 1, (3, 4)).astype(np.float32))
    w = b.input(RNG.uniform(-1, 1, (4, 2)).astype(np.float32))
    y = b("matmul", x, w)
    s = b("sum", y, None, False)
    runner = check(b, s, fused=False)
    assert runner.__plugrad_numba__["groups"] == 0


def test_another_backend_is_declined() -> None:
    program = Program(backend=type("B", (), {"name": "cupy"})(), n_slots=1, inputs=[0], calls=[], outputs=[0])
    assert plugrad_numba.compile_program(program) is None


def test_a_kernel_numba_cannot_compile_falls_back_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    from plugrad_numba import _jit

    def broken(*arrays: object) -> None:
        raise TypeError("no loop for this")

    real = _jit.load_kernel
    monkeypatch.setattr(_jit, "load_kernel", lambda source: (broken, real(source)[1]))
    b = Builder()
    x = b.input(np.linspace(-1, 1, 8).astype(np.float32))
    y = b("exp", b("tanh", x))
    before = plugrad_numba.stats.fallbacks
    from plugrad.compiler import CompileWarning

    with pytest.warns(CompileWarning, match="numba could not compile"):
        check(b, y)
    assert plugrad_numba.stats.fallbacks == before + 1


def test_equal_groups_share_one_kernel() -> None:
    b = Builder()
    x = b.input(np.linspace(-1, 1, 8).astype(np.float32))
    y = b.input(np.linspace(1, 2, 8).astype(np.float32))
    a = b("tanh", b("multiply", x, 2.0))
    s1 = b("sum", a, None, False)
    c = b("tanh", b("multiply", y, 2.0))
    s2 = b("sum", c, None, False)
    program = b.program(s1, s2)
    _, groups, wrappers, sources = plugrad_numba.fuse(program)
    assert len(groups) == 2 and sources[0] == sources[1]
    assert wrappers[0].dispatcher is wrappers[1].dispatcher


def test_dead_calls_are_dropped_and_intermediates_not_written() -> None:
    b = Builder()
    x = b.input(np.linspace(-1, 1, 8).astype(np.float32))
    a = b("multiply", x, 3.0)
    b("exp", a)  # nobody reads it
    c = b("tanh", a)
    program = b.program(c)
    rewritten, groups, _, _ = plugrad_numba.fuse(program)
    assert [c.name for c in rewritten.calls] == [plugrad_numba.FUSED]
    assert groups[0].outputs == [c.index] and len(groups[0].members) == 2
    assert rewritten.calls[0].args == (Ref(x.index),)


def test_a_program_fuses_at_most_max_program_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    b = Builder()
    x = b.input(np.linspace(-1, 1, 8).astype(np.float32))
    a = b("tanh", b("multiply", x, 2.0))
    s1 = b("sum", a, None, False)
    c = b("exp", b("multiply", a, 3.0))
    program = b.program(s1, c)
    monkeypatch.setattr(plugrad_numba.config, "max_program_calls", 3)
    rewritten, groups, _, _ = plugrad_numba.fuse(program)
    assert len(groups) == 1 and [c.name for c in rewritten.calls] == [plugrad_numba.FUSED, "sum", "multiply", "exp"]
