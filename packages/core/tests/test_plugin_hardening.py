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
from plugrad.plugins import (
    CONTRACT_VERSION,
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
from plugrad.plugins import CONTRACT_VERSION, BackendSpec, get_backend, get_registry, hookimpl
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


# ------------------------------------------------------------------ override ties: one rule
class _Backends:
    def __init__(self, *specs: BackendSpec) -> None:
        self.specs = list(specs)

    @hookimpl
    def plugrad_backends(self) -> Sequence[BackendSpec]:
        return self.specs


class _Overrides:
    def __init__(self, target: str, *records: KernelOverride) -> None:
        self.target, self.records = target, list(records)

    @hookimpl
    def plugrad_kernel_overrides(self, backend: BackendSpec) -> Sequence[KernelOverride]:
        return self.records if backend.name == self.target else []


def _spec(name: str, priority: int = 0) -> BackendSpec:
    base = get_backend("numpy").spec
    return BackendSpec(name, "cpu", CONTRACT_VERSION, base.kernels, base.dtypes, priority=priority, version="t 1")


def _add_a(x: Any, y: Any) -> str:
    return "a"


def _add_b(x: Any, y: Any) -> str:
    return "b"


def _add_c(x: Any, y: Any) -> str:
    return "c"


def _registry(*plugins: tuple[str, object]) -> Registry:
    reg = Registry(autoload=False)
    for name, plugin in plugins:
        reg.register_plugin(plugin, name)
    reg.ensure_loaded()
    return reg


def test_tie_at_discovery_keeps_the_backend_and_names_both_plugins() -> None:
    with pytest.warns(PluginWarning) as rec:
        reg = _registry(
            ("base", _Backends(_spec("base", priority=10), _spec("spare", priority=1))),
            ("p1", _Overrides("base", KernelOverride("add", _add_a, 3))),
            ("p2", _Overrides("base", KernelOverride("add", _add_b, 3))),
        )
    msgs = [str(w.message) for w in rec]
    assert len(msgs) == 1, msgs
    msg = msgs[0]
    assert "'p1'" in msg and "'p2'" in msg and "kernel 'add' of backend 'base'" in msg and "priority 3" in msg
    assert "PLUGRAD_PLUGINS" in msg and "uninstall" in msg  # how to resolve it
    assert "was skipped" not in msg  # nobody is blamed as broken
    be = reg.get("base")  # the victim stays available, and stays the default
    assert be.add is get_backend("numpy").spec.kernels["add"] and be.kernel_sources["add"] == "base"
    assert reg.default() is be
    assert "base" not in reg.failed_plugins and reg.conflicts == [msg]


def test_tie_below_a_higher_override_is_no_conflict_and_lower_one_stands_in() -> None:
    with pytest.warns(PluginWarning, match="'p1' and 'p2'"):
        reg = _registry(
            ("base", _Backends(_spec("base"))),
            ("p1", _Overrides("base", KernelOverride("add", _add_a, 3))),
            ("p2", _Overrides("base", KernelOverride("add", _add_b, 3))),
            ("p3", _Overrides("base", KernelOverride("add", _add_c, 1))),
        )
    assert reg.get("base").add(1, 2) == "c"  # the tied pair is set aside, the next one down is used
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg2 = _registry(
            ("base", _Backends(_spec("base"))),
            ("p1", _Overrides("base", KernelOverride("add", _add_a, 3))),
            ("p2", _Overrides("base", KernelOverride("add", _add_b, 3))),
            ("p3", _Overrides("base", KernelOverride("add", _add_c, 7))),
        )
    assert reg2.get("base").add(1, 2) == "c" and reg2.conflicts == []


def test_tie_through_add_plugin_follows_the_same_rule() -> None:
    reg = _registry(("base", _Backends(_spec("base"))))
    be = reg.get("base")
    reg.add_plugin(_Overrides("base", KernelOverride("add", _add_a, 2)), "late")
    assert be.add(1, 2) == "a"
    with pytest.warns(PluginWarning, match=r"'late' and 'tie' both override kernel 'add' of backend 'base'"):
        reg.add_plugin(_Overrides("base", KernelOverride("add", _add_b, 2)), "tie")
    # same outcome as if both had been installed: the plugin is in, neither tied kernel is used
    assert reg.pm.has_plugin("tie") and reg.get("base") is be
    assert be.add is get_backend("numpy").spec.kernels["add"]
    reg.remove_plugin("tie")  # resolving the tie brings the other override back
    assert be.add(1, 2) == "a" and reg.conflicts == []


# ------------------------------------------------------------------ info: every plugin's provenance
_FASTADD = """
from plugrad.plugins import KernelOverride, hookimpl

def add(x1, x2):
    return x1 + x2

@hookimpl
def plugrad_kernel_overrides(backend):
    return [KernelOverride("add", add, 5)] if backend.name == "numpy" else []
"""

_BROKEN = "raise ImportError('needs libfoo')\n"


def _distribution(root: Path, dist: str, version: str, entry: str, module: str, source: str) -> None:
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[plugrad]\n{entry} = {module}\n")
    (root / f"{module}.py").write_text(source)


def test_info_shows_distribution_and_registrations_of_every_plugin(tmp_path: Path) -> None:
    _distribution(tmp_path, "plugrad-override-fastadd", "2.3.1", "fastadd", "fastadd_plugin", _FASTADD)
    _distribution(tmp_path, "plugrad-backend-broken", "0.4", "broken", "broken_plugin", _BROKEN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGRAD_")}
    env["PYTHONPATH"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "plugrad", "info"], capture_output=True, text=True, env=env, timeout=120
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    plugins = out.split("plugins:\n", 1)[1]
    lines = {ln.split()[0]: ln for ln in plugins.splitlines() if ln.startswith("  ") and ln.split()}
    assert "plugrad-override-fastadd 2.3.1" in lines["fastadd"]
    assert "overrides numpy.add (priority 5)" in lines["fastadd"]
    assert "plugrad-backend-numpy" in lines["numpy"] and "backend numpy" in lines["numpy"]
    assert "plugrad-backend-broken 0.4" in lines["broken"]
    assert "skipped: import of 'broken_plugin' failed: ImportError: needs libfoo" in lines["broken"]


# ------------------------------------------------------------------ PLUGRAD_BACKEND does not rebind "cpu"
_TWIN = """
from plugrad.plugins import CONTRACT_VERSION, BackendSpec, hookimpl
import plugrad_numpy.kernels as k

@hookimpl
def plugrad_backends():
    return [BackendSpec("twinnp", "cpu", CONTRACT_VERSION, k.KERNELS, k.DTYPES, priority=-5, version="twin 1")]
"""


def test_plugrad_backend_sets_the_default_but_cpu_stays_the_cpu_backend(tmp_path: Path) -> None:
    _distribution(tmp_path, "plugrad-backend-twinnp", "1.0", "twinnp", "twinnp_plugin", _TWIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGRAD_")}
    env.update(PYTHONPATH=str(tmp_path), PLUGRAD_BACKEND="twinnp")
    code = textwrap.dedent(
        """
        import plugrad
        a = plugrad.ones(2)
        b = plugrad.ones(2, device="cpu")
        print(a._backend.name, repr(a.device), repr(a))
        print(b._backend.name, repr(b.device), repr(b))
        print(plugrad.get_default_device())
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    first, second, default = proc.stdout.splitlines()
    assert first == "twinnp device(type='twinnp') tensor([1., 1.], device='twinnp')"
    assert second == "numpy device(type='cpu') tensor([1., 1.])"
    assert default == "twinnp"
    info = subprocess.run([sys.executable, "-m", "plugrad", "info"], capture_output=True, text=True, env=env)
    assert "default backend: twinnp (PLUGRAD_BACKEND=twinnp)" in info.stdout
    assert "device 'cpu': numpy" in info.stdout


# ------------------------------------------------------------------ arrays of a backend's own library
@pytest.fixture()
def arraystrict() -> Any:
    """The example array-api-strict backend, registered for one test (its arrays' dtypes print as
    ``array_api_strict.float32``: plugrad must ask the backend, not guess from the name)."""
    xp = pytest.importorskip("array_api_strict")
    import importlib

    src = str(Path(__file__).resolve().parents[3] / "examples" / "third_party_backend" / "src")
    sys.path.insert(0, src)
    try:
        plugin = importlib.import_module("plugrad_arraystrict.plugin")
    finally:
        sys.path.remove(src)
    reg = get_registry()
    reg.add_plugin(plugin, "hardening-arraystrict")
    try:
        yield xp
    finally:
        reg.remove_plugin("hardening-arraystrict")


def test_tensor_from_the_backends_own_array_asks_the_backend_for_the_dtype(arraystrict: Any) -> None:
    xp = arraystrict
    for xdt, dt in ((xp.float32, plugrad.float32), (xp.int64, plugrad.int64), (xp.bool, plugrad.bool)):
        x = xp.asarray([1, 0, 1], dtype=xdt)
        t = plugrad.tensor(x, device="arraystrict")
        assert t.dtype is dt and t.device == plugrad.device("arraystrict") and t.tolist() == [1, 0, 1]


def test_as_tensor_and_from_dlpack_wrap_without_copy(arraystrict: Any) -> None:
    xp = arraystrict
    x = xp.asarray([1.0, 2.0, 3.0], dtype=xp.float32)
    t = plugrad.as_tensor(x)  # device=None: the backend whose array it is
    u = plugrad.from_dlpack(x, device="arraystrict")
    assert t._data is x and t.device == plugrad.device("arraystrict")
    x[0] = 7.0
    assert t.tolist()[0] == 7.0 and u.tolist()[0] == 7.0
    # a NumPy array does not belong to arraystrict: as_tensor copies it there, as tensor() does
    n = plugrad.ones(3)
    assert plugrad.as_tensor(n, device="arraystrict").tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(TypeError, match="invalid combination|must be a plugrad.dtype"):
        plugrad.as_tensor(x, dtype="float32")


# ------------------------------------------------------------------ small ones
def test_dtype_support_is_the_dtype_table_not_a_capability() -> None:
    from plugrad import _dtype

    reg = get_registry()
    reg.ensure_loaded()
    assert reg.backends
    for be in reg.backends.values():
        assert not set(be.capabilities) & set(_dtype.BY_NAME), (be.name, sorted(be.capabilities))


def test_library_version_convention_is_name_then_version() -> None:
    from importlib import metadata

    assert get_backend("numpy").spec.version == f"numpy {metadata.version('numpy')}"


def test_moves_between_backends_go_through_dlpack_when_both_have_it() -> None:
    base = get_backend("numpy").spec

    def no_bytes(*args: Any) -> Any:
        raise AssertionError("moved through bytes although both backends have DLPack")

    kernels = {**base.kernels, "to_bytes": no_bytes, "from_bytes": no_bytes}

    class Twin:
        @hookimpl
        def plugrad_backends(self) -> Sequence[BackendSpec]:
            return [
                BackendSpec(
                    "dlpacktwin",
                    "cpu",
                    CONTRACT_VERSION,
                    kernels,
                    base.dtypes,
                    capabilities=base.capabilities,
                    priority=-5,
                )
            ]

    reg = get_registry()
    reg.add_plugin(Twin(), "hardening-dlpacktwin")
    try:
        t = plugrad.tensor([1.0, 2.0])
        moved = t.to("dlpacktwin")
        assert moved.device == plugrad.device("dlpacktwin") and moved.tolist() == [1.0, 2.0]
        moved.add_(1.0)  # .to() gives its own memory, as PyTorch's does
        assert t.tolist() == [1.0, 2.0] and moved.to("cpu").tolist() == [2.0, 3.0]
    finally:
        reg.remove_plugin("hardening-dlpacktwin")
