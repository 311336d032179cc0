"""Recording one call of a compiled function as a :class:`~plugrad._compile.program.Program`.

While a :class:`Recorder` is active on a thread, the function runs eagerly, as it
always does, and the recorder watches three things:

- **kernel calls**: every kernel slot of every registered backend is swapped for a
  wrapper that runs the kernel and appends a :class:`Call` (arrays replaced by slot
  references); so are the random draws of :mod:`plugrad._generator` and the in-place
  array operators of :mod:`plugrad._tensor`. Calls made from inside a recorded call
  (a kernel built on other kernels) are not recorded again.
- **tensor reads**: ``Tensor._data`` becomes a descriptor that notices when an array no
  recorded call produced is read from a tensor made before the call (a parameter, a
  gradient, optimizer state): that tensor is *captured*, and a replay reads its array
  afresh.
- **tensor writes**: rebinding ``_data`` or ``_grad`` of a tensor made before the call
  is remembered, so a replay makes the same change.

Anything the recorder cannot replay (a value read back into Python, a data-dependent
shape, a hook with Python side effects) is a *graph break*: the call goes on eagerly
and the recording is dropped.
"""

from __future__ import annotations

import operator
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import _compile_state
from .. import _generator as _gen
from .. import _tensor as _tensor_mod
from .._tensor import Tensor
from ..backends._spec import KERNELS as _SPEC_KERNELS
from .program import FRESH_KERNELS, MUTATING_KERNELS, Call, Ref, make_check

__all__ = ["GraphBreak", "Recorder", "Touch"]

#: Kernels whose result is read back into Python or depends on the data's values in its shape.
_BREAK_KERNELS: dict[str, str] = {
    "to_numpy": "a tensor's array was handed to NumPy (.numpy())",
    "to_dlpack": "a tensor was exported through DLPack",
    "from_dlpack": "an array was imported through DLPack",
    "nonzero": "an op whose output shape depends on the values (nonzero, masked indexing)",
    "unique_all": "an op whose output shape depends on the values (unique)",
    "unique_counts": "an op whose output shape depends on the values (unique)",
    "unique_inverse": "an op whose output shape depends on the values (unique)",
    "unique_values": "an op whose output shape depends on the values (unique)",
    "random_generator": "a random stream was created",
}

_IOPS: dict[Callable[..., Any], str] = {
    operator.iadd: "iadd",
    operator.isub: "isub",
    operator.imul: "imul",
    operator.itruediv: "itruediv",
}

#: Recorded names of calls without effects besides their result (what a check may be hoisted with).
_PURE_NAMES: frozenset[str] = (
    frozenset(_SPEC_KERNELS) - MUTATING_KERNELS - {"random_uniform", "random_normal", "random_seed", "random_generator"}
)


_LITERALS = frozenset({int, float, bool, str, type(None)})
_NO_KWARGS: dict[str, Any] = {}


class _Pinned:
    """A strong reference with ``weakref.ref``'s call syntax (for arrays that take no weak references)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __call__(self) -> Any:
        return self.obj


class GraphBreak(Exception):
    """Something in the recorded call cannot be replayed (raised with ``fullgraph=True``)."""

    def __init__(self, reason: str, where: str, retry: bool = False) -> None:
        super().__init__(f"{reason} (at {where})" if where else reason)
        self.reason = reason
        self.where = where
        #: the next call may record fine (this one changed state it found missing, e.g. an optimizer's first step)
        self.retry = retry


def user_location(depth: int = 2) -> str:
    """``file:line`` of the innermost frame outside plugrad's own packages."""
    frame: Any = sys._getframe(depth)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name == "plugrad" or name.startswith("plugrad.") or name.startswith("plugrad_")):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


def _is_array(value: Any) -> bool:
    t = type(value)
    return hasattr(t, "__array_namespace__") or (
        hasattr(t, "shape") and hasattr(t, "dtype") and hasattr(t, "__dlpack__")
    )


@dataclass(slots=True)
class Touch:
    """A tensor made before the recorded call that the call read or changed, as it was at the start.

    ``parent`` is the index (in the recorder's touch order) of the tensor whose ``.grad`` this
    one was read as, or ``None``: a replay finds such a gradient through its parent again,
    since every step may give the parent a new gradient tensor. ``arg`` is the position of
    the tensor among the call's tensor arguments, or ``None``: a replay addresses the
    tensor passed in that position.
    """

    tensor: Tensor
    parent: int | None
    arg: int | None
    has_grad: bool
    requires_grad: bool
    version: int
    shape: tuple[int, ...]
    dtype: Any
    index: int = 0
    strides: Any = None


@dataclass(slots=True)
class _State:
    """What the recorder restores when it stops."""

    kernels: list[tuple[Any, str, Any]] = field(default_factory=list)
    members: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """Records the kernel calls and tensor side effects of one call on the current thread."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.slot_of: dict[int, int] = {}
        self.arrays: list[Any] = []  # slot -> a (weak) reference to the array recorded there
        self.shapes: list[Any] = []  # slot -> its array's shape as recorded
        self.dtypes: list[Any] = []  # slot -> its array's native dtype as recorded
        self.inputs: list[int] = []
        self.captures: list[tuple[int, int]] = []  # (touch index, slot)
        self.grad_parent: dict[int, Tensor] = {}
        self.value_guards: dict[tuple[int, Any], tuple[Any, Any, Any]] = {}
        #: numbers read through ``plugrad.compiler.scalar``: (slot, container, key, backend, native dtype, type)
        self.scalars: list[tuple[int, Any, Any, Any, Any, type]] = []
        self.scalar_keys: set[tuple[int, Any]] = set()
        #: predicates the program relies on staying true (``plugrad.compiler.assume_true``)
        self.predicates: list[tuple[Callable[[], bool], str]] = []
        self.backends: set[Any] = set()
        self.constants: list[tuple[int, Any]] = []
        self.calls: list[Call] = []
        self.temps: set[int] = set()
        self.touched: dict[int, Touch] = {}
        self.data_writes: dict[int, Tensor] = {}
        self.grad_writes: dict[int, Tensor] = {}
        self.depth = 0
        self.broken: GraphBreak | None = None
        self.fullgraph = False
        self.backward_ran = False
        self.probing = False
        self.roots: dict[int, frozenset[int]] = {}
        self.mutated_after_draw: set[int] = set()
        #: index of the barrier among the calls: the first random draw or change of an outside array
        #: (a check after it moves before it, or the call is not recorded)
        self.first_draw: int | None = None
        self.checks = 0
        self.arg_pos: dict[int, int] = {}  # id(tensor argument) -> its position among the arguments
        self._saved = _State()
        self._refs: list[Ref] = []
        self._array_types: set[type] = set()
        self._where: dict[str, str] = {}

    # -- slots -------------------------------------------------------------------------
    def new_slot(self, array: Any) -> int:
        """A new slot for ``array``. The recorder keeps only a weak reference where the array type
        allows one (so an intermediate is freed when eager frees it; a dead array's id, reused by
        a later array, no longer matches), and notes the array's shape and dtype for compilers."""
        slot = len(self.arrays)
        try:
            self.arrays.append(weakref.ref(array))
        except TypeError:
            self.arrays.append(_Pinned(array))
        self.slot_of[id(array)] = slot
        self.shapes.append(tuple(array.shape) if hasattr(array, "shape") else None)
        self.dtypes.append(getattr(array, "dtype", None))
        return slot

    def slot(self, array: Any) -> int | None:
        s = self.slot_of.get(id(array))
        if s is not None and self.arrays[s]() is array:
            return s
        return None

    def add_input(self, array: Any) -> int:
        s = self.new_slot(array)
        self.inputs.append(s)
        return s

    def ref(self, slot: int) -> Ref:
        """The one :class:`Ref` of ``slot`` (shared by every call that reads it)."""
        refs = self._refs
        while len(refs) <= slot:
            refs.append(Ref(len(refs)))
        return refs[slot]

    def template(self, value: Any) -> Any:
        """``value`` with every array replaced by a :class:`Ref` (unknown arrays become constants)."""
        t = type(value)
        if t in _LITERALS:
            return value
        if t is tuple or t is list:
            return t([self.template(v) for v in value])
        if t in self._array_types or _is_array(value):
            self._array_types.add(t)
            s = self.slot_of.get(id(value))
            if s is None or self.arrays[s]() is not value:
                s = self.new_slot(value)
                self.constants.append((s, value))
            return self.ref(s)
        return value

    def bind_result(self, result: Any) -> int | tuple[int | None, ...] | None:
        if result is None:
            return None
        if type(result) is tuple:
            return tuple(self.new_slot(r) if _is_array(r) else None for r in result)
        if _is_array(result):
            return self.new_slot(result)
        return None

    # -- events ------------------------------------------------------------------------
    def graph_break(self, reason: str) -> None:
        if self.broken is None:
            self.broken = GraphBreak(reason, user_location(3))
            self.stop_watching()
            if self.fullgraph:
                raise self.broken

    def assume_constant(self, container: Any, key: Any) -> None:
        """The program relies on ``container[key]`` keeping its current value."""
        if self.broken is None and (id(container), key) not in self.scalar_keys:
            self.value_guards.setdefault((id(container), key), (container, key, container[key]))

    def scalar_input(self, container: Any, key: Any, backend: Any, native: Any) -> Any:
        """An array of ``container[key]`` (a Python number) that a replay makes afresh from the value then."""
        value = container[key]
        self.depth += 1
        try:
            array = backend.asarray(value, native)
        finally:
            self.depth -= 1
        if self.broken is None:
            self.value_guards.pop((id(container), key), None)
            self.scalar_keys.add((id(container), key))
            slot = self.new_slot(array)
            self.scalars.append((slot, container, key, backend, native, type(value)))
        return array

    def note_backward(self, deps: dict[Any, int]) -> None:
        if not self.probing:
            self.backward_ran = True
        for node in deps:
            if (
                node._pre_hooks
                or node._hooks
                or node._tensor_pre_hooks
                or getattr(node, "_post_hooks", None)
                or getattr(node, "_retains_grad_hooks", None)
            ):
                self.graph_break("a backward hook ran (its Python side effects cannot be replayed)")
                return

    def record(self, fn: Callable[..., Any], name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run ``fn(*args, **kwargs)`` and append it as a call."""
        self.depth += 1
        try:
            result = fn(*args, **kwargs)
        finally:
            self.depth -= 1
        if self.broken is not None:
            return result
        targs = self.template(args)
        tkw = {k: self.template(v) for k, v in kwargs.items()} if kwargs else _NO_KWARGS
        mutates = None
        if name in MUTATING_KERNELS and targs and type(targs[0]) is Ref:
            mutates = targs[0].index
        out = None if mutates is not None else self.bind_result(result)
        where = user_location(3)
        call = Call(fn, name, targs, tkw, out, mutates, self._where.setdefault(where, where))
        self.note_memory(call)
        self.calls.append(call)
        return result

    # -- what shares memory with what (for checks) ----------------------------------------
    def roots_of(self, slot: int) -> frozenset[int]:
        """The slots whose memory ``slot`` may share (an array is its own root; views add their bases')."""
        r = self.roots.get(slot)
        return frozenset((slot,)) if r is None else r

    def note_memory(self, call: Call) -> None:
        refs = call.refs()
        if call.name.startswith("random.") and self.first_draw is None:
            self.first_draw = len(self.calls)  # the barrier: checks must come before it
        if call.mutates is not None:
            hit = self.roots_of(call.mutates)
            if self.first_draw is None and not hit.isdisjoint(self.outside_roots()):
                self.first_draw = len(self.calls)  # an outside array changed: also a barrier
            if self.first_draw is not None:
                self.mutated_after_draw |= hit
        if call.name not in FRESH_KERNELS and refs:
            shared = frozenset().union(*(self.roots_of(r) for r in refs))
            for s in call.out_slots():
                self.roots[s] = shared | {s}

    def outside_roots(self) -> set[int]:
        """Slots of arrays that outlive the step: arguments, captured tensors' arrays, constants."""
        return set(self.inputs) | {s for _, s in self.captures} | {s for s, _ in self.constants}

    def read_back(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A value read into Python: recorded as a check while no array was changed in place yet."""
        self.depth += 1
        try:
            value = fn(*args, **kwargs)
        finally:
            self.depth -= 1
        if self.broken is not None:
            return value
        where = user_location(3)
        targs = self.template(args)
        tkw = {k: self.template(v) for k, v in kwargs.items()} if kwargs else {}
        check = Call(make_check(fn, value, where), "check", targs, tkw, None, None, where)
        if self.first_draw is None:
            self.calls.append(check)
        elif not self.hoist(check):
            self.graph_break(
                "a tensor's value was read into Python (.item(), .tolist(), bool()) that depends on a random draw "
                "or on a tensor the step changed in place that outlives it"
            )
            return value
        self.checks += 1
        return value

    def hoist(self, check: Call) -> bool:
        """Put ``check`` and the pure calls it depends on before the *barrier* (the step's first random
        draw or first change of an array that outlives it), so a replay whose check fails has drawn and
        changed nothing yet (the eager rerun then does what eager would); ``False`` where the check reads
        what the barrier or a later change makes."""
        producer: dict[int, int] = {}
        for i, c in enumerate(self.calls):
            for s in c.out_slots():
                producer[s] = i
        needed: set[int] = set()
        stack = list(check.refs())
        read: set[int] = set()
        while stack:
            s = stack.pop()
            read.add(s)
            made_by = producer.get(s)
            if made_by is None or made_by in needed:
                continue
            c = self.calls[made_by]
            if c.name not in _PURE_NAMES or c.mutates is not None:
                return False
            needed.add(made_by)
            stack.extend(c.refs())
        if any(not self.roots_of(s).isdisjoint(self.mutated_after_draw) for s in read):
            return False
        first = self.first_draw
        assert first is not None
        moved = [self.calls[i] for i in sorted(needed) if i >= first]
        rest = [c for i, c in enumerate(self.calls[first:], first) if i not in needed]
        self.calls[first:] = [*moved, check, *rest]
        self.first_draw = first + len(moved) + 1
        return True

    def touch(self, t: Tensor, data: Any) -> Touch:
        key = id(t)
        info = self.touched.get(key)
        if info is None:
            vc = t._vc
            parent = self.grad_parent.get(key)
            info = self.touched[key] = Touch(
                t,
                None if parent is None else self.touched[id(parent)].index,
                self.arg_pos.get(key),
                _GRAD.__get__(t) is not None,
                t._requires_grad,
                vc[0] if vc else 0,
                tuple(data.shape),
                data.dtype,
                len(self.touched),
                getattr(data, "strides", None),
            )
        return info

    def on_read(self, t: Tensor, data: Any) -> None:
        if self.slot(data) is not None or id(t) in self.temps:
            return
        info = self.touch(t, data)
        self.captures.append((info.index, self.new_slot(data)))

    def on_data_write(self, t: Tensor) -> None:
        """``t._data`` is about to be set: a tensor being made, or an outside tensor given a new array."""
        try:
            old = _DATA.__get__(t, type(t))
        except AttributeError:  # a tensor being made
            self.temps.add(id(t))
            return
        if id(t) not in self.temps:
            self.touch(t, old)
            self.data_writes[id(t)] = t

    def on_grad_write(self, t: Tensor) -> None:
        """``t._grad`` is about to be set: remembered for outside tensors (a replay sets it too)."""
        try:
            data = _DATA.__get__(t, type(t))
        except AttributeError:  # a tensor being made
            return
        if id(t) not in self.temps:
            self.touch(t, data)
            self.grad_writes[id(t)] = t

    def on_grad_read(self, t: Tensor, grad: Tensor | None) -> None:
        if id(t) in self.temps:
            return
        self.touch(t, _DATA.__get__(t))
        if grad is not None and id(grad) not in self.temps and id(grad) not in self.touched:
            self.grad_parent[id(grad)] = t

    # -- watching ------------------------------------------------------------------------
    def start_watching(self, backends: list[Any]) -> None:
        saved = self._saved
        for be in backends:
            for name in be.kernel_sources:
                fn = getattr(be, name)
                saved.kernels.append((be, name, fn))
                object.__setattr__(be, name, _kernel_wrapper(name, fn, be))
        rec = self
        for mod, attr in ((_gen, "uniform"), (_gen, "normal")):
            orig = getattr(mod, attr)
            saved.kernels.append((mod, attr, orig))
            setattr(mod, attr, _kernel_wrapper(f"random.{attr}", orig, None))
        orig_iop = _tensor_mod._apply_iop
        saved.kernels.append((_tensor_mod, "_apply_iop", orig_iop))

        def apply_iop(op: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
            if rec.depth or threading.get_ident() != rec.thread:
                return op(a, b)
            return rec.record(op, _IOPS.get(op, getattr(op, "__name__", "iop")), (a, b), {})

        _tensor_mod._apply_iop = apply_iop
        saved.members = {"_data": _DATA, "_grad": _GRAD}
        type.__setattr__(Tensor, "_data", _Tap(self, _DATA, self.on_read, self.on_data_write))
        type.__setattr__(Tensor, "_grad", _Tap(self, _GRAD, self.on_grad_read, self.on_grad_write))
        _compile_state.ACTIVE[0] = self

    def stop_watching(self) -> None:
        saved = self._saved
        if _compile_state.ACTIVE[0] is self:
            _compile_state.ACTIVE[0] = None
        for name, member in saved.members.items():
            type.__setattr__(Tensor, name, member)
        saved.members = {}
        for owner, name, fn in reversed(saved.kernels):
            if isinstance(owner, type(sys)):
                setattr(owner, name, fn)
            else:
                object.__setattr__(owner, name, fn)
        saved.kernels = []


_WRAPPERS: dict[tuple[int, str, int], Callable[..., Any]] = {}


def _kernel_wrapper(name: str, fn: Callable[..., Any], backend: Any) -> Callable[..., Any]:
    """The recording stand-in of kernel ``fn`` (made once per kernel, reused by every recording: it
    records into whichever recorder is active on the calling thread)."""
    key = (id(backend), name, id(fn))
    wrapper = _WRAPPERS.get(key)
    if wrapper is not None and wrapper.__wrapped__ is fn:  # type: ignore[attr-defined]
        return wrapper
    reason = _BREAK_KERNELS.get(name)
    active = _compile_state.ACTIVE
    get_ident = threading.get_ident

    def kernel(*args: Any, **kwargs: Any) -> Any:
        rec = active[0]
        if rec is None or rec.depth or get_ident() != rec.thread:
            return fn(*args, **kwargs)
        if backend is not None:
            rec.backends.add(backend)
        if reason is not None:
            rec.graph_break(reason)
            return fn(*args, **kwargs)
        if name == "tolist":
            return rec.read_back(fn, args, kwargs)
        if name == "getitem" and _has_mask(args[1] if len(args) > 1 else kwargs.get("key")):
            rec.graph_break("an op whose output shape depends on the values (indexing with a boolean mask)")
            return fn(*args, **kwargs)
        return rec.record(fn, name, args, kwargs)

    kernel.__wrapped__ = fn  # type: ignore[attr-defined]
    _WRAPPERS[key] = kernel
    return kernel


def _has_mask(key: Any) -> bool:
    keys = key if type(key) is tuple else (key,)
    return any(_is_array(k) and str(k.dtype) == "bool" for k in keys)


_DATA: Any = Tensor.__dict__["_data"]
_GRAD: Any = Tensor.__dict__["_grad"]


class _Tap:
    """A slot of ``Tensor`` (``_data``, ``_grad``) while recording: a read or write on the recording
    thread is shown to the recorder first (``on_get(tensor, value)``, ``on_set(tensor)``)."""

    __slots__ = ("rec", "member", "on_get", "on_set")

    def __init__(self, rec: Recorder, member: Any, on_get: Callable[..., None], on_set: Callable[..., None]) -> None:
        self.rec = rec
        self.member = member
        self.on_get = on_get
        self.on_set = on_set

    def __get__(self, obj: Any, typ: Any = None) -> Any:
        if obj is None:
            return self
        value = self.member.__get__(obj, typ)
        rec = self.rec
        if rec.broken is None and threading.get_ident() == rec.thread:
            self.on_get(obj, value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        rec = self.rec
        if rec.broken is None and threading.get_ident() == rec.thread:
            self.on_set(obj)
        self.member.__set__(obj, value)
