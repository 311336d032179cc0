"""``plugrad.nn.functional``: the stateless functions behind the layers and losses.

Everything here is written with plugrad tensor ops, so it runs on every backend.
Where a composed graph would be slow or numerically poor, an op is one
:class:`~plugrad.autograd.Function` (``linear``, ``erf``, most losses; ``softmax`` and
``log_softmax`` are core's); its ``backward`` is written with tensor ops on the saved inputs, so
gradients of gradients (``create_graph=True``) stay correct.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import plugrad
from plugrad import Tensor
from plugrad._autocast_state import ACTIVE as _AUTOCAST_ACTIVE
from plugrad._autocast_state import autocast_inputs
from plugrad.autograd import Function

from ._functional_attention import multi_head_attention_forward as multi_head_attention_forward
from ._functional_attention import scaled_dot_product_attention as scaled_dot_product_attention

__all__ = [
    "scaled_dot_product_attention",
    "multi_head_attention_forward",
    "linear",
    "relu",
    "relu_",
    "leaky_relu",
    "gelu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "dropout",
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "smooth_l1_loss",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "erf",
    "silu",
    "one_hot",
    "pad",
    "normalize",
]


def _check_tensor(x: Any, fn: str, arg: str = "input", pos: int = 1) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be Tensor, not {type(x).__name__}")


# ---------------------------------------------------------------------------- linear
def _dtype_name(t: Tensor) -> str:
    return t.dtype.to_legacy_type_name()[: -len("Tensor")]


def _shape_str(shape: Any) -> str:
    return "x".join(str(s) for s in shape)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map ``y = x W^T + b`` over the last dimension of ``input``.

    Shapes: ``input (*, in_features)``, ``weight (out_features, in_features)``,
    ``bias (out_features)``, result ``(*, out_features)``. Inside an enabled
    ``plugrad.autocast`` region the operands are cast to its dtype first.
    """
    if _AUTOCAST_ACTIVE[0]:
        input, weight, bias = autocast_inputs(input, weight, bias)
    _check_tensor(input, "linear")
    _check_tensor(weight, "linear", "weight", 2)
    if weight.ndim != 2:
        raise RuntimeError(f"linear(): weight must be 2-D, got {weight.ndim}-D")
    if input.ndim == 0:
        raise RuntimeError("both arguments to linear need to be at least 1D, but they are 0D and 2D")
    if input.dtype != weight.dtype:
        raise RuntimeError(
            f"mat1 and mat2 must have the same dtype, but got {_dtype_name(input)} and {_dtype_name(weight)}"
        )
    if input.shape[-1] != weight.shape[1]:
        rows = 1 if input.ndim == 1 else math.prod(input.shape[:-1])
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{input.shape[-1]} and {_shape_str(weight.t().shape)})"
        )
    if bias is not None and tuple(bias.shape) not in ((weight.shape[0],), (1,), ()):
        raise RuntimeError(
            f"The size of tensor a ({weight.shape[0]}) must match the size of tensor b ({bias.shape[-1]}) "
            "at non-singleton dimension 1"
        )
    # PyTorch's composition (and so its graph): addmm for a matrix input with a bias, the
    # leading dimensions of a contiguous input flattened into one addmm, matmul otherwise
    wt = weight.t()
    if bias is None:
        return plugrad.matmul(input, wt)
    if input.ndim == 2:
        return plugrad.addmm(bias, input, wt)  # type: ignore[no-any-return]
    if input.is_contiguous():
        out = plugrad.addmm(bias, input.view(-1, input.shape[-1]), wt)
        return out.view(*input.shape[:-1], weight.shape[0])  # type: ignore[no-any-return]
    return plugrad.matmul(input, wt) + bias


# ----------------------------------------------------------------------- activations
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)`` elementwise."""
    _check_tensor(input, "relu")
    if inplace:
        return relu_(input)
    return input.relu()


def relu_(input: Tensor) -> Tensor:
    """In-place ``relu``."""
    return input.copy_(input.relu())


class _LeakyRelu(Function, backward_name="LeakyReluBackward0"):
    """``x`` where ``x > 0``, else ``negative_slope * x``; gradient ``g`` or ``negative_slope * g``."""

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, x: Tensor, negative_slope: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.slope = negative_slope
        return plugrad.where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return plugrad.where(x > 0, g, g * ctx.slope), None


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` where ``x > 0``, else ``negative_slope * x`` (one ``LeakyReluBackward0`` node)."""
    _check_tensor(input, "leaky_relu")
    if inplace:
        return input.copy_(plugrad.where(input > 0, input, input * negative_slope))
    return _LeakyRelu.apply(input, float(negative_slope))  # type: ignore[no-any-return]


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))``, computed without overflow."""
    _check_tensor(input, "sigmoid")
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    _check_tensor(input, "tanh")
    return input.tanh()


# erf(x) = sign(x) * (1 - t * exp(-x^2 + Q(u))) with t = 1 / (1 + |x|/2) and
# u = (34 t - 21) / 13 (t in [4/17, 1] maps onto u in [-1, 1]). Q is a degree-18
# polynomial fitted (Chebyshev least squares, then expanded) to
# log(erfc(x)) + x^2 - log(t) on 0 <= x <= 6.5; beyond that erfc < 1e-19 is far below
# float64 resolution. Maximum absolute error against math.erf: 6e-15 in float64,
# 3e-7 in float32. The derivative is the exact 2/sqrt(pi) * exp(-x^2).
_ERF_Q = (
    -0.5115385921532182,
    0.5251687867109474,
    0.007108623062072834,
    -0.022847437529451325,
    0.00031642868065202194,
    0.002276655238163684,
    -0.000339982405959588,
    -0.00023781237440721802,
    9.302516955799439e-05,
    1.3973599700672556e-05,
    -1.7028676329669163e-05,
    2.183890037634222e-06,
    2.008323234175148e-06,
    -8.82417756974303e-07,
    -6.20637320323525e-08,
    1.4807163969061483e-07,
    -2.7636254796221553e-08,
    -1.1890485040714207e-08,
    4.401583073304273e-09,
)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


class _Erf(Function, backward_name="ErfBackward0"):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        ax = x.abs()
        t = 1.0 / (1.0 + 0.5 * ax)
        u = t * (34.0 / 13.0) - 21.0 / 13.0
        q = u * _ERF_Q[-1] + _ERF_Q[-2]
        for c in reversed(_ERF_Q[:-2]):
            q = q * u + c
        erfc = t * (q - x * x).exp()
        return x.sign() * (1.0 - erfc)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return g * (-(x * x)).exp() * _TWO_OVER_SQRT_PI


def erf(input: Tensor) -> Tensor:
    """The error function ``erf(x) = 2/sqrt(pi) * integral_0^x exp(-s^2) ds`` (see ``_ERF_Q``)."""

    _prints_as_builtin = True
    _check_tensor(input, "erf")
    if not input.is_floating_point():
        input = input.to(plugrad.get_default_dtype())
    return _Erf.apply(input)  # type: ignore[no-any-return]


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = 0.044715


def _gelu_parts(x: Tensor, tanh: bool, in_place: bool = False) -> Tensor:
    """``Phi(x) = 0.5 (1 + erf(x / sqrt(2)))``, or ``tanh(sqrt(2/pi) (x + 0.044715 x^3))`` for the tanh form.

    ``in_place`` (no graph being built) reuses the intermediate buffers.
    """
    if tanh:
        if in_place:
            return (x * x).mul_(_GELU_C).add_(1.0).mul_(x).mul_(_SQRT_2_OVER_PI).tanh_()
        return (_SQRT_2_OVER_PI * (x + _GELU_C * x * x * x)).tanh()
    if in_place:
        return plugrad.erf(x * _INV_SQRT_2).add_(1.0).mul_(0.5)
    return 0.5 * (1.0 + plugrad.erf(x * _INV_SQRT_2))


class _Gelu(Function, backward_name="GeluBackward0"):
    """``gelu`` in one node, with the derivatives

    - none: ``d/dx x Phi(x) = Phi(x) + x phi(x)``, ``phi(x) = exp(-x^2 / 2) / sqrt(2 pi)``;
    - tanh: with ``t = tanh(u)``, ``u = sqrt(2/pi) (x + c x^3)``:
      ``0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 c x^2)``.
    """

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, x: Tensor, tanh: bool) -> Tensor:
        part = _gelu_parts(x, tanh, in_place=True)
        ctx.save_for_backward(x, part)
        ctx.tanh = tanh
        return (part + 1.0).mul_(x).mul_(0.5) if tanh else x * part

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        x, part = ctx.saved_tensors
        if plugrad.is_grad_enabled():  # create_graph: rebuild the saved part with a graph, no in-place work
            part = _gelu_parts(x, ctx.tanh)
            if ctx.tanh:
                du = _SQRT_2_OVER_PI * (1.0 + (3.0 * _GELU_C) * x * x)
                return g * (0.5 * (1.0 + part) + 0.5 * x * (1.0 - part * part) * du), None
            return g * (part + x * (-0.5 * x * x).exp() * _INV_SQRT_2PI), None
        if ctx.tanh:
            du = (x * x).mul_(3.0 * _GELU_C).add_(1.0).mul_(_SQRT_2_OVER_PI)  # du/dx
            d = (part * part).neg_().add_(1.0).mul_(du).mul_(x).add_(part).add_(1.0).mul_(0.5)
            return d.mul_(g), None
        d = (x * x).mul_(-0.5).exp_().mul_(x).mul_(_INV_SQRT_2PI).add_(part)
        return d.mul_(g), None


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit.

    ``approximate="none"``: ``x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2)))`` (with ``plugrad.erf``);
    ``approximate="tanh"``: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.
    """
    _check_tensor(input, "gelu")
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    if not input.is_floating_point():
        raise RuntimeError(f"\"GeluKernelImpl\" not implemented for '{_dtype_name(input)}'")
    return _Gelu.apply(input, approximate == "tanh")  # type: ignore[no-any-return]


def _softmax_dim(name: str, ndim: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.",
        UserWarning,
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def _canon_dim(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim + n if dim < 0 else dim


def _prep_softmax(input: Tensor, dim: int | None, dtype: Any, name: str) -> tuple[Tensor, int]:
    _check_tensor(input, name)
    if dim is None:
        dim = _softmax_dim(name, input.ndim)
    if dtype is not None:
        input = input.to(dtype)
    return input, _canon_dim(dim, input.ndim)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """``exp(x_i) / sum_j exp(x_j)`` along ``dim`` (computed from ``x - max(x)``, so it never overflows)."""
    x, d = _prep_softmax(input, dim, dtype, "softmax")
    return x.softmax(d)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """``x_i - log(sum_j exp(x_j))`` along ``dim``, stable for large inputs."""
    x, d = _prep_softmax(input, dim, dtype, "log_softmax")
    return x.log_softmax(d)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (identity unless ``training``)."""
    _check_tensor(input, "dropout")
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        out = input * 0.0
    else:
        keep = plugrad.rand(*input.shape, dtype=input.dtype, device=input.device) >= p
        out = input * (keep.to(input.dtype) * (1.0 / (1.0 - p)))  # one MulBackward0 node, as PyTorch's
    if inplace:
        return input.copy_(out)
    return out


# ---------------------------------------------------------------------------- losses
def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def legacy_get_string(size_average: bool | None, reduce: bool | None, emit_warning: bool = True) -> str:
    """Turn the deprecated ``size_average``/``reduce`` pair into a ``reduction`` string."""
    warning = "size_average and reduce args will be deprecated, please use reduction='{}' instead."
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if (size_average and reduce) else ("sum" if reduce else "none")
    if emit_warning:
        warnings.warn(warning.format(ret), stacklevel=3)
    return ret


def _reduction_arg(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    if size_average is not None or reduce is not None:
        return legacy_get_string(size_average, reduce)
    _check_reduction(reduction)
    return reduction


def _warn_size(input: Tensor, target: Tensor) -> None:
    if target.shape != input.shape:
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
            "This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )


class _MseLoss(Function, backward_name="MseLossBackward0"):
    """``mean((x - y)^2)`` (or sum / none); ``grad_x = 2 (x - y) g / n``, ``grad_y = -grad_x``."""

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor, reduction: str) -> Tensor:
        ctx.save_for_backward(x, y)
        ctx.reduction = reduction
        d = x - y
        d *= d
        return _reduce(d, reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        x, y = ctx.saved_tensors
        d = x - y
        scale = 2.0 / d.numel() if ctx.reduction == "mean" else 2.0
        grad = d * (g * scale)
        need_x, need_y = ctx.needs_input_grad[:2]
        return (grad if need_x else None), (-grad if need_y else None), None


def _as_target(target: Any, input: Tensor, fn: str) -> Tensor:
    _check_tensor(input, fn)
    if not isinstance(target, Tensor):
        raise TypeError(f"{fn}(): argument 'target' (position 2) must be Tensor, not {type(target).__name__}")
    return target


def _check_broadcast(input: Tensor, target: Tensor) -> None:
    a, b = tuple(input.shape), tuple(target.shape)
    for i in range(1, min(len(a), len(b)) + 1):
        x, y = a[-i], b[-i]
        if x != y and x != 1 and y != 1:
            dim = max(len(a), len(b)) - i
            raise RuntimeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton dimension {dim}"
            )


def mse_loss(
    input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean"
) -> Tensor:
    """Mean squared error ``l_i = (x_i - y_i)^2``, reduced by ``reduction`` (``mean``, ``sum``, ``none``)."""
    target = _as_target(target, input, "mse_loss")
    reduction = _reduction_arg(size_average, reduce, reduction)
    _warn_size(input, target)
    _check_broadcast(input, target)
    return _MseLoss.apply(input, target, reduction)  # type: ignore[no-any-return]


def l1_loss(
    input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean"
) -> Tensor:
    """Mean absolute error ``l_i = |x_i - y_i|``."""
    target = _as_target(target, input, "l1_loss")
    reduction = _reduction_arg(size_average, reduce, reduction)
    _warn_size(input, target)
    _check_broadcast(input, target)
    return _reduce((input - target).abs(), reduction)


class _HuberLoss(Function, backward_name="HuberLossBackward0"):
    """Huber loss of ``d = x - y``, reduced, in one node (PyTorch's)::

        l = 0.5 d^2 / s                     where |d| < delta
        l = delta (|d| - 0.5 delta) / s     elsewhere

    with ``s = 1`` (Huber) or ``s = delta = beta`` (smooth L1). ``dl/dd = d / s`` inside,
    ``delta sign(d) / s`` outside; ``grad_y = -grad_x``.
    """

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor, delta: float, scale: float, reduction: str) -> Tensor:
        ctx.save_for_backward(x, y)
        d = x - y
        ad = d.abs()
        loss = plugrad.where(ad < delta, (0.5 / scale) * d * d, (delta / scale) * (ad - 0.5 * delta))
        ctx.delta, ctx.scale = delta, scale
        ctx.reduction, ctx.shape, ctx.numel = reduction, loss.shape, loss.numel()
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, Tensor | None, None, None, None]:
        x, y = ctx.saved_tensors
        d = x - y
        slope = plugrad.where(d.abs() < ctx.delta, d, ctx.delta * d.sign()) * (1.0 / ctx.scale)
        grad = _unreduce(g, ctx) * slope
        need_x, need_y = ctx.needs_input_grad[:2]
        return (grad if need_x else None), (-grad if need_y else None), None, None, None


class _SmoothL1Loss(_HuberLoss, backward_name="SmoothL1LossBackward0"):
    """:class:`_HuberLoss` with ``s = delta = beta``: PyTorch's ``SmoothL1LossBackward0``."""


def huber_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0, weight: Tensor | None = None
) -> Tensor:
    """Huber loss: ``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, with ``d = x - y``."""
    target = _as_target(target, input, "huber_loss")
    _check_reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _warn_size(input, target)
    _check_broadcast(input, target)
    if weight is None:
        return _HuberLoss.apply(input, target, float(delta), 1.0, reduction)  # type: ignore[no-any-return]
    return _reduce(_HuberLoss.apply(input, target, float(delta), 1.0, "none") * weight, reduction)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """Smooth L1: ``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``beta=0`` is L1)."""
    target = _as_target(target, input, "smooth_l1_loss")
    reduction = _reduction_arg(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _warn_size(input, target)
    _check_broadcast(input, target)
    if beta == 0.0:  # L1, composed as PyTorch composes it
        return _reduce((input - target).abs(), reduction)
    return _SmoothL1Loss.apply(input, target, float(beta), float(beta), reduction)  # type: ignore[no-any-return]


def _class_view(t: Tensor, ndim: int) -> Tensor:
    """A per-class vector ``(C,)`` shaped ``(1, C, 1, ...)`` to broadcast against ``(N, C, d1, ...)``."""
    return t.reshape(1, -1, *([1] * (ndim - 2)))


class _NllLoss(Function, backward_name="NllLossBackward0"):
    """``l_i = -w[t_i] x[i, t_i]`` (0 where ``t_i == ignore_index``).

    ``mean`` divides the sum by ``sum_i w[t_i]`` over the non-ignored samples. The
    gradient is ``-w[t_i] g`` (scaled as the reduction) at ``[i, t_i]`` and zero elsewhere.
    The target's one-hot mask and the per-sample weights come in ``aux`` (not as tensor
    arguments), so the node's only edge is the input's, as PyTorch's.
    """

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, input: Tensor, aux: tuple[Tensor, Tensor, bool], reduction: str) -> Tensor:
        onehot, wt, squeeze = aux
        x = input.unsqueeze(0) if squeeze else input
        ctx.squeeze = squeeze
        picked = plugrad.where(onehot, x, 0.0).sum(1)
        losses = -(picked * wt)
        ctx.onehot, ctx.wt, ctx.reduction = onehot, wt, reduction
        if reduction == "none":
            return losses
        total = losses.sum()
        if reduction == "sum":
            return total
        ctx.denom = wt.sum()
        return total / ctx.denom

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        coef = -(g * ctx.wt)
        if ctx.reduction == "mean":
            coef = coef / ctx.denom
        grad = plugrad.where(ctx.onehot, coef.unsqueeze(1), 0.0)
        return (grad.squeeze(0) if ctx.squeeze else grad), None, None


class _NllLoss2d(_NllLoss, backward_name="NllLoss2DBackward0"):
    """:class:`_NllLoss` for inputs ``(N, C, d1, ...)``: PyTorch records those as ``NllLoss2DBackward0``."""


def _not_differentiable(t: Tensor | None, arg: str, fn: str) -> None:
    """PyTorch's error for a tensor argument that has no derivative but requires grad."""
    if t is not None and t.requires_grad and plugrad.is_grad_enabled():
        raise RuntimeError(
            f"The function '{fn}' is not differentiable with respect to argument '{arg}'. "
            "This input cannot have requires_grad True."
        )


def _class_indices(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor, bool]:
    """Bring ``input`` to ``(N, C, ...)`` and ``target`` to ``(N, ...)``; say whether a batch dim was added."""
    if target.dtype not in (plugrad.int64, plugrad.uint8):
        name = target.dtype.to_legacy_type_name()[: -len("Tensor")]
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {name}")
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    if input.ndim == 1:
        if target.ndim != 0:
            raise RuntimeError(
                "0D or 1D target tensor expected, multi-target not supported"
                if target.ndim > 1
                else f"size mismatch (got input: {list(input.shape)}, target: {list(target.shape)})"
            )
        return input.unsqueeze(0), target.reshape(1).to(plugrad.int64), True
    if target.ndim == 0 or input.shape[0] != target.shape[0]:
        got = target.shape[0] if target.ndim else 1
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({got}).")
    if tuple(target.shape[1:]) != tuple(input.shape[2:]):
        raise RuntimeError(f"Expected target size {[input.shape[0], *input.shape[2:]]}, got {list(target.shape)}")
    return input, target.to(plugrad.int64), False


def _onehot(x: Tensor, t: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    """``(onehot, valid)``: ``onehot[i, c]`` is true where ``t_i == c`` and sample i is not ignored."""
    n_classes = x.shape[1]
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= n_classes))
    if bool(bad.any()):
        raise IndexError(f"Target {int(t[bad].reshape(-1)[0].item())} is out of bounds.")
    classes = _class_view(plugrad.arange(n_classes, device=x.device), x.ndim)
    return (t.unsqueeze(1) == classes) & valid.unsqueeze(1), valid


def _target_weights(x: Tensor, onehot: Tensor, valid: Tensor, weight: Tensor | None) -> Tensor:
    """``w[t_i]`` per sample (0 where ignored); 1 for every valid sample without ``weight``."""
    if weight is None:
        return valid.to(x.dtype)
    n_classes = x.shape[1]
    if weight.ndim != 1 or weight.shape[0] != n_classes:
        raise RuntimeError(
            f"weight tensor should be defined either for all {n_classes} classes or no classes but got weight tensor "
            f"of shape: {list(weight.shape)}"
        )
    return plugrad.where(onehot, _class_view(weight.detach().to(x.dtype), x.ndim), 0.0).sum(1)


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log likelihood of class indices: ``l_i = -weight[t_i] * input[i, t_i]``.

    ``input`` holds log-probabilities ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)``; ``target``
    class indices ``(N)``, ``()`` or ``(N, d1, ...)``. Samples whose target is
    ``ignore_index`` contribute nothing; ``mean`` divides by the total weight of the rest.
    """
    target = _as_target(target, input, "nll_loss")
    if weight is not None:
        _check_tensor(weight, "nll_loss", "weight", 3)
    reduction = _reduction_arg(size_average, reduce, reduction)
    x, t, squeeze = _class_indices(input, target)
    node = _NllLoss2d if x.ndim >= 3 else _NllLoss
    _not_differentiable(weight, "weight", "nll_loss2d_forward" if x.ndim >= 3 else "nll_loss_forward")
    onehot, valid = _onehot(x, t, ignore_index)
    wt = _target_weights(x, onehot, valid, weight)
    out = node.apply(input, (onehot, wt, squeeze), reduction)
    if squeeze and reduction == "none":
        out = out.reshape(())
    return out  # type: ignore[no-any-return]


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy between logits ``input`` and ``target``: ``nll_loss(log_softmax(input, 1), target)``.

    ``target`` is either class indices (integer, shaped like ``input`` without the class
    dimension) or class probabilities (floating, shaped like ``input``):
    ``l_i = -sum_c w_c y_ic log_softmax(x_i)_c``. ``label_smoothing = e`` mixes the target
    with the uniform distribution: ``(1 - e) y + e / C``.
    """
    target = _as_target(target, input, "cross_entropy")
    if weight is not None:
        _check_tensor(weight, "cross_entropy", "weight", 3)
    reduction = _reduction_arg(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.ndim == 1 else 1
    logp = log_softmax(input, class_dim)
    n_classes = input.shape[class_dim]
    if target.is_floating_point() and target.shape == input.shape:  # class probabilities
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / n_classes
        prod = logp * target
        if weight is not None:
            prod = prod * (weight if input.ndim == 1 else _class_view(weight, input.ndim))
        per_sample = -prod.sum(class_dim)
        if reduction == "none":
            return per_sample
        if reduction == "sum":
            return per_sample.sum()
        return per_sample.sum() / (input.numel() // n_classes) if input.numel() else per_sample.sum() * float("nan")
    loss = nll_loss(logp, target, weight, None, ignore_index, None, reduction)
    if label_smoothing == 0.0:
        return loss
    # smoothing term: -sum_c w_c log p_ic per sample, averaged like nll_loss
    x, t, squeeze = _class_indices(logp, target)
    onehot, valid = _onehot(x, t, ignore_index)
    smooth = -(x * _class_view(weight, x.ndim)).sum(1) if weight is not None else -x.sum(1)
    smooth = plugrad.where(valid, smooth, 0.0)
    if reduction == "mean":
        ret = smooth.sum() / _target_weights(x, onehot, valid, weight).sum()
    elif reduction == "sum":
        ret = smooth.sum()
    else:
        ret = smooth.reshape(()) if squeeze else smooth
    return (1 - label_smoothing) * loss + ret * (label_smoothing / n_classes)


def _check_same_size(input: Tensor, target: Tensor) -> None:
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}) is deprecated. "
            "Please ensure they have the same size."
        )


def _clamped_log(x: Tensor) -> Tensor:
    """``log(x)`` clamped below at -100, as PyTorch's binary cross entropy does."""
    return plugrad.maximum(x.log(), x.new_full((), -100.0))


def _unreduce(g: Tensor, ctx: Any) -> Tensor:
    """The gradient of each element of a loss that ``ctx.reduction`` reduced (shape ``ctx.shape``)."""
    if ctx.reduction == "none":
        return g
    if ctx.reduction == "mean":
        g = g / ctx.numel
    return g.expand(ctx.shape)


class _BinaryCrossEntropy(Function, backward_name="BinaryCrossEntropyBackward0"):
    """``l = -w (y log x + (1 - y) log(1 - x))`` with logs clamped at -100, reduced, in one node
    (as PyTorch's; the weight comes in ``extra`` and gets no gradient, as in PyTorch).

    ``grad_x = g w (x - y) / max(x (1 - x), 1e-12)``; ``grad_y = -g w (log x - log(1 - x))``.
    """

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor, extra: tuple[Tensor | None], reduction: str) -> Tensor:
        (weight,) = extra
        ctx.save_for_backward(x, y)
        loss = -(y * _clamped_log(x) + (1 - y) * _clamped_log(1 - x))
        if weight is not None:
            loss = loss * weight
        ctx.weight, ctx.reduction, ctx.shape, ctx.numel = weight, reduction, loss.shape, loss.numel()
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        x, y = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad[:2]
        g = _unreduce(g, ctx)
        if ctx.weight is not None:
            g = g * ctx.weight
        gx = gy = None
        if need_x:
            gx = g * (x - y) / plugrad.maximum(x * (1 - x), x.new_full((), 1e-12))
        if need_y:
            gy = -g * (_clamped_log(x) - _clamped_log(1 - x))
        return gx, gy, None, None


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross entropy of probabilities: ``l_i = -w_i (y_i log x_i + (1 - y_i) log(1 - x_i))``.

    Each log is clamped at ``-100`` so that ``x = 0`` or ``1`` gives a finite loss.
    """
    target = _as_target(target, input, "binary_cross_entropy")
    reduction = _reduction_arg(size_average, reduce, reduction)
    _check_same_size(input, target)
    with plugrad.no_grad():
        if bool(((input < 0) | (input > 1)).any()):
            raise RuntimeError("all elements of input should be between 0 and 1")
    _not_differentiable(weight, "weight", "binary_cross_entropy")
    return _BinaryCrossEntropy.apply(input, target, (weight,), reduction)  # type: ignore[no-any-return]


class _BCEWithLogits(Function, backward_name="BinaryCrossEntropyWithLogitsBackward0"):
    """``l = w ((1 - y) x + (1 + (p - 1) y) softplus(-x))`` with ``softplus(-x) = relu(-x) + log1p(exp(-|x|))``,
    reduced, in one node (as PyTorch's; ``w`` and ``p`` come in ``extra`` and get no gradient, as in PyTorch).

    This form never overflows. ``grad_x = g w ((1 + (p - 1) y) sigmoid(x) - p y)``,
    ``grad_y = g w ((p - 1) softplus(-x) - x)``.
    """

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor, extra: tuple[Tensor | None, Tensor | None], reduction: str) -> Tensor:
        weight, pos_weight = extra
        ctx.save_for_backward(x, y)
        sp = _softplus_neg(x)
        loss = (1 - y) * x + sp if pos_weight is None else (1 - y) * x + (1 + (pos_weight - 1) * y) * sp
        if weight is not None:
            loss = loss * weight
        ctx.weight, ctx.pos_weight = weight, pos_weight
        ctx.reduction, ctx.shape, ctx.numel = reduction, loss.shape, loss.numel()
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        x, y = ctx.saved_tensors
        pw = ctx.pos_weight
        need_x, need_y = ctx.needs_input_grad[:2]
        g = _unreduce(g, ctx)
        if ctx.weight is not None:
            g = g * ctx.weight
        gx = gy = None
        if need_x:
            gx = g * (x.sigmoid() - y) if pw is None else g * ((1 + (pw - 1) * y) * x.sigmoid() - pw * y)
        if need_y:
            gy = -g * x if pw is None else g * ((pw - 1) * _softplus_neg(x) - x)
        return gx, gy, None, None


def _softplus_neg(x: Tensor) -> Tensor:
    """``log(1 + exp(-x))`` without overflow."""
    return (-x).relu() + (-x.abs()).exp().log1p()


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Sigmoid and binary cross entropy in one stable step.

    ``l_i = -w_i (p y_i log sigmoid(x_i) + (1 - y_i) log(1 - sigmoid(x_i)))``, computed as
    ``(1 - y) x + (1 + (p - 1) y) softplus(-x)``, which stays finite for any logit.
    ``pos_weight`` ``p`` (broadcast over the last dimension) weighs the positive class.
    """
    target = _as_target(target, input, "binary_cross_entropy_with_logits")
    reduction = _reduction_arg(size_average, reduce, reduction)
    _check_same_size(input, target)
    _not_differentiable(weight, "weight", "binary_cross_entropy_with_logits")
    _not_differentiable(pos_weight, "pos_weight", "binary_cross_entropy_with_logits")
    return _BCEWithLogits.apply(input, target, (weight, pos_weight), reduction)  # type: ignore[no-any-return]


# ------------------------------------------------------------ silu, one_hot, pad, normalize
class _Silu(Function, backward_name="SiluBackward0"):
    """``silu(x) = x * sigmoid(x)``; gradient ``grad * s * (1 + x * (1 - s))`` with ``s = sigmoid(x)``."""

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x * x.sigmoid()

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = x.sigmoid()
        return g * s * (1 + x * (1 - s))


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """Sigmoid linear unit (swish): ``x * sigmoid(x)``, one ``SiluBackward0`` node."""
    _check_tensor(input, "silu")
    if not input.is_floating_point():
        raise NotImplementedError(f"\"silu_cpu\" not implemented for '{_dtype_name(input)}'")
    out: Tensor = _Silu.apply(input)
    if inplace:
        return input.copy_(out)
    return out


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """``int64`` one-hot encoding: shape ``(*tensor.shape, num_classes)``, 1 at each class index.

    ``num_classes=-1`` takes one more than the largest index.
    """
    _check_tensor(tensor, "one_hot", "tensor")
    if tensor.dtype is not plugrad.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if tensor.numel() == 0:
        if num_classes == -1:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
    else:
        if int(tensor.min().item()) < 0:
            raise RuntimeError("Class values must be non-negative.")
        top = int(tensor.max().item())
        if num_classes == -1:
            num_classes = top + 1
        elif top >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    if num_classes < 0:
        raise RuntimeError("Class values must be smaller than num_classes.")
    classes = plugrad.arange(num_classes, device=tensor.device)
    return (tensor.unsqueeze(-1) == classes).long()


class _ConstantPad(Function, backward_name="ConstantPadNdBackward0"):
    """``x`` with ``pad = (left_last, right_last, left_second_last, ...)`` elements of ``value`` added
    (negative amounts crop); the gradient is ``grad`` with the negated padding."""

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, x: Tensor, pad: tuple[int, ...], value: Any) -> Tensor:
        ctx.pad = pad
        shape = list(x.shape)
        nd = len(shape)
        src: list[slice] = [slice(None)] * nd
        dst: list[slice] = [slice(None)] * nd
        empty = False
        for k in range(len(pad) // 2):
            d = nd - 1 - k
            left, right = pad[2 * k], pad[2 * k + 1]
            size = shape[d]
            new = size + left + right
            if new < 0:
                raise RuntimeError("narrow(): length must be non-negative.")
            s0, s1 = max(0, -left), size - max(0, -right)
            if s1 <= s0:
                empty = True
            else:
                src[d] = slice(s0, s1)
                dst[d] = slice(max(0, left), max(0, left) + (s1 - s0))
            shape[d] = new
        out = plugrad.full(tuple(shape), value, dtype=x.dtype, device=x.device)
        if not empty and x.numel():
            out[tuple(dst)] = x.detach()[tuple(src)]
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        return _ConstantPad.apply(g, tuple(-p for p in ctx.pad), 0), None, None


_PAD_SUPPORT = (
    "Supported combinations for non-constant padding:\n"
    "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
    "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
    "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
)


def _pad_indices(mode: str, size: int, left: int, right: int) -> list[int]:
    """The source positions of each output position along one padded dim."""
    middle = list(range(size))
    if mode == "reflect":
        return [left - i for i in range(left)] + middle + [size - 2 - i for i in range(right)]
    if mode == "replicate":
        return [0] * left + middle + [size - 1] * right
    return [(i - left) % size for i in range(left)] + middle + [i % size for i in range(right)]  # circular


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims; ``pad = (left, right)`` for the last dim, then the
    second-to-last, ... (PyTorch's order). ``mode``: ``"constant"`` (``value``, 0 by default;
    negative amounts crop), ``"reflect"``, ``"replicate"`` or ``"circular"``."""
    _check_tensor(input, "pad")
    amounts = tuple(int(p) for p in pad)
    if len(amounts) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    nd = input.ndim
    if len(amounts) // 2 > nd:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but got padding length "
            f"{len(amounts)} and input of dimension {nd}"
        )
    if mode == "constant":
        return _ConstantPad.apply(input, amounts, 0 if value is None else value)  # type: ignore[no-any-return]
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    k = len(amounts) // 2
    if k not in (1, 2, 3) or nd not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {len(amounts)} is not supported for {nd}D input tensor.\n{_PAD_SUPPORT}"
        )
    out = input
    for j in range(k):
        d = nd - 1 - j
        left, right = amounts[2 * j], amounts[2 * j + 1]
        size = input.shape[d]
        if mode == "reflect" and (left >= size or right >= size):
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input dimension, but got: padding "
                f"({left}, {right}) at dimension {d} of input {list(input.shape)}"
            )
        if mode == "circular" and (left > size or right > size):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if min(left, right) < 0:
            raise RuntimeError(f"negative padding is only supported in constant mode, got {(left, right)}")
        index = plugrad.tensor(_pad_indices(mode, size, left, right), dtype=plugrad.int64, device=input.device)
        out = out.index_select(d, index)
    return out


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Tensor | None = None) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim`` (rows are scaled to unit ``p``-norm)."""
    _check_tensor(input, "normalize")
    denom = input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)
    result = input / denom
    if out is not None:
        out.copy_(result)
        return out
    return result


# ---- convolution, pooling, normalisation, embedding (issue 15)
from ._functional_conv import adaptive_avg_pool1d as adaptive_avg_pool1d  # noqa: E402
from ._functional_conv import adaptive_avg_pool2d as adaptive_avg_pool2d  # noqa: E402
from ._functional_conv import avg_pool1d as avg_pool1d  # noqa: E402
from ._functional_conv import avg_pool2d as avg_pool2d  # noqa: E402
from ._functional_conv import conv1d as conv1d  # noqa: E402
from ._functional_conv import conv2d as conv2d  # noqa: E402
from ._functional_conv import conv_transpose2d as conv_transpose2d  # noqa: E402
from ._functional_conv import fold as fold  # noqa: E402
from ._functional_conv import interpolate as interpolate  # noqa: E402
from ._functional_conv import max_pool1d as max_pool1d  # noqa: E402
from ._functional_conv import max_pool2d as max_pool2d  # noqa: E402
from ._functional_conv import unfold as unfold  # noqa: E402
from ._functional_conv import upsample as upsample  # noqa: E402
from ._functional_embedding import embedding as embedding  # noqa: E402
from ._functional_embedding import embedding_bag as embedding_bag  # noqa: E402
from ._functional_norm import batch_norm as batch_norm  # noqa: E402
from ._functional_norm import group_norm as group_norm  # noqa: E402
from ._functional_norm import instance_norm as instance_norm  # noqa: E402
from ._functional_norm import layer_norm as layer_norm  # noqa: E402
from ._functional_norm import rms_norm as rms_norm  # noqa: E402

__all__ += [
    "conv1d",
    "conv2d",
    "conv_transpose2d",
    "unfold",
    "fold",
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "interpolate",
    "upsample",
    "embedding",
    "embedding_bag",
    "layer_norm",
    "rms_norm",
    "group_norm",
    "batch_norm",
    "instance_norm",
]
