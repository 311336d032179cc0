"""List the public names of plugrad's packages that have no docstring; exit 1 if there are any.

A public name is one in the ``__all__`` of a public module (no leading underscore in
its dotted path) of the installed packages: ``plugrad`` and its subpackages (core, nn,
optim, and what else is installed under ``plugrad``), ``plugrad_numpy`` and the other
first-party backends. Each function, class and module named there needs its own
docstring (a class does not inherit one from its base); so does each public method of
a public class defined in plugrad. Constants, dtypes and other instances are documented
where they are defined and are not checked.

    python tools/check_docstrings.py            # the report; exit 1 when something is missing
    python tools/check_docstrings.py --count    # only the number per module

``nox -s docs`` runs it before building the site in strict mode.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
import warnings
from types import ModuleType

ROOTS = ("plugrad", "plugrad_numpy", "plugrad_cupy")
#: modules whose import has side effects or needs optional libraries, skipped when they fail to import
OPTIONAL_IMPORT_ERRORS = (ImportError, RuntimeError)


def _modules() -> list[ModuleType]:
    found: list[ModuleType] = []
    for root in ROOTS:
        try:
            mod = importlib.import_module(root)
        except OPTIONAL_IMPORT_ERRORS:
            continue
        found.append(mod)
        for info in pkgutil.walk_packages(getattr(mod, "__path__", []), prefix=f"{root}."):
            if any(part.startswith("_") for part in info.name.split(".")):
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    found.append(importlib.import_module(info.name))
            except OPTIONAL_IMPORT_ERRORS:
                continue
    return found


def _own_doc(obj: object) -> bool:
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return isinstance(doc, str) and bool(doc.strip())


def _ours(obj: object) -> bool:
    mod = getattr(obj, "__module__", "") or ""
    return mod.split(".")[0] in ROOTS


def missing() -> dict[str, list[str]]:
    """module name -> its public names (and public methods ``Class.name``) without a docstring."""
    out: dict[str, list[str]] = {}
    seen: set[int] = set()
    for mod in _modules():
        bad: list[str] = []
        if not _own_doc(mod):
            bad.append("(module)")
        for name in getattr(mod, "__all__", []):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obj = getattr(mod, name, None)
            if obj is None or not (inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj)):
                continue
            if not _ours(obj) or id(obj) in seen:  # re-exports are checked where they are defined
                continue
            seen.add(id(obj))
            if not _own_doc(obj):
                bad.append(name)
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith(("_", "test_")) or not inspect.isfunction(member):
                        continue  # private, or a test of a test-suite class (plugrad.testing)
                    if not _own_doc(member) and not _documented_in_base(obj, attr):
                        bad.append(f"{name}.{attr}")
        if bad:
            out[mod.__name__] = bad
    return out


def _documented_in_base(cls: type, attr: str) -> bool:
    """An override of a documented method (``forward`` of a Module, ``step`` of an Optimizer) inherits its doc."""
    for base in cls.__mro__[1:]:
        member = base.__dict__.get(attr)
        if member is not None and _own_doc(member):
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", action="store_true", help="only the number of undocumented names per module")
    args = parser.parse_args(argv)
    report = missing()
    total = sum(len(v) for v in report.values())
    for mod, names in sorted(report.items()):
        print(f"{mod}: {len(names)}" if args.count else f"{mod}: {', '.join(names)}")
    print(f"{total} public names without a docstring" if total else "every public name has a docstring")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
