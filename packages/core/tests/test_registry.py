"""The backend registry: overrides with priorities, conflicts naming both plugins, contract versions.

Each test builds its own :class:`Registry` from explicit plugin objects (no entry
points); the fake backends borrow the NumPy backend's kernel table.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
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
    check_contract_version,
    get_backend,
    hookimpl,
)


@pytest.fixture(autouse=True)
def _unchecked_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests follow the registry's bookkeeping with stand-in kernels (returning strings, compared
    by identity), so they run without PLUGRAD_CHECK_KERNELS's contract wrappers even where it is set."""
    monkeypatch.delenv("PLUGRAD_CHECK_KERNELS", raising=False)


@pytest.fixture(scope="module")
def np_spec() -> BackendSpec:
    return get_backend("numpy").spec


def spec_like(base: BackendSpec, name: str, **changes: Any) -> BackendSpec:
    fields = dict(
        name=name,
        device_type=base.device_type,
        contract_version=CONTRACT_VERSION,
        kernels=base.kernels,
        dtypes=base.dtypes,
        array_types=base.array_types,
        capabilities=base.capabilities,
        priority=0,
        version="test",
    )
    fields.update(changes)
    return BackendSpec(**fields)  # type: ignore[arg-type]


class BackendsPlugin:
    def __init__(self, *specs: Any) -> None:
        self.specs = list(specs)

    @hookimpl
    def plugrad_backends(self) -> Sequence[BackendSpec]:
        return self.specs


class OverridePlugin:
    def __init__(self, target: str, *records: KernelOverride) -> None:
        self.target = target
        self.records = list(records)

    @hookimpl
    def plugrad_kernel_overrides(self, backend: BackendSpec) -> Sequence[KernelOverride]:
        return self.records if backend.name == self.target else []


def build(*plugins: tuple[str, object]) -> Registry:
    reg = Registry(autoload=False)
    for name, plugin in plugins:
        reg.register_plugin(plugin, name)
    reg.ensure_loaded()
    return reg


def fake_add(x: Any, y: Any) -> str:
    return "fake"


def other_add(x: Any, y: Any) -> str:
    return "other"


# ------------------------------------------------------------------ overrides
def test_override_replaces_one_kernel_and_is_recorded(np_spec: BackendSpec) -> None:
    reg = build(
        ("base", BackendsPlugin(spec_like(np_spec, "base"))),
        ("fast", OverridePlugin("base", KernelOverride("add", fake_add, 5))),
    )
    be = reg.get("base")
    assert be.add(1, 2) == "fake"
    assert be.kernel_sources["add"] == "fast"
    assert be.kernel_sources["multiply"] == "base"
    assert be.multiply is np_spec.kernels["multiply"]
    [ov] = reg.overrides
    assert (ov.backend, ov.op, ov.plugin, ov.priority) == ("base", "add", "fast", 5)
    assert reg.infos["base"].kernel_sources["add"] == "fast"


def test_highest_priority_override_wins(np_spec: BackendSpec) -> None:
    reg = build(
        ("base", BackendsPlugin(spec_like(np_spec, "base"))),
        ("low", OverridePlugin("base", KernelOverride("add", fake_add, 1))),
        ("high", OverridePlugin("base", KernelOverride("add", other_add, 9))),
    )
    assert reg.get("base").add(1, 2) == "other"
    assert reg.get("base").kernel_sources["add"] == "high"


def test_override_tie_is_warned_naming_both_plugins(np_spec: BackendSpec) -> None:
    # the one rule for ties (test_plugin_hardening.py has the rest): both set aside, nothing disabled
    with pytest.warns(PluginWarning, match=r"plugins 'p1' and 'p2' both override kernel 'add' .* priority 3"):
        reg = build(
            ("base", BackendsPlugin(spec_like(np_spec, "base"), spec_like(np_spec, "spare"))),
            ("p1", OverridePlugin("base", KernelOverride("add", fake_add, 3))),
            ("p2", OverridePlugin("base", KernelOverride("add", other_add, 3))),
        )
    assert reg.get("base").add is np_spec.kernels["add"]
    assert reg.get("spare").add is np_spec.kernels["add"]  # the others keep working


@pytest.mark.parametrize(
    "record,problem",
    [
        (KernelOverride("add", fake_add, 0), "needs a positive int priority"),
        (KernelOverride("add", fake_add, -2), "needs a positive int priority"),
        (KernelOverride("no_such_kernel", fake_add, 1), "unknown kernel 'no_such_kernel'"),
        (KernelOverride("add", "not callable", 1), "is not callable"),  # type: ignore[arg-type]
        (("add", fake_add, 1), "instead of a KernelOverride"),
    ],
)
def test_malformed_override_is_warned_and_skipped(np_spec: BackendSpec, record: Any, problem: str) -> None:
    with pytest.warns(PluginWarning, match=f"'bad' was skipped: .*{problem}"):
        reg = build(("base", BackendsPlugin(spec_like(np_spec, "base"))), ("bad", OverridePlugin("base", record)))
    assert reg.get("base").add is np_spec.kernels["add"]
    assert "bad" in reg.failed_plugins


def test_override_can_supply_an_optional_kernel(np_spec: BackendSpec) -> None:
    def sigmoid(x: Any) -> str:
        return "fused"

    reg = build(
        ("base", BackendsPlugin(spec_like(np_spec, "base"))),
        ("fuse", OverridePlugin("base", KernelOverride("sigmoid", sigmoid, 1))),
    )
    assert reg.get("base").has_kernel("sigmoid") and reg.get("base").sigmoid(0) == "fused"


def test_add_plugin_overrides_existing_backend_in_place_and_remove_undoes(np_spec: BackendSpec) -> None:
    reg = build(("base", BackendsPlugin(spec_like(np_spec, "base"))))
    be = reg.get("base")
    reg.add_plugin(OverridePlugin("base", KernelOverride("add", fake_add, 2)), "late")
    assert reg.get("base") is be and be.add(1, 2) == "fake" and be.kernel_sources["add"] == "late"
    with pytest.warns(PluginWarning, match="plugins 'late' and 'tie' both override kernel 'add'"):
        reg.add_plugin(OverridePlugin("base", KernelOverride("add", other_add, 2)), "tie")
    assert be.add is np_spec.kernels["add"]  # the tie sets both aside, as at discovery
    reg.remove_plugin("tie")
    assert be.add(1, 2) == "fake"
    reg.remove_plugin("late")
    assert be.add is np_spec.kernels["add"] and be.kernel_sources["add"] == "base"
    assert reg.overrides == []


# ------------------------------------------------------------------ names
def test_duplicate_backend_name_names_both_plugins(np_spec: BackendSpec) -> None:
    with pytest.warns(PluginWarning, match="registered twice: by plugin 'one' and 'two'"):
        reg = build(
            ("one", BackendsPlugin(spec_like(np_spec, "same"))),
            ("two", BackendsPlugin(spec_like(np_spec, "same"), spec_like(np_spec, "fine"))),
        )
    with pytest.raises(BackendError, match="'one' and 'two'; uninstall one of them"):
        reg.get("same")
    assert reg.get("fine").name == "fine"


def test_add_plugin_with_taken_backend_name_raises(np_spec: BackendSpec) -> None:
    reg = build(("one", BackendsPlugin(spec_like(np_spec, "same"))))
    with pytest.raises(BackendError, match="registered twice: by plugin 'one' and by plugin 'two'"):
        reg.add_plugin(BackendsPlugin(spec_like(np_spec, "same")), "two")
    assert not reg.pm.has_plugin("two")
    with pytest.raises(BackendError, match="already registered"):
        reg.add_plugin(BackendsPlugin(), "one")


# ------------------------------------------------------------------ contract versions
@pytest.mark.parametrize(
    "version,message",
    [
        ("2.0", "written for backend contract 2.0, but this plugrad-core implements contract 1.3"),
        ("0.3", "written for backend contract 0.3, but this plugrad-core implements contract 1.3"),
        ("1.99", "newer than contract 1.3 of this plugrad-core; upgrade plugrad-core"),
        ("one", "malformed contract_version 'one'"),
        ("1", "malformed contract_version '1'"),
    ],
)
def test_contract_mismatch_gives_a_clear_message(np_spec: BackendSpec, version: str, message: str) -> None:
    assert CONTRACT_VERSION == "1.3"
    with pytest.warns(PluginWarning, match="'old' was skipped: backend 'legacy' .*" + message.replace(".", r"\.")):
        reg = build(
            ("old", BackendsPlugin(spec_like(np_spec, "legacy", contract_version=version))),
            ("ok", BackendsPlugin(spec_like(np_spec, "good"))),
        )
    with pytest.raises(BackendError, match=message.replace(".", r"\.")):
        reg.get("legacy")
    assert reg.get("good").name == "good"
    assert check_contract_version(CONTRACT_VERSION) is None and check_contract_version("1.0") is None
    # a backend written for 1.0 (before the optional sort/bitwise/to_numpy kernels) still runs


# ------------------------------------------------------------------ malformed backends
@pytest.mark.parametrize(
    "changes,problem",
    [
        ({"kernels": {}}, "is missing required kernels: abs, add, "),
        ({"dtypes": {"float32": None}}, "is missing required dtypes: bool, int64"),
        ({"name": "no spaces allowed"}, "backend name must be an identifier string"),
        ({"name": "cuda"}, "reserved for the device type"),
        ({"device_type": ""}, "malformed device_type"),
        ({"kernels": {"add": 3}}, "kernels that are not callable: add"),
        ({"kernels": {"frobnicate": abs}}, "unknown kernels: frobnicate"),
        ({"dtypes": {"complex64": object()}}, "maps unknown dtypes: complex64"),
        ({"capabilities": "dlpack"}, "malformed capabilities"),
    ],
)
def test_malformed_backend_is_warned_and_others_keep_working(
    np_spec: BackendSpec, changes: dict[str, Any], problem: str
) -> None:
    with pytest.warns(PluginWarning, match=r"'broken' was skipped: .*" + problem.replace("(", r"\(")):
        changes = dict(changes)
        reg = build(
            ("broken", BackendsPlugin(spec_like(np_spec, changes.pop("name", "brk"), **changes))),
            ("ok", BackendsPlugin(spec_like(np_spec, "good"))),
        )
    assert reg.get("good").add(1, 2) == 3
    assert "broken" in reg.failed_plugins


class RaisingPlugin:
    @hookimpl
    def plugrad_backends(self) -> Sequence[BackendSpec]:
        raise ZeroDivisionError("boom")


class NonePlugin:
    @hookimpl
    def plugrad_backends(self) -> Any:
        return None


class NotASpecPlugin:
    @hookimpl
    def plugrad_backends(self) -> Any:
        return [{"name": "dictbackend"}]


@pytest.mark.parametrize(
    "plugin,problem",
    [
        (RaisingPlugin(), "hook plugrad_backends raised ZeroDivisionError: boom"),
        (NonePlugin(), "returned None instead of a sequence of BackendSpec"),
        (NotASpecPlugin(), "returned dict instead of a BackendSpec"),
    ],
)
def test_broken_hooks_are_warned(np_spec: BackendSpec, plugin: object, problem: str) -> None:
    with pytest.warns(PluginWarning, match=f"'weird' was skipped: .*{problem}"):
        reg = build(("weird", plugin), ("ok", BackendsPlugin(spec_like(np_spec, "good"))))
    assert reg.get("good").name == "good"
    assert problem in reg.failed_plugins["weird"]


def test_hook_with_wrong_signature_is_warned(np_spec: BackendSpec) -> None:
    class WrongArgs:
        @hookimpl
        def plugrad_backends(self, device: str) -> Sequence[BackendSpec]:
            return []

    with pytest.warns(PluginWarning, match="'wrong' was skipped: registration failed"):
        reg = build(("wrong", WrongArgs()), ("ok", BackendsPlugin(spec_like(np_spec, "good"))))
    assert reg.get("good").name == "good"


# ------------------------------------------------------------------ availability
def test_unavailable_backend_reports_its_reason(np_spec: BackendSpec) -> None:
    gpu = BackendSpec(
        name="gpulib", device_type="cuda", contract_version=CONTRACT_VERSION, unavailable_reason="gpulib not installed"
    )
    reg = build(("gpu", BackendsPlugin(gpu)), ("ok", BackendsPlugin(spec_like(np_spec, "good"))))
    assert not reg.infos["gpulib"].available and reg.infos["gpulib"].reason == "gpulib not installed"
    with pytest.raises(BackendError, match="'gpulib' is not available: gpulib not installed"):
        reg.get("gpulib")
    with pytest.raises(
        BackendError, match=r"no available plugrad backend for device 'cuda' \(gpulib: gpulib not installed\)"
    ):
        reg.for_device_type("cuda")
    assert reg.default().name == "good"
    assert not reg.failed_plugins  # unavailable is not a failure


def test_no_backend_at_all_says_how_to_install_one() -> None:
    reg = Registry(autoload=False)
    with pytest.raises(
        BackendError,
        match="no plugrad backend is installed; install one, for example `pip install plugrad-backend-numpy`",
    ):
        reg.default()
    with pytest.raises(BackendError, match="unknown plugrad backend 'numpy'; known backends: none"):
        reg.get("numpy")


def test_default_prefers_cpu_and_priority(np_spec: BackendSpec) -> None:
    reg = build(
        ("a", BackendsPlugin(spec_like(np_spec, "low", priority=1), spec_like(np_spec, "high", priority=5))),
        ("g", BackendsPlugin(spec_like(np_spec, "gpu", device_type="cuda", priority=100))),
    )
    assert reg.default().name == "high"
    assert reg.for_device_type("cuda").name == "gpu"


def test_default_from_environment(np_spec: BackendSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGRAD_BACKEND", "low")
    reg = build(("a", BackendsPlugin(spec_like(np_spec, "low", priority=1), spec_like(np_spec, "high", priority=5))))
    assert reg.default().name == "low"


def test_kernel_table_is_frozen() -> None:
    be = get_backend("numpy")
    with pytest.raises(AttributeError, match="frozen"):
        be.add = fake_add  # type: ignore[method-assign]
    with pytest.raises(AttributeError, match="backend 'numpy' has no kernel 'frobnicate'"):
        be.frobnicate  # noqa: B018
    assert be.kernel_sources["add"] == "numpy"


def test_registry_is_built_lazily_and_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg = Registry()
        assert not reg._loaded
        assert reg.backends == {}
    assert plugrad.backends.get_registry()._loaded


def test_writing_a_backend_guide_lists_every_kernel_and_capability() -> None:
    from pathlib import Path

    from plugrad.backends import CAPABILITIES, KERNELS

    guide = Path(__file__).resolve().parents[3] / "docs" / "writing-a-backend.md"
    if not guide.exists():
        pytest.skip("docs/ is not next to this checkout")
    text = guide.read_text()
    missing = [k for k in KERNELS if f"| `{k}`" not in text] + [c for c in CAPABILITIES if f"| `{c}` |" not in text]
    assert not missing, f"docs/writing-a-backend.md lacks {missing}: regenerate its tables from KERNELS/CAPABILITIES"
