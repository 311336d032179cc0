"""plugrad's pytest plugin (entry point ``plugrad`` of group ``pytest11``).

A top-level module on purpose: pytest loads every ``pytest11`` plugin at start-up, and
a module inside the ``plugrad`` package would import all of plugrad into every test run
of an environment that has plugrad-core installed. This one imports nothing.

It adds ``--plugrad-backend NAME``: run the conformance suite against an installed
backend with ``pytest --pyargs plugrad.testing.conformance --plugrad-backend NAME``
(see ``docs/writing-a-backend.md``).
"""

from __future__ import annotations

from typing import Any


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("plugrad")
    group.addoption(
        "--plugrad-backend",
        action="store",
        default=None,
        metavar="NAME",
        help="plugrad backend that plugrad.testing.conformance.TestSelectedBackend checks (e.g. numpy, cupy)",
    )
