"""Packed and padded batches of variable-length sequences (``torch.nn.utils.rnn``).

A batch of sequences of different lengths is stored either *padded*, as one
``(T, B, *)`` tensor (``(B, T, *)`` with ``batch_first``) whose short sequences are
filled with ``padding_value``, or *packed*, as a :class:`PackedSequence`: the
sequences sorted by decreasing length and interleaved time step by time step, so that
``data`` holds, for ``t = 0, 1, ...``, the ``batch_sizes[t]`` elements of the sequences
still running at step ``t`` and no padding at all. The recurrent layers accept packed
input and stop each sequence at its own length.

Every function here is built from differentiable tensor ops, so gradients flow from a
padded result back to the packed data and the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any, NamedTuple

import plugrad
from plugrad import Tensor

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]


class _PackedSequenceBase(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceBase):
    """A packed batch of variable-length sequences (a named tuple, as in PyTorch).

    :ivar data: ``(sum(lengths), *)``, the elements of every sequence, time step by time step.
    :ivar batch_sizes: int64 tensor; ``batch_sizes[t]`` sequences are still running at step ``t``.
    :ivar sorted_indices: how the original batch was sorted by decreasing length
        (``None`` when it already was).
    :ivar unsorted_indices: the inverse permutation, which restores the original order.

    Build one with :func:`pack_padded_sequence` or :func:`pack_sequence` rather than by hand.
    """

    def __new__(
        cls,
        data: Tensor,
        batch_sizes: Tensor | None = None,
        sorted_indices: Tensor | None = None,
        unsorted_indices: Tensor | None = None,
    ) -> PackedSequence:
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            # PackedSequence(*pack_result) passes the two tensors as the first argument
            if isinstance(data, (list, tuple)) and len(data) == 2:
                data, batch_sizes = data
            else:
                raise TypeError("PackedSequence(): batch_sizes must be given")
        if not isinstance(batch_sizes, Tensor):
            batch_sizes = plugrad.tensor(list(batch_sizes), dtype=plugrad.int64)
        if batch_sizes.ndim != 1 or batch_sizes.dtype != plugrad.int64:
            raise ValueError(
                "batch_sizes should always be a 1D int64 tensor, "
                f"but got a {batch_sizes.ndim}-D tensor of dtype {batch_sizes.dtype}"
            )
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """Move or cast ``data`` (and the index tensors to ``data``'s device); ``batch_sizes`` stays on the CPU."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        idx = [None if t is None else t.to(data.device) for t in (self.sorted_indices, self.unsorted_indices)]
        return type(self)(data, self.batch_sizes, idx[0], idx[1])

    def cpu(self) -> PackedSequence:
        """``data`` (and the index tensors) moved to the CPU (``self`` when already there)."""
        return self.to("cpu")

    def cuda(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``data`` (and the index tensors) moved to the CUDA device."""
        return self.to("cuda")

    def double(self) -> PackedSequence:
        """``data`` cast to ``float64`` (``self`` when it already has that dtype)."""
        return self.to(dtype=plugrad.float64)

    def float(self) -> PackedSequence:
        """``data`` cast to ``float32`` (``self`` when it already has that dtype)."""
        return self.to(dtype=plugrad.float32)

    def half(self) -> PackedSequence:
        """``data`` cast to ``float16`` (``self`` when it already has that dtype)."""
        return self.to(dtype=plugrad.float16)

    @property
    def is_cuda(self) -> bool:
        return bool(self.data.is_cuda)

    def is_pinned(self) -> bool:
        """Whether ``data`` is in pinned memory: always ``False`` (plugrad does not pin memory)."""
        return False


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The permutation ``inv`` with ``inv[permutation[i]] = i`` (``None`` stays ``None``)."""
    if permutation is None:
        return None
    inv = plugrad.empty_like(permutation)
    inv.scatter_(0, permutation, plugrad.arange(permutation.numel(), device=permutation.device))
    return inv


def _lengths_list(lengths: Any, batch: int) -> list[int]:
    if isinstance(lengths, Tensor):
        if lengths.ndim != 1 or lengths.dtype == plugrad.bool:
            kind = lengths.dtype.to_legacy_type_name()[: -len("Tensor")]
            raise RuntimeError(
                "'lengths' argument should be a 1D CPU int64 tensor, "
                f"but got {lengths.ndim}D {lengths.device.type} {kind} tensor"
            )
        values = [int(v) for v in lengths.tolist()]  # as PyTorch, other number types are converted
    else:
        try:
            values = [int(v) for v in lengths]
        except (TypeError, ValueError):
            raise TypeError(
                f"pack_padded_sequence(): lengths must be a 1D int64 tensor or a list of ints, not {type(lengths).__name__}"
            ) from None
    if len(values) != batch:
        raise RuntimeError(
            f"Expected `len(lengths)` to be equal to batch_size, but got {len(values)} (batch_size={batch})"
        )
    return values


def _batch_sizes(lengths: Sequence[int]) -> list[int]:
    """``batch_sizes[t]`` = how many of the (decreasingly sorted) ``lengths`` exceed ``t``."""
    out: list[int] = []
    n = len(lengths)
    for t in range(lengths[0] if lengths else 0):
        while n and lengths[n - 1] <= t:
            n -= 1
        out.append(n)
    return out


def pack_padded_sequence(
    input: Tensor, lengths: Tensor | list[int], batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Pack a padded ``(T, B, *)`` batch (``(B, T, *)`` with ``batch_first``) whose sequence ``b`` has ``lengths[b]`` steps.

    With ``enforce_sorted=True`` the lengths must already decrease; otherwise the batch is
    sorted here and the permutation is kept in the result (``sorted_indices``).
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"pack_padded_sequence(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence(): expected input of at least 2 dimensions, got {input.ndim}")
    batch_dim = 0 if batch_first else 1
    values = _lengths_list(lengths, input.shape[batch_dim])
    if enforce_sorted:
        if any(a < b for a, b in pairwise(values)):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
                "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement "
                "if you do not need ONNX exportability."
            )
        sorted_indices = None
        order = list(range(len(values)))
    else:
        order = sorted(range(len(values)), key=lambda i: -values[i])  # stable, as PyTorch's sort
        sorted_indices = plugrad.tensor(order, dtype=plugrad.int64, device=input.device)
        input = input.index_select(batch_dim, sorted_indices)
    ordered = [values[i] for i in order]
    if ordered and ordered[-1] <= 0:
        raise RuntimeError(
            "Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0"
        )
    steps = input.shape[1 - batch_dim]
    if ordered and ordered[0] > steps:
        raise RuntimeError(
            f"pack_padded_sequence(): a length ({ordered[0]}) exceeds the padded sequence length ({steps})"
        )
    if batch_first:
        input = input.transpose(0, 1)
    sizes = _batch_sizes(ordered)
    pieces = [input[t] if bs == input.shape[1] else input[t, :bs] for t, bs in enumerate(sizes)]
    data = plugrad.cat(pieces, 0) if pieces else input.reshape(0, *input.shape[2:])
    return PackedSequence(data, plugrad.tensor(sizes, dtype=plugrad.int64), sorted_indices, None)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The inverse of :func:`pack_padded_sequence`: ``(padded, lengths)``, in the original batch order.

    ``total_length`` pads the time dimension further (at least the longest length).
    """
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence(): expected a PackedSequence, got {type(sequence).__name__}")
    data = sequence.data
    sizes = [int(v) for v in sequence.batch_sizes.tolist()]
    batch = sizes[0] if sizes else 0
    max_len = len(sizes)
    if total_length is not None:
        if total_length < max_len:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {max_len}"
            )
    else:
        total_length = max_len
    feature = tuple(data.shape[1:])
    rows: list[Tensor] = []
    offset = 0
    for bs in sizes:
        chunk = data[offset : offset + bs]
        offset += bs
        if bs < batch:
            fill = plugrad.full((batch - bs, *feature), padding_value, dtype=data.dtype, device=data.device)
            chunk = plugrad.cat([chunk, fill], 0)
        rows.append(chunk)
    for _ in range(total_length - max_len):
        rows.append(plugrad.full((batch, *feature), padding_value, dtype=data.dtype, device=data.device))
    padded = plugrad.stack(rows, 0) if rows else data.new_zeros((0, 0, *feature))
    lengths = [sum(1 for bs in sizes if bs > b) for b in range(batch)]
    lengths_t = plugrad.tensor(lengths, dtype=plugrad.int64)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths_t = lengths_t.index_select(0, sequence.unsorted_indices.to("cpu"))
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, lengths_t


def pad_sequence(
    sequences: Tensor | Iterable[Tensor],
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stack tensors of shapes ``(L_i, *)`` into ``(max L, B, *)`` (``(B, max L, *)`` with ``batch_first``).

    Shorter sequences are filled with ``padding_value`` after their end
    (``padding_side="right"``) or before their start (``"left"``).
    """
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    seqs = list(sequences.unbind(0)) if isinstance(sequences, Tensor) else list(sequences)
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    for s in seqs:
        if not isinstance(s, Tensor):
            raise TypeError(f"pad_sequence(): expected a sequence of Tensors, got {type(s).__name__}")
        if s.ndim == 0:
            raise RuntimeError("pad_sequence(): every sequence must have at least one dimension (its length)")
    trailing = tuple(seqs[0].shape[1:])
    for s in seqs[1:]:
        if tuple(s.shape[1:]) != trailing:
            for i, (a, b) in enumerate(zip(trailing, s.shape[1:])):
                if a != b:
                    raise RuntimeError(
                        f"The size of tensor a ({a}) must match the size of tensor b ({b}) "
                        f"at non-singleton dimension {i + 1}"
                    )
            raise RuntimeError(
                f"pad_sequence(): sequences have different numbers of dimensions: {trailing} and {tuple(s.shape[1:])}"
            )
    max_len = max(s.shape[0] for s in seqs)
    out = []
    for s in seqs:
        short = max_len - s.shape[0]
        if short:
            fill = plugrad.full((short, *trailing), padding_value, dtype=s.dtype, device=s.device)
            s = plugrad.cat([s, fill] if padding_side == "right" else [fill, s], 0)
        out.append(s)
    return plugrad.stack(out, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths: Tensor | list[int], batch_first: bool = False) -> list[Tensor]:
    """Split a padded batch into a list of its sequences, ``lengths[b]`` steps each."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    values = _lengths_list(lengths, padded_sequences.shape[0])
    return [padded_sequences[b, :n] for b, n in enumerate(values)]


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors of shapes ``(L_i, *)`` (``pad_sequence`` then ``pack_padded_sequence``)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of tensors a :class:`PackedSequence` was packed from, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
