"""Turning a group's source into a numba kernel, with numba's cache on disk and timing.

Numba caches a compiled function next to (or, with ``NUMBA_CACHE_DIR``, for) the file its
source lives in, so each distinct kernel source is written once to
``<cache dir>/fused_<hash>.py`` and imported from there: a later process that fuses the same
group finds the file and numba's cached machine code, and compiles nothing. The cache dir is
``$PLUGRAD_NUMBA_CACHE_DIR``, else ``$NUMBA_CACHE_DIR/plugrad_numba``, else
``$XDG_CACHE_HOME/plugrad_numba`` (``~/.cache/plugrad_numba``), else a folder in the
temporary directory when none of those is writable.

Numba compiles a kernel on its first call (when the argument types are known). The first
call goes through :class:`FirstCall`, which times it, counts it in :data:`stats` as a
compilation or a cache load (from the dispatcher's own hit and miss counters), and then
puts the dispatcher itself into the replayed code, so later calls pay no wrapper. Should
numba fail on a kernel, the first call computes the group with the original NumPy kernels
instead (with one :class:`~plugrad.compiler.CompileWarning`) and keeps doing so.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Stats", "stats", "compile_seconds", "reset_stats", "cache_dir", "load_kernel", "FirstCall"]


@dataclass
class Stats:
    """What the ``"numba"`` compiler did in this process (``plugrad_numba.stats``).

    :ivar compile_seconds: seconds numba spent compiling fused kernels (type inference, LLVM,
        writing its cache), measured around each first call that compiled; loads from the
        on-disk cache are not in it. Benchmarks report it apart from plugrad's own recording.
    :ivar kernels_compiled: kernels (per argument types) numba compiled.
    :ivar cache_load_seconds: seconds spent loading kernels from numba's on-disk cache.
    :ivar cache_loads: kernels loaded from that cache.
    :ivar programs: programs compiled by the ``"numba"`` compiler.
    :ivar groups: fused groups made (one numba call each per replay).
    :ivar fused_calls: kernel calls those groups replaced.
    :ivar fallbacks: groups numba could not compile, run with NumPy's kernels instead.
    """

    compile_seconds: float = 0.0
    kernels_compiled: int = 0
    cache_load_seconds: float = 0.0
    cache_loads: int = 0
    programs: int = 0
    groups: int = 0
    fused_calls: int = 0
    fallbacks: int = 0


#: this process's counters (module-level, so that a benchmark can read them)
stats = Stats()


def compile_seconds() -> float:
    """Seconds numba spent compiling fused kernels in this process (``stats.compile_seconds``)."""
    return stats.compile_seconds


def reset_stats() -> None:
    """Set every counter of :data:`stats` back to zero."""
    for name, value in Stats().__dict__.items():
        setattr(stats, name, value)


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError:
        return False
    return True


def cache_dir() -> Path:
    """Where kernel sources (and, unless ``NUMBA_CACHE_DIR`` says otherwise, numba's cache) live."""
    candidates: list[Path] = []
    if os.environ.get("PLUGRAD_NUMBA_CACHE_DIR"):
        candidates.append(Path(os.environ["PLUGRAD_NUMBA_CACHE_DIR"]))
    if os.environ.get("NUMBA_CACHE_DIR"):
        candidates.append(Path(os.environ["NUMBA_CACHE_DIR"]) / "plugrad_numba")
    xdg = os.environ.get("XDG_CACHE_HOME")
    candidates.append((Path(xdg) if xdg else Path.home() / ".cache") / "plugrad_numba")
    for path in candidates:
        if _writable(path):
            return path
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    fallback = Path(tempfile.gettempdir()) / f"plugrad_numba-{uid}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


#: changes when what numba's cache keeps for a kernel would no longer load (the module's name)
_FORMAT = "2"

_lock = threading.Lock()
#: source -> dispatcher, so equal groups share one kernel within the process
_kernels: dict[str, tuple[Callable[..., Any], Any]] = {}


def load_kernel(source: str) -> tuple[Callable[..., Any], Any]:
    """``(entry, kernel)`` defined by ``source`` (written to the cache dir once): what to call,
    and the numba dispatcher under it."""
    with _lock:
        kernel = _kernels.get(source)
        if kernel is not None:
            return kernel
        import numba

        digest = hashlib.sha256(f"{numba.__version__}\n{_FORMAT}\n{source}".encode()).hexdigest()[:24]
        folder = cache_dir()
        path = folder / f"fused_{digest}.py"
        try:
            current = path.read_text()
        except OSError:
            current = None
        if current != source:
            # write aside and rename: another process may be importing the same file right now
            tmp = folder / f".fused_{digest}.{os.getpid()}.{threading.get_ident()}.tmp"
            tmp.write_text(source)
            os.replace(tmp, path)
        # a top-level name in sys.modules: numba's cache finds the module of a cached kernel's
        # environment by importing its name (a dotted one would need its parent package to exist)
        name = f"_plugrad_numba_fused_{digest}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
            raise ImportError(f"cannot load the fused kernel {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        kernel = _kernels[source] = (module.entry, module.kernel)
        return kernel


def _counts(dispatcher: Any) -> tuple[int, int]:
    try:
        st = dispatcher.stats
        return sum(st.cache_hits.values()), sum(st.cache_misses.values())
    except Exception:  # a numba without these counters: count every first call as a compilation
        return 0, 0


class FirstCall:
    """The callable a fused group's call starts with (see the module's docs).

    :param entry: what computes the group (the numba kernel, or a Python function around it).
    :param dispatcher: the numba kernel.
    :param fallback: the same computation with the original NumPy kernels.
    :param where: the user's code the group came from, for the warning.
    """

    __slots__ = ("entry", "dispatcher", "fallback", "where", "namespaces", "target", "__name__")

    def __init__(self, entry: Callable[..., Any], dispatcher: Any, fallback: Callable[..., Any], where: str) -> None:
        self.entry = entry
        self.dispatcher = dispatcher
        self.fallback = fallback
        self.where = where
        #: the globals of generated runners that call this object (set by the compiler)
        self.namespaces: list[dict[str, Any]] = []
        #: what every call after the first runs (the dispatcher, or the fallback)
        self.target: Callable[..., Any] | None = None
        self.__name__ = "numba_fused"

    def __call__(self, *arrays: Any) -> Any:
        if self.target is not None:
            return self.target(*arrays)
        hits, misses = _counts(self.dispatcher)
        start = time.perf_counter()
        try:
            result = self.entry(*arrays)
        except Exception as exc:
            from plugrad.compiler import CompileWarning

            stats.fallbacks += 1
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            warnings.warn(
                f"plugrad.compile(backend='numba'): numba could not compile the fused loop of the calls at "
                f"{self.where or 'an unknown place'} ({type(exc).__name__}: {first}); they run as NumPy kernel calls",
                CompileWarning,
                stacklevel=2,
            )
            self._become(self.fallback)
            return self.fallback(*arrays)
        spent = time.perf_counter() - start
        hits2, misses2 = _counts(self.dispatcher)
        if misses2 > misses:
            stats.compile_seconds += spent
            stats.kernels_compiled += misses2 - misses
        elif hits2 > hits:
            stats.cache_load_seconds += spent
            stats.cache_loads += hits2 - hits
        self._become(self.entry)
        return result

    def _become(self, target: Callable[..., Any]) -> None:
        """Call ``target`` directly from now on, in every runner that calls this object."""
        self.target = target
        for ns in self.namespaces:
            for key, value in list(ns.items()):
                if value is self:
                    ns[key] = target
        self.namespaces = []
