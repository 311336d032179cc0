"""``plugrad.compiler``: the settings of :func:`plugrad.compile` and the contract of compiler plugins.

As ``torch.compiler``: :func:`is_compiling`, :func:`disable`, :func:`reset` and
:data:`config`. For plugin authors: :class:`Program`, :class:`Call` and :class:`Ref`
(what a compiler receives), :class:`CompilerSpec` (what the ``plugrad_compilers`` hook
returns), :func:`interpret` (the reference runner) and :func:`list_backends`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from . import _compile_state
from ._compile import CompileWarning, config
from ._compile._recorder import GraphBreak
from ._compile.program import (
    ELEMENTWISE_KERNELS,
    MUTATING_KERNELS,
    Call,
    CompilerSpec,
    Deopt,
    Program,
    Ref,
    Runner,
    interpret,
    substitute,
)

__all__ = [
    "is_compiling",
    "assume_constant",
    "assume_attributes",
    "assume_true",
    "scalar",
    "is_dynamo_compiling",
    "disable",
    "reset",
    "config",
    "list_backends",
    "CompilerSpec",
    "CompileWarning",
    "Unsupported",
    "Deopt",
    "GraphBreak",
    "Program",
    "Call",
    "Ref",
    "Runner",
    "interpret",
    "substitute",
    "ELEMENTWISE_KERNELS",
    "MUTATING_KERNELS",
]

F = TypeVar("F", bound=Callable[..., Any])


class Unsupported(RuntimeError):
    """A call of a ``fullgraph=True`` compiled function did something that cannot be recorded."""


def is_compiling() -> bool:
    """Whether the calling code runs while ``plugrad.compile`` records a step (on this thread)."""
    rec = _compile_state.ACTIVE[0]
    return rec is not None and rec.broken is None


is_dynamo_compiling = is_compiling


def disable(fn: F | None = None, recursive: bool = True) -> Any:
    """Run ``fn`` (or, used as ``with disable():``-less decorator factory, the decorated
    function) with every compiled function inside it running eagerly; a call of ``fn``
    from a step being recorded is a graph break."""
    if fn is None:
        return functools.partial(disable, recursive=recursive)

    @functools.wraps(fn)
    def eager(*args: Any, **kwargs: Any) -> Any:
        _compile_state.note("a function marked plugrad.compiler.disable ran")
        prev = _compile_state.DISABLED[0]
        _compile_state.DISABLED[0] = True
        try:
            return fn(*args, **kwargs)
        finally:
            _compile_state.DISABLED[0] = prev

    return eager


def assume_constant(container: Any, key: Any) -> None:
    """Say that the step being recorded relies on ``container[key]`` keeping its value.

    Libraries call this for Python values that shape the kernel calls but do not pass
    through them as tensors (an optimizer's learning rate in ``param_group["lr"]``): a
    replay first checks ``container[key]`` against the recorded value (``==``, same type)
    and records again when it changed (a scheduler's new rate), instead of replaying a
    stale constant. Outside a recording this does nothing.
    """
    rec = _compile_state.ACTIVE[0]
    if rec is not None:
        rec.assume_constant(container, key)


_PLAIN = (int, float, bool, str, type(None))


def assume_attributes(obj: Any) -> None:
    """Say that the step being recorded relies on ``obj``'s plain attributes (numbers, strings,
    booleans, ``None`` in its ``__dict__``) keeping their values: a replay checks them and records
    again when one changed (``dropout.p = 0.2``); a step that changes one itself (a counter,
    ``self.i += 1``) records on every call and so runs eagerly after the recompile limit.
    Modules call it for themselves, and a compiled bound method for its object."""
    rec = _compile_state.ACTIVE[0]
    if rec is None or rec.broken is not None:
        return
    attrs = getattr(obj, "__dict__", None)
    if type(attrs) is not dict:
        return
    for key, value in attrs.items():
        if type(value) in _PLAIN:
            rec.assume_constant(attrs, key)


def assume_true(predicate: Callable[[], bool], what: str) -> None:
    """Say that the step being recorded relies on ``predicate()`` staying true (``what`` names it,
    e.g. ``"Linear has no forward hooks"``): a replay calls ``predicate`` first and records again
    when it is false. Outside a recording this does nothing."""
    rec = _compile_state.ACTIVE[0]
    if rec is not None and rec.broken is None:
        rec.predicates.append((predicate, what))


def scalar(container: Any, key: Any, like: Any, dtype: Any = None) -> Any:
    """``container[key]`` (a Python number) for use in a step: the number itself, or, while a step is
    being recorded, a 0-d tensor on ``like``'s device (of ``dtype``, default float64) that a replay
    makes afresh from ``container[key]`` as it is then.

    For numbers a caller changes between steps without the step's kernels changing (a learning
    rate a per-batch scheduler sets): :func:`assume_constant` would record again on every change,
    ``scalar`` lets one program serve every value. Compute with the returned tensor in float64
    and cast the result to the parameters' dtype where a Python float would meet them, and the
    bits are those of eager's Python arithmetic (``+ - * /`` and ``sqrt`` round alike; ``**`` may
    not).
    """
    rec = _compile_state.ACTIVE[0]
    value = container[key]
    if rec is None or rec.broken is not None:
        return value
    from ._dtype import float64
    from ._tensor import Tensor

    dt = float64 if dtype is None else dtype
    be = like._backend
    native = be.dtype_to_native[dt]
    array = rec.scalar_input(container, key, be, native)
    return Tensor._make(array, dt, be)


def reset() -> None:
    """Forget every recorded program of every compiled function (they record again on their next call)."""
    from ._compile import _compiled

    _compiled.reset_all()


def list_backends(exclude_tags: Any = None) -> list[str]:
    """The names ``plugrad.compile(backend=...)`` takes: available compiler plugins (``python -m plugrad info`` lists them)."""
    from .plugins import get_registry

    return sorted(name for name, info in get_registry().compiler_infos().items() if info.available)
