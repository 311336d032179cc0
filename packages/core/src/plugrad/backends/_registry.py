"""Discovery and registration of backends: hooks called once, kernel tables frozen.

The registry is built lazily, the first time plugrad needs a backend (not at import),
so that importing plugrad is cheap and prints nothing.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from .. import _dtype
from . import hookspecs
from ._spec import CONTRACT_VERSION, KERNELS, OPTIONAL_KERNELS, REQUIRED_KERNELS, BackendSpec, KernelOverride

__all__ = [
    "Backend",
    "BackendError",
    "PluginWarning",
    "Registry",
    "get_registry",
    "get_backend",
    "default_backend",
]

ENTRY_POINT_GROUP = "plugrad"
_REQUIRED_DTYPES = ("bool", "int64", "float32")


class BackendError(RuntimeError):
    """A backend is missing, unknown, unavailable or malformed."""


class PluginWarning(UserWarning):
    """A plugin failed to load or register and was skipped."""


class Backend:
    """The frozen, attribute-access kernel table of one registered backend.

    Each backend gets its own subclass whose ``__slots__`` are the kernel names, so
    ``backend.add(x, y)`` is a plain slot lookup on the hot path.
    """

    __slots__ = (
        "name",
        "device_type",
        "plugin",
        "spec",
        "dtype_to_native",
        "native_to_dtype",
        "kernel_sources",
        "capabilities",
        "_frozen",
    )
    name: str
    device_type: str
    plugin: str
    spec: BackendSpec
    dtype_to_native: dict[_dtype.dtype, Any]
    native_to_dtype: dict[Any, _dtype.dtype]
    kernel_sources: dict[str, str]
    capabilities: frozenset[str]

    def __setattr__(self, key: str, value: object) -> None:
        try:
            frozen = object.__getattribute__(self, "_frozen")
        except AttributeError:
            frozen = False
        if frozen:
            raise AttributeError(f"the kernel table of backend {self.name!r} is frozen")
        object.__setattr__(self, key, value)

    def __getattr__(self, key: str) -> Any:
        # Only reached for names that are not (set) slots of this backend.
        name = object.__getattribute__(self, "name") if key != "name" else "?"
        raise AttributeError(f"backend {name!r} has no kernel {key!r}")

    def __repr__(self) -> str:
        return f"<plugrad backend {self.name!r} ({self.device_type}) from {self.plugin!r}>"

    def native_dtype(self, dt: _dtype.dtype) -> Any:
        try:
            return self.dtype_to_native[dt]
        except KeyError:
            raise TypeError(f"backend {self.name!r} does not support dtype {dt!r}") from None


def _make_backend(spec: BackendSpec, plugin: str, kernels: Mapping[str, Callable[..., Any]], sources: dict[str, str]) -> Backend:
    names = tuple(sorted(kernels))
    cls = type(f"{spec.name}_Backend", (Backend,), {"__slots__": names})
    be: Backend = cls()
    be.name = spec.name
    be.device_type = spec.device_type
    be.plugin = plugin
    be.spec = spec
    be.capabilities = frozenset(spec.capabilities)
    d2n: dict[_dtype.dtype, Any] = {}
    for dname, native in spec.dtypes.items():
        d2n[_dtype.BY_NAME[dname]] = native
    be.dtype_to_native = d2n
    be.native_to_dtype = {native: dt for dt, native in d2n.items()}
    be.kernel_sources = sources
    for name in names:
        object.__setattr__(be, name, kernels[name])
    object.__setattr__(be, "_frozen", True)
    return be


@dataclass
class BackendInfo:
    """What ``plugrad info`` reports about one discovered backend."""

    name: str
    device_type: str
    plugin: str
    available: bool
    reason: str | None
    version: str
    kernel_sources: dict[str, str] = field(default_factory=dict)


class Registry:
    """Collects backends from plugins once and hands out their kernel tables."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.backends: dict[str, Backend] = {}
        self.infos: dict[str, BackendInfo] = {}
        self.failed_plugins: dict[str, str] = {}
        self._loaded = False
        self._lock = threading.RLock()
        self._default: Backend | None = None

    # -- discovery -------------------------------------------------------------
    def _warn(self, plugin: str, why: str) -> None:
        self.failed_plugins[plugin] = why
        warnings.warn(f"plugrad plugin {plugin!r} was skipped: {why}", PluginWarning, stacklevel=4)

    def load_entry_points(self, only: Iterable[str] | None = None) -> None:
        """Import and register the modules of the ``plugrad`` entry-point group.

        With ``PLUGRAD_DISABLE_PLUGIN_AUTOLOAD=1`` only the entry points named in
        ``PLUGRAD_PLUGINS`` (comma-separated) or ``only`` are loaded.
        """
        wanted: set[str] | None = None
        if os.environ.get("PLUGRAD_DISABLE_PLUGIN_AUTOLOAD", "") not in ("", "0"):
            wanted = {n.strip() for n in os.environ.get("PLUGRAD_PLUGINS", "").split(",") if n.strip()}
        if only is not None:
            wanted = set(only) | (wanted or set())
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if wanted is not None and ep.name not in wanted:
                continue
            if self.pm.has_plugin(ep.name) or ep.name in self.failed_plugins:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not break plugrad
                self._warn(ep.name, f"import of {ep.value!r} failed: {type(exc).__name__}: {exc}")
                continue
            self.register_plugin(plugin, ep.name)

    def register_plugin(self, plugin: object, name: str) -> None:
        """Register a plugin object (a module or any object with hook functions)."""
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._warn(name, f"registration failed: {type(exc).__name__}: {exc}")

    def _collect(self) -> None:
        specs: list[tuple[str, BackendSpec]] = []
        for impl in self.pm.hook.plugrad_backends.get_hookimpls():
            pname = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            try:
                records = list(impl.function())
            except Exception as exc:
                self._warn(pname, f"hook plugrad_backends raised {type(exc).__name__}: {exc}")
                continue
            for rec in records:
                problem = _check_spec(rec)
                if problem is not None:
                    self._warn(pname, problem)
                    continue
                specs.append((pname, rec))

        seen: dict[str, str] = {name: be.plugin for name, be in self.backends.items()}
        seen.update({name: info.plugin for name, info in self.infos.items()})
        for pname, spec in specs:
            if spec.name in seen:
                raise BackendError(
                    f"backend name {spec.name!r} is registered twice: by plugin {seen[spec.name]!r} "
                    f"and by plugin {pname!r}; uninstall one of them"
                )
            seen[spec.name] = pname
            self._register_spec(pname, spec)

    def _register_spec(self, pname: str, spec: BackendSpec) -> None:
        info = BackendInfo(spec.name, spec.device_type, pname, False, spec.unavailable_reason, spec.version)
        self.infos[spec.name] = info
        if spec.unavailable_reason is not None:
            return
        major = spec.contract_version.split(".")[0]
        if major != CONTRACT_VERSION.split(".")[0]:
            info.reason = (
                f"written for backend contract {spec.contract_version}, "
                f"but plugrad-core {_core_version()} implements contract {CONTRACT_VERSION}"
            )
            self._warn(pname, f"backend {spec.name!r} {info.reason}")
            return
        missing = sorted(REQUIRED_KERNELS - OPTIONAL_KERNELS - set(spec.kernels))
        if missing:
            info.reason = f"missing required kernels: {', '.join(missing)}"
            self._warn(pname, f"backend {spec.name!r} is {info.reason}")
            return
        missing_dt = [d for d in _REQUIRED_DTYPES if d not in spec.dtypes]
        if missing_dt:
            info.reason = f"missing required dtypes: {', '.join(missing_dt)}"
            self._warn(pname, f"backend {spec.name!r} is {info.reason}")
            return
        kernels: dict[str, Callable[..., Any]] = dict(spec.kernels)
        sources = {k: pname for k in kernels}
        self._apply_overrides(spec, kernels, sources)
        self.backends[spec.name] = _make_backend(spec, pname, kernels, sources)
        info.available = True
        info.kernel_sources = sources

    def _apply_overrides(self, spec: BackendSpec, kernels: dict[str, Callable[..., Any]], sources: dict[str, str]) -> None:
        chosen: dict[str, tuple[int, str, Callable[..., Any]]] = {}
        for impl in self.pm.hook.plugrad_kernel_overrides.get_hookimpls():
            pname = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            try:
                records = list(impl.function(backend=spec))
            except Exception as exc:
                self._warn(pname, f"hook plugrad_kernel_overrides raised {type(exc).__name__}: {exc}")
                continue
            for rec in records:
                if not isinstance(rec, KernelOverride) or rec.op not in KERNELS or not callable(rec.kernel):
                    self._warn(pname, f"malformed kernel override {rec!r} for backend {spec.name!r}")
                    continue
                if rec.priority <= 0:
                    self._warn(pname, f"kernel override of {rec.op!r} needs a positive priority, got {rec.priority}")
                    continue
                prev = chosen.get(rec.op)
                if prev is not None and prev[0] == rec.priority:
                    raise BackendError(
                        f"ambiguous override of kernel {rec.op!r} of backend {spec.name!r}: plugins {prev[1]!r} "
                        f"and {pname!r} both use priority {rec.priority}"
                    )
                if prev is None or rec.priority > prev[0]:
                    chosen[rec.op] = (rec.priority, pname, rec.kernel)
        for op, (_, pname, kernel) in chosen.items():
            kernels[op] = kernel
            sources[op] = pname

    def ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            self.load_entry_points()
            self._collect()
            self._loaded = True

    def add_plugin(self, plugin: object, name: str) -> None:
        """Register one more plugin after discovery (tests, scripts) and collect its backends."""
        self.ensure_loaded()
        with self._lock:
            if self.pm.has_plugin(name):
                raise BackendError(f"a plugin named {name!r} is already registered")
            before = set(self.pm.get_plugins())
            self.register_plugin(plugin, name)
            if set(self.pm.get_plugins()) == before:
                return
            for impl in self.pm.hook.plugrad_backends.get_hookimpls():
                if impl.plugin is plugin:
                    break
            else:
                return
            others = [p for p in self.pm.get_plugins() if p is not plugin]
            sub = self.pm.subset_hook_caller("plugrad_backends", remove_plugins=others)
            try:
                records = [r for rs in sub() for r in rs]
            except Exception as exc:
                self.pm.unregister(plugin)
                self._warn(name, f"hook plugrad_backends raised {type(exc).__name__}: {exc}")
                return
            for rec in records:
                problem = _check_spec(rec)
                if problem is not None:
                    self._warn(name, problem)
                    continue
                if rec.name in self.infos:
                    raise BackendError(
                        f"backend name {rec.name!r} is registered twice: by plugin "
                        f"{self.infos[rec.name].plugin!r} and by plugin {name!r}"
                    )
                self._register_spec(name, rec)

    # -- lookup ----------------------------------------------------------------
    def get(self, name: str) -> Backend:
        self.ensure_loaded()
        be = self.backends.get(name)
        if be is not None:
            return be
        info = self.infos.get(name)
        if info is not None:
            raise BackendError(f"plugrad backend {name!r} is not available: {info.reason}")
        raise BackendError(f"unknown plugrad backend {name!r}; known backends: {self._known()}")

    def _known(self) -> str:
        names = sorted(self.infos)
        return ", ".join(repr(n) for n in names) if names else "none (no backend is installed)"

    def for_device_type(self, device_type: str) -> Backend:
        self.ensure_loaded()
        candidates = [b for b in self.backends.values() if b.device_type == device_type]
        if not candidates:
            reasons = [f"{i.name}: {i.reason}" for i in self.infos.values() if i.device_type == device_type]
            if reasons:
                raise BackendError(f"no available plugrad backend for device {device_type!r} ({'; '.join(reasons)})")
            if not self.infos:
                raise BackendError(_NO_BACKEND)
            raise BackendError(f"no plugrad backend for device {device_type!r}; known backends: {self._known()}")
        return max(candidates, key=lambda b: b.spec.priority)

    def default(self) -> Backend:
        if self._default is not None:
            return self._default
        self.ensure_loaded()
        wanted = os.environ.get("PLUGRAD_BACKEND")
        if wanted:
            be = self.get(wanted)
        else:
            if not self.backends:
                if self.failed_plugins and not self.infos:
                    failed = "; ".join(f"{p}: {why}" for p, why in self.failed_plugins.items())
                    raise BackendError(f"no plugrad backend is available (plugins that failed to load: {failed})")
                if self.infos:
                    reasons = "; ".join(f"{i.name}: {i.reason}" for i in self.infos.values())
                    raise BackendError(f"no plugrad backend is available ({reasons})")
                raise BackendError(_NO_BACKEND)
            cpu = [b for b in self.backends.values() if b.device_type == "cpu"]
            pool = cpu or list(self.backends.values())
            be = max(pool, key=lambda b: b.spec.priority)
        self._default = be
        return be

    def set_default(self, be: Backend | None) -> None:
        self._default = be


_NO_BACKEND = (
    "no plugrad backend is installed; install one, for example `pip install plugrad-backend-numpy` "
    "(backends are found through the 'plugrad' entry-point group)"
)


def _check_spec(rec: object) -> str | None:
    if not isinstance(rec, BackendSpec):
        return f"plugrad_backends returned {type(rec).__name__} instead of a BackendSpec: {rec!r}"
    if not isinstance(rec.name, str) or not rec.name.isidentifier():
        return f"backend name must be an identifier string, got {rec.name!r}"
    if not isinstance(rec.device_type, str) or not rec.device_type:
        return f"backend {rec.name!r} has no device_type"
    if not isinstance(rec.contract_version, str):
        return f"backend {rec.name!r} has a malformed contract_version {rec.contract_version!r}"
    if not isinstance(rec.kernels, Mapping) or not all(callable(k) for k in rec.kernels.values()):
        return f"backend {rec.name!r} has a malformed kernel table (a mapping of name to callable is required)"
    unknown = sorted(set(rec.kernels) - set(KERNELS))
    if unknown:
        return f"backend {rec.name!r} defines unknown kernels: {', '.join(unknown)}"
    bad_dt = sorted(set(rec.dtypes) - set(_dtype.BY_NAME))
    if bad_dt:
        return f"backend {rec.name!r} maps unknown dtypes: {', '.join(bad_dt)}"
    return None


def _core_version() -> str:
    try:
        return metadata.version("plugrad-core")
    except metadata.PackageNotFoundError:
        return "(source tree)"


_registry: Registry | None = None
_registry_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry (created on first use)."""
    global _registry
    if _registry is None:
        with _registry_lock:
            if _registry is None:
                _registry = Registry()
    return _registry


def get_backend(name: str) -> Backend:
    """The backend registered under ``name``."""
    return get_registry().get(name)


def default_backend() -> Backend:
    """The default backend: ``PLUGRAD_BACKEND`` if set, else the best available CPU backend."""
    return get_registry().default()
