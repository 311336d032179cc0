"""``plugrad.compile``: record a step once, replay it as a flat list of kernel calls.

``plugrad.compile(fn)`` (or ``@plugrad.compile``, ``@plugrad.compile(fullgraph=True)``, or
``plugrad.compile(module)``) takes ``torch.compile``'s arguments. The first calls of the
compiled function run eagerly while plugrad records the backend kernel calls they make
(forward, backward, the optimizer's in-place updates); once two calls record the same
program, later calls replay it through a compiler plugin, with no tensors or graph
nodes made in between. See ``docs/compile.md`` and :mod:`plugrad.compiler`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._compiled import CompiledFunction, CompileWarning, config

__all__ = ["compile", "CompileWarning", "config", "resolve_compiler"]

#: ``torch.compile`` backend names that mean "plugrad's default compiler" (replay), or no compiler.
_ALIASES = {"inductor": "replay", "aot_eager": "replay", "cudagraphs": "replay", "default": "replay"}
_EAGER = {"eager"}
_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")  # PyTorch's order

#: set by ``plugrad.nn``: ``wrap(model, compile_fn)`` returns the compiled stand-in of an ``nn.Module``
#: (``OptimizedModule``), or ``None`` for anything else
module_wrapper: list[Any] = [None]


def resolve_compiler(backend: str | Callable[..., Any]) -> tuple[str, Callable[..., Any] | None]:
    """``(name, compile)`` for ``backend=``: a compiler plugin's name, one of ``torch.compile``'s
    names (``"inductor"`` and ``"aot_eager"`` mean plugrad's default, ``"replay"``; ``"eager"``
    means no compiler), or a callable ``compile(program) -> runner``."""
    if callable(backend):
        return getattr(backend, "__name__", repr(backend)), backend
    if not isinstance(backend, str):
        raise TypeError(f"compile(): backend must be a string or a callable, not {type(backend).__name__}")
    if backend in _EAGER:
        return backend, None
    name = _ALIASES.get(backend, backend)
    from ..plugins import get_registry

    infos = get_registry().compiler_infos()
    info = infos.get(name)
    if info is None:
        known = sorted(set(infos) | set(_ALIASES) | _EAGER)
        raise ValueError(f"plugrad.compile: unknown backend {backend!r}; available: {', '.join(known)}")
    if not info.available:
        raise RuntimeError(f"plugrad.compile: backend {name!r} (plugin {info.plugin!r}) cannot run here: {info.reason}")
    return name, info.record.compile


def compile(
    model: Callable[..., Any] | None = None,
    *,
    fullgraph: bool = False,
    dynamic: bool | None = None,
    backend: str | Callable[..., Any] = "inductor",
    mode: str | None = None,
    options: dict[str, Any] | None = None,
    disable: bool = False,
) -> Any:
    """Compile ``model`` (a function or an ``nn.Module``) by recording and replaying its kernel calls.

    Takes ``torch.compile``'s arguments. ``backend`` picks the compiler plugin
    (``python -m plugrad info`` lists them; ``"inductor"``, the default, means
    plugrad's ``"replay"``); ``fullgraph=True`` raises
    :class:`plugrad.compiler.Unsupported` where a call cannot be recorded instead of
    running it eagerly; ``disable=True`` returns ``model`` unchanged. ``dynamic``,
    ``mode`` and ``options`` are accepted and checked (plugrad records each distinct set
    of shapes on its own, up to ``plugrad.compiler.config.recompile_limit``).

    Without ``model``, returns a decorator.
    """
    if mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(m for m in _MODES if m)}")
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be specified at the same time.")
    if model is None:

        def decorator(fn: Callable[..., Any]) -> Any:
            return compile(
                fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode, options=options, disable=disable
            )

        return decorator
    if not callable(model):
        raise RuntimeError("compile(): argument 'model' must be a callable (a function or an nn.Module)")
    if disable:
        return model
    name, compiler = resolve_compiler(backend)
    wrap = module_wrapper[0]
    if wrap is not None:
        wrapped = wrap(model, lambda fn: _compile_callable(fn, fullgraph, compiler, name))
        if wrapped is not None:
            return wrapped
    return _compile_callable(model, fullgraph, compiler, name)


def _compile_callable(fn: Callable[..., Any], fullgraph: bool, compiler: Callable[..., Any] | None, name: str) -> Any:
    if compiler is None:
        return fn
    return CompiledFunction(fn, fullgraph=fullgraph, compiler=compiler, compiler_name=name)
