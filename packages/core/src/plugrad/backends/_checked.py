"""Kernel contract checks at the backend boundary (the debug switch ``PLUGRAD_CHECK_KERNELS=1``).

With the switch set when a backend is registered, every kernel of its frozen table is
wrapped: the wrapper works out from the arguments what the contract (:data:`~._spec.KERNELS`)
says the result must be -- its shape and its dtype -- calls the kernel, and raises
:class:`~._registry.BackendError` naming the backend, the kernel and the plugin that
supplied it when the result disagrees (a wrong shape, a wrong dtype, a Python scalar
instead of a 0-d array, bytes of the wrong length, an in-place kernel that changed its
target's shape). Without the switch the table holds the plugin's own functions and
nothing here runs: the per-operation hot path is untouched.

The checks are partial where the contract leaves freedom (the result shape of
``getitem`` with advanced keys, the length of ``arange`` with float steps), and never
reject a result the contract allows. A kernel that raises is left to raise.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._spec import KERNEL_KINDS

__all__ = ["ENV", "enabled", "wrap_kernels"]

#: The environment variable that turns the checks on (anything but empty or ``0``).
ENV = "PLUGRAD_CHECK_KERNELS"

Shape = tuple[int, ...]
#: What a rule returns: the expected shape (``None``: not checked) and dtype (a native
#: dtype; ``SAME``: the dtype of the first array argument; ``None``: not checked).
Expect = tuple[Shape | None, Any]
SAME = object()


def enabled() -> bool:
    """Whether ``PLUGRAD_CHECK_KERNELS`` asks for checked kernels."""
    return os.environ.get(ENV, "").strip() not in ("", "0")


# ---------------------------------------------------------------------------- shapes
def _shape(x: Any) -> Shape:
    """The shape of an array argument; ``()`` for a Python scalar or ``None``."""
    s = getattr(x, "shape", None)
    return tuple(s) if s is not None else ()


def _broadcast(*shapes: Shape) -> Shape | None:
    nd = max((len(s) for s in shapes), default=0)
    out = [1] * nd
    for s in shapes:
        for i, v in enumerate(s):
            j = nd - len(s) + i
            if out[j] == 1:
                out[j] = v
            elif v != 1 and v != out[j]:
                return None  # the kernel will have to refuse these; nothing to compare against
    return tuple(out)


def _axes(axis: Any, ndim: int) -> set[int]:
    if axis is None:
        return set(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return {a % ndim for a in axis} if ndim else set()


def _reduced(shape: Shape, axis: Any, keepdims: bool) -> Shape:
    ax = _axes(axis, len(shape))
    if keepdims:
        return tuple(1 if i in ax else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in ax)


def _matmul(a: Shape, b: Shape) -> Shape | None:
    if not a or not b:
        return None
    if len(a) == 1 and len(b) == 1:
        return () if a == b else None
    if len(a) == 1:
        return b[:-2] + b[-1:] if a[0] == b[-2] else None
    if len(b) == 1:
        return a[:-1] if a[-1] == b[0] else None
    if a[-1] != b[-2]:
        return None
    batch = _broadcast(a[:-2], b[:-2])
    return None if batch is None else batch + (a[-2], b[-1])


def _dtype_of(*xs: Any) -> Any:
    for x in xs:
        dt = getattr(x, "dtype", None)
        if dt is not None and hasattr(x, "shape"):
            return dt
    return None


# ---------------------------------------------------------------------------- rules
def _rules(native: Mapping[str, Any]) -> dict[str, Callable[..., Expect]]:
    """One rule per kernel: the arguments -> (expected shape, expected dtype)."""
    b = native.get("bool")
    i64 = native.get("int64")
    floats = {native[n] for n in ("float16", "bfloat16", "float32", "float64") if n in native}

    def acc(dt: Any) -> Any:  # sum/prod: floats keep their dtype, integers and bools give int64
        return dt if dt in floats else i64

    def unary(x: Any) -> Expect:
        return _shape(x), SAME

    def predicate(x: Any) -> Expect:
        return _shape(x), b

    def binary(x1: Any, x2: Any) -> Expect:
        return _broadcast(_shape(x1), _shape(x2)), _dtype_of(x1, x2)

    def compare(x1: Any, x2: Any) -> Expect:
        return _broadcast(_shape(x1), _shape(x2)), b

    def reduce_same(x: Any, axis: Any = None, keepdims: bool = False) -> Expect:
        return _reduced(_shape(x), axis, keepdims), SAME

    def reduce_acc(x: Any, axis: Any = None, keepdims: bool = False) -> Expect:
        return _reduced(_shape(x), axis, keepdims), acc(x.dtype)

    def reduce_bool(x: Any, axis: Any = None, keepdims: bool = False) -> Expect:
        return _reduced(_shape(x), axis, keepdims), b

    def reduce_arg(x: Any, axis: Any = None, keepdims: bool = False) -> Expect:
        return _reduced(_shape(x), axis, keepdims), i64

    def cumulative(x: Any, axis: int) -> Expect:
        return _shape(x), (x.dtype if x.dtype in floats else None)

    def created(shape: Any, *rest: Any) -> Expect:
        return tuple(shape) if isinstance(shape, (tuple, list)) else (shape,), rest[-1]

    def arange(start: Any, stop: Any, step: Any, dtype: Any) -> Expect:
        if all(isinstance(v, int) for v in (start, stop, step)):
            return (max(0, -(-(stop - start) // step)),), dtype
        return None, dtype

    def linspace(start: Any, stop: Any, num: int, dtype: Any) -> Expect:
        return (num,), dtype

    def where(c: Any, x1: Any, x2: Any) -> Expect:
        return _broadcast(_shape(c), _shape(x1), _shape(x2)), _dtype_of(x1, x2)

    def clip(x: Any, min: Any = None, max: Any = None) -> Expect:
        return _broadcast(_shape(x), _shape(min), _shape(max)), SAME

    def matmul(x1: Any, x2: Any) -> Expect:
        return _matmul(_shape(x1), _shape(x2)), SAME

    def reshape(x: Any, shape: Any, copy: Any = None) -> Expect:
        shape = tuple(shape)
        if -1 in shape:  # the standard lets one size be inferred
            known = math.prod(s for s in shape if s != -1)
            shape = tuple(math.prod(_shape(x)) // known if s == -1 else s for s in shape) if known else None
        return shape, SAME

    def permute_dims(x: Any, axes: Any) -> Expect:
        s = _shape(x)
        return tuple(s[a] for a in axes), SAME

    def broadcast_to(x: Any, shape: Any) -> Expect:
        return tuple(shape), SAME

    def concat(arrays: Sequence[Any], axis: int = 0) -> Expect:
        shapes = [_shape(a) for a in arrays]
        nd = len(shapes[0])
        ax = axis % nd
        out = list(shapes[0])
        out[ax] = sum(s[ax] for s in shapes)
        return tuple(out), _dtype_of(*arrays)

    def stack(arrays: Sequence[Any], axis: int = 0) -> Expect:
        s = _shape(arrays[0])
        ax = axis % (len(s) + 1)
        return s[:ax] + (len(arrays),) + s[ax:], _dtype_of(*arrays)

    def same_shape(x: Any, *rest: Any, **kw: Any) -> Expect:
        return _shape(x), SAME

    def tile(x: Any, reps: Sequence[int]) -> Expect:
        s = _shape(x)
        n = max(len(s), len(reps))
        s = (1,) * (n - len(s)) + s
        r = (1,) * (n - len(reps)) + tuple(reps)
        return tuple(a * k for a, k in zip(s, r)), SAME

    def astype(x: Any, dtype: Any) -> Expect:
        return _shape(x), dtype

    def getitem(x: Any, key: Any) -> Expect:
        return None, SAME

    def take_along_axis(x: Any, indices: Any, axis: int) -> Expect:
        s, i = _shape(x), _shape(indices)
        ax = axis % len(s)
        rest = _broadcast(s[:ax] + (1,) + s[ax + 1 :], i[:ax] + (1,) + i[ax + 1 :])
        return (None if rest is None else rest[:ax] + (i[ax],) + rest[ax + 1 :]), SAME

    def from_bytes(buf: Any, dtype: Any, shape: Any) -> Expect:
        return tuple(shape), dtype

    def asarray(obj: Any, dtype: Any) -> Expect:
        return (_shape(obj) if hasattr(obj, "shape") else None), dtype

    # one rule per kind of kernel (the kinds come from the catalogue, _spec.KERNEL_KINDS) ...
    by_kind: dict[str, Callable[..., Expect]] = {
        "unary": unary,
        "predicate": predicate,
        "binary": binary,
        "comparison": compare,
        "reduction": reduce_same,
        "accumulating_reduction": reduce_acc,
        "boolean_reduction": reduce_bool,
        "index_reduction": reduce_arg,
        "scan": cumulative,
        "creation": created,
    }
    rules: dict[str, Callable[..., Expect]] = {
        name: by_kind[kind] for name, kind in KERNEL_KINDS.items() if kind in by_kind
    }
    # ... and the kernels with a signature of their own
    rules.update(
        {
            "arange": arange,
            "linspace": linspace,
            "asarray": asarray,
            "where": where,
            "clip": clip,
            "matmul": matmul,
            "reshape": reshape,
            "permute_dims": permute_dims,
            "broadcast_to": broadcast_to,
            "concat": concat,
            "stack": stack,
            "flip": same_shape,
            "roll": same_shape,
            "tile": tile,
            "astype": astype,
            "copy": same_shape,
            "getitem": getitem,
            "take_along_axis": take_along_axis,
            "from_bytes": from_bytes,
            "sort": same_shape,
            "argsort": lambda x, **kw: (_shape(x), i64),
        }
    )
    return rules


#: Kernels that write into their first argument and return ``None``.
_IN_PLACE = frozenset(name for name, kind in KERNEL_KINDS.items() if kind == "in_place")


# ---------------------------------------------------------------------------- wrapping
def wrap_kernels(
    backend: str, kernels: Mapping[str, Callable[..., Any]], sources: Mapping[str, str], native: Mapping[str, Any]
) -> dict[str, Callable[..., Any]]:
    """``kernels`` with every kernel that has a rule replaced by a checking wrapper.

    :param backend: the backend's name, for messages.
    :param sources: kernel name -> the plugin that supplied it.
    :param native: plugrad dtype name -> the backend's dtype object.
    """
    rules = _rules(native)
    itemsize = {native[n]: size for n, size in _ITEMSIZE.items() if n in native}
    out: dict[str, Callable[..., Any]] = {}
    for name, fn in kernels.items():
        if getattr(fn, "_plugrad_checked", False):
            fn = fn.__wrapped__  # type: ignore[attr-defined]  # re-wrapping after an override: start from the kernel
        where = f"kernel {name!r} of backend {backend!r} (supplied by plugin {sources.get(name, '?')!r})"
        if name in rules:
            out[name] = _checked(fn, rules[name], where)
        elif name in _IN_PLACE:
            out[name] = _checked_in_place(fn, where)
        elif name == "to_bytes":
            out[name] = _checked_to_bytes(fn, itemsize, where)
        elif name == "tolist":
            out[name] = _checked_tolist(fn, where)
        else:
            out[name] = fn
    return out


_ITEMSIZE = {
    "bool": 1,
    "uint8": 1,
    "int8": 1,
    "int16": 2,
    "int32": 4,
    "int64": 8,
    "float16": 2,
    "bfloat16": 2,
    "float32": 4,
    "float64": 8,
}


def _fail(where: str, problem: str) -> Exception:
    from ._registry import BackendError

    return BackendError(f"{where} broke the kernel contract: {problem} (checked because {ENV}=1)")


def _describe(args: tuple[Any, ...]) -> str:
    parts = []
    for a in args:
        if hasattr(a, "shape") and hasattr(a, "dtype"):
            parts.append(f"array{list(a.shape)} {a.dtype}")
        elif isinstance(a, (list, tuple)) and a and all(hasattr(v, "shape") for v in a):
            parts.append("[" + ", ".join(f"array{list(v.shape)}" for v in a) + "]")
        else:
            r = repr(a)
            parts.append(r if len(r) <= 40 else r[:37] + "...")
    return ", ".join(parts)


def _mark(wrapper: Callable[..., Any], fn: Callable[..., Any]) -> Callable[..., Any]:
    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    wrapper._plugrad_checked = True  # type: ignore[attr-defined]
    wrapper.__name__ = f"checked_{getattr(fn, '__name__', 'kernel')}"
    wrapper.__doc__ = getattr(fn, "__doc__", None)
    return wrapper


def _checked(fn: Callable[..., Any], rule: Callable[..., Expect], where: str) -> Callable[..., Any]:
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            shape, dtype = rule(*args, **kwargs)
            if dtype is SAME:
                dtype = _dtype_of(*args)
        except Exception:  # arguments the rule cannot read: the kernel decides
            shape = dtype = None
        out = fn(*args, **kwargs)
        if not (hasattr(out, "shape") and hasattr(out, "dtype")):
            raise _fail(where, f"returned {type(out).__name__} instead of an array (for {_describe(args)})")
        if shape is not None and tuple(out.shape) != shape:
            raise _fail(where, f"returned shape {list(out.shape)}, expected {list(shape)} (for {_describe(args)})")
        if dtype is not None and out.dtype != dtype:
            raise _fail(where, f"returned dtype {out.dtype}, expected {dtype} (for {_describe(args)})")
        return out

    return _mark(checked, fn)


def _checked_in_place(fn: Callable[..., Any], where: str) -> Callable[..., Any]:
    def checked(dst: Any, *args: Any, **kwargs: Any) -> Any:
        shape, dtype = _shape(dst), getattr(dst, "dtype", None)
        out = fn(dst, *args, **kwargs)
        if out is not None:
            raise _fail(where, f"returned {type(out).__name__}; an in-place kernel returns None")
        if _shape(dst) != shape or getattr(dst, "dtype", None) != dtype:
            raise _fail(where, f"changed its target from {list(shape)} {dtype} to {list(_shape(dst))} {dst.dtype}")
        return out

    return _mark(checked, fn)


def _checked_to_bytes(fn: Callable[..., Any], itemsize: Mapping[Any, int], where: str) -> Callable[..., Any]:
    def checked(x: Any) -> Any:
        out = fn(x)
        if not isinstance(out, (bytes, bytearray, memoryview)):
            raise _fail(where, f"returned {type(out).__name__} instead of bytes")
        size = itemsize.get(x.dtype)
        expected = math.prod(_shape(x)) * size if size is not None else None
        if expected is not None and len(out) != expected:
            raise _fail(
                where, f"returned {len(out)} bytes for an array{list(_shape(x))} of {x.dtype} ({expected} expected)"
            )
        return out

    return _mark(checked, fn)


def _checked_tolist(fn: Callable[..., Any], where: str) -> Callable[..., Any]:
    def checked(x: Any) -> Any:
        out = fn(x)
        s = _shape(x)
        if s and (not isinstance(out, list) or len(out) != s[0]):
            raise _fail(where, f"returned {type(out).__name__} for an array{list(s)} (a list of {s[0]} expected)")
        if not s and isinstance(out, list):
            raise _fail(where, "returned a list for a 0-d array (a bare Python number expected)")
        return out

    return _mark(checked, fn)
