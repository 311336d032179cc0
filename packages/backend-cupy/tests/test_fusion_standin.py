"""The ``"cupy_fuse"`` compiler's grouping and generated code, checked without a GPU.

Everything in :mod:`plugrad_cupy._fusion` takes the array module as a parameter, so here
NumPy stands in for CuPy (a plain decorator for ``cupy.fuse``) in two ways:

- ``numpy``: programs recorded on plugrad's NumPy backend, fused over ``numpy`` itself.
  Its kernels call the same NumPy ufuncs, so a replay is bit for bit eager's (but for
  ``sigmoid`` of negative numbers: the NumPy backend computes ``1 / (1 + exp(-x))``, the
  fused code the CuPy backend's two-branch formula);
- ``standin``: programs recorded on the CuPy backend's own kernel table built over the
  NumPy stand-in for ``cupy`` of ``test_kernels_numpy_standin.py`` (so ``clip``,
  ``where``, ``astype`` and ``sigmoid`` are the CuPy backend's kernels), fused over that
  stand-in: bit for bit everywhere.

Every test asserts that something was fused, so a compiler that silently fuses nothing
fails. CuPy itself is never imported here; test_fusion_cupy.py runs on a GPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plugrad
import pytest
from plugrad.compiler import Call, Program, Ref, interpret
from plugrad.plugins import CONTRACT_VERSION, BackendSpec, get_registry, hookimpl
from plugrad_cupy import _fusion
from plugrad_cupy._fusion import FUSED, OPS, fuse_program, make_compiler, plan
from plugrad_cupy.kernels import make_dtypes, make_kernels
from test_kernels_numpy_standin import _Cupyx, _NumpyAsCupy

STANDIN = "cupy_fuse_standin"

# a fused group that cannot run warns and runs unfused: here that is a failure
pytestmark = pytest.mark.filterwarnings("error::plugrad.compiler.CompileWarning")


def checked_kernels() -> bool:
    from plugrad.backends._checked import enabled

    return enabled()


class _StandinPlugin:
    @hookimpl
    def plugrad_backends(self) -> Sequence[BackendSpec]:
        cp = _NumpyAsCupy()
        return [
            BackendSpec(
                name=STANDIN,
                device_type="cpu",
                contract_version=CONTRACT_VERSION,
                kernels=make_kernels(cp, _Cupyx()),
                dtypes=make_dtypes(cp),
                array_types=(np.ndarray,),
                capabilities=frozenset({"dlpack", "views"}),
                priority=-10,
            )
        ]


@pytest.fixture(scope="module", autouse=True)
def standin_backend() -> Iterator[None]:
    reg = get_registry()
    reg.add_plugin(_StandinPlugin(), "cupy-fuse-numpy-standin")
    yield
    reg.remove_plugin("cupy-fuse-numpy-standin")


def as_arrays(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The stand-in for ``cupy.fuse()``: NumPy's scalars as 0-d arrays (CuPy returns arrays)."""

    def one(v: Any) -> Any:
        return np.asarray(v) if isinstance(v, np.generic) else v

    @functools.wraps(fn)
    def run(*arrays: Any) -> Any:
        r = fn(*arrays)
        return tuple(one(v) for v in r) if isinstance(r, tuple) else one(r)

    run.fused_source = True  # type: ignore[attr-defined]
    return run


@dataclass
class Flavour:
    device: str
    xp: Any
    exact_sigmoid: bool

    def compiler(self) -> Recorder:
        if checked_kernels():
            pytest.skip("PLUGRAD_CHECK_KERNELS wraps every kernel, and the compiler fuses only a backend's own kernels")
        return Recorder(make_compiler(self.xp, as_arrays, backend=self.device))


class Recorder:
    """``backend=`` for ``plugrad.compile``: the fusing compiler, keeping what it made."""

    def __init__(self, compile_fn: Callable[[Program], Any]) -> None:
        self.compile_fn = compile_fn
        self.runners: list[Any] = []
        self.programs: list[Program] = []
        self.__name__ = "cupy_fuse_test"

    def __call__(self, program: Program) -> Any:
        self.programs.append(program)
        run = self.compile_fn(program)
        self.runners.append(run)
        return run

    @property
    def groups(self) -> int:
        return sum(r.__plugrad_cupy__["groups"] for r in self.runners if r is not None)

    @property
    def names(self) -> set[str]:
        return {n for r in self.runners if r is not None for n in r.__plugrad_cupy__["names"]}


FLAVOURS = {
    "numpy": Flavour("numpy", np, exact_sigmoid=False),
    "standin": Flavour(STANDIN, _NumpyAsCupy(), exact_sigmoid=True),
}


@pytest.fixture(params=sorted(FLAVOURS))
def flavour(request: pytest.FixtureRequest) -> Flavour:
    return FLAVOURS[request.param]


def same(a: Any, b: Any) -> None:
    """Bit for bit: values (NaN equal to NaN), dtype and shape."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)
    if a.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b))  # signed zeros too


def _np(t: Any) -> Any:
    return t.detach().cpu().numpy() if isinstance(t, plugrad.Tensor) else t


def run_both(
    flavour: Flavour, fn: Callable[..., Any], make_args: Callable[[], tuple[Any, ...]], calls: int = 5
) -> tuple[Recorder, list[Any], list[Any]]:
    """``fn`` eagerly and compiled with the fusing compiler, ``calls`` times each on fresh copies of the arguments."""
    rec = flavour.compiler()
    compiled = plugrad.compile(fn, backend=rec)
    eager_out, compiled_out = [], []
    args_e, args_c = make_args(), make_args()
    for _ in range(calls):
        eager_out.append(fn(*args_e))
        compiled_out.append(compiled(*args_c))
    return rec, eager_out, compiled_out


def flat(value: Any) -> list[Any]:
    if isinstance(value, (tuple, list)):
        return [x for v in value for x in flat(v)]
    return [value]


# ------------------------------------------------------------ every kernel in OPS, on hand-made programs
def _backend(name: str) -> Any:
    return get_registry().get(name)


def _inputs(name: str, dtype: Any, rng: np.random.Generator) -> list[Any]:
    x = rng.uniform(-0.95, 0.95, (4, 3)).astype(dtype)
    if name in ("log", "log2", "log10", "sqrt", "reciprocal"):
        x = np.abs(x) + dtype(0.05)
    if name == "acosh":
        x = np.abs(x) + dtype(1)
    if name in ("isnan", "isinf", "isfinite", "equal", "not_equal"):
        x[0, 0], x[1, 1], x[2, 2] = np.nan, np.inf, -np.inf
    y = rng.uniform(-0.95, 0.95, (3,)).astype(dtype)
    y[0] = x[0, 0] if name in ("equal", "not_equal") else y[0]
    c = rng.uniform(size=(4, 3)) > 0.5
    d = rng.uniform(size=(3,)) > 0.5
    return [x, y, c, d]


def _first_call(name: str, fn: Callable[..., Any]) -> Call:
    kind = OPS[name].kind
    x, y, c, d = Ref(0), Ref(1), Ref(2), Ref(3)
    args: tuple[Any, ...]
    if kind == "math":
        args = (x,) if OPS[name].arity == 1 else (x, y)
    elif kind == "compare":
        args = (x, y)
    elif kind == "predicate":
        args = (x,)
    elif kind == "logic":
        args = (c,) if OPS[name].arity == 1 else (c, d)
    elif kind == "where":
        args = (c, x, y)
    elif kind == "clip":
        args = (x, -0.5, 0.25)
    elif kind == "astype":
        args = (x, np.dtype(np.float64))
    else:
        args = (x,)
    return Call(fn, name, args, {}, 4)


_EXTRA_KERNELS = {"square": np.square, "reciprocal": np.reciprocal, "relu": lambda x: np.maximum(x, 0)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPS))
def test_every_kernel_fuses_with_a_follower(flavour: Flavour, name: str, dtype: Any) -> None:
    """Each kernel of OPS, then one more elementwise call reading it, with both results outputs:
    one group of two, returning both, equal to the reference runner bit for bit."""
    backend = _backend(flavour.device)
    kernels = dict(backend.spec.kernels)
    if name not in kernels:  # plugrad composes it (sinh from exp, ...): fused when a backend has the kernel
        kernels[name] = _EXTRA_KERNELS.get(name) or getattr(np, _fusion._fn_name(OPS[name], np))
    first = _first_call(name, kernels[name])
    rng = np.random.default_rng(sorted(OPS).index(name))
    arrays = _inputs(name, dtype, rng)
    out_dtype = np.dtype(np.float64) if name == "astype" else np.dtype(dtype)
    if OPS[name].kind in ("compare", "predicate", "logic"):
        out_dtype = np.dtype(np.bool_)
        second = Call(kernels["logical_xor"], "logical_xor", (Ref(4), Ref(2)), {}, 5)
        second_dtype = out_dtype
    else:
        second = Call(kernels["multiply"], "multiply", (Ref(4), 3), {}, 5)
        second_dtype = out_dtype
    shapes = [a.shape for a in arrays] + [(4, 3), (4, 3)]
    dtypes = [a.dtype for a in arrays] + [out_dtype, second_dtype]
    program = Program(backend, 6, [0, 1, 2, 3], [first, second], [4, 5], {"shapes": shapes, "dtypes": dtypes})
    run = make_compiler(flavour.xp, as_arrays, backend=flavour.device, kernels=kernels)(program)
    assert run is not None, f"{name} did not fuse"
    info = run.__plugrad_cupy__
    assert info["groups"] == 1 and info["fused_calls"] == 2 and name in info["names"]
    env = [*arrays, None, None]
    ref = [*arrays, None, None]
    with np.errstate(all="ignore"):
        run(env)
        interpret(program)(ref)
    for s in (4, 5):
        assert isinstance(env[s], np.ndarray)
        if name == "sigmoid" and not flavour.exact_sigmoid:
            np.testing.assert_allclose(env[s], ref[s], rtol=4 * np.finfo(dtype).eps)
            nonneg = arrays[0] >= 0
            same(env[s][nonneg], ref[s][nonneg])  # the same formula where x >= 0
        else:
            same(env[s], ref[s])


def test_the_table_is_elementwise_and_names_numpy_functions() -> None:
    from plugrad.compiler import ELEMENTWISE_KERNELS

    assert set(OPS) <= ELEMENTWISE_KERNELS
    for name, op in OPS.items():
        if op.kind != "astype":
            assert _fusion._fn_name(op, np) is not None, name


# ------------------------------------------------------------------------- grouping rules
def _numpy_program(
    calls: list[Call], n_slots: int, inputs: list[int], outputs: list[int], shapes: list[Any], dtypes: list[Any]
) -> Program:
    return Program(_backend("numpy"), n_slots, inputs, calls, outputs, {"shapes": shapes, "dtypes": dtypes})


def _k(name: str) -> Callable[..., Any]:
    return _backend("numpy").spec.kernels[name]


F32 = np.dtype(np.float32)


def _iadd(x: Any, y: Any) -> None:
    x += y


def test_no_call_moves_across_an_in_place_write() -> None:
    calls = [
        Call(_k("multiply"), "multiply", (Ref(0), 2.0), {}, 1),
        Call(_k("add"), "add", (Ref(1), 1.0), {}, 2),
        Call(_iadd, "iadd", (Ref(0), Ref(2)), {}, None, mutates=0),
        Call(_k("tanh"), "tanh", (Ref(0),), {}, 3),
        Call(_k("multiply"), "multiply", (Ref(3), Ref(2)), {}, 4),
    ]
    program = _numpy_program(calls, 5, [0], [4], [(5,)] * 5, [F32] * 5)
    p = plan(program, calls, np)
    kinds = [type(i).__name__ if not isinstance(i, Call) else i.name for i in p.items]
    assert kinds == ["Group", "iadd", "Group"]
    first, second = p.items[0], p.items[2]
    assert first.outputs == [2]  # read by the in-place write and by the second group; slot 1 stays inside
    assert second.inputs == [0, 2] and second.outputs == [4]
    x = np.linspace(-1, 1, 5, dtype=np.float32)
    env, ref = [x.copy(), None, None, None, None], [x.copy(), None, None, None, None]
    run = make_compiler(np, as_arrays, backend="numpy")(program)
    assert run is not None and run.__plugrad_cupy__["groups"] == 2
    run(env)
    interpret(program)(ref)
    same(env[4], ref[4])
    same(env[0], ref[0])  # the array written in place


@pytest.mark.parametrize("barrier", ["check", "random.uniform", "opaque"])
def test_groups_close_before_checks_random_draws_and_unknown_calls(barrier: str) -> None:
    def draw(shape: Any) -> Any:
        return np.full(shape, 0.5, np.float32)

    calls = [
        Call(_k("multiply"), "multiply", (Ref(0), 2.0), {}, 1),
        Call(_k("add"), "add", (Ref(1), 1.0), {}, 2),
        Call(draw, barrier, ((5,),), {}, 3),
        Call(_k("exp"), "exp", (Ref(2),), {}, 4),
        Call(_k("multiply"), "multiply", (Ref(4), Ref(3)), {}, 5),
    ]
    program = _numpy_program(calls, 6, [0], [5], [(5,)] * 6, [F32] * 6)
    p = plan(program, calls, np)
    names = [i.name if isinstance(i, Call) else "Group" for i in p.items]
    assert names == ["Group", barrier, "Group"]
    assert p.items[0].outputs == [2]


def test_members_move_past_pure_calls_that_do_not_read_them() -> None:
    calls = [
        Call(_k("multiply"), "multiply", (Ref(0), 2.0), {}, 2),
        Call(_k("sum"), "sum", (Ref(1), None, False), {}, 3),  # pure, reads no member
        Call(_k("add"), "add", (Ref(2), Ref(3)), {}, 4),
        Call(_k("tanh"), "tanh", (Ref(4),), {}, 5),
    ]
    program = _numpy_program(calls, 6, [0, 1], [5], [(5,), (5,), (5,), (), (5,), (5,)], [F32] * 6)
    p = plan(program, calls, np)
    assert [i.name if isinstance(i, Call) else "Group" for i in p.items] == ["sum", "Group"]
    g = p.items[1]
    assert len(g.members) == 3 and g.inputs == [0, 3] and g.outputs == [5]  # slots 2 and 4 stay inside


def test_a_pure_call_reading_a_member_closes_its_group() -> None:
    calls = [
        Call(_k("multiply"), "multiply", (Ref(0), 2.0), {}, 1),
        Call(_k("exp"), "exp", (Ref(1),), {}, 2),
        Call(_k("sum"), "sum", (Ref(2), None, False), {}, 3),
        Call(_k("add"), "add", (Ref(2), Ref(3)), {}, 4),
        Call(_k("tanh"), "tanh", (Ref(4),), {}, 5),
    ]
    program = _numpy_program(calls, 6, [0], [5], [(5,), (5,), (5,), (), (5,), (5,)], [F32] * 6)
    p = plan(program, calls, np)
    assert [i.name if isinstance(i, Call) else "Group" for i in p.items] == ["Group", "sum", "Group"]
    assert p.items[0].outputs == [2] and p.items[2].inputs == [2, 3]


def test_a_group_of_another_shape_runs_before_its_reader() -> None:
    calls = [
        Call(_k("multiply"), "multiply", (Ref(0), 2.0), {}, 2),  # (4, 3)
        Call(_k("add"), "add", (Ref(1), 1.0), {}, 3),  # (3,)
        Call(_k("exp"), "exp", (Ref(3),), {}, 4),  # (3,)
        Call(_k("multiply"), "multiply", (Ref(2), Ref(4)), {}, 5),  # (4, 3), reads the (3,) group
        Call(_k("tanh"), "tanh", (Ref(5),), {}, 6),
    ]
    shapes = [(4, 3), (3,), (4, 3), (3,), (3,), (4, 3), (4, 3)]
    program = _numpy_program(calls, 7, [0, 1], [6], shapes, [F32] * 7)
    p = plan(program, calls, np)
    groups = [i for i in p.items if not isinstance(i, Call)]
    assert [g.shape for g in groups] == [(3,), (4, 3)]
    assert groups[0].outputs == [4] and [m.out for m in groups[1].members] == [2, 5, 6]
    run = make_compiler(np, as_arrays, backend="numpy")(program)
    x, y = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    env, ref = [x, y[0], *[None] * 5], [x, y[0], *[None] * 5]
    run(env)
    interpret(program)(ref)
    same(env[6], ref[6])


def test_what_does_not_fuse() -> None:
    def not_the_backends_add(a: Any, b: Any) -> Any:
        return np.add(a, b)

    f16 = np.dtype(np.float16)
    cases = {
        "an override": (Call(not_the_backends_add, "add", (Ref(0), 1.0), {}, 1), F32),
        "float16": (Call(_k("add"), "add", (Ref(0), 1.0), {}, 1), f16),
        "a NumPy scalar constant": (Call(_k("add"), "add", (Ref(0), np.float32(1.0)), {}, 1), F32),
        "an in-place kernel": (Call(_k("add"), "add", (Ref(0), 1.0), {}, 1, mutates=0), F32),
        "int64": (Call(_k("add"), "add", (Ref(0), 1), {}, 1), np.dtype(np.int64)),
    }
    for why, (call, dt) in cases.items():
        calls = [call, Call(_k("negative"), "negative", (Ref(1),), {}, 2)]
        program = _numpy_program(calls, 3, [0], [2], [(3,)] * 3, [dt] * 3)
        p = plan(program, calls, np)
        assert not any(m.call is call for g in p.groups for m in g.members), why


def test_declines_when_nothing_fuses_and_for_another_backend() -> None:
    calls = [Call(_k("exp"), "exp", (Ref(0),), {}, 1), Call(_k("sum"), "sum", (Ref(1), None, False), {}, 2)]
    program = _numpy_program(calls, 3, [0], [2], [(3,), (3,), ()], [F32] * 3)
    assert make_compiler(np, as_arrays, backend="numpy")(program) is None  # a group of one
    assert _fusion.compile_program(program) is None  # the real compiler: a NumPy program is not its business


def test_identical_groups_share_one_fused_function() -> None:
    calls = [
        Call(_k("multiply"), "multiply", (Ref(0), 2.0), {}, 2),
        Call(_k("tanh"), "tanh", (Ref(2),), {}, 3),
        Call(_k("sum"), "sum", (Ref(3), None, False), {}, 4),
        Call(_k("multiply"), "multiply", (Ref(1), 2.0), {}, 5),
        Call(_k("tanh"), "tanh", (Ref(5),), {}, 6),
    ]
    program = _numpy_program(calls, 7, [0, 1], [4, 6], [(3,), (3,), (3,), (3,), (), (3,), (3,)], [F32] * 7)
    rewritten, groups, sources = fuse_program(program, np, as_arrays)
    fused = [c for c in rewritten.calls if c.name == FUSED]
    assert len(groups) == 2 and sources[0] == sources[1] and fused[0].fn.fused is fused[1].fn.fused
    assert "xp.tanh(t0)" in sources[0] and "xp.multiply(a0, xp.float32(2.0))" in sources[0]


def _broken_fuse(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*arrays: Any) -> Any:
        raise NotImplementedError("no such function in this cupy.fuse")

    return run


def _float64_fuse(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*arrays: Any) -> Any:  # a cupy.fuse promoting Python numbers to float64
        r = fn(*arrays)
        return tuple(np.asarray(v, np.float64) for v in r) if isinstance(r, tuple) else np.asarray(r, np.float64)

    return run


@pytest.mark.parametrize("fuse", [_broken_fuse, _float64_fuse])
def test_a_kernel_that_fails_or_differs_on_its_first_call_runs_unfused(fuse: Callable[..., Any]) -> None:
    calls = [
        Call(_k("multiply"), "multiply", (Ref(0), 2.0), {}, 1),
        Call(_k("tanh"), "tanh", (Ref(1),), {}, 2),
        Call(_k("add"), "add", (Ref(2), Ref(1)), {}, 3),
    ]
    program = _numpy_program(calls, 4, [0], [1, 3], [(3,)] * 4, [F32] * 4)
    run = make_compiler(np, fuse, backend="numpy")(program)
    assert run is not None
    x = np.linspace(-1, 1, 3, dtype=np.float32)
    ref = [x, None, None, None]
    interpret(program)(ref)
    with pytest.warns(
        plugrad.compiler.CompileWarning, match="cupy_fuse: the fused kernel of 3 calls .* running them unfused"
    ):
        env = [x, None, None, None]
        run(env)
    for _ in range(2):  # no more warnings: the group stays unfused
        same(env[1], ref[1])
        same(env[3], ref[3])
        env = [x, None, None, None]
        run(env)


def test_a_deep_chain_is_cut_into_groups_of_at_most_max_group_size() -> None:
    calls = [
        Call(
            _k("multiply" if i % 2 else "sin"), "multiply" if i % 2 else "sin", (Ref(i), 0.999)[: 1 + i % 2], {}, i + 1
        )
        for i in range(600)
    ]
    program = _numpy_program(calls, 601, [0], [600], [(4,)] * 601, [F32] * 601)
    rewritten, groups, _ = fuse_program(program, np, as_arrays, max_group_size=256)
    assert [len(g.members) for g in groups] == [256, 256, 88]
    assert [g.outputs for g in groups] == [[256], [512], [600]]
    env, ref = (
        [np.linspace(-1, 1, 4, dtype=np.float32)] + [None] * 600,
        [np.linspace(-1, 1, 4, dtype=np.float32)] + [None] * 600,
    )
    make_compiler(np, as_arrays, backend="numpy", max_group_size=256)(program)(env)
    interpret(program)(ref)
    same(env[600], ref[600])


def test_folded_constants_become_arguments() -> None:
    """plugrad folds pure calls of constants (the ``ones`` seeding a backward pass) into arrays;
    a group reading one takes it as an argument."""
    calls = [
        Call(_k("ones"), "ones", ((3,), F32), {}, 1),
        Call(_k("multiply"), "multiply", (Ref(1), 0.5), {}, 2),
        Call(_k("multiply"), "multiply", (Ref(0), Ref(2)), {}, 3),
        Call(_k("exp"), "exp", (Ref(3),), {}, 4),
    ]
    program = _numpy_program(calls, 5, [0], [4], [(3,)] * 5, [F32] * 5)
    rewritten, groups, _ = fuse_program(program, np, as_arrays)
    [call] = [c for c in rewritten.calls if c.name == FUSED]
    assert len(groups) == 1 and type(call.args[0]) is Ref and isinstance(call.args[1], np.ndarray)
    run = make_compiler(np, as_arrays, backend="numpy")(program)
    x = np.linspace(-1, 1, 3, dtype=np.float32)
    env, ref = [x, None, None, None, None], [x, None, None, None, None]
    run(env)
    interpret(program)(ref)
    same(env[4], ref[4])


# --------------------------------------------------------------- plugrad.compile end to end
def _chain(x: Any, y: Any, z: Any) -> Any:
    a = plugrad.tanh(x * 0.5 + y) - z / 3
    b = plugrad.exp(-a.abs()) * plugrad.sqrt(x * x + 1.0) + plugrad.log1p(y * y)
    c = plugrad.where(a > 0, b, -b).clamp(-2.0, 2.0) ** 2
    d = plugrad.maximum(c, plugrad.minimum(a, b)) + plugrad.sin(a) * plugrad.cos(b) - plugrad.atanh(a * 0.5)
    e = plugrad.log(d.abs() + 0.1) + plugrad.expm1(a * 0.1) + plugrad.sinh(a) * plugrad.cosh(b) + plugrad.tan(a * 0.3)
    f = plugrad.hypot(e, a) + plugrad.copysign(e, a) + plugrad.logaddexp(e, b) + plugrad.asinh(e) + plugrad.acosh(c + 1)
    g = (
        plugrad.log2(f.abs() + 1)
        + plugrad.log10(f.abs() + 1)
        - 1.0 / (f.abs() + 1)
        + plugrad.sign(f) * plugrad.trunc(f)
    )
    h = plugrad.floor(g) + plugrad.ceil(g) + plugrad.round(g * 4) + plugrad.remainder(g, 0.7) + g.relu() + g.square()
    m = plugrad.logical_xor(plugrad.isfinite(h), h < 1.0) | plugrad.isnan(h) & (h != 0.5) | ~(h >= 2) ^ (h <= -1)
    return h * m.float() + plugrad.isinf(h).float() + (h == g).double().float()


def _chain_args(dtype: Any, grad: bool) -> Callable[[], tuple[Any, ...]]:
    def make() -> tuple[Any, ...]:
        g = plugrad.Generator().manual_seed(0)
        x = plugrad.randn(4, 3, generator=g, dtype=dtype, requires_grad=grad)
        y = plugrad.randn(3, generator=g, dtype=dtype, requires_grad=grad)
        z = plugrad.randn(4, 1, generator=g, dtype=dtype)
        return x, y, z

    return make


def _to(device: str, make: Callable[[], tuple[Any, ...]]) -> Callable[[], tuple[Any, ...]]:
    def moved() -> tuple[Any, ...]:
        out = []
        for t in make():
            leaf = t.detach().to(device)
            out.append(leaf.requires_grad_(t.requires_grad))
        return tuple(out)

    return moved


@pytest.mark.parametrize("dtype", [plugrad.float32, plugrad.float64])
def test_a_chain_of_every_kernel_forward(flavour: Flavour, dtype: Any) -> None:
    rec, eager, compiled = run_both(flavour, _chain, _to(flavour.device, _chain_args(dtype, False)))
    assert rec.groups > 0
    expected = {
        "add", "subtract", "multiply", "divide", "pow", "remainder", "maximum", "minimum", "negative", "abs",
        "sign", "exp", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin", "cos", "tan", "tanh", "floor", "ceil", "round", "trunc", "hypot", "copysign", "logaddexp",
        "where", "clip", "astype", "greater", "less", "less_equal", "greater_equal", "equal", "not_equal",
        "isnan", "isinf", "isfinite", "logical_and", "logical_or", "logical_xor", "logical_not",
    }  # fmt: skip
    assert expected <= rec.names, sorted(expected - rec.names)
    for e, c in zip(eager, compiled):
        same(_np(e), _np(c))


def test_a_chain_forward_and_backward(flavour: Flavour) -> None:
    def step(x: Any, y: Any, z: Any) -> Any:
        a = plugrad.tanh(x * 0.5 + y) * plugrad.exp(-(z * z)) + plugrad.sigmoid(y * 0.0 + 1.5)
        loss = (a * a - plugrad.log1p(a.abs())).sum()
        loss.backward()
        g = x.grad.clone(), y.grad.clone()
        x.grad = None
        y.grad = None
        return loss, *g

    rec, eager, compiled = run_both(flavour, step, _to(flavour.device, _chain_args(plugrad.float32, True)))
    assert rec.groups >= 2  # forward and backward
    for e, c in zip(eager, compiled):
        for a, b in zip(flat(e), flat(c)):
            same(_np(a), _np(b))


def test_sigmoid_within_a_rounding_and_exact_on_the_standin(flavour: Flavour) -> None:
    def fn(x: Any) -> Any:
        return plugrad.sigmoid(x * 3.0) * 2.0 - 1.0

    def make() -> tuple[Any, ...]:
        return (plugrad.linspace(-60, 60, 241).to(flavour.device),)

    rec, eager, compiled = run_both(flavour, fn, make)
    assert rec.groups > 0 and "sigmoid" in rec.names
    for e, c in zip(eager, compiled):
        if flavour.exact_sigmoid:
            same(_np(e), _np(c))
        else:
            np.testing.assert_allclose(_np(c), _np(e), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "shapes", [((4, 1), (3,), ()), ((2, 1, 3), (4, 1), (1, 1, 1)), ((), (), ()), ((5,), (1,), (5,))]
)
def test_broadcasting(flavour: Flavour, shapes: tuple[tuple[int, ...], ...]) -> None:
    def fn(x: Any, y: Any, z: Any) -> Any:
        a = x * y + z
        return plugrad.tanh(a) * 2.0 - a / (z * z + 1.0)

    def make() -> tuple[Any, ...]:
        g = plugrad.Generator().manual_seed(1)
        return tuple(plugrad.randn(*s, generator=g).to(flavour.device) for s in shapes)

    rec, eager, compiled = run_both(flavour, fn, make)
    assert rec.groups > 0
    for e, c in zip(eager, compiled):
        same(_np(e), _np(c))


def test_in_place_ops_in_between(flavour: Flavour) -> None:
    def fn(x: Any, w: Any) -> Any:
        y = x * 2.0 + 1.0
        y.mul_(0.5)  # in place on an intermediate
        z = plugrad.tanh(y) - y * y
        w.add_(z.mean() * 0.1)  # in place on an argument: later members read the new values
        u = plugrad.exp(-w * w) + w * 0.5
        y.add_(u)
        return z * 3.0 + y, u

    def make() -> tuple[Any, ...]:
        g = plugrad.Generator().manual_seed(2)
        return plugrad.randn(4, 3, generator=g).to(flavour.device), plugrad.randn(4, 3, generator=g).to(flavour.device)

    rec = flavour.compiler()
    compiled = plugrad.compile(fn, backend=rec)
    args_e, args_c = make(), make()
    for _ in range(5):
        for e, c in zip(fn(*args_e), compiled(*args_c)):
            same(_np(e), _np(c))
        same(_np(args_e[1]), _np(args_c[1]))  # the argument changed in place
    assert rec.groups > 0


def _regression_data(device: str) -> tuple[Any, Any]:
    g = plugrad.Generator().manual_seed(3)
    x = plugrad.randn(64, 3, generator=g)
    y = plugrad.tanh(x @ plugrad.tensor([[0.5], [-1.0], [0.25]]) + 0.1)
    return x.to(device), y.to(device)


def test_a_training_step_linear_tanh_mse_sgd(flavour: Flavour) -> None:
    """Linear + tanh + MSE + SGD written with tensors (this package's tests do not need plugrad-nn)."""

    def make_params() -> list[Any]:
        g = plugrad.Generator().manual_seed(4)
        w = plugrad.randn(1, 3, generator=g).to(flavour.device).requires_grad_(True)
        b = plugrad.zeros(1).to(flavour.device).requires_grad_(True)
        return [w, b]

    def step(params: list[Any], x: Any, y: Any) -> Any:
        w, b = params
        pred = plugrad.tanh(x @ w.T + b)
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        with plugrad.no_grad():
            for p in params:
                p.sub_(p.grad * 0.1)
                p.grad = None
        return loss

    x, y = _regression_data(flavour.device)
    eager_p, comp_p = make_params(), make_params()
    rec = flavour.compiler()
    compiled = plugrad.compile(step, backend=rec)
    for _ in range(8):
        same(_np(step(eager_p, x, y)), _np(compiled(comp_p, x, y)))
        for a, b in zip(eager_p, comp_p):
            same(_np(a), _np(b))
    assert rec.groups > 0


def test_a_training_step_with_nn_and_optim(flavour: Flavour) -> None:
    nn = pytest.importorskip("plugrad.nn", reason="plugrad-nn is not installed")
    optim = pytest.importorskip("plugrad.optim", reason="plugrad-optim is not installed")

    def make() -> tuple[Any, Any]:
        plugrad.manual_seed(5)
        model = nn.Linear(3, 1).to(flavour.device)
        return model, optim.SGD(model.parameters(), lr=0.1)

    def step(model: Any, opt: Any, x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = nn.functional.mse_loss(plugrad.tanh(model(x)), y)
        loss.backward()
        opt.step()
        return loss

    x, y = _regression_data(flavour.device)
    (em, eo), (cm, co) = make(), make()
    rec = flavour.compiler()
    compiled = plugrad.compile(step, backend=rec)
    for _ in range(8):
        same(_np(step(em, eo, x, y)), _np(compiled(cm, co, x, y)))
        for a, b in zip(em.parameters(), cm.parameters()):
            same(_np(a), _np(b))
    assert rec.groups > 0


# ------------------------------------------------------------------------------- the plugin
def test_the_compiler_is_registered_with_its_reason() -> None:
    from plugrad_cupy import plugin

    [spec] = plugin.plugrad_compilers()
    assert spec.name == "cupy_fuse" and spec.backends == ("cupy",) and spec.description
    info = get_registry().compiler_infos()["cupy_fuse"]
    assert info.plugin == "cupy"
    if spec.unavailable_reason is not None:
        assert spec.compile is None and not info.available
        assert spec.unavailable_reason.startswith(
            ("cupy not installed", "cupy failed to import", "no CUDA device", "no usable CUDA device")
        )
        with pytest.raises(RuntimeError, match="cupy_fuse"):
            plugrad.compile(lambda x: x, backend="cupy_fuse")
    else:
        import cupy

        assert spec.compile is _fusion.compile_program and spec.version == cupy.__version__


# ----------------------------------------------------------------- random programs vs interpret
def _random_program(seed: int) -> tuple[Program, list[Any], Callable[[], None]]:
    """A random straight-line program over the NumPy backend's kernels: elementwise calls of
    broadcasting shapes, reductions, in-place adds, checks and random draws; its inputs, and
    a function resetting its random draws."""
    rng = np.random.default_rng(seed)
    k = _backend("numpy").spec.kernels
    shapes = [(4, 3), (3,), (4, 1), ()]
    arrays: list[Any] = [rng.standard_normal(shapes[rng.integers(4)]).astype(np.float32) for _ in range(3)]
    arrays.append(rng.standard_normal((4, 3)) > 0)
    slot_shape = [a.shape for a in arrays]
    slot_dtype = [a.dtype for a in arrays]
    draws = [0]

    def draw(shape: Any, dtype: Any) -> Any:
        draws[0] += 1
        return np.full(shape, draws[0] * 0.25, dtype)

    def reset() -> None:
        draws[0] = 0

    def check(x: Any) -> None:
        float(np.sum(x))

    calls: list[Call] = []

    def new(shape: tuple[int, ...], dtype: Any) -> int:
        slot_shape.append(shape)
        slot_dtype.append(np.dtype(dtype))
        return len(slot_shape) - 1

    def pick(dtype: Any) -> int:
        return int(rng.choice([s for s, d in enumerate(slot_dtype) if d == np.dtype(dtype)]))

    for _ in range(int(rng.integers(4, 16))):
        r = rng.uniform()
        a = pick(np.float32)
        if r < 0.25:
            name = str(rng.choice(["tanh", "exp", "negative", "abs", "sin", "sqrt", "log1p"]))
            calls.append(Call(k[name], name, (Ref(a),), {}, new(slot_shape[a], np.float32)))
        elif r < 0.55:
            name = str(rng.choice(["add", "subtract", "multiply", "maximum", "minimum", "divide"]))
            other: Any = Ref(pick(np.float32)) if rng.uniform() < 0.7 else float(rng.integers(-3, 4)) / 2
            shape = np.broadcast_shapes(slot_shape[a], slot_shape[other.index] if type(other) is Ref else ())
            calls.append(Call(k[name], name, (Ref(a), other), {}, new(shape, np.float32)))
        elif r < 0.62:
            calls.append(Call(k["greater"], "greater", (Ref(a), 0.1), {}, new(slot_shape[a], np.bool_)))
        elif r < 0.7:
            c, b = pick(np.bool_), pick(np.float32)
            shape = np.broadcast_shapes(slot_shape[c], slot_shape[a], slot_shape[b])
            calls.append(Call(k["where"], "where", (Ref(c), Ref(a), Ref(b)), {}, new(shape, np.float32)))
        elif r < 0.78:
            calls.append(Call(k["sum"], "sum", (Ref(a), None, False), {}, new((), np.float32)))
        elif r < 0.88:
            b = pick(np.float32)
            if np.broadcast_shapes(slot_shape[a], slot_shape[b]) == slot_shape[a]:
                calls.append(Call(_iadd, "iadd", (Ref(a), Ref(b)), {}, None, mutates=a))
        elif r < 0.94:
            calls.append(Call(check, "check", (Ref(a),), {}, None))
        else:
            shape = shapes[int(rng.integers(4))]
            calls.append(Call(draw, "random.uniform", (shape, np.dtype(np.float32)), {}, new(shape, np.float32)))
    n = len(slot_shape)
    produced = list(range(4, n))
    outputs = sorted(
        set(produced[-2:]) | {int(s) for s in rng.choice(produced, min(2, len(produced)))} if produced else set()
    )
    meta = {"shapes": slot_shape, "dtypes": slot_dtype}
    return Program(_backend("numpy"), n, [0, 1, 2, 3], calls, outputs, meta), arrays, reset


def test_random_programs_give_the_reference_runners_results() -> None:
    compile_fn = make_compiler(np, as_arrays, backend="numpy")
    fused_programs = 0
    for seed in range(300):
        program, arrays, reset = _random_program(seed)
        run = compile_fn(program)
        if run is None:
            continue
        fused_programs += 1
        env = [a.copy() for a in arrays] + [None] * (program.n_slots - 4)
        ref = [a.copy() for a in arrays] + [None] * (program.n_slots - 4)
        with np.errstate(all="ignore"):
            reset()
            interpret(program)(ref)
            reset()
            run(env)
        for s in [*program.outputs, 0, 1, 2, 3]:  # results, and the inputs written in place
            same(env[s], ref[s])
    assert fused_programs > 100
