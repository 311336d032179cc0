"""Run a PyTorch program with plugrad in place of torch (``import torch`` gives plugrad).

Usage::

    python tools/run_as_plugrad.py PROGRAM.py [ARGS...]

An import hook maps ``torch`` and every ``torch.X.Y`` to ``plugrad`` and ``plugrad.X.Y``
(the same module objects), then runs the program as ``__main__``. It measures what the
static report (``tools/torch_names.py``) cannot: behaviour, not just names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import runpy
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

__all__ = ["install", "main"]


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``torch[.X]`` as ``plugrad[.X]``."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=True)

    def create_module(self, spec: Any) -> ModuleType:
        return importlib.import_module("plugrad" + spec.name[len("torch") :])

    def exec_module(self, module: ModuleType) -> None:
        pass  # already executed as plugrad's module


def install() -> None:
    """Make ``import torch...`` give plugrad's modules in this process."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias())


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(__doc__)
        return 2
    install()
    sys.argv = args
    runpy.run_path(args[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
