"""examples/lstm_classifier.py learns in a small configuration and rejects bad options."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("plugrad.nn")
pytest.importorskip("plugrad.optim")

EXAMPLES = Path(__file__).resolve().parent.parent


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_lstm_classifier", EXAMPLES / "lstm_classifier.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_small_run_beats_chance_by_far(capsys):
    args = [
        "--samples",
        "200",
        "--epochs",
        "10",
        "--hidden",
        "16",
        "--max-len",
        "16",
        "--batch-size",
        "20",
        "--lr",
        "0.02",
        "--seed",
        "1",
    ]
    result = load().main(args)
    assert result["losses"][-1] < result["losses"][0] - 0.3
    assert result["accuracy"] > 0.75  # chance is 1/3 (this seed gives 0.92)
    out = capsys.readouterr().out
    assert "LSTM(1, 16, num_layers=2, batch_first=True, dropout=0.1)" in out and "test accuracy" in out


def test_packed_batch_matches_each_wave_alone():
    ex = load()
    import plugrad

    plugrad.manual_seed(1)
    model = ex.WaveClassifier(hidden=8, layers=2, dropout=0.0)
    model.eval()
    waves, _ = ex.make_waves(5, 3, 9, 0.1)
    batched = model(waves)
    for i, wave in enumerate(waves):
        assert plugrad.allclose(batched[i], model([wave])[0], atol=1e-5)


@pytest.mark.parametrize(
    "args,message",
    [(["--epochs", "0"], "--epochs must be at least 1"), (["--min-len", "9", "--max-len", "5"], "--max-len")],
)
def test_bad_arguments_are_reported(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        load().main(args)
    assert info.value.code == 2 and message in capsys.readouterr().err
