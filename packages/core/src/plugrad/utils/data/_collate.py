"""``default_collate`` and ``default_convert``: turn a list of samples into a batch.

The rules are PyTorch's, by the type of the first sample ``elem``:

- tensor -> ``plugrad.stack(batch)``; NumPy array -> each to a tensor, then stacked;
  NumPy scalar -> ``plugrad.as_tensor(batch)``; ``float`` -> a float64 tensor;
  ``int`` (and ``bool``) -> ``plugrad.tensor(batch)``; ``str``/``bytes`` -> the list unchanged;
- mapping -> the same mapping type with each key collated; named tuple -> the same
  named tuple of collated fields; other tuple -> a *list* of collated fields (PyTorch
  keeps this for backwards compatibility); other sequence -> the same sequence type
  (a ``list`` where the type cannot be rebuilt) of collated positions.

Core never imports NumPy: NumPy values are recognised by their type's module and
``dtype`` attribute, and converted by ``plugrad.from_numpy`` (zero-copy, through the
CPU backend's DLPack kernel) or ``plugrad.as_tensor``.
"""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Callable
from typing import Any

import plugrad
from plugrad import Tensor

__all__ = ["collate", "default_collate", "default_collate_fn_map", "default_convert"]

CollateFnMap = dict[type | tuple[type, ...], Callable[..., Any]]

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)
#: NumPy dtype strings of bytes, str and object arrays, which have no tensor form
_NP_STR_OBJ = re.compile(r"[SaUO]")


def _numpy_kind(obj: Any) -> str | None:
    """``"array"`` for a NumPy ndarray (or subclass), ``"scalar"`` for a NumPy scalar, else ``None``."""
    cls = type(obj)
    if cls.__module__ != "numpy" and not any(c.__module__ == "numpy" for c in cls.__mro__[1:]):
        return None
    if any(c.__module__ == "numpy" and c.__name__ == "ndarray" for c in cls.__mro__):
        return "array"
    if isinstance(obj, (str, bytes)) or not hasattr(obj, "dtype"):
        return None  # numpy.str_ / numpy.bytes_ are collated as str / bytes
    return "scalar"


def _array_to_tensor(arr: Any) -> Tensor:
    """A tensor of a NumPy array's values: shared memory when the backend can import it, else a copy."""
    try:
        return plugrad.from_numpy(arr)
    except (TypeError, ValueError, BufferError, RuntimeError):
        return plugrad.as_tensor(arr)


def default_convert(data: Any) -> Any:
    """NumPy arrays and scalars inside ``data`` become tensors; the rest is kept (tuples become lists).

    The loader's ``collate_fn`` when automatic batching is off (``batch_size=None``).
    """
    if isinstance(data, Tensor):
        return data
    kind = _numpy_kind(data)
    if kind == "array":
        if _NP_STR_OBJ.search(data.dtype.str) is not None:
            return data
        return _array_to_tensor(data)
    if kind == "scalar":
        return plugrad.as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update({k: default_convert(data[k]) for k in data})
                return clone
            return type(data)({k: default_convert(data[k]) for k in data})  # type: ignore[call-arg]
        except TypeError:
            return {k: default_convert(data[k]) for k in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # named tuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone_seq = copy.copy(data)
                for i, d in enumerate(data):
                    clone_seq[i] = default_convert(d)
                return clone_seq
            return type(data)([default_convert(d) for d in data])  # type: ignore[call-arg]
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def collate_tensor_fn(batch: list[Tensor], *, collate_fn_map: CollateFnMap | None = None) -> Tensor:
    stacked: Tensor = plugrad.stack(batch, 0)
    return stacked


def collate_numpy_array_fn(batch: list[Any], *, collate_fn_map: CollateFnMap | None = None) -> Any:
    elem = batch[0]
    if _NP_STR_OBJ.search(elem.dtype.str) is not None:
        raise TypeError(default_collate_err_msg_format.format(elem.dtype))
    return collate([_array_to_tensor(b) for b in batch], collate_fn_map=collate_fn_map)


def collate_numpy_scalar_fn(batch: list[Any], *, collate_fn_map: CollateFnMap | None = None) -> Tensor:
    return plugrad.as_tensor(batch)


def collate_float_fn(batch: list[float], *, collate_fn_map: CollateFnMap | None = None) -> Tensor:
    return plugrad.tensor(batch, dtype=plugrad.float64)


def collate_int_fn(batch: list[int], *, collate_fn_map: CollateFnMap | None = None) -> Tensor:
    return plugrad.tensor(batch)


def collate_str_fn(batch: list[Any], *, collate_fn_map: CollateFnMap | None = None) -> list[Any]:
    return batch


#: type -> collate function for the leaves of a batch; copy it and add entries to extend
#: ``collate`` (NumPy arrays and scalars are recognised without an entry, right after
#: exact type matches, since core cannot name NumPy's classes)
default_collate_fn_map: CollateFnMap = {
    Tensor: collate_tensor_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def collate(batch: Any, *, collate_fn_map: CollateFnMap | None = None) -> Any:
    """Collate ``batch`` (a sequence of samples) by the rules in this module's docstring.

    ``collate_fn_map`` maps leaf types to functions ``fn(batch, *, collate_fn_map)``: an
    exact type match first, then NumPy values, then the first ``isinstance`` match in the
    map's order, then the container rules.
    """
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        kind = _numpy_kind(elem)
        if kind == "array":
            return collate_numpy_array_fn(batch, collate_fn_map=collate_fn_map)
        if kind == "scalar":
            return collate_numpy_scalar_fn(batch, collate_fn_map=collate_fn_map)
        for key, fn in collate_fn_map.items():
            if isinstance(elem, key):
                return fn(batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update({k: collate([d[k] for d in batch], collate_fn_map=collate_fn_map) for k in elem})
                return clone
            return elem_type({k: collate([d[k] for d in batch], collate_fn_map=collate_fn_map) for k in elem})
        except TypeError:
            return {k: collate([d[k] for d in batch], collate_fn_map=collate_fn_map) for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # named tuple
        return elem_type(*(collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))  # tuples: strings come out as tuples, as in PyTorch
        if isinstance(elem, tuple):
            return [collate(s, collate_fn_map=collate_fn_map) for s in transposed]
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone_seq = copy.copy(elem)
                for i, s in enumerate(transposed):
                    clone_seq[i] = collate(s, collate_fn_map=collate_fn_map)
                return clone_seq
            return elem_type([collate(s, collate_fn_map=collate_fn_map) for s in transposed])
        except TypeError:
            return [collate(s, collate_fn_map=collate_fn_map) for s in transposed]
    raise TypeError(default_collate_err_msg_format.format(elem_type))


def default_collate(batch: Any) -> Any:
    """Stack a list of samples into a batch with a new leading dimension (the rules above).

    >>> default_collate([(0, 1.0), (2, 3.0)])
    [tensor([0, 2]), tensor([1., 3.], dtype=plugrad.float64)]
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)
