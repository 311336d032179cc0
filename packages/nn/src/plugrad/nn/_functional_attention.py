"""Attention: ``scaled_dot_product_attention`` and ``multi_head_attention_forward``.

Re-exported by :mod:`plugrad.nn.functional` (``F.scaled_dot_product_attention``, ...).

``scaled_dot_product_attention`` is one graph node (:class:`_SDPA`): the score matrix,
the softmax, the dropout and the weighted sum run in its ``forward``, and the
``backward`` is written with tensor ops on the saved attention probabilities, so it
records a graph of its own under ``create_graph=True`` (second derivatives work).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import plugrad
from plugrad import Tensor
from plugrad.autograd import Function

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]

_NEG_INF = float("-inf")
_causal_cache: dict[tuple[int, int, Any, Any], Tensor] = {}


def _causal_bias(L: int, S: int, dtype: Any, device: Any) -> Tensor:
    """``(L, S)`` additive mask: ``0`` where ``j <= i``, ``-inf`` above the diagonal (cached per shape)."""
    key = (L, S, dtype, device)
    bias = _causal_cache.get(key)
    if bias is None:
        bias = plugrad.full((L, S), _NEG_INF, dtype=dtype, device=device).triu(1)
        if len(_causal_cache) > 64:
            _causal_cache.clear()
        _causal_cache[key] = bias
    return bias


def _sum_to(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    return g if tuple(g.shape) == shape else g.sum_to_size(*shape)


class _SDPA(Function, backward_name="ScaledDotProductAttentionBackward0"):
    """``out = dropout(softmax(q k^T * scale + bias)) v`` in one node.

    With ``P`` the attention probabilities, ``D`` the dropout's keep mask scaled by
    ``1 / (1 - p)`` and ``g`` the output's gradient::

        dv = (P * D)^T g        dP = (g v^T) * D        dS = P * (dP - sum_j dP * P)
        dq = dS k * scale       dk = dS^T q * scale     dbias = dS

    and ``sum_j dP * P = sum(g * out)`` over the value dimension, a reduction over the
    small output instead of the ``(L, S)`` matrix. Without ``create_graph`` the
    ``(L, S)``-sized work runs in place on fresh buffers, and in the transposed layout
    ``P^T = softmax over dim -2 of k q^T``: NumPy reduces across rows (``max``/``sum`` over
    dim -2) several times faster than along a short last dimension. ``keep`` comes in that
    layout too, ``(..., S, L)``. Rows whose scores are all ``-inf`` (fully masked) give zero
    probabilities and a zero output, as PyTorch's CPU kernel does.
    """

    @staticmethod
    def forward(
        ctx: Any,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        bias: Tensor | None,
        scale: float,
        keep_t: Tensor | None,
        can_mask_rows: bool,
    ) -> Tensor:
        p_t = _probs_t(q, k, bias, scale, can_mask_rows)
        out = (p_t if keep_t is None else p_t * keep_t).transpose(-2, -1) @ v
        ctx.save_for_backward(q, k, v, p_t, keep_t, bias, out)
        ctx.scale = scale
        ctx.can_mask_rows = can_mask_rows
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        q, k, v, p_t, keep_t, bias, out = ctx.saved_tensors
        need_q, need_k, need_v, need_bias = ctx.needs_input_grad[:4]
        scale = ctx.scale
        dq = dk = dv = dbias = None
        if plugrad.is_grad_enabled():  # create_graph: out of place, P rebuilt from q, k with a graph
            p = _probs(q, k, bias, scale, ctx.can_mask_rows)
            keep = None if keep_t is None else keep_t.transpose(-2, -1)
            if need_v:
                pd = p if keep is None else p * keep
                dv = _sum_to(pd.transpose(-2, -1) @ g, tuple(v.shape))
            if need_q or need_k or need_bias:
                dp = g @ v.transpose(-2, -1)
                if keep is not None:
                    dp = dp * keep
                ds = p * (dp - (dp * p).sum(-1, keepdim=True))
                if need_bias:
                    dbias = _sum_to(ds, tuple(bias.shape))
                if need_q:
                    dq = _sum_to((ds @ k) * scale, tuple(q.shape))
                if need_k:
                    dk = _sum_to((ds.transpose(-2, -1) @ q) * scale, tuple(k.shape))
            return dq, dk, dv, dbias, None, None, None
        if need_v:
            dv = _sum_to((p_t if keep_t is None else p_t * keep_t) @ g, tuple(v.shape))
        if need_q or need_k or need_bias:
            ds_t = v @ g.transpose(-2, -1)  # dP^T, (..., S, L)
            if keep_t is not None:
                ds_t.mul_(keep_t)
            ds_t.sub_((g * out).sum(-1).unsqueeze(-2)).mul_(p_t)
            if need_bias:
                dbias = _sum_to(ds_t.transpose(-2, -1), tuple(bias.shape))
            if need_q:
                dq = _sum_to((ds_t.transpose(-2, -1) @ k).mul_(scale), tuple(q.shape))
            if need_k:
                dk = _sum_to((ds_t @ q).mul_(scale), tuple(k.shape))
        return dq, dk, dv, dbias, None, None, None


def _probs_t(q: Tensor, k: Tensor, bias: Tensor | None, scale: float, can_mask_rows: bool) -> Tensor:
    """``softmax(q k^T * scale + bias, dim=-1)`` transposed, ``(..., S, L)``, built in place without a graph."""
    s_t = k @ (q * scale).transpose(-2, -1)
    if bias is not None:
        s_t.add_(bias.transpose(-2, -1) if bias.ndim >= 2 else bias.reshape(-1, 1))
    m = s_t.amax(-2, keepdim=True)
    if can_mask_rows:  # a fully masked row has max -inf: shift by 0 instead, so exp gives 0, not nan
        m = m.masked_fill(m == _NEG_INF, 0.0)
    e = s_t.sub_(m).exp_()
    z = e.sum(-2, keepdim=True)
    if can_mask_rows:
        z = z.masked_fill(z == 0, 1.0)
    return e.div_(z)


def _probs(q: Tensor, k: Tensor, bias: Tensor | None, scale: float, can_mask_rows: bool) -> Tensor:
    """``softmax(q k^T * scale + bias)`` over the last dimension with a graph (for ``create_graph``)."""
    s = (q * scale) @ k.transpose(-2, -1)
    if bias is not None:
        s = s + bias
    m = s.amax(-1, keepdim=True).detach()
    if can_mask_rows:
        m = m.masked_fill(m == _NEG_INF, 0.0)
    e = (s - m).exp()
    z = e.sum(-1, keepdim=True)
    if can_mask_rows:
        z = z.masked_fill(z == 0, 1.0)
    return e / z


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    return tuple(y if x == 1 else x for x, y in zip(a, b))


def _type_name(t: Tensor) -> str:
    return t.dtype.to_legacy_type_name()[: -len("Tensor")].lower()


def _repeat_heads(t: Tensor, repeats: int) -> Tensor:
    """``t.repeat_interleave(repeats, dim=-3)``: each head ``h`` becomes heads ``h*r .. h*r + r - 1``."""
    shape = tuple(t.shape)
    expanded = t.unsqueeze(-3).expand(*shape[:-2], repeats, *shape[-2:])
    return expanded.reshape(*shape[:-3], shape[-3] * repeats, *shape[-2:])


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """Attention ``softmax(Q K^T * scale + M) V``.

    Shapes: ``query (..., L, E)``, ``key (..., S, E)``, ``value (..., S, Ev)``, result
    ``(..., L, Ev)``; leading dimensions broadcast. ``scale`` defaults to ``1/sqrt(E)``.

    :param attn_mask: boolean (``True`` = may attend) or additive float, broadcastable to ``(..., L, S)``.
    :param dropout_p: dropout probability on the attention weights (applied whenever ``> 0``).
    :param is_causal: mask out ``j > i`` (the upper triangle); exclusive with ``attn_mask``.
    :param enable_gqa: grouped-query attention: ``query`` may have more heads (dim ``-3``)
        than ``key``/``value``, a multiple of theirs; each key head serves a group of query heads.
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: "
            f"{query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} instead."
        )
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{_type_name(query)} key.dtype: {_type_name(key)} and value.dtype: {_type_name(value)} instead."
        )
    if not query.is_floating_point():
        raise RuntimeError(f"scaled_dot_product_attention(): expected floating-point inputs, got {query.dtype}")
    if not 0.0 <= dropout_p <= 1.0:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {dropout_p:g}")
    if key.shape[-1] != query.shape[-1]:
        raise RuntimeError(
            "scaled_dot_product_attention(): query and key must have the same embedding size (last dimension), "
            f"got {query.shape[-1]} and {key.shape[-1]}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            "scaled_dot_product_attention(): key and value must have the same sequence length (dimension -2), "
            f"got {key.shape[-2]} and {value.shape[-2]}"
        )
    if enable_gqa and query.ndim >= 3 and key.ndim >= 3:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hq != hk or hq != hv:
            if hk != hv or hq % hk:
                raise RuntimeError(
                    "Number of heads in key and value must divide the number of heads in query "
                    f"(query heads {hq}, key heads {hk}, value heads {hv})"
                )
            key = _repeat_heads(key, hq // hk)
            value = _repeat_heads(value, hq // hv)
    L, S = query.shape[-2], key.shape[-2]
    bias: Tensor | None = None
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError(
                "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True"
            )
        bias = _causal_bias(L, S, query.dtype, query.device)
    elif attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            raise TypeError(
                f"scaled_dot_product_attention(): attn_mask must be a Tensor, not {type(attn_mask).__name__}"
            )
        if attn_mask.dtype == plugrad.bool:
            bias = plugrad.zeros(attn_mask.shape, dtype=query.dtype, device=query.device).masked_fill(
                attn_mask.logical_not(), _NEG_INF
            )
        elif attn_mask.is_floating_point():
            bias = attn_mask if attn_mask.dtype == query.dtype else attn_mask.to(query.dtype)
        else:
            raise RuntimeError(
                f"Expected attn_mask dtype to be bool or float or to match query dtype, but got attn_mask.dtype: "
                f"{_type_name(attn_mask)} and  query.dtype: {_type_name(query)} instead."
            )
        if bias.ndim > 0 and bias.shape[-1] != S and bias.shape[-1] != 1:
            raise RuntimeError(
                f"The size of tensor a ({S}) must match the size of tensor b ({bias.shape[-1]}) "
                f"at non-singleton dimension {max(query.ndim, bias.ndim) - 1}"
            )
    scale_factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    keep: Tensor | None = None
    if dropout_p > 0.0:
        out_shape = (*_broadcast(tuple(query.shape[:-2]), tuple(key.shape[:-2])), S, L)  # transposed, as _SDPA
        if dropout_p == 1.0:
            keep = plugrad.zeros(out_shape, dtype=query.dtype, device=query.device)
        else:
            with plugrad.no_grad():  # a constant of the node: kept as ``1 / (1 - p)`` or 0
                keep = plugrad.rand(out_shape, dtype=query.dtype, device=query.device) >= dropout_p
                keep = keep.to(query.dtype).mul_(1.0 / (1.0 - dropout_p))
    can_mask_rows = bias is not None and not is_causal
    return _SDPA.apply(query, key, value, bias, scale_factor, keep, can_mask_rows)  # type: ignore[no-any-return]


# ------------------------------------------------------------------- multi-head attention
def _canonical_mask(
    mask: Tensor | None, mask_name: str, other_type: Any, other_name: str, target_type: Any, check_other: bool = True
) -> Tensor | None:
    """A boolean mask (``True`` = masked out) becomes additive floats (``-inf``); a float mask stays."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"{mask_name} must be a Tensor, not {type(mask).__name__}")
    is_bool = mask.dtype == plugrad.bool
    if not is_bool and not mask.is_floating_point():
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(
            f"Support for mismatched {mask_name} and {other_name} is deprecated. Use same type for both instead.",
            UserWarning,
            stacklevel=4,
        )
    if is_bool:
        return plugrad.zeros(mask.shape, dtype=target_type, device=mask.device).masked_fill(mask, _NEG_INF)
    return mask


def _shape_check(
    query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None, attn_mask: Tensor | None, num_heads: int
) -> bool:
    """Whether the call is batched (3-D ``query``) or unbatched (2-D); raise on inconsistent shapes."""
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                f"{key.ndim}-D and {value.ndim}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but found "
                f"{key_padding_mask.ndim}-D tensor instead"
            )
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise AssertionError(
                "For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                f"{attn_mask.ndim}-D tensor instead"
            )
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                f"{key.ndim}-D and {value.ndim}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D but found "
                f"{key_padding_mask.ndim}-D tensor instead"
            )
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise AssertionError(
                    "For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                    f"{attn_mask.ndim}-D tensor instead"
                )
            if attn_mask.ndim == 3:
                expected = (num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != expected:
                    raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got {attn_mask.shape}")
        return False
    raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D query tensor")


def _linear(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    from .functional import linear

    return linear(x, w, b)


def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Tensor | None,
    in_proj_bias: Tensor | None,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    training: bool = True,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None,
    static_k: Tensor | None = None,
    static_v: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Multi-head attention over sequence-first inputs (what :class:`~plugrad.nn.MultiheadAttention` runs).

    ``query (L, N, E)``, ``key (S, N, kdim)``, ``value (S, N, vdim)`` (or 2-D, unbatched).
    Each head ``h`` attends with ``softmax(Q_h K_h^T / sqrt(E / num_heads) + mask) V_h``;
    the heads are concatenated and projected by ``out_proj``. Boolean masks mean
    ``True`` = *not allowed*; float masks are added to the scores. Returns
    ``(output (L, N, E), weights (N, L, S) averaged over heads, or (N, heads, L, S), or None)``.
    """
    batched = _shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    key_padding_mask = _canonical_mask(
        key_padding_mask,
        "key_padding_mask",
        None if attn_mask is None else attn_mask.dtype,
        "attn_mask",
        query.dtype,
    )
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer module method "
            "`generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the causal flag carries the mask; SDPA builds it
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, check_other=False)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(
                f"key's sequence and batch dims {key.shape[:2]} do not match value's {value.shape[:2]}"
            )
    elif tuple(key.shape) != tuple(value.shape):
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")

    # ---- input projections
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        if key is value and query is key:  # self-attention: one product
            q, k, v = _linear(query, in_proj_weight, in_proj_bias).chunk(3, -1)
        else:
            w_q, w_k, w_v = in_proj_weight.chunk(3)
            b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
            q = _linear(query, w_q, b_q)
            if key is value:
                k, v = _linear(key, plugrad.cat([w_k, w_v]), None if b_k is None else plugrad.cat([b_k, b_v])).chunk(
                    2, -1
                )
            else:
                k, v = _linear(key, w_k, b_k), _linear(value, w_v, b_v)
    else:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError(
                "use_separate_proj_weight is True but q_proj_weight, k_proj_weight or v_proj_weight is None"
            )
        b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        q = _linear(query, q_proj_weight, b_q)
        k = _linear(key, k_proj_weight, b_k)
        v = _linear(value, v_proj_weight, b_v)

    # ---- attention mask shape
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be {(tgt_len, src_len)}."
                )
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                    f"{(bsz * num_heads, tgt_len, src_len)}."
                )
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")

    # ---- extra key/value rows
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError(
                "bias cannot be added to static key."
                if static_k is not None
                else "bias cannot be added to static value."
            )
        k = plugrad.cat([k, bias_k.expand(1, bsz, embed_dim)])
        v = plugrad.cat([v, bias_v.expand(1, bsz, embed_dim)])
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    elif bias_k is not None or bias_v is not None:
        raise AssertionError("bias_k and bias_v must both be given or both be None")

    # ---- split heads: (L, N, E) -> (N * H, L, head_dim)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    if static_k is None:
        k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        if tuple(static_k.shape[:1]) != (bsz * num_heads,) or static_k.shape[2] != head_dim:
            raise AssertionError(
                f"expecting static_k of shape ({bsz * num_heads}, S, {head_dim}), but got {tuple(static_k.shape)}"
            )
        k = static_k
    if static_v is None:
        v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        if tuple(static_v.shape[:1]) != (bsz * num_heads,) or static_v.shape[2] != head_dim:
            raise AssertionError(
                f"expecting static_v of shape ({bsz * num_heads}, S, {head_dim}), but got {tuple(static_v.shape)}"
            )
        v = static_v
    if add_zero_attn:
        zeros = plugrad.zeros(bsz * num_heads, 1, head_dim, dtype=q.dtype, device=q.device)
        k = plugrad.cat([k, zeros], 1)
        v = plugrad.cat([v, zeros], 1)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    src_len = k.shape[1]

    # ---- merge the key padding mask into the attention mask
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(
                f"expecting key_padding_mask shape of {(bsz, src_len)}, but got {key_padding_mask.shape}"
            )
        kpm = (
            key_padding_mask.reshape(bsz, 1, 1, src_len)
            .expand(bsz, num_heads, 1, src_len)
            .reshape(bsz * num_heads, 1, src_len)
        )
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        scores = (q * (1.0 / math.sqrt(head_dim))) @ k.transpose(-2, -1)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = scores.softmax(-1)
        if dropout_p > 0.0:
            from .functional import dropout

            weights = dropout(weights, p=dropout_p)
        out = weights @ v  # (N * H, L, head_dim)
        out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(1)
        if not batched:
            return out.squeeze(1), weights.squeeze(0)
        return out, weights

    if attn_mask is not None:
        if attn_mask.shape[0] == 1:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
    if not batched:
        out = out.squeeze(1)
    return out, None


def _pad_last(mask: Tensor | None) -> Tensor | None:
    """Append one zero (attend) column to a float mask."""
    if mask is None:
        return None
    return plugrad.cat([mask, plugrad.zeros(*mask.shape[:-1], 1, dtype=mask.dtype, device=mask.device)], -1)
