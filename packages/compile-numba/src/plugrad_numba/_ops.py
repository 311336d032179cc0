"""How each fusable kernel reads in a numba loop body: one table, ``kernel name -> Op``.

A fused loop computes every value at the dtype the NumPy kernel gave it when the step was
recorded (``program.meta["dtypes"]``): operands are first cast to the *compute dtype* (the
result's for arithmetic and math, the operands' promotion for comparisons, ``bool`` for
logic), the formula runs, and the result is cast to the recorded dtype. Constants (Python or
NumPy scalars) are converted with NumPy itself and written out as exact literals, so weak
Python scalars behave as under NumPy 2's promotion rules (``float32_array * 1.001`` stays
``float32``).

Each formula is a :meth:`str.format` template over ``{x}``, ``{y}`` (operands, already cast)
and ``{one}`` (the literal ``1`` of the compute dtype); ``maximum`` and ``minimum`` propagate NaN as NumPy
does. Kernels not listed here are never fused: ``floor_divide`` and ``remainder`` are left
out on purpose (numba's float floor division differs from NumPy's at infinities and zeros).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Op", "OPS"]


@dataclass(frozen=True, slots=True)
class Op:
    """One fusable kernel.

    :ivar kind: ``"math"`` (float result, operands cast to it), ``"compare"`` (bool result,
        operands cast to their promotion), ``"logic"`` (bool result, operands tested
        against zero), ``"predicate"`` (float operand, bool result), ``"where"``,
        ``"clip"``, ``"astype"``.
    :ivar arity: how many array-or-scalar operands it takes.
    :ivar formula: the expression (see the module's docs); empty for the special kinds.
    :ivar float32: for float32 values, the row kernel of :mod:`._vmath` that computes it
        (vectorized by LLVM) instead of the formula's call to the C library.
    """

    kind: str
    arity: int
    formula: str = ""
    float32: str = ""


# numba lowers np.maximum/np.minimum of scalars to selects (no branch for its front end, no call
# for LLVM): NaN from either side; with the operands swapped, a tie gives ``y`` as NumPy does
# (maximum(-0.0, 0.0) is 0.0)
_MAX = "np.maximum({y}, {x})"
_MIN = "np.minimum({y}, {x})"

OPS: dict[str, Op] = {
    # arithmetic and binary math: float results
    "add": Op("math", 2, "{x} + {y}"),
    "subtract": Op("math", 2, "{x} - {y}"),
    "multiply": Op("math", 2, "{x} * {y}"),
    "divide": Op("math", 2, "{x} / {y}"),
    "pow": Op("math", 2, "{x} ** {y}"),
    "maximum": Op("math", 2, _MAX),
    "minimum": Op("math", 2, _MIN),
    "atan2": Op("math", 2, "np.arctan2({x}, {y})"),
    "hypot": Op("math", 2, "np.hypot({x}, {y})"),
    "copysign": Op("math", 2, "np.copysign({x}, {y})"),
    "logaddexp": Op("math", 2, "np.logaddexp({x}, {y})"),
    # unary math: float results
    "negative": Op("math", 1, "-{x}"),
    "abs": Op("math", 1, "np.abs({x})"),
    "sign": Op("math", 1, "np.sign({x})"),
    "exp": Op("math", 1, "np.exp({x})", "exp_rows"),
    "expm1": Op("math", 1, "np.expm1({x})"),
    "log": Op("math", 1, "np.log({x})", "log_rows"),
    "log2": Op("math", 1, "np.log2({x})"),
    "log10": Op("math", 1, "np.log10({x})"),
    "log1p": Op("math", 1, "np.log1p({x})"),
    "sqrt": Op("math", 1, "np.sqrt({x})"),
    "square": Op("math", 1, "{x} * {x}"),
    "reciprocal": Op("math", 1, "{one} / {x}"),
    "sin": Op("math", 1, "np.sin({x})"),
    "cos": Op("math", 1, "np.cos({x})"),
    "tan": Op("math", 1, "np.tan({x})"),
    "tanh": Op("math", 1, "np.tanh({x})", "tanh_rows"),
    "sinh": Op("math", 1, "np.sinh({x})"),
    "cosh": Op("math", 1, "np.cosh({x})"),
    "asin": Op("math", 1, "np.arcsin({x})"),
    "acos": Op("math", 1, "np.arccos({x})"),
    "atan": Op("math", 1, "np.arctan({x})"),
    "asinh": Op("math", 1, "np.arcsinh({x})"),
    "acosh": Op("math", 1, "np.arccosh({x})"),
    "atanh": Op("math", 1, "np.arctanh({x})"),
    "floor": Op("math", 1, "np.floor({x})"),
    "ceil": Op("math", 1, "np.ceil({x})"),
    "trunc": Op("math", 1, "np.trunc({x})"),
    "round": Op("math", 1, "np.rint({x})"),  # half to even, as the kernel (np.rint)
    "erf": Op("math", 1, "math.erf({x})"),
    "erfc": Op("math", 1, "math.erfc({x})"),
    "sigmoid": Op("math", 1, "{one} / ({one} + np.exp(-{x}))", "sigmoid_rows"),
    # comparisons: bool results
    "equal": Op("compare", 2, "{x} == {y}"),
    "not_equal": Op("compare", 2, "{x} != {y}"),
    "less": Op("compare", 2, "{x} < {y}"),
    "less_equal": Op("compare", 2, "{x} <= {y}"),
    "greater": Op("compare", 2, "{x} > {y}"),
    "greater_equal": Op("compare", 2, "{x} >= {y}"),
    # logic on truth values: bool results
    "logical_and": Op("logic", 2, "{x} & {y}"),
    "logical_or": Op("logic", 2, "{x} | {y}"),
    "logical_xor": Op("logic", 2, "{x} ^ {y}"),
    "logical_not": Op("logic", 1, "not {x}"),
    # float predicates
    "isnan": Op("predicate", 1, "np.isnan({x})"),
    "isinf": Op("predicate", 1, "np.isinf({x})"),
    "isfinite": Op("predicate", 1, "np.isfinite({x})"),
    # the rest: where(condition, x1, x2), clip(x, min, max), astype(x, dtype)
    "where": Op("where", 3),
    "clip": Op("clip", 3),
    "astype": Op("astype", 1),
}
