"""``python -m plugrad new-backend`` / ``new-override`` write packages that build, install and pass.

The fast tests generate both kinds of package and build their wheels with hatchling
(entry points, src layout). The slow ones (``PLUGRAD_SCAFFOLD=1``, run by ``nox -s
scaffold``) install each generated package into a fresh virtual environment beside
plugrad-core (and NumPy's backend for the override) and run its generated tests: the
conformance suite on ``array_api_strict`` and on NumPy under another backend name, and the
override package's suite on the NumPy backend.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from plugrad.__main__ import main

ROOT = Path(__file__).resolve().parents[3]
SLOW = pytest.mark.skipif(
    os.environ.get("PLUGRAD_SCAFFOLD", "") in ("", "0"),
    reason="installs generated packages into fresh environments: PLUGRAD_SCAFFOLD=1 (nox -s scaffold)",
)


def _wheel(pkg: Path, out: Path) -> zipfile.ZipFile:
    proc = subprocess.run(  # hatchling itself, as a build frontend would call it (uv-made environments have no pip)
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        capture_output=True,
        text=True,
        cwd=pkg,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [whl] = out.glob("*.whl")
    return zipfile.ZipFile(whl)


def test_new_backend_writes_a_package_that_builds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("hatchling", reason="building the generated package needs hatchling")
    assert main(["new-backend", "npalt", "--namespace", "numpy", "--output", str(tmp_path)]) == 0
    pkg = tmp_path / "plugrad-backend-npalt"
    assert "pip install" in capsys.readouterr().out
    for rel in (
        "pyproject.toml",
        "README.md",
        "noxfile.py",
        "src/plugrad_npalt/plugin.py",
        "tests/test_npalt_conformance.py",
    ):
        assert (pkg / rel).is_file(), rel
    plugin = (pkg / "src/plugrad_npalt/plugin.py").read_text()
    assert "from plugrad.plugins import" in plugin and "array_api.kernels_from_namespace(xp)" in plugin
    with _wheel(pkg, tmp_path / "dist") as zf:
        names = zf.namelist()
        assert "plugrad_npalt/plugin.py" in names
        [ep] = [n for n in names if n.endswith("entry_points.txt")]
        assert "[plugrad]\nnpalt = plugrad_npalt.plugin" in zf.read(ep).decode()
    # a second run does not overwrite the author's work
    assert main(["new-backend", "npalt", "--namespace", "numpy", "--output", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_new_override_writes_a_package_that_builds(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="building the generated package needs hatchling")
    assert main(["new-override", "fastadd", "--backend", "numpy", "--kernel", "add", "--output", str(tmp_path)]) == 0
    pkg = tmp_path / "plugrad-kernels-fastadd"
    assert "plugrad-backend-numpy" in (pkg / "pyproject.toml").read_text()
    with _wheel(pkg, tmp_path / "dist") as zf:
        [ep] = [n for n in zf.namelist() if n.endswith("entry_points.txt")]
        assert "fastadd = plugrad_kernels_fastadd.plugin" in zf.read(ep).decode()


@pytest.mark.parametrize(
    "argv,problem",
    [
        (["new-backend", "cpu", "--namespace", "numpy"], "reserved"),
        (["new-backend", "My-Lib", "--namespace", "numpy"], "lowercase Python identifier"),
        (["new-backend", "ok", "--namespace", "not a module"], "is not a module name"),
        (["new-override", "x", "--backend", "numpy", "--kernel", "nosuch"], "unknown kernels 'nosuch'"),
        (["new-override", "x", "--backend", "numpy", "--kernel", "add", "--priority", "0"], "must be positive"),
    ],
)
def test_bad_arguments_are_named(
    argv: list[str], problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--output", str(tmp_path)]) == 2
    assert problem in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------ installed into fresh environments
def _venv(where: Path, *requirements: str) -> Path:
    """A virtual environment with ``requirements`` installed (uv when it is on PATH: much faster)."""
    uv = shutil.which("uv")
    if uv:
        subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(where)], check=True, timeout=300)
        py = where / "bin" / "python"
        cmd = [uv, "pip", "install", "-q", "--python", str(py), *requirements]
    else:
        venv.create(where, with_pip=True)
        py = where / "bin" / "python"
        cmd = [str(py), "-m", "pip", "install", "-q", *requirements]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return py


def _run_generated_tests(py: Path, pkg: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGRAD_")}
    proc = subprocess.run(
        [str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", str(pkg / "tests")],
        capture_output=True,
        text=True,
        cwd=pkg,
        env=env,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    return proc.stdout


@SLOW
@pytest.mark.parametrize(
    "name,namespace,extra", [("strict", "array_api_strict", "array-api-strict"), ("npalt", "numpy", "numpy")]
)
def test_generated_backend_installs_and_passes_the_suite(name: str, namespace: str, extra: str, tmp_path: Path) -> None:
    pytest.importorskip(namespace)  # the generator reads the namespace's distribution from this environment
    assert main(["new-backend", name, "--namespace", namespace, "--output", str(tmp_path)]) == 0
    pkg = tmp_path / f"plugrad-backend-{name}"
    py = _venv(tmp_path / "venv", str(ROOT / "packages/core"), str(pkg), extra, "pytest>=7")
    out = _run_generated_tests(py, pkg)
    assert " passed" in out and "failed" not in out
    info = subprocess.run([str(py), "-m", "plugrad", "info"], capture_output=True, text=True, timeout=120).stdout
    assert f"plugrad-backend-{name} 0.1.0" in info


@SLOW
def test_generated_override_installs_and_passes_the_suite(tmp_path: Path) -> None:
    assert main(["new-override", "fastadd", "--backend", "numpy", "--kernel", "add", "--output", str(tmp_path)]) == 0
    pkg = tmp_path / "plugrad-kernels-fastadd"
    py = _venv(
        tmp_path / "venv", str(ROOT / "packages/core"), str(ROOT / "packages/backend-numpy"), str(pkg), "pytest>=7"
    )
    out = _run_generated_tests(py, pkg)
    assert " passed" in out and "failed" not in out
    info = subprocess.run([str(py), "-m", "plugrad", "info"], capture_output=True, text=True, timeout=120).stdout
    assert "plugrad-kernels-fastadd 0.1.0" in info and "overrides numpy.add (priority 10)" in info
