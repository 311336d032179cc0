"""RNG streams for ``plugrad.Generator``: the optional ``random_generator`` kernel.

Each stream wraps a :class:`numpy.random.Generator` over ``PCG64`` (what
``np.random.default_rng`` makes), so a stream seeded with ``s`` draws exactly what the
default stream draws after ``random_seed(s)``. Its state travels as 40 bytes:
the 128-bit PCG64 state and increment, then NumPy's cached-``uint32`` flag and value,
all little-endian. :meth:`_Stream.set_state` checks the size and that the increment is
odd (every PCG64 increment is), so foreign bytes never become a silent, broken stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import kernels as _kernels

_STATE_SIZE = 40


def _pack(gen: np.random.Generator) -> bytes:
    st = gen.bit_generator.state
    return (
        int(st["state"]["state"]).to_bytes(16, "little")
        + int(st["state"]["inc"]).to_bytes(16, "little")
        + int(st["has_uint32"]).to_bytes(4, "little")
        + int(st["uinteger"]).to_bytes(4, "little")
    )


def _unpack(gen: np.random.Generator, raw: bytes) -> None:
    if len(raw) != _STATE_SIZE:
        raise ValueError(f"expected a PCG64 state of {_STATE_SIZE} bytes, got {len(raw)}")
    inc = int.from_bytes(raw[16:32], "little")
    has_uint32 = int.from_bytes(raw[32:36], "little")
    if inc % 2 == 0 or has_uint32 > 1:
        raise ValueError("the bytes are not a PCG64 state (even increment or bad cache flag)")
    gen.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": int.from_bytes(raw[:16], "little"), "inc": inc},
        "has_uint32": has_uint32,
        "uinteger": int.from_bytes(raw[36:40], "little"),
    }


def _uniform(gen: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    if dtype in _kernels._DRAWN_AS_FLOAT32:  # float16, bfloat16: as the default stream draws them
        return gen.random(shape, dtype=np.float32).astype(dtype)
    return gen.random(shape, dtype=dtype)


def _normal(gen: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    if dtype in _kernels._DRAWN_AS_FLOAT32:
        return gen.standard_normal(shape, dtype=np.float32).astype(dtype)
    return gen.standard_normal(shape, dtype=dtype)


class _Stream:
    """An independent stream with its own ``numpy.random.Generator``."""

    __slots__ = ("_gen",)

    def __init__(self, seed: int) -> None:
        self._gen = np.random.default_rng(seed)

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return _uniform(self._gen, shape, dtype)

    def normal(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return _normal(self._gen, shape, dtype)

    def seed(self, seed: int) -> None:
        self._gen = np.random.default_rng(seed)

    def get_state(self) -> bytes:
        return _pack(self._gen)

    def set_state(self, state: bytes) -> None:
        _unpack(self._gen, state)


class _DefaultStream:
    """The backend's default stream (``kernels._rng``, which ``random_seed`` replaces)."""

    __slots__ = ()

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return _kernels.random_uniform(shape, dtype)

    def normal(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return _kernels.random_normal(shape, dtype)

    def seed(self, seed: int) -> None:
        _kernels.random_seed(seed)

    def get_state(self) -> bytes:
        return _pack(_kernels._rng)

    def set_state(self, state: bytes) -> None:
        _unpack(_kernels._rng, state)


def random_generator(seed: int | None) -> _Stream | _DefaultStream:
    """A new stream seeded with ``seed`` (0 <= seed < 2**64), or the default stream for ``None``."""
    return _DefaultStream() if seed is None else _Stream(seed)
