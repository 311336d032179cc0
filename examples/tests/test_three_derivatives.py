"""examples/three_derivatives.py runs: every method agrees with the symbolic gradient, and
gradient descent reaches the closed-form least-squares line."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_three_derivatives", EXAMPLES / "three_derivatives.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_three_derivatives_agree_and_descent_meets_closed_form(capsys: pytest.CaptureFixture[str]) -> None:
    result = load().main(["--repeats", "1", "--samples", "100", "--seed", "2"])
    for name, err in result["errors"].items():
        # differences: truncation h² plus cancellation eps/h; every AD method: rounding only
        assert err < (1e-6 if name == "finite differences" else 1e-12), (name, err)
    (cw, cb), (gw, gb) = result["closed"], result["descent"]
    assert gw == pytest.approx(cw, abs=1e-6) and gb == pytest.approx(cb, abs=1e-6)
    assert cw == pytest.approx(3.0, abs=0.1) and cb == pytest.approx(2.0, abs=0.1)
    out = capsys.readouterr().out
    for label in ("finite differences", "reverse mode", "forward mode", "jacrev", "jacfwd", "closed form"):
        assert label in out
