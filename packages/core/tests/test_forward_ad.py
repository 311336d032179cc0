"""Forward-mode AD (``plugrad.autograd.forward_ad``): tangents against float64 central
differences and hand-derived derivatives, level rules and errors as PyTorch has them."""

from __future__ import annotations

import math
import re
from typing import Any

import plugrad as torch
import plugrad.autograd.forward_ad as fwAD
import pytest
from plugrad._tensor import _make
from plugrad.autograd import Function
from plugrad.autograd import function as _function
from plugrad.testing import assert_close

F64 = torch.float64
# Central differences in float64 with step 1e-6 are accurate to about 1e-9 for the
# smooth functions below (truncation ~ h^2 f''' and rounding ~ 1e-16 / h).
STEP = 1e-6
TOL = 1e-6


def central_difference(f: Any, inputs: list[Any], tangents: list[Any]) -> Any:
    """``(f(x + h t) - f(x - h t)) / 2h``: the directional derivative, numerically."""
    plus = f(*[x + STEP * t if t is not None else x for x, t in zip(inputs, tangents)])
    minus = f(*[x - STEP * t if t is not None else x for x, t in zip(inputs, tangents)])
    return (plus - minus) / (2 * STEP)


def forward_jvp(f: Any, inputs: list[Any], tangents: list[Any]) -> tuple[Any, Any]:
    with fwAD.dual_level():
        args = [fwAD.make_dual(x, t) if t is not None else x for x, t in zip(inputs, tangents)]
        out = f(*args)
        primal, tangent = fwAD.unpack_dual(out)
    return primal, tangent


def rand(*shape: int, low: float = -1.0, high: float = 1.0) -> Any:
    return torch.rand(*shape, dtype=F64) * (high - low) + low


POS = {"low": 0.5, "high": 2.0}  # inputs kept away from 0 (log, sqrt, division, kinks)

# name -> (function, input makers)
UNARY = {
    "neg": (lambda x: -x, {}),
    "abs": (torch.abs, POS),
    "exp": (torch.exp, {}),
    "expm1": (torch.expm1, {}),
    "log": (torch.log, POS),
    "log2": (torch.log2, POS),
    "log10": (torch.log10, POS),
    "log1p": (torch.log1p, POS),
    "sqrt": (torch.sqrt, POS),
    "rsqrt": (torch.rsqrt, POS),
    "reciprocal": (torch.reciprocal, POS),
    "square": (torch.square, {}),
    "sin": (torch.sin, {}),
    "cos": (torch.cos, {}),
    "tan": (torch.tan, {}),
    "tanh": (torch.tanh, {}),
    "sigmoid": (torch.sigmoid, {}),
    "relu": (torch.relu, POS),
    "floor": (torch.floor, POS),
    "pow_scalar": (lambda x: x**2.5, POS),
    "rpow": (lambda x: 2.0**x, {}),
    "scalar_div": (lambda x: 3.0 / x, POS),
    "rsub": (lambda x: 2.0 - x, {}),
    "mul_scalar": (lambda x: x * 3.0, {}),
    "add_scalar": (lambda x: x + 3.0, {}),
    "remainder_scalar": (lambda x: torch.remainder(x * 3.0, 1.7), POS),
    "sum": (lambda x: x.sum(), {}),
    "sum_dim": (lambda x: x.sum(dim=1), {}),
    "sum_dims_keepdim": (lambda x: x.sum(dim=(0, 1), keepdim=True), {}),
    "mean": (lambda x: x.mean(), {}),
    "mean_dim": (lambda x: x.mean(dim=0, keepdim=True), {}),
    "reshape": (lambda x: x.reshape(4, 3), {}),
    "view": (lambda x: x.view(-1), {}),
    "permute": (lambda x: x.permute(1, 0), {}),
    "transpose": (lambda x: x.transpose(0, 1), {}),
    "t": (lambda x: x.t(), {}),
    "expand": (lambda x: x[:1].expand(5, 4), {}),
    "unsqueeze_squeeze": (lambda x: x.unsqueeze(0).squeeze(0), {}),
    "flatten": (lambda x: x.flatten(), {}),
    "sum_to_size": (lambda x: x.sum_to_size(1, 4), {}),
    "clone": (lambda x: x.clone(), {}),
    "select": (lambda x: x[1], {}),
    "slice": (lambda x: x[:, 1:3], {}),
    "none_ellipsis": (lambda x: x[None, ..., 0], {}),
    "advanced_index": (lambda x: x[[0, 2, 2]], {}),
    "mask": (lambda x: x[x > 0], {}),
    "tensor_index": (lambda x: x[torch.tensor([2, 0])], {}),
    "softplus_composite": (lambda x: (1 + x.exp()).log() * x.sigmoid(), {}),
}


IDX = [[0, 2, 1, 0], [1, 1, 0, 2], [2, 0, 2, 1]]  # an index for gather/scatter on (3, 4) inputs
MASK = [[True, False, False, True], [False, True, False, False], [True, True, False, False]]

# ops added with the op catalogue: some have rules, the rest use the double-vjp fallback
CATALOGUE = {
    "softmax": (lambda x: torch.softmax(x, dim=1), {}),
    "log_softmax": (lambda x: torch.log_softmax(x, dim=0), {}),
    "logsumexp": (lambda x: torch.logsumexp(x, dim=1), {}),
    "logsumexp_keepdim": (lambda x: torch.logsumexp(x, dim=(0, 1), keepdim=True), {}),
    "cat": (lambda x: torch.cat([x, x.exp(), torch.ones(1, 4, dtype=F64)], dim=0), {}),
    "stack": (lambda x: torch.stack([x, torch.zeros(3, 4, dtype=F64), x.sin()], dim=1), {}),
    "split": (lambda x: torch.split(x, [1, 3], dim=1)[1], {}),
    "chunk": (lambda x: torch.chunk(x, 2, dim=1)[0] * 2, {}),
    "unbind": (lambda x: torch.unbind(x, 0)[2], {}),
    "narrow": (lambda x: torch.narrow(x, 1, 1, 2), {}),
    "movedim": (lambda x: torch.movedim(x.unsqueeze(0), 0, 2), {}),
    "flip": (lambda x: torch.flip(x, (0, 1)), {}),
    "roll": (lambda x: torch.roll(x, 1, 1), {}),
    "repeat": (lambda x: x.repeat(2, 1, 2), {}),
    "cumsum": (lambda x: torch.cumsum(x, dim=1), {}),
    "cumprod": (lambda x: torch.cumprod(x, dim=0), {}),
    "gather": (lambda x: torch.gather(x, 1, torch.tensor(IDX)), {}),
    "take_along_dim": (lambda x: torch.take_along_dim(x, torch.tensor(IDX), dim=1), {}),
    "index_select": (lambda x: torch.index_select(x, 1, torch.tensor([3, 0, 3])), {}),
    "masked_fill": (lambda x: torch.masked_fill(x, torch.tensor(MASK), 2.0), {}),
    "masked_fill_tensor": (lambda x: torch.masked_fill(x, torch.tensor(MASK), x[0, 0] * 3), {}),
    "scatter": (lambda x: torch.zeros(3, 4, dtype=F64).scatter(1, torch.tensor(IDX)[:, :1], x[:, :1]), {}),
    "scatter_add": (lambda x: (x * 2).scatter_add(1, torch.tensor(IDX), x.exp()), {}),
    "prod": (lambda x: torch.prod(x), POS),
    "prod_dim": (lambda x: torch.prod(x, dim=1), POS),
    "amax": (lambda x: torch.amax(x, dim=0), {}),
    "amin": (lambda x: torch.amin(x, dim=(0, 1)), {}),
    "max_all": (lambda x: torch.max(x), {}),
    "max_dim": (lambda x: torch.max(x, dim=1).values, {}),
    "min_dim": (lambda x: torch.min(x, dim=0, keepdim=True)[0], {}),
    "var": (lambda x: torch.var(x, dim=1), {}),
    "std": (lambda x: torch.std(x), {}),
    "vector_norm": (lambda x: torch.linalg.vector_norm(x, 3.0, dim=1), POS),
    "norm": (lambda x: x.norm(), {}),
    "clamp": (lambda x: torch.clamp(x, -0.5, 0.5), {}),
    "clamp_tensor": (lambda x: torch.clamp(x, min=x[0] * 0.5), POS),
    "lerp": (lambda x: torch.lerp(x, x.exp(), 0.3), {}),
    "lerp_tensor": (lambda x: torch.lerp(x, x.exp(), x.sigmoid()), {}),
}


@pytest.mark.parametrize("name", sorted(UNARY) + sorted(CATALOGUE))
def test_unary_tangent_matches_central_difference(name: str) -> None:
    f, dom = UNARY[name] if name in UNARY else CATALOGUE[name]
    x = rand(3, 4, **dom)
    t = rand(3, 4)
    primal, tangent = forward_jvp(f, [x], [t])
    assert_close(primal, f(x), rtol=TOL, atol=TOL)
    assert tangent is not None
    assert tangent.shape == primal.shape and tangent.dtype == primal.dtype
    assert_close(tangent, central_difference(f, [x], [t]), rtol=TOL, atol=TOL)


BINARY = {
    "add": (lambda a, b: a + b, {}, {}),
    "sub": (lambda a, b: a - b, {}, {}),
    "mul": (lambda a, b: a * b, {}, {}),
    "div": (lambda a, b: a / b, {}, POS),
    "pow": (lambda a, b: a**b, POS, {}),
    "maximum": (torch.maximum, {}, {}),
    "minimum": (torch.minimum, {}, {}),
    "remainder": (torch.remainder, POS, POS),
    "where": (lambda a, b: torch.where(a > b, a, b), {}, {}),
    "hypot_composite": (lambda a, b: (a * a + b * b).sqrt(), POS, POS),
}
# the broadcasting pairs: scalar, (4,), (3, 4), (1, 4)
SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((1, 4), (3, 1)), ((), (3, 4)), ((4,), ())]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_tangent_matches_central_difference(name: str, shapes: tuple[tuple[int, ...], ...]) -> None:
    f, dom_a, dom_b = BINARY[name]
    a, b = rand(*shapes[0], **dom_a), rand(*shapes[1], **dom_b)
    ta, tb = rand(*shapes[0]), rand(*shapes[1])
    for tangents in ([ta, tb], [ta, None], [None, tb]):  # either input alone, and both
        primal, tangent = forward_jvp(f, [a, b], tangents)
        assert tangent is not None and tangent.shape == primal.shape
        assert_close(
            tangent,
            central_difference(f, [a, b], tangents),
            rtol=TOL,
            atol=TOL,
            msg=lambda m, t=tangents: f"{m}\n{t!r}",
        )


MATMUL = {
    "mm": ((3, 4), (4, 2)),
    "mv": ((3, 4), (4,)),
    "dot": ((4,), (4,)),
    "vec_mat": ((4,), (4, 2)),
    "bmm": ((2, 3, 4), (2, 4, 5)),
    "batch_broadcast": ((2, 3, 4), (4, 5)),
}


@pytest.mark.parametrize("name", sorted(MATMUL))
def test_matmul_tangent_is_product_rule(name: str) -> None:
    sa, sb = MATMUL[name]
    a, b, ta, tb = rand(*sa), rand(*sb), rand(*sa), rand(*sb)
    _, tangent = forward_jvp(torch.matmul, [a, b], [ta, tb])
    # d(ab) = da b + a db, exactly (matmul is bilinear)
    assert_close(tangent, ta @ b + a @ tb, rtol=1e-12, atol=1e-12)
    assert_close(tangent, central_difference(torch.matmul, [a, b], [ta, tb]), rtol=TOL, atol=TOL)


def test_analytic_tangents() -> None:
    x = torch.tensor([0.5, 1.0, 2.0], dtype=F64)
    t = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    _, tan = forward_jvp(lambda v: v.sin(), [x], [t])
    assert_close(tan.tolist(), [math.cos(v) * w for v, w in zip(x.tolist(), t.tolist())], rtol=1e-14, atol=1e-14)
    _, tan = forward_jvp(lambda v: (v * v * v).sum(), [x], [t])
    assert_close(tan.item(), sum(3 * v * v * w for v, w in zip(x.tolist(), t.tolist())), rtol=1e-14, atol=1e-14)
    _, tan = forward_jvp(lambda v: v.exp() / v, [x], [t])
    expected = [math.exp(v) * (v - 1) / v**2 * w for v, w in zip(x.tolist(), t.tolist())]
    assert_close(tan.tolist(), expected, rtol=1e-14, atol=1e-14)


def test_mlp_tangent_matches_central_difference() -> None:
    w1, b1, w2 = rand(5, 3), rand(5), rand(2, 5)
    f = lambda x, w: (w2 @ (w @ x + b1).tanh()).sigmoid()  # noqa: E731
    x, w = rand(3), w1
    tx, tw = rand(3), rand(5, 3)
    _, tangent = forward_jvp(f, [x, w], [tx, tw])
    assert_close(tangent, central_difference(f, [x, w], [tx, tw]), rtol=TOL, atol=TOL)


def test_mixed_dtypes_promote_tangent() -> None:
    a = torch.tensor([1.0, 2.0])  # float32
    b = torch.tensor([3.0, 4.0], dtype=F64)
    _, tangent = forward_jvp(lambda u, v: u * v, [a, b], [torch.ones(2), None])
    assert tangent.dtype == F64 and tangent.tolist() == [3.0, 4.0]
    _, tangent = forward_jvp(lambda u: u.to(F64), [a], [torch.tensor([1.0, 2.0])])
    assert tangent.dtype == F64 and tangent.tolist() == [1.0, 2.0]


def test_outputs_without_derivative_get_no_tangent() -> None:
    x, t = rand(3), rand(3)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, t)
        assert fwAD.unpack_dual(d > 0).tangent is None
        assert fwAD.unpack_dual(d.detach()).tangent is None
        assert fwAD.unpack_dual(x * 2).tangent is None  # x itself is no dual tensor
        assert fwAD.unpack_dual(d.sign()).tangent.tolist() == [0.0, 0.0, 0.0]


# -------------------------------------------------------------------- levels and duals
def test_make_dual_outside_a_level() -> None:
    with pytest.raises(RuntimeError, match="no level exists, make sure to enter_dual_level\\(\\) first"):
        fwAD.make_dual(torch.ones(2), torch.ones(2))
    _p, t = fwAD.unpack_dual(torch.ones(2))
    assert t is None


def test_dual_tensor_is_a_view_holding_the_tangent_as_given() -> None:
    x = torch.tensor([1.0, 2.0, 3.0])
    t = torch.ones(3)
    with fwAD.dual_level() as level:
        assert level == 0
        d = fwAD.make_dual(x, t)
        assert d._base is x
        primal, tangent = fwAD.unpack_dual(d)
        assert tangent is t
        assert primal.tolist() == x.tolist() and fwAD.unpack_dual(primal).tangent is None
        assert isinstance(fwAD.unpack_dual(d), fwAD.UnpackedDualTensor)
        x[0] = 10.0  # shares storage with its primal
        assert d[0].item() == 10.0
    assert fwAD.unpack_dual(d).tangent is None  # dropped on exit
    assert d._extra is None or "fw_grad" not in d._extra
    assert _function._forward_ad_active[0] == 0


def test_make_dual_errors() -> None:
    with fwAD.dual_level():
        with pytest.raises(
            ValueError, match=re.escape("Expected primal to be floating point or complex, but got: plugrad.int64")
        ):
            fwAD.make_dual(torch.tensor([1, 2]), torch.ones(2))
        with pytest.raises(
            ValueError, match=re.escape("Expected tangent to be floating point or complex, but got: plugrad.int64")
        ):
            fwAD.make_dual(torch.ones(2), torch.tensor([1, 2]))
        with pytest.raises(
            RuntimeError, match=r"Tensor is of size \[3\] while the given forward gradient is of size \[2\]"
        ):
            fwAD.make_dual(torch.ones(3), torch.ones(2))
        d = fwAD.make_dual(torch.ones(2), torch.ones(2))
        with pytest.raises(RuntimeError, match="already has a forward gradient at the same level 0"):
            fwAD.make_dual(d, torch.ones(2))
        with pytest.raises(TypeError, match="must be Tensor"):
            fwAD.make_dual([1.0], torch.ones(1))


def test_levels_do_not_nest_and_exit_in_order() -> None:
    with fwAD.dual_level():
        with pytest.raises(RuntimeError, match="Nested forward mode AD is not supported at the moment"):
            fwAD.enter_dual_level()
        with pytest.raises(RuntimeError, match="not the last one that was created"):
            fwAD.exit_dual_level(level=3)
    with pytest.raises(RuntimeError, match="Dual level must be a positive number"):
        fwAD.exit_dual_level()
    level = fwAD.enter_dual_level()
    fwAD.exit_dual_level(level=level)


def test_level_closes_when_the_body_raises() -> None:
    with pytest.raises(ZeroDivisionError):
        with fwAD.dual_level():
            1 / 0  # noqa: B018
    assert _function._forward_ad_active[0] == 0
    with fwAD.dual_level():  # a new level opens fine
        pass


def test_dual_level_as_decorator() -> None:
    @fwAD.dual_level()
    def tangent_of_square(x: Any, t: Any) -> Any:
        return fwAD.unpack_dual(fwAD.make_dual(x, t) ** 2).tangent

    assert tangent_of_square(torch.tensor([3.0]), torch.tensor([1.0])).tolist() == [6.0]


def test_grad_modes() -> None:
    x, t = torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0])
    with fwAD.dual_level():
        d = fwAD.make_dual(x, t)
        with torch.no_grad():  # no_grad does not stop forward mode
            assert fwAD.unpack_dual(d * 3).tangent.tolist() == [3.0, 3.0]
        with torch.inference_mode():  # inference mode does, as in PyTorch
            assert fwAD.unpack_dual(d * 3).tangent is None


def test_reverse_mode_names_of_make_dual_and_unpack_dual() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, torch.ones(2))
        assert d.grad_fn.name() == "ViewBackward0"
        primal = fwAD.unpack_dual(d).primal
        assert primal.grad_fn.name() == "AliasBackward0"
        (primal * d).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]


# ------------------------------------------------------------- mixing with reverse mode
def test_reverse_over_forward() -> None:
    """The tangent of sum(x^3) along t is sum(3 x^2 t): its gradient is 6 x t (w.r.t. x) and 3 x^2 (w.r.t. t)."""
    x = torch.tensor([0.5, -1.0, 2.0], dtype=F64, requires_grad=True)
    t = torch.tensor([1.0, 2.0, -1.0], dtype=F64, requires_grad=True)
    with fwAD.dual_level():
        out = (fwAD.make_dual(x, t) ** 3).sum()
        tangent = fwAD.unpack_dual(out).tangent
    gx, gt = torch.autograd.grad(tangent, (x, t))
    xs, ts = x.tolist(), t.tolist()
    assert_close(gx.tolist(), [6 * a * b for a, b in zip(xs, ts)], rtol=1e-14, atol=1e-14)
    assert_close(gt.tolist(), [3 * a * a for a in xs], rtol=1e-14, atol=1e-14)


def test_forward_over_reverse_gives_hessian_vector_product() -> None:
    """f = sum(tanh(x)^2): the tangent of its gradient along v is H v, H diagonal with 2(1-y^2)(1-3y^2)."""
    x = torch.tensor([0.3, -1.0, 2.0], dtype=F64, requires_grad=True)
    v = torch.tensor([1.0, 0.5, -2.0], dtype=F64)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, v)
        (g,) = torch.autograd.grad((d.tanh() ** 2).sum(), d)
        hv = fwAD.unpack_dual(g).tangent
    ys = [math.tanh(a) for a in x.tolist()]
    expected = [2 * (1 - y * y) * (1 - 3 * y * y) * w for y, w in zip(ys, v.tolist())]
    assert_close(hv.tolist(), expected, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------ custom Functions
class ScaledMul(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any, k: float) -> Any:
        ctx.save_for_backward(a, b)
        ctx.save_for_forward(a, b)
        ctx.k = k
        return a * b * k

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        a, b = ctx.saved_tensors
        return g * b * ctx.k, g * a * ctx.k, None

    @staticmethod
    def jvp(ctx: Any, ta: Any, tb: Any, tk: Any) -> Any:
        assert tk is None  # non-tensor input
        a, b = ctx.saved_tensors  # what save_for_forward saved
        return ctx.k * (ta * b + a * tb)


@pytest.mark.parametrize("requires_grad", [False, True])
def test_custom_function_jvp(requires_grad: bool) -> None:
    a = torch.tensor([1.0, 2.0, 3.0], requires_grad=requires_grad)
    b = torch.tensor([2.0, 2.0, 2.0])
    with fwAD.dual_level():
        y = ScaledMul.apply(fwAD.make_dual(a, torch.ones(3)), b, 3)
        primal, tangent = fwAD.unpack_dual(y)
    assert primal.tolist() == [6.0, 12.0, 18.0]
    assert tangent.tolist() == [6.0, 6.0, 6.0]  # the input without tangent got zeros


def test_custom_function_without_jvp_raises() -> None:
    class Double(Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g * 2

    with fwAD.dual_level():
        d = fwAD.make_dual(torch.ones(2), torch.ones(2))
        with pytest.raises(
            NotImplementedError, match=re.escape("You must implement the jvp function for custom autograd.Function")
        ):
            Double.apply(d)
        Double.apply(torch.ones(2))  # without dual inputs nothing is asked of jvp


def test_custom_function_jvp_errors() -> None:
    class BadShape(Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 2

        @staticmethod
        def jvp(ctx: Any, t: Any) -> Any:
            return t.sum()

    class BadCount(Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 2, x * 3

        @staticmethod
        def jvp(ctx: Any, t: Any) -> Any:
            return t * 2

    with fwAD.dual_level():
        d = fwAD.make_dual(torch.ones(3), torch.ones(3))
        with pytest.raises(
            RuntimeError, match=r"Tensor is of size \[3\] while the given forward gradient is of size \[\]"
        ):
            BadShape.apply(d)
        with pytest.raises(
            RuntimeError,
            match=r"Function's jvp returned an invalid number of forward gradients \(expected 2 but got 1\)",
        ):
            BadCount.apply(d)


def test_identity_custom_function_does_not_touch_its_input() -> None:
    class Ident(Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g

        @staticmethod
        def jvp(ctx: Any, t: Any) -> Any:
            return t * 5

    for rg in (False, True):
        with fwAD.dual_level():
            t = torch.ones(2)
            d = fwAD.make_dual(torch.ones(2, requires_grad=rg), t)
            y = Ident.apply(d)
            assert y is not d
            assert fwAD.unpack_dual(y).tangent.tolist() == [5.0, 5.0]
            assert fwAD.unpack_dual(d).tangent is t


# ----------------------------------- built-in ops without a rule: the double-vjp fallback
class Cube(Function, backward_name="CubeBackward0", builtin=True):
    """x^3 written as a built-in op would be (no forward rule registered)."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        be = x._backend
        return _make(torch.Tensor, be.multiply(be.multiply(x._data, x._data), x._data), x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (x,) = ctx.saved_tensors
        return g * 3 * x * x


class Hypot(Function, backward_name="HypotBackward0", builtin=True):
    """sqrt(a^2 + b^2) with broadcasting; the engine reduces the gradients."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> Any:
        be = a._backend
        out = _make(
            torch.Tensor, be.sqrt(be.add(be.multiply(a._data, a._data), be.multiply(b._data, b._data))), a._dtype, be
        )
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        a, b, out = ctx.saved_tensors
        return g * a / out, g * b / out


class SinCos(Function, backward_name="SinCosBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        be = x._backend
        return _make(torch.Tensor, be.sin(x._data), x._dtype, be), _make(torch.Tensor, be.cos(x._data), x._dtype, be)

    @staticmethod
    def backward(ctx: Any, gs: Any, gc: Any) -> Any:
        (x,) = ctx.saved_tensors
        return gs * x.cos() - gc * x.sin()


def test_fallback_unary() -> None:
    x, t = rand(3, 2), rand(3, 2)
    for rg in (False, True):
        xi = x.detach().requires_grad_(rg)
        _, tangent = forward_jvp(Cube.apply, [xi], [t])
        assert_close(tangent, 3 * x * x * t, rtol=1e-12, atol=1e-12)


def test_fallback_broadcasting_binary() -> None:
    a, b = rand(3, 4, **POS), rand(4, **POS)
    ta, tb = rand(3, 4), rand(4)
    for tangents in ([ta, tb], [ta, None], [None, tb]):
        _, tangent = forward_jvp(Hypot.apply, [a, b], tangents)
        assert_close(tangent, central_difference(Hypot.apply, [a, b], tangents), rtol=TOL, atol=TOL)


def test_fallback_several_outputs() -> None:
    x, t = rand(4), rand(4)
    with fwAD.dual_level():
        s, c = SinCos.apply(fwAD.make_dual(x, t))
        ts, tc = fwAD.unpack_dual(s).tangent, fwAD.unpack_dual(c).tangent
    assert_close(ts, x.cos() * t, rtol=1e-12, atol=1e-12)
    assert_close(tc, -x.sin() * t, rtol=1e-12, atol=1e-12)


def test_fallback_tangent_is_differentiable() -> None:
    """Reverse over forward through the fallback: d/dx <3x^2, t> = 6 x t, d/dt = 3 x^2."""
    x = torch.tensor([0.5, -1.0, 2.0], dtype=F64, requires_grad=True)
    t = torch.tensor([1.0, 2.0, -1.0], dtype=F64, requires_grad=True)
    with fwAD.dual_level():
        tangent = fwAD.unpack_dual(Cube.apply(fwAD.make_dual(x, t)).sum()).tangent
    gx, gt = torch.autograd.grad(tangent, (x, t))
    assert_close(gx, 6 * x.detach() * t.detach(), rtol=1e-12, atol=1e-12)
    assert_close(gt, 3 * x.detach() ** 2, rtol=1e-12, atol=1e-12)


def test_inplace_op_updates_the_tangent() -> None:
    with fwAD.dual_level():
        d = fwAD.make_dual(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0]))
        d.mul_(3)
        assert fwAD.unpack_dual(d).tangent.tolist() == [3.0, 0.0]
        b = torch.tensor([5.0, 5.0])
        b.add_(d)  # a plain tensor takes the dual operand's tangent
        assert fwAD.unpack_dual(b).tangent.tolist() == [3.0, 0.0]
        c = torch.zeros(2)
        c.copy_(d * d)  # d(d*d) = 2 d dd = [2*3*3, 0]
        assert fwAD.unpack_dual(c).tangent.tolist() == [18.0, 0.0]


def test_dual_tensors_print_their_tangent_as_pytorch_does() -> None:
    with fwAD.dual_level():
        x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        d = fwAD.make_dual(x, x * 10)
        assert repr(d) == (
            "tensor([[1., 2., 3.],\n        [4., 5., 6.]],\n"
            "       tangent=tensor([[10., 20., 30.],\n        [40., 50., 60.]]))"
        )
        r = fwAD.make_dual(torch.tensor([1.0, 2.0], requires_grad=True), torch.ones(2))
        assert repr(r) == "tensor([1., 2.], grad_fn=<ViewBackward0>, tangent=tensor([1., 1.]))"
        assert repr(fwAD.make_dual(torch.tensor(1.0), torch.tensor(2.0))) == "tensor(1., tangent=2.0)"
    assert repr(d) == "tensor([[1., 2., 3.],\n        [4., 5., 6.]])"


ORACLE = {
    "mlp": lambda lib, x, w: (w @ x.t()).tanh().sum(0) * x[:, 0],
    "softmax_logsumexp": lambda lib, x, w: lib.softmax(x @ w.t(), dim=1) + lib.logsumexp(x, dim=1, keepdim=True),
    "pow_where_max": lambda lib, x, w: lib.where(x > 0, x.abs() ** w[0, :4], lib.maximum(x, w[1:, :4].sum(0))),
    "reductions": lambda lib, x, w: lib.stack([x.var(dim=1), x.norm(dim=1), x.prod(dim=1), x.amax(dim=1)]),
    "indexing": lambda lib, x, w: lib.cat([x[1:, ::2], x[[0, 2, 0]][:, :2].flip(0)], dim=0).cumprod(dim=1),
}


@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(ORACLE))
def test_tangents_match_pytorch(name: str) -> None:
    torch_ = pytest.importorskip("torch")
    f = ORACLE[name]
    x, w, tx, tw = rand(3, 4), rand(2, 4), rand(3, 4), rand(2, 4)
    _, ours = forward_jvp(lambda a, b: f(torch, a, b), [x, w], [tx, tw])
    conv = [torch_.tensor(t.tolist(), dtype=torch_.float64) for t in (x, w, tx, tw)]
    with torch_.autograd.forward_ad.dual_level():
        dx = torch_.autograd.forward_ad.make_dual(conv[0], conv[2])
        dw = torch_.autograd.forward_ad.make_dual(conv[1], conv[3])
        theirs = torch_.autograd.forward_ad.unpack_dual(f(torch_, dx, dw)).tangent
    assert_close(ours.tolist(), theirs.tolist(), rtol=1e-12, atol=1e-12)


def test_leaving_the_level_leaves_no_reference_cycles() -> None:
    """Tangents recorded for reverse mode may point back at their tensor (tanh's rule
    uses its output); leaving the level breaks that, so reference counting frees all."""
    import gc
    import weakref

    x = torch.tensor([0.5, 1.0], requires_grad=True)
    gc.disable()
    try:
        with fwAD.dual_level():
            y = fwAD.make_dual(x, torch.ones(2)).tanh().exp()
            refs = [weakref.ref(y), weakref.ref(y.grad_fn), weakref.ref(fwAD.unpack_dual(y).tangent)]
            del y
        assert [r() for r in refs] == [None, None, None]
    finally:
        gc.enable()
