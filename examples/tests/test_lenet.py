"""examples/lenet.py runs and learns (a reduced run: few images, three epochs)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("plugrad.nn")
pytest.importorskip("plugrad.optim")

EXAMPLES = Path(__file__).resolve().parent.parent


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_lenet", EXAMPLES / "lenet.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lenet_learns_the_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    lenet = load()
    result = lenet.main(["--train", "768", "--test", "256", "--epochs", "3", "--seed", "0"])
    # eight classes: chance is 0.125; the full run (4096 images, 5 epochs) reaches about 0.95
    assert result["accuracy"] > 0.3
    assert result["loss"] < 1.9  # cross-entropy at chance is log(8) = 2.08
    out = capsys.readouterr().out
    assert "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))" in out
    assert "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)" in out
    assert out.count("epoch") == 3 and "test accuracy" in out


def test_shapes_are_reproducible_and_labelled() -> None:
    lenet = load()
    x1, y1 = lenet.draw_shapes(16, 5)
    x2, y2 = lenet.draw_shapes(16, 5)
    assert tuple(x1.shape) == (16, 1, 28, 28) and tuple(y1.shape) == (16,)
    assert x1.tolist() == x2.tolist() and y1.tolist() == y2.tolist()
    assert 0 <= int(y1.min()) and int(y1.max()) < len(lenet.CLASSES)


def test_bad_arguments_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load().main(["--epochs", "0"])
    assert "must be positive" in capsys.readouterr().err
