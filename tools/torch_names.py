"""List every ``torch.*`` name a folder of PyTorch programs uses that plugrad lacks.

Usage::

    python tools/torch_names.py examples/real_programs                # a text report
    python tools/torch_names.py examples/real_programs --markdown out.md
    python tools/torch_names.py DIR --json                          # machine-readable

How names are found (statically, with :mod:`ast`; nothing is run):

- imports: ``import torch``, ``import torch.nn as nn``, ``from torch import nn, optim``,
  ``from torch.nn import functional as F``, ``from torch.utils.data import DataLoader``
  bind local names to ``torch`` paths; each from-import is itself a use;
- attribute chains rooted at those names: ``nn.functional.relu`` is
  ``torch.nn.functional.relu`` (the longest chain is checked, and each prefix of it);
- tensor methods where the receiver is statically a tensor: the result of a ``torch``
  function that makes tensors (``torch.randn(...)``, ``torch.tensor(...)``, ...), a name
  assigned from one, or a tensor method's result (``torch.randn(3).exp().sum()``);
  these are reported as ``torch.Tensor.<method>``.

How a name is checked: ``torch.a.b.c`` maps to ``plugrad.a.b.c``, resolved attribute by
attribute (importing ``plugrad.a.b`` as a module where an attribute is missing). A name
is missing when some prefix does not resolve; the report names the first missing prefix.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Use", "collect_file", "collect_folder", "check_name", "report_markdown", "main"]

#: ``torch`` functions whose result is a tensor (enough to follow method calls on it).
TENSOR_FACTORIES = frozenset(
    """tensor as_tensor from_numpy zeros ones empty full rand randn randint randperm arange linspace logspace eye
    zeros_like ones_like empty_like full_like rand_like randn_like randint_like cat stack matmul mm bmm einsum
    where exp log sigmoid tanh relu softmax log_softmax sum mean max min abs sqrt clamp multinomial
    argmax argmin tril triu outer sort topk flatten reshape squeeze unsqueeze""".split()
)
#: ``torch`` functions whose result is not a tensor (every other lowercase ``torch.f(...)`` is taken as one).
NOT_TENSOR_FUNCTIONS = frozenset(
    """manual_seed seed save load no_grad enable_grad inference_mode set_grad_enabled device dtype is_tensor
    numel set_default_dtype get_default_dtype set_printoptions compile set_float32_matmul_precision
    get_float32_matmul_precision autocast is_grad_enabled use_deterministic_algorithms set_num_threads
    get_num_threads is_floating_point typename""".split()
)
#: Tensor methods whose result is a tuple of tensors (``q, k, v = x.split(n, dim=2)``).
TUPLE_RETURNING_METHODS = frozenset("split chunk unbind max min sort topk".split())
#: Tensor methods whose result is again a tensor (for chains such as ``x.float().mean()``).
TENSOR_RETURNING_METHODS = frozenset(
    """float double half long int bool to cpu cuda detach clone contiguous view reshape permute transpose t
    exp log sum mean max min abs sqrt pow clamp softmax log_softmax sigmoid tanh relu squeeze unsqueeze
    flatten expand expand_as repeat masked_fill argmax argmin matmul mm bmm neg add sub mul div type_as
    view_as reshape_as float_ long_ requires_grad_ cumsum cumprod norm std var round floor ceil""".split()
)


@dataclass
class Use:
    """One ``torch`` name used somewhere."""

    name: str
    files: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))


class _Collector(ast.NodeVisitor):
    def __init__(self, root: str = "torch") -> None:
        self.root = root
        self.aliases: dict[str, str] = {}  # local name -> torch path
        self.tensors: set[str] = set()  # local names (or "self.attr") known to hold tensors
        self.modules: set[str] = set()  # local names (or "self.attr") holding torch.nn modules
        self.module_classes: set[str] = set()  # the program's own nn.Module subclasses
        self.found: list[tuple[str, int]] = []

    # -- imports ----------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == self.root or alias.name.startswith(self.root + "."):
                self.found.append((alias.name, node.lineno))
                if alias.asname:
                    self.aliases[alias.asname] = alias.name
                else:
                    self.aliases[self.root] = self.root

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or not (module == self.root or module.startswith(self.root + ".")):
            return
        for alias in node.names:
            if alias.name == "*":
                self.found.append((module, node.lineno))
                continue
            full = f"{module}.{alias.name}"
            self.found.append((full, node.lineno))
            self.aliases[alias.asname or alias.name] = full

    # -- names ------------------------------------------------------------------------
    def _chain(self, node: ast.AST) -> str | None:
        """The torch path of an attribute chain (``nn.functional.relu``), or None."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return ".".join([self.aliases[node.id], *reversed(parts)])
        return None

    @staticmethod
    def _key(node: ast.AST) -> str | None:
        """``x`` for a name, ``self.x`` for an attribute of a name: what assignments can bind."""
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return f"{node.value.id}.{node.attr}"
        return None

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if any((self._chain(b) or "").endswith("nn.Module") or self._key(b) in self.module_classes for b in node.bases):
            self.module_classes.add(node.name)
        self.generic_visit(node)

    def _is_module(self, node: ast.AST) -> bool:
        """A ``torch.nn`` layer: ``nn.Linear(...)``, the program's own module class, or a name bound to one."""
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in self.module_classes:
                return True
            if isinstance(func, ast.Attribute) and func.attr in ("to", "cuda", "cpu", "double", "float", "half"):
                if self._is_module(func.value):
                    return True
            path = self._chain(node.func)
            leaf = path.rsplit(".", 1)[-1] if path else ""
            return bool(path and path.startswith(f"{self.root}.nn.") and leaf[:1].isupper())
        return self._key(node) in self.modules

    def _is_tensor(self, node: ast.AST) -> bool:
        key = self._key(node)
        if key is not None and key in self.tensors:
            return True
        if isinstance(node, ast.Call):
            func = node.func
            path = self._chain(func)
            if path is not None:
                leaf = path.rsplit(".", 1)[-1]
                if path.startswith(f"{self.root}.nn.functional."):
                    return True
                return path.count(".") == 1 and leaf[:1].islower() and leaf not in NOT_TENSOR_FUNCTIONS
            if self._is_module(func):
                return True
            if isinstance(func, ast.Attribute):
                return func.attr in TENSOR_RETURNING_METHODS and self._is_tensor(func.value)
        if isinstance(node, ast.Subscript):
            return self._is_tensor(node.value)
        if isinstance(node, ast.BinOp):
            return self._is_tensor(node.left) or self._is_tensor(node.right)
        return False

    def visit_Assign(self, node: ast.Assign) -> None:
        value = node.value
        is_tensor = self._is_tensor(value)
        is_module = self._is_module(value)
        splits = (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and value.func.attr in TUPLE_RETURNING_METHODS
            and self._is_tensor(value.func.value)
        )
        for target in node.targets:
            elements = target.elts if isinstance(target, ast.Tuple) and splits else [target]
            for element in elements:
                key = self._key(element)
                if key is None:
                    continue
                self.tensors.discard(key)
                self.modules.discard(key)
                if is_tensor or splits:
                    self.tensors.add(key)
                elif is_module:
                    self.modules.add(key)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for arg in node.args.args + node.args.kwonlyargs:
            ann = arg.annotation
            if ann is not None and (self._chain(ann) or "").endswith(".Tensor"):
                self.tensors.add(arg.arg)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        path = self._chain(node)
        if path is not None:
            self.found.append((path, node.lineno))
            return  # the longest chain covers its prefixes
        if self._is_tensor(node.value) and not (isinstance(node.ctx, ast.Store) and self._key(node) is not None):
            self.found.append((f"{self.root}.Tensor.{node.attr}", node.lineno))
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.aliases and isinstance(node.ctx, ast.Load):
            self.found.append((self.aliases[node.id], node.lineno))


def collect_file(path: Path, root: str = "torch") -> list[tuple[str, int]]:
    """``(torch name, line)`` for every use in one file (a file that does not parse gives none)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError):
        return []
    collector = _Collector(root)
    collector.visit(tree)
    return collector.found


def collect_folder(folder: Path, root: str = "torch") -> dict[str, Use]:
    """Every name used by the ``.py`` files under ``folder``, with where."""
    uses: dict[str, Use] = {}
    for path in sorted(folder.rglob("*.py")):
        rel = str(path.relative_to(folder))
        for name, line in collect_file(path, root):
            uses.setdefault(name, Use(name)).files[rel].append(line)
    return uses


_MISSING = object()


def check_name(name: str, root: str = "torch", target: str = "plugrad") -> str | None:
    """``None`` when ``target`` has the name, else the first missing prefix (``"torch.nn.Foo"``)."""
    parts = name.split(".")
    if parts[0] != root:
        raise ValueError(f"{name!r} does not start with {root!r}")
    try:
        obj: object = importlib.import_module(target)
    except ImportError:
        return root
    path = target
    for i, part in enumerate(parts[1:], start=1):
        nxt = getattr(obj, part, _MISSING)
        if nxt is _MISSING:
            try:
                nxt = importlib.import_module(f"{path}.{part}")
            except ImportError:
                return ".".join(parts[: i + 1])
            except Exception:  # a module that fails for another reason is missing too
                return ".".join(parts[: i + 1])
        obj = nxt
        path = f"{path}.{part}"
    return None


def _missing(uses: dict[str, Use], root: str, target: str) -> dict[str, list[str]]:
    """Missing prefix -> the used names it blocks."""
    out: dict[str, list[str]] = defaultdict(list)
    for name in sorted(uses):
        gap = check_name(name, root, target)
        if gap is not None:
            out[gap].append(name)
    return out


def report_markdown(folder: Path, uses: dict[str, Use], root: str = "torch", target: str = "plugrad") -> str:
    """A Markdown report: per program, the names used and missing; then every missing name."""
    missing = _missing(uses, root, target)
    programs: dict[str, set[str]] = defaultdict(set)
    for use in uses.values():
        for f in use.files:
            programs[f].add(use.name)
    missing_names = {n for names in missing.values() for n in names}
    lines = [
        f"| program | `{root}` names used | missing in {target} |",
        "| --- | ---: | ---: |",
    ]
    for prog in sorted(programs):
        names = programs[prog]
        lines.append(f"| `{prog}` | {len(names)} | {len(names & missing_names)} |")
    total_missing = len(missing_names)
    lines += [
        "",
        f"{len(uses)} distinct names used across {len(programs)} programs; {total_missing} missing in {target}.",
        "",
    ]
    if missing:
        lines += ["| missing | used as | in |", "| --- | --- | --- |"]
        for gap in sorted(missing):
            names = missing[gap]
            where = sorted({f for n in names for f in uses[n].files})
            shown = ", ".join(f"`{n}`" for n in names[:3]) + (" ..." if len(names) > 3 else "")
            lines.append(f"| `{gap}` | {shown} | {', '.join(f'`{w}`' for w in where)} |")
    return "\n".join(lines) + "\n"


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--markdown", type=Path, help="write a Markdown report to this file")
    parser.add_argument("--json", action="store_true", help="print {missing prefix: [names]} as JSON")
    parser.add_argument("--root", default="torch", help="the library the programs import (default: torch)")
    parser.add_argument("--target", default="plugrad", help="the library checked (default: plugrad)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    uses = collect_folder(args.folder, args.root)
    missing = _missing(uses, args.root, args.target)
    if args.markdown:
        args.markdown.write_text(report_markdown(args.folder, uses, args.root, args.target), encoding="utf-8")
    if args.json:
        print(json.dumps(missing, indent=1, sort_keys=True))
    else:
        for gap in sorted(missing):
            files = sorted({f for n in missing[gap] for f in uses[n].files})
            print(f"{gap}  ({', '.join(files)})")
        print(f"{len(missing)} missing of {len(uses)} names used", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
