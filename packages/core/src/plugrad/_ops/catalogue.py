"""The op catalogue: one row per elementwise op, the single source of truth.

Adding an elementwise op is adding one row here. Everything else is derived from the
rows by :mod:`plugrad._ops._derive`: the autograd ``Function`` and its node name, the
``plugrad.<name>`` function (with PyTorch's ``out=`` keyword) and its aliases, the
``Tensor`` method and in-place method, the forward-mode (jvp) rule, the gradient
tests of ``tests/test_catalogue.py`` and the op table of ``docs/ops.md``.

How to read a row
-----------------
``kernel``
    the backend kernel computing the op, by its array-API name (``"exp"``), or a
    function ``(backend, x, *params) -> array`` for ops the contract spells with
    several kernels or that have an optional kernel with a fallback (``_special``).
``policy``
    what the op does with dtypes (:class:`Policy`).
``grad``
    the reverse-mode derivative: a formula giving the input's gradient from the
    output's. Unary formulas are ``grad(x, r, g, *params)``, binary ones a pair
    ``(grad_a(a, b, r, g), grad_b(a, b, r, g))``, where ``x``/``a``/``b`` are the inputs,
    ``r`` the result and ``g`` the output gradient. ``None`` means not differentiable.
``saves``
    which of the inputs and the result a formula reads (:class:`Saves`), so that
    nothing else is kept alive for backward.

The formula vocabulary
----------------------
A formula may use the names above, Python numbers, the arithmetic operators
(``+ - * / **``, unary ``-``), comparisons (their results are masks that promote
to the other operand's dtype), ``a.where(mask, b)`` (PyTorch's ``Tensor.where``) and
the methods ``abs cos cosh exp log sign sin sinh sqrt digamma polygamma(n)``. That vocabulary
runs both on tensors (``create_graph=True``: the gradient is differentiable again)
and on the backend's arrays (the usual backward, which makes no graph objects), so a
formula is written once and serves both. The forward-mode rule of a unary row is its
``grad`` applied to the tangent (the Jacobian of an elementwise op is diagonal).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Policy", "Saves", "Form", "Unary", "Binary", "Impl", "UNARY", "BINARY", "IMPL"]


class Policy(enum.Enum):
    """How an op treats dtypes."""

    FLOAT = "float"
    """Integer and bool inputs compute in the default float dtype (``exp``, ``sin``)."""
    KEEP = "keep"
    """The result keeps the input's dtype (``neg``, ``abs``)."""
    ROUNDING = "rounding"
    """Integer inputs come back unchanged (a copy); bool inputs are refused (``floor``)."""
    BOOL = "bool"
    """The result is a bool tensor and is never differentiable (``isnan``)."""
    PROMOTE = "promote"
    """Binary: PyTorch's type promotion of two tensors, which must come out floating (``hypot``)."""
    PROMOTE_FLOAT = "promote_float"
    """Binary: promoted, then integer and bool results go to the default float dtype (``xlogy``)."""


class Saves(enum.Flag):
    """What a row's formulas read in backward (and so what forward keeps alive)."""

    NONE = 0
    INPUT = enum.auto()  # x (unary) -- or both inputs a and b (binary)
    RESULT = enum.auto()  # r


class Form(enum.Flag):
    """The spellings a row gets."""

    FUNCTION = enum.auto()  # plugrad.exp(x, out=...)
    METHOD = enum.auto()  # x.exp()
    INPLACE = enum.auto()  # x.exp_()
    ALL = FUNCTION | METHOD | INPLACE


Formula = Callable[..., Any]
Kernel = str | Callable[..., Any]


@dataclass(frozen=True)
class Unary:
    """One elementwise op of one tensor (and, optionally, fixed non-tensor params)."""

    node: str
    kernel: Kernel
    policy: Policy
    grad: Formula | None
    saves: Saves = Saves.NONE
    doc: str = ""
    aliases: tuple[str, ...] = ()
    forms: Form = Form.ALL
    params: tuple[str, ...] = ()  # extra arguments after the tensor (``polygamma``'s n comes first: see params_first)
    params_first: bool = False  # function form takes the params before the tensor: ``polygamma(n, input)``
    bool_input: BaseException | str | None = None  # KEEP ops: an error to raise, "copy", or "int64"
    domain: tuple[float, float] = (-2.0, 2.0)  # where tests sample inputs (the derivative exists there)
    operator: str = ""  # the Python operator spelling, if any (``__neg__``)


@dataclass(frozen=True)
class Binary:
    """One elementwise op of two operands (tensors or a tensor and a Python number)."""

    node: str
    kernel: Kernel
    policy: Policy
    grad: tuple[Formula, Formula] | None
    saves: Saves = Saves.INPUT
    doc: str = ""
    aliases: tuple[str, ...] = ()
    forms: Form = Form.ALL
    domain: tuple[float, float] = (-2.0, 2.0)
    domain_b: tuple[float, float] | None = None  # the second operand's test range, if not ``domain``
    node_scalar: str = ""  # the node's name when the second operand is a Python number ("" = no numbers)


# ---------------------------------------------------------------------- kernels
# Ops the contract spells with several kernels, or through an optional kernel with a
# fallback built from required ones (plugrad._ops._special holds the fallbacks).


def _special(name: str) -> Callable[..., Any]:
    def kernel(be: Any, *args: Any) -> Any:
        from . import _special as sp

        return getattr(sp, name)(be, *args)

    kernel.__name__ = name
    return kernel


def _polygamma(be: Any, x: Any, n: int) -> Any:
    from ._polygamma import polygamma

    return polygamma(be, x, n)


def _sigmoid(be: Any, x: Any) -> Any:
    if be.has_kernel("sigmoid"):  # a backend's fused kernel (optional in the contract)
        return be.sigmoid(x)
    # exp(-|x|) never overflows: sigmoid(x) = 1/(1+e) for x >= 0, e/(1+e) otherwise
    e = be.exp(be.negative(be.abs(x)))
    return be.where(be.greater_equal(x, 0), be.divide(1, be.add(1, e)), be.divide(e, be.add(1, e)))


def _relu(be: Any, x: Any) -> Any:
    return be.maximum(x, 0)


def _rsqrt(be: Any, x: Any) -> Any:
    return be.divide(1, be.sqrt(x))


def _reciprocal(be: Any, x: Any) -> Any:
    return be.divide(1, x)


def _square(be: Any, x: Any) -> Any:
    return be.multiply(x, x)


def _sinh(be: Any, x: Any) -> Any:
    # (e^x - e^-x) / 2 through expm1: no cancellation near 0
    return be.multiply(be.subtract(be.expm1(x), be.expm1(be.negative(x))), 0.5)


def _cosh(be: Any, x: Any) -> Any:
    return be.multiply(be.add(be.exp(x), be.exp(be.negative(x))), 0.5)


def _asinh(be: Any, x: Any) -> Any:
    # sign(x) * log1p(|x| + x^2 / (1 + sqrt(1 + x^2))): exact near 0, no overflow of x^2 below ~1e154
    ax = be.abs(x)
    t = be.add(ax, be.divide(be.multiply(ax, ax), be.add(1, be.sqrt(be.add(1, be.multiply(ax, ax))))))
    return be.multiply(be.sign(x), be.log1p(t))


def _acosh(be: Any, x: Any) -> Any:
    # log1p(t + sqrt(2t + t^2)) with t = x - 1: accurate near 1; NaN below 1
    t = be.subtract(x, 1)
    return be.log1p(be.add(t, be.sqrt(be.add(be.multiply(t, 2), be.multiply(t, t)))))


def _atanh(be: Any, x: Any) -> Any:
    # 0.5 * log1p(2x / (1 - x))
    return be.multiply(be.log1p(be.divide(be.multiply(x, 2), be.subtract(1, x))), 0.5)


def _exp2(be: Any, x: Any) -> Any:
    return be.pow(2.0, x)


def _zero(x: Any, r: Any, g: Any, *params: Any) -> Any:
    """The derivative of a step function: zero almost everywhere (PyTorch still records a node)."""
    return g * 0


_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_2_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_2 = math.sqrt(math.pi) / 2.0

_NEG_BOOL = RuntimeError(
    "Negation, the `-` operator, on a bool tensor is not supported. "
    "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."
)

F, K, R, B = Policy.FLOAT, Policy.KEEP, Policy.ROUNDING, Policy.BOOL
X, Y, XY = Saves.INPUT, Saves.RESULT, Saves.INPUT | Saves.RESULT
FN_METHOD = Form.FUNCTION | Form.METHOD

# ------------------------------------------------------------------------ unary
# fmt: off
UNARY: dict[str, Unary] = {
    "neg": Unary("NegBackward0", "negative", K, lambda x, r, g: -g, aliases=("negative",), bool_input=_NEG_BOOL, doc="-x",
                 operator="__neg__"),
    "abs": Unary("AbsBackward0", "abs", K, lambda x, r, g: g * x.sign(), X, aliases=("absolute",),
                 bool_input=NotImplementedError("\"abs_cpu\" not implemented for 'Bool'"), doc="|x|",
                 operator="__abs__"),
    "sign": Unary("SignBackward0", "sign", K, _zero, bool_input="copy", doc="-1, 0 or 1 by the sign of x"),
    "exp": Unary("ExpBackward0", "exp", F, lambda x, r, g: g * r, Y, doc="e^x"),
    "exp2": Unary("Exp2Backward0", _exp2, F, lambda x, r, g: g * r * _LN2, Y, doc="2^x"),
    "expm1": Unary("Expm1Backward0", "expm1", F, lambda x, r, g: g * (r + 1), Y, doc="e^x - 1, exact near 0"),
    "log": Unary("LogBackward0", "log", F, lambda x, r, g: g / x, X, domain=(0.2, 3.0), doc="ln x"),
    "log2": Unary("Log2Backward0", "log2", F, lambda x, r, g: g / (x * _LN2), X, domain=(0.2, 3.0), doc="log2 x"),
    "log10": Unary("Log10Backward0", "log10", F, lambda x, r, g: g / (x * _LN10), X, domain=(0.2, 3.0), doc="log10 x"),
    "log1p": Unary("Log1PBackward0", "log1p", F, lambda x, r, g: g / (x + 1), X, domain=(-0.8, 3.0), doc="ln(1 + x), exact near 0"),
    "sqrt": Unary("SqrtBackward0", "sqrt", F, lambda x, r, g: g / (r * 2), Y, domain=(0.2, 3.0), doc="√x"),
    "rsqrt": Unary("RsqrtBackward0", _rsqrt, F, lambda x, r, g: g * r * r * r * -0.5, Y, domain=(0.2, 3.0), doc="1/√x"),
    "reciprocal": Unary("ReciprocalBackward0", _reciprocal, F, lambda x, r, g: -g * r * r, Y, domain=(0.2, 3.0), doc="1/x"),
    "square": Unary("PowBackward0", _square, K, lambda x, r, g: g * x * 2, X, bool_input="int64", doc="x²"),
    "sin": Unary("SinBackward0", "sin", F, lambda x, r, g: g * x.cos(), X, doc="sin x"),
    "cos": Unary("CosBackward0", "cos", F, lambda x, r, g: -g * x.sin(), X, doc="cos x"),
    "tan": Unary("TanBackward0", "tan", F, lambda x, r, g: g * (r * r + 1), Y, domain=(-1.2, 1.2), doc="tan x"),
    "sinh": Unary("SinhBackward0", _sinh, F, lambda x, r, g: g * x.cosh(), X, doc="sinh x"),
    "cosh": Unary("CoshBackward0", _cosh, F, lambda x, r, g: g * x.sinh(), X, doc="cosh x"),
    "tanh": Unary("TanhBackward0", "tanh", F, lambda x, r, g: g * (1 - r * r), Y, doc="tanh x"),
    "asinh": Unary("AsinhBackward0", _asinh, F, lambda x, r, g: g / (x * x + 1).sqrt(), X, aliases=("arcsinh",), doc="sinh⁻¹ x"),
    "acosh": Unary("AcoshBackward0", _acosh, F, lambda x, r, g: g / (x * x - 1).sqrt(), X, aliases=("arccosh",),
                   domain=(1.2, 3.0), doc="cosh⁻¹ x"),
    "atanh": Unary("AtanhBackward0", _atanh, F, lambda x, r, g: g / (1 - x * x), X, aliases=("arctanh",),
                   domain=(-0.8, 0.8), doc="tanh⁻¹ x"),
    "sigmoid": Unary("SigmoidBackward0", _sigmoid, F, lambda x, r, g: g * r * (1 - r), Y, doc="1 / (1 + e^-x)"),
    "relu": Unary("ReluBackward0", _relu, K, lambda x, r, g: g * (r > 0), Y,
                  bool_input=RuntimeError("Boolean inputs not supported for relu"), doc="max(x, 0)"),
    "erf": Unary("ErfBackward0", _special("erf"), F, lambda x, r, g: g * (-x * x).exp() * _2_SQRT_PI, X,
                 doc="2/√π ∫₀ˣ e^(-t²) dt"),
    "erfc": Unary("ErfcBackward0", _special("erfc"), F, lambda x, r, g: g * (-x * x).exp() * -_2_SQRT_PI, X,
                  doc="1 - erf x, exact in the tail"),
    "erfinv": Unary("ErfinvBackward0", _special("erfinv"), F, lambda x, r, g: g * (r * r).exp() * _SQRT_PI_2, Y,
                    domain=(-0.9, 0.9), doc="the inverse of erf on (-1, 1)"),
    "lgamma": Unary("LgammaBackward0", _special("lgamma"), F, lambda x, r, g: g * x.digamma(), X,
                    domain=(0.2, 4.0), doc="ln |Γ(x)|"),
    "digamma": Unary("DigammaBackward0", _special("digamma"), F, lambda x, r, g: g * x.polygamma(1), X,
                     domain=(0.2, 4.0), doc="ψ(x) = d/dx ln Γ(x)"),
    "polygamma": Unary("PolygammaBackward0", _polygamma, F, lambda x, r, g, n: g * x.polygamma(n + 1), X,
                       params=("n",), params_first=True, domain=(0.2, 4.0), doc="ψ⁽ⁿ⁾(x), the n-th derivative of ψ"),
    "floor": Unary("FloorBackward0", "floor", R, _zero, doc="the largest integer ≤ x"),
    "ceil": Unary("CeilBackward0", "ceil", R, _zero, doc="the smallest integer ≥ x"),
    "trunc": Unary("TruncBackward0", "trunc", R, _zero, aliases=("fix",), doc="x rounded toward zero"),
    "isnan": Unary("", "isnan", B, None, forms=FN_METHOD, doc="x is NaN"),
    "isinf": Unary("", "isinf", B, None, forms=FN_METHOD, doc="x is ±∞"),
    "isfinite": Unary("", "isfinite", B, None, forms=FN_METHOD, doc="x is neither NaN nor ±∞"),
    "logical_not": Unary("", "logical_not", B, None, doc="not x (non-zero is true)"),
}
# fmt: on
# ``round`` is derived from its row too; plugrad.round adds ``decimals`` on top (elementwise.py).
UNARY["round"] = Unary("RoundBackward0", "round", R, _zero, forms=Form(0), doc="x rounded half to even")


# ----------------------------------------------------------------------- binary
def _copysign_grad_a(a: Any, b: Any, r: Any, g: Any) -> Any:
    # d/da |a| sgn(b) = r / a, taken as 0 at a == 0 (PyTorch's choice)
    return (g * r / a).where(a != 0, g * 0)


def _xlogy_grad_a(a: Any, b: Any, r: Any, g: Any) -> Any:
    # log(b); 0 where a == 0 and b <= 0 (the product is defined as 0 there)
    return (g * b.log()).where((a != 0) | (b > 0), g * 0)


# fmt: off
BINARY: dict[str, Binary] = {
    "hypot": Binary("HypotBackward0", _special("hypot"), Policy.PROMOTE, (lambda a, b, r, g: g * a / r, lambda a, b, r, g: g * b / r),
                    XY, doc="√(a² + b²) without overflow", domain=(0.2, 2.0)),
    "logaddexp": Binary("LogaddexpBackward0", _special("logaddexp"), Policy.PROMOTE,
                        (lambda a, b, r, g: g / ((b - a).exp() + 1), lambda a, b, r, g: g / ((a - b).exp() + 1)),
                        X, forms=FN_METHOD, doc="ln(e^a + e^b) without overflow"),
    "logaddexp2": Binary("Logaddexp2Backward0", _special("logaddexp2"), Policy.PROMOTE,
                         (lambda a, b, r, g: g / (2 ** (b - a) + 1), lambda a, b, r, g: g / (2 ** (a - b) + 1)),
                         X, forms=FN_METHOD, doc="log₂(2^a + 2^b) without overflow"),
    "copysign": Binary("CopysignBackward0", _special("copysign"), Policy.PROMOTE_FLOAT, (_copysign_grad_a, lambda a, b, r, g: g * 0),
                       XY, doc="|a| with the sign of b", domain=(0.2, 2.0), domain_b=(-2.0, 2.0),
                       node_scalar="CopysignBackward1"),
    "xlogy": Binary("XlogyBackward0", _special("xlogy"), Policy.PROMOTE_FLOAT, (_xlogy_grad_a, lambda a, b, r, g: g * a / b),
                    X, doc="a · ln b, 0 where a = 0", domain_b=(0.2, 3.0),
                    node_scalar="XlogyBackward0"),
}
# fmt: on


# ------------------------------------------------------------- hand-written ops
@dataclass(frozen=True)
class Impl:
    """An op whose forward and backward are hand-written in another ``_ops`` module.

    Arithmetic with PyTorch's scalar rules, reductions, matrix products, shape ops, joins
    and gathers keep their own ``Function`` classes (their semantics do not fit one
    formula), but their public spellings still come from a row: the ``plugrad.<name>``
    function (with ``out=`` where PyTorch has it), the ``Tensor`` method (the function
    itself, where PyTorch's method takes the function's arguments after ``input``) and
    the aliases. Methods whose signature differs from the function's (``x.where(c, y)``,
    ``x.max()``, ``x.eq``) are written out in ``_tensor.py``.
    """

    module: str  # the _ops module that holds the function
    aliases: tuple[str, ...] = ()
    out: bool = True  # the function takes PyTorch's ``out=``
    function: bool = True  # a ``plugrad.<name>`` function (``view`` is a method only)
    method: bool = True  # ``Tensor.<name>`` is the function itself (same signature after ``input``)


_E, _L, _R, _S, _X, _O = "elementwise", "linalg", "reduction", "shape", "scatter", "other"
# fmt: off
IMPL: dict[str, Impl] = {
    "add": Impl(_E), "sub": Impl(_E, aliases=("subtract",)), "mul": Impl(_E, aliases=("multiply",)),
    "div": Impl(_E, aliases=("divide", "true_divide")), "floor_divide": Impl(_E), "remainder": Impl(_E),
    "fmod": Impl(_E), "pow": Impl(_E), "maximum": Impl(_E), "minimum": Impl(_E), "fmax": Impl(_E), "fmin": Impl(_E),
    "eq": Impl(_E, method=False), "ne": Impl(_E, aliases=("not_equal",), method=False), "lt": Impl(_E, aliases=("less",), method=False),
    "le": Impl(_E, aliases=("less_equal",), method=False), "gt": Impl(_E, aliases=("greater",), method=False),
    "ge": Impl(_E, aliases=("greater_equal",), method=False), "logical_and": Impl(_E), "logical_or": Impl(_E),
    "logical_xor": Impl(_E), "bitwise_and": Impl(_E), "bitwise_or": Impl(_E), "bitwise_xor": Impl(_E),
    "bitwise_not": Impl(_E), "bitwise_left_shift": Impl(_E), "bitwise_right_shift": Impl(_E),
    "clamp": Impl(_E, aliases=("clip",)), "clamp_min": Impl(_E), "clamp_max": Impl(_E), "lerp": Impl(_E),
    "where": Impl(_E, method=False), "round": Impl(_E),
    "matmul": Impl(_L), "addmm": Impl(_L), "mm": Impl(_L), "bmm": Impl(_L), "mv": Impl(_L), "dot": Impl(_L), "outer": Impl(_L),
    "sum": Impl(_R), "mean": Impl(_R), "prod": Impl(_R), "cumsum": Impl(_R), "cumprod": Impl(_R),
    "amax": Impl(_R, method=False), "amin": Impl(_R, method=False), "argmax": Impl(_R), "argmin": Impl(_R), "logsumexp": Impl(_R),
    "std": Impl(_R, method=False), "var": Impl(_R, method=False),
    "cat": Impl(_S, aliases=("concat", "concatenate"), method=False), "stack": Impl(_S, method=False),
    "index_select": Impl(_X), "gather": Impl(_X), "masked_select": Impl(_X), "take_along_dim": Impl(_X),
    "tril": Impl(_O), "triu": Impl(_O), "diag": Impl(_O),
}
# fmt: on

# ops with no out= in PyTorch (or a method only), whose methods are the functions
# fmt: off
IMPL.update({
    "any": Impl("reduction", out=False),
    "all": Impl("reduction", out=False),
    "norm": Impl("reduction", out=False),
    "count_nonzero": Impl("reduction", out=False),
    "argsort": Impl("sorting", out=False),
    "msort": Impl("sorting", out=False),
    "topk": Impl("sorting", out=False),
    "kthvalue": Impl("sorting", out=False),
    "median": Impl("sorting", out=False),
    "nonzero": Impl("scatter", out=False),
    "softmax": Impl("reduction", out=False),
    "log_softmax": Impl("reduction", out=False),
    "equal": Impl("comparison", out=False),
    "scatter_add": Impl("scatter", out=False),
    "index_add": Impl("scatter", out=False),
    "index_fill": Impl("scatter", out=False),
    "unflatten": Impl("shape", out=False),
    "movedim": Impl("shape", aliases=('moveaxis',), out=False),
    "repeat": Impl("shape", out=False, function=False),
    "flip": Impl("shape", out=False),
    "roll": Impl("shape", out=False),
    "chunk": Impl("shape", out=False),
    "narrow": Impl("shape", out=False),
    "select": Impl("shape", out=False),
    "reshape": Impl("shape", out=False),
    "view": Impl("shape", out=False, function=False),
    "permute": Impl("shape", out=False),
    "transpose": Impl("shape", aliases=('swapaxes', 'swapdims'), out=False),
    "t": Impl("shape", out=False),
    "expand": Impl("shape", out=False, function=False),
    "sum_to_size": Impl("shape", out=False, function=False),
    "unsqueeze": Impl("shape", out=False),
    "squeeze": Impl("shape", out=False),
    "flatten": Impl("shape", out=False),
    "clone": Impl("shape", out=False),
    "unbind": Impl("shape", out=False),
})
# fmt: on

# einsum and friends (issue 17)
# fmt: off
IMPL.update({
    "einsum": Impl("einsum", out=False, method=False),
    "tensordot": Impl("einsum", method=False),
    "kron": Impl("einsum"),
    "block_diag": Impl("einsum", out=False, method=False),
    "cdist": Impl("einsum", out=False, method=False),
    "trace": Impl("einsum", out=False),
    "diag_embed": Impl("einsum", out=False),
    "diagonal": Impl("einsum", out=False),
})
# fmt: on

# linalg (issue 17): the top-level spellings PyTorch keeps (plugrad.linalg has the rest)
# fmt: off
IMPL.update({
    "inverse": Impl("linalg_ops"),
    "det": Impl("linalg_ops", out=False),
    "logdet": Impl("linalg_ops", out=False),
    "slogdet": Impl("linalg_ops", out=False),
    "cholesky_solve": Impl("linalg_ops"),
    "triangular_solve": Impl("linalg_ops", out=False),
    "pinverse": Impl("linalg_ops", out=False),
    "matrix_power": Impl("linalg_ops"),
    "cross": Impl("linalg_ops"),
})
# fmt: on
