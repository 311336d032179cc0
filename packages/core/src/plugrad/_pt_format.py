"""PyTorch's ``.pt`` checkpoint format, read and written without PyTorch, safely.

The format (what ``torch.save`` writes since PyTorch 1.6)
----------------------------------------------------------
A zip archive (entries stored, never compressed) whose entries share one top folder,
``ARCHIVE/`` (the file's stem, or ``archive`` for a file object):

- ``ARCHIVE/data.pkl``: a pickle (protocol 2) of the object. Each tensor is pickled as a
  call ``torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
  requires_grad, backward_hooks)``; ``storage`` is a *persistent id*, the tuple
  ``("storage", torch.FloatStorage, KEY, LOCATION, NUMEL)``, whose bytes are the entry
  ``ARCHIVE/data/KEY`` (``NUMEL`` elements, little-endian). Tensors that are views of
  one storage name the same ``KEY`` with their own offset and strides. A parameter is
  ``torch._utils._rebuild_parameter(tensor, requires_grad, backward_hooks)``.
- ``ARCHIVE/byteorder`` (``little``), ``ARCHIVE/version`` (``3``),
  ``ARCHIVE/.format_version`` (``1``), ``ARCHIVE/.storage_alignment`` (``64``) and
  ``ARCHIVE/.data/serialization_id``. Each entry's data starts at a multiple of 64 bytes
  in the file (padding in the zip extra field ``FB``), so storages can be memory-mapped.

Reading
-------
:func:`load` opens the archive with :mod:`zipfile`, checks every entry against the real
size of the file before reading it (stored entries only: a compressed entry, as a zip
bomb would need, is refused), and unpickles ``data.pkl`` with :class:`Unpickler`, a
subclass of the standard library's pure-Python unpickler whose opcodes that import,
call or build objects are restricted when ``weights_only=True`` (the default):

- ``GLOBAL``/``STACK_GLOBAL`` resolve only names of the allow-list (:data:`ALLOWED`:
  ``collections.OrderedDict``, the tensor and parameter rebuild functions, PyTorch's
  dtypes, storage types, ``torch.Size``, ``torch.device``, ``set``/``frozenset``/
  ``bytearray``/``complex``, ``_codecs.encode`` for ``latin1`` only) plus what the user
  allow-listed with :func:`add_safe_globals`; nothing is ever imported;
- ``REDUCE`` calls only those; ``BUILD`` sets attributes only on an ``OrderedDict``
  (a ``state_dict``'s ``_metadata``) or on instances of allow-listed classes;
  ``NEWOBJ``/``NEWOBJ_EX`` only build allow-listed classes; ``INST``, ``OBJ`` and the
  ``EXT`` opcodes are refused;
- persistent ids must be storage records naming an entry of the archive whose size is
  exactly what the record declares, and a view must lie inside its storage.

Any violation raises :class:`pickle.UnpicklingError` (``plugrad.serialization.UnpicklingError``)
with PyTorch's message; a damaged archive raises ``RuntimeError``. With
``weights_only=False`` the file may import and call anything, as in PyTorch: use it only
for files you trust.

Tensor bytes go in and out through the backend's ``to_bytes``/``from_bytes`` kernels;
this module never imports NumPy.
"""

from __future__ import annotations

import collections
import io
import math
import mmap as _mmap
import os
import pickle
import struct
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from . import _dtype as D
from ._device import backend_for_device, device
from ._size import Size
from ._tensor import Tensor, _make

__all__ = [
    "ALLOWED",
    "PT_MAGIC",
    "UnpicklingError",
    "add_safe_globals",
    "clear_safe_globals",
    "get_safe_globals",
    "is_pt_file",
    "load",
    "safe_globals",
    "save",
]

UnpicklingError = pickle.UnpicklingError

#: The first bytes of a zip archive (and so of a ``.pt`` file).
PT_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")

#: How files in PyTorch's legacy (pre-1.6) format start: a protocol-2 pickle of its magic number.
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"

#: PyTorch storage type name -> plugrad dtype name.
STORAGE_DTYPES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "UntypedStorage": "uint8",
}
_STORAGE_BY_DTYPE = {v: k for k, v in STORAGE_DTYPES.items() if k != "UntypedStorage"}
_ITEMSIZE = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "int16": 2}
_ITEMSIZE.update({"int8": 1, "uint8": 1, "bool": 1})

#: PyTorch dtype attribute name -> plugrad dtype name.
TORCH_DTYPES = {
    "float32": "float32",
    "float": "float32",
    "float64": "float64",
    "double": "float64",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "int": "int32",
    "int16": "int16",
    "short": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
}

#: Largest number of elements a view may expand its storage to (stride-0 dims aside).
_MAX_VIEW_FACTOR = 64
_MAX_VIEW_FLOOR = 1 << 24
#: Deepest MARK nesting accepted in a pickle (real checkpoints nest a few levels).
_MAX_MARKS = 10_000


def _plugrad_dtype(name: str) -> D.dtype | None:
    found = getattr(D, "bool_" if name == "bool" else name, None)
    return found if isinstance(found, D.dtype) else None


# --------------------------------------------------------------------------- allow-list
class _StorageType:
    """What ``torch.FloatStorage`` and its siblings resolve to: a dtype tag, not callable."""

    __slots__ = ("dtype_name", "torch_name")

    def __init__(self, torch_name: str) -> None:
        self.torch_name = torch_name
        self.dtype_name = STORAGE_DTYPES[torch_name]

    def __repr__(self) -> str:
        return f"torch.{self.torch_name}"


class _MissingDtype:
    """A PyTorch dtype plugrad lacks (``torch.complex64``): loading a value of it is refused when used."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class _Storage:
    """A loaded storage: a flat plugrad tensor holding its ``numel`` elements."""

    __slots__ = ("flat", "numel", "dtype_name", "key")

    def __init__(self, flat: Tensor, numel: int, dtype_name: str, key: str) -> None:
        self.flat = flat
        self.numel = numel
        self.dtype_name = dtype_name
        self.key = key


def _check_int(value: object, what: str, *, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnpicklingError(f"{what} must be an int, got {type(value).__name__}")
    if value < low or value > (1 << 62):
        raise UnpicklingError(f"{what} is out of range: {value}")
    return value


def _check_ints(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)):
        raise UnpicklingError(f"{what} must be a tuple of ints, got {type(value).__name__}")
    if len(value) > 64:
        raise UnpicklingError(f"{what} has {len(value)} dimensions (at most 64)")
    return tuple(_check_int(v, what) for v in value)


def _view_of(storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> Tensor:
    """The tensor ``as_strided(storage, size, stride, offset)``, sharing memory where the layout allows.

    Contiguous and permuted-contiguous layouts (slices, transposes) are views of the
    storage; dimensions of stride 0 are broadcast views; other layouts are gathered
    into a new tensor with the same values.
    """
    import plugrad

    flat = storage.flat
    numel = math.prod(size)
    if numel == 0:
        if offset > storage.numel:
            raise UnpicklingError(f"storage offset {offset} is past the end of a storage of {storage.numel} elements")
        return flat[0:0].reshape(size)
    extent = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if extent >= storage.numel:
        raise UnpicklingError(
            f"a tensor of size {list(size)}, stride {list(stride)} and offset {offset} reads element {extent} "
            f"of a storage of {storage.numel} elements"
        )
    ndim = len(size)
    if ndim == 0:
        return flat[offset]
    # Dimensions of size 1 or stride 0 take no memory: view the rest, then expand.
    core = [d for d in range(ndim) if size[d] != 1 and stride[d] != 0]
    core_numel = math.prod(size[d] for d in core)
    order = sorted(core, key=lambda d: -stride[d])
    expected, contiguous = 1, True
    for d in reversed(order):
        if stride[d] != expected:
            contiguous = False
            break
        expected *= size[d]
    with plugrad.no_grad():
        if contiguous:
            block = flat[offset : offset + core_numel].reshape([size[d] for d in order]) if order else flat[offset]
            rest = [d for d in range(ndim) if d not in order]
            full_order = order + rest
            block = block.reshape([size[d] if d in order else 1 for d in full_order])
            inverse = [full_order.index(d) for d in range(ndim)]
            out = block.permute(*inverse) if inverse != list(range(ndim)) else block
        else:
            limit = max(_MAX_VIEW_FLOOR, _MAX_VIEW_FACTOR * storage.numel)
            if core_numel > limit:
                raise UnpicklingError(
                    f"a tensor of size {list(size)} and stride {list(stride)} expands a storage of "
                    f"{storage.numel} elements to {core_numel} (at most {limit} are accepted)"
                )
            shape = [size[d] if d in core else 1 for d in range(ndim)]
            index = plugrad.full(shape, offset, dtype=plugrad.int64)
            for d in core:
                axis = [1] * ndim
                axis[d] = size[d]
                index = index + (plugrad.arange(size[d], dtype=plugrad.int64) * stride[d]).reshape(axis)
            out = flat[index.reshape(-1)].reshape(shape)
        if tuple(out.shape) != tuple(size):
            out = out.expand(*size)
    return out


def _rebuild_tensor_v2(
    storage: object,
    storage_offset: object,
    size: object,
    stride: object,
    requires_grad: object = False,
    backward_hooks: object = None,
    metadata: object = None,
) -> Tensor:
    """``torch._utils._rebuild_tensor_v2``: a tensor viewing ``storage``."""
    if not isinstance(storage, _Storage):
        raise UnpicklingError(f"_rebuild_tensor_v2 expects a storage, got {type(storage).__name__}")
    offset = _check_int(storage_offset, "storage_offset")
    shape = _check_ints(size, "size")
    strides = _check_ints(stride, "stride")
    if len(shape) != len(strides):
        raise UnpicklingError(f"size {list(shape)} and stride {list(strides)} have different lengths")
    if not isinstance(requires_grad, bool):
        raise UnpicklingError(f"requires_grad must be a bool, got {type(requires_grad).__name__}")
    t = _view_of(storage, offset, shape, strides)
    if requires_grad:
        t = t.detach().requires_grad_(True)
    return t


def _rebuild_tensor(storage: object, storage_offset: object, size: object, stride: object) -> Tensor:
    """``torch._utils._rebuild_tensor`` (files of older PyTorch)."""
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _parameter_class() -> type | None:
    try:
        from plugrad.nn import Parameter
    except ImportError:
        return None
    return Parameter


def _make_parameter(data: object, requires_grad: object) -> Tensor:
    if not isinstance(data, Tensor):
        raise UnpicklingError(f"a parameter's data must be a tensor, got {type(data).__name__}")
    if not isinstance(requires_grad, bool):
        raise UnpicklingError(f"requires_grad must be a bool, got {type(requires_grad).__name__}")
    cls = _parameter_class()
    if cls is None:  # plugrad-nn is not installed: a plain tensor
        return data.detach().requires_grad_(requires_grad)
    return cls(data.detach(), requires_grad)  # type: ignore[no-any-return]


def _rebuild_parameter(data: object, requires_grad: object, backward_hooks: object = None) -> Tensor:
    """``torch._utils._rebuild_parameter``: an ``nn.Parameter`` (a plain tensor without plugrad-nn)."""
    return _make_parameter(data, requires_grad)


def _rebuild_parameter_with_state(
    data: object, requires_grad: object, backward_hooks: object = None, state: object = None
) -> Tensor:
    """``torch._utils._rebuild_parameter_with_state``: the state of a plain parameter is empty and ignored."""
    return _make_parameter(data, requires_grad)


class _TensorType:
    """What ``torch.Tensor`` / ``torch.nn.parameter.Parameter`` resolve to inside ``_rebuild_from_type_v2``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_TENSOR_TYPE = _TensorType("torch.Tensor")
_PARAMETER_TYPE = _TensorType("torch.nn.parameter.Parameter")


def _rebuild_from_type_v2(func: object, new_type: object, args: object, state: object) -> Tensor:
    """``torch._tensor._rebuild_from_type_v2``: ``func(*args)`` as a tensor or a parameter."""
    if func not in (_rebuild_tensor_v2, _rebuild_tensor, _rebuild_parameter, _rebuild_parameter_with_state):
        raise UnpicklingError(f"_rebuild_from_type_v2 expects a tensor rebuild function, got {func!r}")
    if not isinstance(args, tuple):
        raise UnpicklingError("_rebuild_from_type_v2 expects a tuple of arguments")
    t = func(*args)
    if new_type is _PARAMETER_TYPE:
        return _make_parameter(t, t.requires_grad)
    if new_type is not _TENSOR_TYPE and not (isinstance(new_type, type) and issubclass(new_type, Tensor)):
        raise UnpicklingError(f"_rebuild_from_type_v2 expects a tensor type, got {new_type!r}")
    return t


def _codecs_encode(obj: object, encoding: object = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for ``bytes``: ``latin1`` text only."""
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise UnpicklingError("_codecs.encode is only allowed on a str with the 'latin1' encoding")
    return obj.encode("latin1")


def _bytearray(source: object = b"", encoding: object = None) -> bytearray:
    """``bytearray`` from bytes, or from a ``latin1`` str as protocol 2 writes it; never from a size."""
    if isinstance(source, (bytes, bytearray)) and encoding is None:
        return bytearray(source)
    if isinstance(source, str) and encoding in ("latin1", "latin-1"):
        return bytearray(source.encode("latin1"))
    raise UnpicklingError("bytearray is only rebuilt from bytes or a latin1 string")


def _torch_device(spec: object, index: object = None) -> device:
    if not isinstance(spec, (str, int)) or isinstance(spec, bool):
        raise UnpicklingError(f"torch.device expects a str, got {type(spec).__name__}")
    return device(spec) if index is None else device(spec, index)  # type: ignore[arg-type]


def _torch_size(dims: object = ()) -> Size:
    return Size(_check_ints(dims, "torch.Size"))


def _build_allowed() -> dict[str, Any]:
    allowed: dict[str, Any] = {
        "collections.OrderedDict": collections.OrderedDict,
        "collections.Counter": collections.Counter,
        "builtins.set": set,
        "builtins.frozenset": frozenset,
        "builtins.bytearray": _bytearray,
        "builtins.complex": complex,
        "_codecs.encode": _codecs_encode,
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
        "torch._utils._rebuild_tensor": _rebuild_tensor,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "torch._utils._rebuild_parameter_with_state": _rebuild_parameter_with_state,
        "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
        "torch.Size": _torch_size,
        "torch.device": _torch_device,
        "torch.Tensor": _TENSOR_TYPE,
        "torch._tensor.Tensor": _TENSOR_TYPE,
        "torch.nn.parameter.Parameter": _PARAMETER_TYPE,
    }
    for name in STORAGE_DTYPES:
        allowed[f"torch.{name}"] = _StorageType(name)
    allowed["torch.storage.UntypedStorage"] = allowed["torch.UntypedStorage"]
    for torch_name, ours in TORCH_DTYPES.items():
        dt = _plugrad_dtype(ours)
        allowed[f"torch.{torch_name}"] = dt if dt is not None else _MissingDtype(torch_name)
    for missing in ("complex64", "complex128", "cfloat", "cdouble", "uint16", "uint32", "uint64"):
        allowed[f"torch.{missing}"] = _MissingDtype(missing)
    return allowed


#: ``module.name`` -> what a pickle's GLOBAL resolves to when ``weights_only=True``.
ALLOWED: dict[str, Any] = _build_allowed()
#: The allowed globals a pickle may call (REDUCE).
_CALLABLE = {
    id(v): v for v in ALLOWED.values() if callable(v) and not isinstance(v, (_StorageType, _TensorType, D.dtype))
}
#: Modules whose globals are refused with PyTorch's "is blocked" wording.
_BLOCKED_MODULES = ("sys", "os", "posix", "nt", "subprocess")

_user_globals: dict[str, Any] = {}


def _qualified(obj: object) -> str:
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(module, str) or not isinstance(name, str):
        raise TypeError(f"cannot tell the module and name of {obj!r}; pass a (object, 'module.name') pair")
    return f"{module}.{name}"


def add_safe_globals(safe_globals: Iterable[Any]) -> None:
    """Allow-list classes and functions for ``plugrad.load(..., weights_only=True)``, as PyTorch.

    Each item is the object itself (named by its ``__module__`` and ``__qualname__``) or a
    pair ``(object, "module.name")`` for an object pickled under another name.
    """
    for item in safe_globals:
        if isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[1], str):
                raise TypeError("a safe global given as a tuple must be (object, 'module.name')")
            _user_globals[item[1]] = item[0]
        else:
            _user_globals[_qualified(item)] = item


def get_safe_globals() -> list[Any]:
    """The objects added with :func:`add_safe_globals` (and not cleared)."""
    return list(_user_globals.values())


def clear_safe_globals() -> None:
    """Forget every object added with :func:`add_safe_globals`."""
    _user_globals.clear()


@contextmanager
def safe_globals(safe_globals: Iterable[Any]) -> Iterator[None]:
    """Allow-list ``safe_globals`` (as :func:`add_safe_globals`) inside a ``with`` block only."""
    saved = dict(_user_globals)
    add_safe_globals(safe_globals)
    try:
        yield
    finally:
        _user_globals.clear()
        _user_globals.update(saved)


_DOCS = (
    "Check the documentation of plugrad.load (the same as torch.load) to learn more about types accepted "
    "by default with weights_only https://pytorch.org/docs/stable/generated/torch.load.html."
)
_RERUN = (
    "plugrad.load uses `weights_only=True` by default, as PyTorch does since 2.6. Re-running `plugrad.load` "
    "with `weights_only` set to `False` will likely succeed, but it can result in arbitrary code execution. "
    "Do it only if you got the file from a trusted source."
)


def weights_only_error(detail: str, *, global_name: str | None = None) -> UnpicklingError:
    """PyTorch's ``Weights only load failed`` error, with plugrad's names for the remedies."""
    if global_name is not None:
        return UnpicklingError(
            "Weights only load failed. This file can still be loaded, to do so you have two options, do those "
            f"steps only if you trust the source of the checkpoint. \n\t(1) {_RERUN}\n\t(2) Alternatively, to load "
            "with `weights_only=True` please check the recommended steps in the following error message.\n\t"
            f"WeightsUnpickler error: {detail}\n\n{_DOCS}"
        )
    return UnpicklingError(f"Weights only load failed. {_RERUN}\n{detail}\n\n{_DOCS}")


def _unsupported_global(key: str) -> UnpicklingError:
    module = key.rsplit(".", 1)[0]
    if module.split(".")[0] in _BLOCKED_MODULES:
        return weights_only_error(f"\n\nTrying to load unsupported GLOBAL {key} whose module {module} is blocked.")
    return weights_only_error(
        f"Unsupported global: GLOBAL {key} was not an allowed global by default. Please use "
        f"`plugrad.serialization.add_safe_globals([{key}])` or the "
        f"`plugrad.serialization.safe_globals([{key}])` context manager to allowlist this global "
        "if you trust this class/function.",
        global_name=key,
    )


# --------------------------------------------------------------------------- unpickler
# The standard library's pure-Python pickler classes (typeshed types them as the C ones).
_PyUnpickler: Any = pickle._Unpickler
_PyPickler: Any = pickle._Pickler


class Unpickler(_PyUnpickler):  # type: ignore[misc]
    """An unpickler for ``data.pkl`` with PyTorch's names mapped to plugrad's.

    With ``weights_only=True`` it resolves only allow-listed globals (never importing a
    module) and restricts the opcodes that call or build objects (see the module
    docstring); ``load_storage(type, key, location, numel)`` turns a storage record into a
    :class:`_Storage`.
    """

    dispatch: dict[int, Callable[[Any], None]] = dict(_PyUnpickler.dispatch)

    def __init__(
        self, file: IO[bytes], *, weights_only: bool, load_storage: Callable[[_StorageType, str, str, int], _Storage]
    ) -> None:
        super().__init__(file, fix_imports=True, encoding="ASCII", errors="strict")
        self._weights_only = weights_only
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> Any:
        if not isinstance(module, str) or not isinstance(name, str):
            raise UnpicklingError("GLOBAL names must be strings")
        if (module, name) in _COMPAT_NAMES:
            module, name = _COMPAT_NAMES[module, name]
        elif module in _COMPAT_MODULES:
            module = _COMPAT_MODULES[module]
        key = f"{module}.{name}"
        found = ALLOWED.get(key)
        if found is not None:
            return found
        user = _user_globals.get(key)
        if user is not None:
            return user
        if self._weights_only:
            raise _unsupported_global(key)
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnpicklingError(f"unsupported persistent id {pid!r:.200}: expected a storage record")
        _, stype, key, location, numel = pid
        if not isinstance(stype, _StorageType):
            raise UnpicklingError(f"storage record with an unknown storage type {stype!r:.100}")
        if not isinstance(key, str) or not isinstance(location, str):
            raise UnpicklingError("a storage record's key and location must be strings")
        return self._load_storage(stype, key, location, _check_int(numel, "a storage's element count"))

    # -- restricted opcodes ---------------------------------------------------------
    def _allowed_user_type(self, cls: object) -> bool:
        return isinstance(cls, type) and any(cls is v for v in _user_globals.values())

    def load_reduce(self) -> None:
        if not self._weights_only:
            super().load_reduce()
            return None
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        if not isinstance(args, tuple):
            raise weights_only_error("REDUCE arguments must be a tuple")
        allowed = id(func) in _CALLABLE and _CALLABLE[id(func)] is func
        if not allowed and not any(func is v for v in _user_globals.values()):
            raise weights_only_error(f"Trying to call reduce for unrecognized function {func!r:.200}")
        stack[-1] = func(*args)
        return None

    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_build(self) -> None:
        if not self._weights_only:
            super().load_build()
            return None
        stack = self.stack
        state = stack[-1]
        inst = stack[-2]
        if type(inst) is collections.OrderedDict or type(inst) is collections.Counter:
            if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
                raise weights_only_error("an OrderedDict's state must be a dict with string keys")
            stack.pop()
            inst.__dict__.update(state)
            return None
        if self._allowed_user_type(type(inst)):
            super().load_build()
            return None
        raise weights_only_error(
            "Can only build Tensor, Parameter, OrderedDict or types allowlisted via `add_safe_globals`, "
            f"but got {type(inst)}"
        )

    dispatch[pickle.BUILD[0]] = load_build

    def load_newobj(self) -> None:
        if self._weights_only and not self._allowed_user_type(self.stack[-2]):
            raise weights_only_error(f"Trying to instantiate unsupported class {self.stack[-2]!r:.200}")
        super().load_newobj()

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        if self._weights_only and not self._allowed_user_type(self.stack[-3]):
            raise weights_only_error(f"Trying to instantiate unsupported class {self.stack[-3]!r:.200}")
        super().load_newobj_ex()

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def _refuse(self, opcode: bytes) -> None:
        raise weights_only_error(f"Unsupported operand {opcode[0]}")

    def load_inst(self) -> None:
        if self._weights_only:
            self._refuse(pickle.INST)
        super().load_inst()

    dispatch[pickle.INST[0]] = load_inst

    def load_obj(self) -> None:
        if self._weights_only:
            self._refuse(pickle.OBJ)
        super().load_obj()

    dispatch[pickle.OBJ[0]] = load_obj

    def _ext(self, opcode: bytes, base: Callable[[Unpickler], None]) -> None:
        if self._weights_only:
            self._refuse(opcode)
        base(self)

    def load_ext1(self) -> None:
        self._ext(pickle.EXT1, _PyUnpickler.load_ext1)

    def load_ext2(self) -> None:
        self._ext(pickle.EXT2, _PyUnpickler.load_ext2)

    def load_ext4(self) -> None:
        self._ext(pickle.EXT4, _PyUnpickler.load_ext4)

    dispatch[pickle.EXT1[0]] = load_ext1
    dispatch[pickle.EXT2[0]] = load_ext2
    dispatch[pickle.EXT4[0]] = load_ext4

    def load_mark(self) -> None:
        if len(self.metastack) >= _MAX_MARKS:
            raise UnpicklingError(f"the pickle nests more than {_MAX_MARKS} levels of MARK")
        super().load_mark()

    dispatch[pickle.MARK[0]] = load_mark


def _compat_tables() -> tuple[dict[tuple[str, str], tuple[str, str]], dict[str, str]]:
    import _compat_pickle

    return dict(_compat_pickle.NAME_MAPPING), dict(_compat_pickle.IMPORT_MAPPING)


_COMPAT_NAMES, _COMPAT_MODULES = _compat_tables()


# --------------------------------------------------------------------------- reading
def is_pt_file(head: bytes) -> bool:
    """Whether the first bytes of a file are those of a zip archive (a ``.pt`` file)."""
    return head[:4] in PT_MAGIC


class _Archive:
    """The entries of a ``.pt`` zip archive, checked against the file's real size before any read."""

    def __init__(self, source: IO[bytes], size: int, mapped: _mmap.mmap | None = None) -> None:
        self.size = size
        self._source = source
        self.mapped = mapped
        try:
            self.zip = zipfile.ZipFile(source)
        except MemoryError:
            raise
        except Exception as exc:  # zipfile raises many types on hostile bytes
            raise RuntimeError(
                f"PytorchStreamReader failed reading zip archive: failed finding central directory ({exc})"
            ) from None
        self.infos = {i.filename: i for i in self.zip.infolist()}
        pkl = [n for n in self.infos if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkl:
            if "data.pkl" in self.infos:
                self.prefix = ""
            elif any(n.endswith("constants.pkl") for n in self.infos):
                raise RuntimeError(
                    "this file is a TorchScript archive (torch.jit.save), which plugrad cannot load; "
                    "save the model's state_dict() with torch.save instead"
                )
            else:
                raise RuntimeError("PytorchStreamReader failed locating file data.pkl: file not found")
        elif len(pkl) > 1:
            raise RuntimeError(f"the archive holds {len(pkl)} data.pkl records ({', '.join(sorted(pkl)[:3])}...)")
        else:
            self.prefix = pkl[0][: -len("data.pkl")]

    def info(self, name: str) -> zipfile.ZipInfo:
        info = self.infos.get(self.prefix + name)
        if info is None:
            raise RuntimeError(f"PytorchStreamReader failed locating file {name}: file not found")
        if info.compress_type != zipfile.ZIP_STORED:
            raise RuntimeError(
                f"record {name!r} is compressed (method {info.compress_type}); PyTorch stores records uncompressed "
                "and plugrad reads only those"
            )
        if info.file_size != info.compress_size or info.header_offset + 30 + info.file_size > self.size:
            raise RuntimeError(f"record {name!r} declares {info.file_size} bytes, more than the file holds")
        return info

    def read(self, name: str) -> bytes:
        info = self.info(name)
        try:
            data = self.zip.read(info)
        except MemoryError:
            raise
        except Exception as exc:  # a bad CRC, a damaged local header ...
            raise RuntimeError(f"PytorchStreamReader failed reading record {name!r}: {exc}") from None
        if len(data) != info.file_size:
            raise RuntimeError(f"record {name!r} is truncated")
        return data

    def view(self, name: str) -> memoryview:
        """The bytes of a record as a slice of a memory-mapped file (no copy, no CRC check)."""
        info = self.info(name)
        mm = self.mapped
        if mm is None:  # pragma: no cover - only called for mapped archives
            raise RuntimeError("the archive is not memory-mapped")
        start = info.header_offset
        head = mm[start : start + 30]
        if len(head) != 30 or head[:4] != b"PK\x03\x04":
            raise RuntimeError(f"record {name!r} has a damaged local header")
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        begin = start + 30 + name_len + extra_len
        if begin + info.file_size > self.size:
            raise RuntimeError(f"record {name!r} runs past the end of the file")
        return memoryview(mm)[begin : begin + info.file_size]


def _location_backend(location: str, map_location: Any, cpu_flat: Callable[[], Tensor]) -> Tensor | Any:
    """The backend for a storage saved at ``location`` under ``map_location`` (or a tensor from a callable)."""
    if callable(map_location) and not isinstance(map_location, (str, device)):
        result = map_location(cpu_flat(), location)
        if result is None:
            return _location_backend(location, None, cpu_flat)
        if isinstance(result, Tensor):
            return result
        return backend_for_device(result)
    if isinstance(map_location, dict):
        target = map_location.get(location, location)
        return _location_backend(str(target), None, cpu_flat)
    if map_location is not None:
        return backend_for_device(map_location)
    try:
        return backend_for_device(location)
    except Exception as exc:
        if location.startswith("cuda"):
            raise RuntimeError(
                "Attempting to deserialize object on a CUDA device but plugrad.cuda.is_available() is False. "
                "If you are running on a CPU-only machine, please use plugrad.load with "
                "map_location=plugrad.device('cpu') to map your storages to the CPU."
            ) from None
        raise RuntimeError(
            f"a storage was saved on device {location!r}, which is not available here ({exc}); "
            "pass map_location='cpu' to load it elsewhere"
        ) from None


def _check_map_location(map_location: Any) -> None:
    if map_location is None or isinstance(map_location, (str, device, dict)) or callable(map_location):
        if isinstance(map_location, str):
            device(map_location)  # PyTorch's error for a malformed device string
        return
    raise TypeError(
        f"map_location should be a str, a plugrad.device, a dict or a callable, not {type(map_location).__name__}"
    )


def load(
    f: str | os.PathLike[str] | IO[bytes],
    map_location: Any = None,
    *,
    weights_only: bool = True,
    mmap: bool = False,
) -> Any:
    """Read a ``.pt`` archive (see the module docstring); ``plugrad.load`` calls this for zip files."""
    _check_map_location(map_location)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            if mmap:
                size = os.fstat(fh.fileno()).st_size
                if size == 0:
                    raise RuntimeError("PytorchStreamReader failed reading zip archive: the file is empty")
                mm = _mmap.mmap(fh.fileno(), 0, access=_mmap.ACCESS_COPY)
                return _load_archive(fh, size, map_location, weights_only, mapped=mm)
            size = os.fstat(fh.fileno()).st_size
            return _load_archive(fh, size, map_location, weights_only)
    if mmap:
        raise ValueError("f must be a file path in order to use the mmap argument")
    if not (hasattr(f, "read") and hasattr(f, "seek")):
        raise TypeError(f"plugrad.load expects a path or a binary file object, got {type(f).__name__}")
    start = f.tell()
    end = f.seek(0, io.SEEK_END)
    f.seek(start)
    return _load_archive(f, end - start, map_location, weights_only)


def _load_archive(
    source: IO[bytes], size: int, map_location: Any, weights_only: bool, mapped: _mmap.mmap | None = None
) -> Any:
    archive = _Archive(source, size, mapped)
    order = archive.read("byteorder") if archive.prefix + "byteorder" in archive.infos else b"little"
    if order.strip() != b"little":
        raise RuntimeError(f"the file was written with byte order {order!r:.40}; plugrad reads little-endian files")
    storages: dict[str, _Storage] = {}

    def load_storage(stype: _StorageType, key: str, location: str, numel: int) -> _Storage:
        known = storages.get(key)
        if known is not None:
            if known.dtype_name != stype.dtype_name or known.numel != numel:
                raise UnpicklingError(f"storage {key!r} is declared twice with different types or sizes")
            return known
        name = f"data/{key}"
        itemsize = _ITEMSIZE[stype.dtype_name]
        info = archive.info(name)
        if info.file_size != numel * itemsize:
            raise UnpicklingError(
                f"storage {key!r} declares {numel} elements of {stype!r} ({numel * itemsize} bytes) "
                f"but its record holds {info.file_size} bytes"
            )
        dt = _plugrad_dtype(stype.dtype_name)
        if dt is None:
            raise RuntimeError(f"the file holds a tensor of {stype!r}, and plugrad has no {stype.dtype_name} dtype")
        raw: bytes | memoryview = archive.view(name) if mapped is not None else archive.read(name)

        def on(be: Any) -> Tensor:
            if dt not in be.dtype_to_native:
                raise RuntimeError(f"backend {be.name!r} does not support {dt!r} (storage {key!r})")
            return _make(Tensor, be.from_bytes(raw, be.dtype_to_native[dt], (numel,)), dt, be)

        cache: list[Tensor] = []

        def cpu_flat() -> Tensor:
            if not cache:
                cache.append(on(backend_for_device("cpu")))
            return cache[0]

        target = _location_backend(location, map_location, cpu_flat)
        flat = target if isinstance(target, Tensor) else on(target)
        if not isinstance(flat, Tensor) or tuple(flat.shape) != (numel,) or flat.dtype is not dt:
            raise RuntimeError(f"map_location returned {type(flat).__name__} for storage {key!r}; expected its storage")
        storage = _Storage(flat, numel, stype.dtype_name, key)
        storages[key] = storage
        return storage

    data = archive.read("data.pkl")
    unpickler = Unpickler(io.BytesIO(data), weights_only=weights_only, load_storage=load_storage)
    if not weights_only:
        return unpickler.load()
    try:
        return unpickler.load()
    except (UnpicklingError, RuntimeError):
        raise
    except RecursionError:
        raise weights_only_error("the pickle nests too deeply") from None
    except (EOFError, TypeError, ValueError, IndexError, KeyError, AttributeError, struct.error, OverflowError) as exc:
        raise weights_only_error(f"{type(exc).__name__}: {exc}") from None


# --------------------------------------------------------------------------- writing
class _Global:
    """A name written as a pickle GLOBAL (``torch._utils._rebuild_tensor_v2``) without importing it."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name

    def __call__(self, *args: object) -> None:  # pickle requires a callable in a reduce tuple
        raise TypeError(f"{self.module}.{self.name} is a name written into a pickle, not a function")


_GLOBALS: dict[tuple[str, str], _Global] = {}


def _global(module: str, name: str) -> _Global:
    g = _GLOBALS.get((module, name))
    if g is None:
        g = _GLOBALS[module, name] = _Global(module, name)
    return g


class _StorageRef:
    __slots__ = ("key", "tensor", "dtype_name", "location")

    def __init__(self, key: str, tensor: Tensor, location: str) -> None:
        self.key = key
        self.tensor = tensor
        self.dtype_name = tensor.dtype.name
        self.location = location


class _DataOf:
    """A parameter's data, pickled as a plain tensor without ``requires_grad``."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: Tensor) -> None:
        self.tensor = tensor


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(strides))


class Pickler(_PyPickler):  # type: ignore[misc]
    """Pickles an object as ``torch.save`` does: tensors become storage records and rebuild calls."""

    def __init__(self, file: IO[bytes], protocol: int = 2) -> None:
        super().__init__(file, protocol)
        self.storages: list[_StorageRef] = []
        self._by_tensor: dict[int, _StorageRef] = {}
        self._keep: list[object] = []

    def _storage(self, t: Tensor) -> _StorageRef:
        ref = self._by_tensor.get(id(t))
        if ref is None:
            if t.dtype.name not in _STORAGE_BY_DTYPE:
                raise TypeError(f"plugrad.save: no PyTorch storage type for {t.dtype!r}")
            be = t._backend
            location = "cpu" if be.device_type == "cpu" else f"{be.device_type}:0"
            ref = _StorageRef(str(len(self.storages)), t, location)
            self.storages.append(ref)
            self._by_tensor[id(t)] = ref
            self._keep.append(t)
        return ref

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _StorageRef):
            stype = _global("torch", _STORAGE_BY_DTYPE[obj.dtype_name])
            return ("storage", stype, obj.key, obj.location, obj.tensor.numel())
        return None

    def _tensor_args(self, t: Tensor, requires_grad: bool) -> tuple[Any, ...]:
        shape = tuple(t.shape)
        return (self._storage(t), 0, shape, _contiguous_strides(shape), requires_grad, collections.OrderedDict())

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, Tensor):
            cls = _parameter_class()
            if cls is not None and isinstance(obj, cls):
                return (
                    _global("torch._utils", "_rebuild_parameter"),
                    (_DataOf(obj), obj.requires_grad, collections.OrderedDict()),
                )
            return (_global("torch._utils", "_rebuild_tensor_v2"), self._tensor_args(obj, obj.requires_grad))
        if isinstance(obj, _DataOf):
            return (_global("torch._utils", "_rebuild_tensor_v2"), self._tensor_args(obj.tensor, False))
        if isinstance(obj, Size):
            return (_global("torch", "Size"), (tuple(obj),))
        if isinstance(obj, device):
            return (_global("torch", "device"), (str(obj),))
        return NotImplemented

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        if isinstance(obj, D.dtype):
            return self._write_global(obj, "torch", obj.name if obj.name != "bool" else "bool")
        if isinstance(obj, _Global):
            return self._write_global(obj, obj.module, obj.name)
        super().save(obj, save_persistent_id)
        return None

    def _write_global(self, obj: object, module: str, name: str) -> None:
        found = self.memo.get(id(obj))
        if found is not None:
            self.write(self.get(found[0]))
            return
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)


def _tensor_bytes(t: Tensor) -> bytes:
    data = t.detach()
    return bytes(data._backend.to_bytes(data._data))


_ALIGNMENT = 64


def _write_records(fileobj: IO[bytes], prefix: str, records: Iterable[tuple[str, Callable[[], bytes]]]) -> None:
    try:
        base = fileobj.tell()
        seekable = True
    except (OSError, AttributeError):
        base, seekable = 0, False
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, produce in records:
            data = produce()
            info = zipfile.ZipInfo(f"{prefix}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            if seekable:
                pos = fileobj.tell() - base
                start = pos + 30 + len(info.filename.encode("utf-8")) + 4
                pad = -start % _ALIGNMENT
                info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            zf.writestr(info, data)


def _archive_name(f: object) -> str:
    if isinstance(f, (str, os.PathLike)):
        stem = os.path.splitext(os.path.basename(os.fspath(f)))[0]
        if stem and all(c.isalnum() or c in "_-." for c in stem) and stem.isascii():
            return stem
    return "archive"


def dumps_into(obj: Any, fileobj: IO[bytes], archive: str, protocol: int = 2) -> None:
    """Write ``obj`` as a ``.pt`` archive into the binary file object ``fileobj``."""
    buf = io.BytesIO()
    pickler = Pickler(buf, protocol)
    pickler.dump(obj)
    storages = pickler.storages
    records: list[tuple[str, Callable[[], bytes]]] = [
        ("data.pkl", buf.getvalue),
        (".format_version", lambda: b"1"),
        (".storage_alignment", lambda: str(_ALIGNMENT).encode()),
        ("byteorder", lambda: sys.byteorder.encode() if sys.byteorder == "little" else b"little"),
    ]
    for ref in storages:
        records.append((f"data/{ref.key}", lambda t=ref.tensor: _tensor_bytes(t)))  # type: ignore[misc]
    records.append(("version", lambda: b"3\n"))
    records.append(
        (".data/serialization_id", lambda: f"{int.from_bytes(os.urandom(17), 'little') % 10**40:040d}".encode())
    )
    _write_records(fileobj, archive, records)


def save(obj: Any, f: str | os.PathLike[str] | IO[bytes], protocol: int = 2) -> None:
    """Write ``obj`` to ``f`` in PyTorch's format; a path is written atomically."""
    if not isinstance(protocol, int) or isinstance(protocol, bool) or not 2 <= protocol <= pickle.HIGHEST_PROTOCOL:
        raise ValueError(f"pickle_protocol must be an int from 2 to {pickle.HIGHEST_PROTOCOL}, got {protocol!r}")
    archive = _archive_name(f)
    if not isinstance(f, (str, os.PathLike)):
        if not hasattr(f, "write"):
            raise AttributeError(f"'{type(f).__name__}' object has no attribute 'write'")
        dumps_into(obj, f, archive, protocol)
        return
    from ._safetensors import _atomic_write

    _atomic_write(f, lambda fh: dumps_into(obj, fh, archive, protocol), file_mode="w+b")
