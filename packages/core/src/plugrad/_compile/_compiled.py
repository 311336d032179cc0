"""A compiled function: guards, the cache of recorded programs, replay and fallbacks.

Per *static key* (the shapes, dtypes, devices and ``requires_grad`` of the tensor
arguments, the other arguments' values, grad mode, autocast and the default dtype) a
:class:`CompiledFunction` goes through these states:

1. **recording**: the call runs eagerly under a :class:`~._recorder.Recorder`;
2. **stable**: when two recordings in a row are the same program (same calls, same
   constants, same captured tensors, same effects), the program is compiled and later
   calls replay it. A program that changes from call to call (a Python number that
   changes every step, an optimizer creating its state on the first step) is recorded
   again, up to ``config.recompile_limit`` times;
3. **eager**: a graph break (a value read into Python, a hook) or too many recordings:
   the key runs eagerly from then on, after one warning that says why and where.

A replay first checks the *dynamic guards* of its program (every outside tensor it
touched still has the same gradient object, ``requires_grad``, shape and dtype), then
binds the arrays, runs the compiled runner and makes the recorded changes to outside
tensors (new arrays, new gradients, version counters). A failed guard records again.
"""

from __future__ import annotations

import functools
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import _compile_state
from .. import _dtype as D
from .. import _autocast_state
from .._tensor import Tensor, _make
from ..autograd import function as _fn
from ..autograd.grad_mode import _state as _grad_state
from ._recorder import _DATA, _GRAD, GraphBreak, Recorder, Touch
from .program import Program

__all__ = ["CompiledFunction", "config", "CompileWarning"]


class CompileWarning(UserWarning):
    """``plugrad.compile`` ran (part of) a program eagerly; the message says why and where."""


@dataclass
class _Config:
    """Settings of ``plugrad.compile`` (``plugrad.compiler.config``)."""

    #: how many times one static key may be recorded, and how many static keys one function may
    #: have, before it runs eagerly (PyTorch's ``recompile_limit``)
    recompile_limit: int = 8
    #: consecutive identical recordings needed before a program replays
    stable_after: int = 2


config = _Config()


@dataclass(slots=True)
class _Out:
    """How to rebuild one leaf of the function's result on replay."""

    kind: str  # "new" (a fresh tensor of a slot), "same" (an outside tensor), "const" (any other value)
    value: Any = None
    slot: int = -1
    dtype: Any = None
    backend: Any = None
    cls: Any = None
    requires_grad: bool = False
    node: Any = None


@dataclass
class Recording:
    """One recorded call, ready to compare with the next one and to replay."""

    program: Program
    signature: tuple[Any, ...]
    input_slots: list[int]
    captures: list[tuple[int, int]]
    constants: list[tuple[int, Any]]
    touched: list[Touch]
    data_writes: list[tuple[int, int, Any, Any]]
    grad_writes: list[tuple[int, _Out | None]]
    version_deltas: list[tuple[int, int]]
    treedef: Any
    outs: list[_Out]
    value_guards: list[tuple[Any, Any, Any]]
    runner: Callable[[list[Any]], None] | None = None


@dataclass
class _Entry:
    pending: list[Recording] = field(default_factory=list)
    programs: list[Recording] = field(default_factory=list)
    recordings: int = 0
    eager: str | None = None  # why this key runs eagerly


# -- flattening arguments and results ------------------------------------------------------


def _flatten(value: Any, leaves: list[Any]) -> Any:
    t = type(value)
    if t is tuple or t is list:
        return (t, tuple(_flatten(v, leaves) for v in value))
    if t is dict:
        return (t, tuple((k, _flatten(v, leaves)) for k, v in value.items()))
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return (t, tuple(_flatten(v, leaves) for v in value))
    leaves.append(value)
    return None


def _unflatten(treedef: Any, leaves: Any) -> Any:
    if treedef is None:
        return next(leaves)
    t, children = treedef
    if t is dict:
        return {k: _unflatten(c, leaves) for k, c in children}
    items = [_unflatten(c, leaves) for c in children]
    if t is tuple or t is list:
        return t(items)
    return t(*items)


def _leaf_key(v: Any) -> Any:
    if isinstance(v, Tensor):
        data = _DATA.__get__(v)
        return (type(v), tuple(data.shape), v._dtype, v._backend, v._requires_grad, v._grad_fn is None)
    t = type(v)
    if v is None or t in (bool, int, float, str, bytes, complex):
        return (t, v)
    try:
        hash(v)
    except TypeError:
        return (t, id(v))
    return (t, v)


class _FreedNode(_fn.Node):
    """Stands in for the graph of a result whose backward already ran inside the compiled step."""

    def apply(self, grad_outputs: list[Any]) -> Any:
        raise RuntimeError(_fn._FREED_MSG)


_freed_types: dict[str, type[_fn.Node]] = {}


def _freed_node(name: str) -> _fn.Node:
    cls = _freed_types.get(name)
    if cls is None:
        cls = _freed_types[name] = type(name, (_FreedNode,), {"__slots__": ()})
    return cls()


_all: weakref.WeakSet[CompiledFunction] = weakref.WeakSet()


def reset_all() -> None:
    """Drop the programs of every compiled function (``plugrad.compiler.reset``)."""
    for cf in list(_all):
        cf._cache.clear()
        cf._warned.clear()


class CompiledFunction:
    """``fn`` recorded once per static key and replayed (see the module's docs)."""

    def __init__(self, fn: Callable[..., Any], *, fullgraph: bool, compiler: Any, compiler_name: str) -> None:
        _all.add(self)
        self._fn = fn
        self._fullgraph = fullgraph
        self._compiler = compiler
        self._compiler_name = compiler_name
        self._cache: dict[Any, _Entry] = {}
        self._warned: set[str] = set()
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<plugrad compiled {getattr(self._fn, '__qualname__', self._fn)!r} (compiler {self._compiler_name!r})>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return functools.partial(self, obj)

    # -- the call ----------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _compile_state.ACTIVE[0] is not None or _compile_state.DISABLED[0]:
            return self._fn(*args, **kwargs)  # inside another recording: its calls are that program's
        leaves: list[Any] = []
        _flatten((args, kwargs), leaves)
        key = (
            tuple(_leaf_key(v) for v in leaves),
            _grad_state.enabled,
            _autocast_state.ACTIVE[0],
            D.get_default_dtype(),
            _fn._forward_ad_active[0],
        )
        entry = self._cache.get(key)
        if entry is None:
            if len(self._cache) >= config.recompile_limit:
                return self._eager_call(
                    f"recompile limit ({config.recompile_limit}) reached: calls with {config.recompile_limit} "
                    "different argument shapes, dtypes or values were recorded already",
                    args,
                    kwargs,
                )
            entry = self._cache[key] = _Entry()
        elif entry.eager is not None:
            return self._fn(*args, **kwargs)
        tensors = [v for v in leaves if isinstance(v, Tensor)]
        for rec in entry.programs:
            ok, result = _replay(rec, tensors)
            if ok:
                return result
        return self._record(entry, args, kwargs, tensors)

    def _eager_call(self, why: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self._warn(why)
        return self._fn(*args, **kwargs)

    def _warn(self, why: str) -> None:
        if why not in self._warned:
            self._warned.add(why)
            name = getattr(self._fn, "__qualname__", repr(self._fn))
            warnings.warn(f"plugrad.compile({name}): {why}; running eagerly", CompileWarning, stacklevel=4)

    def _record(self, entry: _Entry, args: tuple[Any, ...], kwargs: dict[str, Any], tensors: list[Tensor]) -> Any:
        if entry.recordings >= config.recompile_limit:
            entry.eager = (
                f"recompile limit ({config.recompile_limit}) reached: the recorded program changed on every call"
                + _first_difference(entry.pending)
            )
            self._warn(entry.eager)
            return self._fn(*args, **kwargs)
        entry.recordings += 1
        rec = Recorder()
        rec.fullgraph = self._fullgraph
        from ..plugins import get_registry

        input_slots = [rec.add_input(_DATA.__get__(t)) for t in tensors]
        rec.start_watching(list(get_registry().backends.values()))
        try:
            result = self._fn(*args, **kwargs)
        except GraphBreak as exc:
            raise _unsupported(exc) from None
        finally:
            rec.stop_watching()
        if rec.broken is not None:
            entry.eager = f"{rec.broken.reason} at {rec.broken.where}"
            self._warn(entry.eager)
            return result
        try:
            recording = _finish(rec, input_slots, result)
        except GraphBreak as exc:
            if self._fullgraph:
                raise _unsupported(exc) from None
            entry.eager = f"{exc.reason}" + (f" at {exc.where}" if exc.where else "")
            self._warn(entry.eager)
            return result
        for other in entry.pending:
            if other.signature == recording.signature:
                compiled = self._compiler(recording.program)
                if compiled is None:
                    from ._replay import compile_program

                    compiled = compile_program(recording.program)
                recording.runner = compiled
                entry.programs.append(recording)
                entry.pending = []
                return result
        entry.pending = [*entry.pending[-(config.recompile_limit - 1) :], recording]
        return result


def _unsupported(exc: GraphBreak) -> Exception:
    from ..compiler import Unsupported

    return Unsupported(f"plugrad.compile(fullgraph=True): {exc}")


def _first_difference(recordings: list[Recording]) -> str:
    if len(recordings) < 2:
        return ""
    a, b = recordings[-2].program.calls, recordings[-1].program.calls
    for x, y in zip(a, b):
        if x.signature() != y.signature():
            return f" (first difference: {x!r} became {y!r} at {y.where})"
    if len(a) != len(b):
        return f" (the number of kernel calls changed from {len(a)} to {len(b)})"
    return " (the tensors it reads or changes differ)"


def _out_of(rec: Recorder, t: Tensor) -> _Out:
    """How a replay makes the tensor ``t`` (a result or a new gradient)."""
    if id(t) not in rec.temps:
        return _Out("same", t)
    data = _DATA.__get__(t)
    slot = rec.slot(data)
    if slot is None:
        slot = rec.new_slot(data)
        rec.constants.append((slot, data))
    node = None
    if t._grad_fn is not None:
        if not rec.backward_ran:
            raise GraphBreak(
                "the result requires grad but the compiled function did not run its backward; "
                "compile the whole training step (forward, backward and optimizer) to replay it",
                "",
            )
        node = t._grad_fn.name()
    if t._base is not None:
        raise GraphBreak("the result is a view of another tensor", "")
    return _Out("new", None, slot, t._dtype, t._backend, type(t), t._requires_grad, node)


def _finish(rec: Recorder, input_slots: list[int], result: Any) -> Recording:
    """Turn a finished recorder into a :class:`Recording`."""
    leaves: list[Any] = []
    treedef = _flatten(result, leaves)
    outs = [_out_of(rec, v) if isinstance(v, Tensor) else _Out("const", v) for v in leaves]
    index = {id(i.tensor): i.index for i in rec.touched.values()}
    data_writes: list[tuple[int, int, Any, Any]] = []
    for t in rec.data_writes.values():
        data = _DATA.__get__(t)
        slot = rec.slot(data)
        if slot is None:
            slot = rec.new_slot(data)
            rec.constants.append((slot, data))
        data_writes.append((index[id(t)], slot, t._dtype, t._backend))
    grad_writes: list[tuple[int, _Out | None]] = []
    for t in rec.grad_writes.values():
        g = _GRAD.__get__(t)
        grad_writes.append((index[id(t)], None if g is None else _out_of(rec, g)))
    deltas = []
    for info in rec.touched.values():
        vc = info.tensor._vc
        now = vc[0] if vc else 0
        if now != info.version:
            deltas.append((info.index, now - info.version))
    live = set(s for _, s, _, _ in data_writes)
    live.update(o.slot for o in outs if o.kind == "new")
    live.update(o.slot for _, o in grad_writes if o is not None and o.kind == "new")
    inputs = input_slots + [s for _, s in rec.captures] + [s for s, _ in rec.constants]
    backends = {c.fn.__self__ for c in rec.calls if hasattr(c.fn, "__self__") and hasattr(c.fn.__self__, "kernel_sources")}
    program = Program(
        backend=next(iter(backends)) if len(backends) == 1 else None,
        n_slots=len(rec.arrays),
        inputs=inputs,
        calls=rec.calls,
        outputs=sorted(live),
        meta={
            "shapes": [tuple(a.shape) if hasattr(a, "shape") else None for a in rec.arrays],
            "dtypes": [getattr(a, "dtype", None) for a in rec.arrays],
        },
    )
    touched = list(rec.touched.values())
    signature = (
        tuple(c.signature() for c in rec.calls),
        tuple(input_slots),
        tuple(rec.captures),
        tuple((s, id(a)) for s, a in rec.constants),
        tuple(
            (id(i.tensor) if i.parent is None else ("grad", i.parent), i.has_grad, i.requires_grad, i.shape, i.dtype)
            for i in touched
        ),
        tuple((t, s, dt) for t, s, dt, _ in data_writes),
        tuple((t, None if o is None else (o.kind, o.slot, id(o.value))) for t, o in grad_writes),
        tuple(deltas),
        treedef,
        tuple((o.kind, o.slot, o.dtype, o.requires_grad, o.node, id(o.value) if o.kind == "same" else None) for o in outs),
        tuple(o.value for o in outs if o.kind == "const" and _hashable(o.value)),
        tuple((id(c), k, _freeze_value(v)) for c, k, v in rec.value_guards.values()),
    )
    return Recording(
        program,
        signature,
        input_slots,
        list(rec.captures),
        list(rec.constants),
        touched,
        data_writes,
        grad_writes,
        deltas,
        treedef,
        outs,
        list(rec.value_guards.values()),
    )


def _freeze_value(v: Any) -> Any:
    return v if _hashable(v) else ("id", id(v))


def _same(a: Any, b: Any) -> bool:
    """``a`` and ``b`` are the same value for a guard (same type; NaN equals NaN)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # values that do not compare (arrays): identity only
        return False


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def _make_out(o: _Out, env: list[Any]) -> Any:
    if o.kind == "const":
        return o.value
    if o.kind == "same":
        return o.value
    t = _make(o.cls, env[o.slot], o.dtype, o.backend)
    if o.requires_grad:
        t._requires_grad = True
        if o.node is not None:
            t._grad_fn = _freed_node(o.node)
    return t


def _replay(rec: Recording, tensors: list[Tensor]) -> tuple[bool, Any]:
    """Run ``rec``'s program for ``tensors``; ``(False, None)`` when a dynamic guard fails."""
    for container, key, value in rec.value_guards:
        try:
            now = container[key]
        except (KeyError, IndexError, TypeError):
            return False, None
        if not _same(now, value):
            return False, None
    get = _DATA.__get__
    objs: list[Any] = []
    for info in rec.touched:
        t = info.tensor if info.parent is None else objs[info.parent]._grad
        if (
            t is None
            or (t._grad is None) is info.has_grad
            or t._requires_grad is not info.requires_grad
            or t._data.shape != info.shape
            or t._data.dtype != info.dtype
        ):
            return False, None
        objs.append(t)
    env: list[Any] = [None] * rec.program.n_slots
    for s, t in zip(rec.input_slots, tensors):
        env[s] = get(t)
    for i, s in rec.captures:
        env[s] = get(objs[i])
    for s, a in rec.constants:
        env[s] = a
    assert rec.runner is not None
    rec.runner(env)
    for i, s, dt, be in rec.data_writes:
        t = objs[i]
        t._data = env[s]
        t._dtype = dt
        t._backend = be
    for i, o in rec.grad_writes:
        objs[i]._grad = None if o is None else _make_out(o, env)
    for i, d in rec.version_deltas:
        t = objs[i]
        vc = t._vc
        if vc is None:
            t._vc = [d]
        else:
            vc[0] += d
    if rec.treedef is None:
        return True, _make_out(rec.outs[0], env)
    return True, _unflatten(rec.treedef, iter([_make_out(o, env) for o in rec.outs]))
