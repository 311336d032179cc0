"""Forward-mode automatic differentiation: dual tensors that carry a tangent.

Inside a :class:`dual_level`, :func:`make_dual` pairs a tensor (the *primal*) with a
*tangent* ``t`` of the same shape. Every op applied to dual tensors also computes the
tangent of its output, the Jacobian-vector product ``J·t``, in the same pass;
:func:`unpack_dual` reads it back::

    with forward_ad.dual_level():
        x = forward_ad.make_dual(primal, tangent)
        y = f(x)
        jvp = forward_ad.unpack_dual(y).tangent     # J_f(primal) @ tangent

One pass gives one column combination of the Jacobian, so a full Jacobian of
``f: R^n -> R^m`` costs ``n`` passes (reverse mode costs ``m``).

How tangents are computed, for each op ``Function.apply`` runs while a level is open:

1. a built-in op with a rule in :mod:`plugrad.autograd._jvp_rules` uses it;
2. a user :class:`~plugrad.autograd.Function` runs its ``jvp(ctx, *tangents)``
   staticmethod (PyTorch's contract: state through ``ctx.save_for_forward``, read back
   as ``ctx.saved_tensors``; tensor inputs without a tangent get zeros, non-tensor
   inputs ``None``); without one it is an error, as in PyTorch;
3. a built-in op without a rule falls back to the *double-vjp trick*: its backward is
   linear in the output gradient ``u``, so ``J·t = d/du <J^T u, t>``, which two reverse
   passes over a copy of the op compute exactly. Such tangents are differentiable with
   respect to the tangents, but not the primals.

Tangents are ordinary tensors: when they (or the primals) require grad, the tangent
computation is recorded for reverse mode, which gives forward-over-reverse and
reverse-over-forward products (Hessian-vector products). Levels cannot be nested, and
:class:`plugrad.inference_mode` computes no tangents, both as in PyTorch. When no level
is open, ops pay nothing for this module.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, NamedTuple

from .._dtype import Category as _Category
from . import function as _function
from .grad_mode import _DecoratorContextManager
from .grad_mode import _state as _grad_state

_FLOATING = _Category.FLOATING

if TYPE_CHECKING:
    from types import TracebackType

    from .._tensor import Tensor

__all__ = ["dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual", "UnpackedDualTensor"]

_KEY = "fw_grad"  # a dual tensor's tangent: ``t._extra[_KEY] = (level token, tangent)``


class _LevelState:
    """The one open level (global to all threads, as PyTorch's levels are)."""

    def __init__(self) -> None:
        self.level = -1  # -1: no level open
        self.token: object | None = None  # unique per entered level: tangents of closed levels go stale
        self.duals: list[weakref.ref[Tensor]] = []  # tensors holding a tangent, cleared on exit
        self.saved: list[Any] = []  # saved outputs (_SavedOutput) holding a tangent, cleared on exit
        self.lock = threading.Lock()


_levels = _LevelState()


class _Busy(threading.local):
    # True while this thread computes tangents: the ops doing that get no tangents themselves
    on: bool = False


_busy = _Busy()


class _MissingJvp(NotImplementedError):
    """A custom Function without ``jvp`` met a dual tensor (``functional.jvp``/``hvp`` then
    fall back to reverse mode, which needs only ``backward``)."""


class UnpackedDualTensor(NamedTuple):
    """What :func:`unpack_dual` returns: the primal (a view without tangent) and the tangent."""

    primal: Tensor
    tangent: Tensor | None


# ----------------------------------------------------------------------- levels
def enter_dual_level() -> int:
    """Open a forward AD level and return it; prefer the :class:`dual_level` context manager."""
    with _levels.lock:
        if _levels.level >= 0:
            raise RuntimeError("Nested forward mode AD is not supported at the moment")
        _levels.level = 0
        _levels.token = object()
        _levels.duals = []
        _levels.saved = []
        _function._forward_ad_active[0] = 1
        return _levels.level


def exit_dual_level(*, level: int | None = None) -> None:
    """Close the open level: every tangent computed in it is dropped."""
    with _levels.lock:
        if level is None:
            level = _levels.level
        if level < 0:
            raise RuntimeError("Dual level must be a positive number.")
        if level != _levels.level:
            raise RuntimeError(
                "Trying to exit a forward AD level that was not the last one that was created. This is not supported."
            )
        _function._forward_ad_active[0] = 0
        duals, _levels.duals = _levels.duals, []
        saved, _levels.saved = _levels.saved, []
        _levels.level = -1
        _levels.token = None
    # Tangents computed with a graph may reference their own tensor or node (the rule of
    # tanh saves the output, say); dropping them here leaves no reference cycle behind.
    for ref in duals:
        t = ref()
        if t is not None and t._extra is not None:
            t._extra.pop(_KEY, None)
    for item in saved:
        item.fw_grad = None


class dual_level(_DecoratorContextManager):
    """Context manager (or decorator) opening a forward AD level; ``with`` binds the level.

    On exit every tangent computed inside is dropped: dual tensors that outlive the
    level are plain tensors again.
    """

    def __init__(self) -> None:
        self.level = -1

    def __enter__(self) -> int:  # type: ignore[override]
        self.level = enter_dual_level()
        return self.level

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        exit_dual_level(level=self.level)


def _check_level(level: int | None, what: str) -> int:
    if level is None:
        level = _levels.level
    if level < 0 or _levels.level < 0:
        raise RuntimeError(
            f"Trying to {what} for forward AD but no level exists, make sure to enter_dual_level() first."
        )
    if level != _levels.level:
        raise RuntimeError(f"Forward AD level {level} does not exist (the open level is {_levels.level}).")
    return level


# ------------------------------------------------------------------ dual tensors
def _tangent(t: Tensor, token: object | None) -> Tensor | None:
    """``t``'s tangent at the level ``token`` (``None`` if it has none there)."""
    extra = t._extra
    if extra is None:
        return None
    entry = extra.get(_KEY)
    if entry is None or entry[0] is not token:
        return None
    return entry[1]  # type: ignore[no-any-return]


def _set_tangent(t: Tensor, tangent: Tensor) -> None:
    t._extra_dict()[_KEY] = (_levels.token, tangent)
    duals = _levels.duals
    duals.append(weakref.ref(t))
    if len(duals) > 4096 and len(duals) & 4095 == 0:  # drop references to freed tensors now and then
        duals[:] = [r for r in duals if r() is not None]


def _move_tangent(dst: Tensor, src: Tensor) -> None:
    """After an in-place op wrote ``src``'s values into ``dst``: ``dst`` takes ``src``'s tangent."""
    tangent = _tangent(src, _levels.token)
    if tangent is not None:
        _set_tangent(dst, tangent)
    elif dst._extra is not None:
        dst._extra.pop(_KEY, None)


def make_dual(tensor: Tensor, tangent: Tensor, *, level: int | None = None) -> Tensor:
    """A view of ``tensor`` that carries ``tangent`` (same shape) as its forward gradient.

    Differentiable in reverse mode with respect to ``tensor`` (node ``ViewBackward0``).
    The tangent is stored as given: ``unpack_dual(make_dual(x, t)).tangent is t``.
    """
    from .._ops.shape import Reshape
    from .._tensor import Tensor

    _check_level(level, "create a dual Tensor")
    if not isinstance(tensor, Tensor):
        raise TypeError(f"make_dual(): argument 'tensor' must be Tensor, not {type(tensor).__name__}")
    if not isinstance(tangent, Tensor):
        raise TypeError(f"make_dual(): argument 'tangent' must be Tensor, not {type(tangent).__name__}")
    if tensor._dtype.category is not _FLOATING:
        raise ValueError(f"Expected primal to be floating point or complex, but got: {tensor._dtype}")
    if tangent._dtype.category is not _FLOATING:
        raise ValueError(f"Expected tangent to be floating point or complex, but got: {tangent._dtype}")
    if tangent._data.shape != tensor._data.shape:
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the original Tensor, this is "
            f"not supported. Tensor is of size {_size(tensor)} while the given forward gradient is of size {_size(tangent)}."
        )
    if tangent._backend is not tensor._backend:
        raise RuntimeError(
            f"Trying to set a forward gradient on device {tangent.device} for a Tensor on device {tensor.device}; "
            f"move the tangent with tangent.to({str(tensor.device)!r}) first."
        )
    if _tangent(tensor, _levels.token) is not None:
        raise RuntimeError(
            "Making a dual Tensor based on a Tensor that already has a forward gradient at the same level "
            f"{_levels.level} is not supported."
        )
    _busy.on, prev = True, _busy.on
    try:
        dual = Reshape.apply(tensor, tensor._data.shape)
    finally:
        _busy.on = prev
    _set_tangent(dual, tangent)
    return dual


def unpack_dual(tensor: Tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """Split a dual tensor into ``(primal, tangent)``.

    ``primal`` is a view of ``tensor`` without tangent (reverse-mode node
    ``AliasBackward0``); ``tangent`` is ``None`` for a tensor that has none, and then
    ``primal`` is ``tensor`` itself. Outside a level every tangent is ``None``.
    """
    from .._tensor import Tensor

    if not isinstance(tensor, Tensor):
        raise TypeError(f"unpack_dual(): argument 'tensor' must be Tensor, not {type(tensor).__name__}")
    if _levels.level < 0:
        return UnpackedDualTensor(tensor, None)
    _check_level(level, "unpack a dual Tensor")
    tangent = _tangent(tensor, _levels.token)
    if tangent is None:
        return UnpackedDualTensor(tensor, None)
    _busy.on, prev = True, _busy.on
    try:
        primal = _Alias.apply(tensor)
    finally:
        _busy.on = prev
    return UnpackedDualTensor(primal, tangent)


def _size(t: Tensor) -> str:
    return "[" + ", ".join(str(s) for s in t._data.shape) + "]"


class _Alias(_function.Function, backward_name="AliasBackward0", builtin=True):
    """The primal of a dual tensor: the same data, the tangent left behind."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        from .._ops.shape import _view_of

        return _view_of(x, x._data)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return g


# ------------------------------------------------------------------- propagation
_RULE, _USER, _FALLBACK, _NONE = range(4)
_how: dict[type, tuple[int, Any]] = {}  # per Function class: how its tangents are computed


def _method_for(cls: type[_function.Function]) -> tuple[int, Any]:
    """A rule of ``_jvp_rules`` (own or inherited), the class's ``jvp``, the fallback, or none."""
    how = _how.get(cls)
    if how is None:
        from ._jvp_rules import RULES  # imported on first use: it needs the op modules

        how = (_NONE, None)
        for klass in cls.__mro__:
            rule = RULES.get(klass)
            if rule is not None:
                how = (_RULE, rule)
                break
        else:
            if cls.jvp is not _function.Function.jvp:
                how = (_USER, None)
            elif cls._builtin:
                how = (_FALLBACK, None)
        _how[cls] = how
    return how


def _propagate(cls: type[_function.Function], ctx: Any, args: tuple[Any, ...], out: Any) -> None:
    """Give the outputs of ``cls.apply(*args)`` their tangents (called by ``Function.apply``)."""
    if _busy.on or _grad_state.inference:
        return
    T = _function._Tensor
    token = _levels.token
    if token is None:
        return
    tangents: list[Tensor | None] = []
    found = False
    for a in args:
        tg = _tangent(a, token) if isinstance(a, T) else None
        tangents.append(tg)
        if tg is not None:
            found = True
    if not found:
        return
    if isinstance(out, T):
        outs: tuple[Any, ...] = (out,)
    else:
        outs = tuple(out) if isinstance(out, (tuple, list)) else ()
    nondiff = ctx.non_differentiable if ctx is not None else ()
    wanted = [isinstance(o, T) and o._dtype.category is _FLOATING and not any(o is d for d in nondiff) for o in outs]
    if not any(wanted):
        return
    kind, rule = _method_for(cls)
    _busy.on = True
    try:
        user = kind == _USER
        if kind == _RULE:
            result = rule(args, tuple(tangents), out)
            res = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        elif user:
            res = _user_jvp(cls, ctx, args, tangents, outs)
        elif kind == _FALLBACK:
            res = tuple(_double_vjp(cls, args, tangents, outs, wanted))
        else:
            try:
                cls.jvp(ctx)  # Function.jvp: raises PyTorch's error
            except NotImplementedError as exc:
                raise _MissingJvp(str(exc)) from None
            return
        for o, w, tg in zip(outs, wanted, res):
            if not w or tg is None:
                continue
            if not isinstance(tg, T):
                raise TypeError(
                    f"jvp of {cls.__name__} returned a {type(tg).__name__} tangent; expected a Tensor or None"
                )
            if tg._data.shape != o._data.shape:
                if not user and _function._expandable_to(tg._data.shape, o._data.shape):
                    tg = tg.expand(o._data.shape)
                else:
                    raise RuntimeError(
                        "Trying to set a forward gradient that has a different size than that of the original Tensor, "
                        f"this is not supported. Tensor is of size {_size(o)} while the given forward gradient is of "
                        f"size {_size(tg)}."
                    )
            if not user and tg._dtype is not o._dtype:
                tg = tg.to(o._dtype)
            _set_tangent(o, tg)
        if ctx is not None and ctx.to_save:
            _tangents_to_saved_outputs(ctx, outs)
    finally:
        _busy.on = False


def _tangents_to_saved_outputs(node: Any, outs: tuple[Any, ...]) -> None:
    """Outputs saved for backward are stored without their tensor object: hand them the
    tangent, so that backward formulas run inside the level (forward-over-reverse) see it."""
    saved_output = _function._SavedOutput
    tensor_outs = [o for o in outs if isinstance(o, _function._Tensor)]
    for item in node.to_save:
        if type(item) is saved_output and item.output_nr < len(tensor_outs):
            extra = tensor_outs[item.output_nr]._extra
            if extra is not None and _KEY in extra:
                item.fw_grad = extra[_KEY]
                _levels.saved.append(item)


class _JvpCtx:
    """The ``ctx`` a user's ``jvp`` sees: its own ctx, with ``saved_tensors`` reading
    what ``save_for_forward`` saved."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Any) -> None:
        object.__setattr__(self, "_ctx", ctx)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        return tuple(self._ctx.saved_for_forward)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._ctx, name, value)


def _user_jvp(
    cls: type[_function.Function], ctx: Any, args: tuple[Any, ...], tangents: list[Tensor | None], outs: tuple[Any, ...]
) -> tuple[Any, ...]:
    from .. import _creation

    T = _function._Tensor
    tin: list[Any] = []
    for a, tg in zip(args, tangents):
        if tg is None and isinstance(a, T) and a._dtype.category is _FLOATING:
            tg = _creation.zeros_like(a)
        tin.append(tg)
    result = cls.jvp(_JvpCtx(ctx), *tin)
    res = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    if len(res) != len(outs):
        raise RuntimeError(
            f"Function's jvp returned an invalid number of forward gradients (expected {len(outs)} but got {len(res)})"
        )
    return res


def _double_vjp(
    cls: type[_function.Function],
    args: tuple[Any, ...],
    tangents: list[Tensor | None],
    outs: tuple[Any, ...],
    wanted: list[bool],
) -> list[Tensor | None]:
    """``J·t`` for an op without a rule, from its backward: ``d/du <J^T u, t>`` at ``u = 0``.

    The op runs again. Inputs are detached into fresh leaves, so that both reverse
    passes stay inside this one op, except where the tangent must stay differentiable
    with respect to an input (grad mode on and the input requires grad): there the
    passes reach back through the input's history.
    """
    from .. import _creation
    from . import grad as _grad
    from .grad_mode import enable_grad

    T = _function._Tensor
    keep_history = _grad_state.enabled
    attached = False  # some input kept its history
    leaves: list[Tensor] = []
    leaf_tangents: list[Tensor] = []
    args2: list[Any] = []
    for a, tg in zip(args, tangents):
        if tg is not None:
            if keep_history and a._requires_grad:
                args2.append(a)
                attached = True
                if any(a is leaf for leaf in leaves):  # one gradient covers every use of a tensor
                    continue
                leaf = a
            else:
                leaf = a.detach().requires_grad_(True)
                args2.append(leaf)
            leaves.append(leaf)
            leaf_tangents.append(tg)
        else:
            args2.append(a.detach() if isinstance(a, T) else a)
    create = keep_history and (attached or any(tg._requires_grad for tg in leaf_tangents))
    with enable_grad():
        out2 = cls.apply(*args2)
        outs2 = (out2,) if isinstance(out2, T) else tuple(out2)
        diff = [k for k, w in enumerate(wanted) if w and outs2[k]._requires_grad]
        if not diff:
            return [None] * len(outs)
        us = [_creation.zeros_like(outs2[k]).requires_grad_(True) for k in diff]
        vjps = _grad([outs2[k] for k in diff], leaves, us, create_graph=True, allow_unused=True)
        total: Tensor | None = None
        for v, tg in zip(vjps, leaf_tangents):
            if v is not None and v._requires_grad:
                term = (v * tg).sum()
                total = term if total is None else total + term
        res: list[Tensor | None] = [None] * len(outs)
        if total is None:
            for k in diff:
                res[k] = _creation.zeros_like(outs[k])
            return res
        jts = _grad(total, us, create_graph=create, allow_unused=True)
    for k, jt in zip(diff, jts):
        res[k] = jt if jt is not None else _creation.zeros_like(outs[k])
    return res
