"""Broken plugins: hostile records, hooks that fail late, plugins that exit at import, and
kernels that return the wrong thing.

``test_plugins.py`` and ``test_registry.py`` cover a plugin that fails to import, raises
in a hook, returns a string, misses kernels, was written for another contract, takes a
taken name or ties an override. This file adds what those leave out:

- records that break while being *read* (a generator raising midway, mappings and sets
  that raise, unhashable or aliased native dtypes, an override naming a list): each is a
  warning naming the plugin, the other backends are registered and work;
- plugin distributions that call ``sys.exit`` at import or in a hook: reported, not fatal;
- kernels that return a wrong shape, a wrong dtype, a Python scalar, too few bytes, or
  write where they should not: with the debug switch ``PLUGRAD_CHECK_KERNELS=1`` each is
  caught at the backend boundary with an error naming the backend, the kernel and the
  plugin; without it the kernel table holds the plugin's own functions (nothing added to
  the per-op path);
- the checked wrappers never reject a correct kernel: the whole conformance suite runs
  against the NumPy kernels registered, checked, under another name.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import plugrad
import pytest
from attack_util import check_error, count
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
from plugrad.testing.conformance import BackendConformance

np = pytest.importorskip("numpy")
NP_SPEC = get_backend("numpy").spec


def spec(name: str, **changes: Any) -> BackendSpec:
    fields: dict[str, Any] = dict(
        name=name,
        device_type="cpu",
        contract_version=CONTRACT_VERSION,
        kernels=NP_SPEC.kernels,
        dtypes=NP_SPEC.dtypes,
        array_types=NP_SPEC.array_types,
        capabilities=NP_SPEC.capabilities,
        priority=-10,
    )
    fields.update(changes)
    return BackendSpec(**fields)


class Backends:
    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    @hookimpl
    def plugrad_backends(self) -> Any:
        return self.make()


class Overrides:
    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    @hookimpl
    def plugrad_kernel_overrides(self, backend: BackendSpec) -> Any:
        return self.make() if backend.name == "base" else []


class Hostile(Mapping[Any, Any]):
    """A mapping (and iterable) that raises as soon as it is read."""

    def __getitem__(self, key: Any) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("this mapping cannot be read")

    def __len__(self) -> int:
        return 3


def _generator() -> Iterator[BackendSpec]:
    yield spec("early")
    raise RuntimeError("the device probe failed halfway")


def _override_generator() -> Iterator[KernelOverride]:
    yield KernelOverride("add", NP_SPEC.kernels["add"], 5)
    raise ValueError("override table broken")


HOSTILE_RECORDS: dict[str, tuple[object, str]] = {
    "generator raising midway": (
        Backends(_generator),
        "reading the records of hook plugrad_backends raised RuntimeError",
    ),
    "kernel table unreadable": (Backends(lambda: [spec("k1", kernels=Hostile())]), "malformed record"),
    "dtype table unreadable": (Backends(lambda: [spec("k2", dtypes=Hostile())]), "malformed record"),
    "capabilities unreadable": (Backends(lambda: [spec("k3", capabilities=Hostile())]), "malformed record"),
    "capabilities an int": (Backends(lambda: [spec("k4", capabilities=5)]), "malformed record"),
    "unhashable native dtype": (
        Backends(lambda: [spec("k5", dtypes={**NP_SPEC.dtypes, "float32": []})]),
        "malformed record",
    ),
    "native dtype None": (Backends(lambda: [spec("k6", dtypes={**NP_SPEC.dtypes, "float32": None})]), "to None"),
    "two dtypes, one native": (
        Backends(lambda: [spec("k7", dtypes={**NP_SPEC.dtypes, "float32": NP_SPEC.dtypes["float64"]})]),
        "to the same native dtype",
    ),
    "non-string kernel name": (
        Backends(lambda: [spec("k8", kernels={**NP_SPEC.kernels, 5: len})]),
        "unknown kernels: 5",
    ),
    "override generator raising": (
        Overrides(_override_generator),
        "reading the records of hook plugrad_kernel_overrides raised ValueError",
    ),
    "override of a list": (Overrides(lambda: [KernelOverride(["add"], len, 3)]), "unknown kernel ['add']"),  # type: ignore[arg-type]
    "override table a dict": (Overrides(lambda: {"add": len}), "instead of a KernelOverride"),
}


@pytest.mark.parametrize("case", list(HOSTILE_RECORDS))
def test_records_that_break_while_read_are_reported_and_skipped(case: str) -> None:
    plugin, problem = HOSTILE_RECORDS[case]
    reg = Registry(autoload=False)
    reg.register_plugin(Backends(lambda: [spec("base", priority=0)]), "base-plugin")
    reg.register_plugin(plugin, "hostile")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg.ensure_loaded()  # before the fix, each of these raised out of the registry: no backend at all
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert any("plugrad plugin 'hostile' was skipped" in m and problem in m for m in messages), messages
    base = reg.get("base")
    x = np.arange(3.0, dtype=np.float32)
    assert base.add(x, x).tolist() == [0.0, 2.0, 4.0]  # the rest keeps working
    count("plugins: hostile records")


# ------------------------------------------------------------------ whole distributions
def _distribution(root: Path, entry: str, module: str, source: str) -> None:
    info = root / f"plugrad_attack_{entry}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: plugrad-attack-{entry}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[plugrad]\n{entry} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))


EXITING = {
    "exits_at_import": ("attack_exit_import", "import sys\nsys.exit('plugin gave up')\n", "SystemExit: plugin gave up"),
    "exits_in_hook": (
        "attack_exit_hook",
        """
        import sys
        from plugrad.backends import hookimpl

        @hookimpl
        def plugrad_backends():
            sys.exit(3)
        """,
        "hook plugrad_backends raised SystemExit: 3",
    ),
    "syntax_error": ("attack_syntax", "def broken(:\n", "SyntaxError"),
    "generator_hook": (
        "attack_generator",
        """
        from plugrad.backends import hookimpl

        @hookimpl
        def plugrad_backends():
            yield from ()
            raise MemoryError("probe ran out of memory")
        """,
        "raised MemoryError: probe ran out of memory",
    ),
}


def test_plugins_that_exit_or_break_late_do_not_take_plugrad_down(tmp_path: Path) -> None:
    for entry, (module, source, _) in EXITING.items():
        _distribution(tmp_path, entry, module, source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGRAD_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]).strip(os.pathsep)
    code = textwrap.dedent(
        """
        import warnings
        import plugrad
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t = plugrad.tensor([1.0, 2.0]) * 3
        print("RESULT", t.tolist())
        for w in caught:
            print("WARNING", w.message)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RESULT [3.0, 6.0]" in proc.stdout, proc.stdout + proc.stderr
    for entry, (_, _, problem) in EXITING.items():
        assert f"plugrad plugin '{entry}' was skipped" in proc.stdout and problem in proc.stdout, (entry, proc.stdout)
    count("plugins: distributions that exit or break late", len(EXITING))


# ------------------------------------------------------------------ kernels that lie
def _broken_kernels() -> dict[str, tuple[str, Callable[..., Any], Callable[[str], Any]]]:
    """kernel -> (how it is broken, the broken kernel, a public call that reaches it on device ``dev``)."""
    k = NP_SPEC.kernels

    def t(dev: str, *shape: int, dtype: Any = plugrad.float32) -> plugrad.Tensor:
        return (
            plugrad.arange(float(np.prod(shape) or 1), dtype=dtype, device=dev).reshape(*shape)
            if shape
            else plugrad.tensor(1.0, device=dev)
        )

    return {
        "add": ("one element too many", lambda a, b: np.append(k["add"](a, b), 0), lambda d: t(d, 2, 3) + t(d, 2, 3)),
        "exp": ("float64 for float32", lambda x: np.exp(x.astype(np.float64)), lambda d: t(d, 3).exp()),
        "sum": ("a Python float", lambda x, axis=None, keepdims=False: float(np.sum(x)), lambda d: t(d, 2, 2).sum()),
        "matmul": ("the transpose", lambda a, b: np.matmul(a, b).T.copy(), lambda d: t(d, 2, 3) @ t(d, 3, 4)),
        "reshape": ("ignores the shape", lambda x, shape, copy=None: x, lambda d: t(d, 2, 3).reshape(3, 2)),
        "astype": ("ignores the dtype", lambda x, dtype: x.copy(), lambda d: t(d, 2).double()),
        "equal": ("int8 instead of bool", lambda a, b: np.equal(a, b).astype(np.int8), lambda d: t(d, 2) == t(d, 2)),
        "getitem": ("float64 rows", lambda x, key: np.asarray(x[key], dtype=np.float64), lambda d: t(d, 2, 3)[0]),
        "zeros": (
            "the shape reversed",
            lambda shape, dtype: np.zeros(tuple(shape)[::-1], dtype),
            lambda d: plugrad.zeros(2, 3, device=d),
        ),
        "permute_dims": ("no permutation", lambda x, axes: x, lambda d: t(d, 2, 3).permute(1, 0)),
        "max": (
            "keepdims ignored",
            lambda x, axis=None, keepdims=False: np.max(x, axis=axis, keepdims=True),
            lambda d: t(d, 2, 3).amax(1),
        ),
        "concat": (
            "drops the last array",
            lambda arrays, axis=0: np.concatenate(arrays[:-1], axis),
            lambda d: plugrad.cat([t(d, 2), t(d, 3)]),
        ),
        "to_bytes": ("one byte short", lambda x: k["to_bytes"](x)[:-1], lambda d: plugrad.save(t(d, 3), io.BytesIO())),
        "tolist": ("a tuple", lambda x: tuple(x.tolist()), lambda d: t(d, 3).tolist()),
        "copy_into": (
            "returns its target",
            lambda dst, src: (k["copy_into"](dst, src), dst)[1],
            lambda d: t(d, 3).copy_(t(d, 3)),
        ),
        "from_bytes": (
            "float64 for float32",
            lambda buf, dtype, shape: np.frombuffer(buf, dtype=np.float32).astype(np.float64).reshape(shape),
            lambda d: plugrad.load(io.BytesIO(_saved), map_location=d),
        ),
    }


_buf = io.BytesIO()
plugrad.save(plugrad.ones(3), _buf)
_saved = _buf.getvalue()


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PLUGRAD_CHECK_KERNELS", "1")
    yield


@pytest.mark.parametrize("kernel", list(_broken_kernels()))
def test_a_lying_kernel_is_caught_at_the_boundary_naming_backend_kernel_and_plugin(kernel: str, checked: None) -> None:
    how, broken, reach = _broken_kernels()[kernel]
    name = f"liar_{kernel}"

    class Liar:
        @hookimpl
        def plugrad_backends(self) -> Sequence[BackendSpec]:
            return [spec(name, kernels={**NP_SPEC.kernels, kernel: broken})]

    reg = get_registry()
    reg.add_plugin(Liar(), f"liar-plugin-{kernel}")
    try:
        with pytest.raises(BackendError) as info:
            reach(name)
        message = str(info.value)
        check_error(info.value)
        assert f"kernel {kernel!r} of backend {name!r}" in message, message
        assert f"plugin 'liar-plugin-{kernel}'" in message and "PLUGRAD_CHECK_KERNELS" in message, message
        # the rest keeps working: the liar's other kernels, and the default backend
        other = plugrad.tensor([1.0, 2.0], device=name).neg() * 1
        if kernel != "tolist":
            assert other.tolist() == [-1.0, -2.0]
        assert (plugrad.ones(2) + 1).tolist() == [2.0, 2.0]
    finally:
        reg.remove_plugin(f"liar-plugin-{kernel}")
    count("plugins: lying kernels caught at the backend boundary")
    del how


def test_an_override_that_lies_is_named_as_the_kernels_supplier(checked: None) -> None:
    class Base:
        @hookimpl
        def plugrad_backends(self) -> Sequence[BackendSpec]:
            return [spec("overridden")]

    class Faster:
        @hookimpl
        def plugrad_kernel_overrides(self, backend: BackendSpec) -> Sequence[KernelOverride]:
            if backend.name != "overridden":
                return []
            return [KernelOverride("multiply", lambda a, b: np.multiply(a, b)[..., :1], 3)]

    reg = get_registry()
    reg.add_plugin(Base(), "overridden-base")
    try:
        x = plugrad.ones(2, 2, device="overridden")
        assert (x * x).tolist() == [[1.0, 1.0], [1.0, 1.0]]
        reg.add_plugin(Faster(), "faster-multiply")  # applied in place to the registered backend
        with pytest.raises(
            BackendError, match=r"kernel 'multiply' of backend 'overridden' \(supplied by plugin 'faster-multiply'\)"
        ):
            x * x
        reg.remove_plugin("faster-multiply")
        assert (x * x).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    finally:
        reg.remove_plugin("faster-multiply")
        reg.remove_plugin("overridden-base")


def test_without_the_switch_the_table_holds_the_plugins_own_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks cost nothing unless asked for: the kernels are the plugin's objects, unwrapped."""
    monkeypatch.delenv("PLUGRAD_CHECK_KERNELS", raising=False)
    reg = get_registry()

    class Plain:
        @hookimpl
        def plugrad_backends(self) -> Sequence[BackendSpec]:
            return [spec("plain")]

    reg.add_plugin(Plain(), "plain-plugin")
    try:
        be = reg.get("plain")
        assert all(getattr(be, k) is fn for k, fn in NP_SPEC.kernels.items())
    finally:
        reg.remove_plugin("plain-plugin")
    assert all(getattr(get_backend("numpy"), k) is fn for k, fn in NP_SPEC.kernels.items()) or os.environ.get(
        "PLUGRAD_CHECK_KERNELS"
    )


# ------------------------------------------------------------------ no false alarms
class CheckedNumpy:
    @hookimpl
    def plugrad_backends(self) -> Sequence[BackendSpec]:
        return [spec("numpychecked")]


@pytest.fixture(scope="class", autouse=True)
def _checked_numpy(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.cls is not TestCheckedKernelsPassTheConformanceSuite:
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLUGRAD_CHECK_KERNELS", "1")
        get_registry().add_plugin(CheckedNumpy(), "numpy-checked")
    be = get_backend("numpychecked")
    assert getattr(be.add, "_plugrad_checked", False)
    yield
    get_registry().remove_plugin("numpy-checked")


class TestCheckedKernelsPassTheConformanceSuite(BackendConformance):
    """Every conformance test through the checking wrappers: correct kernels are never refused."""

    backend_name = "numpychecked"
