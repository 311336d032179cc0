"""Normalisation functions (issue 15): ``layer_norm``, ``rms_norm``, ``group_norm``, ``batch_norm``.

All four share one :class:`~plugrad.autograd.Function` body: view the input so that the
statistics are taken over some axes, normalise, then apply a per-feature affine map::

    x_hat = (x - mean) / sqrt(var + eps)         (rms_norm: x / sqrt(mean(x^2) + eps))
    y     = x_hat * weight + bias

with the biased variance. The input gradient is the closed form
``dx = rstd * (g' - mean(g') - x_hat * mean(g' * x_hat))`` (``g' = g * weight``; the
``mean(g')`` term is absent for RMS norm), ``dweight = sum(g * x_hat)``, ``dbias = sum(g)``.
Under ``create_graph=True`` the backward recomputes the statistics with recorded tensor ops,
so second derivatives are right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plugrad
from plugrad import Tensor
from plugrad.autograd import Function

__all__ = ["layer_norm", "rms_norm", "group_norm", "batch_norm", "instance_norm"]

_EPS = {
    "float16": 0.0009765625,
    "bfloat16": 0.0078125,
    "float32": 1.1920928955078125e-07,
    "float64": 2.220446049250313e-16,
}


def _check_tensor(x: Any, fn: str, arg: str = "input", pos: int = 1) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be Tensor, not {type(x).__name__}")


def _size_str(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _stats(xs: Tensor, axes: tuple[int, ...], eps: float, center: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``(x_hat, mean or None-like 0, rstd)`` of the stats view ``xs`` over ``axes`` (biased variance)."""
    if center:
        mean = xs.mean(axes, keepdim=True)
        xc = xs - mean
    else:
        mean = xs.new_zeros(())
        xc = xs
    var = (xc * xc).mean(axes, keepdim=True)
    rstd = (var + eps).rsqrt()
    return xc * rstd, mean, rstd


def _edge(t: Tensor | None, like: Tensor) -> Tensor:
    """``t``, or for an absent weight/bias an empty placeholder: PyTorch's node keeps an edge
    ``(None, 0)`` for an undefined optional input, and only tensor arguments become edges."""
    return t if t is not None else plugrad.empty(0, dtype=like.dtype, device=like.device)


def _present(t: Tensor | None) -> Tensor | None:
    """The weight/bias a forward receives: ``None`` for the placeholder of :func:`_edge`."""
    return None if t is None or (t.ndim == 1 and t.shape[0] == 0) else t


class _Normalize(Function):
    """The shared body; subclasses only fix PyTorch's node name.

    ``view``: the shape the statistics are computed in; ``axes``: the reduced axes of that view;
    ``wshape``: the shape weight and bias broadcast as against ``x``; ``stats``: a list that receives
    ``(mean, biased var)`` (for running statistics), or ``None``.
    """

    _prints_as_builtin = True

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight: Tensor | None,
        bias: Tensor | None,
        view: tuple[int, ...],
        axes: tuple[int, ...],
        wshape: tuple[int, ...],
        eps: float,
        center: bool,
        stats: list[Tensor] | None,
    ) -> Tensor:
        weight, bias = _present(weight), _present(bias)
        # forward runs without recording: fresh tensors may be updated in place (fewer allocations)
        xs = x.reshape(view)
        if center:
            mean = xs.mean(axes, keepdim=True)
            xc = xs - mean
        else:
            mean = xs.new_zeros(())
            xc = xs
        var = xc.square().mean(axes, keepdim=True)
        rstd = (var + eps).rsqrt()
        xhat = (xc.mul_(rstd) if center else xc * rstd).reshape(x.shape)
        if stats is not None:
            stats.append(mean)
            stats.append(var)
        ctx.save_for_backward(x, weight)
        ctx.conf = (view, axes, wshape, eps, center)
        ctx.fast = (xhat, rstd)
        if weight is not None:
            y = xhat * weight.reshape(wshape)
            if bias is not None:
                y += bias.reshape(wshape)
            return y
        if bias is not None:
            return xhat + bias.reshape(wshape)
        return xhat.clone()  # the output is the user's; the saved copy stays intact

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        view, axes, wshape, eps, center = ctx.conf
        if plugrad.is_grad_enabled():  # create_graph: statistics as recorded ops on x
            xhs, _, rstd = _stats(x.reshape(view), axes, eps, center)
            xhat = xhs.reshape(x.shape)
        else:
            xhat, rstd = ctx.fast
            xhs = xhat.reshape(view)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        param_axes = tuple(i for i, s in enumerate(wshape) if s == 1) + tuple(range(x.ndim - len(wshape)))
        g_xhat = g * xhat if need_w and weight is not None else None
        if need_x:
            gh = g if weight is None else g * weight.reshape(wshape)
            ghs = gh.reshape(view)
            if g_xhat is not None:  # g * w * x_hat from the product the weight's gradient needs anyway
                gh_xhat = (g_xhat * weight.reshape(wshape)).reshape(view)  # type: ignore[union-attr]
            else:
                gh_xhat = ghs * xhs
            t = xhs * gh_xhat.mean(axes, keepdim=True)
            if plugrad.is_grad_enabled():  # recorded (create_graph): no in-place updates
                if center:
                    t = t + ghs.mean(axes, keepdim=True)
                gx = ((ghs - t) * rstd).reshape(x.shape)
            else:
                if center:
                    t += ghs.mean(axes, keepdim=True)
                inner = ghs - t
                inner *= rstd
                gx = inner.reshape(x.shape)
        if g_xhat is not None and weight is not None:
            gw = g_xhat.sum(param_axes).reshape(weight.shape) if param_axes else g_xhat.reshape(weight.shape)
        if need_b:
            gb = g.sum(param_axes).reshape(weight.shape if weight is not None else -1) if param_axes else g
        return gx, gw, gb, None, None, None, None, None, None


class _LayerNorm(_Normalize, backward_name="NativeLayerNormBackward0"):
    """Layer normalisation over the trailing ``normalized_shape`` dims."""


class _RMSNorm(_Normalize, backward_name="MulBackward0"):
    """RMS normalisation over the trailing ``normalized_shape`` dims."""


class _GroupNorm(_Normalize, backward_name="NativeGroupNormBackward0"):
    """Group normalisation over channel groups and spatial dims."""


class _BatchNorm(_Normalize, backward_name="NativeBatchNormBackward0"):
    """Batch normalisation over the batch and spatial dims (training statistics)."""


def _normalized_shape(normalized_shape: Any) -> tuple[int, ...]:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(s) for s in normalized_shape)


def _check_trailing(input: Tensor, shape: tuple[int, ...], weight: Tensor | None, bias: Tensor | None) -> None:
    n = len(shape)
    if n == 0:
        raise RuntimeError(
            f"Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but got "
            f"normalized_shape = {_size_str(shape)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                f"{_size_str(t.shape)} and normalized_shape = {_size_str(shape)}"
            )
    if input.ndim < n or tuple(input.shape[input.ndim - n :]) != shape:
        raise RuntimeError(
            f"Given normalized_shape={_size_str(shape)}, expected input with shape [*, {', '.join(map(str, shape))}], "
            f"but got input of size{_size_str(input.shape)}"
        )


def layer_norm(
    input: Tensor,
    normalized_shape: Any,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalisation: ``(x - E[x]) / sqrt(Var[x] + eps) * weight + bias`` over the last
    ``len(normalized_shape)`` dims (biased variance). One ``NativeLayerNormBackward0`` node."""
    _check_tensor(input, "layer_norm")
    shape = _normalized_shape(normalized_shape)
    _check_trailing(input, shape, weight, bias)
    m = math.prod(shape)
    view = (-1, m) if input.numel() else (0, m)
    w, b = _edge(weight, input), _edge(bias, input)
    return _LayerNorm.apply(input, w, b, view, (1,), shape, float(eps), True, None)  # type: ignore[no-any-return]


def rms_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """RMS normalisation: ``x / sqrt(mean(x^2) + eps) * weight`` over the last ``len(normalized_shape)``
    dims; ``eps=None`` uses the machine epsilon of the input's dtype."""
    _check_tensor(input, "rms_norm")
    shape = _normalized_shape(normalized_shape)
    _check_trailing(input, shape, weight, None)
    if eps is None:
        eps = _EPS.get(str(input.dtype).rsplit(".", 1)[-1], 1.1920928955078125e-07)
    m = math.prod(shape)
    view = (-1, m) if input.numel() else (0, m)
    return _RMSNorm.apply(input, weight, None, view, (1,), shape, float(eps), False, None)  # type: ignore[no-any-return]


def group_norm(
    input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5
) -> Tensor:
    """Group normalisation: channels ``(N, C, *)`` split into ``num_groups`` groups, each group of each
    sample normalised over its channels and spatial positions, then ``* weight[c] + bias[c]``."""
    _check_tensor(input, "group_norm")
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got input of shape "
            f"{_size_str(input.shape)} and num_groups={num_groups}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.ndim != 1 or t.shape[0] != c):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in input, but got {name} "
                f"of shape {_size_str(t.shape)} and input of shape {_size_str(input.shape)}"
            )
    sizes = [n * c // num_groups, num_groups, *input.shape[2:]]
    if math.prod(sizes) // num_groups == 1:  # PyTorch's check: one value per group
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {sizes}")
    wshape = (1, c) + (1,) * (input.ndim - 2)
    view = (n, num_groups, (input.numel() // max(n * num_groups, 1)))
    w, b = _edge(weight, input), _edge(bias, input)
    return _GroupNorm.apply(input, w, b, view, (2,), wshape, float(eps), True, None)  # type: ignore[no-any-return]


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation of ``(N, C, *)`` per channel ``c``: ``(x - mean_c) / sqrt(var_c + eps) * weight + bias``.

    ``training=True``: batch statistics (biased variance), and the running estimates are updated in
    place: ``running = (1 - momentum) * running + momentum * batch`` with the *unbiased* batch variance
    (``momentum=None``: a plain average, ``running += (batch - running) / 1``, which the modules turn into
    a cumulative average by passing ``1 / num_batches_tracked``). ``training=False``: the running
    statistics are used.
    """
    _check_tensor(input, "batch_norm")
    if input.ndim < 2:
        raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input)")
    n, c = input.shape[0], input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")
    wshape = (1, c) + (1,) * (input.ndim - 2)
    if training:
        size = input.numel() // c if c else 0
        if size == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.size()}")
        if input.numel() == 0:  # nothing to normalise; the running statistics stay as they are
            zeros = plugrad.zeros(c, dtype=input.dtype, device=input.device)
            return _batch_norm_eval(input, zeros, zeros + 1, weight, bias, float(eps), wshape)
        stats: list[Tensor] | None = [] if running_mean is not None or running_var is not None else None
        view = (n, c, -1)
        w, b = _edge(weight, input), _edge(bias, input)
        out: Tensor = _BatchNorm.apply(input, w, b, view, (0, 2), wshape, float(eps), True, stats)
        if stats is not None:
            factor = 0.0 if momentum is None else float(momentum)
            with plugrad.no_grad():
                if running_mean is not None:
                    running_mean.mul_(1 - factor).add_(
                        stats[0].reshape(running_mean.shape).to(running_mean.dtype) * factor
                    )
                if running_var is not None:
                    unbiased = stats[1].reshape(running_var.shape) * (size / (size - 1))
                    running_var.mul_(1 - factor).add_(unbiased.to(running_var.dtype) * factor)
        return out
    if running_mean is None:
        raise RuntimeError("running_mean must be defined in evaluation mode")
    if running_var is None:
        raise RuntimeError("running_var must be defined in evaluation mode")
    return _batch_norm_eval(input, running_mean, running_var, weight, bias, float(eps), wshape)


class _BatchNormEval(Function, backward_name="NativeBatchNormBackward0"):
    """``y = x * scale + shift`` with ``scale = weight / sqrt(running_var + eps)``,
    ``shift = bias - running_mean * scale`` (the running statistics are constants, passed in
    a tuple so that the node's edges are PyTorch's: input, weight, bias)."""

    _prints_as_builtin = True

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight: Tensor | None,
        bias: Tensor | None,
        running: tuple[Tensor, Tensor],
        eps: float,
        wshape: tuple[int, ...],
    ) -> Tensor:
        weight, bias = _present(weight), _present(bias)
        mean, var = running
        rstd = (var + eps).rsqrt().to(x.dtype).reshape(wshape)
        mu = mean.to(x.dtype).reshape(wshape)
        ctx.save_for_backward(x, weight)
        ctx.conf = (rstd, mu, wshape)
        ctx.has_bias = bias is not None
        y = (x - mu) * rstd
        if weight is not None:
            y = y * weight.reshape(wshape)
        if bias is not None:
            y = y + bias.reshape(wshape)
        return y

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        rstd, mu, wshape = ctx.conf
        axes = tuple(i for i in range(x.ndim) if i != 1)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = g * rstd if weight is None else g * (rstd * weight.reshape(wshape))
        if ctx.needs_input_grad[1] and weight is not None:
            gw = (g * (x - mu) * rstd).sum(axes)
        if ctx.needs_input_grad[2] and ctx.has_bias:
            gb = g.sum(axes)
        return gx, gw, gb, None, None, None


def _batch_norm_eval(
    input: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    eps: float,
    wshape: tuple[int, ...],
) -> Tensor:
    w, b = _edge(weight, input), _edge(bias, input)
    return _BatchNormEval.apply(input, w, b, (running_mean, running_var), eps, wshape)  # type: ignore[no-any-return]


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Instance normalisation: each channel of each sample normalised over its spatial positions
    (group norm with one group per channel); running statistics are not supported here."""
    _check_tensor(input, "instance_norm")
    if running_mean is not None or running_var is not None or not use_input_stats:
        raise NotImplementedError("instance_norm: running statistics are not supported by plugrad")
    if input.ndim < 3:
        raise ValueError(f"expected 3D or more input (got {input.ndim}D input)")
    return group_norm(input, input.shape[1], weight, bias, eps)
