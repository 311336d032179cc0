"""Whether ``plugrad.compile`` is recording a step on this thread (read on hot paths; no imports)."""

from __future__ import annotations

from typing import Any

#: ``ACTIVE[0]`` is the recorder of the step being recorded, or ``None``.
ACTIVE: list[Any] = [None]


def note(reason: str) -> None:
    """Tell the recorder (if one is active on this thread) that something it cannot replay happened:
    the call goes on eagerly and is not recorded (with ``fullgraph=True`` it raises)."""
    rec = ACTIVE[0]
    if rec is not None:
        rec.graph_break(reason)


#: ``DISABLED[0]``: ``plugrad.compiler.disable`` is in effect on this thread (compiled functions run eagerly).
DISABLED: list[bool] = [False]
