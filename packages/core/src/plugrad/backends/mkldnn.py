"""``plugrad.backends.mkldnn``: PyTorch's oneDNN switch; plugrad does not use oneDNN."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ._flags import make_flag_module, temporary_flags

__all__ = ["enabled", "deterministic", "is_available", "flags"]

_FLAGS = {"enabled": "set_enabled_mkldnn", "deterministic": "set_deterministic_mkldnn"}

enabled: bool = True
deterministic: bool = False


def is_available() -> bool:
    """Whether oneDNN can be used: always ``False`` in plugrad."""
    return False


@contextmanager
def flags(enabled: bool | None = False, deterministic: bool | None = False) -> Iterator[None]:
    """Set the flags inside a ``with`` block and restore them after."""
    import sys

    with temporary_flags(sys.modules[__name__], enabled=enabled, deterministic=deterministic):
        yield


make_flag_module(__name__)
