"""A kernel table over any Python array API namespace (``xp``), for writing backends quickly.

:func:`kernels_from_namespace` maps every kernel of :data:`plugrad.backends.KERNELS`
onto the standard's functions (2023.12 or later: ``take``, ``tile``, ``clip``,
``cumulative_sum``; ``cumulative_prod`` and ``take_along_axis`` of 2024.12), and
composes the few plugrad needs that the standard lacks:

- integer-array and mixed indexing (``getitem``/``setitem``): turned into flat positions
  and :func:`take`; writes through such keys and ``index_add`` (scatter-add) use a
  one-hot matrix, ``O(selected * size)`` memory: correct everywhere, fast nowhere;
- random numbers: Python's :mod:`random` (the standard has no generator);
- ``tolist``/``to_bytes``/``from_bytes``: element by element through Python scalars
  (or the array's own ``tolist`` when it has one).

The elementwise kernels come from the catalogue's kinds (:data:`~._spec.KERNEL_KINDS`):
every unary, predicate, binary and comparison kernel that ``xp`` has under its standard
name (or a classic NumPy alias such as ``concatenate``/``transpose``/``power``, for
libraries that predate the standard's names, e.g. CuPy 13) -- so the optional special
functions of contract 1.2 (``_spec.SPECIAL_KERNELS``) are picked up where ``xp``
has them. The first-party NumPy and CuPy backends are built with this function plus a
short, named set of measured fast paths: a contract fix made here reaches all of them.

A backend overrides any of these with its library's faster function by updating the
returned dict. Nothing here imports an array library: ``xp`` is passed in.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Callable
from typing import Any

from ._spec import KERNEL_KINDS

__all__ = ["kernels_from_namespace", "dtypes_from_namespace"]

#: Standard name -> the name libraries written before the standard use for it.
_ALIASES = {
    "permute_dims": "transpose",
    "concat": "concatenate",
    "pow": "power",
    "bitwise_invert": "invert",
    "cumulative_sum": "cumsum",
    "cumulative_prod": "cumprod",
    "lgamma": "gammaln",
    "digamma": "psi",
}

#: Kernel kinds mapped one to one onto ``xp``'s elementwise functions.
_ELEMENTWISE_KINDS = ("unary", "predicate", "binary", "comparison")

_DTYPE_NAMES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")
_STRUCT = {
    "bool": "?",
    "uint8": "B",
    "int8": "b",
    "int16": "h",
    "int32": "i",
    "int64": "q",
    "float16": "e",
    "float32": "f",
    "float64": "d",
}


def dtypes_from_namespace(xp: Any) -> dict[str, Any]:
    """plugrad dtype name -> ``xp``'s dtype as its arrays report it, for the dtypes ``xp`` has.

    NumPy-like libraries spell a dtype as a scalar type (``numpy.float32``) while their
    arrays report a dtype object (``dtype('float32')``), which hashes differently; the table
    holds what ``x.dtype`` gives, so a backend can look up its own arrays' dtypes.
    """
    out: dict[str, Any] = {}
    for name in _DTYPE_NAMES:
        d = getattr(xp, name, None)
        if d is None:
            continue
        try:
            out[name] = xp.empty((0,), dtype=d).dtype
        except Exception:  # a namespace that cannot make an empty array of it: take the name's value
            out[name] = d
    return out


def kernels_from_namespace(
    xp: Any, *, seed: int | None = None, to_numpy: Callable[[Any], Any] | None = None
) -> dict[str, Callable[..., Any]]:
    """Every kernel of the plugrad backend contract, built from array API namespace ``xp``.

    :param seed: seed of the Python generator behind the random kernels.
    :param to_numpy: the optional ``to_numpy`` kernel (``Tensor.numpy()``); this module imports
        no array library, so a backend that can convert passes it in, e.g. ``numpy.from_dlpack``.
    """
    dtypes = dtypes_from_namespace(xp)
    name_of = {v: k for k, v in dtypes.items()}

    def find(name: str) -> Any:
        """``xp``'s function for standard name ``name`` (or its classic alias); ``None`` if neither."""
        fn = getattr(xp, name, None)
        return fn if fn is not None else getattr(xp, _ALIASES.get(name, name), None)

    i64 = xp.int64
    rng = random.Random(seed)
    permute_dims, concat = find("permute_dims"), find("concat")
    _astype = getattr(xp, "astype", None)

    def astype(x: Any, dtype: Any, copy: bool = True) -> Any:
        # the standard's function, or the array method of libraries that predate it (CuPy 13)
        return _astype(x, dtype, copy=copy) if _astype is not None else x.astype(dtype, copy=copy)

    def fresh(obj: Any, dtype: Any = None) -> Any:
        """A new array with ``obj``'s values (``asarray(copy=True)``; ``array`` where asarray has no ``copy``)."""
        try:
            return xp.asarray(obj, dtype=dtype, copy=True)
        except TypeError:
            return xp.array(obj, dtype=dtype, copy=True)

    def is_array(v: Any) -> bool:
        return hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, (int, float, bool))

    def dtype_name(dt: Any) -> str:
        n = name_of.get(dt)
        if n is None:
            # NumPy-like libraries: ``xp.float32`` is a scalar type, ``x.dtype`` a dtype instance named "float32"
            n = name_of[dt] = str(dt) if str(dt) in dtypes else ""
        return n

    def kind(dt: Any) -> str:
        n = dtype_name(dt)
        return "bool" if n == "bool" else "float" if n.startswith("float") else "int"

    def binary(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        # Python scalars become 0-d arrays of the other operand's dtype (plugrad promotes first)
        def kernel(x1: Any, x2: Any) -> Any:
            if not is_array(x1):
                x1 = xp.asarray(x1, dtype=x2.dtype)
            elif not is_array(x2):
                x2 = xp.asarray(x2, dtype=x1.dtype)
            return fn(x1, x2)

        return kernel

    # ---------------------------------------------------------------- creation
    def asarray(obj: Any, dtype: Any) -> Any:
        return fresh(obj, dtype)

    def random_uniform(shape: tuple[int, ...], dtype: Any) -> Any:
        n = math.prod(shape)
        return xp.reshape(xp.asarray([rng.random() for _ in range(n)], dtype=dtype), shape)

    def random_normal(shape: tuple[int, ...], dtype: Any) -> Any:
        n = math.prod(shape)
        return xp.reshape(xp.asarray([rng.gauss(0.0, 1.0) for _ in range(n)], dtype=dtype), shape)

    def random_seed(s: int) -> None:
        rng.seed(s)

    # ---------------------------------------------------------------- reductions
    def _accumulate_dtype(x: Any) -> tuple[Any, Any]:
        if kind(x.dtype) == "float":
            return x, x.dtype
        return astype(x, i64), i64

    def sum_(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        x, dt = _accumulate_dtype(x)
        return xp.sum(x, axis=axis, keepdims=keepdims, dtype=dt)

    def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        x, dt = _accumulate_dtype(x)
        return xp.prod(x, axis=axis, keepdims=keepdims, dtype=dt)

    def arg(fn: Callable[..., Any]) -> Callable[..., Any]:
        def kernel(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
            if axis is None and keepdims:
                r = fn(xp.reshape(x, (-1,)), axis=0)
                return xp.reshape(astype(r, i64), (1,) * x.ndim)
            return astype(fn(x, axis=axis, keepdims=keepdims), i64)

        return kernel

    def scan(fn_name: str) -> Callable[[Any, int], Any]:
        fn = find(fn_name)

        def kernel(x: Any, axis: int) -> Any:
            x, dt = _accumulate_dtype(x)
            return fn(x, axis=axis, dtype=dt)

        return kernel

    def clip(x: Any, min: Any = None, max: Any = None) -> Any:
        out = x
        if min is not None:
            out = binary(xp.maximum)(out, min)
        if max is not None:
            out = binary(xp.minimum)(out, max)
        return fresh(out) if out is x else out

    def where(condition: Any, x1: Any, x2: Any) -> Any:
        if not is_array(x1) and not is_array(x2):
            raise TypeError("where needs at least one array operand")
        if not is_array(x1):
            x1 = xp.asarray(x1, dtype=x2.dtype)
        if not is_array(x2):
            x2 = xp.asarray(x2, dtype=x1.dtype)
        return xp.where(condition, x1, x2)

    # ---------------------------------------------------------------- indexing
    def expand(x: Any, key: tuple[Any, ...]) -> tuple[list[Any], bool]:
        """``key`` with Ellipsis expanded and trailing slices; whether it holds arrays."""
        key = tuple(key)
        consumed = sum(
            (k.ndim if is_array(k) and kind(k.dtype) == "bool" else 1)
            for k in key
            if k is not None and k is not Ellipsis
        )
        out: list[Any] = []
        seen_ellipsis = False
        for k in key:
            if k is Ellipsis and not seen_ellipsis:
                out.extend([slice(None)] * (x.ndim - consumed))
                seen_ellipsis = True
            else:
                out.append(k)
        if not seen_ellipsis:
            out.extend([slice(None)] * (x.ndim - consumed))
        return out, any(is_array(k) for k in key)

    def positions(x: Any, key: list[Any]) -> Any:
        """The flat positions ``key`` selects in ``x``, shaped like the result of ``x[key]``."""
        parts: list[Any] = []  # per entry: ("slice", idx_1d) | ("new",) | ("adv", dim_list_of_arrays)
        adv_arrays: list[Any] = []
        adv_entries: list[int] = []
        dim = 0
        dims_of: list[int | None] = []
        for k in key:
            if k is None:
                parts.append(("new",))
                dims_of.append(None)
                continue
            if is_array(k) and kind(k.dtype) == "bool":
                nz = xp.nonzero(k)
                for j, a in enumerate(nz):
                    parts.append(("adv", dim + j))
                    adv_arrays.append(astype(a, i64))
                    adv_entries.append(len(parts) - 1)
                    dims_of.append(dim + j)
                dim += k.ndim
                continue
            if is_array(k) or isinstance(k, int):
                a = xp.asarray(k, dtype=i64) if not is_array(k) else astype(k, i64)
                n = x.shape[dim]
                a = xp.where(a < 0, a + n, a)
                parts.append(("adv", dim))
                adv_arrays.append(a)
                adv_entries.append(len(parts) - 1)
                dims_of.append(dim)
                dim += 1
                continue
            start, stop, step = k.indices(x.shape[dim])
            parts.append(("slice", xp.arange(start, stop, step, dtype=i64)))
            dims_of.append(dim)
            dim += 1
        bshape = tuple(xp.broadcast_arrays(*adv_arrays)[0].shape) if adv_arrays else ()
        adjacent = bool(adv_entries) and adv_entries == list(range(adv_entries[0], adv_entries[-1] + 1))
        # output axes: one per slice/new entry; the broadcast shape once for the advanced ones
        layout: list[Any] = []
        adv_placed = False
        if not adjacent and adv_entries:
            layout.append("adv")
            adv_placed = True
        for i, p in enumerate(parts):
            if p[0] == "adv":
                if not adv_placed:
                    layout.append("adv")
                    adv_placed = True
                continue
            layout.append(i)
        out_shape: list[int] = []
        for item in layout:
            if item == "adv":
                out_shape.extend(bshape)
            else:
                p = parts[item]
                out_shape.append(1 if p[0] == "new" else p[1].shape[0])
        nd = len(out_shape)
        strides = [1] * x.ndim
        for i in range(x.ndim - 2, -1, -1):
            strides[i] = strides[i + 1] * x.shape[i + 1]
        flat = xp.zeros(tuple(out_shape), dtype=i64)
        axis = 0
        adv_axis = 0
        for item in layout:
            if item == "adv":
                adv_axis = axis
                axis += len(bshape)
                continue
            p = parts[item]
            if p[0] == "slice":
                shape = [1] * nd
                shape[axis] = p[1].shape[0]
                flat = flat + xp.reshape(p[1], tuple(shape)) * strides[dims_of[item]]
            axis += 1
        for j, entry in enumerate(adv_entries):
            a = xp.broadcast_to(adv_arrays[j], bshape) if bshape else adv_arrays[j]
            shape = [1] * nd
            shape[adv_axis : adv_axis + len(bshape)] = bshape
            flat = flat + xp.reshape(a, tuple(shape)) * strides[dims_of[entry]]  # type: ignore[index]
        return flat

    def getitem(x: Any, key: tuple[Any, ...]) -> Any:
        full, advanced = expand(x, key)
        if not advanced:
            if full and x.ndim and all(isinstance(k, int) for k in full):
                # an all-integer key must give a 0-d *view*: take a length-1 slice, then drop its axis
                last = full[-1] % x.shape[-1]
                return xp.reshape(x[(*full[:-1], slice(last, last + 1))], ())
            return x[tuple(full)]
        masks = [k for k in key if is_array(k) and kind(k.dtype) == "bool"]
        if len(masks) == 1 and len(key) == 1 and masks[0].ndim == x.ndim:
            return x[masks[0]]
        pos = positions(x, full)
        out = xp.take(xp.reshape(x, (-1,)), xp.reshape(pos, (-1,)), axis=0)
        return xp.reshape(out, tuple(pos.shape))

    def one_hot(pos: Any, n: int, dtype: Any) -> Any:
        flat = xp.reshape(pos, (-1, 1))
        return astype(flat == xp.reshape(xp.arange(n, dtype=i64), (1, -1)), dtype)

    def setitem(x: Any, key: tuple[Any, ...], value: Any) -> None:
        full, advanced = expand(x, key)
        if not advanced:
            x[tuple(full)] = value
            return
        pos = xp.reshape(positions(x, full), (-1,))
        n = math.prod(x.shape)
        v = value if is_array(value) else xp.asarray(value, dtype=x.dtype)
        v = xp.reshape(xp.broadcast_to(v, tuple(positions(x, full).shape)), (-1,))
        hits = one_hot(pos, n, xp.bool)  # (selected, size)
        hit = xp.any(hits, axis=0)
        which = xp.argmax(astype(hits, i64), axis=0)  # first selection of each position
        new = xp.where(hit, xp.take(v, which, axis=0) if v.shape[0] else xp.reshape(x, (-1,)), xp.reshape(x, (-1,)))
        x[...] = xp.reshape(new, tuple(x.shape))

    def index_add(x: Any, key: tuple[Any, ...], values: Any) -> None:
        full, _ = expand(x, key)
        pos = positions(x, full)
        n = math.prod(x.shape)
        v = values if is_array(values) else xp.asarray(values, dtype=x.dtype)
        v = xp.reshape(xp.broadcast_to(v, tuple(pos.shape)), (1, -1))
        added = xp.matmul(v, one_hot(pos, n, x.dtype))  # repeated positions accumulate
        x[...] = x + xp.reshape(added, tuple(x.shape))

    def reshape(x: Any, shape: tuple[int, ...], copy: bool | None = None) -> Any:
        if copy is None:
            return xp.reshape(x, tuple(shape))
        try:
            return xp.reshape(x, tuple(shape), copy=copy)
        except TypeError:
            if takes_copy[0] is None:
                takes_copy[0] = reshape_takes_copy(x)
            if not takes_copy[0]:
                return reshape_without_copy_keyword(x, tuple(shape), copy)
            raise
        except (AttributeError, RuntimeError) as exc:
            # the standard asks for ValueError when copy=False cannot be honoured; some
            # libraries raise other types (array-api-strict: AttributeError)
            raise ValueError(str(exc)) from exc

    takes_copy: list[bool | None] = [None]  # whether xp.reshape has the copy keyword (found on first need)

    def reshape_takes_copy(x: Any) -> bool:
        try:
            xp.reshape(x, tuple(x.shape), copy=None)
        except TypeError:
            return False
        return True

    def reshape_without_copy_keyword(x: Any, shape: tuple[int, ...], copy: bool) -> Any:
        """``copy`` honoured by a library whose ``reshape`` predates the keyword (CuPy, NumPy < 2.1)."""
        if copy:
            return xp.reshape(fresh(x), shape)
        if not hasattr(x, "view"):
            raise ValueError(
                "cannot reshape without copying: this array library cannot tell whether a view is possible"
            )
        y = x.view()
        try:
            y.shape = shape  # NumPy and CuPy set a shape only where no copy is needed
        except AttributeError as exc:
            raise ValueError(f"cannot reshape array of shape {tuple(x.shape)} into {shape} without copying") from exc
        return y

    def copy(x: Any) -> Any:
        # a C-ordered copy (the standard's asarray(copy=True) may keep a transposed layout): flat, then shaped
        return xp.reshape(reshape(x, (-1,), copy=True), tuple(x.shape))

    # sorting: ascending with the library's (stable) sort; descending as the reversed ascending sort of the
    # reversed array, which keeps ties in input order and puts NaN (sorted last by NumPy-like libraries) first
    stable_kw = [True]  # whether xp's sorts take stable= (CuPy's do not; its sorts are stable)

    def ascending(fn: Callable[..., Any], x: Any, axis: int) -> Any:
        if stable_kw[0]:
            try:
                return fn(x, axis=axis, stable=True)
            except TypeError:
                stable_kw[0] = False
        return fn(x, axis=axis)

    def ascending_argsort(x: Any, axis: int) -> Any:
        return ascending(xp.argsort, x, axis)

    def argsort(x: Any, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Any:
        if not descending:
            return astype(ascending_argsort(x, axis), i64, copy=False)
        n = x.shape[axis]
        idx = astype(ascending_argsort(xp.flip(x, axis=axis), axis), i64, copy=False)
        return (n - 1) - xp.flip(idx, axis=axis)

    def sort(x: Any, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Any:
        if not descending:
            return ascending(xp.sort, x, axis)
        return xp.take_along_axis(x, argsort(x, axis=axis, descending=True), axis=axis)

    def copy_into(dst: Any, src: Any) -> None:
        if not is_array(src):
            dst[...] = xp.full(tuple(dst.shape), src, dtype=dst.dtype)
            return
        if src.dtype != dst.dtype:
            src = astype(src, dst.dtype)
        dst[...] = xp.broadcast_to(src, tuple(dst.shape))

    # ---------------------------------------------------------------- conversion
    def scalar(x: Any) -> Any:
        k = kind(x.dtype)
        return bool(x) if k == "bool" else int(x) if k == "int" else float(x)

    def tolist(x: Any) -> Any:
        own = getattr(x, "tolist", None)
        if own is not None:
            return own()
        if x.ndim == 0:
            return scalar(x)
        return [tolist(x[(i, ...)]) for i in range(x.shape[0])]

    def flat_values(x: Any) -> list[Any]:
        v = tolist(xp.reshape(x, (-1,)))
        return v if isinstance(v, list) else [v]

    def to_bytes(x: Any) -> bytes:
        vals = flat_values(x)
        return struct.pack("<" + _STRUCT[dtype_name(x.dtype)] * len(vals), *vals)

    def from_bytes(buf: bytes, dtype: Any, shape: tuple[int, ...]) -> Any:
        code = _STRUCT[dtype_name(dtype)]
        vals = list(struct.unpack("<" + code * (len(buf) // struct.calcsize(code)), buf))
        return xp.reshape(xp.asarray(vals, dtype=dtype), tuple(shape))

    kernels: dict[str, Callable[..., Any]] = {
        "asarray": asarray,
        "zeros": lambda shape, dtype: xp.zeros(shape, dtype=dtype),
        "ones": lambda shape, dtype: xp.ones(shape, dtype=dtype),
        "full": lambda shape, fill_value, dtype: xp.full(shape, fill_value, dtype=dtype),
        "empty": lambda shape, dtype: xp.empty(shape, dtype=dtype),
        "arange": lambda start, stop, step, dtype: xp.arange(start, stop, step, dtype=dtype),
        "linspace": lambda start, stop, num, dtype: xp.linspace(start, stop, num, dtype=dtype, endpoint=True),
        "random_uniform": random_uniform,
        "random_normal": random_normal,
        "random_seed": random_seed,
        "where": where,
        "clip": clip,
        "sum": sum_,
        "prod": prod,
        "mean": lambda x, axis=None, keepdims=False: xp.mean(x, axis=axis, keepdims=keepdims),
        "max": lambda x, axis=None, keepdims=False: xp.max(x, axis=axis, keepdims=keepdims),
        "min": lambda x, axis=None, keepdims=False: xp.min(x, axis=axis, keepdims=keepdims),
        "argmax": arg(xp.argmax),
        "argmin": arg(xp.argmin),
        "all": lambda x, axis=None, keepdims=False: xp.all(x, axis=axis, keepdims=keepdims),
        "any": lambda x, axis=None, keepdims=False: xp.any(x, axis=axis, keepdims=keepdims),
        "cumulative_sum": scan("cumulative_sum"),
        "cumulative_prod": scan("cumulative_prod"),
        "matmul": xp.matmul,
        "reshape": reshape,
        "permute_dims": lambda x, axes: permute_dims(x, tuple(axes)),
        "broadcast_to": lambda x, shape: xp.broadcast_to(x, tuple(shape)),
        "concat": lambda arrays, axis: concat(list(arrays), axis=axis),
        "stack": lambda arrays, axis: xp.stack(list(arrays), axis=axis),
        "flip": lambda x, axis: xp.flip(x, axis=tuple(axis)),
        "roll": lambda x, shift, axis: xp.roll(x, shift=tuple(shift), axis=tuple(axis)),
        "tile": lambda x, reps: xp.tile(x, tuple(reps)),
        "astype": lambda x, dtype: astype(x, dtype),
        "copy": copy,
        "getitem": getitem,
        "setitem": setitem,
        "take_along_axis": lambda x, indices, axis: xp.take_along_axis(x, indices, axis=axis),
        "index_add": index_add,
        "copy_into": copy_into,
        "tolist": tolist,
        "to_bytes": to_bytes,
        "from_bytes": from_bytes,
        "sort": sort,
        "argsort": argsort,
    }
    if to_numpy is not None:
        kernels["to_numpy"] = to_numpy
    # the elementwise kernels, from the catalogue's kinds: every one xp has (optional ones may be missing)
    for name, kernel_kind in KERNEL_KINDS.items():
        if kernel_kind in _ELEMENTWISE_KINDS and (fn := find(name)) is not None:
            kernels[name] = binary(fn) if kernel_kind in ("binary", "comparison") else fn
    if hasattr(xp, "from_dlpack"):
        kernels["from_dlpack"] = xp.from_dlpack
        kernels["to_dlpack"] = lambda x, **kwargs: x.__dlpack__(**kwargs)
    kernels.update(linalg_kernels_from_namespace(xp))  # linalg (issue 17)
    return kernels


# ---------------------------------------------------------------------- linalg (issue 17)
# The optional linalg kernels of contract 1.3 from the namespace's linalg extension
# (``xp.linalg``; numpy.linalg, cupy.linalg and array_api_strict.linalg have it). The
# kernels that can meet singular input return LAPACK's ``info`` next to the result (see
# plugrad.backends._spec.KERNELS): the library's own error is caught here, and the failing
# matrices are found one by one, so no library traceback reaches plugrad's users.


def zero_pivot(xp: Any, m: Any) -> int:
    """The 1-based index of the first exactly-zero pivot of ``m``'s LU factorisation with
    partial pivoting (LAPACK getrf's ``info``), 0 if there is none."""
    a = m * 1  # a new array (not every namespace takes asarray(copy=True))
    n = a.shape[-1]
    for k in range(n):
        col = xp.abs(a[k:, k])
        p = int(xp.argmax(col)) + k
        if float(a[p, k]) == 0.0:
            return k + 1
        if p != k:
            row = a[k, :] * 1
            a[k, :] = a[p, :]
            a[p, :] = row
        if k + 1 < n:
            a[k + 1 :, :] = a[k + 1 :, :] - (a[k + 1 :, k : k + 1] / a[k, k]) * a[k : k + 1, :]
    return 0


def failing_minor(xp: Any, m: Any) -> int:
    """The order of the first leading minor of ``m`` that is not positive-definite, 0 if none."""
    for k in range(1, m.shape[-1] + 1):
        try:
            xp.linalg.cholesky(m[:k, :k])
        except Exception:  # any library's "not positive-definite" error
            return k
    return 0


def linalg_kernels_from_namespace(xp: Any) -> dict[str, Callable[..., Any]]:
    """The contract's optional ``linalg_*`` kernels over ``xp.linalg`` (none if ``xp`` has no linalg extension)."""
    la = getattr(xp, "linalg", None)
    if la is None:
        return {}

    def per_matrix(fn: Callable[..., Any], locate: Callable[[Any, Any], int], *arrays: Any) -> tuple[Any, Any]:
        """``fn`` on each matrix of the batch; a failing one gets ``info`` from ``locate`` and NaN values."""
        batch = tuple(arrays[0].shape[:-2])
        count = math.prod(batch)
        flat = [xp.reshape(a, (count, *a.shape[-2:])) for a in arrays]
        results, infos = [], []
        for i in range(count):
            parts = [f[i, ...] for f in flat]
            try:
                r = fn(*parts)
                info = 0
            except Exception:  # the library's singular-matrix error, whatever its class
                info = locate(xp, parts[0])
                if info == 0:
                    raise
                shape = (parts[0].shape[-1], parts[-1].shape[-1])
                r = xp.full(shape, float("nan"), dtype=parts[0].dtype)
            results.append(r)
            infos.append(info)
        out = xp.reshape(xp.stack(results, axis=0), (*batch, *results[0].shape)) if count else fn(*arrays)
        return out, xp.reshape(xp.asarray(infos, dtype=xp.int32), batch)

    def checked(fn: Callable[..., Any], locate: Callable[[Any, Any], int]) -> Callable[..., tuple[Any, Any]]:
        def kernel(*arrays: Any) -> tuple[Any, Any]:
            try:
                r = fn(*arrays)
            except Exception:  # find the failing matrices one by one
                return per_matrix(fn, locate, *arrays)
            return r, xp.zeros(tuple(arrays[0].shape[:-2]), dtype=xp.int32)

        return kernel

    def svd(x: Any, *, full_matrices: bool) -> tuple[Any, Any, Any]:
        u, s, vh = la.svd(x, full_matrices=full_matrices)
        return u, s, vh

    def eigh(x: Any) -> tuple[Any, Any]:
        w, v = la.eigh(x)
        return w, v

    def qr(x: Any, *, mode: str) -> tuple[Any, Any]:
        q, r = la.qr(x, mode=mode)
        return q, r

    def slogdet(x: Any) -> tuple[Any, Any]:
        sign, logabsdet = la.slogdet(x)
        return xp.asarray(sign), xp.asarray(logabsdet)

    def solve_triangular(x1: Any, x2: Any, *, upper: bool, unitriangular: bool) -> Any:
        # The standard has no triangular solve: mask the triangle and use the general solver.
        n = x1.shape[-1]
        r = xp.arange(n)
        above = r[None, :] > r[:, None] if upper else r[None, :] < r[:, None]
        diag = r[None, :] == r[:, None]
        keep = above | diag
        a = xp.where(keep, x1, xp.zeros_like(x1))
        if unitriangular:
            a = xp.where(diag, xp.ones_like(x1), a)
        try:
            return la.solve(a, x2)
        except Exception:  # a zero on the diagonal: PyTorch gives non-finite values, not an error
            return xp.full(tuple(x2.shape), float("nan"), dtype=x2.dtype)

    kernels: dict[str, Callable[..., Any]] = {
        "linalg_inv": checked(la.inv, zero_pivot),
        "linalg_solve": checked(la.solve, zero_pivot),
        "linalg_cholesky": checked(la.cholesky, failing_minor),
        "linalg_det": lambda x: xp.asarray(la.det(x)),  # NumPy gives a scalar for one matrix
        "linalg_slogdet": slogdet,
        "linalg_qr": qr,
        "linalg_eigh": eigh,
        "linalg_svd": svd,
        "linalg_solve_triangular": solve_triangular,
    }
    if hasattr(la, "svdvals"):
        kernels["linalg_svdvals"] = la.svdvals
    else:
        kernels["linalg_svdvals"] = lambda x: la.svd(x, full_matrices=False)[1]
    return kernels
