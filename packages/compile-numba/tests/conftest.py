"""Shared helpers: build a :class:`plugrad.compiler.Program` of NumPy kernel calls by hand,
and compare a compiler's runner with the reference interpreter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import plugrad_numba
import pytest
from plugrad.compiler import Call, Program, Ref, interpret, substitute
from plugrad_numpy.kernels import KERNELS


class Builder:
    """Records kernel calls as a program while running them (what plugrad's recorder does)."""

    def __init__(self) -> None:
        self.arrays: list[Any] = []
        self.inputs: list[int] = []
        self.calls: list[Call] = []

    def _slot(self, array: Any) -> Ref:
        self.arrays.append(array)
        return Ref(len(self.arrays) - 1)

    def input(self, array: Any) -> Ref:
        ref = self._slot(np.asarray(array))
        self.inputs.append(ref.index)
        return ref

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> Ref:
        fn = KERNELS[name]
        result = fn(*substitute(args, self.arrays), **{k: substitute(v, self.arrays) for k, v in kwargs.items()})
        ref = self._slot(result)
        self.calls.append(Call(fn, name, args, kwargs, ref.index))
        return ref

    def mutate(self, name: str, target: Ref, *args: Any) -> None:
        """An in-place kernel call writing ``target``."""
        fn = KERNELS[name]
        fn(self.arrays[target.index], *substitute(args, self.arrays))
        self.calls.append(Call(fn, name, (target, *args), {}, None, mutates=target.index))

    def program(self, *outputs: Ref) -> Program:
        return Program(
            backend=None,
            n_slots=len(self.arrays),
            inputs=list(self.inputs),
            calls=list(self.calls),
            outputs=[r.index for r in outputs],
            meta={"shapes": [a.shape for a in self.arrays], "dtypes": [a.dtype for a in self.arrays]},
        )


def run(program: Program, runner: Any, inputs: dict[int, Any]) -> list[Any]:
    """The program's outputs after ``runner`` ran on copies of ``inputs``."""
    env: list[Any] = [None] * program.n_slots
    for slot, value in inputs.items():
        env[slot] = value.copy()
    runner(env)
    return [env[s] for s in program.outputs]


def check(builder: Builder, *outputs: Ref, rtol: float = 2e-6, atol: float = 1e-6, fused: bool = True) -> Any:
    """Compile the builder's program with the numba compiler and compare it with the interpreter:
    equal dtypes and shapes, values within tolerance (NaN where NaN). Returns the runner."""
    program = builder.program(*outputs)
    inputs = {s: builder.arrays[s] for s in program.inputs}
    runner = plugrad_numba.compile_program(program)
    assert runner is not None
    if fused:
        assert runner.__plugrad_numba__["groups"] > 0, "nothing was fused"
    got = run(program, runner, inputs)
    want = run(program, interpret(program), inputs)
    for slot, g, w in zip(program.outputs, got, want):
        assert type(g) is np.ndarray, (slot, type(g))
        assert g.dtype == w.dtype, (slot, g.dtype, w.dtype)
        assert g.shape == w.shape, (slot, g.shape, w.shape)
        if g.dtype == np.bool_:
            np.testing.assert_array_equal(g, w, err_msg=f"slot {slot}")
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"slot {slot}")
    # a second run of the same runner (the kernel compiled now) gives the same
    again = run(program, runner, inputs)
    for g, a in zip(got, again):
        np.testing.assert_array_equal(g, a)
    return runner


@pytest.fixture
def fuse_all() -> Iterator[None]:
    """Fuse every group of two or more calls (no cost model): the tests exercise the loops."""
    saved = plugrad_numba.config.cost_model
    plugrad_numba.config.cost_model = False
    try:
        yield
    finally:
        plugrad_numba.config.cost_model = saved


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A fused loop that numba fails to compile falls back to NumPy with a warning and still gives
    right results: in these tests that warning is an error, so a broken kernel cannot pass unseen."""
    for item in items:
        if "compile-numba" in str(item.path):
            item.add_marker(pytest.mark.filterwarnings("error::plugrad.compiler.CompileWarning"))
