"""Pure-Python reader/writer for the safetensors file format.

This module uses only the standard library (no numpy, no ``safetensors``
package, no pickle).  It is the storage layer behind ``plugrad.save`` and
``plugrad.load``.

File layout
-----------
A safetensors file is::

    [8 bytes]  N, the header length, unsigned 64-bit little-endian
    [N bytes]  UTF-8 JSON object, padded with spaces to a multiple of 8
    [rest]     the data buffer

The header maps each tensor name to
``{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}``, where
the offsets are relative to the start of the data buffer; the optional
``"__metadata__"`` entry maps strings to strings.  Tensor data are stored
row-major and little-endian.  The tensors must cover the data buffer exactly:
no gaps, no overlaps, no trailing bytes.

:func:`dumps` writes tensors in order of decreasing item size, then by name,
so every tensor starts at an offset that is a multiple of its item size (and
the buffer starts at an 8-byte aligned file offset).

:func:`loads` and :func:`load_file` validate everything before touching the
data and raise :class:`SafetensorsError` (a :class:`ValueError`) naming the
problem and the tensor or key involved.  No allocation is ever sized from a
claimed length before that length has been checked against the real size of
the buffer or file.  Tensors returned by :func:`loads` are zero-copy,
read-only ``memoryview`` slices of the input; :func:`load_file` reads the
file once and returns read-only slices of that copy.

:func:`save_file` is atomic: it writes a temporary file in the destination
directory, flushes and fsyncs it, ``os.replace``-s it onto the destination and
fsyncs the directory.  If anything fails the temporary file is removed; if the
process dies at any point the previous file at the destination is intact
(a stray ``.NAME.XXXX.tmp`` file may be left behind only after a hard kill).
A symlink at the destination is replaced by the new file, not followed.

Nested structures (``flatten_state`` / ``unflatten_state``)
-----------------------------------------------------------
Arbitrary nests of dicts (``str`` or ``int`` keys), lists and tuples whose
leaves are tensors (:class:`RawTensor`, or any object an ``encode`` hook turns
into one), ``None``, ``bool``, ``int``, ``float`` and ``str`` are stored
without pickle:

* every tensor goes into the ordinary tensor table under its *path*: the keys
  and indices leading to it joined with ``"."`` (``"layers.0.weight"``), so
  other tools see a normal flat state dict.  A path that is already taken (or
  equals ``"__metadata__"``) gets a ``"#1"``, ``"#2"``, ... suffix; a
  top-level tensor is named ``"tensor"``.  The same tensor *object* appearing
  several times is stored once, and comes back as one object.
* the rest of the structure goes into the metadata as one compact JSON string
  under the reserved key ``"plugrad.structure"`` (:data:`STRUCTURE_KEY`)::

      {"version": 1, "root": NODE}

  where ``NODE`` is one of

  * ``null`` / ``true`` / ``false``: ``None`` / ``True`` / ``False``;
  * a JSON string: a ``str``;
  * a JSON integer: an ``int`` with ``-2**63 <= v < 2**64``;
  * ``{"int": "-0x1f"}``: any other ``int``, as ``hex(v)``;
  * a JSON number with ``.`` or ``e``: a finite ``float`` (written with
    ``repr``, so exact, ``-0.0`` included);
  * ``{"float": "000000000000f87f"}``: ``nan``, ``inf`` or ``-inf``, as the 8
    IEEE-754 bytes (little-endian) in hex, so sign and NaN payload survive;
  * a JSON array of NODEs: a ``list``;
  * ``{"tuple": [NODE, ...]}``: a ``tuple``;
  * ``{"dict": [[KEY, NODE], ...]}``: a ``dict``, in insertion order; ``KEY``
    is a JSON string, a JSON integer or an ``{"int": ...}`` object;
  * ``{"tensor": "name"}``: a tensor, by its name in the tensor table.

Subclasses (``OrderedDict``, named tuples, ``IntEnum`` ...) come back as
their base builtin type.  Containers shared between several places are stored
once per place; cycles are rejected.  :func:`unflatten_state` on a file
without the structure key (for example one written by another tool) returns
the plain flat ``dict`` name -> tensor.  Other metadata keys are ignored by
:func:`unflatten_state` and may be used freely.
"""

from __future__ import annotations

import errno
import json
import math
import operator
import os
import re
import secrets
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, NoReturn

__all__ = [
    "ITEMSIZE",
    "MAX_HEADER_SIZE",
    "STRUCTURE_KEY",
    "Leaf",
    "RawTensor",
    "SafetensorsError",
    "dumps",
    "flatten_state",
    "load_file",
    "loads",
    "save_file",
    "unflatten_state",
]

#: Bytes per element of each safetensors dtype code.
ITEMSIZE: dict[str, int] = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}

#: Largest header accepted (same bound as the reference implementation).
MAX_HEADER_SIZE = 100_000_000

#: Reserved metadata key holding the JSON structure written by flatten_state.
STRUCTURE_KEY = "plugrad.structure"
_STRUCTURE_VERSION = 1
_METADATA_KEY = "__metadata__"
_ENTRY_FIELDS = ("dtype", "shape", "data_offsets")


class SafetensorsError(ValueError):
    """A safetensors file (or the data to write into one) is invalid."""


def _fail(msg: str) -> NoReturn:
    raise SafetensorsError(msg)


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_text(s: str, what: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        _fail(f"{what} {s!r} is not valid Unicode (contains a lone surrogate)")


def _numel_capped(shape: Sequence[int], cap: int) -> int:
    """Product of ``shape``; once it exceeds ``cap`` any value > cap is returned.

    Bounds the work done on hostile shapes with huge dimensions.
    """
    if 0 in shape:
        return 0
    n = 1
    for d in shape:
        n *= d
        if n > cap:
            return n
    return n


@dataclass(frozen=True, repr=False)
class RawTensor:
    """A tensor as stored in a safetensors file.

    ``dtype`` is a safetensors dtype code (a key of :data:`ITEMSIZE`),
    ``shape`` a tuple of non-negative ints and ``data`` the little-endian
    row-major bytes, exactly ``prod(shape) * ITEMSIZE[dtype]`` long.  A list
    shape is converted to a tuple; a non-byte ``memoryview``/``bytearray``
    is viewed as flat unsigned bytes (copied only if not contiguous).
    """

    dtype: str
    shape: tuple[int, ...]
    data: bytes | memoryview

    def __post_init__(self) -> None:
        dtype = self.dtype
        if not isinstance(dtype, str) or dtype not in ITEMSIZE:
            _fail(f"unknown dtype {dtype!r}; expected one of {sorted(ITEMSIZE)}")
        raw_shape: object = self.shape
        if not isinstance(raw_shape, (tuple, list)):
            raise TypeError(f"shape must be a tuple of ints, got {type(raw_shape).__name__}")
        try:
            if any(isinstance(d, bool) for d in raw_shape):
                raise TypeError
            shape = tuple(operator.index(d) for d in raw_shape)
        except TypeError:
            raise TypeError(f"shape must be a tuple of ints, got {raw_shape!r}") from None
        if any(d < 0 for d in shape):
            _fail(f"negative dimension in shape {shape}")
        data: object = self.data
        if isinstance(data, bytes):
            view: bytes | memoryview = data
        elif isinstance(data, (bytearray, memoryview)):
            mv = memoryview(data)
            if mv.format == "B" and mv.ndim == 1:
                view = mv
            elif mv.c_contiguous:
                view = mv.cast("B")
            else:
                view = mv.tobytes()
        else:
            raise TypeError(f"data must be bytes or memoryview, got {type(data).__name__}")
        nbytes = len(view)
        expected = math.prod(shape) * ITEMSIZE[dtype]
        if nbytes != expected:
            _fail(f"data has {nbytes} bytes but shape {shape} of {dtype} needs {expected} bytes")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "data", view)

    @property
    def nbytes(self) -> int:
        """Length of ``data`` in bytes."""
        return len(self.data)

    @property
    def numel(self) -> int:
        """Number of elements (``prod(shape)``)."""
        return math.prod(self.shape)

    def __repr__(self) -> str:
        return f"RawTensor(dtype={self.dtype!r}, shape={self.shape!r}, nbytes={self.nbytes})"


#: Values of the tensor table produced by :func:`flatten_state`.
Leaf = RawTensor

_Entry = tuple[str, str, tuple[int, ...], int, int]  # name, dtype, shape, begin, end


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------


def _prepare(
    tensors: Mapping[str, RawTensor], metadata: Mapping[str, str] | None
) -> tuple[bytes, list[bytes | memoryview]]:
    """Validate the input; return (length prefix + padded header, data chunks)."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"tensors must be a mapping, got {type(tensors).__name__}")
    items: list[tuple[str, RawTensor]] = []
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor name {name!r} is not a string")
        if name == _METADATA_KEY:
            _fail(f"tensor name {_METADATA_KEY!r} is reserved")
        _check_text(name, "tensor name")
        if not isinstance(t, RawTensor):
            raise TypeError(f"tensor {name!r}: expected RawTensor, got {type(t).__name__}")
        items.append((name, t))
    items.sort(key=lambda it: (-ITEMSIZE[it[1].dtype], it[0]))

    header: dict[str, object] = {}
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise TypeError(f"metadata must be a mapping, got {type(metadata).__name__}")
        md: dict[str, str] = {}
        for k, v in metadata.items():
            if not isinstance(k, str):
                raise TypeError(f"metadata key {k!r} is not a string")
            if not isinstance(v, str):
                raise TypeError(f"metadata value for key {k!r} is not a string")
            _check_text(k, "metadata key")
            _check_text(v, f"metadata value for key {k!r}")
            md[k] = v
        if md:
            header[_METADATA_KEY] = md

    chunks: list[bytes | memoryview] = []
    offset = 0
    for name, t in items:
        end = offset + t.nbytes
        header[name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [offset, end]}
        chunks.append(t.data)
        offset = end

    hb = json.dumps(header, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    raw = hb.encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    if len(raw) > MAX_HEADER_SIZE:
        _fail(f"header would be {len(raw)} bytes, more than the limit of {MAX_HEADER_SIZE}")
    return struct.pack("<Q", len(raw)) + raw, chunks


def dumps(tensors: Mapping[str, RawTensor], metadata: Mapping[str, str] | None = None) -> bytes:
    """Serialize ``tensors`` (and optional string ``metadata``) to safetensors bytes."""
    head, chunks = _prepare(tensors, metadata)
    return b"".join([head, *chunks])


def _fsync_dir(directory: str) -> None:
    if os.name == "nt":  # directories cannot be opened/fsynced on Windows
        return
    ignorable = {errno.EINVAL, errno.EACCES, errno.EPERM, errno.EBADF, errno.EISDIR}
    ignorable.update(getattr(errno, n) for n in ("ENOTSUP", "EOPNOTSUPP") if hasattr(errno, n))
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as e:
        if e.errno in ignorable:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in ignorable:
            raise
    finally:
        os.close(fd)


def _open_temp(directory: str, base: str) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    stem = base[:100]
    for _ in range(100):
        tmp = os.path.join(directory, f".{stem}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "could not create a unique temporary file", directory)


def save_file(
    tensors: Mapping[str, RawTensor],
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Atomically write ``tensors`` to ``path`` in safetensors format.

    The data go to a temporary file in the same directory which is flushed,
    fsynced and then ``os.replace``-d onto ``path``; the directory is fsynced
    afterwards.  On error the temporary file is removed and any previous file
    at ``path`` is untouched.  The mode of an existing regular file at
    ``path`` is kept; a new file gets ``0o666`` minus the umask.
    """
    head, chunks = _prepare(tensors, metadata)  # validate before touching disk

    def write(f: IO[bytes]) -> None:
        f.write(head)
        for chunk in chunks:
            f.write(chunk)

    _atomic_write(path, write, keep_mode=True)


def _atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[IO[bytes]], None],
    *,
    keep_mode: bool = False,
    file_mode: str = "wb",
) -> None:
    """Run ``write`` on a temporary file beside ``path``, then ``os.replace`` it onto ``path``.

    The temporary file is flushed and fsynced before the replace and the directory is
    fsynced after it; on error the temporary file is removed and any previous file at
    ``path`` is untouched. With ``keep_mode`` an existing file's permission bits are kept.
    ``file_mode`` is the mode given to :func:`os.fdopen` for the temporary file.
    """
    target = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(target)
    old_mode: int | None = None
    if keep_mode:
        try:
            old_mode = os.stat(target).st_mode & 0o7777
        except OSError:
            pass
    fd, tmp = _open_temp(directory, base)
    try:
        f: IO[bytes]
        with os.fdopen(fd, file_mode) as f:
            if old_mode is not None and hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), old_mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------


def _json_type(x: object) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, (int, float)):
        return "number"
    if isinstance(x, str):
        return "string"
    if isinstance(x, list):
        return "array"
    return "object"


def _no_duplicates(where: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                _fail(f"duplicate key {k!r} in {where}")
            out[k] = v
        return out

    return hook


def _reject_constant(name: str) -> NoReturn:
    _fail(f"non-standard JSON constant {name!r}")


_MAX_JSON_DEPTH = 256
_JSON_TOKEN = re.compile(r'[\[\]{}"]')


def _check_depth(text: str, where: str) -> None:
    """Refuse JSON nested deeper than :data:`_MAX_JSON_DEPTH` before parsing it: the parser's
    recursion would otherwise cost memory and time in proportion to a hostile depth.

    A scan from token to token (brackets and string quotes) that allocates nothing that
    outlives one step; skipped entirely when there are too few brackets to nest that deep.
    """
    if text.count("[") + text.count("{") <= _MAX_JSON_DEPTH:
        return
    depth, pos = 0, 0
    search, find = _JSON_TOKEN.search, text.find
    while True:
        m = search(text, pos)
        if m is None:
            return
        ch = m.group()
        if ch == '"':  # skip the string: its closing quote is the first one after an even run of backslashes
            end = m.end()
            while True:
                end = find('"', end)
                if end < 0:
                    return  # an unterminated string: the parser reports it
                k = end
                while k > 0 and text[k - 1] == "\\":
                    k -= 1
                end += 1
                if (end - 1 - k) % 2 == 0:
                    break
            pos = end
            continue
        depth += 1 if ch in "[{" else -1
        if depth > _MAX_JSON_DEPTH:
            raise SafetensorsError(f"{where} is not valid JSON: nested deeper than {_MAX_JSON_DEPTH} levels")
        pos = m.end()


def _parse_json(text: str, where: str) -> Any:
    _check_depth(text, where)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates(where), parse_constant=_reject_constant)
    except SafetensorsError as e:
        raise SafetensorsError(f"{where} is invalid: {e}") from None
    except (ValueError, RecursionError) as e:
        raise SafetensorsError(f"{where} is not valid JSON: {e}") from None


def _check_header_len(n: int, available: int) -> None:
    if n > MAX_HEADER_SIZE:
        _fail(f"header length {n} is absurd (limit is {MAX_HEADER_SIZE} bytes)")
    if n > available:
        _fail(f"header length {n} is larger than the file: only {available} bytes follow the 8-byte length prefix")


def _parse_header(raw: bytes, buffer_len: int) -> tuple[list[_Entry], dict[str, str]]:
    """Validate a header against a data buffer of ``buffer_len`` bytes."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SafetensorsError(f"header is not valid UTF-8: {e}") from None
    obj = _parse_json(text, "header")
    if not isinstance(obj, dict):
        _fail(f"header must be a JSON object, got a JSON {_json_type(obj)}")

    metadata: dict[str, str] = {}
    entries: list[_Entry] = []
    for name, info in obj.items():
        _check_text(name, "header key")
        if name == _METADATA_KEY:
            if info is None:
                continue
            if not isinstance(info, dict):
                _fail(f"{_METADATA_KEY!r} must be a JSON object, got a JSON {_json_type(info)}")
            for k, v in info.items():
                _check_text(k, "metadata key")
                if not isinstance(v, str):
                    _fail(f"metadata value for key {k!r} is not a string (got a JSON {_json_type(v)})")
                _check_text(v, f"metadata value for key {k!r}")
            metadata = dict(info)
            continue
        entries.append(_parse_entry(name, info, buffer_len))

    cursor = 0
    prev: str | None = None
    for name, _dtype, _shape, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin < cursor:
            _fail(f"tensor {name!r} (data_offsets [{begin}, {end}]) overlaps tensor {prev!r}, which ends at {cursor}")
        if begin > cursor:
            after = f"after tensor {prev!r}" if prev is not None else "at the start of the buffer"
            _fail(
                f"gap of {begin - cursor} unused bytes in the data buffer {after} "
                f"(bytes {cursor}..{begin}, before tensor {name!r})"
            )
        cursor = end
        prev = name
    if cursor != buffer_len:
        _fail(
            f"data buffer has {buffer_len - cursor} trailing bytes not covered by any "
            f"tensor (tensors end at {cursor}, buffer is {buffer_len} bytes)"
        )
    return entries, metadata


def _parse_entry(name: str, info: object, buffer_len: int) -> _Entry:
    where = f"tensor {name!r}"
    if not isinstance(info, dict):
        _fail(f"{where}: entry must be a JSON object, got a JSON {_json_type(info)}")
    missing = [f for f in _ENTRY_FIELDS if f not in info]
    if missing:
        _fail(f"{where}: entry is missing field(s) {', '.join(map(repr, missing))}")
    extra = sorted(k for k in info if k not in _ENTRY_FIELDS)
    if extra:
        _fail(f"{where}: entry has unknown field(s) {', '.join(map(repr, extra))}")

    dtype = info["dtype"]
    if not isinstance(dtype, str):
        _fail(f"{where}: field 'dtype' must be a string, got a JSON {_json_type(dtype)}")
    if dtype not in ITEMSIZE:
        _fail(f"{where}: unknown dtype {dtype!r}")

    shape = info["shape"]
    if not isinstance(shape, list) or not all(_is_int(d) for d in shape):
        _fail(f"{where}: field 'shape' must be a list of integers, got {shape!r}")
    for d in shape:
        if d < 0:
            _fail(f"{where}: negative dimension {d} in shape {shape}")

    offsets = info["data_offsets"]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
        _fail(f"{where}: field 'data_offsets' must be a list of two integers, got {offsets!r}")
    begin, end = offsets
    if begin < 0:
        _fail(f"{where}: negative data_offsets begin {begin}")
    if begin > end:
        _fail(f"{where}: data_offsets begin {begin} is greater than end {end}")
    if end > buffer_len:
        _fail(f"{where}: data_offsets end {end} is past the end of the data buffer ({buffer_len} bytes)")
    span = end - begin
    itemsize = ITEMSIZE[dtype]
    numel = _numel_capped(shape, buffer_len)
    if numel > buffer_len:
        _fail(
            f"{where}: data_offsets span {span} bytes but shape {shape} of {dtype} needs "
            f"more than {buffer_len * itemsize} bytes"
        )
    if span != numel * itemsize:
        _fail(f"{where}: data_offsets span {span} bytes but shape {shape} of {dtype} needs {numel * itemsize} bytes")
    return name, dtype, tuple(shape), begin, end


def _build(entries: list[_Entry], data: memoryview) -> dict[str, RawTensor]:
    return {name: RawTensor(dtype, shape, data[begin:end]) for name, dtype, shape, begin, end in entries}


def _byte_view(buf: bytes | bytearray | memoryview) -> memoryview:
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes or memoryview, got {type(buf).__name__}")
    mv = memoryview(buf)
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B") if mv.c_contiguous else memoryview(mv.tobytes())
    return mv.toreadonly()


def loads(buf: bytes | memoryview) -> tuple[dict[str, RawTensor], dict[str, str]]:
    """Parse safetensors bytes; return ``(tensors, metadata)``.

    Tensor data are read-only zero-copy views into ``buf``.  Raises
    :class:`SafetensorsError` on any malformation.
    """
    mv = _byte_view(buf)
    total = len(mv)
    if total < 8:
        _fail(f"file too short: {total} bytes, need at least 8 for the header length")
    n = int.from_bytes(mv[:8], "little")
    _check_header_len(n, total - 8)
    entries, metadata = _parse_header(bytes(mv[8 : 8 + n]), total - 8 - n)
    return _build(entries, mv[8 + n :]), metadata


def _read_exact(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        _fail(f"file changed while reading: expected {n} more bytes, got {len(data)}")
    return data


def load_file(path: str | os.PathLike[str]) -> tuple[dict[str, RawTensor], dict[str, str]]:
    """Read a safetensors file; return ``(tensors, metadata)``.

    The file size is taken with ``os.fstat``; the header length is checked
    against it, the header is read and fully validated, and only then is the
    data read.  Errors are :class:`SafetensorsError` prefixed with the path.
    """
    name = os.fspath(path)
    with open(name, "rb") as f:
        try:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                _fail(f"file too short: {size} bytes, need at least 8 for the header length")
            n = int.from_bytes(_read_exact(f, 8), "little")
            _check_header_len(n, size - 8)
            buffer_len = size - 8 - n
            entries, metadata = _parse_header(_read_exact(f, n), buffer_len)
            data = _read_exact(f, buffer_len)
        except SafetensorsError as e:
            raise SafetensorsError(f"{name}: {e}") from None
    return _build(entries, memoryview(data)), metadata


# --------------------------------------------------------------------------
# nested structures
# --------------------------------------------------------------------------

_INT_MIN = -(2**63)
_INT_END = 2**64


def _encode_int(v: int) -> object:
    v = int(v)
    if _INT_MIN <= v < _INT_END:
        return v
    return {"int": hex(v)}


def _join(path: Sequence[str]) -> str:
    return ".".join(path) if path else "<root>"


def flatten_state(
    obj: object,
    *,
    encode: Callable[[object], RawTensor | None] | None = None,
) -> tuple[dict[str, Leaf], dict[str, str]]:
    """Split a nested structure into a tensor table and string metadata.

    Returns ``(tensors, metadata)`` ready for :func:`dumps`/:func:`save_file`;
    ``metadata`` holds only :data:`STRUCTURE_KEY` (callers may add more keys).
    ``encode`` is called on any leaf that is not a builtin value or container;
    it returns a :class:`RawTensor` for objects to store as tensors, or
    ``None``.  Unsupported values raise :class:`TypeError`, cycles
    :class:`ValueError`.  See the module docstring for the scheme.
    """
    tensors: dict[str, RawTensor] = {}
    names_by_id: dict[int, str] = {}
    active: set[int] = set()

    def tensor_ref(original: object, raw: RawTensor, path: list[str]) -> object:
        name = names_by_id.get(id(original))
        if name is None:
            base = ".".join(path) if path else "tensor"
            name, i = base, 0
            while name in tensors or name == _METADATA_KEY:
                i += 1
                name = f"{base}#{i}"
            tensors[name] = raw
            names_by_id[id(original)] = name
        return {"tensor": name}

    def enc(x: object, path: list[str]) -> object:
        if isinstance(x, RawTensor):
            return tensor_ref(x, x, path)
        if x is None or isinstance(x, bool):
            return x
        if isinstance(x, int):
            return _encode_int(x)
        if isinstance(x, float):
            v = float(x)
            if math.isfinite(v):
                return v
            return {"float": struct.pack("<d", v).hex()}
        if isinstance(x, str):
            _check_text(x, f"string at {_join(path)}")
            return str(x)
        if isinstance(x, (dict, list, tuple)):
            if id(x) in active:
                raise ValueError(f"cyclic reference at {_join(path)}")
            active.add(id(x))
            try:
                if isinstance(x, dict):
                    pairs: list[list[object]] = []
                    for k, v in x.items():
                        if isinstance(k, str):
                            _check_text(k, f"dict key at {_join(path)}")
                            key: object = str(k)
                        elif _is_int(k):
                            key = _encode_int(k)
                        else:
                            raise TypeError(
                                f"dict key {k!r} at {_join(path)} must be str or int, not {type(k).__name__}"
                            )
                        pairs.append([key, enc(v, [*path, str(k)])])
                    return {"dict": pairs}
                items = [enc(v, [*path, str(i)]) for i, v in enumerate(x)]
                return items if isinstance(x, list) else {"tuple": items}
            finally:
                active.discard(id(x))
        if encode is not None:
            raw = encode(x)
            if raw is not None:
                if not isinstance(raw, RawTensor):
                    raise TypeError(
                        f"encode hook returned {type(raw).__name__} for the value at "
                        f"{_join(path)}; expected RawTensor or None"
                    )
                return tensor_ref(x, raw, path)
        raise TypeError(f"cannot store a value of type {type(x).__name__} at {_join(path)}")

    try:
        root = enc(obj, [])
        text = json.dumps(
            {"version": _STRUCTURE_VERSION, "root": root},
            ensure_ascii=False,
            separators=(",", ":"),
            allow_nan=False,
        )
    except RecursionError:
        raise ValueError("structure is too deeply nested to store") from None
    return tensors, {STRUCTURE_KEY: text}


def unflatten_state(
    tensors: Mapping[str, RawTensor],
    metadata: Mapping[str, str],
    *,
    decode: Callable[[RawTensor], object] | None = None,
) -> object:
    """Rebuild the structure stored by :func:`flatten_state`.

    Without :data:`STRUCTURE_KEY` in ``metadata`` the result is the flat
    ``dict`` name -> tensor.  ``decode`` (if given) converts each tensor; a
    tensor referenced several times is decoded once and shared.  A malformed
    structure, a reference to a missing tensor or a tensor that the structure
    does not reference raise :class:`SafetensorsError`.
    """
    convert: Callable[[RawTensor], object] = decode if decode is not None else (lambda t: t)
    if STRUCTURE_KEY not in metadata:
        return {name: convert(t) for name, t in tensors.items()}
    text = metadata[STRUCTURE_KEY]
    where = f"metadata {STRUCTURE_KEY!r}"
    if not isinstance(text, str):
        _fail(f"{where} must be a string")
    doc = _parse_json(text, where)
    if not isinstance(doc, dict) or set(doc) != {"version", "root"}:
        _fail(f"{where} must be an object with exactly the keys 'version' and 'root'")
    version = doc["version"]
    if not _is_int(version) or version != _STRUCTURE_VERSION:
        _fail(f"{where}: unsupported structure version {version!r}")

    decoded: dict[str, object] = {}

    def bad(path: str, msg: str) -> NoReturn:
        _fail(f"{where}: {msg} at {path}")

    def dec_int(val: object, path: str) -> int:
        if not isinstance(val, str):
            bad(path, "'int' value must be a hex string")
        try:
            return int(val, 16)
        except ValueError:
            bad(path, f"invalid hex integer {val!r}")

    def dec(node: object, path: str) -> object:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [dec(c, f"{path}[{i}]") for i, c in enumerate(node)]
        if not isinstance(node, dict) or len(node) != 1:
            bad(path, "structure node must be a JSON object with exactly one tag")
        ((tag, val),) = node.items()
        if tag == "tensor":
            if not isinstance(val, str):
                bad(path, "tensor reference must be a string")
            if val not in tensors:
                bad(path, f"reference to missing tensor {val!r}")
            if val not in decoded:
                decoded[val] = convert(tensors[val])
            return decoded[val]
        if tag == "tuple":
            if not isinstance(val, list):
                bad(path, "'tuple' value must be an array")
            return tuple(dec(c, f"{path}[{i}]") for i, c in enumerate(val))
        if tag == "dict":
            if not isinstance(val, list):
                bad(path, "'dict' value must be an array of [key, value] pairs")
            out: dict[object, object] = {}
            for pair in val:
                if not (isinstance(pair, list) and len(pair) == 2):
                    bad(path, "'dict' entries must be [key, value] pairs")
                k_node, v_node = pair
                if isinstance(k_node, str) or _is_int(k_node):
                    key: object = k_node
                elif isinstance(k_node, dict) and set(k_node) == {"int"}:
                    key = dec_int(k_node["int"], path)
                else:
                    bad(path, f"invalid dict key {k_node!r}")
                if key in out:
                    bad(path, f"duplicate dict key {key!r}")
                out[key] = dec(v_node, f"{path}[{key!r}]")
            return out
        if tag == "float":
            if not isinstance(val, str) or len(val) != 16:
                bad(path, "'float' value must be 16 hex digits")
            try:
                (f,) = struct.unpack("<d", bytes.fromhex(val))
            except (ValueError, struct.error):
                bad(path, f"invalid float bits {val!r}")
            return float(f)
        if tag == "int":
            return dec_int(val, path)
        bad(path, f"unknown tag {tag!r}")

    try:
        root = dec(doc["root"], "root")
    except RecursionError:
        _fail(f"{where}: structure is too deeply nested")
    unused = [n for n in tensors if n not in decoded]
    if unused:
        _fail(f"{where}: tensor {unused[0]!r} is not referenced by the structure")
    return root
