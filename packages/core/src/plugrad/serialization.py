"""``plugrad.save`` and ``plugrad.load``: checkpoints in the safetensors format, never pickle.

A checkpoint is any nest of dicts (``str`` or ``int`` keys), lists and tuples whose
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
from typing import IO, Any

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

__all__ = ["save", "load", "SafetensorsError"]

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


def save(obj: Any, f: str | os.PathLike[str] | IO[bytes], metadata: dict[str, str] | None = None) -> None:
    """Save ``obj`` (tensors in nested dicts/lists/tuples with Python scalars) to ``f``.

    :param obj: a tensor, a ``state_dict()``, an optimizer ``state_dict()``, or any nest of
        dicts, lists and tuples of tensors, ``None``, ``bool``, ``int``, ``float``, ``str``.
    :param f: a path (written atomically) or a binary file object.
    :param metadata: extra string metadata for the file header (keys must not start
        with ``"plugrad."``).

    Tensors shared between several places are stored once and come back shared.
    """
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


def load(f: str | os.PathLike[str] | IO[bytes], map_location: Any = None, *, weights_only: bool = True) -> Any:
    """Load what :func:`save` stored (or any safetensors file, as a flat ``{name: tensor}`` dict).

    :param f: a path or a binary file object.
    :param map_location: a device (``"cpu"``, ``"cuda"``, a backend name) for all tensors;
        by default each goes back to the device it was saved from (CPU for files written
        by other tools).
    :param weights_only: accepted for compatibility; loading never runs code either way.
    :raises SafetensorsError: the file is damaged or not a safetensors file.
    """
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
