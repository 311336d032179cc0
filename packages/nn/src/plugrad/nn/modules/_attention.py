"""``MultiheadAttention`` (exported from :mod:`plugrad.nn.modules.activation`, where PyTorch keeps it)."""

from __future__ import annotations

from typing import Any

import plugrad
from plugrad import Tensor

from .. import init
from .._functional_attention import _canonical_mask, multi_head_attention_forward
from ..parameter import Parameter
from .linear import Linear
from .module import Module

__all__ = ["MultiheadAttention", "NonDynamicallyQuantizableLinear"]


class NonDynamicallyQuantizableLinear(Linear):
    """A :class:`~plugrad.nn.Linear` under PyTorch's name for ``MultiheadAttention.out_proj``.

    PyTorch uses the subclass to keep the layer out of dynamic quantisation; here it only
    keeps the printed module tree and the class name identical.
    """


class MultiheadAttention(Module):
    """Multi-head attention: ``concat(head_1, ..., head_H) W_O^T + b_O`` with
    ``head_h = softmax(Q W_q,h^T (K W_k,h^T)^T / sqrt(E / H) + mask) V W_v,h^T``.

    :param embed_dim: model width ``E`` (split into ``num_heads`` heads of ``E // num_heads``).
    :param num_heads: number of heads ``H``; must divide ``embed_dim``.
    :param dropout: dropout probability on the attention weights (training mode).
    :param bias: learn input and output projection biases.
    :param add_bias_kv: learn one extra key and value row (``bias_k``, ``bias_v``) appended to the sequence.
    :param add_zero_attn: append a zero key and value row after the projections.
    :param kdim: features of ``key`` (default ``embed_dim``); :param vdim: of ``value``.
    :param batch_first: inputs and output are ``(N, L, E)`` instead of ``(L, N, E)``.

    Parameters (PyTorch's names): ``in_proj_weight (3E, E)`` and ``in_proj_bias (3E,)`` when
    ``kdim == vdim == E``, else ``q_proj_weight (E, E)``, ``k_proj_weight (E, kdim)``,
    ``v_proj_weight (E, vdim)``; ``out_proj`` (a Linear ``E -> E``). Initialisation as
    PyTorch: Xavier-uniform projection weights, zero biases, Xavier-normal ``bias_k``/``bias_v``.
    """

    bias_k: Parameter | None
    bias_v: Parameter | None

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if not isinstance(embed_dim, int) or isinstance(embed_dim, bool) or embed_dim <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and num_heads={num_heads} instead"
            )
        if not isinstance(num_heads, int) or isinstance(num_heads, bool) or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and num_heads={num_heads} instead"
            )
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        kw = {"device": device, "dtype": dtype}
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(plugrad.empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(plugrad.empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(plugrad.empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(plugrad.empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(plugrad.empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(plugrad.empty(1, 1, embed_dim, **kw))
            self.bias_v = Parameter(plugrad.empty(1, 1, embed_dim, **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value``; returns ``(output, weights or None)``.

        :param key_padding_mask: ``(N, S)``: ``True`` (or ``-inf``) marks keys to ignore.
        :param need_weights: also return the attention weights (``(N, L, S)``, or per head
            ``(N, H, L, S)`` with ``average_attn_weights=False``).
        :param attn_mask: ``(L, S)`` or ``(N * H, L, S)``: ``True`` (or ``-inf``) forbids a position.
        :param is_causal: a hint that ``attn_mask`` is the causal mask (which must still be given).
        """
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError(f"MultiheadAttention.forward(): {name} must be a Tensor, not {type(t).__name__}")
        batched = query.ndim == 3
        key_padding_mask = _canonical_mask(
            key_padding_mask,
            "key_padding_mask",
            None if attn_mask is None else attn_mask.dtype,
            "attn_mask",
            query.dtype,
        )
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, check_other=False)
        if self.batch_first and batched:
            # keep identities: self-attention projects once
            if key is value:
                if query is key:
                    query = key = value = query.transpose(1, 0)
                else:
                    query, key = query.transpose(1, 0), key.transpose(1, 0)
                    value = key
            else:
                query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        out, weights = multi_head_attention_forward(
            query,
            key,
            value,
            self.embed_dim,
            self.num_heads,
            self.in_proj_weight,
            self.in_proj_bias,
            self.bias_k,
            self.bias_v,
            self.add_zero_attn,
            self.dropout,
            self.out_proj.weight,
            self.out_proj.bias,
            training=self.training,
            key_padding_mask=key_padding_mask,
            need_weights=need_weights,
            attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights,
            is_causal=is_causal,
        )
        if self.batch_first and batched:
            return out.transpose(1, 0), weights
        return out, weights
