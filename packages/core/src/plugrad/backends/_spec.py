"""Records exchanged through the backend hooks, and the kernel catalogue.

Kernels are named and typed after the Python array API standard. Each takes and
returns the backend's own array objects (never plugrad tensors); dtypes are passed as
the backend's own dtype objects taken from :attr:`BackendSpec.dtypes`. Arrays returned
by a kernel must be real arrays (also when 0-d) that support the standard's attributes
``shape`` and ``ndim`` and in-place operators.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONTRACT_VERSION",
    "BackendSpec",
    "KernelOverride",
    "KERNELS",
    "REQUIRED_KERNELS",
    "OPTIONAL_KERNELS",
]

#: The version of the backend contract this plugrad-core implements. A backend states
#: the version it was written for; the major number must match.
CONTRACT_VERSION = "1.0"

_UNARY = "(x) -> array"
_BINARY = "(x1, x2) -> array; x1/x2 are arrays of one dtype or a Python scalar, broadcasting as the standard says"

#: Every kernel of the contract, with its signature. Names and semantics follow the
#: array API standard where it has the function.
KERNELS: dict[str, str] = {
    # creation
    "asarray": "(obj, dtype) -> array; obj is a (nested) Python list/scalar or an array of this backend; always copies",
    "zeros": "(shape: tuple[int, ...], dtype) -> array",
    "ones": "(shape, dtype) -> array",
    "full": "(shape, fill_value, dtype) -> array",
    "empty": "(shape, dtype) -> array",
    "arange": "(start, stop, step, dtype) -> array",
    "linspace": "(start, stop, num: int, dtype) -> array; endpoint included",
    "random_uniform": "(shape, dtype) -> array; U[0, 1) from the backend's generator",
    "random_normal": "(shape, dtype) -> array; N(0, 1) from the backend's generator",
    "random_seed": "(seed: int) -> None; reseed the backend's generator",
    # elementwise, binary
    "add": _BINARY,
    "subtract": _BINARY,
    "multiply": _BINARY,
    "divide": _BINARY + "; true division",
    "pow": _BINARY,
    "floor_divide": _BINARY,
    "remainder": _BINARY + "; the result has the sign of x2 (Python's %)",
    "maximum": _BINARY + "; NaN propagates",
    "minimum": _BINARY + "; NaN propagates",
    "equal": _BINARY + " of bool",
    "not_equal": _BINARY + " of bool",
    "less": _BINARY + " of bool",
    "less_equal": _BINARY + " of bool",
    "greater": _BINARY + " of bool",
    "greater_equal": _BINARY + " of bool",
    "logical_and": _BINARY + " of bool",
    "logical_or": _BINARY + " of bool",
    "logical_xor": _BINARY + " of bool",
    # elementwise, unary
    "negative": _UNARY,
    "abs": _UNARY,
    "sign": _UNARY,
    "exp": _UNARY,
    "expm1": _UNARY,
    "log": _UNARY,
    "log2": _UNARY,
    "log10": _UNARY,
    "log1p": _UNARY,
    "sqrt": _UNARY,
    "sin": _UNARY,
    "cos": _UNARY,
    "tan": _UNARY,
    "tanh": _UNARY,
    "floor": _UNARY,
    "ceil": _UNARY,
    "round": _UNARY + "; half to even",
    "trunc": _UNARY,
    "isnan": _UNARY + " of bool",
    "isinf": _UNARY + " of bool",
    "isfinite": _UNARY + " of bool",
    "logical_not": _UNARY + " of bool",
    "where": "(condition, x1, x2) -> array",
    "clip": "(x, min, max) -> array; min/max are arrays, scalars or None",
    # reductions
    "sum": "(x, axis: tuple[int, ...] | None, keepdims: bool) -> array; same dtype as x for floats, int64 for ints and bools",
    "prod": "(x, axis, keepdims) -> array; dtype as sum",
    "mean": "(x, axis, keepdims) -> array; floating x only",
    "max": "(x, axis, keepdims) -> array",
    "min": "(x, axis, keepdims) -> array",
    "argmax": "(x, axis: int | None, keepdims) -> array of int64; first occurrence",
    "argmin": "(x, axis: int | None, keepdims) -> array of int64; first occurrence",
    "all": "(x, axis, keepdims) -> array of bool",
    "any": "(x, axis, keepdims) -> array of bool",
    "cumulative_sum": "(x, axis: int) -> array",
    "cumulative_prod": "(x, axis: int) -> array",
    # linear algebra
    "matmul": "(x1, x2) -> array; the standard's matmul (batched, broadcasting)",
    # shape and copies
    "reshape": "(x, shape) -> array; a view where the layout allows",
    "permute_dims": "(x, axes) -> array; a view",
    "broadcast_to": "(x, shape) -> array; a read-only view",
    "concat": "(arrays: list, axis: int) -> array",
    "stack": "(arrays: list, axis: int) -> array",
    "flip": "(x, axis: tuple[int, ...]) -> array",
    "roll": "(x, shift: tuple[int, ...], axis: tuple[int, ...]) -> array",
    "tile": "(x, reps: tuple[int, ...]) -> array",
    "astype": "(x, dtype) -> array; always a new array",
    "copy": "(x) -> array; a new contiguous array with the same values",
    # indexing
    "getitem": "(x, key) -> array; key as the standard's __getitem__ plus integer-array and boolean-array "
    "indices (NumPy's advanced indexing); integer-only keys give 0-d views",
    "setitem": "(x, key, value) -> None; in place, same keys as getitem",
    "take_along_axis": "(x, indices, axis: int) -> array",
    "index_add": "(x, key, values) -> None; in place x[key] += values, accumulating repeated indices",
    # in place (for optimizers and no_grad updates; dtype of x never changes)
    "copy_into": "(dst, src) -> None; dst[...] = src with broadcasting and casting to dst's dtype",
    # conversion
    "tolist": "(x) -> nested Python lists of float/int/bool (a bare scalar for 0-d)",
    "to_bytes": "(x) -> bytes; C-order little-endian raw values",
    "from_bytes": "(buf, dtype, shape) -> array; a new array",
    # optional: DLPack exchange (capability "dlpack")
    "from_dlpack": "(obj) -> array; an array sharing memory with a DLPack-capable object (optional)",
    "to_dlpack": "(x, **kwargs) -> capsule; x.__dlpack__(**kwargs) (optional)",
}

#: Kernels a backend may leave out: plugrad composes them from others (or, for
#: DLPack, reports the capability as missing).
OPTIONAL_KERNELS: frozenset[str] = frozenset({"from_dlpack", "to_dlpack"})

REQUIRED_KERNELS: frozenset[str] = frozenset(KERNELS) - OPTIONAL_KERNELS


@dataclass(frozen=True)
class BackendSpec:
    """What a plugin says about one backend (returned from ``plugrad_backends``).

    :param name: unique backend name, also usable as a device string.
    :param device_type: the device family: ``"cpu"`` for host memory, ``"cuda"``, ...
    :param contract_version: the :data:`CONTRACT_VERSION` the backend was written for.
    :param kernels: kernel name -> callable; every name in :data:`REQUIRED_KERNELS`.
    :param dtypes: plugrad dtype name (``"float32"``, ...) -> the backend's dtype object.
        ``bool``, ``int64`` and ``float32`` are required; others are optional.
    :param array_types: the backend's array type(s), to recognise its arrays.
    :param capabilities: free-form flags such as ``"dlpack"``, ``"float64"``, ``"views"``.
    :param priority: among backends of one ``device_type``, the highest is the default.
    :param unavailable_reason: set (and ``kernels`` left empty) when the backend cannot run
        here, e.g. ``"cupy not installed"``.
    :param version: the version of the array library underneath, for ``plugrad info``.
    """

    name: str
    device_type: str
    contract_version: str
    kernels: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    dtypes: Mapping[str, Any] = field(default_factory=dict)
    array_types: tuple[type, ...] = ()
    capabilities: frozenset[str] = frozenset()
    priority: int = 0
    unavailable_reason: str | None = None
    version: str = ""


@dataclass(frozen=True)
class KernelOverride:
    """One kernel replaced by a plugin (returned from ``plugrad_kernel_overrides``).

    :param op: the kernel name, one of :data:`KERNELS`.
    :param kernel: the replacement, with the same signature.
    :param priority: must be positive; the highest priority wins, ties are errors.
    """

    op: str
    kernel: Callable[..., Any]
    priority: int = 1
