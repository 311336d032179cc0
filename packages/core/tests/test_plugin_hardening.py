"""Holes a plugin author falls into (issue 14), each closed with a test.

- the conformance suite cannot pass by skipping: a missing, broken or rejected backend
  fails the run naming why; only a backend that declares itself unavailable here skips,
  and ``--plugrad-require-available`` makes that a failure too;
- ``expected_failures`` entries that match no test fail the run naming the entry; a listed
  test that passes says "unexpectedly passed, remove the entry";
- override ties follow one rule at discovery and in ``add_plugin``;
- ``plugrad.tensor`` asks the backend for the dtype of its own arrays; a zero-copy wrap;
- ``PLUGRAD_BACKEND`` does not rebind ``"cpu"``; ``info`` shows every plugin's distribution.

The conformance runs are pytest in a fresh interpreter on a generated test file, each
restricted with ``-k`` to a test or two, so the whole module takes a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plugrad
import pytest
from plugrad.backends import (
    CONTRACT_VERSION,
    BackendError,
    BackendSpec,
    KernelOverride,
    PluginWarning,
    Registry,
    get_backend,
    get_registry,
    hookimpl,
)


def run_pytest(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in a fresh interpreter on ``source`` written to ``tmp_path/test_generated_suite.py``."""
    (tmp_path / "test_generated_suite.py").write_text(textwrap.dedent(source))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGRAD_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEsxX", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )


_SUITES = """
from plugrad.backends import CONTRACT_VERSION, BackendSpec, get_backend, get_registry, hookimpl
from plugrad.testing.conformance import BackendConformance

np_spec = get_backend("numpy").spec
kernels = {k: v for k, v in np_spec.kernels.items() if k != "matmul"}


class Plugin:
    @hookimpl
    def plugrad_backends(self):
        return [
            BackendSpec("halfdone", "cpu", CONTRACT_VERSION, kernels, np_spec.dtypes, priority=-5),
            BackendSpec("gpulib", "cuda", CONTRACT_VERSION, unavailable_reason="no CUDA device: driver not found"),
            BackendSpec("twinnp", "cpu", CONTRACT_VERSION, np_spec.kernels, np_spec.dtypes, priority=-5),
        ]


get_registry().add_plugin(Plugin(), "hardening-plugin")


class TestMisspelled(BackendConformance):
    backend_name = "nosuch"


class TestRejected(BackendConformance):
    backend_name = "halfdone"


class TestNoGPU(BackendConformance):
    backend_name = "gpulib"


class TestStaleEntries(BackendConformance):
    backend_name = "twinnp"
    expected_failures = {
        "test_flip_roll_tile": "listed, but the kernels are right",
        "test_does_not_exist": "a typo",
        "test_unary[sin-float99]": "no such parameter",
    }
"""


def test_suite_fails_for_missing_or_rejected_backend_and_skips_unavailable(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, _SUITES, "-k", "test_record or flip_roll", "test_generated_suite.py")
    out = proc.stdout
    assert proc.returncode == 1, out
    # misspelled: an error naming the backend and the known ones, never a skip
    assert "ERROR test_generated_suite.py::TestMisspelled::test_record" in out
    assert "plugrad backend 'nosuch' is not installed" in out and "'numpy'" in out
    # rejected record: an error quoting the reason
    assert "ERROR test_generated_suite.py::TestRejected::test_record" in out
    assert "'halfdone' was rejected" in out and "missing required kernels: matmul" in out
    # declared unavailable here: a skip with the backend's own reason
    assert "SKIPPED" in out and "'gpulib' is not available here: no CUDA device: driver not found" in out
    assert "TestNoGPU::test_record" not in out.split("short test summary")[1].split("SKIPPED")[0]
    # expected_failures: stale entries named, a passing listed test told to go
    assert "TestStaleEntries.expected_failures names 'test_does_not_exist'" in out
    assert "'test_unary[sin-float99]'" in out
    assert "matches no test" in out
    assert "unexpectedly passed" in out and "remove the entry 'test_flip_roll_tile'" in out


def test_require_available_turns_the_skip_into_a_failure(tmp_path: Path) -> None:
    proc = run_pytest(
        tmp_path, _SUITES, "-k", "TestNoGPU and test_record", "--plugrad-require-available", "test_generated_suite.py"
    )
    assert proc.returncode == 1, proc.stdout
    assert "ERROR test_generated_suite.py::TestNoGPU::test_record" in proc.stdout
    assert "--plugrad-require-available" in proc.stdout and "no CUDA device" in proc.stdout


def test_pyargs_run_with_misspelled_backend_fails(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGRAD_")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "plugrad.testing.conformance"]
        + ["--plugrad-backend", "nosuch", "-k", "test_record"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout
    assert "plugrad backend 'nosuch' is not installed" in proc.stdout
    # and without any backend named, the run does not pass either
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "plugrad.testing.conformance"]
        + ["-k", "test_record"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1 and "--plugrad-backend NAME" in proc.stdout, proc.stdout
