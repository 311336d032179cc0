"""float16 and bfloat16 against PyTorch: the promotion table over every pair of dtypes,
result dtypes of mixed operations (dimensioned tensors, 0-d tensors, Python scalars),
rounding, and printing character for character (``torch.`` read as ``plugrad.``)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import plugrad
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def _dt(lib: Any, name: str) -> Any:
    return getattr(lib, name)


if "bfloat16" not in plugrad.plugins.get_backend("numpy").spec.dtypes:  # pragma: no cover
    pytest.skip("the NumPy backend has no bfloat16 (ml_dtypes is not installed)", allow_module_level=True)


@pytest.mark.parametrize(("a", "b"), list(itertools.product(NAMES, NAMES)))
def test_promote_types_table(a: str, b: str) -> None:
    want = torch.promote_types(_dt(torch, a), _dt(torch, b))
    assert plugrad.promote_types(_dt(plugrad, a), _dt(plugrad, b)).name == str(want).split(".")[1]


_OPERANDS = {
    "bf16[2]": lambda lib: lib.tensor([1.0, 2.0], dtype=lib.bfloat16),
    "f16[2]": lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float16),
    "f32[2]": lambda lib: lib.tensor([1.0, 2.0]),
    "i64[2]": lambda lib: lib.tensor([1, 2]),
    "bf16[]": lambda lib: lib.tensor(1.5, dtype=lib.bfloat16),
    "f16[]": lambda lib: lib.tensor(1.5, dtype=lib.float16),
    "f64[]": lambda lib: lib.tensor(1.5, dtype=lib.float64),
    "float": lambda lib: 2.5,
    "int": lambda lib: 3,
    "bool": lambda lib: True,
}


@pytest.mark.parametrize(
    ("left", "right"),
    [(a, b) for a, b in itertools.product(_OPERANDS, _OPERANDS) if "[" in a and ("bf16" in a + b or "f16" in a + b)],
)
def test_result_dtype_of_mixed_operations(left: str, right: str) -> None:
    got = []
    for lib in (torch, plugrad):
        x, y = _OPERANDS[left](lib), _OPERANDS[right](lib)
        got.append([str((x + y).dtype).split(".")[1], str((x * y).dtype).split(".")[1]])
    assert got[0] == got[1]


_VALUES = [
    [1.5, 2.0, 3.14159],
    [1e-5, 1e5],
    [-1.25, 0.0, 7.0],
    [[1 / 3, 2 / 3], [100.5, 0.25]],
    [[1e-3, -2e4], [5.0, 6.0]],
    [math.inf, -math.inf, math.nan, 1.0],
    [65504.0, 70000.0],
    [],
    3.3,
    -0.0,
    [0.1 * i for i in range(12)],
]


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
@pytest.mark.parametrize("index", range(len(_VALUES)))
def test_printing_matches(name: str, index: int) -> None:
    v = _VALUES[index]
    want = repr(torch.tensor(v, dtype=_dt(torch, name)))
    got = repr(plugrad.tensor(v, dtype=_dt(plugrad, name)))
    assert got == want.replace("torch.", "plugrad.")


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_printing_summarised_and_with_grad(name: str) -> None:
    for lib in (torch, plugrad):
        lib.manual_seed(0)
    big = [[(i * 37 % 101) / 7.0 for i in range(40)] for _ in range(30)]
    want = repr(torch.tensor(big, dtype=_dt(torch, name)))
    assert repr(plugrad.tensor(big, dtype=_dt(plugrad, name))) == want.replace("torch.", "plugrad.")
    wt = torch.tensor([0.5, 1.5], dtype=_dt(torch, name), requires_grad=True) * 3
    wp = plugrad.tensor([0.5, 1.5], dtype=_dt(plugrad, name), requires_grad=True) * 3
    assert repr(wp) == repr(wt).replace("torch.", "plugrad.")


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_rounding_and_arithmetic_match(name: str) -> None:
    vals = [0.1, 1 / 3, 1.7, 123456.7, -2.5e-3, 1e-8, 3e38]
    t = torch.tensor(vals).to(_dt(torch, name))
    p = plugrad.tensor(vals).to(_dt(plugrad, name))
    assert p.float().tolist() == t.float().tolist()
    # elementwise results are rounded to the dtype once, as PyTorch's CPU kernels do
    assert (p * 3 + 1).float().tolist() == (t * 3 + 1).float().tolist()
    assert (p / 7).float().tolist() == (t / 7).float().tolist()


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64"])
def test_finfo_matches(name: str) -> None:
    t, p = torch.finfo(_dt(torch, name)), plugrad.finfo(_dt(plugrad, name))
    assert repr(p) == repr(t)
    for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(p, field) == getattr(t, field), field


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_matches(name: str) -> None:
    t, p = torch.iinfo(_dt(torch, name)), plugrad.iinfo(_dt(plugrad, name))
    assert repr(p) == repr(t)
    assert (p.bits, p.min, p.max, p.dtype) == (t.bits, t.min, t.max, t.dtype)


@pytest.mark.parametrize(
    "call",
    [
        lambda L: L.finfo(L.int32),
        lambda L: L.iinfo(L.float32),
        lambda L: L.iinfo(L.bool),
        lambda L: L.finfo("float32"),
    ],
)
def test_finfo_iinfo_errors_match(call: Any) -> None:
    msgs = []
    for lib in (torch, plugrad):
        with pytest.raises(TypeError) as e:
            call(lib)
        msgs.append(str(e.value).replace("torch.", "plugrad."))
    assert msgs[0] == msgs[1]
