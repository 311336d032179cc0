"""The recorded program: what ``plugrad.compile`` hands to a compiler plugin.

A :class:`Program` is straight-line code over *slots*. Before it runs, the caller puts
backend arrays into the slots listed in :attr:`Program.inputs` (the arrays of the
compiled function's tensor arguments, of the tensors it read from outside -- parameters,
gradients, optimizer state -- and of arrays it used as constants). Each :class:`Call` then
calls one backend kernel (or another recorded callable, such as a random draw) with its
arguments, where every :class:`Ref` in ``args``/``kwargs`` stands for the array in that
slot, and puts the result into the slot(s) named by ``out``. After the last call, the
slots in :attr:`Program.outputs` must hold their values; every other slot is scratch.

A call named ``"check"`` reads a value back (``tolist``) and raises :class:`Deopt` when it
differs from the value recorded (Python code branched on it); checks come before any call
that changes an array in place, so a compiler must keep them before those calls.

Some calls change an array in place (``copy_into``, ``setitem``, ``index_add``, the
in-place operators): :attr:`Call.mutates` names the slot they write. Whoever reorders or
fuses calls must keep those writes, and every read of that slot, in order.

A compiler plugin (see :func:`plugrad.backends.hookspecs.plugrad_compilers`) receives a
:class:`Program` and returns a *runner*: ``runner(env: list) -> None``, where ``env`` is a
list of length :attr:`Program.n_slots` with the input slots filled; the runner must fill
the output slots. :func:`interpret` is the reference runner: a compiler is correct when
its runner leaves the output slots (and every array changed in place) as ``interpret``
does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CompilerSpec",
    "Deopt",
    "Ref",
    "Call",
    "Program",
    "Runner",
    "interpret",
    "substitute",
    "ELEMENTWISE_KERNELS",
    "FRESH_KERNELS",
    "MUTATING_KERNELS",
]


class Deopt(Exception):
    """Raised by a ``"check"`` call when a value read into Python while recording is different now:
    the replay stops (no outside tensor has been changed yet) and the call runs eagerly."""


def make_check(fn: Callable[..., Any], expected: Any, where: str) -> Callable[..., None]:
    """A callable that calls ``fn`` (a read-back kernel such as ``tolist``) and raises
    :class:`Deopt` unless the value equals ``expected`` (NaN equal to NaN)."""

    def check(*args: Any, **kwargs: Any) -> None:
        value = fn(*args, **kwargs)
        if value != expected and not (value != value and expected != expected):
            raise Deopt(f"the value read at {where} changed: {expected!r} when recorded, {value!r} now")

    check.__qualname__ = check.__name__ = f"check_{getattr(fn, '__name__', 'value')}"
    check.__wrapped__ = fn  # type: ignore[attr-defined]
    check.expected = expected  # type: ignore[attr-defined]
    return check


@dataclass(frozen=True, slots=True)
class Ref:
    """The array in slot ``index`` of the program's environment."""

    index: int

    def __repr__(self) -> str:
        return f"%{self.index}"


#: Kernels that write into their first argument instead of returning a new array.
MUTATING_KERNELS: frozenset[str] = frozenset(
    {"copy_into", "setitem", "index_add", "iadd", "isub", "imul", "itruediv", "random_seed"}
)

#: Kernels that map arrays to an array of their broadcast shape element by element
#: (the array API's elementwise functions plus ``where``, ``clip`` and ``astype``);
#: what a fusion compiler may merge into one loop.
ELEMENTWISE_KERNELS: frozenset[str] = frozenset(
    {
        "add", "subtract", "multiply", "divide", "pow", "floor_divide", "remainder", "maximum", "minimum",
        "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
        "logical_and", "logical_or", "logical_xor", "logical_not",
        "negative", "abs", "sign", "exp", "expm1", "log", "log2", "log10", "log1p", "sqrt", "square",
        "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh",
        "atan2", "floor", "ceil", "round", "trunc", "isnan", "isinf", "isfinite", "where", "clip", "astype",
        "sigmoid", "relu", "reciprocal", "hypot", "copysign", "logaddexp", "erf", "erfc",
    }
)  # fmt: skip


#: Kernels whose result is a new array, never a view of an argument.
FRESH_KERNELS: frozenset[str] = (ELEMENTWISE_KERNELS - {"astype"}) | {
    "matmul", "sum", "mean", "prod", "max", "min", "copy", "concat", "stack", "cumulative_sum", "tensordot", "vecdot",
    "zeros", "ones", "full", "empty", "arange", "linspace", "asarray", "argmax", "argmin", "all", "any",
}  # fmt: skip


@dataclass(slots=True)
class Call:
    """One recorded call: ``out = fn(*args, **kwargs)`` with each :class:`Ref` replaced by its slot's array.

    :ivar fn: the callable that ran when the program was recorded (a backend kernel, a
        random draw of a :class:`plugrad.Generator`, an in-place operator).
    :ivar name: the kernel's name in the backend contract (``"add"``, ``"tanh"``,
        ``"copy_into"``), or a dotted name for other callables (``"random.uniform"``).
    :ivar args: positional arguments; a :class:`Ref` (also inside tuples and lists) is an
        array, anything else a constant.
    :ivar kwargs: keyword arguments, likewise.
    :ivar out: the slot the result goes to; a tuple of slots (``None`` for an element that is not an
        array) when the kernel returns a tuple; ``None`` when the result is not used (in-place kernels).
    :ivar mutates: the slot this call writes in place, or ``None``.
    :ivar where: ``"file:line"`` of the user's code that led to the call.
    """

    fn: Callable[..., Any]
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    out: int | tuple[int | None, ...] | None
    mutates: int | None = None
    where: str = ""
    _refs: tuple[int, ...] | None = field(default=None, compare=False, repr=False)

    def refs(self) -> tuple[int, ...]:
        """The slots this call reads, in argument order (repeats kept). Computed once: a call is
        not changed after it is made (rewrites make new calls)."""
        cached = self._refs
        if cached is None:
            found: list[int] = []
            _collect(self.args, found)
            if self.kwargs:
                _collect(tuple(self.kwargs.values()), found)
            cached = self._refs = tuple(found)
        return cached

    def out_slots(self) -> tuple[int, ...]:
        """The slots this call writes a fresh result to."""
        if self.out is None:
            return ()
        if isinstance(self.out, int):
            return (self.out,)
        return tuple(s for s in self.out if s is not None)

    def signature(self) -> tuple[Any, ...]:
        """What makes two recordings of this call the same: callable, arguments, slots."""
        fn: Any = self.fn
        if self.name == "check":  # a fresh closure per recording: the kernel and the value are what count
            fn = (fn.__wrapped__, _freeze(fn.expected))
        return (fn, self.name, _freeze(self.args), _freeze(tuple(sorted(self.kwargs.items()))), self.out, self.mutates)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        lhs = "" if self.out is None else (f"%{self.out} = " if isinstance(self.out, int) else f"{self.out} = ")
        return f"{lhs}{self.name}({', '.join(parts)})"


def _collect(values: Sequence[Any], found: list[int]) -> None:
    for v in values:
        t = type(v)
        if t is Ref:
            found.append(v.index)
        elif t is tuple or t is list:
            _collect(v, found)


def _freeze(value: Any) -> Any:
    """A hashable, comparable stand-in for a recorded argument (lists become tuples, arrays and other
    unhashable constants compare by identity; ``1``, ``1.0`` and ``True`` stay apart)."""
    t = type(value)
    if t is Ref:
        return value
    if value is None or t in (bool, int, float, str, bytes, complex):
        return (t, value)
    if t in (tuple, list):
        return (t, tuple([v if type(v) is Ref else _freeze(v) for v in value]))
    if t is slice:
        return (t, _freeze(value.start), _freeze(value.stop), _freeze(value.step))
    try:
        hash(value)
    except TypeError:
        return (t, id(value))
    return (t, value)


Runner = Callable[[list[Any]], None]


@dataclass(slots=True)
class Program:
    """A recorded step: calls over slots, for one backend.

    :ivar backend: the backend whose kernels the calls are (``Backend`` record).
    :ivar n_slots: how many slots the environment has.
    :ivar inputs: the slots filled before the run.
    :ivar calls: the calls, in order.
    :ivar outputs: the slots read after the run (the step's results, arrays that Python
        objects keep, values the backward pass of a compiled function reads).
    :ivar meta: free-form notes a compiler may read (shapes and dtypes of slots as recorded:
        ``meta["shapes"][slot]``, ``meta["dtypes"][slot]`` hold the backend's own shape tuple
        and native dtype for every array slot).
    """

    backend: Any
    n_slots: int
    inputs: list[int]
    calls: list[Call]
    outputs: list[int]
    meta: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        lines = [
            f"Program(backend={getattr(self.backend, 'name', self.backend)!r}, inputs={self.inputs}, outputs={self.outputs})"
        ]
        lines += [f"  {c!r}" for c in self.calls]
        return "\n".join(lines)


def substitute(value: Any, env: list[Any]) -> Any:
    """``value`` with every :class:`Ref` (also inside tuples and lists) replaced by its slot's array."""
    t = type(value)
    if t is Ref:
        return env[value.index]
    if t is tuple:
        return tuple(substitute(v, env) for v in value)
    if t is list:
        return [substitute(v, env) for v in value]
    return value


def interpret(program: Program) -> Runner:
    """The reference runner: run each call in turn (no code generation, no reuse)."""
    calls = program.calls

    def run(env: list[Any]) -> None:
        for c in calls:
            result = c.fn(*substitute(c.args, env), **{k: substitute(v, env) for k, v in c.kwargs.items()})
            out = c.out
            if out is None:
                continue
            if isinstance(out, int):
                env[out] = result
            else:
                for slot, value in zip(out, result):
                    if slot is not None:
                        env[slot] = value

    return run


@dataclass(frozen=True)
class CompilerSpec:
    """A compiler plugin's record (returned from the ``plugrad_compilers`` hook).

    :ivar name: what ``plugrad.compile(backend=NAME)`` takes (an identifier).
    :ivar compile: ``compile(program) -> runner | None``: ``runner(env)`` fills the program's
        output slots from its input slots (see :class:`Program`); ``None`` declines the
        program (plugrad's ``"replay"`` runs it instead).
    :ivar backends: the plugrad backends whose programs it handles (empty: any).
    :ivar version: the version of the library under it.
    :ivar description: one line for ``python -m plugrad info``.
    :ivar unavailable_reason: why it cannot run here, or ``None``.
    """

    name: str
    compile: Callable[[Program], Runner | None] | None = None
    backends: tuple[str, ...] = ()
    version: str = ""
    description: str = ""
    unavailable_reason: str | None = None
