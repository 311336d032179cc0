"""plugrad.testing.assert_close: PyTorch's decisions, default tolerances and messages."""

from __future__ import annotations

import math
from typing import Any

import plugrad
import pytest
from plugrad.testing import assert_close


def message(actual: Any, expected: Any, **kwargs: Any) -> str:
    with pytest.raises(AssertionError) as info:
        assert_close(actual, expected, **kwargs)
    return str(info.value)


def test_the_layout_of_a_tensor_message() -> None:
    got = message(plugrad.tensor([1.0, 2.0, 3.0]), plugrad.tensor([1.0, 2.5, 3.0]))
    assert got == (
        "Tensor-likes are not close!\n\n"
        "Mismatched elements: 1 / 3 (33.3%)\n"
        "Greatest absolute difference: 0.5 at index (1,) (up to 1e-05 allowed)\n"
        "Greatest relative difference: 0.20000000298023224 at index (1,) (up to 1.3e-06 allowed)"
    )


def test_integers_compare_for_equality() -> None:
    got = message(plugrad.tensor([[1, 2], [3, 4]]), plugrad.tensor([[1, 2], [3, 6]]))
    assert got == (
        "Tensor-likes are not equal!\n\n"
        "Mismatched elements: 1 / 4 (25.0%)\n"
        "Greatest absolute difference: 2 at index (1, 1)\n"
        "Greatest relative difference: 0.3333333432674408 at index (1, 1)"
    )
    assert_close(plugrad.tensor([True, False]), plugrad.tensor([True, False]))


@pytest.mark.parametrize(
    "dtype,rtol,atol",
    [("float16", 1e-3, 1e-5), ("float32", 1.3e-6, 1e-5), ("float64", 1e-7, 1e-7)],
)
def test_default_tolerances_per_dtype(dtype: str, rtol: float, atol: float) -> None:
    dt = getattr(plugrad, dtype)
    base = plugrad.tensor([1.0, 100.0], dtype=plugrad.float64)
    inside = base * (1 + 0.5 * rtol) + 0.4 * atol  # within atol + rtol * |expected|
    outside = base * (1 + 3 * rtol) + 3 * atol
    if dtype != "float16":  # float16 cannot hold 100 * (1 + 5e-4) apart from 100: only the failing side there
        assert_close(inside.to(dt), base.to(dt))
    assert f"(up to {atol} allowed)" in message(outside.to(dt), base.to(dt))
    assert f"(up to {rtol} allowed)" in message(outside.to(dt), base.to(dt))


def test_explicit_tolerances_and_their_pairing() -> None:
    a, b = plugrad.tensor([1.0, 2.0]), plugrad.tensor([1.0, 2.1])
    assert_close(a, b, rtol=0.1, atol=0.0)
    with pytest.raises(AssertionError):
        assert_close(a, b, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="Both 'rtol' and 'atol' must be either specified or omitted, but got no atol"):
        assert_close(a, b, rtol=0.1)


def test_nan_inf_and_empty() -> None:
    nan, inf = math.nan, math.inf
    with pytest.raises(AssertionError, match="Greatest absolute difference: nan at index"):
        assert_close(plugrad.tensor([nan, 1.0]), plugrad.tensor([nan, 1.0]))
    assert_close(plugrad.tensor([nan, 1.0]), plugrad.tensor([nan, 1.0]), equal_nan=True)
    assert_close(plugrad.tensor([inf, -inf]), plugrad.tensor([inf, -inf]))
    with pytest.raises(AssertionError, match="Greatest absolute difference: inf"):
        assert_close(plugrad.tensor([inf]), plugrad.tensor([-inf]))
    assert_close(plugrad.tensor([]), plugrad.tensor([]))


def test_attributes() -> None:
    with pytest.raises(AssertionError, match=r"attribute 'shape' do not match: plugrad.Size\(\[2\]\) != plugrad"):
        assert_close(plugrad.zeros(2), plugrad.zeros(3))
    with pytest.raises(AssertionError, match="attribute 'dtype' do not match: plugrad.float32 != plugrad.float64"):
        assert_close(plugrad.zeros(2), plugrad.zeros(2, dtype=plugrad.float64))
    assert_close(plugrad.zeros(2), plugrad.zeros(2, dtype=plugrad.float64), check_dtype=False)
    # with check_dtype=False the values are compared in the promoted dtype, with the looser tolerance
    assert_close(plugrad.tensor([1.0]), plugrad.tensor([1.0 + 1e-6], dtype=plugrad.float64), check_dtype=False)


def test_numbers() -> None:
    assert_close(1.0, 1.0 + 1e-8)
    assert message(1.5, 1.0) == (
        "Scalars are not close!\n\nExpected 1.0 but got 1.5.\n"
        "Absolute difference: 0.5 (up to 1e-07 allowed)\nRelative difference: 0.5 (up to 1e-07 allowed)"
    )
    assert (
        message(1, 2)
        == "Scalars are not equal!\n\nExpected 2 but got 1.\nAbsolute difference: 1\nRelative difference: 0.5"
    )
    assert message(2, 2.0) == "The (d)types do not match: <class 'int'> != <class 'float'>."
    assert message(True, False) == "Booleans mismatch: True is not False"
    assert message(None, 1) == "None mismatch: None is not 1"
    with pytest.raises(TypeError, match="No comparison pair was able to handle inputs of type"):
        assert_close(plugrad.tensor([1.0]), 1.0)


def test_nested_structures_name_the_failing_item() -> None:
    got = message({"a": 1.0, "b": [1, 2]}, {"a": 1.0, "b": [1, 3]})
    assert got.endswith("\n\nThe failure occurred for item ['b'][1]")
    assert message([1, 2], [1, 2, 3]) == "The length of the sequences mismatch: 2 != 3"
    assert message({"a": 1.0}, {"b": 1.0}) == (
        "The keys of the mappings do not match:\nMissing keys in the actual mapping: ['b']\n"
        "Additional keys in the actual mapping: ['a']"
    )
    assert_close((plugrad.ones(2), 3), [plugrad.ones(2), 3])


def test_msg_replaces_or_edits_the_message() -> None:
    a, b = plugrad.tensor([1.0]), plugrad.tensor([2.0])
    assert message(a, b, msg="custom") == "custom"
    assert message(a, b, msg=lambda m: "prefix: " + m.splitlines()[0]) == "prefix: Tensor-likes are not close!"


def test_gradients_and_0d_tensors() -> None:
    x = plugrad.tensor([1.0, 2.0], requires_grad=True)
    assert_close(x * 1, x.detach())
    assert message(plugrad.tensor(1.5), plugrad.tensor(1.0)).startswith(
        "Scalars are not close!\n\nExpected 1.0 but got 1.5."
    )


# ---------------------------------------------------------------------------- the oracle
CASES: list[tuple[Any, Any, dict[str, Any]]] = [
    ([1.0, 2.0, 3.0], [1.0, 2.5, 3.0], {}),
    ([1.0, 2.0], [1.0, 2.0 + 1e-6], {}),
    ([1.0, 2.0], [1.0, 2.0 + 3e-5], {}),
    ([[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]], {}),
    ([0.0, 0.0, 0.0], [0.0, 0.0, 1e-4], {}),
    ([math.nan, 1.0], [math.nan, 1.0], {}),
    ([math.nan, 1.0], [math.nan, 1.0], {"equal_nan": True}),
    ([math.inf, 0.0], [-math.inf, 0.0], {}),
    ([1.0, 0.0], [1.0, 0.1], {"rtol": 0.0, "atol": 0.0}),
    ([1.0, 2.0], [1.0, 2.2], {"rtol": 0.05, "atol": 0.0}),
    ([1, 2, 3], [1, 3, 3], {"dtype": "int64"}),
    ([True, False], [True, True], {"dtype": "bool"}),
    ([1.0, 2.0], [1.0, 2.001], {"dtype": "float16"}),
    ([1.0, 2.0], [1.0, 2.01], {"dtype": "float16"}),
    ([1.0, 2.0], [1.0, 2.0 + 1e-7], {"dtype": "float64"}),
    ([1.0, 2.0], [1.0, 2.0 + 1e-6], {"dtype": "float64"}),
    (1.5, 1.0, {"dtype": "float32"}),
    ([1.0, 2.0], [1.0, 2.0], {"expected_dtype": "float64"}),
    ([1.0, 2.0], [1.0, 2.0 + 2e-6], {"expected_dtype": "float64", "check_dtype": False}),
    ([1.0, 2.0], [1.0, 3.0], {"expected_dtype": "float64", "check_dtype": False}),
    ([1.0, 2.0], [1.0, 2.0, 3.0], {}),
]


@pytest.mark.oracle
@pytest.mark.parametrize("case", range(len(CASES)))
def test_decisions_and_messages_match_pytorch(case: int) -> None:
    torch = pytest.importorskip("torch")
    actual, expected, options = CASES[case]
    options = dict(options)
    dtype = options.pop("dtype", "float32")
    expected_dtype = options.pop("expected_dtype", dtype)

    def run(lib: Any, check: Any) -> str | None:
        a = lib.tensor(actual, dtype=getattr(lib, dtype))
        e = lib.tensor(expected, dtype=getattr(lib, expected_dtype))
        try:
            check(a, e, **options)
        except AssertionError as exc:
            return str(exc)
        return None

    ours = run(plugrad, assert_close)
    theirs = run(torch, torch.testing.assert_close)
    assert ours == (None if theirs is None else theirs.replace("torch.", "plugrad."))


@pytest.mark.oracle
def test_structure_messages_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for actual, expected in [
        ({"a": 1.0, "b": [1, 2]}, {"a": 1.0, "b": [1, 3]}),
        ({"a": 1.0}, {"b": 1.0}),
        ([1, 2], [1, 2, 3]),
        (1, 2),
        (2, 2.0),
        (1.5, 1.0),
        ([[1.0]], [[2.0]]),
        (True, False),
        (None, 1),
    ]:
        with pytest.raises(AssertionError) as theirs:
            torch.testing.assert_close(actual, expected)
        assert message(actual, expected) == str(theirs.value)
