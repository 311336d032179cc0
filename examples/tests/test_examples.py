"""The examples run and converge (small epoch counts keep this fast)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("plugrad.nn")
pytest.importorskip("plugrad.optim")

EXAMPLES = Path(__file__).resolve().parent.parent


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_linear_regression_converges_to_the_true_line(capsys):
    result = load("linear_regression").main(["--epochs", "150", "--seed", "1"])
    assert result["w"] == pytest.approx(3.0, abs=0.05)
    assert result["b"] == pytest.approx(2.0, abs=0.05)
    assert result["loss"] < 0.02  # noise 0.1: the floor is about 0.01
    out = capsys.readouterr().out
    assert "Linear(in_features=1, out_features=1, bias=True)" in out
    assert "learned W" in out and "(true W = 3.0)" in out
    assert out.count("loss") >= 10  # progress is shown


def test_linear_regression_options(capsys):
    result = load("linear_regression").main(
        ["--lr", "0.05", "--epochs", "400", "--noise", "0.5", "--samples", "500", "--seed", "3"]
    )
    assert result["w"] == pytest.approx(3.0, abs=0.15)
    assert result["b"] == pytest.approx(2.0, abs=0.1)


def test_linear_regression_device_by_backend_name(capsys):
    result = load("linear_regression").main(["--device", "numpy", "--epochs", "100"])
    assert result["w"] == pytest.approx(3.0, abs=0.1)


def test_linear_regression_as_a_script():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "linear_regression.py"), "--epochs", "100"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "learned b" in proc.stdout


def test_bad_arguments_are_reported():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "linear_regression.py"), "--epochs", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--epochs" in proc.stderr


def test_unavailable_device_is_reported():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "linear_regression.py"), "--device", "nosuchdevice"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--device nosuchdevice" in proc.stderr and "Traceback" not in proc.stderr


def test_plot_without_matplotlib_says_so(tmp_path):
    # hide matplotlib even where it is installed
    code = (
        "import sys; sys.modules['matplotlib'] = None; sys.argv = ['lr', '--plot', sys.argv[1]];"
        f"import runpy; runpy.run_path({str(EXAMPLES / 'linear_regression.py')!r}, run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "fit.png")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1
    assert "matplotlib" in proc.stderr and "pip install matplotlib" in proc.stderr
    assert "epoch" not in proc.stdout  # it stops before training


@pytest.mark.parametrize(
    "name, argv",
    [
        ("linear_regression", ["--epochs", "20"]),
        ("polynomial_fit", ["--epochs", "20"]),
        ("mlp_classifier", ["--epochs", "20", "--samples", "60"]),
    ],
)
def test_plots_are_written(tmp_path, capsys, name, argv):
    pytest.importorskip("matplotlib")
    out = tmp_path / f"{name}.png"
    load(name).main([*argv, "--plot", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_polynomial_fit_recovers_the_coefficients(capsys):
    result = load("polynomial_fit").main(["--epochs", "600"])
    for learned, true in zip(result["coefficients"], [1.0, 1.0, -2.0, 0.5]):
        assert learned == pytest.approx(true, abs=0.05)
    out = capsys.readouterr().out
    assert "x^3" in out


def test_polynomial_fit_with_adam(capsys):
    result = load("polynomial_fit").main(["--optimizer", "adam", "--lr", "0.05", "--epochs", "600"])
    assert result["loss"] < 0.01


@pytest.mark.parametrize("dataset", ["moons", "circles"])
def test_mlp_classifier_learns_the_classes(capsys, dataset):
    result = load("mlp_classifier").main(["--dataset", dataset, "--epochs", "200", "--samples", "200"])
    assert result["train_accuracy"] >= 0.95
    assert result["test_accuracy"] >= 0.9
    assert "test accuracy" in capsys.readouterr().out
