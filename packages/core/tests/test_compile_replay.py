"""The ``replay`` compiler's rewrites (folding, view round trips, common subexpressions, value
names from a pool) keep every result: each case runs eagerly and compiled over several calls and
compares bit for bit, and checks that the rewrite happened (so a test fails if it silently stops)."""

from __future__ import annotations

import warnings

import plugrad
import pytest
from plugrad._compile import _replay
from plugrad.compiler import CompileWarning, interpret


def _run_both(fn, make_args, calls: int = 5):
    compiled = plugrad.compile(fn)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for i in range(calls):
            want = fn(*make_args(i))
            got = compiled(*make_args(i))
            assert plugrad.equal(want, got), (i, want, got)
    (entry,) = compiled._cache.values()
    assert entry.programs, "never replayed"
    return entry.programs[0].program


def _args(i):
    return (plugrad.arange(6, dtype=plugrad.float32).reshape(2, 3) + i,)


def test_a_constant_changed_in_place_is_not_folded():
    def f(x):
        z = plugrad.zeros(2, 3)
        z.add_(x)  # in place on the array a fold would share between calls
        return z * 2

    program = _run_both(f, _args)
    assert any(c.name == "zeros" for c in _replay.simplify(program))


def test_constants_only_read_by_fresh_kernels_fold():
    def f(x):
        scale = plugrad.ones(()) * 0.5
        return x * scale

    program = _run_both(f, _args)
    names = [c.name for c in _replay.simplify(program)]
    assert "ones" not in names and names.count("multiply") == 1, names


def test_a_transpose_and_back_reads_the_original():
    def f(x):
        y = (x * 1).t().t()
        y.add_(1)  # through the round trip: must land in the array the result is read from
        return y + 0

    program = _run_both(f, _args)
    assert sum(c.name == "permute_dims" for c in _replay.simplify(program)) < sum(
        c.name == "permute_dims" for c in program.calls
    )


def test_common_subexpressions_merge_only_where_nothing_changes_in_place():
    def merged(x):
        return x.double() + x.double()

    program = _run_both(merged, _args)
    assert [c.name for c in _replay.simplify(program)].count("astype") == 1

    def kept(x):
        a = x.double()
        b = x.double()
        b.add_(1)  # b changes: a must stay its own array
        return a + b

    program = _run_both(kept, _args)
    assert [c.name for c in _replay.simplify(program)].count("astype") == 2


@pytest.mark.parametrize("n", [1, 7, 200])
def test_generated_runner_equals_the_reference_runner(n):
    def chain(x):
        y = x
        for i in range(n):
            y = plugrad.tanh(y * 0.9 + 0.1) if i % 2 else plugrad.sigmoid(y) - 0.5
        return y.sum(0)

    program = _run_both(chain, _args)
    env_a = [None] * program.n_slots
    x = _args(3)[0]
    env_a[program.inputs[0]] = x._data
    env_b = list(env_a)
    _replay.compile_program(program)(env_a)
    interpret(program)(env_b)
    for s in program.outputs:
        assert env_a[s].tobytes() == env_b[s].tobytes()
    source = _replay.compile_program(program).__plugrad_source__
    assert "del " not in source and source.count("\n") < len(program.calls) + 10
