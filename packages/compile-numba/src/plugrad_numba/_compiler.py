"""The ``"numba"`` compiler: fuse elementwise groups, replay the rest as plugrad's default does.

:func:`compile_program` takes a recorded :class:`~plugrad.compiler.Program` of the NumPy
backend, drops dead calls (:func:`plugrad._compile._replay.live_calls`), plans groups
(:mod:`._fusion`), makes each fused group one call of a numba kernel named
``"numba.fused"`` (its inputs as :class:`~plugrad.compiler.Ref` arguments, its
materialized results as ``out``), and hands the rewritten program to the default
compiler, which writes it out as straight-line Python with dead values freed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugrad.compiler import Call, Program, Ref, Runner, substitute

from . import _fusion, _jit

__all__ = ["compile_program", "fuse"]

#: the name of a fused group's call in a rewritten program
FUSED = "numba.fused"


def _fallback(group: _fusion.Group) -> Callable[..., Any]:
    """The group computed by its original kernel calls (if numba cannot compile it)."""
    calls = [m.call for m in group.members]
    inputs = list(group.inputs)
    outputs = list(group.outputs)

    def run(*arrays: Any) -> Any:
        env: Any = dict(zip(inputs, arrays))  # substitute() only indexes it by slot
        for c in calls:
            env[c.out] = c.fn(*substitute(c.args, env), **{k: substitute(v, env) for k, v in c.kwargs.items()})
        return env[outputs[0]] if len(outputs) == 1 else tuple(env[s] for s in outputs)

    return run


def fuse(
    program: Program, cfg: _fusion.Config | None = None
) -> tuple[Program, list[_fusion.Group], list[_jit.FirstCall], list[str]]:
    """``program`` with each fused group replaced by one ``"numba.fused"`` call.

    :returns: the rewritten program (same slots, inputs and outputs), the groups fused,
        their first-call wrappers and their kernels' sources (in running order).
    """
    from plugrad._compile._replay import live_calls

    calls = live_calls(program)
    plan = _fusion.plan(program, calls, cfg)
    shapes = program.meta["shapes"] if plan.groups else []
    dtypes = program.meta["dtypes"] if plan.groups else []
    new_calls: list[Call] = []
    wrappers: list[_jit.FirstCall] = []
    sources: list[str] = []
    for item in plan.items:
        if isinstance(item, Call):
            new_calls.append(item)
            continue
        if not item.fused:
            new_calls.extend(m.call for m in item.members)
            continue
        source = _fusion.kernel_source(item, shapes, dtypes, cfg)
        sources.append(source)
        entry, kernel = _jit.load_kernel(source)
        where = next((m.call.where for m in item.members if m.call.where), "")
        wrapper = _jit.FirstCall(entry, kernel, _fallback(item), where)
        wrappers.append(wrapper)
        out: int | tuple[int | None, ...] = item.outputs[0] if len(item.outputs) == 1 else tuple(item.outputs)
        new_calls.append(Call(wrapper, FUSED, tuple(Ref(s) for s in item.inputs), {}, out, None, where))
    rewritten = Program(
        program.backend, program.n_slots, list(program.inputs), new_calls, list(program.outputs), dict(program.meta)
    )
    return rewritten, plan.groups, wrappers, sources


def compile_program(program: Program) -> Runner | None:
    """The ``"numba"`` compiler's ``compile``: a runner of ``program`` with fused loops.

    Declines (``None``: plugrad replays the program with its default compiler) a program of
    another backend. The runner has the attribute ``__plugrad_numba__``: a dict with the
    number of fused ``groups``, the ``fused_calls`` they replaced and each kernel's
    ``sources``.
    """
    backend = program.backend
    if backend is not None and getattr(backend, "name", "numpy") != "numpy":
        return None
    from plugrad._compile._replay import compile_program as replay

    rewritten, groups, wrappers, sources = fuse(program)
    run = replay(rewritten)
    namespace = getattr(run, "__globals__", None)
    if isinstance(namespace, dict):
        for w in wrappers:
            w.namespaces.append(namespace)
    _jit.stats.programs += 1
    _jit.stats.groups += len(groups)
    _jit.stats.fused_calls += sum(len(g.members) for g in groups)
    run.__plugrad_numba__ = {  # type: ignore[attr-defined]
        "groups": len(groups),
        "fused_calls": sum(len(g.members) for g in groups),
        "sources": sources,
    }
    return run
