"""Elementwise ops: unary ops from one table, binary ops as small Function classes.

Derivative formulas are written with tensor ops, so they are differentiable again
(``create_graph=True``). Broadcast gradients are *not* reduced here: the engine sums
every gradient back to its input's shape in one place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .. import _dtype as D
from .._dtype import Category as _Category
from .._tensor import Tensor, _make
from ..autograd.function import _NO_CTX, Function, _forward_ad_active
from ..autograd.grad_mode import _state as _grad_state
from . import _kernels as _k
from ._raw import formula_values, tensors_from
from ._util import broadcast_shapes, check_same_backend, check_scalar_fits, result_type

_FLOATING = _Category.FLOATING
_INTEGER = _Category.INTEGER


def _t(x: Any, like: Tensor) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor_like(x, like)


def as_tensor_like(value: Any, like: Tensor, dtype: D.dtype | None = None) -> Tensor:
    """A tensor on ``like``'s backend from a Python scalar or nested list."""
    from .._creation import _from_data

    if isinstance(value, Tensor):
        return value
    return _from_data(value, dtype, like._backend)


def _check_scalar(value: Any, op: str) -> None:
    if not isinstance(value, (int, float, bool)):
        raise TypeError(f"{op}(): argument 'other' must be Tensor or Number, not {type(value).__name__}")


def is_number_like(value: Any) -> bool:
    """A 0-d number of another library (``numpy.float32(2)``, a 0-d array): ``shape == ()`` and ``item()``."""
    return (
        not isinstance(value, Tensor) and getattr(value, "shape", None) == () and callable(getattr(value, "item", None))
    )


def as_number(value: Any) -> Any:
    """``value`` as a Python number when it is another library's 0-d number (PyTorch takes
    ``t * numpy.float32(2)`` as a scalar); anything else unchanged. Imports no array library."""
    if type(value) in (int, float, bool) or not is_number_like(value):
        return value
    item = value.item()
    return item if isinstance(item, (bool, int, float)) else value


def operand(a: Tensor, b: Any) -> tuple[Any, D.dtype | None]:
    """``b``'s raw value for a kernel call next to ``a`` (array or Python scalar), and its dtype."""
    if isinstance(b, Tensor):
        if b._backend is not a._backend:
            from ._util import check_same_backend

            check_same_backend(a, b)
        return b._data, b._dtype
    b = as_number(b)
    _check_scalar(b, "operation")
    if type(b) is int:
        check_scalar_fits(b, a._dtype)
    return b, None


def result_type2(a: Any, b: Any) -> D.dtype:
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a._dtype is b._dtype:
        return a._dtype
    return result_type(as_number(a), as_number(b))


def prep(a: Any, b: Any, op: str) -> tuple[Any, Any, D.dtype, Any]:
    """Promote two operands (tensors or scalars, at least one tensor) to one dtype.

    :returns: ``(x, y, dtype, backend)`` with ``x``/``y`` backend arrays or Python scalars.
    """
    if isinstance(a, Tensor):
        be = a._backend
        if isinstance(b, Tensor):
            if b._backend is not be:
                from ._util import check_same_backend

                check_same_backend(a, b)
            if a._dtype is b._dtype:
                return a._data, b._data, a._dtype, be
            dt = result_type(a, b)
            x = a._data if a._dtype is dt else be.astype(a._data, be.dtype_to_native[dt])
            y = b._data if b._dtype is dt else be.astype(b._data, be.dtype_to_native[dt])
            return x, y, dt, be
        dt = a._dtype
        if type(b) is float and dt.category is _FLOATING:  # the most common scalar case
            return a._data, b, dt, be
        b = as_number(b)
        _check_scalar(b, op)
        if D.category_of_scalar(b) > dt.category:
            dt = result_type(a, b)
            if type(b) is int:
                check_scalar_fits(b, dt)
            return be.astype(a._data, be.dtype_to_native[dt]), b, dt, be
        if type(b) is int:
            check_scalar_fits(b, dt)
        return a._data, b, dt, be
    if not isinstance(b, Tensor):
        raise TypeError(f"{op}(): expected at least one Tensor argument")
    y, x, dt, be = prep(b, a, op)
    return x, y, dt, be


def _call(kernel: Callable[[Any, Any], Any], x: Any, y: Any, a: Any, b: Any) -> Any:
    """Run a binary kernel; turn a backend's broadcasting error into PyTorch's."""
    try:
        return kernel(x, y)
    except (ValueError, TypeError, OverflowError) as exc:
        sa = a._data.shape if isinstance(a, Tensor) else ()
        sb = b._data.shape if isinstance(b, Tensor) else ()
        broadcast_shapes(sa, sb)  # raises PyTorch's message when shapes mismatch
        if isinstance(exc, OverflowError):
            raise RuntimeError(f"value cannot be converted to the tensor's dtype without overflow: {exc}") from None
        raise RuntimeError(f"elementwise operation failed: {exc}") from None


# -------------------------------------------------------------------- binary ops
class Add(Function, backward_name="AddBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Tensor:
        x, y, dt, be = prep(a, b, "add")
        return _make(Tensor, _call(be.add, x, y, a, b), dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor]:
        return g, g


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool) or (isinstance(v, Tensor) and v._dtype is D.bool_)


def _check_bool_sub(a: Any, b: Any) -> None:
    """PyTorch refuses ``-`` as soon as one operand is a bool (tensor or Python bool)."""
    if _is_bool(a) or _is_bool(b):
        if _is_bool(a) and _is_bool(b):
            raise RuntimeError(
                "Subtraction, the `-` operator, with two bool tensors is not supported. "
                "Use the `^` or `logical_xor()` operator instead."
            )
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. "
            "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )


class Sub(Function, backward_name="SubBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Tensor:
        if (
            (isinstance(a, Tensor) and a._dtype is D.bool_)
            or b is True
            or b is False
            or (isinstance(b, Tensor) and b._dtype is D.bool_)
        ):
            _check_bool_sub(a, b)
        x, y, dt, be = prep(a, b, "sub")
        return _make(Tensor, _call(be.subtract, x, y, a, b), dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor]:
        return g, -g


class RSub(Function, backward_name="RsubBackward1", builtin=True):
    """``other - self`` for a Python number ``other`` (``2 - t``)."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Any) -> Tensor:
        if a._dtype is D.bool_ or isinstance(b, bool):
            _check_bool_sub(a, b)
        x, y, dt, be = prep(a, b, "rsub")
        return _make(Tensor, _call(be.subtract, y, x, a, b), dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        return -g, None


class Mul(Function, backward_name="MulBackward0", builtin=True):
    """``a * b``; ``da = g b``, ``db = g a``. With a Python number for one operand the node
    keeps the number (``number``) and which argument it was (``number_at``), no tensor."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Tensor:
        x, y, dt, be = prep(a, b, "mul")
        out = _make(Tensor, _call(be.multiply, x, y, a, b), dt, be)
        if ctx is not _NO_CTX:  # recording a graph
            if not isinstance(b, Tensor):
                ctx.number, ctx.number_at = b, 1
            elif not isinstance(a, Tensor):
                ctx.number, ctx.number_at = a, 0
            else:  # only what backward reads (as PyTorch's MulBackward0): a for b's gradient, b for a's
                ctx.number_at = None
                ctx.save_for_backward(a if b._requires_grad else None, b if a._requires_grad else None)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        if ctx.number_at is not None:
            if _grad_state.enabled or _forward_ad_active[0]:
                grad = g * ctx.number
            else:  # no graph for the gradient: one kernel call
                be = g._backend
                grad = _make(Tensor, be.multiply(g._data, ctx.number), g._dtype, be)
            return (grad, None) if ctx.number_at == 1 else (None, grad)
        a, b, gv = formula_values(ctx, g)  # arrays when no graph is built (_ops/_raw.py)
        na, nb = ctx.needs_input_grad
        return tensors_from(g, gv * b if na else None, gv * a if nb else None)


class Div(Function, backward_name="DivBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Tensor:
        # an int scalar next to an integer tensor divides as a float (it need not fit the tensor's dtype)
        if type(b) is int and isinstance(a, Tensor) and a._dtype.category is not _FLOATING:
            check_scalar_fits(b, D.float64)
            b = float(b)
        elif type(a) is int and isinstance(b, Tensor) and b._dtype.category is not _FLOATING:
            check_scalar_fits(a, D.float64)
            a = float(a)
        x, y, dt, be = prep(a, b, "div")
        if dt.category is not _FLOATING:
            dt = D.get_default_dtype()
            nd = be.dtype_to_native[dt]
            # each integer operand goes to float from its own dtype, not through the common
            # integer dtype (uint8 / int32(-1) is -1.0, not 1/255), as PyTorch divides
            x = be.astype(a._data, nd) if isinstance(a, Tensor) else x
            y = be.astype(b._data, nd) if isinstance(b, Tensor) else y
        b_rg = isinstance(b, Tensor) and b._requires_grad  # a is read only for b's gradient
        ctx.save_for_backward(a if isinstance(a, Tensor) and b_rg else None, b if isinstance(b, Tensor) else None)
        ctx.scalars = (a if not isinstance(a, Tensor) else None, b if not isinstance(b, Tensor) else None)
        return _make(Tensor, _call(be.divide, x, y, a, b), dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b, gv = formula_values(ctx, g)  # arrays when no graph is built (_ops/_raw.py)
        sa, sb = ctx.scalars
        if b is None:
            return tensors_from(g, gv / sb)[0], None
        na, nb = ctx.needs_input_grad
        ga = gv / b if na else None
        gb = None
        if nb:
            num = a if a is not None else sa
            gb = -gv * num / (b * b)
        return tensors_from(g, ga, gb)


class Pow(Function, backward_name="PowBackward0", builtin=True):
    """``a ** b``; ``PowBackward0`` for a number exponent, ``PowBackward1`` for a tensor one."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Tensor:
        x, y, dt, be = prep(a, b, "pow")
        if dt is D.bool_ and isinstance(b, Tensor):
            raise NotImplementedError("\"pow\" not implemented for 'Bool'")
        if dt.category is _INTEGER:
            neg = (isinstance(b, (int, float)) and b < 0) or (
                isinstance(b, Tensor) and b._dtype.category is _INTEGER and bool(be.any(be.less(y, 0), None, False))
            )
            if neg:
                raise RuntimeError("Integers to negative integer powers are not allowed.")
        data = _call(be.pow, x, y, a, b)
        if dt is D.bool_:  # a library's power of bools may come back as integers (NumPy: int8)
            data = be.astype(data, be.dtype_to_native[dt])
        out = _make(Tensor, data, dt, be)
        ctx.save_for_backward(a if isinstance(a, Tensor) else None, b if isinstance(b, Tensor) else None, out)
        ctx.scalars = (a, b)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        # d/da a^b = b a^(b-1) (0 where b == 0, also at a == 0);
        # d/db a^b = a^b log(a) (0 where a == 0 and b >= 0)
        a, b, out = ctx.saved_tensors
        sa, sb = ctx.scalars
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if a is not None and na:
            if b is None:
                ga = g * 0 if sb == 0 else g * sb * a ** (sb - 1)
            else:
                ga = where(b == 0, 0.0, g * b * a ** (b - 1))
        if b is not None and nb:
            if a is None:
                if sa == 0:
                    gb = where(b >= 0, 0.0, g * out * -math.inf)
                else:
                    gb = g * out * math.log(sa) if sa > 0 else g * out * math.nan
            else:
                gb = where((a == 0) & (b >= 0), 0.0, g * out * a.log())
        return ga, gb


class PowTensor(Pow, backward_name="PowBackward1", builtin=True):
    pass


class RPow(Pow, backward_name="PowBackward2", builtin=True):
    pass


def _max_min_backward(ctx: Any, g: Tensor, less: bool) -> tuple[Any, Any]:
    # the larger (smaller) input gets the gradient; ties split it in half, as in PyTorch:
    # grad_a = where(a == b, g / 2, g).masked_fill(a < b, 0), and symmetrically for b
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    half = where(a == b, g / 2, g)
    ga = where(a > b if less else a < b, 0.0, half) if na else None
    gb = where(a < b if less else a > b, 0.0, half) if nb else None
    return ga, gb


class Maximum(Function, backward_name="MaximumBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor) -> Tensor:
        x, y, dt, be = prep(a, b, "maximum")
        ctx.save_for_backward(a, b)
        return _make(Tensor, _call(be.maximum, x, y, a, b), dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        return _max_min_backward(ctx, g, False)


class Minimum(Function, backward_name="MinimumBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor) -> Tensor:
        x, y, dt, be = prep(a, b, "minimum")
        ctx.save_for_backward(a, b)
        return _make(Tensor, _call(be.minimum, x, y, a, b), dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        return _max_min_backward(ctx, g, True)


def _no_grad_binary(kernel_name: str, out_dtype: D.dtype | None, op: str) -> Callable[[Any, Any], Tensor]:
    """A non-differentiable binary op (comparisons, logical ops, floor division...)."""

    def fn(a: Any, b: Any) -> Tensor:
        x, y, dt, be = prep(a, b, op)
        kernel = getattr(be, kernel_name)
        if out_dtype is D.bool_ and kernel_name.startswith("logical"):
            x = be.astype(x, be.dtype_to_native[D.bool_]) if not isinstance(x, (bool, int, float)) else bool(x)
            y = be.astype(y, be.dtype_to_native[D.bool_]) if not isinstance(y, (bool, int, float)) else bool(y)
        return _make(Tensor, _call(kernel, x, y, a, b), out_dtype or dt, be)

    fn.__name__ = op
    return fn


eq = _no_grad_binary("equal", D.bool_, "eq")
ne = _no_grad_binary("not_equal", D.bool_, "ne")
lt = _no_grad_binary("less", D.bool_, "lt")
le = _no_grad_binary("less_equal", D.bool_, "le")
gt = _no_grad_binary("greater", D.bool_, "gt")
ge = _no_grad_binary("greater_equal", D.bool_, "ge")
eq.__doc__ = "Elementwise ``input == other`` as a bool tensor (broadcasting)."
ne.__doc__ = "Elementwise ``input != other`` as a bool tensor (broadcasting); alias ``not_equal``."
lt.__doc__ = "Elementwise ``input < other`` as a bool tensor (broadcasting); alias ``less``."
le.__doc__ = "Elementwise ``input <= other`` as a bool tensor (broadcasting); alias ``less_equal``."
gt.__doc__ = "Elementwise ``input > other`` as a bool tensor (broadcasting); alias ``greater``."
ge.__doc__ = "Elementwise ``input >= other`` as a bool tensor (broadcasting); alias ``greater_equal``."
_logical_and = _no_grad_binary("logical_and", D.bool_, "logical_and")
_logical_or = _no_grad_binary("logical_or", D.bool_, "logical_or")
_logical_xor = _no_grad_binary("logical_xor", D.bool_, "logical_xor")


def logical_and(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise ``input and other`` of the truth values (non-zero is true); a bool tensor."""
    _two_tensors(input, other, "logical_and")
    return _logical_and(input, other)


def logical_or(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise ``input or other`` of the truth values; a bool tensor."""
    _two_tensors(input, other, "logical_or")
    return _logical_or(input, other)


def logical_xor(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise ``input xor other`` of the truth values; a bool tensor."""
    _two_tensors(input, other, "logical_xor")
    return _logical_xor(input, other)


def _check_alpha(input: Any, other: Any, alpha: Any, op: str) -> None:
    """PyTorch's rules for ``alpha``: a number; no float alpha for integer results, no bool for non-bool ones."""
    if not isinstance(alpha, (bool, float)):
        raise TypeError(f"{op}(): argument 'alpha' must be Number, not {type(alpha).__name__}")
    if not all(isinstance(v, (Tensor, bool, int, float)) for v in (input, other)):
        return  # the op itself reports the bad operand
    dt = result_type(input, other)
    if isinstance(alpha, bool):
        if dt is not D.bool_:
            raise RuntimeError("Boolean alpha only supported for Boolean results.")
    elif dt.category is not _FLOATING:
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")


def add(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``input + alpha * other``, broadcasting, with PyTorch's type promotion."""
    if type(alpha) is not int:
        if isinstance(alpha, Tensor):  # a one-element tensor stands for its number (PyTorch's Scalar arguments)
            alpha = alpha.item()
        if type(alpha) is not int:
            _check_alpha(input, other, alpha, "add")
    if alpha != 1:
        other = other * alpha
    return Add.apply(input, other)


def sub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``input - alpha * other``."""
    if type(alpha) is not int:
        if isinstance(alpha, Tensor):  # a one-element tensor stands for its number (PyTorch's Scalar arguments)
            alpha = alpha.item()
        if type(alpha) is not int:
            _check_alpha(input, other, alpha, "sub")
    if alpha != 1:
        other = other * alpha
    if not isinstance(input, Tensor):
        return RSub.apply(other, input)
    return Sub.apply(input, other)


def mul(input: Any, other: Any) -> Tensor:
    """``input * other``."""
    return Mul.apply(input, other)


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """``input / other``: true division (integers give floats), or rounded with
    ``rounding_mode="trunc"`` / ``"floor"`` (which keep integer dtypes)."""
    if rounding_mode is None:
        return Div.apply(input, other)
    if rounding_mode not in ("trunc", "floor"):
        raise RuntimeError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'"
        )
    dt = result_type2(input, other)
    if dt is D.bool_:
        raise NotImplementedError(f"\"div_{rounding_mode}_cpu\" not implemented for 'Bool'")
    if dt.category is not _FLOATING:
        x, y, dt, be = prep(input, other, "div")
        if (isinstance(other, Tensor) and bool(be.any(be.equal(y, 0), None, False))) or (
            not isinstance(other, Tensor) and other == 0
        ):
            raise RuntimeError("ZeroDivisionError")
        q = be.floor_divide(x, y)
        if rounding_mode == "trunc":
            # floor division rounds toward -inf; step back toward zero where signs differ and a remainder is left
            r = be.remainder(x, y)
            fix = be.logical_and(
                be.not_equal(r, 0),
                be.less(
                    be.multiply(
                        be.sign(x) if not isinstance(x, (int, float)) else (1 if x >= 0 else -1),
                        be.sign(y) if not isinstance(y, (int, float)) else (1 if y >= 0 else -1),
                    ),
                    0,
                ),
            )
            q = be.add(q, be.astype(fix, be.dtype_to_native[dt]))
        return _make(Tensor, q, dt, be)
    q = Div.apply(input, other)
    rounded: Tensor = q.trunc() if rounding_mode == "trunc" else q.floor()
    return rounded


def floor_divide(input: Any, other: Any) -> Tensor:
    """``input // other`` (rounds toward negative infinity, as PyTorch 2 does)."""
    return div(input, other, rounding_mode="floor")


def remainder(input: Any, other: Any) -> Tensor:
    """``input % other`` with the sign of ``other`` (Python's modulo).

    Its gradient is ``grad`` for ``input`` and ``-grad * floor(input / other)`` for ``other``.
    """
    if isinstance(other, Tensor):
        return RemainderTensor.apply(input, other)
    return Remainder.apply(input, other)


class Remainder(Function, backward_name="RemainderBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Tensor:
        x, y, dt, be = prep(a, b, "remainder")
        if dt is D.bool_:
            raise NotImplementedError("\"remainder_cpu\" not implemented for 'Bool'")
        b_rg = isinstance(b, Tensor) and b._requires_grad  # only b's gradient reads a and b
        ctx.save_for_backward(a if isinstance(a, Tensor) and b_rg else None, b if b_rg else None)
        ctx.scalars = (a if not isinstance(a, Tensor) else None, None)
        return _make(Tensor, _call(be.remainder, x, y, a, b), dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        sa = ctx.scalars[0]
        gb = None
        if b is not None and ctx.needs_input_grad[1]:
            num = a if a is not None else sa
            gb = -g * (num / b).floor()
        return g, gb


class RemainderTensor(Remainder, backward_name="RemainderBackward1", builtin=True):
    pass


class Fmod(Function, backward_name="FmodBackward0", builtin=True):
    """C's ``fmod``: the remainder of ``a / b`` with the sign of ``a``, ``sign(a) * (|a| mod |b|)``.

    Gradients: ``grad`` for ``a``; ``-grad * trunc(a / b)`` for a tensor ``b``.
    """

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Any) -> Tensor:
        x, y, dt, be = prep(a, b, "fmod")
        if dt is D.bool_:
            raise NotImplementedError("\"fmod_cpu\" not implemented for 'Bool'")
        if dt.category is not _FLOATING and (
            (isinstance(b, Tensor) and bool(be.tolist(be.any(be.equal(y, 0), None, False))))
            or (not isinstance(b, Tensor) and b == 0)
        ):
            raise RuntimeError("ZeroDivisionError")
        ay = be.abs(y) if isinstance(b, Tensor) else builtins_abs(y) if isinstance(y, int) else abs_float(y)
        out = be.multiply(be.sign(x), _call(be.remainder, be.abs(x), ay, a, b))
        b_rg = isinstance(b, Tensor) and b._requires_grad
        ctx.save_for_backward(a if b_rg else None, b if b_rg else None)
        return _make(Tensor, out, dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        gb = -g * (a / b).trunc() if b is not None and ctx.needs_input_grad[1] else None
        return g, gb


class FmodTensor(Fmod, backward_name="FmodBackward1", builtin=True):
    pass


def abs_float(v: float) -> float:
    return v if v >= 0 else -v


def fmod(input: Tensor, other: Any) -> Tensor:
    """``input`` modulo ``other`` with the sign of ``input`` (C's ``fmod``; ``remainder`` takes ``other``'s sign).

    Gradients: ``grad`` for ``input`` and ``-grad * trunc(input / other)`` for a tensor ``other``.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"fmod(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if isinstance(other, Tensor):
        return FmodTensor.apply(input, other)
    other = as_number(other)
    _check_scalar(other, "fmod")
    return Fmod.apply(input, other)


def pow(input: Any, exponent: Any) -> Tensor:
    """``input ** exponent`` (either may be a number; ``2 ** t`` works)."""
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        return Pow.apply(input, exponent)
    if not isinstance(input, Tensor):
        return RPow.apply(input, exponent)
    return PowTensor.apply(input, exponent)


def _two_tensors(input: Any, other: Any, op: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if not isinstance(other, Tensor):
        raise TypeError(f"{op}(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum of two tensors (NaN propagates; ties share the gradient)."""
    _two_tensors(input, other, "maximum")
    return Maximum.apply(input, other)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum of two tensors (NaN propagates; ties share the gradient)."""
    _two_tensors(input, other, "minimum")
    return Minimum.apply(input, other)


def fmax(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum that ignores NaN (a NaN loses unless both are NaN)."""
    _two_tensors(input, other, "fmax")
    return where(input.isnan(), other, where(other.isnan(), input, maximum(input, other)))


def fmin(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum that ignores NaN (a NaN loses unless both are NaN)."""
    _two_tensors(input, other, "fmin")
    return where(input.isnan(), other, where(other.isnan(), input, minimum(input, other)))


# Unary elementwise ops are rows of the op catalogue (catalogue.py); _derive.py builds them.


# --------------------------------------------------------------- where and friends
class Where(Function, backward_name="WhereBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, cond: Tensor, a: Any, b: Any) -> Tensor:
        x, y, dt, be = prep(a, b, "where")
        ctx.save_for_backward(cond)
        c = cond._data
        return _make(Tensor, be.where(c, x, y), dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        cond, gv = formula_values(ctx, g, masks=(0,))  # arrays when no graph is built (_ops/_raw.py)
        zero = gv * 0
        na, nb = ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        return (None, *tensors_from(g, gv.where(cond, zero) if na else None, zero.where(cond, gv) if nb else None))


def where(condition: Tensor, input: Any = None, other: Any = None) -> Tensor:
    """``input`` where ``condition`` is true, else ``other`` (broadcasting all three).

    ``where(condition)`` alone is ``nonzero(condition, as_tuple=True)``.
    """
    if input is None and other is None:
        from .scatter import nonzero

        return nonzero(condition, as_tuple=True)  # type: ignore[no-any-return]
    if not isinstance(condition, Tensor):
        raise TypeError(f"where(): argument 'condition' (position 1) must be Tensor, not {type(condition).__name__}")
    if condition._dtype is not D.bool_:
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor with dtype {_type_name(condition._dtype)}"
        )
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = as_tensor_like(input, condition, result_type(input, other))
    for t in (input, other):
        if isinstance(t, Tensor) and t._backend is not condition._backend:
            check_same_backend(t, condition)
    shape = condition._data.shape
    for t in (input, other):  # pairwise, so the message names the two sizes that clash
        if isinstance(t, Tensor):
            shape = broadcast_shapes(shape, t._data.shape)
    return Where.apply(condition, input, other)


def full_like_graph(t: Tensor, value: Any) -> Tensor:
    """A tensor of ``value`` shaped like ``t`` whose gradient to ``t`` is zero (``fill_`` under autograd)."""
    out: Tensor = t * 0 + value
    return out


_type_name = D.scalar_type_name


# ------------------------------------------------------------------ round(decimals)


class RoundDecimals(Function, backward_name="RoundBackward1", builtin=True):
    """``round(x * 10^d) / 10^d`` (half to even); zero gradient, as PyTorch's."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, decimals: int) -> Tensor:
        be = x._backend
        scale = 10.0 ** builtins_abs(decimals)
        if decimals > 0:
            out = be.divide(be.round(be.multiply(x._data, scale)), scale)
        else:
            out = be.multiply(be.round(be.divide(x._data, scale)), scale)
        return _make(Tensor, out, x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        return g * 0, None


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Round to the nearest integer (half to even), or to ``decimals`` decimal places."""
    if decimals == 0:
        from ._derive import OPS  # the catalogue's row (RoundBackward0); this adds ``decimals``

        return OPS["round"](input)
    if not isinstance(input, Tensor):
        raise TypeError(f"round(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if input._dtype.category is not _FLOATING:
        raise NotImplementedError(f"\"round_cpu\" not implemented for '{_type_name(input._dtype)}'")
    return RoundDecimals.apply(input, int(decimals))


def builtins_abs(v: int) -> int:
    return v if v >= 0 else -v


# ------------------------------------------------------------------------ clamp
class Clamp(Function, backward_name="ClampBackward1", builtin=True):
    """``min(max(x, lo), hi)`` with number bounds (``None`` for no bound).

    Gradient: ``grad`` where ``lo <= x <= hi``, else 0 (also where ``lo > hi``).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, lo: Any, hi: Any) -> Tensor:
        be = x._backend
        dt = result_type(x, lo, hi)
        if dt is D.bool_:
            which = "clamp" if lo is not None and hi is not None else ("clamp_min" if lo is not None else "clamp_max")
            raise NotImplementedError(f"\"{which}_scalar_cpu\" not implemented for 'Bool'")
        check_scalar_fits(lo, dt)
        check_scalar_fits(hi, dt)
        data = x._data if dt is x._dtype else be.astype(x._data, be.dtype_to_native[dt])
        ctx.bounds = (lo, hi)
        ctx.save_for_backward(x)
        return _make(Tensor, be.clip(data, lo, hi), dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        lo, hi = ctx.bounds
        (x,) = ctx.saved_tensors
        if lo is not None and hi is not None:
            keep = (x >= lo) & (x <= hi)
        elif lo is not None:
            keep = x >= lo
        else:
            keep = x <= hi
        return where(keep, g, 0.0), None, None


class ClampMin(Clamp, backward_name="ClampMinBackward0", builtin=True):
    pass


class ClampMax(Clamp, backward_name="ClampMaxBackward0", builtin=True):
    pass


class ClampTensor(Function, backward_name="ClampBackward0", builtin=True):
    """``min(max(x, lo), hi)`` with tensor bounds (``None`` for no bound), all broadcasting.

    Gradients (PyTorch's): ``x`` gets ``grad`` where ``lo <= x <= hi``; ``lo`` where
    ``x < lo`` and ``lo < hi``; ``hi`` where ``x > hi`` or ``hi < lo``.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, lo: Tensor | None, hi: Tensor | None) -> Tensor:
        be = x._backend
        dt = result_type(*(t for t in (x, lo, hi) if t is not None))
        nd = be.dtype_to_native[dt]

        def arr(t: Tensor | None) -> Any:
            if t is None:
                return None
            return t._data if t._dtype is dt else be.astype(t._data, nd)

        data, lo_a, hi_a = arr(x), arr(lo), arr(hi)
        shape = broadcast_shapes(*(t._data.shape for t in (x, lo, hi) if t is not None))
        out = be.clip(data, lo_a, hi_a)
        if tuple(out.shape) != shape:
            out = be.copy(be.broadcast_to(out, shape))
        ctx.save_for_backward(x, lo, hi)
        return _make(Tensor, out, dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any, Any]:
        x, lo, hi = ctx.saved_tensors
        nx, nlo, nhi = ctx.needs_input_grad
        gx = glo = ghi = None
        if lo is not None and hi is not None:
            if nx:
                gx = where((x >= lo) & (x <= hi), g, 0.0)
            if nlo:
                glo = where((x < lo) & (lo < hi), g, 0.0)
            if nhi:
                ghi = where((x > hi) | (hi < lo), g, 0.0)
        elif lo is not None:
            gx = where(x >= lo, g, 0.0) if nx else None
            glo = where(x < lo, g, 0.0) if nlo else None
        else:
            gx = where(x <= hi, g, 0.0) if nx else None
            ghi = where(x > hi, g, 0.0) if nhi else None
        return gx, glo, ghi


def _bound(v: Any, name: str) -> Any:
    if v is None or isinstance(v, Tensor):
        return v
    if isinstance(v, (bool, int, float)):
        return v
    raise TypeError(f"clamp(): argument '{name}' must be Number or Tensor, not {type(v).__name__}")


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Limit ``input`` to ``[min, max]`` (numbers or broadcasting tensors; either may be None).

    Where ``min > max`` the result is ``max``. The gradient passes where ``min <= x <= max``.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"clamp(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    lo, hi = _bound(min, "min"), _bound(max, "max")
    if lo is None and hi is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None".replace("torch", "plugrad"))
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        if (lo is not None and not isinstance(lo, Tensor)) or (hi is not None and not isinstance(hi, Tensor)):
            raise TypeError(
                "clamp() received an invalid combination of arguments: min and max must both be Tensors or both be Numbers"
            )
        for t in (lo, hi):
            if t is not None and t._backend is not input._backend:
                from ._util import check_same_backend

                check_same_backend(input, t)
        return ClampTensor.apply(input, lo, hi)
    return Clamp.apply(input, lo, hi)


clip = clamp


def clamp_min(input: Tensor, min: Any) -> Tensor:
    """``max(input, min)`` (``ClampMinBackward0``)."""
    if isinstance(min, Tensor):
        return clamp(input, min=min)
    return ClampMin.apply(input, _bound(min, "min"), None)


def clamp_max(input: Tensor, max: Any) -> Tensor:
    """``min(input, max)`` (``ClampMaxBackward0``)."""
    if isinstance(max, Tensor):
        return clamp(input, max=max)
    return ClampMax.apply(input, None, _bound(max, "max"))


# ------------------------------------------------------------------------- lerp
class Lerp(Function, backward_name="LerpBackward0", builtin=True):
    """``start + weight * (end - start)``; gradients ``(1 - w) g``, ``w g`` and ``(end - start) g``."""

    @staticmethod
    def forward(ctx: Any, start: Tensor, end: Tensor, weight: Any) -> Tensor:
        be = start._backend
        if isinstance(weight, Tensor):
            dt = result_type(start, end)
            w = weight._data if weight._dtype is dt else be.astype(weight._data, be.dtype_to_native[dt])
        else:
            dt = result_type(start, end)
            w = weight
        x = start._data if start._dtype is dt else be.astype(start._data, be.dtype_to_native[dt])
        y = end._data if end._dtype is dt else be.astype(end._data, be.dtype_to_native[dt])
        out = be.add(x, be.multiply(w, be.subtract(y, x)))
        w_rg = isinstance(weight, Tensor) and weight._requires_grad  # start and end are read only for its gradient
        ctx.save_for_backward(
            start if w_rg else None, end if w_rg else None, weight if isinstance(weight, Tensor) else None
        )
        ctx.weight = weight if not isinstance(weight, Tensor) else None
        return _make(Tensor, out, dt, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any, Any]:
        start, end, w_t = ctx.saved_tensors
        w = w_t if w_t is not None else ctx.weight
        ns, ne, nw = ctx.needs_input_grad
        gs = g * (1 - w) if ns else None
        ge = g * w if ne else None
        gw = g * (end - start) if (w_t is not None and nw) else None
        return gs, ge, gw


class LerpTensor(Lerp, backward_name="LerpBackward1", builtin=True):
    pass


def lerp(input: Tensor, end: Tensor, weight: Any) -> Tensor:
    """Linear interpolation ``input + weight * (end - input)`` (``weight`` a number or a broadcasting tensor)."""
    _two_tensors(input, end, "lerp")
    check_same_backend(input, end)
    if isinstance(weight, Tensor):
        check_same_backend(input, weight)
    for t in (input, end):
        if t._dtype.category is not _FLOATING:
            raise NotImplementedError(f"\"lerp_kernel_scalar\" not implemented for '{_type_name(t._dtype)}'")
    if input._dtype is not end._dtype:
        from .linalg import _C_TYPE_NAMES

        raise RuntimeError(
            f"expected dtype {_C_TYPE_NAMES[input._dtype.name]} for `end` but got dtype {_C_TYPE_NAMES[end._dtype.name]}"
        )
    broadcast_shapes(input._data.shape, end._data.shape, *((weight._data.shape,) if isinstance(weight, Tensor) else ()))
    if isinstance(weight, Tensor):
        return LerpTensor.apply(input, end, weight)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise TypeError(f"lerp(): argument 'weight' must be Number or Tensor, not {type(weight).__name__}")
    return Lerp.apply(input, end, weight)


# ------------------------------------------------------------ bitwise ops and shifts
# Integer (and bool) tensors only, never differentiable. On bools ``&``, ``|``, ``^``, ``~``
# are the logical ops. The kernels are optional in the contract (``_kernels`` falls back to
# Python); shifts are composed from multiply/floor_divide by powers of two.


def _bitwise_operands(a: Any, b: Any, op: str, label: str) -> tuple[Any, Any, D.dtype, Any]:
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(a).__name__}")
    x, y, dt, be = prep(a, b, op)
    if dt.category is _FLOATING:
        raise NotImplementedError(f"\"{label}_cpu\" not implemented for '{_type_name(dt)}'")
    return x, y, dt, be


def _bitwise(a: Any, b: Any, op: str, logical: str) -> Tensor:
    x, y, dt, be = _bitwise_operands(a, b, op, op)
    if dt is D.bool_:
        x = bool(x) if isinstance(x, (bool, int)) else x
        y = bool(y) if isinstance(y, (bool, int)) else y
        return _make(Tensor, _call(getattr(be, logical), x, y, a, b), dt, be)
    return _make(Tensor, _call(lambda p, q: _k.bitwise_binary(be, op, p, q), x, y, a, b), dt, be)


def bitwise_and(input: Any, other: Any) -> Tensor:
    """``input & other``: bitwise and of integer tensors (logical and of bools), with type promotion."""
    return _bitwise(input, other, "bitwise_and", "logical_and")


def bitwise_or(input: Any, other: Any) -> Tensor:
    """``input | other``: bitwise or of integer tensors (logical or of bools)."""
    return _bitwise(input, other, "bitwise_or", "logical_or")


def bitwise_xor(input: Any, other: Any) -> Tensor:
    """``input ^ other``: bitwise exclusive or of integer tensors (logical xor of bools)."""
    return _bitwise(input, other, "bitwise_xor", "logical_xor")


def bitwise_not(input: Tensor) -> Tensor:
    """``~input``: bitwise not of an integer tensor (``-x - 1`` for signed ones), logical not of a bool tensor."""
    if not isinstance(input, Tensor):
        raise TypeError(f"bitwise_not(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if input._dtype is D.bool_:
        inverted: Tensor = input.logical_not()
        return inverted
    if input._dtype.category is _FLOATING:
        raise NotImplementedError(f"\"bitwise_not_cpu\" not implemented for '{_type_name(input._dtype)}'")
    be = input._backend
    return _make(Tensor, _k.bitwise_invert(be, input._data), input._dtype, be)


def invert(input: Tensor) -> Tensor:
    """The ``~`` operator: :func:`bitwise_not`, with PyTorch's ``TypeError`` for floating tensors."""
    if input._dtype.category is _FLOATING:
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return bitwise_not(input)


def _shift(a: Any, b: Any, op: str, label: str, left: bool) -> Tensor:
    """``a << b`` (``left``) or ``a >> b`` on integer tensors, as C++ does it on two's complement values.

    ``a << s`` is ``a * 2**s`` wrapped to the dtype; ``a >> s`` is ``floor(a / 2**s)``
    (arithmetic for signed dtypes). Shift counts outside ``[0, bits)`` give 0 (or -1 for
    negative ``a >> s``), as PyTorch's.
    """
    x, y, dt, be = _bitwise_operands(a, b, op, label)
    if dt is D.bool_:
        raise NotImplementedError(f"\"{label}_cpu\" not implemented for 'Bool'")
    native = be.native_dtype(dt)
    bits = dt.itemsize * 8
    signed = dt is not D.uint8
    if isinstance(x, (bool, int)):  # ``2 >> t``: the number as an array shaped like the counts
        x = be.full(tuple(y.shape), int(x), native)
    shape = broadcast_shapes(tuple(x.shape), tuple(getattr(y, "shape", ())))

    def pow2(s: int) -> int:
        v = 1 << s
        return v - (1 << bits) if signed and v >= 1 << (bits - 1) else v  # wrapped into the dtype

    def sign_fill() -> Any:  # -1 where x < 0, else 0
        return be.negative(be.astype(be.less(x, 0), native)) if signed else be.zeros(tuple(x.shape), native)

    if isinstance(y, (bool, int)):
        s = int(y)
        if left:
            out = be.multiply(x, pow2(s)) if 0 <= s < bits else be.zeros(tuple(x.shape), native)
        elif 0 <= s < bits - (1 if signed else 0):
            out = be.floor_divide(x, pow2(s))
        else:
            out = sign_fill()
        return _make(Tensor, be.copy(out) if out is x else out, dt, be)
    i64 = be.native_dtype(D.int64)
    s64 = be.astype(y, i64)
    top = bits - 1 if left or not signed else bits - 2
    powers = be.astype(be.pow(2, be.clip(s64, 0, top)), native)  # wraps to the dtype, as pow2 does
    valid = be.logical_and(be.greater_equal(s64, 0), be.less(s64, top + 1))
    if left:
        out = be.where(valid, be.multiply(x, powers), be.zeros((), native))
    else:
        out = be.where(valid, be.floor_divide(x, powers), sign_fill())
    if tuple(out.shape) != shape:
        out = be.copy(be.broadcast_to(out, shape))
    return _make(Tensor, out, dt, be)


def bitwise_left_shift(input: Any, other: Any) -> Tensor:
    """``input << other`` for integer tensors: ``input * 2**other`` wrapped to the dtype."""
    return _shift(input, other, "bitwise_left_shift", "lshift", True)


def bitwise_right_shift(input: Any, other: Any) -> Tensor:
    """``input >> other`` for integer tensors: ``floor(input / 2**other)`` (arithmetic shift)."""
    return _shift(input, other, "bitwise_right_shift", "rshift", False)
