"""The API of ``plugrad.compile`` and ``plugrad.compiler``: torch.compile's calling conventions,
backends by name, the compiler plugin hook, reset/disable/is_compiling, nested compiled functions."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import plugrad
import plugrad as torch
import plugrad.compiler as compiler
import plugrad.nn.functional as F
import pytest
from plugrad.plugins import get_registry, hookimpl
from test_compile_fuzz import assert_same_params, assert_same_value, eager_reasons, recordings, replayed


def make_step(seed: int = 0) -> tuple[Any, list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(3, 2, generator=g).requires_grad_()
    b = torch.zeros(2).requires_grad_()
    opt = torch.optim.SGD([w, b], lr=0.1, momentum=0.9)

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One SGD step of a linear regression."""
        opt.zero_grad()
        loss = F.mse_loss((x @ w + b).tanh(), y)
        loss.backward()
        opt.step()
        return loss

    return step, [w, b]


X = torch.linspace(-1, 1, 12).reshape(4, 3)
Y = torch.linspace(0, 1, 8).reshape(4, 2)


def check_against_eager(compiled: Any, params_c: list[torch.Tensor], n: int = 5) -> None:
    step_e, params_e = make_step()
    for i in range(n):
        assert_same_value(step_e(X, Y), compiled(X, Y), f"call {i}")
        assert_same_params(params_e, params_c, f"call {i}")


# -- calling conventions -------------------------------------------------------------------


def test_compile_a_function() -> None:
    step, params = make_step()
    cf = plugrad.compile(step)
    assert cf.__name__ == "step" and cf.__doc__ == step.__doc__ and cf.__wrapped__ is step
    check_against_eager(cf, params)
    assert replayed(cf) == 1


def test_decorator_without_and_with_arguments() -> None:
    step, params = make_step()
    cf = plugrad.compile(step)
    deco = plugrad.compile(fullgraph=True)
    cf2 = deco(make_step()[0])
    assert callable(deco) and not isinstance(deco, type(cf))
    assert cf2._fullgraph and not cf._fullgraph

    @plugrad.compile
    def f(x: torch.Tensor) -> torch.Tensor:
        return x * 2 + 1

    @plugrad.compile(fullgraph=True, dynamic=False)
    def g(x: torch.Tensor) -> torch.Tensor:
        return x.exp()

    for _ in range(3):
        assert_same_value(f(X), X * 2 + 1, "f")
        assert_same_value(g(X), X.exp(), "g")
    assert replayed(f) == 1 and replayed(g) == 1


@pytest.mark.parametrize("backend", ["inductor", "replay", "aot_eager", "cudagraphs"])
def test_backends_meaning_replay(backend: str) -> None:
    step, params = make_step()
    cf = plugrad.compile(step, backend=backend)
    assert cf._compiler_name == "replay"
    check_against_eager(cf, params)
    assert replayed(cf) == 1


def test_backend_eager_runs_the_function() -> None:
    step, params = make_step()
    cf = plugrad.compile(step, backend="eager")
    check_against_eager(cf, params)
    assert not hasattr(cf, "_cache") or not cf._cache


def test_unknown_backend_lists_the_available_ones() -> None:
    with pytest.raises(ValueError, match="nope") as info:
        plugrad.compile(make_step()[0], backend="nope")
    msg = str(info.value)
    for name in ("replay", "inductor", "eager"):
        assert name in msg
    with pytest.raises(TypeError):
        plugrad.compile(make_step()[0], backend=3)


@pytest.mark.parametrize("mode", [None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"])
def test_modes_accepted(mode: str | None) -> None:
    step, params = make_step()
    check_against_eager(plugrad.compile(step, mode=mode), params, n=3)


def test_bad_mode_and_mode_with_options_raise() -> None:
    with pytest.raises(RuntimeError) as info:
        plugrad.compile(make_step()[0], mode="fastest")
    assert str(info.value) == (  # PyTorch's message, its modes in its order
        "Unrecognized mode=fastest, should be one of: default, reduce-overhead, max-autotune, "
        "max-autotune-no-cudagraphs"
    )
    with pytest.raises(RuntimeError, match="mode or options"):
        plugrad.compile(make_step()[0], mode="default", options={"a": 1})
    with pytest.raises(RuntimeError, match="Unrecognized mode"):
        plugrad.compile(mode="fastest")  # checked before the decorator is returned


@pytest.mark.parametrize("dynamic", [None, True, False])
def test_dynamic_and_options_accepted(dynamic: bool | None) -> None:
    step, params = make_step()
    check_against_eager(plugrad.compile(step, dynamic=dynamic, options={"trace.enabled": False}), params, n=3)


def test_disable_returns_the_function_itself() -> None:
    step, _ = make_step()
    assert plugrad.compile(step, disable=True) is step
    assert plugrad.compile(disable=True)(step) is step


def test_not_callable_raises() -> None:
    with pytest.raises(RuntimeError, match="callable"):
        plugrad.compile(3)


def test_compiled_method() -> None:
    class Trainer:
        def __init__(self) -> None:
            self.step_fn, self.params = make_step()

        @plugrad.compile
        def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return self.step_fn(x, y)

    t = Trainer()
    check_against_eager(t.step, t.params)
    assert replayed(Trainer.__dict__["step"]) == 1


# -- plugrad.compiler ----------------------------------------------------------------------


def test_list_backends() -> None:
    names = compiler.list_backends()
    assert "replay" in names and names == sorted(names)


def test_reset_forgets_recorded_programs() -> None:
    step, params = make_step()
    cf = plugrad.compile(step)
    step_e, params_e = make_step()
    for i in range(4):
        assert_same_value(step_e(X, Y), cf(X, Y), f"call {i}")
    assert replayed(cf) == 1
    compiler.reset()
    assert not cf._cache
    for i in range(4):
        assert_same_value(step_e(X, Y), cf(X, Y), f"after reset {i}")
        assert_same_params(params_e, params, f"after reset {i}")
    assert replayed(cf) == 1


def test_is_compiling() -> None:
    seen: list[bool] = []

    @plugrad.compile
    def f(x: torch.Tensor) -> torch.Tensor:
        seen.append(compiler.is_compiling())
        return x + 1

    assert not compiler.is_compiling()
    for _ in range(5):
        f(X)
    assert seen == [True, True]  # the two recordings; replays do not run the Python code
    assert not compiler.is_compiling()
    assert compiler.is_dynamo_compiling is compiler.is_compiling or not compiler.is_dynamo_compiling()


def test_compiler_disable_runs_compiled_functions_eagerly() -> None:
    calls: list[bool] = []

    @plugrad.compile
    def f(x: torch.Tensor) -> torch.Tensor:
        calls.append(compiler.is_compiling())
        return x * 3

    @compiler.disable
    def outside(x: torch.Tensor) -> torch.Tensor:
        return f(x)

    for _ in range(4):
        assert_same_value(outside(X), X * 3, "disabled")
    assert calls == [False] * 4 and not f._cache
    assert outside.__name__ == "outside"
    # used with arguments, as a decorator factory
    deco = compiler.disable(recursive=False)
    assert_same_value(deco(lambda x: f(x))(X), X * 3, "factory")


def test_nested_compiled_functions() -> None:
    w = torch.linspace(0.5, 1.5, 3).requires_grad_()

    @plugrad.compile
    def inner(x: torch.Tensor) -> torch.Tensor:
        return (x * w).sin()

    @plugrad.compile
    def outer(x: torch.Tensor) -> torch.Tensor:
        w.grad = None
        loss = inner(x).sum() + inner(x * 2).sum()
        loss.backward()
        return loss

    w_e = torch.linspace(0.5, 1.5, 3).requires_grad_()

    def outer_e(x: torch.Tensor) -> torch.Tensor:
        w_e.grad = None
        loss = (x * w_e).sin().sum() + (x * 2 * w_e).sin().sum()
        loss.backward()
        return loss

    for i in range(5):
        x = torch.full((3,), 0.1 * i)
        assert_same_value(outer_e(x), outer(x), f"call {i}")
        assert_same_params([w_e], [w], f"call {i}")
    assert replayed(outer) == 1
    assert not inner._cache  # recorded as part of outer's program
    with torch.no_grad():
        for _ in range(3):
            assert_same_value(inner(X[0]), (X[0] * w).sin(), "inner alone")
    assert replayed(inner) == 1


def test_fullgraph_records_and_replays_a_clean_step() -> None:
    step, params = make_step()
    cf = plugrad.compile(step, fullgraph=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", compiler.CompileWarning)
        check_against_eager(cf, params)
    assert replayed(cf) == 1 and not eager_reasons(cf)


# -- compiler plugins ----------------------------------------------------------------------


class CompilerPlugin:
    """A plugin offering compilers through the ``plugrad_compilers`` hook (for tests)."""

    def __init__(self) -> None:
        self.programs: list[compiler.Program] = []
        self.runs = 0

    def compile(self, program: compiler.Program) -> Any:
        self.programs.append(program)
        run = compiler.interpret(program)

        def runner(env: list[Any]) -> None:
            self.runs += 1
            run(env)

        return runner

    def decline(self, program: compiler.Program) -> None:
        self.programs.append(program)
        return None

    @hookimpl
    def plugrad_compilers(self) -> list[Any]:
        return [
            compiler.CompilerSpec(name="test_interp", compile=self.compile, description="interpret, counting runs"),
            compiler.CompilerSpec(name="test_decline", compile=self.decline, description="declines everything"),
            compiler.CompilerSpec(name="test_missing", compile=self.compile, unavailable_reason="no such library"),
        ]


def _forget_compilers() -> None:
    """Have the registry collect its compilers again (remove_plugin does not yet: compile-bugs.md #11
    (tests engineer)), so that later tests do not see this file's test compilers."""
    reg = get_registry()
    reg._compilers_collected = False
    reg.compilers = {}


@contextlib.contextmanager
def plugin(forget: bool = True) -> Iterator[CompilerPlugin]:
    p = CompilerPlugin()
    reg = get_registry()
    reg.add_plugin(p, "test-compilers")
    try:
        yield p
    finally:
        reg.remove_plugin("test-compilers")
        if forget:
            _forget_compilers()


def test_plugin_compiler_receives_the_program() -> None:
    with plugin() as p:
        assert "test_interp" in compiler.list_backends()
        assert "test_missing" not in compiler.list_backends()
        step, params = make_step()
        cf = plugrad.compile(step, backend="test_interp")
        check_against_eager(cf, params, n=6)
        assert len(p.programs) == 1 and p.runs >= 3
        prog = p.programs[0]
        assert isinstance(prog, compiler.Program)
        names = {c.name for c in prog.calls}
        assert {"matmul", "add", "tanh"} <= names, names
        assert all(isinstance(c, compiler.Call) for c in prog.calls)
        # the contract: every slot read is an input or written by an earlier call; outputs exist
        known = set(prog.inputs)
        for c in prog.calls:
            assert set(c.refs()) <= known, (c, known)
            known.update(c.out_slots())
        assert set(prog.outputs) <= known
        assert len(prog.meta["shapes"]) == prog.n_slots
        assert all(c.where.startswith(__file__) for c in prog.calls if c.where), [c.where for c in prog.calls]


def test_plugin_compiler_that_declines_falls_back_to_replay() -> None:
    with plugin() as p:
        step, params = make_step()
        cf = plugrad.compile(step, backend="test_decline")
        check_against_eager(cf, params, n=6)
        assert len(p.programs) == 1 and replayed(cf) == 1
        runner = cf._cache[next(iter(cf._cache))].programs[0].runner
        assert hasattr(runner, "__plugrad_source__")  # replay's generated code
        assert recordings(cf) <= 3


def test_unavailable_plugin_compiler_raises_with_its_reason() -> None:
    with plugin():
        with pytest.raises(RuntimeError, match="no such library"):
            plugrad.compile(make_step()[0], backend="test_missing")


def test_plugin_compiler_listed_by_plugrad_info() -> None:
    from plugrad.__main__ import collect_info, format_info

    with plugin():
        data = collect_info()
        text = format_info(data)
    assert "test_interp" in text and "replay" in text


def test_removed_plugin_compiler_is_gone() -> None:
    try:
        with plugin(forget=False):
            assert "test_interp" in compiler.list_backends()
        assert "test_interp" not in compiler.list_backends()
        with pytest.raises(ValueError):
            plugrad.compile(make_step()[0], backend="test_interp")
    finally:
        _forget_compilers()


def test_callable_backend() -> None:
    seen: list[compiler.Program] = []

    def my_compiler(program: compiler.Program) -> Any:
        seen.append(program)
        return compiler.interpret(program)

    step, params = make_step()
    cf = plugrad.compile(step, backend=my_compiler)
    check_against_eager(cf, params)
    assert len(seen) == 1 and cf._compiler_name == "my_compiler"


def _nothing_wrapped() -> bool:
    from plugrad import _compile_state

    bes = get_registry().backends.values()
    return (
        _compile_state.ACTIVE[0] is None
        and not any(hasattr(getattr(be, n), "__wrapped__") for be in bes for n in ("add", "multiply"))
        and type(torch.Tensor.__dict__["_data"]).__name__ == "member_descriptor"
    )


@pytest.mark.parametrize("exc", [ValueError, KeyboardInterrupt])
def test_exception_while_recording_propagates_and_restores(exc: type[BaseException]) -> None:
    @plugrad.compile
    def f(x: torch.Tensor, bad: bool) -> torch.Tensor:
        y = x * 2
        if bad:
            raise exc("boom")
        return y + 1

    with pytest.raises(exc):
        f(X, True)
    assert _nothing_wrapped()
    for _ in range(3):
        assert_same_value(f(X, False), X * 2 + 1, "after the exception")
    with pytest.raises(RuntimeError):  # a kernel's own error while recording
        plugrad.compile(lambda a, b: a + b)(torch.ones(3), torch.ones(4))
    assert _nothing_wrapped()


def test_config_stable_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiler.config, "stable_after", 4)
    f = plugrad.compile(lambda x: x * 2)
    for i in range(3):
        assert_same_value(f(X), X * 2, f"call {i}")
        assert replayed(f) == 0, f"installed after {i + 1} recordings"
    for i in range(3):
        assert_same_value(f(X), X * 2, f"call {i + 3}")
    assert replayed(f) == 1 and recordings(f) == 4
