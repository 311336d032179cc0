"""The ``"cupy_fuse"`` compiler: runs of elementwise kernel calls become one ``cupy.fuse`` kernel each.

:func:`compile_program` takes a recorded :class:`~plugrad.compiler.Program` of the CuPy
backend, groups its elementwise calls (:func:`plan`), writes each group as one Python
function over CuPy's ufuncs (:func:`group_source`), decorated with ``cupy.fuse()`` so CuPy
compiles it into one CUDA kernel, and hands the program with each group replaced by one
call named ``"cupy.fused"`` to plugrad's default compiler
(:func:`plugrad._compile._replay.compile_program`), which writes the rest out as
straight-line Python. A program with nothing to fuse is declined (``None``: plugrad
replays it as it is).

Everything here takes the array module as a parameter (``xp``, and the ``fuse``
decorator), so the grouping and the generated code run on machines without a GPU with
NumPy standing in for CuPy (``xp=numpy`` and a plain decorator); see
:func:`make_compiler` and the package's tests.

**Which calls fuse.** A call is a *member candidate* when it is one of the backend's own
kernels (``call.fn`` is the kernel of the backend's plugin, not an override), its name is
in :data:`OPS` (an elementwise kernel with a counterpart in ``xp``), it writes nothing in
place, every array it reads and makes is float32, float64 or bool with a recorded shape
that broadcasts to its result's, NumPy's promotion of its operands (Python numbers weak)
gives its recorded dtype, and its constants are Python numbers (written as scalars of the
dtype the kernel computes in, as its eager call converts them) or arrays plugrad folded.

**Where a group runs.** Calls are scanned in order. A candidate joins the open group of
its result's shape (one open group per shape). A group *closes* -- and runs at that
point, as one call -- when a later call outside it reads one of its results, when it is
full (``max_group_size`` members), and before any call that is not a known pure kernel (an in-place write, a ``"check"``, a random
draw, any other callable: they may change what a member reads, even through a view).
Members move later only past pure calls that read none of their results, so every member
still reads the values it read when recorded.

**What a group returns.** A member's result leaves the fused function only when something
outside the group reads it or it is one of the program's outputs; the others stay inside
the kernel. A group of fewer than two members, or with nothing to return, runs its calls
unchanged.

**How close to eager.** The fused function calls the ufuncs the backend's kernels call,
with the same operands, so each element goes through the same operations; ``clip`` is
``minimum(maximum(x, lo), hi)`` as the backend's kernel computes it and ``sigmoid`` the
backend's two-branch formula (``1 / (1 + e)`` or ``e / (1 + e)`` with ``e = exp(-|x|)``).
The CUDA compiler may contract a multiply and an add of one kernel into one fused
multiply-add, so results agree with eager within a rounding, not always bit for bit.
Each fused call checks its first results' shapes and dtypes against the recording and
falls back to the unfused calls, with a warning, if they differ or the kernel cannot be
built (:class:`FusedCall`). With ``PLUGRAD_CHECK_KERNELS`` set every kernel is a checking
wrapper, not the backend's own function, so nothing fuses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from plugrad.compiler import ELEMENTWISE_KERNELS, Call, Program, Ref, Runner, substitute

__all__ = [
    "FUSED",
    "OPS",
    "FusedCall",
    "Group",
    "Member",
    "compile_program",
    "fuse_program",
    "group_source",
    "make_compiler",
    "plan",
]

#: the name of a fused group's call in a rewritten program
FUSED = "cupy.fused"

#: the most calls fused into one kernel by default
MAX_GROUP_SIZE = 256

_F32, _F64, _BOOL = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.bool_)
FLOAT_DTYPES = (_F32, _F64)
_ALLOWED = (_F32, _F64, _BOOL)
_DTYPE_SOURCE = {_F32: "xp.float32", _F64: "xp.float64", _BOOL: "xp.bool_"}


@dataclass(frozen=True)
class Op:
    """How one kernel is written in a fused function.

    :ivar kind: ``"math"`` (floats to the operands' float dtype), ``"compare"`` (to bool),
        ``"predicate"`` (a float to bool), ``"logic"`` (to bool), or one of the kernels
        written out by hand: ``"where"``, ``"clip"``, ``"astype"``, ``"sigmoid"``, ``"relu"``.
    :ivar names: the function's names in ``xp``, first found wins (CuPy 13 lacks some of the
        array API's names: ``asin`` is ``arcsin`` there).
    :ivar arity: how many positional operands a ufunc kind takes.
    """

    kind: str
    names: tuple[str, ...] = ()
    arity: int = 1


def _table() -> dict[str, Op]:
    ops: dict[str, Op] = {}
    # the names the backend's kernel table uses (kernels.py's _CUPY_NAMES), then NumPy's classic ones
    renamed = {
        "divide": ("true_divide", "divide"),
        "pow": ("power",),
        "abs": ("absolute",),
        "round": ("rint",),
        "asin": ("asin", "arcsin"),
        "acos": ("acos", "arccos"),
        "atan": ("atan", "arctan"),
        "asinh": ("asinh", "arcsinh"),
        "acosh": ("acosh", "arccosh"),
        "atanh": ("atanh", "arctanh"),
        "atan2": ("atan2", "arctan2"),
    }
    unary = (
        "negative", "abs", "sign", "exp", "expm1", "log", "log2", "log10", "log1p", "sqrt", "square",
        "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh",
        "floor", "ceil", "round", "trunc", "reciprocal",
    )  # fmt: skip
    binary = (
        "add", "subtract", "multiply", "divide", "pow", "floor_divide", "remainder", "maximum", "minimum",
        "atan2", "hypot", "copysign", "logaddexp",
    )  # fmt: skip
    for name in unary:
        ops[name] = Op("math", renamed.get(name, (name,)), 1)
    for name in binary:
        ops[name] = Op("math", renamed.get(name, (name,)), 2)
    for name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"):
        ops[name] = Op("compare", (name,), 2)
    for name in ("isnan", "isinf", "isfinite"):
        ops[name] = Op("predicate", (name,), 1)
    for name in ("logical_and", "logical_or", "logical_xor"):
        ops[name] = Op("logic", (name,), 2)
    ops["logical_not"] = Op("logic", ("logical_not",), 1)
    ops["where"] = Op("where", ("where",), 3)
    ops["clip"] = Op("clip", ("maximum", "minimum"), 3)
    ops["astype"] = Op("astype", (), 2)
    ops["sigmoid"] = Op("sigmoid", ("exp", "negative", "absolute", "where", "greater_equal", "true_divide", "add"))
    ops["relu"] = Op("relu", ("maximum",))
    return ops


#: kernel name -> how a fused function writes it; every name is in ``ELEMENTWISE_KERNELS``
#: (``erf`` and ``erfc`` are not: they are ``cupyx.scipy.special`` functions, not ``cupy``'s)
OPS: dict[str, Op] = _table()
assert set(OPS) <= ELEMENTWISE_KERNELS

#: the kinds whose every ``xp`` name must exist (the others need only their first one found)
_NEEDS_ALL = ("clip", "sigmoid", "relu")


@dataclass
class Member:
    """One call of a group: ``out = op(*operands)``; an operand is a :class:`Ref`, a Python
    number, an array constant (folded by plugrad), ``None`` (a missing clip bound) or the
    target dtype of ``astype``. ``compute`` is the dtype the kernel computes in: its
    Python numbers are written as scalars of that dtype."""

    call: Call
    op: Op
    fn: str
    operands: list[Any]
    out: int
    dtype: np.dtype[Any]
    compute: np.dtype[Any]


@dataclass
class Group:
    """Calls fused into one kernel over the broadcast shape ``shape``."""

    shape: tuple[int, ...]
    members: list[Member] = field(default_factory=list)
    produced: set[int] = field(default_factory=set)
    #: what the fused function takes, in order of first use: slots, or array constants
    inputs: list[Any] = field(default_factory=list)
    #: member results the fused function returns, in member order
    outputs: list[int] = field(default_factory=list)
    fused: bool = False


@dataclass
class Plan:
    """Calls split into kept calls and groups, in running order; ``groups`` are those fused."""

    items: list[Call | Group]
    groups: list[Group]


# ------------------------------------------------------------------------- candidates
_SCALARS = (bool, int, float)


def _is_const_array(value: Any, xp: Any) -> bool:
    return isinstance(value, xp.ndarray)


def _bind(op: Op, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any] | None:
    """The call's operands in the op's order, or ``None`` when they do not fit."""
    names: tuple[str, ...]
    if op.kind == "clip":
        names = ("x", "min", "max")
    elif op.kind == "astype":
        names = ("x", "dtype")
    else:
        return list(args) if not kwargs and len(args) == op.arity else None
    if len(args) > len(names) or any(k not in names[1:] or k in names[: len(args)] for k in kwargs):
        return None
    bound = dict(zip(names, args))
    bound.update(kwargs)
    if "x" not in bound or (op.kind == "astype" and "dtype" not in bound):
        return None
    return [bound.get(n) for n in names]


def _fn_name(op: Op, xp: Any) -> str | None:
    """The first of ``op.names`` that ``xp`` has (for the hand-written kinds: all must exist)."""
    if op.kind == "astype":
        return ""
    if op.kind in _NEEDS_ALL:
        return op.names[0] if all(getattr(xp, n, None) is not None for n in op.names) else None
    return next((n for n in op.names if getattr(xp, n, None) is not None), None)


def _member(call: Call, xp: Any, kernels: Mapping[str, Any], shapes: list[Any], dtypes: list[Any]) -> Member | None:
    """``call`` as a group member, or ``None`` when it cannot fuse (see the module's docs)."""
    name = call.name
    op = OPS.get(name)
    if op is None or call.mutates is not None or type(call.out) is not int:
        return None
    if kernels.get(name) is not call.fn:  # another plugin's override, or not a kernel at all
        return None
    fn = _fn_name(op, xp)
    if fn is None:
        return None
    operands = _bind(op, call.args, call.kwargs)
    if operands is None:
        return None
    out = call.out
    if out >= len(shapes) or shapes[out] is None or out >= len(dtypes):
        return None
    shape, dtype = tuple(shapes[out]), dtypes[out]
    if not isinstance(dtype, np.dtype) or dtype not in _ALLOWED or not dtype.isnative:
        return None
    values = operands[:1] if op.kind == "astype" else operands
    proxies: list[Any] = []  # what numpy.result_type takes: an array's dtype, a number as is
    array_dtypes: list[np.dtype[Any]] = []
    for v in values:
        if type(v) is Ref:
            s = v.index
            if s >= len(shapes) or shapes[s] is None or s >= len(dtypes):
                return None
            vshape, vdtype = tuple(shapes[s]), dtypes[s]
        elif _is_const_array(v, xp):
            vshape, vdtype = tuple(v.shape), v.dtype
        elif v is None and op.kind == "clip":
            continue
        elif type(v) in _SCALARS:
            if type(v) is int and not -(2**62) < v < 2**62:
                return None
            proxies.append(v)
            continue
        else:  # a NumPy scalar (a strong type in NumPy's promotion, a weak one in cupy.fuse), a string, ...
            return None
        if not isinstance(vdtype, np.dtype) or vdtype not in _ALLOWED or not vdtype.isnative:
            return None
        if not _broadcasts(vshape, shape):
            return None
        proxies.append(vdtype)
        array_dtypes.append(vdtype)
    if not array_dtypes:  # constants only: plugrad folds those
        return None
    try:
        promoted = np.result_type(*proxies)
    except (TypeError, ValueError, OverflowError):
        return None
    kind = op.kind
    if kind == "math":
        ok = dtype in FLOAT_DTYPES and promoted == dtype and all(d in FLOAT_DTYPES for d in array_dtypes)
    elif kind == "compare":
        ok = dtype == _BOOL and promoted in _ALLOWED
    elif kind == "predicate":
        ok = dtype == _BOOL and array_dtypes[0] in FLOAT_DTYPES
    elif kind == "logic":
        ok = dtype == _BOOL and promoted in _ALLOWED
    elif kind == "where":
        cond = operands[0]
        ok = (
            type(cond) is Ref
            and dtypes[cond.index] == _BOOL
            and dtype in FLOAT_DTYPES
            and np.result_type(*proxies[1:]) == dtype
            and all(d == dtype for d in array_dtypes[1:])
        )
    elif kind == "clip":
        lo, hi = operands[1], operands[2]
        ok = (
            (lo is not None or hi is not None)
            and dtype in FLOAT_DTYPES
            and promoted == dtype
            and all(d == dtype for d in array_dtypes)
        )
    elif kind == "astype":
        try:
            target = np.dtype(operands[1])
        except TypeError:
            return None
        ok = target == dtype and type(operands[0]) is Ref
        operands[1] = target
    else:  # sigmoid, relu
        ok = dtype in FLOAT_DTYPES and array_dtypes[0] == dtype
    if not ok:
        return None
    return Member(call, op, fn, operands, out, dtype, promoted if kind in ("compare", "logic") else dtype)


def _broadcasts(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    if len(shape) > len(to):
        return False
    offset = len(to) - len(shape)
    return all(n == 1 or n == to[offset + j] for j, n in enumerate(shape))


# ------------------------------------------------------------------------------ plan
def _pure_names() -> frozenset[str]:
    try:
        from plugrad._compile._replay import _PURE  # the default compiler's notion of a pure kernel
    except ImportError:  # an older or newer core: nothing is known pure, every call closes the groups
        return frozenset()
    return frozenset(_PURE)


def plan(
    program: Program,
    calls: list[Call],
    xp: Any,
    kernels: Mapping[str, Any] | None = None,
    *,
    min_group_size: int = 2,
    max_group_size: int = MAX_GROUP_SIZE,
) -> Plan:
    """Split ``calls`` (the program's live calls, in order) into kept calls and groups (module docs).

    :param kernels: the backend's own kernel table (default: that of ``program.backend``'s
        plugin); a call fuses only when its callable is the table's.
    :param min_group_size: the fewest calls worth one kernel.
    :param max_group_size: the most calls in one kernel (a full group closes: bounds the CUDA
        source, and so the compile time, of a deep chain).
    """
    if kernels is None:
        spec = getattr(program.backend, "spec", None)
        kernels = getattr(spec, "kernels", None) or {}
    pure = _pure_names()
    shapes: list[Any] = list(program.meta.get("shapes") or [])
    dtypes: list[Any] = list(program.meta.get("dtypes") or [])
    if len(shapes) < program.n_slots or len(dtypes) < program.n_slots:
        return Plan(list(calls), [])
    items: list[Call | Group] = []
    groups: list[Group] = []
    open_groups: dict[tuple[int, ...], Group] = {}
    producer: dict[int, Group] = {}

    def close(g: Group) -> None:
        del open_groups[g.shape]
        items.append(g)

    for call in calls:
        member = _member(call, xp, kernels, shapes, dtypes)
        if member is not None:
            shape = tuple(shapes[member.out])
            for s in call.refs():  # a group of another shape whose result this reads runs first
                g = producer.get(s)
                if g is not None and g.shape != shape and open_groups.get(g.shape) is g:
                    close(g)
            g = open_groups.get(shape)
            if g is not None and len(g.members) >= max_group_size:
                close(g)
                g = None
            if g is None:
                g = open_groups[shape] = Group(shape)
                groups.append(g)
            g.members.append(member)
            g.produced.add(member.out)
            producer[member.out] = g
            continue
        if call.mutates is not None or call.name not in pure:
            for g in list(open_groups.values()):  # nothing moves past an impure call
                close(g)
        else:
            for s in call.refs():
                g = producer.get(s)
                if g is not None and open_groups.get(g.shape) is g:
                    close(g)
        items.append(call)
    for g in list(open_groups.values()):
        close(g)
    _finish(program, items, groups, min_group_size)
    return Plan(items, [g for g in groups if g.fused])


def _finish(program: Program, items: list[Call | Group], groups: list[Group], min_group_size: int) -> None:
    """Each group's inputs and outputs, and whether it fuses."""
    outside: set[int] = set(program.outputs)
    for item in items:
        if isinstance(item, Group):
            for m in item.members:
                outside.update(s for s in m.call.refs() if s not in item.produced)
        else:
            outside.update(item.refs())
    for g in groups:
        seen: set[Any] = set()
        for m in g.members:
            for v in m.operands:
                if type(v) is Ref:
                    key: Any = v.index
                    if key in g.produced:
                        continue
                elif hasattr(v, "shape") and not isinstance(v, np.dtype):
                    key = ("const", id(v))
                else:
                    continue
                if key not in seen:
                    seen.add(key)
                    g.inputs.append(v.index if type(v) is Ref else v)
        g.outputs = [m.out for m in g.members if m.out in outside]
        g.fused = bool(g.outputs) and len(g.members) >= min_group_size


# ---------------------------------------------------------------------------- codegen
def _literal(value: Any, dtype: np.dtype[Any]) -> str:
    """A Python number as a scalar of ``dtype``, in source.

    The kernel's eager call converts a Python number to the dtype it computes in (NumPy's
    and CuPy's weak scalars); a typed scalar does the same in ``cupy.fuse`` whichever way a
    CuPy version promotes Python numbers inside a fused function (as weak scalars, or as
    float64 and int64 by their type)."""
    if type(value) is float:
        if math.isnan(value):
            text = "float('nan')"
        elif math.isinf(value):
            text = "float('inf')" if value > 0 else "-float('inf')"
        else:
            text = repr(value)
    else:
        text = repr(value)
    return f"{_DTYPE_SOURCE[dtype]}({text})"


def group_source(group: Group) -> str:
    """The source of ``fused(a0, a1, ...)``: every member of ``group`` as one ``xp`` call (or a
    few, for ``clip`` and ``sigmoid``), returning the results listed in ``group.outputs``.

    Names depend only on positions (inputs ``a0..``, members ``t0..``), so identical groups
    give identical source and share one fused function (and one compiled kernel)."""
    names: dict[Any, str] = {}
    for k, v in enumerate(group.inputs):
        names[v if type(v) is int else ("const", id(v))] = f"a{k}"

    def opnd(v: Any, dtype: np.dtype[Any]) -> str:
        if type(v) is Ref:
            return names[v.index]
        if type(v) in _SCALARS:
            return _literal(v, dtype)
        return names[("const", id(v))]

    lines = [f"def fused({', '.join(f'a{k}' for k in range(len(group.inputs)))}):"]
    for i, m in enumerate(group.members):
        t = f"t{i}"
        kind, xs, c = m.op.kind, m.operands, m.compute
        if kind in ("math", "compare", "predicate", "logic"):
            rhs = f"xp.{m.fn}({', '.join(opnd(v, c) for v in xs)})"
        elif kind == "where":
            rhs = f"xp.where({opnd(xs[0], _BOOL)}, {opnd(xs[1], c)}, {opnd(xs[2], c)})"
        elif kind == "clip":
            rhs = opnd(xs[0], c)
            if xs[1] is not None:
                rhs = f"xp.maximum({rhs}, {opnd(xs[1], c)})"
            if xs[2] is not None:
                rhs = f"xp.minimum({rhs}, {opnd(xs[2], c)})"
        elif kind == "astype":
            rhs = f"{opnd(xs[0], c)}.astype({_DTYPE_SOURCE[xs[1]]})"
        elif kind == "sigmoid":  # the backend's kernel: x >= 0 ? 1 / (1 + e) : e / (1 + e), e = exp(-|x|)
            x, zero, one = opnd(xs[0], c), _literal(0, c), _literal(1, c)
            lines.append(f"    e{i} = xp.exp(xp.negative(xp.absolute({x})))")
            lines.append(f"    d{i} = xp.add({one}, e{i})")
            rhs = f"xp.where(xp.greater_equal({x}, {zero}), xp.true_divide({one}, d{i}), xp.true_divide(e{i}, d{i}))"
        else:  # relu
            rhs = f"xp.maximum({opnd(xs[0], c)}, {_literal(0, c)})"
        lines.append(f"    {t} = {rhs}")
        names[m.out] = t
    results = [names[s] for s in group.outputs]
    lines.append(f"    return {results[0] if len(results) == 1 else '(' + ', '.join(results) + ')'}")
    return "\n".join(lines) + "\n"


def _build(source: str, xp: Any, fuse: Callable[[Callable[..., Any]], Any]) -> Any:
    namespace: dict[str, Any] = {"xp": xp}
    exec(compile(source, "<plugrad_cupy fused group>", "exec"), namespace)
    return fuse(namespace["fused"])


def _unfused(group: Group) -> Callable[..., Any]:
    """The group computed by its original kernel calls."""
    calls = [m.call for m in group.members]
    slots = [v if type(v) is int else None for v in group.inputs]  # array constants are in the calls' arguments
    outputs = list(group.outputs)

    def run(*arrays: Any) -> Any:
        env: Any = {s: a for s, a in zip(slots, arrays) if s is not None}  # substitute() only indexes it by slot
        for c in calls:
            env[c.out] = c.fn(*substitute(c.args, env), **{k: substitute(v, env) for k, v in c.kwargs.items()})
        return env[outputs[0]] if len(outputs) == 1 else tuple(env[s] for s in outputs)

    return run


class FusedCall:
    """A fused group's callable in a rewritten program: the fused kernel, checked on its first call.

    The first call compares what the kernel returns with the shapes and dtypes recorded for
    the group's results; when they differ, or when tracing or compiling the kernel raises
    (a CuPy version whose ``cupy.fuse`` lacks a function), it warns once
    (:class:`plugrad.compiler.CompileWarning`) and from then on runs the group's calls
    unfused, as eager does.
    """

    __slots__ = ("fn", "fused", "unfused", "expected", "where", "calls")

    def __init__(self, fused: Any, group: Group, shapes: list[Any], dtypes: list[Any], where: str) -> None:
        self.fused = fused
        self.unfused = _unfused(group)
        self.expected = [(tuple(shapes[s]), dtypes[s]) for s in group.outputs]
        self.where = where
        self.calls = len(group.members)
        self.fn: Callable[..., Any] = self._first

    def __call__(self, *arrays: Any) -> Any:
        return self.fn(*arrays)

    def _first(self, *arrays: Any) -> Any:
        try:
            out = self.fused(*arrays)
        except Exception as exc:
            return self._give_up(f"{type(exc).__name__}: {exc}", arrays)
        got = [
            (tuple(getattr(r, "shape", ())), getattr(r, "dtype", type(r)))
            for r in (out if isinstance(out, tuple) else (out,))
        ]
        if got != self.expected:
            return self._give_up(f"it returned {got}, not the recorded {self.expected}", arrays)
        self.fn = self.fused
        return out

    def _give_up(self, why: str, arrays: tuple[Any, ...]) -> Any:
        import warnings

        from plugrad.compiler import CompileWarning

        at = f" at {self.where}" if self.where else ""
        warnings.warn(
            CompileWarning(
                f"cupy_fuse: the fused kernel of {self.calls} calls{at} cannot run ({why}); running them unfused"
            ),
            stacklevel=2,
        )
        self.fn = self.unfused
        return self.unfused(*arrays)


def fuse_program(
    program: Program,
    xp: Any,
    fuse: Callable[[Callable[..., Any]], Any],
    *,
    kernels: Mapping[str, Any] | None = None,
    cache: dict[str, Any] | None = None,
    min_group_size: int = 2,
    max_group_size: int = MAX_GROUP_SIZE,
) -> tuple[Program, list[Group], list[str]]:
    """``program`` with each fused group replaced by one ``"cupy.fused"`` call.

    :param xp: the array module the fused functions call (``cupy``; NumPy in tests).
    :param fuse: the decorator making one kernel of a fused function (``cupy.fuse()``).
    :param kernels: the backend's own kernel table (default: ``program.backend``'s).
    :param cache: source -> decorated function, shared between programs (identical groups
        give identical source: one fused function, one compiled kernel).
    :returns: the rewritten program (same slots, inputs and outputs; plugrad's constant
        folding and view round trips already applied), the groups fused and their sources.
    """
    from plugrad._compile._replay import simplify

    calls = simplify(program)
    p = plan(program, calls, xp, kernels, min_group_size=min_group_size, max_group_size=max_group_size)
    new_calls: list[Call] = []
    sources: list[str] = []
    cache = {} if cache is None else cache
    for item in p.items:
        if isinstance(item, Call):
            new_calls.append(item)
            continue
        if not item.fused:
            new_calls.extend(m.call for m in item.members)
            continue
        source = group_source(item)
        sources.append(source)
        fn = cache.get(source)
        if fn is None:
            fn = cache[source] = _build(source, xp, fuse)
        where = next((m.call.where for m in item.members if m.call.where), "")
        args = tuple(Ref(v) if type(v) is int else v for v in item.inputs)
        out: int | tuple[int | None, ...] = item.outputs[0] if len(item.outputs) == 1 else tuple(item.outputs)
        guarded = FusedCall(fn, item, program.meta["shapes"], program.meta["dtypes"], where)
        new_calls.append(Call(guarded, FUSED, args, {}, out, None, where))
    rewritten = Program(
        program.backend, program.n_slots, list(program.inputs), new_calls, list(program.outputs), dict(program.meta)
    )
    return rewritten, p.groups, sources


def make_compiler(
    xp: Any,
    fuse: Callable[[Callable[..., Any]], Any],
    *,
    backend: str | None = "cupy",
    kernels: Mapping[str, Any] | None = None,
    min_group_size: int = 2,
    max_group_size: int = MAX_GROUP_SIZE,
) -> Callable[[Program], Runner | None]:
    """A ``compile(program)`` fusing over ``xp`` with ``fuse``, for programs of ``backend``
    (``None``: any). It declines (``None``) another backend's program and a program with
    nothing to fuse. The runner has the attribute ``__plugrad_cupy__``: a dict with the
    number of fused ``groups``, the ``fused_calls`` they replaced, the kernel ``names`` fused
    and each group's ``sources``."""
    cache: dict[str, Any] = {}

    def compile_fused(program: Program) -> Runner | None:
        if backend is not None and getattr(program.backend, "name", None) != backend:
            return None
        from plugrad._compile._replay import compile_program as replay

        rewritten, groups, sources = fuse_program(
            program,
            xp,
            fuse,
            kernels=kernels,
            cache=cache,
            min_group_size=min_group_size,
            max_group_size=max_group_size,
        )
        if not groups:
            return None
        run = replay(rewritten)
        run.__plugrad_cupy__ = {  # type: ignore[attr-defined]
            "groups": len(groups),
            "fused_calls": sum(len(g.members) for g in groups),
            "names": sorted({m.call.name for g in groups for m in g.members}),
            "sources": sources,
        }
        return run

    compile_fused.__name__ = compile_fused.__qualname__ = "cupy_fuse"
    return compile_fused


_compiler: list[Callable[[Program], Runner | None]] = []


def compile_program(program: Program) -> Runner | None:
    """The ``"cupy_fuse"`` compiler's ``compile``: a runner of a CuPy program with each group
    of elementwise calls one ``cupy.fuse`` kernel; ``None`` for another backend's program or
    one with nothing to fuse (plugrad's ``"replay"`` runs it then)."""
    if getattr(program.backend, "name", None) != "cupy":
        return None
    if not _compiler:
        import cupy

        def fuse(fn: Callable[..., Any]) -> Any:
            return cupy.fuse(kernel_name="plugrad_fused")(fn)

        _compiler.append(make_compiler(cupy, fuse, backend="cupy"))
    return _compiler[0](program)
