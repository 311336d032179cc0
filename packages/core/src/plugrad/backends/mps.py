"""``plugrad.backends.mps``: Apple's Metal backend, which plugrad does not have."""

from __future__ import annotations

__all__ = ["is_available", "is_built"]


def is_available() -> bool:
    """Whether an MPS device can be used: always ``False`` in plugrad."""
    return False


def is_built() -> bool:
    """Whether plugrad was built with MPS support: always ``False``."""
    return False
