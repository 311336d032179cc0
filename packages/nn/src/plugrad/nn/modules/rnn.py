"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their single-step ``Cell`` forms.

Parameter names, shapes, gate order and initialisation are PyTorch's, so a PyTorch
``state_dict`` loads unchanged. For layer ``k`` (suffix ``_reverse`` for the backward
direction of a bidirectional layer)::

    weight_ih_l{k}  (G * hidden_size, layer input size)
    weight_hh_l{k}  (G * hidden_size, hidden_size or proj_size)
    bias_ih_l{k}, bias_hh_l{k}  (G * hidden_size,)
    weight_hr_l{k}  (proj_size, hidden_size)       LSTM with proj_size > 0 only

with ``G = 1`` (RNN), ``4`` (LSTM, gates ``i, f, g, o``) or ``3`` (GRU, gates ``r, z, n``).
Every parameter starts as ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``.

The input-to-hidden products of a whole layer are one matrix product over all time
steps; only the hidden-to-hidden product runs step by step. Packed input
(:class:`~plugrad.nn.utils.rnn.PackedSequence`) shrinks the batch as sequences end, so
each sequence stops at its own length.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import plugrad
from plugrad import Tensor
from plugrad.autograd import Function

from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _legacy(t: Tensor) -> str:
    """PyTorch's scalar type name in messages: ``Float``, ``Double``, ..."""
    return t.dtype.to_legacy_type_name()[: -len("Tensor")]


# --------------------------------------------------------------------------- one step
# Each step function takes the input-side pre-activation ``xp`` (``x W_ih^T + b_ih``, plus
# ``b_hh`` where it may be folded in), the previous state and the hidden-side weights.
def _rnn_step(xp: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, relu: bool) -> Tensor:
    """``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``."""
    pre = xp + F.linear(h, w_hh, b_hh)
    return pre.relu() if relu else pre.tanh()


def _lstm_acts(xp: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> tuple[Tensor, ...]:
    """``(sigmoid(gates), tanh(g), c', tanh(c'))`` of one LSTM step (``gates = xp + h W_hh^T + b_hh``)."""
    hidden = c.shape[-1]
    gates = xp + h @ w_hh.t()
    if b_hh is not None:
        gates = gates + b_hh
    sig = gates.sigmoid()  # i, f, o are read from here; the g quarter is unused
    g = gates.narrow(-1, 2 * hidden, hidden).tanh()
    c_new = sig.narrow(-1, hidden, hidden) * c + sig.narrow(-1, 0, hidden) * g
    return sig, g, c_new, c_new.tanh()


class _LSTMCell(Function, backward_name="ThnnFusedLstmCellBackward0"):
    """One LSTM step as one node: ``(xp, h, c, W_hh, b_hh) -> (h', c')``.

    With ``s`` the sigmoid gates ``i, f, o``, ``g`` the tanh gate and ``dc = gc + gh o (1 - tanh(c')^2)``::

        di = dc g i (1 - i)   df = dc c f (1 - f)   dg = dc i (1 - g^2)   do = gh tanh(c') o (1 - o)
        dxp = [di, df, dg, do]   dh = dxp W_hh   dW_hh = dxp^T h   db_hh = sum(dxp)   dc_prev = dc f

    Under ``create_graph`` the activations are recomputed with a graph, so higher derivatives hold.
    """

    @staticmethod
    def forward(ctx: Any, xp: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> tuple[Tensor, Tensor]:
        sig, g, c_new, tc = _lstm_acts(xp, h, c, w_hh, b_hh)
        hidden = c.shape[-1]
        ctx.save_for_backward(xp, h, c, w_hh, b_hh, sig, g, tc)
        return sig.narrow(-1, 3 * hidden, hidden) * tc, c_new

    @staticmethod
    def backward(ctx: Any, gh: Tensor, gc: Tensor) -> tuple[Tensor | None, ...]:
        xp, h, c, w_hh, b_hh, sig, g, tc = ctx.saved_tensors
        if plugrad.is_grad_enabled():
            sig, g, _, tc = _lstm_acts(xp, h, c, w_hh, b_hh)
        hidden = c.shape[-1]
        i, f, o = sig.narrow(-1, 0, hidden), sig.narrow(-1, hidden, hidden), sig.narrow(-1, 3 * hidden, hidden)
        dsig = sig * (1.0 - sig)
        dc = gc + gh * o * (1.0 - tc * tc)
        dgates = plugrad.cat(
            [
                dc * g * dsig.narrow(-1, 0, hidden),
                dc * c * dsig.narrow(-1, hidden, hidden),
                dc * i * (1.0 - g * g),
                gh * tc * dsig.narrow(-1, 3 * hidden, hidden),
            ],
            -1,
        )
        need_xp, need_h, need_c, need_w, need_b = ctx.needs_input_grad
        return (
            dgates if need_xp else None,
            dgates @ w_hh if need_h else None,
            dc * f if need_c else None,
            dgates.t() @ h if need_w else None,
            dgates.sum(0) if need_b else None,
        )


def _lstm_step(
    xp: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None, w_hr: Tensor | None
) -> tuple[Tensor, Tensor]:
    """``i, f, g, o`` gates; ``c' = f c + i g``, ``h' = o tanh(c')`` (then ``h' W_hr^T`` with a projection)."""
    h, c = _LSTMCell.apply(xp, h, c, w_hh, b_hh)
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


class _LSTMLayer(Function, backward_name="MkldnnRnnLayerBackward0"):
    """A whole LSTM layer direction over padded input as one node (PyTorch's CPU node name).

    Inputs ``xp (T, B, 4H)`` (input projections with the biases folded in), ``h0``, ``c0``,
    ``W_hh``, ``W_hr`` (projection or ``None``) and ``reverse``; outputs every step's
    ``h`` ``(T, B, H_out)``, ``h_n`` and ``c_n``. The time loop runs without a graph; the
    backward is backpropagation through time with the step formulas of :class:`_LSTMCell`
    (plus ``dm = dh W_hr``, ``dW_hr = sum_t dh_t^T m_t`` for the projection ``h = m W_hr^T``),
    with ``dW_hh`` as one product over all steps. Under ``create_graph`` the activations are
    recomputed with a graph first, so the gradients are differentiable again.
    """

    @staticmethod
    def forward(
        ctx: Any, xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, w_hr: Tensor | None, reverse: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        acts, outs, h, c = _lstm_layer_acts(xp, h0, c0, w_hh, w_hr, reverse)
        ctx.acts = acts
        ctx.reverse = reverse
        ctx.save_for_backward(xp, h0, c0, w_hh, w_hr)
        return plugrad.stack(outs, 0), h, c

    @staticmethod
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor, g_c: Tensor) -> tuple[Tensor | None, ...]:
        xp, h0, c0, w_hh, w_hr = ctx.saved_tensors
        acts = ctx.acts  # kept on ctx (not freed after use): backward may run again with retain_graph
        if plugrad.is_grad_enabled():  # create_graph: rebuild the activations with a graph
            acts = _lstm_layer_acts(xp, h0, c0, w_hh, w_hr, ctx.reverse)[0]
        steps = len(acts)
        hidden = c0.shape[-1]
        order = range(steps) if ctx.reverse else range(steps - 1, -1, -1)  # the forward order, backwards
        g_outs = g_out.unbind(0)
        dgates: list[Tensor | None] = [None] * steps
        dms: list[Tensor] = []
        ms: list[Tensor] = []
        dh, dc = g_h, g_c
        for t in order:
            _, c_prev, sig, g, tc, m = acts[t]
            dh = dh + g_outs[t]
            if w_hr is not None:
                dms.append(dh)
                ms.append(m)
                dm = dh @ w_hr
            else:
                dm = dh
            dsig = sig * (1.0 - sig)
            o = sig.narrow(-1, 3 * hidden, hidden)
            dc = dc + dm * o * (1.0 - tc * tc)
            dg = plugrad.cat(
                [
                    dc * g * dsig.narrow(-1, 0, hidden),
                    dc * c_prev * dsig.narrow(-1, hidden, hidden),
                    dc * sig.narrow(-1, 0, hidden) * (1.0 - g * g),
                    dm * tc * dsig.narrow(-1, 3 * hidden, hidden),
                ],
                -1,
            )
            dgates[t] = dg
            dh = dg @ w_hh
            dc = dc * sig.narrow(-1, hidden, hidden)
        need_xp, need_h0, need_c0, need_w, need_wr, _ = ctx.needs_input_grad
        d_all = plugrad.stack(dgates, 0)  # type: ignore[arg-type]
        dw = dwr = None
        if need_w:
            h_prevs = plugrad.stack([a[0] for a in acts], 0)
            dw = d_all.reshape(-1, d_all.shape[-1]).t() @ h_prevs.reshape(-1, h_prevs.shape[-1])
        if need_wr and w_hr is not None:
            dwr = plugrad.cat(dms, 0).t() @ plugrad.cat(ms, 0)
        return (
            d_all if need_xp else None,
            dh if need_h0 else None,
            dc if need_c0 else None,
            dw,
            dwr,
            None,
        )


def _lstm_layer_acts(
    xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, w_hr: Tensor | None, reverse: bool
) -> tuple[list[Any], list[Any], Tensor, Tensor]:
    """Run one LSTM layer direction; per step ``(h_prev, c_prev, sigmoid gates, tanh g, tanh c', m)``."""
    steps = xp.shape[0]
    hidden = c0.shape[-1]
    xs = xp.unbind(0)
    acts: list[Any] = [None] * steps
    outs: list[Any] = [None] * steps
    h, c = h0, c0
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        sig, g, c_new, tc = _lstm_acts(xs[t], h, c, w_hh, None)
        m = sig.narrow(-1, 3 * hidden, hidden) * tc
        h_new = m if w_hr is None else m @ w_hr.t()
        acts[t] = (h, c, sig, g, tc, m)
        outs[t] = h_new
        h, c = h_new, c_new
    return acts, outs, h, c


def _gru_acts(xp: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """``(sigmoid([r, z] pre-activations), h W_hn^T + b_hn, n)`` of one GRU step."""
    hidden = h.shape[-1]
    hp = h @ w_hh.t()
    if b_hh is not None:
        hp = hp + b_hh
    rz = (xp.narrow(-1, 0, 2 * hidden) + hp.narrow(-1, 0, 2 * hidden)).sigmoid()
    h_n = hp.narrow(-1, 2 * hidden, hidden)
    n = (xp.narrow(-1, 2 * hidden, hidden) + rz.narrow(-1, 0, hidden) * h_n).tanh()
    return rz, h_n, n


class _GRUCell(Function, backward_name="ThnnFusedGruCellBackward0"):
    """One GRU step as one node: ``(xp, h, W_hh, b_hh) -> h' = n + z (h - n)``.

    With ``dn = gh (1 - z) (1 - n^2)``, ``dz = gh (h - n) z (1 - z)``, ``dr = dn h_n r (1 - r)``::

        dxp = [dr, dz, dn]   dhp = [dr, dz, dn r]   dh = gh z + dhp W_hh   dW_hh = dhp^T h   db_hh = sum(dhp)
    """

    @staticmethod
    def forward(ctx: Any, xp: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
        rz, h_n, n = _gru_acts(xp, h, w_hh, b_hh)
        ctx.save_for_backward(xp, h, w_hh, b_hh, rz, h_n, n)
        return n + rz.narrow(-1, h.shape[-1], h.shape[-1]) * (h - n)

    @staticmethod
    def backward(ctx: Any, gh: Tensor) -> tuple[Tensor | None, ...]:
        xp, h, w_hh, b_hh, rz, h_n, n = ctx.saved_tensors
        if plugrad.is_grad_enabled():
            rz, h_n, n = _gru_acts(xp, h, w_hh, b_hh)
        hidden = h.shape[-1]
        r, z = rz.narrow(-1, 0, hidden), rz.narrow(-1, hidden, hidden)
        dn = gh * (1.0 - z) * (1.0 - n * n)
        drz = plugrad.cat([dn * h_n, gh * (h - n)], -1) * rz * (1.0 - rz)
        need_xp, need_h, need_w, need_b = ctx.needs_input_grad
        dhp = plugrad.cat([drz, dn * r], -1)
        return (
            plugrad.cat([drz, dn], -1) if need_xp else None,
            gh * z + dhp @ w_hh if need_h else None,
            dhp.t() @ h if need_w else None,
            dhp.sum(0) if need_b else None,
        )


def _gru_step(xp: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """``r = s(x_r + h_r)``, ``z = s(x_z + h_z)``, ``n = tanh(x_n + r * (h W_hn^T + b_hn))``, ``h' = n + z (h - n)``."""
    return _GRUCell.apply(xp, h, w_hh, b_hh)  # type: ignore[no-any-return]


class RNNBase(Module):
    """The shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU`.

    :param mode: ``"LSTM"``, ``"GRU"``, ``"RNN_TANH"`` or ``"RNN_RELU"``.
    :param input_size: features per input step.
    :param hidden_size: features of the hidden state.
    :param num_layers: stacked layers; layer ``k > 0`` reads layer ``k - 1``'s output.
    :param bias: whether the layers have ``bias_ih``/``bias_hh``.
    :param batch_first: input and output are ``(batch, seq, feature)`` instead of ``(seq, batch, feature)``.
    :param dropout: dropout probability on every layer's output except the last (training mode).
    :param bidirectional: run a second pass from the last step to the first and concatenate both.
    :param proj_size: LSTM only: project the hidden state to this size (``weight_hr``).
    """

    _flat_weights_names: list[str]
    _all_weights: list[list[str]]

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        if (
            not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= float(dropout) <= 1  # type: ignore[arg-type]
        ):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"
            )
        if dropout > 0 and num_layers == 1:  # type: ignore[operator]
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                UserWarning,
                stacklevel=3,
            )
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
        if not isinstance(proj_size, int) or isinstance(proj_size, bool):
            raise TypeError(f"proj_size should be of type int, got: {type(proj_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)  # type: ignore[arg-type]
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input = input_size if layer == 0 else real_hidden * num_directions
                suffix = "_reverse" if direction == 1 else ""
                shapes: list[tuple[str, tuple[int, ...]]] = [(f"weight_ih_l{layer}{suffix}", (gate_size, layer_input))]
                shapes.append((f"weight_hh_l{layer}{suffix}", (gate_size, real_hidden)))
                if bias:
                    shapes.append((f"bias_ih_l{layer}{suffix}", (gate_size,)))
                    shapes.append((f"bias_hh_l{layer}{suffix}", (gate_size,)))
                if proj_size > 0:
                    shapes.append((f"weight_hr_l{layer}{suffix}", (proj_size, hidden_size)))
                for name, shape in shapes:
                    setattr(self, name, Parameter(plugrad.empty(*shape, device=device, dtype=dtype)))
                names = [name for name, _ in shapes]
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight and bias from ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """Accepted for compatibility; plugrad keeps no fused weight buffer, so there is nothing to do."""

    @property
    def _flat_weights(self) -> list[Parameter | None]:
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters grouped per layer and direction, in PyTorch's order."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ---------------------------------------------------------------- forward
    def _input_error_name(self) -> str:
        return "RNN"

    def _prepare(self, input: Any) -> tuple[Tensor, list[int] | None, bool, int, Tensor | None, Tensor | None]:
        """Return ``(x, batch_sizes, batched, batch, sorted_indices, unsorted_indices)``; ``x`` is seq-first."""
        if isinstance(input, PackedSequence):
            sizes = [int(v) for v in input.batch_sizes.tolist()]
            x = input.data
            if x.ndim != 2:
                raise ValueError(f"{self._input_error_name()}: packed data must be 2-D, got {x.ndim}D")
            return x, sizes, True, sizes[0] if sizes else 0, input.sorted_indices, input.unsorted_indices
        if not isinstance(input, Tensor):
            raise TypeError(
                f"{type(self).__name__}.forward(): input must be a Tensor or PackedSequence, not {type(input).__name__}"
            )
        if input.ndim not in (2, 3):
            raise ValueError(self._dim_error(input.ndim))
        batched = input.ndim == 3
        if not batched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        return input, None, batched, input.shape[1], None, None

    def _dim_error(self, ndim: int) -> str:
        return f"{self._input_error_name()}: Expected input to be 2D or 3D, got {ndim}D tensor instead"

    def _check_input(self, x: Tensor) -> None:
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {x.shape[-1]}"
            )
        if x.shape[0] == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        w = getattr(self, self._flat_weights_names[0])
        if x.dtype != w.dtype:
            raise ValueError(
                f"RNN input dtype ({x.dtype}) does not match weight dtype ({w.dtype}). "
                f"Convert input: input.to({w.dtype}), or convert model: model.to({x.dtype})"
            )

    def _check_hidden(
        self, hx: Any, batched: bool, expected: tuple[int, ...], msg: str = "Expected hidden size {}, got {}"
    ) -> Tensor:
        if not isinstance(hx, Tensor):
            raise TypeError(f"{type(self).__name__}.forward(): hx must be a Tensor, not {type(hx).__name__}")
        if batched and hx.ndim != 3:
            raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got {hx.ndim}-D tensor")
        if not batched and hx.ndim != 2:
            raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got {hx.ndim}-D tensor")
        if not batched:
            hx = hx.unsqueeze(1)
        if tuple(hx.shape) != expected:
            raise RuntimeError(msg.format(expected, list(hx.shape)))
        w = getattr(self, self._flat_weights_names[0])
        if hx.dtype != w.dtype:
            raise RuntimeError(
                "Input and hidden tensors are not the same dtype, found input tensor with "
                f"{_legacy(w)} and hidden tensor with {_legacy(hx)}"
            )
        return hx

    def _layer_weights(
        self, layer: int, direction: int
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, Tensor | None]:
        names = self._all_weights[layer * (2 if self.bidirectional else 1) + direction]
        w_ih: Tensor = getattr(self, names[0])
        w_hh: Tensor = getattr(self, names[1])
        b_ih = getattr(self, names[2]) if self.bias else None
        b_hh = getattr(self, names[3]) if self.bias else None
        w_hr = getattr(self, names[-1]) if self.proj_size > 0 else None
        return w_ih, w_hh, b_ih, b_hh, w_hr

    def _run(
        self, x: Tensor, sizes: list[int] | None, h0: Tensor, c0: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """All layers over seq-first ``x`` (or packed data with ``sizes``); returns ``(output, h_n, c_n)``."""
        num_directions = 2 if self.bidirectional else 1
        h_out: list[Tensor] = []
        c_out: list[Tensor] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                idx = layer * num_directions + direction
                out, h, c = self._run_direction(
                    layer_input, sizes, h0[idx], None if c0 is None else c0[idx], layer, direction
                )
                outputs.append(out)
                h_out.append(h)
                if c is not None:
                    c_out.append(c)
            layer_input = outputs[0] if num_directions == 1 else plugrad.cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, plugrad.stack(h_out, 0), plugrad.stack(c_out, 0) if c_out else None

    def _run_direction(
        self, x: Tensor, sizes: list[int] | None, h: Tensor, c: Tensor | None, layer: int, direction: int
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_weights(layer, direction)
        mode = self.mode
        fold = mode != "GRU" and b_hh is not None  # GRU keeps b_hn inside r * (...)
        xp = F.linear(x, w_ih, b_ih)
        if fold:
            xp = xp + b_hh
            b_step = None
        else:
            b_step = b_hh
        if sizes is None and mode == "LSTM" and b_step is None:  # the whole direction as one node
            out, h_n, c_n = _LSTMLayer.apply(xp, h, c, w_hh, w_hr, direction == 1)
            return out, h_n, c_n
        if sizes is None:
            steps = list(xp.unbind(0))
            full = [x.shape[1]] * len(steps)
        else:
            steps = list(plugrad.split(xp, sizes, 0)) if sizes else []
            full = sizes
        n = len(steps)
        order = range(n - 1, -1, -1) if direction == 1 else range(n)
        outs: list[Tensor | None] = [None] * n
        h0, c0 = h, c
        cur = h.shape[0]
        if direction == 1 and n and full[n - 1] != cur:  # packed, reverse: start with the longest rows only
            cur = full[n - 1]
            h = h0[:cur]
            c = None if c0 is None else c0[:cur]
        # packed sequences: finished rows leave the batch (forward) or join it (reverse)
        h_final: list[Tensor] = []
        c_final: list[Tensor] = []
        for t in order:
            bs = full[t]
            if bs != cur:
                if direction == 0:  # rows bs..cur end at the previous step: keep their last state
                    h_final.append(h[bs:])
                    h = h[:bs]
                    if c is not None:
                        c_final.append(c[bs:])
                        c = c[:bs]
                else:  # rows cur..bs start here, from the initial state
                    h = plugrad.cat([h, h0[cur:bs]], 0)
                    if c is not None and c0 is not None:
                        c = plugrad.cat([c, c0[cur:bs]], 0)
                cur = bs
            if mode == "LSTM":
                h, c = _lstm_step(steps[t], h, c, w_hh, b_step, w_hr)  # type: ignore[arg-type]
            elif mode == "GRU":
                h = _gru_step(steps[t], h, w_hh, b_step)
            else:
                h = _rnn_step(steps[t], h, w_hh, b_step, mode == "RNN_RELU")
            outs[t] = h
        if sizes is None:
            out = plugrad.stack(outs, 0)  # type: ignore[arg-type]
        else:
            out = plugrad.cat(outs, 0) if outs else x.new_zeros((0, h.shape[-1]))  # type: ignore[arg-type]
        if h_final:
            h = plugrad.cat([h, *reversed(h_final)], 0)
            if c is not None:
                c = plugrad.cat([c, *reversed(c_final)], 0)
        return out, h, c

    def _forward_common(self, input: Any, hx: Any) -> tuple[Any, Any]:
        x, sizes, batched, batch, sorted_idx, unsorted_idx = self._prepare(input)
        self._check_input(x)
        num_directions = 2 if self.bidirectional else 1
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        h_shape = (self.num_layers * num_directions, batch, real_hidden)
        c_shape = (self.num_layers * num_directions, batch, self.hidden_size)
        lstm = self.mode == "LSTM"
        if hx is None:
            h0 = plugrad.zeros(*h_shape, dtype=x.dtype, device=x.device)
            c0 = plugrad.zeros(*c_shape, dtype=x.dtype, device=x.device) if lstm else None
        elif lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTM.forward(): hx must be a tuple (h_0, c_0) of two Tensors")
            h0 = self._check_hidden(hx[0], batched, h_shape, "Expected hidden[0] size {}, got {}")
            c0 = self._check_hidden(hx[1], batched, c_shape, "Expected hidden[1] size {}, got {}")
        else:
            h0 = self._check_hidden(hx, batched, h_shape)
            c0 = None
        if sorted_idx is not None:
            h0 = h0.index_select(1, sorted_idx)
            c0 = None if c0 is None else c0.index_select(1, sorted_idx)
        out, h_n, c_n = self._run(x, sizes, h0, c0)
        if isinstance(input, PackedSequence):
            result: Any = PackedSequence(out, input.batch_sizes, sorted_idx, unsorted_idx)
            if unsorted_idx is not None:
                h_n = h_n.index_select(1, unsorted_idx)
                c_n = None if c_n is None else c_n.index_select(1, unsorted_idx)
        elif not batched:
            result = out.squeeze(1)
            h_n = h_n.squeeze(1)
            c_n = None if c_n is None else c_n.squeeze(1)
        else:
            result = out.transpose(0, 1) if self.batch_first else out
        return result, (h_n, c_n) if lstm else h_n


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` with ``act`` tanh or ReLU.

    Input ``(L, N, H_in)`` (``(N, L, H_in)`` with ``batch_first``; ``(L, H_in)`` unbatched) or a
    :class:`~plugrad.nn.utils.rnn.PackedSequence`; ``h_0`` ``(D * num_layers, N, H_out)``, zeros
    when omitted. Returns ``(output, h_n)``: every step's last-layer state ``(L, N, D * H_out)`` and
    the final state of every layer and direction (``D = 2`` if bidirectional).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(
            mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype
        )
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | None = None) -> tuple[Any, Tensor]:
        """Run the layers over the sequence: ``(L, N, H_in)`` (``(N, L, H_in)`` when ``batch_first``) or a
        ``PackedSequence`` -> ``(output, h_n)``, ``output`` the last layer's ``h_t`` for every ``t``, ``h_n`` ``(D*num_layers, N, H_out)``.
        """
        return self._forward_common(input, hx)  # type: ignore[return-value]


class LSTM(RNNBase):
    """Long short-term memory. Per step, with ``s`` the sigmoid::

        i = s(W_ii x + b_ii + W_hi h + b_hi)    f = s(W_if x + b_if + W_hf h + b_hf)
        g = tanh(W_ig x + b_ig + W_hg h + b_hg) o = s(W_io x + b_io + W_ho h + b_ho)
        c' = f * c + i * g                      h' = o * tanh(c')   (then h' W_hr^T if proj_size > 0)

    ``forward(input, (h_0, c_0))`` returns ``(output, (h_n, c_n))``; shapes as :class:`RNN`, with
    ``h`` of size ``proj_size`` when projecting and ``c`` always of size ``hidden_size``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )

    def _input_error_name(self) -> str:
        return "LSTM"

    def _dim_error(self, ndim: int) -> str:
        return f"LSTM: Expected input to be 2D or 3D, got {ndim}D instead"

    def forward(
        self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Any, tuple[Tensor, Tensor]]:
        """Run the layers over the sequence -> ``(output, (h_n, c_n))``: ``output`` ``(L, N, D*H_out)`` the last layer's
        ``h_t`` (or a ``PackedSequence`` for one), ``h_n``/``c_n`` ``(D*num_layers, N, H)``; ``hx = (h_0, c_0)``, default zeros.
        """
        return self._forward_common(input, hx)  # type: ignore[return-value]


class GRU(RNNBase):
    """Gated recurrent unit. Per step, with ``s`` the sigmoid::

        r = s(W_ir x + b_ir + W_hr h + b_hr)    z = s(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    ``forward(input, h_0)`` returns ``(output, h_n)``; shapes as :class:`RNN`.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype
        )

    def _input_error_name(self) -> str:
        return "GRU"

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | None = None) -> tuple[Any, Tensor]:
        """Run the layers over the sequence: ``(L, N, H_in)`` (``(N, L, H_in)`` when ``batch_first``) or a
        ``PackedSequence`` -> ``(output, h_n)``; ``hx`` is ``h_0`` ``(D*num_layers, N, H_out)``, default zeros.
        """
        return self._forward_common(input, hx)  # type: ignore[return-value]


# ------------------------------------------------------------------------------ cells
class RNNCellBase(Module):
    """Parameters of a single-step cell: ``weight_ih (G*H, in)``, ``weight_hh (G*H, H)``, ``bias_ih``, ``bias_hh (G*H,)``."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
            if value < 0 or (name == "hidden_size" and value == 0):
                raise ValueError(f"{name} must be greater than zero")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(plugrad.empty(num_chunks * hidden_size, input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(plugrad.empty(num_chunks * hidden_size, hidden_size, device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(plugrad.empty(num_chunks * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(plugrad.empty(num_chunks * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        return s

    def _prepare(self, input: Any) -> tuple[Tensor, bool]:
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__}.forward(): input must be a Tensor, not {type(input).__name__}")
        if input.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[-1]} expected {self.input_size}")
        batched = input.ndim == 2
        return (input if batched else input.unsqueeze(0)), batched

    def _state(self, x: Tensor, hx: Any, batched: bool, which: int) -> Tensor:
        if hx is None:
            return plugrad.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
        if not isinstance(hx, Tensor):
            raise TypeError(f"{type(self).__name__}.forward(): hx must be a Tensor, not {type(hx).__name__}")
        if hx.ndim != (2 if batched else 1):
            kind = "batched 2-D" if batched else "unbatched 1-D"
            raise RuntimeError(
                f"{type(self).__name__}: Expected hidden to be {2 if batched else 1}D for {kind} input, got {hx.ndim}D instead"
            )
        if not batched:
            hx = hx.unsqueeze(0)
        if hx.shape[0] != x.shape[0]:
            raise RuntimeError(f"Input batch size {x.shape[0]} doesn't match hidden{which} batch size {hx.shape[0]}")
        if hx.shape[1] != self.hidden_size:
            raise RuntimeError(
                f"hidden{which} has inconsistent hidden_size: got {hx.shape[1]}, expected {self.hidden_size}"
            )
        return hx


class RNNCell(RNNCellBase):
    """One Elman step: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``, ``act`` tanh or ReLU.

    ``forward(input (N, in) or (in,), hx (N, H) or (H,) = zeros)`` returns ``h'``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """One step ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``: ``(N, H_in), (N, H) -> (N, H)``; ``hx`` defaults to zeros."""
        x, batched = self._prepare(input)
        h = self._state(x, hx, batched, 0)
        h = _rnn_step(
            F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh, self.nonlinearity == "relu"
        )
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates ``i, f, g, o`` as in :class:`LSTM`); ``forward(input, (h, c))`` returns ``(h', c')``."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """One LSTM step: ``(N, H_in), ((N, H), (N, H)) -> (h', c')``; ``hx = (h, c)`` defaults to zeros."""
        x, batched = self._prepare(input)
        if hx is None:
            h = c = self._state(x, None, batched, 0)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTMCell.forward(): hx must be a tuple (h, c) of two Tensors")
            h = self._state(x, hx[0], batched, 0)
            c = self._state(x, hx[1], batched, 1)
        h, c = _lstm_step(F.linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh, self.bias_hh, None)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step (gates ``r, z, n`` as in :class:`GRU`); ``forward(input, hx)`` returns ``h'``."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """One GRU step: ``(N, H_in), (N, H) -> h' = (1 - z) * n + z * h``; ``hx`` defaults to zeros."""
        x, batched = self._prepare(input)
        h = self._state(x, hx, batched, 0)
        h = _gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)
