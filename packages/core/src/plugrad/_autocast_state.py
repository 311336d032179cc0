"""The one piece of autocast state the op layer reads on every call, kept apart from
``plugrad.amp`` so that importing plugrad does not import it.

``ACTIVE[0]`` counts the enabled autocast regions open in any thread. Ops on autocast's
lower-precision list (matmul, linear, convolutions) check it with a single load and only
then ask :func:`plugrad.amp.autocast_mode.autocast_inputs` for the thread's own state.
"""

from __future__ import annotations

from typing import Any

ACTIVE = [0]


def autocast_inputs(*tensors: Any) -> tuple[Any, ...]:
    """:func:`plugrad.amp.autocast_mode.autocast_inputs`, imported on first use."""
    from .amp.autocast_mode import autocast_inputs as cast

    return cast(*tensors)
