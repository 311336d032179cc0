"""plugrad's pytest plugin (entry point ``plugrad`` of group ``pytest11``).

A top-level module on purpose: pytest loads every ``pytest11`` plugin at start-up, and
a module inside the ``plugrad`` package would import all of plugrad into every test run
of an environment that has plugrad-core installed. This one imports only pytest.

It adds, for the conformance suite (``docs/writing-a-backend.md``):

- ``--plugrad-backend NAME``: run the suite against an installed backend with
  ``pytest --pyargs plugrad.testing.conformance --plugrad-backend NAME``;
- ``--plugrad-require-available``: a backend that declares itself unavailable on this
  machine (``unavailable_reason``, e.g. no GPU) fails instead of skipping, for CI on the
  hardware the backend needs;
- ``expected_failures`` checking: each entry of a conformance class's
  ``expected_failures`` marks the tests it names ``xfail(strict=True)``; an entry that
  names no test of the class fails the run, naming the entry, and a listed test that
  passes is reported as "unexpectedly passed: remove the entry".
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

_PROBLEMS = pytest.StashKey[list[str]]()
_ENTRY = pytest.StashKey[tuple[str, str]]()


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("plugrad")
    group.addoption(
        "--plugrad-backend",
        action="store",
        default=None,
        metavar="NAME",
        help="plugrad backend that plugrad.testing.conformance.TestSelectedBackend checks (e.g. numpy, cupy)",
    )
    group.addoption(
        "--plugrad-require-available",
        action="store_true",
        default=False,
        help="fail (instead of skip) when a backend under test declares itself unavailable on this machine",
    )


def _conformance_class(item: Any) -> Any:
    cls = getattr(item, "cls", None)
    if cls is None or not isinstance(getattr(cls, "expected_failures", None), dict):
        return None
    # BackendConformance subclasses only (matched by name: this module never imports plugrad)
    if not any(c.__name__ == "BackendConformance" for c in cls.__mro__):
        return None
    return cls


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselect: the entries are checked against every test
def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    by_class: dict[Any, list[Any]] = {}
    for item in items:
        cls = _conformance_class(item)
        if cls is not None:
            by_class.setdefault(cls, []).append(item)
    problems: list[str] = []
    # with node ids on the command line (file::Class::test) only part of a class is collected
    partial = any("::" in str(a) for a in config.args)
    for cls, cls_items in by_class.items():
        entries: dict[str, str] = cls.expected_failures
        matched: set[str] = set()
        for item in cls_items:
            for key in (item.name, getattr(item, "originalname", item.name)):
                if key in entries:
                    item.add_marker(pytest.mark.xfail(reason=entries[key], strict=True))
                    item.stash[_ENTRY] = (cls.__name__, key)
                    matched.add(key)
                    break
        if partial:
            continue
        for key in sorted(set(entries) - matched):
            problems.append(
                f"{cls.__name__}.expected_failures names {key!r}, which matches no test of the class: "
                "correct or remove the entry (keys are test names like 'test_flip' or ids like 'test_unary[sin-float32]')"
            )
    config.stash[_PROBLEMS] = problems
    for p in problems:
        config.issue_config_time_warning(pytest.PytestConfigWarning(p), stacklevel=2)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Generator[None, Any, None]:
    outcome = yield
    rep = outcome.get_result()
    entry = item.stash.get(_ENTRY, None)
    if entry is not None and rep.when == "call" and rep.failed and str(rep.longrepr).startswith("[XPASS(strict)]"):
        cls, key = entry
        rep.longrepr = (
            f"[XPASS(strict)] {item.name} unexpectedly passed: remove the entry {key!r} from {cls}.expected_failures"
        )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    problems = config.stash.get(_PROBLEMS, [])
    if problems:
        terminalreporter.section("plugrad conformance: expected_failures", sep="=", red=True)
        for p in problems:
            terminalreporter.line(p)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if session.config.stash.get(_PROBLEMS, []) and exitstatus == 0:
        session.exitstatus = 1
