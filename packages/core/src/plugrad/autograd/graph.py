"""Pictures of the backward graph: Graphviz DOT text, rendered where Graphviz is installed.

:func:`to_dot` draws what ``backward()`` would walk from one or more tensors:

- each graph node as a grey box named as its ``grad_fn`` is (``MulBackward0``,
  ``AccumulateGrad``, a user's ``MyFnBackward``);
- each output tensor as a green box with its shape and dtype, and each leaf tensor (the
  variable an ``AccumulateGrad`` adds into) as a blue box, named after its key in
  ``params`` when it is given there;
- edges in the direction values flow in the forward pass: leaf -> AccumulateGrad ->
  ... -> the op that made the output -> output;
- with ``show_saved=True``, the tensors each node saved for backward as orange boxes
  joined by dashed edges.

::

    loss = (w * x).sum()
    print(plugrad.autograd.graph.to_dot(loss, params={"w": w}))
    plugrad.autograd.graph.render(loss, "loss.svg", params={"w": w})

The walk uses an explicit stack, so graphs of any depth are drawn.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import function as _function
from .function import AccumulateGrad, Node

if TYPE_CHECKING:
    from .._tensor import Tensor

__all__ = ["to_dot", "render"]

_FORMATS = ("svg", "png", "pdf")
_STYLE = {"output": "darkolivegreen1", "leaf": "lightblue", "saved": "orange", "node": "lightgrey"}


def _quote(text: str) -> str:
    """A DOT double-quoted string (newlines become DOT line breaks)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _describe(shape: tuple[int, ...], dtype: Any) -> str:
    dims = ", ".join(str(s) for s in shape)
    if len(shape) == 1:
        dims += ","
    name = str(dtype).split(".")[-1]
    return f"({dims}) {name}"


def _roots(tensors: Any) -> list[Tensor]:
    T = _function._Tensor
    if isinstance(tensors, T):
        return [tensors]
    if isinstance(tensors, Iterable):
        out = list(tensors)
        for i, t in enumerate(out):
            if not isinstance(t, T):
                raise TypeError(
                    f"to_dot() expects a Tensor or a sequence of Tensors, got {type(t).__name__} at index {i}"
                )
        return out
    raise TypeError(f"to_dot() expects a Tensor or a sequence of Tensors, got {type(tensors).__name__}")


def to_dot(
    tensors: Tensor | Iterable[Tensor], params: Mapping[str, Tensor] | None = None, show_saved: bool = False
) -> str:
    """Graphviz DOT text of the backward graph reaching ``tensors``.

    :param tensors: an output tensor or several; their ``grad_fn`` graphs are drawn
        together (shared parts once).
    :param params: names for leaf tensors (``dict(model.named_parameters())``), shown
        in their boxes.
    :param show_saved: also draw the tensors each node saved for backward.
    :returns: the text of a ``digraph``; give it to ``dot -Tsvg`` or use :func:`render`.
    """
    roots = _roots(tensors)
    names: dict[int, str] = {}
    if params is not None:
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a mapping from names to Tensors, got {type(params).__name__}")
        names = {id(t): str(k) for k, t in params.items()}

    ids: dict[int, str] = {}
    keep: list[Any] = []  # objects whose id() names a DOT node stay alive while we draw

    def node_id(obj: Any) -> str:
        key = id(obj)
        nid = ids.get(key)
        if nid is None:
            nid = ids[key] = f"n{len(ids)}"
            keep.append(obj)
        return nid

    lines = [
        "digraph {",
        '\tgraph [size="12,12"]',
        '\tnode [align=left fontname=monospace fontsize=10 height=0.2 ranksep=0.1 shape=box style="filled,rounded"]',
    ]
    edges: list[str] = []

    def tensor_box(t: Tensor, color: str, label: str | None = None) -> str:
        nid = node_id(t)
        text = _describe(tuple(t._data.shape), t._dtype)
        name = names.get(id(t))
        if label is None:
            label = name
        elif name is not None:
            label = f"{label}: {name}"
        lines.append(f"\t{nid} [label={_quote(text if label is None else label + chr(10) + text)} fillcolor={color}]")
        return nid

    stack: list[Node] = []
    seen: set[int] = set()
    for t in roots:
        if id(t) in ids:
            continue
        fn = t._grad_fn
        # a leaf asked for directly is drawn as the leaf it is
        out_id = tensor_box(t, _STYLE["leaf"] if fn is None and t._requires_grad else _STYLE["output"])
        if fn is None:
            continue
        edges.append(f"\t{node_id(fn)} -> {out_id}")
        if id(fn) not in seen:
            seen.add(id(fn))
            stack.append(fn)

    while stack:
        fn = stack.pop()
        fid = node_id(fn)
        lines.append(f"\t{fid} [label={_quote(fn.name())} fillcolor={_STYLE['node']}]")
        if isinstance(fn, AccumulateGrad):
            var = fn.variable
            vid = ids.get(id(var))
            if vid is None:
                vid = tensor_box(var, _STYLE["leaf"])
            edges.append(f"\t{vid} -> {fid}")
        if show_saved:
            for i, (shape, dtype) in enumerate(_saved_meta(fn)):
                sid = f"{fid}_saved{i}"
                lines.append(
                    f"\t{sid} [label={_quote(f'saved {i}' + chr(10) + _describe(shape, dtype))} fillcolor={_STYLE['saved']}]"
                )
                edges.append(f"\t{sid} -> {fid} [style=dashed]")
        for nxt, _ in fn.next_functions:
            if nxt is None:
                continue
            edges.append(f"\t{node_id(nxt)} -> {fid}")
            if id(nxt) not in seen:
                seen.add(id(nxt))
                stack.append(nxt)
    lines.extend(edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _saved_meta(fn: Node) -> list[tuple[tuple[int, ...], Any]]:
    """Shape and dtype of each tensor ``fn`` saved for backward (nothing once freed)."""
    saved = getattr(fn, "to_save", ()) or ()
    out: list[tuple[tuple[int, ...], Any]] = []
    for item in saved:
        if item is None:
            continue
        if isinstance(item, _function._SavedOutput):
            out.append((tuple(item.data.shape), item.dtype))
        elif isinstance(item, _function._Tensor):
            out.append((tuple(item._data.shape), item._dtype))
    return out


def render(
    tensors: Tensor | Iterable[Tensor],
    path: str | os.PathLike[str],
    format: str = "svg",
    params: Mapping[str, Tensor] | None = None,
    show_saved: bool = False,
) -> str:
    """Draw the backward graph of ``tensors`` into ``path`` (``svg``, ``png`` or ``pdf``).

    Needs Graphviz's ``dot`` executable on ``PATH``; without it this raises and says
    so (:func:`to_dot` still gives the text). Returns ``path``.
    """
    if format not in _FORMATS:
        raise ValueError(f"render() format must be one of {', '.join(_FORMATS)}, got {format!r}")
    text = to_dot(tensors, params=params, show_saved=show_saved)
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(
            "render() needs the Graphviz 'dot' executable, which was not found on PATH. Install Graphviz "
            "(for example `apt-get install graphviz` or `brew install graphviz`), or write to_dot(...) to a file."
        )
    target = os.fspath(path)
    proc = subprocess.run([exe, f"-T{format}", "-o", target], input=text.encode(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"Graphviz 'dot' failed (exit status {proc.returncode}): {proc.stderr.decode(errors='replace').strip()}"
        )
    return target
