"""The attack suite's figures (counts, memory, timings) are printed after the run."""

from __future__ import annotations

from typing import Any

from attack_util import FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("plugrad attack figures")
    for key in sorted(FIGURES):
        terminalreporter.write_line(f"{key}: {FIGURES[key]}")
