"""Convolution, pooling, unfold/fold and interpolation (issue 15), written with plugrad tensor ops.

Design: every sliding-window op goes through two helpers, :func:`_im2col` (gather the
``kh * kw`` shifted, strided views of a padded input into a window tensor
``(N, C, kh*kw, Ho, Wo)``) and its adjoint :func:`_col2im` (add such a window tensor back
into an ``(N, C, H, W)`` image). Both use only basic slicing, ``stack`` and in-place ``add_``
on views, so they run on every backend and cost ``kh * kw`` copies of the output size,
no index arrays and no scatter (``index_add`` would be several times slower on NumPy).
A convolution is then one batched matmul of the weight against the windows.

Each op is one :class:`~plugrad.autograd.Function` named as PyTorch names its node
(``ConvolutionBackward0``, ``MaxPool2DWithIndicesBackward0``, ``AvgPool2DBackward0``,
``Im2ColBackward0``, ``Col2ImBackward0``, ...). Backward formulas call the other
Functions (unfold's gradient is fold and the reverse; a convolution's input gradient is
a fold of ``W^T @ grad``), so ``create_graph=True`` gives correct higher derivatives.

The kernel slot: :func:`_conv_forward` is the one function a backend's fused
convolution kernel would replace (see ``docs/layers.md``); the rest stays as it is.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import plugrad
from plugrad import Tensor
from plugrad._autocast_state import ACTIVE as _AUTOCAST_ACTIVE
from plugrad._autocast_state import autocast_inputs
from plugrad.autograd import Function

__all__ = [
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
]

_Pair = tuple[int, int]
_Pad4 = tuple[int, int, int, int]
_WORDS = {1: "one", 2: "two", 3: "three"}


def _check_tensor(x: Any, fn: str, arg: str = "input", pos: int = 1) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be Tensor, not {type(x).__name__}")


def _pair(value: Any, name: str, fn: str, n: int = 2) -> tuple[int, ...]:
    """``value`` as an ``n``-tuple of ints (an int is repeated; a 1-tuple too)."""
    if isinstance(value, bool):
        raise TypeError(f"{fn}(): {name} must be an int or a tuple of {n} ints, got {value!r}")
    if isinstance(value, int):
        return (value,) * n
    if isinstance(value, Tensor) and value.ndim == 0:
        return (int(value.item()),) * n
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{fn}(): {name} must be an int or a tuple of {n} ints, got {value!r}") from None
    if len(items) == 1:
        items = items * n
    if len(items) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise RuntimeError(f"{fn}: {name} must either be a single int, or a tuple of {_WORDS.get(n, n)} ints")
    return tuple(int(v) for v in items)


def _size_str(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


# --------------------------------------------------------------------- window helpers
def _im2col(
    x: Tensor,
    kernel: _Pair,
    dilation: _Pair,
    pad: tuple[int, int, int, int],
    stride: _Pair,
    out: _Pair,
    fill: float = 0.0,
) -> Tensor:
    """The sliding windows of ``x`` ``(N, C, H, W)``: a new C-ordered tensor ``(N, C, kh*kw, Ho, Wo)``.

    ``pad = (top, bottom, left, right)`` elements of ``fill`` surround the image first;
    window ``(i, j)`` of output position ``(p, q)`` reads padded pixel
    ``(p*sh + i*dh, q*sw + j*dw)``. The ``kh*kw`` strided views are stacked: measured faster on
    NumPy than one gather with a cached index, whose result comes back in a transposed layout that
    BLAS cannot use and that costs far more to make contiguous than the gather saves.
    No graph is recorded (callers run it in forward).
    """
    views = _window_views(_padded(x, pad, fill), kernel, dilation, stride, out)
    return plugrad.stack(views, dim=2)


_SCATTER_CACHE: dict[tuple[Any, ...], Tensor] = {}


def _scatter_matrix(k: int, d: int, s: int, out: int, lo: int, size: int, like: Tensor) -> Tensor:
    """``(k*out, size)`` 0/1 matrix: row ``(j, q)`` has its 1 at image position ``q*s + j*d - lo`` (no 1
    where that falls in the padding). Cached per shape, dtype and device."""
    key = (k, d, s, out, lo, size, like.dtype, str(like.device))
    m = _SCATTER_CACHE.get(key)
    if m is None:
        rows = []
        for j in range(k):
            for q in range(out):
                pos = q * s + j * d - lo
                rows.append([1.0 if c == pos else 0.0 for c in range(size)])
        m = plugrad.tensor(rows, dtype=like.dtype, device=like.device)
        if len(_SCATTER_CACHE) >= 64:
            _SCATTER_CACHE.clear()
        _SCATTER_CACHE[key] = m
    return m


#: col2im by two small matmuls (below) instead of kh*kw strided adds when both matrices stay small:
#: the matmuls cost ~ (kw*Wo)*W per output row, the adds ~ kh*kw passes plus Python overhead per op.
_SEPARABLE_MAX = 4096


def _col2im(
    cols: Tensor, size: _Pair, kernel: _Pair, dilation: _Pair, pad: tuple[int, int, int, int], stride: _Pair
) -> Tensor:
    """The adjoint of :func:`_im2col`: sum windows ``(N, C, kh*kw, Ho, Wo)`` into an ``(N, C, H, W)`` image.

    Padding positions are dropped. No graph is recorded. Small images: the sum is separable,
    ``img = S_h^T (cols) S_w`` with 0/1 matrices ``S`` that place window offset ``(j, q)`` at its image
    column (row), so two matmuls replace the ``kh*kw`` strided adds; larger ones add view by view.
    """
    n, c, _, ho, wo = cols.shape
    h, w = size
    top, bottom, left, right = pad
    (kh, kw), (dh, dw), (sh, sw) = kernel, dilation, stride
    if cols.is_floating_point() and kw * wo * w <= _SEPARABLE_MAX and kh * ho * h <= _SEPARABLE_MAX:
        s_w = _scatter_matrix(kw, dw, sw, wo, left, w, cols)  # (kw*Wo, W)
        s_h = _scatter_matrix(kh, dh, sh, ho, top, h, cols)  # (kh*Ho, H)
        # (N, C, kh, kw, Ho, Wo) -> (N, C, kh, Ho, kw, Wo): rows (kh, Ho), columns (kw, Wo)
        t = cols.reshape(n, c, kh, kw, ho, wo).permute(0, 1, 2, 4, 3, 5).reshape(n, c, kh * ho, kw * wo)
        return (s_h.t() @ (t @ s_w)).contiguous()
    img = plugrad.zeros((n, c, h + top + bottom, w + left + right), dtype=cols.dtype, device=cols.device)
    k = 0
    for i in range(kh):
        for j in range(kw):
            img[:, :, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw].add_(
                cols[:, :, k]
            )
            k += 1
    if top or bottom or left or right:
        img = img[:, :, top : top + h, left : left + w].contiguous()
    return img


def _out_size(size: int, k: int, s: int, p_lo: int, p_hi: int, d: int) -> int:
    return (size + p_lo + p_hi - d * (k - 1) - 1) // s + 1


# ------------------------------------------------------------------ unfold and fold
class _Unfold(Function, backward_name="Im2ColBackward0"):
    """``(N, C, H, W) -> (N, C*kh*kw, L)``; the gradient is :class:`_Fold` of the gradient."""

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, x: Tensor, kernel: _Pair, dilation: _Pair, padding: _Pair, stride: _Pair) -> Tensor:
        n, c, h, w = x.shape
        pad = (padding[0], padding[0], padding[1], padding[1])
        out = (
            _out_size(h, kernel[0], stride[0], pad[0], pad[1], dilation[0]),
            _out_size(w, kernel[1], stride[1], pad[2], pad[3], dilation[1]),
        )
        ctx.args = ((h, w), kernel, dilation, padding, stride)
        cols = _im2col(x, kernel, dilation, pad, stride, out)
        return cols.reshape(n, c * kernel[0] * kernel[1], out[0] * out[1])

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None, None]:
        return _Fold.apply(g, *ctx.args), None, None, None, None


class _Fold(Function, backward_name="Col2ImBackward0"):
    """``(N, C*kh*kw, L) -> (N, C, H, W)`` summing overlapping windows; the gradient is :class:`_Unfold`."""

    _prints_as_builtin = True

    @staticmethod
    def forward(
        ctx: Any, cols: Tensor, size: _Pair, kernel: _Pair, dilation: _Pair, padding: _Pair, stride: _Pair
    ) -> Tensor:
        n, ck, _ = cols.shape
        kk = kernel[0] * kernel[1]
        pad = (padding[0], padding[0], padding[1], padding[1])
        out = (
            _out_size(size[0], kernel[0], stride[0], pad[0], pad[1], dilation[0]),
            _out_size(size[1], kernel[1], stride[1], pad[2], pad[3], dilation[1]),
        )
        ctx.args = (kernel, dilation, padding, stride)
        return _col2im(cols.reshape(n, ck // kk, kk, out[0], out[1]), size, kernel, dilation, pad, stride)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None, None, None]:
        return _Unfold.apply(g, *ctx.args), None, None, None, None, None


def _unfold_args(
    kernel_size: Any, dilation: Any, padding: Any, stride: Any, fn: str
) -> tuple[_Pair, _Pair, _Pair, _Pair]:
    k = _pair(kernel_size, "kernel_size", fn)
    d = _pair(dilation, "dilation", fn)
    p = _pair(padding, "padding", fn)
    s = _pair(stride, "stride", fn)
    if min(k) <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kH: {k[0]} kW: {k[1]}")
    if min(d) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got dH: {d[0]} dW: {d[1]}")
    if min(s) <= 0:
        raise RuntimeError(f"stride should be greater than zero, but got dH: {s[0]} dW: {s[1]}")
    if min(p) < 0:
        raise RuntimeError(f"padding should be non-negative, but got padH: {p[0]} padW: {p[1]}")
    return k, d, p, s  # type: ignore[return-value]


def unfold(input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Tensor:
    """Extract sliding local blocks (im2col): ``(N, C, H, W) -> (N, C*kh*kw, L)``.

    ``L = prod_d floor((size_d + 2*padding_d - dilation_d*(k_d-1) - 1) / stride_d + 1)``;
    column ``l`` holds the ``kh*kw`` pixels (channel-major) of block ``l``.
    A 3-D input ``(C, H, W)`` gives ``(C*kh*kw, L)``.
    """
    _check_tensor(input, "unfold")
    k, d, p, s = _unfold_args(kernel_size, dilation, padding, stride, "unfold")
    if input.ndim not in (3, 4) or 0 in tuple(input.shape[input.ndim - 3 :]):
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero dimensions for "
            f"input, but got: {_size_str(input.shape)}"
        )
    batched = input.ndim == 4
    x = input if batched else input.unsqueeze(0)
    h, w = x.shape[2], x.shape[3]
    oh = _out_size(h, k[0], s[0], p[0], p[0], d[0])
    ow = _out_size(w, k[1], s[1], p[1], p[1], d[1])
    if oh < 1 or ow < 1:
        raise RuntimeError(
            f"Given input with spatial size ({h}, {w}), kernel_size=({k[0]}, {k[1]}), dilation=({d[0]}, {d[1]}), "
            f"padding=({p[0]}, {p[1]}), calculated shape of the array of sliding blocks as ({oh}, {ow}), but its "
            "components must be at least one."
        )
    out: Tensor = _Unfold.apply(x, k, d, p, s)
    return out if batched else out.squeeze(0)


def fold(
    input: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
) -> Tensor:
    """Combine sliding local blocks into an image (col2im), summing overlaps: the adjoint of :func:`unfold`.

    ``(N, C*kh*kw, L) -> (N, C, *output_size)``; a 2-D input ``(C*kh*kw, L)`` gives ``(C, *output_size)``.
    """
    _check_tensor(input, "fold")
    k, d, p, s = _unfold_args(kernel_size, dilation, padding, stride, "fold")
    size = _pair(output_size, "output_size", "fold")
    if input.ndim not in (2, 3) or 0 in tuple(input.shape[input.ndim - 2 :]):
        raise RuntimeError(
            "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions for "
            f"input, but got: {_size_str(input.shape)}"
        )
    batched = input.ndim == 3
    x = input if batched else input.unsqueeze(0)
    kk = k[0] * k[1]
    if x.shape[1] % kk:
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got "
            f"input.size(1)={x.shape[1]} and kernel_size=({k[0]}, {k[1]})."
        )
    oh = _out_size(size[0], k[0], s[0], p[0], p[0], d[0])
    ow = _out_size(size[1], k[1], s[1], p[1], p[1], d[1])
    if oh * ow != x.shape[2]:
        raise RuntimeError(
            f"Given output_size=({size[0]}, {size[1]}), kernel_size=({k[0]}, {k[1]}), dilation=({d[0]}, {d[1]}), "
            f"padding=({p[0]}, {p[1]}), stride=({s[0]}, {s[1]}), expected size of input's dimension 2 to match the "
            f"calculated number of sliding blocks {oh} * {ow} = {oh * ow}, but got input.size(2)={x.shape[2]}."
        )
    out: Tensor = _Fold.apply(x, size, k, d, p, s)
    return out if batched else out.squeeze(0)


# --------------------------------------------------------------------- convolution
def _conv_forward(
    x: Tensor, weight: Tensor, stride: _Pair, padding: _Pair, dilation: _Pair, groups: int
) -> tuple[Tensor, Tensor]:
    """The kernel slot: ``(N, C, H, W) * (O, C/groups, kh, kw) -> (N, O, Ho, Wo)`` without bias, no graph.

    Returns the output and the windows ``(N, C*kh*kw, Ho*Wo)`` (kept for the weight gradient).

    im2col (``kh*kw`` strided views stacked) and one batched matmul per group:
    ``out[n, g] = W[g] (O/G, C/G*kh*kw) @ cols[n, g] (C/G*kh*kw, Ho*Wo)``. A backend offering a
    fused convolution kernel would be called here instead.
    """
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    ho = _out_size(h, kh, stride[0], padding[0], padding[0], dilation[0])
    wo = _out_size(w, kw, stride[1], padding[1], padding[1], dilation[1])
    pad = (padding[0], padding[0], padding[1], padding[1])
    cols = _im2col(x, (kh, kw), dilation, pad, stride, (ho, wo))
    if groups == 1:
        out = weight.reshape(o, cg * kh * kw) @ cols.reshape(n, cg * kh * kw, ho * wo)
    else:
        out = weight.reshape(groups, o // groups, cg * kh * kw) @ cols.reshape(n, groups, cg * kh * kw, ho * wo)
    return out.reshape(n, o, ho, wo), cols.reshape(n, c * kh * kw, ho * wo)


def _conv_weight_grad(
    x: Tensor,
    g: Tensor,
    wshape: tuple[int, ...],
    stride: _Pair,
    padding: _Pair,
    dilation: _Pair,
    groups: int,
    cols: Tensor | None = None,
) -> Tensor:
    """``dL/dW`` of a convolution: ``sum_n g[n] @ cols(x)[n]^T`` per group.

    ``cols`` (the forward's windows, no graph) saves recomputing them; without it they are recorded
    through :class:`_Unfold`, so the result is differentiable in ``x`` and ``g`` (``create_graph``).
    """
    n = x.shape[0]
    o, cg, kh, kw = wshape
    if cols is None:
        cols = _Unfold.apply(x, (kh, kw), dilation, padding, stride)  # (N, C*kh*kw, L)
    ck = cg * kh * kw
    ell = g.shape[2] * g.shape[3]
    if groups == 1:
        gw = (g.reshape(n, o, ell) @ cols.reshape(n, ck, ell).transpose(1, 2)).sum(0)
    else:
        gm = g.reshape(n, groups, o // groups, ell)
        gw = (gm @ cols.reshape(n, groups, ck, ell).transpose(2, 3)).sum(0)
    return gw.reshape(wshape)


def _conv_input_grad(
    g: Tensor,
    weight: Tensor,
    size: _Pair,
    stride: _Pair,
    padding: _Pair,
    dilation: _Pair,
    groups: int,
) -> Tensor:
    """``dL/dx`` of a convolution: ``fold(W^T @ g)`` (differentiable in W and g)."""
    n, o, ho, wo = g.shape
    _, cg, kh, kw = weight.shape
    ck = cg * kh * kw
    wt = weight.reshape(groups, o // groups, ck).transpose(1, 2)  # (G, Cg*K, O/G)
    cols = wt @ g.reshape(n, groups, o // groups, ho * wo)  # (N, G, Cg*K, L)
    return _Fold.apply(cols.reshape(n, groups * ck, ho * wo), size, (kh, kw), dilation, padding, stride)


def _bias_edge(bias: Tensor | None, like: Tensor) -> Tensor:
    """``bias``, or an empty placeholder for none: PyTorch's ``ConvolutionBackward0`` keeps an edge
    ``(None, 0)`` for an absent bias, and only tensor arguments become edges."""
    return bias if bias is not None else plugrad.empty(0, dtype=like.dtype, device=like.device)


class _Convolution(Function, backward_name="ConvolutionBackward0"):
    """2-D convolution (cross-correlation) or its transpose, with bias, in one node.

    Forward ``y = W * x + b``. Backward: ``dx = fold(W^T @ g)``, ``dW = sum_n g @ unfold(x)^T``,
    ``db = g.sum((0, 2, 3))``; for the transposed convolution the roles of ``x`` and ``g`` swap
    (``y = fold(W^T @ x)``, ``dx = W @ unfold(g)``, ``dW = sum_n x @ unfold(g)^T``).
    1-D inputs ``(N, C, L)`` run as ``(N, C, 1, L)``.
    """

    _prints_as_builtin = True

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        stride: _Pair,
        padding: _Pair,
        dilation: _Pair,
        groups: int,
        transposed: bool,
        output_padding: _Pair,
    ) -> Tensor:
        if bias is not None and bias.ndim == 1 and bias.shape[0] == 0:
            bias = None  # the placeholder of an absent bias (see _bias_edge)
        one_d = x.ndim == 3
        if one_d:
            x = x.unsqueeze(2)
            weight = weight.unsqueeze(2)
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, dilation, groups, transposed, output_padding, one_d, bias is not None)
        if transposed:
            _n, _c, h, w = x.shape
            _, _og, kh, kw = weight.shape
            size = (
                (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1,
                (w - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1,
            )
            out = _transposed_forward(x, weight, size, stride, padding, dilation, groups, output_padding)
        else:
            out, cols = _conv_forward(x, weight, stride, padding, dilation, groups)
            ctx.cols = cols
        if bias is not None:
            out += bias.reshape(1, -1, 1, 1)
        return out.squeeze(2) if one_d else out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups, transposed, output_padding, one_d, has_bias = ctx.conf
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if one_d:
            g = g.unsqueeze(2)
        gx = gw = gb = None
        if need_b and has_bias:
            gb = g.sum((0, 2, 3))
        size = (x.shape[2], x.shape[3])
        if transposed:
            # dx = W @ windows(g) (a forward convolution of g), dW = sum_n x[n] @ windows(g)[n]^T
            win = _transposed_windows(g, weight, stride, padding, dilation, output_padding, size)
            n, c_in, og = x.shape[0], weight.shape[0], weight.shape[1]
            ok = og * weight.shape[2] * weight.shape[3]
            ell = size[0] * size[1]
            if need_x:
                wm = weight.reshape(groups, c_in // groups, ok)
                gx = (wm @ win.reshape(n, groups, ok, ell)).reshape(x.shape)
            if need_w:
                gw = _conv_weight_grad(g, x, weight.shape, stride, padding, dilation, groups, win)
        else:
            if need_x:
                gx = _conv_input_grad(g, weight, size, stride, padding, dilation, groups)
            if need_w:
                cols = None if plugrad.is_grad_enabled() else ctx.cols
                gw = _conv_weight_grad(x, g, weight.shape, stride, padding, dilation, groups, cols)
        ctx.cols = None
        if one_d:
            gx = None if gx is None else gx.squeeze(2)
            gw = None if gw is None else gw.squeeze(2)
        return gx, gw, gb, None, None, None, None, None, None


def _transposed_pads(padding: _Pair, output_padding: _Pair) -> tuple[_Pad4, _Pair]:
    """How a transposed convolution's output sits in the full ``col2im`` image.

    The full image has ``(H-1)*s + d*(k-1) + 1`` rows; the output is its rows ``p .. p + size - 1`` with
    ``size`` = full ``- 2p + output_padding``: ``p`` rows are cut at the top and ``p - output_padding``
    at the bottom. Where ``output_padding > p`` the output runs past the image: those ``extra`` rows
    (columns) are zeros. Returns the cut ``(top, bottom, left, right)`` and ``extra``.
    """
    p, op = padding, output_padding
    return (p[0], max(p[0] - op[0], 0), p[1], max(p[1] - op[1], 0)), (max(op[0] - p[0], 0), max(op[1] - p[1], 0))


def _transposed_forward(
    x: Tensor,
    weight: Tensor,
    size: _Pair,
    stride: _Pair,
    padding: _Pair,
    dilation: _Pair,
    groups: int,
    output_padding: _Pair,
) -> Tensor:
    """``conv_transpose2d`` without bias, no graph: ``col2im(W^T @ x)`` with W ``(C_in, C_out/G, kh, kw)``."""
    n, c, h, w = x.shape
    _, og, kh, kw = weight.shape
    cg = c // groups
    wt = weight.reshape(groups, cg, og * kh * kw).transpose(1, 2)  # (G, Og*K, Cg)
    cols = wt @ x.reshape(n, groups, cg, h * w)  # (N, G, Og*K, L)
    cut, extra = _transposed_pads(padding, output_padding)
    core = (size[0] - extra[0], size[1] - extra[1])
    out = _col2im(cols.reshape(n, groups * og, kh * kw, h, w), core, (kh, kw), dilation, cut, stride)
    if extra != (0, 0):
        full = plugrad.zeros((n, groups * og, *size), dtype=out.dtype, device=out.device)
        full[:, :, : core[0], : core[1]] = out
        out = full
    return out


def _transposed_windows(
    g: Tensor, weight: Tensor, stride: _Pair, padding: _Pair, dilation: _Pair, op: _Pair, hw: _Pair
) -> Tensor:
    """The windows ``(N, C_out*K, H*W)`` of a transposed convolution's output gradient, recorded
    (the adjoint of :func:`_transposed_forward`'s ``col2im``)."""
    cut, extra = _transposed_pads(padding, op)
    if extra != (0, 0):  # rows and columns past the full image saw nothing
        g = g[:, :, : g.shape[2] - extra[0], : g.shape[3] - extra[1]]
    k = (weight.shape[2], weight.shape[3])
    win = _Im2ColWindows.apply(g, k, dilation, cut, stride, hw)
    return win.reshape(g.shape[0], g.shape[1] * k[0] * k[1], hw[0] * hw[1])  # type: ignore[no-any-return]


def _check_conv(
    input: Tensor, weight: Tensor, bias: Tensor | None, groups: int, nd: int, name: str, transposed: bool = False
) -> bool:
    """Validate a convolution's operands as PyTorch does; returns whether ``input`` is batched."""
    _check_tensor(input, name)
    _check_tensor(weight, name, "weight", 2)
    if bias is not None:
        _check_tensor(bias, name, "bias", 3)
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got input of size: "
            f"{_size_str(input.shape)}"
        )
    if weight.ndim != nd + 2:
        raise RuntimeError(
            "weight should have at least three dimensions"
            if weight.ndim < 3
            else f"Expected {nd + 2}-dimensional weight for {nd + 2}-dimensional input {_size_str(input.shape)}, "
            f"but got {weight.ndim}-dimensional weight of size {_size_str(weight.shape)} instead"
        )
    if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if input.dtype != weight.dtype or (bias is not None and bias.dtype != input.dtype):
        other = weight if input.dtype != weight.dtype else bias
        assert other is not None
        raise RuntimeError(
            f"Input type ({input.dtype}) and {'weight' if other is weight else 'bias'} type ({other.dtype}) should be "
            "the same"
        )
    batched = input.ndim == nd + 2
    c = input.shape[1] if batched else input.shape[0]
    if transposed:
        if weight.shape[0] != c:
            raise RuntimeError(
                f"Given transposed=1, weight of size {_size_str(weight.shape)}, expected input"
                f"{_size_str(input.shape if batched else (1, *input.shape))} to have {weight.shape[0]} channels, "
                f"but got {c} channels instead"
            )
        if c % groups:
            raise RuntimeError("Given groups, expected input channels to be divisible by groups")
        out_channels = weight.shape[1] * groups
    else:
        if weight.shape[0] % groups:
            raise RuntimeError(
                f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight "
                f"of size {_size_str(weight.shape)} instead"
            )
        if weight.shape[1] * groups != c:
            raise RuntimeError(
                f"Given groups={groups}, weight of size {_size_str(weight.shape)}, expected input"
                f"{_size_str(input.shape if batched else (1, *input.shape))} to have {weight.shape[1] * groups} "
                f"channels, but got {c} channels instead"
            )
        out_channels = weight.shape[0]
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != out_channels):
        raise RuntimeError(
            f"Given weight of size {_size_str(weight.shape)}, expected bias to be 1-dimensional with {out_channels} "
            f"elements, but got bias of size {_size_str(bias.shape)} instead"
        )
    return batched


def _legacy(t: Tensor) -> str:
    return t.dtype.to_legacy_type_name()[: -len("Tensor")]


def _same_padding(
    input: Tensor, kernel: Sequence[int], dilation: Sequence[int], stride: Sequence[int], nd: int
) -> tuple[Tensor, tuple[int, ...]]:
    """``padding='same'``: symmetric padding ``d*(k-1)//2``; an odd total adds the extra element at the end."""
    if any(s != 1 for s in stride):
        raise RuntimeError("padding='same' is not supported for strided convolutions")
    sym: list[int] = []
    extra: list[int] = []
    for k, d in zip(kernel, dilation, strict=True):
        total = d * (k - 1)
        sym.append(total // 2)
        extra.append(total - 2 * (total // 2))
    if any(extra):
        warnings.warn(
            "Using padding='same' with even kernel lengths and odd dilation may require a zero-padded copy of the "
            "input be created",
            UserWarning,
            stacklevel=4,
        )
        amounts: list[int] = []
        for e in reversed(extra):
            amounts += [0, e]
        input = plugrad.nn.functional.pad(input, amounts)
    return input, tuple(sym)


def _conv(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    nd: int,
    name: str,
) -> Tensor:
    if _AUTOCAST_ACTIVE[0]:  # convolutions are on autocast's lower-precision list
        input, weight, bias = autocast_inputs(input, weight, bias)
    batched = _check_conv(input, weight, bias, groups, nd, name)
    s = _pair(stride, "stride", name, nd)
    d = _pair(dilation, "dilation", name, nd)
    if min(s) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if min(d) <= 0:
        raise RuntimeError("dilation should be greater than zero")
    x = input if batched else input.unsqueeze(0)
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            p: tuple[int, ...] = (0,) * nd
        elif padding == "same":
            x, p = _same_padding(x, kernel, d, s, nd)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        p = _pair(padding, "padding", name, nd)
        if min(p) < 0:
            raise RuntimeError("negative padding is not supported")
    spatial = x.shape[2:]
    if any(sz + 2 * pp < dd * (k - 1) + 1 for sz, pp, dd, k in zip(spatial, p, d, kernel, strict=True)):
        padded = " x ".join(str(sz + 2 * pp) for sz, pp in zip(spatial, p, strict=True))
        ks = " x ".join(str(dd * (k - 1) + 1) for dd, k in zip(d, kernel, strict=True))
        raise RuntimeError(
            f"Calculated padded input size per channel: ({padded}). Kernel size: ({ks}). Kernel size can't be "
            "greater than actual input size"
        )
    if x.shape[0] and x.shape[1] and 0 in tuple(spatial):
        raise RuntimeError(
            f"Only zero batch or zero channel inputs are supported, but got input shape: {_size_str(x.shape)}"
        )
    if nd == 1:
        s2, p2, d2 = (1, s[0]), (0, p[0]), (1, d[0])
    else:
        s2, p2, d2 = s, p, d  # type: ignore[assignment]
    out: Tensor = _Convolution.apply(x, weight, _bias_edge(bias, x), s2, p2, d2, groups, False, (0, 0))
    return out if batched else out.squeeze(0)


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """1-D cross-correlation ``out[n, o, l] = b[o] + sum_{c,k} W[o, c, k] * x[n, g*C/G + c, l*s + k*d - p]``.

    Shapes: ``input (N, C_in, L)`` or ``(C_in, L)``, ``weight (C_out, C_in/groups, k)``, ``bias (C_out,)``.
    ``padding``: an int, a 1-tuple, ``'valid'`` (none) or ``'same'`` (output as long as the input; stride 1).
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation
    ``out[n, o, i, j] = b[o] + sum_{c, p, q} W[o, c, p, q] * x[n, g*C/G + c, i*sh + p*dh - ph, j*sw + q*dw - pw]``.

    Shapes: ``input (N, C_in, H, W)`` or ``(C_in, H, W)``, ``weight (C_out, C_in/groups, kh, kw)``,
    ``bias (C_out,)``; ``H_out = floor((H + 2*ph - dh*(kh-1) - 1) / sh) + 1``.
    ``padding``: int, pair, ``'valid'`` or ``'same'`` (stride 1 only). One ``ConvolutionBackward0`` node.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """The transpose (adjoint in ``x``) of :func:`conv2d`, sometimes called a deconvolution.

    ``weight (C_in, C_out/groups, kh, kw)``;
    ``H_out = (H - 1)*sh - 2*ph + dh*(kh - 1) + output_padding_h + 1``.
    """
    name = "conv_transpose2d"
    batched = _check_conv(input, weight, bias, groups, 2, name, transposed=True)
    s = _pair(stride, "stride", name)
    p = _pair(padding, "padding", name)
    op = _pair(output_padding, "output_padding", name)
    d = _pair(dilation, "dilation", name)
    if min(s) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if min(d) <= 0:
        raise RuntimeError("dilation should be greater than zero")
    if min(p) < 0:
        raise RuntimeError("negative padding is not supported")
    x = input if batched else input.unsqueeze(0)
    sizes = [(x.shape[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (weight.shape[2 + i] - 1) + op[i] + 1 for i in range(2)]
    if x.shape[0] == 0 or x.shape[1] == 0:  # nothing to compute (PyTorch checks no sizes then)
        shape = (x.shape[0], weight.shape[1] * groups, max(sizes[0], 0), max(sizes[1], 0))
        out0 = plugrad.zeros(shape, dtype=x.dtype, device=x.device) + (x.sum() + weight.sum()) * 0
        return out0 if batched else out0.squeeze(0)
    if 0 in tuple(x.shape[2:]):
        raise RuntimeError(
            f"Only zero batch or zero channel inputs are supported, but got input shape: {_size_str(x.shape)}"
        )
    for i in range(2):
        if op[i] < 0 or (op[i] >= s[i] and op[i] >= d[i]):
            raise RuntimeError(
                f"output padding must be smaller than either stride or dilation, but got output_padding_height: "
                f"{op[0]} output_padding_width: {op[1]} stride_height: {s[0]} stride_width: {s[1]} "
                f"dilation_height: {d[0]} dilation_width: {d[1]}"
            )
    if min(sizes) <= 0:
        raise RuntimeError(
            f"Given input size per channel: ({x.shape[2]} x {x.shape[3]}). Calculated output size per channel: "
            f"({sizes[0]} x {sizes[1]}). Output size is too small"
        )
    out: Tensor = _Convolution.apply(x, weight, _bias_edge(bias, x), s, p, d, groups, True, op)
    return out if batched else out.squeeze(0)


# -------------------------------------------------------------------------- pooling
def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_args(
    kernel_size: Any, stride: Any, padding: Any, dilation: Any, fn: str, nd: int
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    k = _pair(kernel_size, "kernel_size", fn, nd)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair(stride, "stride", fn, nd)
    p = _pair(padding, "padding", fn, nd)
    d = _pair(dilation, "dilation", fn, nd)
    if min(s) == 0:
        raise RuntimeError("stride should not be zero")
    if min(k) <= 0:
        raise RuntimeError(f"{fn}(): kernel_size must be greater than zero, but got {k}")
    if min(s) < 0:
        raise RuntimeError(f"{fn}(): stride must be greater than zero, but got {s}")
    if min(d) <= 0:
        raise RuntimeError(f"{fn}(): dilation must be greater than zero, but got {d}")
    for kk, pp, dd in zip(k, p, d, strict=True):
        if nd == 1 and fn == "max_pool1d" and (pp < 0 or pp > kk // 2):
            raise RuntimeError(
                f"max_pool1d() padding should be at most half of kernel size, but got padding={pp} and kernel_size={kk}"
            )
        if pp < 0 or pp > (dd * (kk - 1) + 1) // 2:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got pad={pp}, kernel_size={kk} and "
                f"dilation={dd}"
            )
    if fn == "max_pool2d" and any(pp > kk // 2 for kk, pp in zip(k, p, strict=True)):
        raise RuntimeError(
            f"pad should be smaller than or equal to half of kernel size, but got padW = {p[1]}, padH = {p[0]}, "
            f"kW = {k[1]}, kH = {k[0]}"
        )
    return k, s, p, d


def _padded(x: Tensor, pad: tuple[int, int, int, int], fill: float) -> Tensor:
    top, bottom, left, right = pad
    if not (top or bottom or left or right):
        return x
    n, c, h, w = x.shape
    xp = plugrad.full((n, c, h + top + bottom, w + left + right), fill, dtype=x.dtype, device=x.device)
    xp[:, :, top : top + h, left : left + w] = x
    return xp


def _window_views(xp: Tensor, k: _Pair, d: _Pair, s: _Pair, out: _Pair) -> list[Tensor]:
    """The ``kh*kw`` strided views of a padded image, one per window slot, each ``(N, C, Ho, Wo)``."""
    (ho, wo) = out
    return [
        xp[:, :, i * d[0] : i * d[0] + s[0] * (ho - 1) + 1 : s[0], j * d[1] : j * d[1] + s[1] * (wo - 1) + 1 : s[1]]
        for i in range(k[0])
        for j in range(k[1])
    ]


class _MaxPool2d(Function, backward_name="MaxPool2DWithIndicesBackward0"):
    """Max over each window (``maximum`` of the ``kh*kw`` strided views; NaN propagates).

    The gradient goes to the first position of each window holding the maximum, as PyTorch's.
    With ``with_indices`` the flat ``h * W + w`` input positions of those maxima are returned too.
    """

    _prints_as_builtin = True

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, k: _Pair, s: _Pair, p: _Pair, d: _Pair, out: _Pair, with_indices: bool
    ) -> tuple[Tensor, Tensor | None]:
        h, w = x.shape[2], x.shape[3]
        pad = (
            p[0],
            max(0, (out[0] - 1) * s[0] + d[0] * (k[0] - 1) + 1 - h - p[0]),
            p[1],
            max(0, (out[1] - 1) * s[1] + d[1] * (k[1] - 1) + 1 - w - p[1]),
        )
        views = _window_views(_padded(x, pad, -math.inf), k, d, s, out)
        values = views[0]
        for v in views[1:]:
            values = plugrad.maximum(values, v)
        ctx.save_for_backward(x, values)
        ctx.conf = ((h, w), k, s, d, pad, out)
        if not with_indices:
            return values, None
        slot = _first_max_slot(views, values)
        ki, kj = slot // k[1], slot % k[1]
        rows = plugrad.arange(out[0], device=x.device).reshape(out[0], 1) * s[0] - p[0]
        cols = plugrad.arange(out[1], device=x.device) * s[1] - p[1]
        indices = (rows + ki * d[0]) * w + cols + kj * d[1]
        ctx.mark_non_differentiable(indices)
        return values, indices

    @staticmethod
    def backward(ctx: Any, g: Tensor, *_: Any) -> tuple[Tensor | None, ...]:
        x, values = ctx.saved_tensors
        size, k, s, d, pad, out = ctx.conf
        views = _window_views(_padded(x, pad, -math.inf), k, d, s, out)
        if plugrad.is_grad_enabled():  # create_graph: the gradient as recorded ops on g
            slot = _first_max_slot(views, values)
            slots = plugrad.arange(k[0] * k[1], device=g.device).reshape(1, 1, -1, 1, 1)
            cols = (slot.unsqueeze(2) == slots).to(g.dtype) * g.unsqueeze(2)
            return _Col2ImWindows.apply(cols, size, k, d, pad, s), None, None, None, None, None, None
        h, w = size
        top, bottom, left, right = pad
        gx = plugrad.zeros((x.shape[0], x.shape[1], h + top + bottom, w + left + right), dtype=g.dtype, device=g.device)
        zero = plugrad.zeros((), dtype=g.dtype, device=g.device)
        # walk the slots in order, handing the still-unclaimed gradient to each slot holding the maximum:
        # the first maximum of a window takes it all (PyTorch's rule for ties), later ones get zeros
        remaining = g
        targets = _window_views(gx, k, d, s, out)
        last = len(views) - 1
        has_nan = bool((values != values).any().item())  # a NaN is the maximum of its window
        for i, (v, target) in enumerate(zip(views, targets, strict=True)):
            hit = (v == values) | (v != v) if has_nan else v == values
            target.add_(plugrad.where(hit, remaining, zero))
            if i < last:
                remaining = plugrad.where(hit, zero, remaining)
        if top or bottom or left or right:
            gx = gx[:, :, top : top + h, left : left + w].contiguous()
        return gx, None, None, None, None, None, None


def _first_max_slot(views: list[Tensor], values: Tensor) -> Tensor:
    """Per output position, the first window slot whose value equals the maximum (NaN counts as equal)."""
    slot = plugrad.zeros(values.shape, dtype=plugrad.int64, device=values.device)
    found = (views[0] == values) | (views[0] != views[0])
    for i, v in enumerate(views[1:], 1):
        hit = ((v == values) | (v != v)) & ~found
        slot = plugrad.where(hit, i, slot)
        found = found | hit
    return slot


class _Col2ImWindows(Function, backward_name="Col2ImBackward0"):
    """:func:`_col2im` as a node (for gradients of pooling gradients); the gradient is :func:`_im2col`."""

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, cols: Tensor, size: _Pair, k: _Pair, d: _Pair, pad: _Pad4, s: _Pair) -> Tensor:
        ctx.conf = (k, d, pad, s, (cols.shape[3], cols.shape[4]))
        return _col2im(cols, size, k, d, pad, s)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None, None, None]:
        k, d, pad, s, out = ctx.conf
        return _Im2ColWindows.apply(g, k, d, pad, s, out), None, None, None, None, None


class _Im2ColWindows(Function, backward_name="Im2ColBackward0"):
    """:func:`_im2col` (zero fill) as a node; the gradient is :func:`_col2im`."""

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, x: Tensor, k: _Pair, d: _Pair, pad: _Pad4, s: _Pair, out: _Pair) -> Tensor:
        ctx.conf = ((x.shape[2], x.shape[3]), k, d, pad, s)
        return _im2col(x, k, d, pad, s, out)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None, None, None]:
        return _Col2ImWindows.apply(g, *ctx.conf), None, None, None, None, None


def _col2im_graph(cols: Tensor, size: _Pair, k: _Pair, d: _Pair, pad: _Pad4, s: _Pair) -> Tensor:
    if plugrad.is_grad_enabled() and cols.requires_grad:
        return _Col2ImWindows.apply(cols, size, k, d, pad, s)  # type: ignore[no-any-return]
    return _col2im(cols, size, k, d, pad, s)


def _pool_input(input: Tensor, nd: int, fn: str) -> tuple[Tensor, bool]:
    _check_tensor(input, fn)
    if input.ndim not in (nd + 1, nd + 2):
        batch = "2D or 3D" if nd == 1 else "3D or 4D"
        raise RuntimeError(
            f"{fn}: Expected {batch} input tensor, but got {_size_str(input.shape)}"
            if nd == 2
            else f"{fn}() Expected {batch} input tensor, but got {_size_str(input.shape)}"
        )
    if not input.is_floating_point():
        raise RuntimeError(f"\"{fn}\" not implemented for '{_legacy(input)}'")
    batched = input.ndim == nd + 2
    x = input if batched else input.unsqueeze(0)
    if nd == 1:
        x = x.unsqueeze(2)
    if any(sz == 0 for sz in x.shape[1:]):
        if fn == "max_pool1d":
            raise RuntimeError(
                "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, but "
                f"got:{_size_str(input.shape)}"
            )
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:"
            f"{_size_str(x.shape if nd == 1 else input.shape)}"
        )
    return x, batched


def _pool_finish(out: Tensor, batched: bool, nd: int) -> Tensor:
    if nd == 1:
        out = out.squeeze(2)
    return out if batched else out.squeeze(0)


def _max_pool(
    input: Tensor,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    return_indices: bool,
    nd: int,
    fn: str,
) -> Any:
    x, batched = _pool_input(input, nd, fn)
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation, fn, nd)
    if nd == 1:
        k, s, p, d = (1, k[0]), (1, s[0]), (0, p[0]), (1, d[0])
    h, w = x.shape[2], x.shape[3]
    out = (_pool_out(h, k[0], s[0], p[0], d[0], ceil_mode), _pool_out(w, k[1], s[1], p[1], d[1], ceil_mode))
    if out[0] <= 0 or out[1] <= 0:
        raise RuntimeError(
            f"Given input size: ({x.shape[1]}x{h}x{w}). Calculated output size: ({x.shape[1]}x{out[0]}x{out[1]}). "
            "Output size is too small"
        )
    values, indices = _MaxPool2d.apply(x, k, s, p, d, out, bool(return_indices))
    values = _pool_finish(values, batched, nd)
    if return_indices:
        return values, _pool_finish(indices, batched, nd)
    return values


def max_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """2-D max pooling: ``out[n, c, i, j] = max_{p, q} x[n, c, i*sh + p*dh - ph, j*sw + q*dw - pw]``.

    ``stride`` defaults to ``kernel_size``; padding is ``-inf`` (at most half the effective kernel);
    ``ceil_mode`` rounds the output size up (a window must still start inside the input or left padding).
    ``return_indices=True`` also returns the flat ``h * W + w`` positions of the maxima (for ``MaxUnpool2d``).
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, "max_pool2d")


def max_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """1-D max pooling over ``(N, C, L)`` or ``(C, L)``; see :func:`max_pool2d`."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, "max_pool1d")


def _avg_divisor(size: int, k: int, s: int, p: int, out: int, include_pad: bool) -> list[int]:
    """Per output position along one dim: how many elements its window averages over."""
    counts = []
    for i in range(out):
        start = i * s - p
        end = min(start + k, size + p)
        full = end - start
        start, end = max(start, 0), min(end, size)
        counts.append(full if include_pad else end - start)
    return counts


class _AvgPool2d(Function, backward_name="AvgPool2DBackward0"):
    """Window sums divided by a fixed divisor per output position; the gradient spreads ``g / divisor``."""

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, x: Tensor, k: _Pair, s: _Pair, pad: _Pad4, out: _Pair, div_box: tuple[Tensor]) -> Tensor:
        (div,) = div_box  # in a tuple, not an edge: the node's only edge is the input's, as PyTorch's
        ctx.conf = ((x.shape[2], x.shape[3]), k, s, pad)
        ctx.div = div
        cols = _im2col(x, k, (1, 1), pad, s, out)
        return cols.sum(2) / div

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        size, k, s, pad = ctx.conf
        cols = (g / ctx.div).unsqueeze(2).expand(g.shape[0], g.shape[1], k[0] * k[1], g.shape[2], g.shape[3])
        return _col2im_graph(cols, size, k, (1, 1), pad, s), None, None, None, None, None


def _avg_pool(
    input: Tensor,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
    nd: int,
    fn: str,
) -> Tensor:
    x, batched = _pool_input(input, nd, fn)
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1, fn, nd)
    if nd == 1:
        k, s, p = (1, k[0]), (1, s[0]), (0, p[0])
    if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override == 0):
        raise RuntimeError("divisor must be not zero")
    h, w = x.shape[2], x.shape[3]
    out = (_pool_out(h, k[0], s[0], p[0], 1, ceil_mode), _pool_out(w, k[1], s[1], p[1], 1, ceil_mode))
    if out[0] <= 0 or out[1] <= 0:
        raise RuntimeError(
            f"Given input size: ({x.shape[1]}x{h}x{w}). Calculated output size: ({x.shape[1]}x{out[0]}x{out[1]}). "
            "Output size is too small"
        )
    pad = (
        p[0],
        max(0, (out[0] - 1) * s[0] + k[0] - h - p[0]),
        p[1],
        max(0, (out[1] - 1) * s[1] + k[1] - w - p[1]),
    )
    if divisor_override is not None:
        div = plugrad.tensor(float(divisor_override), dtype=x.dtype, device=x.device)
    else:
        rows = _avg_divisor(h, k[0], s[0], p[0], out[0], count_include_pad)
        cols = _avg_divisor(w, k[1], s[1], p[1], out[1], count_include_pad)
        div = plugrad.tensor([[float(a * b) for b in cols] for a in rows], dtype=x.dtype, device=x.device)
    result: Tensor = _AvgPool2d.apply(x, k, s, pad, out, (div,))
    return _pool_finish(result, batched, nd)


def avg_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-D average pooling: the mean over each ``kh x kw`` window.

    The divisor is ``divisor_override`` if given, else the window's size clipped to the padded input
    (``count_include_pad=True``) or to the input itself (``False``).
    """
    return _avg_pool(
        input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2, "avg_pool2d"
    )


def avg_pool1d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """1-D average pooling over ``(N, C, L)`` or ``(C, L)``; see :func:`avg_pool2d`."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


def _adaptive_matrix(size: int, out: int, x: Tensor) -> Tensor:
    """``(out, size)``: row ``i`` averages input ``floor(i*size/out) .. ceil((i+1)*size/out) - 1``."""
    rows = []
    for i in range(out):
        start = (i * size) // out
        end = -(-((i + 1) * size) // out)
        rows.append([1.0 / (end - start) if start <= j < end else 0.0 for j in range(size)])
    if not rows:
        return plugrad.zeros(0, size, dtype=x.dtype, device=x.device)
    return plugrad.tensor(rows, dtype=x.dtype, device=x.device)


class _Separable(Function):
    """A resampling that acts on each spatial dim by a fixed matrix: ``out = A_h @ x @ A_w^T``
    (1-D: ``x @ A_w^T``); the gradient is ``A_h^T @ g @ A_w``. Subclasses fix PyTorch's node name.
    The matrices come in a tuple (not as tensor arguments), so the node's only edge is the input's."""

    _prints_as_builtin = True

    @staticmethod
    def forward(ctx: Any, x: Tensor, mats: tuple[Tensor | None, Tensor]) -> Tensor:
        ah, aw = mats
        ctx.mats = mats
        out = x @ aw.t()
        return out if ah is None else ah @ out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        ah, aw = ctx.mats
        gx = g @ aw
        return (gx if ah is None else ah.t() @ gx), None


class _AdaptiveAvgPool2d(_Separable, backward_name="AdaptiveAvgPool2DBackward0"):
    """Adaptive average pooling with averaging matrices."""


class _UpsampleNearest1d(_Separable, backward_name="UpsampleNearest1DBackward0"):
    """Nearest-neighbour resampling (0/1 selection matrix), 1-D."""


class _UpsampleNearest2d(_Separable, backward_name="UpsampleNearest2DBackward0"):
    """Nearest-neighbour resampling (0/1 selection matrices), 2-D."""


class _UpsampleLinear1d(_Separable, backward_name="UpsampleLinear1DBackward0"):
    """Linear interpolation matrices, 1-D."""


class _UpsampleBilinear2d(_Separable, backward_name="UpsampleBilinear2DBackward0"):
    """Linear interpolation matrices along both spatial dims."""


def _adaptive(input: Tensor, output_size: Any, nd: int, fn: str) -> Tensor:
    _check_tensor(input, fn)
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{fn}(): Expected {nd + 1}D or {nd + 2}D tensor, but got {_size_str(input.shape)}"
            if nd == 2
            else f"{fn}(): Expected 2D or 3D tensor, but got {_size_str(input.shape)}"
        )
    if not input.is_floating_point():
        raise RuntimeError(f"\"{fn}\" not implemented for '{_legacy(input)}'")
    for i in range(1, input.ndim):
        if input.shape[i] == 0:
            raise RuntimeError(
                f"{fn}(): Expected input to have non-zero size for non-batch dimensions, but input has sizes "
                f"{_size_str(input.shape)} with dimension {i} being empty"
            )
    spatial = input.shape[-nd:]
    if nd == 1:
        sizes: Any = (output_size if isinstance(output_size, int) else next(iter(output_size)),)
    else:
        if isinstance(output_size, int):
            sizes = (output_size, output_size)
        else:
            sizes = tuple(output_size)
            if len(sizes) != 2:
                raise ValueError(f"{fn}: output_size must be 2")
        sizes = tuple(spatial[i] if sizes[i] is None else sizes[i] for i in range(2))
    if any(not isinstance(v, int) or v < 0 for v in sizes):
        raise RuntimeError(f"{fn}: elements of output_size must be greater than or equal to 0 but received {sizes}")
    if nd == 1:
        ah = plugrad.ones(1, 1, dtype=input.dtype, device=input.device)
        aw = _adaptive_matrix(spatial[0], sizes[0], input)
    else:
        ah = _adaptive_matrix(spatial[0], sizes[0], input)
        aw = _adaptive_matrix(spatial[1], sizes[1], input)
    x = input.unsqueeze(-2) if nd == 1 else input
    out: Tensor = _AdaptiveAvgPool2d.apply(x, (ah, aw))
    return out.squeeze(-2) if nd == 1 else out


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """2-D adaptive average pooling to ``output_size`` (int, pair; ``None`` keeps that dim).

    Output cell ``i`` averages input rows ``floor(i*H/Ho) .. ceil((i+1)*H/Ho) - 1`` (same for columns).
    """
    return _adaptive(input, output_size, 2, "adaptive_avg_pool2d")


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """1-D adaptive average pooling of ``(N, C, L)`` or ``(C, L)`` to length ``output_size``."""
    return _adaptive(input, output_size, 1, "adaptive_avg_pool1d")


# ---------------------------------------------------------------------- interpolation
def _linear_matrix(size: int, out: int, scale: float | None, align_corners: bool, x: Tensor) -> Tensor:
    """``(out, size)`` linear-interpolation weights along one dim, PyTorch's source-index rule."""
    rows = []
    for i in range(out):
        if align_corners:
            src = i * (size - 1) / (out - 1) if out > 1 else 0.0
        else:
            ratio = (1.0 / scale) if scale is not None else size / out
            src = max((i + 0.5) * ratio - 0.5, 0.0)
        lo = min(math.floor(src), size - 1)
        hi = min(lo + 1, size - 1)
        frac = src - lo
        row = [0.0] * size
        row[lo] += 1.0 - frac
        row[hi] += frac
        rows.append(row)
    return plugrad.tensor(rows, dtype=x.dtype, device=x.device)


def interpolate(
    input: Tensor,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize the spatial dims of ``(N, C, L)`` / ``(N, C, H, W)`` to ``size`` or by ``scale_factor``.

    ``mode='nearest'``: output ``i`` copies input ``floor(i * scale)`` (``scale = in/out``, or
    ``1/scale_factor`` when given and not recomputed). ``'linear'``/``'bilinear'``: weights from source
    coordinate ``(i + 0.5) * scale - 0.5`` clamped at 0, or ``i * (in-1)/(out-1)`` with ``align_corners``.
    """
    _check_tensor(input, "interpolate")
    nd = input.ndim - 2
    if nd not in (1, 2):
        raise NotImplementedError(
            f"Input Error: Only 3D and 4D input Tensors supported (got {input.ndim}D) for the modes: nearest | linear"
            f" | bilinear (got {mode})"
        )
    if mode not in ("nearest", "linear", "bilinear"):
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported by plugrad (nearest, linear, bilinear)")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by plugrad")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(
            "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear"
        )
    if (mode == "linear" and nd != 1) or (mode == "bilinear" and nd != 2):
        need = "3D" if mode == "linear" else "4D"
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {need} input")
    if (size is None) == (scale_factor is None):
        raise ValueError(
            "either size or scale_factor should be defined"
            if size is None
            else "only one of size or scale_factor should be defined"
        )
    spatial = input.shape[2:]
    scales: list[float | None]
    if size is not None:
        sizes = [size] * nd if isinstance(size, int) else list(size)
        if len(sizes) != nd:
            raise ValueError(
                f"Input and output must have the same number of spatial dimensions, but got input with spatial "
                f"dimensions of {list(spatial)} and output size of {sizes}. Please provide input tensor in (N, C, "
                "d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format."
            )
        scales = [None] * nd
    else:
        factors = (
            [float(scale_factor)] * nd if isinstance(scale_factor, (int, float)) else [float(f) for f in scale_factor]
        )
        if len(factors) != nd:
            raise ValueError(
                f"Input and scale_factor must have the same number of spatial dimensions, but got input with spatial "
                f"dimensions of {list(spatial)} and scale_factor of shape {factors}. Please provide input tensor in "
                "(N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format."
            )
        sizes = [math.floor(sz * f) for sz, f in zip(spatial, factors, strict=True)]
        scales = [None] * nd if recompute_scale_factor else list(factors)
    if input.shape[1] == 0 or (input.numel() == 0 and input.shape[0] != 0 and 0 not in tuple(spatial)):
        raise RuntimeError(
            f"Non-empty {input.ndim}D data tensor expected but got a tensor with sizes {_size_str(input.shape)}"
        )
    if any(s <= 0 for s in sizes) or 0 in tuple(spatial):
        if nd == 1:
            raise RuntimeError(
                f"Input and output sizes should be greater than 0, but got input (W: {spatial[0]}) and output "
                f"(W: {sizes[0]})"
            )
        raise RuntimeError(
            f"Input and output sizes should be greater than 0, but got input (H: {spatial[0]}, W: {spatial[1]}) "
            f"output (H: {sizes[0]}, W: {sizes[1]})"
        )
    if mode == "nearest":
        sources = []
        for i in range(nd):
            ratio = 1.0 / scales[i] if scales[i] is not None else spatial[i] / sizes[i]  # type: ignore[operator]
            sources.append([min(math.floor(j * ratio), spatial[i] - 1) for j in range(sizes[i])])
        if not input.is_floating_point():  # integer images: a plain gather (no gradient to keep)
            out = input
            for i, src in enumerate(sources):
                out = out.index_select(2 + i, plugrad.tensor(src, dtype=plugrad.int64, device=input.device))
            return out
        mats = []
        for i, src in enumerate(sources):
            rows = [[1.0 if c == s_ else 0.0 for c in range(spatial[i])] for s_ in src]
            mats.append(plugrad.tensor(rows, dtype=input.dtype, device=input.device))
        cls: type[_Separable] = _UpsampleNearest1d if nd == 1 else _UpsampleNearest2d
    else:
        if not input.is_floating_point():
            raise RuntimeError(f"\"upsample_{mode}\" not implemented for '{_legacy(input)}'")
        corners = bool(align_corners)
        mats = [_linear_matrix(spatial[i], sizes[i], scales[i], corners, input) for i in range(nd)]
        cls = _UpsampleLinear1d if nd == 1 else _UpsampleBilinear2d
    if nd == 1:
        return cls.apply(input, (None, mats[0]))  # type: ignore[no-any-return]
    return cls.apply(input, (mats[0], mats[1]))  # type: ignore[no-any-return]


def upsample(
    input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest", align_corners: bool | None = None
) -> Tensor:
    """Deprecated alias of :func:`interpolate` (as in PyTorch)."""
    return interpolate(input, size, scale_factor, mode, align_corners)
