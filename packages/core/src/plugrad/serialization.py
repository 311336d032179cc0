"""``plugrad.save`` and ``plugrad.load``: PyTorch's ``.pt`` format and safetensors.

Two formats, chosen by :func:`save` and told apart by :func:`load` from the file's first bytes:

- **PyTorch's ``.pt`` format** (a zip archive holding a pickle and the raw storages; see
  :mod:`plugrad._pt_format`): what ``torch.save`` writes, so real PyTorch loads plugrad's
  files and plugrad loads PyTorch's. :func:`save` writes it for ``.pt``/``.pth``/``.bin``/
  ``.ckpt``/``.tar``/``.pkl`` paths, for file objects, and for any object safetensors cannot
  hold (a NumPy array, a whole ``nn.Module``). :func:`load` reads it with
  ``weights_only=True`` by default: a restricted unpickler that imports nothing and calls
  only allow-listed functions (extend the list with :func:`add_safe_globals` or
  :func:`safe_globals`); ``weights_only=False`` loads anything, running the file's code, as
  PyTorch does, for files you trust.
- **safetensors** (never pickle), for ``.safetensors`` paths, when ``metadata`` is given, or
  ``format="safetensors"``; other paths keep it too when the object fits (below).

A safetensors checkpoint is any nest of dicts (``str`` or ``int`` keys), lists and tuples whose
leaves are tensors, ``None``, bools, ints, floats and strings: a tensor, a model's
``state_dict()``, an optimizer's ``state_dict()`` (integer keys, tuples of betas), or a
dict holding several of them with an epoch number. Tensors go into the file's tensor
table under their dotted path (``"model.0.weight"``), so other safetensors readers see
an ordinary flat state dict; the rest of the structure is stored as JSON in the
metadata (see :mod:`plugrad._safetensors`). Loading never runs code from the file.

Writes are atomic (temporary file, fsync, rename): a crash leaves any previous file
intact. A damaged or hostile file raises :class:`SafetensorsError` (a ``ValueError``)
naming the problem, without reading past the file or allocating from unchecked sizes.
"""

from __future__ import annotations

import json
import os
from _pickle import UnpicklingError  # pickle.UnpicklingError itself (PyTorch raises it), without importing pickle
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import IO, Any, Literal

from . import _dtype as D
from ._device import backend_for_device, device_of_backend
from ._safetensors import (
    RawTensor,
    SafetensorsError,
    dumps,
    flatten_state,
    load_file,
    loads,
    save_file,
    unflatten_state,
)
from ._tensor import Tensor, _make

__all__ = [
    "save",
    "load",
    "SafetensorsError",
    "UnpicklingError",
    "add_safe_globals",
    "clear_safe_globals",
    "get_safe_globals",
    "safe_globals",
    "DEFAULT_PROTOCOL",
]

#: The pickle protocol of ``.pt`` files (PyTorch's default).
DEFAULT_PROTOCOL = 2

#: Path suffixes that always get PyTorch's format.
PT_SUFFIXES = frozenset({".pt", ".pth", ".bin", ".ckpt", ".tar", ".pkl", ".pickle"})
#: Path suffixes that always get safetensors.
SAFETENSORS_SUFFIXES = frozenset({".safetensors", ".st"})


def _pt() -> Any:
    """:mod:`plugrad._pt_format`, imported on first use (pickle and zipfile stay out of ``import plugrad``)."""
    from . import _pt_format

    return _pt_format


def safe_globals(safe_globals: Iterable[Any]) -> AbstractContextManager[None]:
    """Allow-list classes and functions for ``plugrad.load(weights_only=True)`` inside a ``with`` block."""
    return _pt().safe_globals(safe_globals)  # type: ignore[no-any-return]


def add_safe_globals(safe_globals: Iterable[Any]) -> None:
    """Allow-list classes and functions (or ``(object, "module.name")`` pairs) for ``weights_only=True`` loads."""
    _pt().add_safe_globals(safe_globals)


def get_safe_globals() -> list[Any]:
    """The objects allow-listed with :func:`add_safe_globals`."""
    return _pt().get_safe_globals()  # type: ignore[no-any-return]


def clear_safe_globals() -> None:
    """Forget every object allow-listed with :func:`add_safe_globals`."""
    _pt().clear_safe_globals()


#: plugrad dtype -> safetensors dtype code
DTYPE_CODES: dict[D.dtype, str] = {
    D.bool_: "BOOL",
    D.uint8: "U8",
    D.int8: "I8",
    D.int16: "I16",
    D.int32: "I32",
    D.int64: "I64",
    D.float16: "F16",
    D.float32: "F32",
    D.float64: "F64",
}
_DTYPE_BY_CODE = {code: dt for dt, code in DTYPE_CODES.items()}

#: Metadata key recording the devices of tensors not on the CPU (``{name: "cuda:0"}``).
DEVICES_KEY = "plugrad.devices"

_HINT = (
    "plugrad.save stores tensors, numbers, strings, None and dicts/lists/tuples of them (no pickle); "
    "for a model or an optimizer save its state_dict()"
)


def _encode(obj: object) -> RawTensor | None:
    if not isinstance(obj, Tensor):
        return None
    code = DTYPE_CODES.get(obj._dtype)
    if code is None:  # pragma: no cover - every plugrad dtype has a code
        raise TypeError(f"plugrad.save: no safetensors dtype for {obj._dtype!r}")
    return RawTensor(code, tuple(obj._data.shape), obj._backend.to_bytes(obj._data))


def _storable(obj: Any) -> bool:
    """Whether safetensors can hold ``obj`` (tensors and scalars in dicts, lists and tuples)."""
    try:
        flatten_state(obj, encode=lambda x: RawTensor("U8", (0,), b"") if isinstance(x, Tensor) else None)
    except (TypeError, ValueError):
        return False
    return True


def _choose_format(obj: Any, f: object, metadata: object) -> str:
    if metadata is not None:
        return "safetensors"
    if isinstance(f, (str, os.PathLike)):
        suffix = os.path.splitext(os.fspath(f))[1].lower()
        if suffix in SAFETENSORS_SUFFIXES:
            return "safetensors"
        if suffix in PT_SUFFIXES:
            return "pt"
        return "safetensors" if _storable(obj) else "pt"
    name = getattr(f, "name", None)
    if isinstance(name, str) and os.path.splitext(name)[1].lower() in SAFETENSORS_SUFFIXES:
        return "safetensors"
    return "pt"


def save(
    obj: Any,
    f: str | os.PathLike[str] | IO[bytes],
    pickle_module: Any = None,
    pickle_protocol: int = DEFAULT_PROTOCOL,
    _use_new_zipfile_serialization: bool = True,
    _disable_byteorder_record: bool = False,
    *,
    metadata: dict[str, str] | None = None,
    format: Literal["pt", "safetensors"] | None = None,
) -> None:
    """Save ``obj`` to ``f`` in PyTorch's ``.pt`` format or in safetensors.

    :param obj: anything picklable for the ``.pt`` format (tensors, state dicts, optimizer
        state, nested containers, a NumPy array, a whole module); for safetensors a tensor
        or a nest of dicts, lists and tuples of tensors, ``None``, ``bool``, ``int``,
        ``float``, ``str``.
    :param f: a path (written atomically) or a binary file object.
    :param pickle_module: ``None`` or the standard ``pickle`` module (the only one used).
    :param pickle_protocol: the pickle protocol of ``data.pkl`` (2, as PyTorch, by default).
    :param metadata: extra string metadata for a safetensors header (keys must not start
        with ``"plugrad."``); giving it selects safetensors.
    :param format: ``"pt"`` or ``"safetensors"`` to choose explicitly. Otherwise: safetensors
        for ``.safetensors``/``.st`` paths and when ``metadata`` is given; ``.pt`` for
        ``.pt``/``.pth``/``.bin``/``.ckpt``/``.tar``/``.pkl`` paths and for file objects; for
        other paths safetensors when the object fits it, else ``.pt``.

    Tensors shared between several places are stored once and come back shared.
    """
    if pickle_module is not None and getattr(pickle_module, "__name__", None) != "pickle":
        raise ValueError("plugrad.save writes with the standard pickle module; pass pickle_module=None (or pickle)")
    if format is None:
        format = _choose_format(obj, f, metadata)  # type: ignore[assignment]
    if format == "pt":
        if metadata is not None:
            raise ValueError("metadata is only stored by the safetensors format")
        if not _use_new_zipfile_serialization:
            raise ValueError("plugrad.save writes only PyTorch's zip format (_use_new_zipfile_serialization=True)")
        _pt().save(obj, f, pickle_protocol)
        return
    if format != "safetensors":
        raise ValueError(f"format must be 'pt' or 'safetensors', got {format!r}")
    raw_devices: dict[int, str] = {}

    def encode(x: object) -> RawTensor | None:
        raw = _encode(x)
        if raw is not None and x._backend.device_type != "cpu":  # type: ignore[attr-defined]
            raw_devices[id(raw)] = str(device_of_backend(x._backend))  # type: ignore[attr-defined]
        return raw

    try:
        tensors, meta = flatten_state(obj, encode=encode)
    except TypeError as exc:
        raise TypeError(f"{exc}; {_HINT}") from None
    if metadata:
        for k in metadata:
            if isinstance(k, str) and k.startswith("plugrad."):
                raise ValueError(f"metadata key {k!r} is reserved (keys starting with 'plugrad.' are plugrad's)")
        meta = {**metadata, **meta}
    devices = {name: raw_devices[id(raw)] for name, raw in tensors.items() if id(raw) in raw_devices}
    if devices:
        meta[DEVICES_KEY] = json.dumps(devices, separators=(",", ":"))
    if isinstance(f, (str, os.PathLike)):
        save_file(tensors, f, meta)
    else:
        f.write(dumps(tensors, meta))


def _head(f: str | os.PathLike[str] | IO[bytes]) -> bytes:
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            return fh.read(16)
    try:
        pos = f.tell()
        head = f.read(16)
        f.seek(pos)
    except (AttributeError, OSError, ValueError):
        return b""
    return head if isinstance(head, bytes) else b""


def load(
    f: str | os.PathLike[str] | IO[bytes],
    map_location: Any = None,
    pickle_module: Any = None,
    *,
    weights_only: bool | None = None,
    mmap: bool | None = None,
    **pickle_load_args: Any,
) -> Any:
    """Load what :func:`save` or ``torch.save`` wrote (or any safetensors file, as a flat ``{name: tensor}`` dict).

    :param f: a path or a binary file object.
    :param map_location: where tensors go: a device (``"cpu"``, ``"cuda"``, a backend name, a
        :class:`plugrad.device`), a dict mapping saved locations to new ones
        (``{"cuda:0": "cpu"}``), or a callable ``(storage, location) -> storage`` given each
        storage on the CPU. By default each tensor goes back to the device it was saved
        from (an unavailable CUDA device raises, as PyTorch).
    :param weights_only: ``True`` (the default, as PyTorch since 2.6) reads ``.pt`` files
        through a restricted unpickler that imports and calls nothing outside its
        allow-list; ``False`` runs whatever the file asks: only for files you trust.
        Safetensors files never run code either way.
    :param mmap: memory-map a ``.pt`` file given by path instead of reading it whole.
    :raises UnpicklingError: a ``.pt`` file needs something outside the allow-list.
    :raises RuntimeError: a damaged ``.pt`` archive.
    :raises SafetensorsError: a damaged safetensors file.
    """
    wo = True if weights_only is None else bool(weights_only)
    if pickle_module is not None and wo:
        raise RuntimeError(
            "Can not safely load weights when explicit pickle_module is specified; pass weights_only=False"
        )
    if pickle_load_args and set(pickle_load_args) - {"encoding"}:
        raise TypeError(f"load() got unexpected keyword argument(s) {sorted(pickle_load_args)}")
    pt = _pt()  # imported before reading anything, so a hostile file never triggers an import
    head = _head(f)
    if pt.is_pt_file(head):
        return pt.load(f, map_location, weights_only=wo, mmap=bool(mmap))
    if head.startswith(pt.LEGACY_MAGIC):
        raise RuntimeError(
            "this file uses PyTorch's legacy (pre-1.6) serialization format, which plugrad does not read; "
            "load it with torch.load and save it again with torch.save (PyTorch >= 1.6 writes the zip format)"
        )
    if isinstance(f, (str, os.PathLike)):
        raw_tensors, metadata = load_file(f)
    else:
        raw_tensors, metadata = loads(f.read())
    devices: dict[str, str] = {}
    if map_location is None and DEVICES_KEY in metadata:
        try:
            parsed = json.loads(metadata[DEVICES_KEY])
        except ValueError:
            raise SafetensorsError(f"metadata {DEVICES_KEY!r} is not valid JSON") from None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            raise SafetensorsError(f"metadata {DEVICES_KEY!r} must map tensor names to device strings")
        devices = parsed
    default_backend = backend_for_device(map_location) if map_location is not None else backend_for_device("cpu")
    name_of = {id(raw): name for name, raw in raw_tensors.items()}

    def decode(raw: RawTensor) -> Tensor:
        name = name_of.get(id(raw), "?")
        dt = _DTYPE_BY_CODE.get(raw.dtype)
        if dt is None:
            raise SafetensorsError(
                f"tensor {name!r} has dtype {raw.dtype}, which plugrad does not support "
                f"(supported: {', '.join(sorted(_DTYPE_BY_CODE))})"
            )
        be = default_backend
        if name in devices:
            try:
                be = backend_for_device(devices[name])
            except Exception as exc:
                raise RuntimeError(
                    f"tensor {name!r} was saved on device {devices[name]!r}, which is not available here ({exc}); "
                    "pass map_location='cpu' to load it elsewhere"
                ) from None
        if dt not in be.dtype_to_native:
            raise RuntimeError(f"tensor {name!r}: backend {be.name!r} does not support {dt!r}")
        data = be.from_bytes(bytes(raw.data), be.dtype_to_native[dt], tuple(raw.shape))
        return _make(Tensor, data, dt, be)

    return unflatten_state(raw_tensors, metadata, decode=decode)
