"""The default compiler, ``"replay"``: a recorded program as one generated Python function.

For a program it

1. drops calls whose results nobody reads (pure kernels only: in-place kernels, random
   draws and other callables always stay, in order);
2. writes the remaining calls out as straight-line Python, one statement per call, with
   every slot a local variable and every kernel and constant a global of the generated
   module, so a replayed kernel call costs what the kernel costs plus one Python call;
3. gives each value a local name from a pool, returned after the value's last use, so a
   dead intermediate is freed when its name is taken again (the memory of a replay is about
   that of the live values, not of the whole step).

It works for any backend, since it only calls the recorded callables; the generated
source is kept in :mod:`linecache`, so a traceback from a replayed kernel shows the line.
"""

from __future__ import annotations

import itertools
import linecache
import math
from typing import Any

from ..backends._spec import KERNELS
from .program import FRESH_KERNELS, MUTATING_KERNELS, Call, Program, Ref, Runner, _freeze

__all__ = ["compile_program", "live_calls", "simplify"]

_counter = itertools.count()

#: Recorded names whose calls have no effect besides their result (so an unread one may go).
_PURE: frozenset[str] = (
    frozenset(KERNELS)
    - MUTATING_KERNELS
    - {
        "random_uniform",
        "random_normal",
        "random_seed",
        "random_generator",
    }
)


def live_calls(program: Program, calls: list[Call] | None = None) -> list[Call]:
    """The calls of ``program`` (or ``calls``) that matter: every impure call, and pure ones whose results are read."""
    live = set(program.outputs)
    kept: list[Call] = []
    for call in reversed(program.calls if calls is None else calls):
        outs = call.out_slots()
        if call.name in _PURE and call.mutates is None and not any(s in live for s in outs):
            continue
        kept.append(call)
        live.update(call.refs())
    kept.reverse()
    return kept


#: What may read a folded constant: kernels whose result is a new array, never a view of an argument.
_FRESH = FRESH_KERNELS


def _map_refs(value: Any, fn: Any) -> Any:
    t = type(value)
    if t is Ref:
        return fn(value)
    if t is tuple or t is list:
        return t(_map_refs(v, fn) for v in value)
    return value


def simplify(program: Program) -> list[Call]:
    """The live calls of ``program`` with two rewrites that keep every result bit for bit:

    - **constant folding**: a pure kernel whose arguments are all constants (the ``ones``
      that seeds a backward pass, and the scaling of it) runs once, here; its array becomes
      a constant of the generated code. Only where nothing changes the array in place
      later and only kernels that make new arrays read it, so the constant cannot change;
    - **view round trips**: ``permute_dims`` of a ``permute_dims`` that puts the axes back,
      and ``reshape`` to the shape the array already has, read the original array instead
      (same memory, same values).
    """
    calls = live_calls(program)
    outputs = set(program.outputs)
    shapes = program.meta.get("shapes") or []
    refs = [c.refs() for c in calls]
    producer: dict[int, int] = {}
    for i, c in enumerate(calls):
        for s in c.out_slots():
            producer[s] = i
    # candidates for folding: pure calls of constants (of folded slots)
    candidates: set[int] = set()
    for c, r in zip(calls, refs):
        if (
            c.name in _PURE
            and c.mutates is None
            and isinstance(c.out, int)
            and c.out not in outputs
            and all(x in candidates for x in r)
        ):
            candidates.add(c.out)
    if candidates:
        consumers: dict[int, list[int]] = {}
        for i, r in enumerate(refs):
            for x in r:
                if x in candidates:
                    consumers.setdefault(x, []).append(i)
        # drop a candidate read by a call that could alias or change it, or whose own inputs are not all folded
        work = [c.mutates for c in calls if c.mutates is not None and c.mutates in candidates]
        for x, users in consumers.items():
            for i in users:
                c = calls[i]
                if not (c.name in _FRESH or (isinstance(c.out, int) and c.out in candidates)):
                    work.append(x)
        while work:
            x = work.pop()
            if x not in candidates:
                continue
            candidates.discard(x)
            for i in consumers.get(x, ()):  # calls reading x can no longer be folded
                result = calls[i].out
                if isinstance(result, int) and result in candidates:
                    work.append(result)
            made_by = producer.get(x)
            if made_by is not None and calls[made_by].name not in _FRESH:  # a live call that may alias its inputs
                work.extend(r for r in refs[made_by] if r in candidates)
    values: dict[int, Any] = {}
    alias: dict[int, int] = {}
    out: list[Call] = []
    for c, r in zip(calls, refs):
        if not any(x in alias or x in values or x in candidates for x in r) and not (
            isinstance(c.out, int) and (c.out in candidates or c.name in ("permute_dims", "reshape"))
        ):
            out.append(c)
            continue
        args = _map_refs(c.args, lambda r: Ref(alias.get(r.index, r.index)))
        kwargs = {k: _map_refs(v, lambda r: Ref(alias.get(r.index, r.index))) for k, v in c.kwargs.items()}
        if isinstance(c.out, int) and c.out in candidates:
            try:
                values[c.out] = c.fn(
                    *_unwrap(_map_refs(args, lambda r: _Const(values[r.index]))),
                    **{k: _unwrap(_map_refs(v, lambda r: _Const(values[r.index]))) for k, v in kwargs.items()},
                )
                continue
            except Exception:  # folding is an optimisation: keep the call as it was
                pass
        src = args[0] if args else None
        if isinstance(c.out, int) and c.out not in outputs and type(src) is Ref:
            if c.name == "permute_dims" and len(args) > 1 and isinstance(args[1], tuple):
                inner_i = producer.get(src.index)
                inner = None if inner_i is None else calls[inner_i]
                if (
                    inner is not None
                    and inner.name == "permute_dims"
                    and src.index not in outputs
                    and len(inner.args) > 1
                    and isinstance(inner.args[1], tuple)
                    and type(inner.args[0]) is Ref
                    and tuple(inner.args[1][i] for i in args[1]) == tuple(range(len(args[1])))
                ):
                    alias[c.out] = alias.get(inner.args[0].index, inner.args[0].index)
                    continue
            if (
                c.name == "reshape"
                and len(args) > 1
                and src.index < len(shapes)
                and c.out < len(shapes)
                and shapes[src.index] is not None
                and shapes[src.index] == shapes[c.out]
                and tuple(args[1]) == shapes[c.out]
                and not c.kwargs
                and len(args) == 2
            ):
                alias[c.out] = src.index
                continue
        out.append(Call(c.fn, c.name, _unwrap(_map_refs(args, lambda r: _Const(values[r.index]) if r.index in values else r)),
                        {k: _unwrap(_map_refs(v, lambda r: _Const(values[r.index]) if r.index in values else r)) for k, v in kwargs.items()},
                        c.out, c.mutates, c.where))  # fmt: skip
    out, merged = _common_subexpressions(out, outputs)
    return live_calls(program, out) if alias or values or merged else out


def _common_subexpressions(calls: list[Call], outputs: set[int]) -> tuple[list[Call], bool]:
    """Calls of the same pure kernel on the same arguments computed once (the parameters' dtype
    cast of one learning rate, say), where nothing in the program changes the arrays involved in
    place (neither the arguments nor either result, nor what they are views of), so the one
    result stands for both."""
    roots: dict[int, frozenset[int]] = {}

    def roots_of(slot: int) -> frozenset[int]:
        r = roots.get(slot)
        return frozenset((slot,)) if r is None else r

    for c in calls:
        refs = c.refs()
        if c.name not in _FRESH and refs:
            shared = frozenset().union(*(roots_of(r) for r in refs))
            for slot in c.out_slots():
                roots[slot] = shared | {slot}
    changed: set[int] = set()
    for c in calls:
        if c.mutates is not None:
            changed |= roots_of(c.mutates)
    if not any(c.name in _PURE for c in calls):
        return calls, False
    seen: dict[Any, int] = {}
    alias: dict[int, int] = {}
    out: list[Call] = []
    for c in calls:
        if alias:
            args = _map_refs(c.args, lambda r: Ref(alias.get(r.index, r.index)))
            kwargs = {k: _map_refs(v, lambda r: Ref(alias.get(r.index, r.index))) for k, v in c.kwargs.items()}
            if any(r.index in alias for r in _refs_in((c.args, tuple(c.kwargs.values())))):
                c = Call(c.fn, c.name, args, kwargs, c.out, c.mutates, c.where)
        result = c.out
        if (
            c.name in _PURE
            and c.mutates is None
            and isinstance(result, int)
            and result not in outputs
            and roots_of(result).isdisjoint(changed)
            and all(roots_of(r).isdisjoint(changed) for r in c.refs())
        ):
            try:
                key = (id(c.fn), c.name, _freeze(c.args), _freeze(tuple(sorted(c.kwargs.items()))))
                hash(key)
            except TypeError:
                key = None
            if key is not None:
                first = seen.get(key)
                if first is not None:
                    alias[result] = first
                    continue
                seen[key] = result
        out.append(c)
    return out, bool(alias)


def _refs_in(value: Any) -> list[Ref]:
    found: list[Ref] = []
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is Ref:
            found.append(v)
        elif t is tuple or t is list:
            stack.extend(v)
    return found


class _Const:
    """A folded array standing where a :class:`Ref` was."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _unwrap(value: Any) -> Any:
    t = type(value)
    if t is _Const:
        return value.value
    if t is tuple or t is list:
        return t(_unwrap(v) for v in value)
    return value


#: Arrays smaller than this many elements are left to the allocator (``out=`` saves nothing there).
INTO_MIN_ELEMENTS = 256


def plan_buffers(program: Program, calls: list[Call], last_use: dict[int, int]) -> dict[int, int]:
    """Which intermediates a kernel writes ``into`` a reused buffer: ``{slot: buffer number}``.

    A kernel that offers ``__plugrad_into__`` (the same computation writing into ``out=``; the
    NumPy backend's ufunc kernels do) may fill a buffer of its result's recorded shape and dtype
    that an earlier intermediate, dead by then, used, when its result is not one of the
    program's outputs and no output is a view of it. A buffer is free again after the last use
    of its slot and of every view of it. The buffers are made once and kept between replays.
    """
    if program.backend is None or not hasattr(program.backend, "empty"):
        return {}
    outputs = set(program.outputs)
    shapes = program.meta.get("shapes") or []
    dtypes = program.meta.get("dtypes") or []
    roots: dict[int, frozenset[int]] = {}
    for c in calls:
        refs = c.refs()
        if c.name not in _FRESH and refs:
            shared = frozenset().union(*(roots.get(r, frozenset((r,))) for r in refs))
            for slot in c.out_slots():
                roots[slot] = shared | {slot}
    end = dict(last_use)  # a value's memory is in use until its views' last use too
    escaping: set[int] = set()
    for slot, rs in roots.items():
        for r in rs:
            if r != slot:
                end[r] = max(end.get(r, -1), last_use.get(slot, -1))
                if slot in outputs:
                    escaping.add(r)
    free: dict[tuple[Any, Any], list[int]] = {}
    releases: dict[int, list[tuple[tuple[Any, Any], int]]] = {}
    plan: dict[int, int] = {}
    count = 0
    for i, c in enumerate(calls):
        target = c.out
        if (
            isinstance(target, int)
            and target not in outputs
            and target not in escaping
            and getattr(c.fn, "__plugrad_into__", None) is not None
            and target < len(shapes)
            and shapes[target] is not None
            and dtypes[target] is not None
            and math.prod(shapes[target]) >= INTO_MIN_ELEMENTS
        ):
            key = (shapes[target], dtypes[target])
            pool = free.setdefault(key, [])
            if pool:
                buf = pool.pop()
            else:
                buf = count
                count += 1
            plan[target] = buf
            releases.setdefault(max(end.get(target, i), i), []).append((key, buf))
        for key, buf in releases.pop(i, ()):
            free.setdefault(key, []).append(buf)
    return plan


def _shape_of(program: Program, slot: int) -> tuple[int, ...] | None:
    shapes = program.meta.get("shapes") or []
    return shapes[slot] if slot < len(shapes) else None


#: Programs longer than this many calls are generated as one function per this many calls (values
#: crossing a boundary pass through ``env``): Python's compiler needs memory and time in proportion to
#: one function's size, so a 55,000-call program compiles in pieces.
CHUNK_CALLS = 2000


def compile_program(program: Program) -> Runner:
    """Generate, compile and return the runner of ``program`` (see the module's docs)."""
    calls = simplify(program)
    outputs = set(program.outputs)
    if len(calls) <= CHUNK_CALLS:
        return _generate(program, calls, outputs, use_buffers=True)
    chunks = [calls[i : i + CHUNK_CALLS] for i in range(0, len(calls), CHUNK_CALLS)]
    read_later: list[set[int]] = []
    seen: set[int] = set(outputs)
    for chunk in reversed(chunks):  # what each chunk must leave in env: read by a later chunk, or an output
        read_later.append(set(seen))
        for c in chunk:
            seen.update(c.refs())
    read_later.reverse()
    runners = [
        _generate(program, chunk, {s for c in chunk for s in c.out_slots()} & later, use_buffers=False)
        for chunk, later in zip(chunks, read_later)
    ]

    def run(env: list[Any]) -> None:
        for part in runners:
            part(env)

    run.__plugrad_source__ = "\n".join(getattr(r, "__plugrad_source__", "") for r in runners)  # type: ignore[attr-defined]
    return run


def _generate(program: Program, calls: list[Call], outputs: set[int], use_buffers: bool) -> Runner:
    """One generated function running ``calls`` and leaving the slots ``outputs`` in ``env``."""
    last_use: dict[int, int] = {}
    for i, call in enumerate(calls):
        for s in call.refs():
            last_use[s] = i
        for s in call.out_slots():
            last_use.setdefault(s, i)
    buffers = plan_buffers(program, calls, last_use) if use_buffers else {}
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
            return names[value.index]
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

    # Locals are names from a pool, taken by a result and given back after the value's last use,
    # so a dead value is freed when its name is next taken (no `del` lines: less to compile).
    names: dict[int, str] = {}
    free: list[str] = []
    count = [0]

    def take(slot: int) -> str:
        name = free.pop() if free else f"v{next_name()}"
        names[slot] = name
        return name

    def next_name() -> int:
        count[0] += 1
        return count[0]

    fn_names: dict[int, str] = {}
    needed_inputs = sorted({s for c in calls for s in c.refs()} | outputs)
    produced = {s for c in calls for s in c.out_slots()}
    lines = ["def run(env):"]
    if buffers:
        # the buffers of one run, kept for the next (a run on another thread meanwhile makes its own)
        specs: dict[int, tuple[Any, Any]] = {}
        shapes = program.meta["shapes"]
        dtypes = program.meta["dtypes"]
        for slot, buf in buffers.items():
            specs.setdefault(buf, (shapes[slot], dtypes[slot]))
        backend = program.backend
        g["_pool"] = []
        g["_make_buffers"] = lambda: tuple(backend.empty(*specs[b]) for b in range(len(specs)))
        lines.append("    bufs = _pool.pop() if _pool else _make_buffers()")
        lines.append(f"    {', '.join(f'b{b}' for b in range(len(specs)))}{',' if len(specs) == 1 else ''} = bufs")
    for s in needed_inputs:
        if s not in produced:
            lines.append(f"    {take(s)} = env[{s}]")
    for i, call in enumerate(calls):
        fname = fn_names.get(id(call.fn))
        if fname is None:
            fname = fn_names[id(call.fn)] = f"f{len(fn_names)}"
            g[fname] = call.fn
        args = [expr(a) for a in call.args] + [f"{k}={expr(v)}" for k, v in call.kwargs.items()]
        into = getattr(call.fn, "__plugrad_into__", None)
        if into is not None and isinstance(call.out, int) and (call.out in buffers or _shape_of(program, call.out)):
            # the kernel's own computation called directly: into a buffer, or where the result has at
            # least one dimension (the kernel's wrapper only turns a 0-d result into an array)
            fname = fn_names.get(-id(call.fn))
            if fname is None:
                fname = fn_names[-id(call.fn)] = f"i{len(fn_names)}"
                g[fname] = into
            if call.out in buffers:
                args.append(f"out=b{buffers[call.out]}")
        text = f"{fname}({', '.join(args)})"
        for s in dict.fromkeys(call.refs()):
            if last_use.get(s) == i and s not in outputs:
                free.append(names[s])
        out = call.out
        if out is None:
            lines.append(f"    {text}")
            continue
        slots = (out,) if isinstance(out, int) else out
        targets = ["_" if s is None or (last_use.get(s) == i and s not in outputs) else take(s) for s in slots]
        if isinstance(out, int):
            lines.append(f"    {targets[0]} = {text}")
        else:
            lines.append(f"    {', '.join(targets)}{',' if len(out) == 1 else ''} = {text}")
    for s in sorted(outputs):
        lines.append(f"    env[{s}] = {names[s]}")
    if buffers:
        lines.append("    _pool.append(bufs)")
    if len(lines) == 1:
        lines.append("    pass")
    source = "\n".join(lines) + "\n"
    filename = f"<plugrad.compile program {next(_counter)}>"
    if len(source) < 200_000:  # tracebacks show the replayed line (not kept for huge programs)
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
