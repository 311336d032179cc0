"""The default compiler, ``"replay"``: a recorded program as one generated Python function.

For a program it

1. drops calls whose results nobody reads (pure kernels only: in-place kernels, random
   draws and other callables always stay, in order);
2. writes the remaining calls out as straight-line Python, one statement per call, with
   every slot a local variable and every kernel and constant a global of the generated
   module, so a replayed kernel call costs what the kernel costs plus one Python call;
3. deletes each local after its last use, so an intermediate array is freed as soon as
   it is dead (the memory of a replay is that of the live values, not of the whole step).

It works for any backend, since it only calls the recorded callables; the generated
source is kept in :mod:`linecache`, so a traceback from a replayed kernel shows the line.
"""

from __future__ import annotations

import itertools
import linecache
from typing import Any

from ..backends._spec import KERNELS
from .program import MUTATING_KERNELS, Call, Program, Ref, Runner

__all__ = ["compile_program", "live_calls"]

_counter = itertools.count()

#: Recorded names whose calls have no effect besides their result (so an unread one may go).
_PURE: frozenset[str] = frozenset(KERNELS) - MUTATING_KERNELS - {
    "random_uniform",
    "random_normal",
    "random_seed",
    "random_generator",
}


def live_calls(program: Program) -> list[Call]:
    """The calls of ``program`` that matter: every impure call, and pure ones whose results are read."""
    live = set(program.outputs)
    kept: list[Call] = []
    for call in reversed(program.calls):
        outs = call.out_slots()
        if call.name in _PURE and call.mutates is None and not any(s in live for s in outs):
            continue
        kept.append(call)
        live.update(call.refs())
    kept.reverse()
    return kept


def compile_program(program: Program) -> Runner:
    """Generate, compile and return the runner of ``program`` (see the module's docs)."""
    calls = live_calls(program)
    outputs = set(program.outputs)
    last_use: dict[int, int] = {}
    for i, call in enumerate(calls):
        for s in call.refs():
            last_use[s] = i
        for s in call.out_slots():
            last_use.setdefault(s, i)
    g: dict[str, Any] = {}
    consts: dict[int, str] = {}

    def const(value: Any) -> str:
        key = id(value)
        name = consts.get(key)
        if name is None:
            name = consts[key] = f"k{len(consts)}"
            g[name] = value
        return name

    def expr(value: Any) -> str:
        t = type(value)
        if t is Ref:
            return f"s{value.index}"
        if value is None or t is bool:
            return repr(value)
        if t is int and -(2**31) < value < 2**31:
            return repr(value)
        if (t is tuple or t is list) and _has_ref(value):
            inner = ", ".join(expr(v) for v in value)
            if t is tuple:
                return f"({inner},)" if len(value) == 1 else f"({inner})"
            return f"[{inner}]"
        return const(value)

    needed_inputs = sorted({s for c in calls for s in c.refs()} | outputs)
    produced = {s for c in calls for s in c.out_slots()}
    lines = ["def run(env):"]
    for s in needed_inputs:
        if s not in produced:
            lines.append(f"    s{s} = env[{s}]")
    for i, call in enumerate(calls):
        fname = f"f{i}"
        g[fname] = call.fn
        args = [expr(a) for a in call.args] + [f"{k}={expr(v)}" for k, v in call.kwargs.items()]
        text = f"{fname}({', '.join(args)})"
        out = call.out
        if out is None:
            lines.append(f"    {text}")
        elif isinstance(out, int):
            lines.append(f"    s{out} = {text}")
        else:
            names = ", ".join(f"s{s}" if s is not None else "_" for s in out)
            lines.append(f"    {names}{',' if len(out) == 1 else ''} = {text}")
        dead = [s for s in set(call.refs()) | set(call.out_slots()) if last_use.get(s) == i and s not in outputs]
        if dead:
            lines.append(f"    del {', '.join(f's{s}' for s in sorted(dead))}")
    for s in sorted(outputs):
        lines.append(f"    env[{s}] = s{s}")
    if len(lines) == 1:
        lines.append("    pass")
    source = "\n".join(lines) + "\n"
    filename = f"<plugrad.compile program {next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), g)
    run: Runner = g["run"]
    run.__plugrad_source__ = source  # type: ignore[attr-defined]
    return run


def _has_ref(value: Any) -> bool:
    for v in value:
        t = type(v)
        if t is Ref or ((t is tuple or t is list) and _has_ref(v)):
            return True
    return False
