"""Embedding and EmbeddingBag: lookups and gradients by hand, padding_idx, max_norm renormalisation,
scale_grad_by_freq, from_pretrained, float64 gradient checks, reprs and errors; oracle tests vs PyTorch."""

from __future__ import annotations

import math

import plugrad
import pytest
from plugrad import nn
from plugrad.autograd import gradcheck, gradgradcheck
from plugrad.nn import functional as F
from plugrad.testing import assert_close

F64 = plugrad.float64


def idx(values: list) -> plugrad.Tensor:
    return plugrad.tensor(values, dtype=plugrad.int64)


def table(rows: int = 5, dim: int = 2) -> plugrad.Tensor:
    return plugrad.arange(float(rows * dim), dtype=F64).reshape(rows, dim).requires_grad_(True)


# ------------------------------------------------------------------------ by hand
def test_lookup_and_gradient_by_hand() -> None:
    w = table()
    out = F.embedding(idx([[1, 3], [1, 0]]), w)
    assert out.tolist() == [[[2.0, 3.0], [6.0, 7.0]], [[2.0, 3.0], [0.0, 1.0]]]
    assert out.grad_fn.name() == "EmbeddingBackward0"
    out.sum().backward()
    assert w.grad.tolist() == [[1.0, 1.0], [2.0, 2.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]


def test_padding_idx_and_negative_padding_idx() -> None:
    for pad in (3, -2):
        w = table()
        F.embedding(idx([3, 3, 1]), w, padding_idx=pad).sum().backward()
        assert w.grad.tolist() == [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    emb = nn.Embedding(5, 2, padding_idx=-1)
    assert emb.padding_idx == 4 and emb.weight[4].tolist() == [0.0, 0.0]
    assert emb(idx([4])).tolist() == [[0.0, 0.0]]


def test_scale_grad_by_freq() -> None:
    w = table()
    F.embedding(idx([1, 1, 1, 2]), w, scale_grad_by_freq=True).sum().backward()
    assert w.grad.tolist() == [[0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]


def test_max_norm_renormalises_rows_in_place() -> None:
    w = plugrad.tensor([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]])
    out = F.embedding(idx([0, 1]), w, max_norm=1.0)
    # row 0 (norm 5) is rescaled to norm 1 (up to the 1e-7 guard), row 1 (norm 0.5) kept, row 2 unused
    assert out.tolist()[0] == pytest.approx([0.6, 0.8], abs=1e-6)
    assert w.tolist()[0] == pytest.approx([0.6, 0.8], abs=1e-6)
    assert w.tolist()[1] == pytest.approx([0.3, 0.4]) and w.tolist()[2] == [6.0, 8.0]
    emb = nn.Embedding(3, 2, max_norm=2.0, norm_type=1.0)
    with plugrad.no_grad():
        emb.weight.copy_(plugrad.tensor([[3.0, 1.0], [1.0, 0.5], [1.0, 1.0]]))
    emb(idx([0, 0, 1]))
    assert emb.weight.tolist()[0] == pytest.approx([1.5, 0.5], abs=1e-6)  # L1 norm 4 -> 2


def test_from_pretrained_freeze_and_shared_values() -> None:
    pre = plugrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    emb = nn.Embedding.from_pretrained(pre)
    assert not emb.weight.requires_grad and emb(idx([1])).tolist() == [[3.0, 4.0]]
    assert nn.Embedding.from_pretrained(pre, freeze=False).weight.requires_grad
    bag = nn.EmbeddingBag.from_pretrained(pre, mode="sum")
    assert not bag.weight.requires_grad and bag(idx([[0, 1]])).tolist() == [[4.0, 6.0]]
    with pytest.raises(AssertionError, match="2-dimensional"):
        nn.Embedding.from_pretrained(plugrad.ones(3))


def test_embedding_bag_modes_by_hand() -> None:
    w = table()
    inp, offsets = idx([1, 2, 4, 4, 0]), idx([0, 2, 2])
    assert F.embedding_bag(inp, w, offsets, mode="sum").tolist() == [[6.0, 8.0], [0.0, 0.0], [16.0, 19.0]]
    assert F.embedding_bag(inp, w, offsets, mode="mean").tolist() == [[3.0, 4.0], [0.0, 0.0], [16 / 3, 19 / 3]]
    assert F.embedding_bag(inp, w, offsets, mode="max").tolist() == [[4.0, 5.0], [0.0, 0.0], [8.0, 9.0]]
    weights = plugrad.tensor([1.0, 2.0, 0.5, 0.5, 10.0], dtype=F64)
    assert F.embedding_bag(inp, w, offsets, mode="sum", per_sample_weights=weights).tolist() == [
        [10.0, 13.0],
        [0.0, 0.0],
        [8.0, 19.0],
    ]
    # 2-D input: fixed-length bags; padding_idx entries are skipped (also in the mean's count)
    assert F.embedding_bag(idx([[1, 2], [4, 0]]), w, mode="mean", padding_idx=0).tolist() == [[3.0, 4.0], [8.0, 9.0]]
    assert tuple(F.embedding_bag(idx([[], []])[:0], w).shape) == (0, 2)  # no bags
    last = F.embedding_bag(inp, w, idx([0, 2, 5]), mode="sum", include_last_offset=True)
    assert last.tolist() == [[6.0, 8.0], [16.0, 19.0]]
    F.embedding_bag(inp, w, offsets, mode="max").sum().backward()
    assert w.grad.tolist() == [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]


def test_embedding_bag_node_and_frequency_scaling() -> None:
    w = plugrad.zeros(4, 1, dtype=F64, requires_grad=True)
    p = plugrad.ones(3, dtype=F64, requires_grad=True)
    out = F.embedding_bag(idx([1, 1, 2]), w, idx([0, 1]), mode="sum", per_sample_weights=p)
    assert out.grad_fn.name() == "EmbeddingBagBackward0"
    assert len(out.grad_fn.next_functions) == 2  # the weight and the per-sample weights
    out = F.embedding_bag(idx([1, 1, 2]), w, idx([0, 1]), mode="sum", scale_grad_by_freq=True)
    out.sum().backward()
    # index 1 occurs twice in the batch, index 2 once: each row's gradient is divided by its count
    assert w.grad.reshape(-1).tolist() == [0.0, 1.0, 1.0, 0.0]


def test_gradient_sums_agree_for_small_and_large_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gradient rows are summed by a one-hot matmul for small tables and by index_add for large ones."""
    from plugrad.nn import _functional_embedding as FE

    plugrad.manual_seed(0)
    i, offsets = idx([[0, 3, 3], [5, 1, 3]]), idx([0, 2, 3])
    grads = []
    for limit in (FE._ONE_HOT_MAX_ROWS, 0):
        monkeypatch.setattr(FE, "_ONE_HOT_MAX_ROWS", limit)
        w = plugrad.arange(12.0, dtype=F64).reshape(6, 2).requires_grad_(True)
        out = F.embedding(i, w, scale_grad_by_freq=True, padding_idx=5)
        bag = F.embedding_bag(i.reshape(-1), w, offsets, mode="mean")
        ((out * out).sum() + (bag * bag).sum()).backward()
        grads.append(w.grad.reshape(-1).tolist() + bag.reshape(-1).tolist())
    assert grads[0] == pytest.approx(grads[1], abs=1e-12)


# ----------------------------------------------------------------------- gradients
def test_gradcheck_embedding_and_bag() -> None:
    plugrad.manual_seed(0)
    w = plugrad.randn(6, 3, dtype=F64, requires_grad=True)
    i = idx([[0, 2, 2], [5, 1, 0]])
    # padding_idx and scale_grad_by_freq change the gradient on purpose (tested by hand above)
    assert gradcheck(lambda t: F.embedding(i, t), (w,))
    assert gradgradcheck(lambda t: F.embedding(i, t), (w,))
    flat, offsets = idx([0, 2, 2, 5, 1, 3]), idx([0, 1, 4])
    psw = plugrad.randn(6, dtype=F64, requires_grad=True)
    for mode in ("sum", "mean", "max"):
        assert gradcheck(lambda t, m=mode: F.embedding_bag(flat, t, offsets, mode=m, padding_idx=1), (w,))
    assert gradcheck(lambda t, p: F.embedding_bag(flat, t, offsets, mode="sum", per_sample_weights=p), (w, psw))
    assert gradgradcheck(lambda t, p: F.embedding_bag(flat, t, offsets, mode="sum", per_sample_weights=p), (w, psw))
    assert gradgradcheck(lambda t: F.embedding_bag(flat, t, offsets, mode="max"), (w,))


# ------------------------------------------------------------------ reprs and errors
def test_reprs_paths_and_init() -> None:
    assert repr(nn.Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"
    assert repr(nn.Embedding(10, 3, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True)) == (
        "Embedding(10, 3, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True)"
    )
    assert repr(nn.EmbeddingBag(10, 3)) == "EmbeddingBag(10, 3, mode='mean')"
    assert repr(nn.EmbeddingBag(10, 3, padding_idx=1, mode="sum", max_norm=2.0)) == (
        "EmbeddingBag(10, 3, max_norm=2.0, mode='sum', padding_idx=1)"
    )
    from plugrad.nn.modules.sparse import Embedding, EmbeddingBag

    assert (Embedding, EmbeddingBag) == (nn.Embedding, nn.EmbeddingBag)
    plugrad.manual_seed(0)
    values = nn.Embedding(400, 50).weight.detach().reshape(-1).tolist()  # N(0, 1)
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    assert abs(mean) < 0.02 and abs(std - 1.0) < 0.02


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (lambda: F.embedding(idx([10]), plugrad.randn(10, 3)), IndexError, "index out of range in self"),
        (lambda: F.embedding(idx([-1]), plugrad.randn(10, 3)), IndexError, "index out of range in self"),
        (
            lambda: F.embedding(plugrad.tensor([1.0]), plugrad.randn(10, 3)),
            RuntimeError,
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got "
            "plugrad.FloatTensor instead (while checking arguments for embedding)",
        ),
        (lambda: nn.Embedding(10, 3, padding_idx=10), AssertionError, "Padding_idx must be within num_embeddings"),
        (lambda: nn.Embedding(10, 3, padding_idx=-11), AssertionError, "Padding_idx must be within num_embeddings"),
        (lambda: nn.Embedding(10, 3, sparse=True), NotImplementedError, "sparse=True"),
        (lambda: F.embedding(idx([1]), plugrad.randn(10, 3), sparse=True), NotImplementedError, "sparse=True"),
        (
            lambda: F.embedding_bag(idx([1, 2]), plugrad.randn(10, 3), idx([1])),
            RuntimeError,
            "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from position 0. "
            "However, got 1",
        ),
        (
            lambda: F.embedding_bag(idx([[1, 2]]), plugrad.randn(10, 3), idx([0])),
            ValueError,
            "if input is 2D, then offsets has to be None",
        ),
        (
            lambda: F.embedding_bag(
                idx([[1, 2]]), plugrad.randn(10, 3), mode="mean", per_sample_weights=plugrad.ones(1, 2)
            ),
            NotImplementedError,
            "per_sample_weights is only supported for mode='sum' (got mode='mean')",
        ),
        (
            lambda: F.embedding_bag(idx([1, 2]), plugrad.randn(10, 3)),
            ValueError,
            "offsets has to be a 1D Tensor but got None",
        ),
        (lambda: F.embedding_bag(idx([[1]]), plugrad.randn(10, 3), mode="median"), ValueError, "mode has to be one of"),
    ],
)
def test_errors(call, exc, message) -> None:
    with pytest.raises(exc) as info:
        call()
    assert message in str(info.value)


# ------------------------------------------------------------------------------- oracle
@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _from_torch(t):
    """A PyTorch tensor as a plugrad tensor (DLPack: same shape, dtype and values), for assert_close."""
    return plugrad.from_dlpack(t.detach())


@pytest.mark.oracle
@pytest.mark.parametrize(
    "kw",
    [{}, dict(padding_idx=0), dict(padding_idx=-1), dict(scale_grad_by_freq=True, padding_idx=2), dict(max_norm=1.5)],
)
def test_oracle_embedding_module(torch, kw) -> None:
    tm = torch.nn.Embedding(10, 4, dtype=torch.float64, **kw)
    with torch.no_grad():
        tm.weight.mul_(2.0)
    pm = nn.Embedding(10, 4, dtype=F64, **kw)
    pm.load_state_dict({"weight": plugrad.tensor(tm.weight.tolist(), dtype=F64)})
    assert repr(pm) == repr(tm)
    i_t = torch.tensor([[1, 2, 0, 2], [3, 0, 9, 9]])
    i_p = idx(i_t.tolist())
    out_t, out_p = tm(i_t), pm(i_p)
    assert_close(out_p, _from_torch(out_t), rtol=1e-10, atol=1e-10, check_dtype=False)
    g = torch.linspace(-1, 1, out_t.numel(), dtype=torch.float64).reshape(out_t.shape)
    (out_t * g).sum().backward()
    (out_p * plugrad.tensor(g.tolist(), dtype=F64)).sum().backward()
    assert_close(pm.weight.grad, _from_torch(tm.weight.grad), rtol=1e-10, atol=1e-10, check_dtype=False)
    assert_close(
        pm.weight, _from_torch(tm.weight), rtol=1e-10, atol=1e-10, check_dtype=False
    )  # max_norm renormalised the same rows in place


@pytest.mark.oracle
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_oracle_embedding_bag(torch, mode, padding_idx) -> None:
    g = torch.Generator().manual_seed(3)
    w_t = torch.randn(10, 3, generator=g, dtype=torch.float64, requires_grad=True)
    w_p = plugrad.tensor(w_t.tolist(), dtype=F64, requires_grad=True)
    cases = [
        (torch.tensor([1, 2, 4, 5, 4, 3, 2, 9]), torch.tensor([0, 2, 2, 5]), False),
        (torch.tensor([1, 2, 4, 5, 4, 3, 2, 9]), torch.tensor([0, 3, 8]), True),
        (torch.tensor([[1, 2, 2], [5, 5, 0]]), None, False),
    ]
    for inp, offsets, last in cases:
        kw = dict(mode=mode, padding_idx=padding_idx, include_last_offset=last)
        out_t = torch.nn.functional.embedding_bag(inp, w_t, offsets, **kw)
        out_p = F.embedding_bag(idx(inp.tolist()), w_p, None if offsets is None else idx(offsets.tolist()), **kw)
        assert_close(out_p, _from_torch(out_t), rtol=1e-10, atol=1e-10, check_dtype=False)
        (out_t * out_t).sum().backward()
        (out_p * out_p).sum().backward()
        assert_close(w_p.grad, _from_torch(w_t.grad), rtol=1e-10, atol=1e-10, check_dtype=False)
    if mode == "sum":
        psw_t = torch.randn(8, generator=g, dtype=torch.float64, requires_grad=True)
        psw_p = plugrad.tensor(psw_t.tolist(), dtype=F64, requires_grad=True)
        inp, offsets = cases[0][0], cases[0][1]
        out_t = torch.nn.functional.embedding_bag(inp, w_t, offsets, mode="sum", per_sample_weights=psw_t)
        out_p = F.embedding_bag(idx(inp.tolist()), w_p, idx(offsets.tolist()), mode="sum", per_sample_weights=psw_p)
        assert_close(out_p, _from_torch(out_t), rtol=1e-10, atol=1e-10, check_dtype=False)
        out_t.sum().backward()
        out_p.sum().backward()
        assert_close(psw_p.grad, _from_torch(psw_t.grad), rtol=1e-10, atol=1e-10, check_dtype=False)


@pytest.mark.oracle
def test_oracle_embedding_init_distribution(torch) -> None:
    plugrad.manual_seed(1)
    torch.manual_seed(1)
    p = nn.Embedding(300, 40).weight.detach().reshape(-1).tolist()
    t = torch.nn.Embedding(300, 40).weight.detach().reshape(-1).tolist()
    for vals in (p, t):
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals))
        assert abs(mean) < 0.03 and abs(std - 1.0) < 0.03
