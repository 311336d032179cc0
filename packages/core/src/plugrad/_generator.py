"""``plugrad.Generator``: an independent random-number stream, as ``torch.Generator``.

A generator belongs to one device. It draws through its backend's optional
``random_generator`` kernel, which hands out RNG stream objects (see
:data:`plugrad.backends.KERNELS`): ``random_generator(seed)`` makes a new stream of the
backend's own kind, ``random_generator(None)`` is the backend's default stream (the one
``random_uniform``/``random_normal``/``random_seed`` use), so ``plugrad.default_generator``
and ``plugrad.manual_seed`` see the same numbers. A backend without the kernel still
works: its generators draw in Python (``random.Random``, a Mersenne Twister) and copy
the values over with ``asarray``, which is slower but has the same semantics.

Seeds follow PyTorch: any integer in ``[-2**63, 2**64)``, negative ones taken modulo
``2**64``; a new ``Generator()`` starts from PyTorch's fixed default seed
``67280421310721``, so it is deterministic until seeded otherwise. The state from
:meth:`Generator.get_state` is a ``uint8`` tensor of the backend's own format (its
size differs from PyTorch's 5056 bytes); :meth:`Generator.set_state` takes back only a
state of that size.
"""

from __future__ import annotations

import math
import os
import random as _pyrandom
import struct
from typing import Any

from . import _dtype as D

__all__ = ["Generator", "DEFAULT_SEED"]

#: The seed of a fresh ``torch.Generator()`` (``default_rng_seed_val`` in PyTorch).
DEFAULT_SEED = 67280421310721

_SEED_MIN, _SEED_LIMIT = -(2**63), 2**64


def normalize_seed(seed: Any, fn: str = "manual_seed") -> int:
    """``seed`` as an unsigned 64-bit integer, with PyTorch's errors for other values."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        if hasattr(seed, "__index__") and not isinstance(seed, bool):
            seed = seed.__index__()
        else:
            raise RuntimeError(f"{fn} expected a long, but got {type(seed).__name__}")
    if not _SEED_MIN <= seed < _SEED_LIMIT:
        raise ValueError("Overflow when unpacking long long")
    result: int = seed % _SEED_LIMIT
    return result


def _nondeterministic_seed() -> int:
    return int.from_bytes(os.urandom(8), "little")


class _PythonStream:
    """An RNG stream for a backend without the ``random_generator`` kernel: draws in
    Python (``random.Random``) and copies the values into the backend with ``asarray``."""

    __slots__ = ("_backend", "_rng")
    _STATE = struct.Struct("<625IBd")  # MT19937 words + position, whether a Gaussian is cached, the cached one

    def __init__(self, backend: Any, seed: int) -> None:
        self._backend = backend
        self._rng = _pyrandom.Random(seed)

    def _values(self, shape: tuple[int, ...], dtype: Any, draw: Any) -> Any:
        be = self._backend
        n = math.prod(shape)
        f64 = be.dtype_to_native.get(D.float64, be.native_dtype(D.float32))
        flat = be.asarray([draw() for _ in range(n)], f64)
        out = be.reshape(flat, tuple(shape))
        return out if out.dtype == dtype else be.astype(out, dtype)

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._values(shape, dtype, self._rng.random)

    def normal(self, shape: tuple[int, ...], dtype: Any) -> Any:
        gauss = self._rng.gauss
        return self._values(shape, dtype, lambda: gauss(0.0, 1.0))

    def seed(self, seed: int) -> None:
        self._rng.seed(seed)

    def get_state(self) -> bytes:
        _version, words, cached = self._rng.getstate()
        return self._STATE.pack(*words, cached is not None, 0.0 if cached is None else cached)

    def set_state(self, state: bytes) -> None:
        if len(state) != self._STATE.size:
            raise ValueError(f"expected an RNG state of {self._STATE.size} bytes, got {len(state)}")
        *words, has_cached, cached = self._STATE.unpack(state)
        try:
            self._rng.setstate((3, tuple(words), cached if has_cached else None))
        except (ValueError, TypeError) as e:
            raise ValueError(f"invalid RNG state: {e}") from None


class _DefaultStreamWithoutKernel:
    """The default stream of a backend without ``random_generator``: its own kernels,
    reseedable, but with a state plugrad cannot read or write."""

    __slots__ = ("_backend",)

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._backend.random_uniform(shape, dtype)

    def normal(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._backend.random_normal(shape, dtype)

    def seed(self, seed: int) -> None:
        self._backend.random_seed(seed)

    def _no_state(self, *args: Any) -> Any:
        raise ValueError(
            f"backend {self._backend.name!r} has no random_generator kernel, so the state of its default "
            "stream cannot be read or restored (a plugrad.Generator of its own can)"
        )

    get_state = set_state = _no_state


class Generator:
    """A random-number stream of one device (``torch.Generator``).

    Pass it as ``generator=`` to the random functions (``rand``, ``randn``, ``randint``,
    ``randperm``, ``normal``, ``bernoulli``, ``multinomial``, ``poisson``, the ``*_like``
    functions and the in-place ``uniform_``/``normal_``/... methods); draws from one
    generator never change another's, and equal seeds give equal numbers.
    """

    __slots__ = ("_device", "_backend", "_stream", "_initial_seed", "_is_default", "__weakref__")

    def __init__(self, device: Any = "cpu") -> None:
        from ._device import device as _device

        self._device = _device(device if device is not None else "cpu")
        self._backend: Any = None
        self._stream: Any = None
        self._initial_seed: int | None = DEFAULT_SEED
        self._is_default = False

    @classmethod
    def _default_of(cls, device: Any) -> Generator:
        g = cls(device)
        g._is_default = True
        g._initial_seed = None  # the backend seeds its default stream from entropy
        return g

    @property
    def device(self) -> Any:
        """The device whose tensors this generator fills."""
        return self._device

    def _resolve(self) -> tuple[Any, Any]:
        if self._stream is None:
            from ._device import backend_for_device

            be = backend_for_device(self._device)
            if be.has_kernel("random_generator"):
                stream = be.random_generator(None if self._is_default else self._initial_seed)
            elif self._is_default:
                stream = _DefaultStreamWithoutKernel(be)
            else:
                stream = _PythonStream(be, self._initial_seed if self._initial_seed is not None else 0)
            self._backend, self._stream = be, stream
        return self._backend, self._stream

    def _stream_for(self, backend: Any, fn: str) -> Any:
        """The stream that draws for a tensor of ``backend`` (PyTorch's error if devices differ)."""
        be, stream = self._resolve()
        if be is not backend:
            if be.device_type != backend.device_type:
                raise RuntimeError(
                    f"Expected a '{backend.device_type}' device type for generator but found '{be.device_type}'"
                )
            raise RuntimeError(
                f"{fn}(): the generator draws for backend {be.name!r}, but the tensor is on backend "
                f"{backend.name!r}; make one with plugrad.Generator(device={backend.name!r})"
            )
        return stream

    def manual_seed(self, seed: int) -> Generator:
        """Reset the stream to the start of the sequence for ``seed``; returns ``self``."""
        s = normalize_seed(seed)
        _, stream = self._resolve()
        stream.seed(s)
        self._initial_seed = s
        return self

    def seed(self) -> int:
        """Seed from a non-deterministic source; returns the seed used."""
        s = _nondeterministic_seed()
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed the stream was last seeded with (``manual_seed`` or ``seed``)."""
        if self._initial_seed is None:
            self.seed()
        assert self._initial_seed is not None
        return self._initial_seed

    def get_state(self) -> Any:
        """The stream's state as a ``uint8`` tensor (to restore with :meth:`set_state`)."""
        from ._tensor import Tensor, _make

        be, stream = self._resolve()
        try:
            raw = stream.get_state()
        except ValueError as e:
            raise RuntimeError(str(e)) from None
        data = be.from_bytes(bytes(raw), be.native_dtype(D.uint8), (len(raw),))
        return _make(Tensor, data, D.uint8, be)

    def set_state(self, new_state: Any) -> Generator:
        """Restore a state taken by :meth:`get_state`; returns ``self``."""
        from ._tensor import Tensor

        if not isinstance(new_state, Tensor):
            raise TypeError(f"expected a plugrad.ByteTensor, but got {type(new_state).__name__}")
        if new_state._dtype is not D.uint8:
            raise TypeError("RNG state must be a plugrad.ByteTensor")
        be, stream = self._resolve()
        raw = new_state._backend.to_bytes(new_state.contiguous()._data)
        try:
            stream.set_state(bytes(raw))
        except ValueError as e:
            raise RuntimeError(f"invalid RNG state for a generator of backend {be.name!r}: {e}") from None
        return self

    def __repr__(self) -> str:
        return f"<plugrad.Generator object at {hex(id(self))}>"


def check_generator(generator: Any, fn: str) -> Generator | None:
    """``generator`` if it is ``None`` or a :class:`Generator`, else PyTorch-style ``TypeError``."""
    if generator is None or isinstance(generator, Generator):
        return generator
    raise TypeError(f"{fn}(): argument 'generator' must be plugrad.Generator, not {type(generator).__name__}")


def uniform(backend: Any, shape: tuple[int, ...], dtype: Any, generator: Generator | None, fn: str) -> Any:
    """``U[0, 1)`` draws of backend-native ``dtype`` from ``generator`` (the backend's default stream if None)."""
    if generator is None:
        return backend.random_uniform(shape, dtype)
    return generator._stream_for(backend, fn).uniform(shape, dtype)


def normal(backend: Any, shape: tuple[int, ...], dtype: Any, generator: Generator | None, fn: str) -> Any:
    """``N(0, 1)`` draws of backend-native ``dtype`` from ``generator`` (the backend's default stream if None)."""
    if generator is None:
        return backend.random_normal(shape, dtype)
    return generator._stream_for(backend, fn).normal(shape, dtype)


#: The default generator of the CPU device (``torch.default_generator``): the default
#: stream of the default CPU backend, which ``plugrad.manual_seed`` also seeds.
default_generator: Generator = Generator._default_of("cpu")
