"""Shared pieces of the attack suite: sizes, the slow marker, error discipline, snapshots.

The suite runs in two sizes. The default test run (``nox -s core``, plain ``pytest``)
uses the small sizes and skips the tests marked ``slow``; ``nox -s attack`` sets
``PLUGRAD_ATTACK=1``, which selects the large sizes and runs everything.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import plugrad
import pytest

#: ``PLUGRAD_ATTACK=1``: the full attack run (large sizes, slow tests).
ATTACK = os.environ.get("PLUGRAD_ATTACK", "").strip() not in ("", "0")

#: Mark a test that only the full attack run executes.
slow = pytest.mark.slow
_attack_only = pytest.mark.skipif(not ATTACK, reason="large attack case: run with `nox -s attack` (PLUGRAD_ATTACK=1)")


def slow_only(fn: Any) -> Any:
    """Decorator: a test marked ``slow`` that runs only in the attack run."""
    return slow(_attack_only(fn))


#: Figures the attack tests record (printed at the end of the run by conftest.py).
FIGURES: dict[str, Any] = {}


def count(key: str, n: int = 1) -> None:
    """Add ``n`` to the figure ``key`` (how many cases an attack tried)."""
    FIGURES[key] = FIGURES.get(key, 0) + n


def size(small: int, large: int) -> int:
    """``small`` in the default run, ``large`` in the attack run."""
    return large if ATTACK else small


#: The exceptions plugrad documents for a caller's mistake.
ALLOWED = (TypeError, ValueError, RuntimeError, IndexError)
#: Top-level modules whose exception types must never reach a plugrad user.
FOREIGN = ("numpy", "cupy", "array_api_strict", "pluggy", "json", "struct")


def check_error(exc: BaseException, context: object = "", also: tuple[type[BaseException], ...] = ()) -> None:
    """Fail unless ``exc`` is one of plugrad's documented errors with a message.

    Never a backend's own exception type (NumPy's ``AxisError`` is a ``ValueError`` and
    an ``IndexError``: the type's module tells), never a bare ``AssertionError``.
    """
    where = f" (in {context})" if context else ""
    assert not isinstance(exc, AssertionError), f"bare AssertionError{where}: {exc!r}"
    assert isinstance(exc, ALLOWED + also), (
        f"undocumented exception type {type(exc).__module__}.{type(exc).__name__}{where}: {exc!r}"
    )
    module = type(exc).__module__.split(".")[0]
    assert module not in FOREIGN, (
        f"a {module} exception leaked{where}: {type(exc).__module__}.{type(exc).__name__}: {exc}"
    )
    assert str(exc).strip(), f"{type(exc).__name__} without a message{where}"


def tensors_in(obj: Any, out: list[plugrad.Tensor] | None = None) -> list[plugrad.Tensor]:
    """Every tensor inside nested lists, tuples and dicts."""
    out = [] if out is None else out
    if isinstance(obj, plugrad.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            tensors_in(item, out)
    elif isinstance(obj, dict):
        for item in obj.values():
            tensors_in(item, out)
    return out


def snapshot(tensors: Iterable[plugrad.Tensor]) -> list[tuple[Any, ...]]:
    """What a failed call must leave unchanged: values, shape, dtype, device, version, autograd state."""
    out = []
    for t in tensors:
        with plugrad.no_grad():
            values = repr(t.detach().tolist())  # repr: NaN compares equal to itself
        out.append(
            (
                id(t),
                tuple(t.shape),
                t.dtype,
                str(t.device),
                values,
                t._version,
                t.requires_grad,
                t.grad_fn,
                t.grad is None,
            )
        )
    return out
