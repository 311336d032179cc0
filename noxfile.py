"""Test, lint and type-check every plugrad package, each in its own environment.

``nox`` runs the default sessions: one per package (installing that package and what
it declares, from this tree), ``lint`` and ``typecheck``. Optional sessions run by
name: ``nox -s oracle`` (compare with PyTorch), ``nox -s bench`` (benchmarks),
``nox -s attack`` (the full attack suite, docs/reliability.md).
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = False
nox.options.sessions = [
    "core",
    "backend_numpy",
    "backend_cupy",
    "nn",
    "optim",
    "examples",
    "third_party",
    "install_matrix",
    "lint",
    "typecheck",
]

CORE = "packages/core"
NUMPY = "packages/backend-numpy"
CUPY = "packages/backend-cupy"
NN = "packages/nn"
OPTIM = "packages/optim"
DIST = "packages/distributed"
TEST_DEPS = ["pytest>=7", "hypothesis>=6"]
PYTEST = ["pytest", "-q", "-p", "no:cacheprovider"]


def _install(session: nox.Session, *paths: str) -> None:
    """Install local packages (as wheels, the way users get them) plus test tools."""
    session.install(*paths, *TEST_DEPS)


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
    session.install("mypy>=1.10", "pytest>=7", CORE, NUMPY, NN, OPTIM)
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


THIRD_PARTY = "examples/third_party_backend"
MATRIX = {  # combination -> the packages whose wheels its fresh environment gets
    "core": [CORE],
    "core+numpy": [CORE, NUMPY],
    "core+numpy+nn+optim": [CORE, NUMPY, NN, OPTIM],
    "core+nn": [CORE, NN],
    "core+cupy": [CORE, CUPY],
}


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
