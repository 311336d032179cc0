"""Test, lint and type-check every plugrad package, each in its own environment.

``nox`` runs the default sessions: the matrix (``matrix_core``, ``matrix_backend_numpy``,
``matrix_nn``, ``matrix_optim``: each package installed from this tree with what it
declares, on Python 3.10 to 3.13, at the oldest and the newest NumPy and pluggy its bounds
admit; ``nox -s matrix_core-3.10`` or ``nox -t matrix`` pick parts), ``lint``,
``typecheck`` and the rest of the list below. ``nox -s core`` (and ``backend_numpy``,
``nn``, ``optim``) is the quick one-Python run for daily work. Optional sessions run by
name: ``nox -s oracle`` (compare with PyTorch), ``nox -s bench`` (benchmarks),
``nox -s bench_compile`` (``plugrad.compile`` against NumPy, ``jax.jit``, ``torch.compile``),
``nox -s attack`` (the full attack suite, docs/reliability.md).
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = False
nox.options.sessions = [
    # every package on Python 3.10-3.13 at both ends of its numpy/pluggy ranges (the quick
    # single-Python sessions core, backend_numpy, nn, optim are for daily work)
    "matrix_core",
    "matrix_backend_numpy",
    "backend_cupy",
    "matrix_nn",
    "matrix_optim",
    "compile",
    "compile_numba",
    "examples",
    "third_party",
    "scaffold",
    "install_matrix",
    "distributed_quick",
    "docs",
    "lint",
    "typecheck",
]

CORE = "packages/core"
NUMPY = "packages/backend-numpy"
CUPY = "packages/backend-cupy"
NN = "packages/nn"
OPTIM = "packages/optim"
DIST = "packages/distributed"
NUMBA = "packages/compile-numba"
TEST_DEPS = ["pytest>=7", "hypothesis>=6"]
PYTEST = ["pytest", "-q", "-p", "no:cacheprovider"]


def _install(session: nox.Session, *paths: str) -> None:
    """Install local packages (as wheels, the way users get them) plus test tools."""
    session.install(*paths, *TEST_DEPS)


# ---------------------------------------------------------------------------- the matrix
#: Every package's tests run on each of these Pythons (pyenv provides them: .ci/run sets
#: PYENV_VERSION; elsewhere any python3.X on PATH does) and at both ends of the dependency
#: ranges the packages declare: "oldest" installs the lowest release that a lower bound
#: admits (``numpy>=`` of the NumPy backend, ``pluggy>=`` of core) with a wheel for that
#: Python, "newest" the highest. ``nox -s core`` stays the quick run on the current Python.
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DEPS = ["oldest", "newest"]


def _pyenv_pythons() -> None:
    """Where pyenv manages the interpreters and PYENV_VERSION is unset, expose one of each of
    PYTHONS (python3.10 ... python3.13 on PATH through pyenv's shims), the running one first."""
    import os
    import sys
    from pathlib import Path

    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    root = pyenv / "versions"
    if os.environ.get("PYENV_VERSION") or not root.is_dir():
        return
    shims = str(pyenv / "shims")
    if shims not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = shims + os.pathsep + os.environ.get("PATH", "")
    have = sorted((p.name for p in root.iterdir()), key=lambda v: [int(x) if x.isdigit() else 0 for x in v.split(".")])
    picked = []
    for minor in PYTHONS:
        matches = [v for v in have if v.startswith(minor + ".") and v[len(minor) + 1 :].isdigit()]
        if matches:
            picked.append(matches[-1])
    current = f"{sys.version_info[0]}.{sys.version_info[1]}."
    picked.sort(key=lambda v: not v.startswith(current))
    if picked:
        os.environ["PYENV_VERSION"] = ":".join(picked)


_pyenv_pythons()
#: package -> the dependencies whose lower bound the "oldest" runs pin
BOUNDED = {NUMPY: ["numpy", "ml_dtypes"], CORE: ["pluggy"]}


def _lower_bounds() -> list[str]:
    """``name>=X`` for each bounded dependency, read from the packages' pyproject.toml."""
    import re
    from pathlib import Path

    found = []
    for pkg, names in BOUNDED.items():
        text = Path(pkg, "pyproject.toml").read_text(encoding="utf-8")
        for name in names:
            m = re.search(rf'"{name}\s*(>=\s*[^",;<]+)', text)
            if m is None:  # not (or no longer) a bounded dependency
                continue
            found.append(f"{name}{m.group(1).replace(' ', '')}")
    return found


def _matrix(session: nox.Session, deps: str, paths: list[str], tests: list[str]) -> None:
    """Install ``paths`` with the newest dependencies, lower the bounded ones for "oldest", run ``tests``."""
    session.install(*paths, *TEST_DEPS)
    if deps == "oldest":
        bounds = _lower_bounds()
        names = [b.split(">=")[0] for b in bounds]
        session.install(
            "--resolution=lowest-direct",
            "--only-binary=:all:",
            *(f"--reinstall-package={n}" for n in names),
            *bounds,
        )
    session.run(
        "python",
        "-c",
        "import sys, numpy, pluggy; print(sys.version.split()[0], 'numpy', numpy.__version__, 'pluggy', pluggy.__version__)",
    )
    session.run(*PYTEST, *tests, *session.posargs)


@nox.session(python=PYTHONS, venv_backend="uv", tags=["matrix"])
@nox.parametrize("deps", DEPS)
def matrix_core(session: nox.Session, deps: str) -> None:
    """plugrad-core's tests on one Python at one end of the numpy/pluggy ranges."""
    _matrix(session, deps, [CORE, NUMPY], [f"{CORE}/tests"])


@nox.session(python=PYTHONS, venv_backend="uv", tags=["matrix"])
@nox.parametrize("deps", DEPS)
def matrix_backend_numpy(session: nox.Session, deps: str) -> None:
    """The NumPy backend against the conformance suite on one Python at one end of the numpy range."""
    _matrix(session, deps, [CORE, NUMPY], [f"{NUMPY}/tests"])


@nox.session(python=PYTHONS, venv_backend="uv", tags=["matrix"])
@nox.parametrize("deps", DEPS)
def matrix_nn(session: nox.Session, deps: str) -> None:
    """plugrad-nn on one Python at one end of the numpy/pluggy ranges."""
    _matrix(session, deps, [CORE, NUMPY, NN], [f"{NN}/tests"])


@nox.session(python=PYTHONS, venv_backend="uv", tags=["matrix"])
@nox.parametrize("deps", DEPS)
def matrix_optim(session: nox.Session, deps: str) -> None:
    """plugrad-optim (without plugrad-nn) on one Python at one end of the numpy/pluggy ranges."""
    _matrix(session, deps, [CORE, NUMPY, OPTIM], [f"{OPTIM}/tests"])


@nox.session
def core(session: nox.Session) -> None:
    """plugrad-core: tensor, autograd, registry, printing. Its tests use the NumPy backend."""
    _install(session, CORE, NUMPY)
    session.run(*PYTEST, f"{CORE}/tests", *session.posargs)


@nox.session
def backend_numpy(session: nox.Session) -> None:
    """plugrad-backend-numpy against plugrad's conformance suite."""
    _install(session, CORE, NUMPY)
    session.run(*PYTEST, f"{NUMPY}/tests", *session.posargs)


@nox.session
def backend_cupy(session: nox.Session) -> None:
    """plugrad-backend-cupy: the conformance suite on a GPU; skips with the reason elsewhere.

    The NumPy backend comes along: some tests compare with, or move tensors from, the CPU.
    """
    _install(session, CORE, NUMPY, CUPY)
    session.run(*PYTEST, "-rs", f"{CUPY}/tests", *session.posargs)


@nox.session
def nn(session: nox.Session) -> None:
    """plugrad-nn (modules, losses, init) on the NumPy backend."""
    _install(session, CORE, NUMPY, NN)
    session.run(*PYTEST, f"{NN}/tests", *session.posargs)


@nox.session
def optim(session: nox.Session) -> None:
    """plugrad-optim (optimizers, schedulers) on the NumPy backend, without plugrad-nn."""
    _install(session, CORE, NUMPY, OPTIM)
    session.run(*PYTEST, f"{OPTIM}/tests", *session.posargs)


@nox.session
def compile(session: nox.Session) -> None:
    """``plugrad.compile``'s suite (core's recorder, guards and fuzz, compiled modules, compiled optimizers),
    with nn and optim installed; a missing one is an error here (``PLUGRAD_COMPILE_SUITE=1``), not a skip."""
    _install(session, CORE, NUMPY, NN, OPTIM)
    tests = [f"{CORE}/tests/test_compile_api.py", f"{CORE}/tests/test_compile_fuzz.py"]
    tests += [f"{CORE}/tests/test_compile_guards.py", f"{CORE}/tests/test_compile_replay.py"]
    tests += [f"{NN}/tests/test_compile_modules.py", f"{OPTIM}/tests/test_compile_optim.py"]
    tests += [f"{OPTIM}/tests/test_compile_schedulers.py"]
    session.run(*PYTEST, *tests, *session.posargs, env={"PLUGRAD_COMPILE_SUITE": "1"})


@nox.session
def compile_numba(session: nox.Session) -> None:
    """plugrad-compile-numba (the fusion compiler, ``backend="numba"``) with nn and optim for its training test."""
    _install(session, CORE, NUMPY, NN, OPTIM, NUMBA)
    session.run(*PYTEST, f"{NUMBA}/tests", *session.posargs)


@nox.session
def examples(session: nox.Session) -> None:
    """The examples run, the regression demo converges, and the plots are drawn."""
    _install(session, CORE, NUMPY, NN, OPTIM)
    session.install("matplotlib")
    session.run(*PYTEST, "examples/tests", "tools/tests", *session.posargs)


@nox.session
def distributed(session: nox.Session) -> None:
    """plugrad-distributed with its [mpi] extra (mpi4py, MPICH): the fast tests, then the
    multi-rank ones under ``mpiexec -n 2`` and ``-n 3`` (collectives, DDP, failures,
    checkpoints, examples), each job with a hard timeout (docs/distributed.md)."""
    _install(session, CORE, NUMPY, NN, OPTIM, f"./{DIST}[mpi]")
    session.run(*PYTEST, "-rs", f"{DIST}/tests", *session.posargs, env={"PLUGRAD_MULTIRANK": "1"})


@nox.session
def distributed_quick(session: nox.Session) -> None:
    """plugrad-distributed's single-process tests (API, errors, world size 1 over MPI, the DDP
    examples as one process); the multi-rank ones run in ``nox -s distributed``."""
    _install(session, CORE, NUMPY, NN, OPTIM, f"./{DIST}[mpi]")
    session.run(*PYTEST, "-rs", f"{DIST}/tests", *session.posargs)


@nox.session
def bench_ddp(session: nox.Session) -> None:
    """Data-parallel MLP step on 1 and 2 ranks: scaling efficiency, hidden all-reduce share (benchmarks/ddp.py)."""
    session.install(CORE, NUMPY, NN, OPTIM, f"./{DIST}[mpi]")
    session.run("python", "benchmarks/ddp.py", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole tree; import layering with import-linter.

    The layering rules are the ``[tool.importlinter]`` contracts in the root pyproject.toml. The
    packages are installed as wheels, so core, nn and optim form one ``plugrad`` package as for users.
    """
    session.install("ruff==0.17.6")  # pinned: new rules in new releases must not break the build
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.install("import-linter>=2.1,<3", CORE, NUMPY, CUPY, NN, OPTIM)
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy, strict on core."""
    # pytest: plugrad.testing (the conformance suite) is typed against it
    # plugrad-distributed too: nn.parallel imports it (lazily, typed against it)
    session.install("mypy>=1.10", "pytest>=7", CORE, NUMPY, NN, OPTIM, DIST)
    session.run("mypy", "--strict", f"{CORE}/src/plugrad", "--exclude", "plugrad/(nn|optim)/")
    session.run("mypy", f"{NN}/src/plugrad/nn", f"{OPTIM}/src/plugrad/optim", f"{NUMPY}/src/plugrad_numpy")


ATTACK_TESTS = [f"{CORE}/tests/attack", f"{NN}/tests/test_attack_nn.py", f"{OPTIM}/tests/test_attack_optim.py"]


@nox.session
def attack(session: nox.Session) -> None:
    """The attack suite at full size (docs/reliability.md), then every test with checked kernels.

    ``PLUGRAD_ATTACK=1`` selects the large sizes and the tests marked ``slow`` (the default
    sessions run the small sizes and skip those). The second run repeats the packages'
    tests with ``PLUGRAD_CHECK_KERNELS=1``: correct kernels must never trip the checks
    (test_registry.py is left out: it asserts the raw, unwrapped kernel table).
    """
    _install(session, CORE, NUMPY, NN, OPTIM)
    session.run(*PYTEST, "-rs", *ATTACK_TESTS, *session.posargs, env={"PLUGRAD_ATTACK": "1"})
    session.run(
        *PYTEST,
        f"{CORE}/tests",
        f"{NUMPY}/tests",
        f"{NN}/tests",
        f"{OPTIM}/tests",
        f"--ignore={CORE}/tests/test_registry.py",
        env={"PLUGRAD_CHECK_KERNELS": "1"},
    )


@nox.session(venv_backend="virtualenv")  # pip, not uv: it finds the on-disk PyTorch wheel
def oracle(session: nox.Session) -> None:
    """Compare ops, gradients, losses and optimizers with PyTorch (not in the default run)."""
    _install(session, CORE, NUMPY, NN, OPTIM)
    # the CPU wheel lies on this machine's disk; plain pip finds it without a download
    session.install("torch==2.13.0", "numpy")
    session.run(*PYTEST, "-m", "oracle", f"{CORE}/tests", f"{NN}/tests", f"{OPTIM}/tests", *session.posargs)


@nox.session(venv_backend="virtualenv")  # pip, not uv: it finds the on-disk PyTorch wheel
def bench(session: nox.Session) -> None:
    """Benchmarks against hand-written NumPy and PyTorch (when pip can install it), in one run.

    ``nox -s bench -- --quick`` for a rough look; results go to bench-results/latest.json.
    """
    session.install(CORE, NUMPY, NN, OPTIM)
    # the comparison with PyTorch is optional: the run goes on without it
    session.run("python", "-m", "pip", "install", "-q", "torch==2.13.0", success_codes=[0, 1])
    session.run("python", "benchmarks/run.py", *session.posargs)
    # per-sample gradients, vmap(grad) against the loop and torch.func (issue 17; docs/func.md)
    session.run("python", "benchmarks/vmap_grad.py", "--repeats", "5")
    # a LeNet training step against PyTorch and a hand-written NumPy im2col (docs/layers.md)
    session.run("python", "benchmarks/lenet.py")


@nox.session(venv_backend="virtualenv")  # pip, not uv: it finds the on-disk PyTorch wheel
def bench_compile(session: nox.Session) -> None:
    """``plugrad.compile`` against hand-written NumPy, ``jax.jit``, PyTorch eager and ``torch.compile``.

    ``nox -s bench_compile -- --quick`` for a rough look; results go to bench-results/compile.json
    and compile.md. JAX and PyTorch are optional comparators (skipped with a note when they do not
    install); every framework runs on one BLAS/OpenMP thread.
    """
    import os

    session.install(CORE, NUMPY, NN, OPTIM, "numpy")
    if os.path.isdir("packages/compile-numba"):  # the fusion compiler, backend="numba"
        session.install("./packages/compile-numba")
    session.run("python", "-m", "pip", "install", "-q", "jax", success_codes=[0, 1])
    session.run("python", "-m", "pip", "install", "-q", "torch==2.13.0", success_codes=[0, 1])
    env = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"), "1")
    session.run("python", "benchmarks/compile.py", *session.posargs, env=env)


THIRD_PARTY = "examples/third_party_backend"
MATRIX = {  # combination -> the packages whose wheels its fresh environment gets
    "core": [CORE],
    "core+numpy": [CORE, NUMPY],
    "core+numpy+nn+optim": [CORE, NUMPY, NN, OPTIM],
    "core+nn": [CORE, NN],
    "core+cupy": [CORE, CUPY],
}


@nox.session
def scaffold(session: nox.Session) -> None:
    """``python -m plugrad new-backend``/``new-override``: the generated packages, each installed into a fresh
    environment, pass their generated tests (array_api_strict, NumPy under another backend name, an override of
    numpy.add)."""
    _install(session, CORE, NUMPY, "hatchling", "array-api-strict")
    session.run(*PYTEST, "-rs", f"{CORE}/tests/test_scaffold.py", *session.posargs, env={"PLUGRAD_SCAFFOLD": "1"})


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml) into site/, strict: a public name without a docstring
    (tools/check_docstrings.py), a broken link or a docstring griffe cannot read fails."""
    session.install(CORE, NUMPY, NN, OPTIM, "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26")
    session.run("mkdocs", "build", "--strict", "-d", "site", env={"NO_MKDOCS_2_WARNING": "1"})
    session.run("python", "tools/check_docstrings.py")


@nox.session
def third_party(session: nox.Session) -> None:
    """The example third-party backend, installed from its folder with core alone, against the conformance suite."""
    _install(session, CORE, THIRD_PARTY)
    session.run("python", "-m", "plugrad", "info")
    session.run(*PYTEST, "-rs", f"{THIRD_PARTY}/tests", *session.posargs)


@nox.session
def install_matrix(session: nox.Session) -> None:
    """Wheels of every package, installed into a fresh environment per combination users have, each smoke-tested."""
    import pathlib

    session.install("pip")  # uv-made environments come without it
    wheels = pathlib.Path(".nox/wheels").resolve()
    session.run("python", "-c", f"import shutil; shutil.rmtree({str(wheels)!r}, ignore_errors=True)")
    for pkg in (CORE, NUMPY, CUPY, NN, OPTIM, DIST):
        session.run("python", "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), pkg)
    smoke = pathlib.Path("packages/core/tests/install_smoke.py").resolve()
    for combo, pkgs in (MATRIX if not session.posargs else {k: MATRIX[k] for k in session.posargs}).items():
        env = pathlib.Path(session.create_tmp()) / combo.replace("+", "_")
        session.run("python", "-m", "venv", "--clear", str(env))
        py = str(env / "bin" / "python")
        # the wheels by file (never a same-named release from the index); their dependencies from the index
        files = [str(next(wheels.glob(_WHEEL_NAMES[p] + "-*.whl"))) for p in pkgs]
        extra = ["pytest>=7"] if combo == "core+numpy" else []
        session.run(py, "-m", "pip", "install", "-q", *files, *extra, external=True)
        session.log(f"{combo}: {', '.join(pathlib.Path(f).name for f in files)}")
        session.run(py, str(smoke), combo, external=True, env={"PYTHONPATH": ""})


_WHEEL_NAMES = {
    CORE: "plugrad_core",
    NUMPY: "plugrad_backend_numpy",
    CUPY: "plugrad_backend_cupy",
    NN: "plugrad_nn",
    OPTIM: "plugrad_optim",
    DIST: "plugrad_distributed",
}
