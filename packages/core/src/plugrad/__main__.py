"""``python -m plugrad info`` (also the ``plugrad`` console script): what plugrad finds here.

It prints the versions (plugrad-core, the backend contract, Python, pluggy), every
discovered backend with its device type, availability and, when unavailable, why
(``cupy not installed``, ``no CUDA device: ...``), the library version under each
backend and the plugin and distribution it came from, which backend ``"cpu"``,
``"cuda"`` and the default stand for, plugins that failed to load and why, plugins
not loaded because autoload is off, and the kernel overrides in effect.
``--json`` prints the same as JSON; ``--kernels`` also lists which plugin supplies
each kernel of each backend.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import warnings
from collections.abc import Sequence
from importlib import metadata
from typing import Any

__all__ = ["main", "collect_info", "format_info"]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def collect_info() -> dict[str, Any]:
    """Everything ``plugrad info`` reports, as plain data."""
    from . import __version__
    from .backends._registry import _AUTOLOAD_ENV, _PLUGINS_ENV, Registry
    from .plugins import CONTRACT_VERSION, BackendError, get_registry

    reg = get_registry()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # problems are reported below, not as warnings
        reg.ensure_loaded()
    backends = []
    for info in sorted(reg.infos.values(), key=lambda i: (i.device_type != "cpu", i.device_type, i.name)):
        backends.append(
            {
                "name": info.name,
                "device_type": info.device_type,
                "available": info.available,
                "reason": info.reason,
                "library_version": info.version,
                "plugin": info.plugin,
                "distribution": reg.plugin_dists.get(info.plugin, ""),
                "contract_version": info.contract_version,
                "priority": info.priority,
                "capabilities": sorted(info.capabilities),
                "dtypes": list(info.dtypes),
                "kernel_sources": dict(sorted(info.kernel_sources.items())),
            }
        )
    devices: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    from ._device import backend_for_device

    for dev in ("cpu", "cuda"):
        try:
            devices[dev] = backend_for_device(dev).name
        except (BackendError, RuntimeError) as exc:
            devices[dev] = None
            errors[dev] = str(exc)
    try:
        default: str | None = reg.default().name
        default_error = None
    except BackendError as exc:
        default, default_error = None, str(exc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # broken plugins are listed under failed_plugins
        pg_infos = reg.process_group_backend_infos()
        compiler_infos = reg.compiler_infos()
    compilers = [
        {
            "name": i.name,
            "available": i.available,
            "reason": i.reason,
            "version": i.version,
            "backends": list(i.backends),
            "description": i.description,
            "plugin": i.plugin,
            "distribution": reg.plugin_dists.get(i.plugin, ""),
        }
        for i in sorted(compiler_infos.values(), key=lambda i: i.name)
    ]
    process_group_backends = [
        {
            "name": i.name,
            "available": i.available,
            "reason": i.reason,
            "library_version": i.version,
            "device_types": list(i.device_types),
            "plugin": i.plugin,
            "distribution": reg.plugin_dists.get(i.plugin, ""),
        }
        for i in sorted(pg_infos.values(), key=lambda i: i.name)
    ]
    return {
        "plugrad_core": __version__,
        "plugrad_core_distribution": _version("plugrad-core"),
        "packages": {name: _version(name) for name in ("plugrad-nn", "plugrad-optim", "plugrad-distributed")},
        "contract_version": CONTRACT_VERSION,
        "python": platform.python_version(),
        "pluggy": _version("pluggy"),
        "autoload": not Registry.autoload_disabled(),
        "named_plugins": sorted(Registry.named_plugins()),
        "env": {k: os.environ[k] for k in (_AUTOLOAD_ENV, _PLUGINS_ENV, "PLUGRAD_BACKEND") if k in os.environ},
        "backends": backends,
        "default_backend": default,
        "default_backend_error": default_error,
        "devices": devices,
        "device_errors": errors,
        "failed_plugins": dict(reg.failed_plugins),
        "skipped_plugins": dict(reg.skipped_entry_points),
        "process_group_backends": process_group_backends,
        "compilers": compilers,
        "overrides": [
            {"backend": o.backend, "kernel": o.op, "plugin": o.plugin, "priority": o.priority} for o in reg.overrides
        ],
        "override_conflicts": list(getattr(reg, "conflicts", [])),
        "plugins": _plugins(reg),
    }


def _plugins(reg: Any) -> list[dict[str, Any]]:
    """Every plugin, of every kind: its distribution and version, what it registered, why it was skipped."""
    names: list[str] = []
    for name, _plugin in reg.pm.list_name_plugin():
        if name is not None and not name.startswith("plugrad-testing-"):
            names.append(name)
    for name in (*reg.failed_plugins, *reg.skipped_entry_points):
        if name not in names:
            names.append(name)
    registered: dict[str, list[str]] = {n: [] for n in names}

    def add(plugin: str, what: str) -> None:
        registered.setdefault(plugin, []).append(what)

    for info in sorted(reg.infos.values(), key=lambda i: i.name):
        add(info.plugin, f"backend {info.name}" + ("" if info.available else " (unavailable)"))
    for o in reg.overrides:
        add(o.plugin, f"overrides {o.backend}.{o.op} (priority {o.priority})")
    for pg in getattr(reg, "process_group_backends", {}).values():
        add(pg.plugin, f"communication backend {pg.name}" + ("" if pg.available else " (unavailable)"))
    for kind in ("compilers",):  # other plugin kinds the registry collects, when present
        for rec in getattr(reg, kind, {}).values():
            add(getattr(rec, "plugin", "?"), f"{kind[:-1]} {getattr(rec, 'name', '?')}")
    out = []
    for name, what in registered.items():
        problems = [why for p, why in reg.failed_plugins.items() if p == name]
        problems += [why for p, why in reg.skipped_entry_points.items() if p == name]
        out.append(
            {
                "name": name,
                "distribution": reg.plugin_dists.get(name, ""),
                "registered": what,
                "skipped": "; ".join(problems) or None,
            }
        )
    return out


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def format_info(data: dict[str, Any], *, kernels: bool = False) -> str:
    """The human-readable report of :func:`collect_info`'s data."""
    out: list[str] = []
    extra = ", ".join(f"{k} {v}" for k, v in data["packages"].items() if v != "not installed")
    out.append(
        f"plugrad-core {data['plugrad_core']} (backend contract {data['contract_version']})"
        + (f", {extra}" if extra else "")
        + f"; Python {data['python']}, pluggy {data['pluggy']}"
    )
    if data["autoload"]:
        out.append("plugin autoload: on (every entry point of group 'plugrad' is loaded)")
    else:
        named = ",".join(data["named_plugins"]) or "(none)"
        out.append(f"plugin autoload: off (PLUGRAD_DISABLE_PLUGIN_AUTOLOAD=1); loading only PLUGRAD_PLUGINS={named}")
    out.append("")
    if data["backends"]:
        out.append("backends:")
        rows = [["name", "device", "available", "library version", "plugin (distribution)"]]
        for b in data["backends"]:
            avail = "yes" if b["available"] else f"no: {b['reason']}"
            plugin = b["plugin"] + (f" ({b['distribution']})" if b["distribution"] else "")
            rows.append([b["name"], b["device_type"], avail, b["library_version"] or "-", plugin])
        out.extend(_table(rows))
    else:
        out.append("backends: none found")
    out.append("")
    if data["default_backend"] is not None:
        how = (
            f"PLUGRAD_BACKEND={data['env']['PLUGRAD_BACKEND']}"
            if "PLUGRAD_BACKEND" in data["env"]
            else "best CPU backend"
        )
        out.append(f"default backend: {data['default_backend']} ({how})")
    else:
        out.append(f"default backend: none: {data['default_backend_error']}")
    for dev, name in data["devices"].items():
        shown = name if name is not None else f"unavailable: {data['device_errors'][dev]}"
        out.append(f"device {dev!r}: {shown}")
    if data["failed_plugins"]:
        out.append("")
        out.append("plugins that failed to load or register:")
        out.extend(f"  {p}: {why}" for p, why in data["failed_plugins"].items())
    if data["skipped_plugins"]:
        out.append("")
        out.append("installed plugins not loaded:")
        out.extend(f"  {p}: {why}" for p, why in data["skipped_plugins"].items())
    out.append("")
    if data["overrides"]:
        out.append("kernel overrides in effect:")
        out.extend(
            f"  {o['backend']}.{o['kernel']} <- plugin {o['plugin']} (priority {o['priority']})"
            for o in data["overrides"]
        )
    else:
        out.append("kernel overrides in effect: none")
    out.append("")
    if data.get("process_group_backends"):
        out.append("communication backends (init_process_group):")
        rows = [["name", "devices", "available", "library version", "plugin (distribution)"]]
        for c in data["process_group_backends"]:
            avail = "yes" if c["available"] else f"no: {c['reason']}"
            plugin = c["plugin"] + (f" ({c['distribution']})" if c["distribution"] else "")
            rows.append([c["name"], ",".join(c["device_types"]) or "-", avail, c["library_version"] or "-", plugin])
        out.extend(_table(rows))
    else:
        out.append("communication backends (init_process_group): none (pip install plugrad-distributed[mpi])")
    if data.get("compilers"):
        out.append("compilers (plugrad.compile(backend=...)):")
        rows = [["name", "backends", "available", "version", "plugin (distribution)", "what it does"]]
        for c in data["compilers"]:
            avail = "yes" if c["available"] else f"no: {c['reason']}"
            plugin = c["plugin"] + (f" ({c['distribution']})" if c["distribution"] else "")
            rows.append(
                [c["name"], ",".join(c["backends"]) or "any", avail, c["version"] or "-", plugin, c["description"]]
            )
        out.extend(_table(rows))
    for c in data.get("override_conflicts", []):
        out.append(f"  conflict: {c}")
    if data.get("plugins"):
        out.append("")
        out.append("plugins:")
        rows = [["name", "distribution", "registered"]]
        for p in data["plugins"]:
            what = ", ".join(p["registered"]) or "nothing"
            if p["skipped"]:
                what = (what + "; " if p["registered"] else "") + f"skipped: {p['skipped']}"
            rows.append([p["name"], p["distribution"] or "(not from an installed distribution)", what])
        out.extend(_table(rows))
    if kernels:
        for b in data["backends"]:
            if b["kernel_sources"]:
                out.append("")
                out.append(f"kernels of {b['name']}:")
                out.extend(f"  {k}: {src}" for k, src in b["kernel_sources"].items())
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m plugrad`` and the ``plugrad`` script."""
    parser = argparse.ArgumentParser(prog="plugrad", description="plugrad command-line tools")
    sub = parser.add_subparsers(dest="command")
    info = sub.add_parser("info", help="versions, backends, devices, plugin problems, kernel overrides")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument("--kernels", action="store_true", help="also list the plugin supplying each kernel")
    nb = sub.add_parser("new-backend", help="write a backend package over an array API namespace")
    nb.add_argument("name", help="backend name (also its device string and entry-point name), e.g. mylib")
    nb.add_argument(
        "--namespace", required=True, metavar="MODULE", help="the array API namespace, e.g. array_api_strict"
    )
    nb.add_argument("--output", default=".", metavar="DIR", help="where to create plugrad-backend-NAME/ (default: .)")
    no = sub.add_parser("new-override", help="write an override-only package replacing kernels of a backend")
    no.add_argument("name", help="plugin (entry-point) name, e.g. fastadd")
    no.add_argument("--backend", required=True, help="the backend whose kernels are replaced, e.g. numpy")
    no.add_argument("--kernel", action="append", required=True, metavar="OP", help="a kernel to replace (repeatable)")
    no.add_argument("--priority", type=int, default=10, help="override priority (positive; default 10)")
    no.add_argument("--output", default=".", metavar="DIR", help="where to create plugrad-kernels-NAME/ (default: .)")
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["info", *(argv or [])])
    if args.command in ("new-backend", "new-override"):
        from . import _scaffold

        try:
            if args.command == "new-backend":
                files = _scaffold.new_backend(args.name, args.namespace, args.output)
            else:
                files = _scaffold.new_override(args.name, args.backend, args.kernel, args.output, args.priority)
        except _scaffold.ScaffoldError as exc:
            print(f"plugrad {args.command}: {exc}", file=sys.stderr)
            return 2
        root = files[0].parent if files[0].name == "pyproject.toml" else files[0].parents[-1]
        print(f"wrote {len(files)} files under {root}: pip install {root}, then pytest {root / 'tests'}")
        return 0
    data = collect_info()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(format_info(data, kernels=args.kernels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
