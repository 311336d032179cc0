"""``plugrad.compile`` on modules: the compiled stand-in, ``Module.compile`` and compiled forwards
whose results the caller differentiates, each compared with the same model run eagerly."""

from __future__ import annotations

import warnings

import plugrad
import pytest
from plugrad import nn
from plugrad.compiler import CompileWarning
from plugrad.nn import functional as F


def _entries(compiled):
    fn = compiled._compiled_call if hasattr(compiled, "_compiled_call") else compiled
    return list(fn._cache.values())


def _replayed(compiled) -> bool:
    return any(e.programs for e in _entries(compiled))


class TinyGPT(nn.Module):
    """Embedding, one pre-norm attention block with dropout, an MLP and a tied head."""

    def __init__(self, vocab: int = 11, dim: int = 8, block: int = 6) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(block, dim)
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, 2, dropout=0.1, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(0.1))
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.tok.weight
        self.register_buffer("mask", plugrad.triu(plugrad.ones(block, block, dtype=plugrad.bool), diagonal=1))

    def forward(self, idx, targets=None):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(plugrad.arange(t))
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, attn_mask=self.mask[:t, :t], need_weights=False)
        x = x + a
        x = x + self.mlp(self.ln2(x))
        logits = self.head(x)
        loss = None if targets is None else F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


def _train(compiled: bool, steps: int = 8):
    optim = pytest.importorskip("plugrad.optim", reason="the training test needs plugrad-optim (nox -s compile has it)")
    plugrad.manual_seed(3)
    model = TinyGPT()
    opt = optim.AdamW(model.parameters(), lr=1e-2)
    run = plugrad.compile(model) if compiled else model
    data = plugrad.randint(11, (200,), generator=plugrad.Generator().manual_seed(0))
    losses = []
    for it in range(steps):
        ix = plugrad.randint(len(data) - 7, (4,), generator=plugrad.Generator().manual_seed(it))
        x = plugrad.stack([data[i : i + 6] for i in ix])
        y = plugrad.stack([data[i + 1 : i + 7] for i in ix])
        _, loss = run(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.detach())
    return model, run, losses, loss


def test_compiled_gpt_trains_bit_for_bit_as_eager():
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        m_e, _, losses_e, _ = _train(False)
        m_c, run, losses_c, last = _train(True)
    assert _replayed(run), "the compiled forward never replayed"
    assert last.grad_fn.name() == "CompiledFunctionBackward"
    for a, b in zip(losses_e, losses_c):
        assert plugrad.equal(a, b)
    for (n, p), q in zip(m_e.named_parameters(), m_c.parameters()):
        assert plugrad.equal(p, q), n
        assert plugrad.equal(p.grad, q.grad), n


def test_optimized_module_looks_like_pytorchs():
    lin = nn.Linear(3, 2)
    c = plugrad.compile(lin)
    assert type(c).__name__ == "OptimizedModule" and isinstance(c, nn.Module)
    assert c._orig_mod is lin
    assert list(c.state_dict()) == ["_orig_mod.weight", "_orig_mod.bias"]
    assert [id(p) for p in c.parameters()] == [id(p) for p in lin.parameters()]
    assert c.in_features == 3 and c.weight is lin.weight
    assert repr(c) == "OptimizedModule(\n  (_orig_mod): Linear(in_features=3, out_features=2, bias=True)\n)"
    c.eval()
    assert not lin.training


def test_module_compile_in_place_keeps_state_dict_keys():
    plugrad.manual_seed(0)
    a = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    b = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    b.load_state_dict(a.state_dict())
    b.compile()
    assert list(b.state_dict()) == list(a.state_dict())
    x = plugrad.randn(5, 3)
    for _ in range(4):
        ya, yb = a(x), b(x)
        assert plugrad.equal(ya, yb)
        ya.sum().backward()
        yb.sum().backward()
    for p, q in zip(a.parameters(), b.parameters()):
        assert plugrad.equal(p.grad, q.grad)


def test_eval_switch_records_again_and_matches_eager():
    def make():
        plugrad.manual_seed(0)
        return nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 2))

    e, m = make(), make()
    c = plugrad.compile(m)
    x = plugrad.ones(4, 3)
    for i in range(8):
        if i == 4:
            e.eval()
            m.eval()
        plugrad.manual_seed(i)
        want = e(x)
        plugrad.manual_seed(i)
        got = c(x)
        assert plugrad.equal(want, got), i


def test_double_backward_through_a_compiled_forward_says_so():
    lin = nn.Linear(2, 1)
    c = plugrad.compile(lin)
    x = plugrad.ones(3, 2, requires_grad=True)
    for _ in range(3):
        y = c(x)
    assert y.grad_fn.name() == "CompiledFunctionBackward"
    (g,) = plugrad.autograd.grad(y.sum(), x)
    assert plugrad.equal(g, lin.weight.detach().expand(3, 2))
    y = c(x)
    with pytest.raises(RuntimeError, match="plugrad.compile does not support double backward"):
        plugrad.autograd.grad(y.sum(), x, create_graph=True)


def test_changing_a_parameter_in_place_before_backward_is_caught_as_in_eager():
    lin = nn.Linear(2, 1)
    c = plugrad.compile(lin)
    x = plugrad.ones(3, 2)
    for _ in range(3):
        y = c(x)
    with plugrad.no_grad():
        lin.weight.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
