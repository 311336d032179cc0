"""Records exchanged through the backend hooks, and the kernel catalogue.

Kernels are named and typed after the Python array API standard. Each takes and
returns the backend's own array objects (never plugrad tensors); dtypes are passed as
the backend's own dtype objects taken from :attr:`BackendSpec.dtypes`. Arrays returned
by a kernel must be real arrays (also when 0-d) that support the standard's attributes
``shape``, ``ndim`` and ``dtype`` (one of the values of :attr:`BackendSpec.dtypes`) and
the in-place operators ``+=``, ``-=``, ``*=`` and ``/=``. Operands of binary kernels
always have one dtype (plugrad promotes first); a Python scalar operand is of a kind
the array's dtype holds (no float scalar with an integer array).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CAPABILITIES",
    "CONTRACT_VERSION",
    "check_contract_version",
    "BackendSpec",
    "KernelOverride",
    "KERNELS",
    "KERNEL_KINDS",
    "KINDS",
    "kernels_of_kind",
    "REQUIRED_KERNELS",
    "OPTIONAL_KERNELS",
    "SPECIAL_KERNELS",
    "LINALG_KERNELS",
]

#: The version of the backend contract this plugrad-core implements, ``"MAJOR.MINOR"``.
#: A backend states the version it was written for. plugrad-core accepts a backend
#: written for the same major version and a minor version up to its own: minor versions
#: only add optional kernels, major versions change or remove required ones.
#: 1.1 added sort/argsort, the bitwise kernels and to_numpy; 1.2 the special functions
#: (:data:`SPECIAL_KERNELS`: erf, erfc, erfinv, lgamma, digamma, hypot, logaddexp,
#: logaddexp2, copysign, xlogy); 1.3 the linear-algebra kernels (:data:`LINALG_KERNELS`).
CONTRACT_VERSION = "1.3"

#: Capability flags a backend may declare in :attr:`BackendSpec.capabilities`, and what
#: each promises. Dtype support is not a capability: it is the dtype table itself.
CAPABILITIES: dict[str, str] = {
    "dlpack": "the from_dlpack/to_dlpack kernels exist: tensors cross to other DLPack libraries without a copy",
    "views": "reshape (where the layout allows), permute_dims, broadcast_to and basic getitem return views "
    "sharing memory with their input, so writes through a view reach the base (PyTorch's view semantics)",
    "shares_memory_with_numpy": "the backend's arrays are NumPy arrays (plugrad.from_numpy and Tensor.numpy() share memory)",
}


def check_contract_version(version: object) -> str | None:
    """Why a backend written for contract ``version`` cannot run on this plugrad-core (``None`` if it can)."""
    parts = version.split(".") if isinstance(version, str) else []
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return f"has a malformed contract_version {version!r} (expected 'MAJOR.MINOR', e.g. {CONTRACT_VERSION!r})"
    major, minor = int(parts[0]), int(parts[1])
    core_major, core_minor = (int(p) for p in CONTRACT_VERSION.split("."))
    if major != core_major:
        newer = "a newer" if major > core_major else "an older"
        return (
            f"was written for backend contract {version}, but this plugrad-core implements contract "
            f"{CONTRACT_VERSION} ({newer} major version: the required kernels differ); install a plugrad-core "
            f"release implementing contract {major}.x, or a release of the backend written for {core_major}.x"
        )
    if minor > core_minor:
        return (
            f"was written for backend contract {version}, newer than contract {CONTRACT_VERSION} of this "
            f"plugrad-core; upgrade plugrad-core"
        )
    return None


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
    "reshape": "(x, shape, copy=None) -> array; a view where the layout allows; copy=False: a view or ValueError "
    "(the standard's semantics; plugrad's view() relies on it), copy=True: always a new array",
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
    # optional (contract 1.1): sorting; plugrad sorts through tolist in Python when absent
    "sort": "(x, *, axis: int, descending: bool, stable: bool) -> array; the standard's sort along axis (arguments "
    "by keyword; x numeric, never bool, with at least one dim); NaN sorts after every number (first when descending); stable keeps "
    "equal elements in input order (optional)",
    "argsort": "(x, *, axis: int, descending: bool, stable: bool) -> array of int64; the indices that sort x "
    "along axis, ordered as sort orders the values (optional)",
    # optional (contract 1.1): bitwise ops on integer (and bool) arrays; plugrad computes them through tolist when absent
    "bitwise_and": _BINARY + "; integer or bool arrays (optional)",
    "bitwise_or": _BINARY + "; integer or bool arrays (optional)",
    "bitwise_xor": _BINARY + "; integer or bool arrays (optional)",
    "bitwise_invert": _UNARY + "; integer or bool arrays; ~x (optional)",
    # optional (contract 1.1): conversion to NumPy for Tensor.numpy() and __array__
    "to_numpy": "(x) -> numpy.ndarray; the values as a NumPy array, sharing memory where the backend can (the NumPy "
    "backend returns x itself); Tensor.numpy() raises naming the backend when absent (optional)",
    # optional: DLPack exchange (capability "dlpack")
    "from_dlpack": "(obj) -> array; an array sharing memory with a DLPack-capable object (optional)",
    "to_dlpack": "(x, **kwargs) -> capsule; x.__dlpack__(**kwargs) (optional)",
    # optional: fused elementwise kernels (plugrad composes them from the kernels above when absent)
    "sigmoid": "(x) -> array; 1 / (1 + exp(-x)) for floating x, without overflow for large |x| (optional)",
    # optional (issue 17): Tensor.data_ptr(); plugrad reads __array_interface__ or falls back to id() when absent
    "data_ptr": "(x) -> int; the address of x's first element (optional)",
    # optional (contract 1.2): independent RNG streams for plugrad.Generator (plugrad draws in Python when absent)
    "random_generator": "(seed: int | None) -> stream; seed None: the backend's default stream (the one random_uniform, "
    "random_normal and random_seed use); an int (0 <= seed < 2**64): a new stream independent of every other, drawing "
    "after random_generator(s) what the default stream draws after random_seed(s). A stream has methods "
    "uniform(shape, dtype) and normal(shape, dtype) (as random_uniform/random_normal), seed(seed: int) -> None, "
    "get_state() -> bytes and set_state(state: bytes) -> None (ValueError for bytes get_state cannot have given) "
    "(optional)",
    # optional (contract 1.2): special functions of floating x; plugrad.ops._special computes each from
    # required kernels when absent (docs/writing-a-backend.md gives the method and the cost)
    "erf": _UNARY + "; the error function 2/sqrt(pi) * integral_0^x exp(-t**2) dt (optional)",
    "erfc": _UNARY + "; 1 - erf(x), accurate where erf(x) is close to 1 (optional)",
    "erfinv": _UNARY + "; the inverse of erf on [-1, 1]: +-inf at +-1, nan outside (optional)",
    "lgamma": _UNARY + "; log|gamma(x)|: +inf at 0 and the negative integers (optional)",
    "digamma": _UNARY + "; d/dx lgamma(x): -inf at 0, nan at the negative integers (PyTorch's values) (optional)",
    "hypot": _BINARY + "; sqrt(x1**2 + x2**2) without overflow or underflow; inf if either is inf (optional)",
    "logaddexp": _BINARY + "; log(exp(x1) + exp(x2)) without overflow (optional)",
    "logaddexp2": _BINARY + "; log2(2**x1 + 2**x2) without overflow (optional)",
    "copysign": _BINARY + "; |x1| with the sign (bit) of x2 (optional)",
    "xlogy": _BINARY + "; x1 * log(x2), and 0 where x1 == 0 unless x2 is nan (SciPy's xlogy) (optional)",
    # ------------------------------------------------------------------ linalg (issue 17)
    # optional (contract 1.3): the array API's linalg extension, for plugrad.linalg. Inputs are floating
    # arrays of shape (..., m, n) with at least 2 dims (core checks shapes and dtypes and broadcasts batch
    # dims first). The kernels that fail on singular or non-positive-definite input return LAPACK's info
    # next to the result instead of raising: an int array of the batch shape, 0 where the matrix was fine,
    # k > 0 where the k-th pivot (1-based) was exactly zero (inv, solve) or the leading minor of order k is
    # not positive-definite (cholesky); the result's values there are unspecified. plugrad raises
    # plugrad.linalg.LinAlgError with PyTorch's message from it. Without a kernel, the plugrad.linalg
    # functions needing it raise an error naming the kernel.
    "linalg_inv": "(x) -> (array, info); the inverse of each square matrix (optional)",
    "linalg_solve": "(x1, x2) -> (array, info); X with x1 @ X == x2, x1 (..., n, n), x2 (..., n, k) with the same "
    "batch dims (optional)",
    "linalg_cholesky": "(x) -> (array, info); the lower Cholesky factor L (L @ L^T == x) of each symmetric "
    "positive-definite matrix, reading the lower triangle (optional)",
    "linalg_det": "(x) -> array; the determinant of each square matrix, shape (...) (optional)",
    "linalg_slogdet": "(x) -> (sign, logabsdet); det == sign * exp(logabsdet); sign 0 and logabsdet -inf for a "
    "singular matrix (optional)",
    "linalg_qr": "(x, *, mode: str) -> (Q, R); mode 'reduced' (Q (..., m, k), R (..., k, n), k = min(m, n)) or "
    "'complete' (Q (..., m, m), R (..., m, n)) (optional)",
    "linalg_eigh": "(x) -> (eigenvalues, eigenvectors); x symmetric; eigenvalues ascending, shape (..., n); "
    "eigenvectors orthonormal columns (..., n, n) (optional)",
    "linalg_svd": "(x, *, full_matrices: bool) -> (U, S, Vh); x == U @ diag(S) @ Vh, S descending and "
    "non-negative (optional)",
    "linalg_svdvals": "(x) -> array; the singular values, descending, shape (..., min(m, n)) (optional)",
    "linalg_solve_triangular": "(x1, x2, *, upper: bool, unitriangular: bool) -> array; X with x1 @ X == x2 for "
    "triangular x1 (..., n, n), reading only its upper or lower triangle (and taking its diagonal as ones "
    "if unitriangular), x2 (..., n, k) with the same batch dims; not in the standard (optional)",
}

#: The special functions of contract 1.2: optional, with fallbacks in core built from required kernels.
SPECIAL_KERNELS: frozenset[str] = frozenset(
    {"erf", "erfc", "erfinv", "lgamma", "digamma", "hypot", "logaddexp", "logaddexp2", "copysign", "xlogy"}
)

#: The linear-algebra kernels of contract 1.3 (the array API's linalg extension, plus solve_triangular):
#: optional, with no fallback; plugrad.linalg raises naming the kernel a backend lacks.
LINALG_KERNELS: frozenset[str] = frozenset(
    {
        "linalg_inv", "linalg_solve", "linalg_cholesky", "linalg_det", "linalg_slogdet", "linalg_qr",
        "linalg_eigh", "linalg_svd", "linalg_svdvals", "linalg_solve_triangular",
    }
)  # fmt: skip

#: Kernels a backend may leave out: plugrad composes them from others (or, for
#: DLPack, reports the capability as missing). A backend written for an older minor
#: version of the contract simply lacks the optional kernels added since.
OPTIONAL_KERNELS: frozenset[str] = frozenset(
    {
        "from_dlpack",
        "to_dlpack",
        "sigmoid",
        "sort",
        "argsort",
        "bitwise_and",
        "bitwise_or",
        "bitwise_xor",
        "bitwise_invert",
        "to_numpy",
        "random_generator",
        "data_ptr",
    }
    | SPECIAL_KERNELS
    | LINALG_KERNELS
)

REQUIRED_KERNELS: frozenset[str] = frozenset(KERNELS) - OPTIONAL_KERNELS

#: What each kind of kernel takes and returns; the checked-kernel rules
#: (``PLUGRAD_CHECK_KERNELS``), the conformance suite and the array-API adapter read the
#: kind of a kernel from :data:`KERNEL_KINDS` instead of listing kernel names again.
KINDS: dict[str, str] = {
    "unary": "elementwise (x) -> array of x's dtype and shape",
    "predicate": "elementwise (x) -> array of bool, x's shape",
    "binary": "elementwise (x1, x2) -> array of the operands' dtype, broadcast shape",
    "comparison": "elementwise (x1, x2) -> array of bool, broadcast shape",
    "reduction": "(x, axis, keepdims) -> array of x's dtype",
    "accumulating_reduction": "(x, axis, keepdims) -> floats keep their dtype, integers and bools give int64",
    "boolean_reduction": "(x, axis, keepdims) -> array of bool",
    "index_reduction": "(x, axis, keepdims) -> array of int64",
    "scan": "(x, axis) -> array of x's shape; dtype as accumulating_reduction",
    "creation": "(shape, ..., dtype) -> array of that shape and dtype",
    "in_place": "(x, ...) -> None; writes into x, never changing its shape or dtype",
    "other": "its own signature (see KERNELS)",
}

_KIND_MEMBERS: dict[str, tuple[str, ...]] = {
    "unary": (
        "negative", "abs", "sign", "exp", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin", "cos", "tan",
        "tanh", "floor", "ceil", "round", "trunc", "sigmoid", "bitwise_invert",
        "erf", "erfc", "erfinv", "lgamma", "digamma",
    ),
    "predicate": ("isnan", "isinf", "isfinite", "logical_not"),
    "binary": (
        "add", "subtract", "multiply", "divide", "pow", "floor_divide", "remainder", "maximum", "minimum",
        "bitwise_and", "bitwise_or", "bitwise_xor", "hypot", "logaddexp", "logaddexp2", "copysign", "xlogy",
    ),
    "comparison": (
        "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
        "logical_xor",
    ),
    "reduction": ("mean", "max", "min"),
    "accumulating_reduction": ("sum", "prod"),
    "boolean_reduction": ("all", "any"),
    "index_reduction": ("argmax", "argmin"),
    "scan": ("cumulative_sum", "cumulative_prod"),
    "creation": ("zeros", "ones", "full", "empty", "random_uniform", "random_normal"),
    "in_place": ("setitem", "index_add", "copy_into"),
}  # fmt: skip

#: kernel name -> its kind (a key of :data:`KINDS`); every kernel of :data:`KERNELS` has one.
KERNEL_KINDS: dict[str, str] = {
    name: next((kind for kind, members in _KIND_MEMBERS.items() if name in members), "other") for name in KERNELS
}


def kernels_of_kind(kind: str) -> tuple[str, ...]:
    """The kernels of one kind (a key of :data:`KINDS`), in catalogue order."""
    if kind not in KINDS:
        raise ValueError(f"unknown kernel kind {kind!r}; expected one of {sorted(KINDS)}")
    return tuple(name for name, k in KERNEL_KINDS.items() if k == kind)


@dataclass(frozen=True)
class BackendSpec:
    """What a plugin says about one backend (returned from ``plugrad_backends``).

    :param name: unique backend name, also usable as a device string.
    :param device_type: the device family: ``"cpu"`` for host memory, ``"cuda"``, ...
    :param contract_version: the :data:`CONTRACT_VERSION` the backend was written for.
    :param kernels: kernel name -> callable; every name in :data:`REQUIRED_KERNELS`.
    :param dtypes: plugrad dtype name (``"float32"``, ...) -> the backend's dtype object.
        ``bool``, ``int64`` and ``float32`` are required; others are optional. The table is
        the declaration of dtype support: asking for a dtype it lacks (``bfloat16`` on a
        backend without it) raises ``TypeError`` naming the backend and the dtype.
    :param array_types: the backend's array type(s), to recognise its arrays.
    :param capabilities: flags from :data:`CAPABILITIES` (``"dlpack"``, ``"views"``, ...);
        unknown flags are kept (for third-party conventions) but mean nothing to plugrad.
    :param priority: among backends of one ``device_type``, the highest is the default.
    :param unavailable_reason: set (and ``kernels`` left empty) when the backend cannot run
        here, e.g. ``"cupy not installed"`` or ``"no CUDA device: ..."``; ``plugrad info``
        shows it and using the backend raises an error quoting it.
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
