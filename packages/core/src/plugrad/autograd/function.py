"""Graph nodes and the :class:`Function` contract shared by built-in ops and users.

A :class:`Function` subclass defines a static ``forward(ctx, *args)`` and a static
``backward(ctx, *grad_outputs)``. ``Function.apply(*args)`` runs ``forward`` and, when
grad mode is on and some input requires grad, records a graph node: an instance of
the subclass's backward class (``MyFnBackward``; built-ins choose PyTorch's names such
as ``MulBackward0``). That node *is* the ``ctx`` the two methods receive, so state
passes from forward to backward through ``ctx.save_for_backward`` and attributes.
"""

from __future__ import annotations

import functools
import traceback
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .._dtype import Category
from .._dtype import bool_ as _BOOL
from . import grad_mode
from .grad_mode import _state as _grad_state

if TYPE_CHECKING:
    from .._tensor import Tensor

__all__ = [
    "Node",
    "Function",
    "FunctionCtx",
    "BackwardCFunction",
    "AccumulateGrad",
    "once_differentiable",
]

_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)

_Tensor: Any = None  # plugrad.Tensor, bound when plugrad._tensor is imported (breaks the import cycle)


class _AnomalyState:
    enabled: bool = False
    check_nan: bool = True


anomaly = _AnomalyState()


class Node:
    """A node of the backward graph: takes output gradients, returns input gradients.

    ``next_functions`` holds one ``(node, input_nr)`` edge per tensor input
    (``(None, 0)`` for an input that needs no gradient).

    Hot state lives in slots; rarely used state (hooks, metadata, anomaly traces) is
    a class-level default that an instance overrides only when it is set, so a plain
    node costs one allocation.
    """

    __slots__ = ("_next", "__dict__", "__weakref__")
    _num_outputs: int = 1
    _pre_hooks: list[Callable[..., Any]] | None = None
    _hooks: list[Callable[..., Any]] | None = None
    _tensor_pre_hooks: dict[int, list[Callable[..., Any]]] | None = None
    _metadata: dict[str, Any] | None = None
    _trace: list[str] | None = None

    def __init__(self) -> None:
        # flat edges: (node0, input_nr0, node1, input_nr1, ...) -- one tuple per node
        self._next: tuple[Any, ...] = ()

    @property
    def next_functions(self) -> tuple[tuple[Node | None, int], ...]:
        n = self._next
        return tuple((n[i], n[i + 1]) for i in range(0, len(n), 2))

    def name(self) -> str:
        """The node's name, as PyTorch names it (``MulBackward0``)."""
        return type(self).__name__

    @property
    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            self._metadata = {}
        return self._metadata

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"

    def apply(self, grad_outputs: list[Tensor | None]) -> Sequence[Tensor | None]:
        """Gradients for each edge of ``next_functions`` from the output gradients."""
        raise NotImplementedError

    def __call__(self, *grad_outputs: Tensor | None) -> Any:
        res = self.apply(list(grad_outputs))
        return res[0] if len(res) == 1 else tuple(res)

    def _release(self) -> None:
        """Free saved state after backward (unless ``retain_graph``)."""

    # -- hooks -----------------------------------------------------------------
    def register_hook(self, fn: Callable[..., Any]) -> _RemovableHandle:
        """``fn(grad_inputs, grad_outputs) -> new grad_inputs or None``, after the node runs."""
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)
        return _RemovableHandle(self._hooks, fn)

    def register_prehook(self, fn: Callable[..., Any]) -> _RemovableHandle:
        """``fn(grad_outputs) -> new grad_outputs or None``, before the node runs."""
        if self._pre_hooks is None:
            self._pre_hooks = []
        self._pre_hooks.append(fn)
        return _RemovableHandle(self._pre_hooks, fn)

    def _register_tensor_pre_hook(self, output_nr: int, fn: Callable[..., Any]) -> _RemovableHandle:
        if self._tensor_pre_hooks is None:
            self._tensor_pre_hooks = {}
        hooks = self._tensor_pre_hooks.setdefault(output_nr, [])
        hooks.append(fn)
        return _RemovableHandle(hooks, fn)


class _RemovableHandle:
    """Returned by hook registration; ``handle.remove()`` unregisters the hook."""

    __slots__ = ("_hooks", "_fn")

    def __init__(self, hooks: list[Callable[..., Any]], fn: Callable[..., Any]) -> None:
        self._hooks: list[Callable[..., Any]] | None = hooks
        self._fn = fn

    def remove(self) -> None:
        if self._hooks is not None:
            try:
                self._hooks.remove(self._fn)
            except ValueError:
                pass
            self._hooks = None

    def __enter__(self) -> _RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class AccumulateGrad(Node):
    """The sink node of a leaf tensor: adds the incoming gradient to ``variable.grad``."""

    __slots__ = ("variable",)
    _post_hooks: list[Callable[..., Any]] | None = None

    def __init__(self, variable: Tensor) -> None:
        self._next = ()
        self.variable = variable

    def apply(self, grad_outputs: list[Tensor | None]) -> Sequence[Tensor | None]:
        # The engine calls _accumulate directly; apply exists for the Node contract.
        g = grad_outputs[0]
        if g is not None:
            self._accumulate(g, fresh=False)
        return ()

    def _accumulate(self, g: Tensor, fresh: bool) -> None:
        """Add ``g`` to the leaf's ``.grad``.

        ``fresh`` says the engine owns ``g`` exclusively, so it may become ``.grad``
        without a copy; otherwise it is cloned, so that two leaves never share one
        gradient tensor (an in-place update of one would change the other).
        """
        var = self.variable
        if _grad_state.enabled:  # create_graph: keep the gradient differentiable, accumulate out of place
            var._grad = g if var._grad is None else var._grad + g
        else:
            if g._requires_grad:
                g = g.detach()
            old = var._grad
            if old is None:
                var._grad = g if fresh and g._base is None else g.clone()
            elif old._requires_grad:
                var._grad = old + g
            else:
                old._inplace_add_no_grad(g)
        if self._post_hooks:
            for hook in self._post_hooks:
                hook(var)


class FunctionCtx:
    """Methods the ``ctx`` object of a :class:`Function` offers (mixed into its backward node)."""

    __slots__ = ()

    def save_for_backward(self: Any, *tensors: Tensor | None) -> None:
        """Save tensors for ``backward``; read them back with ``ctx.saved_tensors``.

        Saved tensors are checked on access: if one was modified in place after being
        saved, reading it raises PyTorch's "modified by an inplace operation" error.
        """
        self.to_save = tensors

    def mark_dirty(self: Any, *tensors: Tensor) -> None:
        """Declare inputs that ``forward`` modified in place (they must be returned as outputs)."""
        self.dirty_tensors = tensors

    def mark_non_differentiable(self: Any, *tensors: Tensor) -> None:
        """Declare outputs that are not differentiable (e.g. indices); they get no ``grad_fn``."""
        self.non_differentiable = tensors

    def set_materialize_grads(self: Any, value: bool) -> None:
        """Whether ``None`` output gradients reach ``backward`` as zeros (default ``True``)."""
        self.materialize_grads = value

    def save_for_forward(self: Any, *tensors: Tensor | None) -> None:
        """Save tensors for ``jvp`` (forward-mode AD)."""
        self.saved_for_forward = tensors


class _SavedOutput:
    """An output saved for backward, stored without the tensor object (no reference cycle)."""

    __slots__ = ("data", "dtype", "backend", "vc", "expected", "output_nr", "fw_grad")

    def __init__(self, t: Tensor, output_nr: int) -> None:
        self.fw_grad: Any = None  # the output's forward-AD tangent entry, set by forward_ad
        self.data = t._data
        self.dtype = t._dtype
        self.backend = t._backend
        self.vc = t._shared_vc()
        self.expected = self.vc[0]
        self.output_nr = output_nr


class BackwardCFunction(FunctionCtx, Node):
    """Base of every ``<Name>Backward`` node class; instances are a Function's ``ctx``.

    State per node: ``_next`` (edges), ``_meta`` (shape and dtype of each tensor input,
    or ``None`` when every input has the output's shape and dtype, so the engine needs
    no reduction), ``_arg_map`` (positions of tensor arguments, ``None`` when all are
    tensors), and the saved tensors with the versions they had when saved.
    """

    __slots__ = ("to_save", "_meta", "_arg_map", "_nargs", "_saved_versions", "_output_meta")
    _forward_cls: ClassVar[type[Function]]
    # rarely set: class defaults, overridden per instance only when used
    materialize_grads: bool = True
    non_differentiable: tuple[Tensor, ...] = ()
    dirty_tensors: tuple[Tensor, ...] = ()
    saved_for_forward: tuple[Tensor | None, ...] = ()
    _released: bool = False

    def __init__(self) -> None:
        self._next = ()
        self.to_save: tuple[Any, ...] = ()
        self._meta: tuple[Any, ...] | None = None
        self._arg_map: tuple[int, ...] | None = None
        self._nargs = 0
        self._saved_versions: tuple[int, ...] | None = None
        self._output_meta: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        if getattr(self._forward_cls, "_builtin", False) or getattr(self._forward_cls, "_prints_as_builtin", False):
            return f"<{type(self).__name__} object at {id(self):#x}>"
        return f"<plugrad.autograd.function.{type(self).__name__} object at {id(self):#x}>"

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        """For each argument of ``forward``: whether its gradient is needed."""
        nxt = self._next
        flags = [False] * self._nargs
        amap = self._arg_map
        for k in range(len(nxt) // 2):
            flags[amap[k] if amap is not None else k] = nxt[2 * k] is not None
        return tuple(flags)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        """The tensors given to ``save_for_backward``, checked against in-place changes."""
        saved = self.to_save
        versions = self._saved_versions
        if versions is None:
            if self._released:
                raise RuntimeError(_FREED_MSG)
            return tuple(saved)  # inside forward, or no graph recorded
        out: list[Any] = []
        for i, item in enumerate(saved):
            if item is None:
                out.append(None)
                continue
            if type(item) is _SavedOutput:
                if item.vc[0] != item.expected:
                    _raise_modified(item.dtype, item.data.shape, item.vc[0], item.expected, self, item.output_nr, True)
                t = _Tensor._make(item.data, item.dtype, item.backend)
                t._vc = item.vc
                t._requires_grad = True
                t._grad_fn = self
                t._output_nr = item.output_nr
                if item.fw_grad is not None:
                    t._extra = {"fw_grad": item.fw_grad}
                out.append(t)
                continue
            vc = item._vc
            if vc is not None and vc[0] != versions[i]:
                gf = item._grad_fn
                _raise_modified(item._dtype, item._data.shape, vc[0], versions[i], gf, item._output_nr, gf is not None)
            out.append(item)
        return tuple(out)

    def _saved_arrays(self, dtype: Any, masks: tuple[int, ...] = ()) -> list[Any] | None:
        """The saved tensors' backend arrays, for a backward that computes on arrays.

        ``None`` (take :attr:`saved_tensors` instead) unless every saved tensor has
        ``dtype`` (bool, at the positions in ``masks``) and is unmodified since it was
        saved: the slow path then raises the in-place error or computes with the dtypes
        mixed.
        """
        versions = self._saved_versions
        if versions is None:
            return None
        out: list[Any] = []
        i = -1
        for item in self.to_save:
            i += 1
            if item is None:
                out.append(None)
            elif type(item) is _SavedOutput:
                if item.dtype is not (dtype if i not in masks else _BOOL) or item.vc[0] != item.expected:
                    return None
                out.append(item.data)
            else:
                vc = item._vc
                want = dtype if not masks or i not in masks else _BOOL
                if item._dtype is not want or (vc is not None and vc[0] != versions[i]):
                    return None
                out.append(item._data)
        return out

    def _release(self) -> None:
        if self._saved_versions is not None:
            self.to_save = ()
            self._saved_versions = None
            self._released = True

    def apply(self, grad_outputs: list[Tensor | None]) -> Sequence[Tensor | None]:
        fcls = self._forward_cls
        if len(grad_outputs) > 1 and self.materialize_grads:
            for i, g in enumerate(grad_outputs):
                if g is None:
                    shape, dtype, backend = self._output_meta[i]
                    grad_outputs[i] = _Tensor._make(
                        backend.zeros(shape, backend.dtype_to_native[dtype]), dtype, backend
                    )
        result = fcls.backward(self, *grad_outputs)
        if type(result) is not tuple:
            result = (result,) if not isinstance(result, list) else tuple(result)
        n_args = self._nargs
        if len(result) != n_args:
            if len(result) > n_args and all(r is None for r in result[n_args:]):
                result = result[:n_args]
            else:
                raise RuntimeError(
                    f"function {self.name()} returned an incorrect number of gradients (expected {n_args}, got {len(result)})"
                )
        amap = self._arg_map
        if amap is not None:
            result = [result[i] for i in amap]
        meta = self._meta
        if meta is None:
            return result  # type: ignore[no-any-return]
        grads = list(result)
        for k, g in enumerate(grads):
            if g is None:
                continue
            shape, dtype = meta[2 * k], meta[2 * k + 1]
            if not isinstance(g, _Tensor):
                raise TypeError(
                    f"function {self.name()} returned a gradient of type {type(g).__name__} at index "
                    f"{amap[k] if amap is not None else k}; expected a Tensor or None"
                )
            if g._data.shape != shape:
                g = _reduce_grad(self, g, shape, amap[k] if amap is not None else k)
            if g._dtype is not dtype and dtype.category is _FLOATING:
                g = g.to(dtype)
            grads[k] = g
        return grads


def _raise_modified(
    dtype: Any, shape: tuple[int, ...], version: int, expected: int, node: Any, output_nr: int, is_output: bool
) -> None:
    legacy = dtype.to_legacy_type_name()
    dims = ", ".join(str(s) for s in shape)
    where = f", which is output {output_nr} of {node.name()}," if is_output and node is not None else ""
    raise RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"[plugrad.{legacy} [{dims}]]{where} is at version {version}; expected version {expected} instead. "
        "Hint: the backtrace further above can point at the operation that failed to compute its gradient. "
        "Enable anomaly detection with plugrad.autograd.set_detect_anomaly(True) to find it."
    )


def _reduce_grad(node: Node, g: Tensor, shape: tuple[int, ...], index: int) -> Tensor:
    """Sum a broadcast gradient back to an input's shape: the one place this happens."""
    gshape = g._data.shape
    if not _expandable_to(shape, gshape):
        got = "[" + ", ".join(map(str, gshape)) + "]"
        want = "[" + ", ".join(map(str, shape)) + "]"
        raise RuntimeError(
            f"Function {node.name()} returned an invalid gradient at index {index} - got {got} "
            f"but expected shape compatible with {want}"
        )
    return g.sum_to_size(shape)


def _expandable_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    if len(shape) > len(target):
        return False
    for s, t in zip(reversed(shape), reversed(target)):
        if s != t and s != 1:
            return False
    return True


class _NoCtx:
    """The ``ctx`` built-in forwards get when no graph is recorded: saving is a no-op."""

    __slots__ = ("__dict__",)

    def save_for_backward(self, *tensors: Any) -> None:
        pass

    def mark_non_differentiable(self, *tensors: Any) -> None:
        pass

    def mark_dirty(self, *tensors: Any) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        pass


_NO_CTX = _NoCtx()


class Function:
    """Base class of differentiable operations, built-in and user-defined.

    Subclass it with static ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``
    methods and call ``MyFn.apply(*args)``. ``backward`` returns one gradient per
    argument of ``forward`` (``None`` for non-tensors and inputs needing none); a
    gradient whose shape the input broadcast to is summed back to the input's shape.

    Example::

        class Exp(Function):
            @staticmethod
            def forward(ctx, x):
                y = x.exp()
                ctx.save_for_backward(y)
                return y

            @staticmethod
            def backward(ctx, grad):
                (y,) = ctx.saved_tensors
                return grad * y
    """

    _backward_cls: ClassVar[type[BackwardCFunction]]
    _builtin: ClassVar[bool] = False

    def __init_subclass__(cls, backward_name: str | None = None, builtin: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._builtin = builtin
        name = backward_name or f"{cls.__name__}Backward"
        cls._backward_cls = type(name, (BackwardCFunction,), {"_forward_cls": cls, "__slots__": ()})
        cls._backward_cls.__module__ = cls.__module__
        cls.apply = _make_apply(cls, builtin)  # type: ignore[method-assign]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(
            "Legacy autograd function with non-static forward method is deprecated. "
            "Please use new-style autograd function with static forward method. "
            "(Example: https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)"
        )

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        """Compute the outputs from the inputs (runs with grad mode off)."""
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        """Gradients of the inputs from gradients of the outputs (vector-Jacobian product)."""
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom autograd.Function to use it with backward mode AD."
        )

    vjp = backward

    @staticmethod
    def jvp(ctx: Any, *grad_inputs: Any) -> Any:
        """Forward-mode derivative: output tangents from input tangents."""
        raise NotImplementedError(
            "You must implement the jvp function for custom autograd.Function to use it with forward mode AD."
        )

    @classmethod
    def apply(cls, *args: Any) -> Tensor:
        """Run ``forward`` on ``args`` and record a graph node if gradients are needed.

        Each subclass gets its own copy of this, made once by :func:`_make_apply`. The
        result is what ``forward`` returned: a tensor, or a tuple of them (typed as a
        tensor, which unpacks and iterates alike).
        """
        out: Tensor = _make_apply(cls, cls._builtin)(*args)
        return out


_forward_ad_active = [0]
_FLOATING = Category.FLOATING


def _make_apply(cls: type[Function], builtin: bool) -> Callable[..., Any]:
    """``apply`` for one Function class: the one path by which every op records its node.

    Built once per class with its forward and node class bound. What varies is an option
    on this path, never a second copy of it:

    - a user's Function (``builtin=False``) runs ``forward`` with grad mode off and gets
      every check (outputs that are inputs, ``mark_dirty``, ``mark_non_differentiable``,
      gradient shapes); built-ins promise what lets them skip those checks: forward
      computes with kernels, returns new tensors and marks nothing;
    - anomaly mode records the forward's stack on the node;
    - forward-mode AD (a dual level is open) hands inputs and outputs to
      :mod:`plugrad.autograd.forward_ad` for the tangents;
    - a node records its inputs' shapes and dtypes only where the engine must reduce or
      cast a gradient (always for a user's Function, whose gradients are checked).

    A future compiler hooks in here too: this is where a program's operations pass.
    """
    forward = cls.forward
    node_cls = cls._backward_cls
    state = _grad_state
    no_ctx = _NO_CTX
    fw_active = _forward_ad_active
    saved_output = _SavedOutput
    new_node = object.__new__

    def apply(*args: Any) -> Any:
        T = _Tensor
        record = False
        if state.enabled:
            for a in args:
                if isinstance(a, T) and a._requires_grad:
                    record = True
                    break
        if not record:
            if builtin:
                out = forward(no_ctx, *args)
                if fw_active[0]:
                    _forward_ad_hook(cls, None, args, out)
                return out
            ctx = node_cls()
            prev = state.enabled
            state.enabled = False  # a user's forward runs with grad mode off
            try:
                out = forward(ctx, *args)
            finally:
                state.enabled = prev
            out = _wrap_plain_outputs(out, args)
            if fw_active[0]:
                _forward_ad_hook(cls, ctx, args, out)
            return out
        node = new_node(node_cls)  # every slot is set below: no __init__ frame on the hot path
        node.to_save = ()
        node._meta = None
        node._arg_map = None
        node._saved_versions = None
        node._output_meta = ()
        nxt: list[Any] = []
        amap: list[int] | None = None
        i = -1
        for a in args:
            i += 1
            if isinstance(a, T):
                if amap is not None:
                    amap.append(i)
                if a._requires_grad:
                    gf = a._grad_fn
                    if gf is not None:
                        nxt.append(gf)
                        nxt.append(a._output_nr)
                    else:
                        ref = a._accumulator
                        acc = ref() if ref is not None else None
                        if acc is None:
                            acc = _weak_accumulator(a)
                        nxt.append(acc)
                        nxt.append(0)
                else:
                    nxt.append(None)
                    nxt.append(0)
            elif amap is None:
                amap = list(range(i))
        node._next = tuple(nxt)
        node._nargs = len(args)
        if amap is not None:
            node._arg_map = tuple(amap)
        if builtin:
            out = forward(node, *args)
        else:
            state.enabled = False
            try:
                out = forward(node, *args)
            finally:
                state.enabled = True
        if type(out) is not T and not isinstance(out, T):  # several outputs
            return _options(cls, node, args, _finish_general(cls, node, args, out))
        if not builtin:
            for a in args:
                if a is out:
                    break
            else:
                a = None
            if a is not None or node.dirty_tensors or node.non_differentiable:
                return _options(cls, node, args, _finish_general(cls, node, args, (out,))[0])
        odt = out._dtype
        if odt.category == _FLOATING:
            out._requires_grad = True
            out._grad_fn = node
        osh = out._data.shape
        for a in args:
            if isinstance(a, T) and (not builtin or a._dtype is not odt or a._data.shape != osh):
                meta: list[Any] = []
                for b in args:
                    if isinstance(b, T):
                        meta.append(b._data.shape)
                        meta.append(b._dtype)
                node._meta = tuple(meta)
                break
        to_save = node.to_save
        if to_save:
            versions: list[int] = []
            packed: list[Any] | None = None
            for j, t in enumerate(to_save):
                if t is None:
                    versions.append(0)
                elif t is out:
                    if packed is None:
                        packed = list(to_save)
                    so = saved_output(t, 0)
                    packed[j] = so
                    versions.append(so.expected)
                elif not isinstance(t, T):
                    raise TypeError(
                        f"save_for_backward can only save variables, but argument {j} is not a Tensor or None"
                    )
                else:
                    vc = t._vc
                    versions.append(vc[0] if vc is not None else 0)
            if packed is not None:
                node.to_save = tuple(packed)
            node._saved_versions = tuple(versions)
        if anomaly.enabled or fw_active[0]:
            return _options(cls, node, args, out)
        return out

    return apply


def _options(cls: type[Function], node: BackwardCFunction, args: tuple[Any, ...], result: Any) -> Any:
    """The options on the recording path, once the node is made: anomaly traces, tangents."""
    if anomaly.enabled:
        node._trace = traceback.format_stack()[:-2]
    if _forward_ad_active[0]:
        _forward_ad_hook(cls, node, args, result)
    return result


def _finish_general(cls: type[Function], node: BackwardCFunction, args: tuple[Any, ...], out: Any) -> Any:
    """Attach outputs that need the general treatment: several outputs, outputs that are
    inputs, dirty or non-differentiable outputs."""
    result = _finish_outputs(node, tuple(out), args)
    meta: list[Any] = []
    for b in args:
        if isinstance(b, _Tensor):
            meta.append(b._data.shape)
            meta.append(b._dtype)
    node._meta = tuple(meta)
    to_save = node.to_save
    if to_save:
        versions: list[int] = []
        packed = list(to_save)
        for j, t in enumerate(to_save):
            if t is None:
                versions.append(0)
                continue
            if not isinstance(t, _Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument {j} is not a Tensor or None")
            k = next((n for n, o in enumerate(result) if o is t), None)
            if k is not None:
                packed[j] = _SavedOutput(t, k)
                versions.append(packed[j].expected)
            else:
                vc = t._vc
                versions.append(vc[0] if vc is not None else 0)
        node.to_save = tuple(packed)
        node._saved_versions = tuple(versions)
    return tuple(result) if isinstance(out, tuple) else result


def _forward_ad_hook(cls: type[Function], ctx: Any, args: tuple[Any, ...], out: Any) -> None:
    propagate = _fw_propagate[0]
    if propagate is None:
        propagate = _load_propagate()
    propagate(cls, ctx, args, out)


def _load_propagate() -> Callable[..., None]:
    """Bind forward AD's propagation once (forward_ad imports this module, so not at import)."""
    from .forward_ad import _propagate

    _fw_propagate[0] = _propagate
    return _propagate


_fw_propagate: list[Callable[..., None] | None] = [None]


def _wrap_plain_outputs(out: Any, args: tuple[Any, ...]) -> Any:
    """Outputs returned unchanged from inputs become aliases, as PyTorch's outputs are new tensors."""
    T = _Tensor
    if isinstance(out, T):
        for a in args:
            if a is out:
                return out._alias()
        return out
    if isinstance(out, tuple):
        return tuple(_wrap_plain_outputs(o, args) if isinstance(o, T) else o for o in out)
    return out


def _finish_outputs(node: BackwardCFunction, outs: tuple[Any, ...], args: tuple[Any, ...]) -> list[Any]:
    """Attach several outputs (or in-place/aliased ones) to ``node``."""
    T = _Tensor
    dirty = node.dirty_tensors
    nondiff = node.non_differentiable
    out_meta: list[Any] = []
    result: list[Any] = []
    nr = 0
    for o in outs:
        if not isinstance(o, T):
            result.append(o)
            continue
        if dirty and any(o is d for d in dirty):
            if o._grad_fn is None and o._requires_grad:
                raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
            # o was modified in place by forward: it becomes this node's output (its history is rebased)
        elif any(o is a for a in args):
            o = o._alias()
        out_meta.append((o._data.shape, o._dtype, o._backend))
        if nondiff and any(o is d for d in nondiff):
            o._requires_grad = False
        elif o._dtype.category is _FLOATING:
            o._requires_grad = True
            o._grad_fn = node
            o._output_nr = nr
        nr += 1
        result.append(o)
    if len(out_meta) > 1:
        node._output_meta = tuple(out_meta)
        node._num_outputs = len(out_meta)
    return result


def once_differentiable(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a ``backward`` that is not itself differentiable.

    It runs with grad mode off; with ``create_graph=True`` its results get a node that
    raises when differentiated a second time.
    """

    @functools.wraps(fn)
    def wrapper(ctx: Any, *args: Any) -> Any:
        with grad_mode.no_grad():
            outputs = fn(ctx, *args)
        if not grad_mode.is_grad_enabled():
            return outputs
        requires = any(isinstance(a, _Tensor) and a._requires_grad for a in args)
        if not requires:
            return outputs
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        wrapped = tuple(
            _DelayedError.apply(o, *[a for a in args if isinstance(a, _Tensor)]) if isinstance(o, _Tensor) else o
            for o in outs
        )
        return wrapped[0] if single else wrapped

    return wrapper


class _DelayedError(Function, backward_name="DelayedError"):
    @staticmethod
    def forward(ctx: Any, x: Tensor, *deps: Tensor) -> Tensor:
        return x._alias()

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")


def _weak_accumulator(t: Tensor) -> AccumulateGrad:
    ref = t._accumulator
    acc = ref() if ref is not None else None
    if acc is None:
        acc = AccumulateGrad(t)
        t._accumulator = weakref.ref(acc)
    return acc
