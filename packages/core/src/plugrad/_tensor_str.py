"""Text rendering of tensors, character for character as PyTorch 2.x prints them.

:func:`format_tensor` turns anything that looks like a tensor (see
:class:`_Formattable`) into the string PyTorch's ``repr(tensor)`` would give for
the same shape, kind of element and values. It is pure Python: the values are
read through ``tolist()`` (and, for large tensors, plain indexing), never through
an array library.

The rules, in short:

* Every element is printed with one shared width, so columns line up.
* Integers and booleans print as Python does (``7``, ``True``).
* Floats whose finite non-zero values are all integral print as ``1.``;
  otherwise with ``precision`` decimals (``1.1667``). Scientific notation
  (``1.0000e-05``) is used when the largest finite non-zero magnitude is over
  ``1e8``, the smallest is under ``1e-4``, or their ratio is over 1000, unless
  :func:`set_printoptions` forces it on or off.
* Tensors with more than ``threshold`` elements are summarised: along each
  dimension longer than ``2 * edgeitems`` only the first and last ``edgeitems``
  entries are shown, with ``...`` between them.
* Rows wrap so that a line holds as many elements as fit in ``linewidth``.
* Suffixes such as ``dtype=...`` follow the data after ``", "``, moving to a
  new line, indented under the opening parenthesis, when the line would get
  longer than ``linewidth``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Sequence
from typing import Protocol, TypeAlias

__all__ = [
    "format_tensor",
    "get_printoptions",
    "printoptions",
    "set_printoptions",
]


class _Formattable(Protocol):
    """What :func:`format_tensor` needs from a tensor."""

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dimension."""
        ...

    @property
    def dtype_kind(self) -> str:
        """``"float"``, ``"int"`` or ``"bool"``."""
        ...

    def tolist(self) -> object:
        """The values as nested Python lists, or a bare scalar when 0-d."""
        ...

    def __getitem__(self, key: int | slice, /) -> _Formattable:
        """The sub-tensor at ``key`` along the first dimension."""
        ...


# ---------------------------------------------------------------------------
# Print options
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class _PrintOptions:
    """The settings that :func:`set_printoptions` changes."""

    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


_OPTIONS = _PrintOptions()

_PROFILES: dict[str, _PrintOptions] = {
    "default": _PrintOptions(precision=4, threshold=1000, edgeitems=3, linewidth=80),
    "short": _PrintOptions(precision=2, threshold=1000, edgeitems=2, linewidth=80),
    "full": _PrintOptions(precision=4, threshold=math.inf, edgeitems=3, linewidth=80),
}


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Change how tensors print, like ``torch.set_printoptions``.

    Args:
        precision: digits after the decimal point for floats (default 4).
        threshold: element count above which a tensor is summarised (default 1000).
        edgeitems: entries kept at each end of a summarised dimension (default 3).
        linewidth: characters per line before wrapping (default 80).
        profile: ``"default"``, ``"short"`` or ``"full"``; applied first, so the
            other arguments override it.
        sci_mode: ``True`` or ``False`` forces scientific notation on or off;
            ``None`` lets the values decide. As in PyTorch, this one is always
            set, so leaving it out switches back to automatic.

    Raises:
        ValueError: for an unknown ``profile``.
    """
    if profile is not None:
        try:
            preset = _PROFILES[profile]
        except KeyError:
            known = ", ".join(repr(name) for name in _PROFILES)
            raise ValueError(f"unknown print profile {profile!r}; expected one of {known}") from None
        _OPTIONS.precision = preset.precision
        _OPTIONS.threshold = preset.threshold
        _OPTIONS.edgeitems = preset.edgeitems
        _OPTIONS.linewidth = preset.linewidth
    if precision is not None:
        _OPTIONS.precision = precision
    if threshold is not None:
        _OPTIONS.threshold = threshold
    if edgeitems is not None:
        _OPTIONS.edgeitems = edgeitems
    if linewidth is not None:
        _OPTIONS.linewidth = linewidth
    _OPTIONS.sci_mode = sci_mode


def get_printoptions() -> dict[str, object]:
    """The current print options, as keyword arguments for :func:`set_printoptions`."""
    return dataclasses.asdict(_OPTIONS)


@contextlib.contextmanager
def printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> Iterator[None]:
    """Change the print options inside a ``with`` block only."""
    saved = dataclasses.replace(_OPTIONS)
    set_printoptions(precision, threshold, edgeitems, linewidth, profile, sci_mode)
    try:
        yield
    finally:
        for field in dataclasses.fields(_PrintOptions):
            setattr(_OPTIONS, field.name, getattr(saved, field.name))


# ---------------------------------------------------------------------------
# Reading the values
# ---------------------------------------------------------------------------


class _Elided:
    """Marks where a summarised dimension leaves entries out."""

    def __repr__(self) -> str:
        return "..."


_ELIDED = _Elided()

_Scalar: TypeAlias = "bool | int | float"
_Nested: TypeAlias = "_Scalar | _Elided | list[_Nested]"

_KINDS = ("float", "int", "bool")


def _normalise(value: object, kind: str) -> _Nested:
    """Check ``tolist()`` output and turn each element into the kind's Python type."""
    if isinstance(value, list):
        return [_normalise(item, kind) for item in value]
    if isinstance(value, (bool, int, float)):
        if kind == "float":
            return float(value)
        if kind == "int":
            return int(value)
        return bool(value)
    raise TypeError(f"tolist() gave a {type(value).__name__}; expected nested lists of numbers")


def _read_values(t: _Formattable, shape: tuple[int, ...], kind: str, edgeitems: int) -> _Nested:
    """The entries a summarised print shows, with :data:`_ELIDED` where others are left out."""
    if len(shape) == 0:
        return _normalise(t.tolist(), kind)
    size = shape[0]
    if size > 2 * edgeitems:
        head, tail = range(edgeitems), range(size - edgeitems, size)
        if len(shape) == 1:
            first = _normalise(t[0:edgeitems].tolist(), kind) if edgeitems else []
            last = _normalise(t[size - edgeitems : size].tolist(), kind) if edgeitems else []
            assert isinstance(first, list) and isinstance(last, list)
            return [*first, _ELIDED, *last]
        return [
            *(_read_values(t[i], shape[1:], kind, edgeitems) for i in head),
            _ELIDED,
            *(_read_values(t[i], shape[1:], kind, edgeitems) for i in tail),
        ]
    if len(shape) == 1:
        return _normalise(t.tolist(), kind)
    return [_read_values(t[i], shape[1:], kind, edgeitems) for i in range(size)]


def _scalars(data: _Nested) -> Iterator[_Scalar]:
    """Every element in ``data``, in order, skipping :data:`_ELIDED` markers."""
    if isinstance(data, list):
        for item in data:
            yield from _scalars(item)
    elif not isinstance(data, _Elided):
        yield data


# ---------------------------------------------------------------------------
# Formatting single elements
# ---------------------------------------------------------------------------


class _ElementFormatter:
    """Chooses one style and width for all elements of a tensor, then applies it."""

    def __init__(self, kind: str, values: Sequence[_Scalar], options: _PrintOptions) -> None:
        self.kind = kind
        self.precision = options.precision
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        if kind != "float":
            self.width = max([1, *(len(self._plain(value)) for value in values)])
            return

        # Style and width come from the finite non-zero values only; zeros and
        # non-finite values simply print at whatever width they get.
        significant = [float(v) for v in values if v != 0 and math.isfinite(v)]
        if not significant:
            return
        self.int_mode = all(v.is_integer() for v in significant)
        largest = max(abs(v) for v in significant)
        smallest = min(abs(v) for v in significant)
        if options.sci_mode is None:
            self.sci_mode = largest / smallest > 1000.0 or largest > 1.0e8 or smallest < 1.0e-4
        else:
            self.sci_mode = options.sci_mode

        if self.sci_mode:
            texts = [format(v, f".{self.precision}e") for v in significant]
        elif self.int_mode:
            # Room for the "." that marks an integral float.
            texts = [format(v, ".0f") + "." for v in significant]
        else:
            texts = [format(v, f".{self.precision}f") for v in significant]
        self.width = max(len(text) for text in texts)

    def _plain(self, value: _Scalar) -> str:
        """An element of an integer or boolean tensor."""
        return str(bool(value)) if self.kind == "bool" else str(int(value))

    def __call__(self, value: _Scalar) -> str:
        """``value`` formatted and right-aligned to the shared width."""
        if self.kind != "float":
            text = self._plain(value)
        elif self.sci_mode:
            text = format(float(value), f"{self.width}.{self.precision}e")
        elif self.int_mode:
            text = format(float(value), ".0f")
            if math.isfinite(value):
                text += "."
        else:
            text = format(float(value), f".{self.precision}f")
        return text.rjust(self.width)


# ---------------------------------------------------------------------------
# Laying out the nested brackets
# ---------------------------------------------------------------------------


def _layout(data: _Nested, ndim: int, indent: int, fmt: _ElementFormatter, options: _PrintOptions) -> str:
    """The bracketed text of ``data``, whose first line starts at column ``indent``."""
    if not isinstance(data, list):
        if isinstance(data, _Elided):
            raise TypeError("an elided marker cannot stand for a whole tensor")
        return fmt(data)
    if ndim == 1:
        return _layout_row(data, indent, fmt, options)
    parts = ["..." if isinstance(item, _Elided) else _layout(item, ndim - 1, indent + 1, fmt, options) for item in data]
    # Blocks of a 3-d (or higher) tensor are separated by ndim - 2 blank lines.
    separator = "," + "\n" * (ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(parts) + "]"


def _layout_row(data: list[_Nested], indent: int, fmt: _ElementFormatter, options: _PrintOptions) -> str:
    """A 1-d row, wrapped so each line holds as many elements as fit."""
    # A lone marker (edgeitems == 0) has no leading space.
    gap = " ..." if options.edgeitems else "..."
    items: list[str] = []
    for item in data:
        if isinstance(item, _Elided):
            items.append(gap)
        elif isinstance(item, list):
            raise TypeError("a row holds scalars only")
        else:
            items.append(fmt(item))
    # Each element also takes ", " after it.
    per_line = max(1, (options.linewidth - indent) // (fmt.width + 2))
    lines = [", ".join(items[start : start + per_line]) for start in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _join_suffixes(text: str, suffixes: Sequence[str], indent: int, linewidth: int) -> str:
    """``text`` followed by ``, suffix`` for each suffix, wrapping long lines, and ``)``."""
    pieces = [text]
    # PyTorch reckons the last line two characters longer than it is; the
    # same count is kept here so that suffixes wrap at the same points.
    line_length = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if line_length + len(suffix) + 2 > linewidth:
            pieces.append(",\n" + " " * indent + suffix)
            line_length = indent + len(suffix)
        else:
            pieces.append(", " + suffix)
            line_length += len(suffix) + 2
    pieces.append(")")
    return "".join(pieces)


def _with_size_suffix(suffixes: Sequence[str], shape: tuple[int, ...]) -> list[str]:
    """``suffixes`` with ``size=(...)`` inserted where PyTorch puts it: after any device."""
    result = list(suffixes)
    position = 0
    while position < len(result) and result[position].startswith("device="):
        position += 1
    result.insert(position, f"size={tuple(shape)}")
    return result


def format_tensor(t: _Formattable, *, prefix: str = "tensor(", suffixes: Sequence[str] = ()) -> str:
    """Render ``t`` exactly as PyTorch's ``repr`` renders a tensor of the same values.

    Args:
        t: the tensor (anything with ``shape``, ``dtype_kind``, ``tolist()`` and
            indexing along the first dimension by int or step-1 slice).
        prefix: the text before the data; continuation lines are indented by
            its length.
        suffixes: extra ``key=value`` parts, in order, such as
            ``"dtype=plugrad.float64"`` or ``"grad_fn=<MulBackward0>"``. The
            ``size=(...)`` part PyTorch shows for empty tensors that are not
            1-d (and for every tensor when ``edgeitems`` is 0) is added here,
            ahead of them.

    Returns:
        The full text, from ``prefix`` to the closing parenthesis.

    Raises:
        ValueError: if ``t.dtype_kind`` is not ``"float"``, ``"int"`` or ``"bool"``.
        TypeError: if ``t.tolist()`` gives something other than nested numbers.
    """
    options = _OPTIONS
    kind = t.dtype_kind
    if kind not in _KINDS:
        raise ValueError(f"cannot print elements of kind {kind!r}; expected one of {_KINDS}")
    shape = tuple(t.shape)
    indent = len(prefix)
    numel = math.prod(shape)

    if numel == 0:
        body = "[]"
        if len(shape) != 1:
            suffixes = _with_size_suffix(suffixes, shape)
    else:
        if not options.edgeitems:
            suffixes = _with_size_suffix(suffixes, shape)
        if numel > options.threshold:
            data = _read_values(t, shape, kind, options.edgeitems)
        else:
            data = _normalise(t.tolist(), kind)
        fmt = _ElementFormatter(kind, list(_scalars(data)), options)
        body = _layout(data, len(shape), indent, fmt, options)

    return _join_suffixes(prefix + body, suffixes, indent, options.linewidth)
