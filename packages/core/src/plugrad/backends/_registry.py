"""Discovery and registration of backends: hooks called once, kernel tables frozen.

The registry is built lazily, the first time plugrad needs a backend (not at import),
so that importing plugrad is cheap and prints nothing.

Rules (documented for users in ``docs/writing-a-backend.md``):

- Every entry point of the ``plugrad`` group is a plugin, first-party backends included.
  With ``PLUGRAD_DISABLE_PLUGIN_AUTOLOAD=1`` none is loaded except those named in
  ``PLUGRAD_PLUGINS`` (comma-separated entry-point names, e.g. ``numpy,cupy``).
- A plugin that fails to import, raises in a hook, returns malformed records, or offers a
  backend without the required kernels or dtypes is reported with a :class:`PluginWarning`
  naming the plugin and the problem, and skipped; the other backends keep working.
- Two plugins offering a backend of one name are an error naming both plugins: at
  discovery the backend becomes unavailable with that reason (and a warning), in
  :meth:`Registry.add_plugin` a :class:`BackendError` is raised.
- Overrides of one kernel tied at the top priority follow one rule, at discovery and in
  :meth:`Registry.add_plugin` alike: all tied overrides are set aside (the next lower
  priority supplies the kernel, in the end the backend's own), the backend stays
  available and keeps its devices, and one :class:`PluginWarning` names both plugins, the
  backend, the kernel and how to resolve it (:attr:`Registry.conflicts`).
- The registry records which plugin supplies each kernel (:attr:`Backend.kernel_sources`).
- With ``PLUGRAD_CHECK_KERNELS=1`` set when a backend is registered, every kernel of its
  table checks its results against the contract (shape, dtype) and a broken one raises a
  :class:`BackendError` naming the backend, the kernel and the plugin (see ``_checked``).
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
from . import _checked, hookspecs
from ._spec import KERNELS, OPTIONAL_KERNELS, REQUIRED_KERNELS, BackendSpec, KernelOverride, check_contract_version

__all__ = [
    "Backend",
    "BackendError",
    "BackendInfo",
    "OverrideInfo",
    "PluginWarning",
    "ProcessGroupBackendInfo",
    "Registry",
    "get_registry",
    "get_backend",
    "default_backend",
]

ENTRY_POINT_GROUP = "plugrad"
_REQUIRED_DTYPES = ("bool", "int64", "float32")
_AUTOLOAD_ENV = "PLUGRAD_DISABLE_PLUGIN_AUTOLOAD"
_PLUGINS_ENV = "PLUGRAD_PLUGINS"


class BackendError(RuntimeError):
    """A backend is missing, unknown, unavailable, malformed or in conflict with another."""


class PluginWarning(UserWarning):
    """A plugin failed to load or register and was skipped."""


class Backend:
    """The frozen, attribute-access kernel table of one registered backend.

    Each backend gets its own subclass whose ``__slots__`` are the kernel names, so
    ``backend.add(x, y)`` is a plain slot lookup on the hot path. ``kernel_sources``
    maps each kernel name to the plugin that supplies it (the backend's own plugin, or
    the plugin whose override won).
    """

    __slots__ = (
        "_frozen",
        "capabilities",
        "device_type",
        "dtype_to_native",
        "kernel_sources",
        "name",
        "native_to_dtype",
        "plugin",
        "spec",
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

    # A backend is a process-wide singleton: copies are the backend itself, and a
    # pickled reference is its name.
    def __copy__(self) -> Backend:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Backend:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (get_backend, (self.name,))

    def has_kernel(self, name: str) -> bool:
        """Whether this backend has kernel ``name`` (optional kernels may be absent)."""
        return name in self.kernel_sources

    def native_dtype(self, dt: _dtype.dtype) -> Any:
        """The backend's dtype object for plugrad dtype ``dt`` (``TypeError`` if unsupported)."""
        try:
            return self.dtype_to_native[dt]
        except KeyError:
            raise TypeError(
                f"plugrad backend {self.name!r} does not support dtype {dt.name}: its dtype table maps "
                f"{', '.join(d.name for d in self.dtype_to_native)}"
            ) from None

    def _set_kernels(self, kernels: Mapping[str, Callable[..., Any]], sources: dict[str, str]) -> None:
        """Swap kernels in place (overrides added after discovery); the slot set never changes."""
        if _checked.enabled():
            kernels = _checked.wrap_kernels(self.name, kernels, sources, self.spec.dtypes)
        for name, fn in kernels.items():
            object.__setattr__(self, name, fn)
        object.__setattr__(self, "kernel_sources", sources)


def _make_backend(
    spec: BackendSpec, plugin: str, kernels: Mapping[str, Callable[..., Any]], sources: dict[str, str]
) -> Backend:
    # every kernel of the catalogue gets a slot, so that an override added later can fill
    # an optional kernel the backend left out
    names = tuple(sorted(KERNELS))
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
    if _checked.enabled():  # debug switch: every kernel result checked against the contract
        kernels = _checked.wrap_kernels(spec.name, kernels, sources, spec.dtypes)
    for name in kernels:
        object.__setattr__(be, name, kernels[name])
    object.__setattr__(be, "_frozen", True)
    return be


@dataclass
class OverrideInfo:
    """One kernel override in effect: ``backend.op`` now comes from ``plugin``."""

    backend: str
    op: str
    plugin: str
    priority: int


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
    capabilities: frozenset[str] = frozenset()
    dtypes: tuple[str, ...] = ()
    contract_version: str = ""
    priority: int = 0
    #: the plugin itself declared the backend unavailable on this machine
    #: (``BackendSpec.unavailable_reason``, e.g. no GPU), as opposed to a record plugrad rejected
    declared_unavailable: bool = False


@dataclass
class ProcessGroupBackendInfo:
    """One communication backend offered through ``plugrad_process_group_backends``.

    ``record`` is the plugin's record (a :class:`plugrad.distributed.ProcessGroupBackendSpec`
    or an object with the same attributes); ``available`` is false with ``reason`` set when
    the plugin declared it unusable here or plugrad rejected it (a name offered twice).
    """

    name: str
    plugin: str
    record: Any
    available: bool
    reason: str | None
    version: str = ""
    device_types: tuple[str, ...] = ()


def _core_distribution() -> str:
    """``"plugrad-core VERSION"`` (core's own plugins are not entry points)."""
    try:
        from importlib.metadata import version

        return f"plugrad-core {version('plugrad-core')}"
    except Exception:  # running from a source tree
        return "plugrad-core"


@dataclass
class CompilerInfo:
    """One compiler offered through ``plugrad_compilers`` (see :class:`plugrad.compiler.CompilerSpec`).

    ``backends`` names the backends whose programs it compiles (empty: any backend).
    """

    name: str
    plugin: str
    record: Any
    available: bool
    reason: str | None
    version: str = ""
    backends: tuple[str, ...] = ()
    description: str = ""


class Registry:
    """Collects backends from plugins once and hands out their kernel tables.

    :param autoload: load the ``plugrad`` entry points on first use (the process-wide
        registry does; tests build registries from explicit plugins with ``False``).
    """

    def __init__(self, *, autoload: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.autoload = autoload
        self.backends: dict[str, Backend] = {}
        self.infos: dict[str, BackendInfo] = {}
        #: plugin name -> why it (or one of its records) was skipped
        self.failed_plugins: dict[str, str] = {}
        #: entry points found but not loaded, -> why
        self.skipped_entry_points: dict[str, str] = {}
        #: plugin name -> "distribution version" it came from (entry points only)
        self.plugin_dists: dict[str, str] = {}
        self.overrides: list[OverrideInfo] = []
        #: override ties in effect (each message names the plugins, backend, kernel and fixes)
        self.conflicts: list[str] = []
        self._warned_conflicts: set[str] = set()
        #: communication backends (``plugrad_process_group_backends``), collected on first use
        self.process_group_backends: dict[str, ProcessGroupBackendInfo] = {}
        self._pg_collected = False
        #: compilers of recorded programs (``plugrad_compilers``), collected on first use
        self.compilers: dict[str, CompilerInfo] = {}
        self._compilers_collected = False
        self.generation = 0
        self._loaded = False
        self._loading = False
        self._lock = threading.RLock()
        self._default: Backend | None = None

    # -- problems ----------------------------------------------------------------
    def _warn(self, plugin: str, why: str) -> None:
        prev = self.failed_plugins.get(plugin)
        self.failed_plugins[plugin] = why if prev is None else f"{prev}; {why}"
        warnings.warn(f"plugrad plugin {plugin!r} was skipped: {why}", PluginWarning, stacklevel=4)

    def _conflict(self, backend: str, op: str, priority: int, plugins: list[str]) -> None:
        names = " and ".join(repr(p) for p in sorted(plugins))
        msg = (
            f"plugrad: plugins {names} both override kernel {op!r} of backend {backend!r} with priority {priority}; "
            f"neither override is used (the next lower priority supplies {op!r}, in the end the backend's own "
            f"kernel). To resolve it: uninstall one of them, load only one (PLUGRAD_DISABLE_PLUGIN_AUTOLOAD=1 and "
            f"PLUGRAD_PLUGINS naming the plugins to load), or ask their authors for distinct priorities"
        )
        if msg not in self.conflicts:
            self.conflicts.append(msg)
        if msg not in self._warned_conflicts:  # once per tie, not again when tables are re-resolved
            self._warned_conflicts.add(msg)
            warnings.warn(msg, PluginWarning, stacklevel=4)

    # -- discovery -------------------------------------------------------------
    @staticmethod
    def autoload_disabled() -> bool:
        """Whether ``PLUGRAD_DISABLE_PLUGIN_AUTOLOAD`` is set (to anything but ``0``/empty)."""
        return os.environ.get(_AUTOLOAD_ENV, "").strip() not in ("", "0")

    @staticmethod
    def named_plugins() -> set[str]:
        """The entry-point names listed in ``PLUGRAD_PLUGINS``."""
        return {n.strip() for n in os.environ.get(_PLUGINS_ENV, "").split(",") if n.strip()}

    def load_entry_points(self, only: Iterable[str] | None = None) -> None:
        """Import and register the modules of the ``plugrad`` entry-point group.

        With ``PLUGRAD_DISABLE_PLUGIN_AUTOLOAD=1`` only the entry points named in
        ``PLUGRAD_PLUGINS`` (comma-separated) or ``only`` are loaded; first-party
        backends are entry points like any other and need naming too.
        """
        wanted: set[str] | None = None
        if self.autoload_disabled():
            wanted = self.named_plugins()
        if only is not None:
            wanted = set(only) | (wanted or set())
        found: set[str] = set()
        for ep in _entry_points():
            found.add(ep.name)
            if wanted is not None and ep.name not in wanted:
                self.skipped_entry_points[ep.name] = (
                    f"not loaded: {_AUTOLOAD_ENV}=1 and {_PLUGINS_ENV} does not name it"
                )
                continue
            if self.pm.has_plugin(ep.name) or ep.name in self.failed_plugins:
                continue
            dist = getattr(ep, "dist", None)
            if dist is not None:
                self.plugin_dists[ep.name] = f"{dist.metadata['Name']} {dist.version}"
            try:
                plugin = ep.load()
            except (Exception, SystemExit) as exc:  # a broken plugin must not break (or end) plugrad
                self._warn(ep.name, f"import of {ep.value!r} failed: {type(exc).__name__}: {exc}")
                continue
            self.register_plugin(plugin, ep.name)
        if wanted:
            for name in sorted(wanted - found):
                self._warn(
                    name,
                    f"{_PLUGINS_ENV} names {name!r}, but no installed distribution has an entry point of that name "
                    f"in group {ENTRY_POINT_GROUP!r} (installed: {', '.join(sorted(found)) or 'none'})",
                )

    def register_plugin(self, plugin: object, name: str) -> bool:
        """Register a plugin object (a module or any object with hook functions); ``False`` if it failed."""
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._warn(name, f"registration failed: {type(exc).__name__}: {exc}")
            return False
        return True

    def _name_of(self, plugin: object) -> str:
        return self.pm.get_name(plugin) or repr(plugin)

    def _records(self, impl: Any, pname: str) -> list[BackendSpec]:
        """The valid records of one ``plugrad_backends`` implementation (problems are warned)."""
        try:
            result = impl.function()
        except (Exception, SystemExit) as exc:
            self._warn(pname, f"hook plugrad_backends raised {type(exc).__name__}: {exc}")
            return []
        if isinstance(result, BackendSpec) or isinstance(result, (str, bytes)) or not isinstance(result, Iterable):
            self._warn(pname, f"hook plugrad_backends returned {result!r} instead of a sequence of BackendSpec")
            return []
        good: list[BackendSpec] = []
        try:
            for rec in result:  # a generator may raise midway: the records before it still count
                problem = _check_spec(rec)
                if problem is not None:
                    self._warn(pname, problem)
                    continue
                good.append(rec)
        except (Exception, SystemExit) as exc:
            self._warn(pname, f"reading the records of hook plugrad_backends raised {type(exc).__name__}: {exc}")
        return good

    def _collect(self) -> None:
        by_name: dict[str, list[tuple[str, BackendSpec]]] = {}
        for impl in self.pm.hook.plugrad_backends.get_hookimpls():
            pname = self._name_of(impl.plugin)
            for rec in self._records(impl, pname):
                by_name.setdefault(rec.name, []).append((pname, rec))
        for name, entries in by_name.items():
            if len(entries) > 1:
                plugins = " and ".join(repr(p) for p, _ in entries)
                why = f"backend name {name!r} is registered twice: by plugin {plugins}; uninstall one of them"
                first_plugin, first = entries[0]
                self.backends.pop(name, None)
                self.infos[name] = BackendInfo(
                    name, first.device_type, first_plugin, False, why, getattr(first, "version", "")
                )
                for p, _ in entries[1:]:
                    self._warn(p, why)
                continue
            pname, spec = entries[0]
            self._register_spec(pname, spec)

    def _register_spec(self, pname: str, spec: BackendSpec) -> None:
        info = BackendInfo(
            spec.name,
            spec.device_type,
            pname,
            False,
            spec.unavailable_reason,
            spec.version,
            capabilities=frozenset(spec.capabilities),
            dtypes=tuple(spec.dtypes),
            contract_version=spec.contract_version,
            priority=spec.priority,
        )
        self.infos[spec.name] = info
        if spec.unavailable_reason is not None:
            info.declared_unavailable = True
            return
        problem = check_contract_version(spec.contract_version)
        if problem is None:
            missing = sorted(REQUIRED_KERNELS - set(spec.kernels))
            if missing:
                problem = f"is missing required kernels: {', '.join(missing)}"
        if problem is None:
            missing_dt = [d for d in _REQUIRED_DTYPES if d not in spec.dtypes]
            if missing_dt:
                problem = f"is missing required dtypes: {', '.join(missing_dt)}"
        if problem is None:
            problem = _native_dtype_problem(spec.dtypes)
        if problem is not None:
            info.reason = f"backend {spec.name!r} {problem}"
            self._warn(pname, info.reason)
            return
        kernels, sources, overrides = self._resolve(spec, pname)
        self.backends[spec.name] = _make_backend(spec, pname, kernels, sources)
        self.overrides.extend(overrides)
        info.available = True
        info.kernel_sources = sources
        self.generation += 1

    def _resolve(
        self, spec: BackendSpec, pname: str, extra_plugin: object = None
    ) -> tuple[dict[str, Callable[..., Any]], dict[str, str], list[OverrideInfo]]:
        """The kernel table of ``spec`` after every plugin's overrides.

        The backend's own kernels have priority 0; the highest positive priority wins;
        overrides tied at the top are set aside with a warning (:meth:`_conflict`).
        """
        chosen: dict[str, tuple[int, str, Callable[..., Any]]] = {}
        offers: dict[str, list[tuple[int, str, Callable[..., Any]]]] = {}
        for impl in self.pm.hook.plugrad_kernel_overrides.get_hookimpls():
            oname = self._name_of(impl.plugin)
            args = {"backend": spec}
            try:
                result = impl.function(*[args[a] for a in impl.argnames])
            except (Exception, SystemExit) as exc:
                self._warn(oname, f"hook plugrad_kernel_overrides raised {type(exc).__name__}: {exc}")
                continue
            if result is None:
                continue
            if isinstance(result, (KernelOverride, str, bytes)) or not isinstance(result, Iterable):
                self._warn(
                    oname, f"hook plugrad_kernel_overrides returned {result!r} instead of a sequence of KernelOverride"
                )
                continue
            try:
                records = list(result)
            except (Exception, SystemExit) as exc:
                self._warn(
                    oname, f"reading the records of hook plugrad_kernel_overrides raised {type(exc).__name__}: {exc}"
                )
                continue
            for rec in records:
                problem = _check_override(rec, spec)
                if problem is not None:
                    self._warn(oname, problem)
                    continue
                offers.setdefault(rec.op, []).append((rec.priority, oname, rec.kernel))
        # The one rule for ties, at discovery and in add_plugin alike: overrides tied at the
        # top priority of a kernel are all set aside (the next priority down supplies it, in
        # the end the backend's own kernel); nothing is disabled, and a warning names them.
        for op, offered in offers.items():
            while offered:
                top = max(o[0] for o in offered)
                tied = [o for o in offered if o[0] == top]
                if len(tied) == 1:
                    chosen[op] = tied[0]
                    break
                self._conflict(spec.name, op, top, [o[1] for o in tied])
                offered = [o for o in offered if o[0] != top]
        kernels: dict[str, Callable[..., Any]] = dict(spec.kernels)
        sources = {k: pname for k in kernels}
        records = []
        for op, (prio, oname, kernel) in sorted(chosen.items()):
            kernels[op] = kernel
            sources[op] = oname
            records.append(OverrideInfo(spec.name, op, oname, prio))
        return kernels, sources, records

    def ensure_loaded(self) -> None:
        """Load the entry points and collect the backends (once)."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            if self._loading:
                raise BackendError(
                    "plugrad backends are being registered: a plugin must not ask for a backend "
                    "(or create tensors) at import or inside its hooks"
                )
            self._loading = True
            try:
                if self.autoload:
                    self.load_entry_points()
                self._collect()
            finally:
                self._loading = False
            self._loaded = True

    # -- communication backends ----------------------------------------------------
    def process_group_backend_infos(self) -> dict[str, ProcessGroupBackendInfo]:
        """The communication backends every plugin offers, by name (hooks called once).

        A hook that raises or returns a malformed record is warned about and skipped; a
        name offered by two plugins is unavailable, with a reason naming both.
        """
        self.ensure_loaded()
        with self._lock:
            if not self._pg_collected:
                self._pg_collected = True
                self._collect_process_group_backends()
        return self.process_group_backends

    def _collect_named_records(self, hook: str, kind: str, factory: str) -> list[tuple[str, Any, str | None]]:
        """Call every plugin's ``hook`` (a list of records with ``name``, ``unavailable_reason`` and
        a callable ``factory`` attribute); warn about and skip malformed ones; return
        ``(plugin, record, reason)`` per name, a name offered twice being unavailable."""
        by_name: dict[str, list[tuple[str, Any]]] = {}
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            pname = self._name_of(impl.plugin)
            try:
                result = impl.function()
                records = None if isinstance(result, (str, bytes)) or not isinstance(result, Iterable) else list(result)
            except (Exception, SystemExit) as exc:
                self._warn(pname, f"hook {hook} raised {type(exc).__name__}: {exc}")
                continue
            if records is None:
                self._warn(pname, f"hook {hook} returned {result!r} instead of a sequence")
                continue
            for rec in records:
                name = getattr(rec, "name", None)
                reason = getattr(rec, "unavailable_reason", None)
                if not isinstance(name, str) or not name.isidentifier():
                    self._warn(pname, f"{kind} record {rec!r} has no identifier name")
                elif reason is not None and not isinstance(reason, str):
                    self._warn(pname, f"{kind} {name!r} has a malformed unavailable_reason {reason!r}")
                elif reason is None and not callable(getattr(rec, factory, None)):
                    self._warn(pname, f"{kind} {name!r} has no callable {factory!r}")
                else:
                    by_name.setdefault(name, []).append((pname, rec))
        found: list[tuple[str, Any, str | None]] = []
        for name, entries in by_name.items():
            pname, rec = entries[0]
            reason = getattr(rec, "unavailable_reason", None)
            if len(entries) > 1:
                plugins = " and ".join(repr(p) for p, _ in entries)
                reason = f"{kind} {name!r} is offered twice: by plugin {plugins}; uninstall one of them"
                for p, _ in entries[1:]:
                    self._warn(p, reason)
            found.append((pname, rec, reason))
        return found

    def _collect_process_group_backends(self) -> None:
        found = self._collect_named_records("plugrad_process_group_backends", "process-group backend", "create")
        for pname, rec, reason in found:
            try:
                devices = tuple(str(d) for d in getattr(rec, "device_types", ()))
            except Exception:  # a hostile record: its device list cannot be read
                devices = ()
            self.process_group_backends[rec.name] = ProcessGroupBackendInfo(
                rec.name, pname, rec, reason is None, reason, str(getattr(rec, "version", "") or ""), devices
            )

    # -- compilers ---------------------------------------------------------------------
    def compiler_infos(self) -> dict[str, CompilerInfo]:
        """The compilers every plugin offers through ``plugrad_compilers``, by name (hooks called once)."""
        self.ensure_loaded()
        with self._lock:
            if not self._compilers_collected:
                self._compilers_collected = True
                if not self.pm.has_plugin("plugrad.compile"):
                    from .. import _compile_builtin

                    self.pm.register(_compile_builtin, name="plugrad.compile")
                    self.plugin_dists.setdefault("plugrad.compile", _core_distribution())
                for pname, rec, reason in self._collect_named_records("plugrad_compilers", "compiler", "compile"):
                    try:
                        backends = tuple(str(b) for b in getattr(rec, "backends", None) or ())
                    except Exception:  # a hostile record
                        backends = ()
                    self.compilers[rec.name] = CompilerInfo(
                        rec.name,
                        pname,
                        rec,
                        reason is None,
                        reason,
                        str(getattr(rec, "version", "") or ""),
                        backends,
                        str(getattr(rec, "description", "") or ""),
                    )
        return self.compilers

    # -- changes after discovery -------------------------------------------------
    def add_plugin(self, plugin: object, name: str) -> None:
        """Register one more plugin after discovery (tests, scripts) and collect what it offers.

        Its backends are added (problems with its records are warned, as at discovery);
        its kernel overrides are applied, in place, to the backends already registered
        and to its own. A backend name that is already taken raises :class:`BackendError`
        naming both plugins, and the plugin is not added. An override tie follows the
        rule of discovery: the plugin is added, the tied overrides are set aside, and a
        :class:`PluginWarning` names the plugins (the result does not depend on the order
        in which plugins arrive).
        """
        self.ensure_loaded()
        with self._lock:
            if self.pm.has_plugin(name) or self.pm.is_registered(plugin):
                raise BackendError(f"a plugin named {name!r} (or this plugin object) is already registered")
            try:
                self.pm.register(plugin, name=name)
            except Exception as exc:
                raise BackendError(f"plugin {name!r} could not be registered: {type(exc).__name__}: {exc}") from exc
            try:
                new_specs: list[BackendSpec] = []
                for impl in self.pm.hook.plugrad_backends.get_hookimpls():
                    if impl.plugin is plugin:
                        new_specs.extend(self._records(impl, name))
                for spec in new_specs:
                    if spec.name in self.infos:
                        raise BackendError(
                            f"backend name {spec.name!r} is registered twice: by plugin "
                            f"{self.infos[spec.name].plugin!r} and by plugin {name!r}"
                        )
                # re-resolve the existing backends with the new plugin's overrides
                self.conflicts = []
                updates = [(be, *self._resolve(be.spec, be.plugin)) for be in self.backends.values()]
            except BaseException:
                self.pm.unregister(plugin)
                raise
            self._apply_updates(updates)
            for spec in new_specs:
                self._register_spec(name, spec)
            self._compilers_collected = False  # collected again, with the new plugin's, on next use
            self.compilers = {}

    def remove_plugin(self, name: str) -> None:
        """Unregister plugin ``name``: drop its backends and undo its kernel overrides."""
        self.ensure_loaded()
        with self._lock:
            plugin = self.pm.get_plugin(name)
            if plugin is not None:
                self.pm.unregister(plugin)
            for bname, info in list(self.infos.items()):
                if info.plugin == name:
                    del self.infos[bname]
                    be = self.backends.pop(bname, None)
                    if be is not None and self._default is be:
                        self._default = None
            self.failed_plugins.pop(name, None)
            self.conflicts = []
            updates = [(be, *self._resolve(be.spec, be.plugin)) for be in self.backends.values()]
            self._warned_conflicts &= set(self.conflicts)  # a tie that comes back is warned again
            self._apply_updates(updates)
            self.generation += 1
            self._compilers_collected = False  # collected again, without the plugin's, on next use
            self.compilers = {}

    def _apply_updates(self, updates: list[Any]) -> None:
        self.overrides = [o for o in self.overrides if o.backend not in {u[0].name for u in updates}]
        for be, kernels, sources, records in updates:
            be._set_kernels(kernels, sources)
            self.infos[be.name].kernel_sources = sources
            self.overrides.extend(records)
        self.generation += 1

    # -- lookup ----------------------------------------------------------------
    def get(self, name: str) -> Backend:
        """The backend registered as ``name``; :class:`BackendError` saying why when there is none."""
        self.ensure_loaded()
        be = self.backends.get(name)
        if be is not None:
            return be
        info = self.infos.get(name)
        if info is not None:
            raise BackendError(f"plugrad backend {name!r} is not available: {info.reason}")
        if name in self.skipped_entry_points:
            raise BackendError(
                f"plugrad plugin {name!r} is installed but was not loaded because {_AUTOLOAD_ENV}=1; "
                f"name it to load it: {_PLUGINS_ENV}={','.join(sorted(self.named_plugins() | {name}))}"
            )
        if name in self.failed_plugins:
            raise BackendError(f"plugrad plugin {name!r} failed to load: {self.failed_plugins[name]}")
        raise BackendError(f"unknown plugrad backend {name!r}; known backends: {self._known()}")

    def _known(self) -> str:
        names = sorted(self.infos)
        return ", ".join(repr(n) for n in names) if names else "none (no backend is installed)"

    def for_device_type(self, device_type: str) -> Backend:
        """The available backend of ``device_type`` with the highest priority."""
        self.ensure_loaded()
        candidates = [b for b in self.backends.values() if b.device_type == device_type]
        if not candidates:
            reasons = [f"{i.name}: {i.reason}" for i in self.infos.values() if i.device_type == device_type]
            if reasons:
                raise BackendError(f"no available plugrad backend for device {device_type!r} ({'; '.join(reasons)})")
            if not self.infos:
                raise BackendError(self._no_backend())
            hint = " (for CUDA: `pip install plugrad-backend-cupy[cuda12]`)" if device_type == "cuda" else ""
            raise BackendError(f"no plugrad backend for device {device_type!r}{hint}; known backends: {self._known()}")
        return max(candidates, key=lambda b: b.spec.priority)

    def default(self) -> Backend:
        """The default backend: ``PLUGRAD_BACKEND`` if set, else the best available CPU backend."""
        if self._default is not None:
            return self._default
        self.ensure_loaded()
        wanted = os.environ.get("PLUGRAD_BACKEND")
        if wanted:
            be = self.get(wanted)
        else:
            if not self.backends:
                if self.infos:
                    reasons = "; ".join(f"{i.name}: {i.reason}" for i in self.infos.values())
                    if self.failed_plugins:
                        failed = "; ".join(f"{p}: {why}" for p, why in self.failed_plugins.items())
                        reasons += f"; plugins that failed to load: {failed}"
                    raise BackendError(f"no plugrad backend is available ({reasons})")
                raise BackendError(self._no_backend())
            cpu = [b for b in self.backends.values() if b.device_type == "cpu"]
            pool = cpu or list(self.backends.values())
            be = max(pool, key=lambda b: b.spec.priority)
        self._default = be
        return be

    def _no_backend(self) -> str:
        if self.skipped_entry_points:
            names = ", ".join(sorted(self.skipped_entry_points))
            return (
                f"no plugrad backend is loaded: {_AUTOLOAD_ENV}=1 loads only the plugins named in {_PLUGINS_ENV} "
                f"(first-party backends included); installed plugins: {names}. Set for example "
                f"{_PLUGINS_ENV}={'numpy' if 'numpy' in self.skipped_entry_points else sorted(self.skipped_entry_points)[0]}"
            )
        if self.failed_plugins:
            failed = "; ".join(f"{p}: {why}" for p, why in self.failed_plugins.items())
            return f"no plugrad backend is available (plugins that failed to load: {failed})"
        return _NO_BACKEND

    def set_default(self, be: Backend | None) -> None:
        """Make ``be`` the default backend (``None``: choose again on next use, from ``PLUGRAD_BACKEND`` or priority)."""
        self._default = be
        self.generation += 1


_NO_BACKEND = (
    "no plugrad backend is installed; install one, for example `pip install plugrad-backend-numpy` "
    "(backends are found through the 'plugrad' entry-point group)"
)


def _entry_points() -> list[metadata.EntryPoint]:
    """The entry points of group ``plugrad``, each name once (tests replace this)."""
    seen: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        seen.setdefault(ep.name, ep)
    return list(seen.values())


def _check_spec(rec: object) -> str | None:
    """What is wrong with a record returned from ``plugrad_backends`` (``None`` if nothing)."""
    try:
        return _spec_problem(rec)
    except Exception as exc:  # hostile mappings and iterables: reading the record itself fails
        name = getattr(rec, "name", "?")
        return f"backend {name!r} has a malformed record: reading it raised {type(exc).__name__}: {exc}"


def _spec_problem(rec: object) -> str | None:
    if not isinstance(rec, BackendSpec):
        return f"plugrad_backends returned {type(rec).__name__} instead of a BackendSpec: {rec!r}"
    if not isinstance(rec.name, str) or not rec.name.isidentifier():
        return f"backend name must be an identifier string, got {rec.name!r}"
    if rec.name in ("cpu", "cuda"):
        return f"backend name {rec.name!r} is reserved for the device type; name the backend after its library"
    if not isinstance(rec.device_type, str) or not rec.device_type.isidentifier():
        return f"backend {rec.name!r} has a malformed device_type {rec.device_type!r}"
    if not isinstance(rec.contract_version, str):
        return f"backend {rec.name!r} has a malformed contract_version {rec.contract_version!r}"
    if not isinstance(rec.kernels, Mapping):
        return f"backend {rec.name!r} has a malformed kernel table (a mapping of name to callable is required)"
    not_callable = sorted(str(k) for k, v in rec.kernels.items() if not callable(v))
    if not_callable:
        return f"backend {rec.name!r} has kernels that are not callable: {', '.join(not_callable)}"
    unknown = sorted(set(map(str, rec.kernels)) - set(KERNELS))
    if unknown:
        return f"backend {rec.name!r} defines unknown kernels: {', '.join(unknown)}"
    if not isinstance(rec.dtypes, Mapping):
        return f"backend {rec.name!r} has a malformed dtype table (a mapping of plugrad dtype name to native dtype)"
    bad_dt = sorted(set(map(str, rec.dtypes)) - set(_dtype.BY_NAME))
    if bad_dt:
        return f"backend {rec.name!r} maps unknown dtypes: {', '.join(bad_dt)}"
    for native in rec.dtypes.values():
        hash(native)  # the registry keeps a native -> plugrad dtype table (unhashable: a malformed record)
    if isinstance(rec.capabilities, str) or not all(isinstance(c, str) for c in frozenset(rec.capabilities)):
        return f"backend {rec.name!r} has malformed capabilities {rec.capabilities!r} (a set of strings)"
    if not isinstance(rec.priority, int) or isinstance(rec.priority, bool):
        return f"backend {rec.name!r} has a malformed priority {rec.priority!r}"
    if rec.unavailable_reason is not None and not isinstance(rec.unavailable_reason, str):
        return f"backend {rec.name!r} has a malformed unavailable_reason {rec.unavailable_reason!r}"
    return None


def _native_dtype_problem(dtypes: Mapping[str, Any]) -> str | None:
    """A dtype table mapping to ``None``, or two plugrad dtypes to one native dtype, is malformed."""
    seen: dict[Any, str] = {}
    for dname, native in dtypes.items():
        if native is None:
            return f"maps dtype {dname!r} to None"
        if native in seen:
            return f"maps dtypes {seen[native]!r} and {dname!r} to the same native dtype {native!r}"
        seen[native] = dname
    return None


def _check_override(rec: object, spec: BackendSpec) -> str | None:
    if not isinstance(rec, KernelOverride):
        return f"plugrad_kernel_overrides returned {type(rec).__name__} instead of a KernelOverride: {rec!r}"
    if not isinstance(rec.op, str) or rec.op not in KERNELS:
        return f"kernel override of unknown kernel {rec.op!r} for backend {spec.name!r}"
    if not callable(rec.kernel):
        return f"kernel override of {rec.op!r} for backend {spec.name!r} is not callable: {rec.kernel!r}"
    if not isinstance(rec.priority, int) or isinstance(rec.priority, bool) or rec.priority <= 0:
        return f"kernel override of {rec.op!r} for backend {spec.name!r} needs a positive int priority, got {rec.priority!r}"
    if rec.op not in spec.kernels and rec.op not in OPTIONAL_KERNELS:
        return f"kernel override of {rec.op!r}: backend {spec.name!r} has no such kernel"
    return None


def core_version() -> str:
    """The installed version of plugrad-core."""
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
