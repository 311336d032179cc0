"""The README's Python example runs and prints what the README says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_taste_block_runs(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    text = README.read_text()
    block = re.search(r"## A taste\n\n```python\n(.*?)```", text, re.S)
    assert block is not None, "README lost its example"
    code = block.group(1)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    printed = out.getvalue()
    assert "tensor([[0.5000, 1.0000],\n        [1.5000, 2.0000]])" in printed
    assert re.search(r"<MeanBackward0 object at 0x[0-9a-f]+>", printed)
    assert (tmp_path / "model.safetensors").stat().st_size > 0


def test_ci_runs_the_readme_test_command() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    text = README.read_text()
    marker = text.index("<!-- test-command")
    command = text[marker:].split("```bash\n", 1)[1].split("\n", 1)[0]
    assert command == "python -m pip install nox uv && python -m nox"
    assert "test-command" in ci  # .ci/run reads the command from the marked block
