"""Everything derived from the op catalogue's rows (:mod:`plugrad._ops.catalogue`).

From each row this module builds, once at import:

- the autograd :class:`~plugrad.autograd.Function` (named after the row's node) whose
  forward calls the row's kernel under the row's dtype policy and whose backward
  evaluates the row's formula -- on the backend's arrays when no graph is being built
  (:class:`_Raw`), on tensors under ``create_graph=True``;
- the op (``OPS[name]``), the ``plugrad.<name>`` function with PyTorch's ``out=`` keyword
  and the aliases (``FUNCTIONS``);
- the ``Tensor`` method and in-place method (:func:`attach`);
- the op table of ``docs/ops.md`` (:func:`markdown_table`).

The forward-mode rules are registered from the same rows by
:mod:`plugrad.autograd._jvp_rules`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.function import Function, _forward_ad_active
from ..autograd.grad_mode import _state as _grad_state
from . import catalogue as C
from ._raw import _Raw, tensors_from
from .elementwise import _call, as_tensor_like, prep

__all__ = ["OPS", "FUNCTIONS", "FUNCTION_CLASSES", "attach", "markdown_table", "with_out"]

_FLOATING = D.Category.FLOATING


# ------------------------------------------------------------------------ unary
def _kernel_caller(kernel: C.Kernel) -> Callable[..., Any]:
    if callable(kernel):
        return kernel
    name = kernel

    def call(be: Any, data: Any) -> Any:
        return getattr(be, name)(data)

    return call


def _foreign(name: str, value: Any, params: tuple[Any, ...]) -> Any:
    """``plugrad.<name>(value)`` for a value that is not a tensor.

    A type that declares ``__plugrad_methods__ = True`` (``plugrad.func``'s batched values)
    gets its own method of the row's name, so that ``vmap(plugrad.sin)`` batches as
    ``vmap(lambda t: t.sin())`` does; anything else is PyTorch's TypeError.
    """
    if getattr(type(value), "__plugrad_methods__", False):
        return getattr(value, name)(*params)
    raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(value).__name__}")


def _build_unary(name: str, row: C.Unary) -> tuple[Callable[..., Tensor], type[Function] | None]:
    """The op (``op(x, *params)``) and its Function class (``None`` when not differentiable)."""
    call = _kernel_caller(row.kernel)
    policy = row.policy
    bool_rule = row.bool_input

    def compute(x: Tensor, params: tuple[Any, ...]) -> tuple[Any, D.dtype]:
        be = x._backend
        data, dt = x._data, x._dtype
        if policy is C.Policy.BOOL:
            return call(be, data, *params), D.bool_
        if dt.category is _FLOATING:  # the common case first
            return call(be, data, *params), dt
        if policy is C.Policy.FLOAT:
            dt = D.get_default_dtype()
            data = be.astype(data, be.dtype_to_native[dt])
        elif policy is C.Policy.ROUNDING:
            if dt is D.bool_:
                raise NotImplementedError(f"\"{name}_vml_cpu\" not implemented for 'Bool'")
            return be.copy(data), dt
        elif dt is D.bool_ and bool_rule is not None:
            if isinstance(bool_rule, BaseException):
                raise type(bool_rule)(*bool_rule.args)
            if bool_rule == "copy":
                return be.copy(data), dt
            dt = D.int64  # "int64": computed on int64 (``square`` of a bool is ``pow(b, 2)``)
            data = be.astype(data, be.dtype_to_native[dt])
        return call(be, data, *params), dt

    if row.grad is None:

        def nondiff(input: Tensor, *params: Any) -> Tensor:
            if not isinstance(input, Tensor):
                return _foreign(name, input, params)
            out, dt = compute(input, params)
            return _make(Tensor, out, dt, input._backend)

        nondiff.__name__ = nondiff.__qualname__ = name
        return nondiff, None

    grad = row.grad
    save_x = C.Saves.INPUT in row.saves
    save_r = C.Saves.RESULT in row.saves
    nparams = len(row.params)
    state = _grad_state
    fw_active = _forward_ad_active

    class _Unary(Function, backward_name=row.node, builtin=True):
        @staticmethod
        def forward(ctx: Any, x: Tensor, *params: Any) -> Tensor:
            result = _make(Tensor, *compute(x, params), x._backend)
            if save_x:
                ctx.save_for_backward(x, result) if save_r else ctx.save_for_backward(x)
            elif save_r:
                ctx.save_for_backward(result)
            if nparams:
                ctx.params = params
            return result

        @staticmethod
        def backward(ctx: Any, g: Tensor) -> Any:
            params = ctx.params if nparams else ()
            # no graph for the gradient and no forward-mode tangents: evaluate the formula on arrays
            if not state.enabled and not fw_active[0]:
                arrays = ctx._saved_arrays(g._dtype)
                if arrays is not None:
                    be = g._backend
                    x = r = None
                    if save_x:
                        x = _Raw(arrays[0], be)
                        if save_r:
                            r = _Raw(arrays[1], be)
                    elif save_r:
                        r = _Raw(arrays[0], be)
                    (out,) = tensors_from(g, grad(x, r, _Raw(g._data, be), *params))
                    return (out, *([None] * nparams)) if nparams else out
            saved = ctx.saved_tensors
            xt = saved[0] if save_x else None
            rt = saved[-1] if save_r else None
            gx = grad(xt, rt, g, *params)
            return (gx, *([None] * nparams)) if nparams else gx

    _Unary.__name__ = _Unary.__qualname__ = name.capitalize()
    apply = _Unary.apply

    def op(input: Tensor, *params: Any) -> Tensor:
        if not isinstance(input, Tensor):
            return _foreign(name, input, params)
        return apply(input, *params)

    op.__name__ = op.__qualname__ = name
    return op, _Unary


# ----------------------------------------------------------------------- binary
def _build_binary(name: str, row: C.Binary) -> tuple[Callable[..., Tensor], type[Function]]:
    kernel_name = row.kernel if isinstance(row.kernel, str) else None
    kernel_fn = row.kernel if callable(row.kernel) else None
    policy = row.policy
    save_in = C.Saves.INPUT in row.saves
    save_r = C.Saves.RESULT in row.saves
    assert row.grad is not None  # every binary row is differentiable (checked by the catalogue test)
    grad_a, grad_b = row.grad
    state = _grad_state
    fw_active = _forward_ad_active

    def compute(a: Any, b: Any) -> tuple[Tensor, Tensor, Tensor]:
        x, y, dt, be = prep(a, b, name)
        if dt.category is not _FLOATING:
            if policy is C.Policy.PROMOTE:
                raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{D.scalar_type_name(dt)}'")
            dt = D.get_default_dtype()
            nd = be.dtype_to_native[dt]
            # each operand goes to float from its own dtype (as div does)
            x = be.astype(a._data, nd) if isinstance(a, Tensor) else float(x)
            y = be.astype(b._data, nd) if isinstance(b, Tensor) else float(y)
        if kernel_name is not None:
            out = _make(Tensor, _call(getattr(be, kernel_name), x, y, a, b), dt, be)
            ta = a if isinstance(a, Tensor) else as_tensor_like(a, out, dt)
            tb = b if isinstance(b, Tensor) else as_tensor_like(b, out, dt)
            return out, ta, tb
        # a composed kernel (an optional kernel or its fallback) takes arrays only: numbers become 0-d arrays
        nd = be.dtype_to_native[dt]
        if not isinstance(a, Tensor):
            x = be.asarray(x, nd)
        if not isinstance(b, Tensor):
            y = be.asarray(y, nd)
        out = _make(Tensor, _call(lambda p, q: kernel_fn(be, p, q), x, y, a, b), dt, be)  # type: ignore[misc]
        ta = a if isinstance(a, Tensor) else _make(Tensor, x, dt, be)
        tb = b if isinstance(b, Tensor) else _make(Tensor, y, dt, be)
        return out, ta, tb

    class _Binary(Function, backward_name=row.node, builtin=True):
        @staticmethod
        def forward(ctx: Any, a: Any, b: Any) -> Tensor:
            out, ta, tb = compute(a, b)
            if save_in:
                ctx.save_for_backward(ta, tb, out) if save_r else ctx.save_for_backward(ta, tb)
            elif save_r:
                ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
            na, nb = ctx.needs_input_grad
            if not state.enabled and not fw_active[0]:
                arrays = ctx._saved_arrays(g._dtype)
                if arrays is not None:
                    be = g._backend
                    a = b = r = None
                    if save_in:
                        a, b = _Raw(arrays[0], be), _Raw(arrays[1], be)
                    if save_r:
                        r = _Raw(arrays[-1], be)
                    rg = _Raw(g._data, be)
                    ga, gb = tensors_from(g, grad_a(a, b, r, rg) if na else None, grad_b(a, b, r, rg) if nb else None)
                    return ga, gb
            saved = ctx.saved_tensors
            at, bt = (saved[0], saved[1]) if save_in else (None, None)
            rt = saved[-1] if save_r else None
            return (grad_a(at, bt, rt, g) if na else None), (grad_b(at, bt, rt, g) if nb else None)

    _Binary.__name__ = _Binary.__qualname__ = name.capitalize()
    apply = _Binary.apply
    scalar_cls: type[Function] | None = None
    if row.node_scalar:

        class _Scalar(_Binary, backward_name=row.node_scalar, builtin=True):
            """The row's op with a Python number as the second operand (its own node name)."""

        scalar_cls = _Scalar
    scalar_apply = scalar_cls.apply if scalar_cls is not None else None

    def op(input: Any, other: Any) -> Tensor:
        if not isinstance(other, Tensor):
            if scalar_apply is None:
                raise TypeError(f"{name}(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
            if not isinstance(input, Tensor):
                raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
            return scalar_apply(input, other)
        if not isinstance(input, Tensor) and scalar_apply is None:
            raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
        return apply(input, other)

    op.__name__ = op.__qualname__ = name
    return op, _Binary


# ------------------------------------------------------------------ out= forms
def _any_requires_grad(values: Iterable[Any]) -> bool:
    return any(isinstance(v, Tensor) and v._requires_grad for v in values)


def write_out(name: str, result: Tensor, out: Any) -> Tensor:
    """Copy ``result`` into ``out`` under PyTorch's rules for ``out=`` and return ``out``.

    ``out`` must be a tensor on the result's device whose dtype the result casts to; an
    ``out`` of another shape is resized (with PyTorch's deprecation warning unless it was
    empty).
    """
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if out._backend is not result._backend:
        raise RuntimeError(f"Expected out tensor to have device {result.device}, but got {out.device} instead")
    if not D.can_cast(result._dtype, out._dtype):
        raise RuntimeError(
            f"result type {D.scalar_type_name(result._dtype)} can't be cast to the desired output type "
            f"{D.scalar_type_name(out._dtype)}"
        )
    be = out._backend
    data = result._data if result._dtype is out._dtype else be.astype(result._data, be.dtype_to_native[out._dtype])
    if tuple(out._data.shape) != tuple(data.shape):
        if out.numel() != 0:
            warnings.warn(
                f"An output with one or more elements was resized since it had shape {list(out._data.shape)}, "
                f"which does not match the required output shape {list(data.shape)}. This behavior is "
                "deprecated, and in a future plugrad release outputs will not be resized unless they have "
                "zero elements. You can explicitly reuse an out tensor t by resizing it, inplace, to zero "
                "elements with t.resize_(0).",
                UserWarning,
                stacklevel=3,
            )
        if out._base is not None:
            raise RuntimeError(f"{name}(): cannot resize an out= tensor that is a view of another tensor")
        out._data = be.copy(data) if data is result._data else data
        out._bump()
        return out
    out._check_inplace()
    be.copy_into(out._data, data)
    out._bump()
    return out


def with_out(name: str, fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``fn`` with PyTorch's ``out=`` keyword: the result is written into ``out``.

    As in PyTorch, ``out=`` takes no part in autograd: it is an error while grad mode is
    on and an argument requires grad.
    """

    def function(*args: Any, out: Tensor | None = None, **kwargs: Any) -> Tensor:
        if out is None:
            return fn(*args, **kwargs)
        if _grad_state.enabled and (
            _any_requires_grad(args) or _any_requires_grad(kwargs.values()) or _any_requires_grad((out,))
        ):  # the inputs or out itself (PyTorch gives the one message for both)
            raise RuntimeError(
                f"{name}(): functions with out=... arguments don't support automatic differentiation, "
                "but one of the arguments requires grad."
            )
        return write_out(name, fn(*args, **kwargs), out)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = fn.__doc__
    function.__wrapped__ = fn  # type: ignore[attr-defined]
    return function


# ------------------------------------------------------------------ the tables
OPS: dict[str, Callable[..., Tensor]] = {}
"""Each row's op, by name: ``op(x, *params)`` / ``op(a, b)``, no ``out=`` (what methods call)."""
FUNCTION_CLASSES: dict[str, type[Function]] = {}
"""Each differentiable row's Function class, by name (forward-mode rules key on these)."""
FUNCTIONS: dict[str, Callable[..., Tensor]] = {}
"""The ``plugrad.<name>`` functions the rows give, aliases included, with ``out=``."""
IMPLS: dict[str, Callable[..., Any]] = {}
"""The hand-written function of each ``Impl`` row, by name (what its method is)."""


def _doc(name: str, row: C.Unary | C.Binary) -> str:
    node = f"; gradient node ``{row.node}``" if row.grad is not None else "; not differentiable"
    return f"Elementwise ``{row.doc or name}``{node}."


def _register() -> None:
    for name, urow in C.UNARY.items():
        op, cls = _build_unary(name, urow)
        op.__doc__ = _doc(name, urow)
        OPS[name] = op
        if cls is not None:
            FUNCTION_CLASSES[name] = cls
        if C.Form.FUNCTION in urow.forms:
            if urow.params_first:
                fn = _params_first(op, name, urow)
            else:
                fn = op
            for n in (name, *urow.aliases):
                FUNCTIONS[n] = with_out(n, fn)
    import importlib

    for name, irow in C.IMPL.items():
        impl = getattr(importlib.import_module(f"{__package__}.{irow.module}"), name)
        IMPLS[name] = impl
        if irow.function:
            for n in (name, *irow.aliases):
                FUNCTIONS[n] = with_out(n, impl) if irow.out else impl
    for name, brow in C.BINARY.items():
        op, cls = _build_binary(name, brow)
        op.__doc__ = _doc(name, brow)
        OPS[name] = op
        FUNCTION_CLASSES[name] = cls
        if C.Form.FUNCTION in brow.forms:
            for n in (name, *brow.aliases):
                FUNCTIONS[n] = with_out(n, op)


def _params_first(op: Callable[..., Tensor], name: str, row: C.Unary) -> Callable[..., Tensor]:
    """The function form of a row whose params come first (``polygamma(n, input)``)."""
    k = len(row.params)

    def fn(*args: Any) -> Tensor:
        if len(args) != k + 1:
            raise TypeError(f"{name}() takes {k + 1} positional arguments but {len(args)} were given")
        return op(args[k], *args[:k])

    if name == "polygamma":

        def polygamma(n: int, input: Tensor) -> Tensor:
            """The ``n``-th derivative of the digamma function at ``input``: ``psi^(n)(x)``, ``n >= 0``."""
            if not isinstance(n, int) or isinstance(n, bool):
                raise TypeError(f"polygamma(): argument 'n' (position 1) must be int, not {type(n).__name__}")
            if n < 0:
                raise RuntimeError("polygamma(n, x) does not support negative n.")
            return op(input, n)

        return polygamma
    return fn


_register()


def attach(cls: type[Tensor]) -> None:
    """Give ``Tensor`` each row's method and in-place method (aliases too)."""

    def method_of(name: str, row: C.Unary | C.Binary) -> Callable[..., Tensor]:
        op = OPS[name]
        if isinstance(row, C.Unary) and row.params and name == "polygamma":

            def polygamma(self: Tensor, n: int) -> Tensor:
                """``polygamma(n, self)``: the ``n``-th derivative of the digamma function, elementwise."""
                return FUNCTIONS["polygamma"](n, self)

            return polygamma
        return op

    def inplace_of(name: str, row: C.Unary | C.Binary) -> Callable[..., Tensor]:
        op = OPS[name]
        if isinstance(row, C.Binary):

            def binary_(self: Tensor, other: Any) -> Tensor:
                return self._inplace_op(op, other, binary=True)

            return binary_
        if name == "polygamma":

            def polygamma_(self: Tensor, n: int) -> Tensor:
                return self._inplace_op(lambda t: FUNCTIONS["polygamma"](n, t))

            return polygamma_

        def unary_(self: Tensor) -> Tensor:
            return self._inplace_op(op)

        return unary_

    for name, irow in C.IMPL.items():
        if irow.method:
            for n in (name, *irow.aliases):
                setattr(cls, n, IMPLS[name])
    rows: list[tuple[str, C.Unary | C.Binary]] = [*C.UNARY.items(), *C.BINARY.items()]
    for name, row in rows:
        if isinstance(row, C.Unary) and row.operator:
            setattr(cls, row.operator, OPS[name])
        for n in (name, *row.aliases):
            if C.Form.METHOD in row.forms:
                m = method_of(name, row)
                setattr(cls, n, m)
            if C.Form.INPLACE in row.forms:
                m_ = inplace_of(name, row)
                m_.__name__ = m_.__qualname__ = n + "_"
                m_.__doc__ = f"In-place :meth:`{n}`."
                setattr(cls, n + "_", m_)


attach(Tensor)


# ------------------------------------------------------------------- the docs
def markdown_table() -> str:
    """The catalogue as the markdown table of ``docs/ops.md`` (a test keeps the doc current)."""
    lines = [
        "| op | computes | node | dtypes | forms | aliases |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows: list[tuple[str, C.Unary | C.Binary]] = sorted([*C.UNARY.items(), *C.BINARY.items()])
    for name, row in rows:
        forms = []
        if C.Form.FUNCTION in row.forms:
            forms.append(f"`plugrad.{name}`")
        if C.Form.METHOD in row.forms:
            forms.append(f"`Tensor.{name}`")
        if C.Form.INPLACE in row.forms:
            forms.append(f"`Tensor.{name}_`")
        node = f"`{row.node}`" if row.grad is not None else "—"
        aliases = ", ".join(f"`{a}`" for a in row.aliases) or "—"
        lines.append(
            f"| `{name}` | {row.doc} | {node} | {row.policy.value} | {', '.join(forms) or '(internal)'} | {aliases} |"
        )
    return "\n".join(lines) + "\n"


def _write_docs(path: str) -> None:
    """Put :func:`markdown_table` between the catalogue markers of ``path`` (docs/ops.md)."""
    from pathlib import Path

    doc = Path(path)
    text = doc.read_text(encoding="utf-8")
    start, end = "<!-- catalogue:start -->\n", "<!-- catalogue:end -->"
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    doc.write_text(head + start + markdown_table() + end + tail, encoding="utf-8")


if __name__ == "__main__":  # python -m plugrad._ops._derive docs/ops.md
    import sys

    _write_docs(sys.argv[1])
