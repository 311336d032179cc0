"""Dtypes and PyTorch's type-promotion rules, independent of any backend.

A :class:`dtype` is a small immutable singleton (``plugrad.float32``); backends map
each one to their own array dtype by :attr:`dtype.name`.

Promotion follows PyTorch: operands are ranked in three priority levels (tensors
with dimensions, zero-dimensional tensors, Python scalars). The result starts as
the promotion of the dimensioned tensors; a lower-priority level only changes it
when its *category* (bool < integer < floating) is higher. A Python float joins
as the default dtype, a Python int as ``int64``.

``bfloat16`` (brain floating point: float32's 8 exponent bits, 7 mantissa bits) ranks
with ``float16``: promoting the two together gives ``float32``, as in PyTorch. A backend
supports it when its dtype table maps ``"bfloat16"`` (the NumPy backend takes it from
``ml_dtypes``); otherwise making such a tensor names the backend and the dtype.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = [
    "dtype",
    "bool_",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "promote_types",
    "get_default_dtype",
    "set_default_dtype",
    "can_cast",
    "finfo",
    "iinfo",
    "ALL_DTYPES",
]


class Category(enum.IntEnum):
    """A dtype's kind, ordered as promotion ranks them: bool < integer < floating."""

    BOOL = 0
    INTEGER = 1
    FLOATING = 2


_BOOL, _INT, _FLOAT = Category.BOOL, Category.INTEGER, Category.FLOATING


class dtype:
    """A tensor element type, such as ``plugrad.float32``."""

    __slots__ = ("name", "itemsize", "category", "is_signed", "_torch_name", "__weakref__")

    def __init__(self, name: str, itemsize: int, category: int, is_signed: bool, torch_name: str) -> None:
        self.name = name
        self.itemsize = itemsize
        self.category = Category(category)
        self.is_signed = is_signed
        self._torch_name = torch_name

    @property
    def is_floating_point(self) -> bool:
        return self.category == _FLOAT

    @property
    def is_complex(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"plugrad.{self._torch_name}"

    def __reduce__(self) -> str:
        return self._torch_name

    def to_legacy_type_name(self) -> str:
        """The legacy tensor type name of this dtype, e.g. ``'FloatTensor'`` for ``float32``."""
        return _LEGACY_NAMES[self]


bool_: Final = dtype("bool", 1, _BOOL, False, "bool")
uint8: Final = dtype("uint8", 1, _INT, False, "uint8")
int8: Final = dtype("int8", 1, _INT, True, "int8")
int16: Final = dtype("int16", 2, _INT, True, "int16")
int32: Final = dtype("int32", 4, _INT, True, "int32")
int64: Final = dtype("int64", 8, _INT, True, "int64")
float16: Final = dtype("float16", 2, _FLOAT, True, "float16")
float32: Final = dtype("float32", 4, _FLOAT, True, "float32")
float64: Final = dtype("float64", 8, _FLOAT, True, "float64")
bfloat16: Final = dtype("bfloat16", 2, _FLOAT, True, "bfloat16")

ALL_DTYPES: Final = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64, bfloat16)
BY_NAME: Final = {d.name: d for d in ALL_DTYPES}

_LEGACY_NAMES = {
    bool_: "BoolTensor",
    uint8: "ByteTensor",
    int8: "CharTensor",
    int16: "ShortTensor",
    int32: "IntTensor",
    int64: "LongTensor",
    float16: "HalfTensor",
    float32: "FloatTensor",
    float64: "DoubleTensor",
    bfloat16: "BFloat16Tensor",
}


_SCALAR_TYPE_NAMES = {
    "bool": "Bool",
    "uint8": "Byte",
    "int8": "Char",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "float16": "Half",
    "float32": "Float",
    "float64": "Double",
    "bfloat16": "BFloat16",
}

#: The C type PyTorch's kernel messages name for each dtype ("expected scalar type float").
C_TYPE_NAMES = {
    "bool": "bool",
    "uint8": "unsigned char",
    "int8": "signed char",
    "int16": "short int",
    "int32": "int",
    "int64": "long int",
    "float16": "c10::Half",
    "float32": "float",
    "float64": "double",
    "bfloat16": "c10::BFloat16",
}


def scalar_type_name(dt: dtype) -> str:
    """The name PyTorch's error messages use for a dtype: ``Float``, ``Long``, ``Bool``, ..."""
    return _SCALAR_TYPE_NAMES[dt.name]


def _promote_pair(a: dtype, b: dtype) -> dtype:
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if a.category == _INT and a.is_signed != b.is_signed:
        # uint8 with a signed type: the signed type if it is wider, else the next wider one.
        signed = a if a.is_signed else b
        if signed.itemsize > 1:
            return signed
        return int16
    if a.itemsize == b.itemsize and a.category == _FLOAT:
        return float32  # float16 with bfloat16: neither holds the other's values
    return a if a.itemsize >= b.itemsize else b


_PROMOTION: dict[tuple[dtype, dtype], dtype] = {(a, b): _promote_pair(a, b) for a in ALL_DTYPES for b in ALL_DTYPES}


def promote_types(type1: dtype, type2: dtype) -> dtype:
    """Return the smallest dtype both ``type1`` and ``type2`` convert to (``torch.promote_types``)."""
    return _PROMOTION[type1, type2]


def can_cast(from_: dtype, to: dtype) -> bool:
    """Whether PyTorch allows an in-place result of ``from_`` to be written into ``to``.

    Casting to a lower category (float to int, int to bool) is not allowed.
    """
    return from_.category <= to.category


class _DefaultDtype:
    # Process-wide, as in PyTorch (``torch.set_default_dtype`` is not per thread).
    value: dtype = float32


_default = _DefaultDtype()


def get_default_dtype() -> dtype:
    """The dtype a Python float becomes (``float32`` unless changed)."""
    return _default.value


def set_default_dtype(d: dtype) -> None:
    """Set the default floating dtype; only ``float32`` and ``float64`` (and ``float16``) are accepted."""
    if not isinstance(d, dtype) or not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d!r}")
    _default.value = d


def scalar_dtype(value: object) -> dtype:
    """The dtype a bare Python scalar gets when a tensor is made from it."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    return _default.value


def category_of_scalar(value: object) -> int:
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int):
        return _INT
    return _FLOAT


# ---------------------------------------------------------------------------- finfo / iinfo
#: Per floating dtype: (bits, mantissa bits stored, smallest normal exponent, largest exponent,
#: decimal digits of precision). Values follow IEEE 754 (bfloat16: float32's exponent range).
_FLOAT_FORMATS: dict[str, tuple[int, int, int, int, int]] = {
    "float16": (16, 10, -14, 15, 3),
    "bfloat16": (16, 7, -126, 127, 2),
    "float32": (32, 23, -126, 127, 6),
    "float64": (64, 52, -1022, 1023, 15),
}


class finfo:
    """Machine limits of a floating dtype (``torch.finfo``), computed from its format:
    ``eps = 2**-m`` (``m`` stored mantissa bits), ``max = (2 - eps) * 2**emax``,
    ``tiny = smallest_normal = 2**emin``, ``resolution = 10**-precision``."""

    __hash__ = None  # type: ignore[assignment]  # PyTorch's finfo is unhashable too

    def __init__(self, type: dtype | None = None) -> None:
        if type is None:
            type = get_default_dtype()
        if not isinstance(type, dtype):
            raise TypeError(f"finfo(): argument 'type' (position 1) must be plugrad.dtype, not {_type_name(type)}")
        if type.name not in _FLOAT_FORMATS:
            raise TypeError(
                "plugrad.finfo() requires a floating point input type. Use plugrad.iinfo to handle 'plugrad.finfo'"
            )
        bits, mant, emin, emax, digits = _FLOAT_FORMATS[type.name]
        self.bits: int = bits
        self.eps: float = 2.0**-mant
        self.max: float = (2.0 - self.eps) * 2.0**emax
        self.min: float = -self.max
        self.tiny: float = 2.0**emin
        self.smallest_normal: float = self.tiny
        self.resolution: float = 10.0**-digits
        self.dtype: str = type.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, finfo) and other.dtype == self.dtype

    def __repr__(self) -> str:
        return (
            f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
            f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})"
        )


class iinfo:
    """Machine limits of an integer dtype (``torch.iinfo``): ``bits``, ``min``, ``max``."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, type: dtype) -> None:
        if not isinstance(type, dtype):
            raise TypeError(f"iinfo(): argument 'type' (position 1) must be plugrad.dtype, not {_type_name(type)}")
        if type is bool_:
            raise TypeError("plugrad.bool is not supported by plugrad.iinfo")
        if type.category != _INT:
            raise TypeError(
                "plugrad.iinfo() requires an integer input type. Use plugrad.finfo to handle 'plugrad.iinfo'"
            )
        self.bits: int = type.itemsize * 8
        self.min: int = -(1 << (self.bits - 1)) if type.is_signed else 0
        self.max: int = (1 << (self.bits - 1)) - 1 if type.is_signed else (1 << self.bits) - 1
        self.dtype: str = type.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, iinfo) and other.dtype == self.dtype

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


def _type_name(obj: object) -> str:
    return type(obj).__name__
