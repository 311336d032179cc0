"""The backend conformance suite: every kernel of the contract, checked against Python.

A backend package runs it against itself by subclassing :class:`BackendConformance`
in one of its test modules::

    from plugrad.testing.conformance import BackendConformance

    class TestMyBackend(BackendConformance):
        backend_name = "mybackend"
        expected_failures = {"test_getitem_keys[int-array-and-slice]": "no mixed advanced indexing yet"}

or, without writing a test file, ``pytest --pyargs plugrad.testing.conformance
--plugrad-backend mybackend``. A backend that is not available here (its plugin set
``unavailable_reason``) makes every test skip with that reason.

What is checked, kernel by kernel (see :data:`plugrad.backends.KERNELS`): values
against references computed with :mod:`math` on the values the backend reports
(``tolist``), result dtypes, broadcasting of binary kernels (scalars, ``(4,)``,
``(3, 4)``, ``(1, 4)``, ``(3, 1)``, empty), 0-d and empty arrays, non-contiguous inputs
(transposed and strided views), in-place kernels and operators, conversion kernels, and,
through plugrad tensors on the backend, gradients of the ops built on the kernels
against central differences (in float64 where the backend has it).

Declaring what a backend lacks:

- dtypes: only the dtypes in the backend's dtype table are tested;
- capabilities (:data:`plugrad.backends.CAPABILITIES`): tests of ``dlpack`` and
  ``views`` skip, saying so, when the backend does not declare them;
- :attr:`BackendConformance.expected_failures`: test name (``"test_flip"``) or
  parametrised test id (``"test_unary[sin-float32]"``) -> reason; those tests are marked
  ``xfail(strict=True)``, so a fixed one is reported.
"""

from __future__ import annotations

import itertools
import math
import random
import struct
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

import plugrad
from plugrad import _dtype as D
from plugrad._ops import _special
from plugrad.backends import CONTRACT_VERSION, KERNELS, REQUIRED_KERNELS, Backend, check_contract_version, get_registry
from plugrad.backends._spec import KERNEL_KINDS

from . import _reference as R

__all__ = ["BackendConformance"]

FLOATS = ("float16", "float32", "float64")
INTS = ("uint8", "int8", "int16", "int32", "int64")

# Shapes paired for binary kernels: scalars, vectors, matrices, size-1 dims, empty.
BROADCAST_PAIRS = [
    ((), ()),
    ((), (4,)),
    ((4,), ()),
    ((4,), (4,)),
    ((3, 4), (4,)),
    ((3, 4), (1, 4)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((0, 4), (4,)),
    ((3, 4), (3, 4)),
]

_GENERAL = [-2.5, -1.0, -0.375, 0.0, 0.625, 1.5, 3.0]
_POSITIVE = [0.125, 0.5, 1.0, 2.5, 7.0]

# name -> (reference, input values, dtypes it is checked in)
UNARY: dict[str, tuple[Callable[[Any], Any], list[Any], tuple[str, ...]]] = {
    "negative": (lambda x: -x, _GENERAL, ("float", "int")),
    "abs": (abs, _GENERAL, ("float", "int")),
    "sign": (R.sign, [*_GENERAL, math.nan], ("float", "int")),
    "exp": (R.safe(math.exp), [*_GENERAL, -math.inf, 100.0], ("float",)),
    "expm1": (R.safe(math.expm1), [*_GENERAL, 1e-05], ("float",)),
    "log": (R.log_ieee(math.log), [*_POSITIVE, 0.0, -1.0, math.inf], ("float",)),
    "log2": (R.log_ieee(math.log2), [*_POSITIVE, 0.0], ("float",)),
    "log10": (R.log_ieee(math.log10), [*_POSITIVE, 0.0], ("float",)),
    "log1p": (R.log1p_ieee, [*_POSITIVE, -0.5, 1e-05, -1.0], ("float",)),
    "sqrt": (R.sqrt_ieee, [*_POSITIVE, 0.0, -1.0], ("float",)),
    "sin": (math.sin, _GENERAL, ("float",)),
    "cos": (math.cos, _GENERAL, ("float",)),
    "tan": (math.tan, [-1.25, -0.5, 0.0, 0.5, 1.25], ("float",)),
    "tanh": (math.tanh, [*_GENERAL, 30.0, -30.0], ("float",)),
    "floor": (lambda x: float(math.floor(x)) if math.isfinite(x) else x, [*_GENERAL, -0.5, math.inf], ("float",)),
    "ceil": (lambda x: float(math.ceil(x)) if math.isfinite(x) else x, [*_GENERAL, -0.5, math.inf], ("float",)),
    "round": (R.round_half_even, [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.625, -0.375], ("float",)),
    "trunc": (lambda x: float(math.trunc(x)) if math.isfinite(x) else x, [*_GENERAL, -0.5], ("float",)),
    "isnan": (lambda x: isinstance(x, float) and math.isnan(x), [*_GENERAL, math.nan, math.inf], ("float",)),
    "isinf": (lambda x: isinstance(x, float) and math.isinf(x), [*_GENERAL, math.nan, -math.inf], ("float",)),
    "isfinite": (
        lambda x: not (isinstance(x, float) and not math.isfinite(x)),
        [*_GENERAL, math.nan, math.inf],
        ("float",),
    ),
    "logical_not": (lambda x: not x, [True, False, True], ("bool",)),
}


def _erfinv(y: float) -> float:
    """The inverse of :func:`math.erf` by bisection (on ``erfc`` in the tail, where it is the accurate one)."""
    if math.isnan(y) or abs(y) > 1:
        return math.nan
    if abs(y) == 1:
        return math.copysign(math.inf, y)
    a, lo, hi = abs(y), 0.0, 7.0
    for _ in range(200):
        mid = (lo + hi) / 2
        below = math.erf(mid) < a if a <= 0.5 else math.erfc(mid) > 1 - a
        lo, hi = (mid, hi) if below else (lo, mid)
    return math.copysign((lo + hi) / 2, y)


def _lgamma(x: float) -> float:
    if math.isinf(x) or (x <= 0 and x == math.floor(x)):
        return math.inf
    return math.lgamma(x) if not math.isnan(x) else x


def _logaddexp(a: float, b: float, base: float = math.e) -> float:
    """``log_base(base**a + base**b)`` without overflow."""
    m = max(a, b)
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if math.isinf(m):
        return m
    return m + math.log1p(base ** -abs(a - b)) / math.log(base)


def _xlogy(x: float, y: float) -> float:
    if math.isnan(y):
        return math.nan
    if x == 0:
        return 0.0
    return x * (math.log(y) if y > 0 else -math.inf if y == 0 else math.nan)


# the special functions of contract 1.2: name -> (reference, inputs, float64 rtol)
_DIGAMMA = {  # exact values: psi(1) = -gamma, psi(1/2) = -gamma - 2 log 2, psi(x+1) = psi(x) + 1/x, ...
    1.0: -0.5772156649015329,
    0.5: -0.5772156649015329 - 2 * math.log(2.0),
    2.0: 1 - 0.5772156649015329,
    0.25: -0.5772156649015329 - math.pi / 2 - 3 * math.log(2.0),
    3.5: -0.5772156649015329 - 2 * math.log(2.0) + 2 + 2 / 3 + 2 / 5,
    -0.5: -0.5772156649015329 - 2 * math.log(2.0) + 2,
    12.0: -0.5772156649015329 + math.fsum(1 / k for k in range(1, 12)),
}
SPECIAL_UNARY: dict[str, tuple[Callable[[Any], Any], list[Any], float]] = {
    "erf": (math.erf, [-3.0, -0.5, 0.0, 1e-8, 0.75, 1.5, 2.25, 6.0, math.inf, math.nan], 1e-14),
    "erfc": (math.erfc, [-2.0, -0.5, 0.0, 0.3, 1.25, 2.5, 5.0, 10.0, 26.0, math.inf, math.nan], 1e-13),
    # erfinv against math.erf's inverse: erf(erfinv(y)) == y (checked as erfinv(erf(x)) == x)
    "erfinv": (_erfinv, [-1.0, -0.9, -0.25, 0.0, 1e-9, 0.5, 0.75, 0.999, 1.0, 1.5], 1e-13),
    "lgamma": (_lgamma, [-2.5, -0.5, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.25, 10.0, 171.5, 1e10], 1e-13),
    "digamma": (lambda v: _DIGAMMA.get(v, math.nan), sorted(_DIGAMMA), 1e-14),
}
SPECIAL_BINARY: dict[str, tuple[Callable[[Any, Any], Any], list[Any], list[Any]]] = {
    "hypot": (math.hypot, [-3.0, 0.0, 1e-200, 1e200, math.inf], [4.0, -0.0, 1e-200, 1e200, math.nan]),
    "logaddexp": (_logaddexp, [-1000.0, -1.0, 0.0, 2.5, 800.0, -math.inf], [-1000.0, 3.0, 0.0, -math.inf, 800.0]),
    "logaddexp2": (
        lambda a, b: _logaddexp(a, b, 2.0),
        [-1000.0, -1.0, 0.0, 2.5, 800.0, -math.inf],
        [-1000.0, 3.0, 0.0, -math.inf, 800.0],
    ),
    "copysign": (math.copysign, [-2.0, 0.0, 3.5, math.inf], [1.0, -1.0, -0.0, 0.0]),
    "xlogy": (_xlogy, [0.0, -2.0, 0.5, 3.0], [0.0, 1.0, 2.5, math.nan, -1.0]),
}

# kernels whose result is bool: the catalogue's predicates and comparisons
_BOOL_RESULT = {n for n, kind in KERNEL_KINDS.items() if kind in ("predicate", "comparison")}


def _py_floor_divide(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    return float(math.floor(a / b))


def _py_remainder(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        return a % b
    return math.fmod(a, b) + (b if math.fmod(a, b) != 0 and (math.fmod(a, b) < 0) != (b < 0) else 0.0)


# name -> (reference, left values, right values, dtype kinds)
BINARY: dict[str, tuple[Callable[[Any, Any], Any], list[Any], list[Any], tuple[str, ...]]] = {
    "add": (lambda a, b: a + b, _GENERAL, [1.0, -2.0, 0.5, 4.0], ("float", "int")),
    "subtract": (lambda a, b: a - b, _GENERAL, [1.0, -2.0, 0.5, 4.0], ("float", "int")),
    "multiply": (lambda a, b: a * b, _GENERAL, [1.0, -2.0, 0.5, 4.0], ("float", "int")),
    "divide": (R.divide, _GENERAL, [1.0, -2.0, 0.5, 4.0, 0.0], ("float",)),
    "pow": (R.power, [0.5, 1.0, 2.0, 3.0, 0.0], [2.0, 0.5, 3.0, 0.0, -1.0], ("float",)),
    "floor_divide": (_py_floor_divide, [-7.0, -3.0, 0.0, 5.0, 9.0], [2.0, -2.0, 3.0, 4.0], ("float", "int")),
    "remainder": (_py_remainder, [-7.0, -3.0, 0.0, 5.0, 9.0], [2.0, -2.0, 3.0, 4.0], ("float", "int")),
    "maximum": (R.maximum, [*_GENERAL, math.nan], [0.0, -1.0, 2.0, math.nan], ("float", "int")),
    "minimum": (R.minimum, [*_GENERAL, math.nan], [0.0, -1.0, 2.0, math.nan], ("float", "int")),
    "equal": (lambda a, b: a == b, [1.0, 2.0, -1.0, math.nan], [1.0, 3.0, -1.0], ("float", "int", "bool")),
    "not_equal": (lambda a, b: a != b, [1.0, 2.0, -1.0, math.nan], [1.0, 3.0, -1.0], ("float", "int", "bool")),
    "less": (lambda a, b: a < b, [1.0, 2.0, -1.0, math.nan], [1.0, 3.0, -2.0], ("float", "int")),
    "less_equal": (lambda a, b: a <= b, [1.0, 2.0, -1.0, math.nan], [1.0, 3.0, -2.0], ("float", "int")),
    "greater": (lambda a, b: a > b, [1.0, 2.0, -1.0, math.nan], [1.0, 3.0, -2.0], ("float", "int")),
    "greater_equal": (lambda a, b: a >= b, [1.0, 2.0, -1.0, math.nan], [1.0, 3.0, -2.0], ("float", "int")),
    "logical_and": (lambda a, b: bool(a and b), [True, False, True], [True, True, False], ("bool",)),
    "logical_or": (lambda a, b: bool(a or b), [True, False, False], [True, False, True], ("bool",)),
    "logical_xor": (lambda a, b: bool(a) != bool(b), [True, False, True], [True, True, False], ("bool",)),
}


def _values_for(kind: str, dtype: str, values: list[Any]) -> list[Any]:
    if kind == "bool":
        return [bool(v) for v in values]
    if kind == "int":
        out = [int(v) for v in values if isinstance(v, bool) or math.isfinite(v)]
        if dtype == "uint8":
            out = [abs(v) for v in out]
        return out
    return [float(v) for v in values]


def _fill(values: list[Any], shape: tuple[int, ...], seed: int) -> list[Any]:
    rng = random.Random(seed)
    return [rng.choice(values) for _ in range(R.numel(shape))]


def _dtypes_of_kind(be: Backend, kind: str) -> list[str]:
    names = [d.name for d in be.dtype_to_native]
    if kind == "float":
        return [n for n in FLOATS if n in names]
    if kind == "int":
        return [n for n in ("int64", "int32") if n in names]
    return ["bool"]


def _kernel_cases(table: dict[str, Any]) -> list[Any]:
    cases = []
    for name, (_, _, *rest) in table.items():
        kinds = rest[-1]
        for kind in kinds:
            dtypes = {"float": ("float32", "float64", "float16"), "int": ("int64", "int32"), "bool": ("bool",)}[kind]
            for dt in dtypes:
                cases.append(pytest.param(name, dt, id=f"{name}-{dt}"))
    return cases


class BackendConformance:
    """Subclass with ``backend_name`` set; pytest collects the subclass (named ``Test...``).

    :cvar backend_name: the plugrad backend under test.
    :cvar expected_failures: test name or test id -> reason; marked ``xfail(strict=True)``.
    """

    backend_name: ClassVar[str | None] = None
    expected_failures: ClassVar[dict[str, str]] = {}

    # ---------------------------------------------------------------- fixtures
    @classmethod
    def _name(cls, request: Any) -> str:
        name = cls.backend_name
        if name is None:
            name = request.config.getoption("plugrad_backend", default=None)
        if not name:
            pytest.fail(
                f"no plugrad backend named for {cls.__name__}: set backend_name on the class or pass "
                "--plugrad-backend NAME",
                pytrace=False,
            )
        return str(name)

    @pytest.fixture(scope="class")
    @classmethod
    def be(cls, request: Any) -> Backend:
        """The backend under test.

        A backend that is not installed, whose plugin failed to load, or whose record
        plugrad rejected fails every test, naming why: the suite never passes by skipping.
        Only a backend that declares itself unavailable on this machine
        (``unavailable_reason``, e.g. no GPU) skips with its reason, and
        ``--plugrad-require-available`` turns that skip into a failure.
        """
        name = cls._name(request)
        reg = get_registry()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reg.ensure_loaded()
        if name in reg.backends:
            return reg.backends[name]
        info = reg.infos.get(name)
        if info is not None and info.declared_unavailable:
            why = f"plugrad backend {name!r} is not available here: {info.reason}"
            if request.config.getoption("plugrad_require_available", default=False):
                pytest.fail(f"{why} (--plugrad-require-available is set)", pytrace=False)
            pytest.skip(why)
        if info is not None:
            pytest.fail(f"plugrad backend {name!r} was rejected: {info.reason}", pytrace=False)
        failed = reg.failed_plugins.get(name) or reg.skipped_entry_points.get(name)
        known = ", ".join(repr(n) for n in sorted(reg.infos)) or "none"
        msg = (
            f"plugrad backend {name!r} is not installed"
            + (f" ({failed})" if failed else "")
            + f"; known backends: {known}"
        )
        others = {p: w for p, w in reg.failed_plugins.items() if p != name}
        if others:
            msg += "; plugins that failed to load: " + "; ".join(f"{p}: {w}" for p, w in others.items())
        pytest.fail(msg, pytrace=False)

    @pytest.fixture(autouse=True)
    def _expected_failures(self, request: Any) -> None:
        # Fallback for runs without plugrad's pytest plugin (``-p no:plugrad``); the plugin
        # marks these tests at collection and checks that every entry names a test.
        node = request.node
        if node.get_closest_marker("xfail") is not None:
            return
        for key in (node.name, getattr(node, "originalname", node.name)):
            reason = self.expected_failures.get(key)
            if reason is not None:
                node.add_marker(pytest.mark.xfail(reason=reason, strict=True))
                return

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def need_dtype(be: Backend, dtype: str) -> Any:
        dt = D.BY_NAME[dtype]
        if dt not in be.dtype_to_native:
            pytest.skip(f"backend {be.name!r} has no {dtype}")
        return be.dtype_to_native[dt]

    @staticmethod
    def need_capability(be: Backend, capability: str) -> None:
        if capability not in be.capabilities:
            pytest.skip(f"backend {be.name!r} does not declare capability {capability!r}")

    @staticmethod
    def need_kernel(be: Backend, kernel: str) -> None:
        if not be.has_kernel(kernel):
            pytest.skip(f"backend {be.name!r} has no optional kernel {kernel!r}")

    def arr(self, be: Backend, values: Any, dtype: str) -> Any:
        """A backend array of ``dtype`` from nested lists (or a scalar: 0-d)."""
        return be.asarray(values, self.need_dtype(be, dtype))

    def arr_shaped(self, be: Backend, flat: list[Any], shape: tuple[int, ...], dtype: str) -> Any:
        """A backend array of ``dtype`` and ``shape`` holding the C-ordered values ``flat``."""
        native = self.need_dtype(be, dtype)
        if R.numel(shape) == 0:
            return be.zeros(shape, native)
        return be.reshape(be.asarray(flat, native), shape)

    def check_dtype(self, be: Backend, x: Any, dtype: str) -> None:
        """Assert that backend array ``x`` has plugrad dtype ``dtype`` (through the backend's dtype table)."""
        got = be.native_to_dtype.get(x.dtype)
        assert got is not None and got.name == dtype, f"result dtype {x.dtype!r} ({got}), expected {dtype}"

    def check(
        self,
        be: Backend,
        x: Any,
        expected: Any,
        dtype: str,
        *,
        rtol: float | None = None,
        atol: float | None = None,
        shape: tuple[int, ...] | None = None,
    ) -> None:
        """``x`` has ``dtype``, the shape of ``expected`` (or ``shape``) and close values (exact for ints and bools)."""
        self.check_dtype(be, x, dtype)
        got = be.tolist(x)
        exp_shape = R.shape_of(expected) if shape is None else shape
        assert tuple(x.shape) == exp_shape, f"shape {tuple(x.shape)}, expected {exp_shape}"
        assert x.ndim == len(exp_shape)
        tr, ta = R.TOLERANCES.get(dtype, (0.0, 0.0))
        if dtype in R.TOLERANCES:
            expected = _map(
                lambda v: (
                    R.to_dtype_value(v, dtype) if isinstance(v, float) and math.isfinite(v) and abs(v) < 1e300 else v
                ),
                expected,
            )
        if R.numel(exp_shape) == 0:
            return
        bad = R.mismatches(got, expected, tr if rtol is None else rtol, ta if atol is None else atol)
        assert not bad, f"{dtype}: " + "; ".join(bad)

    def values(self, be: Backend, x: Any) -> list[Any]:
        """The values of backend array ``x`` as a flat Python list (C order)."""
        return R.flatten(be.tolist(x))

    # ================================================================ the record
    def test_record(self, be: Backend) -> None:
        """The backend record is well formed and written for a compatible contract."""
        spec = be.spec
        assert check_contract_version(spec.contract_version) is None, check_contract_version(spec.contract_version)
        assert spec.contract_version.split(".")[0] == CONTRACT_VERSION.split(".")[0]
        assert REQUIRED_KERNELS <= set(spec.kernels)
        assert set(spec.kernels) <= set(KERNELS)
        for dt in ("bool", "int64", "float32"):
            assert D.BY_NAME[dt] in be.dtype_to_native
        assert isinstance(be.device_type, str) and be.device_type
        assert plugrad.device(be.name).type == be.name

    def test_array_types(self, be: Backend) -> None:
        x = self.arr(be, [1.0, 2.0], "float32")
        if be.spec.array_types:
            assert isinstance(x, be.spec.array_types)
        assert tuple(x.shape) == (2,) and x.ndim == 1

    # ================================================================ creation
    @pytest.mark.parametrize(
        "dtype", ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
    )
    def test_asarray(self, be: Backend, dtype: str) -> None:
        vals: list[Any] = {"bool": [[True, False], [False, True]]}.get(dtype, [[1, 2], [3, 4]])
        if dtype in FLOATS:
            vals = [[1.5, -2.0], [0.25, 4.0]]
        x = self.arr(be, vals, dtype)
        self.check(be, x, vals, dtype)
        scalar = self.arr(be, vals[0][0], dtype)
        self.check(be, scalar, vals[0][0], dtype)
        empty = self.arr(be, [], dtype)
        assert tuple(empty.shape) == (0,)
        self.check_dtype(be, empty, dtype)

    def test_asarray_copies(self, be: Backend) -> None:
        x = self.arr(be, [1.0, 2.0, 3.0], "float32")
        y = be.asarray(x, be.dtype_to_native[D.float32])
        be.setitem(x, (0,), 10.0)
        assert self.values(be, y) == [1.0, 2.0, 3.0]

    @pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (2, 0, 4)])
    @pytest.mark.parametrize("dtype", ["float32", "int64", "bool", "float64"])
    def test_zeros_ones_full_empty(self, be: Backend, shape: tuple[int, ...], dtype: str) -> None:
        native = self.need_dtype(be, dtype)
        n = R.numel(shape)
        fill = {"bool": True, "int64": 7}.get(dtype, 2.5)
        zero = {"bool": False, "int64": 0}.get(dtype, 0.0)
        one = {"bool": True, "int64": 1}.get(dtype, 1.0)
        self.check(be, be.zeros(shape, native), R.unflatten([zero] * n, shape) if n else [], dtype, shape=shape)
        self.check(be, be.ones(shape, native), R.unflatten([one] * n, shape) if n else [], dtype, shape=shape)
        self.check(be, be.full(shape, fill, native), R.unflatten([fill] * n, shape) if n else [], dtype, shape=shape)
        e = be.empty(shape, native)
        assert tuple(e.shape) == shape
        self.check_dtype(be, e, dtype)

    @pytest.mark.parametrize(
        "args,dtype",
        [
            ((0, 5, 1), "int64"),
            ((2, 11, 3), "int64"),
            ((5, 0, -2), "int64"),
            ((0, 0, 1), "int64"),
            ((0.0, 1.0, 0.25), "float64"),
            ((0, 4, 1), "float32"),
        ],
    )
    def test_arange(self, be: Backend, args: tuple[Any, ...], dtype: str) -> None:
        start, stop, step = args
        n = max(0, math.ceil((stop - start) / step))
        expected = [start + i * step for i in range(n)]
        if dtype in FLOATS:
            expected = [float(v) for v in expected]
        self.check(be, be.arange(start, stop, step, self.need_dtype(be, dtype)), expected, dtype)

    @pytest.mark.parametrize("num", [0, 1, 2, 5])
    def test_linspace(self, be: Backend, num: int) -> None:
        x = be.linspace(-1.0, 3.0, num, self.need_dtype(be, "float64"))
        expected = [-1.0 + 4.0 * i / (num - 1) for i in range(num)] if num > 1 else [-1.0] * num
        self.check(be, x, expected, "float64", rtol=1e-12, atol=1e-12)

    @pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
    def test_random_uniform(self, be: Backend, dtype: str) -> None:
        native = self.need_dtype(be, dtype)
        be.random_seed(1234)
        x = be.random_uniform((40, 50), native)
        self.check_dtype(be, x, dtype)
        assert tuple(x.shape) == (40, 50)
        v = self.values(be, x)
        assert all(0.0 <= t <= 1.0 for t in v) and (dtype == "float16" or all(t < 1.0 for t in v))
        mean = sum(v) / len(v)  # U[0,1): mean 1/2, standard error 0.29/sqrt(2000) = 0.0065
        assert abs(mean - 0.5) < 0.04, mean
        be.random_seed(1234)
        assert self.values(be, be.random_uniform((40, 50), native)) == v, "random_seed does not make draws repeat"
        be.random_seed(4321)
        assert self.values(be, be.random_uniform((40, 50), native)) != v, "different seeds give the same draws"

    @pytest.mark.parametrize("dtype", ["float32", "float64"])
    def test_random_normal(self, be: Backend, dtype: str) -> None:
        native = self.need_dtype(be, dtype)
        be.random_seed(7)
        x = be.random_normal((4000,), native)
        self.check_dtype(be, x, dtype)
        v = self.values(be, x)
        mean = sum(v) / len(v)
        std = math.sqrt(sum((t - mean) ** 2 for t in v) / (len(v) - 1))
        # N(0,1): the mean has standard error 0.016, the std about 0.011; 6 sigma bounds
        assert abs(mean) < 0.1 and abs(std - 1.0) < 0.07, (mean, std)
        assert be.tolist(be.random_normal((0,), native)) == []

    def test_random_generator(self, be: Backend) -> None:
        """The optional stream kernel: seeded streams repeat, are independent of each other and of
        the default stream, match the default stream after ``random_seed`` with the same seed, and
        ``set_state(get_state())`` resumes exactly; foreign state bytes are a ``ValueError``."""
        self.need_kernel(be, "random_generator")
        f32 = self.need_dtype(be, "float32")
        a, b = be.random_generator(11), be.random_generator(11)
        first = self.values(be, a.uniform((30,), f32))
        be.random_generator(12).uniform((100,), f32)  # another stream's draws
        be.random_uniform((100,), f32)  # the default stream's draws
        assert self.values(be, b.uniform((30,), f32)) == first, "equal seeds give different streams"
        be.random_seed(11)
        assert self.values(be, be.random_uniform((30,), f32)) == first, "random_generator(s) != random_seed(s)"
        state = a.get_state()
        assert isinstance(state, bytes)
        nxt = self.values(be, a.normal((20,), f32))
        b.set_state(state)
        assert self.values(be, b.normal((20,), f32)) == nxt, "set_state(get_state()) does not resume the stream"
        a.seed(11)
        assert self.values(be, a.uniform((30,), f32)) == first, "seed() does not restart the stream"
        default = be.random_generator(None)
        d_state = default.get_state()
        d_draw = self.values(be, be.random_uniform((10,), f32))
        default.set_state(d_state)
        assert self.values(be, be.random_uniform((10,), f32)) == d_draw, "the default stream's state is not its own"
        with pytest.raises(ValueError):
            a.set_state(b"not a state")

    # ================================================================ elementwise
    @pytest.mark.parametrize("name,dtype", _kernel_cases(UNARY))
    def test_unary(self, be: Backend, name: str, dtype: str) -> None:
        ref, values, _ = UNARY[name]
        kind = "bool" if dtype == "bool" else "int" if dtype in INTS else "float"
        vals = _values_for(kind, dtype, values)
        x = self.arr(be, vals, dtype)
        stored = self.values(be, x)
        out_dtype = "bool" if name in _BOOL_RESULT else dtype
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = getattr(be, name)(x)
            self.check(be, y, [ref(v) for v in stored], out_dtype)
            # 0-d in, 0-d out (a real array, not a bare scalar)
            y0 = getattr(be, name)(self.arr(be, vals[1], dtype))
            assert y0.ndim == 0 and tuple(y0.shape) == ()
            self.check(be, y0, ref(stored[1]), out_dtype)
            # empty
            ye = getattr(be, name)(be.zeros((0, 3), x.dtype))
            assert tuple(ye.shape) == (0, 3)

    @pytest.mark.parametrize("name", ["exp", "sqrt", "negative", "abs", "tanh", "floor", "isnan"])
    def test_unary_noncontiguous(self, be: Backend, name: str) -> None:
        ref = UNARY[name][0]
        flat = [0.5 * i + 0.25 for i in range(12)]
        base = self.arr_shaped(be, flat, (3, 4), "float32")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for view, expected in self._views(be, base, flat, (3, 4)):
                out_dtype = "bool" if name in _BOOL_RESULT else "float32"
                self.check(be, getattr(be, name)(view), _map(ref, expected), out_dtype)

    def _views(self, be: Backend, base: Any, flat: list[Any], shape: tuple[int, int]) -> list[tuple[Any, Any]]:
        """Non-contiguous views of a 2-D ``base`` and their expected nested lists."""
        rows = R.unflatten(flat, shape)
        transposed = [list(col) for col in zip(*rows)]
        strided = [row[::2] for row in rows]
        return [
            (be.permute_dims(base, (1, 0)), transposed),
            (be.getitem(base, (slice(None), slice(None, None, 2))), strided),
            (be.getitem(base, (slice(1, None), slice(1, 3))), [row[1:3] for row in rows[1:]]),
        ]

    @pytest.mark.parametrize("name,dtype", _kernel_cases(BINARY))
    @pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=lambda s: f"{s[0]}x{s[1]}".replace(" ", ""))
    def test_binary(self, be: Backend, name: str, dtype: str, shapes: tuple[Any, Any]) -> None:
        ref, left, right, _ = BINARY[name]
        kind = "bool" if dtype == "bool" else "int" if dtype in INTS else "float"
        lv, rv = _values_for(kind, dtype, left), _values_for(kind, dtype, right)
        if kind == "int" and name in ("floor_divide", "remainder"):
            rv = [v for v in rv if v != 0]
        sa, sb = shapes
        a = self.arr_shaped(be, _fill(lv, sa, 1), sa, dtype)
        b = self.arr_shaped(be, _fill(rv, sb, 2), sb, dtype)
        fa, fb = self.values(be, a), self.values(be, b)
        out_dtype = "bool" if name in _BOOL_RESULT else dtype
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = getattr(be, name)(a, b)
        flat, shape = R.elementwise(ref, (fa, sa), (fb, sb))
        self.check(be, y, R.unflatten(flat, shape) if shape else flat[0], out_dtype, shape=shape)

    @pytest.mark.parametrize(
        "name", ["add", "subtract", "multiply", "divide", "pow", "maximum", "minimum", "less", "equal", "remainder"]
    )
    @pytest.mark.parametrize("dtype", ["float32", "int64"])
    def test_binary_python_scalar(self, be: Backend, name: str, dtype: str) -> None:
        """A Python scalar on either side, of a kind the array's dtype holds (plugrad promotes first)."""
        if dtype == "int64" and name in ("divide", "pow"):
            pytest.skip("plugrad converts integer operands of divide and pow to floats first")
        ref = BINARY[name][0]
        vals = [1.0, -2.0, 3.5, 0.5] if dtype == "float32" else [1, -2, 3, 5]
        s = 2.0 if dtype == "float32" else 2
        x = self.arr(be, vals, dtype)
        stored = self.values(be, x)
        out_dtype = "bool" if name in _BOOL_RESULT else dtype
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.check(be, getattr(be, name)(x, s), [ref(v, s) for v in stored], out_dtype)
            self.check(be, getattr(be, name)(s, x), [ref(s, v) for v in stored], out_dtype)
            x0 = self.arr(be, vals[2], dtype)
            y0 = getattr(be, name)(x0, s)
            assert y0.ndim == 0
            self.check(be, y0, ref(self.values(be, x0)[0], s), out_dtype)

    @pytest.mark.parametrize("name", ["add", "multiply", "maximum", "greater"])
    def test_binary_noncontiguous(self, be: Backend, name: str) -> None:
        ref = BINARY[name][0]
        flat = [float(i % 5) - 2.0 for i in range(12)]
        base = self.arr_shaped(be, flat, (3, 4), "float32")
        out_dtype = "bool" if name in _BOOL_RESULT else "float32"
        for view, expected in self._views(be, base, flat, (3, 4)):
            other = be.copy(view)
            self.check(be, getattr(be, name)(view, other), _map2(ref, expected, expected), out_dtype)

    def test_where(self, be: Backend) -> None:
        cond = self.arr(be, [[True, False, True, False]], "bool")
        a = self.arr_shaped(be, [float(i) for i in range(12)], (3, 4), "float32")
        b = self.arr(be, [-1.0, -2.0, -3.0, -4.0], "float32")
        expected = [[float(r * 4 + c) if c % 2 == 0 else -(c + 1.0) for c in range(4)] for r in range(3)]
        self.check(be, be.where(cond, a, b), expected, "float32")
        self.check(
            be,
            be.where(cond, a, 0.0),
            [[v if c % 2 == 0 else 0.0 for c, v in enumerate(row)] for row in expected],
            "float32",
        )
        c0 = self.arr(be, True, "bool")
        self.check(be, be.where(c0, self.arr(be, 1.0, "float32"), self.arr(be, 2.0, "float32")), 1.0, "float32")

    def test_clip(self, be: Backend) -> None:
        x = self.arr(be, [-3.0, -1.0, 0.0, 2.0, 5.0], "float32")
        self.check(be, be.clip(x, -1.5, 2.5), [-1.5, -1.0, 0.0, 2.0, 2.5], "float32")
        self.check(be, be.clip(x, None, 1.0), [-3.0, -1.0, 0.0, 1.0, 1.0], "float32")
        self.check(be, be.clip(x, 0.0, None), [0.0, 0.0, 0.0, 2.0, 5.0], "float32")
        lo = self.arr(be, [0.0, 0.0, -1.0, -1.0, 0.0], "float32")
        self.check(be, be.clip(x, lo, 3.0), [0.0, 0.0, 0.0, 2.0, 3.0], "float32")
        xi = self.arr(be, [-3, 0, 7], "int64")
        self.check(be, be.clip(xi, -1, 5), [-1, 0, 5], "int64")

    # ================================================================ reductions
    @pytest.mark.parametrize("axis", [None, (0,), (1,), (0, 1), (-1,)], ids=str)
    @pytest.mark.parametrize("keepdims", [False, True])
    @pytest.mark.parametrize(
        "name,dtype",
        [
            ("sum", "float32"),
            ("sum", "float64"),
            ("sum", "int64"),
            ("sum", "bool"),
            ("sum", "int32"),
            ("prod", "float32"),
            ("prod", "int64"),
            ("mean", "float32"),
            ("mean", "float64"),
            ("max", "float32"),
            ("max", "int64"),
            ("min", "float32"),
            ("min", "int64"),
            ("all", "bool"),
            ("any", "bool"),
            ("all", "float32"),
            ("any", "int64"),
        ],
    )
    def test_reduction(self, be: Backend, name: str, dtype: str, axis: Any, keepdims: bool) -> None:
        shape = (3, 4)
        if dtype == "bool":
            flat: list[Any] = [(i * 7) % 3 == 0 for i in range(12)]
        elif dtype in INTS:
            flat = [(i * 5) % 7 - 3 for i in range(12)]
        else:
            flat = [((i * 5) % 7 - 3) * 0.5 for i in range(12)]
        if name == "prod":
            flat = [v if v != 0 else 1 for v in flat]
        x = self.arr_shaped(be, flat, shape, dtype)
        stored = self.values(be, x)
        fns: dict[str, Callable[[list[Any]], Any]] = {
            "sum": lambda v: sum(v) if dtype in FLOATS else int(sum(int(t) for t in v)),
            "prod": lambda v: math.prod(v),
            "mean": lambda v: sum(v) / len(v),
            "max": max,
            "min": min,
            "all": lambda v: all(v),
            "any": lambda v: any(v),
        }
        out_dtype = {
            "sum": "int64" if dtype not in FLOATS else dtype,
            "prod": "int64" if dtype not in FLOATS else dtype,
        }.get(name, dtype)
        if name in ("all", "any"):
            out_dtype = "bool"
        expected = R.reduce(stored, shape, axis, keepdims, fns[name])
        self.check(be, getattr(be, name)(x, axis, keepdims), expected, out_dtype)

    def test_reduction_0d_and_empty(self, be: Backend) -> None:
        x0 = self.arr(be, 2.5, "float32")
        self.check(be, be.sum(x0, None, False), 2.5, "float32")
        self.check(be, be.max(x0, None, False), 2.5, "float32")
        e = be.zeros((0, 3), be.dtype_to_native[D.float32])
        self.check(be, be.sum(e, None, False), 0.0, "float32")
        self.check(be, be.sum(e, (0,), False), [0.0, 0.0, 0.0], "float32")
        self.check(be, be.prod(e, (0,), True), [[1.0, 1.0, 1.0]], "float32")
        self.check(be, be.sum(e, (1,), False), [], "float32")
        self.check(be, be.all(be.zeros((0,), be.dtype_to_native[D.bool_]), None, False), True, "bool")
        self.check(be, be.any(be.zeros((0,), be.dtype_to_native[D.bool_]), None, False), False, "bool")

    def test_reduction_noncontiguous(self, be: Backend) -> None:
        flat = [float(i) for i in range(12)]
        base = self.arr_shaped(be, flat, (3, 4), "float32")
        for view, expected in self._views(be, base, flat, (3, 4)):
            self.check(be, be.sum(view, (0,), False), [sum(col) for col in zip(*expected)], "float32")
            self.check(be, be.max(view, (1,), True), [[max(row)] for row in expected], "float32")

    def test_nan_propagates_in_max_min(self, be: Backend) -> None:
        x = self.arr(be, [1.0, math.nan, 3.0], "float32")
        self.check(be, be.max(x, None, False), math.nan, "float32")
        self.check(be, be.min(x, (0,), False), math.nan, "float32")

    @pytest.mark.parametrize("name", ["argmax", "argmin"])
    @pytest.mark.parametrize("dtype", ["float32", "int64"])
    def test_argmax_argmin(self, be: Backend, name: str, dtype: str) -> None:
        rows = [[1, 5, 5, 0], [7, 7, -2, -2], [3, 3, 3, 3]]  # ties: first occurrence wins
        x = self.arr(be, rows if dtype in INTS else [[float(v) for v in r] for r in rows], dtype)
        pick = max if name == "argmax" else min

        def first(v: list[Any]) -> int:
            return v.index(pick(v))

        self.check(be, getattr(be, name)(x, None, False), first(R.flatten(rows)), "int64")
        self.check(be, getattr(be, name)(x, 1, False), [first(r) for r in rows], "int64")
        self.check(be, getattr(be, name)(x, 0, False), [first(list(c)) for c in zip(*rows)], "int64")
        self.check(be, getattr(be, name)(x, 1, True), [[first(r)] for r in rows], "int64")

    @pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
    @pytest.mark.parametrize("axis", [0, 1, -1])
    def test_cumulative(self, be: Backend, dtype: str, axis: int) -> None:
        rows: list[Any] = [[1, 2, 3], [4, -1, 2]]
        if dtype == "bool":
            rows = [[True, False, True], [True, True, False]]
        elif dtype in FLOATS:
            rows = [[float(v) for v in r] for r in rows]
        x = self.arr(be, rows, dtype)
        out_dtype = dtype if dtype in FLOATS else "int64"

        def scan(seq: list[Any], op: Callable[[Any, Any], Any]) -> list[Any]:
            out, acc = [], None
            for v in seq:
                v = int(v) if out_dtype == "int64" else v
                acc = v if acc is None else op(acc, v)
                out.append(acc)
            return out

        for kname, op in (("cumulative_sum", lambda a, b: a + b), ("cumulative_prod", lambda a, b: a * b)):
            if axis == 0:
                cols = [scan(list(c), op) for c in zip(*rows)]
                expected = [list(r) for r in zip(*cols)]
            else:
                expected = [scan(r, op) for r in rows]
            self.check(be, getattr(be, kname)(x, axis), expected, out_dtype)

    # ================================================================ linear algebra
    @pytest.mark.parametrize(
        "sa,sb",
        [
            ((2, 3), (3, 4)),
            ((3,), (3, 4)),
            ((2, 3), (3,)),
            ((3,), (3,)),
            ((2, 2, 3), (3, 4)),
            ((2, 1, 2, 3), (3, 3, 2)),
            ((0, 3), (3, 2)),
            ((2, 0), (0, 3)),
        ],
        ids=str,
    )
    @pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
    def test_matmul(self, be: Backend, sa: tuple[int, ...], sb: tuple[int, ...], dtype: str) -> None:
        fa: list[Any] = [(i % 5) - 2 for i in range(R.numel(sa))]
        fb: list[Any] = [(i % 3) + (i % 4) - 2 for i in range(R.numel(sb))]
        if dtype in FLOATS:
            fa = [v * 0.5 for v in fa]
            fb = [v * 0.25 for v in fb]
        a = self.arr_shaped(be, fa, sa, dtype)
        b = self.arr_shaped(be, fb, sb, dtype)
        expected, shape = _matmul_ref(fa, sa, fb, sb)
        self.check(be, be.matmul(a, b), expected, dtype, shape=shape)

    def test_matmul_noncontiguous(self, be: Backend) -> None:
        flat = [float(i % 7) for i in range(12)]
        base = self.arr_shaped(be, flat, (3, 4), "float32")
        t = be.permute_dims(base, (1, 0))
        rows = R.unflatten(flat, (3, 4))
        self.check(
            be,
            be.matmul(t, base),
            _matmul_ref(R.flatten([list(c) for c in zip(*rows)]), (4, 3), flat, (3, 4))[0],
            "float32",
        )

    # ================================================================ shapes and copies
    def test_reshape(self, be: Backend) -> None:
        flat = [float(i) for i in range(12)]
        x = self.arr_shaped(be, flat, (3, 4), "float32")
        self.check(be, be.reshape(x, (2, 6)), R.unflatten(flat, (2, 6)), "float32")
        self.check(be, be.reshape(x, (12,)), flat, "float32")
        self.check(be, be.reshape(x, (2, 2, 3)), R.unflatten(flat, (2, 2, 3)), "float32")
        self.check(be, be.reshape(self.arr(be, 5.0, "float32"), (1, 1)), [[5.0]], "float32")
        self.check(be, be.reshape(self.arr(be, [5.0], "float32"), ()), 5.0, "float32")
        self.check(be, be.reshape(be.zeros((0, 4), x.dtype), (2, 0)), [[], []], "float32")
        t = be.permute_dims(x, (1, 0))
        rows = R.unflatten(flat, (3, 4))
        self.check(be, be.reshape(t, (12,)), R.flatten([list(c) for c in zip(*rows)]), "float32")

    def test_reshape_copy_keyword(self, be: Backend) -> None:
        """``reshape(x, shape, copy=...)``: the standard's keyword, which plugrad's ``view()`` relies on.

        ``copy=False`` gives a view or raises ``ValueError`` (a transposed array cannot be
        flattened without copying); ``copy=True`` always gives a new array.
        """
        flat = [float(i) for i in range(12)]
        x = self.arr_shaped(be, flat, (3, 4), "float32")
        t = be.permute_dims(x, (1, 0))
        with pytest.raises(ValueError):
            be.reshape(t, (12,), copy=False)
        v = be.reshape(x, (12,), copy=False)
        self.check(be, v, flat, "float32")
        c = be.reshape(x, (2, 6), copy=True)
        self.check(be, c, R.unflatten(flat, (2, 6)), "float32")
        self.check(
            be,
            be.reshape(t, (12,), copy=True),
            R.flatten([list(col) for col in zip(*R.unflatten(flat, (3, 4)))]),
            "float32",
        )
        be.setitem(c, (0, 0), -1.0)
        assert self.values(be, x)[0] == 0.0, "reshape(copy=True) shares memory with its input"
        if "views" in be.capabilities:
            be.setitem(v, (1,), -2.0)
            assert self.values(be, x)[1] == -2.0, "reshape(copy=False) must give a view"

    def test_view_of_a_transposed_tensor_raises(self, be: Backend) -> None:
        """PyTorch's ``view`` never copies: ``x.t().view(12)`` is an error, on every backend."""
        x = plugrad.arange(12.0, device=be.name).reshape(3, 4)
        with pytest.raises(RuntimeError, match="view"):
            x.t().view(12)
        if "views" in be.capabilities:
            v = x.view(4, 3)
            v[0, 0] = 5.0
            assert x[0, 0].item() == 5.0, "view() must share memory with its base"

    def test_permute_dims(self, be: Backend) -> None:
        flat = [float(i) for i in range(24)]
        x = self.arr_shaped(be, flat, (2, 3, 4), "float32")
        y = be.permute_dims(x, (2, 0, 1))
        expected = [[[flat[i * 12 + j * 4 + k] for j in range(3)] for i in range(2)] for k in range(4)]
        self.check(be, y, expected, "float32")

    def test_broadcast_to(self, be: Backend) -> None:
        x = self.arr(be, [[1.0], [2.0]], "float32")
        self.check(be, be.broadcast_to(x, (3, 2, 4)), [[[1.0] * 4, [2.0] * 4]] * 3, "float32")
        self.check(be, be.broadcast_to(self.arr(be, 3, "int64"), (2,)), [3, 3], "int64")

    def test_concat_stack(self, be: Backend) -> None:
        a = self.arr(be, [[1.0, 2.0], [3.0, 4.0]], "float32")
        b = self.arr(be, [[5.0, 6.0]], "float32")
        e = be.zeros((0, 2), a.dtype)
        self.check(be, be.concat([a, b, e], 0), [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], "float32")
        self.check(
            be, be.concat([a, be.permute_dims(a, (1, 0))], 1), [[1.0, 2.0, 1.0, 3.0], [3.0, 4.0, 2.0, 4.0]], "float32"
        )
        self.check(be, be.stack([a, a], 0), [[[1.0, 2.0], [3.0, 4.0]]] * 2, "float32")
        self.check(be, be.stack([a, a], 2), [[[1.0, 1.0], [2.0, 2.0]], [[3.0, 3.0], [4.0, 4.0]]], "float32")
        s = [self.arr(be, 1, "int64"), self.arr(be, 2, "int64")]
        self.check(be, be.stack(s, 0), [1, 2], "int64")

    def test_flip_roll_tile(self, be: Backend) -> None:
        x = self.arr(be, [[1, 2, 3], [4, 5, 6]], "int64")
        self.check(be, be.flip(x, (0,)), [[4, 5, 6], [1, 2, 3]], "int64")
        self.check(be, be.flip(x, (0, 1)), [[6, 5, 4], [3, 2, 1]], "int64")
        self.check(be, be.roll(x, (1,), (1,)), [[3, 1, 2], [6, 4, 5]], "int64")
        self.check(be, be.roll(x, (-1, 1), (1, 0)), [[5, 6, 4], [2, 3, 1]], "int64")
        self.check(be, be.tile(x, (2, 1)), [[1, 2, 3], [4, 5, 6], [1, 2, 3], [4, 5, 6]], "int64")
        self.check(be, be.tile(x, (1, 2)), [[1, 2, 3, 1, 2, 3], [4, 5, 6, 4, 5, 6]], "int64")
        self.check(be, be.tile(x, (2, 1, 1)), [[[1, 2, 3], [4, 5, 6]]] * 2, "int64")

    @pytest.mark.parametrize(
        "src,dst,values,expected",
        [
            ("float32", "int64", [-2.7, -0.5, 0.5, 2.7], [-2, 0, 0, 2]),
            ("float64", "float32", [0.1, 1e-3], [0.1, 1e-3]),
            ("int64", "float32", [-3, 0, 7], [-3.0, 0.0, 7.0]),
            ("int64", "bool", [-3, 0, 7], [True, False, True]),
            ("float32", "bool", [0.0, -0.5, 2.0], [False, True, True]),
            ("bool", "float32", [True, False], [1.0, 0.0]),
            ("bool", "int64", [True, False], [1, 0]),
            ("int64", "int32", [5, -6], [5, -6]),
            ("float32", "float16", [0.5, 3.0], [0.5, 3.0]),
            ("int32", "int64", [5, -6], [5, -6]),
            ("uint8", "int64", [0, 255], [0, 255]),
            ("float32", "float32", [1.5, -2.0], [1.5, -2.0]),
        ],
        ids=lambda v: str(v) if isinstance(v, str) else "",
    )
    def test_astype(self, be: Backend, src: str, dst: str, values: list[Any], expected: list[Any]) -> None:
        x = self.arr(be, values, src)
        y = be.astype(x, self.need_dtype(be, dst))
        self.check(be, y, expected, dst)
        be.setitem(x, (0,), values[1])  # astype always makes a new array
        self.check(be, y, expected, dst)

    def test_copy(self, be: Backend) -> None:
        flat = [float(i) for i in range(12)]
        base = self.arr_shaped(be, flat, (3, 4), "float32")
        for view, expected in self._views(be, base, flat, (3, 4)):
            c = be.copy(view)
            self.check(be, c, expected, "float32")
            be.setitem(c, (0, 0), -1.0)
            assert self.values(be, base) == flat, "copy shares memory with its input"

    # ================================================================ indexing
    def _getitem_cases(self, be: Backend) -> dict[str, tuple[Any, Callable[[list[list[list[float]]]], Any]]]:
        i64 = be.dtype_to_native[D.int64]
        b = be.dtype_to_native[D.bool_]
        idx0 = be.asarray([1, 0, 1], i64)  # repeated indices
        idx = be.asarray([2, 0, 2], i64)
        return {
            "int": ((1,), lambda x: x[1]),
            "negative-int": ((-1,), lambda x: x[-1]),
            "all-ints-0d": ((1, 2, 3), lambda x: x[1][2][3]),
            "slice": ((slice(1, None),), lambda x: x[1:]),
            "strided-slice": ((slice(None), slice(None, None, 2)), lambda x: [r[::2] for r in x]),
            "ellipsis-int": ((Ellipsis, 0), lambda x: [[c[0] for c in r] for r in x]),
            "none": ((None, 0), lambda x: [x[0]]),
            "int-array": ((idx0,), lambda x: [x[1], x[0], x[1]]),
            "slice-and-int-array": ((slice(None), idx), lambda x: [[r[2], r[0], r[2]] for r in x]),
            "int-array-and-slice": ((be.asarray([1, 0], i64), slice(1, 3)), lambda x: [x[1][1:3], x[0][1:3]]),
            "two-int-arrays": ((be.asarray([0, 1], i64), be.asarray([2, 0], i64)), lambda x: [x[0][2], x[1][0]]),
            "int-array-2d": ((be.asarray([[0], [1]], i64),), lambda x: [[x[0]], [x[1]]]),
            "bool-mask-full": (
                (be.asarray([[[(i + j + k) % 3 == 0 for k in range(4)] for j in range(3)] for i in range(2)], b),),
                lambda x: [x[i][j][k] for i in range(2) for j in range(3) for k in range(4) if (i + j + k) % 3 == 0],
            ),
            "bool-mask-first-axis": ((be.asarray([False, True], b),), lambda x: [x[1]]),
        }

    @pytest.mark.parametrize(
        "case",
        [
            "int",
            "negative-int",
            "all-ints-0d",
            "slice",
            "strided-slice",
            "ellipsis-int",
            "none",
            "int-array",
            "slice-and-int-array",
            "int-array-and-slice",
            "two-int-arrays",
            "int-array-2d",
            "bool-mask-full",
            "bool-mask-first-axis",
        ],
    )
    def test_getitem_keys(self, be: Backend, case: str) -> None:
        flat = [float(i) for i in range(24)]
        nested = R.unflatten(flat, (2, 3, 4))
        x = self.arr_shaped(be, flat, (2, 3, 4), "float32")
        key, ref = self._getitem_cases(be)[case]
        y = be.getitem(x, key)
        expected = ref(nested)
        self.check(be, y, expected, "float32")
        if case == "all-ints-0d":
            assert y.ndim == 0, "an all-integer key must give a 0-d array, not a scalar"

    @pytest.mark.parametrize(
        "case",
        ["int", "slice", "strided-slice", "int-array", "bool-mask-full", "two-int-arrays", "slice-and-int-array"],
    )
    def test_setitem_keys(self, be: Backend, case: str) -> None:
        flat = [float(i) for i in range(24)]
        key, _ref = self._getitem_cases(be)[case]
        # which positions the key selects: index an array of positions the same way
        pos = self.arr_shaped(
            be, [float(i) for i in range(24)], (2, 3, 4), "float64" if D.float64 in be.dtype_to_native else "float32"
        )
        chosen = {int(v) for v in R.flatten(be.tolist(be.getitem(pos, key)))}
        x = self.arr_shaped(be, flat, (2, 3, 4), "float32")
        be.setitem(x, key, -1.0)
        self.check(be, x, R.unflatten([-1.0 if i in chosen else v for i, v in enumerate(flat)], (2, 3, 4)), "float32")
        # an array value, broadcast to the selection
        x = self.arr_shaped(be, flat, (2, 3, 4), "float32")
        sel_shape = tuple(be.getitem(x, key).shape)
        value = self.arr_shaped(be, [100.0 + i for i in range(R.numel(sel_shape))], sel_shape, "float32")
        be.setitem(x, key, value)
        got = R.flatten(be.tolist(be.getitem(x, key)))
        if case in ("int-array", "slice-and-int-array"):
            # repeated indices: which write lands is unspecified, but each selected element holds a written value
            assert set(got) <= {100.0 + i for i in range(R.numel(sel_shape))}
        else:
            assert got == [100.0 + i for i in range(R.numel(sel_shape))]

    def test_setitem_0d_and_broadcast(self, be: Backend) -> None:
        x = self.arr(be, [[1, 2, 3], [4, 5, 6]], "int64")
        be.setitem(x, (slice(None), 1), self.arr(be, [7, 8], "int64"))
        be.setitem(x, (0, 0), 9)
        self.check(be, x, [[9, 7, 3], [4, 8, 6]], "int64")
        be.setitem(x, (slice(None),), self.arr(be, [0, 1, 2], "int64"))
        self.check(be, x, [[0, 1, 2], [0, 1, 2]], "int64")
        z = self.arr(be, 1.0, "float32")
        be.setitem(z, (), 4.0)
        self.check(be, z, 4.0, "float32")

    def test_take_along_axis(self, be: Backend) -> None:
        x = self.arr(be, [[10.0, 30.0, 20.0], [60.0, 50.0, 40.0]], "float32")
        idx = self.arr(be, [[1, 0], [2, 2]], "int64")
        self.check(be, be.take_along_axis(x, idx, 1), [[30.0, 10.0], [40.0, 40.0]], "float32")
        idx0 = self.arr(be, [[1, 0, 1]], "int64")
        self.check(be, be.take_along_axis(x, idx0, 0), [[60.0, 30.0, 40.0]], "float32")

    @pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
    def test_index_add(self, be: Backend, dtype: str) -> None:
        zero = 0 if dtype == "int64" else 0.0
        x = self.arr_shaped(be, [zero] * 12, (4, 3), dtype)
        idx = self.arr(be, [0, 2, 0, 3], "int64")  # row 0 twice: contributions accumulate
        vals = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 1, 1]]
        v = self.arr(be, vals if dtype == "int64" else [[float(t) for t in r] for r in vals], dtype)
        be.index_add(x, (idx,), v)
        expected = [[8, 10, 12], [0, 0, 0], [4, 5, 6], [1, 1, 1]]
        self.check(be, x, expected if dtype == "int64" else [[float(t) for t in r] for r in expected], dtype)
        y = self.arr_shaped(be, [zero] * 12, (4, 3), dtype)
        cols = self.arr(be, [1, 1], "int64")
        one = 1 if dtype == "int64" else 1.0
        be.index_add(y, (slice(None), cols), self.arr_shaped(be, [one] * 8, (4, 2), dtype))
        self.check(be, y, [[zero, 2 * one, zero]] * 4, dtype)

    # ================================================================ in place
    def test_copy_into(self, be: Backend) -> None:
        dst = self.arr(be, [[1, 2, 3], [4, 5, 6]], "int64")
        be.copy_into(dst, self.arr(be, [7.9, -8.9, 9.0], "float32"))  # broadcast and cast (truncation)
        self.check(be, dst, [[7, -8, 9], [7, -8, 9]], "int64")
        f = self.arr(be, [0.0, 0.0], "float32")
        be.copy_into(f, self.arr(be, [True, False], "bool"))
        self.check(be, f, [1.0, 0.0], "float32")
        be.copy_into(f, 2.5)
        self.check(be, f, [2.5, 2.5], "float32")
        flat = [float(i) for i in range(12)]
        base = self.arr_shaped(be, flat, (3, 4), "float32")
        t = be.permute_dims(base, (1, 0))
        out = be.zeros((4, 3), base.dtype)
        be.copy_into(out, t)
        rows = R.unflatten(flat, (3, 4))
        self.check(be, out, [list(c) for c in zip(*rows)], "float32")

    @pytest.mark.parametrize("dtype", ["float32", "int64"])
    def test_inplace_operators(self, be: Backend, dtype: str) -> None:
        """plugrad updates arrays in place with ``+=``, ``-=``, ``*=`` (and ``/=`` for floats)."""
        vals = [1.0, 2.0, -3.0] if dtype == "float32" else [1, 2, -3]
        other = [0.5, 4.0, 2.0] if dtype == "float32" else [5, 4, 2]
        x = self.arr(be, vals, dtype)
        y = self.arr(be, other, dtype)
        before = x
        x += y
        x -= self.arr(be, [vals[0]] * 3, dtype)
        x *= y
        expected = [(a + b - vals[0]) * b for a, b in zip(vals, other)]
        if dtype == "float32":
            x /= y
            expected = [e / b for e, b in zip(expected, other)]
        assert x is before or self.values(be, before) == self.values(be, x)
        self.check(be, before, expected, dtype)
        s = self.arr(be, vals, dtype)
        s += 2 if dtype == "int64" else 2.0
        self.check(be, s, [v + 2 for v in vals], dtype)

    @pytest.mark.parametrize("kernel", ["reshape", "permute_dims", "getitem"])
    def test_views_share_memory(self, be: Backend, kernel: str) -> None:
        self.need_capability(be, "views")
        x = self.arr_shaped(be, [float(i) for i in range(12)], (3, 4), "float32")
        view = {
            "reshape": lambda: be.reshape(x, (4, 3)),
            "permute_dims": lambda: be.permute_dims(x, (1, 0)),
            "getitem": lambda: be.getitem(x, (slice(1, None), slice(None, None, 2))),
        }[kernel]()
        be.setitem(view, (0, 0), -5.0)
        first = {"reshape": (0, 0), "permute_dims": (0, 0), "getitem": (1, 0)}[kernel]
        assert be.tolist(be.getitem(x, first)) == -5.0, f"a write through {kernel}'s result does not reach its input"
        # and an integer-only key gives a 0-d view
        z = be.getitem(x, (2, 3))
        be.setitem(z, (), 42.0)
        assert be.tolist(be.getitem(x, (2, 3))) == 42.0

    # ================================================================ conversion
    @pytest.mark.parametrize("dtype", ["float32", "int64", "bool", "float64", "int32"])
    def test_tolist(self, be: Backend, dtype: str) -> None:
        py = {"bool": bool, "int64": int, "int32": int}.get(dtype, float)
        vals = (
            [[True, False], [False, True]]
            if py is bool
            else [[1, 2], [3, 4]]
            if py is int
            else [[0.5, 2.0], [-1.0, 4.0]]
        )
        x = self.arr(be, vals, dtype)
        got = be.tolist(x)
        assert got == vals and all(type(v) is py for v in R.flatten(got))
        s = be.tolist(self.arr(be, vals[0][0], dtype))
        assert type(s) is py and s == vals[0][0], "a 0-d array gives a bare Python scalar"
        assert be.tolist(be.zeros((0,), x.dtype)) == []

    @pytest.mark.parametrize(
        "dtype", ["float32", "float64", "int64", "int32", "bool", "uint8", "float16", "int16", "int8"]
    )
    def test_bytes_roundtrip(self, be: Backend, dtype: str) -> None:
        vals: list[Any] = {"bool": [True, False, True]}.get(dtype, [1, 2, 250] if dtype == "uint8" else [1, -2, 3])
        if dtype in FLOATS:
            vals = [1.5, -2.25, 3.0]
        x = self.arr(be, [vals, vals], dtype)
        raw = be.to_bytes(x)
        code = R.STRUCT_CODES[dtype]
        assert raw == struct.pack("<" + code * 6, *(vals + vals)), "to_bytes must give C-order little-endian values"
        t = be.to_bytes(be.permute_dims(x, (1, 0)))
        assert t == struct.pack("<" + code * 6, *[v for v in vals for _ in range(2)])
        y = be.from_bytes(raw, x.dtype, (2, 3))
        self.check(be, y, [vals, vals], dtype)
        assert be.to_bytes(self.arr(be, vals[0], dtype)) == struct.pack("<" + code, vals[0])

    def test_dlpack_roundtrip(self, be: Backend) -> None:
        self.need_capability(be, "dlpack")
        self.need_kernel(be, "from_dlpack")
        x = self.arr(be, [1.0, 2.0, 3.0], "float32")
        y = be.from_dlpack(x)
        self.check(be, y, [1.0, 2.0, 3.0], "float32")
        be.setitem(x, (0,), 9.0)
        assert self.values(be, y)[0] == 9.0, "from_dlpack must share memory"
        if be.has_kernel("to_dlpack"):
            capsule = be.to_dlpack(x)
            assert capsule is not None
        t = plugrad.from_dlpack(_DLPackOnly(x))
        assert t._backend.device_type == be.device_type and t.tolist()[0] == 9.0

    # ================================================================ optional kernels of contract 1.1
    @staticmethod
    def _lines(flat: list[Any], shape: tuple[int, ...], axis: int) -> list[list[int]]:
        """Flat positions of each line of ``shape`` along ``axis``."""
        st = R.strides(shape)
        others = [d for d in range(len(shape)) if d != axis]
        lines = []
        for idx in itertools.product(*(range(shape[d]) for d in others)):
            base = sum(i * st[d] for d, i in zip(others, idx))
            lines.append([base + j * st[axis] for j in range(shape[axis])])
        return lines

    @pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "uint8"])
    @pytest.mark.parametrize(
        "shape,axis", [((7,), 0), ((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -2), ((0, 3), 1), ((3, 0), 1)]
    )
    @pytest.mark.parametrize("descending", [False, True])
    def test_sort_argsort(self, be: Backend, dtype: str, shape: tuple[int, ...], axis: int, descending: bool) -> None:
        """sort/argsort: stable (ties keep input order), NaN after every number (first when descending)."""
        self.need_dtype(be, dtype)
        if not (be.has_kernel("sort") or be.has_kernel("argsort")):
            pytest.skip(f"backend {be.name!r} has neither optional kernel 'sort' nor 'argsort'")
        rng = random.Random(11)
        pool: list[Any] = [3, 1, 2, 1, 5, 0, 2]  # ties on purpose
        if dtype in FLOATS:
            pool = [1.5, -2.0, 0.25, 1.5, math.nan, -2.0, 7.0]
        flat = [rng.choice(pool) for _ in range(R.numel(shape))]
        x = self.arr_shaped(be, flat, shape, dtype)
        stored = self.values(be, x)
        ax = axis % len(shape)

        def key(v: Any) -> tuple[bool, Any]:
            return (True, 0.0) if isinstance(v, float) and math.isnan(v) else (False, v)

        order_flat = [0] * len(stored)
        sorted_flat: list[Any] = [None] * len(stored)
        for line in self._lines(stored, shape, ax):
            order = sorted(range(len(line)), key=lambda j: key(stored[line[j]]), reverse=descending)
            for pos, j in zip(line, order):
                order_flat[pos] = j
                sorted_flat[pos] = stored[line[j]]
        if be.has_kernel("argsort"):
            idx = be.argsort(x, axis=axis, descending=descending, stable=True)
            self.check(be, idx, R.unflatten(order_flat, shape) if R.numel(shape) else [], "int64", shape=shape)
        if be.has_kernel("sort"):
            y = be.sort(x, axis=axis, descending=descending, stable=True)
            self.check(be, y, R.unflatten(sorted_flat, shape) if R.numel(shape) else [], dtype, shape=shape)
        assert R.mismatches(self.values(be, x), stored, 0.0, 0.0) == [], "sorting changed its input"

    def test_sort_noncontiguous(self, be: Backend) -> None:
        self.need_kernel(be, "argsort")
        flat = [float((i * 7) % 5) for i in range(12)]
        base = self.arr_shaped(be, flat, (3, 4), "float32")
        for view, expected in self._views(be, base, flat, (3, 4)):
            idx = be.argsort(view, axis=1, descending=False, stable=True)
            want = [sorted(range(len(row)), key=row.__getitem__) for row in expected]
            self.check(be, idx, want, "int64")

    _BITWISE: ClassVar[dict[str, Callable[[Any, Any], Any]]] = {
        "bitwise_and": lambda a, b: a & b,
        "bitwise_or": lambda a, b: a | b,
        "bitwise_xor": lambda a, b: a ^ b,
    }

    @pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor"])
    @pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "int8", "uint8", "bool"])
    @pytest.mark.parametrize(
        "shapes", [((), ()), ((4,), ()), ((3, 4), (4,)), ((3, 1), (1, 4)), ((0, 4), (4,))], ids=str
    )
    def test_bitwise_binary(self, be: Backend, name: str, dtype: str, shapes: tuple[Any, Any]) -> None:
        self.need_kernel(be, name)
        self.need_dtype(be, dtype)
        ref = self._BITWISE[name]
        pools: dict[str, list[Any]] = {"bool": [True, False], "uint8": [0, 1, 6, 12, 200, 255]}
        pool = pools.get(dtype, [-7, -1, 0, 1, 6, 12, 100])
        sa, sb = shapes
        a = self.arr_shaped(be, _fill(pool, sa, 3), sa, dtype)
        b = self.arr_shaped(be, _fill(pool, sb, 4), sb, dtype)
        fa, fb = self.values(be, a), self.values(be, b)
        flat, shape = R.elementwise(ref, (fa, sa), (fb, sb))
        if dtype == "bool":
            flat = [bool(v) for v in flat]
        self.check(be, getattr(be, name)(a, b), R.unflatten(flat, shape) if shape else flat[0], dtype, shape=shape)
        if dtype != "bool" and sa:
            s = 6  # a Python int on either side
            self.check(be, getattr(be, name)(a, s), R.unflatten([ref(v, s) for v in fa], sa), dtype, shape=sa)
            self.check(be, getattr(be, name)(s, a), R.unflatten([ref(s, v) for v in fa], sa), dtype, shape=sa)

    @pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8", "bool"])
    def test_bitwise_invert(self, be: Backend, dtype: str) -> None:
        self.need_kernel(be, "bitwise_invert")
        self.need_dtype(be, dtype)
        pools: dict[str, list[Any]] = {"bool": [True, False], "uint8": [0, 1, 200, 255]}
        vals = pools.get(dtype, [-128, -7, -1, 0, 1, 127])
        x = self.arr(be, vals, dtype)
        if dtype == "bool":
            expected: list[Any] = [not v for v in vals]
        elif dtype == "uint8":
            expected = [255 - v for v in vals]
        else:
            expected = [-v - 1 for v in vals]  # two's complement: ~v == -v - 1
        self.check(be, be.bitwise_invert(x), expected, dtype)
        y0 = be.bitwise_invert(self.arr(be, vals[1], dtype))
        assert y0.ndim == 0
        self.check(be, y0, expected[1], dtype)

    @pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
    def test_to_numpy(self, be: Backend, dtype: str) -> None:
        """``to_numpy`` gives a NumPy array (checked without importing NumPy: its type's module,
        ``shape``, ``dtype`` name and ``tolist``); it shares memory where the backend says so."""
        self.need_kernel(be, "to_numpy")
        pools: dict[str, list[Any]] = {"bool": [[True, False]], "int64": [[1, -2]]}
        vals = pools.get(dtype, [[1.5, -2.0]])
        x = self.arr(be, vals, dtype)
        out = be.to_numpy(x)
        assert type(out).__module__ == "numpy" and type(out).__name__ == "ndarray", type(out)
        assert tuple(out.shape) == (1, 2) and str(out.dtype) == dtype
        assert out.tolist() == vals
        zero_d = be.to_numpy(self.arr(be, vals[0][0], dtype))
        assert tuple(zero_d.shape) == () and zero_d.tolist() == vals[0][0]
        if "shares_memory_with_numpy" in be.capabilities:
            be.setitem(x, (0, 0), vals[0][1])
            assert out.tolist()[0][0] == vals[0][1], "to_numpy must share memory (capability shares_memory_with_numpy)"

    def test_optional_sigmoid(self, be: Backend) -> None:
        self.need_kernel(be, "sigmoid")
        vals = [-800.0, -3.0, 0.0, 0.5, 40.0, 800.0]
        for dtype in ("float32", "float64"):
            if D.BY_NAME[dtype] not in be.dtype_to_native:
                continue
            x = self.arr(be, vals, dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y = be.sigmoid(x)
            ref = [1 / (1 + math.exp(-v)) if v > -700 else 0.0 for v in self.values(be, x)]
            self.check(be, y, ref, dtype)

    # ================================================================ optional special functions of contract 1.2
    @pytest.mark.parametrize("name", sorted(SPECIAL_UNARY))
    @pytest.mark.parametrize("path", ["kernel", "fallback"])
    def test_special_unary(self, be: Backend, name: str, path: str) -> None:
        """The backend's kernel (skips where absent) and core's fallback from required kernels, against references."""
        ref, values, tol = SPECIAL_UNARY[name]
        if path == "kernel":
            self.need_kernel(be, name)
        fn = getattr(be, name) if path == "kernel" else _special.FALLBACKS[name]
        for dtype in ("float64", "float32", "float16"):
            if D.BY_NAME[dtype] not in be.dtype_to_native:
                continue
            x = self.arr(be, values, dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y = fn(be, x) if path == "fallback" else fn(x)
            rtol = {"float64": tol, "float32": 2e-6, "float16": 2e-3}[dtype]
            self.check(be, y, [ref(v) for v in self.values(be, x)], dtype, rtol=rtol, atol=rtol * 1e-3)
        if path == "kernel":
            y0 = getattr(be, name)(self.arr(be, values[1], "float32"))
            assert y0.ndim == 0, "a 0-d input gives a 0-d array"

    @pytest.mark.parametrize("name", sorted(SPECIAL_BINARY))
    @pytest.mark.parametrize("path", ["kernel", "fallback"])
    def test_special_binary(self, be: Backend, name: str, path: str) -> None:
        ref, left, right = SPECIAL_BINARY[name]
        if path == "kernel":
            self.need_kernel(be, name)
        dtype = "float64" if D.float64 in be.dtype_to_native else "float32"
        a = self.arr_shaped(be, left, (len(left), 1), dtype)
        b = self.arr(be, right, dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = getattr(be, name)(a, b) if path == "kernel" else _special.FALLBACKS[name](be, a, b)
        fa, fb = self.values(be, a), self.values(be, b)
        expected = [[ref(u, v) for v in fb] for u in fa]
        self.check(be, y, expected, dtype, rtol=1e-13 if dtype == "float64" else 2e-6, atol=1e-300)
        if path == "kernel":
            s = getattr(be, name)(self.arr(be, 2.0, dtype), self.arr(be, 3.0, dtype))
            assert s.ndim == 0

    def test_elementwise_catalogue_is_covered(self, be: Backend) -> None:
        """Every elementwise kernel of the contract has reference cases here (a new kernel cannot be forgotten)."""
        covered = set(UNARY) | set(BINARY) | set(SPECIAL_UNARY) | set(SPECIAL_BINARY) | set(self._BITWISE)
        covered |= {"sigmoid", "bitwise_invert"}  # test_optional_sigmoid, test_bitwise_invert
        kinds = ("unary", "predicate", "binary", "comparison")
        missing = sorted(n for n, k in KERNEL_KINDS.items() if k in kinds and n not in covered)
        assert not missing, f"elementwise kernels without conformance cases: {missing}"

    # ================================================================ plugrad on the backend
    def test_tensor_on_backend(self, be: Backend) -> None:
        t = plugrad.tensor([[1.0, 2.0], [3.0, 4.0]], device=be.name)
        assert t._backend is be
        assert str(t.device) in (be.name, be.device_type, f"{be.device_type}:0")
        assert t.dtype is plugrad.float32 and t.shape == (2, 2)
        assert plugrad.zeros(2, 3, device=be.name)._backend is be
        r = repr(plugrad.arange(3, device=be.name))
        assert r.startswith("tensor([0, 1, 2]")
        assert t.to(plugrad.int64).tolist() == [[1, 2], [3, 4]]
        assert (t @ t).tolist() == [[7.0, 10.0], [15.0, 22.0]]

    @pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"])
    def test_tensor_from_backend_arrays(self, be: Backend, dtype: str) -> None:
        """``plugrad.tensor(array)`` of the backend's own array: dtype from the backend's table, a copy."""
        vals: list[Any] = [True, False, True] if dtype == "bool" else [1, 2, 3]
        if dtype in FLOATS:
            vals = [1.5, -2.0, 0.25]
        x = self.arr(be, vals, dtype)
        t = plugrad.tensor(x, device=be.name)
        assert t._backend is be and t.dtype is D.BY_NAME[dtype] and t.tolist() == vals
        be.setitem(x, (0,), vals[1])
        assert t.tolist() == vals, "plugrad.tensor() must copy"
        if dtype in FLOATS:
            assert plugrad.tensor(x, dtype=plugrad.float32, device=be.name).dtype is plugrad.float32

    def test_as_tensor_and_from_dlpack_share_memory(self, be: Backend) -> None:
        """``as_tensor(array, device=)`` and ``from_dlpack(array, device=)`` wrap the backend's array without a copy."""
        x = self.arr(be, [1.0, 2.0, 3.0], "float32")
        t = plugrad.as_tensor(x, device=be.name)
        assert t._backend is be and t.dtype is plugrad.float32
        be.setitem(x, (0,), 10.0)
        assert t.tolist() == [10.0, 2.0, 3.0], "as_tensor() of the backend's own array must not copy"
        assert plugrad.as_tensor(x, dtype=plugrad.float64, device=be.name).tolist() == [10.0, 2.0, 3.0]
        if not be.has_kernel("from_dlpack"):
            return
        u = plugrad.from_dlpack(x, device=be.name)
        assert u._backend is be
        be.setitem(x, (1,), 20.0)
        assert u.tolist() == [10.0, 20.0, 3.0], "from_dlpack() must share memory"

    def test_tensor_device_moves(self, be: Backend) -> None:
        reg = get_registry()
        others = [b for b in reg.backends.values() if b is not be]
        if not others:
            pytest.skip("no second backend installed to move tensors to")
        other = others[0]
        t = plugrad.tensor([1.5, -2.0, 3.0], device=be.name)
        moved = t.to(other.name)
        assert moved._backend is other and moved.tolist() == [1.5, -2.0, 3.0]
        back = moved.to(be.name)
        assert back._backend is be and back.tolist() == [1.5, -2.0, 3.0]
        with pytest.raises(RuntimeError, match=r"\.to\("):
            _ = t + moved

    # name -> (function of tensors, input shapes); inputs drawn positive where the op needs it
    GRAD_CASES: ClassVar[dict[str, tuple[Callable[..., Any], list[tuple[int, ...]], str]]] = {
        "add-broadcast": (lambda a, b: a + b, [(3, 4), (4,)], "any"),
        "sub-broadcast": (lambda a, b: a - b, [(3, 1), (1, 4)], "any"),
        "mul-scalar-shape": (lambda a, b: a * b, [(), (3, 4)], "any"),
        "div": (lambda a, b: a / b, [(3, 4), (1, 4)], "positive"),
        "pow-tensor": (lambda a, b: a**b, [(2, 3), (2, 3)], "positive"),
        "pow-number": (lambda a: a**3, [(2, 3)], "any"),
        "exp": (lambda a: a.exp(), [(2, 3)], "any"),
        "log": (lambda a: a.log(), [(2, 3)], "positive"),
        "sqrt": (lambda a: a.sqrt(), [(2, 3)], "positive"),
        "tanh": (lambda a: a.tanh(), [(2, 3)], "any"),
        "sigmoid": (lambda a: a.sigmoid(), [(2, 3)], "any"),
        "sin-cos": (lambda a: a.sin() * a.cos(), [(2, 3)], "any"),
        "relu": (lambda a: a.relu(), [(2, 3)], "away-from-zero"),
        "abs": (lambda a: a.abs(), [(2, 3)], "away-from-zero"),
        "maximum": (lambda a, b: plugrad.maximum(a, b), [(2, 3), (2, 3)], "distinct"),
        "sum-dim": (lambda a: a.sum(1), [(3, 4)], "any"),
        "mean-keepdim": (lambda a: a.mean(0, keepdim=True), [(3, 4)], "any"),
        "matmul": (lambda a, b: a @ b, [(2, 3), (3, 4)], "any"),
        "matmul-batched": (lambda a, b: a @ b, [(2, 2, 3), (3, 2)], "any"),
        "reshape-permute": (lambda a: a.reshape(2, 6).permute(1, 0) * 2, [(3, 4)], "any"),
        "expand": (lambda a: a.expand(3, 4) * 1.5, [(1, 4)], "any"),
        "getitem-basic": (lambda a: a[1:, ::2] * 3, [(3, 4)], "any"),
        "getitem-int-array": (lambda a: a[[0, 2, 0]] * 2, [(3, 4)], "any"),
        "where": (lambda a, b: plugrad.where(a > 0, a, b), [(2, 3), (2, 3)], "away-from-zero"),
        "transpose-matmul": (lambda a: a.t() @ a, [(3, 2)], "any"),
    }

    @pytest.mark.parametrize("case", list(GRAD_CASES))
    def test_gradients(self, be: Backend, case: str) -> None:
        """Autograd through ops built on this backend's kernels vs central differences."""
        fn, shapes, domain = self.GRAD_CASES[case]
        dtype = plugrad.float64 if D.float64 in be.dtype_to_native else plugrad.float32
        rng = random.Random(hash(case) % 1000)
        values = [[_draw(rng, domain) for _ in range(R.numel(s))] for s in shapes]
        if domain == "distinct" and len(values) == 2:
            values[1] = [v + (0.5 if rng.random() < 0.5 else -0.5) for v in values[0]]

        def make(vals: list[float], shape: tuple[int, ...], grad: bool) -> Any:
            t = plugrad.tensor(R.unflatten(vals, shape) if shape else vals[0], dtype=dtype, device=be.name)
            return t.requires_grad_(grad)

        inputs = [make(v, s, True) for v, s in zip(values, shapes)]
        out = fn(*inputs)
        assert out._backend is be
        weights = [rng.uniform(-1, 1) for _ in range(out.numel())]
        w = plugrad.tensor(
            R.unflatten(weights, tuple(out.shape)) if out.dim() else weights[0], dtype=dtype, device=be.name
        )
        (out * w).sum().backward()

        def loss(vals: list[list[float]]) -> float:
            with plugrad.no_grad():
                o = fn(*[make(v, s, False) for v, s in zip(vals, shapes)])
                return float((o.to(plugrad.float64) * w.to(plugrad.float64)).sum().item())

        eps = 1e-6 if dtype is plugrad.float64 else 1e-2
        rtol, atol = (1e-5, 1e-6) if dtype is plugrad.float64 else (2e-2, 2e-2)
        for k, (t, vals) in enumerate(zip(inputs, values)):
            assert t.grad is not None, f"input {k} got no gradient"
            assert t.grad._backend is be and tuple(t.grad.shape) == tuple(t.shape)
            got = R.flatten(t.grad.tolist())
            for i in range(len(vals)):
                plus = [list(v) for v in values]
                minus = [list(v) for v in values]
                plus[k][i] += eps
                minus[k][i] -= eps
                numeric = (loss(plus) - loss(minus)) / (2 * eps)
                assert abs(got[i] - numeric) <= atol + rtol * abs(numeric), (
                    f"{case}: d/d input{k}[{i}] autograd {got[i]!r} vs central difference {numeric!r}"
                )

    @pytest.mark.parametrize("case", ["add-broadcast", "div", "matmul", "getitem-int-array", "sigmoid"])
    def test_gradcheck(self, be: Backend, case: str) -> None:
        """The same through ``plugrad.autograd.gradcheck`` (float64), where plugrad-core has it."""
        gradcheck = getattr(plugrad.autograd, "gradcheck", None)
        if gradcheck is None:
            pytest.skip("this plugrad-core has no autograd.gradcheck")
        self.need_dtype(be, "float64")
        fn, shapes, domain = self.GRAD_CASES[case]
        rng = random.Random(7)
        inputs = [
            plugrad.tensor(
                R.unflatten([_draw(rng, domain) for _ in range(R.numel(s))], s) if s else _draw(rng, domain),
                dtype=plugrad.float64,
                device=be.name,
            ).requires_grad_()
            for s in shapes
        ]
        assert gradcheck(fn, tuple(inputs))

    def test_inplace_update_under_no_grad(self, be: Backend) -> None:
        """The optimizer pattern: ``p -= lr * p.grad`` under no_grad, on this backend."""
        p = plugrad.tensor([1.0, -2.0, 3.0], device=be.name, requires_grad=True)
        (p * p).sum().backward()
        grad = p.grad
        assert grad is not None
        with plugrad.no_grad():
            p -= 0.25 * grad
        assert p.tolist() == [0.5, -1.0, 1.5] and p.requires_grad and p.is_leaf
        grad.zero_()
        assert grad.tolist() == [0.0, 0.0, 0.0]

    # ================================================================ linalg (issue 17)
    # The optional linalg kernels of contract 1.3, each checked (when the backend has it) against
    # hand-computed values or identities, and the info codes for singular input.
    def _mat(self, be: Backend, rows: Any) -> Any:
        return self.arr(be, rows, "float64")

    @staticmethod
    def _mm(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
        return [[sum(x * y for x, y in zip(row, col)) for col in zip(*b)] for row in a]

    def test_linalg_inv(self, be: Backend) -> None:
        self.need_kernel(be, "linalg_inv")
        x, info = be.linalg_inv(self._mat(be, [[[4.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [2.0, 4.0]]]))
        assert self.values(be, info) == [0, 2], "info: 0 for the invertible matrix, 2 for the second pivot"
        inv = be.tolist(x)[0]
        assert not R.mismatches(inv, [[0.3, -0.1], [-0.2, 0.4]], 1e-12, 1e-12), inv

    def test_linalg_solve(self, be: Backend) -> None:
        self.need_kernel(be, "linalg_solve")
        x, info = be.linalg_solve(self._mat(be, [[4.0, 1.0], [2.0, 3.0]]), self._mat(be, [[5.0], [5.0]]))
        assert self.values(be, info) == [0] or be.tolist(info) == 0
        self.check(be, x, [[1.0], [1.0]], "float64", rtol=1e-12, atol=1e-12)
        _, info = be.linalg_solve(self._mat(be, [[1.0, 2.0], [2.0, 4.0]]), self._mat(be, [[1.0], [1.0]]))
        assert be.tolist(info) == 2

    def test_linalg_cholesky(self, be: Backend) -> None:
        self.need_kernel(be, "linalg_cholesky")
        L, info = be.linalg_cholesky(self._mat(be, [[[4.0, 2.0], [2.0, 3.0]], [[1.0, 2.0], [2.0, 1.0]]]))
        assert self.values(be, info) == [0, 2], "info: the order of the failing leading minor"
        assert not R.mismatches(be.tolist(L)[0], [[2.0, 0.0], [1.0, math.sqrt(2.0)]], 1e-12, 1e-12)

    def test_linalg_det_slogdet(self, be: Backend) -> None:
        self.need_kernel(be, "linalg_det")
        self.check(be, be.linalg_det(self._mat(be, [[4.0, 1.0], [2.0, 3.0]])), 10.0, "float64", rtol=1e-12)
        self.need_kernel(be, "linalg_slogdet")
        sign, logabs = be.linalg_slogdet(self._mat(be, [[[0.0, 2.0], [1.0, 0.0]], [[1.0, 2.0], [2.0, 4.0]]]))
        assert self.values(be, sign) == [-1.0, 0.0]
        got = self.values(be, logabs)
        assert abs(got[0] - math.log(2.0)) < 1e-12 and got[1] == -math.inf

    def test_linalg_qr(self, be: Backend) -> None:
        self.need_kernel(be, "linalg_qr")
        a = [[1.0, 2.0], [3.0, 4.0], [5.0, 7.0]]
        for mode, qshape in (("reduced", (3, 2)), ("complete", (3, 3))):
            q, r = be.linalg_qr(self._mat(be, a), mode=mode)
            assert tuple(q.shape) == qshape and tuple(r.shape) == (qshape[1], 2)
            ql, rl = be.tolist(q), be.tolist(r)
            assert all(abs(rl[i][j]) < 1e-12 for i in range(len(rl)) for j in range(2) if i > j), "R upper"
            assert not R.mismatches(self._mm(ql, rl), a, 1e-12, 1e-12)

    def test_linalg_eigh(self, be: Backend) -> None:
        self.need_kernel(be, "linalg_eigh")
        w, v = be.linalg_eigh(self._mat(be, [[2.0, 1.0], [1.0, 2.0]]))
        assert not R.mismatches(be.tolist(w), [1.0, 3.0], 1e-12, 1e-12), "eigenvalues ascending"
        vl = be.tolist(v)
        vtv = self._mm([list(c) for c in zip(*vl)], vl)
        assert not R.mismatches(vtv, [[1.0, 0.0], [0.0, 1.0]], 1e-12, 1e-12)

    def test_linalg_svd(self, be: Backend) -> None:
        self.need_kernel(be, "linalg_svd")
        a = [[3.0, 0.0], [0.0, -2.0], [0.0, 0.0]]
        u, s, vh = be.linalg_svd(self._mat(be, a), full_matrices=False)
        assert tuple(u.shape) == (3, 2) and tuple(vh.shape) == (2, 2)
        sl = be.tolist(s)
        assert not R.mismatches(sl, [3.0, 2.0], 1e-12, 1e-12), "singular values descending"
        us = [[x * sl[j] for j, x in enumerate(row)] for row in be.tolist(u)]
        assert not R.mismatches(self._mm(us, be.tolist(vh)), a, 1e-12, 1e-12)
        u, s, vh = be.linalg_svd(self._mat(be, a), full_matrices=True)
        assert tuple(u.shape) == (3, 3) and tuple(vh.shape) == (2, 2)
        self.need_kernel(be, "linalg_svdvals")
        self.check(be, be.linalg_svdvals(self._mat(be, a)), [3.0, 2.0], "float64", rtol=1e-12, atol=1e-12)

    def test_linalg_solve_triangular(self, be: Backend) -> None:
        self.need_kernel(be, "linalg_solve_triangular")
        a = self._mat(be, [[2.0, 1.0], [99.0, 4.0]])  # the lower entry is not read
        b = self._mat(be, [[3.0], [4.0]])
        self.check(be, be.linalg_solve_triangular(a, b, upper=True, unitriangular=False), [[1.0], [1.0]], "float64")
        self.check(be, be.linalg_solve_triangular(a, b, upper=True, unitriangular=True), [[-1.0], [4.0]], "float64")
        low = be.linalg_solve_triangular(a, b, upper=False, unitriangular=False)
        self.check(be, low, [[1.5], [(4.0 - 99.0 * 1.5) / 4.0]], "float64", rtol=1e-12)


class _DLPackOnly:
    """Hides an array behind the two DLPack methods only (no library-specific attributes)."""

    def __init__(self, x: Any) -> None:
        self._x = x

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self._x.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> Any:
        return self._x.__dlpack_device__()


def _draw(rng: random.Random, domain: str) -> float:
    if domain == "positive":
        return rng.uniform(0.5, 2.0)
    if domain == "away-from-zero":
        return rng.choice([-1, 1]) * rng.uniform(0.3, 1.5)
    return rng.uniform(-1.5, 1.5)


def _map(f: Callable[[Any], Any], nested: Any) -> Any:
    if isinstance(nested, list):
        return [_map(f, v) for v in nested]
    return f(nested)


def _map2(f: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    if isinstance(a, list):
        return [_map2(f, x, y) for x, y in zip(a, b)]
    return f(a, b)


def _matmul_ref(fa: list[Any], sa: tuple[int, ...], fb: list[Any], sb: tuple[int, ...]) -> tuple[Any, tuple[int, ...]]:
    """The array API's matmul on nested lists (1-D operands promoted and squeezed)."""
    a_shape, b_shape = (sa if len(sa) > 1 else (1, *sa)), (sb if len(sb) > 1 else (*sb, 1))
    n, k = a_shape[-2], a_shape[-1]
    m = b_shape[-1]
    batch = R.broadcast_shape(a_shape[:-2], b_shape[:-2])
    fa2 = R.broadcast_flat(fa, a_shape, (*batch, n, k))
    fb2 = R.broadcast_flat(fb, b_shape, (*batch, k, m))
    out = []
    for bi in range(R.numel(batch)):
        for i in range(n):
            for j in range(m):
                acc = 0 if isinstance(fa[0] if fa else 0.0, int) and isinstance(fb[0] if fb else 0.0, int) else 0.0
                for t in range(k):
                    acc += fa2[bi * n * k + i * k + t] * fb2[bi * k * m + t * m + j]
                out.append(acc)
    shape: tuple[int, ...] = (*batch, n, m)
    if len(sa) == 1:
        shape = (*shape[:-2], shape[-1])
    if len(sb) == 1:
        shape = shape[:-1]
    if R.numel(shape) == 0:
        return [], shape
    return (R.unflatten(out, shape) if shape else out[0]), shape


class TestSelectedBackend(BackendConformance):
    """The suite for ``--plugrad-backend NAME`` (``pytest --pyargs plugrad.testing.conformance``)."""

    backend_name = None
