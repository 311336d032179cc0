"""Test, lint and type-check every plugrad package, each in its own environment.

``nox`` runs the default sessions: one per package (installing that package and what
it declares, from this tree), ``lint`` and ``typecheck``. Optional sessions run by
name: ``nox -s oracle`` (compare with PyTorch), ``nox -s bench`` (benchmarks).
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = False
nox.options.sessions = ["core", "backend_numpy", "backend_cupy", "nn", "optim", "examples", "lint", "typecheck"]

CORE = "packages/core"
NUMPY = "packages/backend-numpy"
CUPY = "packages/backend-cupy"
NN = "packages/nn"
OPTIM = "packages/optim"
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
    """plugrad-backend-cupy: the conformance suite on a GPU; skips with the reason elsewhere."""
    _install(session, CORE, CUPY)
    session.run(*PYTEST, "-rs", f"{CUPY}/tests", *session.posargs)


@nox.session
def nn(session: nox.Session) -> None:
    """plugrad-nn (modules, losses, init) on the NumPy backend."""
    _install(session, CORE, NUMPY, NN)
    session.run(*PYTEST, f"{NN}/tests", *session.posargs)


@nox.session
def optim(session: nox.Session) -> None:
    """plugrad-optim (optimizers, schedulers) on the NumPy backend."""
    _install(session, CORE, NUMPY, NN, OPTIM)
    session.run(*PYTEST, f"{OPTIM}/tests", *session.posargs)


@nox.session
def examples(session: nox.Session) -> None:
    """The examples run and the regression demo converges."""
    _install(session, CORE, NUMPY, NN, OPTIM)
    session.run(*PYTEST, "examples/tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole tree."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy, strict on core."""
    session.install("mypy>=1.10", CORE, NUMPY, NN, OPTIM)
    session.run("mypy", "--strict", f"{CORE}/src/plugrad", "--exclude", "plugrad/(nn|optim)/")
    session.run("mypy", f"{NN}/src/plugrad/nn", f"{OPTIM}/src/plugrad/optim", f"{NUMPY}/src/plugrad_numpy")


@nox.session(venv_backend="virtualenv")  # pip, not uv: it finds the on-disk PyTorch wheel
def oracle(session: nox.Session) -> None:
    """Compare ops, gradients, losses and optimizers with PyTorch (not in the default run)."""
    _install(session, CORE, NUMPY, NN, OPTIM)
    # the CPU wheel lies on this machine's disk; plain pip finds it without a download
    session.install("torch==2.13.0", "numpy")
    session.run(*PYTEST, "-m", "oracle", f"{CORE}/tests", f"{NN}/tests", f"{OPTIM}/tests", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against hand-written NumPy and (where installed) PyTorch, in one run."""
    session.install(CORE, NUMPY, NN, OPTIM)
    session.run("python", "benchmarks/run.py", *session.posargs)
