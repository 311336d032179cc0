"""``python -m plugrad new-backend`` and ``new-override``: ready-to-install plugin packages.

``new-backend NAME --namespace MODULE`` writes ``plugrad-backend-NAME/``: a hatchling
``pyproject.toml`` that builds as is (src layout, the ``plugrad`` entry point), a plugin
module whose kernel table is :func:`plugrad.plugins.array_api.kernels_from_namespace`
over ``MODULE`` (any array API namespace), the conformance test, a README and a
``noxfile.py`` for CI. Installed, it passes the conformance suite as generated wherever
``MODULE`` implements the standard.

``new-override NAME --backend BACKEND --kernel OP [--kernel OP ...]`` writes
``plugrad-kernels-NAME/``: an override-only plugin replacing kernels of another plugin's
backend, each starting as a pass-through to the backend's own kernel (so the suite passes
before you write the faster one), with a test that runs the backend's conformance suite
with the overrides in effect.

The generated code imports the plugin contract from ``plugrad.plugins``.
"""

from __future__ import annotations

import keyword
import textwrap
from importlib import metadata
from pathlib import Path

__all__ = ["new_backend", "new_override"]

_PYTHONS = '["3.10", "3.11", "3.12", "3.13"]'


class ScaffoldError(ValueError):
    """The arguments cannot make a package (bad name, unknown kernel, existing folder)."""


def _check_name(name: str, what: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name) or name != name.lower():
        raise ScaffoldError(f"{what} {name!r} must be a lowercase Python identifier (letters, digits, underscores)")


def _distribution_of(module: str) -> tuple[str, str]:
    """The installed distribution providing top-level module ``module`` and its version (``("", "")`` if unknown)."""
    top = module.split(".")[0]
    dists = metadata.packages_distributions().get(top, [])
    if not dists:
        return "", ""
    name = dists[0]
    try:
        return name, metadata.version(name)
    except metadata.PackageNotFoundError:
        return name, ""


def _requirement(dist: str, version: str) -> str:
    parts = version.split(".")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
        return f"{dist}>={parts[0]}.{parts[1]}"
    return dist


def _core_requirement() -> str:
    try:
        v = metadata.version("plugrad-core").split(".")
        return f"plugrad-core>={v[0]}.{v[1]}"
    except metadata.PackageNotFoundError:
        return "plugrad-core"


def _write(root: Path, files: dict[str, str]) -> list[Path]:
    if root.exists():
        raise ScaffoldError(f"{root} already exists; remove it or choose another --output")
    written = []
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        written.append(path)
    return written


def _pyproject(dist: str, module: str, description: str, deps: list[str], entry: str) -> str:
    dep_list = ", ".join(f'"{d}"' for d in deps)
    return f"""
    [build-system]
    requires = ["hatchling>=1.18"]
    build-backend = "hatchling.build"

    [project]
    name = "{dist}"
    version = "0.1.0"
    description = "{description}"
    readme = "README.md"
    requires-python = ">=3.10"
    dependencies = [{dep_list}]

    [project.optional-dependencies]
    test = ["pytest>=7"]

    [project.entry-points.plugrad]
    {entry} = "{module}.plugin"

    # the import package is named differently from the distribution and lives in src/
    [tool.hatch.build.targets.wheel]
    packages = ["src/{module}"]
    """


def _noxfile(extra_install: str = "") -> str:
    return f'''
    """CI for this plugin: the conformance suite on every supported Python (``nox``)."""

    import nox


    @nox.session(python={_PYTHONS})
    def tests(session: nox.Session) -> None:
        session.install(".[test]"{extra_install})
        session.run("python", "-m", "plugrad", "info")
        session.run("pytest", "-rs", "tests", *session.posargs)
    '''


_CI = """
    In CI (GitHub Actions, for instance):

    ```yaml
    jobs:
      tests:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - uses: actions/setup-python@v5
            with:
              python-version: |
                3.10
                3.11
                3.12
                3.13
          - run: python -m pip install nox
          - run: python -m nox
    ```
"""


def new_backend(name: str, namespace: str, output: Path | str = ".") -> list[Path]:
    """Write ``plugrad-backend-NAME/`` over array API namespace ``namespace``; the files written."""
    _check_name(name, "backend name")
    if name in ("cpu", "cuda"):
        raise ScaffoldError(
            f"backend name {name!r} is reserved for the device type; name the backend after its library"
        )
    if not all(part.isidentifier() for part in namespace.split(".")):
        raise ScaffoldError(f"--namespace {namespace!r} is not a module name")
    dist_name, dist_version = _distribution_of(namespace)
    lib = dist_name or namespace.split(".")[0]
    deps = [_core_requirement()] + ([_requirement(dist_name, dist_version)] if dist_name else [])
    module = f"plugrad_{name}"
    dist = f"plugrad-backend-{name.replace('_', '-')}"
    cls = "".join(p.capitalize() for p in name.split("_"))
    files = {
        "pyproject.toml": _pyproject(
            dist, module, f"plugrad backend {name!r} over the array API namespace {namespace}", deps, name
        ),
        f"src/{module}/__init__.py": f'''
            """{dist}: the plugrad backend {name!r} over ``{namespace}`` (entry point {name!r} of group ``plugrad``)."""

            __version__ = "0.1.0"
            ''',
        f"src/{module}/py.typed": "",
        f"src/{module}/plugin.py": f'''
            """Entry point ``{name}`` of group ``plugrad``: the backend {name!r} over ``{namespace}``.

            ``{namespace}`` implements the Python array API standard, so the kernel table is
            ``plugrad.plugins.array_api.kernels_from_namespace``; replace single kernels with
            faster native ones by updating the dict (see plugrad's docs/writing-a-backend.md).
            """

            from __future__ import annotations

            from collections.abc import Sequence
            from importlib import metadata

            from plugrad.plugins import CONTRACT_VERSION, BackendSpec, array_api, hookimpl

            NAME = "{name}"
            LIBRARY = "{lib}"


            def _library_version() -> str:
                try:
                    return f"{{LIBRARY}} {{metadata.version(LIBRARY)}}"
                except metadata.PackageNotFoundError:
                    return LIBRARY


            @hookimpl
            def plugrad_backends() -> Sequence[BackendSpec]:
                try:
                    import {namespace} as xp
                except ImportError as exc:  # still a record: `plugrad info` says why the backend cannot run
                    return [BackendSpec(NAME, "cpu", CONTRACT_VERSION, unavailable_reason=f"{namespace} not importable ({{exc}})")]
                kernels = array_api.kernels_from_namespace(xp)
                # the dtype objects the namespace's arrays report (NumPy's functions take np.float32,
                # its arrays say dtype('float32')): plugrad maps array dtypes through this table
                dtypes = {{n: xp.empty((0,), dtype=d).dtype for n, d in array_api.dtypes_from_namespace(xp).items()}}
                return [
                    BackendSpec(
                        name=NAME,
                        device_type="cpu",  # host memory; a GPU library says "cuda"
                        contract_version=CONTRACT_VERSION,
                        kernels=kernels,
                        dtypes=dtypes,
                        array_types=(type(xp.asarray(0)),),
                        # "views": add it once reshape/permute_dims/getitem return views sharing memory
                        capabilities=frozenset({{"dlpack"}} if "from_dlpack" in kernels else set()),
                        priority=0,  # below the first-party backends: "cpu" keeps meaning NumPy's
                        version=_library_version(),
                    )
                ]
            ''',
        f"tests/test_{name}_conformance.py": f'''
            """{dist} against plugrad's conformance suite (every kernel of the contract)."""

            from plugrad.testing.conformance import BackendConformance


            class Test{cls}Conformance(BackendConformance):
                backend_name = "{name}"
                # test name or id -> reason, for what {namespace} cannot do yet; an entry that names no
                # test, or a listed test that passes, fails the run
                expected_failures: dict[str, str] = {{}}
            ''',
        "noxfile.py": _noxfile(),
        "README.md": textwrap.dedent(f"""
            # {dist}

            The plugrad backend `{name}`, over the array API namespace `{namespace}`. Installed next to
            `plugrad-core`, it registers itself through the `plugrad` entry-point group: no import,
            no configuration.

            ```bash
            pip install .
            python -m plugrad info               # lists backend {name!r} with its library version
            python -c "import plugrad; print(plugrad.ones(2, device='{name}'))"
            ```

            Tests: plugrad's conformance suite, `pytest tests` (or `nox` for every Python), or with
            nothing written, `pytest --pyargs plugrad.testing.conformance --plugrad-backend {name}`.
            """)
        + textwrap.dedent(_CI),
    }
    return _write(Path(output) / dist, files)


def new_override(
    name: str, backend: str, kernels: list[str], output: Path | str = ".", priority: int = 10
) -> list[Path]:
    """Write ``plugrad-kernels-NAME/``, overriding ``kernels`` of backend ``backend``; the files written."""
    from .plugins import KERNELS

    _check_name(name, "plugin name")
    _check_name(backend, "--backend")
    if not kernels:
        raise ScaffoldError("name at least one kernel to override: --kernel OP")
    unknown = [k for k in kernels if k not in KERNELS]
    if unknown:
        raise ScaffoldError(
            f"unknown kernels {', '.join(map(repr, unknown))}; the kernels are listed in plugrad.plugins.KERNELS"
        )
    if priority <= 0:
        raise ScaffoldError(f"--priority must be positive, got {priority}")
    module = f"plugrad_kernels_{name}"
    dist = f"plugrad-kernels-{name.replace('_', '-')}"
    deps = [_core_requirement()]
    backend_dist = _backend_distribution(backend)
    if backend_dist:
        deps.append(backend_dist)
    ops = ", ".join(f'"{k}"' for k in kernels)
    makers = "\n\n\n".join(
        f'''def make_{k}(original: Callable[..., Any]) -> Callable[..., Any]:
    """The replacement of kernel {k!r}: {KERNELS[k].split(";")[0]}."""

    def {k}(*args: Any, **kwargs: Any) -> Any:
        # write the faster kernel here; until then it is the backend's own
        return original(*args, **kwargs)

    return {k}'''
        for k in kernels
    )
    cls = "".join(p.capitalize() for p in backend.split("_"))
    plugin = (
        f'''"""Entry point ``{name}`` of group ``plugrad``: kernels {", ".join(kernels)} of backend {backend!r}.

An override-only plugin: no backend of its own, only ``plugrad_kernel_overrides``. The
highest priority wins over the backend's own kernel (priority 0); two plugins tied at
the top priority are both set aside, with a warning naming them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from plugrad.plugins import BackendSpec, KernelOverride, hookimpl

BACKEND = "{backend}"
KERNELS = ({ops},)
PRIORITY = {priority}


'''
        + makers
        + """


@hookimpl
def plugrad_kernel_overrides(backend: BackendSpec) -> Sequence[KernelOverride]:
    if backend.name != BACKEND:
        return []
    makers = {op: globals()[f"make_{op}"] for op in KERNELS}
    return [KernelOverride(op, makers[op](backend.kernels[op]), PRIORITY) for op in KERNELS if op in backend.kernels]
"""
    )
    files = {
        "pyproject.toml": _pyproject(
            dist, module, f"plugrad kernel overrides: {', '.join(kernels)} of backend {backend!r}", deps, name
        ),
        f"src/{module}/__init__.py": f'''
            """{dist}: kernel overrides for plugrad backend {backend!r} (entry point {name!r} of group ``plugrad``)."""

            __version__ = "0.1.0"
            ''',
        f"src/{module}/py.typed": "",
        f"tests/test_{name}_overrides.py": f'''
            """{dist}: the overrides are in effect, and backend {backend!r} still passes the conformance suite."""

            from plugrad.plugins import get_backend
            from plugrad.testing.conformance import BackendConformance

            from {module}.plugin import KERNELS


            def test_the_overrides_are_in_effect() -> None:
                be = get_backend("{backend}")
                for op in KERNELS:
                    assert be.kernel_sources[op] == "{name}", (op, be.kernel_sources[op])


            class Test{cls}With{"".join(p.capitalize() for p in name.split("_"))}(BackendConformance):
                backend_name = "{backend}"
            ''',
        "noxfile.py": _noxfile(),
        "README.md": textwrap.dedent(f"""
            # {dist}

            Kernel overrides for the plugrad backend `{backend}`: {", ".join(f"`{k}`" for k in kernels)}
            (priority {priority}). Installed, plugrad uses them in place of the backend's own kernels;
            `python -m plugrad info` lists them under the plugin `{name}` with this distribution.

            ```bash
            pip install .
            python -m plugrad info --kernels
            pytest tests        # the overrides are in effect, and `{backend}` passes the conformance suite
            ```
            """)
        + textwrap.dedent(_CI),
    }
    written = _write(Path(output) / dist, files)
    path = Path(output) / dist / "src" / module / "plugin.py"
    path.write_text(plugin, encoding="utf-8")  # built unindented: no dedent
    return [*written, path]


def _backend_distribution(backend: str) -> str:
    """The distribution that provides backend ``backend`` here (``""`` if it is not installed)."""
    import warnings

    from .plugins import get_registry

    reg = get_registry()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.ensure_loaded()
    info = reg.infos.get(backend)
    if info is None:
        return ""
    return reg.plugin_dists.get(info.plugin, "").split(" ")[0]
