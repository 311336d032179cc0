"""Recurrent layers, cells and packed sequences: hand-computed values, float64 gradient checks,
independent equivalences (packed = each sequence alone), and PyTorch as an oracle."""

from __future__ import annotations

import itertools
import math
import warnings

import plugrad
import plugrad.nn as nn
import pytest
from plugrad.autograd import gradcheck, gradgradcheck
from plugrad.nn.utils import rnn as rnn_utils
from plugrad.testing import assert_close

F64 = plugrad.float64


def _sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _fill(module: nn.Module, start: float = 0.1) -> None:
    """Deterministic small parameter values: ``start, start + 0.03, ...`` wrapped into [-0.5, 0.5]."""
    k = 0
    with plugrad.no_grad():
        for p in module.parameters():
            n = p.numel()
            vals = [((start + 0.03 * (k + i)) % 1.0) - 0.5 for i in range(n)]
            k += n
            p.copy_(plugrad.tensor(vals, dtype=p.dtype).reshape(p.shape))


def _matvec(w: list[list[float]], v: list[float]) -> list[float]:
    return [sum(a * b for a, b in zip(row, v)) for row in w]


# ------------------------------------------------------------------ hand-computed cell steps
def test_rnn_cell_one_step_by_hand():
    cell = nn.RNNCell(2, 3).double()
    _fill(cell)
    x, h = [0.5, -1.0], [0.2, 0.0, -0.3]
    out = cell(plugrad.tensor([x], dtype=F64), plugrad.tensor([h], dtype=F64))
    pre = [
        a + b + c + d
        for a, b, c, d in zip(
            _matvec(cell.weight_ih.tolist(), x),
            cell.bias_ih.tolist(),
            _matvec(cell.weight_hh.tolist(), h),
            cell.bias_hh.tolist(),
        )
    ]
    assert out.tolist()[0] == pytest.approx([math.tanh(v) for v in pre], abs=1e-12)
    relu = nn.RNNCell(2, 3, nonlinearity="relu").double()
    relu.load_state_dict(cell.state_dict())
    out = relu(plugrad.tensor(x, dtype=F64), plugrad.tensor(h, dtype=F64))  # unbatched
    assert out.tolist() == pytest.approx([max(v, 0.0) for v in pre], abs=1e-12)


def test_lstm_cell_one_step_by_hand_gate_order_ifgo():
    cell = nn.LSTMCell(2, 2).double()
    _fill(cell, 0.37)
    x, h, c = [0.3, -0.7], [0.1, -0.2], [0.5, 0.25]
    gates = [
        a + b + cc + d
        for a, b, cc, d in zip(
            _matvec(cell.weight_ih.tolist(), x),
            cell.bias_ih.tolist(),
            _matvec(cell.weight_hh.tolist(), h),
            cell.bias_hh.tolist(),
        )
    ]
    i, f, g, o = (gates[2 * k : 2 * k + 2] for k in range(4))
    c_new = [_sig(f[j]) * c[j] + _sig(i[j]) * math.tanh(g[j]) for j in range(2)]
    h_new = [_sig(o[j]) * math.tanh(c_new[j]) for j in range(2)]
    hn, cn = cell(plugrad.tensor([x], dtype=F64), (plugrad.tensor([h], dtype=F64), plugrad.tensor([c], dtype=F64)))
    assert hn.tolist()[0] == pytest.approx(h_new, abs=1e-12)
    assert cn.tolist()[0] == pytest.approx(c_new, abs=1e-12)


def test_gru_cell_one_step_by_hand_bias_hn_inside_reset():
    cell = nn.GRUCell(2, 2).double()
    _fill(cell, 0.21)
    x, h = [0.4, 0.9], [-0.6, 0.3]
    gi = [a + b for a, b in zip(_matvec(cell.weight_ih.tolist(), x), cell.bias_ih.tolist())]
    gh = [a + b for a, b in zip(_matvec(cell.weight_hh.tolist(), h), cell.bias_hh.tolist())]
    r = [_sig(gi[j] + gh[j]) for j in range(2)]
    z = [_sig(gi[2 + j] + gh[2 + j]) for j in range(2)]
    n = [math.tanh(gi[4 + j] + r[j] * gh[4 + j]) for j in range(2)]
    expected = [(1 - z[j]) * n[j] + z[j] * h[j] for j in range(2)]
    out = cell(plugrad.tensor([x], dtype=F64), plugrad.tensor([h], dtype=F64))
    assert out.tolist()[0] == pytest.approx(expected, abs=1e-12)


def test_cells_default_state_is_zeros():
    cell = nn.LSTMCell(3, 4)
    x = plugrad.randn(2, 3)
    h1, c1 = cell(x)
    h2, c2 = cell(x, (plugrad.zeros(2, 4), plugrad.zeros(2, 4)))
    assert plugrad.equal(h1, h2) and plugrad.equal(c1, c2)


def test_sequence_layer_equals_repeated_cells():
    for layer_cls, cell_cls in ((nn.RNN, nn.RNNCell), (nn.LSTM, nn.LSTMCell), (nn.GRU, nn.GRUCell)):
        layer = layer_cls(3, 4).double()
        cell = cell_cls(3, 4).double()
        cell.load_state_dict({k[: -len("_l0")]: v for k, v in layer.state_dict().items()})
        x = plugrad.randn(5, 2, 3, dtype=F64)
        out, _ = layer(x)
        state = None
        for t in range(5):
            state = cell(x[t], state)
            h = state[0] if isinstance(state, tuple) else state
            assert plugrad.allclose(out[t], h, atol=1e-12)


# ------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_gradcheck_input_and_state(mode):
    layer = getattr(nn, mode)(2, 2, num_layers=2, bidirectional=True).double()
    x = plugrad.randn(3, 1, 2, dtype=F64, requires_grad=True)
    h0 = plugrad.randn(4, 1, 2, dtype=F64, requires_grad=True)
    if mode == "LSTM":
        c0 = plugrad.randn(4, 1, 2, dtype=F64, requires_grad=True)
        assert gradcheck(lambda x, h, c: (lambda o, s: (o, *s))(*layer(x, (h, c))), (x, h0, c0))
    else:
        assert gradcheck(lambda x, h: layer(x, h), (x, h0))


def test_gradcheck_lstm_parameters_with_projection_and_packed_input():
    layer = nn.LSTM(2, 2, proj_size=1, bidirectional=True).double()
    x = plugrad.randn(4, 3, 2, dtype=F64)
    names = [n for n, _ in layer.named_parameters()]

    def fn(*params):
        state = dict(zip(names, params))
        for n in names:
            object.__getattribute__(layer, "_parameters")[n] = state[n]
        packed = rnn_utils.pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
        out, (h, c) = layer(packed)
        return out.data.sum() + (h * h).sum() + c.sum()

    originals = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    try:
        assert gradcheck(fn, tuple(originals))
    finally:
        with plugrad.no_grad():
            for n, p in zip(names, originals):
                object.__getattribute__(layer, "_parameters")[n] = nn.Parameter(p.detach())


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_gradcheck_cells(kind):
    cell = getattr(nn, kind)(2, 3, bias=kind != "GRUCell").double()
    x = plugrad.randn(2, 2, dtype=F64, requires_grad=True)
    h = plugrad.randn(2, 3, dtype=F64, requires_grad=True)
    if kind == "LSTMCell":
        assert gradcheck(lambda x, h, c: cell(x, (h, c))[1], (x, h, h.detach().clone().requires_grad_(True)))
    else:
        assert gradcheck(lambda x, h: cell(x, h), (x, h))


# ----------------------------------------------------------------------- options & shapes
def test_parameter_names_shapes_and_init_bounds():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    shapes = {k: tuple(v.shape) for k, v in lstm.state_dict().items()}
    assert list(shapes)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    assert shapes["weight_ih_l0"] == (16, 3)
    assert shapes["weight_hh_l0_reverse"] == (16, 2)
    assert shapes["weight_hr_l1_reverse"] == (2, 4)
    assert shapes["weight_ih_l1"] == (16, 4)  # 2 directions x proj_size 2
    assert len(shapes) == 20
    assert [len(g) for g in lstm.all_weights] == [5, 5, 5, 5]
    assert lstm._flat_weights_names == list(shapes)
    gru = nn.GRU(5, 50, bias=False)
    assert [k for k, _ in gru.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    bound = 1 / math.sqrt(50)
    values = plugrad.cat([p.reshape(-1) for p in gru.parameters()])
    assert values.abs().max().item() <= bound
    assert values.abs().max().item() > 0.9 * bound  # spread over the whole interval
    assert abs(values.mean().item()) < 0.1 * bound
    assert lstm.flatten_parameters() is None


def test_reprs_match_pytorch():
    assert repr(nn.LSTM(10, 20, num_layers=2, batch_first=True, dropout=0.1)) == (
        "LSTM(10, 20, num_layers=2, batch_first=True, dropout=0.1)"
    )
    assert repr(nn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4)"
    assert repr(nn.LSTM(3, 4, proj_size=2)) == "LSTM(3, 4, proj_size=2)"
    assert repr(nn.GRU(3, 4, bias=False, bidirectional=True)) == "GRU(3, 4, bias=False, bidirectional=True)"
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == "RNNCell(3, 4, nonlinearity=relu)"
    assert repr(nn.LSTMCell(3, 4, bias=False)) == "LSTMCell(3, 4, bias=False)"


def test_output_shapes_batch_first_unbatched_and_default_state():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True, proj_size=2)
    out, (h, c) = lstm(plugrad.randn(4, 7, 3))
    assert tuple(out.shape) == (4, 7, 4) and tuple(h.shape) == (4, 4, 2) and tuple(c.shape) == (4, 4, 5)
    out, (h, c) = lstm(plugrad.randn(7, 3))  # unbatched
    assert tuple(out.shape) == (7, 4) and tuple(h.shape) == (4, 2) and tuple(c.shape) == (4, 5)
    gru = nn.GRU(3, 5)
    x = plugrad.randn(6, 2, 3)
    a, ha = gru(x)
    b, hb = gru(x, plugrad.zeros(1, 2, 5))
    assert plugrad.equal(a, b) and plugrad.equal(ha, hb)
    assert plugrad.equal(a[-1], ha[0])  # last output step is the final state


def test_batch_first_is_a_transpose():
    rnn = nn.RNN(3, 4, num_layers=2).double()
    rnn_bf = nn.RNN(3, 4, num_layers=2, batch_first=True).double()
    rnn_bf.load_state_dict(rnn.state_dict())
    x = plugrad.randn(5, 2, 3, dtype=F64)
    assert plugrad.allclose(rnn(x)[0].transpose(0, 1), rnn_bf(x.transpose(0, 1))[0])


def test_reverse_direction_reads_the_sequence_backwards():
    bi = nn.GRU(2, 3, bidirectional=True).double()
    fwd = nn.GRU(2, 3).double()
    fwd.load_state_dict({k.replace("_reverse", ""): v for k, v in bi.state_dict().items() if "reverse" in k})
    x = plugrad.randn(4, 1, 2, dtype=F64)
    out, h = bi(x)
    ref, href = fwd(x.flip(0))
    assert plugrad.allclose(out[..., 3:], ref.flip(0)) and plugrad.allclose(h[1], href[0])


def test_dropout_between_layers_only_in_training():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = plugrad.randn(5, 2, 3)
    lstm.eval()
    assert plugrad.equal(lstm(x)[0], lstm(x)[0])
    lstm.train()
    plugrad.manual_seed(1)
    a = lstm(x)[0]
    plugrad.manual_seed(2)
    b = lstm(x)[0]
    assert not plugrad.equal(a, b)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(3, 4, dropout=0.2)


def test_packed_input_equals_each_sequence_alone():
    lstm = nn.LSTM(2, 3, num_layers=2, bidirectional=True).double()
    seqs = [plugrad.randn(n, 2, dtype=F64) for n in (3, 5, 1, 4)]
    packed = rnn_utils.pack_sequence(seqs, enforce_sorted=False)
    out, (h, c) = lstm(packed)
    assert isinstance(out, rnn_utils.PackedSequence)
    padded, lengths = rnn_utils.pad_packed_sequence(out)
    assert lengths.tolist() == [3, 5, 1, 4]
    for b, s in enumerate(seqs):
        alone, (ha, ca) = lstm(s)  # unbatched
        assert plugrad.allclose(padded[: s.shape[0], b], alone, atol=1e-12)
        assert plugrad.allclose(padded[s.shape[0] :, b], plugrad.zeros(1, dtype=F64))
        assert plugrad.allclose(h[:, b], ha, atol=1e-12) and plugrad.allclose(c[:, b], ca, atol=1e-12)


def test_rnn_errors_match_pytorch():
    cases = [
        (lambda: nn.RNN(3, 4)(plugrad.zeros(2, 3, 4, 5)), ValueError, "Expected input to be 2D or 3D, got 4D tensor"),
        (lambda: nn.LSTM(3, 4)(plugrad.zeros(2, 3, 4, 5)), ValueError, "LSTM: Expected input to be 2D or 3D, got 4D"),
        (lambda: nn.LSTM(3, 4)(plugrad.zeros(2, 3, 5)), RuntimeError, "input.size(-1) must be equal to input_size"),
        (
            lambda: nn.LSTM(3, 4)(plugrad.zeros(2, 3, 3), (plugrad.zeros(1, 3, 5), plugrad.zeros(1, 3, 4))),
            RuntimeError,
            r"Expected hidden[0] size (1, 3, 4), got [1, 3, 5]",
        ),
        (
            lambda: nn.GRU(3, 4)(plugrad.zeros(2, 3, 3), plugrad.zeros(1, 2, 4)),
            RuntimeError,
            "Expected hidden size (1, 3, 4), got [1, 2, 4]",
        ),
        (
            lambda: nn.GRU(3, 4)(plugrad.zeros(2, 3), plugrad.zeros(1, 2, 4)),
            RuntimeError,
            "For unbatched 2-D input, hx should also be 2-D but got 3-D tensor",
        ),
        (lambda: nn.LSTM(3, 4, dropout=1.5), ValueError, "dropout should be a number in range [0, 1]"),
        (lambda: nn.LSTM(3, 4, proj_size=4), ValueError, "proj_size has to be smaller than hidden_size"),
        (lambda: nn.LSTM(3, 4, proj_size=-1), ValueError, "proj_size should be a positive integer or zero"),
        (lambda: nn.GRU(3, 0), ValueError, "hidden_size must be greater than zero"),
        (lambda: nn.GRU(3, 4, num_layers=0), ValueError, "num_layers must be greater than zero"),
        (lambda: nn.RNN(3, 4, nonlinearity="sig"), ValueError, "Unknown nonlinearity 'sig'"),
        (lambda: nn.RNNCell(3, 4)(plugrad.zeros(2, 3, 3)), ValueError, "RNNCell: Expected input to be 1D or 2D"),
        (lambda: nn.RNNCell(3, 4)(plugrad.zeros(2, 5)), RuntimeError, "input has inconsistent input_size: got 5"),
        (
            lambda: nn.RNNCell(3, 4)(plugrad.zeros(2, 3), plugrad.zeros(3, 4)),
            RuntimeError,
            "Input batch size 2 doesn't match hidden0 batch size 3",
        ),
        (
            lambda: nn.LSTMCell(3, 4)(plugrad.zeros(2, 3), (plugrad.zeros(2, 4), plugrad.zeros(2, 2))),
            RuntimeError,
            "hidden1 has inconsistent hidden_size: got 2, expected 4",
        ),
        (lambda: nn.LSTM(3, 4)(plugrad.zeros(0, 2, 3)), RuntimeError, "Expected sequence length to be larger than 0"),
        (
            lambda: nn.LSTM(3, 4)(plugrad.zeros(2, 1, 3, dtype=F64)),
            ValueError,
            "RNN input dtype (plugrad.float64) does not match weight dtype (plugrad.float32)",
        ),
        (
            lambda: nn.GRU(3, 4)(plugrad.zeros(2, 1, 3), plugrad.zeros(1, 1, 4, dtype=F64)),
            RuntimeError,
            "Input and hidden tensors are not the same dtype, found input tensor with Float and hidden tensor with Double",
        ),
    ]
    for fn, exc, msg in cases:
        with pytest.raises(exc) as info:
            fn()
        assert msg in str(info.value)


# ------------------------------------------------------------------- packing utilities
def test_pack_padded_sequence_layout_by_hand():
    x = plugrad.arange(6.0).reshape(3, 2, 1)  # x[t, b] = 2t + b
    p = rnn_utils.pack_padded_sequence(x, [3, 2])
    assert p.data.reshape(-1).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert p.batch_sizes.tolist() == [2, 2, 1] and p.batch_sizes.dtype == plugrad.int64
    assert p.sorted_indices is None and p.unsorted_indices is None
    q = rnn_utils.pack_padded_sequence(x, plugrad.tensor([1, 3]), enforce_sorted=False)
    assert q.sorted_indices.tolist() == [1, 0] and q.unsorted_indices.tolist() == [1, 0]
    assert q.data.reshape(-1).tolist() == [1.0, 0.0, 3.0, 5.0]
    padded, lengths = rnn_utils.pad_packed_sequence(q, batch_first=True, padding_value=-1.0, total_length=4)
    assert lengths.tolist() == [1, 3]
    assert padded.reshape(2, 4).tolist() == [[0.0, -1.0, -1.0, -1.0], [1.0, 3.0, 5.0, -1.0]]


def test_pack_pad_gradients_flow():
    x = plugrad.randn(4, 3, 2, dtype=F64, requires_grad=True)

    def roundtrip(x):
        p = rnn_utils.pack_padded_sequence(x, [2, 4, 3], enforce_sorted=False)
        return rnn_utils.pad_packed_sequence(p)[0] * 2.0

    assert gradcheck(roundtrip, (x,))
    roundtrip(x).sum().backward()
    assert x.grad[:, 0].reshape(-1).tolist() == [2.0] * 4 + [0.0] * 4  # steps beyond length 2 get no gradient


def test_pad_sequence_sides_and_unpad():
    a, b = plugrad.tensor([1.0, 2.0, 3.0]), plugrad.tensor([4.0])
    assert rnn_utils.pad_sequence([a, b]).tolist() == [[1.0, 4.0], [2.0, 0.0], [3.0, 0.0]]
    assert rnn_utils.pad_sequence([a, b], batch_first=True, padding_value=9.0, padding_side="left").tolist() == [
        [1.0, 2.0, 3.0],
        [9.0, 9.0, 4.0],
    ]
    padded = rnn_utils.pad_sequence([a, b], batch_first=True)
    parts = rnn_utils.unpad_sequence(padded, plugrad.tensor([3, 1]), batch_first=True)
    assert [t.tolist() for t in parts] == [[1.0, 2.0, 3.0], [4.0]]
    packed = rnn_utils.pack_sequence([b, a], enforce_sorted=False)
    assert [t.tolist() for t in rnn_utils.unpack_sequence(packed)] == [[4.0], [1.0, 2.0, 3.0]]


def test_packing_errors_match_pytorch():
    x = plugrad.zeros(3, 2, 1)
    cases = [
        (lambda: rnn_utils.pack_padded_sequence(x, [1, 2]), "must be sorted in decreasing order"),
        (lambda: rnn_utils.pack_padded_sequence(x, [2, 0]), "Length of all samples has to be greater than 0"),
        (lambda: rnn_utils.pack_padded_sequence(x, [3, 2, 1]), "Expected `len(lengths)` to be equal to batch_size"),
        (lambda: rnn_utils.pack_padded_sequence(x, [4, 2]), "exceeds the padded sequence length"),
        (lambda: rnn_utils.pad_sequence([]), "received an empty list of sequences"),
        (lambda: rnn_utils.pad_sequence([x], padding_side="x"), "Expected padding_side to be one of left or right"),
    ]
    for fn, msg in cases:
        with pytest.raises(RuntimeError) as info:
            fn()
        assert msg in str(info.value)
    p = rnn_utils.pack_padded_sequence(x, [3, 2])
    with pytest.raises(ValueError, match="Expected total_length to be at least"):
        rnn_utils.pad_packed_sequence(p, total_length=2)


# ------------------------------------------------------------------------- PyTorch oracle
def _to_plugrad(t):
    return plugrad.tensor(t.detach().numpy().tolist(), dtype=F64)


def _from_torch(t):
    """A PyTorch tensor as a plugrad tensor (DLPack: same shape, dtype and values), for assert_close."""
    return plugrad.from_dlpack(t.detach())


OPTIONS = [
    (mode, layers, bi, bf, proj, packed)
    for mode, layers, bi, bf, packed in itertools.product(
        ["RNN", "LSTM", "GRU"], [1, 2], [False, True], [False, True], [False, True]
    )
    for proj in ([0, 2] if mode == "LSTM" else [0])
]


@pytest.mark.oracle
@pytest.mark.parametrize("mode,layers,bi,bf,proj,packed", OPTIONS)
def test_oracle_state_dict_outputs_and_gradients(mode, layers, bi, bf, proj, packed):
    torch = pytest.importorskip("torch")
    from torch.nn.utils import rnn as trnn

    torch.manual_seed(layers * 7 + bi * 3 + bf + proj)
    kw = {"num_layers": layers, "bidirectional": bi, "batch_first": bf}
    if proj:
        kw["proj_size"] = proj
    if mode == "RNN":
        kw["nonlinearity"] = "relu" if layers == 2 else "tanh"
    tm = getattr(torch.nn, mode)(3, 4, **kw).double()
    pm = getattr(nn, mode)(3, 4, **kw).double()
    assert repr(pm) == repr(tm)
    result = pm.load_state_dict({k: _to_plugrad(v) for k, v in tm.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    steps, batch, directions, hidden = 5, 3, 2 if bi else 1, proj or 4
    x = torch.randn(*((batch, steps) if bf else (steps, batch)), 3, dtype=torch.float64, requires_grad=True)
    px = _to_plugrad(x).requires_grad_(True)
    h0 = torch.randn(layers * directions, batch, hidden, dtype=torch.float64, requires_grad=True)
    ph0 = _to_plugrad(h0).requires_grad_(True)
    c0 = torch.randn(layers * directions, batch, 4, dtype=torch.float64, requires_grad=True)
    pc0 = _to_plugrad(c0).requires_grad_(True)
    thx, phx = ((h0, c0), (ph0, pc0)) if mode == "LSTM" else (h0, ph0)
    if packed:
        tin = trnn.pack_padded_sequence(x, [3, 5, 2], batch_first=bf, enforce_sorted=False)
        pin = rnn_utils.pack_padded_sequence(px, [3, 5, 2], batch_first=bf, enforce_sorted=False)
        assert_close(pin.data, _from_torch(tin.data), rtol=0.0, atol=1e-10, check_dtype=False)
        assert pin.batch_sizes.tolist() == tin.batch_sizes.tolist()
    else:
        tin, pin = x, px
    tout, th = tm(tin, thx)
    pout, ph = pm(pin, phx)
    if packed:
        tout, pout = tout.data, pout.data
    assert_close(pout, _from_torch(tout), rtol=0.0, atol=1e-10, check_dtype=False)
    th_all = th if mode == "LSTM" else (th,)
    ph_all = ph if mode == "LSTM" else (ph,)
    for a, b in zip(ph_all, th_all):
        assert_close(a, _from_torch(b), rtol=0.0, atol=1e-10, check_dtype=False)
    (tout.sum() + sum((t * t).sum() for t in th_all)).backward()
    (pout.sum() + sum((t * t).sum() for t in ph_all)).backward()
    assert_close(px.grad, _from_torch(x.grad), rtol=0.0, atol=1e-10, check_dtype=False)
    assert_close(ph0.grad, _from_torch(h0.grad), rtol=0.0, atol=1e-10, check_dtype=False)
    if mode == "LSTM":
        assert_close(pc0.grad, _from_torch(c0.grad), rtol=0.0, atol=1e-10, check_dtype=False)
    for (name, tp), (pname, pp) in zip(tm.named_parameters(), pm.named_parameters()):
        assert name == pname
        assert_close(pp.grad, _from_torch(tp.grad), rtol=0.0, atol=1e-10, check_dtype=False)


@pytest.mark.oracle
@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_oracle_cells(kind, batched):
    torch = pytest.importorskip("torch")
    torch.manual_seed(3)
    tm = getattr(torch.nn, kind)(3, 4).double()
    pm = getattr(nn, kind)(3, 4).double()
    pm.load_state_dict({k: _to_plugrad(v) for k, v in tm.state_dict().items()})
    shape = (2, 3) if batched else (3,)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    px = _to_plugrad(x).requires_grad_(True)
    h = torch.randn(*shape[:-1], 4, dtype=torch.float64)
    hx = (h, h * 0.5) if kind == "LSTMCell" else h
    phx = (_to_plugrad(h), _to_plugrad(h * 0.5)) if kind == "LSTMCell" else _to_plugrad(h)
    tout, pout = tm(x, hx), pm(px, phx)
    tout = tout if kind == "LSTMCell" else (tout,)
    pout = pout if kind == "LSTMCell" else (pout,)
    for a, b in zip(pout, tout):
        assert_close(a, _from_torch(b), rtol=0.0, atol=1e-10, check_dtype=False)
    sum((t * t).sum() for t in tout).backward()
    sum((t * t).sum() for t in pout).backward()
    assert_close(px.grad, _from_torch(x.grad), rtol=0.0, atol=1e-10, check_dtype=False)
    for (_, tp), (_, pp) in zip(tm.named_parameters(), pm.named_parameters()):
        assert_close(pp.grad, _from_torch(tp.grad), rtol=0.0, atol=1e-10, check_dtype=False)


@pytest.mark.oracle
def test_oracle_padding_utilities():
    torch = pytest.importorskip("torch")
    from torch.nn.utils import rnn as trnn

    seqs = [torch.randn(n, 2, dtype=torch.float64) for n in (2, 4, 1)]
    pseqs = [_to_plugrad(s) for s in seqs]
    for bf, side, value in itertools.product([False, True], ["left", "right"], [0.0, -2.5]):
        assert_close(
            rnn_utils.pad_sequence(pseqs, batch_first=bf, padding_value=value, padding_side=side),
            _from_torch(trnn.pad_sequence(seqs, batch_first=bf, padding_value=value, padding_side=side)),
            rtol=0.0,
            atol=1e-10,
            check_dtype=False,
        )
    tp = trnn.pack_sequence(seqs, enforce_sorted=False)
    pp = rnn_utils.pack_sequence(pseqs, enforce_sorted=False)
    assert_close(pp.data, _from_torch(tp.data), rtol=0.0, atol=1e-10, check_dtype=False)
    assert pp.sorted_indices.tolist() == tp.sorted_indices.tolist()
    assert pp.unsorted_indices.tolist() == tp.unsorted_indices.tolist()
    for bf in (False, True):
        tpad, tl = trnn.pad_packed_sequence(tp, batch_first=bf, padding_value=3.0, total_length=6)
        ppad, pl = rnn_utils.pad_packed_sequence(pp, batch_first=bf, padding_value=3.0, total_length=6)
        assert_close(ppad, _from_torch(tpad), rtol=0.0, atol=1e-10, check_dtype=False)
        assert pl.tolist() == tl.tolist()


def _quantiles(values, qs=(0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98)):
    values = sorted(values)
    return [values[int(q * (len(values) - 1))] for q in qs]


@pytest.mark.oracle
@pytest.mark.parametrize(
    "kind,args,kwargs",
    [
        ("LSTM", (16, 64), {"num_layers": 2, "proj_size": 24}),
        ("GRU", (16, 64), {"bidirectional": True}),
        ("RNN", (16, 64), {"nonlinearity": "relu"}),
        ("LSTMCell", (16, 64), {}),
        ("GRUCell", (16, 64), {"bias": False}),
    ],
)
def test_oracle_initialisation_distribution(kind, args, kwargs):
    torch = pytest.importorskip("torch")
    tm = getattr(torch.nn, kind)(*args, **kwargs)
    pm = getattr(nn, kind)(*args, **kwargs)
    tparams, pparams = dict(tm.named_parameters()), dict(pm.named_parameters())
    assert list(tparams) == list(pparams)
    bound = 1 / math.sqrt(64)
    for name, tp in tparams.items():
        assert tuple(pparams[name].shape) == tuple(tp.shape), name
    ours = [v for p in pparams.values() for v in p.detach().reshape(-1).tolist()]
    theirs = [v for p in tparams.values() for v in p.detach().reshape(-1).tolist()]
    assert max(abs(v) for v in ours) <= bound
    # both U(-bound, bound): the quantiles agree to sampling error (about 4 standard errors of a difference)
    assert _quantiles(ours) == pytest.approx(_quantiles(theirs), abs=11.4 * bound / math.sqrt(len(theirs)))


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell"])
def test_fused_cells_second_order_and_node_names(kind):
    cell = getattr(nn, kind)(2, 2).double()
    x = plugrad.randn(2, 2, dtype=F64, requires_grad=True)
    h = plugrad.randn(2, 2, dtype=F64, requires_grad=True)
    if kind == "LSTMCell":
        c = plugrad.randn(2, 2, dtype=F64, requires_grad=True)
        assert gradgradcheck(lambda x, h, c: cell(x, (h, c)), (x, h, c))
        name = type(cell(x, (h, c))[0].grad_fn).__name__
    else:
        assert gradgradcheck(lambda x, h: cell(x, h), (x, h))
        name = type(cell(x, h).grad_fn).__name__
    assert name == {"LSTMCell": "ThnnFusedLstmCellBackward0", "GRUCell": "ThnnFusedGruCellBackward0"}[kind]


@pytest.mark.parametrize("proj_size", [0, 1])
def test_lstm_layer_node_second_order(proj_size):
    lstm = nn.LSTM(2, 2, proj_size=proj_size, bidirectional=True).double()
    x = plugrad.randn(3, 1, 2, dtype=F64, requires_grad=True)
    out, _ = lstm(x)
    assert type(out.grad_fn).__name__ == "CatBackward0"  # the two directions' MkldnnRnnLayerBackward0 nodes
    assert {type(f[0]).__name__ for f in out.grad_fn.next_functions} == {"MkldnnRnnLayerBackward0"}
    assert gradgradcheck(lambda x: lstm(x)[0], (x,))


def test_packed_sequence_moves_and_casts_as_a_whole():
    packed = rnn_utils.pack_sequence([plugrad.ones(3, 2), plugrad.ones(1, 2)], enforce_sorted=False)
    doubled = packed.double()
    assert isinstance(doubled, rnn_utils.PackedSequence) and doubled.data.dtype == F64
    assert doubled.batch_sizes.tolist() == [2, 1, 1] and doubled.sorted_indices.tolist() == [0, 1]
    assert packed.to("cpu") is packed  # nothing to move
    assert not packed.is_cuda and not packed.is_pinned()
    data, sizes = packed.data, packed.batch_sizes
    assert rnn_utils.PackedSequence(data, sizes).unsorted_indices is None
    with pytest.raises(ValueError, match="batch_sizes should always be a 1D int64 tensor"):
        rnn_utils.PackedSequence(data, sizes.double())
