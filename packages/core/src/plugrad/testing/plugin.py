"""pytest plugin (entry point ``plugrad`` of group ``pytest11``): the ``--plugrad-backend`` option.

It only adds the option; it imports no backend and changes nothing unless a test asks
for it. Run the conformance suite against an installed backend with::

    pytest --pyargs plugrad.testing.conformance --plugrad-backend NAME

or subclass :class:`plugrad.testing.conformance.BackendConformance` in the backend's
own tests (see ``docs/writing-a-backend.md``).
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
