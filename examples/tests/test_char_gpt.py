"""examples/char_gpt.py runs in a tiny configuration, learns, samples, plots and rejects bad options."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("plugrad.nn")
pytest.importorskip("plugrad.optim")

EXAMPLES = Path(__file__).resolve().parent.parent
TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "8"]


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_char_gpt", EXAMPLES / "char_gpt.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_trains_and_samples(capsys):
    result = load().main([*TINY, "--steps", "40", "--lr", "1e-2", "--eval-every", "20", "--sample-chars", "30"])
    losses = result["losses"]
    assert len(losses) == 40 and all(math.isfinite(v) for v in losses)
    # GPT-2's N(0, 0.02) init gives nearly uniform predictions: the first loss is about ln(vocabulary)
    assert losses[0] == pytest.approx(math.log(len(result["vocab"])), abs=0.1)
    assert sum(losses[-5:]) / 5 < losses[0] - 0.6  # it learns (character frequencies at least)
    assert [e[0] for e in result["evals"]] == [20, 40]
    assert len(result["sample"]) == 30 and set(result["sample"]) <= set(result["vocab"])
    out = capsys.readouterr().out
    assert "--- sample ---" in out and "step    20" in out and "parameters" in out


def test_generate_uses_at_most_block_size_context():
    ex = load()
    import plugrad

    plugrad.manual_seed(0)
    model = ex.GPT(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=8, dropout=0.0)
    model.eval()
    out = model.generate(plugrad.zeros(2, 1, dtype=plugrad.long), max_new_tokens=9)
    assert tuple(out.shape) == (2, 10)
    assert int(out.min()) >= 0 and int(out.max()) < 5


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "loss.png"
    load().main([*TINY, "--steps", "4", "--eval-every", "2", "--sample-chars", "0", "--plot", str(path)])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--steps", "0"], "--steps must be at least 1"),
        (["--n-embd", "10", "--n-head", "4"], "must be a multiple of --n-head"),
        (["--dropout", "1.0"], "--dropout must be in [0, 1)"),
        (["--data", "/nonexistent/text.txt"], "no such file"),
        (["--device", "nosuchdevice"], "--device nosuchdevice"),
    ],
)
def test_bad_arguments_are_reported(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        load().main(args)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_as_a_script():
    proc = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "char_gpt.py"),
            *TINY,
            "--steps",
            "2",
            "--eval-every",
            "1",
            "--sample-chars",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--- sample ---" in proc.stdout and "Traceback" not in proc.stderr
