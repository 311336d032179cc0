"""plugrad-core's test collection.

plugrad.compile's suite (``test_compile_api.py``, ``test_compile_fuzz.py``,
``test_compile_guards.py``) trains with plugrad-nn and plugrad-optim. Where they are not
installed (plugrad-core's own sessions) those modules are not collected and the report
header says so; ``nox -s compile`` installs both and sets ``PLUGRAD_COMPILE_SUITE=1``, under
which a missing package is an error, never a silent skip.
"""

from __future__ import annotations

import importlib.util
import os

_SUITE = ["test_compile_api.py", "test_compile_fuzz.py", "test_compile_guards.py"]
_MISSING = [name for name in ("plugrad.nn", "plugrad.optim") if importlib.util.find_spec(name) is None]

if _MISSING and os.environ.get("PLUGRAD_COMPILE_SUITE") == "1":
    raise ImportError(f"plugrad.compile's suite needs {', '.join(_MISSING)} (PLUGRAD_COMPILE_SUITE=1 is set)")

collect_ignore = _SUITE if _MISSING else []


def pytest_report_header() -> str | None:
    if _MISSING:
        return (
            f"plugrad.compile's suite ({', '.join(_SUITE)}) not collected: {', '.join(_MISSING)} not installed "
            "(nox -s compile runs it)"
        )
    return None
