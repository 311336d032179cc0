"""Embedding lookups (issue 15): ``embedding`` and ``embedding_bag``, written with plugrad tensor ops.

``embedding(input, weight)[..., :] = weight[input[...], :]``; its gradient adds each output
row's gradient into the weight row it came from (``index_add``), skipping ``padding_idx``
and, with ``scale_grad_by_freq``, dividing by how often each index occurs in the batch.
"""

from __future__ import annotations

import itertools
from typing import Any

import plugrad
from plugrad import Tensor
from plugrad.autograd import Function

__all__ = ["embedding", "embedding_bag"]


def _check_tensor(x: Any, fn: str, arg: str = "input", pos: int = 1) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be Tensor, not {type(x).__name__}")


class _Embedding(Function, backward_name="EmbeddingBackward0"):
    """Row gather ``weight[indices]``; gradient ``index_add`` of the output gradient rows into zeros.

    The indices come in a 1-tuple (not as a tensor argument), so the node's only edge is the
    weight's, as PyTorch's ``EmbeddingBackward0``.
    """

    _prints_as_builtin = True

    @staticmethod
    def forward(
        ctx: Any, weight: Tensor, index_box: tuple[Tensor], padding_idx: int, scale_grad_by_freq: bool
    ) -> Tensor:
        (indices,) = index_box
        flat = indices.reshape(-1)
        ctx.save_for_backward(flat)
        ctx.conf = (weight.shape[0], padding_idx, scale_grad_by_freq, tuple(indices.shape))
        return weight.index_select(0, flat).reshape(*indices.shape, weight.shape[1])

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None]:
        (flat,) = ctx.saved_tensors
        num, padding_idx, by_freq, _ = ctx.conf
        rows = g.reshape(-1, g.shape[-1])
        if by_freq or padding_idx >= 0:
            scale = None
            if by_freq:
                counts = plugrad.zeros(num, dtype=g.dtype, device=g.device).index_add(
                    0, flat, plugrad.ones(flat.shape[0], dtype=g.dtype, device=g.device)
                )
                scale = counts.index_select(0, flat).reciprocal()
            if padding_idx >= 0:
                keep = (flat != padding_idx).to(g.dtype)
                scale = keep if scale is None else scale * keep
            assert scale is not None
            rows = rows * scale.unsqueeze(1)
        return _scatter_rows(rows, flat, num), None, None, None


#: below this (rows of the table x looked-up rows), a one-hot matmul sums the gradient rows faster
#: than ``index_add`` (NumPy's ``np.add.at``): measured 2.6x faster at 65 x 2048, slower from about 300 rows
_ONE_HOT_MAX_ROWS, _ONE_HOT_MAX_ELEMENTS = 256, 1 << 20


def _scatter_rows(rows: Tensor, flat: Tensor, num: int) -> Tensor:
    """``out[i] = sum of rows[r] with flat[r] == i``, ``out`` of shape ``(num, D)``."""
    if num <= _ONE_HOT_MAX_ROWS and num * flat.shape[0] <= _ONE_HOT_MAX_ELEMENTS and rows.is_floating_point():
        one_hot = flat.unsqueeze(0) == plugrad.arange(num, device=rows.device).unsqueeze(1)
        return one_hot.to(rows.dtype) @ rows
    return plugrad.zeros(num, rows.shape[-1], dtype=rows.dtype, device=rows.device).index_add(0, flat, rows)


def _check_indices(input: Tensor, fn: str) -> None:
    if input.dtype not in (plugrad.int64, plugrad.int32):
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got "
            f"plugrad.{input.dtype.to_legacy_type_name()} instead (while checking arguments for {fn})"
        )


def _check_range(input: Tensor, num: int) -> None:
    # one yes/no read back (not the extremes), so a compiled step replays for every in-range batch
    if input.numel() and bool(((input < 0) | (input >= num)).any()):
        raise IndexError("index out of range in self")


def _padding_index(padding_idx: int | None, num: int) -> int:
    if padding_idx is None:
        return -1
    if padding_idx > 0:
        if padding_idx >= num:
            raise ValueError("Padding_idx must be within num_embeddings")
    elif padding_idx < 0:
        if padding_idx < -num:
            raise ValueError("Padding_idx must be within num_embeddings")
        padding_idx = num + padding_idx
    return padding_idx


def _renorm_(weight: Tensor, input: Tensor, max_norm: float, norm_type: float) -> None:
    """Rescale, in place and without recording, the rows of ``weight`` that ``input`` uses and whose
    ``norm_type``-norm exceeds ``max_norm``, to norm ``max_norm`` (PyTorch's ``embedding_renorm_``)."""
    with plugrad.no_grad():
        flat = input.reshape(-1).long()
        if flat.numel() == 0:
            return
        rows = weight.index_select(0, flat)
        norms = rows.norm(norm_type, 1, keepdim=True)
        scale = plugrad.where(norms > max_norm, max_norm / (norms + 1e-7), plugrad.ones_like(norms))
        weight[flat] = rows * scale  # repeated indices write the same row


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Look up rows of ``weight`` ``(num_embeddings, embedding_dim)``: output ``(*input.shape, embedding_dim)``.

    ``padding_idx``: that row gets no gradient (negative counts from the end). ``max_norm``: rows used
    here whose ``norm_type``-norm exceeds it are first rescaled to ``max_norm`` **in place** (as PyTorch).
    ``scale_grad_by_freq``: each row's gradient is divided by its index's count in ``input``.
    ``sparse=True`` (sparse gradients) is not supported.
    """
    _check_tensor(input, "embedding")
    _check_tensor(weight, "embedding", "weight", 2)
    _check_indices(input, "embedding")
    if sparse:
        raise NotImplementedError(
            "embedding: sparse=True (sparse gradients) is not supported by plugrad; use sparse=False"
        )
    if weight.ndim != 2:
        raise RuntimeError("'weight' must be 2-D")
    num = weight.shape[0]
    pad = _padding_index(padding_idx, num) if padding_idx is not None else -1
    _check_range(input, num)
    if max_norm is not None:
        _renorm_(weight, input, float(max_norm), float(norm_type))
    return _Embedding.apply(weight, (input.long(),), pad, bool(scale_grad_by_freq))  # type: ignore[no-any-return]


def _bag_segments(offsets: list[int], total: int, include_last_offset: bool) -> list[tuple[int, int]]:
    if not offsets:
        return []
    ends = offsets[1:] + ([] if include_last_offset else [total])
    starts = offsets[:-1] if include_last_offset else offsets
    return [(s, min(e, total)) for s, e in zip(starts, ends, strict=True)]


def embedding_bag(
    input: Tensor,
    weight: Tensor,
    offsets: Tensor | None = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Tensor | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> Tensor:
    """Sum, mean or max of bags of embeddings, without materialising the bags' rows as a padded tensor.

    ``input`` 2-D ``(B, L)``: ``B`` bags of length ``L`` (``offsets`` must be ``None``); 1-D: bags
    start at ``offsets`` ``(B,)`` (``(B+1,)`` with ``include_last_offset``). Output ``(B, D)``.
    ``per_sample_weights`` (same shape as ``input``, ``mode='sum'`` only) scale each row.
    Entries equal to ``padding_idx`` are left out (also from a mean's count); an empty bag gives zeros.
    """
    _check_tensor(input, "embedding_bag")
    _check_tensor(weight, "embedding_bag", "weight", 2)
    if weight.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, got {mode!r}")
    if sparse:
        raise NotImplementedError("embedding_bag: sparse=True (sparse gradients) is not supported by plugrad")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(
                "embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for "
                f"mode='sum' (got mode='{mode}'). Please open a feature request on GitHub."
            )
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(
                f"embedding_bag: If per_sample_weights ({tuple(per_sample_weights.shape)}) is not None, then it must "
                f"have the same shape as the input ({tuple(input.shape)})"
            )
    _check_indices(input, "embedding_bag")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(
                "if input is 2D, then offsets has to be None, as input is treated is a mini-batch of fixed length "
                f"sequences. However, found offsets of type {type(offsets)}"
            )
        b, length = input.shape
        offs = [i * length for i in range(b)]
        flat_input = input.reshape(-1)
        psw = per_sample_weights.reshape(-1) if per_sample_weights is not None else None
        include_last_offset = False
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        offs = [int(v) for v in offsets.tolist()]
        if offs and offs[0] != 0:
            raise RuntimeError(
                "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from position 0. "
                f"However, got {offs[0]}"
            )
        if any(a > b for a, b in itertools.pairwise(offs)) or (offs and offs[-1] > input.shape[0]):
            raise RuntimeError(
                f"offsets[-1] can not be greater than input's length {input.shape[0]}, but got offsets[-1] of {offs[-1]}"
                if offs and offs[-1] > input.shape[0]
                else "offsets must be non-decreasing"
            )
        flat_input = input
        psw = per_sample_weights
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    num = weight.shape[0]
    pad = _padding_index(padding_idx, num) if padding_idx is not None else -1
    _check_range(flat_input, num)
    if max_norm is not None:
        _renorm_(weight, flat_input, float(max_norm), float(norm_type))
    segments = _bag_segments(offs, flat_input.shape[0], include_last_offset)
    total = flat_input.shape[0]
    keep = [True] * total
    if pad >= 0:
        keep = [int(v) != pad for v in flat_input.tolist()]
    dev, dt = weight.device, weight.dtype
    flat = flat_input.long()
    if mode == "max":
        longest = max((e - s for s, e in segments), default=0)
        table = []  # (B, longest) positions into the input; unused and padding slots point past its end
        for s, e in segments:
            ids = [i for i in range(s, e) if keep[i]]
            table.append(ids + [total] * (longest - len(ids)))
        box: tuple[Any, ...] = (
            flat,
            plugrad.tensor(table, dtype=plugrad.int64, device=dev).reshape(len(segments), longest),
        )
    else:
        seg, factor = [], []
        for bag, (s, e) in enumerate(segments):
            count = sum(keep[s:e])
            seg += [bag] * (e - s)
            factor += [(1.0 / max(count, 1) if mode == "mean" else 1.0) * keep[i] for i in range(s, e)]
        used = len(seg)  # with include_last_offset, rows after the last offset belong to no bag
        box = (
            flat[:used],
            plugrad.tensor(seg, dtype=plugrad.int64, device=dev),
            plugrad.tensor(factor, dtype=dt, device=dev),
        )
        if psw is not None:
            psw = psw[:used]
    if psw is None:  # still an edge (None, 0) of the node, as in PyTorch
        psw = plugrad.empty(0, dtype=weight.dtype, device=weight.device)
    return _EmbeddingBag.apply(weight, psw, box, mode, len(segments), bool(scale_grad_by_freq))  # type: ignore[no-any-return]


class _EmbeddingBag(Function, backward_name="EmbeddingBagBackward0"):
    """Bags of embedding rows reduced by sum, mean or max, in one node.

    ``box`` holds the integer bookkeeping (not graph edges): for sum/mean the input rows, their bag
    and a per-row factor (``1/count`` for mean, 0 for padding); for max the input rows and a
    ``(B, longest)`` table of row positions. Sum/mean: ``out[b] = sum_r f_r * p_r * W[i_r]`` with
    ``dW[i_r] += f_r * p_r * g[b_r]`` and ``dp_r = f_r * <g[b_r], W[i_r]>``; max: the gradient of each
    output element goes to the row that held the maximum (empty bags give 0).
    """

    _prints_as_builtin = True

    @staticmethod
    def forward(
        ctx: Any, weight: Tensor, psw: Tensor | None, box: tuple[Any, ...], mode: str, nbags: int, by_freq: bool
    ) -> Tensor:
        if psw is not None and psw.ndim == 1 and psw.shape[0] == 0:
            psw = None  # the placeholder that keeps PyTorch's (None, 0) edge for absent per-sample weights
        dim = weight.shape[1]
        ctx.save_for_backward(weight, psw)
        ctx.conf = (box, mode, by_freq)
        if mode == "max":
            flat, table = box
            longest = table.shape[1]
            if longest == 0 or nbags == 0:
                ctx.arg = None
                return plugrad.zeros(nbags, dim, dtype=weight.dtype, device=weight.device)
            ninf = plugrad.full((1, dim), float("-inf"), dtype=weight.dtype, device=weight.device)
            rows = plugrad.cat([weight.index_select(0, flat), ninf], 0)
            gathered = rows.index_select(0, table.reshape(-1)).reshape(nbags, longest, dim)
            arg = gathered.argmax(1)  # (B, D) slot of the maximum
            ctx.arg = arg
            out = gathered.amax(1)
            return out.masked_fill(out == float("-inf"), 0.0)
        flat, segment, factor = box
        f = factor if psw is None else factor * psw.to(factor.dtype)
        rows = weight.index_select(0, flat) * f.unsqueeze(1)
        return _scatter_rows(rows, segment, nbags)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        weight, psw = ctx.saved_tensors
        box, mode, by_freq = ctx.conf
        num, dim = weight.shape
        flat = box[0]
        gw = gp = None
        if mode == "max":
            arg = ctx.arg
            if arg is None:
                return plugrad.zeros_like(weight), None, None, None, None, None
            table = box[1]
            total = flat.shape[0]
            pos = table.gather(1, arg)  # (B, D) position in the input of each maximum
            valid = pos < total
            rows = plugrad.cat([flat, flat.new_zeros(1)]).index_select(0, pos.reshape(-1)).reshape(pos.shape)
            cols = plugrad.arange(dim, device=g.device)
            gw = plugrad.zeros(num * dim, dtype=g.dtype, device=g.device).index_add(
                0, (rows * dim + cols).reshape(-1), (g * valid.to(g.dtype)).reshape(-1)
            )
            return gw.reshape(num, dim), None, None, None, None, None
        _, segment, factor = box
        per_row = g.index_select(0, segment)  # (T, D): each input row's bag gradient
        if ctx.needs_input_grad[0]:
            f = factor if psw is None else factor * psw.to(factor.dtype)
            if by_freq:
                ones = plugrad.ones(flat.shape[0], dtype=g.dtype, device=g.device)
                counts = plugrad.zeros(num, dtype=g.dtype, device=g.device).index_add(0, flat, ones)
                f = f / counts.index_select(0, flat)
            gw = _scatter_rows(per_row * f.unsqueeze(1), flat, num)
        if psw is not None and ctx.needs_input_grad[1]:
            gp = (per_row * weight.index_select(0, flat)).sum(1) * factor
        return gw, gp, None, None, None, None
