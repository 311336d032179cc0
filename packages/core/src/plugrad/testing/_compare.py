"""``plugrad.testing.assert_close``: PyTorch's ``torch.testing.assert_close`` for plugrad.

Same signature, default tolerances, decisions and messages as PyTorch (2.x), with plugrad's
reprs in them (``plugrad.float32``, ``plugrad.Size([2])``). Inputs may be tensors, Python
numbers, ``None``, and sequences or mappings of those, nested; the pairs are compared
element by element and a failure names its place (``The failure occurred for item [1]['w']``).

Two values are close when ``|actual - expected| <= atol + rtol * |expected|`` elementwise
(infinities only equal to themselves; NaN only to NaN, with ``equal_nan=True``). Without
``rtol``/``atol`` the tolerances come from the dtypes (the larger of the two inputs'):

========================  =========  ========
dtype                     rtol       atol
========================  =========  ========
float16                   1e-3       1e-5
bfloat16                  1.6e-2     1e-5
float32                   1.3e-6     1e-5
float64                   1e-7       1e-7
integers, bool            0          0 (equal)
Python float              1e-7       1e-7
========================  =========  ========
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["assert_close"]

#: dtype name -> PyTorch's default (rtol, atol); dtypes not listed compare for equality
_DTYPE_PRECISIONS: dict[str, tuple[float, float]] = {
    "float16": (0.001, 1e-5),
    "bfloat16": (0.016, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "complex32": (0.001, 1e-5),
    "complex64": (1.3e-6, 1e-5),
    "complex128": (1e-7, 1e-7),
}
#: Python number type -> the dtype PyTorch treats it as
_NUMBER_DTYPES = {int: "int64", float: "float64", complex: "complex128"}


class _Mismatch(Exception):
    """One failed comparison: the error type to raise, its message and where it happened."""

    def __init__(self, kind: type[Exception], msg: str, path: tuple[Any, ...] = ()) -> None:
        super().__init__(msg)
        self.kind, self.msg, self.path = kind, msg, path

    def at(self, key: Any) -> _Mismatch:
        return _Mismatch(self.kind, self.msg, (key, *self.path))

    def to_error(self, msg: str | Callable[[str], str] | None) -> Exception:
        if isinstance(msg, str):
            return self.kind(msg)
        generated = self.msg
        if self.path:
            generated += "\n\nThe failure occurred for item " + "".join(str([item]) for item in self.path)
        return self.kind(msg(generated) if callable(msg) else generated)


def assert_close(
    actual: Any,
    expected: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = False,
    check_device: bool = True,
    check_dtype: bool = True,
    check_layout: bool = True,
    check_stride: bool = False,
    msg: str | Callable[[str], str] | None = None,
) -> None:
    """Raise ``AssertionError`` unless ``actual`` and ``expected`` are close (``torch.testing.assert_close``).

    :param actual: a tensor, a Python number, ``None``, or a sequence or mapping of these (nested).
    :param expected: the same structure.
    :param rtol: relative tolerance; with ``atol``, or both omitted for the dtype defaults (see the module).
    :param atol: absolute tolerance: close means ``|actual - expected| <= atol + rtol * |expected|``.
    :param equal_nan: whether two NaNs are equal.
    :param check_device: tensors must be on the same device (else both are compared on ``actual``'s).
    :param check_dtype: tensors (and numbers) must have the same dtype (else they are promoted to a common one).
    :param check_layout: tensors must have the same layout (plugrad tensors are all strided).
    :param check_stride: tensors must have the same strides (where tensors report strides).
    :param msg: replaces the message, or, if callable, is called with the message and returns the new one.
    :raises ValueError: only one of ``rtol``/``atol`` given.
    :raises TypeError: inputs of types that cannot be compared (a tensor with a number, a string, ...).
    :raises AssertionError: the inputs differ (in structure, attributes or values), with PyTorch's message.
    """
    if (rtol is None) != (atol is None):
        missing = "atol" if atol is None else "rtol"
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no {missing}.")
    options = {
        "rtol": rtol,
        "atol": atol,
        "equal_nan": equal_nan,
        "check_device": check_device,
        "check_dtype": check_dtype,
        "check_layout": check_layout,
        "check_stride": check_stride,
    }
    try:
        _compare(actual, expected, options)
    except _Mismatch as m:
        raise m.to_error(msg) from None


# ---------------------------------------------------------------------------- structure
def _is_tensor(x: Any) -> bool:
    from .._tensor import Tensor

    return isinstance(x, Tensor)


def _is_sequence(x: Any) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes, bytearray))


def _compare(actual: Any, expected: Any, options: dict[str, Any]) -> None:
    if _is_sequence(actual) and _is_sequence(expected):
        if len(actual) != len(expected):
            raise _Mismatch(AssertionError, f"The length of the sequences mismatch: {len(actual)} != {len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            try:
                _compare(a, e, options)
            except _Mismatch as m:
                raise m.at(i) from None
        return
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        keys_a, keys_e = set(actual.keys()), set(expected.keys())
        if keys_a != keys_e:
            raise _Mismatch(
                AssertionError,
                "The keys of the mappings do not match:\n"
                f"Missing keys in the actual mapping: {_sorted(keys_e - keys_a)}\n"
                f"Additional keys in the actual mapping: {_sorted(keys_a - keys_e)}",
            )
        for key in actual:
            try:
                _compare(actual[key], expected[key], options)
            except _Mismatch as m:
                raise m.at(key) from None
        return
    if actual is None or expected is None:
        if actual is not expected:
            raise _Mismatch(AssertionError, f"None mismatch: {actual} is not {expected}")
        return
    if isinstance(actual, bool) and isinstance(expected, bool):
        if actual is not expected:
            raise _Mismatch(AssertionError, f"Booleans mismatch: {actual} is not {expected}")
        return
    if _is_number(actual) and _is_number(expected):
        _compare_numbers(actual, expected, options)
        return
    if _is_tensor(actual) and _is_tensor(expected):
        _compare_tensors(actual, expected, options)
        return
    raise _Mismatch(
        TypeError, f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}."
    )


def _sorted(keys: set[Any]) -> list[Any]:
    try:
        return sorted(keys)
    except TypeError:
        return list(keys)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, complex)) and not isinstance(x, bool)


# ---------------------------------------------------------------------------- values
def _mismatch_msg(
    identifier: str, extra: str, abs_diff: Any, abs_idx: Any, atol: float, rel_diff: Any, rel_idx: Any, rtol: float
) -> str:
    equality = rtol == 0 and atol == 0

    def line(kind: str, diff: Any, idx: Any, tol: float) -> str:
        text = (
            f"{kind.title()} difference: {diff}"
            if idx is None
            else f"Greatest {kind} difference: {diff} at index {idx}"
        )
        return text + ("" if equality else f" (up to {tol} allowed)") + "\n"

    text = f"{identifier} are not {'equal' if equality else 'close'}!\n\n{extra.strip()}\n"
    text += line("absolute", abs_diff, abs_idx, atol) + line("relative", rel_diff, rel_idx, rtol)
    return text.strip()


def _scalar_mismatch(actual: Any, expected: Any, rtol: float, atol: float) -> _Mismatch:
    abs_diff = abs(actual - expected)
    rel_diff = math.inf if expected == 0 else abs_diff / abs(expected)
    msg = _mismatch_msg("Scalars", f"Expected {expected} but got {actual}.", abs_diff, None, atol, rel_diff, None, rtol)
    return _Mismatch(AssertionError, msg)


def _tolerances(names: tuple[str, str], rtol: float | None, atol: float | None) -> tuple[float, float]:
    if rtol is not None and atol is not None:
        return rtol, atol
    pairs = [_DTYPE_PRECISIONS.get(n, (0.0, 0.0)) for n in names]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _compare_numbers(actual: Any, expected: Any, options: dict[str, Any]) -> None:
    if options["check_dtype"] and type(actual) is not type(expected):
        raise _Mismatch(AssertionError, f"The (d)types do not match: {type(actual)} != {type(expected)}.")
    names = (_NUMBER_DTYPES.get(type(actual), "float64"), _NUMBER_DTYPES.get(type(expected), "float64"))
    rtol, atol = _tolerances(names, options["rtol"], options["atol"])
    if actual == expected:
        return
    nan_a = cmath.isnan(actual) if isinstance(actual, complex) else isinstance(actual, float) and math.isnan(actual)
    nan_e = (
        cmath.isnan(expected) if isinstance(expected, complex) else isinstance(expected, float) and math.isnan(expected)
    )
    if nan_a and nan_e and options["equal_nan"]:
        return
    finite = cmath.isfinite(actual) and cmath.isfinite(expected)
    if finite and abs(actual - expected) <= atol + rtol * abs(expected):
        return
    raise _scalar_mismatch(actual, expected, rtol, atol)


def _compare_tensors(actual: Any, expected: Any, options: dict[str, Any]) -> None:
    import plugrad

    def attribute(name: str, a: Any, e: Any) -> None:
        if a != e:
            raise _Mismatch(AssertionError, f"The values for attribute '{name}' do not match: {a!r} != {e!r}.")

    attribute("shape", actual.shape, expected.shape)
    if options["check_device"]:
        attribute("device", actual.device, expected.device)
    if options["check_dtype"]:
        attribute("dtype", actual.dtype, expected.dtype)
    if options["check_layout"]:
        attribute("layout", getattr(actual, "layout", None), getattr(expected, "layout", None))
    if options["check_stride"] and callable(getattr(actual, "stride", None)):
        attribute("stride()", actual.stride(), expected.stride())

    rtol, atol = _tolerances((actual.dtype.name, expected.dtype.name), options["rtol"], options["atol"])
    with plugrad.no_grad():
        a, e = actual.detach(), expected.detach()
        if e.device != a.device:
            e = e.to(a.device)
        if a.dtype != e.dtype:
            common = plugrad.promote_types(a.dtype, e.dtype)
            a, e = a.to(common), e.to(common)
        floating = a.dtype.is_floating_point
        if floating:
            close = (a - e).abs() <= atol + rtol * e.abs()
            matches = (a == e) | (close & a.isfinite() & e.isfinite())
            if options["equal_nan"]:
                matches = matches | (a.isnan() & e.isnan())
        else:
            matches = a == e
        if bool(matches.all()):
            return
        if a.dim() == 0:
            raise _scalar_mismatch(a.item(), e.item(), rtol, atol)
        raise _Mismatch(AssertionError, _tensor_mismatch_msg(a, e, matches, rtol, atol, floating))


def _tensor_mismatch_msg(a: Any, e: Any, matches: Any, rtol: float, atol: float, floating: bool) -> str:
    import plugrad

    shape = tuple(a.shape)
    total = matches.numel()
    wrong = total - int(matches.sum().item())
    extra = f"Mismatched elements: {wrong} / {total} ({wrong / total:.1%})"
    a_flat, e_flat, m_flat = a.flatten(), e.flatten(), matches.flatten()
    if not floating:
        a_flat, e_flat = a_flat.to(plugrad.int64), e_flat.to(plugrad.int64)
    abs_diff = (a_flat - e_flat).abs()
    abs_diff = plugrad.where(m_flat, plugrad.zeros_like(abs_diff), abs_diff)  # only mismatches count
    max_abs, abs_idx = abs_diff.max(0)
    rel_diff = abs_diff / e_flat.abs()
    rel_diff = plugrad.where(m_flat, plugrad.zeros_like(rel_diff), rel_diff)
    max_rel, rel_idx = rel_diff.max(0)

    def unravel(flat: int) -> tuple[int, ...]:
        idx = []
        for size in reversed(shape):
            flat, r = divmod(flat, size)
            idx.append(r)
        return tuple(reversed(idx))

    return _mismatch_msg(
        "Tensor-likes",
        extra,
        max_abs.item(),
        unravel(int(abs_idx.item())),
        atol,
        max_rel.item(),
        unravel(int(rel_idx.item())),
        rtol,
    )
