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
import sys
import threading
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import _autocast_state, _compile_state
from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd import function as _fn
from ..autograd.grad_mode import _state as _grad_state
from ._recorder import _DATA, _GRAD, GraphBreak, Recorder, Touch
from .program import Deopt, Program

__all__ = ["CompiledFunction", "config", "CompileWarning"]


class CompileWarning(UserWarning):
    """``plugrad.compile`` ran (part of) a program eagerly; the message says why and where."""


@dataclass
class _Config:
    """Settings of ``plugrad.compile`` (``plugrad.compiler.config``)."""

    #: how many times one static key may be recorded, and how many static keys one function may
    #: have, before it runs eagerly (PyTorch's ``recompile_limit``)
    recompile_limit: int = 8
    #: identical recordings in a row needed before a program replays (a program that alternates
    #: between two forms, say with a Python counter, never installs)
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


@dataclass(repr=False)
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
    scalars: list[tuple[int, Any, Any, Any, Any, type]] = field(default_factory=list)
    req_writes: list[tuple[int, bool]] = field(default_factory=list)
    predicates: list[Callable[[], bool]] = field(default_factory=list)
    joint: _Joint | None = None
    deopts: int = 0
    _guard_key: Any = None
    replay: Callable[[list[Tensor]], tuple[bool, Any]] = None  # type: ignore[assignment]
    runner: Callable[[list[Any]], None] | None = None

    def __repr__(self) -> str:
        return f"<Recording of {len(self.program.calls)} calls, {len(self.touched)} outside tensors>"

    def guards(self) -> dict[Any, Any]:
        """What a replay of this recording checks, by what it checks (for telling programs apart)."""
        found: dict[Any, Any] = {}
        for i in self.touched:
            where = ("arg", i.arg) if i.arg is not None else id(i.tensor) if i.parent is None else ("grad", i.parent)
            found[("tensor", where)] = (i.has_grad, i.requires_grad, i.shape, i.dtype, i.strides)
        for container, key, value in self.value_guards:
            found[("item", id(container), key)] = _freeze_value(value)
        return found

    def guard_key(self) -> Any:
        cached = self._guard_key
        if cached is None:
            cached = self._guard_key = tuple(sorted(self.guards().items(), key=repr))
        return cached


@dataclass
class _Entry:
    pending: list[Recording] = field(default_factory=list)
    programs: list[Recording] = field(default_factory=list)
    recordings: int = 0
    eager: str | None = None  # why this key runs eagerly
    retry_reason: str = ""  # why the last recording could not be kept (the step changed guarded state)


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


def _autocast_key() -> Any:
    """This thread's autocast state (enabled devices and their dtypes), while some region is open."""
    from ..amp import autocast_mode

    st = autocast_mode._STATE
    return (tuple(sorted(st.enabled.items())), tuple(sorted((k, v) for k, v in st.dtype.items())), st.cache_enabled)


def _leaf_key(v: Any) -> Any:
    if isinstance(v, Tensor):
        data = _DATA.__get__(v)
        strides = getattr(data, "strides", None)
        return (type(v), tuple(data.shape), strides, v._dtype, v._backend, v._requires_grad, v._grad_fn is None)
    t = type(v)
    if t is float or t is complex:
        return (t, repr(v))  # -0.0 apart from 0.0, and a NaN equal to itself
    if v is None or t in (bool, int, str, bytes):
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
_CHUNK_CALLS = 2000
_RECORDING = threading.Lock()


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
        functools.update_wrapper(self, fn)

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
        if not kwargs and all(type(a) is Tensor for a in args):  # the common case, without the general walk
            leaves: Any = args
            leaf_keys: Any = tuple(
                (
                    a._data.shape,
                    getattr(a._data, "strides", None),
                    a._dtype,
                    a._backend,
                    a._requires_grad,
                    a._grad_fn is None,
                )
                for a in args
            )
        else:
            leaves = []
            treedef = _flatten((args, kwargs), leaves)  # keyword names, dict keys and container types count
            leaf_keys = (treedef, tuple(_leaf_key(v) for v in leaves))
        key = (
            leaf_keys,
            _grad_state.enabled,
            _autocast_key() if _autocast_state.ACTIVE[0] else None,
            D._default.value,
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
        tensors: Any = leaves if type(leaves) is tuple else [v for v in leaves if isinstance(v, Tensor)]
        for rec in entry.programs:
            try:
                ok, result = rec.replay(tensors)
            except Deopt as exc:
                return self._deopt(entry, rec, exc, args, kwargs)
            if ok:
                rec.deopts = 0
                return result
        return self._record(entry, args, kwargs, tensors)

    def _deopt(self, entry: _Entry, rec: Recording, exc: Deopt, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A check of ``rec`` failed before anything changed: run eagerly; give up on ``rec`` when it keeps failing."""
        rec.deopts += 1
        if rec.deopts >= config.recompile_limit:
            entry.programs.remove(rec)
            if not entry.programs:
                entry.eager = f"{exc} on {rec.deopts} calls in a row"
                self._warn(entry.eager)
        return self._fn(*args, **kwargs)

    def _compile(self, program: Program) -> Callable[[list[Any]], None]:
        runner = self._compiler(program)
        if runner is None:  # the plugin declined this program
            from ._replay import compile_program

            runner = compile_program(program)
        return runner  # type: ignore[no-any-return]

    def _eager_call(self, why: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self._warn(why)
        return self._fn(*args, **kwargs)

    def _warn(self, why: str) -> None:
        if why not in self._warned:
            self._warned.add(why)
            name = getattr(self._fn, "__qualname__", repr(self._fn))
            warnings.warn(
                f"plugrad.compile({name}): {why}; running eagerly", CompileWarning, stacklevel=_caller_level()
            )

    def _record(self, entry: _Entry, args: tuple[Any, ...], kwargs: dict[str, Any], tensors: list[Tensor]) -> Any:
        # One recording at a time in the process: the recorder swaps process-wide tables (kernel slots,
        # Tensor's attribute descriptors). Another thread that would record meanwhile runs eagerly.
        if not _RECORDING.acquire(blocking=False):
            return self._fn(*args, **kwargs)
        try:
            return self._record_locked(entry, args, kwargs, tensors)
        finally:
            _RECORDING.release()

    def _record_locked(
        self, entry: _Entry, args: tuple[Any, ...], kwargs: dict[str, Any], tensors: list[Tensor]
    ) -> Any:
        if entry.recordings >= config.recompile_limit:
            entry.eager = (
                f"recompile limit ({config.recompile_limit}) reached: the recorded program changed on every call"
                + (f" ({entry.retry_reason})" if entry.retry_reason else _first_difference(entry.pending))
            )
            self._warn(entry.eager)
            return self._fn(*args, **kwargs)
        entry.recordings += 1
        rec = Recorder()
        rec.fullgraph = self._fullgraph
        from ..plugins import get_registry

        input_slots = [rec.add_input(_DATA.__get__(t)) for t in tensors]
        rec.arg_pos = {id(t): i for i, t in enumerate(tensors)}
        for (
            t
        ) in tensors:  # so effects on an argument (a new .grad, its version, requires_grad) replay on the one passed
            rec.touch(t, _DATA.__get__(t))
        rec.start_watching(list(get_registry().backends.values()))
        owner = getattr(self._fn, "__self__", None)
        if owner is not None:  # a compiled bound method: its object's plain attributes are guarded
            from ..compiler import assume_attributes

            assume_attributes(owner)
        try:
            result = self._fn(*args, **kwargs)
        except GraphBreak as exc:
            raise _unsupported(exc) from None
        finally:
            rec.stop_watching()
        if rec.broken is None and not rec.backward_ran and _needs_backward(rec, result):
            joint: _Joint | None = _probe_backward(rec, tensors, result)
        else:
            joint = None
        if rec.broken is not None:
            if self._fullgraph:
                raise _unsupported(rec.broken)
            entry.eager = f"{rec.broken.reason} at {rec.broken.where}"
            self._warn(entry.eager)
            return result
        try:
            recording = _finish(rec, input_slots, result, joint)
        except GraphBreak as exc:
            if exc.retry:  # this call changed state the next one will find as it is: record again then
                entry.retry_reason = exc.reason
                return result
            if self._fullgraph:
                raise _unsupported(exc) from None
            entry.eager = f"{exc.reason}" + (f" at {exc.where}" if exc.where else "")
            self._warn(entry.eager)
            return result
        # A program installs once `stable_after` recordings in a row *under the same guards* are the same
        # program, so programs under different guards (a gradient present or not) each install, while
        # programs that alternate under the same guards (state no guard sees) never do.
        gkey = recording.guard_key()
        streak = [r for r in entry.pending if r.guard_key() == gkey]
        same = 0
        for other in reversed(streak):
            if other.signature != recording.signature:
                break
            same += 1
        if same + 1 >= max(1, config.stable_after):
            recording.runner = self._compile(recording.program)
            if recording.joint is not None:
                recording.joint.runner = self._compile(recording.joint.program)
            recording.replay = _build_replay(recording)
            if len(recording.program.calls) > _CHUNK_CALLS:  # a big program: keep what replays need, not the record
                recording.signature = ()
                recording.program.calls = []
                recording.program.meta = {}
            entry.programs.append(recording)
            entry.pending = [r for r in entry.pending if r.guard_key() != gkey]
            return result
        entry.pending = [*entry.pending[-(config.recompile_limit - 1) :], recording]
        return result


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside this package (the compiled function's caller)."""
    frame: Any = sys._getframe(2)
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("plugrad._compile"):
        frame = frame.f_back
        level += 1
    return level


def _unsupported(exc: GraphBreak) -> Exception:
    from ..compiler import Unsupported

    return Unsupported(f"plugrad.compile(fullgraph=True): {exc}")


def _first_difference(recordings: list[Recording]) -> str:
    if len(recordings) < 2:
        return ""
    a, b = recordings[-2].program.calls, recordings[-1].program.calls
    for x, y in zip(a, b):
        if x.signature() != y.signature():
            return f" (first difference: {_short(x)} became {_short(y)} at {y.where})"
    if len(a) != len(b):
        return f" (the number of kernel calls changed from {len(a)} to {len(b)})"
    return " (the tensors it reads or changes differ)"


def _has_hooks(t: Tensor) -> bool:
    """Whether a hook was registered on the leaf ``t`` (its gradient accumulator holds them)."""
    acc = t._extra.get("accumulator") if t._extra else None
    return acc is not None and bool(acc._tensor_pre_hooks or acc._post_hooks or acc._pre_hooks or acc._hooks)


def _short(value: Any, limit: int = 160) -> str:
    """``repr(value)`` cut to ``limit`` characters (a recorded constant may be a long list)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _out_of(rec: Recorder, t: Tensor) -> _Out:
    """How a replay makes the tensor ``t`` (a result or a new gradient)."""
    info = rec.touched.get(id(t))
    if info is not None:  # an argument or an outside tensor, found where the replay finds it
        return _Out("touched", slot=info.index)
    if id(t) not in rec.temps:
        return _Out("same", t)
    data = _DATA.__get__(t)
    slot = rec.slot(data)
    if slot is None:
        slot = rec.new_slot(data)
        rec.constants.append((slot, data))
    node = None
    if t._grad_fn is not None:
        node = t._grad_fn.name()
    return _Out("new", None, slot, t._dtype, t._backend, type(t), t._requires_grad, node)


def _finish(rec: Recorder, input_slots: list[int], result: Any, joint: _Joint | None) -> Recording:
    """Turn a finished recorder into a :class:`Recording`."""
    leaves: list[Any] = []
    treedef = _flatten(result, leaves)
    outs = [_out_of(rec, v) if isinstance(v, Tensor) else _Out("const", v) for v in leaves]
    if joint is not None:
        for i in joint.out_index:
            outs[i].node = "joint"
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
    req_writes = []
    for info in rec.touched.values():
        vc = info.tensor._vc
        now = vc[0] if vc else 0
        if now != info.version:
            deltas.append((info.index, now - info.version))
        if info.tensor._requires_grad is not info.requires_grad:
            req_writes.append((info.index, info.tensor._requires_grad))
    live = set(s for _, s, _, _ in data_writes)
    live.update(o.slot for o in outs if o.kind == "new")
    live.update(o.slot for _, o in grad_writes if o is not None and o.kind == "new")
    inputs = input_slots + [s for _, s in rec.captures] + [s for s, _ in rec.constants] + [x[0] for x in rec.scalars]
    calls = rec.calls
    if joint is not None:
        calls, bw_calls = rec.calls[: joint.split], rec.calls[joint.split :]
        produced = {s for c in calls for s in c.out_slots()} | set(inputs)
        saved = sorted({s for c in bw_calls for s in c.refs()} & produced)
        live.update(saved)
        joint.program = Program(
            backend=next(iter(rec.backends)) if len(rec.backends) == 1 else None,
            n_slots=len(rec.arrays),
            inputs=saved + joint.grad_slots,
            calls=bw_calls,
            outputs=sorted({s for s in joint.leaf_grad_slots if s is not None}),
            meta={},
        )
        joint.saved = saved
    for container, key, value in rec.value_guards.values():
        if not _same(_get_item(container, key), value):
            raise GraphBreak(
                f"the step itself changes {_describe(container, key)}, Python state a replay would not change",
                "",
                retry=True,
            )
    program = Program(
        backend=next(iter(rec.backends)) if len(rec.backends) == 1 else None,
        n_slots=len(rec.arrays),
        inputs=inputs,
        calls=calls,
        outputs=sorted(live),
        meta={
            "shapes": rec.shapes,
            "dtypes": rec.dtypes,
        },
    )
    if joint is not None:
        joint.program.meta = program.meta
    touched = list(rec.touched.values())
    signature = (
        tuple(c.signature() for c in rec.calls),
        tuple(input_slots),
        tuple(rec.captures),
        tuple((s, id(a)) for s, a in rec.constants),
        tuple(
            (
                ("arg", i.arg) if i.arg is not None else id(i.tensor) if i.parent is None else ("grad", i.parent),
                i.has_grad,
                i.requires_grad,
                i.shape,
                i.dtype,
            )
            for i in touched
        ),
        tuple((t, s, dt) for t, s, dt, _ in data_writes),
        tuple((t, None if o is None else (o.kind, o.slot, id(o.value))) for t, o in grad_writes),
        tuple(deltas),
        tuple(req_writes),
        tuple(what for _, what in rec.predicates),
        treedef,
        tuple(
            (o.kind, o.slot, o.dtype, o.requires_grad, o.node, id(o.value) if o.kind == "same" else None) for o in outs
        ),
        tuple(o.value for o in outs if o.kind == "const" and _hashable(o.value)),
        tuple((id(c), k, _freeze_value(v)) for c, k, v in rec.value_guards.values()),
        tuple((slot, id(c), k, native, t) for slot, c, k, _, native, t in rec.scalars),
        None if joint is None else joint.signature(),
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
        scalars=list(rec.scalars),
        req_writes=req_writes,
        predicates=[p for p, _ in rec.predicates],
        joint=joint,
    )


_MISSING = object()


def _get_item(container: Any, key: Any) -> Any:
    try:
        return container[key]
    except (KeyError, IndexError, TypeError):
        return _MISSING


def _describe(container: Any, key: Any) -> str:
    """``Trainer.i`` for an attribute in an object's ``__dict__``, ``dict['lr']`` otherwise."""
    import gc

    if type(container) is dict:
        for owner in gc.get_referrers(container):
            if getattr(owner, "__dict__", None) is container:
                return f"{type(owner).__name__}.{key}"
    return f"{type(container).__name__}[{key!r}]"


def _freeze_value(v: Any) -> Any:
    if isinstance(v, Tensor):
        return ("tensor", id(v))
    return v if _hashable(v) else ("id", id(v))


def _same(a: Any, b: Any) -> bool:
    """``a`` and ``b`` are the same value for a guard (same type; NaN equals NaN)."""
    if a is b:
        return True
    if type(a) is not type(b) or isinstance(a, Tensor):
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
    if o.requires_grad and o.node != "joint":
        t._requires_grad = True
        if o.node is not None:
            t._grad_fn = _freed_node(o.node)
    return t


# -- compiled functions whose results the caller differentiates ------------------------------


@dataclass(repr=False)
class _Joint:
    """The backward half of a recording whose results require grad (a compiled ``forward``).

    After the forward calls ran, plugrad differentiated the results once with placeholder
    output gradients (``autograd.grad``, graph kept for the caller) while recording: those
    calls are :attr:`program`, whose inputs are the forward values it reads (:attr:`saved`)
    and the output gradients (:attr:`grad_slots`), and whose outputs are the gradients of
    :attr:`leaves` (outside tensors by touch index, inputs as ``-1 - position``).
    """

    split: int
    out_index: list[int]
    out_slots: list[int]
    grad_slots: list[int]
    leaves: list[int]
    leaf_grad_slots: list[int | None]
    program: Program = None  # type: ignore[assignment]
    saved: list[int] = field(default_factory=list)
    runner: Callable[[list[Any]], None] | None = None

    def signature(self) -> tuple[Any, ...]:
        return (
            self.split,
            tuple(self.out_index),
            tuple(self.grad_slots),
            tuple(self.leaves),
            tuple(self.leaf_grad_slots),
        )


def _needs_backward(rec: Recorder, result: Any) -> bool:
    leaves: list[Any] = []
    _flatten(result, leaves)
    return any(isinstance(v, Tensor) and id(v) in rec.temps and v._grad_fn is not None for v in leaves)


def _probe_backward(rec: Recorder, tensors: list[Tensor], result: Any) -> _Joint | None:
    """Differentiate ``result`` once while recording, so replays can make its backward too."""
    from ..autograd import grad as autograd_grad
    from ..plugins import get_registry

    leaves_out: list[Any] = []
    _flatten(result, leaves_out)
    out_index = [
        i for i, v in enumerate(leaves_out) if isinstance(v, Tensor) and id(v) in rec.temps and v._grad_fn is not None
    ]
    outputs = [leaves_out[i] for i in out_index]
    leaf_ids: list[int] = []
    leaf_tensors: list[Tensor] = []
    for info in rec.touched.values():
        if info.tensor._requires_grad and info.parent is None and info.arg is None:
            leaf_ids.append(info.index)
            leaf_tensors.append(info.tensor)
    for pos, t in enumerate(tensors):
        if t._requires_grad:
            leaf_ids.append(-1 - pos)
            leaf_tensors.append(t)
    if not leaf_tensors:
        return None
    placeholders = []
    for t in outputs:
        be = t._backend
        placeholders.append(
            _make(Tensor, be.ones(tuple(_DATA.__get__(t).shape), be.dtype_to_native[t._dtype]), t._dtype, be)
        )
    split = len(rec.calls)
    grad_slots = [rec.add_input(_DATA.__get__(p)) for p in placeholders]
    rec.probing = True
    rec.start_watching(list(get_registry().backends.values()))
    try:
        grads = autograd_grad(outputs, leaf_tensors, placeholders, retain_graph=True, allow_unused=True)
    finally:
        rec.stop_watching()
        rec.probing = False
    if rec.broken is not None:
        return None
    leaf_grad_slots: list[int | None] = []
    for g in grads:
        if g is None:
            leaf_grad_slots.append(None)
            continue
        data = _DATA.__get__(g)
        slot = rec.slot(data)
        if slot is None:
            slot = rec.new_slot(data)
            rec.constants.append((slot, data))
        leaf_grad_slots.append(slot)
    out_slots = [rec.slot(_DATA.__get__(t)) or -1 for t in outputs]
    return _Joint(split, out_index, out_slots, grad_slots, leaf_ids, leaf_grad_slots)


def _build_replay(rec: Recording) -> Callable[[list[Tensor]], tuple[bool, Any]]:
    """The replay function of one recording, generated as straight-line code: it checks the value
    guards, predicates and touched tensors (returning ``(False, None)`` when one fails), binds the
    arrays of arguments, captured tensors, constants and scalars, runs the runner, makes the
    recorded changes (new arrays, gradients, version counters, ``requires_grad``) and returns
    ``(True, result)``."""
    g: dict[str, Any] = {"_make": _make, "_same": _same, "_get_item": _get_item, "_unflatten": _unflatten}
    names: dict[int, str] = {}

    def ref(value: Any) -> str:
        name = names.get(id(value))
        if name is None:
            name = names[id(value)] = f"g{len(names)}"
            g[name] = value
        return name

    lines = ["def replay(tensors):"]
    tests = []
    for container, key, value in rec.value_guards:
        item = f"{ref(container)}[{ref(key)}]"
        t = type(value)
        if isinstance(value, Tensor) or value is None or t is bool:
            tests.append(f"{item} is not {ref(value)}")
        elif t in (int, float, str) and value == value:
            tests.append(f"type({item}) is not {t.__name__} or {item} != {ref(value)}")
        else:
            tests.append(f"not _same({item}, {ref(value)})")
    if tests:
        cond = "\n            or ".join(tests)
        lines.append(
            f"    try:\n        if ({cond}):\n            return False, None\n"
            "    except (KeyError, IndexError, TypeError):\n        return False, None"
        )
    for n, predicate in enumerate(rec.predicates):
        g[f"p{n}"] = predicate
        lines.append(f"    if not p{n}():\n        return False, None")
    g["_has_hooks"] = _has_hooks
    for info in rec.touched:
        o = f"o{info.index}"
        if info.arg is not None:
            lines.append(f"    {o} = tensors[{info.arg}]")
        elif info.parent is None:
            lines.append(f"    {o} = {ref(info.tensor)}")
        else:
            lines.append(f"    {o} = o{info.parent}._grad\n    if {o} is None:\n        return False, None")
        grad_test = "is None" if info.has_grad else "is not None"
        lines.append(
            f"    d = {o}._data\n"
            f"    if {o}._grad {grad_test} or {o}._requires_grad is not {info.requires_grad} "
            f"or d.shape != {ref(info.shape)} or (d.dtype is not {ref(info.dtype)} and d.dtype != {ref(info.dtype)})"
            + (f" or d.strides != {ref(info.strides)}" if info.strides is not None else "")
            + f" or ({o}._extra is not None and _has_hooks({o})):\n"
            "        return False, None"
        )
    lines.append(f"    env = [None] * {rec.program.n_slots}")
    for pos, s in enumerate(rec.input_slots):
        lines.append(f"    env[{s}] = tensors[{pos}]._data")
    for i, s in rec.captures:
        lines.append(f"    env[{s}] = o{i}._data")
    for s, a in rec.constants:
        lines.append(f"    env[{s}] = {ref(a)}")
    for s, container, key, be, native, typ in rec.scalars:
        lines.append(
            f"    try:\n        v = {ref(container)}[{ref(key)}]\n    except (KeyError, IndexError, TypeError):\n"
            f"        return False, None\n    if type(v) is not {ref(typ)}:\n        return False, None\n"
            f"    env[{s}] = {ref(be.asarray)}(v, {ref(native)})"
        )
    lines.append(f"    {ref(rec.runner)}(env)")
    for i, s, dt, be in rec.data_writes:
        lines.append(f"    o{i}._data = env[{s}]\n    o{i}._dtype = {ref(dt)}\n    o{i}._backend = {ref(be)}")

    def make(o: _Out) -> str:
        if o.kind == "touched":
            return f"o{o.slot}"
        if o.kind != "new":
            return ref(o.value)
        if o.requires_grad and o.node != "joint":
            return f"_make_out({ref(o)}, env)"
        return f"_make({ref(o.cls)}, env[{o.slot}], {ref(o.dtype)}, {ref(o.backend)})"

    g["_make_out"] = _make_out
    for i, gw in rec.grad_writes:
        lines.append(f"    o{i}._grad = {'None' if gw is None else make(gw)}")
    for i, d in rec.version_deltas:
        lines.append(
            f"    vc = o{i}._vc\n    if vc is None:\n        o{i}._vc = [{d}]\n    else:\n        vc[0] += {d}"
        )
    for i, req in rec.req_writes:
        lines.append(f"    o{i}._requires_grad = {req}")
    lines.append(f"    made = [{', '.join(make(o) for o in rec.outs)}]")
    if rec.joint is not None:
        g["_joint_outputs"] = _joint_outputs
        objs = ", ".join(f"o{i.index}" for i in rec.touched)
        lines.append(f"    _joint_outputs({ref(rec)}, env, [{objs}], tensors, made)")
    if rec.treedef is None:
        lines.append("    return True, made[0]")
    else:
        lines.append(f"    return True, _unflatten({ref(rec.treedef)}, iter(made))")
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<plugrad.compile replay of {len(rec.program.calls)} calls>", "exec"), g)
    fn: Callable[[list[Tensor]], tuple[bool, Any]] = g["replay"]
    fn.__plugrad_source__ = source  # type: ignore[attr-defined]
    return fn


def _joint_outputs(rec: Recording, env: list[Any], objs: list[Any], tensors: list[Tensor], made: list[Any]) -> None:
    """Give the results of a replayed call that require grad their ``CompiledFunctionBackward`` node."""
    from ._joint import CompiledFunction as _JointFunction
    from ._joint import JointCall

    joint = rec.joint
    assert joint is not None
    leaves = [objs[i] if i >= 0 else tensors[-1 - i] for i in joint.leaves]
    state = JointCall(joint, env, [made[i] for i in joint.out_index])
    with_graph = _JointFunction.apply(state, *leaves)
    for i, t in zip(joint.out_index, with_graph if isinstance(with_graph, tuple) else (with_graph,)):
        made[i] = t
