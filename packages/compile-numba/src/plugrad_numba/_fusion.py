"""Finding fusable groups of elementwise calls in a recorded program, and the loop source of each.

This module is pure Python over :class:`plugrad.compiler.Program` (NumPy for dtypes, no
numba): :func:`plan` splits a program into kept calls and :class:`Group` s, and
:func:`kernel_source` writes one group as the source of a numba function.

**Which calls fuse.** A call is a *member candidate* when it is one of the NumPy backend's
own elementwise kernels (``call.fn`` is ``plugrad_numpy.kernels.KERNELS[call.name]``, so a
kernel another plugin overrides is left alone), it is listed in :data:`._ops.OPS`, writes
nothing in place, and every array it reads or makes is float32, float64 or bool with a
recorded shape that broadcasts to its result's, whose dtype NumPy's promotion agrees with.

**Where a group runs.** Calls are scanned in order. A candidate joins the open group of
its result's shape (one open group per shape). A group *closes* -- and runs at that
point, as one call -- when a later call outside it reads one of its results, when it is
full (``max_group_size`` members), or before any call that is not a known pure kernel (an
in-place write, a random draw, any other callable: they may change what a member reads,
even through a view). Members move later only past pure calls that read none of their
results, so every member still reads the values it read when recorded.

**What a group returns.** A member's result is materialized (written to an array) only
when something outside the group reads it or it is one of the program's outputs; the
others live in locals of the loop (or, across a row kernel, in a scratch row of one block).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from plugrad.compiler import ELEMENTWISE_KERNELS, Call, Program, Ref

from ._ops import OPS, Op

__all__ = ["Config", "Group", "Member", "config", "plan", "kernel_source", "FLOAT_DTYPES"]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_BOOL = np.dtype(np.bool_)
_ALLOWED = (*FLOAT_DTYPES, _BOOL)
_DT_NAME = {np.dtype(np.float32): "np.float32", np.dtype(np.float64): "np.float64", _BOOL: "np.bool_"}
_SCALARS = (bool, int, float, np.bool_, np.integer, np.floating)


@dataclass
class Config:
    """Settings of the ``"numba"`` compiler (``plugrad_numba.config``).

    :ivar min_group_size: the fewest calls worth one fused loop.
    :ivar max_group_size: the most calls in one loop (bounds numba's compile time of a deep chain).
    :ivar cost_model: fuse a small-array group only when one numba call (about 0.1 µs per array
        argument and 0.3 µs per returned array) is cheaper than its NumPy calls (about 0.25 µs
        each); arrays of ``large`` elements or more always fuse. ``False``: fuse every group.
    :ivar large: see ``cost_model``.
    :ivar max_program_calls: the most calls fused in one program (in running order; the rest
        run as NumPy calls): numba's compile time grows faster than the loop's length (a
        200-op chain's 800 calls: 1-15 s; four loops of 1024 calls of a deep chain: 200 s),
        so a program of thousands of elementwise calls fuses its first 1024 only.
    """

    min_group_size: int = 2
    max_group_size: int = 1024
    cost_model: bool = True
    large: int = 4096
    max_program_calls: int = 1024


config = Config()


@dataclass
class Member:
    """One call of a group: ``out = op(*operands)`` (operands: :class:`Ref` or constants)."""

    call: Call
    op: Op
    operands: list[Any]
    out: int
    dtype: np.dtype[Any]
    compute: np.dtype[Any]


@dataclass
class Group:
    """Calls fused into one loop over the broadcast shape ``shape``."""

    shape: tuple[int, ...]
    members: list[Member] = field(default_factory=list)
    produced: set[int] = field(default_factory=set)
    #: slots read from outside, in order of first use
    inputs: list[int] = field(default_factory=list)
    #: member results that must be written to arrays, in member order
    outputs: list[int] = field(default_factory=list)
    fused: bool = False


@dataclass
class Plan:
    """A program split into kept calls and groups, in running order."""

    items: list[Call | Group]
    groups: list[Group]


def _pure_names() -> frozenset[str]:
    try:
        from plugrad._compile._replay import _PURE  # the default compiler's notion of a pure kernel
    except ImportError:  # an older or newer core: nothing is known pure, every call closes the groups
        return frozenset()
    return frozenset(_PURE)


def _numpy_kernels() -> dict[str, Any]:
    from plugrad_numpy.kernels import KERNELS

    return KERNELS


# ------------------------------------------------------------------------- candidates
def _bind(op: Op, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any] | None:
    """The call's operands in the op's order, or ``None`` when they do not fit."""
    if op.kind == "clip":
        bound = dict(zip(("x", "min", "max"), args))
        if len(args) > 3 or any(k not in ("min", "max") or k in bound for k in kwargs):
            return None
        bound.update(kwargs)
        if "x" not in bound:
            return None
        return [bound["x"], bound.get("min"), bound.get("max")]
    if op.kind == "astype":
        bound = dict(zip(("x", "dtype"), args))
        if len(args) > 2 or any(k != "dtype" or k in bound for k in kwargs):
            return None
        bound.update(kwargs)
        if "x" not in bound or "dtype" not in bound:
            return None
        return [bound["x"], bound["dtype"]]
    if kwargs or len(args) != op.arity:
        return None
    return list(args)


def _proxy(value: Any, meta_dtypes: list[Any]) -> Any:
    """What :func:`numpy.result_type` takes for an operand: an array's dtype, a constant as is."""
    return meta_dtypes[value.index] if type(value) is Ref else value


def _member(call: Call, kernels: dict[str, Any], shapes: list[Any], dtypes: list[Any]) -> Member | None:
    """``call`` as a group member, or ``None`` when it cannot fuse (see the module's docs)."""
    name = call.name
    op = OPS.get(name)
    if op is None or name not in ELEMENTWISE_KERNELS or call.mutates is not None or type(call.out) is not int:
        return None
    if kernels.get(name) is not call.fn:
        return None
    operands = _bind(op, name, call.args, call.kwargs)
    if operands is None:
        return None
    out = call.out
    if out >= len(shapes) or shapes[out] is None:
        return None
    shape = shapes[out]
    dtype = dtypes[out]
    if not isinstance(dtype, np.dtype) or dtype not in _ALLOWED or not dtype.isnative:
        return None
    array_dtypes: list[np.dtype[Any]] = []
    values = operands[:1] if op.kind == "astype" else operands
    for v in values:
        if type(v) is Ref:
            s = v.index
            if s >= len(shapes) or shapes[s] is None:
                return None
            dt = dtypes[s]
            if not isinstance(dt, np.dtype) or dt not in _ALLOWED or not dt.isnative:
                return None
            if not _broadcasts(shapes[s], shape):
                return None
            array_dtypes.append(dt)
        elif v is None and op.kind == "clip":
            continue
        elif not isinstance(v, _SCALARS) or (isinstance(v, (int, np.integer)) and not -(2**62) < int(v) < 2**62):
            return None
    proxies = [_proxy(v, dtypes) for v in values if v is not None]
    try:
        promoted = np.result_type(*proxies) if proxies else None
    except (TypeError, ValueError, OverflowError):
        return None
    kind = op.kind
    if kind == "math":
        if dtype not in FLOAT_DTYPES or promoted != dtype:
            return None
        compute = dtype
    elif kind == "compare":
        if dtype != _BOOL or promoted not in _ALLOWED:
            return None
        compute = promoted
    elif kind == "logic":
        if dtype != _BOOL:
            return None
        compute = _BOOL
    elif kind == "predicate":
        if dtype != _BOOL or not array_dtypes or array_dtypes[0] not in FLOAT_DTYPES:
            return None
        compute = array_dtypes[0]
    elif kind == "where":
        _cond, x1, x2 = operands
        try:
            if np.result_type(_proxy(x1, dtypes), _proxy(x2, dtypes)) != dtype:
                return None
        except (TypeError, ValueError, OverflowError):
            return None
        compute = dtype
    elif kind == "clip":
        x, lo, hi = operands
        try:
            step = _proxy(x, dtypes)
            for bound in (lo, hi):
                if bound is not None:
                    step = np.result_type(step, _proxy(bound, dtypes))
                    if step != dtype:
                        return None
            if np.result_type(step) != dtype:
                return None
        except (TypeError, ValueError, OverflowError):
            return None
        compute = dtype
    elif kind == "astype":
        try:
            target = np.dtype(operands[1])
        except TypeError:
            return None
        if target != dtype or type(operands[0]) is not Ref:
            return None
        compute = dtype
    else:  # pragma: no cover - the table lists no other kind
        return None
    return Member(call, op, operands, out, dtype, compute)


def _broadcasts(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    if len(shape) > len(to):
        return False
    offset = len(to) - len(shape)
    return all(n == 1 or n == to[offset + j] for j, n in enumerate(shape))


# ------------------------------------------------------------------------------ plan
def plan(program: Program, calls: list[Call], cfg: Config | None = None) -> Plan:
    """Split ``calls`` (the program's live calls, in order) into kept calls and groups (module docs)."""
    cfg = cfg or config
    kernels = _numpy_kernels()
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
        member = _member(call, kernels, shapes, dtypes)
        if member is not None:
            shape = shapes[member.out]
            for s in call.refs():
                g = producer.get(s)
                if g is not None and g.shape != shape and open_groups.get(g.shape) is g:
                    close(g)
            g = open_groups.get(shape)
            if g is not None and len(g.members) >= cfg.max_group_size:
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
            for g in list(open_groups.values()):
                close(g)
        else:
            for s in call.refs():
                g = producer.get(s)
                if g is not None and open_groups.get(g.shape) is g:
                    close(g)
        items.append(call)
    for g in list(open_groups.values()):
        close(g)
    _finish(program, items, groups, cfg)
    return Plan(items, [g for g in groups if g.fused])


def _finish(program: Program, items: list[Call | Group], groups: list[Group], cfg: Config) -> None:
    """Each group's inputs and outputs, and whether it is worth one loop."""
    outside: set[int] = set(program.outputs)
    for item in items:
        if isinstance(item, Group):
            for m in item.members:
                for s in m.call.refs():
                    if s not in item.produced:
                        outside.add(s)
        else:
            outside.update(item.refs())
    for g in groups:
        seen: set[int] = set()
        for m in g.members:
            for s in m.call.refs():
                if s not in g.produced and s not in seen:
                    seen.add(s)
                    g.inputs.append(s)
        g.outputs = [m.out for m in g.members if m.out in outside]
        g.fused = bool(g.outputs) and _worth(g, cfg)
    budget = cfg.max_program_calls
    for item in items:
        if isinstance(item, Group) and item.fused:
            item.fused = len(item.members) <= budget
            budget -= len(item.members) if item.fused else 0


def _worth(g: Group, cfg: Config) -> bool:
    n = len(g.members)
    if n < cfg.min_group_size:
        return False
    if not cfg.cost_model or math.prod(g.shape) >= cfg.large:
        return True
    unfused = 0.25 * n
    fused = 0.2 + 0.1 * len(g.inputs) + 0.3 * len(g.outputs)
    return fused < unfused


# ---------------------------------------------------------------------------- codegen
def _header() -> str:
    import hashlib
    from pathlib import Path

    vmath = Path(__file__).with_name("_vmath.py").read_bytes()
    # numba's cache of a kernel does not notice a change of the functions it calls: the
    # digest of _vmath.py makes such a change a new kernel source
    tag = hashlib.sha256(vmath).hexdigest()[:16]
    return f'''"""A fused elementwise loop generated by plugrad-compile-numba (cached by numba on disk)."""

import math

import numpy as np
from numba import njit

from plugrad_numba._vmath import exp_rows, log_rows, pow_rows, select, sigmoid_rows, tanh_rows  # _vmath.py {tag}

'''


HEADER = _header()


#: elements per block of a fused loop (the width of its scratch rows)
BLOCK = 256


def kernel_source(group: Group, shapes: list[Any], dtypes: list[Any], cfg: Config | None = None) -> str:
    """The source of ``kernel(a0, a1, ...)``, which computes the group, and of ``entry``,
    what the rewritten program calls.

    The loop runs over the group's shape, the last dimension longer than 1 in blocks of
    :data:`BLOCK` elements. Within a block, the members run in *runs*: a float32
    ``exp``/``log``/``tanh``/``sigmoid`` is a row kernel of :mod:`._vmath` (vectorized
    float64 arithmetic instead of a call to the C library per element), and the members
    between two of them are one loop over the block with their values in locals (LLVM
    vectorizes it). A value read by a later run lives in a row of a scratch array, reused
    once the value is dead. Results are stored as soon as they are computed.

    Small results (fewer than ``large`` elements, at least one dimension) of one dtype are
    rows of one buffer ``(k, *shape)`` that the replay unpacks (one array made by numba
    instead of ``k``: each costs about 0.3 µs to hand to Python, and numba compiles a
    function returning many arrays slowly); ``group.outputs`` is reordered to follow
    the rows. When the results have several dtypes, ``entry`` is a Python function
    that flattens the buffers; otherwise it is ``kernel`` itself.

    Names depend only on positions (inputs ``a0..``, locals ``t0..``, scratch ``s0..`` per
    dtype, results ``o0..``/``b0..``), so identical groups give identical source and share
    one compiled kernel (and one file of numba's cache)."""
    cfg = cfg or config
    shape = group.shape
    nd = len(shape)
    arg = {s: k for k, s in enumerate(group.inputs)}
    loops = [d for d in range(nd) if shape[d] != 1]
    vec = loops[-1] if loops else None
    stacked = nd >= 1 and math.prod(shape) < cfg.large and len(group.outputs) > 1
    classes: dict[np.dtype[Any], list[int]] = {}
    for s in group.outputs:
        classes.setdefault(dtypes[s], []).append(s)
    if stacked:
        group.outputs = [s for slots in classes.values() for s in slots]
    lines = ["@njit(cache=True, error_model='numpy', fastmath=False, nogil=True)"]
    lines.append(f"def kernel({', '.join(f'a{k}' for k in range(len(group.inputs)))}):")
    for d in loops:
        src = None
        for s in group.inputs:
            sh = shapes[s]
            j = d - (nd - len(sh))
            if j >= 0 and sh[j] == shape[d]:
                src = f"a{arg[s]}.shape[{j}]"
                break
        lines.append(f"    n{d} = {src if src is not None else shape[d]}")
    dims = [f"n{d}" if shape[d] != 1 else "1" for d in range(nd)]

    def index(sh: tuple[int, ...]) -> str:
        """The element of an array of shape ``sh`` (broadcast to the group's) at the loop's position."""
        if not sh:
            return "()"
        off = nd - len(sh)
        parts = []
        for j, n in enumerate(sh):
            d = off + j
            parts.append("0" if n == 1 else "st + j" if d == vec else f"i{d}")
        return ", ".join(parts)

    store: dict[int, str] = {}  # output slot -> its element
    results: list[str] = []
    if stacked:
        for c, (dt, slots) in enumerate(classes.items()):
            lines.append(f"    b{c} = np.empty(({len(slots)}, {', '.join(dims)}), {_DT_NAME[dt]})")
            results.append(f"b{c}")
            for r, s in enumerate(slots):
                store[s] = f"b{c}[{r}, {index(shape)}]"
    else:
        shape_expr = "()" if nd == 0 else f"({dims[0]},)" if nd == 1 else f"({', '.join(dims)})"
        for k, s in enumerate(group.outputs):
            lines.append(f"    o{k} = np.empty({shape_expr}, {_DT_NAME[dtypes[s]]})")
            results.append(f"o{k}")
            store[s] = f"o{k}[{index(shape)}]"
    # Runs: a float32 exp/log/tanh/sigmoid is a run of its own (a row kernel); the members
    # between them form runs of one element loop each, with their values in locals. A value
    # read by a later run (and every row kernel's value) lives in a scratch row, per dtype,
    # reused once the value is dead.
    runs: list[list[int]] = []
    for i, m in enumerate(group.members):
        if _row_kernel(m) or not runs or _row_kernel(group.members[runs[-1][0]]):
            runs.append([i])
        else:
            runs[-1].append(i)
    run_of = {group.members[i].out: r for r, run in enumerate(runs) for i in run}
    last_use: dict[int, int] = {}
    in_row: set[int] = set()
    for r, run in enumerate(runs):
        for i in run:
            m = group.members[i]
            if _row_kernel(m):
                in_row.add(m.out)
            for s in m.call.refs():
                if s in group.produced:
                    last_use[s] = i
                    if run_of[s] != r:
                        in_row.add(s)
    scratch: dict[np.dtype[Any], str] = {}
    free: dict[np.dtype[Any], list[int]] = {}
    size: dict[np.dtype[Any], int] = {}
    row_of: dict[int, int] = {}

    def take(slot: int) -> str:
        dt = dtypes[slot]
        if dt not in scratch:
            scratch[dt] = f"s{len(scratch)}"
            free[dt] = []
            size[dt] = 0
        if free[dt]:
            row = free[dt].pop()
        else:
            row = size[dt]
            size[dt] += 1
        row_of[slot] = row
        return f"{scratch[dt]}[{row}, j]"

    body: list[str] = []
    ternary = sum(m.op.kind == "where" for m in group.members) <= MAX_BRANCHES
    # one block of a known length (the recorded one) where the dimension fits in a block: the
    # loops then have a constant trip count, which LLVM vectorizes without a scalar remainder
    # loop (with a variable one, 16 elements all ran in the remainder loop, one at a time).
    # Row kernels get the length from the array's shape instead: with a constant one LLVM
    # inlines and unrolls them, and the tanh chain ran 2.5x slower.
    length = shape[vec] if vec is not None else 1
    short = vec is not None and length <= BLOCK
    rows_m = f"n{vec}" if short else "m"
    inputs = {s: f"a{k}[{index(shapes[s])}]" for k, s in enumerate(group.inputs)}
    ind = "    " * (len(loops) + 1 if vec is not None else 1)
    for run in runs:
        first = group.members[run[0]]
        if _row_kernel(first):
            m, i = first, run[0]
            x = m.operands[0]
            value = _operand(x, m.compute, _names(inputs, row_of, scratch, dtypes), dtypes)
            src_row: int | None = None
            if type(x) is Ref and x.index in row_of and dtypes[x.index] == m.compute:
                src_row = row_of[x.index]  # a row of the float32 scratch already
            _free_dead(m, i, group, last_use, row_of, free, dtypes)
            cell = take(m.out)
            dst_row = row_of[m.out]
            if src_row is None:
                body += [f"{ind}for j in range(m):", f"{ind}    {cell} = {value}"]
                src_row = dst_row
            if m.call.name == "pow":  # the exponent: NumPy's float32 of the constant, as float64
                exponent = repr(float(np.float32(m.operands[1])))
                body.append(f"{ind}pow_rows({scratch[m.compute]}, {src_row}, {dst_row}, {rows_m}, {exponent})")
            else:
                body.append(f"{ind}{m.op.float32}({scratch[m.compute]}, {src_row}, {dst_row}, {rows_m})")
            if m.out in store:
                body += [f"{ind}for j in range(m):", f"{ind}    {store[m.out]} = {cell}"]
            if m.out not in last_use:
                free[dtypes[m.out]].append(row_of[m.out])
            continue
        body.append(f"{ind}for j in range(m):")
        local: dict[int, str] = {}
        for i in run:
            m = group.members[i]
            names = {**_names(inputs, row_of, scratch, dtypes), **local}
            body.append(f"{ind}    t{i} = {_expr(m, names, dtypes, ternary)}")
            local[m.out] = f"t{i}"
            _free_dead(m, i, group, last_use, row_of, free, dtypes)
            if m.out in in_row:
                body.append(f"{ind}    {take(m.out)} = t{i}")
            if m.out in store:
                body.append(f"{ind}    {store[m.out]} = t{i}")
    width = str(length) if short else f"min({BLOCK}, n{vec})" if vec is not None else "1"
    for dt, name in scratch.items():
        lines.append(f"    {name} = np.empty(({size[dt]}, {width}), {_DT_NAME[dt]})")
    indent = "    "
    for d in loops[:-1]:
        lines.append(f"{indent}for i{d} in range(n{d}):")
        indent += "    "
    if short:
        lines.append(f"{indent}for st in range(0, 1):")
        lines.append(f"{indent}    m = {length}")
    elif vec is not None:
        lines.append(f"{indent}for st in range(0, n{vec}, {BLOCK}):")
        lines.append(f"{indent}    m = min({BLOCK}, n{vec} - st)")
    else:
        lines.append(f"{indent}m = 1")
        lines.append(f"{indent}st = 0")
    lines += body
    lines.append(f"    return {', '.join(results)}")
    if stacked and len(results) > 1:
        lines += ["", "", "def entry(*arrays):", f"    {', '.join(results)} = kernel(*arrays)"]
        lines.append(f"    return ({', '.join('*' + r for r in results)})")
    else:
        lines += ["", "", "entry = kernel"]
    return HEADER + "\n".join(lines) + "\n"


def _row_kernel(m: Member) -> bool:
    """Whether ``m`` runs as a row kernel of :mod:`._vmath`: a float32 exp, log, tanh, sigmoid,
    or power with a constant exponent that is not a whole number (nor 0.5)."""
    if m.op.kind != "math" or m.compute != FLOAT_DTYPES[0]:
        return False
    if m.call.name == "pow":
        y = m.operands[1]
        # not 0.5: NumPy's float32 power takes the square root there (NaN at -inf, C's pow gives inf)
        return (
            type(m.operands[0]) is Ref
            and type(y) is not Ref
            and math.isfinite(float(y))
            and float(y) != int(float(y))
            and float(y) != 0.5
        )
    return bool(m.op.float32)


def _names(
    inputs: dict[int, str], row_of: dict[int, int], scratch: dict[Any, str], dtypes: list[Any]
) -> dict[int, str]:
    """Slot -> the expression of its element: an input's, or a scratch row's."""
    names = dict(inputs)
    for s, row in row_of.items():
        names[s] = f"{scratch[dtypes[s]]}[{row}, j]"
    return names


def _free_dead(
    m: Member,
    i: int,
    group: Group,
    last_use: dict[int, int],
    row_of: dict[int, int],
    free: dict[Any, list[int]],
    dtypes: list[Any],
) -> None:
    """Give back the rows of values member ``i`` reads for the last time."""
    for s in dict.fromkeys(m.call.refs()):
        if s in group.produced and last_use.get(s) == i and s in row_of:
            free[dtypes[s]].append(row_of.pop(s))


def _literal(value: Any, dtype: np.dtype[Any]) -> str:
    """``value`` converted to ``dtype`` by NumPy, as exact source."""
    if dtype == _BOOL:
        return "True" if bool(value) else "False"
    with np.errstate(all="ignore"):
        v = float(dtype.type(value))
    if math.isnan(v):
        text = "np.nan"
    elif math.isinf(v):
        text = "np.inf" if v > 0 else "-np.inf"
    else:
        text = repr(v)
    return f"{_DT_NAME[dtype]}({text})"


def _cast(name: str, src: np.dtype[Any], to: np.dtype[Any]) -> str:
    if src == to:
        return name
    if to == _BOOL:
        return f"({name} != 0)"
    return f"{_DT_NAME[to]}({name})"


def _operand(value: Any, to: np.dtype[Any], names: dict[int, str], dtypes: list[Any]) -> str:
    if type(value) is Ref:
        return _cast(names[value.index], dtypes[value.index], to)
    return _literal(value, to)


#: groups with more ``where`` members than this call ``_vmath.select`` instead of writing ``x if c
#: else y``: numba's front end takes time superlinear in the branches (40 s for 400), while LLVM
#: stops inlining the calls in a long loop (about 2x slower to run)
MAX_BRANCHES = 64


def _expr(m: Member, names: dict[int, str], dtypes: list[Any], ternary: bool = True) -> str:
    """The right-hand side computing member ``m`` (cast to its recorded dtype)."""
    op, kind, d = m.op, m.op.kind, m.dtype

    def opnd(v: Any, to: np.dtype[Any]) -> str:
        return _operand(v, to, names, dtypes)

    if kind == "math":
        xs = [opnd(v, m.compute) for v in m.operands]
        body = op.formula.format(x=xs[0], y=xs[1] if len(xs) > 1 else "", one=_literal(1, m.compute))
    elif kind in ("compare", "logic", "predicate"):
        xs = [opnd(v, m.compute) for v in m.operands]
        return op.formula.format(x=xs[0], y=xs[1] if len(xs) > 1 else "")
    elif kind == "where":
        cond, x1, x2 = m.operands
        c, a, b = opnd(cond, _BOOL), opnd(x1, d), opnd(x2, d)
        body = f"({a} if {c} else {b})" if ternary else f"select({c}, {a}, {b})"
    elif kind == "clip":
        x, lo, hi = m.operands
        body = opnd(x, d)
        if lo is not None:
            body = _MAXF.format(x=body, y=opnd(lo, d))
        if hi is not None:
            body = _MINF.format(x=body, y=opnd(hi, d))
    else:  # astype
        return _cast(names[m.operands[0].index], dtypes[m.operands[0].index], d)
    return body if d == _BOOL else f"{_DT_NAME[d]}({body})"


_MAXF = OPS["maximum"].formula
_MINF = OPS["minimum"].formula
