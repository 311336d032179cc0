"""Grad mode: thread-local switches that are both context managers and decorators."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, cast

__all__ = [
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "inference_mode",
    "is_inference_mode_enabled",
]

F = TypeVar("F", bound=Callable[..., Any])


class _GradState(threading.local):
    # Grad mode is per thread, as in PyTorch: a new thread starts with it on.
    enabled: bool = True
    inference: bool = False


_state = _GradState()


def is_grad_enabled() -> bool:
    """Whether operations in this thread are recorded for differentiation."""
    return _state.enabled


def is_inference_mode_enabled() -> bool:
    """Whether this thread is inside :class:`inference_mode`."""
    return _state.inference


class _DecoratorContextManager:
    """Base for grad-mode objects: usable as ``with obj:`` and as ``@obj`` / ``@obj()``."""

    def __call__(self, func: F) -> F:
        if inspect.isclass(func):
            raise TypeError(f"{type(self).__name__} cannot decorate a class")
        if inspect.isgeneratorfunction(func):
            return cast(F, self._wrap_generator(func))

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.clone():
                return func(*args, **kwargs)

        return cast(F, wrapper)

    def _wrap_generator(self, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            gen = func(*args, **kwargs)
            try:
                with self.clone():
                    response = gen.send(None)
                while True:
                    request = yield response
                    with self.clone():
                        response = gen.send(request)
            except StopIteration as stop:
                return stop.value

        return wrapper

    def clone(self) -> _DecoratorContextManager:
        """A fresh copy of this context manager (a decorator uses one per call)."""
        return type(self)()

    def __enter__(self) -> None:
        raise NotImplementedError

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        raise NotImplementedError


class no_grad(_DecoratorContextManager):
    """Disable gradient recording in this thread (context manager or decorator).

    Results computed inside have ``requires_grad=False`` even when inputs require grad.
    """

    def __init__(self) -> None:
        self.prev = False

    def __enter__(self) -> None:
        self.prev = _state.enabled
        _state.enabled = False

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _state.enabled = self.prev


class enable_grad(_DecoratorContextManager):
    """Enable gradient recording in this thread, also inside :class:`no_grad`."""

    def __init__(self) -> None:
        self.prev = False

    def __enter__(self) -> None:
        self.prev = _state.enabled
        _state.enabled = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _state.enabled = self.prev


class set_grad_enabled(_DecoratorContextManager):
    """Set grad mode to ``mode``. Takes effect immediately, so it also works as a plain call."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled(): argument 'mode' must be bool, not {type(mode).__name__}")
        self.prev = _state.enabled
        self.mode = mode
        _state.enabled = mode

    def __enter__(self) -> None:
        _state.enabled = self.mode

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _state.enabled = self.prev

    def clone(self) -> set_grad_enabled:
        """A fresh copy with the same ``mode`` (a decorator uses one per call, so calls can nest)."""
        obj = type(self).__new__(type(self))
        obj.prev = _state.enabled
        obj.mode = self.mode
        return obj


class inference_mode(_DecoratorContextManager):
    """Like :class:`no_grad`, and tensors made inside are marked as inference tensors.

    ``inference_mode(False)`` is a no-op, as in PyTorch.
    """

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode
        self.prev = (True, False)

    def __call__(self, func: F) -> F:
        if isinstance(func, bool):
            raise TypeError("use @inference_mode() or @inference_mode(mode) on a function")
        return super().__call__(func)

    def __enter__(self) -> None:
        self.prev = (_state.enabled, _state.inference)
        if self.mode:
            _state.enabled = False
            _state.inference = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _state.enabled, _state.inference = self.prev

    def clone(self) -> inference_mode:
        """A fresh ``inference_mode(mode)`` (a decorator uses one per call, so calls can nest)."""
        return type(self)(self.mode)
