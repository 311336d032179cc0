"""The examples in docs/autograd.md run: every ```python block, in order, in one namespace.

Blocks fenced as ```python no-run (drawing with Graphviz, say) are shown, not run.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "autograd.md"
FENCE = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def blocks() -> list[tuple[int, str]]:
    text = DOC.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


@pytest.mark.skipif(not DOC.exists(), reason="docs/autograd.md is not next to this checkout")
def test_autograd_doc_examples_run() -> None:
    found = blocks()
    assert len(found) >= 10, "expected the doc's examples"
    namespace: dict[str, object] = {"__name__": "docs_autograd"}
    for line, code in found:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(code, f"{DOC.name}:{line}", "exec"), namespace)
        except Exception as exc:  # name the block that failed
            raise AssertionError(f"the example at {DOC.name} line {line} failed: {exc!r}") from exc


def test_benchmark_plot_is_embedded() -> None:
    if not DOC.exists():
        pytest.skip("docs/autograd.md is not next to this checkout")
    assert "](img/jacobian_modes.png)" in DOC.read_text(encoding="utf-8")
    assert (DOC.parent / "img" / "jacobian_modes.png").read_bytes()[:4] == b"\x89PNG"
