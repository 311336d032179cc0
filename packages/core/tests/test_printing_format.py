"""Tests for ``plugrad._tensor_str``: PyTorch's tensor ``repr``, reproduced in pure Python.

Every expected string below was printed by PyTorch 2.13 (``repr(torch.tensor(...))``)
for the same values, dtype, print options and autograd state, with ``torch.``
replaced by ``plugrad.`` in the suffixes. The tensors here are :class:`FakeTensor`,
a minimal stand-in over nested lists, so these tests need neither PyTorch nor
plugrad's own Tensor class.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import math
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

_MODULE_PATH = Path(__file__).resolve().parents[1] / "src" / "plugrad" / "_tensor_str.py"


def _load_module() -> ModuleType:
    """``plugrad._tensor_str``, by file path if the package itself does not import yet."""
    try:
        return importlib.import_module("plugrad._tensor_str")
    except Exception:
        name = "_plugrad_tensor_str_under_test"
        spec = importlib.util.spec_from_file_location(name, _MODULE_PATH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module


ts = _load_module()


# ---------------------------------------------------------------------------
# A fake tensor over nested lists
# ---------------------------------------------------------------------------

_KIND_OF_DTYPE = {
    "float16": "float",
    "float32": "float",
    "float64": "float",
    "uint8": "int",
    "int32": "int",
    "int64": "int",
    "bool": "bool",
}


def _round(value: Any, dtype: str) -> Any:
    """``value`` as a tensor of ``dtype`` stores it (floats rounded to their width)."""
    if dtype == "float32":
        return struct.unpack("f", struct.pack("f", value))[0]
    if dtype == "float16":
        return struct.unpack("e", struct.pack("e", value))[0]
    if dtype == "float64":
        return float(value)
    if dtype == "bool":
        return bool(value)
    return int(value)


def _reshape(flat: list[Any], shape: tuple[int, ...]) -> list[Any]:
    """Nest ``flat`` (row-major) into lists of ``shape``."""
    if len(shape) == 1:
        return flat
    step = math.prod(shape[1:])
    return [_reshape(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _shape_of(data: Any) -> tuple[int, ...]:
    """The shape of (non-empty) nested lists."""
    shape: list[int] = []
    while isinstance(data, list):
        shape.append(len(data))
        data = data[0] if data else None
    return tuple(shape)


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list):
        return [x for item in data for x in _flatten(item)]
    return [data]


class FakeTensor:
    """Just what ``format_tensor`` uses: ``shape``, ``dtype_kind``, ``tolist()``, indexing.

    ``elements_read`` counts the elements handed out by ``tolist()`` over all
    instances, to check that summaries read only the edges.
    """

    elements_read = 0

    def __init__(self, data: Any, dtype_kind: str, shape: tuple[int, ...]) -> None:
        self._data = data
        self.dtype_kind = dtype_kind
        self.shape = shape

    @classmethod
    def build(cls, data: Any, dtype: str, shape: tuple[int, ...] | None = None) -> FakeTensor:
        """A tensor of ``dtype`` from a scalar, nested lists, or a flat list and ``shape``."""
        if not isinstance(data, list):
            return cls(_round(data, dtype), _KIND_OF_DTYPE[dtype], ())
        flat = [_round(x, dtype) for x in _flatten(data)]
        if shape is None:
            shape = _shape_of(data) if data else (0,)
        assert math.prod(shape) == len(flat)
        return cls(_reshape(flat, shape), _KIND_OF_DTYPE[dtype], shape)

    def tolist(self) -> Any:
        FakeTensor.elements_read += max(1, math.prod(self.shape))
        return _copy(self._data)

    def __getitem__(self, key: int | slice) -> FakeTensor:
        assert self.shape, "cannot index a 0-d tensor"
        if isinstance(key, int):
            assert -self.shape[0] <= key < self.shape[0]
            return FakeTensor(self._data[key], self.dtype_kind, self.shape[1:])
        assert key.step in (None, 1), "only step-1 slices are supported"
        rows = self._data[key]
        return FakeTensor(rows, self.dtype_kind, (len(rows),) + self.shape[1:])


def _copy(data: Any) -> Any:
    return [_copy(x) for x in data] if isinstance(data, list) else data


@pytest.fixture(autouse=True)
def _default_options() -> Iterator[None]:
    """Every test starts and ends with PyTorch's default print options."""
    ts.set_printoptions(profile="default")
    yield
    ts.set_printoptions(profile="default")


# ---------------------------------------------------------------------------
# Cases checked against PyTorch's own output
# ---------------------------------------------------------------------------


@dataclass
class Case:
    data: Any
    dtype: str
    expected: str
    shape: tuple[int, ...] | None = None
    suffixes: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    prefix: str = "tensor("


def _lines(*lines: str) -> str:
    """Lines of expected output, joined by newlines (one argument per printed line)."""
    return "\n".join(lines)


def _case(name: str, data: Any, dtype: str, expected: str, **kwargs: Any) -> Any:
    return pytest.param(Case(data, dtype, expected, **kwargs), id=name)


CASES = [
    # --- integers
    _case("int_1d", [1, 2, 3], "int64", expected="tensor([1, 2, 3])"),
    _case("int_padding", [1, -20, 300], "int64", expected="tensor([  1, -20, 300])"),
    _case(
        "int_2d",
        list(range(12)),
        "int64",
        shape=(3, 4),
        expected=_lines(
            "tensor([[ 0,  1,  2,  3],",
            "        [ 4,  5,  6,  7],",
            "        [ 8,  9, 10, 11]])",
        ),
    ),
    _case(
        "int_2d_negative",
        [[-1, 5], [10, -100]],
        "int64",
        expected=_lines(
            "tensor([[  -1,    5],",
            "        [  10, -100]])",
        ),
    ),
    _case(
        "int32_suffix",
        [1, 2, 3],
        "int32",
        suffixes=["dtype=plugrad.int32"],
        expected="tensor([1, 2, 3], dtype=plugrad.int32)",
    ),
    _case("int_0d", 3, "int64", expected="tensor(3)"),
    _case("int_0d_negative", -42, "int64", expected="tensor(-42)"),
    _case(
        "int_large",
        [123456789012, -1, 0],
        "int64",
        expected="tensor([123456789012,           -1,            0])",
    ),
    _case(
        "uint8_suffix",
        [0, 128, 255],
        "uint8",
        suffixes=["dtype=plugrad.uint8"],
        expected="tensor([  0, 128, 255], dtype=plugrad.uint8)",
    ),
    # --- booleans
    _case("bool_1d", [True, False], "bool", expected="tensor([ True, False])"),
    _case(
        "bool_2d",
        [[True, False, True], [False, False, True]],
        "bool",
        expected=_lines(
            "tensor([[ True, False,  True],",
            "        [False, False,  True]])",
        ),
    ),
    _case("bool_0d_true", True, "bool", expected="tensor(True)"),
    _case("bool_0d_false", False, "bool", expected="tensor(False)"),
    _case("bool_all_true", [True, True], "bool", expected="tensor([True, True])"),
    # --- floats, integral values
    _case("float_integral", [1.0, 2.0, 3.0], "float32", expected="tensor([1., 2., 3.])"),
    _case("float_integral_negative", [1.0, -3.0], "float32", expected="tensor([ 1., -3.])"),
    _case(
        "float_column_padding",
        [[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]],
        "float32",
        expected=_lines(
            "tensor([[ 7.,  8.,  9.],",
            "        [10., 11., 12.]])",
        ),
    ),
    _case(
        "float_zeros",
        [0.0] * 6,
        "float32",
        shape=(2, 3),
        expected=_lines(
            "tensor([[0., 0., 0.],",
            "        [0., 0., 0.]])",
        ),
    ),
    _case(
        "float_big_integral",
        [1.0, 99999.0, -5.0],
        "float32",
        expected="tensor([ 1.0000e+00,  9.9999e+04, -5.0000e+00])",
    ),
    # --- floats, fractional
    _case(
        "float_mixed",
        [1.0 + 1.0 / 6.0, 2.5, -3.25],
        "float32",
        expected="tensor([ 1.1667,  2.5000, -3.2500])",
    ),
    _case("float_tenths", [0.1, 0.2, 0.3], "float32", expected="tensor([0.1000, 0.2000, 0.3000])"),
    _case(
        "float_2d_mixed",
        [[0.5, -1.25], [100.125, 3.0]],
        "float32",
        expected=_lines(
            "tensor([[  0.5000,  -1.2500],",
            "        [100.1250,   3.0000]])",
        ),
    ),
    _case(
        "float64_suffix",
        [0.1, 0.2],
        "float64",
        suffixes=["dtype=plugrad.float64"],
        expected="tensor([0.1000, 0.2000], dtype=plugrad.float64)",
    ),
    _case(
        "float16_suffix",
        [0.1, 1.5, -2.0],
        "float16",
        suffixes=["dtype=plugrad.float16"],
        expected="tensor([ 0.1000,  1.5000, -2.0000], dtype=plugrad.float16)",
    ),
    _case(
        "float_rounding",
        [0.00015, 0.99995, 2.00005],
        "float32",
        expected="tensor([1.5000e-04, 9.9995e-01, 2.0001e+00])",
    ),
    # --- scientific notation
    _case("sci_small", [1e-5, 1.0], "float32", expected="tensor([1.0000e-05, 1.0000e+00])"),
    _case("sci_large", [1e9, 1.0], "float32", expected="tensor([1.0000e+09, 1.0000e+00])"),
    _case(
        "sci_ratio_integral",
        [1.0, 1001.0],
        "float32",
        expected="tensor([1.0000e+00, 1.0010e+03])",
    ),
    _case("no_sci_ratio_1000", [1.0, 1000.0], "float32", expected="tensor([   1., 1000.])"),
    _case(
        "sci_mixed_signs",
        [-1.5e-6, 2250.0, 0.0],
        "float32",
        expected="tensor([-1.5000e-06,  2.2500e+03,  0.0000e+00])",
    ),
    _case(
        "sci_2d",
        [[1e-8, 2.0], [3e10, -4.5]],
        "float32",
        expected=_lines(
            "tensor([[ 1.0000e-08,  2.0000e+00],",
            "        [ 3.0000e+10, -4.5000e+00]])",
        ),
    ),
    _case("float_below_1e8", [1e8, 2e7], "float32", expected="tensor([100000000.,  20000000.])"),
    # --- nan, inf and zeros
    _case(
        "nonfinite_only",
        [float("nan"), float("inf"), float("-inf")],
        "float32",
        expected="tensor([nan, inf, -inf])",
    ),
    _case(
        "nonfinite_mixed",
        [1.5, float("nan"), float("-inf"), 2.25],
        "float32",
        expected="tensor([1.5000,    nan,   -inf, 2.2500])",
    ),
    _case(
        "nonfinite_integral",
        [1.0, float("nan"), 3.0, float("inf")],
        "float32",
        expected="tensor([1., nan, 3., inf])",
    ),
    _case("negative_zero", [-0.0, 1.0], "float32", expected="tensor([-0., 1.])"),
    _case("negative_zero_alone", [-0.0, 0.0], "float32", expected="tensor([-0., 0.])"),
    _case(
        "negative_zero_fraction",
        [0.0, -0.0, 2.5],
        "float32",
        expected="tensor([0.0000, -0.0000, 2.5000])",
    ),
    _case(
        "sci_with_nan",
        [1e-7, float("nan"), -0.0],
        "float32",
        expected="tensor([1.0000e-07,        nan, -0.0000e+00])",
    ),
    # --- 0-d floats
    _case("float_0d_integral", 7.0, "float32", expected="tensor(7.)"),
    _case("float_0d_fraction", 3.14159, "float32", expected="tensor(3.1416)"),
    _case("float_0d_nan", float("nan"), "float32", expected="tensor(nan)"),
    _case("float_0d_negative_zero", -0.0, "float32", expected="tensor(-0.)"),
    _case("float_0d_sci", 1e-10, "float32", expected="tensor(1.0000e-10)"),
    _case("float_0d_big", 123456789.0, "float32", expected="tensor(1.2346e+08)"),
    # --- empty
    _case("empty_float", [], "float32", expected="tensor([])"),
    _case(
        "empty_int",
        [],
        "int64",
        suffixes=["dtype=plugrad.int64"],
        expected="tensor([], dtype=plugrad.int64)",
    ),
    _case(
        "empty_bool",
        [],
        "bool",
        suffixes=["dtype=plugrad.bool"],
        expected="tensor([], dtype=plugrad.bool)",
    ),
    _case("empty_2d", [], "float32", shape=(0, 3), expected="tensor([], size=(0, 3))"),
    _case(
        "empty_3d_int",
        [],
        "int64",
        shape=(2, 0, 4),
        suffixes=["dtype=plugrad.int64"],
        expected="tensor([], size=(2, 0, 4), dtype=plugrad.int64)",
    ),
    _case(
        "empty_float64",
        [],
        "float64",
        suffixes=["dtype=plugrad.float64"],
        expected="tensor([], dtype=plugrad.float64)",
    ),
    # --- summarised
    _case(
        "summary_1d_int",
        list(range(2000)),
        "int64",
        expected="tensor([   0,    1,    2,  ..., 1997, 1998, 1999])",
    ),
    _case(
        "summary_1d_float",
        [i * 0.5 for i in range(1001)],
        "float32",
        expected="tensor([  0.0000,   0.5000,   1.0000,  ..., 499.0000, 499.5000, 500.0000])",
    ),
    _case(
        "summary_1d_just_over",
        list(range(1001)),
        "int64",
        expected="tensor([   0,    1,    2,  ...,  998,  999, 1000])",
    ),
    _case(
        "summary_2d_float",
        [float(i) for i in range(1600)],
        "float32",
        shape=(40, 40),
        expected=_lines(
            "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 3.7000e+01, 3.8000e+01,",
            "         3.9000e+01],",
            "        [4.0000e+01, 4.1000e+01, 4.2000e+01,  ..., 7.7000e+01, 7.8000e+01,",
            "         7.9000e+01],",
            "        [8.0000e+01, 8.1000e+01, 8.2000e+01,  ..., 1.1700e+02, 1.1800e+02,",
            "         1.1900e+02],",
            "        ...,",
            "        [1.4800e+03, 1.4810e+03, 1.4820e+03,  ..., 1.5170e+03, 1.5180e+03,",
            "         1.5190e+03],",
            "        [1.5200e+03, 1.5210e+03, 1.5220e+03,  ..., 1.5570e+03, 1.5580e+03,",
            "         1.5590e+03],",
            "        [1.5600e+03, 1.5610e+03, 1.5620e+03,  ..., 1.5970e+03, 1.5980e+03,",
            "         1.5990e+03]])",
        ),
    ),
    _case(
        "summary_2d_tall",
        [float(i) for i in range(1503)],
        "float32",
        shape=(501, 3),
        expected=_lines(
            "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00],",
            "        [3.0000e+00, 4.0000e+00, 5.0000e+00],",
            "        [6.0000e+00, 7.0000e+00, 8.0000e+00],",
            "        ...,",
            "        [1.4940e+03, 1.4950e+03, 1.4960e+03],",
            "        [1.4970e+03, 1.4980e+03, 1.4990e+03],",
            "        [1.5000e+03, 1.5010e+03, 1.5020e+03]])",
        ),
    ),
    _case(
        "summary_2d_wide",
        list(range(1010)),
        "int64",
        shape=(2, 505),
        expected=_lines(
            "tensor([[   0,    1,    2,  ...,  502,  503,  504],",
            "        [ 505,  506,  507,  ..., 1007, 1008, 1009]])",
        ),
    ),
    _case(
        "summary_3d",
        list(range(1331)),
        "int64",
        shape=(11, 11, 11),
        expected=_lines(
            "tensor([[[   0,    1,    2,  ...,    8,    9,   10],",
            "         [  11,   12,   13,  ...,   19,   20,   21],",
            "         [  22,   23,   24,  ...,   30,   31,   32],",
            "         ...,",
            "         [  88,   89,   90,  ...,   96,   97,   98],",
            "         [  99,  100,  101,  ...,  107,  108,  109],",
            "         [ 110,  111,  112,  ...,  118,  119,  120]],",
            "",
            "        [[ 121,  122,  123,  ...,  129,  130,  131],",
            "         [ 132,  133,  134,  ...,  140,  141,  142],",
            "         [ 143,  144,  145,  ...,  151,  152,  153],",
            "         ...,",
            "         [ 209,  210,  211,  ...,  217,  218,  219],",
            "         [ 220,  221,  222,  ...,  228,  229,  230],",
            "         [ 231,  232,  233,  ...,  239,  240,  241]],",
            "",
            "        [[ 242,  243,  244,  ...,  250,  251,  252],",
            "         [ 253,  254,  255,  ...,  261,  262,  263],",
            "         [ 264,  265,  266,  ...,  272,  273,  274],",
            "         ...,",
            "         [ 330,  331,  332,  ...,  338,  339,  340],",
            "         [ 341,  342,  343,  ...,  349,  350,  351],",
            "         [ 352,  353,  354,  ...,  360,  361,  362]],",
            "",
            "        ...,",
            "",
            "        [[ 968,  969,  970,  ...,  976,  977,  978],",
            "         [ 979,  980,  981,  ...,  987,  988,  989],",
            "         [ 990,  991,  992,  ...,  998,  999, 1000],",
            "         ...,",
            "         [1056, 1057, 1058,  ..., 1064, 1065, 1066],",
            "         [1067, 1068, 1069,  ..., 1075, 1076, 1077],",
            "         [1078, 1079, 1080,  ..., 1086, 1087, 1088]],",
            "",
            "        [[1089, 1090, 1091,  ..., 1097, 1098, 1099],",
            "         [1100, 1101, 1102,  ..., 1108, 1109, 1110],",
            "         [1111, 1112, 1113,  ..., 1119, 1120, 1121],",
            "         ...,",
            "         [1177, 1178, 1179,  ..., 1185, 1186, 1187],",
            "         [1188, 1189, 1190,  ..., 1196, 1197, 1198],",
            "         [1199, 1200, 1201,  ..., 1207, 1208, 1209]],",
            "",
            "        [[1210, 1211, 1212,  ..., 1218, 1219, 1220],",
            "         [1221, 1222, 1223,  ..., 1229, 1230, 1231],",
            "         [1232, 1233, 1234,  ..., 1240, 1241, 1242],",
            "         ...,",
            "         [1298, 1299, 1300,  ..., 1306, 1307, 1308],",
            "         [1309, 1310, 1311,  ..., 1317, 1318, 1319],",
            "         [1320, 1321, 1322,  ..., 1328, 1329, 1330]]])",
        ),
    ),
    _case(
        "summary_3d_sci",
        [i * 1e-6 for i in range(2002)],
        "float32",
        shape=(1001, 1, 2),
        expected=_lines(
            "tensor([[[0.0000e+00, 1.0000e-06]],",
            "",
            "        [[2.0000e-06, 3.0000e-06]],",
            "",
            "        [[4.0000e-06, 5.0000e-06]],",
            "",
            "        ...,",
            "",
            "        [[1.9960e-03, 1.9970e-03]],",
            "",
            "        [[1.9980e-03, 1.9990e-03]],",
            "",
            "        [[2.0000e-03, 2.0010e-03]]])",
        ),
    ),
    _case(
        "summary_3d_inner",
        list(range(1400)),
        "int64",
        shape=(2, 100, 7),
        expected=_lines(
            "tensor([[[   0,    1,    2,  ...,    4,    5,    6],",
            "         [   7,    8,    9,  ...,   11,   12,   13],",
            "         [  14,   15,   16,  ...,   18,   19,   20],",
            "         ...,",
            "         [ 679,  680,  681,  ...,  683,  684,  685],",
            "         [ 686,  687,  688,  ...,  690,  691,  692],",
            "         [ 693,  694,  695,  ...,  697,  698,  699]],",
            "",
            "        [[ 700,  701,  702,  ...,  704,  705,  706],",
            "         [ 707,  708,  709,  ...,  711,  712,  713],",
            "         [ 714,  715,  716,  ...,  718,  719,  720],",
            "         ...,",
            "         [1379, 1380, 1381,  ..., 1383, 1384, 1385],",
            "         [1386, 1387, 1388,  ..., 1390, 1391, 1392],",
            "         [1393, 1394, 1395,  ..., 1397, 1398, 1399]]])",
        ),
    ),
    _case(
        "summary_2d_requires_grad",
        [i / 7.0 for i in range(1200)],
        "float32",
        shape=(30, 40),
        suffixes=["requires_grad=True"],
        expected=_lines(
            "tensor([[0.0000e+00, 1.4286e-01, 2.8571e-01,  ..., 5.2857e+00, 5.4286e+00,",
            "         5.5714e+00],",
            "        [5.7143e+00, 5.8571e+00, 6.0000e+00,  ..., 1.1000e+01, 1.1143e+01,",
            "         1.1286e+01],",
            "        [1.1429e+01, 1.1571e+01, 1.1714e+01,  ..., 1.6714e+01, 1.6857e+01,",
            "         1.7000e+01],",
            "        ...,",
            "        [1.5429e+02, 1.5443e+02, 1.5457e+02,  ..., 1.5957e+02, 1.5971e+02,",
            "         1.5986e+02],",
            "        [1.6000e+02, 1.6014e+02, 1.6029e+02,  ..., 1.6529e+02, 1.6543e+02,",
            "         1.6557e+02],",
            "        [1.6571e+02, 1.6586e+02, 1.6600e+02,  ..., 1.7100e+02, 1.7114e+02,",
            "         1.7129e+02]], requires_grad=True)",
        ),
    ),
    # --- wrapping
    _case(
        "wrap_int",
        list(range(50)),
        "int64",
        expected=_lines(
            "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,",
            "        18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,",
            "        36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49])",
        ),
    ),
    _case(
        "wrap_float",
        [i * 1.5 for i in range(30)],
        "float32",
        expected=_lines(
            "tensor([ 0.0000,  1.5000,  3.0000,  4.5000,  6.0000,  7.5000,  9.0000, 10.5000,",
            "        12.0000, 13.5000, 15.0000, 16.5000, 18.0000, 19.5000, 21.0000, 22.5000,",
            "        24.0000, 25.5000, 27.0000, 28.5000, 30.0000, 31.5000, 33.0000, 34.5000,",
            "        36.0000, 37.5000, 39.0000, 40.5000, 42.0000, 43.5000])",
        ),
    ),
    _case(
        "wrap_float64_suffix",
        [i * 1.5 for i in range(14)],
        "float64",
        suffixes=["dtype=plugrad.float64"],
        expected=_lines(
            "tensor([ 0.0000,  1.5000,  3.0000,  4.5000,  6.0000,  7.5000,  9.0000, 10.5000,",
            "        12.0000, 13.5000, 15.0000, 16.5000, 18.0000, 19.5000],",
            "       dtype=plugrad.float64)",
        ),
    ),
    _case(
        "wrap_2d",
        [float(i) for i in range(40)],
        "float32",
        shape=(2, 20),
        expected=_lines(
            "tensor([[ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,",
            "         14., 15., 16., 17., 18., 19.],",
            "        [20., 21., 22., 23., 24., 25., 26., 27., 28., 29., 30., 31., 32., 33.,",
            "         34., 35., 36., 37., 38., 39.]])",
        ),
    ),
    _case(
        "wrap_sci",
        [10.0 ** (i - 10) for i in range(20)],
        "float32",
        expected=_lines(
            "tensor([1.0000e-10, 1.0000e-09, 1.0000e-08, 1.0000e-07, 1.0000e-06, 1.0000e-05,",
            "        1.0000e-04, 1.0000e-03, 1.0000e-02, 1.0000e-01, 1.0000e+00, 1.0000e+01,",
            "        1.0000e+02, 1.0000e+03, 1.0000e+04, 1.0000e+05, 1.0000e+06, 1.0000e+07,",
            "        1.0000e+08, 1.0000e+09])",
        ),
    ),
    # --- higher dimensions
    _case(
        "3d",
        list(range(24)),
        "int64",
        shape=(2, 3, 4),
        expected=_lines(
            "tensor([[[ 0,  1,  2,  3],",
            "         [ 4,  5,  6,  7],",
            "         [ 8,  9, 10, 11]],",
            "",
            "        [[12, 13, 14, 15],",
            "         [16, 17, 18, 19],",
            "         [20, 21, 22, 23]]])",
        ),
    ),
    _case(
        "3d_float",
        [i / 4.0 for i in range(12)],
        "float32",
        shape=(3, 2, 2),
        expected=_lines(
            "tensor([[[0.0000, 0.2500],",
            "         [0.5000, 0.7500]],",
            "",
            "        [[1.0000, 1.2500],",
            "         [1.5000, 1.7500]],",
            "",
            "        [[2.0000, 2.2500],",
            "         [2.5000, 2.7500]]])",
        ),
    ),
    _case(
        "4d",
        list(range(16)),
        "int64",
        shape=(2, 2, 2, 2),
        expected=_lines(
            "tensor([[[[ 0,  1],",
            "          [ 2,  3]],",
            "",
            "         [[ 4,  5],",
            "          [ 6,  7]]],",
            "",
            "",
            "        [[[ 8,  9],",
            "          [10, 11]],",
            "",
            "         [[12, 13],",
            "          [14, 15]]]])",
        ),
    ),
    _case("size_one_dims", [5.0], "float32", shape=(1, 1, 1), expected="tensor([[[5.]]])"),
    # --- suffixes
    _case(
        "requires_grad",
        [1.0, 2.0],
        "float32",
        suffixes=["requires_grad=True"],
        expected="tensor([1., 2.], requires_grad=True)",
    ),
    _case(
        "grad_fn",
        [1.5, 2.0],
        "float32",
        suffixes=["grad_fn=<MulBackward0>"],
        expected="tensor([1.5000, 2.0000], grad_fn=<MulBackward0>)",
    ),
    _case(
        "grad_fn_0d",
        2.0,
        "float32",
        suffixes=["grad_fn=<MulBackward0>"],
        expected="tensor(2., grad_fn=<MulBackward0>)",
    ),
    _case(
        "dtype_and_grad",
        [1.0, 2.0],
        "float64",
        suffixes=["dtype=plugrad.float64", "requires_grad=True"],
        expected="tensor([1., 2.], dtype=plugrad.float64, requires_grad=True)",
    ),
    _case(
        "suffix_wraps",
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0],
        "float64",
        suffixes=["dtype=plugrad.float64", "grad_fn=<MulBackward0>"],
        expected=_lines(
            "tensor([ 1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13., 14.,",
            "        15.], dtype=plugrad.float64, grad_fn=<MulBackward0>)",
        ),
    ),
    _case(
        "suffix_after_multiline",
        [i / 3.0 for i in range(6)],
        "float32",
        shape=(2, 3),
        suffixes=["grad_fn=<MulBackward0>"],
        expected=_lines(
            "tensor([[0.0000, 0.3333, 0.6667],",
            "        [1.0000, 1.3333, 1.6667]], grad_fn=<MulBackward0>)",
        ),
    ),
    _case(
        "suffix_second_wraps",
        [i * 1.25 for i in range(12)],
        "float64",
        suffixes=["dtype=plugrad.float64", "grad_fn=<MulBackward0>"],
        expected=_lines(
            "tensor([ 0.0000,  1.2500,  2.5000,  3.7500,  5.0000,  6.2500,  7.5000,  8.7500,",
            "        10.0000, 11.2500, 12.5000, 13.7500], dtype=plugrad.float64,",
            "       grad_fn=<MulBackward0>)",
        ),
    ),
    # --- print options
    _case(
        "opt_precision_2",
        [1.0 + 1.0 / 6.0, 2.5],
        "float32",
        options={"precision": 2},
        expected="tensor([1.17, 2.50])",
    ),
    _case(
        "opt_precision_6",
        [0.1, 1e-3],
        "float64",
        suffixes=["dtype=plugrad.float64"],
        options={"precision": 6},
        expected="tensor([0.100000, 0.001000], dtype=plugrad.float64)",
    ),
    _case(
        "opt_sci_off",
        [1e-5, 1.0],
        "float32",
        options={"sci_mode": False},
        expected="tensor([0.0000, 1.0000])",
    ),
    _case(
        "opt_sci_on",
        [1.0, 2.0],
        "float32",
        options={"sci_mode": True},
        expected="tensor([1.0000e+00, 2.0000e+00])",
    ),
    _case(
        "opt_linewidth_30",
        list(range(20)),
        "int64",
        options={"linewidth": 30},
        expected=_lines(
            "tensor([ 0,  1,  2,  3,  4,",
            "         5,  6,  7,  8,  9,",
            "        10, 11, 12, 13, 14,",
            "        15, 16, 17, 18, 19])",
        ),
    ),
    _case(
        "opt_threshold_edgeitems",
        list(range(20)),
        "int64",
        options={"threshold": 5, "edgeitems": 1},
        expected="tensor([ 0,  ..., 19])",
    ),
    _case(
        "opt_edgeitems_2d",
        list(range(36)),
        "int64",
        shape=(6, 6),
        options={"threshold": 10, "edgeitems": 2},
        expected=_lines(
            "tensor([[ 0,  1,  ...,  4,  5],",
            "        [ 6,  7,  ..., 10, 11],",
            "        ...,",
            "        [24, 25,  ..., 28, 29],",
            "        [30, 31,  ..., 34, 35]])",
        ),
    ),
    _case(
        "opt_short_profile",
        [i / 3.0 for i in range(2000)],
        "float32",
        options={"profile": "short"},
        expected="tensor([0.00e+00, 3.33e-01,  ..., 6.66e+02, 6.66e+02])",
    ),
    _case(
        "opt_edgeitems_zero",
        [1.0, 2.0, 3.0],
        "float32",
        options={"edgeitems": 0},
        expected="tensor([1., 2., 3.], size=(3,))",
    ),
    _case(
        "opt_edgeitems_zero_summarised",
        list(range(20)),
        "int64",
        shape=(4, 5),
        options={"edgeitems": 0, "threshold": 5},
        expected="tensor([...], size=(4, 5))",
    ),
    _case(
        "opt_edgeitems_zero_1d",
        list(range(20)),
        "int64",
        options={"edgeitems": 0, "threshold": 5},
        expected="tensor([...], size=(20,))",
    ),
    _case("opt_threshold_0d", 2.5, "float32", options={"threshold": 0}, expected="tensor(2.5000)"),
    _case(
        "opt_linewidth_suffix",
        [1.0, 2.0],
        "float64",
        suffixes=["dtype=plugrad.float64", "requires_grad=True"],
        options={"linewidth": 30},
        expected=_lines(
            "tensor([1., 2.],",
            "       dtype=plugrad.float64,",
            "       requires_grad=True)",
        ),
    ),
    # --- custom prefix
    _case(
        "prefix",
        [float(i) for i in range(40)],
        "float32",
        shape=(2, 20),
        prefix="MyT(",
        expected=_lines(
            "MyT([[ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13., 14.,",
            "      15., 16., 17., 18., 19.],",
            "     [20., 21., 22., 23., 24., 25., 26., 27., 28., 29., 30., 31., 32., 33., 34.,",
            "      35., 36., 37., 38., 39.]])",
        ),
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_matches_pytorch(case: Case) -> None:
    tensor = FakeTensor.build(case.data, case.dtype, case.shape)
    with ts.printoptions(**case.options):
        text = ts.format_tensor(tensor, prefix=case.prefix, suffixes=case.suffixes)
    assert text == case.expected


def test_enough_cases() -> None:
    assert len(CASES) >= 40


# ---------------------------------------------------------------------------
# Behaviour too long to spell out, and the options API
# ---------------------------------------------------------------------------


def test_threshold_is_inclusive() -> None:
    """1000 elements print in full; 1001 are summarised."""
    full = ts.format_tensor(FakeTensor.build(list(range(1000)), "int64"))
    assert "..." not in full
    assert full.count(",") == 999
    assert full.startswith("tensor([  0,   1,   2,")
    assert full.endswith(" 996, 997, 998, 999])")
    assert all(len(line) <= 80 for line in full.split("\n"))

    summarised = ts.format_tensor(FakeTensor.build(list(range(1001)), "int64"))
    assert summarised == "tensor([   0,    1,    2,  ...,  998,  999, 1000])"


def test_full_profile_prints_everything() -> None:
    ts.set_printoptions(profile="full")
    text = ts.format_tensor(FakeTensor.build(list(range(1200)), "int64"))
    assert "..." not in text
    assert text.count(",") == 1199
    # PyTorch: 12 elements of width 4 (plus ", ") per line at indent 7.
    assert text.split("\n")[1] == "          12,   13,   14,   15,   16,   17,   18,   19,   20,   21,   22,   23,"


def test_summary_reads_only_the_edges() -> None:
    tensor = FakeTensor.build(list(range(1_000_000)), "int64", (1000, 1000))
    FakeTensor.elements_read = 0
    text = ts.format_tensor(tensor)
    assert FakeTensor.elements_read == 36
    assert text == _lines(
        "tensor([[     0,      1,      2,  ...,    997,    998,    999],",
        "        [  1000,   1001,   1002,  ...,   1997,   1998,   1999],",
        "        [  2000,   2001,   2002,  ...,   2997,   2998,   2999],",
        "        ...,",
        "        [997000, 997001, 997002,  ..., 997997, 997998, 997999],",
        "        [998000, 998001, 998002,  ..., 998997, 998998, 998999],",
        "        [999000, 999001, 999002,  ..., 999997, 999998, 999999]])",
    )


def test_size_suffix_goes_after_device() -> None:
    """PyTorch's order: device, size, dtype, then autograd."""
    tensor = FakeTensor.build([], "int64", (0, 3))
    text = ts.format_tensor(tensor, suffixes=["device='cuda:0'", "dtype=plugrad.int64"])
    assert text == "tensor([], device='cuda:0', size=(0, 3), dtype=plugrad.int64)"


def test_suffixes_accept_any_sequence() -> None:
    tensor = FakeTensor.build([1.0], "float64")
    assert ts.format_tensor(tensor, suffixes=("dtype=plugrad.float64",)) == ("tensor([1.], dtype=plugrad.float64)")


def test_default_options() -> None:
    assert ts.get_printoptions() == {
        "precision": 4,
        "threshold": 1000,
        "edgeitems": 3,
        "linewidth": 80,
        "sci_mode": None,
    }


def test_set_printoptions_profiles_and_overrides() -> None:
    ts.set_printoptions(profile="short", precision=3)
    assert ts.get_printoptions() == {
        "precision": 3,
        "threshold": 1000,
        "edgeitems": 2,
        "linewidth": 80,
        "sci_mode": None,
    }
    ts.set_printoptions(profile="full")
    assert ts.get_printoptions()["threshold"] == math.inf
    assert ts.get_printoptions()["precision"] == 4


def test_sci_mode_resets_when_left_out() -> None:
    """As in PyTorch, every call sets sci_mode, to None unless given."""
    ts.set_printoptions(sci_mode=True)
    assert ts.get_printoptions()["sci_mode"] is True
    ts.set_printoptions(precision=5)
    assert ts.get_printoptions()["sci_mode"] is None


def test_get_printoptions_round_trips() -> None:
    ts.set_printoptions(precision=2, linewidth=120, sci_mode=False)
    saved = ts.get_printoptions()
    ts.set_printoptions(profile="default")
    ts.set_printoptions(**saved)
    assert ts.get_printoptions() == saved


def test_printoptions_context_restores() -> None:
    tensor = FakeTensor.build([1.0 / 3.0], "float32")
    with ts.printoptions(precision=2):
        assert ts.format_tensor(tensor) == "tensor([0.33])"
    assert ts.format_tensor(tensor) == "tensor([0.3333])"
    assert ts.get_printoptions()["precision"] == 4


def test_unknown_profile_is_rejected() -> None:
    with pytest.raises(ValueError, match="profile"):
        ts.set_printoptions(profile="tiny")


def test_unknown_kind_is_rejected() -> None:
    tensor = FakeTensor.build([1.0], "float32")
    tensor.dtype_kind = "complex"
    with pytest.raises(ValueError, match="complex"):
        ts.format_tensor(tensor)


def test_bad_tolist_is_rejected() -> None:
    tensor = FakeTensor(["a", "b"], "int", (2,))
    with pytest.raises(TypeError):
        ts.format_tensor(tensor)


def test_module_does_not_import_numpy() -> None:
    tree = ast.parse(_MODULE_PATH.read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "numpy" not in imported
    assert "torch" not in imported
