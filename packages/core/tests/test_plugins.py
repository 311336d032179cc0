"""Plugins as users meet them: entry points, broken plugin distributions, autoload control,
``plugrad info``, core without NumPy, and the conformance suite catching broken kernels.

The broken plugins are real distributions (``*.dist-info`` folders with entry points)
in a temporary folder put on ``PYTHONPATH`` of a fresh interpreter, so discovery runs
through ``importlib.metadata`` exactly as after ``pip install``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plugrad
import pytest
from plugrad.__main__ import main
from plugrad.backends import (
    CONTRACT_VERSION,
    BackendError,
    BackendSpec,
    KernelOverride,
    PluginWarning,
    Registry,
    get_backend,
    hookimpl,
)
from plugrad.backends import _registry as registry_module


def run_python(
    code: str, *, path: Sequence[Path] = (), env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGRAD_")}
    full_env["PYTHONPATH"] = os.pathsep.join([*map(str, path), full_env.get("PYTHONPATH", "")]).strip(os.pathsep)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


def make_distribution(root: Path, dist: str, entry_name: str, module: str, source: str) -> None:
    """A minimal installed distribution: ``<dist>-0.1.dist-info`` with one ``plugrad`` entry point."""
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[plugrad]\n{entry_name} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))


BROKEN = {
    "raises-at-import": (
        "fake_import_plugin",
        "raise ImportError('this plugin needs libfoo, which is not installed')\n",
        "import of 'fake_import_plugin' failed: ImportError: this plugin needs libfoo",
    ),
    "raises-in-hook": (
        "fake_hook_plugin",
        """
        from plugrad.backends import hookimpl

        @hookimpl
        def plugrad_backends():
            raise RuntimeError('device probe crashed')
        """,
        "hook plugrad_backends raised RuntimeError: device probe crashed",
    ),
    "malformed-records": (
        "fake_malformed_plugin",
        """
        from plugrad.backends import hookimpl

        @hookimpl
        def plugrad_backends():
            return ['not a BackendSpec']
        """,
        "plugrad_backends returned str instead of a BackendSpec",
    ),
    "missing-kernels": (
        "fake_missing_plugin",
        """
        from plugrad.backends import CONTRACT_VERSION, BackendSpec, hookimpl
        from plugrad_numpy.kernels import DTYPES, KERNELS

        @hookimpl
        def plugrad_backends():
            kernels = {k: v for k, v in KERNELS.items() if k not in ('matmul', 'tolist')}
            return [BackendSpec('halfdone', 'cpu', CONTRACT_VERSION, kernels, DTYPES)]
        """,
        "backend 'halfdone' is missing required kernels: matmul, tolist",
    ),
    "old-contract": (
        "fake_old_plugin",
        """
        from plugrad.backends import BackendSpec, hookimpl
        from plugrad_numpy.kernels import DTYPES, KERNELS

        @hookimpl
        def plugrad_backends():
            return [BackendSpec('ancient', 'cpu', '0.1', KERNELS, DTYPES)]
        """,
        "backend 'ancient' was written for backend contract 0.1, but this plugrad-core implements contract 1.3",
    ),
}


@pytest.fixture(scope="module")
def broken_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    for name, (module, source, _) in BROKEN.items():
        make_distribution(root, f"plugrad-fake-{name}", name.replace("-", "_"), module, source)
    return root


def test_broken_plugin_distributions_are_reported_and_others_keep_working(broken_env: Path) -> None:
    proc = run_python(
        """
        import warnings
        import plugrad
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t = plugrad.tensor([1.0, 2.0]) * 2
        print("RESULT", t.tolist(), t.device)
        for w in caught:
            print("WARNING", w.category.__name__, w.message)
        """,
        path=[broken_env],
    )
    assert proc.returncode == 0, proc.stderr
    assert "RESULT [2.0, 4.0] cpu" in proc.stdout
    for name, (_, _, problem) in BROKEN.items():
        entry = name.replace("-", "_")
        assert f"WARNING PluginWarning plugrad plugin '{entry}' was skipped: " in proc.stdout, proc.stdout
        assert problem in proc.stdout, (problem, proc.stdout)


def test_info_lists_failed_plugins(broken_env: Path) -> None:
    proc = run_python("import sys; from plugrad.__main__ import main; sys.exit(main(['info']))", path=[broken_env])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "plugins that failed to load or register:" in out
    for name, (_, _, problem) in BROKEN.items():
        assert f"  {name.replace('-', '_')}: " in out and problem in out
    assert "default backend: numpy" in out
    assert proc.stderr == ""  # problems are in the report, not printed as warnings


def test_console_script_and_module_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "plugrad", "info"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "plugrad-core" in proc.stdout and "numpy" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "plugrad", "info", "--json"], capture_output=True, text=True, timeout=120
    )
    data = json.loads(proc.stdout)
    assert data["default_backend"] == "numpy" and data["devices"]["cpu"] == "numpy"


# ------------------------------------------------------------------ autoload
def test_autoload_disabled_loads_only_named_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGRAD_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("PLUGRAD_PLUGINS", raising=False)
    reg = Registry()
    with pytest.raises(
        BackendError,
        match=r"PLUGRAD_DISABLE_PLUGIN_AUTOLOAD=1 loads only the plugins named in PLUGRAD_PLUGINS .*PLUGRAD_PLUGINS=numpy",
    ):
        reg.default()
    with pytest.raises(
        BackendError,
        match="installed but was not loaded because PLUGRAD_DISABLE_PLUGIN_AUTOLOAD=1; name it to load it: PLUGRAD_PLUGINS=numpy",
    ):
        reg.get("numpy")
    assert "numpy" in reg.skipped_entry_points

    monkeypatch.setenv("PLUGRAD_PLUGINS", "numpy")
    reg = Registry()
    assert reg.default().name == "numpy"


def test_autoload_disabled_warns_about_unknown_named_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGRAD_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PLUGRAD_PLUGINS", "numpy, nosuchplugin")
    reg = Registry()
    with pytest.warns(
        PluginWarning,
        match="PLUGRAD_PLUGINS names 'nosuchplugin', but no installed distribution has an entry point of that name",
    ):
        reg.ensure_loaded()
    assert reg.get("numpy").name == "numpy"


def test_autoload_zero_means_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGRAD_DISABLE_PLUGIN_AUTOLOAD", "0")
    assert Registry().default().name == "numpy"


def test_entry_point_that_fails_to_import_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from importlib import metadata

    (tmp_path / "explodes_on_import.py").write_text("raise SyntaxError('oops')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    real = registry_module._entry_points()
    fake = metadata.EntryPoint(name="explodes", value="explodes_on_import", group="plugrad")
    monkeypatch.setattr(registry_module, "_entry_points", lambda: [*real, fake])
    reg = Registry()
    with pytest.warns(
        PluginWarning, match="'explodes' was skipped: import of 'explodes_on_import' failed: SyntaxError: oops"
    ):
        reg.ensure_loaded()
    assert reg.get("numpy").name == "numpy"
    with pytest.raises(BackendError, match="plugrad plugin 'explodes' failed to load: import of"):
        reg.get("explodes")


# ------------------------------------------------------------------ info
class _Plugins:
    def __init__(self) -> None:
        self.base = get_backend("numpy").spec  # before the test swaps the process-wide registry

    @hookimpl
    def plugrad_backends(self) -> Sequence[BackendSpec]:
        base = self.base
        return [
            BackendSpec(
                "mainlib", "cpu", CONTRACT_VERSION, base.kernels, base.dtypes, priority=3, version="mainlib 9.9"
            ),
            BackendSpec(
                "gpulib", "cuda", CONTRACT_VERSION, unavailable_reason="no CUDA device: driver not found", version=""
            ),
        ]


class _Faster:
    @hookimpl
    def plugrad_kernel_overrides(self, backend: BackendSpec) -> Sequence[KernelOverride]:
        return [KernelOverride("exp", abs, 4)] if backend.name == "mainlib" else []


class _Broken:
    @hookimpl
    def plugrad_backends(self) -> Sequence[BackendSpec]:
        raise OSError("cannot open device")


def test_info_reports_everything(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    reg = Registry(autoload=False)
    reg.register_plugin(_Plugins(), "mainplugin")
    reg.register_plugin(_Faster(), "fastexp")
    reg.register_plugin(_Broken(), "brokenprobe")
    monkeypatch.setattr(registry_module, "_registry", reg)
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"plugrad-core {plugrad.__version__} (backend contract {CONTRACT_VERSION})" in out
    assert "mainlib  cpu     yes" in out and "mainlib 9.9" in out
    assert "gpulib   cuda    no: no CUDA device: driver not found" in out
    assert "default backend: mainlib (best CPU backend)" in out
    assert "device 'cpu': mainlib" in out
    assert (
        "device 'cuda': unavailable: no available plugrad backend for device 'cuda' (gpulib: no CUDA device: driver not found)"
        in out
    )
    assert "brokenprobe: hook plugrad_backends raised OSError: cannot open device" in out
    assert "mainlib.exp <- plugin fastexp (priority 4)" in out
    assert main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["overrides"] == [{"backend": "mainlib", "kernel": "exp", "plugin": "fastexp", "priority": 4}]
    [gpu] = [b for b in data["backends"] if b["name"] == "gpulib"]
    assert gpu["available"] is False and gpu["reason"] == "no CUDA device: driver not found"
    assert main(["info", "--kernels"]) == 0
    assert "  exp: fastexp" in capsys.readouterr().out


def test_plugin_asking_for_a_backend_while_registering_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    class Impatient:
        @hookimpl
        def plugrad_backends(self) -> Sequence[BackendSpec]:
            plugrad.zeros(1)  # needs the registry that is being built
            return []

    reg = Registry(autoload=False)
    reg.register_plugin(Impatient(), "impatient")
    monkeypatch.setattr(registry_module, "_registry", reg)
    with pytest.warns(
        PluginWarning,
        match="'impatient' was skipped: hook plugrad_backends raised BackendError: plugrad backends are being registered",
    ):
        reg.ensure_loaded()


def test_info_without_any_backend(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(registry_module, "_registry", Registry(autoload=False))
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "backends: none found" in out
    assert (
        "default backend: none: no plugrad backend is installed; install one, for example `pip install plugrad-backend-numpy`"
        in out
    )


# ------------------------------------------------------------------ core without numpy
_BLOCK_NUMPY = """
import sys

class BlockNumpy:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" or name.startswith("numpy."):
            raise ImportError("numpy is blocked in this test")
        return None

sys.meta_path.insert(0, BlockNumpy())
"""


def test_core_never_imports_numpy() -> None:
    proc = run_python(
        _BLOCK_NUMPY
        + """
import warnings
import plugrad
from plugrad import _tensor_str
from plugrad.backends import CONTRACT_VERSION, REQUIRED_KERNELS, BackendSpec, Registry, hookimpl

assert plugrad.promote_types(plugrad.int32, plugrad.float32) is plugrad.float32
assert plugrad.float64.itemsize == 8 and plugrad.get_default_dtype() is plugrad.float32
assert plugrad.Size([2, 3]).numel() == 6
assert plugrad.device("cuda:0").index == 0 and str(plugrad.device("cpu")) == "cpu"
plugrad.set_printoptions(precision=4)

class ListView:  # the formatter needs shape, tolist, [] and a kind
    def __init__(self, values):
        self.values = values
        self.dtype_kind = "float"
    @property
    def shape(self):
        return (len(self.values),)
    def tolist(self):
        return self.values
    def __getitem__(self, k):
        return ListView(self.values[k])

print("FORMAT", _tensor_str.format_tensor(ListView([1.0, 2.5]), prefix="tensor(", suffixes=[]))

class Fake:
    @hookimpl
    def plugrad_backends(self):
        stub = lambda *a, **k: None
        return [BackendSpec("fake", "cpu", CONTRACT_VERSION, {k: stub for k in REQUIRED_KERNELS},
                            {"bool": "b", "int64": "q", "float32": "f"})]

reg = Registry(autoload=False)
reg.register_plugin(Fake(), "fake")
assert reg.get("fake").device_type == "cpu" and reg.default().name == "fake"

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        plugrad.zeros(2)
    except RuntimeError as exc:
        print("ERROR", exc)
print("WARNINGS", [str(w.message) for w in caught])
print("NUMPY IMPORTED", "numpy" in sys.modules)
""",
    )
    assert proc.returncode == 0, proc.stderr
    assert "FORMAT tensor([1.0000, 2.5000])" in proc.stdout
    assert "NUMPY IMPORTED False" in proc.stdout
    # the numpy backend's plugin cannot import numpy: reported by name, and creation says why
    assert "ERROR no plugrad backend is available (" in proc.stdout
    assert (
        "plugins that failed to load: numpy: import of 'plugrad_numpy.plugin' failed: ImportError: numpy is blocked"
        in proc.stdout
    )
    assert "plugrad plugin 'numpy' was skipped" in proc.stdout


def test_core_alone_says_no_backend_is_installed() -> None:
    proc = run_python(
        """
import plugrad
from plugrad.backends import _registry
_registry._entry_points = lambda: []  # as if no backend distribution were installed
try:
    plugrad.tensor([1.0])
except RuntimeError as exc:
    print("ERROR", exc)
""",
    )
    assert (
        "ERROR no plugrad backend is installed; install one, for example `pip install plugrad-backend-numpy`"
        in proc.stdout
    ), proc.stderr


# ------------------------------------------------------------------ the conformance suite can fail
_BROKEN_SUITE = """
import numpy as np
from plugrad.backends import CONTRACT_VERSION, BackendSpec, get_registry, hookimpl
from plugrad.testing.conformance import BackendConformance
from plugrad_numpy.kernels import DTYPES, KERNELS

bad = dict(KERNELS)
bad["add"] = KERNELS["subtract"]                                  # wrong values
bad["tolist"] = lambda x: x.tolist() if x.ndim else [x.tolist()]  # 0-d gives a list
bad["sum"] = lambda x, axis=None, keepdims=False: KERNELS["sum"](x, axis, False)  # ignores keepdims
bad["getitem"] = lambda x, key: x[key] if not all(isinstance(k, int) for k in key) else np.array(x[key])  # copies
bad["astype"] = lambda x, dtype: x.astype(dtype, copy=False)      # no copy when the dtype is the same


class Plugin:
    @hookimpl
    def plugrad_backends(self):
        return [
            BackendSpec("brokennp", "cpu", CONTRACT_VERSION, bad, DTYPES, capabilities=frozenset({"views"}), priority=-5),
            BackendSpec("gonelib", "cuda", CONTRACT_VERSION, unavailable_reason="gonelib not installed"),
        ]


get_registry().add_plugin(Plugin(), "broken-suite-plugin")


class TestBroken(BackendConformance):
    backend_name = "brokennp"
    expected_failures = {"test_flip_roll_tile": "declared broken, but it works"}


class TestGone(BackendConformance):
    backend_name = "gonelib"
"""


def test_conformance_suite_catches_broken_kernels(tmp_path: Path) -> None:
    (tmp_path / "test_broken_suite.py").write_text(_BROKEN_SUITE)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rfEsX",
            "-k",
            "binary and add- or tolist or test_reduction or views_share or astype or flip_roll or test_record",
            str(tmp_path / "test_broken_suite.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "FAILED test_broken_suite.py::TestBroken::test_binary[" in out and "add-float32" in out
    assert "FAILED test_broken_suite.py::TestBroken::test_tolist[" in out
    assert "FAILED test_broken_suite.py::TestBroken::test_reduction[sum-float32-True-(0,)]" in out
    assert "FAILED test_broken_suite.py::TestBroken::test_views_share_memory[getitem]" in out
    assert "FAILED test_broken_suite.py::TestBroken::test_astype[" in out
    assert "test_flip_roll_tile unexpectedly passed: remove the entry 'test_flip_roll_tile'" in out
    assert "gonelib' is not available here: gonelib not installed" in out
    assert "TestBroken::test_record" not in out  # the record itself is fine


def test_the_suite_passes_where_the_kernels_are_right() -> None:
    """Control for the test above: the same selection on the real NumPy backend passes."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--pyargs",
            "plugrad.testing.conformance",
            "--plugrad-backend",
            "numpy",
            "-k",
            "binary and add- or tolist or test_reduction or views_share or astype or flip_roll or test_record",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def _unused(*_: Any) -> None:  # keep the imports used by type checkers honest
    pass
