"""Attention and transformers: hand-computed attention, float64 gradient checks, independent
equivalences (a padded key = a removed key, is_causal = the triangular mask, batch_first = a
transpose), and PyTorch as an oracle for every option."""

from __future__ import annotations

import itertools
import math
import warnings

import plugrad
import plugrad.nn as nn
import plugrad.nn.functional as F
import pytest
from plugrad.autograd import gradcheck, gradgradcheck
from plugrad.testing import assert_close

F64 = plugrad.float64

needs_layer_norm = pytest.mark.skipif(not hasattr(nn, "LayerNorm"), reason="nn.LayerNorm has not landed yet")


def _softmax(row: list[float]) -> list[float]:
    m = max(row)
    if m == float("-inf"):
        return [0.0] * len(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


def _rows_close(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a == pytest.approx(e, abs=1e-12)


def _attention_by_hand(q, k, v, scale, bias=None):
    out = []
    for i, qi in enumerate(q):
        scores = [scale * sum(a * b for a, b in zip(qi, kj)) for kj in k]
        if bias is not None:
            scores = [s + b for s, b in zip(scores, bias[i])]
        p = _softmax(scores)
        out.append([sum(p[j] * v[j][c] for j in range(len(v))) for c in range(len(v[0]))])
    return out


# ------------------------------------------------------------------------------ SDPA
def test_sdpa_by_hand_with_scale_and_masks():
    q = [[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]]
    k = [[0.7, 0.1], [-0.2, 0.3], [0.9, -0.4], [0.0, 0.5]]
    v = [[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0], [0.3, 0.3, -0.7], [2.0, -1.0, 0.1]]
    tq, tk, tv = (plugrad.tensor(x, dtype=F64) for x in (q, k, v))
    out = F.scaled_dot_product_attention(tq, tk, tv)
    _rows_close(out.tolist(), _attention_by_hand(q, k, v, 1 / math.sqrt(2)))
    out = F.scaled_dot_product_attention(tq, tk, tv, scale=0.7)
    _rows_close(out.tolist(), _attention_by_hand(q, k, v, 0.7))
    allowed = [[True, False, True, True], [False, False, True, False], [True, True, True, True]]
    bias = [[0.0 if a else float("-inf") for a in row] for row in allowed]
    out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=plugrad.tensor(allowed))
    _rows_close(out.tolist(), _attention_by_hand(q, k, v, 1 / math.sqrt(2), bias))
    additive = [[0.1 * (i - j) for j in range(4)] for i in range(3)]
    out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=plugrad.tensor(additive, dtype=F64))
    _rows_close(out.tolist(), _attention_by_hand(q, k, v, 1 / math.sqrt(2), additive))
    causal = [[0.0 if j <= i else float("-inf") for j in range(4)] for i in range(3)]
    out = F.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
    _rows_close(out.tolist(), _attention_by_hand(q, k, v, 1 / math.sqrt(2), causal))


def test_sdpa_fully_masked_row_gives_zeros_and_finite_gradients():
    q = plugrad.randn(2, 3, 4, dtype=F64, requires_grad=True)
    k = plugrad.randn(2, 5, 4, dtype=F64, requires_grad=True)
    v = plugrad.randn(2, 5, 2, dtype=F64, requires_grad=True)
    mask = plugrad.ones(3, 5, dtype=plugrad.bool)
    mask[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert out[:, 1].abs().max().item() == 0.0
    out.sum().backward()
    assert bool(q.grad.isfinite().all()) and q.grad[:, 1].abs().max().item() == 0.0


def test_sdpa_gradcheck_and_second_order():
    q = plugrad.randn(2, 3, 4, dtype=F64, requires_grad=True)
    k = plugrad.randn(2, 5, 4, dtype=F64, requires_grad=True)
    v = plugrad.randn(2, 5, 3, dtype=F64, requires_grad=True)
    bias = plugrad.randn(3, 5, dtype=F64, requires_grad=True)
    assert gradcheck(lambda q, k, v, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b), (q, k, v, bias))
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3), (q, k, v))
    assert gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), (q, k, v))

    def with_dropout(q, k, v):
        plugrad.manual_seed(5)  # the same dropout mask on every evaluation
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)

    assert gradcheck(with_dropout, (q, k, v))


def test_sdpa_dropout_statistics():
    plugrad.manual_seed(0)
    q = plugrad.zeros(1, 200, 4)
    k = plugrad.zeros(1, 50, 4)  # uniform attention: every weight 1/50
    v = plugrad.ones(1, 50, 1)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.25)
    assert abs(out.mean().item() - 1.0) < 0.03  # kept weights are scaled by 1 / (1 - p)
    assert F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).abs().max().item() == 0.0


def test_sdpa_grouped_query_attention_equals_repeated_heads():
    q = plugrad.randn(2, 6, 3, 4, dtype=F64)
    k = plugrad.randn(2, 2, 5, 4, dtype=F64)
    v = plugrad.randn(2, 2, 5, 3, dtype=F64)
    out = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    rep = [0, 0, 0, 1, 1, 1]
    ref = F.scaled_dot_product_attention(q, k[:, rep], v[:, rep])
    assert plugrad.allclose(out, ref, atol=1e-12)


def test_sdpa_errors():
    q, k, v = plugrad.randn(2, 3, 4), plugrad.randn(2, 5, 4), plugrad.randn(2, 5, 6)
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=plugrad.ones(3, 5, dtype=plugrad.bool), is_causal=True)
    with pytest.raises(RuntimeError, match="Expected query, key, and value to have the same dtype"):
        F.scaled_dot_product_attention(q, k.double(), v)
    with pytest.raises(RuntimeError, match="same embedding size"):
        F.scaled_dot_product_attention(q, plugrad.randn(2, 5, 3), v)
    with pytest.raises(RuntimeError, match="same sequence length"):
        F.scaled_dot_product_attention(q, k, plugrad.randn(2, 4, 6))
    with pytest.raises(RuntimeError, match="Number of heads in key and value must divide"):
        F.scaled_dot_product_attention(
            plugrad.randn(1, 3, 2, 4), plugrad.randn(1, 2, 2, 4), plugrad.randn(1, 2, 2, 4), enable_gqa=True
        )
    with pytest.raises(RuntimeError, match="Expected query, key, and value to all be  at least 2 dimensional"):
        F.scaled_dot_product_attention(q[0, 0], k, v)
    with pytest.raises(RuntimeError, match="dropout probability has to be between 0 and 1, but got 2"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=2.0)
    with pytest.raises(TypeError, match="argument 'query' must be Tensor"):
        F.scaled_dot_product_attention([1.0], k, v)


# ---------------------------------------------------------------------- MultiheadAttention
def test_mha_parameters_init_and_repr():
    mha = nn.MultiheadAttention(8, 2)
    assert list(mha.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert tuple(mha.in_proj_weight.shape) == (24, 8)
    assert mha.in_proj_bias.abs().max().item() == 0.0 and mha.out_proj.bias.abs().max().item() == 0.0
    bound = math.sqrt(6 / (24 + 8))  # Xavier-uniform over the packed (3E, E) matrix
    assert mha.in_proj_weight.abs().max().item() <= bound
    assert repr(mha) == (
        "MultiheadAttention(\n"
        "  (out_proj): NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)\n"
        ")"
    )
    other = nn.MultiheadAttention(8, 2, add_bias_kv=True, kdim=4, vdim=3, bias=False)
    assert list(other.state_dict()) == [
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "bias_k",
        "bias_v",
        "out_proj.weight",
    ]
    assert tuple(other.k_proj_weight.shape) == (8, 4) and tuple(other.v_proj_weight.shape) == (8, 3)
    assert other.in_proj_weight is None
    assert isinstance(nn.modules.activation.MultiheadAttention(4, 1), nn.MultiheadAttention)


def test_mha_equals_heads_computed_separately():
    mha = nn.MultiheadAttention(4, 2).double()
    x = plugrad.randn(3, 1, 4, dtype=F64)  # (L, N, E)
    out, weights = mha(x, x, x)
    w_q, w_k, w_v = mha.in_proj_weight.detach().chunk(3)
    b_q, b_k, b_v = mha.in_proj_bias.detach().chunk(3)
    xs = x[:, 0]
    q, k, v = xs @ w_q.t() + b_q, xs @ w_k.t() + b_k, xs @ w_v.t() + b_v
    heads, probs = [], []
    for h in range(2):
        sl = slice(2 * h, 2 * h + 2)
        p = ((q[:, sl] @ k[:, sl].t()) / math.sqrt(2)).softmax(-1)
        probs.append(p)
        heads.append(p @ v[:, sl])
    ref = plugrad.cat(heads, -1) @ mha.out_proj.weight.detach().t() + mha.out_proj.bias.detach()
    assert plugrad.allclose(out[:, 0], ref, atol=1e-12)
    assert plugrad.allclose(weights[0], (probs[0] + probs[1]) / 2, atol=1e-12)
    _, per_head = mha(x, x, x, average_attn_weights=False)
    assert tuple(per_head.shape) == (1, 2, 3, 3)
    no_weights, none = mha(x, x, x, need_weights=False)
    assert none is None and plugrad.allclose(no_weights, out, atol=1e-12)


def test_mha_key_padding_equals_removing_the_key():
    mha = nn.MultiheadAttention(6, 3, batch_first=True).double()
    q = plugrad.randn(1, 2, 6, dtype=F64)
    kv = plugrad.randn(1, 4, 6, dtype=F64)
    pad = plugrad.tensor([[False, False, True, False]])
    for need_weights in (True, False):
        out, _ = mha(q, kv, kv, key_padding_mask=pad, need_weights=need_weights)
        ref, _ = mha(q, kv[:, [0, 1, 3]], kv[:, [0, 1, 3]], need_weights=need_weights)
        assert plugrad.allclose(out, ref, atol=1e-12)
    float_pad = plugrad.zeros(1, 4, dtype=F64).masked_fill(pad, float("-inf"))
    assert plugrad.allclose(mha(q, kv, kv, key_padding_mask=float_pad)[0], ref, atol=1e-12)


def test_mha_batch_first_unbatched_and_causal_hint():
    mha = nn.MultiheadAttention(4, 2).double()
    mha_bf = nn.MultiheadAttention(4, 2, batch_first=True).double()
    mha_bf.load_state_dict(mha.state_dict())
    x = plugrad.randn(5, 2, 4, dtype=F64)
    assert plugrad.allclose(mha(x, x, x)[0].transpose(0, 1), mha_bf(x.transpose(0, 1), *(x.transpose(0, 1),) * 2)[0])
    single, w = mha(x[:, 0], x[:, 0], x[:, 0])
    assert tuple(single.shape) == (5, 4) and tuple(w.shape) == (5, 5)
    assert plugrad.allclose(single, mha(x, x, x)[0][:, 0], atol=1e-12)
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=F64)
    a = mha(x, x, x, attn_mask=causal, need_weights=False, is_causal=True)[0]
    b = mha(x, x, x, attn_mask=causal.isinf())[0]  # bool mask: True = not allowed
    assert plugrad.allclose(a, b, atol=1e-12)


def test_mha_gradcheck_with_bias_kv_and_zero_attn():
    mha = nn.MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True, kdim=3, vdim=2).double()
    q = plugrad.randn(2, 2, 4, dtype=F64, requires_grad=True)
    k = plugrad.randn(3, 2, 3, dtype=F64, requires_grad=True)
    v = plugrad.randn(3, 2, 2, dtype=F64, requires_grad=True)
    mask = plugrad.randn(2, 3, dtype=F64)
    assert gradcheck(lambda q, k, v: mha(q, k, v, attn_mask=mask)[0], (q, k, v))
    assert gradcheck(lambda q, k, v: mha(q, k, v, need_weights=False)[0], (q, k, v))


def test_mha_errors_match_pytorch():
    mha = nn.MultiheadAttention(8, 2)
    x = plugrad.randn(4, 2, 8)
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(8, 3)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        mha(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is .*\[3, 4\].*, but should be \(4, 4\)"):
        mha(x, x, x, attn_mask=plugrad.ones(3, 4, dtype=plugrad.bool))
    with pytest.raises(RuntimeError, match=r"The shape of the 3D attn_mask is .*, but should be \(4, 4, 4\)"):
        mha(x, x, x, attn_mask=plugrad.ones(2, 4, 4, dtype=plugrad.bool))
    with pytest.raises(AssertionError, match="only bool and floating types of attn_mask are supported"):
        mha(x, x, x, attn_mask=plugrad.zeros(4, 4, dtype=plugrad.int64))
    with pytest.raises(AssertionError, match="key shape .* does not match value shape"):
        mha(x, x[:, :1], x)
    with pytest.raises(AssertionError, match="query should be unbatched 2D or batched 3D tensor"):
        mha(x[0, 0], x[0, 0], x[0, 0])
    with pytest.warns(UserWarning, match="Support for mismatched key_padding_mask and attn_mask is deprecated"):
        mha(x, x, x, attn_mask=plugrad.zeros(4, 4), key_padding_mask=plugrad.zeros(2, 4, dtype=plugrad.bool))


# ---------------------------------------------------------------------------- transformers
def test_generate_square_subsequent_mask():
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    inf = float("-inf")
    assert mask.tolist() == [[0.0, inf, inf], [0.0, 0.0, inf], [0.0, 0.0, 0.0]]
    assert mask.dtype == plugrad.float32
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=F64).dtype == F64


@needs_layer_norm
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_is_attention_then_feed_forward(norm_first):
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, norm_first=norm_first, activation="gelu").double()
    x = plugrad.randn(3, 2, 4, dtype=F64)

    def sa(y):
        return layer.self_attn(y, y, y, need_weights=False)[0]

    def ff(y):
        return layer.linear2(F.gelu(layer.linear1(y)))

    if norm_first:
        ref = x + sa(layer.norm1(x))
        ref = ref + ff(layer.norm2(ref))
    else:
        ref = layer.norm1(x + sa(x))
        ref = layer.norm2(ref + ff(ref))
    assert plugrad.allclose(layer(x), ref, atol=1e-12)


@needs_layer_norm
def test_encoder_clones_layers_and_detects_the_causal_mask():
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0)
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    p0, p1 = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert p0 is not p1 and plugrad.equal(p0, p1)
    assert len(list(enc.parameters())) == 2 * len(list(layer.parameters()))
    x = plugrad.randn(5, 2, 4)
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    a = enc(x, mask=mask)
    b = enc(x, mask=mask.isinf())  # boolean form of the same mask
    c = enc(x, mask=mask, is_causal=True)
    assert plugrad.allclose(a, b, atol=1e-6) and plugrad.allclose(a, c, atol=1e-6)
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(4, 2, activation="tanh")


@needs_layer_norm
def test_transformer_gradcheck_small():
    model = nn.Transformer(4, 2, 1, 1, 6, dropout=0.0, batch_first=True, norm_first=True).double()
    src = plugrad.randn(2, 3, 4, dtype=F64, requires_grad=True)
    tgt = plugrad.randn(2, 2, 4, dtype=F64, requires_grad=True)
    mask = nn.Transformer.generate_square_subsequent_mask(2, dtype=F64)
    assert gradcheck(lambda s, t: model(s, t, tgt_mask=mask), (src, tgt))
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        model(src, tgt[:1])
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        model(src, tgt[..., :3])


class _WordLanguageModel(nn.Transformer):
    """The shape of PyTorch's word_language_model ``TransformerModel``: nn.Transformer as a base class."""

    def __init__(self, ntoken: int, ninp: int, nhead: int, nhid: int, nlayers: int) -> None:
        super().__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid, num_encoder_layers=nlayers)
        self.src_mask = None
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)  # replaces the TransformerDecoder submodule

    def forward(self, src):
        mask = plugrad.log(plugrad.tril(plugrad.ones(src.shape[0], src.shape[0])))
        x = self.input_emb(src) * math.sqrt(self.ninp)
        return F.log_softmax(self.decoder(self.encoder(x, mask=mask)), dim=-1)


@needs_layer_norm
@pytest.mark.skipif(not hasattr(nn, "Embedding"), reason="nn.Embedding has not landed yet")
def test_transformer_as_a_base_class():
    model = _WordLanguageModel(11, 8, 2, 16, 2)
    assert isinstance(model.decoder, nn.Linear)
    tokens = plugrad.randint(0, 11, (6, 3))
    out = model(tokens)
    assert tuple(out.shape) == (6, 3, 11)
    F.nll_loss(out.reshape(-1, 11), tokens.reshape(-1)).backward()
    assert model.encoder.layers[1].self_attn.in_proj_weight.grad is not None


# -------------------------------------------------------------------------- PyTorch oracle
def _p(t):
    import torch

    if t.dtype == torch.bool:
        return plugrad.tensor(t.numpy().tolist(), dtype=plugrad.bool)
    return plugrad.tensor(t.detach().numpy().tolist(), dtype=F64)


def _without_layer_norm(text: str) -> str:
    return "\n".join(line.split("LayerNorm")[0] for line in text.splitlines())


def _from_torch(t):
    """A PyTorch tensor as a plugrad tensor (DLPack: same shape, dtype and values), for assert_close."""
    return plugrad.from_dlpack(t.detach())


@pytest.mark.oracle
@pytest.mark.parametrize("mask_kind", [None, "bool", "float", "bool4d", "causal"])
@pytest.mark.parametrize("gqa", [False, True])
def test_oracle_sdpa(mask_kind, gqa):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    d = torch.float64
    for scale in (None, 0.3):
        q = torch.randn(2, 4, 5, 8, dtype=d, requires_grad=True)
        k = torch.randn(2, 2 if gqa else 4, 6, 8, dtype=d, requires_grad=True)
        v = torch.randn(2, 2 if gqa else 4, 6, 3, dtype=d, requires_grad=True)
        mask = None
        if mask_kind == "bool":
            mask = torch.rand(5, 6) > 0.3
        elif mask_kind == "bool4d":
            mask = torch.rand(2, 1, 5, 6) > 0.3
            mask[0, 0, 2] = False  # a fully masked row
        elif mask_kind == "float":
            mask = torch.randn(4, 5, 6, dtype=d, requires_grad=True)
        kw = {"is_causal": mask_kind == "causal", "scale": scale, "enable_gqa": gqa}
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, **kw)
        pq, pk, pv = (_p(t).requires_grad_(True) for t in (q, k, v))
        pmask = None if mask is None else _p(mask)
        if mask_kind == "float":
            pmask.requires_grad_(True)
        pout = F.scaled_dot_product_attention(pq, pk, pv, attn_mask=pmask, **kw)
        assert_close(pout, _from_torch(out), rtol=0.0, atol=1e-10, check_dtype=False, equal_nan=True)
        g = torch.randn_like(out)
        (out * g).sum().backward()
        (pout * _p(g)).sum().backward()
        for a, b in ((pq, q), (pk, k), (pv, v)):
            assert_close(a.grad, _from_torch(b.grad), rtol=0.0, atol=1e-10, check_dtype=False, equal_nan=True)
        if mask_kind == "float":
            assert_close(pmask.grad, _from_torch(mask.grad), rtol=0.0, atol=1e-10, check_dtype=False, equal_nan=True)


MHA_OPTIONS = list(itertools.product([False, True], ["self", "kdim", "cross"], [True, False], [False, True]))


@pytest.mark.oracle
@pytest.mark.parametrize("batch_first,kv,bias,extra", MHA_OPTIONS)
def test_oracle_multihead_attention(batch_first, kv, bias, extra):
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    d = torch.float64
    E, H, L, S, N = 8, 2, 4, 5, 3
    kw = {"batch_first": batch_first, "bias": bias, "add_bias_kv": extra, "add_zero_attn": extra}
    if kv == "kdim":
        kw.update(kdim=5, vdim=3)
    tm = torch.nn.MultiheadAttention(E, H, **kw).double()
    pm = nn.MultiheadAttention(E, H, **kw).double()
    assert repr(pm) == repr(tm)
    result = pm.load_state_dict({k: _p(v) for k, v in tm.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    for batched, masks, need_weights, average in itertools.product(
        [True, False],
        ["none", "attn_bool", "attn_float", "kpm", "both", "causal", "attn3"],
        [True, False],
        [True, False],
    ):

        def make(n, e, batched=batched):
            if not batched:
                return torch.randn(n, e, dtype=d, requires_grad=True)
            return torch.randn(*((N, n) if batch_first else (n, N)), e, dtype=d, requires_grad=True)

        q = make(L, E)
        if kv == "self":
            k = v = q
        elif kv == "kdim":
            k, v = make(S, 5), make(S, 3)
        else:
            k = v = make(S, E)
        src = L if kv == "self" else S
        attn_mask = key_padding_mask = None
        causal = False
        if masks in ("attn_bool", "both"):
            attn_mask = torch.rand(L, src) > 0.7
        elif masks == "attn_float":
            attn_mask = torch.randn(L, src, dtype=d)
        elif masks == "attn3":
            attn_mask = torch.randn((N if batched else 1) * H, L, src, dtype=d)
        elif masks == "causal":
            if src != L:
                continue
            attn_mask, causal = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=d), True
        if masks in ("kpm", "both"):
            key_padding_mask = torch.rand(*((N,) if batched else ()), src) > 0.6
            key_padding_mask[..., 0] = False
        pq = _p(q).requires_grad_(True)
        pk = pq if k is q else _p(k).requires_grad_(True)
        pv = pk if v is k else _p(v).requires_grad_(True)
        opts = {"need_weights": need_weights, "average_attn_weights": average, "is_causal": causal}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out, weights = tm(q, k, v, key_padding_mask=key_padding_mask, attn_mask=attn_mask, **opts)
            pout, pweights = pm(
                pq,
                pk,
                pv,
                key_padding_mask=None if key_padding_mask is None else _p(key_padding_mask),
                attn_mask=None if attn_mask is None else _p(attn_mask),
                **opts,
            )
        assert_close(pout, _from_torch(out), rtol=0.0, atol=1e-10, check_dtype=False, equal_nan=True)
        if need_weights:
            assert_close(pweights, _from_torch(weights), rtol=0.0, atol=1e-10, check_dtype=False, equal_nan=True)
        else:
            assert pweights is None
        g = torch.randn_like(out)
        (out * g).sum().backward()
        (pout * _p(g)).sum().backward()
        assert_close(pq.grad, _from_torch(q.grad), rtol=0.0, atol=1e-10, check_dtype=False, equal_nan=True)
        if k is not q:
            assert_close(pk.grad, _from_torch(k.grad), rtol=0.0, atol=1e-10, check_dtype=False, equal_nan=True)
        for (name, tp), (pname, pp) in zip(tm.named_parameters(), pm.named_parameters()):
            assert name == pname
            assert_close(pp.grad, _from_torch(tp.grad), rtol=0.0, atol=1e-10, check_dtype=False, equal_nan=True)
            tp.grad = None
            pp.grad = None


@pytest.mark.oracle
@needs_layer_norm
@pytest.mark.parametrize(
    "norm_first,activation,batch_first", list(itertools.product([False, True], ["relu", "gelu"], [False, True]))
)
def test_oracle_transformer(norm_first, activation, batch_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(4)
    d = torch.float64
    kw = {"dropout": 0.0, "activation": activation, "batch_first": batch_first, "norm_first": norm_first}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = torch.nn.Transformer(8, 2, 2, 2, 16, **kw).double()
    pm = nn.Transformer(8, 2, 2, 2, 16, **kw).double()
    # the tree and every line of it but LayerNorm's (owned by normalization.py's tests) match
    assert _without_layer_norm(repr(pm)) == _without_layer_norm(repr(tm))
    result = pm.load_state_dict({k: _p(v) for k, v in tm.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    S, T, N = 5, 4, 3
    shape = (lambda n: (N, n, 8)) if batch_first else (lambda n: (n, N, 8))
    src = torch.randn(*shape(S), dtype=d, requires_grad=True)
    tgt = torch.randn(*shape(T), dtype=d, requires_grad=True)
    tgt_mask = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=d)
    src_kpm = torch.zeros(N, S, dtype=torch.bool)
    src_kpm[1, 3:] = True
    masks = {"tgt_mask": tgt_mask, "src_key_padding_mask": src_kpm, "memory_key_padding_mask": src_kpm}
    out = tm(src, tgt, **masks)
    psrc, ptgt = _p(src).requires_grad_(True), _p(tgt).requires_grad_(True)
    pout = pm(psrc, ptgt, **{k: _p(v) for k, v in masks.items()})
    assert_close(pout, _from_torch(out), rtol=0.0, atol=1e-9, check_dtype=False, equal_nan=True)
    g = torch.randn_like(out)
    (out * g).sum().backward()
    (pout * _p(g)).sum().backward()
    assert_close(psrc.grad, _from_torch(src.grad), rtol=0.0, atol=1e-9, check_dtype=False, equal_nan=True)
    assert_close(ptgt.grad, _from_torch(tgt.grad), rtol=0.0, atol=1e-9, check_dtype=False, equal_nan=True)
    for (name, tp), (pname, pp) in zip(tm.named_parameters(), pm.named_parameters()):
        assert name == pname
        assert_close(pp.grad, _from_torch(tp.grad), rtol=0.0, atol=1e-9, check_dtype=False, equal_nan=True)
    # eval mode, no nested tensor: the encoder alone with a causal float mask
    tm.eval()
    pm.eval()
    smask = torch.nn.Transformer.generate_square_subsequent_mask(S, dtype=d)
    with torch.no_grad():
        ref = tm.encoder(src, mask=smask)
    assert_close(
        pm.encoder(psrc, mask=_p(smask)), _from_torch(ref), rtol=0.0, atol=1e-9, check_dtype=False, equal_nan=True
    )


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_one_node_gradients_to_second_order(approximate):
    x = (plugrad.randn(12, dtype=F64) * 3).requires_grad_(True)
    assert gradcheck(lambda x: F.gelu(x, approximate=approximate), (x,))
    assert gradgradcheck(lambda x: F.gelu(x, approximate=approximate), (x,))
    assert type(F.gelu(x, approximate=approximate).grad_fn).__name__ == "GeluBackward0"
    v = [-3.0, -0.5, 0.0, 0.7, 2.5]
    out = F.gelu(plugrad.tensor(v, dtype=F64), approximate=approximate).tolist()
    if approximate == "none":
        expected = [a * 0.5 * (1 + math.erf(a / math.sqrt(2))) for a in v]
    else:
        expected = [0.5 * a * (1 + math.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3))) for a in v]
    assert out == pytest.approx(expected, abs=1e-14)


def _quantiles(values, qs=(0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)):
    values = sorted(values)
    return [values[int(q * (len(values) - 1))] for q in qs]


@pytest.mark.oracle
@needs_layer_norm
@pytest.mark.parametrize(
    "build",
    [
        lambda m: m.MultiheadAttention(64, 4),
        lambda m: m.MultiheadAttention(64, 4, kdim=32, vdim=48, add_bias_kv=True),
        lambda m: m.TransformerEncoderLayer(32, 4, 96),
        lambda m: m.Transformer(32, 4, 1, 1, 96),
    ],
)
def test_oracle_initialisation_distribution(build):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = build(torch.nn)
    pm = build(nn)
    tparams, pparams = dict(tm.named_parameters()), dict(pm.named_parameters())
    assert list(tparams) == list(pparams)
    for name, tp in tparams.items():
        ours = pparams[name].detach().reshape(-1).tolist()
        theirs = tp.detach().reshape(-1).tolist()
        assert len(ours) == len(theirs), name
        spread = max(abs(v) for v in theirs)
        if len(theirs) < 500:  # small vectors: the same constant (zeros, ones), or the same scale (rms)
            if min(theirs) == max(theirs):
                assert ours == theirs, name
            else:
                rms = [math.sqrt(sum(v * v for v in vals) / len(vals)) for vals in (ours, theirs)]
                assert rms[0] == pytest.approx(rms[1], rel=0.35), name
            continue
        # two samples of n values: a quantile's difference has a spread of about 1.4 * spread / sqrt(n)
        tol = 5.7 * spread / math.sqrt(len(theirs))  # about 4 standard errors
        assert _quantiles(ours) == pytest.approx(_quantiles(theirs), abs=tol), name
